/*
 * pack.c: iso_msg_pack and iso_msg_unpack, messages through a jansson-like
 * format. Pack reads the format and its arguments once, into an array of
 * items, checking them and measuring the tree; then fills a single block
 * from the array. A format that packed once is kept compiled in a small
 * per-thread cache (keyed by its address, checked against its text), so
 * the next pack with it only fetches and checks its arguments.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hot.h"
#include "loop.h"
#include "msg.h"
#include "wire.h"

struct fmt {
	const char	*start;
	const char	*p;
	va_list		*ap;	/* the caller's: see pack_ap */
};

/*
 * One format item with its arguments fetched. Pack reads the format once
 * into an array of these, in order (a container, then its items; closing
 * brackets are not kept), and fills the block from the array.
 */
struct spec {
	char			 c;	/* n b I U f s y Y P O h [ {, or ] } 0 */
	size_t			 len;	/* s y Y: bytes; [ {: items (keys too) */
	union {
		int64_t		 i;
		uint64_t	 u;
		double		 f;
		iso_sendport	 port;
		const char	*s;
		const iso_msg	*o;
	} v;
};

#define PACK_SPECS	32	/* on the stack; a longer format grows */
#define PACK_DEPTH_MAX	32	/* ISO_LIMIT_DEPTH's maximum */

struct specs {
	struct spec	*v;
	size_t		 n, cap;
	struct spec	 local[PACK_SPECS];
};

/* The characters a format skips between items. */
static const unsigned char fmt_space[256] = {
	[' '] = 1, ['\t'] = 1, ['\n'] = 1, [':'] = 1, [','] = 1
};

static inline char
fmt_peek(struct fmt *f)
{
	const char	*p = f->p;	/* a local: f->ap may alias f->p */

	while (fmt_space[(unsigned char)*p])
		p++;
	f->p = p;
	return (*p);
}

static int
fmt_bad(struct fmt *f, const char *what)
{
	return (msg_fail(EINVAL, "%s at format offset %td of \"%s\"", what,
	    f->p - f->start, f->start));
}

/* Room for more slots in a: 0, or -1/ENOMEM. */
static int
specs_grow(struct specs *a)
{
	struct spec	*v;
	size_t		 cap = 2 * a->cap;

	if (a->v == a->local) {
		if ((v = malloc(cap * sizeof *v)) != NULL)
			memcpy(v, a->v, a->n * sizeof *v);
	} else
		v = realloc(a->v, cap * sizeof *v);
	if (v == NULL)
		return (msg_fail(ENOMEM, "pack: out of memory"));
	a->v = v;
	a->cap = cap;
	return (0);
}

/* A new slot at the end of a, or NULL/ENOMEM. */
static inline struct spec *
specs_push(struct specs *a)
{
	if (a->n == a->cap && specs_grow(a) == -1)
		return (NULL);
	return (&a->v[a->n++]);
}

static ISO_HOT inline int
pack_next(struct fmt *f, struct spec *sp)
{
	int	nullable = 0;

	sp->c = fmt_peek(f);
	if (sp->c != '\0')
		f->p++;
	switch (sp->c) {
	case '\0':
	case 'n':
	case '[':
	case ']':
	case '{':
	case '}':
		return (0);
	case 'b':
		sp->v.i = va_arg(*f->ap, int) != 0;
		return (0);
	case 'i':
		sp->c = 'I';
		sp->v.i = va_arg(*f->ap, int);
		return (0);
	case 'I':
		sp->v.i = va_arg(*f->ap, int64_t);
		return (0);
	case 'U':
		sp->v.u = va_arg(*f->ap, uint64_t);
		return (0);
	case 'f':
		sp->v.f = va_arg(*f->ap, double);
		return (0);
	case 'P':
		sp->v.port = va_arg(*f->ap, iso_sendport);
		return (0);
	case 'h':
		sp->v.i = va_arg(*f->ap, int);
		if (sp->v.i < 0) {
			fmt_bad(f, "pack: h is not a descriptor");
			errno = EBADF;
			return (-1);
		}
		return (0);
	case 'O':
		sp->v.o = va_arg(*f->ap, const iso_msg *);
		if (*f->p == '?') {
			f->p++;
			nullable = 1;
		}
		if (sp->v.o == NULL) {
			if (!nullable)
				return (fmt_bad(f, "pack: NULL message for O"));
			sp->c = 'n';
		}
		return (0);
	case 's':
		sp->v.s = va_arg(*f->ap, const char *);
		if (*f->p == '#') {
			f->p++;
			sp->len = va_arg(*f->ap, size_t);
		} else {
			if (*f->p == '?') {
				f->p++;
				nullable = 1;
			}
			sp->len = sp->v.s != NULL ? strlen(sp->v.s) : 0;
		}
		if (sp->v.s == NULL) {
			if (!nullable)
				return (fmt_bad(f, "pack: NULL string"));
			sp->c = 'n';
		}
		return (0);
	case 'y':
	case 'Y':
		if (*f->p++ != '#')
			return (fmt_bad(f, sp->c == 'y' ? "pack: y without #" :
			    "pack: Y without #"));
		sp->v.s = va_arg(*f->ap, const char *);
		sp->len = va_arg(*f->ap, size_t);
		if (sp->v.s == NULL && sp->len > 0)
			return (fmt_bad(f, "pack: NULL bytes"));
		return (0);
	}
	f->p--;
	return (fmt_bad(f, "pack: unexpected character"));
}

