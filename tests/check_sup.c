/*
 * check_sup.c: the supervisor, isolated, driven through the library's
 * client calls and, for hostile input, through its raw socket. Each test
 * has its own runtime directory and its own supervisor (started on
 * demand from $BUILD/isolated) and kills whatever it started. A test that
 * ends without its teardown (a failed check in Check's fork mode, a
 * timeout) leaves it to the end of the run, and a run that is killed to
 * its guard: every runtime directory is in the run's, and every process
 * whose ISO_RUNTIME_DIR is in it is killed, however the run ends.
 */
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"
#include "loop.h"
#include "testutil.h"

/* argv arrays of string literals, as execv takes them. */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"
#pragma GCC diagnostic ignored "-Wformat-truncation"

static char	bindir[PATH_MAX - 64];	/* where this test binary is */
static char	runs[32];		/* this run's: every rt is in it */
static char	rt[64];			/* this test's runtime directory */

static void
sup_setup(void)
{
	char	path[PATH_MAX];

	snprintf(rt, sizeof rt, "%s/XXXXXX", runs);
	ck_assert_ptr_nonnull(mkdtemp(rt));
	ck_assert_int_eq(chmod(rt, 0700), 0);
	setenv("ISO_RUNTIME_DIR", rt, 1);
	rtdir_forget();
	snprintf(path, sizeof path, "%s/../isolated", bindir);
	if (getenv("ISO_TEST_ISOLATED") != NULL)
		snprintf(path, sizeof path, "%s", getenv("ISO_TEST_ISOLATED"));
	setenv("ISO_ISOLATED", path, 1);
}

/* The running supervisor's pid, from its lock file, or 0. */
static pid_t
sup_pid(void)
{
	char	 path[PATH_MAX], buf[32];
	FILE	*f;
	size_t	 n;

	snprintf(path, sizeof path, "%s/supervisor.lock", rt);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return ((pid_t)atoi(buf));
}

/*
 * Send sig (0: none) to every process but this one, and not a zombie,
 * whose environment has ISO_RUNTIME_DIR dir or a directory below it (a
 * supervisor, its shepherds and their commands, whatever state a test
 * left them in). How many there were.
 */
static int
signal_under(const char *dir, int sig)
{
	char		 want[128], path[64], stat[256], *env, *v, *st;
	struct dirent	*e;
	DIR		*d;
	FILE		*f;
	size_t		 n, cap = 1 << 16, len;
	pid_t		 pid;
	int		 found = 0;

	len = (size_t)snprintf(want, sizeof want, "ISO_RUNTIME_DIR=%s", dir);
	if ((d = opendir("/proc")) == NULL || (env = malloc(cap)) == NULL) {
		if (d != NULL)
			closedir(d);
		return (0);
	}
	while ((e = readdir(d)) != NULL) {
		if ((pid = (pid_t)atoi(e->d_name)) <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(stat, 1, sizeof stat - 1, f);
		fclose(f);
		stat[n] = '\0';
		if ((st = strrchr(stat, ')')) != NULL && st[1] == ' ' &&
		    st[2] == 'Z')
			continue;	/* ended: only its parent can reap it */
		snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(env, 1, cap - 1, f);
		fclose(f);
		env[n] = '\0';
		for (size_t i = 0; i < n; i += strlen(env + i) + 1) {
			v = env + i;
			if (strncmp(v, want, len) == 0 && (v[len] == '\0' ||
			    v[len] == '/')) {
				found++;
				if (sig != 0)
					kill(pid, sig);
				break;
			}
		}
	}
	free(env);
	closedir(d);
	return (found);
}

/*
 * SIGKILL everything under dir (signal_under) until nothing is left, as
 * one may fork while the others die (a supervisor starting a shepherd, a
 * client starting a supervisor), for at most 10 s; then remove dir.
 */
static void
sweep(const char *dir)
{
	char	cmd[128];

	for (int i = 0; i < 1000 && signal_under(dir, SIGKILL) > 0; i++)
		tu_sleep_ms(10);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "check_sup: cannot remove %s\n", dir);
}

/*
 * A process of its own (its own session: a timeout that kills this
 * process group spares it) that sweeps dir once this process and every
 * fork of it that has the pipe (a test child in Check's fork mode) have
 * ended, however they ended: a failed check or a Check timeout skips a
 * test's teardown, and a timeout of the whole run (valgrind is slow)
 * skips everything. Its pid, and in *fd the pipe's end to keep (close-
 * on-exec: no supervisor holds it); -1 with errno.
 */
static pid_t
guard_start(const char *dir, int *fd)
{
	char	c;
	pid_t	pid;
	int	p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return (-1);
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return (-1);
	}
	if (pid == 0) {
		close(p[1]);
		(void)setsid();
		while (read(p[0], &c, 1) == -1 && errno == EINTR)
			;
		sweep(dir);
		_exit(0);
	}
	close(p[0]);
	*fd = p[1];
	return (pid);
}

static void
sup_teardown(void)
{
	pid_t	pid = sup_pid();

	if (iso_sup_stop() == -1 && pid > 0 && tu_alive(pid))
		kill(pid, SIGKILL);
	sweep(rt);
}

/* 1 once pid has ended (gone or a zombie: an orphan's zombie may wait
   for a reaper that never comes in a container). */
static int
ended_within(pid_t pid, int ms)
{
	for (; ms > 0 && tu_alive(pid); ms -= 5)
		tu_sleep_ms(5);
	return (!tu_alive(pid));
}

static uint64_t
spawn(const char *name, iso_restart restart, char *const *argv)
{
	iso_sup_spawn_opts	o;
	uint64_t		id = 0;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = name;
	o.restart = restart;
	o.backoff_ms = 10;
	ck_assert_msg(iso_sup_spawn(&o, &id) == 0, "spawn: %s", iso_error());
	ck_assert(id != 0);
	return (id);
}

static const char *
hex(uint64_t id)
{
	static char	buf[4][17];
	static int	i;

	i = (i + 1) % 4;
	snprintf(buf[i], 17, "%016" PRIx64, id);
	return (buf[i]);
}

/* target's row once it has ended (at most 10 s). Owned. */
static iso_msg *
wait_end(const char *target)
{
	iso_msg	*row = NULL;

	ck_assert_msg(iso_sup_wait(target, 10000, &row) == 0, "wait %s: %s",
	    target, iso_error());
	return (row);
}

static int64_t
row_int(const iso_msg *row, const char *key)
{
	int64_t	v = -1;

	if (iso_msg_int(iso_msg_get(row, key), &v) == -1)
		v = -1;
	return (v);
}

static const char *
row_str(const iso_msg *row, const char *key)
{
	const char	*s = iso_msg_str(iso_msg_get(row, key), NULL);

	return (s != NULL ? s : "");
}

/* The row of target in iso_sup_list, owned, or NULL. */
static iso_msg *
list_row(const char *target)
{
	iso_msg		*l, *r = NULL;
	size_t		 i;

	ck_assert_msg(iso_sup_list(&l) == 0, "list: %s", iso_error());
	for (i = 0; i < iso_msg_len(l); i++) {
		const iso_msg	*row = iso_msg_at(l, i);

		if (strcmp(row_str(row, "id"), target) == 0 ||
		    strcmp(row_str(row, "name"), target) == 0)
			r = iso_msg_copy(row);
	}
	iso_msg_free(l);
	return (r);
}

/* ---- starting and stopping ---------------------------------------------- */

