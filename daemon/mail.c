/*
 * mail.c: the requests about messages for and from commands: "send" (to
 * a registered port or a command's mailbox), "take" (out of a mailbox)
 * and "recv" (what a --lines command printed), the last two waiting for
 * a message when asked to; and the leases of what was handed out, which
 * follow.c's streams use too.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon.h"
#include "records.h"
#include "supproto.h"

/* A request waiting for a queue (a mailbox or an outbox) to fill. */
struct taker {
	struct sv_conn	*conn;
	struct event	*timer;
	struct mbox	*box;
	struct mbox_waiter wait;
	int		 max;
	int		 acks;		/* the client acknowledges */
	uint64_t	 after;		/* what it has already */
};

/* This file's slot in a record: a take and a recv waiting. */
struct takers {
	struct taker	 take;
	struct taker	 recv;
};

struct send_args {
	const iso_msg	*message;
	const char	*reqid;
};

/*
 * "send" {target, message, reqid?}: to a registered name's port
 * (forwarded, or put straight in when it is one of our mailboxes), else
 * to the mailbox of the command with that name or id. A reqid the
 * mailbox has already kept is answered ok and not kept again (a client's
 * retry of a send whose answer it lost).
 */
static void
op_send(struct sv_conn *c, const struct rq *r)
{
	const struct send_args	*a = r->args;
	struct proc		*p = r->target.rec;
	struct mbox		*box;

	if (p == NULL) {
		if (iso_send(r->target.port, a->message) == -1)
			sv_error(c, errno, "send: %s", iso_error());
		else
			sv_ok(c);
		return;
	}
	if ((box = rec_box(p)) == NULL) {
		sv_error(c, ENOENT, "isolate %016" PRIx64 " has no mailbox: "
		    "send to a port it registered", rec_id(p));
		return;
	}
	if (rec_state(p) >= REC_EXITED) {
		sv_error(c, ECONNREFUSED, "isolate %016" PRIx64 " has ended",
		    rec_id(p));
		return;
	}
	if (mbox_put(box, a->message, a->reqid) == -1) {
		if (errno == ENOBUFS)
			sv_error(c, ENOBUFS, "the mailbox of %016" PRIx64 " is "
			    "full (%d messages)", rec_id(p), rec_box_limit(p));
		else
			sv_error(c, errno, "send: %s", strerror(errno));
		return;
	}
	sv_ok(c);
}

static const struct rq_field send_fields[] = {
	RQ_FIELD(struct send_args, message, "message", RQ_MSG, RQ_REQ, 0, 0),
	RQ_FIELD(struct send_args, reqid, "reqid", RQ_STR, 0, 1,
	    MLOG_REQID_MAX),
	RQ_END
};

const struct rq_entry rq_send = {
	.name = "send", .exec = op_send, .target = TGT_PORT | TGT_RECORD,
	.size = sizeof(struct send_args), .fields = send_fields
};

/* ---- leases: what was handed out and not yet acknowledged ---------------- */

/*
 * A take in acknowledged mode hands messages out without removing them:
 * they are leased to its connection until the client acknowledges them
 * (an "ack" op, or "after" in its next take), and go back to the queue if
 * the connection closes first. A take from another connection skips what
 * is leased, so two takers never get the same message. Acks are in
 * order in the log (an ack removes everything up to a seq), so a range
 * acknowledged behind one still leased waits, acknowledged, until the
 * ranges before it are too. Leases live in memory only: a new supervisor
 * has none, and hands out again what was not acknowledged.
 */
struct lease {
	struct mbox	*box;
	struct sv_conn	*conn;		/* NULL: acknowledged, waiting */
	uint64_t	 lo, hi;
	struct lease	*next;
};

static struct lease	*leases;

static void
lease_unlink(struct lease *l)
{
	struct lease	**lp;

	for (lp = &leases; *lp != NULL; lp = &(*lp)->next)
		if (*lp == l) {
			*lp = l->next;
			break;
		}
	free(l);
}

/* c has closed: what it was handed and did not acknowledge is free, and
   whoever waits on its queue may take it. */
static void
lease_closed(void *arg)
{
	struct lease	*l, *next;

	for (l = leases; l != NULL; l = next) {
		next = l->next;
		if (l->conn == arg) {
			mbox_wake(l->box);
			lease_unlink(l);
		}
	}
}

void
lease_release(struct sv_conn *c)
{
	lease_closed(c);
	sv_on_close(c, NULL, NULL);
}

/* The lease of box holding seq other than c's, or NULL. */
static struct lease *
lease_other(struct mbox *box, uint64_t seq, struct sv_conn *c)
{
	struct lease	*l;

	for (l = leases; l != NULL; l = l->next)
		if (l->box == box && (l->conn != c || c == NULL) &&
		    l->lo <= seq && seq <= l->hi)
			return (l);
	return (NULL);
}