/*
 * Read the format's one value into a, checking it and adding what the tree
 * needs to sz. Containers are read in a loop with a stack of the open ones
 * (at most msg_limit_depth), so the checks come in format order.
 */
static int
pack_read(struct fmt *f, struct specs *a, struct msg_size *sz)
{
	size_t		 open[PACK_DEPTH_MAX], count[PACK_DEPTH_MAX];
	size_t		 top = 0, j, n;
	struct spec	*sp;
	char		 c, close;

	for (;;) {
		j = a->n;
		if ((sp = specs_push(a)) == NULL || pack_next(f, sp) == -1)
			return (-1);
		c = sp->c;
		if (top > 0 && c == (a->v[open[top - 1]].c == '[' ? ']' :
		    '}')) {
			a->n--;
			close = c;
			n = count[--top];
			if (close == '}' && n % 2 != 0)
				return (fmt_bad(f, "pack: map key without a "
				    "value"));
			if (n / (close == '}' ? 2 : 1) > UINT32_MAX)
				return (msg_fail(EMSGSIZE, "pack: too many "
				    "items"));
			a->v[open[top]].len = n;
			if (top == 0)
				return (0);
			continue;
		}
		sz->nodes++;
		if (top > 0)
			count[top - 1]++;
		switch (c) {
		case '\0':
			return (fmt_bad(f, "pack: format ends where a value "
			    "was due"));
		case ']':
		case '}':
			return (fmt_bad(f, "pack: unbalanced bracket"));
		case 's':
			if (!msg_utf8_valid(sp->v.s, sp->len))
				return (fmt_bad(f, "pack: string is not valid "
				    "UTF-8"));
			/* FALLTHROUGH */
		case 'y':
		case 'Y':
			if (sp->len > UINT32_MAX)
				return (msg_fail(EMSGSIZE, "pack: string too "
				    "long"));
			if (c != 'Y')	/* borrowed: not in the block */
				sz->bytes += sp->len + (c == 's');
			break;
		case 'h':
			sz->fds++;
			break;
		case 'O':
			if (top + (size_t)msg_depth(sp->v.o) > msg_limit_depth)
				return (msg_fail(EMSGSIZE, "pack: nesting "
				    "deeper than %zu", msg_limit_depth));
			if ((sp->v.o->flags & MSG_MFD) &&
			    msg_mfd_freeze(sp->v.o) == -1)
				return (-1);
			sz->nodes--;
			msg_measure(sp->v.o, sz);
			break;
		case '[':
		case '{':
			if (top + 1 > msg_limit_depth || top >= PACK_DEPTH_MAX)
				return (msg_fail(EMSGSIZE, "pack: nesting "
				    "deeper than %zu", msg_limit_depth));
			open[top] = j;
			count[top++] = 0;
			continue;
		}
		if (top == 0)
			return (0);
	}
}

/* Fill dst from sp, a scalar (n b I U f P h). */
static inline void
pack_scalar(const struct spec *sp, iso_msg *dst)
{
	dst->flags = 0;
	dst->len = 0;
	dst->own = NULL;
	switch (sp->c) {
	case 'n':
		dst->type = ISO_NIL;
		break;
	case 'b':
		dst->type = ISO_BOOL;
		dst->v.b = (int)sp->v.i;
		break;
	case 'U':
		dst->type = ISO_INT;
		dst->v.u = sp->v.u;
		if (sp->v.u > INT64_MAX)
			dst->flags = MSG_BIG;
		break;
	case 'f':
		dst->type = ISO_FLOAT;
		dst->v.f = sp->v.f;
		break;
	case 'P':
		dst->type = ISO_PORT;
		dst->v.port = sp->v.port;
		break;
	case 'h':	/* the caller's: msg_fds_dup makes it the message's */
		dst->type = ISO_FD;
		dst->v.fd = (int)sp->v.i;
		break;
	default:	/* I */
		dst->type = ISO_INT;
		dst->v.i = sp->v.i;
		break;
	}
}

