/*
 * msg.h: the value tree's layout, shared by msg.c, wire.c and json.c.
 * Internal; nothing here is part of the public header.
 *
 * Every message made by pack, copy, decode or from_json is one block:
 * the nodes (root first, each container's items contiguous), then the
 * string and bytes data; bytes values packed with Y# or decoded by
 * iso_msg_decode_borrow point outside it, at memory the caller keeps. A
 * large frame without strings may be decoded in place (wire_decode_in):
 * its nodes at the start of the block the frame was read into, its bytes
 * values pointing into the frame after them; iso_msg_free of such a root
 * is one free(). Only iso_msg_append and iso_msg_put make a root grow;
 * they move its items to a heap array (MSG_HEAP) whose slots may own a
 * block of their own (`own`).
 * Invariant: MSG_HEAP and `own` appear only on a root or in a heap array,
 * never inside a block, so freeing never walks a block.
 */
#ifndef ISO_LIB_MSG_H
#define ISO_LIB_MSG_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "isolate.h"

#define MSG_BIG		0x01	/* ISO_INT holding a uint64 > INT64_MAX */
#define MSG_HEAP	0x02	/* items are a malloc'd array owned here */
#define MSG_FDS		0x04	/* a descriptor is here or below: freeing,
				   copying and sending walk only such nodes */
#define MSG_MFD		0x08	/* a shared bytes value (memfd.h) is here
				   or below: walked as MSG_FDS is; it goes
				   as its memfd where descriptors go, as
				   plain bytes everywhere else */

struct iso_msg {
	uint8_t		 type;	/* iso_type */
	uint8_t		 flags;
	uint32_t	 len;	/* list items, map pairs, str/bytes bytes */
	union {
		int		 b;
		int64_t		 i;
		uint64_t	 u;
		double		 f;
		const char	*s;	/* str (NUL-terminated) or bytes */
		iso_msg		*items;	/* list: len; map: 2*len, key first */
		iso_sendport	 port;
		int		 fd;	/* ISO_FD: owned here; -1 once taken */
	} v;
	void		*own;	/* a block freed with this node, or NULL */
};

/* What a tree needs in a block. */
struct msg_size {
	size_t	nodes;
	size_t	bytes;
	size_t	fds;	/* ISO_FD nodes (msg_measure, pack) */
	size_t	mfds;	/* shared bytes values (not in the block) */
};

/* Bump allocator over one block. */
struct msg_block {
	iso_msg	*node;
	char	*data;
	int	*fd;	/* decode: the frame's descriptors, taken in order */
	const char **map; /* decode: their shared bytes (wire.c), or NULL */
};

/* Allocate a block for sz and return its root, the first node; b->node
   then points past the root. NULL/ENOMEM, or EMSGSIZE when sz exceeds
   ISO_LIMIT_NODES or the address space. */
iso_msg	*msg_block_new(const struct msg_size *sz, struct msg_block *b);
/* In a new isolate (loop_child): the spawner's spare blocks are left
   alone, not written again here. */
void	 msg_forget(void);

static inline iso_msg *
msg_block_nodes(struct msg_block *b, size_t n)
{
	iso_msg	*r = b->node;

	b->node += n;
	return (r);
}

/* n bytes of the block's data, for the caller to fill. */
static inline char *
msg_block_reserve(struct msg_block *b, size_t n)
{
	char	*r = b->data;

	b->data += n;
	return (r);
}

/* Copy n bytes into the block, NUL-terminated when str is set. A key or
   short string is copied without a call. */
static inline const char *
msg_block_data(struct msg_block *b, const void *p, size_t n, int str)
{
	const char	*q = p;
	char		*d = b->data, *e;
	size_t		 i;

	if (n <= 16)
		for (e = d, i = 0; i < n; i++)
			*e++ = *q++;
	else
		memcpy(d, p, n);
	if (str)
		d[n++] = '\0';
	b->data += n;
	return (d);
}

