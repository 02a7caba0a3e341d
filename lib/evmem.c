/*
 * evmem.c: small blocks of a process's own, for libevent, small messages
 * and the library's objects made on every spawn.
 *
 * A new isolate's base, epoll state, events, connection, port and tables,
 * taken from the C library's heap, land in chunks its spawner freed, all
 * over the pages the two processes share: nearly one copied page each.
 * From a region mapped fresh in each isolate they fill a page or two.
 * The spawner's own (its events, messages) come from its region too, so
 * that what it does after each fork leaves the C library's allocator
 * state and heap alone: a page of those it writes is a page copied in
 * every isolate spawned since it last wrote there.
 *
 * Blocks of up to EVMEM_MAX bytes come from the region, cut within pages
 * (a 16-byte header giving the block's size class; a free list per page,
 * whose header says which classes it has free); larger ones and any that
 * do not fit go to malloc. A block is told by its address: inside a
 * region of this isolate (freed to its page's list), inside one of an
 * ancestor's (never freed: it was the spawner's, in our copy of its
 * memory), else the C library's (freed with free). Thread-safe: a
 * program may use libevent from other threads.
 */
#include <sys/mman.h>
#include <sys/types.h>

#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "hot.h"
#include "loop.h"

/* AddressSanitizer sees a block of a region as it sees malloc's: free
   blocks, and what is not yet cut, are poisoned. Its leak checker scans
   the regions for pointers to malloc's blocks. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#define EVMEM_POISON(p, n)	ASAN_POISON_MEMORY_REGION(p, n)
#define EVMEM_UNPOISON(p, n)	ASAN_UNPOISON_MEMORY_REGION(p, n)
#define EVMEM_ROOT(p, n)	__lsan_register_root_region(p, n)
#else
#define EVMEM_POISON(p, n)	((void)(p), (void)(n))
#define EVMEM_UNPOISON(p, n)	((void)(p), (void)(n))
#define EVMEM_ROOT(p, n)	((void)(p), (void)(n))
#endif

#define EVMEM_PAGE	4096		/* a block never crosses one */
#define EVMEM_HDR	16		/* the header: size class, alignment */
#define EVMEM_STEP	16
#define EVMEM_CLASSES	64		/* blocks of 16 to 1,024 bytes */
#define EVMEM_MAX	(EVMEM_CLASSES * EVMEM_STEP - EVMEM_HDR)
#define EVMEM_CHUNK	(64 * 1024)	/* a process's first region; pages
					   are touched as they are used */
#define EVMEM_GROW	9		/* each next one twice as large, up
					   to 32 MiB (reserved, not used) */
#define EVMEM_RANGES	64		/* regions known, ancestors' too */

/* A block's header; the caller's bytes follow it. */
struct evmem_blk {
	uint32_t	class;
	uint16_t	next;		/* free: its page's next free block
					   (an offset in the page), or 0 */
	uint16_t	unused[5];
};

/* A page's first bytes. */
struct evmem_page {
	uint16_t	free;		/* its first free block, or 0 */
	uint16_t	cut;		/* where its uncut rest begins */
	uint32_t	unused;
	uint64_t	mask;		/* the classes it has free blocks of */
};

/* Ranges before ranges[first] are an ancestor's. */
struct evmem_range {
	char	*lo, *hi;
};

static struct evmem_range	 ranges[EVMEM_RANGES];
static int			 nranges;
static int			 first;		/* our first range */
static uint32_t			 nfree[EVMEM_CLASSES];
static uint32_t			 seek[EVMEM_CLASSES]; /* where a free block
						   of the class was last
						   found: range + 1, page */
static struct evmem_page	*hot;		/* the last block's page */
static char			*fresh, *fresh_end; /* pages not yet used; the
						   one before fresh is the
						   newest */
static size_t			 live;		/* our blocks not freed */
static volatile char		 lock;

static void
evmem_lock(void)
{
	while (__atomic_test_and_set(&lock, __ATOMIC_ACQUIRE))
		;
}

static void
evmem_unlock(void)
{
	__atomic_clear(&lock, __ATOMIC_RELEASE);
}

/* The range p is in, or NULL: the C library's. Without the lock: a
   range is complete before nranges counts it. */
static struct evmem_range *
evmem_find(const void *p)
{
	int	i, n = __atomic_load_n(&nranges, __ATOMIC_ACQUIRE);

	for (i = 0; i < n; i++)
		if ((const char *)p >= ranges[i].lo &&
		    (const char *)p < ranges[i].hi)
			return (&ranges[i]);
	return (NULL);
}