/* Fill dst from sp, a string or bytes, pointing at the caller's. */
static inline void
pack_borrow(const struct spec *sp, iso_msg *dst)
{
	dst->flags = 0;
	dst->own = NULL;
	dst->type = sp->c == 's' ? ISO_STR : ISO_BYTES;
	dst->len = (uint32_t)sp->len;
	dst->v.s = sp->v.s != NULL ? sp->v.s : "";
}

/* Fill dst from sp, which is not a container. */
static ISO_HOT inline void
pack_node(const struct spec *sp, iso_msg *dst, struct msg_block *b)
{
	switch (sp->c) {
	case 's':
	case 'y':
		dst->flags = 0;
		dst->own = NULL;
		dst->type = sp->c == 's' ? ISO_STR : ISO_BYTES;
		dst->len = (uint32_t)sp->len;
		dst->v.s = msg_block_data(b, sp->v.s, sp->len, sp->c == 's');
		break;
	case 'Y':	/* the caller's, borrowed */
		pack_borrow(sp, dst);
		break;
	case 'O':
		msg_fill_copy(dst, sp->v.o, b);
		break;
	default:
		pack_scalar(sp, dst);
		break;
	}
}

/* A container's node from sp (its item count in len), items at items. */
static inline void
pack_container(const struct spec *sp, iso_msg *dst, iso_msg *items)
{
	dst->flags = 0;
	dst->own = NULL;
	dst->type = sp->c == '[' ? ISO_LIST : ISO_MAP;
	dst->len = (uint32_t)(sp->c == '[' ? sp->len : sp->len / 2);
	dst->v.items = items;
}

/* Fill dst from sp and the items after it; returns the spec after them. */
static ISO_HOT const struct spec *
pack_fill(const struct spec *sp, iso_msg *dst, struct msg_block *b)
{
	iso_msg	*items;
	size_t	 i, n;

	if (sp->c != '[' && sp->c != '{') {
		pack_node(sp, dst, b);
		return (sp + 1);
	}
	n = sp->len;
	pack_container(sp, dst, items = msg_block_nodes(b, n));
	for (i = 0, sp++; i < n; i++)
		sp = pack_fill(sp, &items[i], b);
	return (sp);
}

/*
 * The per-thread cache of compiled pack formats. An entry is the format's
 * items in pack order with what does not depend on the arguments resolved:
 * a container's item count, each item's nesting, the deepest nesting.
 * Only a format the slow path has packed is compiled. The cached path
 * checks what depends on the arguments and the limits; on anything the
 * slow path would refuse it gives up and the slow path runs from the
 * start, so errors and iso_error() are the slow path's own.
 */
#define FC_SLOTS	16	/* direct-mapped by address */
#define FC_TEXT		48	/* longer formats are not cached */
#define FC_OPS		24

struct fc_op {
	char		c;	/* n b i I U f P [ {, O o(O?) s S(s#) z(s?) y
				   Y */
	uint8_t		level;	/* containers around it */
	uint16_t	len;	/* [ {: items (keys too) */
	uint8_t		node;	/* its node in the block, without O */
	uint8_t		first;	/* [ {: its first item's node */
};

struct fc_entry {
	const char	*key;	/* the format's address, NULL: empty */
	uint8_t		 nops;
	uint8_t		 depth;	/* deepest nesting of containers */
	uint8_t		 has_o;	/* an O: nodes placed by pack_fill */
	struct fc_op	 ops[FC_OPS];
	char		 text[FC_TEXT];
};

/*
 * The entries are blocks of evmem.c's, a slot of pointers in TLS: a
 * thread's 3 KiB of entries there put the C library's thread variables
 * (errno) on a page below the thread's descriptor, and a new isolate
 * that compiles a format would write an entry its spawner's copy shares.
 * A new entry replaces the slot's, freed unless it is the spawner's (as
 * evmem_free does); a thread's entries are freed when it ends.
 */
static __thread struct fc_entry	*pack_cache[FC_SLOTS];

