/*
 * check_accept.c: accept.c alone, on a listening socket of the test's
 * own: out of descriptors it neither spins nor stops for good, a cap
 * refuses with a reason the peer reads, the last descriptors are kept
 * for the supervisor's kind, a paused listener leaves peers waiting.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "accept.h"
#include "isolate.h"
#include "testutil.h"

#define MAX_TAKEN	64

struct taken {
	int	fd[MAX_TAKEN];
	int	n;
};

static struct sockaddr_un	sun;	/* the last listener's address */

static void
took(int fd, pid_t pid, void *arg)
{
	struct taken	*t = arg;

	ck_assert_int_eq(pid, getpid());
	ck_assert_int_lt(t->n, MAX_TAKEN);
	t->fd[t->n++] = fd;
}

static void
quiet(const char *line, void *arg)
{
	(void)line;
	(void)arg;
}

static const struct acc_ops	ops = { took, quiet };

static int
listener(void)
{
	static int	seq;
	int		fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/acc%d.sock",
	    tu_runtime_dir(), seq++);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	(void)unlink(sun.sun_path);	/* an earlier test's, forked */
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	return (fd);
}

static int
client(void)
{
	int	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	return (fd);
}

static void
dial(int fd)
{
	ck_assert_msg(connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "connect: %s", strerror(errno));
}

/* Turn base until *n reaches want or ms pass; the loop's own time. */
static void
turn_until(struct event_base *base, const int *n, int want, int ms)
{
	struct timeval	tv = { 0, 10 * 1000 };

	for (; ms > 0 && *n < want; ms -= 10) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static int
under_valgrind(void)
{
	const char	*p = getenv("LD_PRELOAD");

	return (p != NULL && strstr(p, "vgpreload") != NULL);
}

static double
cpu_seconds(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/*
 * What a refused peer reads: one frame, then the end. kind: its payload
 * starts with port 0 (an isolate's socket) or not (the supervisor's).
 * The message, owned.
 */
static iso_msg *
refusal(int fd, enum acc_kind kind)
{
	unsigned char	 buf[1024];
	size_t		 len, k = kind == ACC_ISOLATE ? 1 : 0;
	ssize_t		 n, r;
	iso_msg		*m;
	char		 b;

	n = read(fd, buf, sizeof buf);
	ck_assert_int_gt(n, 5);
	len = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 |
	    (size_t)buf[2] << 8 | buf[3];
	ck_assert_uint_eq(len + 4, (size_t)n);
	if (k == 1)
		ck_assert_int_eq(buf[4], 0);
	m = iso_msg_decode(buf + 4 + k, len - k);
	ck_assert_ptr_nonnull(m);
	r = read(fd, &b, 1);
	ck_assert_int_eq(r, 0);
	return (m);
}

static const char *
field(const iso_msg *m, const char *key)
{
	const char	*s = iso_msg_str(iso_msg_get(m, key), NULL);

	return (s != NULL ? s : "");
}

START_TEST(out_of_descriptors_pauses_without_spinning)
{
	struct event_base	*base = event_base_new();
	struct rlimit		 saved, rl;
	struct taken		 t = { .n = 0 };
	struct acc		*a;
	size_t			 max = 100;
	unsigned long		 starved;
	double			 cpu;
	iso_msg			*m;
	int			 lfd = listener(), c1 = client(), c2 = client();
	int			 fill[256], nfill = 0, fd, i;

	ck_assert_ptr_nonnull(base);
	a = acc_new(base, lfd, ACC_ISOLATE, &max, "test", &ops, &t);
	ck_assert_ptr_nonnull(a);
	/* A limit just above what is open, then every descriptor taken. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	rl = saved;
	rl.rlim_cur = (rlim_t)tu_fd_count() + 200;
	if (rl.rlim_cur > saved.rlim_cur)
		rl.rlim_cur = saved.rlim_cur;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while (nfill < 256 && (fd = open("/dev/null", O_RDONLY |
	    O_CLOEXEC)) != -1)
		fill[nfill++] = fd;
	ck_assert_int_eq(errno, EMFILE);
	ck_assert_int_lt(nfill, 256);

	dial(c1);
	starved = acc_starved;
	cpu = cpu_seconds();
	turn_until(base, &t.n, 1, 500);	/* nothing can be taken */
	cpu = cpu_seconds() - cpu;
	ck_assert_int_eq(t.n, 0);
	/* paused ACC_PAUSE_MS at a time: a handful of tries, not a spin */
	ck_assert_uint_ge(acc_starved - starved, 1);
	ck_assert_uint_le(acc_starved - starved, 500 / ACC_PAUSE_MS + 2);
	ck_assert_msg(cpu < 0.2, "%.3f s of CPU in 0.5 s", cpu);
	/* taken on the spare descriptor and told why (valgrind, which keeps
	   descriptors of its own, closes what the kernel accepted beyond
	   its own limit: then the peer sees only the end) */
	if (under_valgrind()) {
		char	b;

		ck_assert_int_eq(read(c1, &b, 1), 0);
	} else {
		m = refusal(c1, ACC_ISOLATE);
		ck_assert_str_eq(field(m, "op"), "refused");
		ck_assert_str_eq(field(m, "errno"), "EAGAIN");
		ck_assert_msg(strstr(field(m, "error"), "out of descriptors")
		    != NULL, "%s", field(m, "error"));
		iso_msg_free(m);
	}

	/* Descriptors free again: the next peer is taken. */
	for (i = 0; i < nfill; i++)
		close(fill[i]);
	dial(c2);
	turn_until(base, &t.n, 1, 2000);
	ck_assert_int_eq(t.n, 1);
	ck_assert_uint_eq(acc_open(a), 1);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);

	close(t.fd[0]);
	acc_closed(a);
	ck_assert_uint_eq(acc_open(a), 0);
	acc_free(a);
	close(c1);
	close(c2);
	close(lfd);
	event_base_free(base);
}
END_TEST

START_TEST(a_cap_refuses_with_a_reason)
{
	struct event_base	*base = event_base_new();
	struct taken		 t = { .n = 0 };
	struct acc		*a;
	size_t			 max = 2;
	iso_msg			*m;
	int			 lfd = listener(), c[4], i, ok;

	a = acc_new(base, lfd, ACC_SUPERVISOR, &max, "supervisor", &ops, &t);
	ck_assert_ptr_nonnull(a);
	for (i = 0; i < 3; i++) {
		c[i] = client();
		dial(c[i]);
	}
	turn_until(base, &t.n, 2, 2000);
	ck_assert_int_eq(t.n, 2);
	/* the third: an error reply, as to a request, then the end */
	m = refusal(c[2], ACC_SUPERVISOR);
	ok = 1;
	ck_assert_int_eq(iso_msg_bool(iso_msg_get(m, "ok"), &ok), 0);
	ck_assert_int_eq(ok, 0);
	ck_assert_str_eq(field(m, "errno"), "EAGAIN");
	ck_assert_msg(strstr(field(m, "error"), "2 connections open") !=
	    NULL, "%s", field(m, "error"));
	iso_msg_free(m);
	/* one goes: room for one more */
	close(t.fd[0]);
	acc_closed(a);
	c[3] = client();
	dial(c[3]);
	turn_until(base, &t.n, 3, 2000);
	ck_assert_int_eq(t.n, 3);
	for (i = 1; i < t.n; i++)
		close(t.fd[i]);
	for (i = 0; i < 4; i++)
		close(c[i]);
	acc_free(a);
	close(lfd);
	event_base_free(base);
}
END_TEST

START_TEST(the_last_descriptors_are_the_supervisors)
{
	struct event_base	*base = event_base_new();
	struct rlimit		 saved, rl;
	struct taken		 ti = { .n = 0 }, ts = { .n = 0 };
	struct acc		*ai, *as;
	size_t			 max = 100;
	iso_msg			*m;
	int			 li, ls, ci = client(), cs = client();

	struct sockaddr_un	 isun;

	li = listener();
	isun = sun;
	ai = acc_new(base, li, ACC_ISOLATE, &max, "isolate x", &ops, &ti);
	ls = listener();
	as = acc_new(base, ls, ACC_SUPERVISOR, &max, "supervisor", &ops,
	    &ts);
	ck_assert(ai != NULL && as != NULL);
	/* 8 descriptors left: inside what is kept (16 at least) */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	rl = saved;
	rl.rlim_cur = (rlim_t)tu_fd_count() + 8;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);

	dial(cs);
	sun = isun;
	dial(ci);
	turn_until(base, &ts.n, 1, 2000);
	ck_assert_int_eq(ts.n, 1);
	m = refusal(ci, ACC_ISOLATE);
	ck_assert_msg(strstr(field(m, "error"), "isolate x is out of "
	    "descriptors") != NULL, "%s", field(m, "error"));
	iso_msg_free(m);
	ck_assert_int_eq(ti.n, 0);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);

	close(ts.fd[0]);
	acc_free(ai);
	acc_free(as);
	close(ci);
	close(cs);
	close(li);
	close(ls);
	event_base_free(base);
}
END_TEST

