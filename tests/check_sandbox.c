/*
 * check_sandbox.c: sandbox profiles (iso_spawn_attr_set_sandbox): for
 * each, a blocked call ends the isolate with ["SIGSYS", "... blocked
 * system call NAME"] and the calls it allows work; readonly:PATH through
 * Landlock; profiles refused where they cannot hold; an exec'd program,
 * with and without the library; iso_compute_with and a pool whose worker
 * a blocked call ends.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <check.h>
#include <signal.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

#define WAIT_MS		10000

static char	self_exe[PATH_MAX];
static pid_t	last_pid;		/* run's isolate */
static int	sys_on_ready;		/* collect: kill -SYS it at "ready" */
static char	tmpdir[PATH_MAX];	/* readonly's PATH, with a file */
static int	fds_at_start;

/* 1 when this system loads seccomp filters (not under valgrind, which
   passes no seccomp call through); else a test says it skips. */
static int
have_sandboxes(const char *test)
{
	iso_spawn_attr	*a;
	int		 rc;

	ck_assert_ptr_nonnull(a = iso_spawn_attr_new());
	rc = iso_spawn_attr_set_sandbox(a, "nonet");
	iso_spawn_attr_free(a);
	if (rc == 0)
		return (1);
	ck_assert_int_eq(errno, ENOTSUP);
	fprintf(stderr, "%s: skipped: %s\n", test, iso_error());
	return (0);
}

/* What one sandboxed isolate said and how it ended. */
struct outcome {
	char	said[256];	/* its last string message, "" */
	char	desc[64];	/* its error's description, "" if none */
	char	detail[512];
};

static void	run(const char *, void (*)(const iso_msg *), char *const *,
		    const char *, struct outcome *);
static void	act(const iso_msg *);

/* What stays after a first spawn (our socket, the reaper's epoll), made
   before counting descriptors. */
static void
begin(void)
{
	struct outcome	o;

	ck_assert_ptr_nonnull(iso_event_base());
	run(NULL, act, NULL, "nothing", &o);
	fds_at_start = tu_fd_count();
	ck_assert_int_eq(tu_children(), 0);
}

