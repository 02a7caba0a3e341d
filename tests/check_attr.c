/*
 * check_attr.c: spawn options (iso_spawn_attr: the setters' checks, a
 * name in /proc/PID/comm and in error texts, for fork and exec; listeners
 * that cannot miss an isolate dying at once; paused at spawn) and pause,
 * resume and ping: a paused isolate runs nothing (state T, no CPU time),
 * gets its queued messages in order once resumed, and its senders see
 * ENOBUFS rather than loss; ping answered by the loop (not while it is
 * busy or paused) or at once with ISO_IMMEDIATE.
 *
 * The binary re-executes itself for spawn_exec: main() looks for an
 * --exec-* argument before running Check.
 */
#include <sys/resource.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

#define WAIT_MS		10000	/* what a broken library gets before failing */
#define QUIET_MS	300	/* a while in which nothing may come */

static char	self_exe[PATH_MAX];

/* ---- helpers ------------------------------------------------------------ */

static long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Every message a port gets, copied, in order. */
struct coll {
	iso_port	*p;
	iso_msg		*m[4096];
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

static struct coll *
coll_open(void)
{
	struct coll	*c = calloc(1, sizeof *c);

	ck_assert_ptr_nonnull(c);
	c->p = iso_port_new();
	ck_assert_ptr_nonnull(c->p);
	ck_assert_int_eq(iso_port_listen(c->p, coll_cb, c), 0);
	return (c);
}

static void
coll_close(struct coll *c)
{
	int	i;

	iso_port_close(c->p);
	for (i = 0; i < c->n; i++)
		iso_msg_free(c->m[i]);
	free(c);
}

/* Run the loop for ms. */
static void
run_for(int ms)
{
	iso_port	*p = iso_port_new();
	iso_msg		*m = NULL;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(iso_port_first(p, &m, ms), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	iso_port_close(p);
}

/* Run the loop until c holds n messages (or WAIT_MS). */
static int
coll_wait(struct coll *c, int n)
{
	long	end = now_ms() + WAIT_MS;

	while (c->n < n && now_ms() < end)
		run_for(10);
	return (c->n >= n);
}

static int
is_str(const iso_msg *m, const char *s)
{
	const char	*t;

	return (m != NULL && (t = iso_msg_str(m, NULL)) != NULL &&
	    strcmp(t, s) == 0);
}

static int
coll_has(const struct coll *c, const char *s)
{
	int	i;

	for (i = 0; i < c->n; i++)
		if (is_str(c->m[i], s))
			return (1);
	return (0);
}

/* Run the loop until c has the string s. */
static int
coll_wait_str(struct coll *c, const char *s)
{
	long	end = now_ms() + WAIT_MS;

	while (!coll_has(c, s) && now_ms() < end)
		run_for(10);
	return (coll_has(c, s));
}

/* /proc/PID/stat: its state letter and utime + stime (ticks). */
static char
proc_stat(pid_t pid, unsigned long long *cpu)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 ut = 0, st = 0;
	char			 state = '?';
	FILE			*f;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return ('?');
	if (fgets(buf, sizeof buf, f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL)
		(void)sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
		    "%*u %llu %llu", &state, &ut, &st);
	fclose(f);
	if (cpu != NULL)
		*cpu = ut + st;
	return (state);
}

static void
proc_comm(pid_t pid, char *buf, size_t len)
{
	char	path[64];
	FILE	*f;

	buf[0] = '\0';
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return;
	if (fgets(buf, (int)len, f) != NULL)
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* Descriptors once the library has made what it keeps for good (its
   socket, the epoll it watches its children in): a test's start. */
static void	exit3_entry(const iso_msg *);

static int
fd_base(void)
{
	iso_isolate	*iso;

	ck_assert_int_eq(iso_spawn(exit3_entry, NULL, &iso), 0);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE) == 0 || errno == ESRCH,
	    1);
	iso_isolate_free(iso);
	run_for(20);
	return (tu_fd_count());
}

