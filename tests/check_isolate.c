/*
 * check_isolate.c: isolates as processes: spawn (memory copied at spawn,
 * the child's own loop, exit 0), exit and error listeners, kill (both
 * priorities), no orphans however the spawner ends, no zombies, the
 * program's own children left alone, pid reuse, spawn_exec (round trip,
 * errors, descriptors), descriptors of a spawned isolate, Isolate.exit.
 *
 * The binary re-executes itself for spawn_exec: main() looks for an
 * --exec-* argument before running Check.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "isolate.h"
#include "testutil.h"

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define RUNNING_ON_VALGRIND		0
#define VALGRIND_GET_VBITS(p, v, n)	0
#endif

#define WAIT_MS		10000	/* what a broken library gets before failing */
#define MAX_FDS		256

static char	self_exe[PATH_MAX];

/* ---- helpers ------------------------------------------------------------ */

/* Run the loop for ms (timers and listeners keep working). */
static void
run_for(int ms)
{
	iso_port	*p = iso_port_new();
	iso_msg		*m = NULL;

	ck_assert_ptr_nonnull(p);
	if (iso_port_first(p, &m, ms) == 0)
		ck_abort_msg("nobody sends to this port");
	ck_assert_int_eq(errno, ETIMEDOUT);
	iso_port_close(p);
}

/* Every message a port gets, copied, in order. */
struct coll {
	iso_port	*p;
	iso_msg		*m[512];
	int		 n;
};

static void
coll_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct coll	*c = arg;

	(void)p;
	if (c->n < (int)(sizeof c->m / sizeof c->m[0]))
		c->m[c->n++] = iso_msg_copy(m);
}

static void
coll_open(struct coll *c)
{
	memset(c, 0, sizeof *c);
	c->p = iso_port_new();
	ck_assert_ptr_nonnull(c->p);
	ck_assert_int_eq(iso_port_listen(c->p, coll_cb, c), 0);
}

static iso_sendport
coll_port(const struct coll *c)
{
	return (iso_port_sendport(c->p));
}

static void
coll_close(struct coll *c)
{
	int	i;

	iso_port_close(c->p);
	for (i = 0; i < c->n; i++)
		iso_msg_free(c->m[i]);
	c->n = 0;
}

static int
is_str(const iso_msg *m, const char *s)
{
	const char	*t;

	return ((t = iso_msg_str(m, NULL)) != NULL && strcmp(t, s) == 0);
}

/* Messages of c that are the string s. */
static int
coll_count_str(const struct coll *c, const char *s)
{
	int	i, n = 0;

	for (i = 0; i < c->n; i++)
		n += is_str(c->m[i], s);
	return (n);
}

/* Messages of c of type t. */
static int
coll_count_type(const struct coll *c, iso_type t)
{
	int	i, n = 0;

	for (i = 0; i < c->n; i++)
		n += iso_msg_type(c->m[i]) == t;
	return (n);
}

/* The first message of c that is a map with key k, or NULL. */
static const iso_msg *
coll_find(const struct coll *c, const char *k)
{
	int	i;

	for (i = 0; i < c->n; i++)
		if (iso_msg_type(c->m[i]) == ISO_MAP &&
		    iso_msg_get(c->m[i], k) != NULL)
			return (c->m[i]);
	return (NULL);
}

static long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Run the loop until c holds n messages of string s (or any if NULL). */
static int
coll_wait_str(struct coll *c, const char *s, int n)
{
	long	end = now_ms() + WAIT_MS;

	while ((s != NULL ? coll_count_str(c, s) : c->n) < n &&
	    now_ms() < end)
		run_for(10);
	return ((s != NULL ? coll_count_str(c, s) : c->n) >= n);
}

static const iso_msg *
coll_wait_key(struct coll *c, const char *k)
{
	long	end = now_ms() + WAIT_MS;

	while (coll_find(c, k) == NULL && now_ms() < end)
		run_for(10);
	return (coll_find(c, k));
}

/* Our children, zombies included (one thread). */
static int
children_count(void)
{
	char	path[64], buf[4096];
	FILE	*f;
	int	n = 0;
	char	*tok;

	snprintf(path, sizeof path, "/proc/self/task/%d/children",
	    (int)getpid());
	if ((f = fopen(path, "r")) == NULL)
		return (0);	/* no CONFIG_PROC_CHILDREN: cannot tell */
	if (fgets(buf, sizeof buf, f) != NULL)
		for (tok = strtok(buf, " \n"); tok != NULL;
		    tok = strtok(NULL, " \n"))
			n++;
	fclose(f);
	return (n);
}

static int
proc_exists(pid_t pid)
{
	char	path[64];

	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	return (access(path, F_OK) == 0);
}

/* Open descriptors, without the one listing them. */
static int
fd_list(int *out, int max, int noncloexec_only)
{
	struct dirent	*e;
	DIR		*d;
	int		 n = 0, fd, flags;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL && n < max) {
		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd == dirfd(d) || fd >= 1000)	/* valgrind's own */
			continue;
		if (noncloexec_only && ((flags = fcntl(fd, F_GETFD)) == -1 ||
		    (flags & FD_CLOEXEC)))
			continue;
		out[n++] = fd;
	}
	closedir(d);
	return (n);
}

static int
fd_in(const int *fds, int n, int fd)
{
	int	i;

	for (i = 0; i < n; i++)
		if (fds[i] == fd)
			return (1);
	return (0);
}

static int	fds_at_start;

static void	return_entry(const iso_msg *);
static void	run_for(int);

/* Make what the library keeps for good (base, listening socket, the
   epoll instance it watches its children in), then count descriptors. */
static void
begin(void)
{
	iso_isolate	*iso;
	iso_msg		*nil = iso_msg_pack("n");

	iso_port_close(iso_port_new());
	ck_assert_int_eq(iso_spawn(return_entry, nil, &iso), 0);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE) == 0 || errno == ESRCH,
	    1);
	iso_isolate_free(iso);
	iso_msg_free(nil);
	run_for(20);	/* its connection's EOF */
	fds_at_start = tu_fd_count();
}

/* Let the loop notice closed connections and reap what was killed (an
   isolate under valgrind takes a while to end); nothing may be left. */
static void
end(void)
{
	long	until = now_ms() + WAIT_MS;

	do
		run_for(50);
	while ((tu_fd_count() != fds_at_start || children_count() != 0) &&
	    now_ms() < until);
	ck_assert_int_eq(tu_fd_count(), fds_at_start);
	ck_assert_int_eq(children_count(), 0);
}

static void
send_to(iso_sendport to, iso_msg *m)
{
	(void)iso_send(to, m);
	iso_msg_free(m);
}

static void
subreaper(int on)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0), 0);
}

/* Reap an orphan that became our child; its status, or -1. */
static int
reap_orphan(pid_t pid, int ms)
{
	long	end_ms = now_ms() + ms;
	int	status;

	do {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return (status);
		tu_sleep_ms(5);
	} while (now_ms() < end_ms);
	return (-1);
}

/* ---- entries run by spawned isolates -------------------------------------- */

/* An isolate that lives until killed: an open port. */
static void
forever_entry(const iso_msg *arg)
{
	(void)arg;
	(void)iso_port_new();
}

static void
return_entry(const iso_msg *arg)
{
	(void)arg;
}

/* ---- S1: memory is copied at spawn ------------------------------------- */

static char	g_text[16] = "hello";
static struct {
	int	other;
	char	field[16];
} g_struct = { 1, "hello" };

struct s1_ctx {
	iso_sendport	to;
	int		n;
};

static void
s1_report(void *arg)
{
	struct s1_ctx	*c = arg;

	send_to(c->to, iso_msg_pack("{s:i s:s s:s}", "n", c->n, "global",
	    g_text, "field", g_struct.field));
}

static void
s1_entry(const iso_msg *arg)
{
	static struct s1_ctx	c;

	iso_msg_unpack(arg, "{s:P s:i}", "to", &c.to, "n", &c.n);
	iso_timer_after(20, s1_report, &c);	/* the tutorial's 2 s */
}

START_TEST(memory_copied_at_spawn)
{
	struct coll	 c;
	iso_isolate	*a, *b;
	iso_msg		*arg;
	const char	*g, *f;
	int		 i, n, sum = 0;

	begin();
	coll_open(&c);
	arg = iso_msg_pack("{s:P s:i}", "to", coll_port(&c), "n", 10);
	ck_assert_int_eq(iso_spawn(s1_entry, arg, &a), 0);
	iso_msg_free(arg);
	arg = iso_msg_pack("{s:P s:i}", "to", coll_port(&c), "n", 20);
	ck_assert_int_eq(iso_spawn(s1_entry, arg, &b), 0);
	iso_msg_free(arg);
	strcpy(g_text, "world");
	strcpy(g_struct.field, "world");
	ck_assert_int_eq(iso_on_exit(a, coll_port(&c), NULL), 0);
	ck_assert_int_eq(iso_on_exit(b, coll_port(&c), NULL), 0);
	ck_assert(coll_wait_str(&c, NULL, 4));
	for (i = 0; i < c.n; i++) {
		if (iso_msg_type(c.m[i]) == ISO_NIL)
			continue;
		ck_assert_int_eq(iso_msg_unpack(c.m[i], "{s:i s:s s:s}",
		    "n", &n, "global", &g, "field", &f), 0);
		ck_assert_str_eq(g, "hello");
		ck_assert_str_eq(f, "hello");
		sum += n;
	}
	ck_assert_int_eq(sum, 30);
	ck_assert_int_eq(coll_count_type(&c, ISO_NIL), 2);
	ck_assert_str_eq(g_text, "world");
	strcpy(g_text, "hello");
	strcpy(g_struct.field, "hello");
	iso_isolate_free(a);
	iso_isolate_free(b);
	coll_close(&c);
	end();
}
END_TEST

/* ---- the child's loop runs, then it exits 0 ------------------------------ */

struct loop_ctx {
	iso_sendport	 to;
	iso_port	*mine;
	int		 k;
};

