/*
 * check_shepherd.c: one run of one command under a shepherd
 * (daemon/shepherd.c): its log, ID.run, ID.exit, signals and death;
 * with --lines, the link as the supervisor sees it (the test plays the
 * supervisor on a socket of its own).
 *
 * The test process is the shepherd's parent and, as a child subreaper,
 * also the parent of whatever the shepherd leaves behind, so that every
 * process a test starts is killed and reaped by finish(), even when the
 * test fails: checks record the first failure (EXPECT, REQUIRE) and
 * finish() reports it only once everything is gone.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "testutil.h"

static const char	*dir;		/* the state directory */
static pid_t		 tracked[16];	/* to kill and reap at the end */
static int		 ntracked;
static char		 why[1024];	/* the first failure */

#define EXPECT(c, ...) do {						\
	if (!(c) && why[0] == '\0')					\
		snprintf(why, sizeof why, __VA_ARGS__);			\
} while (0)
#define REQUIRE(c, ...) do {						\
	if (!(c)) {							\
		EXPECT(0, __VA_ARGS__);					\
		goto out;						\
	}								\
} while (0)

static void
setup(void)
{
	why[0] = '\0';
	ntracked = 0;
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
}

/* Kill pid at the end (and its process group if group). */
static void
track(pid_t pid, int group)
{
	if (pid > 0 && ntracked < (int)(sizeof tracked / sizeof tracked[0]))
		tracked[ntracked++] = group ? -pid : pid;
}

static void
untrack(pid_t pid)
{
	int	i;

	for (i = 0; i < ntracked; i++)
		if (tracked[i] == pid)
			tracked[i] = 0;
}

/* Kill and reap what the test started, then report its first failure. */
static void
finish(void)
{
	pid_t	r;
	int	i, ms;

	for (i = 0; i < ntracked; i++) {
		if (tracked[i] == 0)
			continue;
		(void)kill(tracked[i], SIGKILL);
		if (tracked[i] < 0)
			(void)kill(-tracked[i], SIGKILL);
	}
	/* Orphans come to us, the subreaper: reap until none is left. */
	for (ms = 5000; ms > 0; ms -= 5) {
		while ((r = waitpid(-1, NULL, WNOHANG)) > 0)
			;
		if (r == -1 && errno == ECHILD)
			break;
		tu_sleep_ms(5);
	}
	ntracked = 0;
	ck_assert_msg(why[0] == '\0', "%s", why);
}

/* A spec for id running `sh -c script`. */
static struct shep_spec
spec_sh(uint64_t id, const char *script)
{
	static char		*argv[4];
	struct shep_spec	 sp;

	argv[0] = (char *)"sh";
	argv[1] = (char *)"-c";
	argv[2] = (char *)script;
	memset(&sp, 0, sizeof sp);
	sp.id = id;
	sp.argv = argv;
	sp.dir = dir;
	sp.dirfd = -1;
	sp.log_max = 1 << 20;
	return (sp);
}

/* <dir>/<id><suffix>, valid for the next three calls. */
static char *
path(uint64_t id, const char *suffix)
{
	static char	buf[4][PATH_MAX];
	static int	n;
	char		*p = buf[n++ % 4];

	if (state_path(dir, id, suffix, p, PATH_MAX) == -1) {
		EXPECT(0, "state_path: %s", strerror(errno));
		p[0] = '\0';
	}
	return (p);
}

static int
exists(uint64_t id, const char *suffix)
{
	return (access(path(id, suffix), F_OK) == 0);
}

