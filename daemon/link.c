/*
 * link.c: the connection from a --lines command's shepherd ("attach"),
 * and what a run leaves when it ends.
 *
 * Input: the supervisor sends the shepherd ["line", seq, message] for
 * each message of the mailbox after the last seq it sent (mbox_peek),
 * leaving them in the mailbox; the shepherd answers ["read", seq] once
 * the command has read every line up to seq, and only then are they
 * removed (mbox_ack). A run that ends has its unread lines given to the
 * next run, since they are still in the mailbox.
 *
 * Output: the shepherd sends ["out", n, message] for line n of its run;
 * each is put into the outbox with the reqid "RUN:n", so that one sent
 * again (after a reconnect, or from ID.exit) is stored once, and
 * ["took", n] tells the shepherd it may forget lines up to n.
 *
 * When a run ends, its shepherd writes in ID.exit what it still held
 * (link_collect): the last seq read, and the output not acknowledged.
 * That output goes into the outbox before any of the next run's; while
 * the outbox is full it waits in ID.left.
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

#define LINK_OUT_MAX	(64 * 1024)	/* bytes of input queued to it */
#define LINK_PEEK	32		/* messages looked at a time */
#define LEFT_BATCH	256		/* puts between two saves of ID.left */

/* The connection of a --lines command's shepherd. */
struct link {
	int		 fd;
	struct event	*rev, *wev;
	struct evbuffer	*in, *out;
	uint64_t	 sent;		/* the last seq of the mailbox sent */
	char		 run[17];	/* the shepherd's run: its output ids */
	iso_msg		*held;		/* a frame waiting for the outbox */
	struct mbox_waiter feed;	/* on the mailbox: link_feed */
};

/* This file's slot in the record of a --lines command. */
struct lslot {
	struct link	*link;		/* its shepherd, attached; or NULL */
	iso_msg		*left;		/* output of ended runs not in the
					   outbox yet, [reqid, message]s
					   (ID.left) */
};

static void	link_left(struct proc *);

static struct lslot *
ls(struct proc *p)
{
	return (rec_slot(p, SLOT_LINK));
}

int
link_new(struct proc *p)
{
	struct lslot	*s;

	if (ls(p) != NULL)
		return (0);
	if ((s = calloc(1, sizeof *s)) == NULL)
		return (-1);
	rec_set_slot(p, SLOT_LINK, s);
	return (0);
}

/* Close the link to p's shepherd, if any. */
static void	link_free(struct proc *);

void
link_forget(struct proc *p)
{
	struct lslot	*s = ls(p);

	link_free(p);
	iso_msg_free(s->left);
	free(s);
	rec_set_slot(p, SLOT_LINK, NULL);
}

static void
link_free(struct proc *p)
{
	struct link	*l;

	if (ls(p) == NULL || (l = ls(p)->link) == NULL)
		return;
	mbox_unwait(&l->feed);
	event_free(l->rev);
	event_free(l->wev);
	evbuffer_free(l->in);
	evbuffer_free(l->out);
	iso_msg_free(l->held);
	close(l->fd);
	free(l);
	ls(p)->link = NULL;
}

static void
link_flush(struct link *l)
{
	while (evbuffer_get_length(l->out) > 0) {
		if (evbuffer_write(l->out, l->fd) <= 0) {
			if (errno == EAGAIN || errno == EINTR)
				event_add(l->wev, NULL);
			return;
		}
	}
	event_del(l->wev);
}

/*
 * Frame what comes after l->sent until LINK_OUT_MAX bytes wait: 1 when
 * it stopped there (more may follow), 0 when the mailbox has no more.
 */
static int
link_fill(struct proc *p, struct link *l)
{
	const iso_msg	*m;
	iso_msg		*list, *f;
	uint64_t	 seq;
	size_t		 i, n;

	while (evbuffer_get_length(l->out) < LINK_OUT_MAX) {
		if ((list = mbox_peek(rec_box(p), l->sent, LINK_PEEK)) == NULL)
			return (0);	/* out of memory: the next put */
		n = iso_msg_len(list);
		for (i = 0; i < n; i++) {
			if (iso_msg_unpack(iso_msg_at(list, i), "[U O]", &seq,
			    &m) == -1 ||
			    (f = iso_msg_pack("[s U O]", "line", seq, m)) ==
			    NULL)
				break;
			if (evf_add(l->out, f) == -1) {
				log_warn("isolate %016" PRIx64 ": message %"
				    PRIu64 " for its stdin: %s", rec_id(p), seq,
				    strerror(errno));
				iso_msg_free(f);
				break;
			}
			iso_msg_free(f);
			l->sent = seq;
		}
		iso_msg_free(list);
		if (i < n || n < LINK_PEEK)
			return (0);
	}
	return (1);
}

