/*
 * follow.c: "follow", what a --lines command prints as a stream
 * (docs/protocol.md, Streams): the reply, then one frame {"seq", "message"}
 * for each message of its outbox, oldest first, and a last frame
 * {"ok": true, "end": true} once the command has ended for good and all
 * its outbox held was handed out and acknowledged.
 *
 * What is streamed is leased to the connection as a take's answer is
 * (mail.c): the client acknowledges on the same connection with
 * {"op": "ack", "upto": N}, and what it had not acknowledged when it went
 * away goes back to the outbox for the next reader. At most
 * FOLLOW_WINDOW messages are out unacknowledged, and at most about
 * FOLLOW_QUEUE_MAX bytes wait to be written to the client; an ack, the
 * client's reading, a put into the outbox or a lease given back by
 * another reader moves the stream on. A follower is handed messages in
 * order: one given back by another reader after the follower has gone
 * past it waits for the next reader.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "records.h"

#define FOLLOW_WINDOW		256		/* messages out, unacknowledged */
#define FOLLOW_QUEUE_MAX	(256 * 1024)	/* bytes queued for the client */
#define FOLLOW_BATCH		16		/* messages leased at a time */

struct follower {
	struct sv_conn		*conn;
	struct proc		*p;		/* held while it follows */
	struct mbox		*box;		/* p's outbox */
	struct mbox_waiter	 wait;
	uint64_t		 sent;		/* the last seq pushed */
	uint64_t		 win[FOLLOW_WINDOW];	/* seqs pushed and not
						   acknowledged, a ring */
	size_t			 whead, wlen;
	struct follower		*prev, *next;
};

static struct follower	*followers;

/* f is done: forget it (its leases stay with its connection). */
static void
follow_free(struct follower *f)
{
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		followers = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	mbox_unwait(&f->wait);
	rec_release(f->p);
	free(f);
}

/* The client went away. */
static void
follow_cancel(void *arg)
{
	follow_free(arg);
}

/* End f's stream: the last frame, end (e 0) or an error. */
static void
follow_finish(struct follower *f, int e, const char *why)
{
	if (e == 0)
		sv_reply(f->conn, iso_msg_pack("{s:b s:b}", "ok", 1, "end",
		    1));
	else
		sv_error(f->conn, e, "follow: %s", why);
	follow_free(f);
}

/* The end, when it has come: p ended for good, everything handed out
   acknowledged, nothing after it in the outbox nor waiting to go in. 1
   when f was ended (and freed). */
static int
follow_check_end(struct follower *f)
{
	iso_msg	*rest;
	size_t	 n;

	if (rec_state(f->p) < REC_EXITED || f->wlen > 0 ||
	    link_left_waiting(f->p))
		return (0);
	if ((rest = mbox_peek(f->box, f->sent, 1)) == NULL)
		return (0);	/* out of memory: the next wake */
	n = iso_msg_len(rest);
	iso_msg_free(rest);
	if (n > 0)
		return (0);
	follow_finish(f, 0, NULL);
	return (1);
}

/* Push what comes after f->sent while the window and the queue allow,
   then see whether it has ended. */
static void
follow_pump(struct follower *f)
{
	iso_msg		*msgs, *seqs, *frame;
	uint64_t	 seq;
	size_t		 i, want;
	int		 n;

	while (f->wlen < FOLLOW_WINDOW &&
	    sv_pending(f->conn) < FOLLOW_QUEUE_MAX) {
		want = FOLLOW_WINDOW - f->wlen;
		if (want > FOLLOW_BATCH)
			want = FOLLOW_BATCH;
		if ((n = lease_take(f->conn, f->box, f->sent, want, 1, &msgs,
		    &seqs)) == -1) {
			follow_finish(f, ENOMEM, "out of memory");
			return;
		}
		for (i = 0; i < (size_t)n; i++) {
			if (iso_msg_uint(iso_msg_at(seqs, i), &seq) == -1 ||
			    (frame = iso_msg_pack("{s:U s:O}", "seq", seq,
			    "message", iso_msg_at(msgs, i))) == NULL ||
			    sv_push(f->conn, frame) == -1) {
				if (errno == EMSGSIZE)
					follow_finish(f, EMSGSIZE, "a message "
					    "too large for a frame");
				else
					follow_finish(f, ENOMEM,
					    "out of memory");
				iso_msg_free(msgs);
				iso_msg_free(seqs);
				return;
			}
			iso_msg_free(frame);
			f->win[(f->whead + f->wlen) % FOLLOW_WINDOW] = seq;
			f->wlen++;
			f->sent = seq;
		}
		iso_msg_free(msgs);
		iso_msg_free(seqs);
		if (n == 0)
			break;
	}
	(void)follow_check_end(f);
}

