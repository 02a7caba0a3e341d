/*
 * msg.c: the value tree: blocks, copy, free, equality, accessors, and
 * growing a root with append/put; descriptor values (dup, close, take);
 * shared bytes values (memfd.h: references, sealing, iso_bytes_new).
 * The layout is in msg.h.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/kcmp.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hot.h"
#include "loop.h"
#include "memfd.h"
#include "msg.h"

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define RUNNING_ON_VALGRIND			0
#define VALGRIND_MAKE_MEM_NOACCESS(p, n)	((void)0)
#define VALGRIND_MAKE_MEM_UNDEFINED(p, n)	((void)0)
#define VALGRIND_GET_VBITS(p, v, n)		0
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n)		((void)0)
#define ASAN_UNPOISON_MEMORY_REGION(p, n)	((void)0)
#endif

/*
 * A few spare blocks, kept by iso_msg_free for the next messages: a
 * stream of messages of one size (pack, send, free; decode, deliver,
 * free) reuses blocks instead of a malloc and a free each. MSG_SPARES of
 * them, so that a message and its decoded copy, alive together, both
 * reuse one. Blocks up to MSG_SPARE_MAX usable bytes (evmem_usable
 * says how large, once, when the block becomes a spare). Per thread, so
 * no atomic operation (a block freed in another thread becomes that
 * thread's spare); a thread's spares are freed when it ends. A spare is
 * hidden from ASan and memcheck, so a use after iso_msg_free is still
 * reported.
 */
#define MSG_SPARE_MAX	1024
#define MSG_SPARES	4

struct msg_spares {
	void	*v[MSG_SPARES];
	size_t	 cap[MSG_SPARES];	/* their usable sizes */
	int	 n;
};

static __thread struct msg_spares	msg_spares
				    __attribute__((tls_model("initial-exec")));
/* 0 until this thread first keeps something for later (spare blocks,
   pack.c's compiled formats); then 1 while that is freed at its end, -1
   once it has been (or when it cannot be). */
static __thread int			msg_thread
				    __attribute__((tls_model("initial-exec")));
static pthread_key_t			msg_thread_key;
static int				msg_thread_key_made;
static pthread_once_t			msg_thread_once = PTHREAD_ONCE_INIT;
static int				msg_grind = -1;	/* under memcheck;
							   -1: not known */

/* 1 under memcheck, asked once: its requests answer (GET_VBITS 1 for
   a defined word), other tools' do not, and under callgrind the blocks
   are the ones a program has natively. */
static ISO_HOT int
msg_under_grind(void)
{
	int		grind = __atomic_load_n(&msg_grind, __ATOMIC_RELAXED);
	uint32_t	probe = 0, vbits;

	if (grind == -1) {
		grind = RUNNING_ON_VALGRIND && VALGRIND_GET_VBITS(&probe,
		    &vbits, sizeof probe) == 1;
		__atomic_store_n(&msg_grind, grind, __ATOMIC_RELAXED);
	}
	return (grind);
}

/* Hide the spare p of n bytes, or show it again (msg_spare_hide). */
static void
msg_spare_hide_now(void *p, size_t n, int hide)
{
	int	grind = msg_under_grind();

	if (hide) {
		ASAN_POISON_MEMORY_REGION(p, n);
		if (grind)
			(void)VALGRIND_MAKE_MEM_NOACCESS(p, n);
	} else {
		ASAN_UNPOISON_MEMORY_REGION(p, n);
		if (grind)
			(void)VALGRIND_MAKE_MEM_UNDEFINED(p, n);
	}
}

/* The same, without a call when there is nothing to tell. */
static inline void
msg_spare_hide(void *p, size_t n, int hide)
{
#if !defined(__SANITIZE_ADDRESS__)
	if (__atomic_load_n(&msg_grind, __ATOMIC_RELAXED) == 0)
		return;
#endif
	msg_spare_hide_now(p, n, hide);
}

/* A thread's end: its spares and compiled formats are freed, and
   what it frees after this (another key's destructor) is freed at once,
   what it packs not kept. */
