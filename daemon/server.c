/*
 * server.c: the supervisor's socket. Accepts this user's clients only
 * (SO_PEERCRED), cuts each connection's bytes into frames (a length, then
 * one MessagePack request), dispatches by "op" and writes the replies in
 * order. A connection has at most one request in progress; a bad frame
 * gets an error reply and the connection is closed once it is written.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "accept.h"
#include "daemon.h"
#include "rtdir.h"
#include "supproto.h"
#include "wire.h"

#define SV_READ_MAX	(64 * 1024)	/* bytes read per turn per peer */

/* sv_conn.busy */
#define SV_IDLE		0
#define SV_BUSY		1	/* an op is running */
#define SV_DEFERRED	2	/* sv_defer: the answer comes later */
#define SV_STREAMING	3	/* sv_stream: frames go out until sv_reply */

struct sv_conn {
	int		 fd;
	struct event	*rev;
	struct event	*wev;
	struct evbuffer	*in;
	struct evbuffer	*out;
	int		 busy;		/* SV_*: a request is being answered */
	int		 detached;	/* handed over by sv_detach */
	int		 closing;	/* close once out is written */
	int		 adopted;	/* sv_adopt: not the acceptor's */
	int		 forwarded;	/* asked another node: fwd_closed */
	void		(*cancel)(void *);
	void		*cancel_arg;
	void		(*on_close)(void *);	/* sv_on_close */
	void		*on_close_arg;
	void		(*on_frame)(void *, const iso_msg *);	/* sv_stream */
	void		(*on_drain)(void *);	/* sv_on_drain */
	void		*stream_arg;
	struct sv_conn	*prev, *next;
};

/* Every request, by "op": an entry is its fields and its function. */
static const struct rq_entry *const ops[] = {
	&rq_spawn, &rq_list, &rq_kill, &rq_wait, &rq_logs, &rq_send, &rq_take,
	&rq_ack, &rq_register, &rq_lookup, &rq_unregister, &rq_names,
	&rq_compute, &rq_status, &rq_stop, &rq_attach, &rq_recv,
	&rq_events, &rq_spawned, &rq_exited, &rq_listening, &rq_spawning,
	&rq_stats,
	&rq_restart, &rq_rm,
	&rq_follow, &rq_nodes,
	&rq_pause, &rq_resume, &rq_ping,
};

static struct event_base	*sv_base;
static int			 sv_fd = -1;
static struct acc		*sv_acc;
static struct sv_conn		*conns;
static size_t			 nconns;
size_t				 sv_max_conns = ACC_MAX_DEFAULT;

static void	sv_process(struct sv_conn *);

size_t
sv_count(void)
{
	return (nconns);
}

static void
sv_free(struct sv_conn *c)
{
	if (c->busy && c->cancel != NULL)
		c->cancel(c->cancel_arg);
	if (c->on_close != NULL)
		c->on_close(c->on_close_arg);
	if (c->forwarded)
		fwd_closed(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	nconns--;
	if (!c->adopted)
		acc_closed(sv_acc);
	event_free(c->rev);
	event_free(c->wev);
	if (c->in != NULL)
		evbuffer_free(c->in);
	evbuffer_free(c->out);
	if (c->fd != -1)
		close(c->fd);
	free(c);
}

int
sv_detach(struct sv_conn *c, struct evbuffer **in)
{
	int	fd = c->fd;

	c->detached = 1;
	c->busy = SV_IDLE;
	c->cancel = NULL;
	c->fd = -1;
	*in = c->in;
	c->in = NULL;
	return (fd);
}

int
sv_handover(struct sv_conn *c)
{
	int	fd = c->fd;

	if (c->busy != SV_DEFERRED || c->closing || c->on_close != NULL ||
	    evbuffer_get_length(c->in) > 0 ||
	    evbuffer_get_length(c->out) > 0) {
		errno = EBUSY;
		return (-1);
	}
	c->busy = SV_IDLE;
	c->cancel = NULL;
	c->fd = -1;
	sv_free(c);
	return (fd);
}

/* Write what is queued; 0, or -1 when c was freed. */
static int
sv_flush(struct sv_conn *c)
{
	int	n;

	while (evbuffer_get_length(c->out) > 0) {
		n = evbuffer_write(c->out, c->fd);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(c->wev, NULL);
			return (0);
		}
		if (n <= 0) {
			sv_free(c);
			return (-1);
		}
	}
	event_del(c->wev);
	if (c->closing) {
		sv_free(c);
		return (-1);
	}
	if (c->busy == SV_STREAMING && c->on_drain != NULL)
		c->on_drain(c->stream_arg);
	return (0);
}

static void
sv_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)sv_flush(arg);
}