static inline struct fc_entry **
fc_slot(const char *fmt)
{
	return (&pack_cache[(size_t)(((uintptr_t)fmt *
	    UINT64_C(0x9e3779b97f4a7c15)) >> 60) % FC_SLOTS]);
}

void
pack_cache_end(void)
{
	size_t	i;

	for (i = 0; i < FC_SLOTS; i++) {
		evmem_free(pack_cache[i]);
		pack_cache[i] = NULL;
	}
}

/* Keep c, fmt's compiled form, in this thread's cache. */
static void
pack_cache_put(const char *fmt, const struct fc_entry *c)
{
	struct fc_entry	**slot = fc_slot(fmt), *e;

	if (msg_thread_keep() < 0 || (e = evmem_malloc(sizeof *e)) == NULL)
		return;
	*e = *c;
	evmem_free(*slot);
	*slot = e;
}

/* strcmp(a, b) == 0, inline: formats are a few bytes long. */
static inline int
fc_same(const char *a, const char *b)
{
	for (; *a == *b; a++, b++)
		if (*a == '\0')
			return (1);
	return (0);
}

static inline const char *
fc_skip(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == ':' ||
	    *p == ',')
		p++;
	return (p);
}

/* Place op k and the items after it in the block as pack_fill would:
   node is its node; *next the next free one. Returns the op after them. */
static ISO_HOT size_t
fc_place(struct fc_op *ops, size_t k, size_t node, size_t *next)
{
	size_t	i, n, first;

	ops[k].node = (uint8_t)node;
	if (ops[k].c != '[' && ops[k].c != '{')
		return (k + 1);
	n = ops[k].len;
	first = *next;
	*next += n;
	ops[k].first = (uint8_t)first;
	for (i = 0, k++; i < n; i++)
		k = fc_place(ops, k, first + i, next);
	return (k);
}

/* Compile fmt, which the slow path has packed, into e: 0, or -1 when it
   does not fit (too long, too many items). */
static int
pack_compile(const char *fmt, struct fc_entry *e)
{
	size_t		 open[FC_OPS], count[FC_OPS], top = 0, n = 0, len;
	size_t		 k, next;
	const char	*p = fmt;
	struct fc_op	*op;
	char		 c;

	if ((len = strnlen(fmt, FC_TEXT)) >= FC_TEXT)
		return (-1);
	e->depth = 0;
	for (;;) {
		p = fc_skip(p);
		if ((c = *p++) == '\0')
			return (-1);
		if (top > 0 && c == (e->ops[open[top - 1]].c == '[' ? ']' :
		    '}')) {
			top--;
			e->ops[open[top]].len = (uint16_t)count[top];
			if (top == 0)
				break;
			continue;
		}
		if (n == FC_OPS)
			return (-1);
		op = &e->ops[n++];
		op->level = (uint8_t)top;
		op->len = 0;
		if (top > 0)
			count[top - 1]++;
		switch (c) {
		case 'n': case 'b': case 'i': case 'I': case 'U': case 'f':
		case 'P':
			break;
		case 'O':
			if (*p == '?') {
				p++;
				c = 'o';
			}
			break;
		case 's':
			if (*p == '#') {
				p++;
				c = 'S';
			} else if (*p == '?') {
				p++;
				c = 'z';
			}
			break;
		case 'y':
		case 'Y':
			if (*p++ != '#')
				return (-1);
			break;
		case '[':
		case '{':
			op->c = c;
			open[top] = n - 1;
			count[top++] = 0;
			if (top > e->depth)
				e->depth = (uint8_t)top;
			continue;
		default:
			return (-1);
		}
		op->c = c;
		if (top == 0)
			break;
	}
	if (*fc_skip(p) != '\0')
		return (-1);
	e->nops = (uint8_t)n;
	e->has_o = 0;
	for (k = 0; k < n; k++)
		if (e->ops[k].c == 'O' || e->ops[k].c == 'o')
			e->has_o = 1;
	next = 1;
	fc_place(e->ops, 0, 0, &next);
	memcpy(e->text, fmt, len + 1);
	e->key = fmt;
	return (0);
}

/* 1 if s[0..len) is valid UTF-8; ASCII without a call. */
static inline int
pack_utf8(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return (msg_utf8_valid(s + i, len - i));
	return (1);
}

/* An O or O? argument into sp, measured into sz: 0, or -1 for the slow
   path (a NULL for O, nesting over the limit). */