/* ... and at its end, every isolate gone: the same again. */
static void
fd_check(int base)
{
	long	end = now_ms() + WAIT_MS;

	while (tu_fd_count() != base && now_ms() < end)
		run_for(10);
	ck_assert_int_eq(tu_fd_count(), base);
}

static void
kill_free(iso_isolate *iso)
{
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE) == 0 || errno == ESRCH,
	    1);
	iso_isolate_free(iso);
}

/* ---- entries -------------------------------------------------------------- */

static void
exit3_entry(const iso_msg *arg)
{
	(void)arg;
	_exit(3);
}

static void
abort_entry(const iso_msg *arg)
{
	(void)arg;
	abort();
}

/* arg: its spawner's port; sends "started", then spins for ever. */
static void
spin_entry(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_msg		*m = iso_msg_pack("s", "started");
	volatile unsigned long n = 0;

	if (iso_msg_unpack(arg, "P", &to) == 0)
		(void)iso_send(to, m);
	iso_msg_free(m);
	for (;;)
		n++;
}

/* Echo: each message to its port goes back to the spawner's port. */
static iso_sendport	echo_to;

static void
echo_cb(iso_port *p, const iso_msg *m, void *arg)
{
	(void)p;
	(void)arg;
	(void)iso_send(echo_to, m);
}

/* arg: [spawner's port, a descriptor number to wait on or -1]. Sends its
   port, busy-waits (no loop) until that descriptor is readable, then
   echoes from its loop. */
static void
echo_entry(const iso_msg *arg)
{
	struct pollfd	 pfd;
	iso_port	*p;
	iso_msg		*m;
	int		 fd = -1;

	if (iso_msg_unpack(arg, "[Pi]", &echo_to, &fd) == -1)
		_exit(20);
	if ((p = iso_port_new()) == NULL ||
	    iso_port_listen(p, echo_cb, NULL) == -1)
		_exit(21);
	m = iso_msg_pack("[sP]", "port", iso_port_sendport(p));
	(void)iso_send(echo_to, m);
	iso_msg_free(m);
	if (fd != -1) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		while (poll(&pfd, 1, 0) == 0)
			;	/* busy: no loop */
	}
}

/* The echo isolate's port, from the first message of c ("port", P). */
static iso_sendport
echo_port(struct coll *c)
{
	const char	*s;
	iso_sendport	 sp;

	ck_assert_int_eq(coll_wait(c, 1), 1);
	ck_assert_int_eq(iso_msg_unpack(c->m[0], "[sP]", &s, &sp), 0);
	ck_assert_str_eq(s, "port");
	return (sp);
}

static iso_isolate *
echo_spawn(struct coll *c, int fd, const iso_spawn_attr *a)
{
	iso_isolate	*iso;
	iso_msg		*arg;

	arg = iso_msg_pack("[Pi]", iso_port_sendport(c->p), fd);
	ck_assert_int_eq(iso_spawn_with(echo_entry, arg, a, &iso), 0);
	iso_msg_free(arg);
	return (iso);
}

static void	ping(iso_isolate *, struct coll *, const char *, int);

/* ---- the setters ---------------------------------------------------------- */