/* Pass the mailbox on to the shepherd, a little ahead of it: as long as
   the socket takes all, more (else the write event comes back here). */
static void
link_feed(void *arg)
{
	struct proc	*p = arg;
	struct link	*l = ls(p)->link;
	int		 more;

	if (l == NULL || rec_box(p) == NULL)
		return;
	do {
		more = link_fill(p, l);
		link_flush(l);
	} while (more && evbuffer_get_length(l->out) == 0);
}

static void
link_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;

	(void)fd;
	(void)what;
	link_feed(p);
}

/* Put output line n of run into p's outbox: 0 (stored, or stored
   before), -1 with ENOBUFS when full, or another errno. */
static int
link_put(struct proc *p, const char *run, uint64_t n, const iso_msg *m)
{
	char	reqid[64];

	snprintf(reqid, sizeof reqid, "%s:%" PRIu64, run, n);
	return (mbox_put(rec_outbox(p), m, reqid));
}

/*
 * Frames from the shepherd, in order. A line of output waits (in
 * l->held) while the outbox is full or output of an ended run waits
 * before it. 0, or -1 when the stream is bad.
 */
static int
link_take(struct proc *p)
{
	struct link	*l = ls(p)->link;
	const iso_msg	*m;
	const char	*what;
	iso_msg		*f;
	uint64_t	 n, took = 0;
	int		 r;

	for (;;) {
		if (l->held == NULL) {
			if ((r = evf_next(l->in, &l->held)) == 0)
				break;
			if (r == -1)
				return (-1);
		}
		if (iso_msg_unpack(l->held, "[s U]", &what, &n) == -1)
			return (-1);
		if (strcmp(what, "read") == 0) {
			if (rec_box(p) != NULL && mbox_ack(rec_box(p), n < l->sent ? n :
			    l->sent) == -1)
				return (-1);
		} else if (strcmp(what, "out") == 0 &&
		    iso_msg_unpack(l->held, "[s U O]", &what, &n, &m) == 0) {
			if (ls(p)->left != NULL)
				break;
			if (link_put(p, l->run, n, m) == -1) {
				if (errno == ENOBUFS)
					break;
				log_warn("isolate %016" PRIx64 ": output: %s",
				    rec_id(p), strerror(errno));
				return (-1);
			}
			took = n;
		} else
			return (-1);
		iso_msg_free(l->held);
		l->held = NULL;
	}
	if (took > 0) {
		if ((f = iso_msg_pack("[s U]", "took", took)) == NULL ||
		    evf_add(l->out, f) == -1) {
			iso_msg_free(f);
			return (-1);
		}
		iso_msg_free(f);
		link_flush(l);
	}
	return (0);
}

static void
link_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;
	int		 n;

	(void)what;
	n = evbuffer_read(ls(p)->link->in, fd, 65536);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (link_take(p) == -1 || n <= 0) {
		if (n > 0)
			log_warn("isolate %016" PRIx64 ": its shepherd sent "
			    "what makes no sense; link closed", rec_id(p));
		link_free(p);
		return;
	}
	/* A line waits for room: read no more until recv makes some. */
	if (ls(p)->link->held != NULL)
		event_del(ls(p)->link->rev);
}

/* The outbox has room again: what ended runs left, then the link. */
static void
link_room(void *arg)
{
	struct proc	*p = arg;

	link_left(p);
	if (ls(p)->link != NULL && ls(p)->link->held != NULL) {
		if (link_take(p) == -1) {
			link_free(p);
			return;
		}
		if (ls(p)->link->held == NULL)
			event_add(ls(p)->link->rev, NULL);
	}
}

/* ---- what ended runs left ------------------------------------------------ */

static void
link_left_save(struct proc *p)
{
	char	path[PATH_MAX];

	if (state_path(rec_dir, rec_id(p), ".left", path, sizeof path) == -1)
		return;
	if (ls(p)->left == NULL)
		(void)unlink(path);
	else if (state_write(path, ls(p)->left) == -1)
		log_warn("cannot save %s: %s", path, strerror(errno));
}