/* The whole file, or NULL. */
static char *
slurp(uint64_t id, const char *suffix)
{
	FILE	*f;
	char	*s;
	long	 n;

	if ((f = fopen(path(id, suffix), "r")) == NULL)
		return (NULL);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	if (s != NULL && fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = '\0';
	fclose(f);
	return (s);
}

/* The shepherd's wait status once it has ended within ms, else -1. */
static int
reap(pid_t pid, int ms)
{
	pid_t	r;
	int	status;

	for (; ms > 0; ms -= 5) {
		if ((r = waitpid(pid, &status, WNOHANG)) == pid) {
			untrack(pid);
			return (status);
		}
		if (r == -1 && errno != EINTR)
			return (-1);
		tu_sleep_ms(5);
	}
	return (-1);
}

/* The command's pid from the ID.run of shepherd shep (within 5 s). */
static pid_t
await_run(uint64_t id, pid_t shep)
{
	iso_msg	*m;
	int	 ms, pid = -1, sp = -1;

	for (ms = 5000; ms > 0 && sp != shep; ms -= 5) {
		if ((m = state_read(path(id, ".run"))) != NULL &&
		    iso_msg_unpack(m, "{s i s i !}", "pid", &pid, "shepherd",
		    &sp) == -1)
			sp = -1;
		iso_msg_free(m);
		if (sp != shep)
			tu_sleep_ms(5);
	}
	if (sp != shep)
		return (-1);
	track(pid, 1);
	return (pid);
}

/* Start a shepherd for sp, wait for it to exit 0, return ID.exit. */
static iso_msg *
run(const struct shep_spec *sp)
{
	pid_t	pid;
	int	status;

	if ((pid = shep_start(sp, NULL)) == -1) {
		EXPECT(0, "shep_start: %s", strerror(errno));
		return (NULL);
	}
	track(pid, 0);
	status = reap(pid, 10000);
	EXPECT(status == 0, "shepherd status %#x", status);
	return (state_read(path(sp->id, ".exit")));
}

/* Whether m is ID.exit's {"code", "signal", "error"} (-1, NULL: null). */
static int
exit_is(const iso_msg *m, int code, int sig, const char *error)
{
	const iso_msg	*c, *s, *e;
	int64_t		 v;
	const char	*str;
	char		*json;

	if (m == NULL) {
		EXPECT(0, "no ID.exit");
		return (0);
	}
	c = iso_msg_get(m, "code");
	s = iso_msg_get(m, "signal");
	e = iso_msg_get(m, "error");
	if (c == NULL || s == NULL || e == NULL || iso_msg_len(m) != 3)
		goto bad;
	if (code == -1 ? iso_msg_type(c) != ISO_NIL :
	    iso_msg_int(c, &v) == -1 || v != code)
		goto bad;
	if (sig == -1 ? iso_msg_type(s) != ISO_NIL :
	    iso_msg_int(s, &v) == -1 || v != sig)
		goto bad;
	if (error == NULL ? iso_msg_type(e) != ISO_NIL :
	    (str = iso_msg_str(e, NULL)) == NULL || strcmp(str, error) != 0)
		goto bad;
	return (1);
bad:
	json = iso_msg_to_json(m);
	EXPECT(0, "ID.exit is %s, want code %d signal %d error %s", json,
	    code, sig, error != NULL ? error : "null");
	free(json);
	return (0);
}

/* Whether pid is gone or a zombie within ms. */
static int
dead_within(pid_t pid, int ms)
{
	for (; ms > 0 && tu_alive(pid); ms -= 5)
		tu_sleep_ms(5);
	return (!tu_alive(pid));
}

/* Stdout and stderr in ID.log, exit code 0, ID.run's pid is the command. */
START_TEST(output_and_status)
{
	struct shep_spec	 sp = spec_sh(0x101, "echo $$; echo err >&2");
	iso_msg			*m = NULL, *r = NULL;
	char			*log = NULL, want[64];
	int			 pid = 0, shep = 0;

	m = run(&sp);
	exit_is(m, 0, -1, NULL);
	REQUIRE((r = state_read(path(0x101, ".run"))) != NULL, "no ID.run");
	EXPECT(iso_msg_unpack(r, "{s i s i !}", "pid", &pid, "shepherd",
	    &shep) == 0, "ID.run does not unpack");
	EXPECT(pid > 0 && shep > 0 && pid != shep, "pid %d shepherd %d", pid,
	    shep);
	REQUIRE((log = slurp(0x101, ".log")) != NULL, "no ID.log");
	snprintf(want, sizeof want, "%d\nerr\n", pid);
	EXPECT(strcmp(log, want) == 0, "log \"%s\", want \"%s\"", log, want);
	EXPECT(!exists(0x101, ".log.1"), "ID.log.1 without rotation");
	EXPECT(!exists(0x101, ".exit.tmp") && !exists(0x101, ".run.tmp"),
	    "a .tmp file was left");
out:
	iso_msg_free(m);
	iso_msg_free(r);
	free(log);
	finish();
}
END_TEST

START_TEST(exit_code)
{
	struct shep_spec	 sp = spec_sh(0x102, "exit 3");
	iso_msg			*m;

	m = run(&sp);
	exit_is(m, 3, -1, NULL);
	iso_msg_free(m);
	finish();
}
END_TEST

START_TEST(death_by_signal)
{
	struct shep_spec	 sp = spec_sh(0x103, "kill -9 $$");
	iso_msg			*m;

	m = run(&sp);
	exit_is(m, -1, 9, NULL);
	iso_msg_free(m);
	finish();
}
END_TEST

/* A stale ID.run from an earlier run goes; none is written. */
START_TEST(exec_failure)
{
	char			*argv[] = { (char *)"iso-no-such-program-xq",
				    NULL };
	struct shep_spec	 sp = spec_sh(0x104, "");
	iso_msg			*m, *stale;

	sp.argv = argv;
	stale = iso_msg_pack("{s i s i}", "pid", 1, "shepherd", 1);
	ck_assert_int_eq(state_write(path(0x104, ".run"), stale), 0);
	iso_msg_free(stale);
	m = run(&sp);
	exit_is(m, 127, -1,
	    "cannot run iso-no-such-program-xq: No such file or directory");
	EXPECT(!exists(0x104, ".run"), "ID.run after an exec failure");
	iso_msg_free(m);
	finish();
}
END_TEST

START_TEST(cwd)
{
	struct shep_spec	 sp = spec_sh(0x105, "pwd");
	iso_msg			*m;
	char			*log = NULL;

	sp.cwd = "/nonexistent-dir-xq";
	m = run(&sp);
	exit_is(m, 127, -1, "cannot chdir to /nonexistent-dir-xq: "
	    "No such file or directory");
	EXPECT(!exists(0x105, ".run"), "ID.run after a chdir failure");
	iso_msg_free(m);

	sp.cwd = "/proc";
	m = run(&sp);
	exit_is(m, 0, -1, NULL);
	log = slurp(0x105, ".log");
	EXPECT(log != NULL && strcmp(log, "/proc\n") == 0, "log \"%s\"",
	    log != NULL ? log : "(none)");
	iso_msg_free(m);
	free(log);
	finish();
}
END_TEST

/* spec->envp or environ, ISO_ISOLATE_ID always ours and only once: as
   exec'd (/proc/$$/environ), not as the shell re-exports it. */
START_TEST(environment)
{
	const char		*script = "e=$(tr '\\0' '\\n' </proc/$$/environ); "
				    "echo \"$e\" | grep ^FOO=; "
				    "echo \"$e\" | grep -c ^ISO_ISOLATE_ID=; "
				    "echo \"$ISO_ISOLATE_ID\"";
	char			*envp[] = { (char *)"FOO=bar",
				    (char *)"ISO_ISOLATE_ID=bogus",
				    (char *)"PATH=/usr/bin:/bin", NULL };
	struct shep_spec	 sp = spec_sh(0x106, script);
	iso_msg			*m;
	char			*log;

	sp.envp = envp;
	m = run(&sp);
	exit_is(m, 0, -1, NULL);
	log = slurp(0x106, ".log");
	EXPECT(log != NULL &&
	    strcmp(log, "FOO=bar\n1\n0000000000000106\n") == 0,
	    "log \"%s\"", log != NULL ? log : "(none)");
	iso_msg_free(m);
	free(log);

	setenv("FOO", "from environ", 1);
	setenv("ISO_ISOLATE_ID", "bogus", 1);
	sp = spec_sh(0xabcdef0123456789ull, script);
	m = run(&sp);
	unsetenv("FOO");
	unsetenv("ISO_ISOLATE_ID");
	exit_is(m, 0, -1, NULL);
	log = slurp(0xabcdef0123456789ull, ".log");
	EXPECT(log != NULL &&
	    strcmp(log, "FOO=from environ\n1\nabcdef0123456789\n") == 0,
	    "log \"%s\"", log != NULL ? log : "(none)");
	iso_msg_free(m);
	free(log);
	finish();
}
END_TEST

/* SIGTERM to the shepherd ends the command with SIGTERM, SIGUSR2 with
   SIGKILL (the command ignores SIGTERM); a stale ID.exit goes first. */
static const struct {
	int		 send, want;
	const char	*script;
} passed_on[] = {
	{ SIGTERM, SIGTERM, "exec sleep 100" },
	{ SIGUSR2, SIGKILL, "trap '' TERM; sleep 100; exit 0" },
};

START_TEST(signals_passed_on)
{
	uint64_t		 id = 0x107 + 0x100 * (uint64_t)_i;
	struct shep_spec	 sp = spec_sh(id, passed_on[_i].script);
	iso_msg			*m = NULL, *stale;
	pid_t			 shep, cmd;
	int			 status;

	stale = iso_msg_pack("{s i s n s n}", "code", 0, "signal", "error");
	ck_assert_int_eq(state_write(path(id, ".exit"), stale), 0);
	iso_msg_free(stale);
	REQUIRE((shep = shep_start(&sp, NULL)) != -1, "shep_start: %s",
	    strerror(errno));
	track(shep, 0);
	REQUIRE((cmd = await_run(id, shep)) > 0, "no ID.run");
	EXPECT(!exists(id, ".exit"), "stale ID.exit left");
	tu_sleep_ms(100);	/* for sh to set its trap */
	kill(shep, passed_on[_i].send);
	status = reap(shep, 5000);
	REQUIRE(status == 0, "shepherd status %#x", status);
	EXPECT(dead_within(cmd, 1000), "the command is still running");
	m = state_read(path(id, ".exit"));
	exit_is(m, -1, passed_on[_i].want, NULL);
out:
	iso_msg_free(m);
	finish();
}
END_TEST

/* A shepherd killed with SIGKILL takes its command with it. */
START_TEST(shepherd_killed)
{
	struct shep_spec	 sp = spec_sh(0x108, "exec sleep 100");
	pid_t			 shep, cmd;
	int			 status;

	REQUIRE((shep = shep_start(&sp, NULL)) != -1, "shep_start: %s",
	    strerror(errno));
	track(shep, 0);
	REQUIRE((cmd = await_run(0x108, shep)) > 0, "no ID.run");
	REQUIRE(tu_alive(cmd), "the command is not running");
	kill(shep, SIGKILL);
	status = reap(shep, 5000);
	EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "shepherd status %#x", status);
	EXPECT(dead_within(cmd, 2000), "the command outlived its shepherd");
out:
	finish();
}
END_TEST