static inline int
fc_fetch_msg(const struct fc_op *op, struct spec *sp, va_list *ap,
    struct msg_size *sz)
{
	sp->c = 'O';
	if ((sp->v.o = va_arg(*ap, const iso_msg *)) == NULL) {
		if (op->c == 'O')
			return (-1);
		sp->c = 'n';
		return (0);
	}
	if (op->level + (size_t)msg_depth(sp->v.o) > msg_limit_depth ||
	    ((sp->v.o->flags & MSG_MFD) && msg_mfd_freeze(sp->v.o) == -1))
		return (-1);
	sz->nodes--;
	msg_measure(sp->v.o, sz);
	return (0);
}

/* An s, s# or s? argument into sp, measured into sz: 0, or -1 for the
   slow path (a NULL for s or s#, too long, not UTF-8). */
static inline int
fc_fetch_str(const struct fc_op *op, struct spec *sp, va_list *ap,
    struct msg_size *sz)
{
	const char	*s;
	size_t		 n;
	unsigned char	 hi = 0;

	sp->c = 's';
	sp->v.s = s = va_arg(*ap, const char *);
	if (op->c == 'S')
		sp->len = va_arg(*ap, size_t);
	if (s == NULL) {
		if (op->c != 'z')
			return (-1);
		sp->c = 'n';
		return (0);
	}
	if (op->c != 'S') {
		/* Its length and whether it is ASCII, in one loop. */
		for (n = 0; n < 32 && s[n] != '\0'; n++)
			hi |= (unsigned char)s[n];
		if (n == 32 || (hi & 0x80)) {
			n += strlen(s + n);
			hi = 0x80;
		}
		sp->len = n;
	} else
		hi = 0x80;
	if (sp->len > UINT32_MAX || ((hi & 0x80) &&
	    !pack_utf8(sp->v.s, sp->len)))
		return (-1);
	sz->bytes += sp->len + 1;
	return (0);
}

/* Op's argument (if it takes one) into sp, measured into sz: 0, or -1
   for the slow path. */
static inline int
fc_fetch(const struct fc_op *op, struct spec *sp, va_list *ap,
    struct msg_size *sz)
{
	sp->c = op->c;
	sz->nodes++;
	switch (op->c) {
	case '[':
	case '{':
		sp->len = op->len;
		break;
	case 'b':
		sp->v.i = va_arg(*ap, int) != 0;
		break;
	case 'i':
		sp->c = 'I';
		sp->v.i = va_arg(*ap, int);
		break;
	case 'I':
		sp->v.i = va_arg(*ap, int64_t);
		break;
	case 'U':
		sp->v.u = va_arg(*ap, uint64_t);
		break;
	case 'f':
		sp->v.f = va_arg(*ap, double);
		break;
	case 'P':
		sp->v.port = va_arg(*ap, iso_sendport);
		break;
	case 'O':
	case 'o':
		return (fc_fetch_msg(op, sp, ap, sz));
	case 's':
	case 'S':
	case 'z':
		return (fc_fetch_str(op, sp, ap, sz));
	case 'y':
	case 'Y':
		sp->v.s = va_arg(*ap, const char *);
		sp->len = va_arg(*ap, size_t);
		if ((sp->v.s == NULL && sp->len > 0) || sp->len > UINT32_MAX)
			return (-1);
		if (op->c == 'y')
			sz->bytes += sp->len;
		break;
	}
	return (0);
}

/* Fill root from v, e's items with their arguments, without an O: each
   node where fc_place put it (as pack_fill would), the data in order;
   one pass, no recursion. */
static inline void
fc_fill(const struct fc_entry *e, const struct spec *v, iso_msg *root,
    struct msg_block *b)
{
	const struct fc_op	*op;
	size_t			 k;

	for (k = 0; k < e->nops; k++) {
		op = &e->ops[k];
		if (v[k].c == '[' || v[k].c == '{')
			pack_container(&v[k], &root[op->node], &root[op->first]);
		else
			pack_node(&v[k], &root[op->node], b);
	}
}

/* Pack with e's compiled format, or NULL for the slow path to run (and
   say why) whatever the reason. */
