/*
 * check_compute.c: iso_compute (compute / Isolate.run): S8, functions
 * that crash, exit or return NULL, a big result, the caller's loop
 * running meanwhile, EDEADLK inside a callback, nesting, and no process,
 * zombie or descriptor left behind by any of them.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

#define BIG	(1024 * 1024)

static int	fds_at_start;

static void
begin(void)
{
	ck_assert_ptr_nonnull(iso_event_base());
	iso_port_close(iso_port_new());		/* our socket, for good */
	fds_at_start = tu_fd_count();
	ck_assert_int_eq(tu_children(), 0);
}

/* Nothing left: no process, no zombie, no descriptor. */
static void
end(void)
{
	ck_assert_int_eq(tu_children(), 0);
	ck_assert_int_eq(tu_fd_count(), fds_at_start);
}

/* S8: sum 1..n, a little work per step (the tutorial sleeps 1 s). */
static iso_msg *
sum_fn(const iso_msg *arg)
{
	int64_t	n = 0, k, sum = 0;

	iso_msg_int(arg, &n);
	for (k = 1; k <= n; k++) {
		tu_sleep_ms(1);
		sum += k;
	}
	return (iso_msg_pack("I", sum));
}

START_TEST(s8_sum)
{
	iso_msg	*arg, *r = NULL;
	int64_t	 v = 0;

	begin();
	arg = iso_msg_pack("i", 10);
	ck_assert_msg(iso_compute(sum_fn, arg, &r) == 0, "compute: %s",
	    iso_error());
	iso_msg_free(arg);
	ck_assert_int_eq(iso_msg_int(r, &v), 0);
	ck_assert_int_eq(v, 55);
	iso_msg_free(r);
	end();
}
END_TEST

static iso_msg *
segv_fn(const iso_msg *arg)
{
	(void)arg;
	signal(SIGSEGV, SIG_DFL);	/* a sanitizer's handler would exit */
	raise(SIGSEGV);
	return (NULL);
}

static iso_msg *
abort_fn(const iso_msg *arg)
{
	(void)arg;
	signal(SIGABRT, SIG_DFL);
	abort();
}

static iso_msg *
exit3_fn(const iso_msg *arg)
{
	(void)arg;
	exit(3);
}

static iso_msg *
exit0_fn(const iso_msg *arg)
{
	(void)arg;
	_exit(0);
}

static iso_msg *
null_fn(const iso_msg *arg)
{
	(void)arg;
	return (NULL);
}

static const struct {
	iso_msg		*(*fn)(const iso_msg *);
	const char	*why;
} failures[] = {
	{ segv_fn, "compute: function killed by SIGSEGV" },
	{ abort_fn, "compute: function killed by SIGABRT" },
	{ exit3_fn, "compute: function exited with status 3" },
	{ exit0_fn, "compute: function exited with status 0" },
	{ null_fn, "compute: function returned NULL" },
};

