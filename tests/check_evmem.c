/*
 * check_evmem.c: the library's allocator of small blocks (lib/evmem.c).
 * Blocks used again land where the blocks made with them were, so that a
 * spawner's writes after a fork stay on few pages; freed blocks are used
 * before any new memory; no block crosses a page or overlaps another,
 * under churn and from two threads; what a thread kept (its compiled
 * formats, its spare message blocks) is freed at its end.
 */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "isolate.h"
#include "loop.h"

#define PAGE		4096
#define FORMATS		24	/* more than a thread's cache holds */
#define GROUPS		240
#define PARTS		5

/* The blocks one spawn makes in its spawner: handle, connection, event,
   listener and table entry, as libisolate's spawn makes them. */
static const size_t	part_size[PARTS] = { 112, 272, 128, 40, 32 };

static uintptr_t
page_of(const void *p)
{
	return ((uintptr_t)p / PAGE);
}

/* The number of pages the blocks of a group are on. */
static int
group_pages(void *const *blk, int n)
{
	uintptr_t	seen[PARTS];
	int		i, j, pages = 0;

	for (i = 0; i < n; i++) {
		for (j = 0; j < pages; j++)
			if (seen[j] == page_of(blk[i]))
				break;
		if (j == pages)
			seen[pages++] = page_of(blk[i]);
	}
	return (pages);
}

/*
 * Groups made, then "messages" of two of the groups' sizes made and freed
 * between them (so those sizes have more blocks freed than the others),
 * the groups freed as their isolates end, out of order: the next groups
 * still find their blocks on one page or two.
 */
START_TEST(blocks_made_together_are_used_again_together)
{
	static void	*blk[GROUPS][PARTS], *msg[GROUPS][2];
	int		 round, g, k, pages = 0;

	for (round = 0; round < 3; round++) {
		for (g = 0; g < GROUPS; g++) {
			for (k = 0; k < PARTS; k++)
				ck_assert_ptr_nonnull(blk[g][k] =
				    evmem_malloc(part_size[k]));
			if (round == 2)
				pages += group_pages(blk[g], PARTS);
		}
		for (g = 0; g < GROUPS; g++) {
			ck_assert_ptr_nonnull(msg[g][0] = evmem_malloc(128));
			ck_assert_ptr_nonnull(msg[g][1] = evmem_malloc(32));
			if (g % 3 == 2) {
				evmem_free(msg[g - 1][0]);
				evmem_free(msg[g - 2][1]);
			}
		}
		for (g = 0; g < GROUPS; g++) {
			int	e = (g * 7) % GROUPS;	/* the order they end */

			for (k = 0; k < PARTS; k++)
				evmem_free(blk[e][k]);
			if (e % 3 != 1)
				evmem_free(msg[e][0]);
			if (e % 3 != 0)
				evmem_free(msg[e][1]);
		}
	}
	/* 1.00 page a group here; 2.77 from one free list per size over
	   the whole region. */
	ck_assert_msg(pages <= GROUPS * 3 / 2,
	    "a group of %d blocks used again is on %.2f pages", PARTS,
	    (double)pages / GROUPS);
}
END_TEST

static int
ptr_cmp(const void *a, const void *b)
{
	uintptr_t	x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return (x < y ? -1 : x > y);
}

/* Blocks freed are used before new memory is: what the second pass
   takes beyond the first pass's blocks fits on one page (the rest of
   the page last cut). */
START_TEST(freed_blocks_are_used_before_new_memory)
{
	enum { N = 3000 };
	static uintptr_t	 first[N];
	static void		*blk[N];
	uintptr_t		 p, other = 0;
	int			 i, outside = 0;

	for (i = 0; i < N; i++) {
		ck_assert_ptr_nonnull(blk[i] = evmem_malloc(
		    200 + (size_t)(i % 7) * 100));
		first[i] = (uintptr_t)blk[i];
	}
	for (i = 0; i < N; i++)
		evmem_free(blk[(i * 11) % N]);
	qsort(first, N, sizeof first[0], ptr_cmp);
	for (i = 0; i < N; i++) {
		ck_assert_ptr_nonnull(blk[i] = evmem_malloc(
		    200 + (size_t)(i % 7) * 100));
		p = (uintptr_t)blk[i];
		if (bsearch(&p, first, N, sizeof first[0], ptr_cmp) != NULL)
			continue;
		outside++;
		if (other == 0)
			other = page_of(blk[i]);
		ck_assert_msg(page_of(blk[i]) == other,
		    "block %d is new memory on a second page (%d new blocks "
		    "before it) though freed blocks of its size were left",
		    i, outside - 1);
	}
	for (i = 0; i < N; i++)
		evmem_free(blk[i]);
}
END_TEST