/* The loop turned for ms: connections' EOF is noticed. */
static void
run_for(int ms)
{
	iso_port	*p;
	iso_msg		*m = NULL;

	ck_assert_ptr_nonnull(p = iso_port_new());
	ck_assert_int_eq(iso_port_first(p, &m, ms), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	iso_port_close(p);
}

/* Nothing left: no process, no zombie; no descriptor once the loop has
   seen the ended isolates' connections close. */
static void
end(void)
{
	int	i;

	ck_assert_int_eq(tu_children(), 0);
	for (i = 0; i < 200 && tu_fd_count() != fds_at_start; i++)
		run_for(10);
	ck_assert_int_eq(tu_fd_count(), fds_at_start);
}

static int
landlock_abi(void)
{
	long	abi = syscall(444 /* landlock_create_ruleset */, NULL, 0, 1);

	return (abi > 0 ? (int)abi : 0);
}

/* Collects what run's isolate says; closes its port at the exit notice. */
static void
collect(iso_port *p, const iso_msg *m, void *arg)
{
	struct outcome	*o = arg;
	const char	*s;

	if (iso_msg_type(m) == ISO_LIST && iso_msg_len(m) == 2) {
		snprintf(o->desc, sizeof o->desc, "%s",
		    iso_msg_str(iso_msg_at(m, 0), NULL));
		snprintf(o->detail, sizeof o->detail, "%s",
		    iso_msg_str(iso_msg_at(m, 1), NULL));
	} else if ((s = iso_msg_str(m, NULL)) != NULL &&
	    strcmp(s, "exit!") == 0)
		iso_port_close(p);
	else if (s != NULL) {
		snprintf(o->said, sizeof o->said, "%s", s);
		if (sys_on_ready && strcmp(s, "ready") == 0)
			ck_assert_int_eq(kill(last_pid, SIGSYS), 0);
	}
}

/*
 * Run entry (arg: [port, what]) under profile, or argv through exec when
 * argv is not NULL: what it said, and its error if it had one. The error
 * listener is the attr's, the exit listener the handle's: errors come
 * first, the exit notice after everything.
 */
static void
run(const char *profile, void (*entry)(const iso_msg *), char *const *argv,
    const char *what, struct outcome *o)
{
	iso_spawn_attr	*a;
	iso_isolate	*iso;
	iso_port	*port;
	iso_msg		*arg, *exit_msg;

	memset(o, 0, sizeof *o);
	ck_assert_ptr_nonnull(port = iso_port_new());
	ck_assert_ptr_nonnull(a = iso_spawn_attr_new());
	ck_assert_msg(profile == NULL || iso_spawn_attr_set_sandbox(a,
	    profile) == 0, "%s: %s", profile, iso_error());
	ck_assert_int_eq(iso_spawn_attr_set_on_error(a,
	    iso_port_sendport(port)), 0);
	arg = iso_msg_pack("[Ps]", iso_port_sendport(port), what);
	if (argv != NULL)
		ck_assert_msg(iso_spawn_exec_with(argv, arg, a, &iso) == 0,
		    "%s", iso_error());
	else
		ck_assert_int_eq(iso_spawn_with(entry, arg, a, &iso), 0);
	iso_msg_free(arg);
	iso_spawn_attr_free(a);
	exit_msg = iso_msg_pack("s", "exit!");
	ck_assert_int_eq(iso_on_exit(iso, iso_port_sendport(port), exit_msg),
	    0);
	iso_msg_free(exit_msg);
	last_pid = iso_pid(iso);
	iso_isolate_free(iso);
	ck_assert_int_eq(iso_port_listen(port, collect, o), 0);
	ck_assert_int_eq(iso_run(), 0);		/* until the exit notice */
}

/* The blocked call o names, as "blocked system call NAME". */
static void
assert_blocked(const struct outcome *o, const char *call)
{
	char	want[64];

	snprintf(want, sizeof want, "blocked system call %s", call);
	ck_assert_str_eq(o->desc, "SIGSYS");
	ck_assert_msg(strstr(o->detail, want) != NULL, "\"%s\" does not say "
	    "\"%s\"", o->detail, want);
	ck_assert_msg(strncmp(o->detail, "isolate ", 8) == 0, "%s",
	    o->detail);
}

/* ---- what the isolates do -------------------------------------------- */

static void
say(const iso_msg *arg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
say(const iso_msg *arg, const char *fmt, ...)
{
	iso_sendport	 to;
	iso_msg		*m;
	char		 buf[256];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (iso_msg_sendport(iso_msg_at(arg, 0), &to) == -1 ||
	    (m = iso_msg_pack("s", buf)) == NULL)
		return;
	(void)iso_send(to, m);
	iso_msg_free(m);
}

/* One thing, named by arg[1]; says what came of it. */
static void
act(const iso_msg *arg)
{
	const char	*what = iso_msg_str(iso_msg_at(arg, 1), NULL);
	char		 path[PATH_MAX + 16], buf[64];
	char *const	 argv[] = { (char *)"/bin/true", NULL };
	ssize_t		 n;
	int		 fd, sv[2], fd2;
	char		*p;

	if (strcmp(what, "open") == 0) {
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		say(arg, "open %s", fd >= 0 ? "ok" : strerror(errno));
	} else if (strcmp(what, "exec") == 0) {
		execve(argv[0], argv, NULL);
		say(arg, "exec: %s", strerror(errno));
	} else if (strcmp(what, "inet") == 0) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		say(arg, "inet %s", fd >= 0 ? "ok" : strerror(errno));
	} else if (strcmp(what, "unix") == 0) {
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		fd2 = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
		say(arg, "unix %s", fd >= 0 && fd2 == 0 ? "ok" :
		    strerror(errno));
	} else if (strcmp(what, "compute") == 0) {
		/* memory, time, its loop: then it answers on its pair */
		if ((p = malloc(8 << 20)) != NULL)
			memset(p, 1, 8 << 20);
		tu_sleep_ms(1);
		say(arg, "computed %d", p != NULL ? p[12345] : -1);
		free(p);
	} else if (strcmp(what, "write") == 0) {
		snprintf(path, sizeof path, "%s/new", tmpdir);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		say(arg, "write %s", fd >= 0 ? "ok" : strerror(errno));
	} else if (strcmp(what, "wait") == 0) {
		(void)iso_port_new();	/* iso_run goes on */
		say(arg, "ready");
	} else if (strcmp(what, "read") == 0) {
		snprintf(path, sizeof path, "%s/file", tmpdir);
		n = -1;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0)
			n = read(fd, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = '\0';
		fd2 = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
		say(arg, "read %s, outside %s", buf, fd2 >= 0 ? "ok" :
		    strerror(errno));
	}
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(profiles_checked_at_set_time)
{
	iso_spawn_attr	*a;
	static const char *const bad[] = { "", "computer", "nonet,", "nonet,x",
	    "readonly:", "readonly:relative", "readonly:/no/such/path",
	    "NONET" };
	size_t		 i;

	begin();
	ck_assert_ptr_nonnull(a = iso_spawn_attr_new());
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		ck_assert_msg(iso_spawn_attr_set_sandbox(a, bad[i]) == -1,
		    "\"%s\" accepted", bad[i]);
		ck_assert_msg(errno == EINVAL || (errno == ENOTSUP &&
		    i >= 5 && (landlock_abi() == 0 || !have_sandboxes(
		    __func__))), "%s: %s", bad[i], strerror(errno));
		ck_assert(strstr(iso_error(), "sandbox") != NULL);
	}
	ck_assert_int_eq(iso_spawn_attr_set_sandbox(a, "computer"), -1);
	ck_assert_msg(strstr(iso_error(), "unknown \"computer\"") != NULL,
	    "%s", iso_error());
	ck_assert_int_eq(iso_spawn_attr_set_sandbox(NULL, "nonet"), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_spawn_attr_set_sandbox(a, NULL), -1);
	if (have_sandboxes(__func__)) {
		ck_assert_int_eq(iso_spawn_attr_set_sandbox(a, "compute"), 0);
		ck_assert_int_eq(iso_spawn_attr_set_sandbox(a, "nonet,noexec"),
		    0);
	}
	iso_spawn_attr_free(a);
	end();
}
END_TEST

START_TEST(exec_refused_where_the_profile_blocks_it)
{
	static const char *const blocking[] = { "compute", "noexec",
	    "nonet,noexec" };
	char *const	 argv[] = { (char *)"/bin/true", NULL };
	iso_spawn_attr	*a;
	iso_isolate	*iso = NULL;
	size_t		 i;

	if (!have_sandboxes(__func__))
		return;
	begin();
	for (i = 0; i < sizeof blocking / sizeof blocking[0]; i++) {
		ck_assert_ptr_nonnull(a = iso_spawn_attr_new());
		ck_assert_int_eq(iso_spawn_attr_set_sandbox(a, blocking[i]),
		    0);
		ck_assert_int_eq(iso_spawn_exec_with(argv, NULL, a, &iso), -1);
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_msg(strstr(iso_error(), "blocks the exec") != NULL,
		    "%s", iso_error());
		iso_spawn_attr_free(a);
	}
	end();
}
END_TEST

START_TEST(compute_blocks_open)
{
	struct outcome	o;

	if (!have_sandboxes(__func__))
		return;
	begin();
	run("compute", act, NULL, "open", &o);
	assert_blocked(&o, "openat");
	ck_assert_str_eq(o.said, "");
	run("compute", act, NULL, "unix", &o);
	assert_blocked(&o, "socket");
	run("compute", act, NULL, "exec", &o);
	assert_blocked(&o, "execve");
	end();
}
END_TEST

START_TEST(compute_answers_on_its_pair)
{
	struct outcome	o;

	if (!have_sandboxes(__func__))
		return;
	begin();
	run("compute", act, NULL, "compute", &o);
	ck_assert_msg(o.desc[0] == '\0', "%s: %s", o.desc, o.detail);
	ck_assert_str_eq(o.said, "computed 1");
	end();
}
END_TEST

/* A SIGSYS that is no trap is not told as a blocked call. */
START_TEST(a_sigsys_sent_is_no_blocked_call)
{
	struct outcome	o;

	if (!have_sandboxes(__func__))
		return;
	begin();
	sys_on_ready = 1;
	run("nonet", act, NULL, "wait", &o);
	sys_on_ready = 0;
	ck_assert_str_eq(o.desc, "SIGSYS");
	ck_assert_msg(strstr(o.detail, "killed by signal 31") != NULL &&
	    strstr(o.detail, "blocked") == NULL, "%s", o.detail);
	end();
}
END_TEST

START_TEST(noexec_blocks_exec_not_open)
{
	struct outcome	o;

	if (!have_sandboxes(__func__))
		return;
	begin();
	run("noexec", act, NULL, "exec", &o);
	assert_blocked(&o, "execve");
	run("noexec", act, NULL, "open", &o);
	ck_assert_msg(o.desc[0] == '\0', "%s: %s", o.desc, o.detail);
	ck_assert_str_eq(o.said, "open ok");
	end();
}
END_TEST

START_TEST(nonet_blocks_inet_not_unix)
{
	struct outcome	o;

	if (!have_sandboxes(__func__))
		return;
	begin();
	run("nonet", act, NULL, "inet", &o);
	assert_blocked(&o, "socket");
	run("nonet", act, NULL, "unix", &o);
	ck_assert_msg(o.desc[0] == '\0', "%s: %s", o.desc, o.detail);
	ck_assert_str_eq(o.said, "unix ok");	/* and it reached our port */
	run("nonet", act, NULL, "open", &o);
	ck_assert_str_eq(o.said, "open ok");
	end();
}
END_TEST

START_TEST(readonly_reads_under_path_only)
{
	struct outcome	o;
	char		profile[PATH_MAX + 16], path[PATH_MAX + 16];
	struct stat	st;

	if (!have_sandboxes(__func__))
		return;
	if (landlock_abi() == 0) {
		fprintf(stderr, "readonly_reads_under_path_only: skipped: "
		    "this kernel has no Landlock\n");
		return;
	}
	begin();
	snprintf(profile, sizeof profile, "readonly:%s", tmpdir);
	run(profile, act, NULL, "read", &o);
	ck_assert_msg(o.desc[0] == '\0', "%s: %s", o.desc, o.detail);
	ck_assert_str_eq(o.said, "read sandboxed, outside Permission denied");
	run(profile, act, NULL, "write", &o);
	assert_blocked(&o, "openat");
	snprintf(path, sizeof path, "%s/new", tmpdir);
	ck_assert_int_eq(stat(path, &st), -1);
	/* readonly:/ reads everywhere */
	run("readonly:/", act, NULL, "read", &o);
	ck_assert_str_eq(o.said, "read sandboxed, outside ok");
	run("nonet,readonly:/", act, NULL, "inet", &o);
	assert_blocked(&o, "socket");
	end();
}
END_TEST

START_TEST(readonly_refused_without_landlock)
{
	iso_spawn_attr	*a;

	if (landlock_abi() != 0 || !have_sandboxes(__func__)) {
		fprintf(stderr, "readonly_refused_without_landlock: skipped: "
		    "Landlock is there, or seccomp is not\n");
		return;
	}
	ck_assert_ptr_nonnull(a = iso_spawn_attr_new());
	ck_assert_int_eq(iso_spawn_attr_set_sandbox(a, "readonly:/"), -1);
	ck_assert_int_eq(errno, ENOTSUP);
	ck_assert(strstr(iso_error(), "Landlock") != NULL);
	iso_spawn_attr_free(a);
}
END_TEST

START_TEST(exec_program_with_the_library)
{
	struct outcome	o;
	char *const	argv[] = { self_exe, (char *)"--sandboxed", NULL };

	if (!have_sandboxes(__func__))
		return;
	begin();
	run("nonet", NULL, argv, "inet", &o);
	assert_blocked(&o, "socket");
	run("nonet", NULL, argv, "unix", &o);
	ck_assert_msg(o.desc[0] == '\0', "%s: %s", o.desc, o.detail);
	ck_assert_str_eq(o.said, "unix ok");
	if (landlock_abi() > 0) {	/* Landlock kept through exec */
		run("readonly:/", NULL, argv, "read", &o);
		ck_assert_msg(o.desc[0] == '\0', "%s: %s", o.desc, o.detail);
		ck_assert_str_eq(o.said, "read sandboxed, outside ok");
		run("readonly:/", NULL, argv, "write", &o);
		assert_blocked(&o, "openat");
	}
	end();
}
END_TEST

START_TEST(exec_program_without_the_library)
{
	struct outcome	o;
	char *const	argv[] = { self_exe, (char *)"--sandboxed-raw", NULL };

	if (!have_sandboxes(__func__))
		return;
	begin();
	run("nonet", NULL, argv, "inet", &o);
	ck_assert_str_eq(o.desc, "SIGSYS");
	ck_assert_msg(strstr(o.detail, "killed by signal 31") != NULL, "%s",
	    o.detail);
	end();
}
END_TEST

static iso_msg *
open_fn(const iso_msg *arg)
{
	int	fd;

	(void)arg;
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return (iso_msg_pack("i", fd));
}

static iso_msg *
sum_fn(const iso_msg *arg)
{
	int64_t	n = 0, k, sum = 0;
	char	*p;

	iso_msg_int(arg, &n);
	if ((p = malloc(1 << 20)) == NULL)
		return (NULL);
	memset(p, 0, 1 << 20);
	for (k = 1; k <= n; k++)
		sum += k + p[k];
	free(p);
	return (iso_msg_pack("I", sum));
}

START_TEST(compute_with_a_sandbox)
{
	iso_spawn_attr	*a;
	iso_msg		*arg, *r = NULL;
	int64_t		 v = 0;

	if (!have_sandboxes(__func__))
		return;
	begin();
	ck_assert_ptr_nonnull(a = iso_spawn_attr_new());
	ck_assert_int_eq(iso_spawn_attr_set_sandbox(a, "compute"), 0);
	ck_assert_int_eq(iso_compute_with(open_fn, NULL, a, 0, &r), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(iso_error(), "killed by SIGSYS") != NULL &&
	    strstr(iso_error(), "blocked system call openat") != NULL, "%s",
	    iso_error());
	arg = iso_msg_pack("i", 100);
	ck_assert_msg(iso_compute_with(sum_fn, arg, a, 0, &r) == 0, "%s",
	    iso_error());
	ck_assert_int_eq(iso_msg_int(r, &v), 0);
	ck_assert_int_eq(v, 5050);
	iso_msg_free(r);
	iso_msg_free(arg);
	iso_spawn_attr_free(a);
	end();
}
END_TEST

START_TEST(pool_survives_a_blocked_call)
{
	iso_spawn_attr	*a;
	iso_pool	*p;
	iso_msg		*arg, *r = NULL;
	int64_t		 v = 0;
	int		 i;

	if (!have_sandboxes(__func__))
		return;
	begin();
	ck_assert_ptr_nonnull(a = iso_spawn_attr_new());
	ck_assert_int_eq(iso_spawn_attr_set_sandbox(a, "compute"), 0);
	ck_assert_ptr_nonnull(p = iso_pool_new_with(2, a));
	iso_spawn_attr_free(a);		/* the pool has its copy */
	arg = iso_msg_pack("i", 10);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(iso_pool_call(p, open_fn, NULL, 0, &r), -1);
		ck_assert_int_eq(errno, EIO);
		ck_assert_msg(strstr(iso_error(), "blocked system call "
		    "openat") != NULL, "%s", iso_error());
		ck_assert_msg(iso_pool_call(p, sum_fn, arg, 0, &r) == 0, "%s",
		    iso_error());
		ck_assert_int_eq(iso_msg_int(r, &v), 0);
		ck_assert_int_eq(v, 55);
		iso_msg_free(r);
		ck_assert_int_eq(iso_pool_size(p), 2);
	}
	iso_msg_free(arg);
	iso_pool_free(p);
	end();
}
END_TEST