static void
msg_thread_end(void *arg)
{
	struct msg_spares	*sp = &msg_spares;

	(void)arg;
	msg_thread = -1;
	while (sp->n > 0) {
		sp->n--;
		msg_spare_hide(sp->v[sp->n], sp->cap[sp->n], 0);
		evmem_free(sp->v[sp->n]);
	}
	pack_cache_end();
}

static void
msg_thread_init(void)
{
	msg_thread_key_made = pthread_key_create(&msg_thread_key,
	    msg_thread_end) == 0;
}

ISO_HOT int
msg_thread_keep(void)
{
	if (msg_thread == 0)
		msg_thread = pthread_once(&msg_thread_once,
		    msg_thread_init) == 0 && msg_thread_key_made &&
		    pthread_setspecific(msg_thread_key, &msg_thread) == 0 ?
		    1 : -1;
	return (msg_thread);
}

/*
 * A new block of n bytes: from evmem.c's region, where a message made by
 * an isolate, or by its spawner after the fork, copies no page of the
 * heap the two share; from malloc under AddressSanitizer or memcheck,
 * whose leak reports then name a message never freed. Either is freed
 * with evmem_free.
 */
static void *
msg_block_malloc(size_t n)
{
#if defined(__SANITIZE_ADDRESS__)
	return (malloc(n));
#else
	return (msg_under_grind() ? malloc(n) : evmem_malloc(n));
#endif
}

/* A block of n bytes. */
static void *
msg_block_alloc(size_t n)
{
	struct msg_spares	*sp = &msg_spares;
	void			*p;

	if (n <= MSG_SPARE_MAX && sp->n > 0) {
		sp->n--;
		p = sp->v[sp->n];
		msg_spare_hide(p, sp->cap[sp->n], 0);
		if (sp->cap[sp->n] >= n)
			return (p);
		evmem_free(p);
	}
	return (msg_block_malloc(n));
}

ISO_HOT void
msg_forget(void)
{
	struct msg_spares	*sp = &msg_spares;

	/* each would copy the page it is on; kept for leak checkers */
	while (sp->n > 0)
		loop_keep(sp->v[--sp->n]);
}

/* evmem_free(p), errno as it was (iso_msg_free promises it). */
static void
msg_free_keep_errno(void *p)
{
	int	saved = errno;

	evmem_free(p);
	errno = saved;
}

/* Free block p, or keep it as a spare; errno is kept. */
static ISO_HOT void
msg_block_free(void *p)
{
	struct msg_spares	*sp = &msg_spares;
	size_t			 cap;

	if (p == NULL)
		return;
	/* Its size from the allocator: every byte of a spare stays hidden
	   while it is one. */
	if (sp->n == MSG_SPARES || (cap = evmem_usable(p)) >
	    MSG_SPARE_MAX) {
		msg_free_keep_errno(p);
		return;
	}
	if (msg_thread_keep() < 0) {	/* not freed at its end: none kept */
		msg_free_keep_errno(p);
		return;
	}
	msg_spare_hide(p, cap, 1);
	sp->v[sp->n] = p;
	sp->cap[sp->n++] = cap;
}

ISO_HOT iso_msg *
msg_block_new(const struct msg_size *sz, struct msg_block *b)
{
	iso_msg	*root;
	size_t	 nodes;

	if (sz->nodes == 0 || sz->nodes > msg_limit_nodes) {
		msg_fail(EMSGSIZE, "message: %zu values, more than the limit "
		    "of %zu", sz->nodes, msg_limit_nodes);
		return (NULL);
	}
	nodes = sz->nodes * sizeof *root;
	if (sz->bytes > SIZE_MAX - nodes) {
		msg_fail(EMSGSIZE, "message: too large");
		return (NULL);
	}
	if ((root = msg_block_alloc(nodes + sz->bytes)) == NULL) {
		msg_fail(ENOMEM, "message: out of memory");
		return (NULL);
	}
	b->node = root + 1;
	b->data = (char *)root + nodes;
	return (root);
}

static size_t
msg_items(const iso_msg *m)
{
	return (m->type == ISO_MAP ? 2 * (size_t)m->len : m->len);
}

