/*
 * loop.c: the isolate's libevent loop: iso_run, waiting inside the loop,
 * the isolate's id, the reset of a new isolate after fork, and its end.
 *
 * iso_run turns the loop one batch of callbacks at a time (EVLOOP_ONCE)
 * and writes what the callbacks sent before it waits again: a burst of
 * sends costs one write, and a lone message is not delayed. When a
 * program runs the base itself, every send is written at once.
 */
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "attr.h"
#include "hot.h"
#include "loop.h"
#include "msg.h"

static struct event_base	*base;
static uint64_t			 self_id;
static int			 holds;
static int			 running;	/* inside iso_run/loop_wait */
static volatile sig_atomic_t	 exiting;	/* SIGTERM: end before the
						   next event */
static int			 term_pipe[2] = { -1, -1 };
static struct event		*term_ev;
static int			 atexit_done;
static pid_t			 base_pid;	/* the process of `base` */
static pid_t			 my_pid;	/* 0: not known (see loop_pid) */
static uint64_t			 ids[16];	/* random ids, for loop_new_id */
static size_t			 ids_left;
static int			 atfork_done;
static int			 forked;	/* 1 from loop_child until the
						   base is made: one thread */
static int			 spawning;	/* loop_spawning */
static uint64_t			*fd_bits;	/* the library's descriptors */
static size_t			 fd_words;
static uint64_t			 fd_first[16];	/* fd_bits until it grows: a
						   spawn allocates nothing
						   for it */
static struct event_config	*base_cfg;	/* kept for a new isolate's
						   base: no allocation */
static int			 base_cfg_flags;

/* What a new isolate inherited and leaves untouched (see loop_child),
   kept reachable for leak checkers, one link for each generation (the
   first in .bss, so that a spawn allocates nothing for it). */
#define KEEP_MAX	16
struct keep {
	struct keep	*prev;
	void		*p[KEEP_MAX];
	int		 n;
};
static struct keep	*kept;
static struct keep	 keep_first;

#ifndef nitems
#define nitems(a)	(sizeof (a) / sizeof (a)[0])
#endif

static void	loop_atexit(void);

/* ---- descriptors the library owns ----------------------------------------- */

ISO_HOT int
loop_fd_own(int fd)
{
	uint64_t	*bits;
	size_t		 words, w = (size_t)fd / 64;

	if (fd < 0)
		return (msg_fail(EBADF, "loop: not a descriptor"));
	if (w >= fd_words && fd_bits == NULL && w < nitems(fd_first)) {
		memset(fd_first, 0, sizeof fd_first);	/* a spawner's, maybe */
		fd_bits = fd_first;
		fd_words = nitems(fd_first);
	} else if (w >= fd_words) {
		words = w + 1 > fd_words * 2 ? w + 1 : fd_words * 2;
		if ((bits = fd_bits == fd_first ? malloc(words * sizeof *bits) :
		    realloc(fd_bits, words * sizeof *bits)) == NULL)
			return (msg_fail(ENOMEM, "loop: out of memory"));
		if (fd_bits == fd_first)
			memcpy(bits, fd_first, sizeof fd_first);
		memset(bits + fd_words, 0, (words - fd_words) * sizeof *bits);
		fd_bits = bits;
		fd_words = words;
	}
	fd_bits[w] |= (uint64_t)1 << (fd % 64);
	return (0);
}

void
loop_fd_disown(int fd)
{
	if (fd >= 0 && (size_t)fd / 64 < fd_words)
		fd_bits[fd / 64] &= ~((uint64_t)1 << (fd % 64));
}

void
loop_fd_close(int fd)
{
	if (fd < 0)
		return;
	loop_fd_disown(fd);
	close(fd);
}

/* Close [first, last]: one close_range where the kernel has it. */
static void
loop_close_run(int first, int last)
{
	int	fd;

	if (syscall(SYS_close_range, (unsigned)first, (unsigned)last, 0) == 0)
		return;
	for (fd = first; fd <= last; fd++)
		close(fd);
}

/* In a new isolate: close every descriptor the spawner's library owned,
   one close_range per run of them, reading the set and writing nothing
   of it. */
static void
loop_fd_close_all(void)
{
	size_t		w;
	uint64_t	x;
	int		b, first = -1, fd;

	for (w = 0; w < fd_words; w++) {
		x = fd_bits[w];
		if (x == 0 && first == -1)
			continue;
		for (b = 0; b < 64; b++) {
			fd = (int)(w * 64) + b;
			if (x >> b & 1) {
				if (first == -1)
					first = fd;
			} else if (first != -1) {
				loop_close_run(first, fd - 1);
				first = -1;
			}
		}
	}
	if (first != -1)
		loop_close_run(first, (int)(fd_words * 64) - 1);
	loop_keep(fd_bits);
	fd_bits = NULL;
	fd_words = 0;
}

