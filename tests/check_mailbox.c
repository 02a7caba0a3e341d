/*
 * check_mailbox.c: a mailbox and its log (daemon/mailbox.c, mlog.c), with
 * no supervisor: sequence numbers, peek and ack, request ids, the log
 * read back after a close (as after a killed supervisor), a torn last
 * record, damage, compaction, the older JSON file.
 */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "testutil.h"

#define OWNER	UINT64_C(0x1122334455667788)

static char	dir[PATH_MAX - 64];
static char	file[PATH_MAX];	/* the outbox's log */

static void
setup(void)
{
	const char	*rt = tu_runtime_dir();

	snprintf(dir, sizeof dir, "%s/state", rt);
	(void)mkdir(dir, 0700);
	snprintf(file, sizeof file, "%s/%016" PRIx64 ".outbox", dir, OWNER);
	(void)unlink(file);
	mbox_init(iso_event_base());
}

static struct mbox *
box(size_t limit)
{
	struct mbox	*b = mbox_open(dir, OWNER, ".outbox", 0, limit);

	ck_assert_msg(b != NULL, "mbox_open: %s", strerror(errno));
	return (b);
}

static void
put_int(struct mbox *b, int v, const char *reqid)
{
	iso_msg	*m = iso_msg_pack("i", v);

	ck_assert_msg(mbox_put(b, m, reqid) == 0, "put %d: %s", v,
	    strerror(errno));
	iso_msg_free(m);
}

/* What peek gives, as "seq:value ..." */
static const char *
peek(struct mbox *b, uint64_t after, size_t max)
{
	static char	 buf[4096];
	iso_msg		*l = mbox_peek(b, after, max);
	uint64_t	 seq;
	int64_t		 v;
	size_t		 i, n = 0;

	ck_assert_ptr_nonnull(l);
	buf[0] = '\0';
	for (i = 0; i < iso_msg_len(l) && n < sizeof buf - 48; i++) {
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(l, i), "[U I]", &seq,
		    &v), 0);
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%" PRIu64
		    ":%" PRId64, i > 0 ? " " : "", seq, v);
	}
	iso_msg_free(l);
	return (buf);
}

static off_t
file_size(const char *path)
{
	struct stat	st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (st.st_size);
}

/* The bytes of path (owned), and their number in *n. */
static char *
slurp(const char *path, size_t *n)
{
	char	*p;
	FILE	*f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	*n = (size_t)file_size(path);
	p = malloc(*n + 1);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(fread(p, 1, *n, f), *n);
	fclose(f);
	return (p);
}

static void
spit(const char *path, const void *p, size_t n)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

/* Silence the daemon's log lines on stderr (on), or bring them back. */
static void
quiet(int on)
{
	static int	saved = -1;
	int		fd;

	if (on) {
		fflush(stderr);
		saved = dup(2);
		fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		dup2(fd, 2);
		close(fd);
	} else if (saved != -1) {
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		saved = -1;
	}
}

START_TEST(seq_peek_and_ack)
{
	struct mbox	*b = box(10);
	iso_msg		*l;

	ck_assert_uint_eq(mbox_next_seq(b), 1);
	put_int(b, 10, NULL);
	put_int(b, 20, NULL);
	put_int(b, 30, NULL);
	ck_assert_uint_eq(mbox_len(b), 3);
	ck_assert_str_eq(peek(b, 0, 10), "1:10 2:20 3:30");
	ck_assert_str_eq(peek(b, 1, 1), "2:20");
	ck_assert_str_eq(peek(b, 3, 10), "");
	/* Peeking removes nothing; an ack does. */
	ck_assert_uint_eq(mbox_len(b), 3);
	ck_assert_int_eq(mbox_ack(b, 2), 0);
	ck_assert_str_eq(peek(b, 0, 10), "3:30");
	ck_assert_int_eq(mbox_ack(b, 1), 0);	/* already gone */
	ck_assert_uint_eq(mbox_len(b), 1);
	/* take: peek + ack. */
	put_int(b, 40, NULL);
	l = mbox_take(b, 1);
	ck_assert_uint_eq(iso_msg_len(l), 1);
	iso_msg_free(l);
	ck_assert_str_eq(peek(b, 0, 10), "4:40");
	/* An ack beyond what was given out removes what is there only. */
	ck_assert_int_eq(mbox_ack(b, 1000), 0);
	ck_assert_uint_eq(mbox_len(b), 0);
	put_int(b, 50, NULL);
	ck_assert_str_eq(peek(b, 0, 10), "5:50");
	mbox_free(b, 1);
	ck_assert_int_eq(access(file, F_OK), -1);
}
END_TEST