static iso_msg *
pack_cached(const struct fc_entry *e, va_list *ap)
{
	struct spec		 v[FC_OPS];
	struct msg_size		 sz = { 0, 0, 0, 0 };
	struct msg_block	 b;
	iso_msg			*root;
	size_t			 k;

	if (e->depth > msg_limit_depth)
		return (NULL);
	for (k = 0; k < e->nops; k++)
		if (fc_fetch(&e->ops[k], &v[k], ap, &sz) == -1)
			return (NULL);
	if ((root = msg_block_new(&sz, &b)) == NULL)
		return (NULL);
	if (e->has_o)
		pack_fill(v, root, &b);
	else
		fc_fill(e, v, root, &b);
	if (sz.fds > 0 && msg_fds_dup(root) == -1) {
		iso_msg_free(root);
		return (NULL);
	}
	if (sz.fds == 0 && sz.mfds > 0)
		msg_fds_mark(root);	/* shared values come in with O */
	return (root);
}

/* sp, which is not an O, as a node whose strings and bytes are the
   caller's (not copied): what wire_put_node encodes. */
static inline void
direct_node(const struct spec *sp, iso_msg *n)
{
	switch (sp->c) {
	case '[':
	case '{':
		pack_container(sp, n, NULL);
		break;
	case 's':
	case 'y':
	case 'Y':
		pack_borrow(sp, n);
		break;
	default:
		pack_scalar(sp, n);
		break;
	}
}

ssize_t
pack_encode_direct(const char *fmt, va_list *ap,
    void *(*reserve)(void *, size_t), void *ctx)
{
	struct spec		 v[FC_OPS];
	struct msg_size		 sz = { 0, 0, 0, 0 };
	const struct fc_entry	*e;
	iso_msg			 node;
	size_t			 k, bound = 0;
	char			*dst, *p;

	e = *fc_slot(fmt);
	if (e == NULL || e->key != fmt || !fc_same(e->text, fmt) ||
	    e->has_o || e->depth > msg_limit_depth)
		return (0);
	for (k = 0; k < e->nops; k++) {
		if (fc_fetch(&e->ops[k], &v[k], ap, &sz) == -1)
			return (0);
		bound += v[k].c == 's' || v[k].c == 'y' || v[k].c == 'Y' ?
		    5 + v[k].len : WIRE_NODE_MAX;
	}
	if (sz.nodes > msg_limit_nodes)
		return (0);
	if ((dst = reserve(ctx, bound)) == NULL)
		return (-1);
	for (p = dst, k = 0; k < e->nops; k++) {
		direct_node(&v[k], &node);
		p += wire_put_node(&node, p);
	}
	return (p - dst);
}

/*
 * Pack from two copies of the arguments: *fast for the compiled format,
 * *slow for the slow path if that gives up. The variadic entry points
 * va_start both: a va_copy of a va_list just made reads back, in one
 * load, fields stored apart a moment before, which the processor cannot
 * forward (a stall of some 15 cycles, a fifth of a small pack's time).
 */
ISO_HOT iso_msg *
pack_ap(const char *fmt, va_list *fast, va_list *slow)
{
	struct fmt		 f;
	struct specs		 a;
	struct msg_size		 sz = { 0, 0, 0, 0 };
	struct msg_block	 b;
	struct spec		 end;
	struct fc_entry		*e;
	iso_msg			*root = NULL;
	int			 saved, hit;

	if (fmt == NULL) {
		msg_fail(EINVAL, "pack: NULL format");
		return (NULL);
	}
	e = *fc_slot(fmt);
	hit = e != NULL && e->key == fmt && fc_same(e->text, fmt);
	if (hit) {
		saved = errno;
		if ((root = pack_cached(e, fast)) != NULL)
			return (root);
		errno = saved;
	}
	f.start = f.p = fmt;
	f.ap = slow;
	a.v = a.local;
	a.n = 0;
	a.cap = PACK_SPECS;
	if (pack_read(&f, &a, &sz) == -1)
		goto out;
	if (pack_next(&f, &end) == -1)
		goto out;
	if (end.c != '\0') {
		f.p--;
		fmt_bad(&f, "pack: more than one value");
		goto out;
	}
	if ((root = msg_block_new(&sz, &b)) == NULL)
		goto out;
	pack_fill(a.v, root, &b);
	if (sz.fds > 0 && msg_fds_dup(root) == -1) {
		iso_msg_free(root);
		root = NULL;
		goto out;
	}
	if (sz.fds == 0 && sz.mfds > 0)
		msg_fds_mark(root);	/* shared values come in with O */
	if (!hit) {
		struct fc_entry	c;

		if (pack_compile(fmt, &c) == 0)
			pack_cache_put(fmt, &c);
	}
out:
	if (a.v != a.local) {
		saved = errno;
		free(a.v);
		errno = saved;
	}
	return (root);
}