static void
follow_wake(void *arg)
{
	follow_pump(arg);
}

/* What the client sends on its stream: acks. */
static void
follow_frame(void *arg, const iso_msg *m)
{
	struct follower	*f = arg;
	const char	*op;
	uint64_t	 upto;

	if (iso_msg_unpack(m, "{s:s s:U}", "op", &op, "upto", &upto) == -1 ||
	    strcmp(op, "ack") != 0) {
		follow_finish(f, EINVAL, "on a stream the client sends only "
		    "{\"op\": \"ack\", \"upto\": N}");
		return;
	}
	if (upto > f->sent)
		upto = f->sent;		/* not what it was never given */
	lease_ack(f->conn, f->box, upto);
	while (f->wlen > 0 && f->win[f->whead] <= upto) {
		f->whead = (f->whead + 1) % FOLLOW_WINDOW;
		f->wlen--;
	}
	follow_pump(f);
}

/* p has ended for good: its followers end once all is acknowledged. */
static void
follow_ended(struct proc *p)
{
	struct follower	*f, *next;

	for (f = followers; f != NULL; f = next) {
		next = f->next;
		if (f->p == p)
			(void)follow_check_end(f);
	}
}

void
follow_forget(struct proc *p)
{
	struct follower	*f, *next;
	char		 why[64], hex[17];

	snprintf(why, sizeof why, "isolate %s was forgotten",
	    rec_hex(rec_id(p), hex));
	for (f = followers; f != NULL; f = next) {
		next = f->next;
		if (f->p == p)
			follow_finish(f, ESRCH, why);
	}
}

void
follow_stop_all(void)
{
	while (followers != NULL)
		follow_finish(followers, ECANCELED, "the supervisor stopped "
		    "(what is left waits in the outbox)");
}

struct follow_args {
	uint64_t	 after;
	const char	*box;
};

static const struct rq_field follow_fields[] = {
	RQ_FIELD(struct follow_args, after, "after", RQ_U64, 0, 0, 0),
	RQ_FIELD(struct follow_args, box, "box", RQ_STR, RQ_NIL, 0, 0),
	RQ_END
};

/*
 * "follow" {target, after?, box?}: stream what lines command target
 * prints. after with the box of an earlier reply acknowledges up to
 * after first (what a client had when its supervisor went away).
 */
static void
op_follow(struct sv_conn *c, const struct rq *r)
{
	const struct follow_args *a = r->args;
	struct proc		*p = r->target.rec;
	struct follower		*f;
	struct mbox		*box = rec_outbox(p);
	char			 hex[17], id[17];

	if (box == NULL) {
		sv_error(c, EINVAL, "isolate %016" PRIx64 " was not spawned "
		    "with --lines: its output is in its log", rec_id(p));
		return;
	}
	if (mail_keep(p) == -1 || (f = calloc(1, sizeof *f)) == NULL) {
		sv_error(c, ENOMEM, "follow: out of memory");
		return;
	}
	f->conn = c;
	f->p = p;
	f->box = box;
	lease_release(c);
	if (a->after > 0 && lease_box_is(a->box, box))
		lease_ack(c, box, a->after);
	if (sv_stream(c, iso_msg_pack("{s:b s:b s:s s:s}", "ok", 1, "stream",
	    1, "box", rec_hex(mbox_id(box), hex), "id", rec_hex(rec_id(p), id)),
	    follow_frame, follow_cancel, f) == -1) {
		free(f);
		return;
	}
	sv_on_drain(c, follow_wake, f);
	life_on_end(follow_ended);
	rec_hold(p);
	f->next = followers;
	if (followers != NULL)
		followers->prev = f;
	followers = f;
	mbox_wait(box, &f->wait, follow_wake, f);
	follow_pump(f);
}

const struct rq_entry rq_follow = {
	.name = "follow", .exec = op_follow, .target = TGT_RECORD,
	.size = sizeof(struct follow_args), .fields = follow_fields
};
