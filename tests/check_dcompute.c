/*
 * check_dcompute.c: the supervisor's compute service (daemon/compute.c).
 * Both forms, each way a computation can fail, timeouts, large results
 * and arguments, dc_stop_all; done called exactly once, from the loop;
 * no process, zombie or descriptor left behind by any of them.
 *
 * The test process is a child subreaper, so that whatever a computation
 * leaves behind is reparented here and counted by tu_children.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "isolate.h"
#include "testutil.h"

#define MIB	(1024 * 1024)

static char	module[PATH_MAX];
static int	fds_at_start;

/* $BUILD/tests/prog/mod_compute, from $BUILD or from where we run. */
static void
find_module(void)
{
	char		 exe[PATH_MAX], *slash;
	const char	*build;
	ssize_t		 n;

	if ((build = getenv("BUILD")) != NULL) {
		snprintf(module, sizeof module, "%s/tests/prog/mod_compute",
		    build);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
	ck_assert_int_lt(snprintf(module, sizeof module, "%s/prog/mod_compute",
	    exe), (int)sizeof module);
}

static void
begin(void)
{
	ck_assert_ptr_nonnull(iso_event_base());
	ck_assert_int_eq(child_init(iso_event_base()), 0);
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	find_module();
	ck_assert_int_eq(access(module, R_OK), 0);
	fds_at_start = tu_fd_count();
	ck_assert_int_eq(tu_children(), 0);
}

/* Nothing left: no process (orphans come to us), no zombie once the
   loop has reaped, no descriptor. */
static void
end(void)
{
	int	i;

	for (i = 0; i < 200 && tu_children() > 0; i++) {
		event_base_loop(iso_event_base(), EVLOOP_NONBLOCK);
		tu_sleep_ms(10);
	}
	ck_assert_int_eq(tu_children(), 0);
	ck_assert_int_eq(tu_fd_count(), fds_at_start);
}

struct outcome {
	int	 calls;
	iso_msg	*result;
	char	*error;
};

static void
done_cb(iso_msg *result, const char *error, void *arg)
{
	struct outcome	*o = arg;

	o->calls++;
	ck_assert((result == NULL) != (error == NULL));
	o->result = result;
	o->error = error != NULL ? strdup(error) : NULL;
}

static void
outcome_free(struct outcome *o)
{
	iso_msg_free(o->result);
	free(o->error);
	memset(o, 0, sizeof *o);
}

/* Run the loop until o is done (at most 30 s), then a few turns more to
   see that done is not called again. Returns the milliseconds taken. */
static long
wait_done(struct outcome *o)
{
	struct timeval	t0, t1;
	int		i;

	gettimeofday(&t0, NULL);
	while (o->calls == 0) {
		event_base_loop(iso_event_base(), EVLOOP_ONCE);
		gettimeofday(&t1, NULL);
		ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 30);
	}
	gettimeofday(&t1, NULL);
	for (i = 0; i < 5; i++)
		event_base_loop(iso_event_base(), EVLOOP_NONBLOCK);
	ck_assert_int_eq(o->calls, 1);
	return ((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_usec - t0.tv_usec) / 1000);
}

/* The so form: function of mod_compute with arg (not freed). */
static long
run_so(const char *mod, const char *function, const iso_msg *arg,
    int timeout_ms, struct outcome *o)
{
	struct dc_req	req = { .module = mod, .function = function,
	    .arg = arg, .timeout_ms = timeout_ms };

	memset(o, 0, sizeof *o);
	ck_assert_int_eq(dc_start(&req, done_cb, o), 0);
	ck_assert_int_eq(o->calls, 0);	/* later, from the loop */
	return (wait_done(o));
}

/* The command form. */
static long
run_cmd(char *const argv[], const iso_msg *arg, int timeout_ms,
    struct outcome *o)
{
	struct dc_req	req = { .argv = argv, .arg = arg,
	    .timeout_ms = timeout_ms };

	memset(o, 0, sizeof *o);
	ck_assert_int_eq(dc_start(&req, done_cb, o), 0);
	ck_assert_int_eq(o->calls, 0);
	return (wait_done(o));
}

static void
assert_error(const struct outcome *o, const char *part)
{
	ck_assert_ptr_null(o->result);
	ck_assert_ptr_nonnull(o->error);
	ck_assert_msg(strstr(o->error, part) != NULL,
	    "error \"%s\" does not mention \"%s\"", o->error, part);
}

