/*
 * mailbox.c: a SendPort for a command that is not itself a libisolate
 * program. The supervisor listens on the socket of a second isolate id,
 * the mailbox's, and keeps what arrives for its port 1 in a bounded
 * queue, saved to ID.mbox so that a restarted supervisor still has it.
 * When the queue is full the supervisor stops reading the senders'
 * connections: their iso_send calls queue, then fail with ENOBUFS; a
 * "send" request fails at once with ENOBUFS. Nothing accepted is dropped.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon.h"

#define MBOX_PORT	1
#define MBOX_READ_MAX	(64 * 1024)
#define MBOX_REQIDS	512	/* reqids remembered for dedupe */

struct mconn {
	struct mbox	*box;
	int		 fd;
	struct event	*ev;
	struct evbuffer	*in;
	struct mconn	*next;
};

struct mbox {
	uint64_t	 id;		/* the mailbox's own isolate id */
	size_t		 limit;
	iso_msg		*queue;		/* a list of [seq, message] */
	uint64_t	 seq;		/* the last sequence number given */
	iso_msg		*reqids;	/* a list: the last reqids put */
	char		 file[PATH_MAX];	/* ID.mbox */
	char		 sock[PATH_MAX];
	int		 lfd;
	struct event	*lev;
	struct mconn	*conns;
	void		(*wake)(void *);
	void		*wake_arg;
	struct event	*wake_ev;	/* wake from the loop, not from put */
	void		(*room)(void *);
	void		*room_arg;
};

static struct event_base	*mbox_base;

static void	mbox_wake_cb(evutil_socket_t, short, void *);

void
mbox_init(struct event_base *base)
{
	mbox_base = base;
}

static void
mbox_save(struct mbox *b)
{
	iso_msg	*m;

	m = iso_msg_pack("{s:U s:O s:O}", "seq", b->seq, "queue", b->queue,
	    "reqids", b->reqids);
	if (m == NULL || state_write(b->file, m) == -1)
		log_warn("cannot save %s: %s", b->file, strerror(errno));
	iso_msg_free(m);
}

/* What ID.mbox holds: {"seq", "queue": [[seq, message]...], "reqids"},
   or the older plain list of messages. */
static int
mbox_load(struct mbox *b)
{
	iso_msg		*saved = state_read(b->file);
	const iso_msg	*q = NULL, *r = NULL;
	size_t		 i;

	b->queue = iso_msg_pack("[]");
	b->reqids = iso_msg_pack("[]");
	if (iso_msg_type(saved) == ISO_MAP) {
		(void)iso_msg_unpack(saved, "{s?U s?O s?O}", "seq", &b->seq,
		    "queue", &q, "reqids", &r);
		if (iso_msg_type(q) == ISO_LIST) {
			iso_msg_free(b->queue);
			b->queue = iso_msg_copy(q);
		}
		if (iso_msg_type(r) == ISO_LIST) {
			iso_msg_free(b->reqids);
			b->reqids = iso_msg_copy(r);
		}
	} else if (iso_msg_type(saved) == ISO_LIST)
		for (i = 0; b->queue != NULL && i < iso_msg_len(saved); i++)
			if (iso_msg_append(b->queue, iso_msg_pack("[U O]",
			    ++b->seq, iso_msg_at(saved, i))) == -1)
				break;
	iso_msg_free(saved);
	return (b->queue != NULL && b->reqids != NULL ? 0 : -1);
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
	close(c->fd);
	free(c);
}

/*
 * Take whole frames from c into the queue while there is room. 0, or
 * -1 when the stream is bad (c must be closed). A frame is a port
 * number (a positive msgpack uint) and a message.
 */
static int
mconn_take(struct mconn *c)
{
	uint64_t	 port;
	iso_msg		*m;
	int		 r;

	while (iso_msg_len(c->box->queue) < c->box->limit) {
		if ((r = evf_next_port(c->in, &port, &m)) <= 0)
			return (r);
		/* Port 0 is control; another port is closed: dropped, as
		   a live isolate drops it. */
		if (port == MBOX_PORT && mbox_put(c->box, m, NULL) == -1) {
			iso_msg_free(m);
			return (-1);
		}
		iso_msg_free(m);
	}
	return (0);
}

static void
mconn_read(evutil_socket_t fd, short what, void *arg)
{
	struct mconn	*c = arg;
	int		 n;

	(void)what;
	if (iso_msg_len(c->box->queue) >= c->box->limit) {
		/* Full: leave the bytes in the socket until there is room. */
		event_del(c->ev);
		return;
	}
	n = evbuffer_read(c->in, fd, MBOX_READ_MAX);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || mconn_take(c) == -1) {
		if (n > 0)
			log_warn("mailbox %016" PRIx64 ": a bad frame; closed "
			    "that connection", c->box->id);
		mconn_free(c);
		return;
	}
	if (iso_msg_len(c->box->queue) >= c->box->limit)
		event_del(c->ev);
}

