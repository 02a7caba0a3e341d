/*
 * wire.c: MessagePack encoding of messages, and decoding of bytes that may
 * be hostile. A first walk checks every length, count, nesting level,
 * string and ext type against the bytes actually present (a 5-byte header
 * can claim 10^8 items) and measures the tree; a second walk fills one
 * block from the checked bytes. Encoding uses msgpack-c's own packer; the
 * tests hold the decoder to msgpack_unpack (fuzz/oracle.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "hot.h"
#include "memfd.h"
#include "msg.h"
#include "wire.h"

struct wire_in {
	const uint8_t	*start;
	const uint8_t	*p;
	const uint8_t	*end;
	struct msg_size	 sz;
	size_t		 strs;	/* strings among the values */
	size_t		 bin;	/* bytes of bytes values, in sz.bytes */
	size_t		 fds;	/* descriptor references */
	size_t		 mfds;	/* of which shared bytes values */
	uint32_t	 mlen[WIRE_FDS_MAX]; /* their lengths, by reference;
					    0: a descriptor value */
};

/* An n-byte big-endian field, n being 1, 2, 4 or 8. */
static inline uint64_t
wire_be(const uint8_t *p, int n)
{
	switch (n) {
	case 1:
		return (p[0]);
	case 2:
		return ((uint64_t)p[0] << 8 | p[1]);
	case 4:
		return ((uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 |
		    (uint64_t)p[2] << 8 | p[3]);
	}
	return (wire_be(p, 4) << 32 | wire_be(p + 4, 4));
}

static int
wire_bad(struct wire_in *in, const uint8_t *at, const char *what)
{
	return (msg_fail(EBADMSG, "frame: %s at byte %td", what,
	    at - in->start));
}

/* Read an n-byte big-endian field after the type byte. */
static int
wire_field(struct wire_in *in, const uint8_t *at, int n, uint64_t *v)
{
	if (in->end - in->p < n)
		return (wire_bad(in, at, "truncated value"));
	*v = wire_be(in->p, n);
	in->p += n;
	return (0);
}

static int	wire_check(struct wire_in *, size_t);

static int
wire_check_items(struct wire_in *in, const uint8_t *at, uint64_t n,
    size_t depth)
{
	if (depth + 1 > msg_limit_depth)
		return (msg_fail(EMSGSIZE, "frame: nesting deeper than %zu at "
		    "byte %td", msg_limit_depth, at - in->start));
	/* Every value takes at least one byte. */
	if (n > (uint64_t)(in->end - in->p))
		return (wire_bad(in, at, "count larger than the bytes left"));
	while (n-- > 0)
		if (wire_check(in, depth + 1) == -1)
			return (-1);
	return (0);
}

static int
wire_check_data(struct wire_in *in, const uint8_t *at, uint64_t n, int str)
{
	if (n > (uint64_t)(in->end - in->p))
		return (wire_bad(in, at, "length larger than the bytes left"));
	if (str && !msg_utf8_valid((const char *)in->p, n))
		return (wire_bad(in, at, "string is not valid UTF-8"));
	in->p += n;
	in->sz.bytes += n + (str != 0);
	in->strs += str != 0;
	if (!str)
		in->bin += n;
	return (0);
}

static int
wire_check_ext(struct wire_in *in, const uint8_t *at, uint64_t n)
{
	if (in->p == in->end)
		return (wire_bad(in, at, "truncated value"));
	if ((int8_t)*in->p == WIRE_EXT_FD && n == 1) {
		if (in->end - in->p < 2)
			return (wire_bad(in, at, "truncated value"));
		if (in->p[1] != 0)
			return (wire_bad(in, at, "unknown descriptor kind"));
		if (in->fds >= WIRE_FDS_MAX)
			return (wire_bad(in, at, "more than 253 descriptors"));
		in->mlen[in->fds++] = 0;
		in->p += 2;
		return (0);
	}
	if ((int8_t)*in->p == WIRE_EXT_BYTES && n == 8) {
		if (in->end - in->p < 9)
			return (wire_bad(in, at, "truncated value"));
		n = wire_be(in->p + 1, 8);
		if (n == 0 || n > UINT32_MAX)
			return (wire_bad(in, at, "shared bytes of a bad length"));
		if (in->fds >= WIRE_FDS_MAX)
			return (wire_bad(in, at, "more than 253 descriptors"));
		in->mlen[in->fds++] = (uint32_t)n;
		in->mfds++;
		in->p += 9;
		return (0);
	}
	if ((int8_t)*in->p != WIRE_EXT_PORT || n != WIRE_PORT_LEN)
		return (wire_bad(in, at, "unknown ext type"));
	in->p++;
	if ((uint64_t)(in->end - in->p) < n)
		return (wire_bad(in, at, "truncated value"));
	in->p += n;
	return (0);
}

/* Check one value and add what it needs to in->sz. */
static int
wire_check(struct wire_in *in, size_t depth)
{
	const uint8_t	*at = in->p;
	uint64_t	 n;
	uint8_t		 c;

	if (in->p == in->end)
		return (wire_bad(in, at, "truncated value"));
	if (++in->sz.nodes > msg_limit_nodes)
		return (msg_fail(EMSGSIZE, "frame: more than %zu values",
		    msg_limit_nodes));
	c = *in->p++;
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
		return (0);
	if (c >= 0xa0 && c <= 0xbf)
		return (wire_check_data(in, at, c & 0x1f, 1));
	if (c >= 0x90 && c <= 0x9f)
		return (wire_check_items(in, at, c & 0x0f, depth));
	if (c >= 0x80 && c <= 0x8f)
		return (wire_check_items(in, at, 2 * (uint64_t)(c & 0x0f),
		    depth));
	switch (c) {
	case 0xcc: case 0xd0:
		return (wire_field(in, at, 1, &n));
	case 0xcd: case 0xd1:
		return (wire_field(in, at, 2, &n));
	case 0xce: case 0xd2: case 0xca:
		return (wire_field(in, at, 4, &n));
	case 0xcf: case 0xd3: case 0xcb:
		return (wire_field(in, at, 8, &n));
	case 0xd9: case 0xda: case 0xdb:
		if (wire_field(in, at, 1 << (c - 0xd9), &n) == -1)
			return (-1);
		return (wire_check_data(in, at, n, 1));
	case 0xc4: case 0xc5: case 0xc6:
		if (wire_field(in, at, 1 << (c - 0xc4), &n) == -1)
			return (-1);
		return (wire_check_data(in, at, n, 0));
	case 0xdc: case 0xdd:
		if (wire_field(in, at, 2 << (c - 0xdc), &n) == -1)
			return (-1);
		return (wire_check_items(in, at, n, depth));
	case 0xde: case 0xdf:
		if (wire_field(in, at, 2 << (c - 0xde), &n) == -1)
			return (-1);
		return (wire_check_items(in, at, 2 * n, depth));
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
		return (wire_check_ext(in, at, 1 << (c - 0xd4)));
	case 0xc7: case 0xc8: case 0xc9:
		if (wire_field(in, at, 1 << (c - 0xc7), &n) == -1)
			return (-1);
		return (wire_check_ext(in, at, n));
	}
	return (wire_bad(in, at, "reserved type byte 0xc1"));
}

/*
 * The fill: dst from the value at p, which wire_check has accepted,
 * returning the byte after it. Nothing here can fail: every length, count
 * and type was checked, and the block was sized by the same walk. With at
 * set, bytes values point into the frame instead of being copied
 * (wire_decode_in).
 */
static const uint8_t	*wire_fill_at(iso_msg *, const uint8_t *,
			    struct msg_block *, int);

static inline void
wire_node(iso_msg *dst, iso_type type, uint32_t len)
{
	dst->type = type;
	dst->flags = 0;
	dst->len = len;
	dst->own = NULL;
}

/* An int, v; it is MSG_BIG when it came as a uint64 over INT64_MAX. */
static inline void
wire_fill_int(iso_msg *dst, int64_t v, int big)
{
	wire_node(dst, ISO_INT, 0);
	dst->flags = big ? MSG_BIG : 0;
	dst->v.i = v;
}

static inline void
wire_fill_float(iso_msg *dst, double f)
{
	wire_node(dst, ISO_FLOAT, 0);
	dst->v.f = f;
}

/* A float32 or float64 at p (w: 4 or 8), as a double. */
static inline double
wire_float(const uint8_t *p, int w)
{
	uint64_t	u = wire_be(p, w);
	uint32_t	u32 = (uint32_t)u;
	double		d;
	float		f;

	if (w == 8) {
		memcpy(&d, &u, sizeof d);
		return (d);
	}
	memcpy(&f, &u32, sizeof f);
	return (f);
}

/* A string of n bytes at p, copied into the block with its NUL. */
static inline const uint8_t *
wire_fill_str(iso_msg *dst, uint64_t n, const uint8_t *p,
    struct msg_block *b)
{
	wire_node(dst, ISO_STR, (uint32_t)n);
	dst->v.s = msg_block_data(b, p, n, 1);
	return (p + n);
}

/* Bytes, n of them at p: copied, or pointed at in the frame (at). */
static inline const uint8_t *
wire_fill_bytes(iso_msg *dst, uint64_t n, const uint8_t *p,
    struct msg_block *b, int at)
{
	wire_node(dst, ISO_BYTES, (uint32_t)n);
	dst->v.s = at ? (const char *)p : msg_block_data(b, p, n, 0);
	return (p + n);
}

/* A list of n items or a map of n pairs at p, its nodes from the block. */
static inline const uint8_t *
wire_fill_items(iso_msg *dst, iso_type type, uint64_t n, const uint8_t *p,
    struct msg_block *b, int at)
{
	iso_msg	*items;
	size_t	 i, k = type == ISO_MAP ? 2 * n : n;

	wire_node(dst, type, (uint32_t)n);
	dst->v.items = items = msg_block_nodes(b, k);
	for (i = 0; i < k; i++)
		p = wire_fill_at(&items[i], p, b, at);
	return (p);
}

/* A SendPort from its ext type byte at p: type 1, then 16 bytes. */
static inline const uint8_t *
wire_fill_port(iso_msg *dst, const uint8_t *p)
{
	p++;
	wire_node(dst, ISO_PORT, 0);
	dst->v.port.isolate = wire_be(p, 8);
	dst->v.port.pid = (uint32_t)wire_be(p + 8, 4);
	dst->v.port.port = (uint32_t)wire_be(p + 12, 4);
	return (p + WIRE_PORT_LEN);
}

/* An ext value from its type byte at p: a SendPort, a descriptor (the
   block's next: wire_check counted them against what came) or a shared
   bytes value (mapped by wire_map, in the same order). */
static inline const uint8_t *
wire_fill_ext(iso_msg *dst, const uint8_t *p, struct msg_block *b)
{
	if ((int8_t)p[0] == WIRE_EXT_BYTES) {
		wire_node(dst, ISO_BYTES, (uint32_t)wire_be(p + 1, 8));
		dst->flags = MSG_MFD;
		dst->v.s = *b->map++;
		b->fd++;
		return (p + 9);
	}
	if ((int8_t)p[0] != WIRE_EXT_FD)
		return (wire_fill_port(dst, p));
	wire_node(dst, ISO_FD, 0);
	dst->flags = MSG_FDS;
	dst->v.fd = *b->fd++;
	if (b->map != NULL)
		b->map++;
	return (p + 2);
}

/* Dispatch on the type byte; the length fields are read here. */
static const uint8_t *
wire_fill_at(iso_msg *dst, const uint8_t *p, struct msg_block *b, int at)
{
	uint64_t	u;
	uint8_t		c = *p++;
	int		w;

	if (c <= 0x7f || c >= 0xe0) {
		wire_fill_int(dst, c <= 0x7f ? (int64_t)c : (int8_t)c, 0);
		return (p);
	}
	if (c >= 0xa0 && c <= 0xbf)
		return (wire_fill_str(dst, c & 0x1f, p, b));
	if (c >= 0x90 && c <= 0x9f)
		return (wire_fill_items(dst, ISO_LIST, c & 0x0f, p, b, at));
	if (c >= 0x80 && c <= 0x8f)
		return (wire_fill_items(dst, ISO_MAP, c & 0x0f, p, b, at));
	switch (c) {
	case 0xc0:
		wire_node(dst, ISO_NIL, 0);
		return (p);
	case 0xc2:
	case 0xc3:
		wire_node(dst, ISO_BOOL, 0);
		dst->v.b = c == 0xc3;
		return (p);
	case 0xd9: case 0xda: case 0xdb:
		w = 1 << (c - 0xd9);
		return (wire_fill_str(dst, wire_be(p, w), p + w, b));
	case 0xc4: case 0xc5: case 0xc6:
		w = 1 << (c - 0xc4);
		return (wire_fill_bytes(dst, wire_be(p, w), p + w, b, at));
	case 0xdc: case 0xdd:
		w = 2 << (c - 0xdc);
		return (wire_fill_items(dst, ISO_LIST, wire_be(p, w), p + w,
		    b, at));
	case 0xde: case 0xdf:
		w = 2 << (c - 0xde);
		return (wire_fill_items(dst, ISO_MAP, wire_be(p, w), p + w,
		    b, at));
	case 0xcc: case 0xcd: case 0xce: case 0xcf:
		w = 1 << (c - 0xcc);
		u = wire_be(p, w);
		wire_fill_int(dst, (int64_t)u, u > INT64_MAX);
		return (p + w);
	case 0xd0:
		wire_fill_int(dst, (int8_t)p[0], 0);
		return (p + 1);
	case 0xd1:
		wire_fill_int(dst, (int16_t)wire_be(p, 2), 0);
		return (p + 2);
	case 0xd2:
		wire_fill_int(dst, (int32_t)wire_be(p, 4), 0);
		return (p + 4);
	case 0xd3:
		wire_fill_int(dst, (int64_t)wire_be(p, 8), 0);
		return (p + 8);
	case 0xca: case 0xcb:
		w = 4 << (c - 0xca);
		wire_fill_float(dst, wire_float(p, w));
		return (p + w);
	case 0xc7: case 0xc8: case 0xc9:	/* the length first */
		return (wire_fill_ext(dst, p + (1 << (c - 0xc7)), b));
	}
	/* fixext 1, 2, 4, 8, 16: wire_check let only 1 and 16 through */
	return (wire_fill_ext(dst, p, b));
}

static inline const uint8_t *
wire_fill(iso_msg *dst, const uint8_t *p, struct msg_block *b)
{
	return (wire_fill_at(dst, p, b, 0));
}

/* 1 if p[0..n) is valid UTF-8: ASCII inline, the rest by msg_utf8_valid. */
static inline int
wire_utf8(const uint8_t *p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (p[i] & 0x80)
			return (msg_utf8_valid((const char *)p, n));
	return (1);
}

/* The flat case's walk: the n items from q to end, each a scalar or a
   valid fixstr and nothing after them, their strings' bytes added to
   sz. 0, or -1 when anything else is met. */
static inline int
wire_flat_measure(const uint8_t *q, const uint8_t *end, size_t n,
    struct msg_size *sz)
{
	size_t	i, k;
	uint8_t	c;

	for (i = 0; i < n; i++) {
		if (q == end)
			return (-1);
		c = *q++;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 ||
		    c == 0xc3)
			continue;
		if (c >= 0xa0 && c <= 0xbf) {
			k = c & 0x1f;
			if ((size_t)(end - q) < k || !wire_utf8(q, k))
				return (-1);
			q += k;
			sz->bytes += k + 1;
			continue;
		}
		switch (c) {
		case 0xcc: case 0xd0:
			k = 1;
			break;
		case 0xcd: case 0xd1:
			k = 2;
			break;
		case 0xce: case 0xd2: case 0xca:
			k = 4;
			break;
		case 0xcf: case 0xd3: case 0xcb:
			k = 8;
			break;
		default:
			return (-1);
		}
		if ((size_t)(end - q) < k)
			return (-1);
		q += k;
	}
	return (q == end ? 0 : -1);
}

