/*
 * check_sendf.c: iso_sendf, a message packed straight into the queue: the
 * bytes are those of pack and encode, in order with other sends, bounded
 * like them, refused like them.
 */
#include <sys/types.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "msg.h"
#include "testutil.h"

/* ---- the encoding -------------------------------------------------------- */

struct room {
	char	buf[200000];
	size_t	asked;
};

static void *
room_reserve(void *ctx, size_t bound)
{
	struct room	*r = ctx;

	r->asked = bound;
	return (bound <= sizeof r->buf ? r->buf : NULL);
}

/* pack_encode_direct of fmt and its arguments: the bytes written, 0 when
   it does not apply. */
static ssize_t
direct(struct room *r, const char *fmt, ...)
{
	va_list	ap;
	ssize_t	n;

	va_start(ap, fmt);
	n = pack_encode_direct(fmt, &ap, room_reserve, r);
	va_end(ap);
	return (n);
}

/* The same value packed and encoded, compared with what direct wrote. */
static void
same_as_encode(const struct room *r, ssize_t n, iso_msg *m)
{
	void	*buf;
	size_t	 len;

	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_encode(m, &buf, &len), 0);
	ck_assert_int_eq(n, (ssize_t)len);
	ck_assert_uint_le(len, r->asked);
	ck_assert_int_eq(memcmp(r->buf, buf, len), 0);
	free(buf);
	iso_msg_free(m);
}

/* Pack once (which compiles fmt), then encode directly: same bytes. */
#define SAME(r, fmt, ...) do {						\
	static const char	f_[] = fmt;				\
	iso_msg			*m_ = iso_msg_pack(f_, __VA_ARGS__);	\
	ssize_t			 n_ = direct(r, f_, __VA_ARGS__);	\
	ck_assert_msg(n_ > 0, "%s: not encoded directly", f_);		\
	same_as_encode(r, n_, m_);					\
} while (0)

START_TEST(direct_bytes_are_pack_and_encode)
{
	static const int64_t	ints[] = { 0, 1, 127, 128, 255, 256, 65535,
				    65536, INT32_MAX, (int64_t)INT32_MAX + 1,
				    UINT32_MAX, (int64_t)UINT32_MAX + 1,
				    INT64_MAX, -1, -32, -33, -128, -129,
				    -32768, -32769, INT32_MIN,
				    (int64_t)INT32_MIN - 1, INT64_MIN };
	static const size_t	lens[] = { 0, 1, 31, 32, 255, 256, 65535,
				    65536, 100000 };
	static struct room	r;
	char			*s, *y;
	size_t			 i;
	iso_sendport		 p = { 0x1122334455667788ull, 4321, 99 };

	s = malloc(100001);
	y = malloc(100000);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(y);
	for (i = 0; i < 100000; i++) {
		s[i] = (char)('a' + i % 26);
		y[i] = (char)(i * 7);
	}
	s[100000] = '\0';
	for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		SAME(&r, "I", ints[i]);
		SAME(&r, "[I U]", ints[i], (uint64_t)ints[i]);
	}
	for (i = 0; i < sizeof ints / sizeof ints[0]; i++)
		if (ints[i] >= INT_MIN && ints[i] <= INT_MAX)
			SAME(&r, "{s:i}", "msg", (int)ints[i]);
	SAME(&r, "U", UINT64_MAX);
	SAME(&r, "U", (uint64_t)1 << 63);
	SAME(&r, "[n b b f f]", 1, 0, 3.25, -0.0);
	SAME(&r, "P", p);
	SAME(&r, "s?", (const char *)NULL);
	SAME(&r, "[s s]", "h\xc3\xa9", "");
	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		SAME(&r, "s#", s, lens[i]);
		SAME(&r, "y#", y, lens[i]);
		SAME(&r, "Y#", y, lens[i]);
		s[lens[i]] = '\0';
		SAME(&r, "{s:s}", "k", s);
		s[lens[i]] = (char)('a' + lens[i] % 26);
	}
	SAME(&r, "y#", (const char *)NULL, (size_t)0);
	SAME(&r, "{s:[i s {s:b s:[]}] s:{} s:[[[I]]]}", "a", 1, "two", "b",
	    1, "c", "d", "e", (int64_t)-5);
	free(s);
	free(y);
}
END_TEST