static void
loop_self_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct loop_ctx	*c = arg;

	(void)m;
	send_to(c->to, iso_msg_pack("s", "port"));
	iso_port_close(p);
}

static void
loop_tick(iso_timer *t, void *arg)
{
	struct loop_ctx	*c = arg;

	send_to(c->to, iso_msg_pack("{s:i}", "n", ++c->k));
	if (c->k == 3)
		iso_timer_cancel(t);
}

static void
loop_entry(const iso_msg *arg)
{
	static struct loop_ctx	c;

	iso_msg_unpack(arg, "P", &c.to);
	c.mine = iso_port_new();
	iso_port_listen(c.mine, loop_self_cb, &c);
	send_to(iso_port_sendport(c.mine), iso_msg_pack("n"));
	iso_timer_every(5, loop_tick, &c);
}

START_TEST(child_loop_runs_then_exits_0)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_msg		*arg, *bye;
	pid_t		 pid;

	begin();
	coll_open(&c);
	arg = iso_msg_pack("P", coll_port(&c));
	ck_assert_int_eq(iso_spawn(loop_entry, arg, &iso), 0);
	iso_msg_free(arg);
	pid = iso_pid(iso);
	ck_assert_int_gt(pid, 0);
	bye = iso_msg_pack("s", "exit");
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c), bye), 0);
	iso_msg_free(bye);	/* copied */
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	ck_assert(coll_wait_str(&c, "exit", 1));
	/* reaped before its listeners fire */
	ck_assert(!proc_exists(pid));
	run_for(100);
	ck_assert_int_eq(coll_count_type(&c, ISO_MAP), 3);
	ck_assert_int_eq(coll_count_str(&c, "port"), 1);
	ck_assert_int_eq(coll_count_str(&c, "exit"), 1);
	ck_assert_int_eq(coll_count_type(&c, ISO_LIST), 0);	/* no error */
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), -1);
	ck_assert_int_eq(errno, ESRCH);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

static void
spawn_later(void *arg)
{
	struct coll	*c = arg;
	iso_isolate	*iso;
	iso_msg		*m;

	m = iso_msg_pack("P", coll_port(c));
	if (iso_spawn(loop_entry, m, &iso) == 0) {
		iso_on_exit(iso, coll_port(c), NULL);
		iso_isolate_free(iso);
	}
	iso_msg_free(m);
}

/* Spawning from a callback (a user action in S9): the child starts
   with a loop of its own, not inside ours. */
START_TEST(spawn_inside_a_callback)
{
	struct coll	c;

	begin();
	coll_open(&c);
	ck_assert_ptr_nonnull(iso_timer_after(0, spawn_later, &c));
	ck_assert(coll_wait_str(&c, "port", 1));
	ck_assert(coll_wait_str(&c, NULL, 5));
	run_for(50);
	ck_assert_int_eq(coll_count_type(&c, ISO_MAP), 3);
	ck_assert_int_eq(coll_count_type(&c, ISO_NIL), 1);
	coll_close(&c);
	end();
}
END_TEST

/* ---- error listeners ------------------------------------------------------ */

static void
segv_entry(const iso_msg *arg)
{
	(void)arg;
	signal(SIGSEGV, SIG_DFL);	/* a sanitizer's handler would exit */
	raise(SIGSEGV);
}

static void
abort_entry(const iso_msg *arg)
{
	(void)arg;
	signal(SIGABRT, SIG_DFL);
	abort();
}

static void
exit3_entry(const iso_msg *arg)
{
	(void)arg;
	exit(3);
}

static const struct {
	void		(*entry)(const iso_msg *);
	const char	*desc;
	const char	*detail;	/* after "isolate PID " */
} crashes[] = {
	{ segv_entry, "SIGSEGV", "killed by signal 11 (Segmentation fault)" },
	{ abort_entry, "SIGABRT", "killed by signal 6 (Aborted)" },
	{ exit3_entry, "exit 3", "exited with status 3" },
};

START_TEST(error_listeners)
{
	struct coll	 c;
	iso_isolate	*iso;
	const char	*desc, *detail;
	char		 want[128];
	pid_t		 pid;
	int		 i, errors = 0;

	begin();
	coll_open(&c);
	ck_assert_int_eq(iso_spawn(crashes[_i].entry, NULL, &iso), 0);
	pid = iso_pid(iso);
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c), NULL), 0);
	ck_assert(coll_wait_str(&c, NULL, 2));
	ck_assert_int_eq(coll_count_type(&c, ISO_NIL), 1);
	/* registered after the end: fires at once */
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	ck_assert(coll_wait_str(&c, NULL, 3));
	snprintf(want, sizeof want, "isolate %d %s", (int)pid,
	    crashes[_i].detail);
	for (i = 0; i < c.n; i++) {
		if (iso_msg_type(c.m[i]) != ISO_LIST)
			continue;
		errors++;
		ck_assert_int_eq(iso_msg_unpack(c.m[i], "[ss!]", &desc,
		    &detail), 0);
		ck_assert_str_eq(desc, crashes[_i].desc);
		ck_assert_msg(strncmp(detail, want, strlen(want)) == 0,
		    "detail '%s', want '%s'", detail, want);
		ck_assert(detail[strlen(want)] == '\0' ||
		    strcmp(detail + strlen(want), ", core dumped") == 0);
	}
	ck_assert_int_eq(errors, 2);
	run_for(50);
	ck_assert_int_eq(c.n, 3);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

/* ---- kill ------------------------------------------------------------------ */

struct tick_ctx {
	iso_sendport	to;
	int		k;
};

static void
tick_send(iso_timer *t, void *arg)
{
	struct tick_ctx	*c = arg;

	(void)t;
	send_to(c->to, iso_msg_pack("{s:i}", "n", ++c->k));
}

static void
ticker_entry(const iso_msg *arg)
{
	static struct tick_ctx	c;

	iso_msg_unpack(arg, "P", &c.to);
	iso_timer_every(5, tick_send, &c);
}

START_TEST(kill_immediate)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_msg		*arg;
	pid_t		 pid;
	int		 n;

	begin();
	coll_open(&c);
	arg = iso_msg_pack("P", coll_port(&c));
	ck_assert_int_eq(iso_spawn(ticker_entry, arg, &iso), 0);
	iso_msg_free(arg);
	pid = iso_pid(iso);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    arg = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	ck_assert(coll_wait_str(&c, NULL, 3));
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	/* reaped before iso_kill returned: no process, no zombie */
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert(!proc_exists(pid));
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert_int_eq(iso_kill(iso, ISO_BEFORE_NEXT_EVENT), -1);
	ck_assert_int_eq(errno, ESRCH);
	/* a listener after the end fires at once */
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    arg = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(arg);
	ck_assert(coll_wait_str(&c, "exit", 2));
	run_for(50);		/* what it wrote before dying arrives */
	n = c.n;
	run_for(200);		/* and nothing after */
	ck_assert_int_eq(c.n, n);
	ck_assert_int_eq(coll_count_type(&c, ISO_LIST), 0);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

struct late_ctx {
	iso_sendport	to;
	int		fd;
};

/* A callback that signals the test through a pipe, then works 300 ms. */
static void
late_go_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct late_ctx	*c = arg;

	(void)p;
	(void)m;
	send_to(c->to, iso_msg_pack("s", "start"));
	(void)!write(c->fd, "x", 1);
	tu_sleep_ms(300);
	send_to(c->to, iso_msg_pack("s", "done-callback"));
}

static void
late_tick(iso_timer *t, void *arg)
{
	struct late_ctx	*c = arg;

	(void)t;
	send_to(c->to, iso_msg_pack("s", "tick"));
}

static void
late_entry(const iso_msg *arg)
{
	static struct late_ctx	 c;
	iso_port		*mine = iso_port_new();

	iso_msg_unpack(arg, "{s:P s:i}", "to", &c.to, "fd", &c.fd);
	iso_port_listen(mine, late_go_cb, &c);
	send_to(c.to, iso_msg_pack("{s:P}", "port", iso_port_sendport(mine)));
	iso_timer_every(10, late_tick, &c);
}

