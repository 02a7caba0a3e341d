/*
 * request.c: a request parsed by its entry's table of fields: types,
 * bounds, required or optional, then its target resolved (target.c),
 * before the op runs; the op gets a filled struct. Each failure is one
 * line naming the op and the field.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* What a field is, after "want": a "key" string, ... */
static void
rq_want(const struct rq_field *f, char *buf, size_t len)
{
	size_t	i, n;

	switch (f->type) {
	case RQ_STR:
		if (f->max > 0 && f->min == f->max)
			snprintf(buf, len, "a \"%s\" string of %" PRId64
			    " bytes", f->key, f->min);
		else if (f->max > 0)
			snprintf(buf, len, "a \"%s\" string of %" PRId64
			    " to %" PRId64 " bytes", f->key, f->min > 0 ?
			    f->min : 0, f->max);
		else
			snprintf(buf, len, "a \"%s\" string", f->key);
		break;
	case RQ_INT:
		if (f->min != 0 || f->max != 0)
			snprintf(buf, len, "\"%s\" an integer from %" PRId64
			    " to %" PRId64, f->key, f->min, f->max);
		else
			snprintf(buf, len, "\"%s\" an integer", f->key);
		break;
	case RQ_U64:
		snprintf(buf, len, "\"%s\" an integer >= 0", f->key);
		break;
	case RQ_BOOL:
		snprintf(buf, len, "\"%s\" a bool", f->key);
		break;
	case RQ_MSG:
		snprintf(buf, len, "a \"%s\"", f->key);
		break;
	case RQ_STRLIST:
		snprintf(buf, len, "\"%s\" a %slist of strings%s", f->key,
		    f->min > 0 ? "non-empty " : "", f->flags & RQ_NIL ?
		    " or nil" : "");
		break;
	case RQ_PORT:
		snprintf(buf, len, "a \"%s\" SendPort", f->key);
		break;
	case RQ_ENUM:
		n = (size_t)snprintf(buf, len, "\"%s\" one of", f->key);
		for (i = 0; f->names[i] != NULL && n < len; i++)
			n += (size_t)snprintf(buf + n, len - n, "%s %s",
			    i > 0 ? "," : "", f->names[i]);
		break;
	case RQ_HEX:
		snprintf(buf, len, "a \"%s\" id string", f->key);
		break;
	}
}

/* Fill the field f of args from v. 0, or -1 (the value is wrong). */
static int
rq_field(const struct rq_field *f, const iso_msg *v, char *args)
{
	void		*at = args + f->off;
	const char	*s;
	int64_t		 x;
	uint64_t	 u;
	size_t		 len, i;
	int		 b;

	switch (f->type) {
	case RQ_STR:
		if ((s = iso_msg_str(v, &len)) == NULL || strlen(s) != len ||
		    (int64_t)len < f->min || (f->max > 0 &&
		    (int64_t)len > f->max))
			return (-1);
		*(const char **)at = s;
		return (0);
	case RQ_INT:
		if (iso_msg_int(v, &x) == -1 || x < INT32_MIN ||
		    x > INT32_MAX || ((f->min != 0 || f->max != 0) &&
		    (x < f->min || x > f->max)))
			return (-1);
		*(int *)at = (int)x;
		return (0);
	case RQ_U64:
		if (iso_msg_uint(v, &u) == -1)
			return (-1);
		*(uint64_t *)at = u;
		return (0);
	case RQ_BOOL:
		if (iso_msg_bool(v, &b) == -1)
			return (-1);
		*(int *)at = b;
		return (0);
	case RQ_MSG:
		*(const iso_msg **)at = v;
		return (0);
	case RQ_STRLIST:
		if (iso_msg_type(v) != ISO_LIST ||
		    (int64_t)iso_msg_len(v) < f->min)
			return (-1);
		for (i = 0; i < iso_msg_len(v); i++)
			if ((s = iso_msg_str(iso_msg_at(v, i), &len)) ==
			    NULL || strlen(s) != len)
				return (-1);
		*(const iso_msg **)at = v;
		return (0);
	case RQ_PORT:
		return (iso_msg_sendport(v, (iso_sendport *)at));
	case RQ_ENUM:
		if ((s = iso_msg_str(v, NULL)) == NULL)
			return (-1);
		for (i = 0; f->names[i] != NULL; i++)
			if (strcmp(s, f->names[i]) == 0) {
				*(int *)at = (int)i;
				return (0);
			}
		return (-1);
	case RQ_HEX:
		if ((s = iso_msg_str(v, &len)) == NULL || len == 0 ||
		    len > 16 || strspn(s, "0123456789abcdefABCDEF") != len)
			return (-1);
		*(uint64_t *)at = strtoull(s, NULL, 16);
		return (0);
	}
	return (-1);
}