iso_msg *
iso_msg_vpack(const char *fmt, va_list ap)
{
	va_list	 fast, slow;
	iso_msg	*m;

	va_copy(fast, ap);
	va_copy(slow, ap);
	m = pack_ap(fmt, &fast, &slow);
	va_end(fast);
	va_end(slow);
	return (m);
}

ISO_HOT iso_msg *
iso_msg_pack(const char *fmt, ...)
{
	va_list	 fast, slow;
	iso_msg	*m;

	va_start(fast, fmt);
	va_start(slow, fmt);
	m = pack_ap(fmt, &fast, &slow);
	va_end(fast);
	va_end(slow);
	return (m);
}

static const char *const type_names[] = {
	"nil", "bool", "int", "float", "string", "bytes", "list", "map",
	"SendPort", "descriptor"
};

static ISO_HOT int
unpack_want(struct fmt *f, const iso_msg *m, iso_type type)
{
	char	buf[64];

	if (m->type == type)
		return (0);
	snprintf(buf, sizeof buf, "unpack: expected %s, found %s",
	    type_names[type], type_names[m->type]);
	return (fmt_bad(f, buf));
}

static int	unpack_value(struct fmt *, const iso_msg *);

static int
unpack_list(struct fmt *f, const iso_msg *m)
{
	size_t	i = 0;
	char	c;

	if (m != NULL && unpack_want(f, m, ISO_LIST) == -1)
		return (-1);
	while ((c = fmt_peek(f)) != ']') {
		if (c == '!') {
			f->p++;
			if (fmt_peek(f) != ']')
				return (fmt_bad(f, "unpack: ! not before ]"));
			if (m != NULL && i != m->len)
				return (fmt_bad(f, "unpack: list has more "
				    "items"));
			break;
		}
		if (m != NULL && i >= m->len)
			return (fmt_bad(f, "unpack: list has fewer items"));
		if (unpack_value(f, m != NULL ? &m->v.items[i] : NULL) == -1)
			return (-1);
		i++;
	}
	f->p++;
	return (0);
}

static int
unpack_map(struct fmt *f, const iso_msg *m)
{
	const iso_msg	*v;
	const char	*key;
	size_t		 found = 0;
	char		 c;

	if (m != NULL && unpack_want(f, m, ISO_MAP) == -1)
		return (-1);
	while ((c = fmt_peek(f)) != '}') {
		if (c == '!') {
			f->p++;
			if (fmt_peek(f) != '}')
				return (fmt_bad(f, "unpack: ! not before }"));
			if (m != NULL && found != m->len)
				return (fmt_bad(f, "unpack: map has more "
				    "keys"));
			break;
		}
		if (c != 's')
			return (fmt_bad(f, "unpack: map key must be s"));
		f->p++;
		if ((key = va_arg(*f->ap, const char *)) == NULL)
			return (fmt_bad(f, "unpack: NULL key"));
		v = m != NULL ? iso_msg_get(m, key) : NULL;
		if (*f->p == '?')
			f->p++;
		else if (m != NULL && v == NULL) {
			char	buf[96];

			snprintf(buf, sizeof buf, "unpack: no key \"%.40s\"",
			    key);
			return (fmt_bad(f, buf));
		}
		if (v != NULL)
			found++;
		if (unpack_value(f, v) == -1)
			return (-1);
	}
	f->p++;
	return (0);
}

static int
unpack_range(struct fmt *f)
{
	fmt_bad(f, "unpack: number out of range");
	errno = ERANGE;
	return (-1);
}

/* An i, I or U: m's int to out, if it fits. */
static int
unpack_int(struct fmt *f, char c, const iso_msg *m, void *out)
{
	if (unpack_want(f, m, ISO_INT) == -1)
		return (-1);
	if (c == 'U') {
		if (!(m->flags & MSG_BIG) && m->v.i < 0)
			return (unpack_range(f));
		*(uint64_t *)out = m->v.u;
	} else if (m->flags & MSG_BIG)
		return (unpack_range(f));
	else if (c == 'I')
		*(int64_t *)out = m->v.i;
	else if (m->v.i < INT_MIN || m->v.i > INT_MAX)
		return (unpack_range(f));
	else
		*(int *)out = (int)m->v.i;
	return (0);
}

/* An F: m's float, or its int as a double. */
static int
unpack_double(struct fmt *f, const iso_msg *m, double *out)
{
	if (m->type == ISO_INT)
		*out = (m->flags & MSG_BIG) ? (double)m->v.u : (double)m->v.i;
	else if (unpack_want(f, m, ISO_FLOAT) == -1)
		return (-1);
	else
		*out = m->v.f;
	return (0);
}