/* The first seq box holds after `after`, or 0. */
static uint64_t
held_after(struct mbox *box, uint64_t after)
{
	iso_msg		*one = mbox_peek(box, after, 1);
	const iso_msg	*m;
	uint64_t	 seq = 0;

	if (one != NULL && iso_msg_len(one) == 1 &&
	    iso_msg_unpack(iso_msg_at(one, 0), "[U O]", &seq, &m) == -1)
		seq = 0;
	iso_msg_free(one);
	return (seq);
}

/* Remove from box what the acknowledged leases cover from its head on. */
static void
lease_settle(struct mbox *box)
{
	struct lease	*l, *next;
	uint64_t	 seq, upto = 0;

	for (seq = held_after(box, 0); seq != 0; seq = held_after(box, upto)) {
		if ((l = lease_other(box, seq, NULL)) == NULL ||
		    l->conn != NULL)
			break;
		upto = l->hi;
	}
	if (upto == 0)
		return;
	if (mbox_ack(box, upto) == -1) {
		log_warn("mailbox %016" PRIx64 ": cannot log an ack: %s",
		    mbox_id(box), strerror(errno));
		return;
	}
	mbox_wake(box);		/* a follower may be at its end */
	for (l = leases; l != NULL; l = next) {
		next = l->next;
		if (l->box == box && l->conn == NULL && l->hi <= upto)
			lease_unlink(l);
	}
}

void
lease_ack(struct sv_conn *c, struct mbox *box, uint64_t upto)
{
	struct lease	*l, *n;
	int		 mine = 0;

	for (l = leases; l != NULL; l = l->next) {
		if (l->box != box || l->conn != c || l->lo > upto)
			continue;
		mine = 1;
		if (l->hi > upto) {
			/* Part of it: the rest stays leased. */
			if ((n = calloc(1, sizeof *n)) == NULL)
				return;
			*n = *l;
			n->lo = upto + 1;
			l->next = n;
			l->hi = upto;
		}
		l->conn = NULL;
	}
	if (!mine) {
		/* What it got from an earlier connection, or an earlier
		   supervisor: believed, but not past what others hold. */
		for (l = leases; l != NULL; l = l->next)
			if (l->box == box && l->conn != NULL && l->conn != c &&
			    l->lo <= upto)
				upto = l->lo - 1;
		if (upto > 0 && (n = calloc(1, sizeof *n)) != NULL) {
			n->box = box;
			n->lo = 1;
			n->hi = upto;
			n->next = leases;
			leases = n;
		}
	}
	lease_settle(box);
	for (l = leases; l != NULL; l = l->next)
		if (l->conn == c)
			return;
	sv_on_close(c, NULL, NULL);
}

/* The box's leases go (the box is being freed). */
static void
lease_forget(struct mbox *box)
{
	struct lease	*l, *next;

	for (l = leases; l != NULL; l = next) {
		next = l->next;
		if (l->box != box)
			continue;
		if (l->conn != NULL)
			sv_on_close(l->conn, NULL, NULL);
		lease_unlink(l);
	}
}

int
lease_take(struct sv_conn *c, struct mbox *box, uint64_t after, size_t max,
    int acks, iso_msg **msgs, iso_msg **seqs)
{
	struct lease	*l, *hold;
	const iso_msg	*m;
	iso_msg		*got;
	uint64_t	 seq, lo = 0, hi = 0;
	size_t		 i, n = 0, want;

	*msgs = iso_msg_pack("[]");
	*seqs = iso_msg_pack("[]");
	if (*msgs == NULL || *seqs == NULL)
		goto fail;
	while (n < max) {
		want = max - n;
		if ((got = mbox_peek(box, after, want)) == NULL)
			goto fail;
		for (i = 0; i < iso_msg_len(got); i++) {
			if (iso_msg_unpack(iso_msg_at(got, i), "[U O]", &seq,
			    &m) == -1)
				break;
			if ((l = lease_other(box, seq, c)) != NULL ||
			    (lo != 0 && seq != hi + 1)) {
				/* Held elsewhere: go on after it, but hand out
				   one run only (a lease is one range). */
				if (lo != 0)
					max = n;
				after = l != NULL ? l->hi : seq - 1;
				break;
			}
			if (iso_msg_append(*msgs, iso_msg_copy(m)) == -1 ||
			    iso_msg_append(*seqs, iso_msg_pack("U", seq)) ==
			    -1) {
				iso_msg_free(got);
				goto fail;
			}
			if (lo == 0)
				lo = seq;
			hi = after = seq;
			n++;
		}
		if (i == iso_msg_len(got) && i < want) {
			iso_msg_free(got);
			break;
		}
		iso_msg_free(got);
	}
	if (n == 0)
		return (0);
	/* What follows c's own lease makes it longer (a stream's). */
	for (hold = leases; acks && hold != NULL; hold = hold->next)
		if (hold->box == box && hold->conn == c && hold->hi + 1 == lo) {
			hold->hi = hi;
			return ((int)n);
		}
	if ((hold = calloc(1, sizeof *hold)) == NULL)
		goto fail;
	hold->box = box;
	hold->conn = acks ? c : NULL;
	hold->lo = lo;
	hold->hi = hi;
	hold->next = leases;
	leases = hold;
	if (acks)
		sv_on_close(c, lease_closed, c);
	else
		lease_settle(box);
	return ((int)n);
fail:
	iso_msg_free(*msgs);
	iso_msg_free(*seqs);
	*msgs = *seqs = NULL;
	errno = ENOMEM;
	return (-1);
}

