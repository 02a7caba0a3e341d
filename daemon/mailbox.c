/*
 * mailbox.c: a SendPort for a command that is not itself a libisolate
 * program. The supervisor listens on the socket of a second isolate id,
 * the mailbox's, and keeps what arrives for its port 1 in a bounded
 * queue. Each message gets a sequence number and stays until it is
 * acknowledged; puts and acks are appended to the mailbox's log (mlog.c)
 * before they are answered, so a supervisor killed at any moment loses
 * nothing it had answered for, and the next one reads the queue back.
 * When the queue is full the supervisor stops reading the senders'
 * connections and stops accepting new ones, which wait in the kernel's
 * backlog at no descriptor of ours: their iso_send calls queue, then fail
 * with ENOBUFS; a "send" request fails at once with ENOBUFS. Nothing
 * accepted is dropped. A sender beyond the socket's cap on connections
 * is refused and told why (accept.c).
 *
 * The queue is a ring of (seq, offset of its log record, message): a put
 * and an ack cost the same at any depth, and a peek finds its first
 * message by binary search. The last MBOX_REQIDS request ids are kept in
 * a small hash table (a ring, oldest evicted first), and in the log.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "accept.h"
#include "daemon.h"
#include "rtdir.h"

#define MBOX_PORT	1
#define MBOX_READ_MAX	(64 * 1024)

struct mconn {
	struct mbox	*box;
	int		 fd;
	struct event	*ev;
	struct evbuffer	*in;
	struct evf_fds	 q;	/* shared bytes' memfds, for evf_inline */
	struct mconn	*next;
};

/* One message held: its sequence number and where its record is. */
struct ment {
	uint64_t	 seq;
	uint64_t	 off;
	iso_msg		*m;
};

/* The last MBOX_REQIDS request ids (owned copies): a ring, chained by
   hash. */
struct mids {
	char		*id[MBOX_REQIDS];
	int16_t		 chain[MBOX_REQIDS];	/* next in bucket, -1 */
	int16_t		 bucket[MBOX_REQIDS];	/* first slot, -1 */
	int		 n, oldest;
};

struct mbox {
	uint64_t	 id;		/* the mailbox's own isolate id */
	size_t		 limit;
	struct ment	*q;		/* a ring of qcap (a power of 2) */
	size_t		 qhead, qlen, qcap;
	uint64_t	 next;		/* the next put's seq */
	uint64_t	 replayed;	/* loading: the last put's seq */
	struct mids	*ids;		/* NULL until a put has a reqid */
	struct mlog	*log;
	char		 file[PATH_MAX];	/* ID.mbox */
	int		 lfd;
	struct acc	*acc;
	struct mconn	*conns;
	struct mbox_waiter *waiters;	/* mbox_wait */
	struct mbox_waiter *wnext;	/* the next to call, while waking */
	struct event	*wake_ev;	/* wake from the loop, not from put */
	void		(*room)(void *);
	void		*room_arg;
};

static struct event_base	*mbox_base;
size_t				 mbox_max_conns = ACC_MAX_DEFAULT;

static void	mbox_wake_cb(evutil_socket_t, short, void *);

void
mbox_init(struct event_base *base)
{
	mbox_base = base;
}

static void
mconn_free(struct mconn *c)
{
	struct mconn	**cp;

	for (cp = &c->box->conns; *cp != NULL; cp = &(*cp)->next)
		if (*cp == c) {
			*cp = c->next;
			break;
		}
	event_free(c->ev);
	evbuffer_free(c->in);
	evf_fds_free(&c->q);
	close(c->fd);
	acc_closed(c->box->acc);
	free(c);
}

/*
 * Take whole frames from c into the queue while there is room. 0, -1
 * when the stream is bad, -2 when a message could not be kept (the log
 * could not be written): either way c must be closed. A frame is a port
 * number (a positive msgpack uint) and a message.
 */