/* The flat case's fill: items[0..n) from the measured items at q, fixints
   and fixstrs inline, the rest through wire_fill. */
static ISO_HOT inline void
wire_flat_fill(iso_msg *items, size_t n, const uint8_t *q,
    struct msg_block *b)
{
	iso_msg		*it;
	uint64_t	 u;
	size_t		 k;
	char		*d;
	uint8_t		 c;

	for (it = items; it < items + n; it++) {
		c = *q;
		if (c <= 0x7f) {
			wire_fill_int(it, c, 0);
			q++;
		} else if (c >= 0xa0 && c <= 0xbf) {
			k = c & 0x1f;
			wire_node(it, ISO_STR, (uint32_t)k);
			it->v.s = d = msg_block_reserve(b, k + 1);
			for (q++; k > 0; k--)	/* at most 31: no call */
				*d++ = (char)*q++;
			*d = '\0';
		} else if (c >= 0xcc && c <= 0xcf) {
			k = (size_t)1 << (c - 0xcc);
			u = wire_be(q + 1, (int)k);
			wire_fill_int(it, (int64_t)u, u > INT64_MAX);
			q += 1 + k;
		} else
			q = wire_fill(it, q, b);
	}
}

/*
 * The common case, a map or list of scalars and fixstrs ({"msg": n}):
 * checked and filled in two flat loops, without the general walk's
 * recursion. Returns 0 when the value is anything else, or is not valid,
 * or meets a limit: the general walk then decides and words the error.
 * Otherwise 1, with *out the message (NULL when out of memory).
 */