void
msg_measure(const iso_msg *m, struct msg_size *sz)
{
	size_t	i;

	sz->nodes++;
	switch (m->type) {
	case ISO_STR:
		sz->bytes += (size_t)m->len + 1;
		break;
	case ISO_BYTES:
		if (m->flags & MSG_MFD)
			sz->mfds++;
		else
			sz->bytes += m->len;
		break;
	case ISO_FD:
		sz->fds++;
		break;
	case ISO_LIST:
	case ISO_MAP:
		for (i = 0; i < msg_items(m); i++)
			msg_measure(&m->v.items[i], sz);
		break;
	}
}

void
msg_fill_copy(iso_msg *dst, const iso_msg *m, struct msg_block *b)
{
	iso_msg	*items;
	size_t	 i, n;

	dst->type = m->type;
	dst->flags = m->flags & (MSG_BIG | MSG_FDS | MSG_MFD);
	dst->len = m->len;
	dst->own = NULL;
	switch (m->type) {
	case ISO_BYTES:
		if (m->flags & MSG_MFD) {	/* frozen by the caller */
			dst->v.s = m->v.s;
			mfd_ref(m->v.s);
			break;
		}
		/* FALLTHROUGH */
	case ISO_STR:
		dst->v.s = msg_block_data(b, m->v.s, m->len,
		    m->type == ISO_STR);
		break;
	case ISO_LIST:
	case ISO_MAP:
		n = msg_items(m);
		items = msg_block_nodes(b, n);
		for (i = 0; i < n; i++)
			msg_fill_copy(&items[i], &m->v.items[i], b);
		dst->v.items = items;
		break;
	default:
		dst->v = m->v;
		break;
	}
}

int
msg_depth(const iso_msg *m)
{
	size_t	i;
	int	d, max = 0;

	if (m->type != ISO_LIST && m->type != ISO_MAP)
		return (0);
	for (i = 0; i < msg_items(m); i++)
		if ((d = msg_depth(&m->v.items[i])) > max)
			max = d;
	return (max + 1);
}

iso_msg *
iso_msg_copy(const iso_msg *m)
{
	struct msg_size		sz = { 0, 0, 0, 0 };
	struct msg_block	b;
	iso_msg			*root;

	if (m == NULL) {
		errno = EINVAL;
		return (NULL);
	}
	if ((m->flags & MSG_MFD) && msg_mfd_freeze(m) == -1)
		return (NULL);
	msg_measure(m, &sz);
	if ((root = msg_block_new(&sz, &b)) == NULL)
		return (NULL);
	msg_fill_copy(root, m, &b);
	if (sz.fds > 0 && msg_fds_dup(root) == -1) {
		iso_msg_free(root);
		return (NULL);
	}
	return (root);
}

/* ---- descriptors ---------------------------------------------------- */

struct fds_walk {
	int	dup;	/* duplicate each, else only mark */
	int	err;	/* the first failure; the rest become -1 */
	int	bad;	/* its descriptor */
};

/* Mark (and duplicate) the descriptors under n, and mark its shared
   values: the flags (MSG_FDS, MSG_MFD) of what is there. */
static int
msg_fds_walk(iso_msg *n, struct fds_walk *w)
{
	size_t	i;
	int	any = 0, fd;

	switch (n->type) {
	case ISO_BYTES:
		return (n->flags & MSG_MFD);
	case ISO_FD:
		n->flags |= MSG_FDS;
		if (!w->dup)
			return (MSG_FDS);
		fd = -1;
		if (w->err == 0 && n->v.fd < 0)
			w->err = EBADF;
		else if (w->err == 0 && (fd = fcntl(n->v.fd, F_DUPFD_CLOEXEC,
		    0)) == -1) {
			w->err = errno;
			w->bad = n->v.fd;
		}
		n->v.fd = fd;
		return (MSG_FDS);
	case ISO_LIST:
	case ISO_MAP:
		for (i = 0; i < msg_items(n); i++)
			any |= msg_fds_walk(&n->v.items[i], w);
		n->flags |= any;
		return (any);
	}
	return (0);
}

int
msg_fds_dup(iso_msg *root)
{
	struct fds_walk	w = { 1, 0, -1 };

	(void)msg_fds_walk(root, &w);
	if (w.err == EBADF && w.bad == -1)
		return (msg_fail(EBADF, "message: a descriptor was taken out "
		    "of it"));
	if (w.err != 0)
		return (msg_fail(w.err, "message: descriptor %d: %s", w.bad,
		    strerror(w.err)));
	return (0);
}

