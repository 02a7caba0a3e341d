/*
 * control.c: the requests pause, resume and ping about a running
 * supervised isolate (a command's process group, or an isolate a program
 * forked): SIGSTOP, SIGCONT, and whether it is there and not paused. A
 * ping of an isolate's own loop is the client's to make, on the isolate's
 * socket (lib/supctl.c): the reply says which it is.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

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

static void
op_pause(struct sv_conn *c, const struct rq *r)
{
	if (ctl_signal(c, r->target.rec, SIGSTOP, "pause") == 0) {
		log_info("paused %016" PRIx64, rec_id(r->target.rec));
		sv_ok(c);
	}
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
