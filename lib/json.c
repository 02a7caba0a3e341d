/*
 * json.c: messages to and from JSON text, through jansson.
 *
 * The JSON form of a message (docs/protocol.md):
 *
 *   nil      null
 *   bool     true, false
 *   int      a JSON integer. An integer above INT64_MAX is
 *            {"$uint": "decimal"}.
 *   double   a JSON real with 17 significant digits, always with a '.' or
 *            an exponent (1.0, not 1; 0.1 is 0.10000000000000001), so
 *            every finite double reads back bit for bit as a double. NaN and the infinities are
 *            {"$float": "nan"}, {"$float": "inf"}, {"$float": "-inf"}; a
 *            NaN's sign and payload are lost (it reads back as the quiet
 *            NaN of the C library).
 *   string   a JSON string; NUL bytes are written as \u0000.
 *   bytes    {"$bytes": "standard base64 with = padding"}
 *   list     an array
 *   map      an object, in the map's order, when every key is a string
 *            without NUL, no key repeats and the map is not one pair whose
 *            key starts with '$'. Any other map is
 *            {"$map": [[key, value], ...]}.
 *   SendPort {"$port": "ISOLATE:PID:PORT"}: ISOLATE in 16 lowercase hex
 *            digits, PID and PORT in decimal.
 *
 * Output is one compact line. Reading, an object with exactly one key
 * that is one of the five tags above is that tag, and a malformed tag
 * value is an error; any other object, including a one-key object with
 * another '$' key, is a map. Readers also accept: 1 to 16 hex digits in
 * either case for ISOLATE; any decimal uint64 for $uint, which gives a
 * plain int when it fits int64; any JSON value as a $map key. Base64 must
 * be canonical (no characters outside the alphabet, length a multiple of
 * 4, zero bits under the padding). Duplicate keys in an object are an
 * error, as are JSON integers outside int64 and reals outside the range
 * of a double. Lists and maps (a $map too) nest at most ISO_LIMIT_DEPTH
 * levels.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base64.h"
#include "msg.h"

enum tag {
	TAG_NONE,
	TAG_BYTES,
	TAG_PORT,
	TAG_UINT,
	TAG_FLOAT,
	TAG_MAP
};

static const char *const tag_names[] = {
	NULL, "$bytes", "$port", "$uint", "$float", "$map"
};

/* 17 significant digits are what every double needs to read back exact. */
#define DUMP_FLAGS \
	(JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17))
#define LOAD_FLAGS \
	(JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES)

static json_t	*tojson_value(const iso_msg *);

/* {"tag": value}, taking value over. */
static json_t *
tojson_tag(enum tag tag, json_t *value)
{
	json_t	*o;

	if (value == NULL)
		return (NULL);
	if ((o = json_object()) == NULL) {
		json_decref(value);
		return (NULL);
	}
	if (json_object_set_new_nocheck(o, tag_names[tag], value) == -1) {
		json_decref(o);
		return (NULL);
	}
	return (o);
}

static json_t *
tojson_bytes(const iso_msg *m)
{
	json_t	*j;
	char	*s;

	if ((s = malloc(b64_encoded_len(m->len) + 1)) == NULL)
		return (NULL);
	b64_encode(m->v.s, m->len, s);
	j = json_string_nocheck(s);
	free(s);
	return (tojson_tag(TAG_BYTES, j));
}

static json_t *
tojson_float(double f)
{
	const char	*s;

	if (isfinite(f))
		return (json_real(f));
	if (isnan(f))
		s = "nan";
	else
		s = f > 0 ? "inf" : "-inf";
	return (tojson_tag(TAG_FLOAT, json_string_nocheck(s)));
}

/* 1 if map m can be written as a plain object (before looking for
   repeated keys, which building the object finds). */