static inline __attribute__((always_inline)) int
wire_decode_flat(const uint8_t *p, size_t len, iso_msg **out)
{
	struct msg_size		 sz;
	struct msg_block	 b;
	iso_msg			*root;
	size_t			 n;
	uint8_t			 c = p[0];

	if (c >= 0x80 && c <= 0x8f)
		n = 2 * (size_t)(c & 0x0f);
	else if (c >= 0x90 && c <= 0x9f)
		n = c & 0x0f;
	else
		return (0);
	if (msg_limit_depth < 1 || 1 + n > msg_limit_nodes)
		return (0);
	sz.nodes = 1 + n;
	sz.bytes = 0;
	if (wire_flat_measure(p + 1, p + len, n, &sz) == -1)
		return (0);
	if ((*out = root = msg_block_new(&sz, &b)) == NULL)
		return (1);
	wire_node(root, c <= 0x8f ? ISO_MAP : ISO_LIST, (uint32_t)(c & 0x0f));
	root->v.items = msg_block_nodes(&b, n);
	wire_flat_fill(root->v.items, n, p + 1, &b);
	return (1);
}

/* Check buf[0..len) as one message: 0 with in filled, or -1. */
static int
wire_check_all(struct wire_in *in, const void *buf, size_t len)
{
	if (buf == NULL || len == 0)
		return (msg_fail(EBADMSG, "frame: empty"));
	if (len > msg_limit_frame)
		return (msg_fail(EMSGSIZE, "frame: %zu bytes, more than the "
		    "limit of %zu", len, msg_limit_frame));
	in->start = in->p = buf;
	in->end = in->start + len;
	in->sz.nodes = in->sz.bytes = in->sz.fds = 0;
	in->strs = in->bin = 0;
	in->fds = in->mfds = 0;
	if (wire_check(in, 0) == -1)
		return (-1);
	if (in->p != in->end)
		return (wire_bad(in, in->p, "bytes after the value"));
	return (0);
}