/* ID.log beyond log_max becomes ID.log.1: the tail of the output is
   kept, each file at most log_max. */
START_TEST(log_rotation)
{
	const char		*line = "0123456789abcdef0123456789abcdef"
				    "0123456789abcdef0123456789abcdef";
	char			 script[256], *all, *log = NULL, *log1 = NULL;
	struct shep_spec	 sp;
	iso_msg			*m;
	size_t			 n, total, l0, l1;
	int			 i;

	snprintf(script, sizeof script, "i=0; while [ $i -lt 200 ]; "
	    "do echo %s; i=$((i+1)); done", line);
	sp = spec_sh(0x109, script);
	sp.log_max = 1000;
	n = strlen(line) + 1;
	total = 200 * n;
	all = malloc(total + 1);
	ck_assert_ptr_nonnull(all);
	for (i = 0; i < 200; i++)
		snprintf(all + i * n, n + 1, "%s\n", line);
	m = run(&sp);
	exit_is(m, 0, -1, NULL);
	log = slurp(0x109, ".log");
	log1 = slurp(0x109, ".log.1");
	REQUIRE(log != NULL && log1 != NULL, "ID.log or ID.log.1 missing");
	l0 = strlen(log);
	l1 = strlen(log1);
	EXPECT(l0 <= 1000 && l1 == 1000, "ID.log.1 %zu bytes, ID.log %zu", l1, l0);
	EXPECT(strncmp(log1, all + total - l0 - l1, l1) == 0 &&
	    strcmp(log, all + total - l0) == 0, "not the tail of the output");
out:
	iso_msg_free(m);
	free(all);
	free(log);
	free(log1);
	finish();
}
END_TEST