/* ---- take and recv: requests that wait for a queue ----------------------- */

/* The reply to a take: {"ok", "messages", "seqs", "box"}. */
static void
taker_reply(struct sv_conn *c, struct mbox *box, iso_msg *msgs,
    iso_msg *seqs)
{
	char	hex[17];

	snprintf(hex, sizeof hex, "%016" PRIx64, mbox_id(box));
	sv_reply(c, iso_msg_pack("{s:b s:O s:O s:s}", "ok", 1, "messages",
	    msgs, "seqs", seqs, "box", hex));
	iso_msg_free(msgs);
	iso_msg_free(seqs);
}

/* Answer a waiting take or recv with what there is for it; none: only
   when it has to (its timeout), else it waits on. */
static void
taker_answer(struct taker *t, int must)
{
	struct sv_conn	*c = t->conn;
	iso_msg		*msgs, *seqs;
	int		 n;

	if ((n = lease_take(c, t->box, t->after, (size_t)t->max, t->acks,
	    &msgs, &seqs)) == 0 && !must) {
		iso_msg_free(msgs);
		iso_msg_free(seqs);
		return;
	}
	t->conn = NULL;
	evtimer_del(t->timer);
	mbox_unwait(&t->wait);
	if (n == -1)
		sv_error(c, ENOMEM, "out of memory");
	else
		taker_reply(c, t->box, msgs, seqs);
}

static void
taker_wake(void *arg)
{
	taker_answer(arg, 0);
}

static void
taker_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	taker_answer(arg, 1);	/* an empty list, or what came meanwhile */
}

static void
taker_cancel(void *arg)
{
	struct taker	*t = arg;

	t->conn = NULL;
	evtimer_del(t->timer);
	mbox_unwait(&t->wait);
}

/* Answer a waiting request with an error (its queue is going away). */
static void
taker_end(struct taker *t, const char *why)
{
	if (t->conn != NULL) {
		mbox_unwait(&t->wait);
		sv_error(t->conn, ESRCH, "%s", why);
		t->conn = NULL;
	}
	if (t->timer != NULL)
		event_free(t->timer);
	t->timer = NULL;
}

void
mail_forget(struct proc *p)
{
	struct takers	*t = rec_slot(p, SLOT_MAIL);

	follow_forget(p);
	taker_end(&t->take, "forgotten");
	taker_end(&t->recv, "forgotten");
	if (rec_box(p) != NULL)
		lease_forget(rec_box(p));
	if (rec_outbox(p) != NULL)
		lease_forget(rec_outbox(p));
	free(t);
	rec_set_slot(p, SLOT_MAIL, NULL);
}

/* p's takers; NULL with ENOMEM. */
static struct takers *
takers_of(struct proc *p)
{
	struct takers	*t;

	if ((t = rec_slot(p, SLOT_MAIL)) == NULL &&
	    (t = calloc(1, sizeof *t)) != NULL)
		rec_set_slot(p, SLOT_MAIL, t);
	return (t);
}