START_TEST(paused_peers_wait_in_the_backlog)
{
	struct event_base	*base = event_base_new();
	struct taken		 t = { .n = 0 };
	struct acc		*a;
	size_t			 max = 100;
	int			 lfd = listener(), c[3], i, fds;

	a = acc_new(base, lfd, ACC_ISOLATE, &max, "mailbox", &ops, &t);
	ck_assert_ptr_nonnull(a);
	acc_pause(a);
	for (i = 0; i < 3; i++) {
		c[i] = client();
		dial(c[i]);
		ck_assert_int_eq(write(c[i], "x", 1), 1);
	}
	fds = tu_fd_count();
	turn_until(base, &t.n, 1, 200);
	ck_assert_int_eq(t.n, 0);
	ck_assert_int_eq(tu_fd_count(), fds);	/* no descriptor spent */
	acc_resume(a);
	turn_until(base, &t.n, 3, 2000);
	ck_assert_int_eq(t.n, 3);
	for (i = 0; i < 3; i++) {
		char	b;

		ck_assert_int_eq(read(t.fd[i], &b, 1), 1);	/* all kept */
		close(t.fd[i]);
		close(c[i]);
	}
	acc_free(a);
	close(lfd);
	event_base_free(base);
}
END_TEST

static Suite *
accept_suite(void)
{
	Suite	*s = suite_create("accept");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, out_of_descriptors_pauses_without_spinning);
	tcase_add_test(tc, a_cap_refuses_with_a_reason);
	tcase_add_test(tc, the_last_descriptors_are_the_supervisors);
	tcase_add_test(tc, paused_peers_wait_in_the_backlog);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	tu_runtime_dir();
	sr = srunner_create(accept_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