/* A grandchild holding the pipe open does not keep the shepherd. */
START_TEST(grandchild_holds_pipe)
{
	struct shep_spec	 sp = spec_sh(0x10a, "sleep 100 & echo $!");
	iso_msg			*m;
	char			*log;
	pid_t			 shep;
	int			 status, gc = 0;

	REQUIRE((shep = shep_start(&sp, NULL)) != -1, "shep_start: %s",
	    strerror(errno));
	track(shep, 0);
	status = reap(shep, 5000);
	log = slurp(0x10a, ".log");
	if (log != NULL && (gc = atoi(log)) > 0)
		track(gc, 0);
	EXPECT(status == 0, "shepherd status %#x", status);
	EXPECT(gc > 0 && tu_alive(gc), "no grandchild in log \"%s\"",
	    log != NULL ? log : "(none)");
	m = state_read(path(0x10a, ".exit"));
	exit_is(m, 0, -1, NULL);
	iso_msg_free(m);
	free(log);
out:
	finish();
}
END_TEST

/* The command has 0, 1 and 2 only: none of the caller's descriptors. */
START_TEST(no_fd_leaks)
{
	struct shep_spec	 sp = spec_sh(0x10b, "exec ls /proc/self/fd");
	iso_msg			*m;
	char			*log;
	int			 leak, p[2];

	leak = open("/dev/null", O_RDONLY);	/* no CLOEXEC, on purpose */
	ck_assert_int_ge(leak, 0);
	ck_assert_int_eq(pipe(p), 0);
	m = run(&sp);
	exit_is(m, 0, -1, NULL);
	log = slurp(0x10b, ".log");
	/* 3 is ls's own opendir. */
	EXPECT(log != NULL && strcmp(log, "0\n1\n2\n3\n") == 0,
	    "descriptors \"%s\"", log != NULL ? log : "(none)");
	iso_msg_free(m);
	free(log);
	close(leak);
	close(p[0]);
	close(p[1]);
	finish();
}
END_TEST