START_TEST(test_setters)
{
	iso_spawn_attr	*a = iso_spawn_attr_new();
	iso_sendport	 none;
	char		 big[300];

	ck_assert_ptr_nonnull(a);
	memset(&none, 0, sizeof none);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	ck_assert_int_eq(iso_spawn_attr_set_name(a, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_spawn_attr_set_name(NULL, "x"), -1);
	ck_assert_int_eq(iso_spawn_attr_set_name(a, ""), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_spawn_attr_set_name(a, big), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(strstr(iso_error(), "300") != NULL ?
	    iso_error() : strstr(iso_error(), "299"));
	ck_assert_int_eq(iso_spawn_attr_set_name(a, "a\nb"), -1);
	ck_assert_ptr_nonnull(strstr(iso_error(), "control character"));
	ck_assert_int_eq(iso_spawn_attr_set_name(a, "\xff\xfe"), -1);
	ck_assert_ptr_nonnull(strstr(iso_error(), "UTF-8"));
	ck_assert_int_eq(iso_spawn_attr_set_name(a, "w\xc3\xa9rker"), 0);
	ck_assert_int_eq(iso_spawn_attr_set_paused(NULL, 1), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_spawn_attr_set_paused(a, 7), 0);
	ck_assert_int_eq(iso_spawn_attr_set_on_exit(a, none, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_spawn_attr_set_on_error(a, none), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_spawn_attr_set_limit(a, ISO_RLIMIT_CPU, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_spawn_attr_set_limit(a, (enum iso_rlimit)99, 5),
	    -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_spawn_with(NULL, NULL, a, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_spawn_attr_free(a);
	iso_spawn_attr_free(NULL);

	/* and the calls on a handle */
	ck_assert_int_eq(iso_pause(NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_resume(NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_ping(NULL, none, NULL, ISO_IMMEDIATE), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* ---- the name --------------------------------------------------------------- */

START_TEST(test_name_fork)
{
	iso_spawn_attr	*a = iso_spawn_attr_new();
	struct coll	*c = coll_open();
	iso_isolate	*iso;
	iso_msg		*arg;
	char		 comm[64];
	const char	*d1, *d2;
	int		 fds;

	fds = fd_base();
	ck_assert_int_eq(iso_spawn_attr_set_name(a, "sorter-of-widgets"), 0);
	arg = iso_msg_pack("P", iso_port_sendport(c->p));
	ck_assert_int_eq(iso_spawn_with(spin_entry, arg, a, &iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(coll_wait_str(c, "started"), 1);
	proc_comm(iso_pid(iso), comm, sizeof comm);
	ck_assert_str_eq(comm, "sorter-of-widge");	/* 15 bytes */
	kill_free(iso);

	/* in the error text */
	ck_assert_int_eq(iso_spawn_attr_set_on_error(a, iso_port_sendport(c->p)),
	    0);
	ck_assert_int_eq(iso_spawn_with(exit3_entry, NULL, a, &iso), 0);
	ck_assert_int_eq(coll_wait(c, 2), 1);
	ck_assert_int_eq(iso_msg_unpack(c->m[1], "[ss]", &d1, &d2), 0);
	ck_assert_str_eq(d1, "exit 3");
	snprintf(comm, sizeof comm, "(sorter-of-widgets) exited with status 3");
	ck_assert_msg(strstr(d2, comm) != NULL, "%s", d2);
	iso_isolate_free(iso);
	iso_spawn_attr_free(a);
	coll_close(c);
	fd_check(fds);
}
END_TEST

START_TEST(test_name_exec)
{
	int		 fds = fd_base();
	iso_spawn_attr	*a = iso_spawn_attr_new();
	struct coll	*c = coll_open();
	iso_isolate	*iso;
	iso_msg		*arg;
	char		*argv[] = { self_exe, (char *)"--exec-comm", NULL };
	char		 comm[64];

	ck_assert_int_eq(iso_spawn_attr_set_name(a, "exec-named"), 0);
	arg = iso_msg_pack("P", iso_port_sendport(c->p));
	ck_assert_int_eq(iso_spawn_exec_with(argv, arg, a, &iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(coll_wait(c, 1), 1);
	/* what it saw itself, once the library started in it */
	ck_assert_msg(is_str(c->m[0], "exec-named"), "comm: %s",
	    iso_msg_str(c->m[0], NULL));
	proc_comm(iso_pid(iso), comm, sizeof comm);
	ck_assert_str_eq(comm, "exec-named");
	kill_free(iso);
	iso_spawn_attr_free(a);
	coll_close(c);
	fd_check(fds);
}
END_TEST

/* ---- listeners given at spawn ------------------------------------------------ */

static void
quick_death(void (*entry)(const iso_msg *), const char *desc,
    const char *detail)
{
	iso_spawn_attr	*a = iso_spawn_attr_new();
	struct coll	*ex = coll_open(), *er = coll_open();
	iso_msg		*bye = iso_msg_pack("s", "bye");
	const char	*d1, *d2;
	int		 i;

	ck_assert_int_eq(iso_spawn_attr_set_name(a, "quick"), 0);
	ck_assert_int_eq(iso_spawn_attr_set_on_exit(a,
	    iso_port_sendport(ex->p), bye), 0);
	ck_assert_int_eq(iso_spawn_attr_set_on_error(a,
	    iso_port_sendport(er->p)), 0);
	iso_msg_free(bye);
	/* Many, and no handle kept: none can be missed. */
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(iso_spawn_with(entry, NULL, a, NULL), 0);
	ck_assert_int_eq(coll_wait(ex, 8), 1);
	ck_assert_int_eq(coll_wait(er, 8), 1);
	for (i = 0; i < 8; i++) {
		ck_assert(is_str(ex->m[i], "bye"));
		ck_assert_int_eq(iso_msg_unpack(er->m[i], "[ss]", &d1, &d2),
		    0);
		ck_assert_str_eq(d1, desc);
		ck_assert_msg(strstr(d2, detail) != NULL, "%s", d2);
	}
	iso_spawn_attr_free(a);
	coll_close(ex);
	coll_close(er);
}

START_TEST(test_listeners_exit)
{
	quick_death(exit3_entry, "exit 3", "(quick) exited with status 3");
}
END_TEST

START_TEST(test_listeners_abort)
{
	quick_death(abort_entry, "SIGABRT", "(quick) killed by signal 6");
}
END_TEST

/* ---- paused ------------------------------------------------------------------ */

/* Over QUIET_MS: pid stays stopped and uses no CPU time. */
static void
assert_still(pid_t pid)
{
	unsigned long long	cpu0, cpu1;

	ck_assert_int_eq(proc_stat(pid, &cpu0), 'T');
	tu_sleep_ms(QUIET_MS);
	ck_assert_int_eq(proc_stat(pid, &cpu1), 'T');
	ck_assert_msg(cpu1 == cpu0, "CPU time %llu -> %llu ticks", cpu0,
	    cpu1);
}

START_TEST(test_paused_spawn)
{
	int		 fds = fd_base();
	iso_spawn_attr		*a = iso_spawn_attr_new();
	struct coll		*c = coll_open();
	iso_isolate		*iso;
	iso_msg			*arg;
	unsigned long long	 cpu0, cpu1;
	long			 end;

	ck_assert_int_eq(iso_spawn_attr_set_paused(a, 1), 0);
	arg = iso_msg_pack("P", iso_port_sendport(c->p));
	ck_assert_int_eq(iso_spawn_with(spin_entry, arg, a, &iso), 0);
	iso_msg_free(arg);
	/* stopped on return, before its entry ran */
	assert_still(iso_pid(iso));
	run_for(50);
	ck_assert_int_eq(c->n, 0);
	ck_assert_int_eq(iso_resume(iso), 0);
	ck_assert_int_eq(coll_wait_str(c, "started"), 1);
	ck_assert_int_ne(proc_stat(iso_pid(iso), &cpu0), 'T');
	end = now_ms() + WAIT_MS;
	do
		(void)proc_stat(iso_pid(iso), &cpu1);
	while (cpu1 == cpu0 && now_ms() < end);
	ck_assert_msg(cpu1 > cpu0, "it does not run once resumed");

	/* paused while it runs: it stops spinning */
	ck_assert_int_eq(iso_pause(iso), 0);
	ck_assert_int_eq(iso_pause(iso), 0);		/* twice is once */
	assert_still(iso_pid(iso));
	kill_free(iso);
	iso_spawn_attr_free(a);
	coll_close(c);
	fd_check(fds);
}
END_TEST

/* An exec'd isolate paused before exec: its comm is still ours until
   resumed, and a missing program is refused at once. */
START_TEST(test_paused_exec)
{
	int		 fds = fd_base();
	iso_spawn_attr	*a = iso_spawn_attr_new();
	struct coll	*c = coll_open();
	iso_isolate	*iso;
	iso_msg		*arg;
	char		*argv[] = { self_exe, (char *)"--exec-comm", NULL };
	char		*bad[] = { (char *)"no-such-program-here", NULL };

	ck_assert_int_eq(iso_spawn_attr_set_paused(a, 1), 0);
	ck_assert_int_eq(iso_spawn_exec_with(bad, NULL, a, &iso), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(iso_spawn_attr_set_name(a, "late-exec"), 0);
	arg = iso_msg_pack("P", iso_port_sendport(c->p));
	ck_assert_int_eq(iso_spawn_exec_with(argv, arg, a, &iso), 0);
	iso_msg_free(arg);
	assert_still(iso_pid(iso));
	run_for(50);
	ck_assert_int_eq(c->n, 0);
	/* no socket before exec: only the spawner can answer for it */
	ck_assert_int_eq(iso_ping(iso, iso_port_sendport(c->p), NULL,
	    ISO_BEFORE_NEXT_EVENT), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	ping(iso, c, "now", ISO_IMMEDIATE);
	ck_assert_int_eq(coll_wait_str(c, "now"), 1);
	ck_assert_int_eq(iso_resume(iso), 0);
	ck_assert_int_eq(coll_wait(c, 2), 1);
	ck_assert(is_str(c->m[1], "late-exec"));
	kill_free(iso);
	iso_spawn_attr_free(a);
	coll_close(c);
	fd_check(fds);
}
END_TEST

/* Stopped before exec, it holds none of the spawner's close-on-exec
   descriptors (a peer would miss the spawner's EOF); an exec that fails
   once resumed is told in words. */
START_TEST(test_paused_exec_fds)
{
	int		 fds = fd_base();
	iso_spawn_attr	*a = iso_spawn_attr_new();
	struct coll	*c = coll_open();
	iso_isolate	*iso;
	char		*argv[] = { (char *)"/", NULL };
	char		 path[64];
	const char	*d1, *d2;
	int		 pfd[2];

	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	ck_assert_int_eq(iso_spawn_attr_set_paused(a, 1), 0);
	ck_assert_int_eq(iso_spawn_attr_set_on_error(a,
	    iso_port_sendport(c->p)), 0);
	/* a directory passes access(X_OK); its exec fails with EACCES */
	ck_assert_int_eq(iso_spawn_exec_with(argv, NULL, a, &iso), 0);
	ck_assert_int_eq(proc_stat(iso_pid(iso), NULL), 'T');
	snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)iso_pid(iso),
	    pfd[1]);
	ck_assert_int_eq(access(path, F_OK), -1);
	snprintf(path, sizeof path, "/proc/%d/fd/3", (int)iso_pid(iso));
	ck_assert_int_eq(access(path, F_OK), 0);	/* its argument */
	ck_assert_int_eq(iso_resume(iso), 0);
	ck_assert_int_eq(coll_wait(c, 1), 1);
	ck_assert_int_eq(iso_msg_unpack(c->m[0], "[ss]", &d1, &d2), 0);
	ck_assert_str_eq(d1, "spawn failed");
	ck_assert_msg(strstr(d2, "could not exec /: EACCES") != NULL, "%s",
	    d2);
	iso_isolate_free(iso);
	iso_spawn_attr_free(a);
	close(pfd[0]);
	close(pfd[1]);
	coll_close(c);
	fd_check(fds);
}
END_TEST

/* Messages sent while it is paused wait, and come in order after. */
START_TEST(test_paused_queue_order)
{
	int		 fds = fd_base();
	struct coll	*c = coll_open();
	iso_isolate	*iso = echo_spawn(c, -1, NULL);
	iso_sendport	 to = echo_port(c);
	iso_msg		*m;
	int64_t		 v;
	int		 i, n = 200;

	ck_assert_int_eq(iso_pause(iso), 0);
	for (i = 0; i < n; i++) {
		m = iso_msg_pack("i", i);
		ck_assert_int_eq(iso_send(to, m), 0);
		iso_msg_free(m);
	}
	run_for(QUIET_MS);
	ck_assert_int_eq(c->n, 1);		/* only its port */
	ck_assert_int_eq(proc_stat(iso_pid(iso), NULL), 'T');
	ck_assert_int_eq(iso_resume(iso), 0);
	ck_assert_int_eq(coll_wait(c, n + 1), 1);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(iso_msg_unpack(c->m[i + 1], "I", &v), 0);
		ck_assert_int_eq(v, i);
	}
	kill_free(iso);
	coll_close(c);
	fd_check(fds);
}
END_TEST

/* A sender filling the bound sees ENOBUFS; nothing it had is lost. */
START_TEST(test_paused_enobufs)
{
	int		 fds = fd_base();
	struct coll	*c = coll_open();
	iso_isolate	*iso = echo_spawn(c, -1, NULL);
	iso_sendport	 to = echo_port(c);
	iso_msg		*m;
	char		 pad[4096];
	int64_t		 v;
	const char	*s;
	size_t		 len;
	int		 i, accepted = -1;

	memset(pad, 'p', sizeof pad);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 64 * 1024), 0);
	ck_assert_int_eq(iso_pause(iso), 0);
	for (i = 0; i < 2000; i++) {
		m = iso_msg_pack("[is#]", i, pad, sizeof pad);
		if (iso_send(to, m) == -1) {
			ck_assert_int_eq(errno, ENOBUFS);
			iso_msg_free(m);
			accepted = i;
			break;
		}
		iso_msg_free(m);
	}
	ck_assert_msg(accepted > 0, "no ENOBUFS after %d sends", i);
	/* the same again: still full, still refused */
	m = iso_msg_pack("[is#]", accepted, pad, sizeof pad);
	ck_assert_int_eq(iso_send(to, m), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	iso_msg_free(m);
	ck_assert_int_eq(iso_resume(iso), 0);
	ck_assert_int_eq(coll_wait(c, accepted + 1), 1);
	for (i = 0; i < accepted; i++) {
		ck_assert_int_eq(iso_msg_unpack(c->m[i + 1], "[Is#]", &v, &s,
		    &len), 0);
		ck_assert_int_eq(v, i);
		ck_assert_uint_eq(len, sizeof pad);
	}
	run_for(50);
	ck_assert_int_eq(c->n, accepted + 1);	/* none twice */
	kill_free(iso);
	coll_close(c);
	fd_check(fds);
}
END_TEST

/* ---- ping ------------------------------------------------------------------------ */

static void
ping(iso_isolate *iso, struct coll *c, const char *s, int priority)
{
	iso_msg	*m = iso_msg_pack("s", s);

	ck_assert_int_eq(iso_ping(iso, iso_port_sendport(c->p), m, priority),
	    0);
	iso_msg_free(m);
}

START_TEST(test_ping_live)
{
	int		 fds = fd_base();
	struct coll	*c = coll_open();
	iso_isolate	*iso = echo_spawn(c, -1, NULL);
	iso_sendport	 none;

	(void)echo_port(c);
	memset(&none, 0, sizeof none);
	ping(iso, c, "pong", ISO_BEFORE_NEXT_EVENT);
	ck_assert_int_eq(coll_wait_str(c, "pong"), 1);
	ck_assert_int_eq(iso_ping(iso, iso_port_sendport(c->p), NULL, 5), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_ping(iso, none, NULL, ISO_IMMEDIATE), -1);
	ck_assert_int_eq(errno, EINVAL);
	kill_free(iso);
	iso = echo_spawn(c, -1, NULL);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	ck_assert_int_eq(iso_ping(iso, iso_port_sendport(c->p), NULL,
	    ISO_IMMEDIATE), -1);
	ck_assert_int_eq(errno, ESRCH);
	iso_isolate_free(iso);
	coll_close(c);
	fd_check(fds);
}
END_TEST

START_TEST(test_ping_busy)
{
	int		 fds = fd_base();
	struct coll	*c = coll_open();
	iso_isolate	*iso;
	int		 release[2];

	ck_assert_int_eq(pipe2(release, O_CLOEXEC), 0);
	iso = echo_spawn(c, release[0], NULL);
	(void)echo_port(c);		/* sent just before it spins */
	ping(iso, c, "loop", ISO_BEFORE_NEXT_EVENT);
	ping(iso, c, "now", ISO_IMMEDIATE);
	ck_assert_int_eq(coll_wait_str(c, "now"), 1);
	run_for(QUIET_MS);
	ck_assert_int_eq(coll_has(c, "loop"), 0);
	/* it yields: its loop reads the ping */
	ck_assert_int_eq(write(release[1], "", 1), 1);
	ck_assert_int_eq(coll_wait_str(c, "loop"), 1);
	kill_free(iso);
	close(release[0]);
	close(release[1]);
	coll_close(c);
	fd_check(fds);
}
END_TEST

START_TEST(test_ping_paused)
{
	int		 fds = fd_base();
	struct coll	*c = coll_open();
	iso_isolate	*iso = echo_spawn(c, -1, NULL);

	(void)echo_port(c);
	ck_assert_int_eq(iso_pause(iso), 0);
	ping(iso, c, "loop", ISO_BEFORE_NEXT_EVENT);
	ping(iso, c, "now", ISO_IMMEDIATE);
	ck_assert_int_eq(coll_wait_str(c, "now"), 1);
	run_for(QUIET_MS);
	ck_assert_int_eq(coll_has(c, "loop"), 0);
	ck_assert_int_eq(iso_resume(iso), 0);
	ck_assert_int_eq(coll_wait_str(c, "loop"), 1);
	kill_free(iso);
	coll_close(c);
	fd_check(fds);
}
END_TEST

static void
count_cb(iso_port *p, const iso_msg *m, void *arg)
{
	(void)p;
	(void)m;
	(*(int *)arg)++;
}

/* Pings to a paused isolate are held to the queue's bound: ENOBUFS, not
   a queue that grows without end; the ones taken are all answered. */
START_TEST(test_ping_bounded)
{
	int		 fds = fd_base();
	struct coll	*c = coll_open();
	iso_isolate	*iso = echo_spawn(c, -1, NULL);
	iso_port	*cnt = iso_port_new();
	iso_msg		*m = iso_msg_pack("s", "p");
	int		 n, rc = 0, got = 0;
	long		 end;

	ck_assert_ptr_nonnull(cnt);
	ck_assert_int_eq(iso_port_listen(cnt, count_cb, &got), 0);
	(void)echo_port(c);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 64 * 1024), 0);
	ck_assert_int_eq(iso_pause(iso), 0);
	for (n = 0; n < 1000000; n++)
		if ((rc = iso_ping(iso, iso_port_sendport(cnt), m,
		    ISO_BEFORE_NEXT_EVENT)) == -1)
			break;
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(errno, ENOBUFS);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(iso_resume(iso), 0);
	end = now_ms() + WAIT_MS;
	while (got < n && now_ms() < end)
		run_for(10);
	ck_assert_int_eq(got, n);
	iso_port_close(cnt);
	iso_msg_free(m);
	kill_free(iso);
	coll_close(c);
	fd_check(fds);
}
END_TEST

/* An exec'd isolate is pinged through its socket. */
START_TEST(test_ping_exec)
{
	int		 fds = fd_base();
	struct coll	*c = coll_open();
	iso_isolate	*iso;
	iso_msg		*arg;
	char		*argv[] = { self_exe, (char *)"--exec-listen", NULL };

	arg = iso_msg_pack("P", iso_port_sendport(c->p));
	ck_assert_int_eq(iso_spawn_exec_with(argv, arg, NULL, &iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(coll_wait_str(c, "listening"), 1);
	ping(iso, c, "pong", ISO_BEFORE_NEXT_EVENT);
	ck_assert_int_eq(coll_wait_str(c, "pong"), 1);
	kill_free(iso);
	coll_close(c);
	fd_check(fds);
}
END_TEST

/* A graceful kill of a paused isolate ends it (it is let run to end). */
START_TEST(test_kill_paused)
{
	int		 fds = fd_base();
	struct coll	*c = coll_open();
	iso_isolate	*iso = echo_spawn(c, -1, NULL);
	iso_msg		*gone = iso_msg_pack("s", "gone");

	(void)echo_port(c);
	ck_assert_int_eq(iso_pause(iso), 0);
	ck_assert_int_eq(iso_on_exit(iso, iso_port_sendport(c->p), gone), 0);
	ck_assert_int_eq(iso_kill(iso, ISO_BEFORE_NEXT_EVENT), 0);
	ck_assert_int_eq(coll_wait_str(c, "gone"), 1);
	iso_msg_free(gone);
	iso_isolate_free(iso);
	coll_close(c);
	fd_check(fds);
}
END_TEST

/* ---- exec'd helpers ----------------------------------------------------------- */

static int
exec_main(const char *mode)
{
	const iso_msg	*m;
	iso_sendport	 to;
	iso_port	*p;
	iso_msg		*r;
	char		 comm[64];

	if ((m = iso_initial_message()) == NULL ||
	    iso_msg_unpack(m, "P", &to) == -1)
		return (10);
	if (strcmp(mode, "--exec-comm") == 0) {
		proc_comm(getpid(), comm, sizeof comm);
		r = iso_msg_pack("s", comm);
		(void)iso_send(to, r);
		iso_msg_free(r);
		pause();
		return (0);
	}
	if (strcmp(mode, "--exec-listen") == 0) {
		if ((p = iso_port_new()) == NULL)
			return (11);
		r = iso_msg_pack("s", "listening");
		(void)iso_send(to, r);
		iso_msg_free(r);
		return (iso_run() == 0 ? 0 : 12);
	}
	return (13);
}

static Suite *
attr_suite(void)
{
	Suite	*s = suite_create("attr");
	TCase	*tc;

	tc = tcase_create("options");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_setters);
	tcase_add_test(tc, test_name_fork);
	tcase_add_test(tc, test_name_exec);
	tcase_add_test(tc, test_listeners_exit);
	tcase_add_test(tc, test_listeners_abort);
	suite_add_tcase(s, tc);

	tc = tcase_create("pause");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_paused_spawn);
	tcase_add_test(tc, test_paused_exec);
	tcase_add_test(tc, test_paused_exec_fds);
	tcase_add_test(tc, test_paused_queue_order);
	tcase_add_test(tc, test_paused_enobufs);
	tcase_add_test(tc, test_kill_paused);
	suite_add_tcase(s, tc);

	tc = tcase_create("ping");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_ping_live);
	tcase_add_test(tc, test_ping_busy);
	tcase_add_test(tc, test_ping_paused);
	tcase_add_test(tc, test_ping_bounded);
	tcase_add_test(tc, test_ping_exec);
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
	/* aborts on purpose leave no core files */
	setrlimit(RLIMIT_CORE, &nocore);
	if ((n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1))
	    <= 0) {
		perror("readlink /proc/self/exe");
		return (1);
	}
	self_exe[n] = '\0';
	tu_runtime_dir();
	sr = srunner_create(attr_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