START_TEST(kill_before_next_event)
{
	struct coll	 c;
	struct pollfd	 pfd;
	iso_isolate	*iso;
	iso_sendport	 theirs;
	iso_msg		*arg;
	char		 x;
	int		 fds[2], i, done = -1;

	begin();
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	coll_open(&c);
	arg = iso_msg_pack("{s:P s:i}", "to", coll_port(&c), "fd", fds[1]);
	ck_assert_int_eq(iso_spawn(late_entry, arg, &iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    arg = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(arg);
	ck_assert_ptr_nonnull(coll_wait_key(&c, "port"));
	iso_msg_unpack(coll_find(&c, "port"), "{s:P}", "port", &theirs);
	send_to(theirs, iso_msg_pack("s", "go"));
	/* the child is inside its callback */
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
	ck_assert_int_eq(read(fds[0], &x, 1), 1);
	ck_assert_int_eq(iso_kill(iso, ISO_BEFORE_NEXT_EVENT), 0);
	ck_assert(coll_wait_str(&c, "exit", 1));
	ck_assert(coll_wait_str(&c, "done-callback", 1));
	run_for(100);
	/* the callback finished, and nothing came after it */
	for (i = 0; i < c.n; i++)
		if (is_str(c.m[i], "done-callback"))
			done = i;
	for (i = done + 1; i < c.n; i++) {
		ck_assert_msg(is_str(c.m[i], "exit"), "a message after the "
		    "callback that was running");
	}
	ck_assert_int_eq(coll_count_type(&c, ISO_LIST), 0);	/* no error */
	ck_assert(!proc_exists(iso_pid(iso)));
	iso_isolate_free(iso);
	coll_close(&c);
	close(fds[0]);
	close(fds[1]);
	end();
}
END_TEST

START_TEST(kill_bad_arguments)
{
	iso_isolate	*iso;

	begin();
	ck_assert_int_eq(iso_kill(NULL, ISO_IMMEDIATE), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_spawn(forever_entry, NULL, &iso), 0);
	ck_assert_int_eq(iso_kill(iso, 7), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_kill(iso, -1), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert(tu_alive(iso_pid(iso)));
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	ck_assert_int_eq(iso_pid(NULL), -1);
	ck_assert_int_eq(iso_spawn(NULL, NULL, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_on_exit(NULL, (iso_sendport){ 1, 1, 1 }, NULL),
	    -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_isolate_free(NULL);
	end();
}
END_TEST

/* ---- no orphans ------------------------------------------------------------ */

struct spawner_ctx {
	iso_sendport	to;
	int		mode;
};

/* An isolate that says it runs (so it is past its start, where a
   spawner already gone makes it end with status 1) and lives until
   killed. */
static void
ready_entry(const iso_msg *arg)
{
	iso_sendport	to;

	iso_msg_unpack(arg, "{s:P}", "to", &to);
	(void)iso_sendf(to, "{s:b}", "ready", 1);
	(void)iso_port_new();
}

/* Spawn a grandchild that lives until killed, tell its pid, then end
   `mode`. */
static void
spawner_entry(const iso_msg *arg)
{
	struct spawner_ctx	 c;
	iso_isolate		*g;

	iso_msg_unpack(arg, "{s:P s:i}", "to", &c.to, "mode", &c.mode);
	if (iso_spawn(ready_entry, arg, &g) == -1)
		_exit(9);
	send_to(c.to, iso_msg_pack("{s:i}", "pid", (int)iso_pid(g)));
	switch (c.mode) {
	case 0:			/* killed by the test */
		(void)iso_port_new();
		break;
	case 1:
		exit(0);
	case 2:
		iso_exit(c.to, NULL);
	case 3:
		break;		/* returns: the loop has nothing, ends */
	}
}

static pid_t
spawn_spawner(struct coll *c, int mode, iso_isolate **iso)
{
	const iso_msg	*m;
	iso_msg		*arg;
	int		 pid = -1;

	arg = iso_msg_pack("{s:P s:i}", "to", coll_port(c), "mode", mode);
	ck_assert_int_eq(iso_spawn(spawner_entry, arg, iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_on_exit(*iso, coll_port(c),
	    arg = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(arg);
	ck_assert_ptr_nonnull(m = coll_wait_key(c, "pid"));
	iso_msg_unpack(m, "{s:i}", "pid", &pid);
	ck_assert_int_gt(pid, 0);
	return ((pid_t)pid);
}

START_TEST(no_orphans_when_spawner_killed)
{
	struct coll	 c;
	iso_isolate	*iso;
	pid_t		 g;
	int		 status;

	begin();
	subreaper(1);	/* an orphan would come to us: we can tell */
	coll_open(&c);
	g = spawn_spawner(&c, 0, &iso);
	ck_assert_ptr_nonnull(coll_wait_key(&c, "ready"));
	ck_assert(tu_alive(g));
	ck_assert_int_eq(kill(iso_pid(iso), SIGKILL), 0);
	status = reap_orphan(g, WAIT_MS);
	if (status == -1) {
		kill(g, SIGKILL);
		reap_orphan(g, WAIT_MS);
		ck_abort_msg("the isolate outlived its spawner");
	}
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "the orphan ended with status %#x, not by SIGKILL", status);
	ck_assert(coll_wait_str(&c, "exit", 1));
	iso_isolate_free(iso);
	coll_close(&c);
	subreaper(0);
	end();
}
END_TEST

START_TEST(no_orphans_when_spawner_ends)
{
	struct coll	 c;
	iso_isolate	*iso;
	pid_t		 g;
	int		 gone;

	begin();
	subreaper(1);
	coll_open(&c);
	g = spawn_spawner(&c, _i, &iso);
	ck_assert(coll_wait_str(&c, "exit", 1));
	/* the spawner reaped it before ending: not even a zombie is left
	   (an orphan would now be our zombie) */
	gone = kill(g, 0) == -1 && errno == ESRCH;
	if (!gone) {
		kill(g, SIGKILL);
		reap_orphan(g, WAIT_MS);
	}
	ck_assert_msg(gone, "mode %d: isolate %d outlived its spawner", _i,
	    (int)g);
	if (_i == 2)	/* iso_exit's final message: nil */
		ck_assert_int_eq(coll_count_type(&c, ISO_NIL), 1);
	iso_isolate_free(iso);
	coll_close(&c);
	subreaper(0);
	end();
}
END_TEST

/* ---- no zombies, and the program's own children --------------------------- */

static int
is_zombie(pid_t pid)
{
	return (proc_exists(pid) && !tu_alive(pid));
}

static int
wait_zombie(pid_t pid)
{
	long	end_ms = now_ms() + WAIT_MS;

	while (!is_zombie(pid) && now_ms() < end_ms)
		run_for(10);
	return (is_zombie(pid));
}

START_TEST(no_zombies_without_the_loop)
{
	iso_isolate	*a, *b;
	pid_t		 pa, pb;
	long		 end_ms;
	struct coll	 c;

	begin();
	ck_assert_int_eq(iso_spawn(return_entry, NULL, &a), 0);
	pa = iso_pid(a);
	end_ms = now_ms() + WAIT_MS;
	while (!is_zombie(pa) && now_ms() < end_ms)
		tu_sleep_ms(5);		/* no loop runs */
	ck_assert(is_zombie(pa));
	/* the next spawn reaps what has ended */
	ck_assert_int_eq(iso_spawn(return_entry, NULL, &b), 0);
	pb = iso_pid(b);
	ck_assert(!proc_exists(pa));
	coll_open(&c);
	/* ended: the listener fires at once */
	ck_assert_int_eq(iso_on_exit(a, coll_port(&c), NULL), 0);
	ck_assert_int_eq(iso_on_exit(b, coll_port(&c), NULL), 0);
	ck_assert(coll_wait_str(&c, NULL, 2));
	run_for(10);
	ck_assert(!proc_exists(pb));
	iso_isolate_free(a);
	iso_isolate_free(b);
	coll_close(&c);
	end();
}
END_TEST

static volatile sig_atomic_t	sigchld_seen;

static void
on_sigchld(int sig)
{
	(void)sig;
	sigchld_seen++;
}

START_TEST(own_children_are_the_programs)
{
	struct sigaction sa, old;
	struct coll	 c;
	iso_isolate	*iso;
	pid_t		 own1, own2;
	int		 status;

	begin();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigchld;	/* no SA_RESTART: EINTR everywhere */
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGCHLD, &sa, &old), 0);
	if ((own1 = fork()) == 0)
		_exit(7);
	coll_open(&c);
	ck_assert_int_eq(iso_spawn(return_entry, NULL, &iso), 0);
	if ((own2 = fork()) == 0) {
		tu_sleep_ms(50);
		_exit(8);
	}
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c), NULL), 0);
	ck_assert(coll_wait_str(&c, NULL, 1));
	/* the loop ran while ours ended: they wait for us */
	ck_assert(wait_zombie(own1));
	ck_assert(wait_zombie(own2));
	run_for(50);
	ck_assert(is_zombie(own1));
	ck_assert_int_eq(waitpid(own1, &status, 0), own1);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 7);
	ck_assert_int_eq(waitpid(own2, &status, 0), own2);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 8);
	ck_assert_int_gt(sigchld_seen, 0);
	ck_assert_int_eq(sigaction(SIGCHLD, &old, NULL), 0);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

/* ---- pid reuse ------------------------------------------------------------- */

static void
echo_cb(iso_port *p, const iso_msg *m, void *arg)
{
	(void)p;
	(void)iso_send(*(iso_sendport *)arg, m);
}

static void
echo_entry(const iso_msg *arg)
{
	static iso_sendport	 to;
	iso_port		*mine = iso_port_new();

	iso_msg_unpack(arg, "P", &to);
	iso_port_listen(mine, echo_cb, &to);
	send_to(to, iso_msg_pack("{s:P}", "port", iso_port_sendport(mine)));
}

static void
spawn_echo(struct coll *c, iso_isolate **iso, iso_sendport *theirs)
{
	iso_msg	*arg = iso_msg_pack("P", coll_port(c));

	ck_assert_int_eq(iso_spawn(echo_entry, arg, iso), 0);
	iso_msg_free(arg);
	ck_assert_ptr_nonnull(coll_wait_key(c, "port"));
	iso_msg_unpack(coll_find(c, "port"), "{s:P}", "port", theirs);
}

START_TEST(pid_reuse_cannot_misroute)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_sendport	 theirs, wrong;
	iso_msg		*m;

	begin();
	coll_open(&c);
	spawn_echo(&c, &iso, &theirs);
	ck_assert_int_eq(theirs.pid, (uint32_t)iso_pid(iso));
	/* the live isolate's pid and port, another isolate id */
	wrong = theirs;
	wrong.isolate ^= 1;
	m = iso_msg_pack("s", "misrouted");
	errno = 0;
	ck_assert_int_eq(iso_send(wrong, m), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	iso_msg_free(m);
	send_to(theirs, iso_msg_pack("s", "ping"));
	ck_assert(coll_wait_str(&c, "ping", 1));
	run_for(50);
	ck_assert_int_eq(c.n, 2);		/* port, ping */
	ck_assert_int_eq(coll_count_str(&c, "misrouted"), 0);
	/* dead: refused, and its socket's name is gone with it */
	ck_assert_int_eq(tu_iso_bound(theirs.isolate), 1);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	ck_assert_int_eq(tu_iso_bound(theirs.isolate), 0);
	m = iso_msg_pack("s", "late");
	errno = 0;
	ck_assert_int_eq(iso_send(theirs, m), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	iso_msg_free(m);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

/*
 * A plain fork() of the program that ends with exit() runs the atexit
 * handlers it inherited: they must not kill the program's isolates nor
 * close its socket (the copy is not the spawner, nor the isolate).
 */
START_TEST(plain_fork_exit_leaves_isolates_alone)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_sendport	 theirs;
	pid_t		 pid;
	int		 status;

	begin();
	coll_open(&c);
	spawn_echo(&c, &iso, &theirs);
	if ((pid = fork()) == 0)
		exit(0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert(tu_alive(iso_pid(iso)));
	ck_assert_msg(tu_iso_bound(coll_port(&c).isolate) == 1,
	    "our socket was closed");
	send_to(theirs, iso_msg_pack("s", "ping"));
	ck_assert(coll_wait_str(&c, "ping", 1));
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

/* ---- descriptors of a spawned isolate ------------------------------------ */

static int
is_library_fd(int fd)
{
	char	path[64], link[128];
	ssize_t	n;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	if ((n = readlink(path, link, sizeof link - 1)) == -1)
		return (0);
	link[n] = '\0';
	return (strncmp(link, "socket:", 7) == 0 ||
	    strncmp(link, "anon_inode:", 11) == 0);
}

/* Which of our descriptors are the same open file as one of the
   spawner's (kcmp): sends {"leaked": [...], "skip": bool}. */
static void
fdcheck_entry(const iso_msg *arg)
{
	const iso_msg	*theirs;
	iso_sendport	 to;
	iso_msg		*leaked = iso_msg_pack("[]");
	int		 mine[MAX_FDS], n, i, j, skip = 0;
	int64_t		 p;
	long		 r;

	iso_msg_unpack(arg, "{s:P s:O}", "to", &to, "fds", &theirs);
	n = fd_list(mine, MAX_FDS, 0);
	for (i = 0; i < n; i++)
		for (j = 0; j < (int)iso_msg_len(theirs); j++) {
			iso_msg_int(iso_msg_at(theirs, (size_t)j), &p);
			r = syscall(SYS_kcmp, getppid(), getpid(), KCMP_FILE,
			    (int)p, mine[i]);
			if (r == -1 && errno != EBADF)
				skip = 1;
			if (r == 0)
				iso_msg_append(leaked, iso_msg_pack("i",
				    mine[i]));
		}
	send_to(to, iso_msg_pack("{s:O s:b}", "leaked", leaked, "skip", skip));
	iso_msg_free(leaked);
}

/* The isolate: which of SIGUSR1, SIGUSR2, SIGTERM it has blocked. */
static void
mask_entry(const iso_msg *arg)
{
	iso_sendport	to;
	sigset_t	set;

	iso_msg_unpack(arg, "P", &to);
	pthread_sigmask(SIG_SETMASK, NULL, &set);
	send_to(to, iso_msg_pack("[b b b]", sigismember(&set, SIGUSR1),
	    sigismember(&set, SIGUSR2), sigismember(&set, SIGTERM)));
}

/* A new isolate has its spawner's signal mask (every signal is blocked
   around the fork, the mask put back in both). */
START_TEST(a_new_isolate_has_its_spawners_signal_mask)
{
	iso_port	*p;
	iso_isolate	*iso;
	iso_msg		*m;
	sigset_t	 usr1, old;
	int		 b1 = 0, b2 = 1, bt = 1;

	begin();
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &usr1, &old), 0);
	ck_assert_ptr_nonnull(p = iso_port_new());
	m = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_int_eq(iso_spawn(mask_entry, m, &iso), 0);
	iso_msg_free(m);
	ck_assert_int_eq(iso_port_first(p, &m, WAIT_MS), 0);
	ck_assert_int_eq(iso_msg_unpack(m, "[b b b]", &b1, &b2, &bt), 0);
	iso_msg_free(m);
	ck_assert_msg(b1 && !b2 && !bt, "the isolate's mask: SIGUSR1 %d, "
	    "SIGUSR2 %d, SIGTERM %d blocked", b1, b2, bt);
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, NULL, &usr1), 0);
	ck_assert(sigismember(&usr1, SIGUSR1) && !sigismember(&usr1, SIGUSR2));
	ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
	iso_isolate_free(iso);		/* p: closed by iso_port_first */
	end();
}
END_TEST