static int
tojson_plain_keys(const iso_msg *m)
{
	const iso_msg	*k;
	uint32_t	 i;

	if (m->len == 1 && m->v.items[0].type == ISO_STR &&
	    m->v.items[0].len > 0 && m->v.items[0].v.s[0] == '$')
		return (0);
	for (i = 0; i < m->len; i++) {
		k = &m->v.items[2 * i];
		/* jansson cannot read a NUL in a key back. */
		if (k->type != ISO_STR || memchr(k->v.s, '\0', k->len) != NULL)
			return (0);
	}
	return (1);
}

/* The map as an object in *out, or *out NULL if a key repeats. */
static int
tojson_object(const iso_msg *m, json_t **out)
{
	const iso_msg	*k;
	json_t		*o, *v;
	uint32_t	 i;

	*out = NULL;
	if ((o = json_object()) == NULL)
		return (-1);
	for (i = 0; i < m->len; i++) {
		k = &m->v.items[2 * i];
		if (json_object_getn(o, k->v.s, k->len) != NULL) {
			json_decref(o);
			return (0);
		}
		v = tojson_value(&m->v.items[2 * i + 1]);
		if (json_object_setn_new_nocheck(o, k->v.s, k->len, v) == -1)
			goto fail;
	}
	*out = o;
	return (0);

fail:
	json_decref(o);
	return (-1);
}

static json_t *
tojson_map(const iso_msg *m)
{
	json_t		*a, *pair, *o;
	uint32_t	 i;

	if (tojson_plain_keys(m)) {
		if (tojson_object(m, &o) == -1)
			return (NULL);
		if (o != NULL)
			return (o);
	}

	if ((a = json_array()) == NULL)
		return (NULL);
	for (i = 0; i < m->len; i++) {
		if ((pair = json_array()) == NULL)
			goto fail;
		if (json_array_append_new(a, pair) == -1)
			goto fail;
		if (json_array_append_new(pair,
		    tojson_value(&m->v.items[2 * i])) == -1)
			goto fail;
		if (json_array_append_new(pair,
		    tojson_value(&m->v.items[2 * i + 1])) == -1)
			goto fail;
	}
	return (tojson_tag(TAG_MAP, a));

fail:
	json_decref(a);
	return (NULL);
}

/*
 * m as a jansson tree, or NULL (out of memory). Recursion is bounded by
 * ISO_LIMIT_DEPTH, which every way of building a message enforces.
 */
static json_t *
tojson_value(const iso_msg *m)
{
	json_t		*a;
	char		 buf[64];
	uint32_t	 i;

	switch (m->type) {
	case ISO_NIL:
		return (json_null());
	case ISO_BOOL:
		return (json_boolean(m->v.b));
	case ISO_INT:
		if (m->flags & MSG_BIG) {
			snprintf(buf, sizeof buf, "%" PRIu64, m->v.u);
			return (tojson_tag(TAG_UINT, json_string_nocheck(buf)));
		}
		return (json_integer(m->v.i));
	case ISO_FLOAT:
		return (tojson_float(m->v.f));
	case ISO_STR:
		return (json_stringn(m->v.s, m->len));
	case ISO_BYTES:
		return (tojson_bytes(m));
	case ISO_LIST:
		if ((a = json_array()) == NULL)
			return (NULL);
		for (i = 0; i < m->len; i++) {
			if (json_array_append_new(a,
			    tojson_value(&m->v.items[i])) == -1) {
				json_decref(a);
				return (NULL);
			}
		}
		return (a);
	case ISO_MAP:
		return (tojson_map(m));
	case ISO_PORT:
		snprintf(buf, sizeof buf, "%016" PRIx64 ":%" PRIu32 ":%" PRIu32,
		    m->v.port.isolate, m->v.port.pid, m->v.port.port);
		return (tojson_tag(TAG_PORT, json_string_nocheck(buf)));
	}
	return (NULL);
}