void
sv_reply(struct sv_conn *c, iso_msg *rep)
{
	if (rep == NULL || evf_add(c->out, rep) == -1) {
		iso_msg_free(rep);
		rep = iso_msg_pack("{s:b s:s s:s}", "ok", 0, "errno", "ENOMEM",
		    "error", "out of memory");
		if (rep == NULL || evf_add(c->out, rep) == -1)
			c->closing = 1;
	}
	iso_msg_free(rep);
	c->cancel = NULL;
	if (c->busy == SV_STREAMING) {
		/* The last frame of a stream; its op may be running inside
		   sv_process, so c is written and read from the loop. */
		c->busy = SV_IDLE;
		c->on_frame = NULL;
		c->on_drain = NULL;
		event_active(c->wev, EV_WRITE, 0);
		event_active(c->rev, EV_READ, 0);
		return;
	}
	if (c->busy == SV_DEFERRED) {
		/* A deferred answer: go on with what the client sent since. */
		c->busy = SV_IDLE;
		if (sv_flush(c) == 0)
			event_active(c->rev, EV_READ, 0);
		return;
	}
	c->busy = SV_IDLE;
}

void
sv_reply_with(struct sv_conn *c, const char *key, iso_msg *value)
{
	iso_msg	*rep;

	if (value == NULL) {
		sv_reply(c, NULL);
		return;
	}
	if ((rep = iso_msg_pack("{s:b}", "ok", 1)) == NULL ||
	    iso_msg_put(rep, iso_msg_pack("s", key), value) == -1) {
		iso_msg_free(rep);
		rep = NULL;
	}
	sv_reply(c, rep);
}

void
sv_ok(struct sv_conn *c)
{
	sv_reply(c, iso_msg_pack("{s:b}", "ok", 1));
}

void
sv_error(struct sv_conn *c, int e, const char *fmt, ...)
{
	char	text[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	sv_reply(c, iso_msg_pack("{s:b s:s s:s}", "ok", 0, "errno",
	    sup_errno_name(e), "error", text));
}

void
sv_drop(struct sv_conn *c)
{
	c->closing = 1;
}

void
sv_mark_forwarded(struct sv_conn *c)
{
	c->forwarded = 1;
}

void
sv_on_close(struct sv_conn *c, void (*fn)(void *), void *arg)
{
	c->on_close = fn;
	c->on_close_arg = arg;
}

void
sv_defer(struct sv_conn *c, void (*cancel)(void *), void *arg)
{
	c->busy = SV_DEFERRED;
	c->cancel = cancel;
	c->cancel_arg = arg;
}

int
sv_stream(struct sv_conn *c, iso_msg *first,
    void (*on_frame)(void *, const iso_msg *), void (*cancel)(void *),
    void *arg)
{
	if (first == NULL || evf_add(c->out, first) == -1) {
		iso_msg_free(first);
		sv_error(c, ENOMEM, "out of memory");
		return (-1);
	}
	iso_msg_free(first);
	c->busy = SV_STREAMING;
	c->on_frame = on_frame;
	c->cancel = cancel;
	c->cancel_arg = arg;
	c->stream_arg = arg;
	return (0);
}

int
sv_push(struct sv_conn *c, const iso_msg *m)
{
	if (evf_add(c->out, m) == -1)
		return (-1);
	event_active(c->wev, EV_WRITE, 0);
	return (0);
}

size_t
sv_pending(const struct sv_conn *c)
{
	return (evbuffer_get_length(c->out));
}

void
sv_on_drain(struct sv_conn *c, void (*fn)(void *), void *arg)
{
	c->on_drain = fn;
	c->stream_arg = arg;
}

/* Dispatch one request. */
static void
sv_dispatch(struct sv_conn *c, const iso_msg *req)
{
	const char	*op;
	size_t		 i;

	if (iso_msg_unpack(req, "{s:s}", "op", &op) == -1) {
		sv_error(c, EINVAL, "a request is a map with a string \"op\"");
		return;
	}
	/* Another node's request goes there (forward.c). */
	c->busy = SV_BUSY;
	if (fwd_route(c, op, req))
		return;
	c->busy = SV_IDLE;
	for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		if (strcmp(ops[i]->name, op) == 0) {
			c->busy = SV_BUSY;
			rq_run(ops[i], c, req);
			if (ops[i]->flags & (RQ_NOREPLY | RQ_DROPBAD))
				c->busy = SV_IDLE;
			return;
		}
	}
	sv_error(c, EINVAL, "unknown op \"%.64s\"", op);
}