START_TEST(started_on_demand_and_stopped)
{
	iso_msg	*st;
	int64_t	 pid, pid2;
	int	 leak[2];

	ck_assert_int_eq(iso_sup_status(&st), -1);
	ck_assert_int_eq(errno, ESRCH);
	/* A descriptor of ours that is not close-on-exec... */
	ck_assert_int_eq(pipe(leak), 0);
	ck_assert_int_eq(iso_sup_start(), 0);
	ck_assert_int_eq(iso_sup_status(&st), 0);
	pid = row_int(st, "pid");
	/* ...is not the supervisor's: a reader of that pipe sees its end. */
	close(leak[1]);
	{
		char	c;

		ck_assert_int_eq(read(leak[0], &c, 1), 0);
		close(leak[0]);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert(tu_alive((pid_t)pid));
	ck_assert_ptr_null(iso_msg_get(st, "ok"));
	iso_msg_free(st);
	/* Started again: the same one. */
	ck_assert_int_eq(iso_sup_start(), 0);
	ck_assert_int_eq(iso_sup_status(&st), 0);
	pid2 = row_int(st, "pid");
	iso_msg_free(st);
	ck_assert_int_eq(pid, pid2);
	ck_assert_int_eq(iso_sup_stop(), 0);
	ck_assert(ended_within((pid_t)pid, 5000));
	ck_assert_int_eq(iso_sup_status(&st), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert_int_eq(iso_sup_stop(), -1);
	ck_assert_int_eq(errno, ESRCH);
}
END_TEST

START_TEST(autostart_off_only_looks)
{
	iso_msg	*l, *st;
	int64_t	 pid;

	/* Off, a call that would start a supervisor fails instead. */
	ck_assert_int_eq(iso_sup_autostart(0), 1);
	ck_assert_int_eq(iso_sup_list(&l), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert_int_eq(iso_sup_names(&l), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert_int_eq(iso_sup_status(&st), -1);
	ck_assert_int_eq(errno, ESRCH);
	/* iso_sup_start still starts one, and the calls reach it. */
	ck_assert_int_eq(iso_sup_start(), 0);
	ck_assert_msg(iso_sup_list(&l) == 0, "list: %s", iso_error());
	iso_msg_free(l);
	ck_assert_int_eq(iso_sup_autostart(1), 0);
	ck_assert_int_eq(iso_sup_status(&st), 0);
	pid = row_int(st, "pid");
	iso_msg_free(st);
	ck_assert_int_eq(iso_sup_stop(), 0);
	ck_assert(ended_within((pid_t)pid, 5000));
}
END_TEST

START_TEST(a_second_supervisor_is_refused)
{
	char	cmd[PATH_MAX * 2], out[256];
	FILE	*f;
	size_t	n;
	int	status;

	ck_assert_int_eq(iso_sup_start(), 0);
	snprintf(cmd, sizeof cmd, "'%s' --foreground 2>&1",
	    getenv("ISO_ISOLATED"));
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	n = fread(out, 1, sizeof out - 1, f);
	out[n] = '\0';
	status = pclose(f);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	ck_assert_msg(strstr(out, "already running") != NULL, "%s", out);
}
END_TEST

START_TEST(started_by_hand_goes_to_the_background)
{
	char	cmd[PATH_MAX * 2];
	iso_msg	*st;
	int	status;

	snprintf(cmd, sizeof cmd, "'%s' 2>/dev/null", getenv("ISO_ISOLATED"));
	/* Returns once it serves... */
	status = system(cmd);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(iso_sup_status(&st), 0);
	ck_assert_int_gt(row_int(st, "pid"), 0);
	iso_msg_free(st);
	/* ...and a second one says it cannot. */
	status = system(cmd);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
}
END_TEST

START_TEST(a_stale_socket_is_replaced)
{
	struct sockaddr_un	sun;
	int			fd;

	/* A socket file nobody listens on, as a crash leaves it. */
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/supervisor.sock", rt);
	ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);
	ck_assert_int_eq(iso_sup_start(), 0);
	ck_assert_int_gt(sup_pid(), 0);
}
END_TEST

START_TEST(options_bound_history_logs_and_grace)
{
	char *const	 yes[] = { "true", NULL };
	char *const	 stubborn[] = { "sh", "-c",
	    "trap '' TERM; echo ready; while :; do sleep 0.05; done", NULL };
	char *const	 chatty[] = { "sh", "-c",
	    "i=0; while [ $i -lt 100 ]; do "
	    "echo 0123456789012345678901234567890123456789012345678; "
	    "i=$((i+1)); done", NULL };
	char		 line[64], old[PATH_MAX];
	iso_msg		*l, *row;
	uint64_t	 id, off = 0;
	struct stat	 st;
	char		*data;
	size_t		 len;
	ssize_t		 n;
	pid_t		 pid;
	int		 p[2], status, i;

	/* Started by hand, in the foreground, as systemd would. */
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int	null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		dup2(p[1], 3);
		execl(getenv("ISO_ISOLATED"), "isolated", "--foreground",
		    "--ready-fd", "3", "--history", "2", "--grace-ms", "200",
		    "--log-max", "1024", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], line, sizeof line - 1);
	close(p[0]);
	ck_assert_int_gt(n, 0);
	line[n] = '\0';
	ck_assert_str_eq(line, "ready\n");

	for (i = 0; i < 4; i++) {
		id = spawn(NULL, ISO_RESTART_NEVER, yes);
		iso_msg_free(wait_end(hex(id)));
	}
	ck_assert_int_eq(iso_sup_list(&l), 0);
	ck_assert_uint_eq(iso_msg_len(l), 2);
	ck_assert_str_eq(row_str(iso_msg_at(l, 0), "id"), hex(id));
	iso_msg_free(l);

	id = spawn(NULL, ISO_RESTART_NEVER, chatty);
	iso_msg_free(wait_end(hex(id)));
	ck_assert_int_eq(iso_sup_logs(hex(id), &off, &data, &len), 0);
	ck_assert_uint_le(len, 2048);
	ck_assert_uint_gt(len, 1000);
	free(data);
	snprintf(old, sizeof old, "%s/supervisor/%s.log.1", rt, hex(id));
	ck_assert_int_eq(stat(old, &st), 0);
	ck_assert_int_le(st.st_size, 1024);

	/* Following a log across its rotation loses nothing. */
	{
		char *const	 twice[] = { "sh", "-c",
		    "head -c 600 /dev/zero | tr '\\0' a; echo; sleep 0.5; "
		    "head -c 700 /dev/zero | tr '\\0' b; echo", NULL };
		size_t		 k;

		id = spawn(NULL, ISO_RESTART_NEVER, twice);
		off = 0;
		for (i = 0, k = 0; i < 500 && k < 601; i++) {
			ck_assert_int_eq(iso_sup_logs(hex(id), &off, &data,
			    &len), 0);
			k += len;
			free(data);
			if (k < 601)
				tu_sleep_ms(10);
		}
		ck_assert_uint_eq(k, 601);
		iso_msg_free(wait_end(hex(id)));
		ck_assert_int_eq(iso_sup_logs(hex(id), &off, &data, &len), 0);
		ck_assert_uint_eq(len, 701);
		for (k = 0; k < 700; k++)
			ck_assert_int_eq(data[k], 'b');
		free(data);
	}

	/* Its trap is set once it says so: a SIGTERM before would end it. */
	(void)spawn("stubborn", ISO_RESTART_NEVER, stubborn);
	for (i = 0, off = 0, len = 0; i < 500 && len == 0; i++) {
		ck_assert_int_eq(iso_sup_logs("stubborn", &off, &data, &len),
		    0);
		free(data);
		if (len == 0)
			tu_sleep_ms(10);
	}
	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(iso_sup_kill("stubborn", ISO_BEFORE_NEXT_EVENT), 0);
	row = wait_end("stubborn");
	ck_assert_int_eq(row_int(row, "signal"), SIGKILL);
	iso_msg_free(row);

	ck_assert_int_eq(iso_sup_stop(), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

/* ---- commands ------------------------------------------------------------- */

START_TEST(spawn_list_wait)
{
	char *const	 argv[] = { "sh", "-c", "sleep 0.2; exit 3", NULL };
	uint64_t	 id = spawn("three", ISO_RESTART_NEVER, argv);
	iso_msg		*row;

	row = list_row(hex(id));
	ck_assert_ptr_nonnull(row);
	ck_assert_str_eq(row_str(row, "name"), "three");
	ck_assert_str_eq(row_str(row, "kind"), "command");
	ck_assert_str_eq(row_str(row, "state"), "running");
	iso_msg_free(row);
	row = wait_end("three");
	ck_assert_str_eq(row_str(row, "state"), "exited");
	ck_assert_int_eq(row_int(row, "exit_code"), 3);
	ck_assert_int_eq(iso_msg_type(iso_msg_get(row, "signal")), ISO_NIL);
	ck_assert_int_gt(row_int(row, "pid"), 0);
	ck_assert_int_eq(row_int(row, "restarts"), 0);
	iso_msg_free(row);
}
END_TEST

/* A spawn answers once its command runs: a list right after has its pid,
   for a shell user's `isoctl spawn ...; isoctl ps` too. */
START_TEST(spawn_answers_once_the_command_runs)
{
	char *const	 argv[] = { "sleep", "100", NULL };
	iso_msg		*row;
	uint64_t	 id;
	int64_t		 pid;
	char		 path[64], comm[32];
	FILE		*f;

	for (int i = 0; i < 10; i++) {
		id = spawn(NULL, ISO_RESTART_NEVER, argv);
		row = list_row(hex(id));
		ck_assert_ptr_nonnull(row);
		pid = row_int(row, "pid");
		iso_msg_free(row);
		ck_assert_msg(pid > 0, "spawn %d: pid %" PRId64 " right after",
		    i, pid);
		snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
		ck_assert_ptr_nonnull(f = fopen(path, "r"));
		ck_assert_ptr_nonnull(fgets(comm, sizeof comm, f));
		fclose(f);
		ck_assert_str_eq(comm, "sleep\n");
		ck_assert_int_eq(iso_sup_kill(hex(id), ISO_IMMEDIATE), 0);
	}
}
END_TEST

START_TEST(spawn_env_and_cwd)
{
	char *const		 argv[] = { "sh", "-c",
	    "echo \"$GREETING $(pwd) $ISO_ISOLATE_ID\"", NULL };
	char *const		 envp[] = { "GREETING=hello", "PATH=/bin:/usr/bin",
	    NULL };
	iso_sup_spawn_opts	 o;
	uint64_t		 id, off = 0;
	iso_msg			*row;
	char			*data, want[128];
	size_t			 len;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.envp = envp;
	o.cwd = "/tmp";
	ck_assert_int_eq(iso_sup_spawn(&o, &id), 0);
	row = wait_end(hex(id));
	ck_assert_int_eq(row_int(row, "exit_code"), 0);
	iso_msg_free(row);
	ck_assert_int_eq(iso_sup_logs(hex(id), &off, &data, &len), 0);
	snprintf(want, sizeof want, "hello /tmp %s\n", hex(id));
	ck_assert_str_eq(data, want);
	free(data);
}
END_TEST

START_TEST(logs_capture_stdout_and_stderr)
{
	char *const	 argv[] = { "sh", "-c", "echo out; echo err >&2", NULL };
	uint64_t	 id = spawn(NULL, ISO_RESTART_NEVER, argv), off = 0;
	iso_msg		*row = wait_end(hex(id));
	char		*data;
	size_t		 len;

	iso_msg_free(row);
	ck_assert_int_eq(iso_sup_logs(hex(id), &off, &data, &len), 0);
	ck_assert_str_eq(data, "out\nerr\n");
	ck_assert_uint_ne(off, 0);
	free(data);
	/* Nothing new from where it stopped. */
	ck_assert_int_eq(iso_sup_logs(hex(id), &off, &data, &len), 0);
	ck_assert_uint_eq(len, 0);
	free(data);
}
END_TEST

START_TEST(no_such_program_fails)
{
	char *const	 argv[] = { "/nonexistent/prog", NULL };
	uint64_t	 id = spawn(NULL, ISO_RESTART_ALWAYS, argv);
	iso_msg		*row = wait_end(hex(id));

	ck_assert_str_eq(row_str(row, "state"), "failed");
	ck_assert_msg(strstr(row_str(row, "error"), "cannot run") != NULL,
	    "%s", row_str(row, "error"));
	ck_assert_int_eq(row_int(row, "restarts"), 0);
	iso_msg_free(row);
}
END_TEST

START_TEST(kill_immediate_and_graceful)
{
	char *const	 argv[] = { "sleep", "100", NULL };
	uint64_t	 a = spawn("a", ISO_RESTART_ALWAYS, argv);
	uint64_t	 b = spawn("b", ISO_RESTART_ALWAYS, argv);
	iso_msg		*row;
	pid_t		 pid;

	(void)a;
	(void)b;
	/* Wait until each runs (its pid known). */
	for (int i = 0; i < 500; i++) {
		row = list_row("a");
		pid = (pid_t)row_int(row, "pid");
		iso_msg_free(row);
		if (pid > 0)
			break;
		tu_sleep_ms(10);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert(tu_alive(pid));
	ck_assert_int_eq(iso_sup_kill("a", ISO_IMMEDIATE), 0);
	row = wait_end("a");
	ck_assert_str_eq(row_str(row, "state"), "exited");
	ck_assert_int_eq(row_int(row, "signal"), SIGKILL);
	ck_assert_int_eq(row_int(row, "restarts"), 0);
	iso_msg_free(row);
	ck_assert(ended_within(pid, 5000));

	ck_assert_int_eq(iso_sup_kill("b", ISO_BEFORE_NEXT_EVENT), 0);
	row = wait_end("b");
	ck_assert_int_eq(row_int(row, "signal"), SIGTERM);
	iso_msg_free(row);

	ck_assert_int_eq(iso_sup_kill("a", ISO_IMMEDIATE), -1);
	ck_assert_int_eq(errno, ESRCH);
}
END_TEST

START_TEST(unknown_targets_and_bad_spawns)
{
	char *const		 argv[] = { "sleep", "100", NULL };
	char *const		 empty[] = { NULL };
	iso_sup_spawn_opts	 o;
	iso_msg			*m;
	uint64_t		 off = 0;
	char			*data;
	size_t			 len;

	ck_assert_int_eq(iso_sup_kill("nobody", ISO_IMMEDIATE), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(iso_sup_wait("0123456789abcdef", 0, &m), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(iso_sup_logs("nobody", &off, &data, &len), -1);
	ck_assert_int_eq(errno, ENOENT);
	memset(&o, 0, sizeof o);
	o.argv = empty;
	ck_assert_int_eq(iso_sup_spawn(&o, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	(void)spawn("taken", ISO_RESTART_NEVER, argv);
	o.argv = argv;
	o.name = "taken";
	ck_assert_int_eq(iso_sup_spawn(&o, NULL), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_msg(strstr(iso_error(), "taken") != NULL, "%s", iso_error());
	/* A wait that times out leaves it running. */
	ck_assert_int_eq(iso_sup_wait("taken", 50, &m), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(iso_sup_kill("taken", ISO_IMMEDIATE), 0);
}
END_TEST

/* ---- restarts --------------------------------------------------------------- */

START_TEST(on_failure_hits_the_intensity_limit)
{
	char *const		 argv[] = { "sh", "-c", "exit 1", NULL };
	iso_sup_spawn_opts	 o;
	uint64_t		 id;
	iso_msg			*row;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.restart = ISO_RESTART_ON_FAILURE;
	o.backoff_ms = 5;
	o.max_restarts = 3;
	o.period_ms = 60000;
	ck_assert_int_eq(iso_sup_spawn(&o, &id), 0);
	row = wait_end(hex(id));
	ck_assert_str_eq(row_str(row, "state"), "failed");
	ck_assert_int_eq(row_int(row, "restarts"), 3);
	ck_assert_int_eq(row_int(row, "exit_code"), 1);
	ck_assert_msg(strstr(row_str(row, "error"), "restarted 3 times") !=
	    NULL, "%s", row_str(row, "error"));
	iso_msg_free(row);
}
END_TEST

START_TEST(on_failure_leaves_a_clean_exit_alone)
{
	char *const	 argv[] = { "true", NULL };
	uint64_t	 id = spawn(NULL, ISO_RESTART_ON_FAILURE, argv);
	iso_msg		*row = wait_end(hex(id));

	ck_assert_str_eq(row_str(row, "state"), "exited");
	ck_assert_int_eq(row_int(row, "restarts"), 0);
	iso_msg_free(row);
}
END_TEST

START_TEST(always_restarts_until_killed)
{
	char *const	 argv[] = { "sh", "-c", "echo run; exit 0", NULL };
	uint64_t	 id = spawn("loop", ISO_RESTART_ALWAYS, argv), off = 0;
	iso_msg		*row;
	int64_t		 restarts = 0;
	char		*data;
	size_t		 len;

	for (int i = 0; i < 500 && restarts < 2; i++) {
		row = list_row("loop");
		restarts = row_int(row, "restarts");
		iso_msg_free(row);
		tu_sleep_ms(10);
	}
	ck_assert_int_ge(restarts, 2);
	ck_assert_int_eq(iso_sup_kill("loop", ISO_IMMEDIATE), 0);
	row = wait_end("loop");
	ck_assert_str_eq(row_str(row, "state"), "exited");
	iso_msg_free(row);
	/* Every run wrote its line to the same log. */
	ck_assert_int_eq(iso_sup_logs(hex(id), &off, &data, &len), 0);
	ck_assert_uint_ge(len, 3 * 4);
	ck_assert(strncmp(data, "run\nrun\nrun\n", 12) == 0);
	free(data);
}
END_TEST

/* ---- names -------------------------------------------------------------------- */

START_TEST(names_register_lookup_remove)
{
	iso_sendport	 a = { 0x1234, 1, 7 }, got;
	iso_msg		*all;

	/* A port nobody serves is gone at once: use a live supervised
	   program's below; here the table itself. */
	ck_assert_int_eq(iso_sup_register("", a), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_sup_lookup("none", &got), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(iso_sup_unregister("none"), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(iso_sup_names(&all), 0);
	ck_assert_uint_eq(iso_msg_len(all), 0);
	iso_msg_free(all);
}
END_TEST

START_TEST(a_name_goes_with_its_isolate)
{
	char		 prog[PATH_MAX];
	char *const	 argv[] = { prog, "holder", NULL };
	iso_sendport	 got, again = { 1, 1, 1 };
	iso_msg		*all, *row;
	uint64_t	 id;
	int		 r = -1;

	snprintf(prog, sizeof prog, "%s/prog/sup_holder", bindir);
	id = spawn("h", ISO_RESTART_NEVER, argv);
	for (int i = 0; i < 500 && r == -1; i++) {
		r = iso_sup_lookup("holder", &got);
		if (r == -1)
			tu_sleep_ms(10);
	}
	ck_assert_msg(r == 0, "lookup: %s", iso_error());
	/* The program took the id the supervisor gave it. */
	ck_assert_uint_eq(got.isolate, id);
	ck_assert_int_eq(iso_sup_register("holder", again), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(iso_sup_names(&all), 0);
	ck_assert_uint_eq(iso_msg_len(all), 1);
	iso_msg_free(all);
	ck_assert_int_eq(iso_sup_kill("h", ISO_IMMEDIATE), 0);
	row = wait_end("h");
	iso_msg_free(row);
	/* Killed, it left no socket: its name went with it. */
	ck_assert_int_eq(tu_iso_bound(id), 0);
	ck_assert_int_eq(iso_sup_lookup("holder", &got), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* Free to take again, and to remove. */
	ck_assert_int_eq(iso_sup_register("holder", again), 0);
	ck_assert_int_eq(iso_sup_unregister("holder"), 0);
	ck_assert_int_eq(iso_sup_lookup("holder", &got), -1);
}
END_TEST

/* ---- adoption after a crash ----------------------------------------------------- */

START_TEST(sigkill_of_the_supervisor_and_adoption)
{
	char *const	 argv[] = { "sleep", "100", NULL };
	char *const	 quick[] = { "sh", "-c", "sleep 0.3; exit 4", NULL };
	iso_msg		*row, *l;
	pid_t		 sup, pid = 0;
	size_t		 n;

	(void)spawn("long", ISO_RESTART_NEVER, argv);
	(void)spawn("quick", ISO_RESTART_NEVER, quick);
	for (int i = 0; i < 500 && pid <= 0; i++) {
		row = list_row("long");
		pid = (pid_t)row_int(row, "pid");
		iso_msg_free(row);
		if (pid <= 0)
			tu_sleep_ms(10);
	}
	ck_assert_int_gt(pid, 0);
	sup = sup_pid();
	ck_assert_int_eq(kill(sup, SIGKILL), 0);
	ck_assert(ended_within(sup, 5000));
	/* The command runs on without a supervisor... */
	tu_sleep_ms(400);
	ck_assert(tu_alive(pid));
	/* ...and the next one adopts both, once each. */
	ck_assert_int_eq(iso_sup_list(&l), 0);
	n = iso_msg_len(l);
	iso_msg_free(l);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_ne(sup_pid(), sup);
	row = list_row("long");
	ck_assert_str_eq(row_str(row, "state"), "running");
	ck_assert_int_eq(row_int(row, "pid"), pid);
	iso_msg_free(row);
	/* "quick" ended while nobody watched: its status was kept. */
	row = wait_end("quick");
	ck_assert_int_eq(row_int(row, "exit_code"), 4);
	iso_msg_free(row);
	ck_assert_int_eq(iso_sup_kill("long", ISO_IMMEDIATE), 0);
	row = wait_end("long");
	ck_assert_int_eq(row_int(row, "signal"), SIGKILL);
	iso_msg_free(row);
	ck_assert(ended_within(pid, 5000));
}
END_TEST

/* ---- isolates the library forks ------------------------------------------------ */

static void
sleeper(const iso_msg *arg)
{
	(void)arg;
	(void)iso_port_new();	/* an open port keeps it running */
}

START_TEST(library_isolates_are_listed)
{
	iso_isolate	*iso;
	iso_msg		*row = NULL, *l;
	char		 self[17];
	pid_t		 pid;
	size_t		 i;

	ck_assert_int_eq(iso_sup_start(), 0);
	ck_assert_int_eq(iso_spawn(sleeper, NULL, &iso), 0);
	pid = iso_pid(iso);
	/* Announced without a round trip: it shows up soon after. */
	for (int n = 0; n < 500 && row == NULL; n++) {
		ck_assert_int_eq(iso_sup_list(&l), 0);
		for (i = 0; i < iso_msg_len(l); i++)
			if (row_int(iso_msg_at(l, i), "pid") == pid)
				row = iso_msg_copy(iso_msg_at(l, i));
		iso_msg_free(l);
		if (row == NULL)
			tu_sleep_ms(10);
	}
	ck_assert_ptr_nonnull(row);
	ck_assert_str_eq(row_str(row, "kind"), "isolate");
	ck_assert_str_eq(row_str(row, "state"), "running");
	snprintf(self, sizeof self, "%016" PRIx64, loop_self());
	ck_assert_str_eq(row_str(row, "parent"), self);
	/* Static, not exported (this program is not linked with
	   -rdynamic): named from the program's .symtab. */
	ck_assert_str_eq(row_str(row, "entry"), "sleeper");
	{
		/* Without a name it goes by its entry in ps --name. */
		iso_sup_list_opts	 lo = { .name = "sleep*" };
		iso_msg			*fl = NULL;

		ck_assert_int_eq(iso_sup_list_filter(&lo, &fl), 0);
		ck_assert_int_eq(iso_msg_len(fl), 1);
		ck_assert_str_eq(row_str(iso_msg_at(fl, 0), "entry"), "sleeper");
		iso_msg_free(fl);
	}
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	iso_msg_free(row);
	{
		char	id[17];
		iso_msg	*end;

		ck_assert_int_eq(iso_sup_list(&l), 0);
		id[0] = '\0';
		for (i = 0; i < iso_msg_len(l); i++)
			if (row_int(iso_msg_at(l, i), "pid") == pid)
				snprintf(id, sizeof id, "%s",
				    row_str(iso_msg_at(l, i), "id"));
		iso_msg_free(l);
		end = wait_end(id);
		ck_assert_str_eq(row_str(end, "state"), "exited");
		ck_assert_int_eq(row_int(end, "signal"), SIGKILL);
		iso_msg_free(end);
	}
}
END_TEST

START_TEST(a_stuck_supervisor_never_blocks_a_spawn)
{
	struct sockaddr_un	 sun;
	iso_isolate		*iso;
	int			 lfd, fds[16], n = 0, i;

	/* A "supervisor" that listens but never accepts, its backlog full. */
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/supervisor.sock", rt);
	ck_assert_int_ge(lfd = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(lfd, 0), 0);
	for (i = 0; i < 16; i++) {
		fds[n] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (connect(fds[n], (struct sockaddr *)&sun, sizeof sun) == -1) {
			close(fds[n]);
			break;
		}
		n++;
	}
	ck_assert_int_lt(n, 16);
	/* The announcement finds no room and gives up at once. */
	alarm(10);
	ck_assert_int_eq(iso_spawn(sleeper, NULL, &iso), 0);
	alarm(0);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	for (i = 0; i < n; i++)
		close(fds[i]);
	close(lfd);
	(void)unlink(sun.sun_path);
}
END_TEST

/*
 * A "supervisor" in a child of ours that takes one connection and goes
 * away without answering: with read_whole 0 leaving it in its listener's
 * backlog (as a killed supervisor's listener does while a process forked
 * from it still holds it), else after reading the request whole. Its pid.
 */
static pid_t
fake_supervisor(int read_whole)
{
	struct sockaddr_un	 sun;
	struct pollfd		 pfd;
	iso_msg			*req;
	pid_t			 pid;
	int			 lfd, fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/supervisor.sock", rt);
	(void)unlink(sun.sun_path);
	ck_assert_int_ge(lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
	    0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		pfd.fd = lfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 10000) != 1)
			_exit(1);
		if (read_whole && ((fd = accept(lfd, NULL, NULL)) == -1 ||
		    iso_msg_read(fd, &req) != 1))
			_exit(1);
		_exit(0);
	}
	close(lfd);
	return (pid);
}

static void
fake_supervisor_done(pid_t pid)
{
	int	status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

START_TEST(a_request_the_supervisor_never_read_is_sent_again)
{
	char *const		 argv[] = { "sleep", "100", NULL };
	iso_sup_spawn_opts	 o;
	iso_msg			*l;
	pid_t			 pid;

	/* Reset with the request unread: nothing was done, so even a spawn
	   is sent again, to a supervisor started for it, and runs once. */
	pid = fake_supervisor(0);
	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "once";
	ck_assert_msg(iso_sup_spawn(&o, NULL) == 0, "spawn: %s", iso_error());
	fake_supervisor_done(pid);
	ck_assert_int_eq(iso_sup_list(&l), 0);
	ck_assert_uint_eq(iso_msg_len(l), 1);
	iso_msg_free(l);
	ck_assert_int_eq(iso_sup_stop(), 0);

	/* Gone after reading it: a spawn may have run, so it is not sent
	   again... */
	pid = fake_supervisor(1);
	o.name = "maybe";
	ck_assert_int_eq(iso_sup_spawn(&o, NULL), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	fake_supervisor_done(pid);
	/* ...but a question is. */
	pid = fake_supervisor(1);
	ck_assert_msg(iso_sup_list(&l) == 0, "list: %s", iso_error());
	iso_msg_free(l);
	fake_supervisor_done(pid);
	ck_assert_ptr_null(list_row("maybe"));
}
END_TEST

START_TEST(an_end_is_told_to_a_restarted_supervisor)
{
	iso_isolate	*iso;
	iso_msg		*l, *row = NULL;
	char		 id[17] = "";
	pid_t		 pid, sup;
	size_t		 i;

	ck_assert_int_eq(iso_sup_start(), 0);
	ck_assert_int_eq(iso_spawn(sleeper, NULL, &iso), 0);
	pid = iso_pid(iso);
	for (int n = 0; n < 500 && id[0] == '\0'; n++) {
		ck_assert_int_eq(iso_sup_list(&l), 0);
		for (i = 0; i < iso_msg_len(l); i++)
			if (row_int(iso_msg_at(l, i), "pid") == pid)
				snprintf(id, sizeof id, "%s",
				    row_str(iso_msg_at(l, i), "id"));
		iso_msg_free(l);
		if (id[0] == '\0')
			tu_sleep_ms(10);
	}
	ck_assert_str_ne(id, "");
	sup = sup_pid();
	ck_assert_int_eq(kill(sup, SIGKILL), 0);
	ck_assert(ended_within(sup, 5000));
	ck_assert_int_eq(iso_sup_start(), 0);
	/* Ended by its spawner: the new supervisor hears how. */
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	for (int n = 0; n < 500; n++) {
		iso_msg_free(row);
		row = list_row(id);
		ck_assert_ptr_nonnull(row);
		if (row_int(row, "signal") == SIGKILL)
			break;
		tu_sleep_ms(10);
	}
	ck_assert_str_eq(row_str(row, "state"), "exited");
	ck_assert_int_eq(row_int(row, "signal"), SIGKILL);
	iso_msg_free(row);
}
END_TEST

/* ---- hostile clients ---------------------------------------------------------- */

static int
raw_connect(void)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/supervisor.sock", rt);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	return (fd);
}

/* Write raw bytes, read one reply frame: its "errno", or "" when the
   connection closed without one. */
static const char *
raw_exchange(int fd, const void *bytes, size_t n, char *buf, size_t len)
{
	iso_msg		*rep;
	const char	*e = "";

	ck_assert_int_eq(send(fd, bytes, n, MSG_NOSIGNAL), (ssize_t)n);
	if (iso_msg_read(fd, &rep) != 1) {
		buf[0] = '\0';
		return (buf);
	}
	(void)iso_msg_unpack(rep, "{s?s}", "errno", &e);
	snprintf(buf, len, "%s", e);
	iso_msg_free(rep);
	return (buf);
}

/* Send req (freed) as a frame on fd; the reply's "errno" ("" if none). */
static const char *
raw_request(int fd, iso_msg *req, char *buf, size_t len)
{
	unsigned char	*frame;
	void		*p;
	size_t		 n;
	const char	*e;

	ck_assert_ptr_nonnull(req);
	ck_assert_int_eq(iso_msg_encode(req, &p, &n), 0);
	iso_msg_free(req);
	ck_assert_ptr_nonnull(frame = malloc(n + 4));
	frame[0] = (unsigned char)(n >> 24);
	frame[1] = (unsigned char)(n >> 16);
	frame[2] = (unsigned char)(n >> 8);
	frame[3] = (unsigned char)n;
	memcpy(frame + 4, p, n);
	free(p);
	e = raw_exchange(fd, frame, n + 4, buf, len);
	free(frame);
	return (e);
}

/* Send req (freed) as a frame on fd; the reply's "error" text. */
static const char *
raw_error(int fd, iso_msg *req, char *buf, size_t len)
{
	iso_msg		*rep;
	const char	*e = "";
	void		*p;
	size_t		 n;
	unsigned char	 hdr[4];

	ck_assert_ptr_nonnull(req);
	ck_assert_int_eq(iso_msg_encode(req, &p, &n), 0);
	iso_msg_free(req);
	hdr[0] = (unsigned char)(n >> 24);
	hdr[1] = (unsigned char)(n >> 16);
	hdr[2] = (unsigned char)(n >> 8);
	hdr[3] = (unsigned char)n;
	ck_assert_int_eq(send(fd, hdr, 4, MSG_NOSIGNAL | MSG_MORE), 4);
	ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
	free(p);
	ck_assert_int_eq(iso_msg_read(fd, &rep), 1);
	(void)iso_msg_unpack(rep, "{s?s}", "error", &e);
	snprintf(buf, len, "%s", e);
	iso_msg_free(rep);
	return (buf);
}

/* Every target is resolved by the same rules: a name (before an id,
   running before ended), an id, a live isolate's pid, name@ and
   name@this-node; name@another-node is no such node. */
START_TEST(targets_resolve_alike)
{
	char *const	 argv[] = { "sleep", "100", NULL };
	char		 t[128], host[256], buf[256];
	uint64_t	 a, b;
	iso_msg		*row, *m;
	int64_t		 pid;
	int		 fd;

	a = spawn("first", ISO_RESTART_NEVER, argv);
	/* A second one named as the first's id: the name wins. */
	b = spawn(hex(a), ISO_RESTART_NEVER, argv);
	ck_assert_int_eq(iso_sup_kill(hex(a), ISO_IMMEDIATE), 0);
	row = wait_end(hex(b));
	ck_assert_str_eq(row_str(row, "id"), hex(b));
	iso_msg_free(row);
	row = list_row("first");
	ck_assert_ptr_nonnull(row);
	ck_assert_str_eq(row_str(row, "id"), hex(a));
	ck_assert_str_eq(row_str(row, "state"), "running");
	ck_assert_int_gt(pid = row_int(row, "pid"), 0);
	iso_msg_free(row);

	/* Its pid, in decimal. */
	snprintf(t, sizeof t, "%" PRId64, pid);
	ck_assert_int_eq(iso_sup_wait(t, 0, &m), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	/* name@ and name@this node are the name. */
	ck_assert_int_eq(iso_sup_wait("first@", 0, &m), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(gethostname(host, sizeof host - 1), 0);
	host[sizeof host - 1] = '\0';
	snprintf(t, sizeof t, "first@%s", host);
	ck_assert_int_eq(iso_sup_wait(t, 0, &m), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	/* Another node: none, whatever the request. */
	ck_assert_int_eq(iso_sup_kill("first@elsewhere", ISO_IMMEDIATE), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_msg(strstr(iso_error(), "no node \"elsewhere\"") != NULL,
	    "%s", iso_error());
	ck_assert_int_eq(iso_sup_send("first@elsewhere", m = iso_msg_pack("i",
	    1)), -1);
	iso_msg_free(m);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_msg(strstr(iso_error(), "no node") != NULL, "%s",
	    iso_error());

	/* The pid of an ended isolate names nothing. */
	ck_assert_int_eq(iso_sup_kill("first", ISO_IMMEDIATE), 0);
	iso_msg_free(wait_end("first"));
	snprintf(t, sizeof t, "%" PRId64, pid);
	ck_assert_int_eq(iso_sup_wait(t, 0, &m), -1);
	ck_assert_int_eq(errno, ENOENT);

	/* A bad request is one line naming the op and the field. */
	fd = raw_connect();
	ck_assert_str_eq(raw_error(fd, iso_msg_pack("{s:s}", "op", "kill"),
	    buf, sizeof buf), "kill: want a \"target\" string");
	ck_assert_str_eq(raw_error(fd, iso_msg_pack("{s:s s:s s:s}", "op",
	    "wait", "target", "first", "timeout_ms", "soon"), buf, sizeof buf),
	    "wait: want \"timeout_ms\" an integer");
	ck_assert_str_eq(raw_error(fd, iso_msg_pack("{s:s s:[s] s:s}", "op",
	    "spawn", "argv", "true", "restart", "sometimes"), buf, sizeof buf),
	    "spawn: want \"restart\" one of never, on-failure, always, not "
	    "\"sometimes\"");
	ck_assert_str_eq(raw_error(fd, iso_msg_pack("{s:s s:[s] s:i}", "op",
	    "spawn", "argv", "true", "mailbox", 2000000), buf, sizeof buf),
	    "spawn: want \"mailbox\" an integer from 0 to 1000000");
	close(fd);
}
END_TEST

static void
assert_serving(void)
{
	iso_msg	*st;

	ck_assert_msg(iso_sup_status(&st) == 0, "status: %s", iso_error());
	iso_msg_free(st);
}

START_TEST(hostile_frames_get_errors)
{
	static const unsigned char huge[] = { 0xff, 0xff, 0xff, 0xff };
	static const unsigned char zero[] = { 0, 0, 0, 0 };
	static const unsigned char junk[] = { 0, 0, 0, 1, 0xc1 };
	static const unsigned char notmap[] = { 0, 0, 0, 1, 0x05 };
	char		 buf[64];
	int		 fd;
	iso_msg		*m;
	void		*p;
	size_t		 n;
	unsigned char	 frame[256];

	ck_assert_int_eq(iso_sup_start(), 0);
	fd = raw_connect();
	ck_assert_str_eq(raw_exchange(fd, huge, 4, buf, sizeof buf),
	    "EMSGSIZE");
	close(fd);
	fd = raw_connect();
	ck_assert_str_eq(raw_exchange(fd, zero, 4, buf, sizeof buf),
	    "EBADMSG");
	close(fd);
	fd = raw_connect();
	ck_assert_str_eq(raw_exchange(fd, junk, 5, buf, sizeof buf),
	    "EBADMSG");
	close(fd);
	/* Well-formed but wrong: the connection stays usable. */
	fd = raw_connect();
	ck_assert_str_eq(raw_exchange(fd, notmap, 5, buf, sizeof buf),
	    "EINVAL");
	m = iso_msg_pack("{s:s}", "op", "frobnicate");
	ck_assert_int_eq(iso_msg_encode(m, &p, &n), 0);
	frame[0] = frame[1] = frame[2] = 0;
	frame[3] = (unsigned char)n;
	memcpy(frame + 4, p, n);
	free(p);
	iso_msg_free(m);
	ck_assert_str_eq(raw_exchange(fd, frame, n + 4, buf, sizeof buf),
	    "EINVAL");
	m = iso_msg_pack("{s:s s:i}", "op", "kill", "target", 5);
	ck_assert_int_eq(iso_msg_encode(m, &p, &n), 0);
	frame[3] = (unsigned char)n;
	memcpy(frame + 4, p, n);
	free(p);
	iso_msg_free(m);
	ck_assert_str_eq(raw_exchange(fd, frame, n + 4, buf, sizeof buf),
	    "EINVAL");
	m = iso_msg_pack("{s:s s:[i]}", "op", "spawn", "argv", 5);
	ck_assert_int_eq(iso_msg_encode(m, &p, &n), 0);
	frame[3] = (unsigned char)n;
	memcpy(frame + 4, p, n);
	free(p);
	iso_msg_free(m);
	ck_assert_str_eq(raw_exchange(fd, frame, n + 4, buf, sizeof buf),
	    "EINVAL");
	/* Optional fields of the wrong type are errors, not defaults. */
	{
		char *const	 argv[] = { "sleep", "100", NULL };

		(void)spawn("s", ISO_RESTART_NEVER, argv);
	}
	ck_assert_str_eq(raw_request(fd, iso_msg_pack("{s:s s:s s:i}", "op",
	    "kill", "target", "s", "graceful", 1), buf, sizeof buf), "EINVAL");
	ck_assert_str_eq(raw_request(fd, iso_msg_pack("{s:s s:s s:s}", "op",
	    "wait", "target", "s", "timeout_ms", "soon"), buf, sizeof buf),
	    "EINVAL");
	ck_assert_str_eq(raw_request(fd, iso_msg_pack("{s:s s:s s:i}", "op",
	    "logs", "target", "s", "offset", -1), buf, sizeof buf), "EINVAL");
	ck_assert_str_eq(raw_request(fd, iso_msg_pack("{s:s s:[s] s:s}", "op",
	    "compute", "argv", "true", "timeout_ms", "x"), buf, sizeof buf),
	    "EINVAL");
	ck_assert_str_eq(raw_request(fd, iso_msg_pack("{s:s s:s s:s s:i}",
	    "op", "compute", "module", "/m.so", "function", "f", "workers", 0),
	    buf, sizeof buf), "EINVAL");
	ck_assert_str_eq(raw_request(fd, iso_msg_pack("{s:s s:s s:s s:i}",
	    "op", "compute", "module", "/m.so", "function", "f", "fresh", 1),
	    buf, sizeof buf), "EINVAL");
	ck_assert_str_eq(raw_request(fd, iso_msg_pack("{s:s s:[s] s:b s:b}",
	    "op", "compute", "argv", "true", "fresh", 1, "warm", 1), buf,
	    sizeof buf), "EINVAL");
	ck_assert_str_eq(raw_request(fd, iso_msg_pack("{s:s s:[s] s:s}",
	    "op", "compute", "argv", "true", "cwd", "tmp"), buf, sizeof buf),
	    "EINVAL");
	ck_assert_str_eq(raw_request(fd, iso_msg_pack("{s:s s:s s:b}", "op",
	    "take", "target", "s", "max", 1), buf, sizeof buf), "EINVAL");
	ck_assert_str_eq(raw_request(fd, iso_msg_pack("{s:s s:[s] s:i}", "op",
	    "spawn", "argv", "true", "lines", 1), buf, sizeof buf), "EINVAL");
	/* An option this supervisor does not know (a newer client's: a
	   sandbox, a limit) is refused, never run without. */
	ck_assert_str_eq(raw_request(fd, iso_msg_pack("{s:s s:[s] s:s}", "op",
	    "spawn", "argv", "true", "jail", "tight"), buf, sizeof buf),
	    "EINVAL");
	ck_assert_ptr_nonnull(strstr(raw_error(fd, iso_msg_pack(
	    "{s:s s:[s] s:s}", "op", "compute", "argv", "true", "jail",
	    "tight"), buf, sizeof buf), "unknown field \"jail\""));
	/* An attach for no --lines command: nothing more is read from that
	   connection (what would follow is a program's output). */
	{
		iso_msg	*a = iso_msg_pack("{s:s s:s}", "op", "attach", "id",
		    "0123456789abcdef"), *st = iso_msg_pack("{s:s}", "op",
		    "status"), *rep = NULL;
		int	 fd2 = raw_connect();

		int	 r;

		r = iso_msg_write(fd2, a);
		/* This may find the connection closed already. */
		(void)iso_msg_write(fd2, st);
		iso_msg_free(a);
		iso_msg_free(st);
		ck_assert_int_eq(r, 0);
		r = iso_msg_read(fd2, &rep);
		iso_msg_free(rep);
		close(fd2);
		ck_assert_int_le(r, 0);		/* closed, no answer */
	}
	/* ...and it still runs. */
	{
		iso_msg	*row = list_row("s");

		ck_assert_str_eq(row_str(row, "state"), "running");
		iso_msg_free(row);
	}
	close(fd);
	assert_serving();
}
END_TEST

START_TEST(random_requests_do_not_hurt)
{
	static const char *const ops[] = { "spawn", "list", "kill", "wait",
	    "logs", "send", "take", "recv", "register", "lookup",
	    "unregister", "names", "compute", "status", "attach", "spawned",
	    "exited", "nope" };
	static const char *const keys[] = { "target", "argv", "name", "env",
	    "cwd", "restart", "timeout_ms", "offset", "max", "message", "port",
	    "id", "pid", "graceful", "lines", "mailbox", "module", "function",
	    "arg" };
	unsigned	 seed = 12345;
	char		 buf[64];
	int		 fd, i, k;

	ck_assert_int_eq(iso_sup_start(), 0);
	for (i = 0; i < 300; i++) {
		const char	*op = ops[rand_r(&seed) % (sizeof ops /
		    sizeof ops[0])];
		iso_msg		*req = iso_msg_pack("{s:s}", "op", op);

		for (k = rand_r(&seed) % 4; k > 0; k--) {
			iso_msg	*v;

			switch (rand_r(&seed) % 6) {
			case 0: v = iso_msg_pack("i", rand_r(&seed) - 5); break;
			case 1: v = iso_msg_pack("s", "x"); break;
			case 2: v = iso_msg_pack("[s]", "true"); break;
			case 3: v = iso_msg_pack("n"); break;
			case 4: v = iso_msg_pack("b", 1); break;
			default: v = iso_msg_pack("{s:i}", "a", 1); break;
			}
			ck_assert_int_eq(iso_msg_put(req, iso_msg_pack("s",
			    keys[rand_r(&seed) % (sizeof keys / sizeof
			    keys[0])]), v), 0);
		}
		fd = raw_connect();
		{
			struct timeval	tv = { 2, 0 };

			/* Waits and notifications get no answer: don't hang. */
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		}
		if (strcmp(op, "spawned") == 0 || strcmp(op, "exited") == 0 ||
		    strcmp(op, "attach") == 0) {
			/* Notifications: no answer to wait for. */
			void	*p;
			size_t	 n;
			unsigned char hdr[4];

			ck_assert_int_eq(iso_msg_encode(req, &p, &n), 0);
			iso_msg_free(req);
			hdr[0] = (unsigned char)(n >> 24);
			hdr[1] = (unsigned char)(n >> 16);
			hdr[2] = (unsigned char)(n >> 8);
			hdr[3] = (unsigned char)n;
			(void)!write(fd, hdr, 4);
			(void)!write(fd, p, n);
			free(p);
		} else
			(void)raw_request(fd, req, buf, sizeof buf);
		close(fd);
	}
	assert_serving();
}
END_TEST

START_TEST(vanished_and_idle_clients)
{
	static const unsigned char half[] = { 0, 0, 0, 9, 0x81 };
	struct rlimit	 rl;
	int		*fds, n = 0, want = 2000, i, fd;
	iso_msg		*m;

	ck_assert_int_eq(iso_sup_start(), 0);
	/* Half a frame, then gone. */
	fd = raw_connect();
	ck_assert_int_eq(send(fd, half, sizeof half, MSG_NOSIGNAL), 5);
	close(fd);
	/* A wait whose client goes away. */
	{
		char *const	argv[] = { "sleep", "100", NULL };
		unsigned char	frame[256];
		void		*p;
		size_t		 len;

		(void)spawn("w", ISO_RESTART_NEVER, argv);
		m = iso_msg_pack("{s:s s:s s:i}", "op", "wait", "target", "w",
		    "timeout_ms", -1);
		ck_assert_int_eq(iso_msg_encode(m, &p, &len), 0);
		iso_msg_free(m);
		frame[0] = frame[1] = frame[2] = 0;
		frame[3] = (unsigned char)len;
		memcpy(frame + 4, p, len);
		free(p);
		fd = raw_connect();
		ck_assert_int_eq(send(fd, frame, len + 4, MSG_NOSIGNAL),
		    (ssize_t)(len + 4));
		tu_sleep_ms(50);
		close(fd);
		ck_assert_int_eq(iso_sup_kill("w", ISO_IMMEDIATE), 0);
		iso_msg_free(wait_end("w"));
	}
	/* A computation whose client goes away: the result has nobody to
	   go to, and the supervisor carries on. */
	{
		unsigned char	frame[256];
		void		*p;
		size_t		 len;

		m = iso_msg_pack("{s:s s:[s s] s:i}", "op", "compute", "argv",
		    "sleep", "0.3", "timeout_ms", 5000);
		ck_assert_int_eq(iso_msg_encode(m, &p, &len), 0);
		iso_msg_free(m);
		frame[0] = frame[1] = frame[2] = 0;
		frame[3] = (unsigned char)len;
		memcpy(frame + 4, p, len);
		free(p);
		fd = raw_connect();
		ck_assert_int_eq(send(fd, frame, len + 4, MSG_NOSIGNAL),
		    (ssize_t)(len + 4));
		tu_sleep_ms(50);
		close(fd);
		tu_sleep_ms(500);
		assert_serving();
	}
	/* Thousands of idle connections. */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < (rlim_t)want + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)want + 64 ? rl.rlim_max :
		    (rlim_t)want + 64;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((rlim_t)want + 64 > rl.rlim_cur)
		want = (int)rl.rlim_cur - 64;
	ck_assert_ptr_nonnull(fds = calloc((size_t)want, sizeof *fds));
	for (i = 0; i < want; i++) {
		fds[i] = raw_connect();
		n++;
	}
	assert_serving();
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	assert_serving();
}
END_TEST

START_TEST(a_peer_of_another_uid_is_refused)
{
	struct passwd	*pw;
	char		 sock[PATH_MAX];
	pid_t		 pid;
	int		 status;

	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		fprintf(stderr, "check_sup: skipped a_peer_of_another_uid_"
		    "is_refused: needs root and a user nobody\n");
		return;
	}
	ck_assert_int_eq(iso_sup_start(), 0);
	/* Let nobody reach the socket, so that only SO_PEERCRED stops it. */
	snprintf(sock, sizeof sock, "%s/supervisor.sock", rt);
	ck_assert_int_eq(chmod(rt, 0711), 0);
	ck_assert_int_eq(chmod(sock, 0777), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sockaddr_un	sun;
		char			buf[512];
		ssize_t			r, got = 0;
		int			fd;

		if (setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
			_exit(10);
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
			_exit(11);
		(void)!write(fd, "\0\0\0\1\xc0", 5);
		/* Refused: told why, and closed. */
		while ((r = read(fd, buf + got, sizeof buf - (size_t)got)) > 0)
			got += r;
		_exit(memmem(buf, (size_t)got, "not uid 65534", 13)
		    != NULL ? 0 : 12);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(chmod(rt, 0700), 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %d", status);
	assert_serving();
}
END_TEST

/* ---- the runtime directory: sweeping, spawners' ends, planted files ---- */

/* Sockets of isolates as an older library made them ("<16 hex>.sock")
   and temporary binds in rt. */
static int
stale_candidates(void)
{
	struct dirent	*e;
	DIR		*d;
	size_t		 len;
	int		 n = 0;

	if ((d = opendir(rt)) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if ((len == 21 && strcmp(e->d_name + 16, ".sock") == 0) ||
		    (len > 4 && strcmp(e->d_name + len - 4, ".new") == 0))
			n++;
	}
	closedir(d);
	return (n);
}

/* Bind a socket at rt/name and close it: what a SIGKILL leaves. */
static void
plant_stale(const char *name)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/%s", rt, name);
	ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);
}

/* 1 if rt/name exists (not followed). */
static int
present(const char *name)
{
	char		path[PATH_MAX];
	struct stat	st;

	snprintf(path, sizeof path, "%s/%s", rt, name);
	return (lstat(path, &st) == 0);
}

START_TEST(stale_entries_are_swept_at_start)
{
	struct sockaddr_un	sun;
	char			path[PATH_MAX], dead[64];
	int			live, fd, status;
	pid_t			pid;

	/* A pid that was and is no more. */
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	plant_stale("00000000000000a1.sock");
	snprintf(dead, sizeof dead, "00000000000000a2.%d.new", (int)pid);
	plant_stale(dead);
	/* A socket still served, a symlink and a file named like one. */
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path,
	    "%s/00000000000000a3.sock", rt);
	ck_assert_int_ge(live = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(live, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(live, 8), 0);
	snprintf(path, sizeof path, "%s/00000000000000a4.sock", rt);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	snprintf(path, sizeof path, "%s/00000000000000a5.sock", rt);
	ck_assert_int_ge(fd = open(path, O_CREAT | O_WRONLY, 0600), 0);
	close(fd);

	ck_assert_int_eq(iso_sup_start(), 0);
	ck_assert(!present("00000000000000a1.sock"));
	ck_assert(!present(dead));
	ck_assert(present("00000000000000a3.sock"));
	ck_assert(present("00000000000000a4.sock"));
	ck_assert(present("00000000000000a5.sock"));
	close(live);
}
END_TEST

/* Run the sup_spawner at path (prog/sup_spawner, or a copy) n mode; its
   pid, its isolate id in id once it says its isolates listen. */
static pid_t
run_spawner_at(const char *path, int n, const char *mode, char id[17])
{
	char	count[16], line[64];
	int	p[2];
	ssize_t	r;
	size_t	got = 0;
	pid_t	pid;

	snprintf(count, sizeof count, "%d", n);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		dup2(p[1], 1);
		execl(path, "sup_spawner", count, mode, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	while (got < sizeof line - 1 && (r = read(p[0], line + got,
	    sizeof line - 1 - got)) > 0 && memchr(line, '\n', got + r) ==
	    NULL)
		got += (size_t)r;
	if (r > 0)
		got += (size_t)r;
	close(p[0]);
	line[got] = '\0';
	ck_assert_msg(strncmp(line, "ready ", 6) == 0 && got >= 22, "%s",
	    line);
	memcpy(id, line + 6, 16);
	id[16] = '\0';
	return (pid);
}

static pid_t
run_spawner(int n, const char *mode, char id[17])
{
	char	path[PATH_MAX];

	snprintf(path, sizeof path, "%s/prog/sup_spawner", bindir);
	return (run_spawner_at(path, n, mode, id));
}

/* The rows whose parent is id, once there are n and all have ended
   (within 10 s); owned. */
static iso_msg *
children_ended(const char *id, int n)
{
	iso_msg	*l, *rows;
	size_t	 i;
	int	 tries, ended;

	for (tries = 0; tries < 1000; tries++) {
		ck_assert_int_eq(iso_sup_list(&l), 0);
		ck_assert_ptr_nonnull(rows = iso_msg_pack("[]"));
		ended = 0;
		for (i = 0; i < iso_msg_len(l); i++) {
			const iso_msg	*r = iso_msg_at(l, i);
			const char	*parent = row_str(r, "parent");

			if (parent == NULL || strcmp(parent, id) != 0)
				continue;
			ck_assert_int_eq(iso_msg_append(rows,
			    iso_msg_copy(r)), 0);
			if (strcmp(row_str(r, "state"), "exited") == 0)
				ended++;
		}
		iso_msg_free(l);
		if (ended == n && (int)iso_msg_len(rows) == n)
			return (rows);
		iso_msg_free(rows);
		tu_sleep_ms(10);
	}
	ck_abort_msg("the isolates of %s did not all end", id);
	return (NULL);
}

static int
row_true(const iso_msg *row, const char *key)
{
	int	b = 0;

	return (iso_msg_unpack(row, "{s:b}", key, &b) == 0 && b);
}

START_TEST(a_killed_spawner_leaves_no_socket_and_its_isolates_end_with_it)
{
	iso_msg	*rows;
	char	 id[17];
	pid_t	 pid;
	int	 status;
	size_t	 i;

	ck_assert_int_eq(iso_sup_start(), 0);
	pid = run_spawner(3, "wait", id);
	/* Listening, and no file for it. */
	ck_assert_int_eq(tu_iso_bound(strtoull(id, NULL, 16)), 1);
	ck_assert_int_eq(stale_candidates(), 0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	rows = children_ended(id, 3);
	for (i = 0; i < 3; i++) {
		char *js = iso_msg_to_json(iso_msg_at(rows, i));
		ck_assert_msg(row_true(iso_msg_at(rows, i),
		    "ended_with_spawner"), "row %zu: %s", i, js);
		free(js);
		ck_assert_str_eq(row_str(iso_msg_at(rows, i), "state"),
		    "exited");
		ck_assert_int_eq(tu_iso_bound(strtoull(row_str(iso_msg_at(rows,
		    i), "id"), NULL, 16)), 0);
	}
	iso_msg_free(rows);
	/* The spawner's name and its isolates' went with them. */
	ck_assert_int_eq(tu_iso_bound(strtoull(id, NULL, 16)), 0);
	ck_assert_int_eq(stale_candidates(), 0);
	assert_serving();
}
END_TEST

/* Run the spawner at path with one isolate, let it end; the entry of
   that isolate's row, owned. */
static char *
spawner_entry(const char *path)
{
	iso_msg	*rows;
	char	 id[17], *entry;
	pid_t	 pid;
	int	 status;

	pid = run_spawner_at(path, 1, "exit", id);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rows = children_ended(id, 1);
	ck_assert_ptr_nonnull(entry = strdup(row_str(iso_msg_at(rows, 0),
	    "entry")));
	iso_msg_free(rows);
	return (entry);
}

/* strip -o dst src (strip is binutils', which make deps installs). */
static void
strip_to(const char *src, const char *dst)
{
	pid_t	pid;
	int	status;

	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		execlp("strip", "strip", "-o", dst, src, (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "strip -o %s %s failed", dst, src);
}

START_TEST(entries_are_named_by_their_symbol)
{
	char		  path[PATH_MAX], copy[PATH_MAX], self[17], *entry;
	void		(*(*get)(void))(const iso_msg *);
	iso_isolate	 *iso;
	iso_msg		 *rows;
	void		 *so;

	ck_assert_int_eq(iso_sup_start(), 0);
	/* A static entry of a PIE (ET_DYN) and of a fixed-address program
	   (ET_EXEC), neither linked with -rdynamic: named by its symbol. */
	snprintf(path, sizeof path, "%s/prog/sup_spawner_nopie", bindir);
	entry = spawner_entry(path);
	ck_assert_str_eq(entry, "child");
	free(entry);
	snprintf(path, sizeof path, "%s/prog/sup_spawner", bindir);
	entry = spawner_entry(path);
	ck_assert_str_eq(entry, "child");
	free(entry);
	/* Stripped: no table names it, so where it is (argv[0]+offset). */
	snprintf(copy, sizeof copy, "%s/stripped", rt);
	strip_to(path, copy);
	entry = spawner_entry(copy);
	ck_assert_msg(strncmp(entry, "sup_spawner+0x", 14) == 0, "%s", entry);
	free(entry);
	/* A static entry in a shared object. */
	snprintf(path, sizeof path, "%s/prog/mod_entries", bindir);
	ck_assert_msg((so = dlopen(path, RTLD_NOW | RTLD_LOCAL)) != NULL,
	    "%s", dlerror());
	ck_assert_ptr_nonnull(get = (void (*(*)(void))(const iso_msg *))
	    dlsym(so, "mod_entry"));
	ck_assert_int_eq(iso_spawn(get(), NULL, &iso), 0);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	snprintf(self, sizeof self, "%016" PRIx64, loop_self());
	rows = children_ended(self, 1);
	ck_assert_str_eq(row_str(iso_msg_at(rows, 0), "entry"),
	    "entry_in_a_module");
	iso_msg_free(rows);
	dlclose(so);
}
END_TEST

START_TEST(a_spawner_that_ends_takes_its_isolates_with_it)
{
	iso_msg		*rows, *row;
	iso_isolate	*iso;
	char		 id[17], self[17];
	pid_t		 pid;
	int		 status;
	size_t		 i;

	ck_assert_int_eq(iso_sup_start(), 0);
	pid = run_spawner(2, "exit", id);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rows = children_ended(id, 2);
	for (i = 0; i < 2; i++) {
		row = iso_msg_at(rows, i);
		ck_assert(row_true(row, "ended_with_spawner"));
		ck_assert_int_eq(row_int(row, "signal"), SIGKILL);
	}
	iso_msg_free(rows);
	ck_assert_int_eq(stale_candidates(), 0);
	/* One killed by its spawner's own hand is not "with its spawner". */
	ck_assert_int_eq(iso_spawn(sleeper, NULL, &iso), 0);
	snprintf(self, sizeof self, "%016" PRIx64, loop_self());
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	rows = children_ended(self, 1);
	ck_assert(!row_true(iso_msg_at(rows, 0), "ended_with_spawner"));
	ck_assert_int_eq(row_int(iso_msg_at(rows, 0), "signal"), SIGKILL);
	iso_msg_free(rows);
}
END_TEST

START_TEST(its_own_log_is_rotated_while_it_runs)
{
	char *const	 yes[] = { "true", NULL };
	char		 cmd[PATH_MAX * 2], path[PATH_MAX];
	struct stat	 st;
	int		 status, i;

	snprintf(cmd, sizeof cmd, "'%s' --log-max 1024 2>/dev/null",
	    getenv("ISO_ISOLATED"));
	status = system(cmd);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Each command logs two lines of about 80 bytes. */
	for (i = 0; i < 30; i++)
		iso_msg_free(wait_end(hex(spawn(NULL, ISO_RESTART_NEVER,
		    yes))));
	snprintf(path, sizeof path, "%s/supervisor/isolated.log", rt);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_le(st.st_size, 1024 + 256);
	snprintf(path, sizeof path, "%s/supervisor/isolated.log.1", rt);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_ge(st.st_size, 1024);
	ck_assert_int_le(st.st_size, 1024 + 256);
}
END_TEST

/* Start isolated by hand (detached, as a user would): its exit status;
   its error line in err. */
static int
start_by_hand(char *err, size_t len)
{
	char	cmd[PATH_MAX * 2];
	FILE	*f;
	size_t	n;
	int	status;

	snprintf(cmd, sizeof cmd, "'%s' 2>&1", getenv("ISO_ISOLATED"));
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	n = fread(err, 1, len - 1, f);
	err[n] = '\0';
	status = pclose(f);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : 128);
}

START_TEST(planted_symlinks_are_not_followed)
{
	char	outside[64], path[PATH_MAX], target[PATH_MAX], err[512];
	iso_port *p;
	struct stat st;
	int	fd;

	snprintf(outside, sizeof outside, "%s/out-XXXXXX", runs);
	ck_assert_ptr_nonnull(mkdtemp(outside));
	/* supervisor/ a symlink to a directory elsewhere. */
	snprintf(path, sizeof path, "%s/supervisor", rt);
	ck_assert_int_eq(symlink(outside, path), 0);
	ck_assert_int_eq(start_by_hand(err, sizeof err), 1);
	ck_assert_msg(strstr(err, "supervisor is a symlink") != NULL &&
	    strstr(err, "remove it") != NULL, "%s", err);
	ck_assert_int_eq(unlink(path), 0);
	/* supervisor.lock a symlink to a file elsewhere. */
	snprintf(target, sizeof target, "%s/lock", outside);
	snprintf(path, sizeof path, "%s/supervisor.lock", rt);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(start_by_hand(err, sizeof err), 1);
	ck_assert_msg(strstr(err, "supervisor.lock is a symlink") != NULL,
	    "%s", err);
	ck_assert_int_eq(unlink(path), 0);
	/* isolated.log a symlink to a file elsewhere. */
	snprintf(target, sizeof target, "%s/log", outside);
	snprintf(path, sizeof path, "%s/supervisor", rt);
	ck_assert(mkdir(path, 0700) == 0 || errno == EEXIST);
	snprintf(path, sizeof path, "%s/supervisor/isolated.log", rt);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(start_by_hand(err, sizeof err), 1);
	ck_assert_msg(strstr(err, "isolated.log") != NULL, "%s", err);
	ck_assert_int_eq(unlink(path), 0);
	/* A state file: read not followed, written in its place. */
	snprintf(target, sizeof target, "%s/names", outside);
	ck_assert_int_ge(fd = open(target, O_CREAT | O_WRONLY, 0600), 0);
	ck_assert_int_eq(write(fd, "{\"x\": [1, 1, 1]}\n", 17), 17);
	close(fd);
	snprintf(path, sizeof path, "%s/supervisor/names.json", rt);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_eq(start_by_hand(err, sizeof err), 0);
	ck_assert_int_eq(iso_sup_lookup("x", &(iso_sendport){ 0 }), -1);
	ck_assert_ptr_nonnull(p = iso_port_new());
	ck_assert_int_eq(iso_sup_register("y", iso_port_sendport(p)), 0);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_int_eq(st.st_size, 17);
	/* Nothing else was written outside. */
	snprintf(target, sizeof target, "%s/lock", outside);
	ck_assert_int_eq(stat(target, &st), -1);
	snprintf(target, sizeof target, "%s/log", outside);
	ck_assert_int_eq(stat(target, &st), -1);
	snprintf(path, sizeof path, "rm -rf '%s'", outside);
	ck_assert_int_eq(system(path), 0);
	iso_port_close(p);
}
END_TEST

/* ---- mailboxes ------------------------------------------------------------------ */

static uint64_t
spawn_box(const char *name, int limit)
{
	char *const		argv[] = { "sleep", "100", NULL };
	iso_sup_spawn_opts	o;
	uint64_t		id;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = name;
	o.mailbox = limit;
	ck_assert_msg(iso_sup_spawn(&o, &id) == 0, "%s", iso_error());
	return (id);
}

/* The ints of a list of messages, as "1 2 3". */
static const char *
ints(const iso_msg *l)
{
	static char	buf[256];
	size_t		i, n = 0;
	int64_t		v;

	buf[0] = '\0';
	for (i = 0; i < iso_msg_len(l) && n < sizeof buf - 24; i++) {
		ck_assert_int_eq(iso_msg_int(iso_msg_at(l, i), &v), 0);
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%" PRId64,
		    i > 0 ? " " : "", v);
	}
	return (buf);
}

static void
send_int(const char *target, int v, int want_errno)
{
	iso_msg	*m = iso_msg_pack("i", v);
	int	 r = iso_sup_send(target, m);

	iso_msg_free(m);
	if (want_errno == 0)
		ck_assert_msg(r == 0, "send %d: %s", v, iso_error());
	else {
		ck_assert_int_eq(r, -1);
		ck_assert_int_eq(errno, want_errno);
	}
}

static const char *
take_recv(const char *target, int max, int ms)
{
	iso_msg		*l;
	const char	*s;

	ck_assert_msg(iso_sup_recv(target, max, ms, &l) == 0, "recv: %s",
	    iso_error());
	s = ints(l);
	iso_msg_free(l);
	return (s);
}

static const char *
take_ints(const char *target, int max, int ms)
{
	iso_msg		*l;
	const char	*s;

	ck_assert_msg(iso_sup_take(target, max, ms, &l) == 0, "take: %s",
	    iso_error());
	s = ints(l);
	iso_msg_free(l);
	return (s);
}

START_TEST(a_mailbox_is_bounded_and_loses_nothing)
{
	(void)spawn_box("mb", 3);
	send_int("mb", 1, 0);
	send_int("mb", 2, 0);
	send_int("mb", 3, 0);
	send_int("mb", 4, ENOBUFS);
	ck_assert_msg(strstr(iso_error(), "full") != NULL, "%s", iso_error());
	ck_assert_str_eq(take_ints("mb", 2, 0), "1 2");
	send_int("mb", 4, 0);
	ck_assert_str_eq(take_ints("mb", 10, 0), "3 4");
	ck_assert_str_eq(take_ints("mb", 10, 50), "");
	send_int("nobody", 1, ENOENT);
	ck_assert_int_eq(iso_sup_kill("mb", ISO_IMMEDIATE), 0);
	iso_msg_free(wait_end("mb"));
	send_int("mb", 5, ECONNREFUSED);
}
END_TEST

START_TEST(plain_iso_send_to_a_mailbox_waits_when_full)
{
	iso_sendport	 port;
	iso_msg		*m, *row;
	char		 got[256] = "";
	int		 i;

	(void)spawn_box("mb", 2);
	ck_assert_int_eq(iso_sup_lookup("mb", &port), 0);
	row = list_row("mb");
	ck_assert_int_eq(iso_msg_sendport(iso_msg_get(row, "port"), &port), 0);
	iso_msg_free(row);
	for (i = 1; i <= 5; i++) {
		m = iso_msg_pack("i", i);
		ck_assert_msg(iso_send(port, m) == 0, "%s", iso_error());
		iso_msg_free(m);
	}
	/* Two fit; three wait in the socket, in order, until taken. */
	for (i = 0; i < 200 && strlen(got) < 9; i++) {
		const char	*s = take_ints("mb", 1, 2000);

		if (*s != '\0')
			snprintf(got + strlen(got), sizeof got - strlen(got),
			    "%s%s", got[0] != '\0' ? " " : "", s);
	}
	ck_assert_str_eq(got, "1 2 3 4 5");
}
END_TEST

/* Descriptors open in process pid. */
static int
fds_of(pid_t pid)
{
	char		 path[64];
	struct dirent	*e;
	DIR		*d;
	int		 n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return (n);
}

/* Address space of process pid, in bytes. */
static size_t
vm_of(pid_t pid)
{
	char		 path[64];
	unsigned long	 pages = 0;
	FILE		*f;

	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	return ((size_t)pages * (size_t)sysconf(_SC_PAGESIZE));
}

/* A connection to the socket of a command's mailbox. */
static int
mailbox_connect(const char *target)
{
	iso_sendport		 port;
	iso_msg			*row = list_row(target);
	int			 fd;

	ck_assert_ptr_nonnull(row);
	ck_assert_int_eq(iso_msg_sendport(iso_msg_get(row, "port"), &port),
	    0);
	iso_msg_free(row);
	fd = tu_iso_connect(port.isolate);
	ck_assert_msg(fd != -1, "connect: %s", strerror(errno));
	return (fd);
}

START_TEST(a_full_mailbox_costs_no_descriptor_per_sender)
{
	enum { SENDERS = 60 };
	/* port 1, then the int 100 + k */
	unsigned char	 frame[7] = { 0, 0, 0, 3, 1, 0xcc, 0 };
	char		 seen[SENDERS + 1];
	iso_msg		*l, *info;
	pid_t		 pid;
	int		 fd[SENDERS], k, before, got = 0, i;
	int64_t		 v;
	size_t		 j;

	(void)spawn_box("mb", 1);
	send_int("mb", 1, 0);		/* full */
	pid = sup_pid();
	before = fds_of(pid);
	for (k = 0; k < SENDERS; k++) {
		fd[k] = mailbox_connect("mb");
		frame[6] = (unsigned char)(100 + k);
		ck_assert_int_eq(write(fd[k], frame, sizeof frame),
		    (ssize_t)sizeof frame);
	}
	/* They wait in the backlog: the supervisor holds none of them and
	   answers at once. */
	ck_assert_int_eq(iso_sup_status(&info), 0);
	iso_msg_free(info);
	send_int("mb", 2, ENOBUFS);
	ck_assert_int_le(fds_of(pid), before + 1);
	/* Taken one at a time, every one comes in. */
	memset(seen, 0, sizeof seen);
	for (i = 0; i < 20 * SENDERS && got < SENDERS + 1; i++) {
		ck_assert_int_eq(iso_sup_take("mb", 1, 2000, &l), 0);
		for (j = 0; j < iso_msg_len(l); j++) {
			ck_assert_int_eq(iso_msg_int(iso_msg_at(l, j), &v), 0);
			ck_assert(v == 1 || (v >= 100 && v < 100 + SENDERS));
			if (v >= 100) {
				ck_assert_int_eq(seen[v - 100], 0);
				seen[v - 100] = 1;
			}
			got++;
		}
		iso_msg_free(l);
	}
	ck_assert_int_eq(got, SENDERS + 1);
	for (k = 0; k < SENDERS; k++)
		close(fd[k]);
}
END_TEST

START_TEST(half_sent_huge_frames_cost_the_supervisor_little)
{
	enum { PEERS = 40 };
	/* 200 MiB announced; a request (no port) and a mailbox frame
	   (port 1) of bytes, 100 of them sent */
	unsigned char	 head[10 + 100] = { 0x0c, 0x80, 0, 0, 0xc6, 0x0c, 0x7f,
	    0xff, 0xfb };
	unsigned char	 mhead[11 + 100] = { 0x0c, 0x80, 0, 0, 1, 0xc6, 0x0c,
	    0x7f, 0xff, 0xfa };
	iso_msg		*info;
	pid_t		 pid;
	size_t		 before, grown;
	int		 fd[2 * PEERS], k;

	(void)spawn_box("mb", 4);
	pid = sup_pid();
	ck_assert_int_eq(iso_sup_status(&info), 0);
	iso_msg_free(info);
	before = vm_of(pid);
	for (k = 0; k < PEERS; k++) {
		fd[k] = raw_connect();
		ck_assert_int_eq(write(fd[k], head, sizeof head),
		    (ssize_t)sizeof head);
		fd[PEERS + k] = mailbox_connect("mb");
		ck_assert_int_eq(write(fd[PEERS + k], mhead, sizeof mhead),
		    (ssize_t)sizeof mhead);
	}
	/* It goes on serving, and has spent about what came. */
	ck_assert_int_eq(iso_sup_status(&info), 0);
	iso_msg_free(info);
	send_int("mb", 5, 0);
	ck_assert_str_eq(take_ints("mb", 10, 0), "5");
	grown = vm_of(pid) - before;
	ck_assert_msg(grown < 32u << 20, "%zu MiB more for %d frames of 110 "
	    "bytes", grown >> 20, 2 * PEERS);
	for (k = 0; k < 2 * PEERS; k++)
		close(fd[k]);
}
END_TEST

/* isolated started by hand with extra options (up to 4 pairs, NULL
   after the last); its pid. */
static pid_t
start_argv(char *const extra[])
{
	char	line[64], *argv[16];
	ssize_t	n;
	pid_t	pid;
	int	p[2], k = 0;

	argv[k++] = "isolated";
	argv[k++] = "--foreground";
	argv[k++] = "--ready-fd";
	argv[k++] = "3";
	while (*extra != NULL && k < 15)
		argv[k++] = *extra++;
	argv[k] = NULL;
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		int	null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		dup2(p[1], 3);
		execv(getenv("ISO_ISOLATED"), argv);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], line, sizeof line - 1);
	close(p[0]);
	ck_assert_int_gt(n, 0);
	line[n] = '\0';
	ck_assert_str_eq(line, "ready\n");
	return (pid);
}

static pid_t
start_with(const char *opt, const char *val)
{
	char *const	extra[] = { (char *)opt, (char *)val, NULL };

	return (start_argv(extra));
}

START_TEST(clients_beyond_max_conns_are_told)
{
	iso_msg	*info;
	pid_t	 pid = start_with("--max-conns", "2");
	int	 a = raw_connect(), b = raw_connect(), status, i, r = -1;

	/* a and b are idle: a third client is refused with the reason */
	ck_assert_int_eq(iso_sup_status(&info), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_msg(strstr(iso_error(), "supervisor has 2 connections open")
	    != NULL, "%s", iso_error());
	/* one goes: a client is served again once the daemon has seen it
	   go (it may be refused until then) */
	close(a);
	for (i = 0; i < 200 && (r = iso_sup_status(&info)) == -1; i++) {
		ck_assert_int_eq(errno, EAGAIN);
		tu_sleep_ms(10);
	}
	ck_assert_int_eq(r, 0);
	iso_msg_free(info);
	close(b);
	ck_assert_int_eq(iso_sup_stop(), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
}
END_TEST

/* Rows of o's list (of kind, when not NULL; in state, when not NULL). */
static size_t
count_rows(const iso_sup_list_opts *o, const char *kind, const char *state)
{
	iso_msg	*l;
	size_t	 i, n = 0;

	ck_assert_msg(iso_sup_list_filter(o, &l) == 0, "list: %s",
	    iso_error());
	for (i = 0; i < iso_msg_len(l); i++)
		if ((kind == NULL || strcmp(row_str(iso_msg_at(l, i), "kind"),
		    kind) == 0) && (state == NULL ||
		    strcmp(row_str(iso_msg_at(l, i), "state"), state) == 0))
			n++;
	iso_msg_free(l);
	return (n);
}

/* Spawn n isolates here and end each at once (the supervisor hears of
   each); the pid of the last. */
static pid_t
short_lived(int n)
{
	iso_isolate	*iso;
	pid_t		 pid = 0;
	int		 i;

	for (i = 0; i < n; i++) {
		ck_assert_int_eq(iso_spawn(sleeper, NULL, &iso), 0);
		pid = iso_pid(iso);
		ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
		iso_isolate_free(iso);
	}
	return (pid);
}

/* Until the supervisor has the isolate of pid as ended (10 s). */
static void
until_ended(pid_t pid)
{
	iso_sup_list_opts	 o = { .all = 1, .state = ISO_SUP_ENDED };
	iso_msg			*l;
	size_t			 i;
	int			 n, found = 0;

	for (n = 0; n < 1000 && !found; n++) {
		ck_assert_int_eq(iso_sup_list_filter(&o, &l), 0);
		for (i = 0; i < iso_msg_len(l); i++)
			if (row_int(iso_msg_at(l, i), "pid") == pid &&
			    strcmp(row_str(iso_msg_at(l, i), "kind"),
			    "isolate") == 0)
				found = 1;
		iso_msg_free(l);
		if (!found)
			tu_sleep_ms(10);
	}
	ck_assert_msg(found, "isolate %d never shown ended", (int)pid);
}

/* Ended isolates of programs have a history of their own: however many
   end, a command's row and its log stay, and the other way round. */
START_TEST(isolates_of_programs_never_evict_a_command)
{
	char *const	 extra[] = { "--history", "1", "--isolate-history", "3",
	    NULL };
	char *const	 say[] = { "sh", "-c", "echo kept", NULL };
	char *const	 yes[] = { "true", NULL };
	iso_sup_list_opts all = { .all = 1 };
	char		 path[PATH_MAX], *data;
	uint64_t	 keep, off = 0;
	size_t		 len;
	pid_t		 pid = start_argv(extra), last;
	int		 status;

	keep = spawn("keep", ISO_RESTART_NEVER, say);
	iso_msg_free(wait_end("keep"));
	last = short_lived(25);
	until_ended(last);
	/* Every isolate has ended: at most three of them are kept. */
	ck_assert_uint_eq(count_rows(&all, "isolate", NULL), 3);
	ck_assert_uint_eq(count_rows(&all, "command", NULL), 1);
	{
		iso_msg	*row = list_row("keep");

		ck_assert_ptr_nonnull(row);
		ck_assert_str_eq(row_str(row, "id"), hex(keep));
		iso_msg_free(row);
	}
	snprintf(path, sizeof path, "%s/supervisor/%s.log", rt, hex(keep));
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(iso_sup_logs("keep", &off, &data, &len), 0);
	ck_assert_str_eq(data, "kept\n");
	free(data);

	/* Commands ending push out the oldest command, no isolate. */
	iso_msg_free(wait_end(hex(spawn(NULL, ISO_RESTART_NEVER, yes))));
	iso_msg_free(wait_end(hex(spawn(NULL, ISO_RESTART_NEVER, yes))));
	ck_assert_uint_eq(count_rows(&all, "command", NULL), 1);
	ck_assert_uint_eq(count_rows(&all, "isolate", NULL), 3);
	ck_assert_ptr_null(list_row("keep"));
	ck_assert_int_eq(access(path, F_OK), -1);

	ck_assert_int_eq(iso_sup_stop(), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
}
END_TEST

/* iso_sup_list_filter: by name, by state, with or without the ended
   isolates of programs; NULL is iso_sup_list. */
START_TEST(list_filters_in_the_supervisor)
{
	char *const	 nap[] = { "sleep", "60", NULL };
	char *const	 three[] = { "sh", "-c", "exit 3", NULL };
	iso_sup_list_opts o;
	iso_isolate	*live;
	iso_msg		*l;
	pid_t		 last;

	ck_assert_int_eq(iso_sup_start(), 0);
	(void)spawn("web-1", ISO_RESTART_NEVER, nap);
	(void)spawn("web-2", ISO_RESTART_NEVER, three);
	iso_msg_free(wait_end("web-2"));
	(void)spawn("db", ISO_RESTART_NEVER, nap);
	last = short_lived(2);
	until_ended(last);
	ck_assert_int_eq(iso_spawn(sleeper, NULL, &live), 0);
	for (int n = 0; n < 1000; n++) {
		memset(&o, 0, sizeof o);
		if (count_rows(&o, "isolate", "running") == 1)
			break;
		tu_sleep_ms(10);
	}

	/* Without filters: everything, as iso_sup_list. */
	ck_assert_uint_eq(count_rows(NULL, NULL, NULL), 6);
	ck_assert_int_eq(iso_sup_list(&l), 0);
	ck_assert_uint_eq(iso_msg_len(l), 6);
	iso_msg_free(l);
	/* Zeroed: commands and live isolates. */
	memset(&o, 0, sizeof o);
	ck_assert_uint_eq(count_rows(&o, NULL, NULL), 4);
	ck_assert_uint_eq(count_rows(&o, "isolate", "running"), 1);
	o.all = 1;
	ck_assert_uint_eq(count_rows(&o, NULL, NULL), 6);
	o.all = 0;
	o.name = "web-*";
	ck_assert_uint_eq(count_rows(&o, "command", NULL), 2);
	o.state = ISO_SUP_RUNNING;
	ck_assert_uint_eq(count_rows(&o, NULL, NULL), 1);
	o.state = ISO_SUP_EXITED;
	ck_assert_uint_eq(count_rows(&o, NULL, "exited"), 1);
	o.state = ISO_SUP_FAILED;
	ck_assert_uint_eq(count_rows(&o, NULL, NULL), 0);
	o.name = NULL;
	o.state = ISO_SUP_ENDED;
	ck_assert_uint_eq(count_rows(&o, NULL, NULL), 1);
	o.all = 1;
	ck_assert_uint_eq(count_rows(&o, "isolate", "exited"), 2);
	/* An isolate of a program goes by its entry: "*" matches all. */
	o.state = ISO_SUP_ANY;
	o.name = "*";
	ck_assert_uint_eq(count_rows(&o, NULL, NULL), 6);
	o.name = "sleep*";
	ck_assert_uint_eq(count_rows(&o, "isolate", "running"), 1);
	o.name = "[";
	ck_assert_uint_eq(count_rows(&o, NULL, NULL), 0);
	o.state = (iso_sup_state)42;
	ck_assert_int_eq(iso_sup_list_filter(&o, &l), -1);
	ck_assert_int_eq(errno, EINVAL);

	ck_assert_int_eq(iso_kill(live, ISO_IMMEDIATE), 0);
	iso_isolate_free(live);
}
END_TEST

/* iso_sup_restart and iso_sup_rm: a running command, an ended one, an
   isolate of a program (refused), a live one (refused). */
START_TEST(restart_and_rm_through_the_library)
{
	char *const	 nap[] = { "sleep", "60", NULL };
	iso_isolate	*iso;
	iso_msg		*row;
	uint64_t	 id, again = 0;
	pid_t		 p1, ipid;
	char		 kid[17] = "";

	ck_assert_int_eq(iso_sup_start(), 0);
	id = spawn("nap", ISO_RESTART_NEVER, nap);
	row = list_row("nap");
	p1 = (pid_t)row_int(row, "pid");
	iso_msg_free(row);
	ck_assert_int_eq(iso_sup_restart("nap", 1, &again), 0);
	ck_assert_uint_eq(again, id);
	/* Answered once the new run runs: its pid is known. */
	row = list_row("nap");
	ck_assert_str_eq(row_str(row, "state"), "running");
	ck_assert_int_gt(row_int(row, "pid"), 0);
	ck_assert_int_ne(row_int(row, "pid"), p1);
	ck_assert_int_eq(row_int(row, "restarts"), 1);
	iso_msg_free(row);
	ck_assert(ended_within(p1, 5000));

	ck_assert_int_eq(iso_sup_rm("nap"), -1);
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_msg(strstr(iso_error(), "kill it first") != NULL, "%s",
	    iso_error());
	ck_assert_int_eq(iso_sup_kill("nap", ISO_IMMEDIATE), 0);
	iso_msg_free(wait_end("nap"));
	/* Ended: run again, then forgotten. */
	ck_assert_int_eq(iso_sup_restart(hex(id), 0, NULL), 0);
	row = list_row("nap");
	ck_assert_str_eq(row_str(row, "state"), "running");
	ck_assert_int_eq(row_int(row, "restarts"), 2);
	iso_msg_free(row);
	ck_assert_int_eq(iso_sup_kill("nap", ISO_IMMEDIATE), 0);
	iso_msg_free(wait_end("nap"));
	ck_assert_int_eq(iso_sup_rm("nap"), 0);
	ck_assert_ptr_null(list_row(hex(id)));
	ck_assert_int_eq(iso_sup_rm(hex(id)), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(iso_sup_restart(hex(id), 0, NULL), -1);
	ck_assert_int_eq(errno, ENOENT);

	/* An isolate of this program. */
	ck_assert_int_eq(iso_spawn(sleeper, NULL, &iso), 0);
	ipid = iso_pid(iso);
	for (int n = 0; n < 1000 && kid[0] == '\0'; n++) {
		iso_msg	*l;

		ck_assert_int_eq(iso_sup_list(&l), 0);
		for (size_t i = 0; i < iso_msg_len(l); i++)
			if (row_int(iso_msg_at(l, i), "pid") == ipid)
				snprintf(kid, sizeof kid, "%s",
				    row_str(iso_msg_at(l, i), "id"));
		iso_msg_free(l);
		if (kid[0] == '\0')
			tu_sleep_ms(10);
	}
	ck_assert_str_ne(kid, "");
	ck_assert_int_eq(iso_sup_restart(kid, 0, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(iso_error(), "forked by a program") != NULL,
	    "%s", iso_error());
	ck_assert_int_eq(iso_sup_rm(kid), -1);
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	iso_msg_free(wait_end(kid));
	ck_assert_int_eq(iso_sup_rm(kid), 0);
	ck_assert_ptr_null(list_row(kid));
}
END_TEST

START_TEST(a_take_waits_for_mail)
{
	unsigned char	 frame[256];
	iso_msg		*m, *rep;
	void		*p;
	size_t		 len;
	int		 fd;

	/* A mailbox of one: the put that fills it wakes the take. */
	(void)spawn_box("mb", 1);
	m = iso_msg_pack("{s:s s:s s:i}", "op", "take", "target", "mb",
	    "timeout_ms", -1);
	ck_assert_int_eq(iso_msg_encode(m, &p, &len), 0);
	iso_msg_free(m);
	frame[0] = frame[1] = frame[2] = 0;
	frame[3] = (unsigned char)len;
	memcpy(frame + 4, p, len);
	free(p);
	fd = raw_connect();
	ck_assert_int_eq(send(fd, frame, len + 4, MSG_NOSIGNAL),
	    (ssize_t)(len + 4));
	send_int("mb", 42, 0);
	ck_assert_int_eq(iso_msg_read(fd, &rep), 1);
	ck_assert_str_eq(ints(iso_msg_get(rep, "messages")), "42");
	iso_msg_free(rep);
	close(fd);
}
END_TEST

START_TEST(mail_and_names_outlive_a_killed_supervisor)
{
	char		 prog[PATH_MAX];
	char *const	 argv[] = { prog, "holder", NULL };
	iso_sendport	 port, holder;
	iso_msg		*m;
	pid_t		 sup;
	int		 r = -1;

	snprintf(prog, sizeof prog, "%s/prog/sup_holder", bindir);
	(void)spawn("h", ISO_RESTART_NEVER, argv);
	for (int i = 0; i < 500 && r == -1; i++)
		if ((r = iso_sup_lookup("holder", &holder)) == -1)
			tu_sleep_ms(10);
	ck_assert_int_eq(r, 0);
	(void)spawn_box("mb", 0);
	send_int("mb", 1, 0);
	send_int("mb", 2, 0);
	ck_assert_int_eq(iso_sup_lookup("mb", &port), 0);
	sup = sup_pid();
	ck_assert_int_eq(kill(sup, SIGKILL), 0);
	ck_assert(ended_within(sup, 5000));
	/* The next supervisor has the mail, the same port, and the name. */
	ck_assert_str_eq(take_ints("mb", 10, 0), "1 2");
	m = iso_msg_pack("i", 3);
	ck_assert_int_eq(iso_send(port, m), 0);
	iso_msg_free(m);
	ck_assert_str_eq(take_ints("mb", 10, 5000), "3");
	ck_assert_int_eq(iso_sup_lookup("holder", &port), 0);
	ck_assert(iso_sendport_equal(port, holder));
	/* A send to a registered name goes to that port. */
	send_int("holder", 77, 0);
	{
		uint64_t	 off = 0;
		char		*data = NULL;
		size_t		 len;

		for (int i = 0; i < 500; i++) {
			free(data);
			ck_assert_int_eq(iso_sup_logs("h", &off, &data, &len),
			    0);
			off = 0;
			if (strstr(data, "got 77") != NULL)
				break;
			tu_sleep_ms(10);
		}
		ck_assert_msg(strstr(data, "got 77") != NULL, "%s", data);
		free(data);
	}
}
END_TEST

/* The whole of a small file, NUL-terminated (owned), or NULL. */
static char *
read_text(const char *path)
{
	char	*buf;
	FILE	*f;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	buf = calloc(1, 65536);
	ck_assert_ptr_nonnull(buf);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return (buf);
}

START_TEST(mailbox_sync_is_a_setting_kept_across_a_restart)
{
	char *const		 argv[] = { "sleep", "100", NULL };
	char			 path[PATH_MAX], *text;
	iso_sup_spawn_opts	 o;
	uint64_t		 id;
	pid_t			 sup;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "synced";
	o.mailbox_sync = 1;
	ck_assert_msg(iso_sup_spawn(&o, &id) == 0, "%s", iso_error());
	send_int("synced", 1, 0);
	snprintf(path, sizeof path, "%s/supervisor/%s.json", rt, hex(id));
	text = read_text(path);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, "\"mailbox_sync\":true") != NULL, "%s",
	    text);
	free(text);
	sup = sup_pid();
	ck_assert_int_eq(kill(sup, SIGKILL), 0);
	ck_assert(ended_within(sup, 5000));
	send_int("synced", 2, 0);
	ck_assert_str_eq(take_ints("synced", 10, 0), "1 2");
	text = read_text(path);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, "\"mailbox_sync\":true") != NULL, "%s",
	    text);
	free(text);
	/* Without it, false. */
	id = spawn_box("plain", 0);
	snprintf(path, sizeof path, "%s/supervisor/%s.json", rt, hex(id));
	text = read_text(path);
	ck_assert_ptr_nonnull(text);
	ck_assert_msg(strstr(text, "\"mailbox_sync\":false") != NULL, "%s",
	    text);
	free(text);
}
END_TEST

/* One request on fd (req taken over) and its reply (owned). */
static iso_msg *
raw_call(int fd, iso_msg *req)
{
	iso_msg	*rep = NULL;

	ck_assert_ptr_nonnull(req);
	ck_assert_int_eq(iso_msg_write(fd, req), 0);
	iso_msg_free(req);
	ck_assert_int_eq(iso_msg_read(fd, &rep), 1);
	return (rep);
}

/* A take in acknowledged mode on fd: the reply's messages as "1 2 3",
   its box into box (17 bytes). */
static const char *
raw_take(int fd, const char *target, int max, char *box)
{
	iso_msg		*rep;
	const char	*b, *s;

	rep = raw_call(fd, iso_msg_pack("{s:s s:s s:i s:U}", "op", "take",
	    "target", target, "max", max, "after", (uint64_t)0));
	ck_assert_int_eq(iso_msg_unpack(rep, "{s:s}", "box", &b), 0);
	snprintf(box, 17, "%s", b);
	ck_assert_uint_eq(iso_msg_len(iso_msg_get(rep, "seqs")),
	    iso_msg_len(iso_msg_get(rep, "messages")));
	s = ints(iso_msg_get(rep, "messages"));
	iso_msg_free(rep);
	return (s);
}

START_TEST(a_take_lost_to_a_killed_supervisor_comes_again)
{
	char	 box[17];
	pid_t	 sup;
	int	 fd;

	(void)spawn_box("mb", 0);
	send_int("mb", 1, 0);
	send_int("mb", 2, 0);
	send_int("mb", 3, 0);
	/* Handed out, never acknowledged: the supervisor dies. */
	fd = raw_connect();
	ck_assert_str_eq(raw_take(fd, "mb", 10, box), "1 2 3");
	sup = sup_pid();
	ck_assert_int_eq(kill(sup, SIGKILL), 0);
	ck_assert(ended_within(sup, 5000));
	close(fd);
	/* The next one hands them out again; the library acknowledges. */
	ck_assert_str_eq(take_ints("mb", 10, 0), "1 2 3");
	ck_assert_str_eq(take_ints("mb", 10, 0), "");
	send_int("mb", 4, 0);
	ck_assert_str_eq(take_ints("mb", 10, 0), "4");
}
END_TEST

START_TEST(two_takers_never_get_the_same_message)
{
	char	 box[17];
	iso_msg	*rep;
	int	 a, b;

	(void)spawn_box("mb", 0);
	for (int i = 1; i <= 6; i++)
		send_int("mb", i, 0);
	a = raw_connect();
	b = raw_connect();
	ck_assert_str_eq(raw_take(a, "mb", 2, box), "1 2");
	ck_assert_str_eq(raw_take(b, "mb", 2, box), "3 4");
	/* Acknowledged behind a lease still out: kept until it is. */
	rep = raw_call(b, iso_msg_pack("{s:s s:s s:s s:U}", "op", "ack",
	    "target", "mb", "box", box, "upto", (uint64_t)4));
	ck_assert_ptr_nonnull(iso_msg_get(rep, "ok"));
	iso_msg_free(rep);
	ck_assert_str_eq(take_ints("mb", 10, 0), "5 6");
	/* a goes away without acknowledging: 1 2 are free again, and
	   only they (3 4 were acknowledged). */
	close(a);
	for (int i = 0; i < 500; i++) {
		const char *got = take_ints("mb", 10, 0);

		if (*got != '\0') {
			ck_assert_str_eq(got, "1 2");
			break;
		}
		tu_sleep_ms(10);	/* until the supervisor has seen a go */
	}
	ck_assert_str_eq(take_ints("mb", 10, 0), "");
	/* An ack for a box that is not the target's. */
	rep = raw_call(b, iso_msg_pack("{s:s s:s s:s s:U}", "op", "ack",
	    "target", "mb", "box", "0000000000000001", "upto", (uint64_t)4));
	ck_assert_str_eq(row_str(rep, "errno"), "ENOENT");
	iso_msg_free(rep);
	close(b);
	/* Without "after", a take removes at once, as before. */
	send_int("mb", 7, 0);
	a = raw_connect();
	rep = raw_call(a, iso_msg_pack("{s:s s:s}", "op", "take", "target",
	    "mb"));
	ck_assert_str_eq(ints(iso_msg_get(rep, "messages")), "7");
	iso_msg_free(rep);
	close(a);
	ck_assert_str_eq(take_ints("mb", 10, 0), "");
}
END_TEST

START_TEST(a_send_retried_with_its_reqid_is_kept_once)
{
	char	 big[80];
	iso_msg	*rep;
	int	 fd;

	(void)spawn_box("mb", 0);
	fd = raw_connect();
	for (int i = 0; i < 3; i++) {
		rep = raw_call(fd, iso_msg_pack("{s:s s:s s:i s:s}", "op",
		    "send", "target", "mb", "message", 5, "reqid", "r-1"));
		ck_assert_ptr_nonnull(iso_msg_get(rep, "ok"));
		ck_assert_str_eq(row_str(rep, "errno"), "");
		iso_msg_free(rep);
	}
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	rep = raw_call(fd, iso_msg_pack("{s:s s:s s:i s:s}", "op", "send",
	    "target", "mb", "message", 6, "reqid", big));
	ck_assert_str_eq(row_str(rep, "errno"), "EINVAL");
	iso_msg_free(rep);
	close(fd);
	ck_assert_str_eq(take_ints("mb", 10, 0), "5");
}
END_TEST

/* What a library process was handed is not handed to it again, even
   when the supervisor lost the acknowledgement. */
START_TEST(duplicates_are_dropped_by_the_library)
{
	char	 path[PATH_MAX];
	pid_t	 sup;
	off_t	 size;
	struct stat st;
	uint64_t id = spawn_box("mb", 0);

	send_int("mb", 1, 0);
	send_int("mb", 2, 0);
	ck_assert_str_eq(take_ints("mb", 10, 0), "1 2");
	/* The ack is the log's last record (10 bytes): as if the supervisor
	   died before it wrote it. */
	sup = sup_pid();
	ck_assert_int_eq(kill(sup, SIGKILL), 0);
	ck_assert(ended_within(sup, 5000));
	snprintf(path, sizeof path, "%s/supervisor/%s.mbox", rt, hex(id));
	ck_assert_int_eq(stat(path, &st), 0);
	size = st.st_size;
	ck_assert_int_eq(truncate(path, size - 10), 0);
	/* Under another target, so the take does not say what it had: the
	   two come again and are dropped (and acknowledged). */
	ck_assert_str_eq(take_ints(hex(id), 10, 0), "");
	ck_assert_str_eq(take_ints("mb", 10, 0), "");
	send_int("mb", 3, 0);
	ck_assert_str_eq(take_ints(hex(id), 10, 0), "3");
	ck_assert_str_eq(take_ints("mb", 10, 0), "");
}
END_TEST

START_TEST(restarting_is_a_state_and_kill_ends_it)
{
	char *const		 argv[] = { "false", NULL };
	iso_sup_spawn_opts	 o;
	iso_msg			*row = NULL;
	int			 restarting = 0;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "r";
	o.restart = ISO_RESTART_ON_FAILURE;
	o.backoff_ms = 60000;
	ck_assert_int_eq(iso_sup_spawn(&o, NULL), 0);
	for (int i = 0; i < 500 && !restarting; i++) {
		row = list_row("r");
		restarting = strcmp(row_str(row, "state"), "restarting") == 0;
		iso_msg_free(row);
		if (!restarting)
			tu_sleep_ms(10);
	}
	ck_assert(restarting);
	ck_assert_int_eq(iso_sup_wait("r", 50, &row), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	/* A supervisor killed meanwhile: the next one goes on waiting out
	   the backoff (it neither restarts it at once nor forgets it). */
	{
		pid_t	sup = sup_pid();

		ck_assert_int_eq(kill(sup, SIGKILL), 0);
		ck_assert(ended_within(sup, 5000));
		row = list_row("r");
		ck_assert_str_eq(row_str(row, "state"), "restarting");
		ck_assert_int_eq(row_int(row, "restarts"), 0);
		iso_msg_free(row);
	}
	ck_assert_int_eq(iso_sup_kill("r", ISO_IMMEDIATE), 0);
	row = wait_end("r");
	ck_assert_str_eq(row_str(row, "state"), "exited");
	ck_assert_int_eq(row_int(row, "exit_code"), 1);
	ck_assert_int_eq(row_int(row, "restarts"), 0);
	iso_msg_free(row);
}
END_TEST

/* ---- --lines ------------------------------------------------------------------- */

START_TEST(lines_make_awk_an_isolate)
{
	char *const		 argv[] = { "awk", "{ print $1 * $1; fflush() }",
	    NULL };
	iso_sup_spawn_opts	 o;
	iso_msg			*l;
	int			 i;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "sq";
	o.lines = 1;
	ck_assert_int_eq(iso_sup_spawn(&o, NULL), 0);
	send_int("sq", 5, 0);
	ck_assert_str_eq(take_recv("sq", 1, 5000), "25");
	for (i = 1; i <= 5; i++)
		send_int("sq", i, 0);
	{
		char	got[64] = "";

		for (i = 0; i < 100 && strlen(got) < 10; i++) {
			const char	*s = take_recv("sq", 10, 2000);

			if (*s != '\0')
				snprintf(got + strlen(got), sizeof got -
				    strlen(got), "%s%s", got[0] ? " " : "", s);
		}
		ck_assert_str_eq(got, "1 4 9 16 25");
	}
	/* take is for plain mailboxes; recv only for --lines. */
	ck_assert_int_eq(iso_sup_take("sq", 1, 0, &l), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_sup_kill("sq", ISO_IMMEDIATE), 0);
	iso_msg_free(wait_end("sq"));
}
END_TEST

START_TEST(lines_output_that_is_not_json_is_a_string)
{
	char *const		 argv[] = { "sh", "-c",
	    "echo hello world; echo '{\"a\": [1, 2]}'; echo oops >&2", NULL };
	iso_sup_spawn_opts	 o;
	iso_msg			*l, *want;
	uint64_t		 id, off = 0;
	char			*data;
	size_t			 len;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.lines = 1;
	ck_assert_int_eq(iso_sup_spawn(&o, &id), 0);
	iso_msg_free(wait_end(hex(id)));
	ck_assert_int_eq(iso_sup_recv(hex(id), 10, 2000, &l), 0);
	want = iso_msg_from_json("[\"hello world\", {\"a\": [1, 2]}]");
	ck_assert_msg(iso_msg_equal(l, want), "%s", iso_msg_to_json(l));
	iso_msg_free(want);
	iso_msg_free(l);
	/* stderr still goes to the log. */
	ck_assert_int_eq(iso_sup_logs(hex(id), &off, &data, &len), 0);
	ck_assert_str_eq(data, "oops\n");
	free(data);
	/* A command without --lines has no outbox. */
	{
		char *const	yes[] = { "true", NULL };
		uint64_t	t = spawn(NULL, ISO_RESTART_NEVER, yes);

		ck_assert_int_eq(iso_sup_recv(hex(t), 1, 0, &l), -1);
		ck_assert_int_eq(errno, EINVAL);
	}
}
END_TEST

START_TEST(lines_survive_a_killed_supervisor)
{
	char *const		 argv[] = { "awk", "{ print $1 + 1; fflush() }",
	    NULL };
	iso_sup_spawn_opts	 o;
	pid_t			 sup;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "inc";
	o.lines = 1;
	ck_assert_int_eq(iso_sup_spawn(&o, NULL), 0);
	send_int("inc", 1, 0);
	ck_assert_str_eq(take_recv("inc", 1, 5000), "2");
	sup = sup_pid();
	ck_assert_int_eq(kill(sup, SIGKILL), 0);
	ck_assert(ended_within(sup, 5000));
	/* The shepherd reconnects to the next supervisor. */
	send_int("inc", 41, 0);
	ck_assert_str_eq(take_recv("inc", 1, 5000), "42");
}
END_TEST

/* The running command's pid from target's row (within 5 s), not pid
   not_this (the run before). */
static pid_t
run_pid(const char *target, pid_t not_this)
{
	iso_msg	*row;
	pid_t	 pid = 0;

	for (int i = 0; i < 500; i++) {
		row = list_row(target);
		if (strcmp(row_str(row, "state"), "running") == 0)
			pid = (pid_t)row_int(row, "pid");
		iso_msg_free(row);
		if (pid > 0 && pid != not_this)
			return (pid);
		tu_sleep_ms(10);
	}
	ck_abort_msg("%s: no new run", target);
	return (0);
}

/* Answers of target until want (as "1 2 3") or 10 s. */
static void
recv_until(const char *target, const char *want)
{
	char	got[1024] = "";

	for (int i = 0; i < 50 && strcmp(got, want) != 0; i++) {
		const char	*s = take_recv(target, 20, 200);

		if (*s != '\0')
			snprintf(got + strlen(got), sizeof got - strlen(got),
			    "%s%s", got[0] != '\0' ? " " : "", s);
	}
	ck_assert_str_eq(got, want);
}

START_TEST(lines_unread_input_goes_to_the_next_run)
{
	/* Each run reads one line (sh's read takes no more), answers it,
	   and waits: the lines after it wait on its terminal, unread. */
	char *const		 argv[] = { "sh", "-c",
	    "read x; echo \"$x\"; exec sleep 100", NULL };
	iso_sup_spawn_opts	 o;
	iso_msg			*row;
	pid_t			 pid;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "one";
	o.lines = 1;
	o.restart = ISO_RESTART_ALWAYS;
	o.backoff_ms = 10;
	ck_assert_int_eq(iso_sup_spawn(&o, NULL), 0);
	send_int("one", 1, 0);
	send_int("one", 2, 0);
	send_int("one", 3, 0);
	recv_until("one", "1");
	/* Killed with 2 and 3 unread: the next run reads 2, then 3. */
	pid = run_pid("one", 0);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	recv_until("one", "2");
	pid = run_pid("one", pid);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	recv_until("one", "3");
	row = list_row("one");
	ck_assert_int_eq(row_int(row, "mailbox"), 0);
	ck_assert_int_eq(row_int(row, "restarts"), 2);
	iso_msg_free(row);
	ck_assert_int_eq(iso_sup_kill("one", ISO_IMMEDIATE), 0);
	iso_msg_free(wait_end("one"));

	/* Without a restart, what it did not read stays in its mailbox. */
	o.name = "once";
	o.restart = ISO_RESTART_NEVER;
	ck_assert_int_eq(iso_sup_spawn(&o, NULL), 0);
	send_int("once", 1, 0);
	send_int("once", 2, 0);
	send_int("once", 3, 0);
	recv_until("once", "1");
	ck_assert_int_eq(kill(run_pid("once", 0), SIGKILL), 0);
	row = wait_end("once");
	ck_assert_int_eq(row_int(row, "signal"), SIGKILL);
	ck_assert_int_eq(row_int(row, "mailbox"), 2);
	iso_msg_free(row);
}
END_TEST

START_TEST(lines_flow_both_ways_through_supervisor_kills)
{
	char *const		 argv[] = { "awk", "{ print $1; fflush() }",
	    NULL };
	iso_sup_spawn_opts	 o;
	iso_msg			*l;
	char			 want[2048] = "", got[2048] = "";
	int64_t			 v;
	int			 i, next = 1, kills = 0;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "echo";
	o.lines = 1;
	o.mailbox = 16;
	ck_assert_int_eq(iso_sup_spawn(&o, NULL), 0);
	for (i = 1; i <= 300; i++)
		snprintf(want + strlen(want), sizeof want - strlen(want),
		    "%s%d", i > 1 ? " " : "", i);
	/* Bursts of sends, each followed by a supervisor killed while
	   those lines are on their way to awk and back. */
	for (i = 0; i < 2000 && strcmp(got, want) != 0; i++) {
		for (int k = 0; k < 20 && next <= 300; k++) {
			iso_msg	*m = iso_msg_pack("i", next);
			int	 r = iso_sup_send("echo", m), e = errno;

			iso_msg_free(m);
			if (r == -1) {
				ck_assert_msg(e == ENOBUFS, "send: %s",
				    iso_error());
				break;
			}
			next++;
		}
		if (kills < 8 && i % 3 == 0) {
			pid_t	sup = sup_pid();

			ck_assert_int_eq(kill(sup, SIGKILL), 0);
			ck_assert(ended_within(sup, 5000));
			kills++;
		}
		ck_assert_msg(iso_sup_recv("echo", 1000, 20, &l) == 0, "%s",
		    iso_error());
		for (size_t j = 0; j < iso_msg_len(l); j++) {
			ck_assert_int_eq(iso_msg_int(iso_msg_at(l, j), &v), 0);
			snprintf(got + strlen(got), sizeof got - strlen(got),
			    "%s%" PRId64, got[0] != '\0' ? " " : "", v);
		}
		iso_msg_free(l);
	}
	/* Each exactly once, in order. */
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(kills, 8);
}
END_TEST

START_TEST(lines_more_than_the_link_takes_at_once_all_go)
{
	char *const		 argv[] = { "awk",
	    "{ print length($0); fflush() }", NULL };
	iso_sup_spawn_opts	 o;
	char			 path[PATH_MAX], want[512], *big;
	iso_msg			*m;
	uint64_t		 id;
	pid_t			 sup;
	int			 i, shep = 0;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "len";
	o.lines = 1;
	ck_assert_int_eq(iso_sup_spawn(&o, &id), 0);
	send_int("len", 1, 0);
	recv_until("len", "1");
	/* While the shepherd is stopped, and so attaches only afterwards,
	   100 messages of 1000 bytes go into the mailbox: more than the
	   supervisor hands it at once. */
	snprintf(path, sizeof path, "%s/supervisor/%s.run", rt, hex(id));
	{
		char	 json[256] = "";
		FILE	*f = fopen(path, "r");

		ck_assert_ptr_nonnull(f);
		ck_assert_ptr_nonnull(fgets(json, sizeof json, f));
		fclose(f);
		m = iso_msg_from_json(json);
	}
	ck_assert_int_eq(iso_msg_unpack(m, "{s:i}", "shepherd", &shep), 0);
	iso_msg_free(m);
	ck_assert_int_eq(kill(shep, SIGSTOP), 0);
	sup = sup_pid();
	ck_assert_int_eq(kill(sup, SIGKILL), 0);
	ck_assert(ended_within(sup, 5000));
	ck_assert_ptr_nonnull(big = malloc(1001));
	memset(big, 'x', 1000);
	big[1000] = '\0';
	m = iso_msg_pack("s", big);
	for (i = 0; i < 100; i++)
		ck_assert_msg(iso_sup_send("len", m) == 0, "%s", iso_error());
	iso_msg_free(m);
	free(big);
	ck_assert_int_eq(kill(shep, SIGCONT), 0);
	for (i = 0, want[0] = '\0'; i < 100; i++)
		strcat(want, i > 0 ? " 1002" : "1002");
	recv_until("len", want);
}
END_TEST

START_TEST(lines_last_words_wait_for_room_in_the_outbox)
{
	char *const		 argv[] = { "sh", "-c",
	    "for i in 1 2 3 4 5 6 7; do echo $i; done", NULL };
	iso_sup_spawn_opts	 o;
	iso_msg			*row;
	pid_t			 sup;

	/* An outbox of 2 and nobody reading: the command prints 7 lines
	   and ends; what did not fit waits for room, across a killed
	   supervisor too. */
	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "seven";
	o.lines = 1;
	o.mailbox = 2;
	ck_assert_int_eq(iso_sup_spawn(&o, NULL), 0);
	row = wait_end("seven");
	ck_assert_int_eq(row_int(row, "exit_code"), 0);
	ck_assert_int_eq(row_int(row, "outbox"), 2);
	iso_msg_free(row);
	ck_assert_str_eq(take_recv("seven", 3, 0), "1 2");
	ck_assert_str_eq(take_recv("seven", 1, 0), "3");
	sup = sup_pid();
	ck_assert_int_eq(kill(sup, SIGKILL), 0);
	ck_assert(ended_within(sup, 5000));
	ck_assert_str_eq(take_recv("seven", 10, 0), "4 5");
	ck_assert_str_eq(take_recv("seven", 10, 0), "6 7");
	ck_assert_str_eq(take_recv("seven", 10, 0), "");
}
END_TEST

/* ---- the tests' own cleanup ----------------------------------------------------- */

/*
 * What this run's guard does when the run is killed midway (a timeout
 * of the whole valgrind pass): a child plays the run, with a guard of its
 * own, starts a supervisor and a command, and is SIGKILLed without any
 * teardown. Its guard leaves nothing running and removes its directory.
 */
START_TEST(a_run_killed_midway_leaves_nothing_running)
{
	char *const	 argv[] = { "sleep", "100", NULL };
	char		 dir[64], sub[96], c;
	struct stat	 st;
	pid_t		 pid;
	int		 p[2], gfd, status, n;

	snprintf(dir, sizeof dir, "%s/run-XXXXXX", runs);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		iso_sup_spawn_opts	o;

		close(p[0]);
		snprintf(sub, sizeof sub, "%s/rt", dir);
		if (guard_start(dir, &gfd) == -1 || mkdir(sub, 0700) == -1)
			_exit(1);
		setenv("ISO_RUNTIME_DIR", sub, 1);
		rtdir_forget();
		memset(&o, 0, sizeof o);
		o.argv = argv;
		if (iso_sup_spawn(&o, NULL) == -1)
			_exit(1);
		(void)!write(p[1], "", 1);
		for (;;)
			pause();
	}
	close(p[1]);
	n = (int)read(p[0], &c, 1);
	close(p[0]);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(n == 1, "the child could not start a supervisor");
	/* A supervisor, a shepherd and its command, till the guard acts. */
	for (int i = 0; i < 1000 && (signal_under(dir, 0) > 0 ||
	    stat(dir, &st) == 0); i++)
		tu_sleep_ms(10);
	ck_assert_int_eq(signal_under(dir, 0), 0);
	ck_assert_int_eq(stat(dir, &st), -1);
}
END_TEST

/* ---- compute -------------------------------------------------------------------- */

START_TEST(compute_through_the_supervisor)
{
	char		 fn[PATH_MAX + 16];
	char *const	 argv[] = { "sh", "-c", "read x; echo $((x * x))", NULL };
	iso_msg		*arg = iso_msg_pack("i", 7), *res = NULL;
	int64_t		 v;

	snprintf(fn, sizeof fn, "%s/prog/mod_compute:square", bindir);
	ck_assert_msg(iso_sup_compute(fn, arg, 5000, &res) == 0, "%s",
	    iso_error());
	ck_assert_int_eq(iso_msg_int(res, &v), 0);
	ck_assert_int_eq(v, 49);
	iso_msg_free(res);
	snprintf(fn, sizeof fn, "%s/prog/mod_compute:crash", bindir);
	ck_assert_int_eq(iso_sup_compute(fn, arg, 5000, &res), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_msg(strstr(iso_error(), "SIGSEGV") != NULL, "%s",
	    iso_error());
	snprintf(fn, sizeof fn, "%s/prog/mod_compute:spin", bindir);
	ck_assert_int_eq(iso_sup_compute(fn, arg, 200, &res), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_msg(strstr(iso_error(), "timed out") != NULL, "%s",
	    iso_error());
	ck_assert_int_eq(iso_sup_compute("nocolon", arg, 0, &res), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(iso_sup_compute_exec(argv, arg, 5000, &res) == 0, "%s",
	    iso_error());
	ck_assert_int_eq(iso_msg_int(res, &v), 0);
	ck_assert_int_eq(v, 49);
	iso_msg_free(res);
	iso_msg_free(arg);
	assert_serving();
}
END_TEST

/* The pid a warm (or fresh) call of mod_compute:pid ran in. */
static int64_t
compute_pid(const struct iso_sup_compute_opt *o)
{
	char	 fn[PATH_MAX + 16];
	iso_msg	*res = NULL;
	int64_t	 v = -1;

	snprintf(fn, sizeof fn, "%s/prog/mod_compute:pid", bindir);
	ck_assert_msg(iso_sup_compute_with(fn, NULL, o, &res) == 0, "%s",
	    iso_error());
	ck_assert_int_eq(iso_msg_int(res, &v), 0);
	iso_msg_free(res);
	return (v);
}

/* The supervisor's count of warm workers. */
static int64_t
warm_workers_now(void)
{
	iso_msg	*info = NULL;
	int64_t	 n = -1;

	ck_assert_int_eq(iso_sup_status(&info), 0);
	ck_assert_int_eq(iso_msg_unpack(info, "{s:I}", "compute_workers", &n),
	    0);
	iso_msg_free(info);
	return (n);
}

/* Warm by default: one worker serves call after call, a crash costs one
   request, fresh is a new process each call, an idle worker ends
   (--compute-idle), and stop leaves none running. */
START_TEST(warm_compute_through_the_supervisor)
{
	struct iso_sup_compute_opt fresh = { .fresh = 1 };
	char		 fn[PATH_MAX + 16], line[64];
	iso_msg		*res = NULL;
	int64_t		 p0, p1, f0, f1;
	ssize_t		 n;
	pid_t		 pid;
	int		 p[2], status, i;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int	null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		dup2(p[1], 3);
		execl(getenv("ISO_ISOLATED"), "isolated", "--foreground",
		    "--ready-fd", "3", "--compute-workers", "1",
		    "--compute-idle", "2", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], line, sizeof line - 1);
	close(p[0]);
	ck_assert_int_gt(n, 0);
	line[n] = '\0';
	ck_assert_str_eq(line, "ready\n");

	p0 = compute_pid(NULL);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(compute_pid(NULL), p0);
	/* The first call leased the worker, the others called it directly:
	   the supervisor holds no connection of them, only status's (the
	   first status: no other connection may still be closing). */
	{
		iso_msg	*info = NULL;
		int64_t	 conns = -1;

		ck_assert_int_eq(iso_sup_status(&info), 0);
		ck_assert_int_eq(iso_msg_unpack(info, "{s:I}", "connections",
		    &conns), 0);
		iso_msg_free(info);
		ck_assert_int_eq(conns, 1);
	}
	ck_assert_int_eq(warm_workers_now(), 1);
	f0 = compute_pid(&fresh);
	f1 = compute_pid(&fresh);
	ck_assert_int_ne(f0, f1);
	ck_assert_int_ne(f0, p0);
	ck_assert_int_eq(compute_pid(NULL), p0);

	snprintf(fn, sizeof fn, "%s/prog/mod_compute:crash", bindir);
	ck_assert_int_eq(iso_sup_compute(fn, NULL, 5000, &res), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_msg(strstr(iso_error(), "crashed: SIGSEGV") != NULL, "%s",
	    iso_error());
	p1 = compute_pid(NULL);
	ck_assert_int_ne(p1, p0);

	/* Idle for --compute-idle: gone (counted out first, then reaped). */
	for (i = 0; i < 1000 && (warm_workers_now() != 0 ||
	    kill((pid_t)p1, 0) == 0); i++)
		tu_sleep_ms(10);
	ck_assert_int_eq(warm_workers_now(), 0);
	ck_assert_int_eq(kill((pid_t)p1, 0), -1);

	/* Stop ends the workers with the supervisor. */
	p1 = compute_pid(NULL);
	ck_assert_int_eq(kill((pid_t)p1, 0), 0);
	ck_assert_int_eq(iso_sup_stop(), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(kill((pid_t)p1, 0), -1);
	/* The kept connection is found closed: the next call connects
	   again, to a supervisor it starts. */
	ck_assert_int_gt(compute_pid(NULL), 0);
	ck_assert_int_eq(iso_sup_stop(), 0);
}
END_TEST

/* ---- leases: a warm worker called directly ------------------------------ */

/* A supervisor in the foreground with --compute-workers workers and
   --compute-idle idle (seconds); its pid. */
static pid_t
sup_foreground(const char *workers, const char *idle)
{
	char	line[64];
	ssize_t	n;
	pid_t	pid;
	int	p[2];

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int	null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		dup2(p[1], 3);
		execl(getenv("ISO_ISOLATED"), "isolated", "--foreground",
		    "--ready-fd", "3", "--compute-workers", workers,
		    "--compute-idle", idle, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	n = read(p[0], line, sizeof line - 1);
	close(p[0]);
	ck_assert_int_gt(n, 0);
	line[n] = '\0';
	ck_assert_str_eq(line, "ready\n");
	return (pid);
}

/* Stop the supervisor sup_foreground started, and reap it. */
static void
sup_foreground_stop(pid_t pid)
{
	int	status;

	ck_assert_int_eq(iso_sup_stop(), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
}

/* mod_compute's function with the int arg, on module path mod. */
static int
call_int(const char *mod, const char *function, int64_t arg, int timeout_ms,
    int64_t *v)
{
	char	 fn[PATH_MAX + 64];
	iso_msg	*a = iso_msg_pack("I", arg), *res = NULL;
	int	 r;

	snprintf(fn, sizeof fn, "%s:%s", mod, function);
	r = iso_sup_compute(fn, a, timeout_ms, &res);
	iso_msg_free(a);
	if (r == 0 && iso_msg_int(res, v) == -1)
		r = -1;
	iso_msg_free(res);
	return (r);
}

/* A leased worker that crashes or runs past its timeout mid-call: that
   call gets the reason, once; the next call a new worker. */
START_TEST(a_leased_worker_crashing_or_timing_out_answers_once)
{
	char	mod[PATH_MAX];
	int64_t	p0, p1, p2, v = 0;
	pid_t	sup;
	long	ms;
	struct timespec	t0, t1;

	snprintf(mod, sizeof mod, "%s/prog/mod_compute", bindir);
	sup = sup_foreground("1", "60");
	p0 = compute_pid(NULL);
	ck_assert_int_eq(compute_pid(NULL), p0);	/* on the lease */
	ck_assert_int_eq(call_int(mod, "crash", 0, 0, &v), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_msg(strstr(iso_error(), "crashed: SIGSEGV") != NULL, "%s",
	    iso_error());
	ck_assert_int_eq(call_int(mod, "square", 9, 0, &v), 0);
	ck_assert_int_eq(v, 81);
	p1 = compute_pid(NULL);
	ck_assert_int_ne(p1, p0);
	ck_assert_int_eq(compute_pid(NULL), p1);	/* leased again */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(call_int(mod, "spin", 0, 300, &v), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_msg(strstr(iso_error(), "timed out after 300 ms") != NULL,
	    "%s", iso_error());
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) /
	    1000000;
	ck_assert_int_ge(ms, 290);
	p2 = compute_pid(NULL);
	ck_assert_int_ne(p2, p1);
	ck_assert_int_eq(kill((pid_t)p1, 0), -1);
	/* A worker's own failures keep the lease and the worker. */
	ck_assert_int_eq(call_int(mod, "null_result", 0, 0, &v), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_int_eq(compute_pid(NULL), p2);
	ck_assert_int_eq(warm_workers_now(), 1);
	sup_foreground_stop(sup);
	ck_assert_int_eq(kill((pid_t)p2, 0), -1);
}
END_TEST

/* A client killed in the middle of a leased call loses that call only:
   the worker finishes it, comes back, and serves the next client. And
   a client holding a lease it does not use gives the worker up when
   another's call waits for it. */
START_TEST(a_lease_ends_with_its_client_and_yields_to_waiting_calls)
{
	char	mod[PATH_MAX], c;
	int64_t	p0, v = 0;
	pid_t	sup, kid;
	int	p[2], q[2], status;

	snprintf(mod, sizeof mod, "%s/prog/mod_compute", bindir);
	sup = sup_foreground("1", "60");
	p0 = compute_pid(NULL);
	ck_assert_int_eq(compute_pid(NULL), p0);
	/* This process holds the lease, idle: a child's call gets the
	   worker all the same. */
	kid = fork();
	ck_assert_int_ge(kid, 0);
	if (kid == 0) {
		_exit(call_int(mod, "pid", 0, 0, &v) == 0 && v == p0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(kid, &status, 0), kid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(compute_pid(NULL), p0);

	/* A child with the lease, killed while its call runs. */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(pipe(q), 0);
	kid = fork();
	ck_assert_int_ge(kid, 0);
	if (kid == 0) {
		close(p[0]);
		close(q[1]);
		if (call_int(mod, "pid", 0, 0, &v) == -1 ||
		    call_int(mod, "pid", 0, 0, &v) == -1)
			_exit(1);
		(void)!write(p[1], "g", 1);
		(void)!read(q[0], &c, 1);
		(void)call_int(mod, "nap", 300, 0, &v);
		_exit(0);
	}
	close(p[1]);
	close(q[0]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(write(q[1], "g", 1), 1);
	kill(kid, SIGKILL);
	ck_assert_int_eq(waitpid(kid, &status, 0), kid);
	close(p[0]);
	close(q[1]);
	ck_assert_int_eq(call_int(mod, "square", 5, 0, &v), 0);
	ck_assert_int_eq(v, 25);
	ck_assert_int_eq(compute_pid(NULL), p0);	/* not killed */
	ck_assert_int_eq(warm_workers_now(), 1);
	sup_foreground_stop(sup);
}
END_TEST

/* Many clients at once on two workers: every call answered, right,
   once; never more than two workers. */
START_TEST(many_clients_share_the_leased_workers)
{
	char	mod[PATH_MAX];
	pid_t	sup, kids[6];
	int	i, k, status, bad = 0;
	int64_t	v;

	snprintf(mod, sizeof mod, "%s/prog/mod_compute", bindir);
	sup = sup_foreground("2", "60");
	for (k = 0; k < 6; k++) {
		kids[k] = fork();
		ck_assert_int_ge(kids[k], 0);
		if (kids[k] == 0) {
			for (i = 0; i < 300; i++)
				if (call_int(mod, "square", i, 0, &v) == -1 ||
				    v != (int64_t)i * i)
					_exit(1);
			_exit(0);
		}
	}
	for (k = 0; k < 6; k++) {
		ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	}
	ck_assert_int_eq(bad, 0);
	ck_assert_int_le(warm_workers_now(), 2);
	sup_foreground_stop(sup);
}
END_TEST

/* A module replaced on disk while a lease of it is held: the next call
   runs the new module. A leased worker idle for --compute-idle ends,
   and the next call gets another. */
START_TEST(a_lease_follows_the_module_and_its_idle_time)
{
	char	src[PATH_MAX], copy[PATH_MAX], cmd[3 * PATH_MAX];
	int64_t	v = 0, p0, p1;
	pid_t	sup;
	int	i;

	sup = sup_foreground("1", "1");
	snprintf(copy, sizeof copy, "%s/mod_lease.so", rt);
	snprintf(src, sizeof src, "%s/prog/mod_compute", bindir);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s.tmp' && mv '%s.tmp' '%s'", src,
	    copy, copy, copy);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(call_int(copy, "which", 0, 0, &v), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(call_int(copy, "pid", 0, 0, &p0), 0);
	ck_assert_int_eq(call_int(copy, "which", 0, 0, &v), 0);
	snprintf(src, sizeof src, "%s/prog/mod_compute2", bindir);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s.tmp' && mv '%s.tmp' '%s'", src,
	    copy, copy, copy);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(call_int(copy, "which", 0, 0, &v), 0);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(call_int(copy, "pid", 0, 0, &p1), 0);
	ck_assert_int_ne(p1, p0);
	for (i = 0; i < 500 && tu_alive((pid_t)p0); i++)
		tu_sleep_ms(10);
	ck_assert(!tu_alive((pid_t)p0));	/* the old one ended */
	/* Idle: the leased worker comes back and ends. */
	for (i = 0; i < 1000 && (warm_workers_now() != 0 ||
	    tu_alive((pid_t)p1)); i++)
		tu_sleep_ms(10);
	ck_assert_int_eq(warm_workers_now(), 0);
	ck_assert_int_eq(call_int(copy, "which", 0, 0, &v), 0);
	ck_assert_int_eq(v, 2);
	sup_foreground_stop(sup);
}
END_TEST

/* A supervisor killed under a lease: a call under way fails with the
   supervisor gone (never hangs), and the next call starts a new
   supervisor and works. */
START_TEST(a_killed_supervisor_ends_its_leases_cleanly)
{
	char	mod[PATH_MAX], path[64], sys[64];
	int64_t	p0, v = 0, worker = 0;
	pid_t	sup, kid;
	int	p[2], status, i, fd;
	ssize_t	n;

	snprintf(mod, sizeof mod, "%s/prog/mod_compute", bindir);
	p0 = compute_pid(NULL);
	ck_assert_int_eq(compute_pid(NULL), p0);
	sup = sup_pid();
	ck_assert_int_gt(sup, 0);
	ck_assert_int_eq(pipe(p), 0);
	kid = fork();
	ck_assert_int_ge(kid, 0);
	if (kid == 0) {
		close(p[0]);
		if (call_int(mod, "pid", 0, 0, &v) == -1 ||
		    call_int(mod, "pid", 0, 0, &v) == -1)
			_exit(1);
		(void)!write(p[1], &v, sizeof v);	/* its worker */
		if (call_int(mod, "nap", 5000, 0, &v) == 0)
			_exit(2);
		_exit(errno == ECONNRESET ? 0 : 3);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &worker, sizeof worker),
	    (ssize_t)sizeof worker);
	close(p[0]);
	/* Its worker in the nap (asleep in nanosleep or clock_nanosleep,
	   syscalls 35 and 230), then the supervisor killed. */
	snprintf(path, sizeof path, "/proc/%d/syscall", (int)worker);
	for (i = 0; i < 1000; i++) {
		n = -1;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
			n = read(fd, sys, sizeof sys - 1);
			close(fd);
		}
		sys[n > 0 ? n : 0] = '\0';
		if (strncmp(sys, "35 ", 3) == 0 || strncmp(sys, "230 ", 4) == 0)
			break;
		tu_sleep_ms(10);
	}
	ck_assert_int_eq(kill(sup, SIGKILL), 0);
	ck_assert_int_eq(waitpid(kid, &status, 0), kid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %d", status);
	for (i = 0; i < 500 && tu_alive((pid_t)p0); i++)
		tu_sleep_ms(10);
	ck_assert(!tu_alive((pid_t)p0));
	ck_assert_int_gt(compute_pid(NULL), 0);
	ck_assert_int_ne(sup_pid(), sup);
}
END_TEST

/* The next event of s that is not an "unname"/"name" noise, owned. */
static iso_msg *
next_event(iso_sup_stream *s)
{
	iso_msg	*ev = NULL;

	ck_assert_msg(iso_sup_stream_next(s, 10000, &ev) == 1, "events: %s",
	    iso_error());
	return (ev);
}

START_TEST(events_follow_a_command_from_spawn_to_failed)
{
	char *const	 argv[] = { "sh", "-c", "exit 3", NULL };
	iso_sup_stream	*s;
	iso_msg		*ev;
	const char	*want[] = { "spawn", "exit", "restart" };
	uint64_t	 id;
	int		 i, restarts = 0, seen_failed = 0;

	ck_assert_int_eq(iso_sup_start(), 0);
	ck_assert_msg((s = iso_sup_events()) != NULL, "%s", iso_error());
	id = spawn("ev", ISO_RESTART_ON_FAILURE, argv);
	/* spawn, exit 3, restart ... until the intensity limit: failed. */
	for (i = 0; !seen_failed && i < 100; i++) {
		ev = next_event(s);
		ck_assert_str_eq(row_str(ev, "id"), hex(id));
		ck_assert_str_eq(row_str(ev, "name"), "ev");
		if (i < 3)
			ck_assert_str_eq(row_str(ev, "event"), want[i]);
		if (strcmp(row_str(ev, "event"), "exit") == 0) {
			ck_assert_int_eq(row_int(ev, "exit_code"), 3);
			ck_assert(row_int(ev, "pid") > 0);
		}
		restarts += strcmp(row_str(ev, "event"), "restart") == 0;
		if (strcmp(row_str(ev, "event"), "failed") == 0) {
			seen_failed = 1;
			ck_assert_msg(strstr(row_str(ev, "error"),
			    "given up") != NULL, "%s", row_str(ev, "error"));
		}
		iso_msg_free(ev);
	}
	ck_assert(seen_failed);
	ck_assert_int_eq(restarts, 5);
	/* Nothing more comes for it. */
	ck_assert_int_eq(iso_sup_stream_next(s, 200, &ev), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	iso_sup_stream_close(s);
	assert_serving();
}
END_TEST

START_TEST(events_a_subscriber_that_does_not_read_is_told_what_it_lost)
{
	char *const	 argv[] = { "sleep", "60", NULL };
	iso_sup_stream	*s;
	iso_sendport	 port;
	iso_msg		*ev, *row;
	uint64_t	 got = 0, lost = 0, n;
	int		 i, told = 0, rounds = 3000;

	ck_assert_int_eq(iso_sup_start(), 0);
	(void)spawn("holder", ISO_RESTART_NEVER, argv);
	ck_assert((row = list_row("holder")) != NULL);
	ck_assert_int_eq(iso_msg_sendport(iso_msg_get(row, "port"), &port), 0);
	iso_msg_free(row);
	ck_assert_msg((s = iso_sup_events()) != NULL, "%s", iso_error());
	/* Far more than the supervisor queues for one subscriber. */
	for (i = 0; i < rounds; i++) {
		ck_assert_int_eq(iso_sup_register("a-rather-long-name-for-"
		    "this-test-so-that-events-are-big", port), 0);
		ck_assert_int_eq(iso_sup_unregister("a-rather-long-name-for-"
		    "this-test-so-that-events-are-big"), 0);
	}
	while (got + lost < 2 * (uint64_t)rounds) {
		ev = next_event(s);
		if (strcmp(row_str(ev, "event"), "lost") == 0) {
			ck_assert_int_eq(iso_msg_uint(iso_msg_get(ev,
			    "count"), &n), 0);
			lost += n;
			told++;
		} else
			got++;
		iso_msg_free(ev);
	}
	ck_assert_msg(told > 0 && lost > 0, "got %" PRIu64 " events, told "
	    "of none lost", got);
	ck_assert_int_eq(got + lost, 2 * (uint64_t)rounds);
	iso_sup_stream_close(s);
	assert_serving();
}
END_TEST

static Suite *
sup_suite(void)
{
	Suite	*s = suite_create("supervisor");
	TCase	*tc;

	tc = tcase_create("daemon");
	tcase_add_checked_fixture(tc, sup_setup, sup_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, started_on_demand_and_stopped);
	tcase_add_test(tc, autostart_off_only_looks);
	tcase_add_test(tc, a_second_supervisor_is_refused);
	tcase_add_test(tc, started_by_hand_goes_to_the_background);
	tcase_add_test(tc, a_stale_socket_is_replaced);
	tcase_add_test(tc, targets_resolve_alike);
	tcase_add_test(tc, options_bound_history_logs_and_grace);
	tcase_add_test(tc, spawn_list_wait);
	tcase_add_test(tc, spawn_answers_once_the_command_runs);
	tcase_add_test(tc, spawn_env_and_cwd);
	tcase_add_test(tc, logs_capture_stdout_and_stderr);
	tcase_add_test(tc, no_such_program_fails);
	tcase_add_test(tc, kill_immediate_and_graceful);
	tcase_add_test(tc, unknown_targets_and_bad_spawns);
	tcase_add_test(tc, on_failure_hits_the_intensity_limit);
	tcase_add_test(tc, on_failure_leaves_a_clean_exit_alone);
	tcase_add_test(tc, always_restarts_until_killed);
	tcase_add_test(tc, names_register_lookup_remove);
	tcase_add_test(tc, a_name_goes_with_its_isolate);
	tcase_add_test(tc, sigkill_of_the_supervisor_and_adoption);
	tcase_add_test(tc, library_isolates_are_listed);
	tcase_add_test(tc, entries_are_named_by_their_symbol);
	tcase_add_test(tc, an_end_is_told_to_a_restarted_supervisor);
	tcase_add_test(tc, a_stuck_supervisor_never_blocks_a_spawn);
	tcase_add_test(tc, a_request_the_supervisor_never_read_is_sent_again);
	tcase_add_test(tc, hostile_frames_get_errors);
	tcase_add_test(tc, random_requests_do_not_hurt);
	tcase_add_test(tc, vanished_and_idle_clients);
	tcase_add_test(tc, a_peer_of_another_uid_is_refused);
	tcase_add_test(tc, stale_entries_are_swept_at_start);
	tcase_add_test(tc,
	    a_killed_spawner_leaves_no_socket_and_its_isolates_end_with_it);
	tcase_add_test(tc, a_spawner_that_ends_takes_its_isolates_with_it);
	tcase_add_test(tc, its_own_log_is_rotated_while_it_runs);
	tcase_add_test(tc, planted_symlinks_are_not_followed);
	tcase_add_test(tc, compute_through_the_supervisor);
	tcase_add_test(tc, warm_compute_through_the_supervisor);
	tcase_add_test(tc,
	    a_leased_worker_crashing_or_timing_out_answers_once);
	tcase_add_test(tc,
	    a_lease_ends_with_its_client_and_yields_to_waiting_calls);
	tcase_add_test(tc, many_clients_share_the_leased_workers);
	tcase_add_test(tc, a_lease_follows_the_module_and_its_idle_time);
	tcase_add_test(tc, a_killed_supervisor_ends_its_leases_cleanly);
	tcase_add_test(tc, a_run_killed_midway_leaves_nothing_running);
	tcase_add_test(tc, a_mailbox_is_bounded_and_loses_nothing);
	tcase_add_test(tc, plain_iso_send_to_a_mailbox_waits_when_full);
	tcase_add_test(tc, a_take_waits_for_mail);
	tcase_add_test(tc, a_full_mailbox_costs_no_descriptor_per_sender);
	tcase_add_test(tc, half_sent_huge_frames_cost_the_supervisor_little);
	tcase_add_test(tc, clients_beyond_max_conns_are_told);
	tcase_add_test(tc, isolates_of_programs_never_evict_a_command);
	tcase_add_test(tc, list_filters_in_the_supervisor);
	tcase_add_test(tc, restart_and_rm_through_the_library);
	tcase_add_test(tc, mail_and_names_outlive_a_killed_supervisor);
	tcase_add_test(tc, mailbox_sync_is_a_setting_kept_across_a_restart);
	tcase_add_test(tc, a_take_lost_to_a_killed_supervisor_comes_again);
	tcase_add_test(tc, two_takers_never_get_the_same_message);
	tcase_add_test(tc, a_send_retried_with_its_reqid_is_kept_once);
	tcase_add_test(tc, duplicates_are_dropped_by_the_library);
	tcase_add_test(tc, restarting_is_a_state_and_kill_ends_it);
	tcase_add_test(tc, lines_make_awk_an_isolate);
	tcase_add_test(tc, lines_output_that_is_not_json_is_a_string);
	tcase_add_test(tc, lines_survive_a_killed_supervisor);
	tcase_add_test(tc, lines_unread_input_goes_to_the_next_run);
	tcase_add_test(tc, lines_flow_both_ways_through_supervisor_kills);
	tcase_add_test(tc, lines_last_words_wait_for_room_in_the_outbox);
	tcase_add_test(tc, lines_more_than_the_link_takes_at_once_all_go);
	tcase_add_test(tc, events_follow_a_command_from_spawn_to_failed);
	tcase_add_test(tc,
	    events_a_subscriber_that_does_not_read_is_told_what_it_lost);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(int argc, char **argv)
{
	SRunner	*sr;
	char	*slash, self[PATH_MAX];
	pid_t	 guard;
	int	 failed, guard_fd;

	(void)argc;
	if (realpath(argv[0], self) == NULL || strlen(self) >= sizeof bindir)
		return (2);
	strcpy(bindir, self);
	if ((slash = strrchr(bindir, '/')) != NULL)
		*slash = '\0';
	signal(SIGPIPE, SIG_IGN);
	/* Every test's runtime directory in one of this run's, for the
	   guard (others may pass through it: a test runs one as nobody). */
	snprintf(runs, sizeof runs, "/tmp/iso-sup-XXXXXX");
	if (mkdtemp(runs) == NULL || chmod(runs, 0711) == -1 ||
	    (guard = guard_start(runs, &guard_fd)) == -1) {
		perror("check_sup: the run's directory and its guard");
		return (2);
	}
	sr = srunner_create(sup_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* What tests that ended without their teardown left, if any. */
	sweep(runs);
	close(guard_fd);
	while (waitpid(guard, NULL, 0) == -1 && errno == EINTR)
		;
	return (failed ? 1 : 0);
}