char *
iso_msg_to_json(const iso_msg *m)
{
	json_t	*j;
	char	*s;

	if (m == NULL) {
		msg_fail(EINVAL, "json: no message");
		return (NULL);
	}
	if (m->flags & MSG_FDS) {
		msg_fail(EINVAL, "json: a descriptor has no JSON form");
		return (NULL);
	}
	if ((j = tojson_value(m)) == NULL) {
		msg_fail(ENOMEM, "json: out of memory");
		return (NULL);
	}
	s = json_dumps(j, DUMP_FLAGS);
	json_decref(j);
	if (s == NULL)
		msg_fail(ENOMEM, "json: out of memory");
	return (s);
}

/* The tag j stands for, with its value in *value. */
static enum tag
fromjson_tag(json_t *j, json_t **value)
{
	const char	*key;
	size_t		 len;
	void		*it;
	int		 t;

	if (!json_is_object(j) || json_object_size(j) != 1)
		return (TAG_NONE);
	it = json_object_iter(j);
	key = json_object_iter_key(it);
	len = json_object_iter_key_len(it);
	for (t = TAG_BYTES; t <= TAG_MAP; t++) {
		if (len == strlen(tag_names[t]) &&
		    memcmp(key, tag_names[t], len) == 0) {
			*value = json_object_iter_value(it);
			return (t);
		}
	}
	return (TAG_NONE);
}

/*
 * Read a number in base 10 or 16 at *sp and move *sp past it: at least
 * one digit, at most max (0: no bound), no sign, value at most limit.
 */
static int
fromjson_number(const char **sp, int base, int max, uint64_t limit,
    uint64_t *out)
{
	const char	*s = *sp;
	uint64_t	 v = 0;
	int		 d, n;

	for (n = 0;; n++, s++) {
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (max > 0 && n == max)
			return (-1);
		if (v > (limit - d) / base)
			return (-1);
		v = v * base + d;
	}
	if (n == 0)
		return (-1);
	*sp = s;
	*out = v;
	return (0);
}

/* A tag's string, or NULL if value is not a string or has a NUL in it. */
static const char *
fromjson_tag_string(json_t *value)
{
	const char	*s;

	if (!json_is_string(value))
		return (NULL);
	s = json_string_value(value);
	if (strlen(s) != json_string_length(value))
		return (NULL);
	return (s);
}

static int
fromjson_port(json_t *value, iso_sendport *port)
{
	const char	*s;
	uint64_t	 v;

	if ((s = fromjson_tag_string(value)) == NULL)
		goto fail;
	if (fromjson_number(&s, 16, 16, UINT64_MAX, &port->isolate) == -1)
		goto fail;
	if (*s++ != ':' || fromjson_number(&s, 10, 0, UINT32_MAX, &v) == -1)
		goto fail;
	port->pid = v;
	if (*s++ != ':' || fromjson_number(&s, 10, 0, UINT32_MAX, &v) == -1)
		goto fail;
	port->port = v;
	if (*s != '\0')
		goto fail;
	return (0);

fail:
	return (msg_fail(EINVAL, "json: $port is not ISOLATE:PID:PORT"));
}

static int
fromjson_uint(json_t *value, uint64_t *u)
{
	const char	*s;

	if ((s = fromjson_tag_string(value)) == NULL ||
	    fromjson_number(&s, 10, 0, UINT64_MAX, u) == -1 || *s != '\0')
		return (msg_fail(EINVAL, "json: $uint is not a decimal "
		    "uint64"));
	return (0);
}

static int
fromjson_float(json_t *value, double *f)
{
	const char	*s;

	if ((s = fromjson_tag_string(value)) == NULL)
		goto fail;
	if (strcmp(s, "nan") == 0)
		*f = NAN;
	else if (strcmp(s, "inf") == 0)
		*f = INFINITY;
	else if (strcmp(s, "-inf") == 0)
		*f = -INFINITY;
	else
		goto fail;
	return (0);

fail:
	return (msg_fail(EINVAL, "json: $float is not \"nan\", \"inf\" or "
	    "\"-inf\""));
}