/* ---- the exec'd program ------------------------------------------------- */

static int
sandboxed_main(int raw)
{
	const iso_msg	*arg;
	const char	*what;
	int		 fd;

	if (raw) {	/* no library before the call: no handler */
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		return (fd >= 0 ? 3 : 4);
	}
	if ((arg = iso_initial_message()) == NULL)
		return (2);
	if (getenv("CHECK_SANDBOX_DIR") != NULL)
		snprintf(tmpdir, sizeof tmpdir, "%s",
		    getenv("CHECK_SANDBOX_DIR"));
	what = iso_msg_str(iso_msg_at(arg, 1), NULL);
	if (what != NULL && strcmp(what, "unix") != 0)
		act(arg);
	else
		say(arg, "unix ok");
	return (0);
}

static Suite *
sandbox_suite(void)
{
	Suite	*s = suite_create("sandbox");
	TCase	*tc = tcase_create("profiles");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, profiles_checked_at_set_time);
	tcase_add_test(tc, exec_refused_where_the_profile_blocks_it);
	tcase_add_test(tc, compute_blocks_open);
	tcase_add_test(tc, compute_answers_on_its_pair);
	tcase_add_test(tc, a_sigsys_sent_is_no_blocked_call);
	tcase_add_test(tc, noexec_blocks_exec_not_open);
	tcase_add_test(tc, nonet_blocks_inet_not_unix);
	tcase_add_test(tc, readonly_reads_under_path_only);
	tcase_add_test(tc, readonly_refused_without_landlock);
	tcase_add_test(tc, exec_program_with_the_library);
	tcase_add_test(tc, exec_program_without_the_library);
	tcase_add_test(tc, compute_with_a_sandbox);
	tcase_add_test(tc, pool_survives_a_blocked_call);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(int argc, char **argv)
{
	struct rlimit	 nocore = { 0, 0 };
	SRunner		*sr;
	char		 path[PATH_MAX + 16];
	ssize_t		 n;
	int		 failed, fd;

	if (argc == 2 && strcmp(argv[1], "--sandboxed") == 0)
		return (sandboxed_main(0));
	if (argc == 2 && strcmp(argv[1], "--sandboxed-raw") == 0)
		return (sandboxed_main(1));
	setrlimit(RLIMIT_CORE, &nocore);
	if ((n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1)) <=
	    0)
		return (1);
	self_exe[n] = '\0';
	tu_runtime_dir();
	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_sandbox.XXXXXX");
	if (mkdtemp(tmpdir) == NULL || setenv("CHECK_SANDBOX_DIR", tmpdir,
	    1) == -1)
		return (1);
	snprintf(path, sizeof path, "%s/file", tmpdir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    write(fd, "sandboxed", 9) != 9)
		return (1);
	close(fd);
	sr = srunner_create(sandbox_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	unlink(path);
	snprintf(path, sizeof path, "%s/new", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return (failed ? 1 : 0);
}
