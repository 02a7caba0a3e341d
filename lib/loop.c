/*
 * loop.c: the isolate's libevent loop: iso_run, waiting inside the loop,
 * the isolate's id, the reset of a new isolate after fork, and its end.
 *
 * iso_run turns the loop one batch of callbacks at a time (EVLOOP_ONCE)
 * and writes what the callbacks sent before it waits again: a burst of
 * sends costs one write, and a lone message is not delayed. When a
 * program runs the base itself, every send is written at once.
 */
#include <sys/random.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "loop.h"
#include "msg.h"

static struct event_base	*base;
static uint64_t			 self_id;
static int			 holds;
static int			 running;	/* inside iso_run/loop_wait */
static int			 exiting;	/* SIGTERM: end before the
						   next event */
static int			 term_pipe[2] = { -1, -1 };
static struct event		*term_ev;
static int			 atexit_done;
static pid_t			 base_pid;	/* the process of `base` */

static void	loop_atexit(void);

struct event_base *
loop_base(void)
{
	struct event_config	*cfg;

	if (base != NULL)
		return (base);
	/* One thread, and no EVENT_* variables to read: libevent otherwise
	   checks each with four uid/gid calls, on every spawn. */
	if ((cfg = event_config_new()) == NULL ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK |
	    EVENT_BASE_FLAG_IGNORE_ENV) == -1 ||
	    (base = event_base_new_with_config(cfg)) == NULL) {
		if (cfg != NULL)
			event_config_free(cfg);
		msg_fail(ENOMEM, "loop: cannot make an event base");
		return (NULL);
	}
	event_config_free(cfg);
	base_pid = getpid();
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

uint64_t
loop_new_id(void)
{
	static uint64_t	counter;
	uint64_t	id = 0;

	while (id == 0) {
		if (getrandom(&id, sizeof id, GRND_NONBLOCK) != sizeof id)
			id = ((uint64_t)time(NULL) << 32 ^ (uint64_t)getpid() <<
			    16 ^ (uint64_t)clock()) * 0x9e3779b97f4a7c15ULL +
			    ++counter;
	}
	return (id);
}

uint64_t
loop_self(void)
{
	const char	*env;
	char		*end;
	uint64_t	 id;

	if (self_id != 0)
		return (self_id);
	/* An isolate started by iso_spawn_exec takes the id its spawner
	   chose, so that the spawner can clean up after it. */
	if ((env = getenv("ISO_ISOLATE_ID")) != NULL) {
		errno = 0;
		id = strtoull(env, &end, 16);
		if (errno == 0 && *end == '\0' && end != env && id != 0)
			self_id = id;
		unsetenv("ISO_ISOLATE_ID");
	}
	if (self_id == 0)
		self_id = loop_new_id();
	return (self_id);
}

void
loop_hold(void)
{
	holds++;
}

void
loop_unhold(void)
{
	if (holds > 0)
		holds--;
}

int
loop_dispatching(void)
{
	return (running);
}

/* One turn: write what is queued, wait, run a batch of callbacks. */
static int
loop_turn(void)
{
	int	rc;

	conn_flush();
	running = 1;
	rc = event_base_loop(base, EVLOOP_ONCE);
	running = 0;
	if (exiting)
		loop_exit(0);
	return (rc);
}

int
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

int
loop_stopping(void)
{
	return (exiting);
}

/*
 * A self-pipe rather than libevent's signal events: event_reinit in a
 * forked child deletes a base's signal event from the epoll instance it
 * still shares with its parent, which would break the parent's.
 */
void
loop_graceful(void)
{
	struct sigaction	sa;

	if (term_ev != NULL || loop_base() == NULL)
		return;
	if (pipe2(term_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return;
	if ((term_ev = event_new(base, term_pipe[0], EV_READ | EV_PERSIST,
	    loop_term_cb, NULL)) == NULL || event_add(term_ev, NULL) == -1) {
		close(term_pipe[0]);
		close(term_pipe[1]);
		term_pipe[0] = term_pipe[1] = -1;
		return;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = loop_term_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
}

void
loop_child(uint64_t id)
{
	if (base != NULL) {
		/* Own epoll first: nothing below may reach the parent's. */
		event_reinit(base);
		conn_forget();
		port_forget();
		timer_forget();
		isolate_forget();
		if (term_ev != NULL)
			event_free(term_ev);
		event_base_free(base);
	}
	if (term_pipe[0] != -1) {
		close(term_pipe[0]);
		close(term_pipe[1]);
	}
	term_pipe[0] = term_pipe[1] = -1;
	term_ev = NULL;
	base = NULL;
	holds = running = exiting = 0;
	self_id = id;
	unsetenv("ISO_ISOLATE_ID");	/* ours was chosen by the spawner */
	loop_graceful();
}

void
loop_exit(int status)
{
	conn_drain(LOOP_EXIT_FLUSH_MS);
	isolate_kill_all();
	fflush(NULL);
	_exit(status);
}

/*
 * A program that returns from main or calls exit: write what waits, then
 * take its isolates with it. Not in a plain fork() of it that exits: that
 * copy must not write the parent's queue again or remove its socket.
 */
static void
loop_atexit(void)
{
	if (base == NULL || getpid() != base_pid)
		return;
	conn_drain(LOOP_EXIT_FLUSH_MS);
	isolate_kill_all();
}