/* The frame's descriptor references against what came with it: 0, or
   -1 (EBADMSG). */
static int
wire_check_fds(const struct wire_in *in, const struct wire_fds *fds)
{
	size_t	n = fds != NULL ? fds->n : 0;

	if (in->fds > n)
		return (msg_fail(EBADMSG, "frame: refers to %zu descriptors, "
		    "%zu came with it", in->fds, n));
	return (0);
}

/*
 * Before a fill: map the frame's shared bytes values into map[] (by
 * reference; NULL for a descriptor value), each checked (mfd_attach): 0,
 * or -1 with none mapped (a hostile or broken sender: EBADMSG).
 */
static int
wire_map(const struct wire_in *in, const struct wire_fds *fds,
    const char **map)
{
	size_t	i;

	for (i = 0; i < in->fds; i++) {
		map[i] = NULL;
		if (in->mlen[i] > 0 &&
		    (map[i] = mfd_attach(fds->fd[i], in->mlen[i])) == NULL) {
			while (i-- > 0)
				if (map[i] != NULL)
					mfd_abandon(map[i]);
			return (-1);
		}
	}
	return (0);
}

/* After a fill: the descriptors the message took; on failure (no root)
   the shared values are let go of, their descriptors left to the
   caller. */
static void
wire_took_fds(iso_msg *root, const struct wire_in *in,
    struct wire_fds *fds, const char **map)
{
	size_t	i;