static int
fromjson_bytes_len(json_t *value, size_t *len)
{
	if (!json_is_string(value) || b64_decoded_len(json_string_value(value),
	    json_string_length(value), len) == -1)
		return (msg_fail(EINVAL, "json: $bytes is not valid base64"));
	if (*len > UINT32_MAX)
		return (msg_fail(EMSGSIZE, "json: $bytes longer than 4 GiB"));
	return (0);
}

static int
fromjson_map_pairs(json_t *value)
{
	json_t	*pair;
	size_t	 i;

	if (!json_is_array(value))
		goto fail;
	json_array_foreach(value, i, pair) {
		if (!json_is_array(pair) || json_array_size(pair) != 2)
			goto fail;
	}
	return (0);

fail:
	return (msg_fail(EINVAL, "json: $map is not a list of [key, value]"));
}

static int
fromjson_container(size_t n, size_t levels)
{
	if (levels == 0) {
		return (msg_fail(EMSGSIZE, "json: nested deeper than %zu "
		    "levels", msg_limit_depth));
	}
	if (n > UINT32_MAX)
		return (msg_fail(EMSGSIZE, "json: more than 4 Gi items"));
	return (0);
}

/* Add a string of len bytes to sz; len is a node's uint32_t. */
static int
fromjson_string(size_t len, struct msg_size *sz)
{
	if (len > UINT32_MAX)
		return (msg_fail(EMSGSIZE, "json: string longer than 4 GiB"));
	sz->bytes += len + 1;
	return (0);
}

/*
 * Check j and add what it needs to sz. levels is how many more lists and
 * maps may nest from here. Recursion is bounded by it (and by jansson's
 * own cap on nesting).
 */
static int
fromjson_measure(json_t *j, size_t levels, struct msg_size *sz)
{
	iso_sendport	 port;
	json_t		*v, *pair;
	const char	*key;
	uint64_t	 u;
	double		 f;
	size_t		 i, len;

	sz->nodes++;
	switch (json_typeof(j)) {
	case JSON_NULL:
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_INTEGER:
	case JSON_REAL:
		return (0);
	case JSON_STRING:
		return (fromjson_string(json_string_length(j), sz));
	case JSON_ARRAY:
		if (fromjson_container(json_array_size(j), levels) == -1)
			return (-1);
		json_array_foreach(j, i, v) {
			if (fromjson_measure(v, levels - 1, sz) == -1)
				return (-1);
		}
		return (0);
	case JSON_OBJECT:
		break;
	}

	switch (fromjson_tag(j, &v)) {
	case TAG_BYTES:
		if (fromjson_bytes_len(v, &len) == -1)
			return (-1);
		sz->bytes += len;
		return (0);
	case TAG_PORT:
		return (fromjson_port(v, &port));
	case TAG_UINT:
		return (fromjson_uint(v, &u));
	case TAG_FLOAT:
		return (fromjson_float(v, &f));
	case TAG_MAP:
		if (fromjson_map_pairs(v) == -1 ||
		    fromjson_container(json_array_size(v), levels) == -1)
			return (-1);
		json_array_foreach(v, i, pair) {
			if (fromjson_measure(json_array_get(pair, 0),
			    levels - 1, sz) == -1 ||
			    fromjson_measure(json_array_get(pair, 1),
			    levels - 1, sz) == -1)
				return (-1);
		}
		return (0);
	case TAG_NONE:
		break;
	}

	if (fromjson_container(json_object_size(j), levels) == -1)
		return (-1);
	json_object_keylen_foreach(j, key, len, v) {
		sz->nodes++;
		if (fromjson_string(len, sz) == -1 ||
		    fromjson_measure(v, levels - 1, sz) == -1)
			return (-1);
	}
	return (0);
}

static void
fromjson_str(iso_msg *dst, const char *s, size_t len, struct msg_block *b)
{
	dst->type = ISO_STR;
	dst->flags = 0;
	dst->len = len;
	dst->own = NULL;
	dst->v.s = msg_block_data(b, s, len, 1);
}