static struct evmem_blk *
evmem_at(struct evmem_page *pg, uint16_t off)
{
	return ((struct evmem_blk *)(void *)((char *)pg + off));
}

/* A free block of class c taken from page pg, or NULL. */
static ISO_HOT struct evmem_blk *
evmem_take(struct evmem_page *pg, uint32_t c)
{
	struct evmem_blk	*b = NULL, *prev = NULL;
	uint16_t		 off;

	if ((pg->mask & (UINT64_C(1) << c)) == 0)
		return (NULL);
	for (off = pg->free; off != 0; prev = b, off = b->next)
		if ((b = evmem_at(pg, off))->class == c)
			break;
	if (off == 0) {
		pg->mask &= ~(UINT64_C(1) << c);
		return (NULL);
	}
	if (prev == NULL)
		pg->free = b->next;
	else
		prev->next = b->next;
	nfree[c]--;
	for (off = b->next; off != 0; off = evmem_at(pg, off)->next)
		if (evmem_at(pg, off)->class == c)
			return (b);
	pg->mask &= ~(UINT64_C(1) << c);
	return (b);
}

/* A block of class c cut from what page pg has left, or NULL. */
static struct evmem_blk *
evmem_cut(struct evmem_page *pg, uint32_t c)
{
	struct evmem_blk	*b;
	size_t			 len = (size_t)(c + 1) * EVMEM_STEP;

	if ((size_t)(EVMEM_PAGE - pg->cut) < len)
		return (NULL);
	b = evmem_at(pg, pg->cut);
	pg->cut = (uint16_t)(pg->cut + len);
	return (b);
}

/*
 * A free block of class c from any page of ours (nfree says there is
 * one), looked for from the page where the last one was found: pages
 * before it had none then, and blocks freed together lie together.
 */
static struct evmem_blk *
evmem_seek(uint32_t c)
{
	struct evmem_blk	*b;
	char			*p, *end;
	int			 i, pass;

	if (seek[c] != 0) {
		i = (int)(seek[c] >> 16) - 1;
		p = ranges[i].lo + (size_t)(seek[c] & 0xffff) * EVMEM_PAGE;
	} else {
		i = first;
		p = ranges[i].lo;
	}
	for (pass = 0; pass <= nranges - first; pass++) {
		end = i == nranges - 1 ? fresh : ranges[i].hi;
		for (; p < end; p += EVMEM_PAGE)
			if ((b = evmem_take((struct evmem_page *)(void *)p,
			    c)) != NULL) {
				hot = (struct evmem_page *)(void *)p;
				seek[c] = (uint32_t)(i + 1) << 16 |
				    (uint32_t)((p - ranges[i].lo) / EVMEM_PAGE);
				return (b);
			}
		if (++i == nranges)
			i = first;
		p = ranges[i].lo;
	}
	return (NULL);
}

/*
 * A page never used, from our newest range or a new one; NULL when none
 * can be had. Ranges double in size: a spawner of thousands of isolates,
 * whose events and messages are here, keeps to a few ranges, and the
 * table of them, which its isolates inherit, keeps room for theirs (a
 * full table sends every block of an isolate to malloc, into the heap it
 * shares).
 */
static struct evmem_page *
evmem_page_new(void)
{
	struct evmem_page	*pg;
	size_t			 chunk;
	char			*b;
	int			 ours;		/* ranges of our own */

	if (fresh == fresh_end) {
		if (nranges == EVMEM_RANGES)
			return (NULL);
		ours = nranges - first;
		chunk = (size_t)EVMEM_CHUNK << (ours < EVMEM_GROW ? ours :
		    EVMEM_GROW);
		if ((b = mmap(NULL, chunk, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)) ==
		    MAP_FAILED)
			return (NULL);
		EVMEM_POISON(b, chunk);
		EVMEM_ROOT(b, chunk);
		ranges[nranges].lo = b;
		ranges[nranges].hi = b + chunk;
		__atomic_store_n(&nranges, nranges + 1, __ATOMIC_RELEASE);
		fresh = b;
		fresh_end = b + chunk;
	}
	pg = (struct evmem_page *)(void *)fresh;
	fresh += EVMEM_PAGE;
	EVMEM_UNPOISON(pg, sizeof *pg);
	pg->free = 0;
	pg->cut = sizeof *pg;
	pg->mask = 0;
	return (pg);
}

/* The page last taken never used, or NULL. */
static struct evmem_page *
evmem_newest(void)
{
	return (fresh != NULL ? (struct evmem_page *)(void *)(fresh -
	    EVMEM_PAGE) : NULL);
}

