/*
 * forward.c: a request for another node, carried there over NATS and
 * answered here. A request goes elsewhere when it says "node" (isoctl
 * --node) or its "target" is NAME@NODE of another node. The asking side
 * publishes the request as it came, without "node" (and with the target
 * cut to NAME), on iso.node.NODE.req with a reply subject of our inbox,
 * and answers its client with what comes back; a node lost (no
 * heartbeat) or, for quick ops, FWD_TIMEOUT_MS of silence fails it.
 *
 * A client's requests to one node make a session (header Iso-Session,
 * our inbox and a number; Iso-From, our node): the serving side runs
 * them, in order, on one connection of its own server, one end of a
 * socketpair that server.c adopts, so what a connection means there
 * (a take's lease and its ack, one request at a time) holds across
 * nodes. Replies come back in order on that socketpair and go each to
 * its request's reply subject. The session ends when our client's
 * connection closes (we publish on iso.node.NODE.cancel), when its
 * node is lost or restarted, or when that connection ends there.
 *
 * fwd_ask is the same trip for the daemon's own use (cnames.c's
 * lookups): a session of one request, ended (cancel) once it is
 * answered, the answer handed to a function rather than a client.
 */
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "cluster.h"
#include "wire.h"

#define FWD_TIMEOUT_MS	15000	/* an op that does not wait by design */

/* Ops that make no sense elsewhere: streams, and the library's notes. */
static const char *const fwd_local_only[] = {
	"attach", "events", "follow", "spawned", "exited", "listening",
	"spawning", NULL
};
/* Ops that wait as long as they are asked to: no timeout of ours. */
static const char *const fwd_waiting[] = {
	"wait", "take", "recv", "compute", "stop", NULL
};

/* A request of ours out on another node: for client c, or (fwd_ask)
   for done(arg), in session sid. */
struct fwd_out {
	struct sv_conn	*c;
	void		(*done)(iso_msg *, int, const char *, void *);
	void		*arg;
	uint64_t	 sid;
	char		 node[65];
	uint64_t	 token;
	struct event	*timer;
	struct fwd_out	*next;
};

/* A client connection of ours that asked another node: its session. */
struct fwd_sess {
	struct sv_conn	*c;
	char		 node[65];
	uint64_t	 sid;
	struct fwd_sess	*next;
};

/* A reply subject waiting on a served session. */
struct fwd_reply {
	char		*subject;
	struct fwd_reply *next;
};

/* A session of another node's, served here. */
struct fwd_in {
	char		*key;		/* its Iso-Session */
	char		 from[65];	/* its Iso-From */
	int		 fd;
	struct event	*rev;
	struct event	*wev;
	struct evbuffer	*in;
	struct evbuffer	*out;
	struct fwd_reply *replies, **last;
	struct fwd_in	*next;
};

static struct event_base	*fwd_base;
static char			*fwd_inbox;	/* _INBOX.<nuid> */
static uint64_t			 fwd_next_token = 1, fwd_next_sid = 1;
static struct fwd_out		*outs;
static struct fwd_sess		*sessions;
static struct fwd_in		*ins;

static void	fwd_in_free(struct fwd_in *);

static int
fwd_in_list(const char *const *list, const char *op)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, op) == 0)
			return (1);
	return (0);
}