/* Whether process pid has a descriptor on the socket of inode ino. */
static int
holds_socket(pid_t pid, ino_t ino)
{
	char		 fds[64], link[PATH_MAX], want[64], to[64];
	struct dirent	*e;
	DIR		*d;
	ssize_t		 n;
	int		 found = 0;

	snprintf(fds, sizeof fds, "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof want, "socket:[%lu]", (unsigned long)ino);
	if ((d = opendir(fds)) == NULL)
		return (0);
	while (!found && (e = readdir(d)) != NULL) {
		snprintf(link, sizeof link, "%s/%s", fds, e->d_name);
		if ((n = readlink(link, to, sizeof to - 1)) > 0) {
			to[n] = '\0';
			found = strcmp(to, want) == 0;
		}
	}
	closedir(d);
	return (found);
}

/*
 * A fork without exec keeps close-on-exec descriptors: until it closes
 * them, a shepherd holds the daemon's listening sockets, and a client of
 * a daemon killed then is accepted into a backlog nobody serves. So
 * shep_start returns only once the shepherd holds none: with ours closed,
 * a connect is refused at once, every time.
 */
START_TEST(holds_none_of_the_daemons_descriptors)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	pid_t			 shep;
	int			 i, lfd, fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/daemon.sock", dir);
	for (i = 0; i < 20; i++) {
		struct shep_spec	sp = spec_sh(0x10c, "exec sleep 100");

		(void)unlink(sun.sun_path);
		REQUIRE((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) != -1 && bind(lfd, (struct sockaddr *)&sun,
		    sizeof sun) == 0 && listen(lfd, 4) == 0 &&
		    fstat(lfd, &st) == 0, "listen: %s", strerror(errno));
		REQUIRE((shep = shep_start(&sp, NULL)) != -1, "shep_start: %s",
		    strerror(errno));
		track(shep, 0);
		EXPECT(!holds_socket(shep, st.st_ino), "run %d: the shepherd "
		    "holds the daemon's listening socket", i);
		close(lfd);
		REQUIRE((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
		    0)) != -1, "socket: %s", strerror(errno));
		EXPECT(connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1 &&
		    errno == ECONNREFUSED, "run %d: a connect to a closed "
		    "listener was not refused", i);
		close(fd);
		kill(shep, SIGKILL);
		REQUIRE(reap(shep, 5000) != -1, "shepherd not reaped");
	}
out:
	(void)unlink(sun.sun_path);
	finish();
}
END_TEST

/* shep_start's ready descriptor ends once ID.run is written, or ID.exit
   when the command could not start. */
START_TEST(ready_once_the_command_runs)
{
	char			*argv[] = { (char *)"iso-no-such-program-xq",
				    NULL };
	struct shep_spec	 sp = spec_sh(0x10d, "exec sleep 100");
	iso_msg			*m = NULL;
	pid_t			 shep;
	char			 c;
	int			 ready = -1, pid = 0, sp_pid = 0;

	REQUIRE((shep = shep_start(&sp, &ready)) != -1, "shep_start: %s",
	    strerror(errno));
	track(shep, 0);
	EXPECT(fcntl(ready, F_GETFD) == FD_CLOEXEC, "ready is not "
	    "close-on-exec");
	EXPECT(read(ready, &c, 1) == 0, "ready did not end");
	close(ready);
	REQUIRE((m = state_read(path(0x10d, ".run"))) != NULL, "no ID.run "
	    "once ready");
	EXPECT(iso_msg_unpack(m, "{s i s i !}", "pid", &pid, "shepherd",
	    &sp_pid) == 0 && pid > 0 && sp_pid == shep, "ID.run is not this "
	    "run's");
	track(pid, 1);
	iso_msg_free(m);
	m = NULL;
	kill(shep, SIGKILL);
	REQUIRE(reap(shep, 5000) != -1, "shepherd not reaped");

	sp = spec_sh(0x10e, "");
	sp.argv = argv;
	REQUIRE((shep = shep_start(&sp, &ready)) != -1, "shep_start: %s",
	    strerror(errno));
	track(shep, 0);
	EXPECT(read(ready, &c, 1) == 0, "ready did not end");
	close(ready);
	EXPECT(!exists(0x10e, ".run"), "ID.run after an exec failure");
	m = state_read(path(0x10e, ".exit"));
	exit_is(m, 127, -1,
	    "cannot run iso-no-such-program-xq: No such file or directory");
out:
	iso_msg_free(m);
	finish();
}
END_TEST