START_TEST(spawned_isolate_has_no_library_fd)
{
	struct coll	 c;
	iso_isolate	*echo, *iso;
	iso_sendport	 theirs;
	iso_msg		*list, *arg;
	const iso_msg	*r, *leaked;
	int		 fds[MAX_FDS], n, i, skip = 0, lib = 0;

	begin();
	coll_open(&c);
	/* the pair to echo, the listening socket, epoll; a pidfd and the
	   epoll of pidfds but under valgrind */
	spawn_echo(&c, &echo, &theirs);
	send_to(theirs, iso_msg_pack("s", "ping"));
	ck_assert(coll_wait_str(&c, "ping", 1));
	list = iso_msg_pack("[]");
	n = fd_list(fds, MAX_FDS, 0);
	for (i = 0; i < n; i++)
		if (is_library_fd(fds[i])) {
			iso_msg_append(list, iso_msg_pack("i", fds[i]));
			lib++;
		}
	ck_assert_int_ge(lib, 3);	/* no pidfd under valgrind */
	arg = iso_msg_pack("{s:P s:O}", "to", coll_port(&c), "fds", list);
	ck_assert_int_eq(iso_spawn(fdcheck_entry, arg, &iso), 0);
	iso_msg_free(arg);
	iso_msg_free(list);
	ck_assert_ptr_nonnull(r = coll_wait_key(&c, "leaked"));
	ck_assert_int_eq(iso_msg_unpack(r, "{s:O s:b}", "leaked", &leaked,
	    "skip", &skip), 0);
	if (skip)
		fprintf(stderr, "check_isolate: kcmp unavailable, fd check "
		    "skipped\n");
	ck_assert_msg(iso_msg_len(leaked) == 0, "%zu of the spawner's "
	    "descriptors are open in the isolate", iso_msg_len(leaked));
	ck_assert_int_eq(iso_kill(echo, ISO_IMMEDIATE), 0);
	iso_isolate_free(echo);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    arg = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(arg);
	ck_assert(coll_wait_str(&c, "exit", 1));
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

/* The highest of the library's descriptors (sockets, epoll): -1 if none. */
static int
fd_library_top(void)
{
	int	fds[MAX_FDS], n, i, top = -1;

	n = fd_list(fds, MAX_FDS, 0);
	for (i = 0; i < n; i++)
		if (fds[i] > top && is_library_fd(fds[i]))
			top = fds[i];
	return (top);
}

/* Sends {"top": fd_library_top()}. */
static void
fdtop_entry(const iso_msg *arg)
{
	iso_sendport	to;

	iso_msg_unpack(arg, "P", &to);
	send_to(to, iso_msg_pack("{s:i}", "top", fd_library_top()));
}

/*
 * A new isolate's descriptors are the lowest free ones, whatever the
 * spawner's numbers: its spawn socketpair too, which the spawner made
 * above the pair and pidfd of every isolate it has (libevent sizes a
 * table by the highest descriptor it watches).
 */
START_TEST(a_new_isolates_descriptors_are_low)
{
	struct coll	 c;
	iso_isolate	*idle[40], *iso;
	iso_msg		*arg;
	const iso_msg	*r;
	int		 i, top = -1, before;

	begin();
	coll_open(&c);
	before = fd_library_top();
	for (i = 0; i < 40; i++)
		ck_assert_int_eq(iso_spawn(forever_entry, NULL, &idle[i]), 0);
	arg = iso_msg_pack("P", coll_port(&c));
	ck_assert_int_eq(iso_spawn(fdtop_entry, arg, &iso), 0);
	iso_msg_free(arg);
	ck_assert_ptr_nonnull(r = coll_wait_key(&c, "top"));
	ck_assert_int_eq(iso_msg_unpack(r, "{s:i}", "top", &top), 0);
	/* Its own: the base's epoll and pipe, its SIGTERM pair, the pair
	   to us, its listening socket; the spawner's reach 80 higher. */
	ck_assert_msg(top <= before + 12, "the isolate's highest socket is "
	    "%d, the spawner's were up to %d before 40 spawns", top, before);
	for (i = 0; i < 40; i++) {
		ck_assert_int_eq(iso_kill(idle[i], ISO_IMMEDIATE), 0);
		iso_isolate_free(idle[i]);
	}
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    arg = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(arg);
	ck_assert(coll_wait_str(&c, "exit", 1));
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

/* ---- watching an isolate by its pair ------------------------------------ */

/* An isolate spawned on a socketpair costs its spawner that descriptor
   only: it is watched by the pair's hangup, not by a pidfd (every later
   isolate inherits and closes what the spawner holds). */
START_TEST(a_spawned_isolate_costs_its_spawner_one_descriptor)
{
	iso_isolate	*iso[20];
	int		 i, before;

	begin();
	before = tu_fd_count();
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(iso_spawn(forever_entry, NULL, &iso[i]),
		    0);
	ck_assert_int_eq(tu_fd_count(), before + 20);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(iso_kill(iso[i], ISO_IMMEDIATE), 0);
		iso_isolate_free(iso[i]);
	}
	end();
}
END_TEST

/* In the isolate: our end of the pair to our spawner (its peer is the
   spawner, which made it), or -1. */
static int
spawner_pair_fd(void)
{
	struct ucred	cr;
	socklen_t	len;
	int		fd;

	for (fd = 3; fd < 1024; fd++) {
		len = sizeof cr;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 &&
		    cr.pid == getppid())
			return (fd);
	}
	return (-1);
}

/* Make the spawner drop the pair (0: a frame of 4 GiB; 1: our writing
   side shut), wait until it has closed its end, then exit 7. */
static void
pair_gone_entry(const iso_msg *arg)
{
	static const unsigned char	 huge[] = { 0xff, 0xff, 0xff, 0xff, 0 };
	struct pollfd			 pfd;
	ssize_t				 n;
	char				 b;
	int				 how = -1, fd;

	iso_msg_unpack(arg, "i", &how);
	if ((fd = spawner_pair_fd()) == -1)
		_exit(3);
	if (how == 0 ? write(fd, huge, sizeof huge) != sizeof huge :
	    shutdown(fd, SHUT_WR) == -1)
		_exit(4);
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		if (poll(&pfd, 1, WAIT_MS) <= 0)
			_exit(5);
		if ((n = read(fd, &b, 1)) == 0)
			break;
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			break;
	}
	_exit(7);
}