/* Fill args from req by e's fields: 0, or -1 with the reason in err. */
static int
rq_parse(const struct rq_entry *e, const iso_msg *req, void *args,
    char *err, size_t len)
{
	const struct rq_field	*f;
	const iso_msg		*v;
	char			 want[160];
	const char		*s;

	for (f = e->fields; f != NULL && f->key != NULL; f++) {
		if (f->type == RQ_INT || f->type == RQ_ENUM ||
		    f->type == RQ_BOOL)
			*(int *)((char *)args + f->off) = (int)f->def;
		else if (f->type == RQ_U64)
			*(uint64_t *)((char *)args + f->off) =
			    (uint64_t)f->def;
		v = iso_msg_get(req, f->key);
		if (v != NULL && iso_msg_type(v) == ISO_NIL &&
		    (f->flags & RQ_NIL))
			v = NULL;
		if (v == NULL && !(f->flags & RQ_REQ))
			continue;
		if (v != NULL && rq_field(f, v, args) == 0)
			continue;
		rq_want(f, want, sizeof want);
		if (v != NULL && f->type == RQ_ENUM &&
		    (s = iso_msg_str(v, NULL)) != NULL)
			snprintf(err, len, "%s: want %s, not \"%.32s\"",
			    e->name, want, s);
		else
			snprintf(err, len, "%s: want %s", e->name, want);
		return (-1);
	}
	return (0);
}

/* Under RQ_STRICT, every key of req is "op", "node" (forward.c) or one
   of e's fields: 0, or -1 with the reason in err. */
static int
rq_known(const struct rq_entry *e, const iso_msg *req, char *err,
    size_t len)
{
	const struct rq_field	*f;
	const char		*k;
	size_t			 i;

	for (i = 0; i < iso_msg_len(req); i++) {
		if ((k = iso_msg_str(iso_msg_key_at(req, i), NULL)) == NULL)
			k = "";
		if (strcmp(k, "op") == 0 || strcmp(k, "node") == 0)
			continue;
		for (f = e->fields; f != NULL && f->key != NULL; f++)
			if (strcmp(k, f->key) == 0)
				break;
		if (f != NULL && f->key != NULL)
			continue;
		snprintf(err, len, "%s: unknown field \"%.64s\" (a client "
		    "newer than this supervisor? stop it with isoctl daemon "
		    "stop: the next request starts the installed one)",
		    e->name, k);
		return (-1);
	}
	return (0);
}

/* Resolve e's target in req: 0, or -1 with errno and err. */
static int
rq_target(const struct rq_entry *e, const iso_msg *req, struct target *t,
    char *err, size_t len)
{
	const char	*key = e->target_key != NULL ? e->target_key : "target";
	const char	*s;

	if (iso_msg_unpack(req, "{s:s}", key, &s) == -1) {
		snprintf(err, len, "%s: want a \"%s\" string", e->name, key);
		errno = EINVAL;
		return (-1);
	}
	if (target_resolve(s, e->target, t, err, len) == -1) {
		if (e->target_what != NULL && strncmp(err, "no node", 7) != 0)
			snprintf(err, len, "no %s \"%.64s\"", e->target_what,
			    s);
		return (-1);
	}
	return (0);
}

void
rq_run(const struct rq_entry *e, struct sv_conn *c, const iso_msg *req)
{
	struct rq	 r;
	char		 err[512];
	long long	 small[32];	/* the args of most entries */
	void		*args = small;
	int		 bad = 0, eno = EINVAL;

	memset(&r, 0, sizeof r);
	r.op = e->name;
	r.msg = req;
	if (e->size > sizeof small && (args = calloc(1, e->size)) == NULL) {
		if (!(e->flags & RQ_NOREPLY))
			sv_error(c, ENOMEM, "out of memory");
		return;
	}
	memset(args, 0, e->size > sizeof small ? e->size : sizeof small);
	r.args = args;
	if (((e->flags & RQ_STRICT) && rq_known(e, req, err,
	    sizeof err) == -1) || rq_parse(e, req, args, err,
	    sizeof err) == -1)
		bad = 1;
	else if (e->target != 0 && rq_target(e, req, &r.target, err,
	    sizeof err) == -1) {
		bad = 1;
		eno = errno;
	}
	if (!bad)
		e->exec(c, &r);
	else if (e->flags & RQ_DROPBAD)
		sv_drop(c);
	else if (!(e->flags & RQ_NOREPLY))
		sv_error(c, eno, "%s", err);
	if (args != small)
		free(args);
}
