/*
 * control.c: the requests pause, resume and ping about a running
 * supervised isolate (a command's process group, or an isolate a program
 * forked): SIGSTOP, SIGCONT, and whether it is there and not paused. A
 * pause is answered once the process has stopped (a SIGSTOP takes effect
 * when the process next runs; SIGCONT at once). A ping of an isolate's
 * own loop is the client's to make, on the isolate's socket
 * (lib/supctl.c): the reply says which it is.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon.h"
#include "records.h"

/* sig to the target's process; the error said to c. 0 or -1. */
static int
ctl_signal(struct sv_conn *c, struct proc *p, int sig, const char *what)
{
	char	w[100];

	if (life_control(p, sig) == 0)
		return (0);
	rec_who(p, w, sizeof w);
	if (errno == EAGAIN)
		sv_error(c, EAGAIN, "%s: isolate %s is starting; try again "
		    "once it runs", what, w);
	else if (rec_state(p) != REC_RUNNING)
		sv_error(c, ESRCH, "%s: isolate %s is not running (%s)", what,
		    w, rec_state_names[rec_state(p)]);
	else
		sv_error(c, ESRCH, "%s: isolate %s: %s", what, w,
		    strerror(errno));
	return (-1);
}

#define CTL_STOP_TICK_MS	2
#define CTL_STOP_WAIT_MS	2000

/* A pause whose answer waits for the process to stop. */
struct ctl_wait {
	struct sv_conn	*c;
	uint64_t	 id;
	struct event	*ev;
	int		 left;		/* ticks */
};

static void
ctl_wait_free(struct ctl_wait *w)
{
	event_free(w->ev);
	free(w);
}

/* The client went away first. */
static void
ctl_wait_cancel(void *arg)
{
	ctl_wait_free(arg);
}

static void
ctl_wait_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_wait	*w = arg;
	struct proc	*p = rec_by_id(w->id);
	char		 who[100];

	(void)fd;
	(void)what;
	if (p != NULL && rec_paused(p)) {
		log_info("paused %016" PRIx64, w->id);
		sv_ok(w->c);
	} else if (p == NULL || rec_state(p) != REC_RUNNING) {
		sv_error(w->c, ESRCH, "pause: isolate %016" PRIx64 " ended "
		    "before it stopped", w->id);
	} else if (--w->left > 0) {
		return;
	} else {
		rec_who(p, who, sizeof who);
		sv_error(w->c, ETIMEDOUT, "pause: isolate %s was sent "
		    "SIGSTOP but has not stopped after %d ms (waiting in the "
		    "kernel?); it stops once it can: see isoctl ps", who,
		    CTL_STOP_WAIT_MS);
	}
	ctl_wait_free(w);	/* answered: c forgot its cancel */
}

static void
op_pause(struct sv_conn *c, const struct rq *r)
{
	const struct timeval	 tv = { 0, CTL_STOP_TICK_MS * 1000 };
	struct proc		*p = r->target.rec;
	struct ctl_wait		*w;

	if (ctl_signal(c, p, SIGSTOP, "pause") == -1)
		return;
	if (rec_paused(p)) {
		log_info("paused %016" PRIx64, rec_id(p));
		sv_ok(c);
		return;
	}
	if ((w = calloc(1, sizeof *w)) == NULL ||
	    (w->ev = event_new(iso_event_base(), -1, EV_PERSIST,
	    ctl_wait_tick, w)) == NULL || event_add(w->ev, &tv) == -1) {
		if (w != NULL && w->ev != NULL)
			event_free(w->ev);
		free(w);
		sv_error(c, ENOMEM, "pause: out of memory");
		return;
	}
	w->c = c;
	w->id = rec_id(p);
	w->left = CTL_STOP_WAIT_MS / CTL_STOP_TICK_MS;
	sv_defer(c, ctl_wait_cancel, w);
}

const struct rq_entry rq_pause = {
	.name = "pause", .exec = op_pause, .target = TGT_RECORD
};

static void
op_resume(struct sv_conn *c, const struct rq *r)
{
	if (ctl_signal(c, r->target.rec, SIGCONT, "resume") == 0) {
		log_info("resumed %016" PRIx64, rec_id(r->target.rec));
		sv_ok(c);
	}
}

const struct rq_entry rq_resume = {
	.name = "resume", .exec = op_resume, .target = TGT_RECORD
};

/* {"id", "pid", "kind", "paused"} of a target whose process is there. */
static void
op_ping(struct sv_conn *c, const struct rq *r)
{
	struct proc	*p = r->target.rec;
	iso_msg		*row;
	char		 hex[17];
	int		 paused = 0;

	if (ctl_signal(c, p, 0, "ping") == -1)
		return;
	if ((row = rec_row(p)) != NULL)
		(void)iso_msg_unpack(row, "{s?b}", "paused", &paused);
	iso_msg_free(row);
	sv_reply(c, iso_msg_pack("{s:b s:s s:i s:s s:b}", "ok", 1, "id",
	    rec_hex(rec_id(p), hex), "pid", (int)rec_run(p)->pid, "kind",
	    rec_is_command(p) ? "command" : "isolate", "paused", paused));
}

const struct rq_entry rq_ping = {
	.name = "ping", .exec = op_ping, .target = TGT_RECORD
};