START_TEST(direct_leaves_what_it_cannot_judge)
{
	static struct room	r;
	static const char	never[] = "[i i i i i i i]";
	static const char	strf[] = "s";
	static const char	of[] = "[O]";
	iso_msg			*m, *o;

	/* a format not packed yet is not compiled */
	ck_assert_int_eq(direct(&r, never, 1, 2, 3, 4, 5, 6, 7), 0);
	/* arguments the slow path refuses, with its own words */
	m = iso_msg_pack(strf, "ok");
	iso_msg_free(m);
	ck_assert_int_eq(direct(&r, strf, (const char *)NULL), 0);
	ck_assert_int_eq(direct(&r, strf, "\xff"), 0);
	ck_assert_int_gt(direct(&r, strf, "ok"), 0);
	/* O copies a message: never encoded directly */
	o = iso_msg_pack("i", 1);
	m = iso_msg_pack(of, o);
	iso_msg_free(m);
	ck_assert_int_eq(direct(&r, of, o), 0);
	iso_msg_free(o);
	/* over the limit of values: the slow path says so */
	m = iso_msg_pack("[i i i]", 1, 2, 3);
	iso_msg_free(m);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, 3), 0);
	ck_assert_int_eq(direct(&r, "[i i i]", 1, 2, 3), 0);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, 8u << 20), 0);
}
END_TEST

/* ---- sends --------------------------------------------------------------- */

/* [to, n]: n sends, iso_sendf and pack + send in turn, then "end". */
static void
mixed_entry(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_msg		*m;
	int		 k, n;

	if (iso_msg_unpack(arg, "[P i]", &to, &n) == -1)
		_exit(3);
	for (k = 0; k < n; k++) {
		if (k % 3 != 2) {
			if (iso_sendf(to, "{s:i s:s}", "n", k, "s", "x") == -1)
				_exit(4);
			continue;
		}
		m = iso_msg_pack("{s:i s:s}", "n", k, "s", "y");
		if (m == NULL || iso_send(to, m) == -1)
			_exit(5);
		iso_msg_free(m);
	}
	if (iso_sendf(to, "s", "end") == -1)
		_exit(6);
}

struct inorder {
	int	next, want;
};

static void
inorder_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct inorder	*io = arg;
	const char	*s;
	int		 n;

	if (io->next == io->want) {
		ck_assert_int_eq(iso_msg_unpack(m, "s", &s), 0);
		ck_assert_str_eq(s, "end");
		iso_port_close(p);
		return;
	}
	ck_assert_int_eq(iso_msg_unpack(m, "{s:i s:s !}", "n", &n, "s", &s),
	    0);
	ck_assert_int_eq(n, io->next);
	ck_assert_str_eq(s, io->next % 3 != 2 ? "x" : "y");
	io->next++;
}

START_TEST(sendf_in_order_with_other_sends)
{
	iso_port	*p = iso_port_new();
	iso_msg		*m;
	struct inorder	 io = { 0, 3000 };

	m = iso_msg_pack("[P i]", iso_port_sendport(p), io.want);
	ck_assert_int_eq(iso_spawn(mixed_entry, m, NULL), 0);
	iso_msg_free(m);
	ck_assert_int_eq(iso_port_listen(p, inorder_cb, &io), 0);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(io.next, io.want);
}
END_TEST

static void
self_cb(iso_port *p, const iso_msg *m, void *arg)
{
	int	*next = arg, n;

	ck_assert_int_eq(iso_msg_unpack(m, "[i]", &n), 0);
	ck_assert_int_eq(n, *next);
	if (++*next == 3)
		iso_port_close(p);
}

START_TEST(sendf_to_self_and_with_a_descriptor)
{
	iso_port	*p = iso_port_new();
	iso_msg		*m;
	int		 k, next = 0, fd, fds, pfd[2];

	for (k = 0; k < 3; k++)
		ck_assert_int_eq(iso_sendf(iso_port_sendport(p), "[i]", k), 0);
	ck_assert_int_eq(iso_port_listen(p, self_cb, &next), 0);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(next, 3);
	/* h is not compiled: the message is made, and holds its own dup */
	fds = tu_fd_count();
	p = iso_port_new();
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	ck_assert_int_eq(iso_sendf(iso_port_sendport(p), "h", pfd[1]), 0);
	close(pfd[1]);
	m = tu_take(p, 1000);
	ck_assert_int_eq(iso_msg_unpack(m, "h", &fd), 0);
	ck_assert_int_eq(write(fd, "z", 1), 1);
	iso_msg_free(m);
	ck_assert_int_eq(read(pfd[0], &k, sizeof k), 1);
	close(pfd[0]);
	ck_assert_int_eq(tu_fd_count(), fds);
}
END_TEST