/* Fill node dst from j, already checked by fromjson_measure. */
static void
fromjson_fill(iso_msg *dst, json_t *j, struct msg_block *b)
{
	iso_msg		*items;
	json_t		*v, *pair;
	const char	*key;
	size_t		 i, len;
	char		*data;
	uint64_t	 u;

	dst->flags = 0;
	dst->len = 0;
	dst->own = NULL;
	switch (json_typeof(j)) {
	case JSON_NULL:
		dst->type = ISO_NIL;
		return;
	case JSON_TRUE:
	case JSON_FALSE:
		dst->type = ISO_BOOL;
		dst->v.b = json_is_true(j);
		return;
	case JSON_INTEGER:
		dst->type = ISO_INT;
		dst->v.i = json_integer_value(j);
		return;
	case JSON_REAL:
		dst->type = ISO_FLOAT;
		dst->v.f = json_real_value(j);
		return;
	case JSON_STRING:
		fromjson_str(dst, json_string_value(j), json_string_length(j),
		    b);
		return;
	case JSON_ARRAY:
		dst->type = ISO_LIST;
		dst->len = json_array_size(j);
		dst->v.items = items = msg_block_nodes(b, dst->len);
		json_array_foreach(j, i, v)
			fromjson_fill(&items[i], v, b);
		return;
	case JSON_OBJECT:
		break;
	}

	switch (fromjson_tag(j, &v)) {
	case TAG_BYTES:
		b64_decoded_len(json_string_value(v), json_string_length(v),
		    &len);
		dst->type = ISO_BYTES;
		dst->len = len;
		/* Decode straight into the block, which has room for it. */
		data = msg_block_reserve(b, len);
		b64_decode(json_string_value(v), json_string_length(v), data);
		dst->v.s = data;
		return;
	case TAG_PORT:
		dst->type = ISO_PORT;
		fromjson_port(v, &dst->v.port);
		return;
	case TAG_UINT:
		dst->type = ISO_INT;
		fromjson_uint(v, &u);
		if (u > INT64_MAX)
			dst->flags = MSG_BIG;
		dst->v.u = u;
		return;
	case TAG_FLOAT:
		dst->type = ISO_FLOAT;
		fromjson_float(v, &dst->v.f);
		return;
	case TAG_MAP:
		dst->type = ISO_MAP;
		dst->len = json_array_size(v);
		dst->v.items = items = msg_block_nodes(b, 2 * (size_t)dst->len);
		json_array_foreach(v, i, pair) {
			fromjson_fill(&items[2 * i], json_array_get(pair, 0),
			    b);
			fromjson_fill(&items[2 * i + 1],
			    json_array_get(pair, 1), b);
		}
		return;
	case TAG_NONE:
		break;
	}

	dst->type = ISO_MAP;
	dst->len = json_object_size(j);
	dst->v.items = items = msg_block_nodes(b, 2 * (size_t)dst->len);
	i = 0;
	json_object_keylen_foreach(j, key, len, v) {
		fromjson_str(&items[i], key, len, b);
		fromjson_fill(&items[i + 1], v, b);
		i += 2;
	}
}

iso_msg *
iso_msg_from_json(const char *text)
{
	struct msg_size		 sz = { 0, 0, 0, 0 };
	struct msg_block	 b;
	json_error_t		 err;
	json_t			*j;
	iso_msg			*root = NULL;
	int			 save_errno;

	if (text == NULL) {
		msg_fail(EINVAL, "json: no text");
		return (NULL);
	}
	if ((j = json_loads(text, LOAD_FLAGS, &err)) == NULL) {
		msg_fail(EINVAL, "json: line %d column %d: %s", err.line,
		    err.column, err.text);
		return (NULL);
	}
	if (fromjson_measure(j, msg_limit_depth, &sz) == -1)
		goto fail;
	if ((root = msg_block_new(&sz, &b)) == NULL)
		goto fail;
	fromjson_fill(root, j, &b);

fail:
	save_errno = errno;
	json_decref(j);
	errno = save_errno;
	return (root);
}