/* Each block within one page, aligned, and as large as asked. */
START_TEST(no_block_crosses_a_page)
{
	enum { N = 4000 };
	static void	*blk[N];
	size_t		 n;
	int		 i;

	for (i = 0; i < N; i++) {
		n = 1 + (size_t)(i * 37) % 1008;
		ck_assert_ptr_nonnull(blk[i] = evmem_malloc(n));
		ck_assert_uint_eq((uintptr_t)blk[i] % 16, 0);
		ck_assert_uint_ge(evmem_usable(blk[i]), n);
		ck_assert_uint_eq(page_of((char *)blk[i] - 16),
		    page_of((char *)blk[i] + n - 1));
	}
	for (i = 0; i < N; i++)
		evmem_free(blk[i]);
}
END_TEST

/*
 * Random sizes (some above the region's largest, which are malloc's),
 * made, grown and freed at random; each block holds its slot's byte
 * pattern until it is freed: two blocks never overlap, nothing a free
 * list keeps is written over a live block.
 */
static void
churn(unsigned seed, int ops)
{
	enum { SLOTS = 600 };
	void		*blk[SLOTS] = { 0 };
	size_t		 len[SLOTS] = { 0 };
	unsigned char	 mark;
	size_t		 j;
	int		 i, s;

	for (i = 0; i < ops; i++) {
		s = (int)(rand_r(&seed) % SLOTS);
		mark = (unsigned char)(s * 7 + 1);
		for (j = 0; j < len[s]; j++)
			if (((unsigned char *)blk[s])[j] != mark)
				ck_abort_msg("slot %d: byte %zu of %zu changed",
				    s, j, len[s]);
		if (blk[s] != NULL && rand_r(&seed) % 4 == 0) {
			len[s] = 1 + rand_r(&seed) % 1200;
			ck_assert_ptr_nonnull(blk[s] = evmem_realloc(blk[s],
			    len[s]));
		} else if (blk[s] != NULL) {
			evmem_free(blk[s]);
			blk[s] = NULL;
			len[s] = 0;
			continue;
		} else {
			len[s] = 1 + rand_r(&seed) % 1200;
			ck_assert_ptr_nonnull(blk[s] = evmem_malloc(len[s]));
		}
		memset(blk[s], mark, len[s]);
	}
	for (s = 0; s < SLOTS; s++)
		evmem_free(blk[s]);
}

START_TEST(random_churn_keeps_every_block_intact)
{
	churn(12345, 200000);
}
END_TEST

static void *
churn_thread(void *arg)
{
	churn((unsigned)(uintptr_t)arg, 100000);
	return (NULL);
}

START_TEST(two_threads_churn_together)
{
	pthread_t	t;

	ck_assert_int_eq(pthread_create(&t, NULL, churn_thread,
	    (void *)(uintptr_t)777), 0);
	churn(999, 100000);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
}
END_TEST

/* Packs with FORMATS formats (of integers, of strings, of maps from a
   key to an integer), each compiled and kept in the thread's cache:
   blocks of the region, which no leak checker sees. */
static void *
formats_thread(void *arg)
{
	static const char *const ints[] = {
		"i", "[i]", "[ii]", "[iii]", "[[i]]", "[i[i]]", "[[ii]]",
		"[iiii]"
	}, *const strs[] = {
		"s", "[s]", "[ss]", "[sss]", "[[s]]", "[s[s]]", "[[ss]]",
		"[ssss]"
	}, *const maps[] = {
		"{s:i}", "{s:[i]}", "{s:i s:i}", "[{s:i}]", "[{s:i} {s:i}]",
		"[{s:i s:i}]", "{s:[[i]]}", "[[{s:i}]]"
	};
	iso_msg	*m[3];
	size_t	 i, j;
	int	*made = arg;

	for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		m[0] = iso_msg_pack(ints[i], 1, 2, 3, 4);
		m[1] = iso_msg_pack(strs[i], "a", "b", "c", "d");
		m[2] = iso_msg_pack(maps[i], "k", 1, "l", 2);
		for (j = 0; j < 3; j++) {
			if (m[j] != NULL)
				(*made)++;
			iso_msg_free(m[j]);
		}
	}
	return (NULL);
}

START_TEST(a_threads_kept_blocks_are_freed_at_its_end)
{
	pthread_t	t;
	size_t		before;
	int		made = 0;

	iso_msg_free(iso_msg_pack("i", 1));	/* the library's key made */
	before = evmem_live();
	ck_assert_int_eq(pthread_create(&t, NULL, formats_thread, &made), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(made, FORMATS);
	ck_assert_uint_eq(evmem_live(), before);
}
END_TEST

static Suite *
evmem_suite(void)
{
	Suite	*s = suite_create("evmem");
	TCase	*tc = tcase_create("evmem");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, blocks_made_together_are_used_again_together);
	tcase_add_test(tc, freed_blocks_are_used_before_new_memory);
	tcase_add_test(tc, no_block_crosses_a_page);
	tcase_add_test(tc, random_churn_keeps_every_block_intact);
	tcase_add_test(tc, two_threads_churn_together);
	tcase_add_test(tc, a_threads_kept_blocks_are_freed_at_its_end);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(evmem_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