/*
 * Which of the 128 descriptors from `from` up are open: bit i of open[i /
 * 64] for from + i, in one poll (POLLNVAL: not open).
 */
static ISO_HOT int
loop_fd_probe(int from, uint64_t open[2])
{
	struct pollfd	pfd[128];
	int		i;

	for (i = 0; i < 128; i++) {
		pfd[i].fd = from + i;
		pfd[i].events = 0;
		pfd[i].revents = 0;
	}
	if (poll(pfd, 128, 0) == -1)
		return (-1);
	open[0] = open[1] = 0;
	for (i = 0; i < 128; i++)
		if (!(pfd[i].revents & POLLNVAL))
			open[i / 64] |= (uint64_t)1 << (i % 64);
	return (0);
}

/*
 * Make the base and own its descriptors (its epoll instance and signal
 * pipe), which libevent does not name: they are the lowest ones free
 * before the call and open after it. Right after fork we are the only
 * thread; otherwise another thread could open one of those numbers at
 * the same time, so each must also be of a kind libevent makes.
 */
static struct event_base *
loop_base_new(struct event_config *cfg)
{
	struct event_base	*b;
	struct stat		 st;
	uint64_t		 before[2], after[2], all = ~(uint64_t)0;
	int			 from = 0, i, fd, found = 0;

	for (from = 0; from < (1 << 20); from += 64) {
		if (loop_fd_probe(from, before) == -1)
			break;
		if (before[0] != all) {
			found = 1;	/* the lowest free one is here */
			break;
		}
	}
	if ((b = event_base_new_with_config(cfg)) == NULL)
		return (NULL);
	if (!found || loop_fd_probe(from, after) == -1)
		return (b);	/* not found: left to CLOEXEC alone */
	for (i = 0; i < 128; i++) {
		if (!(after[i / 64] & ~before[i / 64] &
		    (uint64_t)1 << (i % 64)))
			continue;
		fd = from + i;
		/* a pipe, a socket, or an anonymous inode: epoll */
		if (!forked && (fstat(fd, &st) == -1 ||
		    !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
		    (st.st_mode & S_IFMT) == 0)))
			continue;
		(void)loop_fd_own(fd);
	}
	return (b);
}

/*
 * Raise the soft descriptor limit to the hard one, once a process: a
 * spawner holds a descriptor or two per isolate and a listener one per
 * peer, and the soft limit of 1,024 exists only for select(), which the
 * library does not use (epoll has no such bound).
 */