/* ---- --lines: the test is the supervisor -------------------------------- */

/* Listen on <dir>/NAME.sock (into sock): the listening descriptor. */
static int
fake_listen(const char *name, char *sock, size_t len)
{
	struct sockaddr_un	sun;
	int			fd;

	snprintf(sock, len, "%s/%s.sock", dir, name);
	(void)unlink(sock);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(fd, 4) == -1) {
		EXPECT(0, "listen %s: %s", sock, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	return (fd);
}

/* Reads on fd give up after ms. */
static void
read_timeout(int fd, int ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* The shepherd's connection (within 5 s) and its attach request. */
static int
fake_accept(int lfd, iso_msg **attach)
{
	struct pollfd	pfd = { lfd, POLLIN, 0 };
	int		fd;

	*attach = NULL;
	if (poll(&pfd, 1, 5000) != 1 ||
	    (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		EXPECT(0, "no shepherd connected");
		return (-1);
	}
	read_timeout(fd, 10000);
	if (iso_msg_read(fd, attach) != 1) {
		EXPECT(0, "no attach request: %s", strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Send the frame fmt (a list) to the shepherd. */
static void
fake_send(int fd, const char *fmt, ...)
{
	va_list	 ap;
	iso_msg	*m;

	va_start(ap, fmt);
	m = iso_msg_vpack(fmt, ap);
	va_end(ap);
	EXPECT(m != NULL && iso_msg_write(fd, m) == 0, "send to shepherd: %s",
	    strerror(errno));
	iso_msg_free(m);
}

/* Two "line" frames (seq n and n + 1) in one write: the shepherd reads
   them together, so both are on the terminal before it looks at it. */
static void
fake_send_two_lines(int fd, uint64_t n, const char *a, const char *b)
{
	unsigned char	 buf[256];
	void		*enc;
	size_t		 len, off = 0;
	iso_msg		*m;
	int		 i;

	for (i = 0; i < 2; i++) {
		m = iso_msg_pack("[s U s]", "line", n + (uint64_t)i,
		    i == 0 ? a : b);
		EXPECT(m != NULL && iso_msg_encode(m, &enc, &len) == 0 &&
		    off + 4 + len <= sizeof buf, "encode");
		buf[off] = (unsigned char)(len >> 24);
		buf[off + 1] = (unsigned char)(len >> 16);
		buf[off + 2] = (unsigned char)(len >> 8);
		buf[off + 3] = (unsigned char)len;
		memcpy(buf + off + 4, enc, len);
		off += 4 + len;
		free(enc);
		iso_msg_free(m);
	}
	EXPECT(write(fd, buf, off) == (ssize_t)off, "send to shepherd: %s",
	    strerror(errno));
}

/* Whether frame f is [what, n] (then *v the rest: the message, or NULL). */
static int
frame_is(const iso_msg *f, const char *what, uint64_t *n, const iso_msg **v)
{
	const char	*s;

	*v = iso_msg_len(f) > 2 ? iso_msg_at(f, 2) : NULL;
	return (iso_msg_unpack(f, "[s U]", &s, n) == 0 && strcmp(s, what) ==
	    0);
}

/* Whether m is the JSON text json. */
static int
msg_is(const iso_msg *m, const char *json)
{
	iso_msg	*want = iso_msg_from_json(json);
	int	 r = m != NULL && want != NULL && iso_msg_equal(m, want);

	iso_msg_free(want);
	return (r);
}

/*
 * A line written to the command is acknowledged ("read") once it has
 * read it, and not before: sh's read takes one line, so of the next two
 * none is read; the shepherd, once the command is killed, says so in
 * ID.exit, with the output the supervisor did not take.
 */
START_TEST(lines_acknowledged_once_read)
{
	struct shep_spec	 sp = spec_sh(0x120,
	    "read x; echo \"$x\"; read y; exec sleep 100");
	char			 sock[PATH_MAX];
	iso_msg			*attach = NULL, *f, *m = NULL;
	const iso_msg		*v, *lines;
	const char		*id, *run = NULL, *run2 = NULL;
	uint64_t		 have = 1, read = 1, n, first = 0;
	int			 lfd, fd = -1, out = 0, acked = 0;
	pid_t			 pid;

	REQUIRE((lfd = fake_listen("sup120", sock, sizeof sock)) != -1, "-");
	sp.lines = 1;
	sp.sock = sock;
	REQUIRE((pid = shep_start(&sp, NULL)) != -1, "shep_start");
	track(pid, 0);
	REQUIRE((fd = fake_accept(lfd, &attach)) != -1, "-");
	EXPECT(iso_msg_unpack(attach, "{s:s s:s s:U s:U}", "id", &id, "run",
	    &run, "have", &have, "read", &read) == 0 &&
	    strcmp(id, "0000000000000120") == 0 && strlen(run) == 16 &&
	    have == 0 && read == 0, "attach: %s", iso_msg_to_json(attach));
	fake_send(fd, "[s i s]", "line", 1, "a");
	while ((!out || !acked) && iso_msg_read(fd, &f) == 1) {
		if (frame_is(f, "out", &n, &v)) {
			EXPECT(n == 1 && msg_is(v, "\"a\""), "output %s",
			    iso_msg_to_json(f));
			out = 1;
		} else if (frame_is(f, "read", &n, &v)) {
			EXPECT(n == 1, "read %s", iso_msg_to_json(f));
			acked = 1;
		} else
			EXPECT(0, "frame %s", iso_msg_to_json(f));
		iso_msg_free(f);
	}
	EXPECT(out && acked, "out %d read %d", out, acked);
	/* "b" is read, "c" waits unread: neither is acknowledged, since
	   the terminal is not empty (what was read is known at the end). */
	fake_send_two_lines(fd, 2, "b", "c");
	read_timeout(fd, 200);
	while (iso_msg_read(fd, &f) == 1) {
		EXPECT(0, "frame %s", iso_msg_to_json(f));
		iso_msg_free(f);
	}
	read_timeout(fd, 10000);
	/* The command dies with "c" on its terminal. */
	EXPECT(kill(pid, SIGUSR2) == 0, "kill");
	while (iso_msg_read(fd, &f) == 1) {
		EXPECT(!frame_is(f, "read", &n, &v) || n == 1, "read %s",
		    iso_msg_to_json(f));
		iso_msg_free(f);
	}
	EXPECT(reap(pid, 10000) == 0, "shepherd status");
	REQUIRE((m = state_read(path(0x120, ".exit"))) != NULL, "no ID.exit");
	lines = iso_msg_get(m, "lines");
	EXPECT(iso_msg_unpack(lines, "{s:s s:U s:U}", "run", &run2, "read",
	    &read, "first", &first) == 0 && run != NULL &&
	    strcmp(run, run2) == 0 && read == 2 && first == 1 &&
	    msg_is(iso_msg_get(lines, "out"), "[\"a\"]"),
	    "ID.exit %s", iso_msg_to_json(m));
out:
	if (fd != -1)
		close(fd);
	close(lfd);
	iso_msg_free(attach);
	iso_msg_free(m);
	finish();
}
END_TEST

/*
 * With no supervisor, the shepherd holds 256 lines and then stops reading
 * the terminal: the command blocks in write (20000 lines are more than
 * the terminal holds). Once a supervisor is there
 * it gets them all, in order, each once, as fast as it acknowledges them.
 */
START_TEST(lines_output_held_is_bounded_and_never_dropped)
{
	struct shep_spec	 sp = spec_sh(0x121,
	    "seq 1 20000; echo done >&2; exec sleep 100");
	char			 sock[PATH_MAX], num[16], *log = NULL;
	iso_msg			*attach = NULL, *f;
	const iso_msg		*v;
	uint64_t		 n, next = 1;
	int			 lfd = -1, fd = -1, ms;
	pid_t			 pid;

	snprintf(sock, sizeof sock, "%s/sup121.sock", dir);
	(void)unlink(sock);
	sp.lines = 1;
	sp.sock = sock;
	REQUIRE((pid = shep_start(&sp, NULL)) != -1, "shep_start");
	track(pid, 0);
	REQUIRE(await_run(0x121, pid) > 0, "no ID.run");
	/* Not a wait for something to happen: the time it is given not
	   to finish. */
	tu_sleep_ms(300);
	log = slurp(0x121, ".log");
	EXPECT(log != NULL && strstr(log, "done") == NULL,
	    "the command printed everything with nobody to take it");
	REQUIRE((lfd = fake_listen("sup121", sock, sizeof sock)) != -1, "-");
	REQUIRE((fd = fake_accept(lfd, &attach)) != -1, "-");
	while (next <= 256 && iso_msg_read(fd, &f) == 1) {
		snprintf(num, sizeof num, "%d", (int)next);
		EXPECT(frame_is(f, "out", &n, &v) && n == next &&
		    msg_is(v, num), "frame %s, want line %d", iso_msg_to_json(f),
		    (int)next);
		next++;
		iso_msg_free(f);
	}
	/* Nothing more until the supervisor has taken some. */
	read_timeout(fd, 200);
	EXPECT(iso_msg_read(fd, &f) == -1 && errno == EAGAIN,
	    "more than 256 lines held");
	read_timeout(fd, 10000);
	fake_send(fd, "[s i]", "took", 256);
	while (next <= 20000 && iso_msg_read(fd, &f) == 1) {
		snprintf(num, sizeof num, "%d", (int)next);
		if (!frame_is(f, "out", &n, &v) || n != next || !msg_is(v,
		    num)) {
			EXPECT(0, "frame %s, want line %d", iso_msg_to_json(f),
			    (int)next);
			iso_msg_free(f);
			break;
		}
		if (next % 100 == 0)
			fake_send(fd, "[s U]", "took", next);
		next++;
		iso_msg_free(f);
	}
	EXPECT(next == 20001, "got lines up to %d of 20000", (int)next - 1);
	for (ms = 0; ms < 5000; ms += 10) {
		free(log);
		if ((log = slurp(0x121, ".log")) != NULL &&
		    strstr(log, "done") != NULL)
			break;
		tu_sleep_ms(10);
	}
	EXPECT(log != NULL && strstr(log, "done") != NULL,
	    "the command never finished printing");
out:
	free(log);
	if (fd != -1)
		close(fd);
	if (lfd != -1)
		close(lfd);
	iso_msg_free(attach);
	finish();
}
END_TEST

/* With no supervisor at all, what the command printed (a last line
   without its newline too) is in ID.exit when the shepherd ends. */
START_TEST(lines_output_left_in_exit)
{
	struct shep_spec	 sp = spec_sh(0x122,
	    "echo 1; echo '\"two\"'; printf three");
	char			 sock[PATH_MAX];
	iso_msg			*m;
	const iso_msg		*lines;
	uint64_t		 read = 1, first = 0;

	snprintf(sock, sizeof sock, "%s/nobody.sock", dir);
	sp.lines = 1;
	sp.sock = sock;
	m = run(&sp);
	lines = iso_msg_get(m, "lines");
	EXPECT(iso_msg_unpack(lines, "{s:U s:U}", "read", &read, "first",
	    &first) == 0 && read == 0 && first == 1 &&
	    msg_is(iso_msg_get(lines, "out"), "[1, \"two\", \"three\"]"),
	    "ID.exit %s", m != NULL ? iso_msg_to_json(m) : "(none)");
	iso_msg_free(m);
	finish();
}
END_TEST

static Suite *
shepherd_suite(void)
{
	Suite	*s = suite_create("shepherd");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, output_and_status);
	tcase_add_test(tc, exit_code);
	tcase_add_test(tc, death_by_signal);
	tcase_add_test(tc, exec_failure);
	tcase_add_test(tc, cwd);
	tcase_add_test(tc, environment);
	tcase_add_loop_test(tc, signals_passed_on, 0,
	    (int)(sizeof passed_on / sizeof passed_on[0]));
	tcase_add_test(tc, shepherd_killed);
	tcase_add_test(tc, log_rotation);
	tcase_add_test(tc, grandchild_holds_pipe);
	tcase_add_test(tc, no_fd_leaks);
	tcase_add_test(tc, holds_none_of_the_daemons_descriptors);
	tcase_add_test(tc, ready_once_the_command_runs);
	tcase_add_test(tc, lines_acknowledged_once_read);
	tcase_add_test(tc, lines_output_held_is_bounded_and_never_dropped);
	tcase_add_test(tc, lines_output_left_in_exit);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	dir = tu_runtime_dir();
	sr = srunner_create(shepherd_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