/* Keep the items of ls(p)->left from i on (none left: no ID.left). 0, or
   -1 when out of memory (nothing dropped). */
static int
link_left_drop(struct proc *p, size_t from)
{
	iso_msg	*rest;
	size_t	 i, n = iso_msg_len(ls(p)->left);

	if (from == 0)
		return (0);
	if (from >= n) {
		iso_msg_free(ls(p)->left);
		ls(p)->left = NULL;
	} else {
		if ((rest = iso_msg_pack("[]")) == NULL)
			return (-1);
		for (i = from; i < n; i++)
			if (iso_msg_append(rest, iso_msg_copy(
			    iso_msg_at(ls(p)->left, i))) == -1) {
				iso_msg_free(rest);
				return (-1);
			}
		iso_msg_free(ls(p)->left);
		ls(p)->left = rest;
	}
	link_left_save(p);
	return (0);
}

/*
 * Put what ended runs left into the outbox while it has room, saving
 * what is still left every LEFT_BATCH puts (a put done again after a
 * crash is one the outbox already has, and stores nothing).
 */
static void
link_left(struct proc *p)
{
	const char	*reqid;
	const iso_msg	*m;
	size_t		 i = 0;

	while (ls(p)->left != NULL && rec_outbox(p) != NULL) {
		if (i == iso_msg_len(ls(p)->left) || i == LEFT_BATCH) {
			if (link_left_drop(p, i) == -1)
				return;
			i = 0;
			continue;
		}
		if (iso_msg_unpack(iso_msg_at(ls(p)->left, i), "[s O]", &reqid,
		    &m) == 0 && mbox_put(rec_outbox(p), m, reqid) == -1) {
			if (errno != ENOBUFS)
				log_warn("isolate %016" PRIx64 ": output: %s",
				    rec_id(p), strerror(errno));
			(void)link_left_drop(p, i);
			return;
		}
		i++;
	}
}

/* ID.exit without its "lines": what they said is taken. */
static void
link_exit_done(struct proc *p, const iso_msg *exit)
{
	char	 path[PATH_MAX];
	iso_msg	*m;

	m = iso_msg_pack("{s:O? s:O? s:O?}", "code", iso_msg_get(exit, "code"),
	    "signal", iso_msg_get(exit, "signal"), "error",
	    iso_msg_get(exit, "error"));
	if (m != NULL && state_path(rec_dir, rec_id(p), ".exit", path,
	    sizeof path) == 0 && state_write(path, m) == -1)
		log_warn("cannot save %s: %s", path, strerror(errno));
	iso_msg_free(m);
}

void
link_collect(struct proc *p, const iso_msg *exit)
{
	const iso_msg	*lines, *out, *item;
	const char	*run, *s;
	uint64_t	 read = 0, first = 1;
	char		 reqid[64], prefix[24];
	size_t		 i;

	if (ls(p) == NULL || (lines = iso_msg_get(exit, "lines")) == NULL ||
	    iso_msg_unpack(lines, "{s:s s:U s:U s:O}", "run", &run, "read",
	    &read, "first", &first, "out", &out) == -1 ||
	    iso_msg_type(out) != ISO_LIST)
		return;
	/* What its link had not passed on yet is here too. */
	link_free(p);
	if (rec_box(p) != NULL && read > 0 && mbox_ack(rec_box(p), read) == -1)
		log_warn("isolate %016" PRIx64 ": mailbox: %s", rec_id(p),
		    strerror(errno));
	snprintf(prefix, sizeof prefix, "%s:", run);
	for (i = 0; ls(p)->left != NULL && i < iso_msg_len(ls(p)->left); i++)
		if (iso_msg_unpack(iso_msg_at(ls(p)->left, i), "[s]", &s) == 0 &&
		    strncmp(s, prefix, strlen(prefix)) == 0)
			break;		/* taken already, before a crash */
	if (iso_msg_len(out) > 0 && (ls(p)->left == NULL ||
	    i == iso_msg_len(ls(p)->left))) {
		if (ls(p)->left == NULL && (ls(p)->left = iso_msg_pack("[]")) == NULL)
			goto nomem;
		for (i = 0; i < iso_msg_len(out); i++) {
			item = iso_msg_at(out, i);
			snprintf(reqid, sizeof reqid, "%s%" PRIu64, prefix,
			    first + i);
			if (iso_msg_append(ls(p)->left, iso_msg_pack("[s O]", reqid,
			    item)) == -1)
				goto nomem;
		}
		link_left_save(p);
	}
	link_exit_done(p, exit);
	if (rec_outbox(p) != NULL)
		mbox_on_room(rec_outbox(p), link_room, p);
	link_left(p);
	return;
nomem:
	/* ID.exit keeps them: the next supervisor takes them. */
	log_warn("isolate %016" PRIx64 ": what it printed last: %s", rec_id(p),
	    strerror(ENOMEM));
}