static void
loop_raise_nofile(void)
{
	static int	done;
	struct rlimit	rl;

	if (done)
		return;
	done = 1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* loop_threaded: the base is made with libevent's locks. */
static int	threaded;

void
loop_threaded(void)
{
	threaded = 1;
}

ISO_HOT struct event_base *
loop_base(void)
{
	int	flags;

	if (base != NULL)
		return (base);
	loop_raise_nofile();
	evmem_libevent();
	/* One thread, and no EVENT_* variables to read: libevent otherwise
	   checks each with four uid/gid calls, on every spawn. The config
	   is kept for the bases of new isolates, which only read it. */
	flags = (threaded ? 0 : EVENT_BASE_FLAG_NOLOCK) |
	    EVENT_BASE_FLAG_IGNORE_ENV;
	if (base_cfg != NULL && base_cfg_flags != flags) {
		event_config_free(base_cfg);
		base_cfg = NULL;
	}
	if (base_cfg == NULL && ((base_cfg = event_config_new()) == NULL ||
	    event_config_set_flag(base_cfg, flags) == -1)) {
		if (base_cfg != NULL)
			event_config_free(base_cfg);
		base_cfg = NULL;
		msg_fail(ENOMEM, "loop: cannot make an event base");
		return (NULL);
	}
	base_cfg_flags = flags;
	if ((base = loop_base_new(base_cfg)) == NULL) {
		msg_fail(ENOMEM, "loop: cannot make an event base");
		return (NULL);
	}
	forked = 0;
	base_pid = loop_pid();
	if (!atexit_done) {
		atexit(loop_atexit);
		atexit_done = 1;
	}
	return (base);
}

struct event_base *
iso_event_base(void)
{
	return (loop_base());
}

void
loop_spawning(int on)
{
	spawning = on;
}

/*
 * In the child of any fork: what loop_pid and loop_new_id keep is the
 * parent's. The child of a plain fork() of an isolate does not keep the
 * isolate's end of the pair to its spawner: its spawner watches the
 * pair's hangup to learn that the isolate has ended.
 */
static ISO_HOT void
loop_forked(void)
{
	my_pid = 0;
	ids_left = 0;
	if (!spawning)
		conn_forked();
}

static void
loop_atfork(void)
{
	if (!atfork_done) {
		atfork_done = 1;
		(void)pthread_atfork(NULL, NULL, loop_forked);
	}
}

ISO_HOT pid_t
loop_pid(void)
{
	if (my_pid == 0) {
		loop_atfork();
		my_pid = getpid();
	}
	return (my_pid);
}

/* A random id, never 0; one getrandom call for 16 of them. */
uint64_t
loop_new_id(void)
{
	static uint64_t	counter;
	uint64_t	id = 0;

	while (id == 0) {
		if (ids_left == 0) {
			loop_atfork();
			if (getrandom(ids, sizeof ids, GRND_NONBLOCK) ==
			    sizeof ids)
				ids_left = sizeof ids / sizeof ids[0];
		}
		if (ids_left > 0) {
			id = ids[--ids_left];
			ids[ids_left] = 0;
		} else
			id = ((uint64_t)time(NULL) << 32 ^ (uint64_t)getpid() <<
			    16 ^ (uint64_t)clock()) * 0x9e3779b97f4a7c15ULL +
			    ++counter;
	}
	return (id);
}

ISO_HOT uint64_t
loop_self(void)
{
	const char	*env;
	char		*end;
	uint64_t	 id;

	if (self_id != 0)
		return (self_id);
	/* An exec'd program's first call: its note and its handlers. */
	attr_exec_start();
	/* An isolate started by iso_spawn_exec takes the id its spawner
	   chose, so that the spawner can clean up after it. */
	if ((env = getenv("ISO_ISOLATE_ID")) != NULL) {
		errno = 0;
		id = strtoull(env, &end, 16);
		if (errno == 0 && *end == '\0' && end != env && id != 0)
			self_id = id;
		unsetenv("ISO_ISOLATE_ID");
		/* Its name (iso_spawn_attr_set_name), which exec dropped. */
		if ((env = getenv("ISO_NAME")) != NULL) {
			(void)prctl(PR_SET_NAME, env, 0, 0, 0);
			unsetenv("ISO_NAME");
		}
	}
	if (self_id == 0)
		self_id = loop_new_id();
	return (self_id);
}

ISO_HOT void
loop_hold(void)
{
	holds++;
}

ISO_HOT void
loop_unhold(void)
{
	if (holds > 0)
		holds--;
}

ISO_HOT int
loop_dispatching(void)
{
	return (running);
}

/* event_base_loop, bound when the program is loaded: a spawner that has
   not run its loop yet would leave its first call through the PLT, a
   symbol lookup, to each new isolate (volatile: not folded back). */
static int	(*volatile loop_event_loop)(struct event_base *, int) =
		    event_base_loop;

/* One turn: write what is queued, wait, run a batch of callbacks. */
static int
loop_turn(void)
{
	int	rc;

	conn_flush();
	running = 1;
	rc = loop_event_loop(base, EVLOOP_ONCE);
	running = 0;
	if (exiting)
		loop_exit(0);
	return (rc);
}

ISO_HOT int
iso_run(void)
{
	int	rc;

	if (running)
		return (msg_fail(EDEADLK, "iso_run: called inside a callback"));
	if (loop_base() == NULL)
		return (-1);
	while (holds > 0) {
		if ((rc = loop_turn()) == -1)
			return (msg_fail(EIO, "iso_run: the event loop failed"));
		if (rc == 1)
			break;		/* nothing left that could wake us */
	}
	conn_flush();
	return (0);
}

static void
loop_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

int
loop_wait(const int *done, int timeout_ms)
{
	struct event	*tev = NULL;
	struct timeval	 tv;
	int		 timed_out = 0, rc = 0;

	if (running)
		return (msg_fail(EDEADLK, "a wait inside a callback would "
		    "need the loop that is running it"));
	if (loop_base() == NULL)
		return (-1);
	if (timeout_ms >= 0) {
		if ((tev = evtimer_new(base, loop_timeout_cb, &timed_out)) ==
		    NULL)
			return (msg_fail(ENOMEM, "loop: out of memory"));
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
		evtimer_add(tev, &tv);
	}
	while (!*done && !timed_out) {
		if ((rc = loop_turn()) != 0) {
			/* -1: the loop failed; 1: no event could end this */
			msg_fail(rc == 1 ? EDEADLK : EIO, "loop: nothing left "
			    "to wait for");
			rc = -1;
			break;
		}
	}
	if (tev != NULL)
		event_free(tev);
	conn_flush();
	if (rc == 0 && !*done)
		return (msg_fail(ETIMEDOUT, "timed out after %d ms",
		    timeout_ms));
	return (rc);
}

static void
loop_term_handler(int sig)
{
	int	saved = errno;

	(void)sig;
	/* At once, for callbacks of the batch that is running (which see
	   loop_stopping), and through the pipe to wake the loop. */
	exiting = 1;
	(void)!write(term_pipe[1], "", 1);
	errno = saved;
}

static void
loop_term_cb(evutil_socket_t fd, short what, void *arg)
{
	char	buf[16];

	(void)what;
	(void)arg;
	while (read(fd, buf, sizeof buf) > 0)
		;
	exiting = 1;
	event_base_loopbreak(base);
}

ISO_HOT int
loop_stopping(void)
{
	return (exiting);
}

/*
 * A self-pipe rather than libevent's signal events: event_reinit in a
 * forked child deletes a base's signal event from the epoll instance it
 * still shares with its parent, which would break the parent's.
 */
ISO_HOT void
loop_graceful(void)
{
	struct sigaction	sa;

	if (term_ev != NULL || loop_base() == NULL)
		return;
	/* A socketpair, not pipe2: the spawner has called socketpair, so a
	   new isolate binds no symbol (and writes no page) for it. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    term_pipe) == -1)
		return;
	if (loop_fd_own(term_pipe[0]) == -1 ||
	    loop_fd_own(term_pipe[1]) == -1 ||
	    (term_ev = event_new(base, term_pipe[0], EV_READ | EV_PERSIST,
	    loop_term_cb, NULL)) == NULL || event_add(term_ev, NULL) == -1) {
		if (term_ev != NULL)
			event_free(term_ev);
		term_ev = NULL;
		loop_fd_close(term_pipe[0]);
		loop_fd_close(term_pipe[1]);
		term_pipe[0] = term_pipe[1] = -1;
		return;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = loop_term_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
}

/*
 * The spawner's state is left as it is in our copy of its memory: freeing
 * it would write (copy) every page it sits on, and its libevent base
 * shares its epoll instance and signal pipe with the spawner, so no call
 * may reach it. Its descriptors are closed in one pass; each module
 * starts empty, keeping its old roots only so that they stay reachable.
 * O(1) in the spawner's isolates and connections, but for the close.
 */
ISO_HOT void
loop_keep(void *p)
{
	if (kept != NULL && kept->n < KEEP_MAX)
		kept->p[kept->n++] = p;
}

ISO_HOT void
loop_child(uint64_t id, int eager)
{
	struct keep	*k;

	if ((k = kept == NULL ? &keep_first : calloc(1, sizeof *k)) !=
	    NULL) {
		k->prev = kept;
		kept = k;
	}
	loop_fd_close_all();
	evmem_child();
	loop_keep(base);
	loop_keep(term_ev);
	base = NULL;
	term_pipe[0] = term_pipe[1] = -1;
	term_ev = NULL;
	holds = running = exiting = 0;
	forked = 1;
	spawning = 0;
	self_id = id;
	msg_forget();
	conn_forget();
	port_forget();
	timer_forget();
	isolate_forget();
	sup_forget();
	/* ours was chosen by the spawner */
	if (getenv("ISO_ISOLATE_ID") != NULL)
		unsetenv("ISO_ISOLATE_ID");
	if (eager)
		loop_graceful();
}

ISO_HOT void
loop_exit(int status)
{
	conn_drain();
	isolate_kill_all();
	fflush(NULL);
	/* _exit itself, but through syscall(), which the spawner has bound:
	   a first call to _exit would bind it here, writing pages. */
	syscall(SYS_exit_group, status);
	_exit(status);
}

/*
 * A program that returns from main or calls exit: write what waits, then
 * take its isolates with it. Not in a plain fork() of it that exits: that
 * copy must not write the parent's queue again.
 */
static void
loop_atexit(void)
{
	if (base == NULL || loop_pid() != base_pid)
		return;
	conn_drain();
	isolate_kill_all();
}