/* An isolate whose pair is gone while it runs (the spawner dropped it,
   or the isolate shut its side) is still reaped when it ends, and its
   end told. */
START_TEST(an_isolate_whose_pair_is_gone_is_still_reaped)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_msg		*arg;
	const char	*desc = NULL, *detail;
	long		 end_ms = now_ms() + WAIT_MS;

	begin();
	coll_open(&c);
	arg = iso_msg_pack("i", _i);
	ck_assert_int_eq(iso_spawn(pair_gone_entry, arg, &iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	while (coll_count_type(&c, ISO_LIST) == 0 && now_ms() < end_ms)
		run_for(10);
	ck_assert_int_eq(coll_count_type(&c, ISO_LIST), 1);
	ck_assert_int_eq(iso_msg_unpack(c.m[0], "[ss]", &desc, &detail), 0);
	ck_assert_str_eq(desc, "exit 7");
	ck_assert_int_eq(children_count(), 0);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

static int	helper_pipe[2];		/* the helper waits on [0] */

/* Fork a plain helper that outlives us (until the test closes its pipe),
   tell its pid, and end. */
static void
plain_helper_entry(const iso_msg *arg)
{
	iso_sendport	to;
	pid_t		pid;
	char		b;

	iso_msg_unpack(arg, "P", &to);
	close(helper_pipe[1]);
	if ((pid = fork()) == 0) {
		while (read(helper_pipe[0], &b, 1) == -1 && errno == EINTR)
			;
		_exit(0);
	}
	send_to(to, iso_msg_pack("{s:i}", "helper", (int)pid));
}

/* An isolate's end is told while a process it forked plainly still
   runs: that process does not keep the pair the spawner watches. */
START_TEST(an_isolates_plain_fork_does_not_hide_its_end)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_msg		*arg;
	const iso_msg	*r;
	int		 helper = -1;

	begin();
	coll_open(&c);
	ck_assert_int_eq(pipe2(helper_pipe, O_CLOEXEC), 0);
	arg = iso_msg_pack("P", coll_port(&c));
	ck_assert_int_eq(iso_spawn(plain_helper_entry, arg, &iso), 0);
	iso_msg_free(arg);
	close(helper_pipe[0]);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    arg = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(arg);
	ck_assert_ptr_nonnull(r = coll_wait_key(&c, "helper"));
	ck_assert_int_eq(iso_msg_unpack(r, "{s:i}", "helper", &helper), 0);
	ck_assert_int_gt(helper, 0);
	ck_assert(coll_wait_str(&c, "exit", 1));
	ck_assert(tu_alive(helper));	/* told before the helper ended */
	close(helper_pipe[1]);		/* the helper's end of file */
	ck_assert(tu_gone_within(helper, WAIT_MS));
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

/* ---- libevent's allocations in a new isolate ----------------------------- */

static struct event	*spawners_ev;	/* made by the test: its region's */
static struct event	*parents_ev;	/* made by the first isolate */

/* Messages' blocks come from malloc under ASan and memcheck (their leak
   reports name a message never freed), else from the region. */
static int
msgs_from_malloc(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return (1);
#else
	uint32_t	probe = 0, vbits;

	return (RUNNING_ON_VALGRIND && VALGRIND_GET_VBITS(&probe, &vbits,
	    sizeof probe) == 1);
#endif
}

/* 1 if p is in a mapping of process pid (our spawner's, for a block
   that could be on a page we share with it). */
static int
in_maps_of(const void *p, pid_t pid)
{
	char		 path[64], line[512];
	unsigned long	 lo, hi;
	FILE		*f;
	int		 in = 0;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "re"));
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    (unsigned long)p >= lo && (unsigned long)p < hi)
			in = 1;
	fclose(f);
	return (in);
}

static void
nop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Make an event and tell to {key: true} if it is in memory of our own,
   not our spawner's. */
static void
own_event_tell(iso_sendport to, const char *key)
{
	struct event	*ev;
	int		 fired = 0;

	ev = evtimer_new(iso_event_base(), nop_cb, &fired);
	send_to(to, iso_msg_pack("{s:b}", key, ev != NULL &&
	    !in_maps_of(ev, getppid())));
	if (ev != NULL)
		event_free(ev);
}

/* The isolate of a busy spawner. */
static void
region_entry(const iso_msg *arg)
{
	iso_sendport	to;

	iso_msg_unpack(arg, "P", &to);
	own_event_tell(to, "own");
}

/* The second isolate: frees its spawner's event (a block of the first
   isolate's region: left alone) and makes one of its own. */
static void
evmem_grandchild_entry(const iso_msg *arg)
{
	iso_sendport	to;

	iso_msg_unpack(arg, "P", &to);
	event_free(parents_ev);
	own_event_tell(to, "grand");
}

/* The first isolate: where its events are, one freed and made again, the
   spawner's freed, a descriptor above 600 watched (libevent's table of
   descriptors outgrows the region's blocks), then the second isolate. */
static void
evmem_child_entry(const iso_msg *arg)
{
	iso_sendport	 to;
	struct event	*ev, *io;
	struct timeval	 tv = { 5, 0 };
	void		*was;
	int		 heap, reused, fired = 0, fds[2], high;
	iso_isolate	*iso;
	iso_port	*q;
	iso_msg		*m;

	iso_msg_unpack(arg, "P", &to);
	ev = evtimer_new(iso_event_base(), nop_cb, &fired);
	heap = ev == NULL || in_maps_of(ev, getppid());
	/* a small message too (from malloc where a leak checker runs) */
	m = iso_msg_pack("{s:i}", "msg", 1);
	if (!msgs_from_malloc())
		heap = heap || m == NULL || in_maps_of(m, getppid());
	iso_msg_free(m);
	was = ev;
	event_free(ev);
	parents_ev = evtimer_new(iso_event_base(), nop_cb, &fired);
	reused = (void *)parents_ev == was;
	event_free(spawners_ev);	/* the spawner's: left alone */
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	ck_assert_int_ge(high = fcntl(fds[0], F_DUPFD_CLOEXEC, 600), 600);
	io = event_new(iso_event_base(), high, EV_READ, nop_cb, &fired);
	ck_assert_int_eq(event_add(io, &tv), 0);
	ck_assert_int_eq(write(fds[1], "x", 1), 1);
	while (!fired)
		ck_assert_int_ge(event_base_loop(iso_event_base(),
		    EVLOOP_ONCE), 0);
	event_free(io);
	close(high);
	close(fds[0]);
	close(fds[1]);
	send_to(to, iso_msg_pack("{s:b s:b s:b}", "heap", heap, "reused",
	    reused, "high", fired));
	/* and the second, waited for: our end would take it with us */
	ck_assert_ptr_nonnull(q = iso_port_new());
	ck_assert_int_eq(iso_spawn(evmem_grandchild_entry, arg, &iso), 0);
	ck_assert_int_eq(iso_on_exit(iso, iso_port_sendport(q), NULL), 0);
	ck_assert_int_eq(iso_port_first(q, &m, WAIT_MS), 0);
	iso_msg_free(m);
	iso_isolate_free(iso);
}

/* The start of our mapping that holds p. */
static unsigned long
mapping_of(const void *p)
{
	char		 line[512];
	unsigned long	 lo, hi, at = 0;
	FILE		*f;

	ck_assert_ptr_nonnull(f = fopen("/proc/self/maps", "re"));
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    (unsigned long)p >= lo && (unsigned long)p < hi)
			at = lo;
	fclose(f);
	ck_assert_msg(at != 0, "%p is in no mapping", p);
	return (at);
}

/*
 * A spawner's own events and small messages are not the C library's
 * either: what it makes and frees after each fork would write the heap
 * and the allocator's state it shares with the isolates spawned since.
 */
START_TEST(a_spawners_events_and_messages_leave_the_heap_alone)
{
	struct event	*ev;
	iso_msg		*m;
	void		*c;
	int		 fired = 0;

	begin();
	ck_assert_ptr_nonnull(ev = evtimer_new(iso_event_base(), nop_cb,
	    &fired));
	m = iso_msg_pack("{s:i}", "msg", 1);
	c = calloc(1, 64);
	ck_assert(m != NULL && c != NULL);
	ck_assert_msg(mapping_of(ev) != mapping_of(c),
	    "libevent allocates in the C library's heap");
	if (!msgs_from_malloc())
		ck_assert_msg(mapping_of(m) != mapping_of(c),
		    "a small message is in the C library's heap");
	free(c);
	iso_msg_free(m);
	event_free(ev);
	end();
}
END_TEST

/*
 * A spawner with many events of its own (thousands of isolates') still
 * leaves its isolates room for a region of their own: its regions grow
 * in size, not in number, and the table of them is inherited.
 */
START_TEST(a_busy_spawners_isolates_still_have_a_region_of_their_own)
{
	struct event	**evs;
	iso_isolate	 *iso;
	iso_port	 *p;
	iso_msg		 *m;
	int		  i, n = 20000, fired = 0, own = 0;

	begin();
	ck_assert_ptr_nonnull(evs = calloc((size_t)n, sizeof *evs));
	for (i = 0; i < n; i++)
		ck_assert_ptr_nonnull(evs[i] = evtimer_new(iso_event_base(),
		    nop_cb, &fired));
	ck_assert_ptr_nonnull(p = iso_port_new());
	m = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_int_eq(iso_spawn(region_entry, m, &iso), 0);
	iso_msg_free(m);
	ck_assert_int_eq(iso_port_first(p, &m, WAIT_MS), 0);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:b}", "own", &own), 0);
	iso_msg_free(m);
	ck_assert_msg(own, "the isolate's event is in memory its spawner "
	    "has: no region of its own");
	iso_isolate_free(iso);
	for (i = 0; i < n; i++)
		event_free(evs[i]);
	free(evs);
	end();
}
END_TEST

/*
 * A new isolate's libevent allocations and small messages come from a
 * region of its own, not from the heap it shares with its spawner (where
 * each would copy a page); freed blocks are used again; its spawner's
 * objects, of its region or an ancestor isolate's, can be freed there.
 */