static int
mconn_take(struct mconn *c)
{
	uint64_t	 port;
	iso_msg		*m;
	int		 r;

	while (c->box->qlen < c->box->limit) {
		if ((r = evf_next_port(c->in, &port, &m)) <= 0)
			return (r);
		/* Port 0 is control; another port is closed: dropped, as
		   a live isolate drops it. */
		if (port == MBOX_PORT && mbox_put(c->box, m, NULL) == -1) {
			log_warn("mailbox %016" PRIx64 ": a message could not "
			    "be kept (%s); closed its sender's connection",
			    c->box->id, strerror(errno));
			iso_msg_free(m);
			return (-2);
		}
		iso_msg_free(m);
	}
	return (0);
}

static void
mconn_read(evutil_socket_t fd, short what, void *arg)
{
	struct mconn	*c = arg;
	char		 why[256];
	int		 n, r = 0, fds = 0;

	(void)what;
	if (c->box->qlen >= c->box->limit) {
		/* Full: leave the bytes in the socket until there is room. */
		event_del(c->ev);
		return;
	}
	n = evf_read_fds(c->in, fd, MBOX_READ_MAX, &c->q, &fds);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	/* Large bytes that came as memfds are kept as plain bytes; other
	   descriptors are refused. */
	if (fds == 0 && (r = evf_inline(c->in, &c->q)) != 0) {
		if (r == -1) {
			log_warn("mailbox %016" PRIx64 ": a bad frame (%s); "
			    "closed that connection", c->box->id, iso_error());
			mconn_free(c);
			return;
		}
		fds = 1;
		r = 0;
	}
	if (fds > 0) {
		/* before anything of it is logged: the sender is told */
		snprintf(why, sizeof why, "mailbox %016" PRIx64 " keeps no "
		    "descriptors (its messages outlive processes); a message "
		    "that carried them, and what followed it on this "
		    "connection, were not kept", c->box->id);
		log_warn("%s", why);
		acc_tell(c->fd, ACC_ISOLATE, EINVAL, why);
		mconn_free(c);
		return;
	}
	if (n <= 0 || (r = mconn_take(c)) < 0) {
		if (r == -1)
			log_warn("mailbox %016" PRIx64 ": a bad frame; closed "
			    "that connection", c->box->id);
		mconn_free(c);
		return;
	}
	if (c->box->qlen >= c->box->limit)
		event_del(c->ev);
}

static void
mbox_acc_log(const char *line, void *arg)
{
	(void)arg;
	log_warn("%s", line);
}

/* A sender of our uid (accept.c checked it). */
static void
mbox_take_conn(int fd, pid_t pid, void *arg)
{
	struct mbox	*b = arg;
	struct mconn	*c;

	(void)pid;
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->in = evbuffer_new()) == NULL ||
	    (c->ev = event_new(mbox_base, fd, EV_READ | EV_PERSIST,
	    mconn_read, c)) == NULL) {
		if (c != NULL && c->in != NULL)
			evbuffer_free(c->in);
		free(c);
		close(fd);
		acc_closed(b->acc);
		return;
	}
	c->box = b;
	c->fd = fd;
	c->next = b->conns;
	b->conns = c;
	if (b->qlen < b->limit)
		event_add(c->ev, NULL);
}

/* Full: leave new senders in the backlog; room: take them again. */
static void
mbox_gate(struct mbox *b)
{
	if (b->acc == NULL)
		return;
	if (b->qlen >= b->limit)
		acc_pause(b->acc);
	else
		acc_resume(b->acc);
}

/* Listen on the mailbox id's socket. 0 or -1 with errno. */
static int
mbox_listen(struct mbox *b)
{
	static const struct acc_ops ops = { mbox_take_conn, mbox_acc_log };
	char			name[64];
	int			saved;

	b->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (b->lfd == -1)
		return (-1);
	if (rtdir_id_listen(b->lfd, b->id, SOMAXCONN) == -1)
		goto fail;
	snprintf(name, sizeof name, "mailbox %016" PRIx64, b->id);
	if ((b->acc = acc_new(mbox_base, b->lfd, ACC_ISOLATE, &mbox_max_conns,
	    name, &ops, b)) == NULL)
		goto fail;
	mbox_gate(b);
	return (0);
fail:
	saved = errno;
	close(b->lfd);
	b->lfd = -1;
	errno = saved;
	return (-1);
}