START_TEST(so_square)
{
	struct outcome	 o;
	iso_msg		*arg;
	int64_t		 v = 0;

	begin();
	arg = iso_msg_pack("i", 7);
	run_so(module, "square", arg, 5000, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert_int_eq(iso_msg_int(o.result, &v), 0);
	ck_assert_int_eq(v, 49);
	iso_msg_free(arg);
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(so_echo_nested)
{
	struct outcome	 o;
	iso_msg		*arg;
	const char	 raw[] = { 0, 1, 2, (char)0xff };

	begin();
	arg = iso_msg_pack("{s[ifsn{sb}]sy#s{i[]}}", "list", 1, 2.5, "x",
	    "deep", 1, "bytes", raw, sizeof raw, "map", 3);
	ck_assert_ptr_nonnull(arg);
	run_so(module, "echo", arg, 0, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert(iso_msg_equal(o.result, arg));
	iso_msg_free(arg);
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(so_big_result)
{
	struct outcome	 o;
	const unsigned char *p;
	size_t		 len = 0, i;

	begin();
	run_so(module, "big", NULL, 0, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	p = iso_msg_bytes(o.result, &len);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, 4 * MIB);
	for (i = 0; i < len; i++)
		if (p[i] != (unsigned char)i)
			break;
	ck_assert_uint_eq(i, len);
	outcome_free(&o);
	end();
}
END_TEST

/* A result over the frame limit: the child cannot send it; a child
   that raised its own limit is refused by the reader and killed. */
START_TEST(so_result_over_limit)
{
	struct outcome	 o;
	size_t		 old = iso_limit_get(ISO_LIMIT_FRAME);

	begin();
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, MIB), 0);
	run_so(module, "big", NULL, 0, &o);
	assert_error(&o, "cannot send the result");
	outcome_free(&o);
	run_so(module, "big_unbounded", NULL, 0, &o);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, old), 0);
	assert_error(&o, "more than the frame limit of 1048576");
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(so_crash)
{
	struct outcome	o;

	begin();
	run_so(module, "crash", NULL, 0, &o);
	assert_error(&o, "crashed: SIGSEGV");
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(so_timeout)
{
	struct outcome	o;
	long		ms;

	begin();
	ms = run_so(module, "spin", NULL, 300, &o);
	assert_error(&o, "timed out after 300 ms");
	ck_assert_int_ge(ms, 250);
	ck_assert_int_lt(ms, 5000);
	ck_assert_int_eq(tu_children(), 0);	/* gone and reaped */
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(so_quit)
{
	struct outcome	o;

	begin();
	run_so(module, "quit", NULL, 0, &o);
	assert_error(&o, "exited with status 3");
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(so_null_result)
{
	struct outcome	o;

	begin();
	run_so(module, "null_result", NULL, 0, &o);
	assert_error(&o, "returned NULL");
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(so_missing_module)
{
	struct outcome	o;

	begin();
	run_so("/nonexistent/mod_none.so", "square", NULL, 0, &o);
	assert_error(&o, "cannot load /nonexistent/mod_none.so");
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(so_missing_function)
{
	struct outcome	o;
	char		want[PATH_MAX + 64];

	begin();
	run_so(module, "no_such_function", NULL, 0, &o);
	snprintf(want, sizeof want, "no function no_such_function in %s",
	    module);
	assert_error(&o, want);
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(cmd_square)
{
	char	*argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"read x; echo $((x*x))", NULL };
	struct outcome	 o;
	iso_msg		*arg;
	int64_t		 v = 0;

	begin();
	arg = iso_msg_pack("i", 5);
	run_cmd(argv, arg, 5000, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert_int_eq(iso_msg_int(o.result, &v), 0);
	ck_assert_int_eq(v, 25);
	iso_msg_free(arg);
	outcome_free(&o);
	end();
}
END_TEST

/* The argument arrives as one line of JSON; JSON output is a message. */
START_TEST(cmd_json_both_ways)
{
	char	*argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"read x; printf '{\"got\": %s}\\n' \"$x\"", NULL };
	struct outcome	 o;
	iso_msg		*arg, *want;

	begin();
	arg = iso_msg_pack("{s[is]}", "a", 1, "two");
	want = iso_msg_pack("{s{s[is]}}", "got", "a", 1, "two");
	run_cmd(argv, arg, 5000, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert(iso_msg_equal(o.result, want));
	iso_msg_free(arg);
	iso_msg_free(want);
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(cmd_not_json)
{
	char	*argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"echo hello, world", NULL };
	struct outcome	 o;
	const char	*s;
	size_t		 len = 0;

	begin();
	run_cmd(argv, NULL, 5000, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	s = iso_msg_str(o.result, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "hello, world");	/* one newline dropped */
	ck_assert_uint_eq(len, 12);
	outcome_free(&o);
	end();
}
END_TEST

/* Output neither JSON nor UTF-8: bytes, one newline dropped. */
START_TEST(cmd_not_utf8)
{
	char	*argv[] = { (char *)"printf", (char *)"\\377\\n", NULL };
	struct outcome	 o;
	const unsigned char *p;
	size_t		 len = 0;

	begin();
	run_cmd(argv, NULL, 5000, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	p = iso_msg_bytes(o.result, &len);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(p[0], 0xff);
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(cmd_exit_1)
{
	char	*argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"echo 42; exit 1", NULL };
	struct outcome	o;

	begin();
	run_cmd(argv, NULL, 5000, &o);
	assert_error(&o, "exited with status 1");
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(cmd_signal)
{
	char	*argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"kill -TERM $$", NULL };
	struct outcome	o;

	begin();
	run_cmd(argv, NULL, 5000, &o);
	assert_error(&o, "crashed: SIGTERM");
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(cmd_no_such_program)
{
	char	*argv[] = { (char *)"isolate-no-such-program", NULL };
	struct outcome	o;

	begin();
	run_cmd(argv, NULL, 5000, &o);
	assert_error(&o, "cannot run isolate-no-such-program: No such file");
	outcome_free(&o);
	end();
}
END_TEST

/* 1 MiB the program never reads: no deadlock, no SIGPIPE here. */
START_TEST(cmd_ignores_large_input)
{
	char	*argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"echo done", NULL };
	struct outcome	 o;
	struct sigaction sa;
	iso_msg		*arg;
	char		*s;
	const char	*r;

	begin();
	ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
	ck_assert_ptr_eq((void *)sa.sa_handler, (void *)SIG_DFL);
	s = malloc(MIB + 1);
	memset(s, 'a', MIB);
	s[MIB] = '\0';
	arg = iso_msg_pack("s", s);
	free(s);
	run_cmd(argv, arg, 10000, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	r = iso_msg_str(o.result, NULL);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r, "done");
	iso_msg_free(arg);
	outcome_free(&o);
	end();
}
END_TEST

/* ... and 1 MiB it does read, echoed back through stdout. */
START_TEST(cmd_large_round_trip)
{
	char	*argv[] = { (char *)"cat", NULL };
	struct outcome	 o;
	iso_msg		*arg;
	char		*s;

	begin();
	s = malloc(MIB + 1);
	memset(s, 'b', MIB);
	s[MIB] = '\0';
	arg = iso_msg_pack("[s]", s);
	free(s);
	run_cmd(argv, arg, 10000, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert(iso_msg_equal(o.result, arg));
	iso_msg_free(arg);
	outcome_free(&o);
	end();
}
END_TEST

/* Output over the frame limit: refused, the program killed. */
START_TEST(cmd_output_over_limit)
{
	char	*argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"while :; do echo xxxxxxxxxxxxxxx; done", NULL };
	struct outcome	 o;
	size_t		 old = iso_limit_get(ISO_LIMIT_FRAME);

	begin();
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, 64 * 1024), 0);
	run_cmd(argv, NULL, 10000, &o);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, old), 0);
	assert_error(&o, "output of more than 65536 bytes");
	outcome_free(&o);
	end();
}
END_TEST

/* sleep is sh's child, in its group: the timeout kills both. */
START_TEST(cmd_timeout)
{
	char	*argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"sleep 100; echo late", NULL };
	struct outcome	o;
	long		ms;

	begin();
	ms = run_cmd(argv, NULL, 300, &o);
	assert_error(&o, "timed out after 300 ms");
	ck_assert_int_lt(ms, 5000);
	outcome_free(&o);
	end();
}
END_TEST

/* What a command leaves running in its group when it ends is killed. */
START_TEST(cmd_background_left_behind)
{
	char	*argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"sleep 100 & echo 1", NULL };
	struct outcome	o;
	long		ms;

	begin();
	ms = run_cmd(argv, NULL, 0, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert_int_lt(ms, 5000);
	outcome_free(&o);
	end();
}
END_TEST

START_TEST(stop_all)
{
	char	*argv[] = { (char *)"sh", (char *)"-c",
	    (char *)"sleep 100", NULL };
	struct dc_req	 a = { .module = module, .function = "spin" };
	struct dc_req	 b = { .argv = argv };
	struct outcome	 oa, ob;
	int		 i;

	begin();
	memset(&oa, 0, sizeof oa);
	memset(&ob, 0, sizeof ob);
	ck_assert_int_eq(dc_start(&a, done_cb, &oa), 0);
	ck_assert_int_eq(dc_start(&b, done_cb, &ob), 0);
	for (i = 0; i < 10; i++)
		event_base_loop(iso_event_base(), EVLOOP_NONBLOCK);
	tu_sleep_ms(100);	/* sh has started sleep */
	ck_assert_int_eq(tu_children(), 2);
	dc_stop_all();
	ck_assert_int_eq(oa.calls, 1);
	ck_assert_int_eq(ob.calls, 1);
	assert_error(&oa, "supervisor stopping");
	assert_error(&ob, "supervisor stopping");
	outcome_free(&oa);
	outcome_free(&ob);
	end();
	for (i = 0; i < 5; i++)
		event_base_loop(iso_event_base(), EVLOOP_NONBLOCK);
	ck_assert_int_eq(oa.calls, 0);	/* cleared: never called again */
}
END_TEST

START_TEST(bad_requests)
{
	char	*argv[] = { (char *)"true", NULL }, *empty[] = { NULL };
	struct dc_req	 both = { .module = "m", .function = "f",
	    .argv = argv };
	struct dc_req	 no_fn = { .module = "m" };
	struct dc_req	 none = { .timeout_ms = 1 };
	struct dc_req	 no_prog = { .argv = empty };
	struct outcome	 o;

	begin();
	errno = 0;
	ck_assert_int_eq(dc_start(&both, done_cb, &o), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(dc_start(&no_fn, done_cb, &o), -1);
	ck_assert_int_eq(dc_start(&none, done_cb, &o), -1);
	ck_assert_int_eq(dc_start(&no_prog, done_cb, &o), -1);
	ck_assert_int_eq(dc_start(NULL, done_cb, &o), -1);
	ck_assert_int_eq(dc_start(&(struct dc_req){ .argv = argv }, NULL,
	    &o), -1);
	end();
}
END_TEST

/* Several at once, finishing in their own order. */
START_TEST(concurrent)
{
	char	*slow[] = { (char *)"sh", (char *)"-c",
	    (char *)"sleep 0.3; echo 1", NULL };
	char	*fast[] = { (char *)"sh", (char *)"-c",
	    (char *)"echo 2", NULL };
	struct dc_req	 r[3] = {
		{ .argv = slow }, { .argv = fast },
		{ .module = module, .function = "square" }
	};
	struct outcome	 o[3];
	iso_msg		*seven;
	int64_t		 v;
	int		 i;

	begin();
	memset(o, 0, sizeof o);
	seven = iso_msg_pack("i", 7);
	r[2].arg = seven;
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(dc_start(&r[i], done_cb, &o[i]), 0);
	for (i = 0; i < 3; i++)
		wait_done(&o[i]);
	ck_assert_int_eq(iso_msg_int(o[0].result, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(iso_msg_int(o[1].result, &v), 0);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(iso_msg_int(o[2].result, &v), 0);
	ck_assert_int_eq(v, 49);
	for (i = 0; i < 3; i++)
		outcome_free(&o[i]);
	iso_msg_free(seven);
	end();
}
END_TEST

/* ---- warm workers (warm.c) ------------------------------------------- */

/* fn of mod on a warm worker (workers at most), waiting. */
static void
run_warm(const char *mod, const char *function, const iso_msg *arg,
    int timeout_ms, int workers, struct outcome *o)
{
	struct dc_req	req = { .module = mod, .function = function,
	    .arg = arg, .timeout_ms = timeout_ms, .workers = workers };

	memset(o, 0, sizeof *o);
	ck_assert_int_eq(warm_start(&req, done_cb, o), 0);
	ck_assert_int_eq(o->calls, 0);	/* later, from the loop */
	wait_done(o);
}

/* The int a warm call of function returned. */
static int64_t
warm_int(const char *mod, const char *function, int64_t in, int workers)
{
	struct outcome	 o;
	iso_msg		*arg = iso_msg_pack("I", in);
	int64_t		 v = -1;

	run_warm(mod, function, arg, 10000, workers, &o);
	ck_assert_msg(o.result != NULL, "%s: %s", function, o.error);
	ck_assert_int_eq(iso_msg_int(o.result, &v), 0);
	iso_msg_free(arg);
	outcome_free(&o);
	return (v);
}

/* Turn the loop until n workers are left and reaped (at most 10 s). */
static void
wait_children(int n)
{
	int	i;

	for (i = 0; i < 1000 && tu_children() != n; i++) {
		event_base_loop(iso_event_base(), EVLOOP_NONBLOCK);
		tu_sleep_ms(10);
	}
	ck_assert_int_eq(tu_children(), n);
}

/* The highest descriptor process pid holds (below our soft limit: what
   valgrind keeps for itself lies above). */
static int
max_fd_of(int64_t pid)
{
	char		 path[64];
	struct dirent	*e;
	struct rlimit	 rl;
	DIR		*d;
	int		 max = -1, fd;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if ((rlim_t)fd < rl.rlim_cur && fd > max)
			max = fd;
	}
	closedir(d);
	return (max);
}

/* Results right, and one worker serves them all, holding none of the
   daemon's descriptors. */
START_TEST(warm_same_worker)
{
	struct outcome	 o;
	iso_msg		*arg;
	int64_t		 p0;
	int		 i;

	begin();
	ck_assert_int_eq(warm_int(module, "square", 7, 1), 49);
	p0 = warm_int(module, "pid", 0, 1);
	ck_assert_int_ne(p0, getpid());
	ck_assert_int_eq(max_fd_of(p0), 3);	/* nothing of ours but 3 */
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(warm_int(module, "square", i, 1), i * i);
		ck_assert_int_eq(warm_int(module, "pid", 0, 1), p0);
	}
	ck_assert_uint_eq(warm_count(), 1);
	arg = iso_msg_pack("{s[ifsn{sb}]s{i[]}}", "list", 1, 2.5, "x",
	    "deep", 1, "map", 3);
	run_warm(module, "echo", arg, 0, 1, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert(iso_msg_equal(o.result, arg));
	outcome_free(&o);
	iso_msg_free(arg);
	run_warm(module, "big", NULL, 0, 1, &o);	/* more than a socket holds */
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	outcome_free(&o);
	ck_assert_int_eq(warm_int(module, "pid", 0, 1), p0);
	ck_assert_int_eq(tu_children(), 1);
	warm_stop_all();
	ck_assert_uint_eq(warm_count(), 0);
	end();
}
END_TEST

/* A crash answers that request with the reason; the next call works, in
   a new worker. The same for a timeout and an exit. */
START_TEST(warm_crash_timeout_exit)
{
	struct outcome	o;
	int64_t		p0, p1, p2, p3;

	begin();
	p0 = warm_int(module, "pid", 0, 1);
	run_warm(module, "crash", NULL, 0, 1, &o);
	assert_error(&o, "crashed: SIGSEGV");
	outcome_free(&o);
	ck_assert_int_eq(warm_int(module, "square", 3, 1), 9);
	p1 = warm_int(module, "pid", 0, 1);
	ck_assert_int_ne(p1, p0);
	ck_assert_int_eq(kill((pid_t)p0, 0), -1);	/* gone and reaped */

	run_warm(module, "spin", NULL, 300, 1, &o);
	assert_error(&o, "timed out after 300 ms");
	outcome_free(&o);
	p2 = warm_int(module, "pid", 0, 1);
	ck_assert_int_ne(p2, p1);
	ck_assert_int_eq(kill((pid_t)p1, 0), -1);

	run_warm(module, "quit", NULL, 0, 1, &o);
	assert_error(&o, "exited with status 3");
	outcome_free(&o);
	p3 = warm_int(module, "pid", 0, 1);
	ck_assert_int_ne(p3, p2);
	ck_assert_int_eq(tu_children(), 1);
	warm_stop_all();
	end();
}
END_TEST

/* Failures the worker itself answers leave it serving. */
START_TEST(warm_errors_keep_worker)
{
	struct outcome	 o;
	char		 want[PATH_MAX + 64];
	int64_t		 p0;
	size_t		 old = iso_limit_get(ISO_LIMIT_FRAME);

	begin();
	/* Before the worker starts: it keeps the limit it was forked with. */
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, MIB), 0);
	p0 = warm_int(module, "pid", 0, 1);
	run_warm(module, "no_such_function", NULL, 0, 1, &o);
	snprintf(want, sizeof want, "no function no_such_function in %s",
	    module);
	assert_error(&o, want);
	outcome_free(&o);
	run_warm(module, "null_result", NULL, 0, 1, &o);
	assert_error(&o, "returned NULL");
	outcome_free(&o);
	run_warm(module, "big", NULL, 0, 1, &o);
	assert_error(&o, "cannot send the result");
	outcome_free(&o);
	ck_assert_int_eq(warm_int(module, "pid", 0, 1), p0);
	/* One that raised its own limit: refused here, that worker killed. */
	run_warm(module, "big_unbounded", NULL, 0, 1, &o);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, old), 0);
	assert_error(&o, "more than the frame limit of 1048576");
	outcome_free(&o);
	ck_assert_int_ne(warm_int(module, "pid", 0, 1), p0);
	run_warm("/nonexistent/mod_none.so", "square", NULL, 0, 1, &o);
	assert_error(&o, "cannot load /nonexistent/mod_none.so");
	outcome_free(&o);
	warm_stop_all();
	end();
}
END_TEST

/* Not a shared object: said, and the next request says it again. */
START_TEST(warm_not_a_module)
{
	struct outcome	o;
	char		path[PATH_MAX];
	FILE		*f;
	int		i;

	begin();
	snprintf(path, sizeof path, "%s/not_a_module.so", getenv(
	    "ISO_RUNTIME_DIR"));
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("not ELF\n", f);
	fclose(f);
	for (i = 0; i < 2; i++) {
		run_warm(path, "square", NULL, 0, 1, &o);
		assert_error(&o, "cannot load");
		outcome_free(&o);
	}
	warm_stop_all();
	unlink(path);
	end();
}
END_TEST

/* Copy src over dst atomically (a temporary file, then rename). */
static void
replace_file(const char *src, const char *dst)
{
	char	tmp[PATH_MAX + 8], buf[65536];
	FILE	*in, *out;
	size_t	n;

	snprintf(tmp, sizeof tmp, "%s.tmp", dst);
	ck_assert_ptr_nonnull(in = fopen(src, "rb"));
	ck_assert_ptr_nonnull(out = fopen(tmp, "wb"));
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
	ck_assert_int_eq(rename(tmp, dst), 0);
}

/* A module replaced on disk gets new workers and their behaviour; the
   old worker ends. */
START_TEST(warm_module_replaced)
{
	char		copy[PATH_MAX], other[PATH_MAX + 8];
	int64_t		p0, p1;

	begin();
	snprintf(copy, sizeof copy, "%s/mod_warm.so",
	    getenv("ISO_RUNTIME_DIR"));
	snprintf(other, sizeof other, "%s2", module);
	replace_file(module, copy);
	ck_assert_int_eq(warm_int(copy, "which", 0, 1), 1);
	p0 = warm_int(copy, "pid", 0, 1);
	ck_assert_int_eq(warm_int(copy, "pid", 0, 1), p0);
	replace_file(other, copy);
	ck_assert_int_eq(warm_int(copy, "which", 0, 1), 2);
	p1 = warm_int(copy, "pid", 0, 1);
	ck_assert_int_ne(p1, p0);
	wait_children(1);	/* the old one ended */
	ck_assert_int_eq(kill((pid_t)p0, 0), -1);
	ck_assert_int_eq(warm_int(copy, "pid", 0, 1), p1);
	warm_stop_all();
	unlink(copy);
	end();
}
END_TEST

/* A busy worker of a replaced module finishes its request, then ends. */
START_TEST(warm_replaced_while_busy)
{
	char		 copy[PATH_MAX], other[PATH_MAX + 8];
	struct dc_req	 req = { .function = "nap", .workers = 1 };
	struct outcome	 o;
	iso_msg		*ms = iso_msg_pack("i", 300);
	int64_t		 p0, v = 0;

	begin();
	snprintf(copy, sizeof copy, "%s/mod_warm_busy.so",
	    getenv("ISO_RUNTIME_DIR"));
	snprintf(other, sizeof other, "%s2", module);
	replace_file(module, copy);
	p0 = warm_int(copy, "pid", 0, 1);
	req.module = copy;
	req.arg = ms;
	memset(&o, 0, sizeof o);
	ck_assert_int_eq(warm_start(&req, done_cb, &o), 0);
	replace_file(other, copy);
	ck_assert_int_eq(warm_int(copy, "which", 0, 1), 2);
	wait_done(&o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert_int_eq(iso_msg_int(o.result, &v), 0);
	ck_assert_int_eq(v, p0);		/* the old worker ran it */
	outcome_free(&o);
	wait_children(1);
	warm_stop_all();
	iso_msg_free(ms);
	unlink(copy);
	end();
}
END_TEST

/* An idle worker ends after warm_idle_ms. */
START_TEST(warm_idle_end)
{
	int	saved = warm_idle_ms;
	int64_t	p0;

	begin();
	warm_idle_ms = 200;
	p0 = warm_int(module, "pid", 0, 1);
	ck_assert_int_eq(tu_children(), 1);
	wait_children(0);
	ck_assert_uint_eq(warm_count(), 0);
	ck_assert_int_eq(kill((pid_t)p0, 0), -1);
	ck_assert_int_ne(warm_int(module, "pid", 0, 1), p0);
	warm_idle_ms = saved;
	warm_stop_all();
	end();
}
END_TEST

/* Up to workers at once; beyond, requests wait their turn. */
START_TEST(warm_workers_and_queue)
{
	struct dc_req	 req = { .module = module, .function = "nap" };
	struct outcome	 o[4];
	iso_msg		*ms = iso_msg_pack("i", 200);
	int64_t		 p[4];
	int		 i;

	begin();
	req.arg = ms;
	req.workers = 2;
	memset(o, 0, sizeof o);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(warm_start(&req, done_cb, &o[i]), 0);
	ck_assert_uint_eq(warm_count(), 2);
	ck_assert_uint_eq(warm_queued(), 2);
	for (i = 0; i < 4; i++) {
		wait_done(&o[i]);
		ck_assert_msg(o[i].result != NULL, "error: %s", o[i].error);
		ck_assert_int_eq(iso_msg_int(o[i].result, &p[i]), 0);
		outcome_free(&o[i]);
	}
	ck_assert_int_ne(p[0], p[1]);		/* two at once */
	ck_assert(p[2] == p[0] || p[2] == p[1]);	/* then they again */
	ck_assert(p[3] == p[0] || p[3] == p[1]);
	ck_assert_uint_eq(warm_count(), 2);
	iso_msg_free(ms);
	warm_stop_all();
	end();
}
END_TEST

/* The queue is bounded: past WARM_QUEUE_MAX waiting, ENOBUFS. */
START_TEST(warm_queue_full)
{
	struct dc_req	 req = { .module = module, .function = "spin",
	    .workers = 1 };
	struct outcome	*o, extra;
	int		 i;

	begin();
	o = calloc(WARM_QUEUE_MAX + 1, sizeof *o);
	for (i = 0; i < WARM_QUEUE_MAX + 1; i++)
		ck_assert_int_eq(warm_start(&req, done_cb, &o[i]), 0);
	ck_assert_uint_eq(warm_queued(), WARM_QUEUE_MAX);
	memset(&extra, 0, sizeof extra);
	errno = 0;
	ck_assert_int_eq(warm_start(&req, done_cb, &extra), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	ck_assert_uint_eq(warm_queued(), WARM_QUEUE_MAX);
	warm_stop_all();
	for (i = 0; i < WARM_QUEUE_MAX + 1; i++) {
		ck_assert_int_eq(o[i].calls, 1);
		assert_error(&o[i], "supervisor stopping");
		outcome_free(&o[i]);
	}
	ck_assert_int_eq(extra.calls, 0);
	free(o);
	end();
}
END_TEST

/* Stop ends every worker, busy or idle, and answers what ran or waited. */
START_TEST(warm_stop)
{
	struct dc_req	 spin = { .module = module, .function = "spin",
	    .workers = 2 };
	struct outcome	 a, b, c;

	begin();
	ck_assert_int_eq(warm_int(module, "square", 2, 2), 4);
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	memset(&c, 0, sizeof c);
	ck_assert_int_eq(warm_start(&spin, done_cb, &a), 0);
	ck_assert_int_eq(warm_start(&spin, done_cb, &b), 0);
	ck_assert_int_eq(warm_start(&spin, done_cb, &c), 0);
	event_base_loop(iso_event_base(), EVLOOP_NONBLOCK);
	ck_assert_int_eq(tu_children(), 2);
	warm_stop_all();
	ck_assert_int_eq(tu_children(), 0);
	ck_assert_uint_eq(warm_count(), 0);
	ck_assert_uint_eq(warm_queued(), 0);
	assert_error(&a, "supervisor stopping");
	assert_error(&b, "supervisor stopping");
	assert_error(&c, "supervisor stopping");
	outcome_free(&a);
	outcome_free(&b);
	outcome_free(&c);
	end();
}
END_TEST

START_TEST(warm_bad_requests)
{
	char	*argv[] = { (char *)"true", NULL }, *empty[] = { NULL };
	struct outcome	o;

	begin();
	errno = 0;
	ck_assert_int_eq(warm_start(&(struct dc_req){ .argv = argv,
	    .module = module, .function = "square" }, done_cb, &o), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(warm_start(&(struct dc_req){ .argv = empty },
	    done_cb, &o), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(warm_start(&(struct dc_req){ .module = module },
	    done_cb, &o), -1);
	ck_assert_int_eq(warm_start(NULL, done_cb, &o), -1);
	ck_assert_int_eq(warm_start(&(struct dc_req){ .module = module,
	    .function = "square" }, NULL, &o), -1);
	end();
}
END_TEST

/* The fresh path: a new process each call. */
START_TEST(fresh_new_pid)
{
	struct outcome	o;
	int64_t		a = 0, b = 0;

	begin();
	run_so(module, "pid", NULL, 0, &o);
	ck_assert_int_eq(iso_msg_int(o.result, &a), 0);
	outcome_free(&o);
	run_so(module, "pid", NULL, 0, &o);
	ck_assert_int_eq(iso_msg_int(o.result, &b), 0);
	outcome_free(&o);
	ck_assert_int_ne(a, b);
	end();
}
END_TEST

/* ---- warm commands ----------------------------------------------------- */

/* argv kept running as a warm command (in cwd), with arg; waiting. */
static void
run_warm_cmd(char *const argv[], const char *cwd, const iso_msg *arg,
    int timeout_ms, struct outcome *o)
{
	struct dc_req	req = { .argv = argv, .cwd = cwd, .arg = arg,
	    .timeout_ms = timeout_ms, .workers = 1 };

	memset(o, 0, sizeof *o);
	ck_assert_int_eq(warm_start(&req, done_cb, o), 0);
	ck_assert_int_eq(o->calls, 0);
	wait_done(o);
}

/* The answer of a warm command that prints [x, its pid]: its pid. */
static int64_t
warm_cmd_pid(char *const argv[], const char *cwd, int x)
{
	struct outcome	 o;
	iso_msg		*arg = iso_msg_pack("i", x), *want;
	int64_t		 pid = -1;

	run_warm_cmd(argv, cwd, arg, 10000, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert_int_eq(iso_msg_int(iso_msg_at(o.result, 1), &pid), 0);
	want = iso_msg_pack("[i I]", x, pid);
	ck_assert(iso_msg_equal(o.result, want));
	iso_msg_free(want);
	iso_msg_free(arg);
	outcome_free(&o);
	return (pid);
}

static char *const	pid_loop[] = { (char *)"sh", (char *)"-c",
    (char *)"while read x; do echo \"[$x, $$]\"; done", NULL };

/* One program answers line after line; a line that is not JSON is a
   string; awk (mawk buffers a pipe) answers at once on a terminal. */
START_TEST(warm_cmd_lines)
{
	char	*awk[] = { (char *)"awk", (char *)"{ print $1 * $1 }", NULL };
	char	*echo[] = { (char *)"sh", (char *)"-c",
	    (char *)"while read x; do echo \"got $x\"; done", NULL };
	struct outcome	 o;
	iso_msg		*arg;
	int64_t		 p0, v = 0;
	int		 i;

	begin();
	p0 = warm_cmd_pid(pid_loop, NULL, 0);
	for (i = 1; i < 10; i++)
		ck_assert_int_eq(warm_cmd_pid(pid_loop, NULL, i), p0);
	for (i = 2; i < 5; i++) {
		arg = iso_msg_pack("i", i);
		run_warm_cmd(awk, NULL, arg, 10000, &o);
		ck_assert_msg(o.result != NULL, "error: %s", o.error);
		ck_assert_int_eq(iso_msg_int(o.result, &v), 0);
		ck_assert_int_eq(v, i * i);
		outcome_free(&o);
		iso_msg_free(arg);
	}
	arg = iso_msg_pack("s", "hi");
	run_warm_cmd(echo, NULL, arg, 10000, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert_str_eq(iso_msg_str(o.result, NULL), "got \"hi\"");
	outcome_free(&o);
	iso_msg_free(arg);
	ck_assert_uint_eq(warm_count(), 3);
	warm_stop_all();
	end();
}
END_TEST

/* An exit or a timeout answers that call and ends that program (and
   what it started); the next call gets a new one. */
START_TEST(warm_cmd_exit_timeout)
{
	char	*picky[] = { (char *)"sh", (char *)"-c",
	    (char *)"while read x; do [ \"$x\" = 0 ] && exit 3; "
	    "[ \"$x\" = 1 ] && sleep 100; echo \"[$x, $$]\"; done", NULL };
	struct outcome	 o;
	iso_msg		*arg;
	int64_t		 p0, p1;

	begin();
	p0 = warm_cmd_pid(picky, NULL, 5);
	arg = iso_msg_pack("i", 0);
	run_warm_cmd(picky, NULL, arg, 10000, &o);
	assert_error(&o, "exited with status 3");
	outcome_free(&o);
	iso_msg_free(arg);
	p1 = warm_cmd_pid(picky, NULL, 6);
	ck_assert_int_ne(p1, p0);
	arg = iso_msg_pack("i", 1);
	run_warm_cmd(picky, NULL, arg, 300, &o);
	assert_error(&o, "timed out after 300 ms");
	outcome_free(&o);
	iso_msg_free(arg);
	ck_assert_int_ne(warm_cmd_pid(picky, NULL, 7), p1);
	wait_children(1);	/* sleep went with its group */
	warm_stop_all();
	end();
}
END_TEST

/* Keyed by argv and directory; a program that cannot start, or a
   directory that is not there, is said. */
START_TEST(warm_cmd_cwd_and_failures)
{
	char	*pwd[] = { (char *)"sh", (char *)"-c",
	    (char *)"while read x; do pwd; done", NULL };
	char	*none[] = { (char *)"isolate-no-such-program", NULL };
	struct outcome	 o;

	begin();
	run_warm_cmd(pwd, "/tmp", NULL, 10000, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert_str_eq(iso_msg_str(o.result, NULL), "/tmp");
	outcome_free(&o);
	run_warm_cmd(pwd, "/", NULL, 10000, &o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert_str_eq(iso_msg_str(o.result, NULL), "/");
	outcome_free(&o);
	ck_assert_uint_eq(warm_count(), 2);
	ck_assert_int_ne(warm_cmd_pid(pid_loop, "/tmp", 1),
	    warm_cmd_pid(pid_loop, "/", 1));
	run_warm_cmd(pwd, "/nonexistent-dir", NULL, 10000, &o);
	assert_error(&o, "cannot chdir to /nonexistent-dir: No such file");
	outcome_free(&o);
	run_warm_cmd(none, NULL, NULL, 10000, &o);
	assert_error(&o, "cannot run isolate-no-such-program: No such file");
	outcome_free(&o);
	warm_stop_all();
	end();
}
END_TEST

/* An idle program ends (its terminal closed, SIGTERM to its group). */
START_TEST(warm_cmd_idle_end)
{
	char	*stubborn[] = { (char *)"sh", (char *)"-c",
	    (char *)"while :; do read x && echo \"[$x, $$]\"; done", NULL };
	int	 saved = warm_idle_ms;

	begin();
	warm_idle_ms = 200;
	(void)warm_cmd_pid(stubborn, NULL, 1);
	ck_assert_int_eq(tu_children(), 1);
	wait_children(0);
	ck_assert_uint_eq(warm_count(), 0);
	warm_idle_ms = saved;
	warm_stop_all();
	end();
}
END_TEST

/* The fresh command form runs in cwd too. */
START_TEST(cmd_cwd)
{
	char	*pwd[] = { (char *)"pwd", NULL };
	struct dc_req	 req = { .argv = pwd, .cwd = "/tmp" };
	struct outcome	 o;

	begin();
	memset(&o, 0, sizeof o);
	ck_assert_int_eq(dc_start(&req, done_cb, &o), 0);
	wait_done(&o);
	ck_assert_msg(o.result != NULL, "error: %s", o.error);
	ck_assert_str_eq(iso_msg_str(o.result, NULL), "/tmp");
	outcome_free(&o);
	req.cwd = "/nonexistent-dir";
	ck_assert_int_eq(dc_start(&req, done_cb, &o), 0);
	wait_done(&o);
	assert_error(&o, "cannot chdir to /nonexistent-dir");
	outcome_free(&o);
	end();
}
END_TEST

static Suite *
dcompute_suite(void)
{
	Suite	*s = suite_create("dcompute");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, so_square);
	tcase_add_test(tc, so_echo_nested);
	tcase_add_test(tc, so_big_result);
	tcase_add_test(tc, so_result_over_limit);
	tcase_add_test(tc, so_crash);
	tcase_add_test(tc, so_timeout);
	tcase_add_test(tc, so_quit);
	tcase_add_test(tc, so_null_result);
	tcase_add_test(tc, so_missing_module);
	tcase_add_test(tc, so_missing_function);
	tcase_add_test(tc, cmd_square);
	tcase_add_test(tc, cmd_json_both_ways);
	tcase_add_test(tc, cmd_not_json);
	tcase_add_test(tc, cmd_not_utf8);
	tcase_add_test(tc, cmd_exit_1);
	tcase_add_test(tc, cmd_signal);
	tcase_add_test(tc, cmd_no_such_program);
	tcase_add_test(tc, cmd_ignores_large_input);
	tcase_add_test(tc, cmd_large_round_trip);
	tcase_add_test(tc, cmd_output_over_limit);
	tcase_add_test(tc, cmd_timeout);
	tcase_add_test(tc, cmd_background_left_behind);
	tcase_add_test(tc, stop_all);
	tcase_add_test(tc, bad_requests);
	tcase_add_test(tc, concurrent);
	suite_add_tcase(s, tc);

	tc = tcase_create("warm");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, warm_same_worker);
	tcase_add_test(tc, warm_crash_timeout_exit);
	tcase_add_test(tc, warm_errors_keep_worker);
	tcase_add_test(tc, warm_not_a_module);
	tcase_add_test(tc, warm_module_replaced);
	tcase_add_test(tc, warm_replaced_while_busy);
	tcase_add_test(tc, warm_idle_end);
	tcase_add_test(tc, warm_workers_and_queue);
	tcase_add_test(tc, warm_queue_full);
	tcase_add_test(tc, warm_stop);
	tcase_add_test(tc, warm_bad_requests);
	tcase_add_test(tc, fresh_new_pid);
	tcase_add_test(tc, warm_cmd_lines);
	tcase_add_test(tc, warm_cmd_exit_timeout);
	tcase_add_test(tc, warm_cmd_cwd_and_failures);
	tcase_add_test(tc, warm_cmd_idle_end);
	tcase_add_test(tc, cmd_cwd);
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
	sr = srunner_create(dcompute_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