START_TEST(libevents_allocations_in_a_new_isolate_are_its_own)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_msg		*arg;
	const iso_msg	*r;
	int		 heap = 1, reused = 0, high = 0, grand = 0, fired;

	begin();
	coll_open(&c);
	ck_assert_ptr_nonnull(spawners_ev = evtimer_new(iso_event_base(),
	    nop_cb, &fired));
	arg = iso_msg_pack("P", coll_port(&c));
	ck_assert_int_eq(iso_spawn(evmem_child_entry, arg, &iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	ck_assert_ptr_nonnull(r = coll_wait_key(&c, "heap"));
	ck_assert_int_eq(iso_msg_unpack(r, "{s:b s:b s:b}", "heap", &heap,
	    "reused", &reused, "high", &high), 0);
	ck_assert_msg(!heap, "a new isolate's event is in memory it shares "
	    "with its spawner");
	ck_assert(reused);
	ck_assert(high);
	ck_assert_ptr_nonnull(r = coll_wait_key(&c, "grand"));
	ck_assert_int_eq(iso_msg_unpack(r, "{s:b}", "grand", &grand), 0);
	ck_assert(grand);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    arg = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(arg);
	ck_assert(coll_wait_str(&c, "exit", 1));
	ck_assert_int_eq(coll_count_type(&c, ISO_LIST), 0);	/* no error */
	iso_isolate_free(iso);
	event_free(spawners_ev);
	coll_close(&c);
	end();
}
END_TEST

/* A SendPort that went to the spawner over the spawn socketpair, then on
   to a third isolate: the third sends to it directly. */
static void
relay_entry(const iso_msg *arg)
{
	iso_sendport	echo;

	iso_msg_unpack(arg, "P", &echo);
	send_to(echo, iso_msg_pack("s", "second-hand"));
}

/* The child: send a port of its own on p1, wait for "go", answer on p2
   and end (its last message flushed at exit). */
static void
last_word_entry(const iso_msg *arg)
{
	iso_sendport	 p1, p2;
	iso_port	*q = iso_port_new();
	iso_msg		*m;

	if (q == NULL || iso_msg_unpack(arg, "[P P]", &p1, &p2) == -1)
		return;
	send_to(p1, iso_msg_pack("P", iso_port_sendport(q)));
	if (iso_port_first(q, &m, 5000) == 0)
		iso_msg_free(m);
	send_to(p2, iso_msg_pack("s", "result"));
}

START_TEST(a_failed_send_loses_nothing_the_child_sent)
{
	iso_port	*p1 = iso_port_new(), *p2 = iso_port_new();
	iso_msg		*m;
	iso_sendport	 q;
	iso_isolate	*iso;

	m = iso_msg_pack("[P P]", iso_port_sendport(p1), iso_port_sendport(p2));
	ck_assert_int_eq(iso_spawn(last_word_entry, m, &iso), 0);
	iso_msg_free(m);
	ck_assert_int_eq(iso_port_first(p1, &m, 5000), 0);
	ck_assert_int_eq(iso_msg_sendport(m, &q), 0);
	iso_msg_free(m);
	send_to(q, iso_msg_pack("s", "go"));
	/* It answers and ends; the loop does not run meanwhile. */
	ck_assert(tu_gone_within(iso_pid(iso), 5000) || !tu_alive(iso_pid(iso)));
	tu_sleep_ms(100);
	/* Writing to it fails on the pair that also holds its answer... */
	m = iso_msg_pack("s", "late");
	ck_assert_int_eq(iso_send(q, m), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	iso_msg_free(m);
	/* ...which still arrives. */
	ck_assert_int_eq(iso_port_first(p2, &m, 5000), 0);
	ck_assert_str_eq(iso_msg_str(m, NULL), "result");
	iso_msg_free(m);
	iso_isolate_free(iso);
}
END_TEST

START_TEST(spawns_without_a_loop_keep_no_descriptor)
{
	iso_isolate	*iso;
	int		 i, before;

	begin();
	before = tu_fd_count();
	/* Never running the loop: each pair must go with its isolate. */
	for (i = 0; i < 50; i++) {
		ck_assert_int_eq(iso_spawn(return_entry, NULL, &iso), 0);
		ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE) == 0 ||
		    errno == ESRCH, 1);
		iso_isolate_free(iso);
	}
	ck_assert_int_le(tu_fd_count(), before + 1);
	end();
}
END_TEST

START_TEST(third_isolate_sends_to_port_got_second_hand)
{
	struct coll	 c;
	iso_isolate	*echo, *relay;
	iso_sendport	 theirs;
	iso_msg		*arg;

	begin();
	coll_open(&c);
	spawn_echo(&c, &echo, &theirs);		/* its port came over the pair */
	arg = iso_msg_pack("P", theirs);
	ck_assert_int_eq(iso_spawn(relay_entry, arg, &relay), 0);
	iso_msg_free(arg);
	/* relay -> echo (by echo's socket) -> us (over echo's pair) */
	ck_assert(coll_wait_str(&c, "second-hand", 1));
	ck_assert_int_eq(iso_kill(echo, ISO_IMMEDIATE), 0);
	iso_isolate_free(echo);
	iso_isolate_free(relay);
	coll_close(&c);
	end();
}
END_TEST

/* The spawner's ports and timers, as a spawned isolate sees them. */
static iso_port		*g_port;
static iso_timer	*g_timer;

static void
g_tick(iso_timer *t, void *arg)
{
	(void)t;
	(void)arg;
}

static void
g_listen(iso_port *p, const iso_msg *m, void *arg)
{
	(void)p;
	(void)m;
	(void)arg;
}

static void
foreign_entry(const iso_msg *arg)
{
	iso_port	*mine[4];
	iso_msg		*m = NULL;
	int		 i, listen_rc, first_rc;

	(void)arg;
	/* ours may have the same numbers as the spawner's */
	for (i = 0; i < 4; i++)
		mine[i] = iso_port_new();
	iso_port_close(g_port);			/* not ours: nothing */
	iso_timer_cancel(g_timer);		/* the same */
	listen_rc = iso_port_listen(g_port, g_listen, NULL);
	first_rc = iso_port_first(g_port, &m, 0);
	/* its SendPort is still the spawner's port */
	send_to(iso_port_sendport(g_port), iso_msg_pack("{s:i s:i}",
	    "listen", listen_rc, "first", first_rc));
	for (i = 0; i < 4; i++)
		iso_port_close(mine[i]);
}

START_TEST(spawners_ports_and_timers_are_not_ours)
{
	struct coll	 c;
	iso_isolate	*iso;
	const iso_msg	*r;
	iso_msg		*m;
	int		 lrc, frc;

	begin();
	coll_open(&c);
	g_port = c.p;
	g_timer = iso_timer_every(1000, g_tick, NULL);
	ck_assert_ptr_nonnull(g_timer);
	ck_assert_int_eq(iso_spawn(foreign_entry, NULL, &iso), 0);
	ck_assert_ptr_nonnull(r = coll_wait_key(&c, "listen"));
	iso_msg_unpack(r, "{s:i s:i}", "listen", &lrc, "first", &frc);
	ck_assert_int_eq(lrc, -1);
	ck_assert_int_eq(frc, -1);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    m = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(m);
	ck_assert(coll_wait_str(&c, "exit", 1));
	ck_assert_int_eq(coll_count_type(&c, ISO_LIST), 0);
	iso_timer_cancel(g_timer);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

/* A spawned isolate holds its spawner's handles as memory only. */
static iso_isolate	*g_sibling;

static void
sibling_entry(const iso_msg *arg)
{
	iso_sendport	to;
	int		kill_rc, kill_errno, on_exit_rc;

	iso_msg_unpack(arg, "P", &to);
	kill_rc = iso_kill(g_sibling, ISO_IMMEDIATE);
	kill_errno = errno;
	on_exit_rc = iso_on_exit(g_sibling, to, NULL);
	send_to(to, iso_msg_pack("{s:i s:i s:i s:i}", "kill", kill_rc,
	    "errno", kill_errno, "on_exit", on_exit_rc, "pid",
	    (int)iso_pid(g_sibling)));
	iso_isolate_free(g_sibling);
}

START_TEST(spawners_handles_are_not_ours)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_msg		*arg;
	const iso_msg	*r;
	int		 krc, kerr, orc, pid;

	begin();
	coll_open(&c);
	ck_assert_int_eq(iso_spawn(forever_entry, NULL, &g_sibling), 0);
	arg = iso_msg_pack("P", coll_port(&c));
	ck_assert_int_eq(iso_spawn(sibling_entry, arg, &iso), 0);
	iso_msg_free(arg);
	ck_assert_ptr_nonnull(r = coll_wait_key(&c, "kill"));
	iso_msg_unpack(r, "{s:i s:i s:i s:i}", "kill", &krc, "errno", &kerr,
	    "on_exit", &orc, "pid", &pid);
	ck_assert_int_eq(krc, -1);
	ck_assert_int_eq(kerr, ESRCH);
	ck_assert_int_eq(orc, -1);
	ck_assert_int_eq(pid, iso_pid(g_sibling));
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c), NULL), 0);
	ck_assert(coll_wait_str(&c, NULL, 2));
	ck_assert(tu_alive(iso_pid(g_sibling)));	/* not killed */
	ck_assert_int_eq(iso_kill(g_sibling, ISO_IMMEDIATE), 0);
	iso_isolate_free(g_sibling);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

/* ---- listeners, handles, Isolate.exit ------------------------------------- */