/* ---- the queue: a ring ------------------------------------------------- */

static struct ment *
q_at(const struct mbox *b, size_t i)
{
	return (&b->q[(b->qhead + i) & (b->qcap - 1)]);
}

/* Room for one more at the end. 0 or -1/ENOMEM. */
static int
q_grow(struct mbox *b)
{
	struct ment	*q;
	size_t		 cap = b->qcap == 0 ? 64 : b->qcap * 2, i;

	if (b->qlen < b->qcap)
		return (0);
	if ((q = calloc(cap, sizeof *q)) == NULL)
		return (-1);
	for (i = 0; i < b->qlen; i++)
		q[i] = *q_at(b, i);
	free(b->q);
	b->q = q;
	b->qcap = cap;
	b->qhead = 0;
	return (0);
}

static void
q_push(struct mbox *b, uint64_t seq, uint64_t off, iso_msg *m)
{
	struct ment	*e = &b->q[(b->qhead + b->qlen) & (b->qcap - 1)];

	e->seq = seq;
	e->off = off;
	e->m = m;
	b->qlen++;
}

static void
q_pop(struct mbox *b)
{
	iso_msg_free(b->q[b->qhead].m);
	b->q[b->qhead].m = NULL;
	b->qhead = (b->qhead + 1) & (b->qcap - 1);
	b->qlen--;
}

/* The index of the first message with seq > after (qlen: none). */
static size_t
q_find(const struct mbox *b, uint64_t after)
{
	size_t	lo = 0, hi = b->qlen, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (q_at(b, mid)->seq <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo);
}

/* ---- request ids ---------------------------------------------------------- */

static unsigned
ids_hash(const char *s)
{
	unsigned	h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (h % MBOX_REQIDS);
}

static int
ids_has(const struct mids *ids, const char *id)
{
	int	i;

	if (ids == NULL)
		return (0);
	for (i = ids->bucket[ids_hash(id)]; i != -1; i = ids->chain[i])
		if (strcmp(ids->id[i], id) == 0)
			return (1);
	return (0);
}

/* The table, made on first use. 0 or -1/ENOMEM. */
static int
ids_ready(struct mbox *b)
{
	if (b->ids != NULL)
		return (0);
	if ((b->ids = calloc(1, sizeof *b->ids)) == NULL)
		return (-1);
	memset(b->ids->chain, 0xff, sizeof b->ids->chain);
	memset(b->ids->bucket, 0xff, sizeof b->ids->bucket);
	b->ids->n = b->ids->oldest = 0;
	return (0);
}

/* Remember id, taken over (the oldest goes when MBOX_REQIDS are
   kept); the table must be there (ids_ready). */
static void
ids_keep(struct mbox *b, char *id)
{
	struct mids	*ids = b->ids;
	int16_t		*ip;
	int		 slot, i;
	unsigned	 h;

	if (ids_has(ids, id)) {
		free(id);
		return;
	}
	if (ids->n == MBOX_REQIDS) {
		slot = ids->oldest;
		for (ip = &ids->bucket[ids_hash(ids->id[slot])]; *ip != -1;
		    ip = &ids->chain[*ip])
			if (*ip == slot) {
				*ip = ids->chain[slot];
				break;
			}
		ids->oldest = (ids->oldest + 1) % MBOX_REQIDS;
		ids->n--;
		free(ids->id[slot]);
	} else
		slot = (ids->oldest + ids->n) % MBOX_REQIDS;
	ids->id[slot] = id;
	h = ids_hash(id);
	i = slot;
	ids->chain[i] = ids->bucket[h];
	ids->bucket[h] = (int16_t)i;
	ids->n++;
}

/* ids_keep of a copy. 0, or -1/ENOMEM. */
static int
ids_add(struct mbox *b, const char *id)
{
	char	*copy;

	if (ids_ready(b) == -1 || (copy = strdup(id)) == NULL)
		return (-1);
	ids_keep(b, copy);
	return (0);
}