START_TEST(function_fails)
{
	iso_msg	*r = NULL;

	begin();
	errno = 0;
	ck_assert_int_eq(iso_compute(failures[_i].fn, NULL, &r), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_ptr_null(r);
	ck_assert_msg(strncmp(iso_error(), failures[_i].why,
	    strlen(failures[_i].why)) == 0, "iso_error() '%s', want '%s'",
	    iso_error(), failures[_i].why);
	end();
}
END_TEST

static iso_msg *
big_fn(const iso_msg *arg)
{
	unsigned char	*p = malloc(BIG);
	iso_msg		*r;
	size_t		 i;

	(void)arg;
	if (p == NULL)
		return (NULL);
	for (i = 0; i < BIG; i++)
		p[i] = (unsigned char)(i * 7 + i / 251);
	r = iso_msg_pack("y#", p, (size_t)BIG);
	free(p);
	return (r);
}

START_TEST(big_result)
{
	const unsigned char	*p;
	iso_msg			*r = NULL;
	size_t			 len = 0, i;

	begin();
	ck_assert_msg(iso_compute(big_fn, NULL, &r) == 0, "compute: %s",
	    iso_error());
	ck_assert_ptr_nonnull(p = iso_msg_bytes(r, &len));
	ck_assert_uint_eq(len, BIG);
	for (i = 0; i < BIG; i++)
		if (p[i] != (unsigned char)(i * 7 + i / 251))
			ck_abort_msg("byte %zu differs", i);
	iso_msg_free(r);
	end();
}
END_TEST

/* fn sends to the caller's port, then works 150 ms. */
static iso_msg *
slow_fn(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_msg		*m;

	if (iso_msg_unpack(arg, "P", &to) == 0) {
		m = iso_msg_pack("s", "from fn");
		iso_send(to, m);
		iso_msg_free(m);
	}
	tu_sleep_ms(150);
	return (iso_msg_pack("s", "done"));
}

static void
tick(iso_timer *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
}

static void
got(iso_port *p, const iso_msg *m, void *arg)
{
	if (iso_msg_str(m, NULL) != NULL &&
	    strcmp(iso_msg_str(m, NULL), "from fn") == 0)
		(*(int *)arg)++;
	iso_port_close(p);
}

START_TEST(caller_loop_runs_while_waiting)
{
	iso_timer	*t;
	iso_port	*p;
	iso_msg		*arg, *r = NULL;
	int		 ticks = 0, msgs = 0;

	begin();
	ck_assert_ptr_nonnull(t = iso_timer_every(10, tick, &ticks));
	ck_assert_ptr_nonnull(p = iso_port_new());
	ck_assert_int_eq(iso_port_listen(p, got, &msgs), 0);
	arg = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_msg(iso_compute(slow_fn, arg, &r) == 0, "compute: %s",
	    iso_error());
	iso_msg_free(arg);
	ck_assert_str_eq(iso_msg_str(r, NULL), "done");
	iso_msg_free(r);
	iso_timer_cancel(t);
	ck_assert_int_ge(ticks, 3);
	ck_assert_int_eq(msgs, 1);	/* and p closed itself */
	ck_assert_int_eq(iso_run(), 0);
	/* let the loop see the end of fn's connection to us */
	p = iso_port_new();
	ck_assert_int_eq(iso_port_first(p, &r, 100), -1);
	iso_port_close(p);
	end();
}
END_TEST

static int	inside_rc, inside_errno, inside_children;

static void
compute_inside(void *arg)
{
	iso_msg	*r = NULL;

	(void)arg;
	inside_rc = iso_compute(sum_fn, NULL, &r);
	inside_errno = errno;
	inside_children = tu_children();
}

START_TEST(edeadlk_inside_a_callback)
{
	begin();
	inside_rc = 0;
	ck_assert_ptr_nonnull(iso_timer_after(0, compute_inside, NULL));
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(inside_rc, -1);
	ck_assert_int_eq(inside_errno, EDEADLK);
	ck_assert_int_eq(inside_children, 0);	/* nothing was spawned */
	end();
}
END_TEST

START_TEST(bad_arguments)
{
	iso_msg	*r = NULL;

	begin();
	ck_assert_int_eq(iso_compute(NULL, NULL, &r), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_compute(sum_fn, NULL, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	end();
}
END_TEST

/* compute inside compute: 10 -> 55 -> 55 * 2 */
static iso_msg *
twice_sum_fn(const iso_msg *arg)
{
	iso_msg	*r = NULL, *out;
	int64_t	 v;

	if (iso_compute(sum_fn, arg, &r) == -1 || iso_msg_int(r, &v) == -1)
		return (NULL);
	iso_msg_free(r);
	out = iso_msg_pack("I", v * 2);
	return (out);
}

START_TEST(nested)
{
	iso_msg	*arg, *r = NULL;
	int64_t	 v = 0;

	begin();
	arg = iso_msg_pack("i", 10);
	ck_assert_msg(iso_compute(twice_sum_fn, arg, &r) == 0, "compute: %s",
	    iso_error());
	iso_msg_free(arg);
	ck_assert_int_eq(iso_msg_int(r, &v), 0);
	ck_assert_int_eq(v, 110);
	iso_msg_free(r);
	end();
}
END_TEST

/* An isolate fn spawns dies when fn's isolate ends. */
static void
forever_entry(const iso_msg *arg)
{
	(void)arg;
	(void)iso_port_new();
}

static iso_msg *
spawning_fn(const iso_msg *arg)
{
	iso_isolate	*iso;

	(void)arg;
	if (iso_spawn(forever_entry, NULL, &iso) == -1)
		return (NULL);
	return (iso_msg_pack("i", (int)iso_pid(iso)));
}

START_TEST(isolates_of_fn_end_with_it)
{
	iso_msg	*r = NULL;
	int64_t	 pid = 0;
	int	 gone, status;

	begin();
	/* an orphan would come to us, and show */
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	ck_assert_msg(iso_compute(spawning_fn, NULL, &r) == 0, "compute: %s",
	    iso_error());
	ck_assert_int_eq(iso_msg_int(r, &pid), 0);
	iso_msg_free(r);
	gone = kill((pid_t)pid, 0) == -1 && errno == ESRCH;
	if (!gone) {
		kill((pid_t)pid, SIGKILL);
		waitpid((pid_t)pid, &status, 0);
	}
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
	ck_assert_msg(gone, "isolate %d outlived its compute", (int)pid);
	end();
}
END_TEST

/* A result over the frame limit cannot be sent: told, not a hang. */
static iso_msg *
unsendable_fn(const iso_msg *arg)
{
	char	buf[1000];

	(void)arg;
	memset(buf, 'x', sizeof buf);
	iso_limit_set(ISO_LIMIT_FRAME, 64);
	return (iso_msg_pack("s#", buf, sizeof buf));
}

START_TEST(unsendable_result)
{
	iso_msg	*r = NULL;

	begin();
	errno = 0;
	ck_assert_int_eq(iso_compute(unsendable_fn, NULL, &r), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_ptr_nonnull(strstr(iso_error(), "cannot be sent"));
	ck_assert_ptr_null(r);
	end();
}
END_TEST

static iso_msg *
spin_fn(const iso_msg *arg)
{
	volatile int	forever = 1;

	(void)arg;
	while (forever)
		;
	return (NULL);
}

static iso_msg *
pid_fn(const iso_msg *arg)
{
	(void)arg;
	return (iso_msg_pack("i", (int)getpid()));
}

START_TEST(a_timeout_kills_it)
{
	iso_msg	*r = NULL, *n = iso_msg_pack("i", 3);
	int64_t	 v;

	begin();
	errno = 0;
	ck_assert_int_eq(iso_compute_timeout(spin_fn, NULL, 200, &r), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(iso_error(), "compute: timed out after 200 ms");
	/* Within its time it is untouched. */
	ck_assert_int_eq(iso_compute_timeout(sum_fn, n, 10000, &r), 0);
	ck_assert_int_eq(iso_msg_int(r, &v), 0);
	ck_assert_int_eq(v, 6);
	iso_msg_free(r);
	ck_assert_int_eq(iso_compute_timeout(sum_fn, n, -1, &r), -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_msg_free(n);
	end();
}
END_TEST

/* Each call's pid: the same warm worker on a pool, a new one without. */
static int64_t
compute_pid(void)
{
	iso_msg	*r = NULL;
	int64_t	 pid = -1;

	ck_assert_msg(iso_compute(pid_fn, NULL, &r) == 0, "%s", iso_error());
	ck_assert_int_eq(iso_msg_int(r, &pid), 0);
	iso_msg_free(r);
	return (pid);
}

START_TEST(on_a_shared_pool)
{
	iso_pool	*p;
	iso_msg		*r = NULL;
	int64_t		 a, b;

	begin();
	ck_assert_ptr_nonnull(p = iso_pool_new(1));
	iso_compute_set_pool(p);
	a = compute_pid();
	b = compute_pid();
	ck_assert_int_eq(a, b);
	ck_assert_int_ne(a, getpid());
	/* The pool's errors, and its worker replaced. */
	ck_assert_int_eq(iso_compute_timeout(spin_fn, NULL, 100, &r), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(iso_compute(segv_fn, NULL, &r), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_msg(strstr(iso_error(), "SIGSEGV") != NULL, "%s",
	    iso_error());
	b = compute_pid();
	ck_assert_int_ne(a, b);
	/* Freed: a new isolate per call again. */
	iso_pool_free(p);
	a = compute_pid();
	b = compute_pid();
	ck_assert_int_ne(a, b);
	end();
}
END_TEST

static Suite *
compute_suite(void)
{
	Suite	*s = suite_create("compute");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, s8_sum);
	tcase_add_loop_test(tc, function_fails, 0,
	    (int)(sizeof failures / sizeof failures[0]));
	tcase_add_test(tc, big_result);
	tcase_add_test(tc, caller_loop_runs_while_waiting);
	tcase_add_test(tc, edeadlk_inside_a_callback);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, nested);
	tcase_add_test(tc, isolates_of_fn_end_with_it);
	tcase_add_test(tc, unsendable_result);
	tcase_add_test(tc, a_timeout_kills_it);
	tcase_add_test(tc, on_a_shared_pool);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	struct rlimit	 nocore = { 0, 0 };
	SRunner		*sr;
	int		 failed;

	setrlimit(RLIMIT_CORE, &nocore);	/* crashes on purpose */
	tu_runtime_dir();
	sr = srunner_create(compute_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