START_TEST(listeners_fire_once_each_after_free)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_sendport	 theirs;
	iso_msg		*m;
	pid_t		 pid;

	begin();
	coll_open(&c);
	spawn_echo(&c, &iso, &theirs);	/* running its loop */
	pid = iso_pid(iso);
	m = iso_msg_pack("{s:i}", "first", 1);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c), m), 0);
	iso_msg_free(m);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c), NULL), 0);
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	iso_isolate_free(iso);		/* the listeners stay */
	ck_assert(tu_alive(pid));
	ck_assert_int_eq(kill(pid, SIGTERM), 0);	/* not through iso_kill */
	ck_assert(coll_wait_str(&c, NULL, 3));
	run_for(100);
	ck_assert_int_eq(c.n, 3);
	ck_assert_ptr_nonnull(coll_find(&c, "first"));
	ck_assert_int_eq(coll_count_type(&c, ISO_NIL), 1);
	/* SIGTERM ends it gracefully (exit 0): not an error */
	ck_assert_int_eq(coll_count_type(&c, ISO_LIST), 0);
	ck_assert(!proc_exists(pid));
	/* no handle kept: fire and forget */
	ck_assert_int_eq(iso_spawn(return_entry, NULL, NULL), 0);
	coll_close(&c);
	run_for(100);
	end();
}
END_TEST

struct exit_ctx {
	iso_sendport	 to;
	int		 with_final;
	iso_msg		*final;		/* iso_exit does not return: kept
					   here, it is no leak */
};

static void
exit_later(void *arg)
{
	struct exit_ctx	*c = arg;

	send_to(c->to, iso_msg_pack("s", "before"));
	if (c->with_final) {
		c->final = iso_msg_pack("{s:i}", "final", 42);
		iso_exit(c->to, c->final);
	}
	iso_exit(c->to, NULL);
}

static void
exit_entry(const iso_msg *arg)
{
	static struct exit_ctx	c;

	iso_msg_unpack(arg, "{s:P s:b}", "to", &c.to, "final",
	    &c.with_final);
	(void)iso_port_new();		/* would keep it alive */
	iso_timer_after(10, exit_later, &c);
}

