/*
 * mapcmd.c: the warm programs of isoctl map -- CMD (mapcmd.h).
 *
 * Each job slot has one program, forked and exec'd here, its stdin and
 * stdout a raw pseudo-terminal (a pipe would leave mawk's answers in its
 * buffer). An item is written as one line; the next line the program
 * prints is its result. A program that exits, or is killed at --timeout,
 * fails the item it had, and the slot starts a new one for its next
 * item. Exits are seen on a pidfd, the program reaped by its pid; the
 * programs die with isoctl (a parent-death signal) and are killed and
 * reaped by mapcmd_free.
 */
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "mapcmd.h"
#include "pty.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open	434
#endif

#define MC_READ		65536
#define MC_LINE_MAX	(64 * 1024 * 1024)
#define MC_REAP_MS	20	/* without pidfds: how often to look */

struct mc_item {
	STAILQ_ENTRY(mc_item)	 entry;
	void			*item;
	size_t			 len;
	char			 line[];	/* with its newline */
};

struct mc_slot {
	struct mapcmd	*mc;
	pid_t		 pid;		/* -1: no program */
	int		 fd;		/* the terminal's master */
	int		 pidfd;		/* -1 where there are none */
	struct event	*rev, *wev, *pev, *timer;
	struct mc_item	*cur;		/* the item it has, or NULL */
	size_t		 off;		/* of cur->line written */
	char		*in;		/* output not yet a whole line */
	size_t		 len, cap;
};

struct mapcmd {
	struct event_base	*base;
	char			**argv;
	int			 timeout_ms;
	mapcmd_done		 done;
	void			*ud;
	struct mc_slot		*slot;
	int			 nslot;
	struct event		*kick;		/* dispatch queued items */
	STAILQ_HEAD(, mc_item)	 queue;
};

static void	mc_read_cb(evutil_socket_t, short, void *);
static void	mc_write_cb(evutil_socket_t, short, void *);
static void	mc_exit_cb(evutil_socket_t, short, void *);
static void	mc_timer_cb(evutil_socket_t, short, void *);
static void	mc_next(struct mc_slot *);

/* Tell item (freed) its end; text owned, NULL: out of memory. */
static void
mc_tell(struct mapcmd *mc, struct mc_item *it, int ok, char *text)
{
	void	*item = it->item;

	free(it);
	if (text == NULL && (text = strdup(ok ? "null" : "failed")) ==
	    NULL) {
		fprintf(stderr, "isoctl: map: out of memory\n");
		exit(CLI_FAIL);
	}
	mc->done(ok, text, item, mc->ud);
}

/* The program gone (reaped, or never started): the slot is empty. */
static void
mc_clear(struct mc_slot *s)
{
	event_del(s->rev);
	event_del(s->wev);
	event_del(s->timer);
	if (s->pev != NULL)
		event_free(s->pev);
	s->pev = NULL;
	if (s->pidfd != -1)
		close(s->pidfd);
	if (s->fd != -1)
		close(s->fd);
	s->pidfd = s->fd = -1;
	s->pid = -1;
	s->len = 0;
}

/* Kill the program, with what it started, and wait for it (SIGKILL: it
   does not linger). */
static void
mc_kill(struct mc_slot *s)
{
	int	st;

	if (s->pid == -1)
		return;
	(void)kill(-s->pid, SIGKILL);
	while (waitpid(s->pid, &st, 0) == -1 && errno == EINTR)
		;
	mc_clear(s);
}

/*
 * Start the slot's program: 0, or -1 with the reason in err. The exec's
 * errno comes back on a close-on-exec pipe, so a program that cannot be
 * run is known here.
 */