	if (fds != NULL)
		fds->used = root != NULL ? in->fds : 0;
	if (root != NULL && in->fds > 0)
		msg_fds_mark(root);
	if (root == NULL && in->mfds > 0)
		for (i = 0; i < in->fds; i++)
			if (map[i] != NULL)
				mfd_abandon(map[i]);
}

ISO_HOT iso_msg *
wire_decode_fds(const void *buf, size_t len, struct wire_fds *fds)
{
	struct wire_in		 in;
	struct msg_block	 b;
	const char		*map[WIRE_FDS_MAX];
	iso_msg			*root;

	if (fds != NULL)
		fds->used = 0;
	if (buf != NULL && len > 0 && len <= msg_limit_frame &&
	    wire_decode_flat(buf, len, &root))
		return (root);
	if (wire_check_all(&in, buf, len) == -1 ||
	    wire_check_fds(&in, fds) == -1 ||
	    (in.mfds > 0 && wire_map(&in, fds, map) == -1))
		return (NULL);
	if ((root = msg_block_new(&in.sz, &b)) != NULL) {
		b.fd = fds != NULL ? fds->fd : NULL;
		b.map = in.mfds > 0 ? map : NULL;
		wire_fill(root, buf, &b);
	}
	wire_took_fds(root, &in, fds, map);
	return (root);
}