/* A scalar c (b i I U f F P O) from m to out, which is not NULL. */
static int
unpack_scalar(struct fmt *f, char c, const iso_msg *m, void *out)
{
	switch (c) {
	case 'b':
		if (unpack_want(f, m, ISO_BOOL) == -1)
			return (-1);
		*(int *)out = m->v.b;
		return (0);
	case 'i':
	case 'I':
	case 'U':
		return (unpack_int(f, c, m, out));
	case 'f':
		if (unpack_want(f, m, ISO_FLOAT) == -1)
			return (-1);
		*(double *)out = m->v.f;
		return (0);
	case 'F':
		return (unpack_double(f, m, out));
	case 'P':
		if (unpack_want(f, m, ISO_PORT) == -1)
			return (-1);
		*(iso_sendport *)out = m->v.port;
		return (0);
	case 'h':
		if (unpack_want(f, m, ISO_FD) == -1)
			return (-1);
		if (m->v.fd < 0) {
			fmt_bad(f, "unpack: the descriptor was taken");
			errno = EBADF;
			return (-1);
		}
		*(int *)out = m->v.fd;
		return (0);
	}
	*(const iso_msg **)out = m;	/* O */
	return (0);
}

/* An s, s#, y# (c, the format after it): its outputs fetched, then m's
   string or bytes to them; m == NULL skips it. */
static int
unpack_data(struct fmt *f, char c, const iso_msg *m)
{
	const char	**out;
	size_t		 *lenp = NULL;

	out = va_arg(*f->ap, const char **);
	if (*f->p == '#') {
		f->p++;
		if ((lenp = va_arg(*f->ap, size_t *)) == NULL)
			return (fmt_bad(f, "unpack: NULL output"));
	} else if (c == 'y')
		return (fmt_bad(f, "unpack: y without #"));
	if (out == NULL)
		return (fmt_bad(f, "unpack: NULL output"));
	if (m == NULL)
		return (0);
	if (unpack_want(f, m, c == 's' ? ISO_STR : ISO_BYTES) == -1)
		return (-1);
	*out = m->v.s;
	if (lenp != NULL)
		*lenp = m->len;
	return (0);
}

/* Read one value; m == NULL skips it (an absent optional key). */
static ISO_HOT int
unpack_value(struct fmt *f, const iso_msg *m)
{
	void	*out;
	char	 c;

	c = fmt_peek(f);
	if (c != '\0')
		f->p++;
	switch (c) {
	case '[':
		return (unpack_list(f, m));
	case '{':
		return (unpack_map(f, m));
	case 'n':
		return (m != NULL ? unpack_want(f, m, ISO_NIL) : 0);
	case 's':
	case 'y':
		return (unpack_data(f, c, m));
	case 'b': case 'i': case 'I': case 'U': case 'f': case 'F':
	case 'P': case 'O': case 'h':
		if ((out = va_arg(*f->ap, void *)) == NULL)
			return (fmt_bad(f, "unpack: NULL output"));
		return (m != NULL ? unpack_scalar(f, c, m, out) : 0);
	case '\0':
		return (fmt_bad(f, "unpack: format ends where a value was "
		    "due"));
	}
	f->p--;
	return (fmt_bad(f, "unpack: unexpected character"));
}

/* Unpack from the caller's arguments (*ap: no copy, see pack_ap). */
static ISO_HOT int
unpack_ap(const iso_msg *m, const char *fmt, va_list *ap)
{
	struct fmt	f;

	if (m == NULL || fmt == NULL)
		return (msg_fail(EINVAL, "unpack: NULL argument"));
	f.start = f.p = fmt;
	f.ap = ap;
	if (unpack_value(&f, m) == -1)
		return (-1);
	if (fmt_peek(&f) != '\0')
		return (fmt_bad(&f, "unpack: more than one value"));
	return (0);
}

int
iso_msg_vunpack(const iso_msg *m, const char *fmt, va_list ap)
{
	va_list	aq;
	int	rc, saved;

	va_copy(aq, ap);
	rc = unpack_ap(m, fmt, &aq);
	saved = errno;
	va_end(aq);
	errno = saved;
	return (rc);
}

ISO_HOT int
iso_msg_unpack(const iso_msg *m, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = unpack_ap(m, fmt, &ap);
	va_end(ap);
	return (rc);
}