static int
mc_spawn(struct mc_slot *s, char *err, size_t errlen)
{
	struct mapcmd	*mc = s->mc;
	sigset_t	 all, old;
	pid_t		 parent = getpid();
	int		 child = -1, ex[2] = { -1, -1 }, e = 0, st;
	ssize_t		 r;

	if ((s->fd = pty_open(&child, NULL)) == -1 ||
	    pipe2(ex, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "cannot make a terminal for %s: %s",
		    mc->argv[0], strerror(errno));
		goto fail;
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	s->pid = fork();
	if (s->pid == 0) {
		/* isoctl ignores SIGPIPE; the program must not inherit it.
		   A group of its own: what it starts is killed with it. */
		signal(SIGPIPE, SIG_DFL);
		(void)setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
		    getppid() != parent)
			_exit(127);
		if (dup2(child, STDIN_FILENO) == -1 ||
		    dup2(child, STDOUT_FILENO) == -1)
			e = errno;
		else {
			sigprocmask(SIG_SETMASK, &old, NULL);
			execvp(mc->argv[0], mc->argv);
			e = errno;
		}
		(void)!write(ex[1], &e, sizeof e);
		_exit(127);
	}
	e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(child);
	child = -1;
	close(ex[1]);
	ex[1] = -1;
	if (s->pid == -1) {
		snprintf(err, errlen, "cannot run %s: %s", mc->argv[0],
		    strerror(e));
		goto fail;
	}
	while ((r = read(ex[0], &e, sizeof e)) == -1 && errno == EINTR)
		;
	close(ex[0]);
	ex[0] = -1;
	if (r == (ssize_t)sizeof e) {
		while (waitpid(s->pid, &st, 0) == -1 && errno == EINTR)
			;
		s->pid = -1;
		snprintf(err, errlen, "cannot run %s: %s", mc->argv[0],
		    strerror(e));
		goto fail;
	}
	s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
	if (s->pidfd != -1) {
		(void)fcntl(s->pidfd, F_SETFD, FD_CLOEXEC);
		s->pev = event_new(mc->base, s->pidfd, EV_READ, mc_exit_cb, s);
	} else
		s->pev = event_new(mc->base, -1, 0, mc_exit_cb, s);
	if (s->pev == NULL) {
		snprintf(err, errlen, "out of memory");
		mc_kill(s);
		return (-1);
	}
	if (s->pidfd != -1)
		event_add(s->pev, NULL);
	else {
		struct timeval	tv = { 0, MC_REAP_MS * 1000 };

		event_add(s->pev, &tv);
	}
	/* the events follow the slot's descriptor */
	event_assign(s->rev, mc->base, s->fd, EV_READ | EV_PERSIST,
	    mc_read_cb, s);
	event_assign(s->wev, mc->base, s->fd, EV_WRITE | EV_PERSIST,
	    mc_write_cb, s);
	event_add(s->rev, NULL);
	return (0);
fail:
	if (child != -1)
		close(child);
	if (ex[0] != -1)
		close(ex[0]);
	if (ex[1] != -1)
		close(ex[1]);
	mc_clear(s);
	return (-1);
}

/* One line the program printed (NUL at n): the result of its item. */
static void
mc_line(struct mc_slot *s, char *line, size_t n)
{
	struct mc_item	*it = s->cur;
	iso_msg		*m;
	char		*text;

	if (it == NULL)
		return;		/* a line no item asked for */
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	if ((m = iso_msg_from_json(line)) == NULL &&
	    (m = iso_msg_pack("s#", line, n)) == NULL)
		m = iso_msg_pack("y#", line, n);	/* not UTF-8 */
	text = m != NULL ? iso_msg_to_json(m) : NULL;
	iso_msg_free(m);
	s->cur = NULL;
	event_del(s->timer);
	event_del(s->wev);
	mc_tell(s->mc, it, 1, text);
}

/* Read what the program printed. -1: its terminal is closed (it has
   exited, or closed its stdout). */