int
wire_count_fds(const void *buf, size_t len, size_t *n, size_t *shared)
{
	struct wire_in	in;

	if (wire_check_all(&in, buf, len) == -1)
		return (-1);
	*n = in.fds;
	if (shared != NULL)
		*shared = in.mfds;
	return (0);
}

iso_msg *
iso_msg_decode(const void *buf, size_t len)
{
	return (wire_decode_fds(buf, len, NULL));
}

iso_msg *
iso_msg_decode_borrow(const void *buf, size_t len)
{
	struct wire_in		 in;
	struct msg_block	 b;
	iso_msg			*root;

	if (buf != NULL && len > 0 && len <= msg_limit_frame &&
	    wire_decode_flat(buf, len, &root))
		return (root);		/* no bytes values in it */
	if (wire_check_all(&in, buf, len) == -1 ||
	    wire_check_fds(&in, NULL) == -1)
		return (NULL);
	in.sz.bytes -= in.bin;
	if ((root = msg_block_new(&in.sz, &b)) == NULL)
		return (NULL);
	b.fd = NULL;
	b.map = NULL;
	wire_fill_at(root, buf, &b, 1);
	return (root);
}

int
wire_decode_scalar(const void *buf, size_t len, iso_msg *dst)
{
	const uint8_t	*p = buf;
	size_t		 need;
	uint8_t		 c;

	if (p == NULL || len == 0)
		return (0);
	c = p[0];
	if (len == 1 && (c <= 0x7f || c >= 0xe0)) {
		wire_fill_int(dst, c <= 0x7f ? (int64_t)c : (int8_t)c, 0);
		return (1);
	}
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
		need = 1;
	else if (c >= 0xcc && c <= 0xcf)
		need = 1 + ((size_t)1 << (c - 0xcc));
	else if (c >= 0xd0 && c <= 0xd3)
		need = 1 + ((size_t)1 << (c - 0xd0));
	else if (c == 0xca || c == 0xcb)
		need = 1 + ((size_t)4 << (c - 0xca));
	else
		return (0);
	if (len != need)
		return (0);
	(void)wire_fill_at(dst, p, NULL, 0);
	return (1);
}

iso_msg *
wire_decode_in(void *block, size_t head, const void *buf, size_t len,
    int *taken, struct wire_fds *fds)
{
	struct wire_in		 in;
	struct msg_block	 b;
	const char		*map[WIRE_FDS_MAX];
	iso_msg			*root;

	*taken = 0;
	if (fds != NULL)
		fds->used = 0;
	if (wire_check_all(&in, buf, len) == -1 ||
	    wire_check_fds(&in, fds) == -1 ||
	    (in.mfds > 0 && wire_map(&in, fds, map) == -1))
		return (NULL);
	b.fd = fds != NULL ? fds->fd : NULL;
	if (in.strs > 0 || in.sz.nodes > head / sizeof *root) {
		if ((root = msg_block_new(&in.sz, &b)) != NULL) {
			b.fd = fds != NULL ? fds->fd : NULL;
			b.map = in.mfds > 0 ? map : NULL;
			wire_fill(root, buf, &b);
		}
		wire_took_fds(root, &in, fds, map);
		return (root);
	}
	root = block;
	b.node = root + 1;
	b.data = NULL;		/* no strings: nothing is copied */
	b.map = in.mfds > 0 ? map : NULL;
	wire_fill_at(root, buf, &b, 1);
	*taken = 1;
	wire_took_fds(root, &in, fds, map);
	return (root);
}

/* An upper bound of container m's encoding; -1 if a peer would refuse
   it. Scalar items are summed in the loop, containers recurse. */