static void
ids_free(struct mids *ids)
{
	int	i;

	if (ids == NULL)
		return;
	for (i = 0; i < ids->n; i++)
		free(ids->id[(ids->oldest + i) % MBOX_REQIDS]);
	free(ids);
}

/* ---- the log ---------------------------------------------------------------- */

static void
replay_next(void *arg, uint64_t next)
{
	struct mbox	*b = arg;

	if (next > b->next)
		b->next = next;
}

static int
replay_put(void *arg, uint64_t seq, uint64_t off, iso_msg *m,
    const char *reqid)
{
	struct mbox	*b = arg;

	/* Numbers only grow; a record that says otherwise is skipped. */
	if (seq <= b->replayed || seq == UINT64_MAX) {
		log_warn("%s: a record of seq %" PRIu64 " after %" PRIu64
		    " skipped", b->file, seq, b->replayed);
		iso_msg_free(m);
		return (0);
	}
	if (q_grow(b) == -1 || (reqid != NULL && ids_add(b, reqid) == -1)) {
		iso_msg_free(m);
		return (-1);
	}
	q_push(b, seq, off, m);
	b->replayed = seq;
	if (seq + 1 > b->next)
		b->next = seq + 1;
	return (0);
}

static void
replay_ack(void *arg, uint64_t upto)
{
	struct mbox	*b = arg;

	while (b->qlen > 0 && q_at(b, 0)->seq <= upto)
		q_pop(b);
	if (upto != UINT64_MAX && upto + 1 > b->next)
		b->next = upto + 1;
}

static int
replay_id(void *arg, const char *reqid)
{
	return (ids_add(arg, reqid));
}

static const struct mlog_ops replay = {
	replay_next, replay_put, replay_ack, replay_id
};

/* When more than half of a large log is dead, write it again. */
static void
mbox_compact(struct mbox *b)
{
	const char	*ids[MBOX_REQIDS];
	uint64_t	 from;
	size_t		 n = 0;
	int		 i;

	from = b->qlen > 0 ? q_at(b, 0)->off : mlog_end(b->log);
	if (!mlog_wants_compact(b->log, from))
		return;
	for (i = 0; b->ids != NULL && i < b->ids->n; i++)
		ids[n++] = b->ids->id[(b->ids->oldest + i) % MBOX_REQIDS];
	if (mlog_compact(b->log, b->next, from, ids, n) == -1)
		log_warn("mailbox %016" PRIx64 ": cannot compact %s: %s", b->id,
		    b->file, strerror(errno));
}

/*
 * An ID.mbox written by an earlier version is a JSON list: its messages,
 * read into a fresh log. 0 (done, or not such a file), -1 with errno.
 */