static int
mc_drain(struct mc_slot *s)
{
	char	*b, *nl, *p;
	ssize_t	 r;
	size_t	 left;

	for (;;) {
		if (s->cap - s->len < MC_READ + 1) {
			if ((b = realloc(s->in, s->len + MC_READ + 1)) ==
			    NULL) {
				fprintf(stderr, "isoctl: map: out of memory\n");
				exit(CLI_FAIL);
			}
			s->in = b;
			s->cap = s->len + MC_READ + 1;
		}
		r = read(s->fd, s->in + s->len, MC_READ);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			return (0);
		if (r <= 0)
			return (-1);	/* EIO: no one has the terminal */
		s->len += (size_t)r;
		p = s->in;
		left = s->len;
		while ((nl = memchr(p, '\n', left)) != NULL) {
			*nl = '\0';
			mc_line(s, p, (size_t)(nl - p));
			left -= (size_t)(nl - p) + 1;
			p = nl + 1;
		}
		if (left > 0 && p != s->in)
			memmove(s->in, p, left);
		s->len = left;
		if (s->len >= MC_LINE_MAX)
			return (-1);
		if ((size_t)r < MC_READ)
			return (0);
	}
}

static void
mc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mc_slot	*s = arg;
	char		 why[64];

	(void)fd;
	(void)what;
	if (mc_drain(s) == 0) {
		mc_next(s);
		return;
	}
	event_del(s->rev);
	if (s->len >= MC_LINE_MAX && s->cur != NULL) {
		struct mc_item	*it = s->cur;

		s->cur = NULL;
		mc_kill(s);
		snprintf(why, sizeof why, "a line longer than 64 MiB");
		mc_tell(s->mc, it, 0, strdup(why));
		mc_next(s);
	}
	/* else the exit is seen on the pidfd (or the timer) */
}

/* The program has exited (its pidfd is readable), or, without pidfds,
   a look at whether it has. */
static void
mc_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mc_slot	*s = arg;
	struct mc_item	*it;
	struct timeval	 tv = { 0, MC_REAP_MS * 1000 };
	char		 why[128], sig[16];
	const char	*name;
	siginfo_t	 si;
	pid_t		 r;
	int		 st;

	(void)fd;
	(void)what;
	si.si_pid = 0;
	if (waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
	    0 && si.si_pid == 0) {
		if (s->pidfd == -1)
			event_add(s->pev, &tv);
		return;
	}
	/* what it left running goes too (its zombie keeps the group's
	   id from being reused) */
	(void)kill(-s->pid, SIGKILL);
	while ((r = waitpid(s->pid, &st, 0)) == -1 && errno == EINTR)
		;
	(void)mc_drain(s);	/* what it printed before it went */
	if ((name = strrchr(s->mc->argv[0], '/')) != NULL)
		name++;
	else
		name = s->mc->argv[0];
	if (r == -1)
		snprintf(why, sizeof why, "%s: %s", name, strerror(errno));
	else if (WIFSIGNALED(st))
		snprintf(why, sizeof why, "%s killed by %s", name,
		    cli_signame(WTERMSIG(st), sig));
	else
		snprintf(why, sizeof why, "%s exited with status %d", name,
		    WEXITSTATUS(st));
	s->pid = -1;
	mc_clear(s);
	if ((it = s->cur) != NULL) {
		s->cur = NULL;
		mc_tell(s->mc, it, 0, strdup(why));
	}
	mc_next(s);
}

static void
mc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mc_slot	*s = arg;
	struct mc_item	*it = s->cur;
	char		 why[64];

	(void)fd;
	(void)what;
	if (it == NULL)
		return;
	s->cur = NULL;
	mc_kill(s);
	snprintf(why, sizeof why, "timed out after %d ms",
	    s->mc->timeout_ms);
	mc_tell(s->mc, it, 0, strdup(why));
	mc_next(s);
}

/* Write the rest of the slot's item. */
static void
mc_write(struct mc_slot *s)
{
	struct mc_item	*it = s->cur;
	ssize_t		 w;

	while (it != NULL && s->off < it->len) {
		w = write(s->fd, it->line + s->off, it->len - s->off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN) {
			event_add(s->wev, NULL);
			return;
		}
		if (w == -1) {
			/* EIO: it is going; the exit fails the item */
			break;
		}
		s->off += (size_t)w;
	}
	event_del(s->wev);
}