static ISO_HOT int
wire_bound_walk(const iso_msg *m, size_t depth, size_t *bound,
    size_t *nodes, int fds)
{
	const iso_msg	*it, *end;
	size_t		 b = 5;

	if (depth + 1 > msg_limit_depth)
		return (msg_fail(EMSGSIZE, "encode: nesting deeper than %zu",
		    msg_limit_depth));
	it = m->v.items;
	end = it + (m->type == ISO_MAP ? 2 * (size_t)m->len : m->len);
	if ((*nodes += (size_t)(end - it)) > msg_limit_nodes)
		return (msg_fail(EMSGSIZE, "encode: more than %zu values",
		    msg_limit_nodes));
	for (; it < end; it++) {
		switch (it->type) {
		case ISO_BYTES:
			if (fds && (it->flags & MSG_MFD)) {
				b += 10;
				break;
			}
			/* FALLTHROUGH */
		case ISO_STR:
			b += 5 + (size_t)it->len;
			break;
		case ISO_PORT:
			b += 2 + 1 + WIRE_PORT_LEN;
			break;
		case ISO_LIST:
		case ISO_MAP:
			if (wire_bound_walk(it, depth + 1, bound, nodes,
			    fds) == -1)
				return (-1);
			break;
		default:
			b += 9;
			break;
		}
	}
	*bound += b;
	return (0);
}

static ISO_HOT int
wire_bound_as(const iso_msg *m, size_t *bound, int fds)
{
	size_t	nodes = 1;

	*bound = 0;
	if (m == NULL)
		return (msg_fail(EINVAL, "encode: NULL message"));
	if ((m->flags & MSG_MFD) && msg_mfd_freeze(m) == -1)
		return (-1);
	switch (m->type) {
	case ISO_BYTES:
		if (fds && (m->flags & MSG_MFD)) {
			*bound = 10;
			return (0);
		}
		/* FALLTHROUGH */
	case ISO_STR:
		*bound = 5 + (size_t)m->len;
		return (0);
	case ISO_PORT:
		*bound = 2 + 1 + WIRE_PORT_LEN;
		return (0);
	case ISO_LIST:
	case ISO_MAP:
		return (wire_bound_walk(m, 0, bound, &nodes, fds));
	}
	*bound = 9;
	return (0);
}

int
wire_bound(const iso_msg *m, size_t *bound)
{
	return (wire_bound_as(m, bound, 0));
}

ISO_HOT int
wire_bound_fds(const iso_msg *m, size_t *bound)
{
	return (wire_bound_as(m, bound, 1));
}

/*
 * msgpack-c's own packer (pack_template.h), instantiated to append to a
 * buffer known to be large enough: the same bytes as msgpack_pack_*, with
 * no callback through a pointer per value.
 */
static inline int
wire_append(char **p, const void *buf, size_t len)
{
	memcpy(*p, buf, len);
	*p += len;
	return (0);
}

#define msgpack_pack_inline_func(name) \
	static inline int wire_mp ## name
#define msgpack_pack_inline_func_cint(name) \
	static inline int wire_mp ## name
#define msgpack_pack_inline_func_fixint(name) \
	static inline int wire_mp_fix ## name
#define msgpack_pack_user	char **
#define msgpack_pack_append_buffer(user, buf, len) \
	return (wire_append(user, buf, len))
#include <msgpack/pack_template.h>