void
msg_fds_mark(iso_msg *root)
{
	struct fds_walk	w = { 0, 0, -1 };

	(void)msg_fds_walk(root, &w);
}

/* List the descriptors under m (flags: which kinds) from out[n]. */
static size_t
msg_fds_list_at(const iso_msg *m, int *out, size_t max, size_t n,
    int flags)
{
	size_t	i;

	if (!(m->flags & flags))
		return (n);
	if (m->type == ISO_FD || m->type == ISO_BYTES) {
		if (n < max)
			out[n] = m->type == ISO_FD ? m->v.fd : mfd_fd(m->v.s);
		return (n + 1);
	}
	if (m->type == ISO_LIST || m->type == ISO_MAP)
		for (i = 0; i < msg_items(m); i++)
			n = msg_fds_list_at(&m->v.items[i], out, max, n, flags);
	return (n);
}

size_t
msg_fds_list(const iso_msg *m, int *out, size_t max)
{
	return (msg_fds_list_at(m, out, max, 0, MSG_FDS));
}

size_t
msg_fds_list_all(const iso_msg *m, int *out, size_t max)
{
	return (msg_fds_list_at(m, out, max, 0, MSG_FDS | MSG_MFD));
}

/* Close the descriptors under n, a node of a block, and let go of its
   shared values. */
static void
msg_fds_close(iso_msg *n)
{
	size_t	i;

	if (n->type == ISO_FD) {
		if (n->v.fd >= 0)
			(void)close(n->v.fd);
		n->v.fd = -1;
		return;
	}
	if (n->type == ISO_BYTES) {
		if (n->flags & MSG_MFD)
			mfd_unref(n->v.s);
		n->flags &= ~MSG_MFD;
		return;
	}
	if (n->type == ISO_LIST || n->type == ISO_MAP)
		for (i = 0; i < msg_items(n); i++)
			if (n->v.items[i].flags & (MSG_FDS | MSG_MFD))
				msg_fds_close(&n->v.items[i]);
}

/* Apply fn to each shared value under m; the first failure. */
static int
msg_mfd_each(const iso_msg *m, int (*fn)(iso_msg *))
{
	size_t	i;

	if (!(m->flags & MSG_MFD))
		return (0);
	if (m->type == ISO_BYTES)
		return (fn((iso_msg *)(uintptr_t)m));
	if (m->type == ISO_LIST || m->type == ISO_MAP)
		for (i = 0; i < msg_items(m); i++)
			if (msg_mfd_each(&m->v.items[i], fn) == -1)
				return (-1);
	return (0);
}

static int
msg_mfd_freeze_one(iso_msg *n)
{
	return (mfd_freeze(n->v.s));
}

int
msg_mfd_freeze(const iso_msg *m)
{
	return (msg_mfd_each(m, msg_mfd_freeze_one));
}

/* 1 if descriptors a and b refer to the same open file description. */
static int
msg_fd_same(int a, int b)
{
	struct stat	sa, sb;
	pid_t		pid;
	long		r;
	int		fa, fb;

	if (a < 0 || b < 0)
		return (a < 0 && b < 0);
	if (a == b)
		return (1);
	pid = getpid();
	if ((r = syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b)) >= 0)
		return (r == 0);
	if (fstat(a, &sa) == -1 || fstat(b, &sb) == -1 ||
	    (fa = fcntl(a, F_GETFL)) == -1 || (fb = fcntl(b, F_GETFL)) == -1)
		return (0);
	return (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino &&
	    (fa & O_ACCMODE) == (fb & O_ACCMODE));
}

int
iso_msg_fd(const iso_msg *m)
{
	if (m == NULL || m->type != ISO_FD)
		return (msg_fail(EINVAL, "message: not a descriptor"));
	if (m->v.fd < 0)
		return (msg_fail(EBADF, "message: its descriptor was taken"));
	return (m->v.fd);
}

int
iso_msg_fd_take(const iso_msg *m)
{
	int	fd;

	if ((fd = iso_msg_fd(m)) == -1)
		return (-1);
	((iso_msg *)m)->v.fd = -1;	/* the value stays; its owner changed */
	return (fd);
}