int
mail_keep(struct proc *p)
{
	if (takers_of(p) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	return (0);
}

int
lease_box_is(const char *hex, struct mbox *box)
{
	char	*end;

	return (hex != NULL && strtoull(hex, &end, 16) == mbox_id(box) &&
	    end != hex && *end == '\0');
}

struct take_args {
	int		 max;
	int		 timeout_ms;
	uint64_t	 after;
	const char	*box;
};

static const struct rq_field take_fields[] = {
	RQ_FIELD_DEF(struct take_args, max, "max", RQ_INT, 1, INT_MAX,
	    INT_MAX),
	RQ_FIELD(struct take_args, timeout_ms, "timeout_ms", RQ_INT, 0, 0, 0),
	RQ_FIELD(struct take_args, after, "after", RQ_U64, 0, 0, 0),
	RQ_FIELD(struct take_args, box, "box", RQ_STR, RQ_NIL, 0, 0),
	RQ_END
};

/*
 * Up to "max" messages of box, waiting up to "timeout_ms" for one. With
 * "after" the client acknowledges what it gets (and, with the "box" it
 * names, everything up to after).
 */
static void
taker_start(struct sv_conn *c, const struct rq *r, struct taker *t,
    struct mbox *box)
{
	const struct take_args	*a = r->args;
	struct timeval		 tv;
	const char		*bhex = a->box;
	iso_msg			*msgs, *seqs;
	uint64_t		 after = a->after;
	int			 max = a->max, ms = a->timeout_ms, n;

	t->box = box;
	t->acks = iso_msg_get(r->msg, "after") != NULL;
	/* A lease it did not acknowledge goes back first. */
	lease_release(c);
	if (t->acks && lease_box_is(bhex, box)) {
		if (after > 0)
			lease_ack(c, box, after);
	} else
		after = 0;
	if ((n = lease_take(c, box, after, (size_t)max, t->acks, &msgs,
	    &seqs)) == -1) {
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	if (n > 0 || ms == 0) {
		taker_reply(c, box, msgs, seqs);
		return;
	}
	iso_msg_free(msgs);
	iso_msg_free(seqs);
	if (t->conn != NULL) {
		sv_error(c, EBUSY, "someone else waits on that queue");
		return;
	}
	if (t->timer == NULL &&
	    (t->timer = evtimer_new(rec_base, taker_timeout, t)) == NULL) {
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	t->conn = c;
	t->max = max;
	t->after = after;
	mbox_wait(box, &t->wait, taker_wake, t);
	if (ms > 0) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(t->timer, &tv);
	}
	sv_defer(c, taker_cancel, t);
}

/*
 * "take" {target, max, timeout_ms, after, box}: up to max messages
 * (default all) of a command's mailbox, oldest first; with none there,
 * wait up to timeout_ms (0: not at all, < 0: forever) for one.
 */
static void
op_take(struct sv_conn *c, const struct rq *r)
{
	struct proc	*p = r->target.rec;
	struct takers	*t;

	if (rec_box(p) == NULL) {
		sv_error(c, ENOENT, "isolate %016" PRIx64 " has no mailbox",
		    rec_id(p));
		return;
	}
	if (rec_lines(p)) {
		sv_error(c, EINVAL, "isolate %016" PRIx64 " reads its mailbox "
		    "on its stdin", rec_id(p));
		return;
	}
	if ((t = takers_of(p)) == NULL) {
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	taker_start(c, r, &t->take, rec_box(p));
}

const struct rq_entry rq_take = {
	.name = "take", .exec = op_take, .target = TGT_RECORD,
	.size = sizeof(struct take_args), .fields = take_fields
};

/* "recv" {target, max, timeout_ms, after, box}: the same for what a
   --lines command has printed. */
static void
op_recv(struct sv_conn *c, const struct rq *r)
{
	struct proc	*p = r->target.rec;
	struct takers	*t;

	if (rec_outbox(p) == NULL) {
		sv_error(c, EINVAL, "isolate %016" PRIx64 " was not spawned "
		    "with --lines: its output is in its log", rec_id(p));
		return;
	}
	if ((t = takers_of(p)) == NULL) {
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	taker_start(c, r, &t->recv, rec_outbox(p));
}

const struct rq_entry rq_recv = {
	.name = "recv", .exec = op_recv, .target = TGT_RECORD,
	.size = sizeof(struct take_args), .fields = take_fields
};

struct ack_args {
	const char	*box;
	uint64_t	 upto;
};

/*
 * "ack" {target, box, upto}: the client has every message of the mailbox
 * (or outbox) box of target up to seq upto; they go. A box that is no
 * longer target's is ENOENT (what it held went with it).
 */
static void
op_ack(struct sv_conn *c, const struct rq *r)
{
	const struct ack_args	*a = r->args;
	struct proc		*p = r->target.rec;
	struct mbox		*box = NULL;

	if (rec_box(p) != NULL && lease_box_is(a->box, rec_box(p)))
		box = rec_box(p);
	else if (rec_outbox(p) != NULL && lease_box_is(a->box, rec_outbox(p)))
		box = rec_outbox(p);
	if (box == NULL) {
		sv_error(c, ENOENT, "isolate %016" PRIx64 " has no mailbox "
		    "%.32s", rec_id(p), a->box);
		return;
	}
	if (mail_keep(p) == -1) {	/* its leases go with the record */
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	lease_ack(c, box, a->upto);
	sv_ok(c);
}

static const struct rq_field ack_fields[] = {
	RQ_FIELD(struct ack_args, box, "box", RQ_STR, RQ_REQ, 0, 0),
	RQ_FIELD(struct ack_args, upto, "upto", RQ_U64, RQ_REQ, 0, 0),
	RQ_END
};

const struct rq_entry rq_ack = {
	.name = "ack", .exec = op_ack, .target = TGT_RECORD,
	.size = sizeof(struct ack_args), .fields = ack_fields
};