/* Take whole frames from c->in while no request is in progress. */
static void
sv_process(struct sv_conn *c)
{
	iso_msg		*req;
	int		 r;

	while ((c->busy == SV_IDLE || c->busy == SV_STREAMING) &&
	    !c->closing) {
		if ((r = evf_next(c->in, &req)) == 0)
			break;
		if (r == -1) {
			/* The stream cannot be trusted past a bad frame. */
			if (c->busy == SV_STREAMING) {
				sv_drop(c);
				break;
			}
			c->busy = SV_BUSY;
			sv_error(c, errno == ENOMEM || errno == EMSGSIZE ?
			    errno : EBADMSG, "bad request: %s", iso_error());
			c->closing = 1;
			break;
		}
		if (c->busy == SV_STREAMING) {
			/* What a client says on a stream: acks, or nothing. */
			if (c->on_frame != NULL)
				c->on_frame(c->stream_arg, req);
		} else
			sv_dispatch(c, req);
		iso_msg_free(req);
		if (c->detached) {
			sv_free(c);
			return;
		}
	}
	(void)sv_flush(c);
}

static void
sv_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sv_conn	*c = arg;
	int		 n, fds = 0;

	(void)what;
	n = evf_read(c->in, fd, SV_READ_MAX, &fds);
	if (fds > 0) {
		/* our clients never send any: closed, and so is it */
		log_warn("a client sent descriptors; closed that connection");
		sv_free(c);
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		n = -2;
	if (n == 0 || n == -1) {
		sv_free(c);
		return;
	}
	/* While a request is in progress, hold at most one more frame's
	   worth: what a client sends beyond that waits in its socket. */
	if (c->busy != SV_IDLE && c->busy != SV_STREAMING &&
	    evbuffer_get_length(c->in) >
	    iso_limit_get(ISO_LIMIT_FRAME) + 4) {
		event_del(c->rev);
		return;
	}
	if (!event_pending(c->rev, EV_READ, NULL))
		event_add(c->rev, NULL);
	sv_process(c);
}

static void
sv_acc_log(const char *line, void *arg)
{
	(void)arg;
	log_warn("%s", line);
}

/* A connection on fd, read from the loop: c, or NULL (fd closed). */
static struct sv_conn *
sv_new(int fd, int adopted)
{
	struct sv_conn	*c;

	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->in = evbuffer_new()) == NULL ||
	    (c->out = evbuffer_new()) == NULL ||
	    (c->rev = event_new(sv_base, fd, EV_READ | EV_PERSIST,
	    sv_read_cb, c)) == NULL ||
	    (c->wev = event_new(sv_base, fd, EV_WRITE | EV_PERSIST,
	    sv_write_cb, c)) == NULL || event_add(c->rev, NULL) == -1) {
		if (c != NULL) {
			if (c->rev != NULL)
				event_free(c->rev);
			if (c->in != NULL)
				evbuffer_free(c->in);
			if (c->out != NULL)
				evbuffer_free(c->out);
			free(c);
		}
		close(fd);
		if (!adopted)
			acc_closed(sv_acc);
		return (NULL);
	}
	c->fd = fd;
	c->adopted = adopted;
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	nconns++;
	return (c);
}

/* A client of our uid (accept.c checked it). */
static void
sv_take(int fd, pid_t pid, void *arg)
{
	(void)pid;
	(void)arg;
	(void)sv_new(fd, 0);
}

int
sv_adopt(int fd, const void *req, size_t len)
{
	struct sv_conn	*c;
	unsigned char	 hdr[WIRE_HDR];

	if ((c = sv_new(fd, 1)) == NULL)
		return (-1);
	wire_frame_hdr(hdr, len);
	if (evbuffer_add(c->in, hdr, sizeof hdr) == -1 ||
	    evbuffer_add(c->in, req, len) == -1) {
		sv_free(c);
		return (-1);
	}
	sv_process(c);
	return (0);
}

int
sv_listen(struct event_base *base, const char *path)
{
	static const struct acc_ops aops = { sv_take, sv_acc_log };
	int			saved;

	(void)path;
	sv_base = base;
	sv_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (sv_fd == -1)
		return (-1);
	/* We hold the lock: a socket there is a dead supervisor's, and the
	   rename replaces it (or whatever else is there). */
	if (rtdir_listen(sv_fd, SUP_SOCKET, SOMAXCONN) == -1)
		goto fail;
	if ((sv_acc = acc_new(base, sv_fd, ACC_SUPERVISOR, &sv_max_conns,
	    "supervisor", &aops, NULL)) == NULL)
		goto fail;
	return (0);
fail:
	saved = errno;
	close(sv_fd);
	sv_fd = -1;
	errno = saved;
	return (-1);
}

void
sv_unlisten(void)
{
	if (sv_fd == -1)
		return;
	(void)rtdir_unlink(SUP_SOCKET);
	acc_free(sv_acc);
	sv_acc = NULL;
	close(sv_fd);
	sv_fd = -1;
}

void
sv_close(void)
{
	/* What is queued (a stream's last frame) goes if the socket takes
	   it now: the loop will not turn again. */
	while (conns != NULL) {
		if (conns->fd != -1 && evbuffer_get_length(conns->out) > 0)
			(void)evbuffer_write(conns->out, conns->fd);
		sv_free(conns);
	}
	sv_unlisten();
}