static void
mc_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	mc_write(arg);
}

/* An idle slot takes the next queued item (starting a program first if
   it has none). */
static void
mc_next(struct mc_slot *s)
{
	struct mapcmd	*mc = s->mc;
	struct mc_item	*it;
	struct timeval	 tv;
	char		 why[256];

	while (s->cur == NULL && (it = STAILQ_FIRST(&mc->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&mc->queue, entry);
		if (s->pid == -1 && mc_spawn(s, why, sizeof why) == -1) {
			mc_tell(mc, it, 0, strdup(why));
			continue;
		}
		s->cur = it;
		s->off = 0;
		if (mc->timeout_ms > 0) {
			tv.tv_sec = mc->timeout_ms / 1000;
			tv.tv_usec = (mc->timeout_ms % 1000) * 1000;
			event_add(s->timer, &tv);
		}
		mc_write(s);
	}
}

static void
mc_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mapcmd	*mc = arg;
	int		 i;

	(void)fd;
	(void)what;
	for (i = 0; i < mc->nslot && !STAILQ_EMPTY(&mc->queue); i++)
		mc_next(&mc->slot[i]);
}

struct mapcmd *
mapcmd_new(struct event_base *base, char **argv, int jobs, int timeout_ms,
    mapcmd_done done, void *ud, char *err, size_t errlen)
{
	struct mapcmd	*mc;
	struct mc_slot	*s;
	int		 i;

	if ((mc = calloc(1, sizeof *mc)) == NULL ||
	    (mc->slot = calloc((size_t)jobs, sizeof *mc->slot)) == NULL ||
	    (mc->kick = event_new(base, -1, 0, mc_kick_cb, mc)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	mc->base = base;
	mc->argv = argv;
	mc->timeout_ms = timeout_ms;
	mc->done = done;
	mc->ud = ud;
	STAILQ_INIT(&mc->queue);
	for (i = 0; i < jobs; i++) {
		s = &mc->slot[i];
		s->mc = mc;
		s->pid = -1;
		s->fd = s->pidfd = -1;
		mc->nslot++;
		if ((s->rev = event_new(base, -1, 0, mc_read_cb, s)) ==
		    NULL ||
		    (s->wev = event_new(base, -1, 0, mc_write_cb, s)) ==
		    NULL ||
		    (s->timer = evtimer_new(base, mc_timer_cb, s)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		if (mc_spawn(s, err, errlen) == -1)
			goto fail;
	}
	return (mc);
fail:
	mapcmd_free(mc);
	return (NULL);
}

int
mapcmd_submit(struct mapcmd *mc, const char *line, size_t len, void *item)
{
	struct mc_item	*it;

	if ((it = malloc(sizeof *it + len + 1)) == NULL)
		return (-1);
	memcpy(it->line, line, len);
	it->line[len] = '\n';
	it->len = len + 1;
	it->item = item;
	STAILQ_INSERT_TAIL(&mc->queue, it, entry);
	event_active(mc->kick, EV_TIMEOUT, 1);
	return (0);
}

void
mapcmd_free(struct mapcmd *mc)
{
	struct mc_item	*it;
	struct mc_slot	*s;
	int		 i;

	if (mc == NULL)
		return;
	for (i = 0; i < mc->nslot; i++) {
		s = &mc->slot[i];
		if (s->rev != NULL && s->wev != NULL && s->timer != NULL)
			mc_kill(s);
		free(s->cur);
		free(s->in);
		if (s->rev != NULL)
			event_free(s->rev);
		if (s->wev != NULL)
			event_free(s->wev);
		if (s->timer != NULL)
			event_free(s->timer);
	}
	while ((it = STAILQ_FIRST(&mc->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&mc->queue, entry);
		free(it);
	}
	if (mc->kick != NULL)
		event_free(mc->kick);
	free(mc->slot);
	free(mc);
}