/* Free what n owns; by the invariant in msg.h nothing else needs a walk
   but for descriptors, found through MSG_FDS. */
static void
msg_release(iso_msg *n)
{
	size_t	i;

	if (n->flags & MSG_HEAP) {
		for (i = 0; i < msg_items(n); i++)
			msg_release(&n->v.items[i]);
		free(n->v.items);
	} else if (n->flags & (MSG_FDS | MSG_MFD))
		msg_fds_close(n);
	if (n->own != NULL)
		msg_block_free(n->own);
}

ISO_HOT void
iso_msg_free(iso_msg *m)
{
	int	saved;

	if (m == NULL)
		return;
	if (!(m->flags & (MSG_HEAP | MSG_FDS | MSG_MFD)) && m->own == NULL) {
		msg_block_free(m);	/* one block: the common case */
		return;
	}
	saved = errno;
	msg_release(m);
	msg_block_free(m);
	errno = saved;
}

int
iso_msg_equal(const iso_msg *a, const iso_msg *b)
{
	size_t	i;

	if (a == NULL || b == NULL)
		return (a == b);
	if (a->type != b->type || a->len != b->len ||
	    (a->flags & MSG_BIG) != (b->flags & MSG_BIG))
		return (0);
	switch (a->type) {
	case ISO_NIL:
		return (1);
	case ISO_BOOL:
		return (a->v.b == b->v.b);
	case ISO_INT:
		return (a->v.i == b->v.i);
	case ISO_FLOAT:
		return (memcmp(&a->v.f, &b->v.f, sizeof a->v.f) == 0 ||
		    (a->v.f != a->v.f && b->v.f != b->v.f));
	case ISO_STR:
	case ISO_BYTES:
		return (a->len == 0 || memcmp(a->v.s, b->v.s, a->len) == 0);
	case ISO_LIST:
	case ISO_MAP:
		for (i = 0; i < msg_items(a); i++)
			if (!iso_msg_equal(&a->v.items[i], &b->v.items[i]))
				return (0);
		return (1);
	case ISO_PORT:
		return (a->v.port.isolate == b->v.port.isolate &&
		    a->v.port.pid == b->v.port.pid &&
		    a->v.port.port == b->v.port.port);
	case ISO_FD:
		return (msg_fd_same(a->v.fd, b->v.fd));
	}
	return (0);
}

iso_type
iso_msg_type(const iso_msg *m)
{
	if (m == NULL) {
		errno = EINVAL;
		return (ISO_NIL);
	}
	return ((iso_type)m->type);
}

size_t
iso_msg_len(const iso_msg *m)
{
	if (m == NULL)
		return (0);
	switch (m->type) {
	case ISO_STR:
	case ISO_BYTES:
	case ISO_LIST:
	case ISO_MAP:
		return (m->len);
	}
	return (0);
}

static const iso_msg *
msg_item(const iso_msg *m, iso_type type, size_t i, size_t off)
{
	if (m == NULL || m->type != type) {
		errno = EINVAL;
		return (NULL);
	}
	if (i >= m->len) {
		errno = ERANGE;
		return (NULL);
	}
	return (&m->v.items[(type == ISO_MAP ? 2 * i : i) + off]);
}

const iso_msg *
iso_msg_at(const iso_msg *m, size_t i)
{
	return (msg_item(m, ISO_LIST, i, 0));
}

const iso_msg *
iso_msg_key_at(const iso_msg *m, size_t i)
{
	return (msg_item(m, ISO_MAP, i, 0));
}

const iso_msg *
iso_msg_value_at(const iso_msg *m, size_t i)
{
	return (msg_item(m, ISO_MAP, i, 1));
}

/* 1 if string k is key (no strlen and no memcmp call: keys are short,
   and most differ in their first bytes). */
static inline int
msg_key_is(const iso_msg *k, const char *key)
{
	const char	*s = k->v.s;
	uint32_t	 j;

	for (j = 0; j < k->len; j++)
		if (key[j] == '\0' || key[j] != s[j])
			return (0);
	return (key[j] == '\0');
}