START_TEST(a_full_box_refuses_and_an_ack_makes_room)
{
	struct mbox	*b = box(2);
	iso_msg		*m = iso_msg_pack("i", 3);

	put_int(b, 1, NULL);
	put_int(b, 2, "r2");
	ck_assert_int_eq(mbox_full(b), 1);
	ck_assert_int_eq(mbox_put(b, m, NULL), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	/* The retry of a put already kept is not refused: it was kept. */
	ck_assert_int_eq(mbox_put(b, m, "r2"), 0);
	ck_assert_int_eq(mbox_ack(b, 1), 0);
	ck_assert_int_eq(mbox_full(b), 0);
	ck_assert_int_eq(mbox_put(b, m, NULL), 0);
	ck_assert_str_eq(peek(b, 0, 10), "2:2 3:3");
	iso_msg_free(m);
	mbox_free(b, 1);
}
END_TEST

START_TEST(everything_is_read_back_and_seqs_go_on)
{
	struct mbox	*b = box(100);
	iso_msg		*big, *l;

	put_int(b, 1, NULL);
	put_int(b, 2, NULL);
	put_int(b, 3, NULL);
	put_int(b, 4, NULL);
	ck_assert_int_eq(mbox_ack(b, 2), 0);
	mbox_free(b, 0);		/* as a killed supervisor leaves it */
	b = box(100);
	ck_assert_str_eq(peek(b, 0, 10), "3:3 4:4");
	ck_assert_uint_eq(mbox_next_seq(b), 5);
	ck_assert_int_eq(mbox_ack(b, 4), 0);
	mbox_free(b, 0);
	/* Empty, but the numbers are never given again. */
	b = box(100);
	ck_assert_uint_eq(mbox_len(b), 0);
	ck_assert_uint_eq(mbox_next_seq(b), 5);
	put_int(b, 5, NULL);
	ck_assert_str_eq(peek(b, 0, 10), "5:5");
	/* Any message comes back equal; this one is as deep as a take's
	   reply can carry (the limit, 32, less the list of pairs and the
	   pair: the map, "a", 28 lists). */
	big = iso_msg_from_json("{\"a\": [1, 2.5, \"x\", null, true, "
	    "{\"$bytes\": \"AP8B\"}, {\"$port\": \"0102030405060708:9:10\"}, "
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}");
	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(mbox_put(b, big, NULL), 0);
	mbox_free(b, 0);
	b = box(100);
	l = mbox_peek(b, 5, 1);
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(iso_msg_len(l), 1);
	ck_assert(iso_msg_equal(iso_msg_at(iso_msg_at(l, 0), 1), big));
	iso_msg_free(l);
	iso_msg_free(big);
	mbox_free(b, 1);
}
END_TEST

START_TEST(a_request_id_is_kept_once_even_after_a_restart)
{
	struct mbox	*b = box(2 * MBOX_REQIDS);
	char		 id[80];
	int		 i;

	put_int(b, 1, "aaaa");
	put_int(b, 1, "aaaa");
	put_int(b, 2, "bbbb");
	ck_assert_str_eq(peek(b, 0, 10), "1:1 2:2");
	mbox_free(b, 0);
	b = box(2 * MBOX_REQIDS);
	put_int(b, 1, "aaaa");
	ck_assert_int_eq(mbox_ack(b, 2), 0);
	/* Gone, and still known. */
	put_int(b, 2, "bbbb");
	ck_assert_uint_eq(mbox_len(b), 0);
	/* A window: the oldest id is forgotten once MBOX_REQIDS newer came. */
	for (i = 0; i < MBOX_REQIDS; i++) {
		snprintf(id, sizeof id, "id-%d", i);
		put_int(b, i, id);
	}
	ck_assert_int_eq(mbox_ack(b, UINT64_MAX - 1), 0);
	put_int(b, 7, "aaaa");
	ck_assert_uint_eq(mbox_len(b), 1);
	put_int(b, 7, "id-5");
	ck_assert_uint_eq(mbox_len(b), 1);
	/* Too long, or empty. */
	memset(id, 'x', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	{
		iso_msg	*m = iso_msg_pack("i", 1);

		ck_assert_int_eq(mbox_put(b, m, id), -1);
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_int_eq(mbox_put(b, m, ""), -1);
		ck_assert_int_eq(errno, EINVAL);
		iso_msg_free(m);
	}
	mbox_free(b, 1);
}
END_TEST

/* Every prefix of a log (a supervisor killed at any byte of a write)
   loads, keeps each whole record before the cut and drops the rest. */
START_TEST(a_torn_tail_is_dropped_and_nothing_before_it)
{
	struct mbox	*b = box(100);
	char		*bytes, path[PATH_MAX + 8];
	size_t		 n, cut, ends[8], nends = 0;
	int		 i, held;

	for (i = 1; i <= 5; i++) {
		put_int(b, i * 1000, i == 3 ? "the-third" : NULL);
		ends[nends++] = (size_t)file_size(file);
	}
	ck_assert_int_eq(mbox_ack(b, 1), 0);
	ends[nends++] = (size_t)file_size(file);
	mbox_free(b, 0);
	bytes = slurp(file, &n);
	quiet(1);	/* a line a cut */
	for (cut = 0; cut <= n; cut++) {
		spit(file, bytes, cut);
		b = box(100);
		for (held = 0, i = 0; i < (int)nends; i++)
			if (ends[i] <= cut)
				held = i + 1;
		/* Whole puts kept; the ack, once whole, took the first. */
		if (held == 6)
			ck_assert_uint_eq(mbox_len(b), 4);
		else
			ck_assert_uint_eq(mbox_len(b), (size_t)held);
		/* Truncated to the last whole record (or a fresh first one). */
		if (held > 0)
			ck_assert_int_eq(file_size(file), (off_t)ends[held - 1]);
		/* It goes on from there. */
		put_int(b, 9, NULL);
		ck_assert_uint_eq(mbox_len(b), (size_t)(held == 6 ? 5 :
		    held + 1));
		mbox_free(b, 0);
	}
	quiet(0);
	/* Damage in the middle: what comes before is kept. */
	spit(file, bytes, n);
	bytes[ends[1] + 6] ^= 0xff;	/* the third record's head */
	spit(file, bytes, n);
	b = box(100);
	ck_assert_str_eq(peek(b, 0, 10), "1:1000 2:2000");
	mbox_free(b, 0);
	free(bytes);
	/* Not a log at all: moved aside as it is, a new one begun. */
	snprintf(path, sizeof path, "%s.bad", file);
	unlink(path);
	spit(file, "\x00\x00\x00\x01\xc0 junk", 10);
	b = box(100);
	ck_assert_uint_eq(mbox_len(b), 0);
	ck_assert_int_eq(file_size(path), 10);
	mbox_free(b, 1);
	unlink(path);
}
END_TEST

START_TEST(compaction_keeps_what_is_held)
{
	struct mbox	*b = box(1000);
	iso_msg		*m, *l;
	char		 payload[8192], id[32];
	uint64_t	 seq;
	const void	*p;
	size_t		 len;
	off_t		 before;
	int		 i;

	memset(payload, 'z', sizeof payload);
	for (i = 1; i <= 300; i++) {
		payload[0] = (char)i;
		m = iso_msg_pack("y#", payload, sizeof payload);
		snprintf(id, sizeof id, "req-%d", i);
		ck_assert_int_eq(mbox_put(b, m, id), 0);
		iso_msg_free(m);
	}
	before = file_size(file);
	ck_assert_int_gt(before, 300 * 8192);
	ck_assert_int_eq(mbox_ack(b, 250), 0);
	/* More than half dead, above 1 MiB: written again. */
	ck_assert_int_lt(file_size(file), before / 4);
	ck_assert_uint_eq(mbox_len(b), 50);
	/* Puts and acks go on in the new file, offsets and all. */
	payload[0] = 'N';
	m = iso_msg_pack("y#", payload, sizeof payload);
	ck_assert_int_eq(mbox_put(b, m, "req-new"), 0);
	iso_msg_free(m);
	ck_assert_int_eq(mbox_ack(b, 260), 0);
	mbox_free(b, 0);
	b = box(1000);
	ck_assert_uint_eq(mbox_len(b), 41);
	ck_assert_uint_eq(mbox_next_seq(b), 302);
	l = mbox_peek(b, 0, 1);
	ck_assert_int_eq(iso_msg_unpack(iso_msg_at(l, 0), "[U y#]", &seq, &p,
	    &len), 0);
	ck_assert_uint_eq(seq, 261);
	ck_assert_uint_eq(len, sizeof payload);
	ck_assert_int_eq(((const char *)p)[0], (char)261);
	iso_msg_free(l);
	/* The ids of puts compacted away are still known. */
	m = iso_msg_pack("i", 0);
	ck_assert_int_eq(mbox_put(b, m, "req-7"), 0);
	ck_assert_int_eq(mbox_put(b, m, "req-new"), 0);
	iso_msg_free(m);
	ck_assert_uint_eq(mbox_len(b), 41);
	/* All acked: the numbers are kept. */
	ck_assert_int_eq(mbox_ack(b, 301), 0);
	mbox_free(b, 0);
	b = box(1000);
	ck_assert_uint_eq(mbox_len(b), 0);
	ck_assert_uint_eq(mbox_next_seq(b), 302);
	mbox_free(b, 1);
}
END_TEST

START_TEST(the_older_json_file_is_taken_over)
{
	struct mbox	*b;

	spit(file, "[1, \"two\", {\"three\": 3}]\n", 26);
	b = box(2);	/* over its limit: all of it was accepted */
	ck_assert_uint_eq(mbox_len(b), 3);
	ck_assert_uint_eq(mbox_next_seq(b), 4);
	mbox_free(b, 0);
	b = box(2);
	ck_assert_uint_eq(mbox_len(b), 3);
	ck_assert_int_eq(mbox_ack(b, 3), 0);
	mbox_free(b, 1);
}
END_TEST

START_TEST(a_mailbox_with_a_socket_logs_to_id_mbox)
{
	struct mbox	*b = mbox_open(dir, OWNER, NULL, 0, 10);
	char		 path[PATH_MAX];
	uint64_t	 id;

	ck_assert_ptr_nonnull(b);
	id = mbox_id(b);
	ck_assert_uint_ne(id, 0);
	ck_assert_uint_ne(id, OWNER);
	put_int(b, 1, NULL);
	mbox_free(b, 0);
	snprintf(path, sizeof path, "%s/%016" PRIx64 ".mbox", dir, OWNER);
	ck_assert_int_gt(file_size(path), 0);
	b = mbox_open(dir, OWNER, NULL, id, 10);
	ck_assert_ptr_nonnull(b);
	ck_assert_str_eq(peek(b, 0, 10), "1:1");
	mbox_set_sync(b, 1);
	put_int(b, 2, NULL);
	ck_assert_str_eq(peek(b, 0, 10), "1:1 2:2");
	mbox_free(b, 1);
	ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("mailbox");
	TCase	*tc = tcase_create("log");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, seq_peek_and_ack);
	tcase_add_test(tc, a_full_box_refuses_and_an_ack_makes_room);
	tcase_add_test(tc, everything_is_read_back_and_seqs_go_on);
	tcase_add_test(tc, a_request_id_is_kept_once_even_after_a_restart);
	tcase_add_test(tc, a_torn_tail_is_dropped_and_nothing_before_it);
	tcase_add_test(tc, compaction_keeps_what_is_held);
	tcase_add_test(tc, the_older_json_file_is_taken_over);
	tcase_add_test(tc, a_mailbox_with_a_socket_logs_to_id_mbox);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