/* Add what m needs to sz. */
void	 msg_measure(const iso_msg *m, struct msg_size *sz);
/* Deep-copy m into node dst of block b. */
void	 msg_fill_copy(iso_msg *dst, const iso_msg *m, struct msg_block *b);

/*
 * Descriptors (ISO_FD). msg_fds_dup: after a fill that copied descriptor
 * numbers (copy, pack's h and O), give each ISO_FD node of root its own
 * duplicate (F_DUPFD_CLOEXEC) and mark MSG_FDS up the tree; 0, or -1 with
 * errno (the nodes not duplicated are -1, so iso_msg_free(root) closes
 * exactly what was made). msg_fds_mark: MSG_FDS up the tree of a message
 * whose ISO_FD nodes hold descriptors of its own (decode).
 * msg_fds_list: the descriptors of m in encoding order (depth first,
 * a map's key before its value) into out[0..max); the count, which may
 * be more than max; a taken one (-1) is listed as -1.
 */
int	 msg_fds_dup(iso_msg *root);
void	 msg_fds_mark(iso_msg *root);
size_t	 msg_fds_list(const iso_msg *m, int *out, size_t max);

/*
 * Shared bytes (MSG_MFD). msg_fds_list_all: as msg_fds_list, with the
 * memfds of shared values in their places (a frame on a Unix socket).
 * msg_mfd_freeze: seal the values of m made by iso_bytes_new (before m is
 * sent, copied or encoded); 0, or -1 with errno.
 */
size_t	 msg_fds_list_all(const iso_msg *m, int *out, size_t max);
int	 msg_mfd_freeze(const iso_msg *m);

/* A root list of n nils (a heap array), its slots set by msg_list_set:
   NULL/ENOMEM or EMSGSIZE. */
iso_msg	*msg_list_new(size_t n);
/* Put root item (owned) in slot i of a list from msg_list_new, freeing
   what was there; a scalar is copied into the slot, its block freed. */
void	 msg_list_set(iso_msg *list, size_t i, iso_msg *item);

/* Nesting depth: 0 for a scalar, 1 + the deepest item for a container. */
int	 msg_depth(const iso_msg *m);

/* 1 if p[0..len) is valid UTF-8 (no surrogates, overlongs or > U+10FFFF). */
int	 msg_utf8_valid(const char *p, size_t len);

/*
 * What a thread keeps for later (msg.c's spare blocks, pack.c's compiled
 * formats) is freed at its end, through one key: msg_thread_keep is 1
 * once that is arranged, -1 when it cannot be or has run (keep nothing
 * then). pack_cache_end, pack.c's part, runs then.
 */
int	 msg_thread_keep(void);
void	 pack_cache_end(void);

/* pack.c: iso_msg_pack from two va_starts of the same arguments (*fast
   for the compiled format, *slow for the rest), which it reads. */
iso_msg	*pack_ap(const char *fmt, va_list *fast, va_list *slow);

/*
 * pack.c, for iso_vsendf: fmt packed from *ap straight into its
 * encoding, no message made. When fmt was compiled by an earlier pack
 * (and holds no O), its arguments are fetched and checked as the cached
 * pack does; then reserve(ctx, bound) gives room for bound bytes, and
 * the value is encoded there as iso_msg_encode would encode the message.
 * Returns the bytes written; 0 when this way does not apply (nothing was
 * reserved, *ap partly read: the caller packs from a copy it kept); -1
 * when reserve returned NULL (its errno).
 */
ssize_t	 pack_encode_direct(const char *fmt, va_list *ap,
	    void *(*reserve)(void *ctx, size_t bound), void *ctx);

/* Set the thread's iso_error() text (printf-style) and errno; returns -1. */
int	 msg_fail(int errnum, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* The limits, read on every call (iso_limit_set is process-wide). */
extern size_t	msg_limit_frame;
extern size_t	msg_limit_depth;
extern size_t	msg_limit_nodes;
extern size_t	msg_limit_queue;
extern size_t	msg_limit_stall;
extern size_t	msg_limit_conns;
extern size_t	msg_limit_zerocopy;

#endif /* ISO_LIB_MSG_H */
