/*
 * mailbox.c: a SendPort for a command that is not itself a libisolate
 * program. The supervisor listens on the socket of a second isolate id,
 * the mailbox's, and keeps what arrives for its port 1 in a bounded
 * queue, saved to ID.mbox so that a restarted supervisor still has it.
 * When the queue is full the supervisor stops reading the senders'
 * connections and stops accepting new ones, which wait in the kernel's
 * backlog at no descriptor of ours: their iso_send calls queue, then fail
 * with ENOBUFS; a "send" request fails at once with ENOBUFS. Nothing
 * accepted is dropped. A sender beyond the socket's cap on connections
 * is refused and told why (accept.c).
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

#include "accept.h"
#include "daemon.h"

#define MBOX_PORT	1
#define MBOX_READ_MAX	(64 * 1024)

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
	iso_msg		*queue;		/* a list */
	char		 file[PATH_MAX];	/* ID.mbox */
	char		 sock[PATH_MAX];
	int		 lfd;
	struct acc	*acc;
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
	if (state_write(b->file, b->queue) == -1)
		log_warn("cannot save %s: %s", b->file, strerror(errno));
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
	acc_closed(c->box->acc);
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
		if (port == MBOX_PORT && mbox_put(c->box, m) == -1) {
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
	if (iso_msg_len(b->queue) < b->limit)
		event_add(c->ev, NULL);
}

/* Full: leave new senders in the backlog; room: take them again. */
static void
mbox_gate(struct mbox *b)
{
	if (b->acc == NULL)
		return;
	if (iso_msg_len(b->queue) >= b->limit)
		acc_pause(b->acc);
	else
		acc_resume(b->acc);
}

/* Listen on the mailbox id's socket. 0 or -1 with errno. */
static int
mbox_listen(struct mbox *b)
{
	static const struct acc_ops ops = { mbox_take_conn, mbox_acc_log };
	struct sockaddr_un	sun;
	char			tmp[PATH_MAX + 8], name[64];
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
	    listen(b->lfd, SOMAXCONN) == -1 || rename(tmp, b->sock) == -1)
		goto fail;
	snprintf(name, sizeof name, "mailbox %016" PRIx64, b->id);
	if ((b->acc = acc_new(mbox_base, b->lfd, ACC_ISOLATE, &sv_max_conns,
	    name, &ops, b)) == NULL)
		goto fail;
	mbox_gate(b);
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
	iso_msg		*saved;

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
	if ((saved = state_read(b->file)) != NULL &&
	    iso_msg_type(saved) == ISO_LIST)
		b->queue = saved;
	else {
		iso_msg_free(saved);
		b->queue = iso_msg_pack("[]");
	}
	if (b->queue == NULL || (b->wake_ev = event_new(mbox_base, -1, 0,
	    mbox_wake_cb, b)) == NULL || (suffix == NULL &&
	    mbox_listen(b) == -1)) {
		if (b->wake_ev != NULL)
			event_free(b->wake_ev);
		iso_msg_free(b->queue);
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
	acc_free(b->acc);
	b->acc = NULL;
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

int
mbox_put(struct mbox *b, const iso_msg *m)
{
	iso_msg	*copy;

	if (iso_msg_len(b->queue) >= b->limit) {
		errno = ENOBUFS;
		return (-1);
	}
	if ((copy = iso_msg_copy(m)) == NULL ||
	    iso_msg_append(b->queue, copy) == -1)
		return (-1);
	mbox_save(b);
	mbox_gate(b);
	/* From the loop: a taker woken here could take, make room and read
	   the very connection this message came from, inside its read. */
	if (b->wake != NULL && b->wake_ev != NULL)
		event_active(b->wake_ev, EV_TIMEOUT, 0);
	return (0);
}

iso_msg *
mbox_take(struct mbox *b, size_t max)
{
	iso_msg		*out, *rest;
	struct mconn	*c, *next;
	size_t		 i, n = iso_msg_len(b->queue);
	int		 was_full = n >= b->limit;

	if ((out = iso_msg_pack("[]")) == NULL ||
	    (rest = iso_msg_pack("[]")) == NULL) {
		iso_msg_free(out);
		return (NULL);
	}
	for (i = 0; i < n; i++)
		if (iso_msg_append(i < max ? out : rest,
		    iso_msg_copy(iso_msg_at(b->queue, i))) == -1) {
			iso_msg_free(out);
			iso_msg_free(rest);
			return (NULL);
		}
	iso_msg_free(b->queue);
	b->queue = rest;
	if (iso_msg_len(out) > 0)
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
	mbox_gate(b);
	return (out);
}