START_TEST(isolate_exit_hands_final_message)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_msg		*arg;
	int		 v = 0;

	begin();
	coll_open(&c);
	arg = iso_msg_pack("{s:P s:b}", "to", coll_port(&c), "final", !_i);
	ck_assert_int_eq(iso_spawn(exit_entry, arg, &iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    arg = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(arg);
	ck_assert(coll_wait_str(&c, "exit", 1));
	ck_assert(coll_wait_str(&c, NULL, 3));
	run_for(50);
	ck_assert_int_eq(c.n, 3);
	ck_assert(is_str(c.m[0], "before") || is_str(c.m[0], "exit"));
	if (_i == 0) {
		ck_assert_ptr_nonnull(coll_find(&c, "final"));
		iso_msg_unpack(coll_find(&c, "final"), "{s:i}", "final", &v);
		ck_assert_int_eq(v, 42);
	} else
		ck_assert_int_eq(coll_count_type(&c, ISO_NIL), 1);
	ck_assert_int_eq(coll_count_type(&c, ISO_LIST), 0);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

/* ---- spawn_exec ------------------------------------------------------------ */

START_TEST(spawn_exec_round_trip)
{
	struct coll	 c;
	iso_isolate	*iso, *other;
	iso_msg		*arg, *m;
	const iso_msg	*r, *fds;
	char		*argv[] = { self_exe, (char *)"--exec-isolate", NULL };
	int		 want[MAX_FDS], nwant, i, n2 = 0, fd3 = 0, env = 0;
	int		 again = 0;
	int64_t		 fd;

	begin();
	coll_open(&c);
	/* library descriptors the new program must not get: a pidfd too */
	ck_assert_int_eq(iso_spawn(forever_entry, NULL, &other), 0);
	nwant = fd_list(want, MAX_FDS - 1, 1);
	if (!fd_in(want, nwant, 3))
		want[nwant++] = 3;
	arg = iso_msg_pack("{s:P s:i}", "to", coll_port(&c), "n", 21);
	ck_assert_int_eq(iso_spawn_exec(argv, arg, &iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    m = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(m);
	ck_assert_ptr_nonnull(r = coll_wait_key(&c, "n2"));
	ck_assert_int_eq(iso_msg_unpack(r, "{s:i s:O s:b s:b s:b}", "n2", &n2,
	    "fds", &fds, "fd3closed", &fd3, "env", &env, "again", &again), 0);
	ck_assert_int_eq(n2, 42);
	ck_assert(fd3);
	ck_assert(env);
	ck_assert(again);
	/* at its start it had exactly our non-close-on-exec ones, and 3 */
	for (i = 0; i < (int)iso_msg_len(fds); i++) {
		iso_msg_int(iso_msg_at(fds, (size_t)i), &fd);
		ck_assert_msg(fd_in(want, nwant, (int)fd), "the new program "
		    "got descriptor %d", (int)fd);
	}
	ck_assert_int_eq((int)iso_msg_len(fds), nwant);
	ck_assert(coll_wait_str(&c, "exit", 1));
	run_for(50);
	ck_assert_int_eq(coll_count_type(&c, ISO_LIST), 0);
	ck_assert_int_eq(iso_kill(other, ISO_IMMEDIATE), 0);
	iso_isolate_free(other);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

START_TEST(spawn_exec_cannot_start)
{
	char		*missing[] = { (char *)"/nonexistent/program", NULL };
	char		*nopath[] = { (char *)"iso-no-such-program-xyz", NULL };
	char		*notexec[] = { (char *)"/etc/passwd", NULL };
	char		*empty[] = { NULL };
	iso_isolate	*iso = NULL;

	begin();
	errno = 0;
	ck_assert_int_eq(iso_spawn_exec(missing, NULL, &iso), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_null(iso);
	ck_assert_ptr_nonnull(strstr(iso_error(), "/nonexistent/program"));
	ck_assert_int_eq(children_count(), 0);
	ck_assert_int_eq(iso_spawn_exec(nopath, NULL, &iso), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(iso_spawn_exec(notexec, NULL, &iso), -1);
	ck_assert_int_eq(errno, EACCES);
	ck_assert_int_eq(iso_spawn_exec(empty, NULL, &iso), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_spawn_exec(NULL, NULL, &iso), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(iso);
	errno = 0;
	ck_assert_ptr_null(iso_initial_message());	/* not exec'd */
	ck_assert_int_eq(errno, ENOENT);
	end();
}
END_TEST

START_TEST(spawn_exec_spawner_returns_from_main)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_msg		*arg;
	const iso_msg	*r;
	char		*argv[] = { self_exe, (char *)"--exec-spawner", NULL };
	int		 g = -1, gone;

	begin();
	subreaper(1);
	coll_open(&c);
	arg = iso_msg_pack("P", coll_port(&c));
	ck_assert_int_eq(iso_spawn_exec(argv, arg, &iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    arg = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	ck_assert_ptr_nonnull(r = coll_wait_key(&c, "pid"));
	iso_msg_unpack(r, "{s:i}", "pid", &g);
	ck_assert(coll_wait_str(&c, "exit", 1));
	gone = kill(g, 0) == -1 && errno == ESRCH;
	if (!gone) {
		kill(g, SIGKILL);
		reap_orphan(g, WAIT_MS);
	}
	ck_assert_msg(gone, "isolate %d outlived its spawner's main", g);
	ck_assert_int_eq(coll_count_type(&c, ISO_LIST), 0);
	iso_isolate_free(iso);
	coll_close(&c);
	subreaper(0);
	end();
}
END_TEST

START_TEST(spawn_exec_kill_before_next_event)
{
	struct coll	 c;
	iso_isolate	*iso;
	iso_msg		*arg;
	char		*argv[] = { self_exe, (char *)"--exec-graceful", NULL };

	begin();
	coll_open(&c);
	arg = iso_msg_pack("P", coll_port(&c));
	ck_assert_int_eq(iso_spawn_exec(argv, arg, &iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_on_error(iso, coll_port(&c)), 0);
	ck_assert_int_eq(iso_on_exit(iso, coll_port(&c),
	    arg = iso_msg_pack("s", "exit")), 0);
	iso_msg_free(arg);
	ck_assert(coll_wait_str(&c, "ready", 1));
	ck_assert_int_eq(iso_kill(iso, ISO_BEFORE_NEXT_EVENT), 0);
	ck_assert(coll_wait_str(&c, "exit", 1));
	run_for(50);
	ck_assert_int_eq(coll_count_type(&c, ISO_LIST), 0);
	iso_isolate_free(iso);
	coll_close(&c);
	end();
}
END_TEST

/* ---- many isolates under a low soft descriptor limit ---------------------- */

#define SCALE_N		2000

static void
scale_entry(const iso_msg *arg)
{
	iso_sendport	to;
	int		k;

	iso_msg_unpack(arg, "{s:P s:i}", "to", &to, "k", &k);
	send_to(to, iso_msg_pack("i", k));
}

struct scale {
	int	got;
	char	seen[SCALE_N];
	int	bad;
};

static void
scale_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct scale	*s = arg;
	int64_t		 k = -1;

	if (iso_msg_int(m, &k) == -1 || k < 0 || k >= SCALE_N ||
	    s->seen[k]++)
		s->bad++;
	if (++s->got == SCALE_N)
		iso_port_close(p);
}

/*
 * Run as a program of its own (not under valgrind, not forked by Check):
 * the soft limit lowered to 1,024 before the library's first use, then
 * SCALE_N isolates spawned, each sending one message. 0 when every one
 * came, once each.
 */
static int
scale_main(void)
{
	struct rlimit	 rl;
	struct scale	 s;
	iso_port	*p;
	iso_msg		*arg;
	int		 k;

	memset(&s, 0, sizeof s);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (20);
	rl.rlim_cur = 1024;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (21);
	if ((p = iso_port_new()) == NULL ||
	    iso_port_listen(p, scale_cb, &s) == -1)
		return (22);
	for (k = 0; k < SCALE_N; k++) {
		arg = iso_msg_pack("{s:P s:i}", "to", iso_port_sendport(p),
		    "k", k);
		if (iso_spawn(scale_entry, arg, NULL) == -1) {
			fprintf(stderr, "scale: spawn %d: %s\n", k, iso_error());
			return (23);
		}
		iso_msg_free(arg);
	}
	if (iso_run() == -1)
		return (24);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur < 1024)
		return (25);
	return (s.got == SCALE_N && s.bad == 0 ? 0 : 26);
}

START_TEST(thousands_of_isolates_under_a_soft_limit_of_1024)
{
	char		*argv[] = { self_exe, (char *)"--scale", NULL };
	struct rlimit	 rl;
	pid_t		 pid;
	int		 status;

	/* a pair and a pidfd each while they wait to be read and reaped */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2 * SCALE_N + 64) {
		fprintf(stderr, "thousands_of_isolates: skipped: the hard "
		    "descriptor limit is %llu, %d isolates need %d\n",
		    (unsigned long long)rl.rlim_max, SCALE_N, 2 * SCALE_N + 64);
		return;
	}
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		execv(self_exe, argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x", status);
}
END_TEST

/* ---- symbols bound in a new isolate ------------------------------------ */

static void
bindings_entry(const iso_msg *arg)
{
	iso_sendport	to;

	iso_msg_unpack(arg, "P", &to);
	send_to(to, iso_msg_pack("{s:i}", "msg", 1));
}

/* This binary again, under LD_DEBUG=bindings: a second isolate spawned
   (the first binds what the spawner calls the first time), each saying
   hello and ending; the second's pid on stdout. */
static int
bindings_main(void)
{
	iso_isolate	*iso = NULL;
	iso_port	*hello, *end;
	iso_msg		*arg, *m;
	int		 k;

	for (k = 0; k < 2; k++) {
		iso_isolate_free(iso);
		if ((hello = iso_port_new()) == NULL ||
		    (end = iso_port_new()) == NULL)
			return (30);
		arg = iso_msg_pack("P", iso_port_sendport(hello));
		if (iso_spawn(bindings_entry, arg, &iso) == -1 ||
		    iso_on_exit(iso, iso_port_sendport(end), NULL) == -1)
			return (31);
		iso_msg_free(arg);
		if (iso_port_first(hello, &m, WAIT_MS) == -1)
			return (32);
		iso_msg_free(m);
		if (iso_port_first(end, &m, WAIT_MS) == -1)
			return (33);
		iso_msg_free(m);
	}
	printf("%d\n", (int)iso_pid(iso));
	iso_isolate_free(iso);
	return (0);
}

/*
 * A new isolate binds no symbol: what it calls after the fork its
 * spawner has called before (through syscall(), or once on purpose), or
 * each isolate would look symbols up in every library's tables and
 * write the GOT its spawner shares, some fifteen page faults.
 */
START_TEST(a_new_isolate_binds_no_symbol)
{
	char		 dir[] = "/tmp/bindings.XXXXXX", path[PATH_MAX],
			 line[1024], out[64];
	char		*argv[] = { self_exe, (char *)"--bindings", NULL };
	int		 fds[2], status, child, n, bound = 0, seen = 0;
	ssize_t		 got;
	pid_t		 pid;
	FILE		*f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		snprintf(path, sizeof path, "%s/ld", dir);
		dup2(fds[1], 1);
		setenv("LD_DEBUG", "bindings", 1);
		setenv("LD_DEBUG_OUTPUT", path, 1);
		execv(self_exe, argv);
		_exit(127);
	}
	close(fds[1]);
	got = read(fds[0], out, sizeof out - 1);
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x", status);
	ck_assert_int_gt(got, 0);
	out[got] = '\0';
	child = atoi(out);
	ck_assert_int_gt(child, 0);
	snprintf(path, sizeof path, "%s/ld.%d", dir, (int)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "re"));
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, " %d:", &n) != 1)
			continue;
		if (strstr(line, "binding") != NULL)
			seen++;
		/* but the sanitizers' runtime, which instruments calls */
		if (n == child && strstr(line, "binding") != NULL &&
		    strstr(line, "`__asan_") == NULL &&
		    strstr(line, "`__ubsan_") == NULL) {
			bound++;
			fprintf(stderr, "a new isolate bound: %s", line);
		}
	}
	fclose(f);
	unlink(path);
	rmdir(dir);
	ck_assert_msg(seen > 0, "LD_DEBUG=bindings wrote nothing");
	ck_assert_msg(bound == 0, "a new isolate bound %d symbols", bound);
}
END_TEST

/* ---- the programs spawn_exec runs (this binary, again) -------------------- */

static int
exec_main(const char *mode)
{
	const iso_msg	*m;
	iso_sendport	 to;
	iso_isolate	*g;
	iso_port	*p;
	iso_msg		*fdl;
	int		 fds[MAX_FDS], n, i, k = 0, fd3;
	char		 link[64] = "";

	n = fd_list(fds, MAX_FDS, 0);		/* what exec gave us */
	if ((m = iso_initial_message()) == NULL)
		return (10);
	if (strcmp(mode, "--exec-isolate") == 0) {
		if (iso_msg_unpack(m, "{s:P s:i}", "to", &to, "n", &k) == -1)
			return (11);
		/* closed (its number may be reused by the loop's pipe) */
		fd3 = fcntl(3, F_GETFD) == -1 ||
		    readlink("/proc/self/fd/3", link, sizeof link) == -1 ||
		    strncmp(link, "/memfd:", 7) != 0;
		fdl = iso_msg_pack("[]");
		for (i = 0; i < n; i++)
			iso_msg_append(fdl, iso_msg_pack("i", fds[i]));
		send_to(to, iso_msg_pack("{s:i s:O s:b s:b s:b}", "n2", k * 2,
		    "fds", fdl, "fd3closed", fd3, "env",
		    getenv("ISO_INIT_FD") == NULL &&
		    getenv("ISO_ISOLATE_ID") == NULL, "again",
		    iso_initial_message() == m));
		iso_msg_free(fdl);
		return (iso_run() == 0 ? 0 : 12);
	}
	if (iso_msg_unpack(m, "P", &to) == -1)
		return (11);
	if (strcmp(mode, "--exec-spawner") == 0) {
		if (iso_spawn(forever_entry, NULL, &g) == -1)
			return (13);
		send_to(to, iso_msg_pack("{s:i}", "pid", (int)iso_pid(g)));
		return (0);	/* from main: exit takes g with it */
	}
	if (strcmp(mode, "--exec-graceful") == 0) {
		p = iso_port_new();
		(void)p;
		send_to(to, iso_msg_pack("s", "ready"));
		iso_run();	/* until SIGTERM */
		return (14);
	}
	return (15);
}

static Suite *
isolate_suite(void)
{
	Suite	*s = suite_create("isolate");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, memory_copied_at_spawn);
	tcase_add_test(tc, child_loop_runs_then_exits_0);
	tcase_add_test(tc, spawn_inside_a_callback);
	tcase_add_loop_test(tc, error_listeners, 0,
	    (int)(sizeof crashes / sizeof crashes[0]));
	tcase_add_test(tc, kill_immediate);
	tcase_add_test(tc, kill_before_next_event);
	tcase_add_test(tc, kill_bad_arguments);
	tcase_add_test(tc, no_orphans_when_spawner_killed);
	tcase_add_loop_test(tc, no_orphans_when_spawner_ends, 1, 4);
	tcase_add_test(tc, no_zombies_without_the_loop);
	tcase_add_test(tc, own_children_are_the_programs);
	tcase_add_test(tc, pid_reuse_cannot_misroute);
	tcase_add_test(tc, spawned_isolate_has_no_library_fd);
	tcase_add_test(tc, a_new_isolate_has_its_spawners_signal_mask);
	tcase_add_test(tc, a_new_isolate_binds_no_symbol);
	tcase_add_test(tc, a_new_isolates_descriptors_are_low);
	tcase_add_test(tc, libevents_allocations_in_a_new_isolate_are_its_own);
	tcase_add_test(tc, a_spawners_events_and_messages_leave_the_heap_alone);
	tcase_add_test(tc,
	    a_busy_spawners_isolates_still_have_a_region_of_their_own);
	tcase_add_test(tc, a_spawned_isolate_costs_its_spawner_one_descriptor);
	tcase_add_loop_test(tc, an_isolate_whose_pair_is_gone_is_still_reaped, 0,
	    2);
	tcase_add_test(tc, an_isolates_plain_fork_does_not_hide_its_end);
	tcase_add_test(tc, spawners_handles_are_not_ours);
	tcase_add_test(tc, listeners_fire_once_each_after_free);
	tcase_add_loop_test(tc, isolate_exit_hands_final_message, 0, 2);
	tcase_add_test(tc, spawn_exec_round_trip);
	tcase_add_test(tc, spawn_exec_cannot_start);
	tcase_add_test(tc, spawn_exec_spawner_returns_from_main);
	tcase_add_test(tc, spawn_exec_kill_before_next_event);
	/* last: when it fails, the program's socket is gone for good */
	tcase_add_test(tc, plain_fork_exit_leaves_isolates_alone);
	tcase_add_test(tc, third_isolate_sends_to_port_got_second_hand);
	tcase_add_test(tc, a_failed_send_loses_nothing_the_child_sent);
	tcase_add_test(tc, spawns_without_a_loop_keep_no_descriptor);
	tcase_add_test(tc, spawners_ports_and_timers_are_not_ours);
	tcase_add_test(tc, thousands_of_isolates_under_a_soft_limit_of_1024);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(int argc, char **argv)
{
	struct rlimit	 nocore = { 0, 0 };
	SRunner		*sr;
	ssize_t		 n;
	int		 failed;

	if (argc == 2 && strncmp(argv[1], "--exec-", 7) == 0)
		return (exec_main(argv[1]));
	if (argc == 2 && strcmp(argv[1], "--scale") == 0)
		return (scale_main());
	if (argc == 2 && strcmp(argv[1], "--bindings") == 0)
		return (bindings_main());
	/* crashes on purpose leave no core files */
	setrlimit(RLIMIT_CORE, &nocore);
	/* the real path: under valgrind /proc/self/exe is valgrind */
	if ((n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1))
	    <= 0) {
		perror("readlink /proc/self/exe");
		return (1);
	}
	self_exe[n] = '\0';
	tu_runtime_dir();
	sr = srunner_create(isolate_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
