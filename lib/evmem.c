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
 * Blocks of up to EVMEM_MAX bytes come from the region (a 16-byte header
 * giving the block's size class, then a free list per class); larger ones
 * and any that do not fit go to malloc. A block is told by its address:
 * inside a region of this isolate (freed to its list), inside one of an
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

#define EVMEM_HDR	16		/* the header: size class, alignment */
#define EVMEM_STEP	16
#define EVMEM_CLASSES	64		/* blocks of 16 to 1,024 bytes */
#define EVMEM_MAX	(EVMEM_CLASSES * EVMEM_STEP - EVMEM_HDR)
#define EVMEM_CHUNK	(64 * 1024)	/* a process's first region; pages
					   are touched as blocks are cut */
#define EVMEM_GROW	9		/* each next one twice as large, up
					   to 32 MiB (reserved, not used) */
#define EVMEM_RANGES	64		/* regions known, ancestors' too */

struct evmem_free {
	struct evmem_free	*next;
};

struct evmem_range {
	char	*lo, *hi;
	unsigned gen;			/* whose: ours, or an ancestor's */
};

static struct evmem_range	 ranges[EVMEM_RANGES];
static int			 nranges;
static struct evmem_free	*lists[EVMEM_CLASSES];
static char			*bump, *bump_end;
static unsigned			 gen;		/* ours: one more than our
						   spawner's */
static int			 ours;		/* ranges of our own */
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

/*
 * A block of class c cut from the region; NULL when no chunk can be had.
 * Chunks double in size: a spawner of thousands of isolates, whose
 * events and messages are here, keeps to a few ranges, and the table of
 * them, which its isolates inherit, keeps room for theirs (a full table
 * sends every block of an isolate to malloc, into the heap it shares).
 */
static char *
evmem_cut(int c)
{
	size_t	 len = (size_t)(c + 1) * EVMEM_STEP, chunk;
	char	*b;

	if (bump == NULL || (size_t)(bump_end - bump) < len) {
		if (nranges == EVMEM_RANGES)
			return (NULL);
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
		ranges[nranges].gen = gen;
		__atomic_store_n(&nranges, nranges + 1, __ATOMIC_RELEASE);
		ours++;
		bump = b;
		bump_end = b + chunk;
	}
	b = bump;
	bump += len;
	return (b);
}

void *
evmem_malloc(size_t n)
{
	struct evmem_free	*f;
	char			*b;
	int			 c;

	if (n > EVMEM_MAX)
		return (malloc(n));
	c = (int)((n + EVMEM_HDR + EVMEM_STEP - 1) / EVMEM_STEP) - 1;
	evmem_lock();
	if ((f = lists[c]) != NULL) {
		b = (char *)f - EVMEM_HDR;
		EVMEM_UNPOISON(b, (size_t)(c + 1) * EVMEM_STEP);
		lists[c] = f->next;
	} else if ((b = evmem_cut(c)) != NULL)
		EVMEM_UNPOISON(b, (size_t)(c + 1) * EVMEM_STEP);
	evmem_unlock();
	if (b == NULL)
		return (malloc(n));
	*(uint32_t *)b = (uint32_t)c;
	return (b + EVMEM_HDR);
}

/* The bytes a region block can hold. */
static size_t
evmem_cap(const void *p)
{
	return ((size_t)(*(const uint32_t *)((const char *)p - EVMEM_HDR) +
	    1) * EVMEM_STEP - EVMEM_HDR);
}

size_t
evmem_usable(const void *p)
{
	if (evmem_find(p) == NULL)
		return (malloc_usable_size((void *)p));
	return (evmem_cap(p));
}

void
evmem_free(void *p)
{
	struct evmem_range	*r;
	struct evmem_free	*f = p;
	uint32_t		 c;

	if (p == NULL)
		return;
	if ((r = evmem_find(p)) == NULL) {
		free(p);
		return;
	}
	if (r->gen != gen)
		return;		/* the spawner's, in our copy of its memory */
	c = *(uint32_t *)((char *)p - EVMEM_HDR);
	evmem_lock();
	f->next = lists[c];
	lists[c] = f;
	EVMEM_POISON((char *)p - EVMEM_HDR, (size_t)(c + 1) * EVMEM_STEP);
	evmem_unlock();
}

void *
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

void *
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
void
evmem_libevent(void)
{
	static int	set;

	if (set)
		return;
	set = 1;
	event_set_mem_functions(evmem_malloc, evmem_realloc, evmem_free);
}

void
evmem_child(void)
{
	/* The spawner's regions stay known (their blocks are not ours to
	   free); our blocks start in a region of our own. */
	memset(lists, 0, sizeof lists);
	bump = bump_end = NULL;
	ours = 0;
	gen++;
	lock = 0;
	evmem_libevent();	/* set by the spawner: a read */
}