static void
fwd_out_free(struct fwd_out *f)
{
	struct fwd_out	**pp;

	for (pp = &outs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	if (f->timer != NULL)
		event_free(f->timer);
	free(f);
}

/* Our client went away mid-request; fwd_closed ends its sessions. */
static void
fwd_cancel(void *arg)
{
	fwd_out_free(arg);
}

void
fwd_closed(struct sv_conn *c)
{
	struct fwd_sess	**pp, *x;
	char		  subj[CL_SUBJ_MAX], key[CL_SUBJ_MAX];

	for (pp = &sessions; *pp != NULL;) {
		x = *pp;
		if (x->c != c) {
			pp = &x->next;
			continue;
		}
		*pp = x->next;
		snprintf(subj, sizeof subj, "iso.node.%s.cancel", x->node);
		snprintf(key, sizeof key, "%s.%" PRIu64, fwd_inbox, x->sid);
		(void)cl_publish(subj, NULL, key, strlen(key));
		free(x);
	}
}

/* c's session with node, made on first use: its number, or 0. */
static uint64_t
fwd_session(struct sv_conn *c, const char *node)
{
	struct fwd_sess	*x;

	for (x = sessions; x != NULL; x = x->next)
		if (x->c == c && strcmp(x->node, node) == 0)
			return (x->sid);
	if ((x = calloc(1, sizeof *x)) == NULL)
		return (0);
	x->c = c;
	snprintf(x->node, sizeof x->node, "%s", node);
	x->sid = fwd_next_sid++;
	x->next = sessions;
	sessions = x;
	sv_mark_forwarded(c);
	return (x->sid);
}

/* The end of a fwd_ask: its session ended there, done told (rep, owned,
   or an errno and why). */
static void
fwd_ask_end(struct fwd_out *f, iso_msg *rep, int e, const char *why)
{
	void	(*done)(iso_msg *, int, const char *, void *) = f->done;
	void	*arg = f->arg;
	char	 subj[CL_SUBJ_MAX], key[CL_SUBJ_MAX];

	if (e != EHOSTUNREACH && e != ECANCELED) {
		snprintf(subj, sizeof subj, "iso.node.%s.cancel", f->node);
		snprintf(key, sizeof key, "%s.%" PRIu64, fwd_inbox, f->sid);
		(void)cl_publish(subj, NULL, key, strlen(key));
	}
	fwd_out_free(f);
	done(rep, e, why, arg);
}

static void
fwd_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_out	*f = arg;
	struct sv_conn	*c = f->c;
	char		 node[sizeof f->node];

	(void)fd;
	(void)what;
	snprintf(node, sizeof node, "%s", f->node);
	if (f->done != NULL) {
		fwd_ask_end(f, NULL, ETIMEDOUT, "did not answer in time");
		return;
	}
	fwd_cancel(f);
	sv_error(c, ETIMEDOUT, "node \"%s\" did not answer within %d s",
	    node, FWD_TIMEOUT_MS / 1000);
}

void
fwd_node_lost(const char *node)
{
	struct fwd_out	*f, *next;
	struct fwd_sess	**pp, *x;
	struct fwd_in	*in, *inext;
	struct sv_conn	*c;

	/* What it served for us, and what we served for it, is gone. */
	for (pp = &sessions; *pp != NULL;) {
		x = *pp;
		if (strcmp(x->node, node) == 0) {
			*pp = x->next;
			free(x);
		} else
			pp = &x->next;
	}
	for (in = ins; in != NULL; in = inext) {
		inext = in->next;
		if (strcmp(in->from, node) == 0)
			fwd_in_free(in);
	}

	for (f = outs; f != NULL; f = next) {
		next = f->next;
		if (strcmp(f->node, node) != 0)
			continue;
		if (f->done != NULL) {
			fwd_ask_end(f, NULL, EHOSTUNREACH, "was lost");
			continue;
		}
		c = f->c;
		fwd_out_free(f);
		sv_error(c, EHOSTUNREACH, "node \"%s\" was lost before it "
		    "answered (no heartbeat); what it did is unknown", node);
	}
}

/* The answer to one of ours. */
static void
fwd_on_reply(natsMsg *msg, void *arg)
{
	const char	*subj = natsMsg_GetSubject(msg), *dot, *ports;
	struct fwd_out	*f;
	struct sv_conn	*c;
	iso_msg		*rep;
	uint64_t	 token;
	char		 node[sizeof f->node];

	(void)arg;
	dot = strrchr(subj, '.');
	token = dot != NULL ? strtoull(dot + 1, NULL, 10) : 0;
	for (f = outs; f != NULL && f->token != token; f = f->next)
		;
	if (f == NULL) {
		natsev_dispose(msg);
		return;
	}
	c = f->c;
	snprintf(node, sizeof node, "%s", f->node);
	if (natsMsgHeader_Get(msg, "Iso-Ports", &ports) == NATS_OK)
		(void)pk_import(ports);
	rep = iso_msg_decode(natsMsg_GetData(msg),
	    (size_t)natsMsg_GetDataLength(msg));
	natsev_dispose(msg);
	if (f->done != NULL) {
		fwd_ask_end(f, rep, rep == NULL ? EPROTO : 0, rep == NULL ?
		    "answered with a bad frame" : NULL);
		return;
	}
	fwd_out_free(f);
	if (rep == NULL)
		sv_error(c, EPROTO, "node \"%s\" answered with a bad frame: %s",
		    node, iso_error());
	else
		sv_reply(c, rep);
}