static int
mbox_import(struct mbox *b)
{
	iso_msg		*old;
	char		 c = 0;
	size_t		 i;
	int		 fd, r;

	if ((fd = open(b->file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return (errno == ENOENT ? 0 : -1);
	do
		r = (int)read(fd, &c, 1);
	while (r == -1 && errno == EINTR);
	close(fd);
	if (r != 1 || c != '[')
		return (0);
	if ((old = state_read(b->file)) == NULL)
		return (-1);
	if (unlink(b->file) == -1 ||
	    (b->log = mlog_open(b->file, &replay, b)) == NULL) {
		iso_msg_free(old);
		return (-1);
	}
	for (i = 0; i < iso_msg_len(old); i++) {
		/* Over the limit too: all of it was accepted. */
		size_t	limit = b->limit;

		b->limit = SIZE_MAX;
		r = mbox_put(b, iso_msg_at(old, i), NULL);
		b->limit = limit;
		if (r == -1) {
			iso_msg_free(old);
			return (-1);
		}
	}
	log_info("mailbox %016" PRIx64 ": %zu messages of the old %s kept in "
	    "its new log", b->id, iso_msg_len(old), b->file);
	iso_msg_free(old);
	return (0);
}

/* ---- the mailbox -------------------------------------------------------- */

struct mbox *
mbox_open(const char *dir, uint64_t owner, const char *suffix, uint64_t id,
    size_t limit)
{
	struct mbox	*b;
	int		 saved;

	if (rtdir_fd() == -1 || (b = calloc(1, sizeof *b)) == NULL)
		return (NULL);
	b->lfd = -1;
	b->next = 1;
	while (id == 0 && suffix == NULL)
		if (getrandom(&id, sizeof id, 0) != sizeof id)
			id = 0;
	b->id = suffix != NULL && id == 0 ? owner : id;
	b->limit = limit;
	if (state_path(dir, owner, suffix != NULL ? suffix : ".mbox", b->file,
	    sizeof b->file) == -1) {
		free(b);
		errno = ENAMETOOLONG;
		return (NULL);
	}
	/* What an earlier supervisor had accepted. */
	if (mbox_import(b) == -1 || (b->log == NULL &&
	    (b->log = mlog_open(b->file, &replay, b)) == NULL) ||
	    (b->wake_ev = event_new(mbox_base, -1, 0, mbox_wake_cb, b)) ==
	    NULL || (suffix == NULL && mbox_listen(b) == -1)) {
		saved = errno;
		if (b->wake_ev != NULL)
			event_free(b->wake_ev);
		b->wake_ev = NULL;
		mbox_free(b, 0);
		errno = saved;
		return (NULL);
	}
	mbox_compact(b);
	return (b);
}

void
mbox_set_sync(struct mbox *b, int sync)
{
	mlog_set_sync(b->log, sync);
}

void
mbox_close(struct mbox *b)
{
	while (b->conns != NULL)
		mconn_free(b->conns);
	acc_free(b->acc);
	b->acc = NULL;
	if (b->lfd != -1)
		close(b->lfd);
	b->lfd = -1;
}

int
mbox_reopen(struct mbox *b)
{
	return (b->lfd != -1 ? 0 : mbox_listen(b));
}

void
mbox_free(struct mbox *b, int forget)
{
	if (b == NULL)
		return;
	mbox_close(b);
	while (b->waiters != NULL)
		mbox_unwait(b->waiters);
	if (b->wake_ev != NULL)
		event_free(b->wake_ev);
	mlog_close(b->log, forget);
	while (b->qlen > 0)
		q_pop(b);
	free(b->q);
	ids_free(b->ids);
	free(b);
}

iso_sendport
mbox_port(const struct mbox *b)
{
	iso_sendport	sp;

	sp.isolate = b->id;
	sp.pid = (uint32_t)getpid();
	sp.port = MBOX_PORT;
	return (sp);
}

uint64_t
mbox_id(const struct mbox *b)
{
	return (b->id);
}

size_t
mbox_len(const struct mbox *b)
{
	return (b->qlen);
}

uint64_t
mbox_next_seq(const struct mbox *b)
{
	return (b->next);
}

/* Call every waiter; any of them may stop waiting, itself or another,
   while it is called (b->wnext is kept right by mbox_unwait). */
static void
mbox_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mbox		*b = arg;
	struct mbox_waiter	*w;

	(void)fd;
	(void)what;
	for (w = b->waiters; w != NULL; w = b->wnext) {
		b->wnext = w->next;
		w->fn(w->arg);
	}
	b->wnext = NULL;
}

void
mbox_wait(struct mbox *b, struct mbox_waiter *w, void (*fn)(void *),
    void *arg)
{
	mbox_unwait(w);
	w->fn = fn;
	w->arg = arg;
	w->box = b;
	w->next = b->waiters;
	b->waiters = w;
}

void
mbox_unwait(struct mbox_waiter *w)
{
	struct mbox_waiter	**wp;
	struct mbox		 *b = w->box;

	if (b == NULL)
		return;
	for (wp = &b->waiters; *wp != NULL; wp = &(*wp)->next)
		if (*wp == w) {
			*wp = w->next;
			break;
		}
	if (b->wnext == w)
		b->wnext = w->next;
	w->box = NULL;
	w->next = NULL;
}

void
mbox_wake(struct mbox *b)
{
	if (b->waiters != NULL && b->wake_ev != NULL)
		event_active(b->wake_ev, EV_TIMEOUT, 0);
}

void
mbox_on_room(struct mbox *b, void (*room)(void *), void *arg)
{
	b->room = room;
	b->room_arg = arg;
}

int
mbox_full(const struct mbox *b)
{
	return (b->qlen >= b->limit);
}

int
mbox_put(struct mbox *b, const iso_msg *m, const char *reqid)
{
	iso_msg		*copy;
	char		*id = NULL;
	uint64_t	 off;

	if (reqid != NULL && ids_has(b->ids, reqid))
		return (0);	/* a retry of a send already kept */
	if (b->qlen >= b->limit) {
		errno = ENOBUFS;
		return (-1);
	}
	if (reqid != NULL && (*reqid == '\0' ||
	    strlen(reqid) > MLOG_REQID_MAX)) {
		errno = EINVAL;
		return (-1);
	}
	if (q_grow(b) == -1 || (copy = iso_msg_copy(m)) == NULL)
		return (-1);
	/* The table and the id's copy before the record: a record written
	   must be remembered. */
	if (reqid != NULL && (ids_ready(b) == -1 ||
	    (id = strdup(reqid)) == NULL)) {
		iso_msg_free(copy);
		return (-1);
	}
	if (mlog_put(b->log, b->next, m, reqid, &off) == -1) {
		iso_msg_free(copy);
		free(id);
		return (-1);
	}
	if (id != NULL)
		ids_keep(b, id);
	q_push(b, b->next++, off, copy);
	mbox_gate(b);
	/* From the loop: a taker woken here could take, make room and read
	   the very connection this message came from, inside its read. */
	mbox_wake(b);
	return (0);
}

iso_msg *
mbox_peek(struct mbox *b, uint64_t after, size_t max)
{
	const struct ment	*e;
	iso_msg			*out;
	size_t			 i;

	if ((out = iso_msg_pack("[]")) == NULL)
		return (NULL);
	for (i = q_find(b, after); i < b->qlen && max > 0; i++, max--) {
		e = q_at(b, i);
		if (iso_msg_append(out, iso_msg_pack("[U O]", e->seq,
		    e->m)) == -1) {
			iso_msg_free(out);
			return (NULL);
		}
	}
	return (out);
}

int
mbox_ack(struct mbox *b, uint64_t upto)
{
	struct mconn	*c, *next;
	int		 was_full = b->qlen >= b->limit;

	if (b->qlen == 0 || q_at(b, 0)->seq > upto)
		return (0);
	if (upto >= b->next)
		upto = b->next - 1;
	if (mlog_ack(b->log, upto) == -1)
		return (-1);
	while (b->qlen > 0 && q_at(b, 0)->seq <= upto)
		q_pop(b);
	mbox_compact(b);
	/* Room again: read what the senders' sockets hold. */
	if (was_full && b->qlen < b->limit) {
		for (c = b->conns; c != NULL; c = next) {
			next = c->next;
			event_add(c->ev, NULL);
			if (mconn_take(c) < 0)
				mconn_free(c);
		}
		if (b->room != NULL)
			b->room(b->room_arg);
	}
	mbox_gate(b);
	return (0);
}

iso_msg *
mbox_take(struct mbox *b, size_t max)
{
	iso_msg		*out;
	uint64_t	 last = 0;
	size_t		 i;

	if ((out = iso_msg_pack("[]")) == NULL)
		return (NULL);
	for (i = 0; i < b->qlen && i < max; i++) {
		last = q_at(b, i)->seq;
		if (iso_msg_append(out, iso_msg_copy(q_at(b, i)->m)) == -1) {
			iso_msg_free(out);
			return (NULL);
		}
	}
	if (i > 0 && mbox_ack(b, last) == -1) {
		iso_msg_free(out);
		return (NULL);
	}
	return (out);
}