ISO_HOT const iso_msg *
iso_msg_get(const iso_msg *m, const char *key)
{
	const iso_msg	*k;
	size_t		 i;

	if (m == NULL || m->type != ISO_MAP || key == NULL) {
		errno = EINVAL;
		return (NULL);
	}
	for (i = 0; i < m->len; i++) {
		k = &m->v.items[2 * i];
		if (k->type == ISO_STR && msg_key_is(k, key))
			return (k + 1);
	}
	errno = ENOENT;
	return (NULL);
}

const iso_msg *
iso_msg_lookup(const iso_msg *m, const iso_msg *key)
{
	size_t	i;

	if (m == NULL || m->type != ISO_MAP || key == NULL) {
		errno = EINVAL;
		return (NULL);
	}
	for (i = 0; i < m->len; i++)
		if (iso_msg_equal(&m->v.items[2 * i], key))
			return (&m->v.items[2 * i + 1]);
	errno = ENOENT;
	return (NULL);
}

static int
msg_is(const iso_msg *m, iso_type type, const void *out)
{
	if (m == NULL || out == NULL || m->type != type) {
		errno = EINVAL;
		return (0);
	}
	return (1);
}

int
iso_msg_bool(const iso_msg *m, int *out)
{
	if (!msg_is(m, ISO_BOOL, out))
		return (-1);
	*out = m->v.b;
	return (0);
}

int
iso_msg_int(const iso_msg *m, int64_t *out)
{
	if (!msg_is(m, ISO_INT, out))
		return (-1);
	if (m->flags & MSG_BIG) {
		errno = ERANGE;
		return (-1);
	}
	*out = m->v.i;
	return (0);
}

int
iso_msg_uint(const iso_msg *m, uint64_t *out)
{
	if (!msg_is(m, ISO_INT, out))
		return (-1);
	if (!(m->flags & MSG_BIG) && m->v.i < 0) {
		errno = ERANGE;
		return (-1);
	}
	*out = m->v.u;
	return (0);
}

int
iso_msg_float(const iso_msg *m, double *out)
{
	if (!msg_is(m, ISO_FLOAT, out))
		return (-1);
	*out = m->v.f;
	return (0);
}

int
iso_msg_sendport(const iso_msg *m, iso_sendport *out)
{
	if (!msg_is(m, ISO_PORT, out))
		return (-1);
	*out = m->v.port;
	return (0);
}

static const char *
msg_data(const iso_msg *m, iso_type type, size_t *len)
{
	if (m == NULL || m->type != type) {
		errno = EINVAL;
		return (NULL);
	}
	if (len != NULL)
		*len = m->len;
	return (m->v.s);
}

const char *
iso_msg_str(const iso_msg *m, size_t *len)
{
	return (msg_data(m, ISO_STR, len));
}

const void *
iso_msg_bytes(const iso_msg *m, size_t *len)
{
	return (msg_data(m, ISO_BYTES, len));
}

/* Heap array sizes: powers of two from 8, so capacity follows from len. */
static size_t
msg_slots(size_t n)
{
	size_t	c = 8;

	while (c < n)
		c *= 2;
	return (c);
}

/* Make c's items a heap array with room for `more` slots. */
static int
msg_reserve(iso_msg *c, size_t more)
{
	iso_msg	*items;
	size_t	 n = msg_items(c), cap;

	if (c->len > UINT32_MAX - 1)
		return (msg_fail(EMSGSIZE, "message: container is full"));
	if ((c->flags & MSG_HEAP) && n + more <= msg_slots(n))
		return (0);
	cap = msg_slots(n + more);
	if (c->flags & MSG_HEAP)
		items = realloc(c->v.items, cap * sizeof *items);
	else if ((items = malloc(cap * sizeof *items)) != NULL && n > 0)
		memcpy(items, c->v.items, n * sizeof *items);
	if (items == NULL)
		return (msg_fail(ENOMEM, "message: out of memory"));
	c->v.items = items;
	c->flags |= MSG_HEAP;
	return (0);
}

/* Move root `from` into slot `to`; the slot keeps from's block alive. */
static void
msg_adopt(iso_msg *to, iso_msg *from)
{
	*to = *from;
	to->own = from;
}

static int
msg_fits(const iso_msg *c, const iso_msg *item)
{
	if (item == c)
		return (msg_fail(EINVAL, "message: cannot insert into itself"));
	if ((size_t)msg_depth(item) + 1 > msg_limit_depth)
		return (msg_fail(EMSGSIZE, "message: nesting deeper than %zu",
		    msg_limit_depth));
	return (0);
}

