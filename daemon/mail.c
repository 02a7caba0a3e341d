/*
 * mail.c: the requests about messages for and from commands: "send" (to
 * a registered port or a command's mailbox), "take" (out of a mailbox)
 * and "recv" (what a --lines command printed), the last two waiting for
 * a message when asked to.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon.h"
#include "proc.h"
#include "supproto.h"

int
proc_mailbox_port(const char *target, iso_sendport *out)
{
	struct proc	*p = proc_by_id(proc_find(target));

	if (p == NULL || p->box == NULL || p->state >= P_EXITED) {
		errno = ENOENT;
		return (-1);
	}
	*out = mbox_port(p->box);
	return (0);
}

/* The mailbox whose SendPort this is, or NULL. */
static struct proc *
proc_by_mailbox(iso_sendport port)
{
	struct proc	*p;

	for (p = proc_list; p != NULL; p = p->next)
		if (p->box != NULL && port.isolate == mbox_id(p->box))
			return (p);
	return (NULL);
}

/*
 * "send" {target, message}: to a registered name's port (forwarded, or
 * put straight in when it is one of our mailboxes), else to the mailbox
 * of the command with that name or id.
 */
void
op_send(struct sv_conn *c, const iso_msg *req)
{
	const char	*target;
	const iso_msg	*m;
	iso_sendport	 port;
	struct proc	*p = NULL;

	if (iso_msg_unpack(req, "{s:s s:O}", "target", &target, "message",
	    &m) == -1) {
		sv_error(c, EINVAL, "send: want a \"target\" string and a "
		    "\"message\"");
		return;
	}
	if (names_get(target, &port) == 0) {
		if ((p = proc_by_mailbox(port)) == NULL) {
			if (iso_send(port, m) == -1)
				sv_error(c, errno, "send: %s", iso_error());
			else
				sv_ok(c);
			return;
		}
	} else if ((p = proc_by_id(proc_find(target))) == NULL) {
		sv_error(c, ENOENT, "no port or isolate \"%.64s\"", target);
		return;
	}
	if (p->box == NULL) {
		sv_error(c, ENOENT, "isolate %016" PRIx64 " has no mailbox: "
		    "send to a port it registered", p->id);
		return;
	}
	if (p->state >= P_EXITED) {
		sv_error(c, ECONNREFUSED, "isolate %016" PRIx64 " has ended",
		    p->id);
		return;
	}
	if (mbox_put(p->box, m, NULL) == -1) {
		if (errno == ENOBUFS)
			sv_error(c, ENOBUFS, "the mailbox of %016" PRIx64 " is "
			    "full (%d messages)", p->id, p->box_limit);
		else
			sv_error(c, errno, "send: %s", strerror(errno));
		return;
	}
	sv_ok(c);
}

/* ---- take and recv: requests that wait for a queue ----------------------- */

static void
taker_answer(struct taker *t)
{
	struct sv_conn	*c = t->conn;

	t->conn = NULL;
	evtimer_del(t->timer);
	mbox_on_put(t->box, NULL, NULL);
	sv_reply_with(c, "messages", mbox_take(t->box, (size_t)t->max));
}

static void
taker_wake(void *arg)
{
	taker_answer(arg);
}

static void
taker_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	taker_answer(arg);	/* an empty list */
}

static void
taker_cancel(void *arg)
{
	struct taker	*t = arg;

	t->conn = NULL;
	evtimer_del(t->timer);
	mbox_on_put(t->box, NULL, NULL);
}

/* Answer a waiting request with an error (its queue is going away). */
void
taker_end(struct taker *t, const char *why)
{
	if (t->conn != NULL) {
		mbox_on_put(t->box, NULL, NULL);
		sv_error(t->conn, ESRCH, "%s", why);
		t->conn = NULL;
	}
	if (t->timer != NULL)
		event_free(t->timer);
	t->timer = NULL;
}

/* Up to "max" messages of box, waiting up to "timeout_ms" for one. */
static void
taker_start(struct sv_conn *c, const iso_msg *req, struct taker *t,
    struct mbox *box)
{
	struct timeval	 tv;
	int		 max = INT_MAX, ms = 0;

	if (iso_msg_unpack(req, "{s?i s?i}", "max", &max, "timeout_ms",
	    &ms) == -1 || max <= 0) {
		sv_error(c, EINVAL, "\"max\" and \"timeout_ms\" are integers, "
		    "max > 0");
		return;
	}
	if (mbox_len(box) > 0 || ms == 0) {
		sv_reply_with(c, "messages", mbox_take(box, (size_t)max));
		return;
	}
	if (t->conn != NULL) {
		sv_error(c, EBUSY, "someone else waits on that queue");
		return;
	}
	if (t->timer == NULL &&
	    (t->timer = evtimer_new(proc_base, taker_timeout, t)) == NULL) {
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	t->conn = c;
	t->box = box;
	t->max = max;
	mbox_on_put(box, taker_wake, t);
	if (ms > 0) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(t->timer, &tv);
	}
	sv_defer(c, taker_cancel, t);
}

/*
 * "take" {target, max, timeout_ms}: up to max messages (default all) of
 * a command's mailbox, oldest first; with none there, wait up to
 * timeout_ms (0: not at all, < 0: forever) for one.
 */
void
op_take(struct sv_conn *c, const iso_msg *req)
{
	struct proc	*p;

	if ((p = proc_target(c, req)) == NULL)
		return;
	if (p->box == NULL) {
		sv_error(c, ENOENT, "isolate %016" PRIx64 " has no mailbox",
		    p->id);
		return;
	}
	if (p->lines) {
		sv_error(c, EINVAL, "isolate %016" PRIx64 " reads its mailbox "
		    "on its stdin", p->id);
		return;
	}
	taker_start(c, req, &p->take, p->box);
}

/* "recv" {target, max, timeout_ms}: the same for what a --lines command
   has printed. */
void
op_recv(struct sv_conn *c, const iso_msg *req)
{
	struct proc	*p;

	if ((p = proc_target(c, req)) == NULL)
		return;
	if (p->outbox == NULL) {
		sv_error(c, EINVAL, "isolate %016" PRIx64 " was not spawned "
		    "with --lines: its output is in its log", p->id);
		return;
	}
	taker_start(c, req, &p->recv, p->outbox);
}