/* m itself at *pk: a scalar whole, a list or map only its header. */
static inline __attribute__((always_inline)) void
wire_pack_node(char **pk, const iso_msg *m, int fds)
{
	uint8_t		port[2 + WIRE_PORT_LEN];
	int		k;

	switch (m->type) {
	case ISO_NIL:
		wire_mp_nil(pk);
		break;
	case ISO_BOOL:
		if (m->v.b)
			wire_mp_true(pk);
		else
			wire_mp_false(pk);
		break;
	case ISO_INT:
		if (m->flags & MSG_BIG)
			wire_mp_uint64(pk, m->v.u);
		else
			wire_mp_int64(pk, m->v.i);
		break;
	case ISO_FLOAT:
		wire_mp_double(pk, m->v.f);
		break;
	case ISO_STR:
		wire_mp_str(pk, m->len);
		wire_mp_str_body(pk, m->v.s, m->len);
		break;
	case ISO_BYTES:
		if (fds && (m->flags & MSG_MFD)) {
			for (k = 0; k < 8; k++)
				port[k] = (uint8_t)((uint64_t)m->len >>
				    (56 - 8 * k));
			wire_mp_ext(pk, 8, WIRE_EXT_BYTES);
			wire_mp_ext_body(pk, port, 8);
			break;
		}
		wire_mp_bin(pk, m->len);
		wire_mp_bin_body(pk, m->v.s, m->len);
		break;
	case ISO_LIST:
		wire_mp_array(pk, m->len);
		break;
	case ISO_MAP:
		wire_mp_map(pk, m->len);
		break;
	case ISO_FD:
		wire_mp_ext(pk, 1, WIRE_EXT_FD);
		port[0] = 0;
		wire_mp_ext_body(pk, port, 1);
		break;
	case ISO_PORT:
		for (k = 0; k < 8; k++)
			port[k] = (uint8_t)(m->v.port.isolate >> (56 - 8 * k));
		for (k = 0; k < 4; k++) {
			port[8 + k] = (uint8_t)(m->v.port.pid >> (24 - 8 * k));
			port[12 + k] = (uint8_t)(m->v.port.port >> (24 - 8 * k));
		}
		wire_mp_ext(pk, WIRE_PORT_LEN, WIRE_EXT_PORT);
		wire_mp_ext_body(pk, port, WIRE_PORT_LEN);
		break;
	}
}

static ISO_HOT void
wire_pack(char **pk, const iso_msg *m, int fds)
{
	uint32_t	i, n;

	wire_pack_node(pk, m, fds);
	if (m->type != ISO_LIST && m->type != ISO_MAP)
		return;
	n = m->type == ISO_MAP ? 2 * m->len : m->len;
	for (i = 0; i < n; i++)
		wire_pack(pk, &m->v.items[i], fds);
}

size_t
wire_put_node(const iso_msg *m, void *dst)
{
	char	*p = dst;

	wire_pack_node(&p, m, 0);
	return ((size_t)(p - (char *)dst));
}

size_t
wire_encode_scalar(const iso_msg *m, void *dst)
{
	char	*p = dst;

	switch (m->type) {
	case ISO_INT:
		if (m->flags & MSG_BIG)
			wire_mp_uint64(&p, m->v.u);
		else
			wire_mp_int64(&p, m->v.i);
		break;
	case ISO_NIL:
	case ISO_BOOL:
	case ISO_FLOAT:
		wire_pack(&p, m, 0);
		break;
	default:
		return (0);
	}
	return ((size_t)(p - (char *)dst));
}

size_t
wire_encode_to(const iso_msg *m, void *dst)
{
	char	*p = dst;

	wire_pack(&p, m, 0);
	return ((size_t)(p - (char *)dst));
}

ISO_HOT size_t
wire_encode_fds(const iso_msg *m, void *dst)
{
	char	*p = dst;

	wire_pack(&p, m, 1);
	return ((size_t)(p - (char *)dst));
}

ISO_HOT int
wire_frame_len(const void *hdr, size_t *len)
{
	*len = (size_t)wire_be(hdr, WIRE_HDR);
	if (*len > msg_limit_frame)
		return (msg_fail(EMSGSIZE, "frame: length %zu is over the "
		    "limit of %zu", *len, msg_limit_frame));
	if (*len == 0)
		return (msg_fail(EBADMSG, "frame: length 0"));
	return (0);
}

ISO_HOT void
wire_frame_hdr(void *hdr, size_t len)
{
	uint8_t	*h = hdr;

	h[0] = (uint8_t)(len >> 24);
	h[1] = (uint8_t)(len >> 16);
	h[2] = (uint8_t)(len >> 8);
	h[3] = (uint8_t)len;
}

int
iso_msg_encode(const iso_msg *m, void **buf, size_t *len)
{
	size_t	 bound, n;
	void	*p;

	if (buf == NULL || len == NULL)
		return (msg_fail(EINVAL, "encode: NULL argument"));
	if (wire_bound(m, &bound) == -1)
		return (-1);
	if ((p = malloc(bound)) == NULL)
		return (msg_fail(ENOMEM, "encode: out of memory"));
	n = wire_encode_to(m, p);
	if (n > msg_limit_frame) {
		free(p);
		return (msg_fail(EMSGSIZE, "encode: %zu bytes, more than the "
		    "frame limit of %zu", n, msg_limit_frame));
	}
	*buf = p;
	*len = n;
	return (0);
}