/* [back]: says its port on back, then counts {"n": k} in order (paused
   by its spawner meanwhile); a SendPort ends it, answered there with
   [count, in order]. */
static void
count_cb(iso_port *p, const iso_msg *m, void *arg)
{
	static int	count, ordered = 1;
	iso_sendport	back;
	int		n;

	(void)arg;
	if (iso_msg_unpack(m, "{s:i}", "n", &n) == 0) {
		ordered &= n == count;
		count++;
		return;
	}
	if (iso_msg_unpack(m, "P", &back) == 0)
		iso_sendf(back, "[i b]", count, ordered);
	iso_port_close(p);
}

static void
count_entry(const iso_msg *arg)
{
	iso_sendport	 back;
	iso_port	*p = iso_port_new();

	if (iso_msg_unpack(arg, "P", &back) == -1 ||
	    iso_port_listen(p, count_cb, NULL) == -1 ||
	    iso_sendf(back, "P", iso_port_sendport(p)) == -1)
		_exit(3);
}

START_TEST(sendf_errors)
{
	iso_port	*p = iso_port_new();
	iso_isolate	*iso;
	iso_sendport	 none = { 0, 0, 0 }, gone;
	iso_msg		*m;
	int		 k, rc = 0;

	errno = 0;
	ck_assert_int_eq(iso_sendf(iso_port_sendport(p), NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_sendf(none, "i", 1), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_sendf(iso_port_sendport(p), "{s:q}", "k", 1),
	    -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(strstr(iso_error(), "format"));
	ck_assert_int_eq(iso_sendf(iso_port_sendport(p), "s", "\xff"), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* an isolate killed: refused, also once the format is compiled */
	m = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_int_eq(iso_spawn(count_entry, m, &iso), 0);
	iso_msg_free(m);
	m = tu_take(p, 10000);
	ck_assert_int_eq(iso_msg_unpack(m, "P", &gone), 0);
	iso_msg_free(m);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	for (k = 0; k < 3 && rc == 0; k++)
		rc = iso_sendf(gone, "{s:i}", "n", k);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	ck_assert_int_eq(k, 1);
	iso_isolate_free(iso);	/* p was closed by its first message */
}
END_TEST

START_TEST(sendf_bounded_and_nothing_accepted_lost)
{
	iso_port	*p = iso_port_new(), *back = iso_port_new();
	iso_isolate	*iso;
	iso_sendport	 to;
	iso_msg		*m;
	int		 k, rc = 0, count, ordered;
	char		*pad;

	pad = calloc(1, 4096);
	memset(pad, 'p', 4095);
	m = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_int_eq(iso_spawn(count_entry, m, &iso), 0);
	iso_msg_free(m);
	m = tu_take(p, 10000);
	ck_assert_int_eq(iso_msg_unpack(m, "P", &to), 0);
	iso_msg_free(m);
	ck_assert_int_eq(iso_pause(iso), 0);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 1u << 20), 0);
	for (k = 0; rc == 0 && k < 100000; k++)
		if ((rc = iso_sendf(to, "{s:i s:s}", "n", k, "pad", pad)) ==
		    -1)
			break;
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(errno, ENOBUFS);
	ck_assert_int_gt(k, 100);
	ck_assert_int_eq(iso_resume(iso), 0);
	m = iso_msg_pack("P", iso_port_sendport(back));
	ck_assert_int_eq(iso_send_wait(to, m, 30000), 0);
	iso_msg_free(m);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 16u << 20), 0);
	m = tu_take(back, 30000);
	ck_assert_int_eq(iso_msg_unpack(m, "[i b]", &count, &ordered), 0);
	ck_assert_int_eq(count, k);
	ck_assert_int_eq(ordered, 1);
	iso_msg_free(m);
	iso_isolate_free(iso);
	free(pad);
}
END_TEST

static Suite *
sendf_suite(void)
{
	Suite	*s = suite_create("sendf");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, direct_bytes_are_pack_and_encode);
	tcase_add_test(tc, direct_leaves_what_it_cannot_judge);
	tcase_add_test(tc, sendf_in_order_with_other_sends);
	tcase_add_test(tc, sendf_to_self_and_with_a_descriptor);
	tcase_add_test(tc, sendf_errors);
	tcase_add_test(tc, sendf_bounded_and_nothing_accepted_lost);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	tu_runtime_dir();
	sr = srunner_create(sendf_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