/*
 * Where a block goes: after a fork, each page the spawner writes is a
 * page copied, so the blocks of one spawn, one message, should share
 * one. A block is reused or cut in the page of the last one when it can
 * be; else a free one of its size is looked for; else it is cut from the
 * newest page. (A free list per size over the whole region, as this
 * had, handed one spawn's blocks out of pages all over it.)
 */
ISO_HOT void *
evmem_malloc(size_t n)
{
	struct evmem_blk	*b = NULL;
	struct evmem_page	*pg;
	uint32_t		 c;

	if (n > EVMEM_MAX)
		return (malloc(n));
	c = (uint32_t)((n + EVMEM_HDR + EVMEM_STEP - 1) / EVMEM_STEP) - 1;
	evmem_lock();
	if (hot != NULL && ((b = evmem_take(hot, c)) != NULL ||
	    (b = evmem_cut(hot, c)) != NULL))
		;
	else if (nfree[c] > 0 && (b = evmem_seek(c)) != NULL)
		;
	else if ((pg = evmem_newest()) != NULL && (b = evmem_cut(pg, c)) !=
	    NULL)
		hot = pg;
	else if ((pg = evmem_page_new()) != NULL) {
		hot = pg;
		b = evmem_cut(pg, c);
	}
	if (b != NULL) {
		EVMEM_UNPOISON(b, (size_t)(c + 1) * EVMEM_STEP);
		b->class = c;
		live++;
	}
	evmem_unlock();
	if (b == NULL)
		return (malloc(n));
	return ((char *)b + EVMEM_HDR);
}

/* The bytes a region block can hold. */
static size_t
evmem_cap(const void *p)
{
	return ((size_t)(*(const uint32_t *)((const char *)p - EVMEM_HDR) +
	    1) * EVMEM_STEP - EVMEM_HDR);
}

ISO_HOT size_t
evmem_usable(const void *p)
{
	if (evmem_find(p) == NULL)
		return (malloc_usable_size((void *)p));
	return (evmem_cap(p));
}

ISO_HOT void
evmem_free(void *p)
{
	struct evmem_range	*r;
	struct evmem_blk	*b;
	struct evmem_page	*pg;

	if (p == NULL)
		return;
	if ((r = evmem_find(p)) == NULL) {
		free(p);
		return;
	}
	if (r < &ranges[first])
		return;		/* the spawner's, in our copy of its memory */
	b = (struct evmem_blk *)(void *)((char *)p - EVMEM_HDR);
	pg = (struct evmem_page *)(void *)((uintptr_t)b &
	    ~(uintptr_t)(EVMEM_PAGE - 1));
	evmem_lock();
	EVMEM_POISON(p, (size_t)(b->class + 1) * EVMEM_STEP - EVMEM_HDR);
	b->next = pg->free;
	pg->free = (uint16_t)((char *)b - (char *)pg);
	pg->mask |= UINT64_C(1) << b->class;
	nfree[b->class]++;
	live--;
	evmem_unlock();
}

ISO_HOT void *
evmem_realloc(void *p, size_t n)
{
	size_t	 cap;
	void	*q;

	if (p == NULL)
		return (evmem_malloc(n));
	if (evmem_find(p) == NULL)
		return (realloc(p, n));
	if (n == 0) {
		evmem_free(p);
		return (NULL);
	}
	if ((cap = evmem_cap(p)) >= n)
		return (p);
	if ((q = evmem_malloc(n)) == NULL)
		return (NULL);
	memcpy(q, p, cap);
	evmem_free(p);
	return (q);
}

ISO_HOT void *
evmem_calloc(size_t n)
{
	void	*p;

	if ((p = evmem_malloc(n)) != NULL)
		memset(p, 0, n);
	return (p);
}

/* Once a process, before the library's first event base (a new isolate
   inherits it): libevent's blocks too, so that neither a spawner's
   events nor its isolates' write the C library's heap and allocator
   state, which they share after each fork. */
ISO_HOT void
evmem_libevent(void)
{
	static int	set;

	if (set)
		return;
	set = 1;
	event_set_mem_functions(evmem_malloc, evmem_realloc, evmem_free);
}

size_t
evmem_live(void)
{
	size_t	n;

	evmem_lock();
	n = live;
	evmem_unlock();
	return (n);
}

ISO_HOT void
evmem_child(void)
{
	/* The spawner's regions stay known (their blocks are not ours to
	   free); our blocks start in a region of our own. */
	memset(nfree, 0, sizeof nfree);
	memset(seek, 0, sizeof seek);
	hot = NULL;
	fresh = fresh_end = NULL;
	live = 0;
	first = nranges;
	lock = 0;
	evmem_libevent();	/* set by the spawner: a read */
}