int
iso_msg_append(iso_msg *list, iso_msg *item)
{
	if (list == NULL || item == NULL || list->type != ISO_LIST) {
		if (item != list)
			iso_msg_free(item);
		return (msg_fail(EINVAL, "append: not a list"));
	}
	if (msg_fits(list, item) == -1 || msg_reserve(list, 1) == -1) {
		if (item != list)
			iso_msg_free(item);
		return (-1);
	}
	list->flags |= item->flags & (MSG_FDS | MSG_MFD);
	msg_adopt(&list->v.items[list->len++], item);
	return (0);
}

iso_msg *
msg_list_new(size_t n)
{
	iso_msg	*list;

	if (n > UINT32_MAX - 1) {
		msg_fail(EMSGSIZE, "message: a list of %zu items", n);
		return (NULL);
	}
	if ((list = iso_msg_pack("[]")) == NULL)
		return (NULL);
	if (n > 0 && msg_reserve(list, n) == -1) {
		iso_msg_free(list);
		return (NULL);
	}
	memset(list->v.items, 0, n * sizeof *list->v.items);	/* nils */
	list->len = (uint32_t)n;
	return (list);
}

void
msg_list_set(iso_msg *list, size_t i, iso_msg *item)
{
	iso_msg	*slot = &list->v.items[i];

	msg_release(slot);
	list->flags |= item->flags & (MSG_FDS | MSG_MFD);
	if (item->own == NULL && !(item->flags & MSG_HEAP) &&
	    item->type != ISO_STR && item->type != ISO_BYTES &&
	    item->type != ISO_LIST && item->type != ISO_MAP) {
		/* a scalar needs no block: its block goes back as spare */
		*slot = *item;
		slot->own = NULL;
		msg_block_free(item);
	} else
		msg_adopt(slot, item);
}

int
iso_msg_put(iso_msg *map, iso_msg *key, iso_msg *value)
{
	iso_msg	*slot;
	size_t	 i;

	if (map == NULL || key == NULL || value == NULL || key == value ||
	    map->type != ISO_MAP) {
		msg_fail(EINVAL, "put: not a map, or a missing or shared "
		    "key and value");
		goto fail;
	}
	if (msg_fits(map, key) == -1 || msg_fits(map, value) == -1 ||
	    msg_reserve(map, 2) == -1)
		goto fail;
	map->flags |= (key->flags | value->flags) & (MSG_FDS | MSG_MFD);
	for (i = 0; i < map->len; i++) {
		slot = &map->v.items[2 * i];
		if (iso_msg_equal(slot, key)) {
			msg_release(slot + 1);
			msg_adopt(slot + 1, value);
			iso_msg_free(key);
			return (0);
		}
	}
	slot = &map->v.items[2 * map->len++];
	msg_adopt(slot, key);
	msg_adopt(slot + 1, value);
	return (0);
fail:
	if (key != map)
		iso_msg_free(key);
	if (value != map && value != key)
		iso_msg_free(value);
	return (-1);
}

iso_msg *
iso_bytes_new(size_t len, void **ptr)
{
	struct msg_size		 sz = { 1, 0, 0, 0 };
	struct msg_block	 b;
	iso_msg			*m;
	char			*p = NULL;

	if (ptr == NULL || len > UINT32_MAX) {
		msg_fail(ptr == NULL ? EINVAL : EMSGSIZE, "bytes: %zu bytes",
		    len);
		return (NULL);
	}
	if (len > 0 && len >= msg_limit_zerocopy) {
		if ((p = mfd_alloc(len)) == NULL)
			return (NULL);
	} else
		sz.bytes = len;
	if ((m = msg_block_new(&sz, &b)) == NULL) {
		if (p != NULL)
			mfd_unref(p);
		return (NULL);
	}
	m->type = ISO_BYTES;
	m->flags = p != NULL ? MSG_MFD : 0;
	m->len = (uint32_t)len;
	m->own = NULL;
	m->v.s = p != NULL ? p : msg_block_reserve(&b, len);
	*ptr = (void *)(uintptr_t)m->v.s;
	return (m);
}