static void
mbox_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct mbox	*b = arg;
	struct mconn	*c;
	struct ucred	 cred;
	socklen_t	 clen = sizeof cred;
	int		 fd;

	(void)what;
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ==
		    -1 || cred.uid != geteuid() ||
		    (c = calloc(1, sizeof *c)) == NULL) {
			close(fd);
			continue;
		}
		c->box = b;
		c->fd = fd;
		if ((c->in = evbuffer_new()) == NULL ||
		    (c->ev = event_new(mbox_base, fd, EV_READ | EV_PERSIST,
		    mconn_read, c)) == NULL) {
			if (c->in != NULL)
				evbuffer_free(c->in);
			free(c);
			close(fd);
			continue;
		}
		c->next = b->conns;
		b->conns = c;
		if (iso_msg_len(b->queue) < b->limit)
			event_add(c->ev, NULL);
	}
}

/* Listen on the mailbox id's socket. 0 or -1 with errno. */
static int
mbox_listen(struct mbox *b)
{
	struct sockaddr_un	sun;
	char			tmp[PATH_MAX + 8];
	int			saved;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (snprintf(tmp, sizeof tmp, "%s.new", b->sock) >=
	    (int)sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	strcpy(sun.sun_path, tmp);
	b->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (b->lfd == -1)
		return (-1);
	(void)unlink(tmp);
	if (bind(b->lfd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    listen(b->lfd, 64) == -1 || rename(tmp, b->sock) == -1)
		goto fail;
	b->lev = event_new(mbox_base, b->lfd, EV_READ | EV_PERSIST,
	    mbox_accept, b);
	if (b->lev == NULL || event_add(b->lev, NULL) == -1)
		goto fail;
	return (0);
fail:
	saved = errno;
	(void)unlink(tmp);
	close(b->lfd);
	b->lfd = -1;
	errno = saved;
	return (-1);
}

struct mbox *
mbox_open(const char *dir, uint64_t owner, const char *suffix, uint64_t id,
    size_t limit)
{
	struct mbox	*b;
	const char	*rt;

	if ((rt = iso_runtime_dir()) == NULL || (b = calloc(1, sizeof *b)) ==
	    NULL)
		return (NULL);
	b->lfd = -1;
	while (id == 0 && suffix == NULL)
		if (getrandom(&id, sizeof id, 0) != sizeof id)
			id = 0;
	b->id = id;
	b->limit = limit;
	if (state_path(dir, owner, suffix != NULL ? suffix : ".mbox", b->file,
	    sizeof b->file) == -1 ||
	    snprintf(b->sock, sizeof b->sock, "%s/%016" PRIx64 ".sock", rt,
	    id) >= (int)sizeof b->sock) {
		free(b);
		errno = ENAMETOOLONG;
		return (NULL);
	}
	/* What an earlier supervisor had accepted. */
	if (mbox_load(b) == -1 || (b->wake_ev = event_new(mbox_base, -1, 0,
	    mbox_wake_cb, b)) == NULL || (suffix == NULL &&
	    mbox_listen(b) == -1)) {
		if (b->wake_ev != NULL)
			event_free(b->wake_ev);
		iso_msg_free(b->queue);
		iso_msg_free(b->reqids);
		free(b);
		return (NULL);
	}
	return (b);
}

void
mbox_close(struct mbox *b)
{
	while (b->conns != NULL)
		mconn_free(b->conns);
	if (b->lev != NULL)
		event_free(b->lev);
	b->lev = NULL;
	if (b->lfd != -1) {
		close(b->lfd);
		(void)unlink(b->sock);
	}
	b->lfd = -1;
}

void
mbox_free(struct mbox *b, int forget)
{
	if (b == NULL)
		return;
	mbox_close(b);
	event_free(b->wake_ev);
	if (forget)
		(void)unlink(b->file);
	iso_msg_free(b->queue);
	iso_msg_free(b->reqids);
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
	return (iso_msg_len(b->queue));
}

static void
mbox_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mbox	*b = arg;

	(void)fd;
	(void)what;
	if (b->wake != NULL && iso_msg_len(b->queue) > 0)
		b->wake(b->wake_arg);
}

void
mbox_on_put(struct mbox *b, void (*wake)(void *), void *arg)
{
	b->wake = wake;
	b->wake_arg = arg;
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
	return (iso_msg_len(b->queue) >= b->limit);
}

/* 1 when reqid is among the last ones put. */
static int
mbox_seen(const struct mbox *b, const char *reqid)
{
	const char	*s;
	size_t		 i;

	for (i = iso_msg_len(b->reqids); i-- > 0; )
		if ((s = iso_msg_str(iso_msg_at(b->reqids, i), NULL)) != NULL &&
		    strcmp(s, reqid) == 0)
			return (1);
	return (0);
}

/* Remember reqid, keeping at least the last MBOX_REQIDS. */
static int
mbox_remember(struct mbox *b, const char *reqid)
{
	iso_msg	*keep;
	size_t	 i, n = iso_msg_len(b->reqids);

	if (n >= 2 * MBOX_REQIDS) {
		if ((keep = iso_msg_pack("[]")) == NULL)
			return (-1);
		for (i = n - MBOX_REQIDS; i < n; i++)
			if (iso_msg_append(keep, iso_msg_copy(
			    iso_msg_at(b->reqids, i))) == -1) {
				iso_msg_free(keep);
				return (-1);
			}
		iso_msg_free(b->reqids);
		b->reqids = keep;
	}
	return (iso_msg_append(b->reqids, iso_msg_pack("s", reqid)));
}

int
mbox_put(struct mbox *b, const iso_msg *m, const char *reqid)
{
	iso_msg	*pair;

	if (reqid != NULL && mbox_seen(b, reqid))
		return (0);
	if (iso_msg_len(b->queue) >= b->limit) {
		errno = ENOBUFS;
		return (-1);
	}
	if ((pair = iso_msg_pack("[U O]", b->seq + 1, m)) == NULL ||
	    iso_msg_append(b->queue, pair) == -1 ||
	    (reqid != NULL && mbox_remember(b, reqid) == -1))
		return (-1);
	b->seq++;
	mbox_save(b);
	/* From the loop: a taker woken here could take, make room and read
	   the very connection this message came from, inside its read. */
	if (b->wake != NULL && b->wake_ev != NULL)
		event_active(b->wake_ev, EV_TIMEOUT, 0);
	return (0);
}

iso_msg *
mbox_peek(struct mbox *b, uint64_t after, size_t max)
{
	const iso_msg	*pair;
	iso_msg		*out;
	uint64_t	 seq;
	size_t		 i;

	if ((out = iso_msg_pack("[]")) == NULL)
		return (NULL);
	for (i = 0; i < iso_msg_len(b->queue) && iso_msg_len(out) < max;
	    i++) {
		pair = iso_msg_at(b->queue, i);
		if (iso_msg_unpack(pair, "[U]", &seq) == 0 && seq > after &&
		    iso_msg_append(out, iso_msg_copy(pair)) == -1) {
			iso_msg_free(out);
			return (NULL);
		}
	}
	return (out);
}

/* Keep the queue's items from i on (those before are gone). */
static int
mbox_drop(struct mbox *b, size_t from)
{
	iso_msg		*rest;
	struct mconn	*c, *next;
	size_t		 i, n = iso_msg_len(b->queue);
	int		 was_full = n >= b->limit;

	if (from == 0)
		return (0);
	if ((rest = iso_msg_pack("[]")) == NULL)
		return (-1);
	for (i = from; i < n; i++)
		if (iso_msg_append(rest, iso_msg_copy(iso_msg_at(b->queue,
		    i))) == -1) {
			iso_msg_free(rest);
			return (-1);
		}
	iso_msg_free(b->queue);
	b->queue = rest;
	mbox_save(b);
	/* Room again: read what the senders' sockets hold. */
	if (was_full && iso_msg_len(b->queue) < b->limit) {
		for (c = b->conns; c != NULL; c = next) {
			next = c->next;
			event_add(c->ev, NULL);
			if (mconn_take(c) == -1)
				mconn_free(c);
		}
		if (b->room != NULL)
			b->room(b->room_arg);
	}
	return (0);
}

int
mbox_ack(struct mbox *b, uint64_t upto)
{
	uint64_t	seq;
	size_t		i;

	for (i = 0; i < iso_msg_len(b->queue); i++)
		if (iso_msg_unpack(iso_msg_at(b->queue, i), "[U]", &seq) ==
		    -1 || seq > upto)
			break;
	return (mbox_drop(b, i));
}

iso_msg *
mbox_take(struct mbox *b, size_t max)
{
	iso_msg	*out;
	size_t	 i, n = iso_msg_len(b->queue);

	if ((out = iso_msg_pack("[]")) == NULL)
		return (NULL);
	for (i = 0; i < n && i < max; i++)
		if (iso_msg_append(out, iso_msg_copy(iso_msg_at(
		    iso_msg_at(b->queue, i), 1))) == -1) {
			iso_msg_free(out);
			return (NULL);
		}
	if (mbox_drop(b, i) == -1) {
		iso_msg_free(out);
		return (NULL);
	}
	return (out);
}