/* req as it goes to node: no "node", a target cut to its NAME part. */
static iso_msg *
fwd_strip(const iso_msg *req, const char *node)
{
	const iso_msg	*k, *v;
	const char	*ks, *s, *at;
	iso_msg		*out;
	size_t		 i;

	if ((out = iso_msg_pack("{}")) == NULL)
		return (NULL);
	for (i = 0; i < iso_msg_len(req); i++) {
		k = iso_msg_key_at(req, i);
		v = iso_msg_value_at(req, i);
		ks = iso_msg_str(k, NULL);
		if (ks != NULL && strcmp(ks, "node") == 0)
			continue;
		if (ks != NULL && strcmp(ks, "target") == 0 &&
		    (s = iso_msg_str(v, NULL)) != NULL &&
		    (at = strrchr(s, '@')) != NULL &&
		    strcmp(at + 1, node) == 0) {
			if (iso_msg_put(out, iso_msg_pack("s", "target"),
			    iso_msg_pack("s#", s, (size_t)(at - s))) == -1)
				goto fail;
			continue;
		}
		if (iso_msg_put(out, iso_msg_copy(k), iso_msg_copy(v)) == -1)
			goto fail;
	}
	return (out);
fail:
	iso_msg_free(out);
	return (NULL);
}

/* Send req to node and answer c when it answers. */
static void
fwd_send(struct sv_conn *c, const char *op, const char *node,
    const iso_msg *req)
{
	const struct timeval	 tv = { FWD_TIMEOUT_MS / 1000, 0 };
	struct fwd_out		*f = NULL;
	iso_msg			*m;
	void			*buf;
	size_t			 len;
	uint64_t		 sid;
	char			 subj[CL_SUBJ_MAX], reply[CL_SUBJ_MAX];
	char			 key[CL_SUBJ_MAX], *ports;
	const char		*hdrs[] = { "Iso-Session", NULL, "Iso-From",
				    NULL, "Iso-Ports", NULL, NULL };
	int			 r;

	if (fwd_in_list(fwd_local_only, op)) {
		sv_error(c, EINVAL, "%s: cannot go to another node; run it "
		    "there", op);
		return;
	}
	if (!cl_connected()) {
		sv_error(c, EHOSTUNREACH, "%s: this supervisor is not connected "
		    "to NATS now (reconnecting); try again", op);
		return;
	}
	if (!cl_node_up(node)) {
		sv_error(c, ENOENT, "no node \"%.64s\" in the cluster (isoctl "
		    "nodes lists them)", node);
		return;
	}
	if ((sid = fwd_session(c, node)) == 0 ||
	    (f = calloc(1, sizeof *f)) == NULL ||
	    (m = fwd_strip(req, node)) == NULL) {
		free(f);
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	if (iso_msg_encode(m, &buf, &len) == -1) {
		iso_msg_free(m);
		free(f);
		sv_error(c, errno, "%s: %s", op, iso_error());
		return;
	}
	iso_msg_free(m);
	if ((int64_t)len + 1024 > natsConnection_GetMaxPayload(cl_nc)) {
		free(buf);
		free(f);
		sv_error(c, EMSGSIZE, "%s: a request of %zu bytes is over what "
		    "the cluster's NATS carries (%" PRId64 " bytes: raise "
		    "max_payload)", op, len,
		    (int64_t)natsConnection_GetMaxPayload(cl_nc));
		return;
	}
	f->c = c;
	f->token = fwd_next_token++;
	snprintf(f->node, sizeof f->node, "%s", node);
	snprintf(subj, sizeof subj, "iso.node.%s.req", node);
	snprintf(reply, sizeof reply, "%s.%" PRIu64, fwd_inbox, f->token);
	if (!fwd_in_list(fwd_waiting, op) && ((f->timer = evtimer_new(
	    fwd_base, fwd_timeout, f)) == NULL || evtimer_add(f->timer, &tv)
	    == -1)) {
		free(buf);
		if (f->timer != NULL)
			event_free(f->timer);
		free(f);
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	snprintf(key, sizeof key, "%s.%" PRIu64, fwd_inbox, sid);
	hdrs[1] = key;
	hdrs[3] = cluster_node();
	hdrs[5] = ports = pk_export(buf, len);
	r = cl_publish_hdr(subj, reply, buf, len, hdrs);
	free(ports);
	if (r == -1) {
		free(buf);
		if (f->timer != NULL)
			event_free(f->timer);
		free(f);
		sv_error(c, EHOSTUNREACH, "cannot reach node \"%s\" now (NATS: "
		    "see the supervisor's log)", node);
		return;
	}
	free(buf);
	f->next = outs;
	outs = f;
	sv_defer(c, fwd_cancel, f);
}

int
fwd_ask(const char *node, const iso_msg *req, int timeout_ms,
    void (*done)(iso_msg *, int, const char *, void *), void *arg)
{
	const struct timeval	 tv = { timeout_ms / 1000,
				    (timeout_ms % 1000) * 1000 };
	struct fwd_out		*f;
	void			*buf;
	size_t			 len;
	char			 subj[CL_SUBJ_MAX], reply[CL_SUBJ_MAX];
	char			 key[CL_SUBJ_MAX];
	const char		*hdrs[] = { "Iso-Session", key, "Iso-From",
				    cluster_node(), NULL };

	if (!cl_node_up(node)) {
		errno = EHOSTUNREACH;
		return (-1);
	}
	if ((f = calloc(1, sizeof *f)) == NULL)
		return (-1);
	if (iso_msg_encode(req, &buf, &len) == -1) {
		free(f);
		return (-1);
	}
	f->done = done;
	f->arg = arg;
	f->sid = fwd_next_sid++;
	f->token = fwd_next_token++;
	snprintf(f->node, sizeof f->node, "%s", node);
	snprintf(subj, sizeof subj, "iso.node.%s.req", node);
	snprintf(reply, sizeof reply, "%s.%" PRIu64, fwd_inbox, f->token);
	snprintf(key, sizeof key, "%s.%" PRIu64, fwd_inbox, f->sid);
	if ((f->timer = evtimer_new(fwd_base, fwd_timeout, f)) == NULL ||
	    evtimer_add(f->timer, &tv) == -1 ||
	    cl_publish_hdr(subj, reply, buf, len, hdrs) == -1) {
		free(buf);
		if (f->timer != NULL)
			event_free(f->timer);
		free(f);
		errno = EHOSTUNREACH;
		return (-1);
	}
	free(buf);
	f->next = outs;
	outs = f;
	return (0);
}

int
fwd_route(struct sv_conn *c, const char *op, const iso_msg *req)
{
	const char	*node = NULL, *target, *at;

	if (iso_msg_unpack(req, "{s:s}", "node", &node) == 0 &&
	    strcmp(node, cluster_node()) != 0) {
		if (!cluster_on()) {
			sv_error(c, ENOENT, "no node \"%.64s\" (not in a "
			    "cluster; this node is \"%.64s\")", node,
			    cluster_node());
			return (1);
		}
		fwd_send(c, op, node, req);
		return (1);
	}
	/* NAME@NODE of a node we know; anything else resolves here. */
	if (cluster_on() && node == NULL &&
	    iso_msg_unpack(req, "{s:s}", "target", &target) == 0 &&
	    (at = strrchr(target, '@')) != NULL && at[1] != '\0' &&
	    strcmp(at + 1, cluster_node()) != 0 && cl_node_up(at + 1)) {
		fwd_send(c, op, at + 1, req);
		return (1);
	}
	return (0);
}

/* ---- the serving side ---- */

static void
fwd_in_free(struct fwd_in *f)
{
	struct fwd_in	**pp;
	struct fwd_reply *r;
	iso_msg		*err;
	void		*buf;
	size_t		 len;

	for (pp = &ins; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	/* Requests still waiting there are answered: ended unanswered. */
	err = f->replies == NULL ? NULL : iso_msg_pack("{s:b s:s s:s}", "ok",
	    0, "errno", "EIO", "error", "the request ended without an "
	    "answer");
	buf = NULL;
	if (err != NULL && iso_msg_encode(err, &buf, &len) == -1)
		buf = NULL;
	while ((r = f->replies) != NULL) {
		f->replies = r->next;
		if (buf != NULL)
			(void)cl_publish(r->subject, NULL, buf, len);
		free(r->subject);
		free(r);
	}
	free(buf);
	iso_msg_free(err);
	if (f->rev != NULL)
		event_free(f->rev);
	if (f->wev != NULL)
		event_free(f->wev);
	if (f->in != NULL)
		evbuffer_free(f->in);
	if (f->out != NULL)
		evbuffer_free(f->out);
	if (f->fd != -1)
		close(f->fd);
	free(f->key);
	free(f);
}

/* Replies from our own server, each to the oldest request waiting. */
static void
fwd_in_read(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_in	 *f = arg;
	struct fwd_reply *r;
	unsigned char	 *p;
	size_t		  len;
	char		 *ports;
	const char	 *hdrs[] = { "Iso-Ports", NULL, NULL };
	int		  n;

	(void)what;
	n = evbuffer_read(f->in, fd, 64 * 1024);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	while (evbuffer_get_length(f->in) >= WIRE_HDR) {
		p = evbuffer_pullup(f->in, WIRE_HDR);
		len = (size_t)p[0] << 24 | (size_t)p[1] << 16 |
		    (size_t)p[2] << 8 | p[3];
		if (evbuffer_get_length(f->in) < WIRE_HDR + len)
			break;
		p = evbuffer_pullup(f->in, (ssize_t)(WIRE_HDR + len));
		if ((r = f->replies) != NULL) {
			hdrs[1] = ports = pk_export(p + WIRE_HDR, len);
			(void)cl_publish_hdr(r->subject, NULL, p + WIRE_HDR, len,
			    hdrs);
			free(ports);
			if ((f->replies = r->next) == NULL)
				f->last = &f->replies;
			free(r->subject);
			free(r);
		}
		evbuffer_drain(f->in, WIRE_HDR + len);
	}
	if (n <= 0)
		fwd_in_free(f);		/* our server ended the connection */
}

static void
fwd_in_write(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_in	*f = arg;

	(void)what;
	if (evbuffer_write(f->out, fd) == -1 && errno != EAGAIN &&
	    errno != EINTR) {
		fwd_in_free(f);
		return;
	}
	if (evbuffer_get_length(f->out) == 0)
		event_del(f->wev);
}

/* A session of key's from node from: made with its first request. */
static struct fwd_in *
fwd_in_new(const char *key, const char *from, const void *req, size_t len)
{
	struct fwd_in	*f;
	int		 sv[2];

	if ((f = calloc(1, sizeof *f)) == NULL)
		return (NULL);
	f->fd = -1;
	f->last = &f->replies;
	snprintf(f->from, sizeof f->from, "%s", from);
	if ((f->key = strdup(key)) == NULL || (f->in = evbuffer_new()) ==
	    NULL || (f->out = evbuffer_new()) == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		goto fail;
	f->fd = sv[1];
	if ((f->rev = event_new(fwd_base, sv[1], EV_READ | EV_PERSIST,
	    fwd_in_read, f)) == NULL || (f->wev = event_new(fwd_base, sv[1],
	    EV_WRITE | EV_PERSIST, fwd_in_write, f)) == NULL ||
	    event_add(f->rev, NULL) == -1) {
		close(sv[0]);
		goto fail;
	}
	f->next = ins;
	ins = f;
	/* The server owns sv[0] from here, with the request in its input;
	   it closes it on failure, which we read as an end. */
	(void)sv_adopt(sv[0], req, len);
	return (f);
fail:
	log_warn("cluster: a request from node %s: %s", from,
	    strerror(errno));
	fwd_in_free(f);
	return (NULL);
}

static void
fwd_on_request(natsMsg *msg, void *arg)
{
	struct fwd_in	 *f;
	struct fwd_reply *r;
	const char	 *reply = natsMsg_GetReply(msg), *key, *from, *ports;
	const void	 *data = natsMsg_GetData(msg);
	size_t		  len = (size_t)natsMsg_GetDataLength(msg);
	unsigned char	  hdr[WIRE_HDR];

	(void)arg;
	if (reply == NULL ||
	    natsMsgHeader_Get(msg, "Iso-Session", &key) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-From", &from) != NATS_OK ||
	    !cluster_node_valid(from) ||
	    (r = calloc(1, sizeof *r)) == NULL) {
		natsev_dispose(msg);
		return;
	}
	if ((r->subject = strdup(reply)) == NULL) {
		free(r);
		natsev_dispose(msg);
		return;
	}
	if (natsMsgHeader_Get(msg, "Iso-Ports", &ports) == NATS_OK)
		(void)pk_import(ports);
	for (f = ins; f != NULL && strcmp(f->key, key) != 0; f = f->next)
		;
	if (f != NULL) {
		/* The session's connection reads it after what came before. */
		wire_frame_hdr(hdr, len);
		if (evbuffer_add(f->out, hdr, sizeof hdr) == -1 ||
		    evbuffer_add(f->out, data, len) == -1 ||
		    event_add(f->wev, NULL) == -1) {
			free(r->subject);
			free(r);
			fwd_in_free(f);
			natsev_dispose(msg);
			return;
		}
	} else if ((f = fwd_in_new(key, from, data, len)) == NULL) {
		free(r->subject);
		free(r);
		natsev_dispose(msg);
		return;
	}
	*f->last = r;
	f->last = &r->next;
	natsev_dispose(msg);
}

/* A requester's client went away: end its session (its op cancelled). */
static void
fwd_on_cancel(natsMsg *msg, void *arg)
{
	struct fwd_in	*f;
	size_t		 len = (size_t)natsMsg_GetDataLength(msg);

	(void)arg;
	for (f = ins; f != NULL; f = f->next)
		if (strlen(f->key) == len &&
		    memcmp(f->key, natsMsg_GetData(msg), len) == 0) {
			/* Its client is gone: no one to answer. */
			while (f->replies != NULL) {
				struct fwd_reply *r = f->replies;

				f->replies = r->next;
				free(r->subject);
				free(r);
			}
			fwd_in_free(f);
			break;
		}
	natsev_dispose(msg);
}

int
fwd_init(struct event_base *base)
{
	char	subj[CL_SUBJ_MAX];

	fwd_base = base;
	if (natsInbox_Create(&fwd_inbox) != NATS_OK)
		return (-1);
	snprintf(subj, sizeof subj, "%s.*", fwd_inbox);
	if (cl_subscribe(subj, NULL, fwd_on_reply, NULL) == -1)
		return (-1);
	snprintf(subj, sizeof subj, "iso.node.%s.req", cluster_node());
	if (cl_subscribe(subj, NULL, fwd_on_request, NULL) == -1)
		return (-1);
	snprintf(subj, sizeof subj, "iso.node.%s.cancel", cluster_node());
	return (cl_subscribe(subj, NULL, fwd_on_cancel, NULL));
}

void
fwd_free(void)
{
	struct sv_conn	*c;

	while (outs != NULL) {
		if (outs->done != NULL) {
			fwd_ask_end(outs, NULL, ECANCELED, "the supervisor is "
			    "stopping");
			continue;
		}
		c = outs->c;
		fwd_out_free(outs);
		sv_error(c, ECANCELED, "the supervisor is stopping");
	}
	while (ins != NULL)
		fwd_in_free(ins);
	while (sessions != NULL) {
		struct fwd_sess	*x = sessions;

		sessions = x->next;
		free(x);
	}
	natsInbox_Destroy(fwd_inbox);
	fwd_inbox = NULL;
}