int
link_left_waiting(struct proc *p)
{
	return (ls(p) != NULL && ls(p)->left != NULL);
}

void
link_adopt(struct proc *p)
{
	char	 path[PATH_MAX];
	iso_msg	*m;

	if (link_new(p) == -1) {
		log_warn("isolate %016" PRIx64 ": link: %s", rec_id(p),
		    strerror(errno));
		return;
	}
	if (rec_outbox(p) == NULL || state_path(rec_dir, rec_id(p), ".left",
	    path, sizeof path) == -1)
		return;
	mbox_on_room(rec_outbox(p), link_room, p);
	if ((m = state_read(path)) == NULL)
		return;
	if (iso_msg_type(m) == ISO_LIST && iso_msg_len(m) > 0) {
		iso_msg_free(ls(p)->left);
		ls(p)->left = m;
		link_left(p);
	} else
		iso_msg_free(m);
}

struct attach_args {
	const char	*run;
	uint64_t	 have, read;
};

/*
 * "attach" {id, run, have, read}: a --lines command's shepherd, for run
 * run, holding the mailbox's messages up to have, its command having
 * read those up to read. The connection is ours. One that is not a link
 * we can take is closed (what follows on it is output, not requests).
 */
static void
op_attach(struct sv_conn *c, const struct rq *r)
{
	const struct attach_args *a = r->args;
	struct proc	*p = r->target.rec;
	struct link	*l;
	struct evbuffer	*in;
	uint64_t	 have = a->have, read = a->read;
	const char	*run = a->run;
	int		 fd;

	if (!rec_lines(p) || rec_outbox(p) == NULL || ls(p) == NULL ||
	    (l = calloc(1, sizeof *l)) == NULL) {
		sv_drop(c);
		return;
	}
	fd = sv_detach(c, &in);
	link_free(p);
	l->fd = fd;
	l->in = in;
	l->sent = have;
	memcpy(l->run, run, sizeof l->run - 1);
	if ((l->out = evbuffer_new()) == NULL ||
	    (l->rev = event_new(rec_base, fd, EV_READ | EV_PERSIST, link_read_cb,
	    p)) == NULL ||
	    (l->wev = event_new(rec_base, fd, EV_WRITE, link_write_cb, p)) ==
	    NULL) {
		if (l->out != NULL)
			evbuffer_free(l->out);
		if (l->rev != NULL)
			event_free(l->rev);
		evbuffer_free(in);
		close(fd);
		free(l);
		return;
	}
	ls(p)->link = l;
	if (rec_box(p) != NULL && read > 0 && mbox_ack(rec_box(p), read < have ? read :
	    have) == -1) {
		link_free(p);
		return;
	}
	event_add(l->rev, NULL);
	mbox_on_room(rec_outbox(p), link_room, p);
	if (rec_box(p) != NULL)
		mbox_wait(rec_box(p), &l->feed, link_feed, p);
	if (link_take(p) == -1) {
		link_free(p);
		return;
	}
	if (l->held != NULL)
		event_del(l->rev);
	link_feed(p);
}

static const struct rq_field attach_fields[] = {
	RQ_FIELD(struct attach_args, run, "run", RQ_STR, RQ_REQ, 16, 16),
	RQ_FIELD(struct attach_args, have, "have", RQ_U64, 0, 0, 0),
	RQ_FIELD(struct attach_args, read, "read", RQ_U64, 0, 0, 0),
	RQ_END
};

const struct rq_entry rq_attach = {
	.name = "attach", .exec = op_attach, .flags = RQ_NOREPLY | RQ_DROPBAD,
	.target = TGT_ID, .target_key = "id",
	.size = sizeof(struct attach_args), .fields = attach_fields
};
