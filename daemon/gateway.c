/*
 * gateway.c: SendPorts of other nodes, usable here. A SendPort is the
 * same value on every node (isolate ids are random, 64 bits, never
 * reused), so it needs no rewriting: when one of another node's comes
 * in (a message, a reply; portkey.c's Iso-Ports), we serve a proxy, a
 * socket listening under the isolate's name (rtdir_id_listen), and local
 * senders reach it as they reach any isolate. Frames read from a
 * proxy's senders go out, in the order read, as one stream to the
 * isolate's node (iso.node.NODE.port, inbound.c there), each with a
 * sequence number; the frames of one read go together, as one NATS
 * message (a batch) of at most GW_BATCH bytes, so that a stream of small
 * messages costs NATS a message per read, not per frame. Batches are
 * kept until that node acknowledges their frames: a window of GW_WINDOW
 * bytes, beyond which we stop reading the senders (their queues fill,
 * their sends say ENOBUFS). What is not acknowledged within GW_RESEND_MS
 * goes again (the receiver drops what it has had). When the isolate is
 * gone, its node is lost, or a key is refused, each sender is told with a
 * refusal frame (what was lost, and why), the socket is closed, and
 * their next send says ECONNREFUSED.
 */
#include <sys/socket.h>
#include <sys/random.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "accept.h"
#include "cluster.h"
#include "rtdir.h"
#include "supproto.h"
#include "wire.h"

#define GW_WINDOW	(1 << 20)	/* bytes out unacknowledged */
#define GW_RESEND_MS	1000	/* no acknowledgement this long: again */
#define GW_ASKED_MS	200	/* asked again sooner: once, then wait */
#define GW_TICK_MS	250
#define GW_READ_MAX	(256 * 1024)	/* bytes read per turn per sender */
#define GW_BATCH	(64 * 1024)	/* bytes of frames per NATS message */
#define GW_BATCH_PORTS	8		/* ports (keys) per batch */
#define GW_EXPORTS	(16 * 1024)	/* Iso-Ports bytes per batch */
#define GW_HEADROOM	(GW_EXPORTS + 2048)	/* NATS headers of a batch */

struct gw_key {
	uint32_t	 port;
	char		 key[PK_HEX + 1];
};

/* Frames sent together and not all acknowledged yet: as on the wire,
   each its length and payload. */
struct gw_batch {
	uint64_t	 seq, last;	/* the first frame's and the last's */
	uint32_t	 ports[GW_BATCH_PORTS];	/* of its frames */
	size_t		 nports;
	char		 keys[GW_BATCH_PORTS * (12 + PK_HEX)];	/* Iso-Keys */
	char		*exports;	/* Iso-Ports, NULL: none */
	size_t		 exports_len;	/* its length */
	size_t		 exports_last;	/* where its last item starts */
	size_t		 len, cap;
	unsigned char	*data;
	struct gw_batch	*next;
};

struct proxy;

struct gw_conn {
	struct proxy	*px;
	int		 fd;
	int		 fds;		/* descriptors came (closed): look */
	struct evf_fds	 q;		/* shared bytes' memfds: evf_inline */
	struct event	*ev;
	struct evbuffer	*in;
	struct gw_conn	*next;
};

struct proxy {
	uint64_t	 iso;
	uint32_t	 pid;
	char		 node[65];
	struct gw_key	*keys;
	size_t		 nkeys;
	int		 lfd;
	struct acc	*acc;
	struct gw_conn	*conns;
	char		 stream[17];
	uint64_t	 next_seq;	/* the next frame's */
	uint64_t	 acked;		/* acknowledged up to */
	struct gw_batch	*head, **tail;
	struct gw_batch	*open;		/* being filled by a read */
	size_t		 out;		/* bytes unacknowledged */
	int64_t		 sent_ms;	/* last progress or resend */
	int64_t		 resent_ms;	/* last resend */
	int		 held;		/* window full: senders not read */
	struct proxy	*next;
};

static struct event_base	*gw_base;
static struct event		*gw_timer;
static struct proxy		*proxies;
static size_t			 gw_max_conns = ACC_MAX_DEFAULT;

static int64_t
gw_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static struct proxy *
gw_find(uint64_t iso)
{
	struct proxy	*px;

	for (px = proxies; px != NULL && px->iso != iso; px = px->next)
		;
	return (px);
}

static const char *
gw_key(const struct proxy *px, uint32_t port)
{
	size_t	i;

	for (i = 0; i < px->nkeys; i++)
		if (px->keys[i].port == port)
			return (px->keys[i].key);
	return (NULL);
}

int
gw_port_key(uint64_t iso, uint32_t port, const char **node,
    const char **key)
{
	struct proxy	*px;

	if ((px = gw_find(iso)) == NULL || (*key = gw_key(px, port)) == NULL)
		return (-1);
	*node = px->node;
	return (0);
}

/* Publish b of px's stream (again, after a loss). */
static void
gw_publish(struct proxy *px, const struct gw_batch *b)
{
	natsMsg		*nm = NULL;
	natsStatus	 st;
	char		 subj[CL_SUBJ_MAX], seq[24], base[24], to[17], sum[9];

	if (!cl_connected())
		return;			/* the resend timer sends it */
	snprintf(subj, sizeof subj, "iso.node.%s.port", px->node);
	snprintf(seq, sizeof seq, "%" PRIu64, b->seq);
	snprintf(base, sizeof base, "%" PRIu64, px->acked);
	snprintf(to, sizeof to, "%016" PRIx64, px->iso);
	pk_sum(px->stream, b->seq, to, b->keys, b->data, b->len, sum);
	if ((st = natsMsg_Create(&nm, subj, NULL, (const char *)b->data,
	    (int)b->len)) == NATS_OK &&
	    (st = natsMsgHeader_Set(nm, "Iso-From", cluster_node())) ==
	    NATS_OK &&
	    (st = natsMsgHeader_Set(nm, "Iso-Stream", px->stream)) == NATS_OK &&
	    (st = natsMsgHeader_Set(nm, "Iso-Seq", seq)) == NATS_OK &&
	    (st = natsMsgHeader_Set(nm, "Iso-Base", base)) == NATS_OK &&
	    (st = natsMsgHeader_Set(nm, "Iso-To", to)) == NATS_OK &&
	    (st = natsMsgHeader_Set(nm, "Iso-Keys", b->keys)) == NATS_OK &&
	    (st = natsMsgHeader_Set(nm, "Iso-Sum", sum)) == NATS_OK &&
	    (b->exports == NULL || (st = natsMsgHeader_Set(nm, "Iso-Ports",
	    b->exports)) == NATS_OK))
		st = natsConnection_PublishMsg(cl_nc, nm);
	natsev_dispose(nm);
	/* Not sent is as lost on the way: the resend timer sends it. */
	if (st != NATS_OK && st != NATS_CONNECTION_CLOSED)
		log_warn("cluster: to isolate %016" PRIx64 " on %s: %s",
		    px->iso, px->node, natsStatus_GetText(st));
}

static void	gw_conn_read(evutil_socket_t, short, void *);

/*
 * Send again all that is not acknowledged, from the oldest: the receiver
 * dropped everything after the frame it lacks. The window bounds it (1
 * MiB), and a resend at most every GW_ASKED_MS keeps a burst of asks
 * from multiplying it.
 */
static void
gw_resend(struct proxy *px)
{
	struct gw_batch	*b;

	for (b = px->head; b != NULL; b = b->next)
		gw_publish(px, b);
	px->sent_ms = px->resent_ms = gw_now_ms();
}

static void
gw_conn_free(struct gw_conn *c)
{
	struct gw_conn	**cp;

	for (cp = &c->px->conns; *cp != NULL; cp = &(*cp)->next)
		if (*cp == c) {
			*cp = c->next;
			break;
		}
	event_free(c->ev);
	evbuffer_free(c->in);
	evf_fds_free(&c->q);
	close(c->fd);
	acc_closed(c->px->acc);
	free(c);
}

/* The window has room again: read the senders. */
static void
gw_unhold(struct proxy *px)
{
	struct gw_conn	*c;

	if (!px->held || px->out > GW_WINDOW / 2)
		return;
	px->held = 0;
	acc_resume(px->acc);
	for (c = px->conns; c != NULL; c = c->next) {
		event_add(c->ev, NULL);
		/* What was read before the hold is taken now. */
		event_active(c->ev, EV_READ, 0);
	}
}

static void
gw_hold(struct proxy *px)
{
	struct gw_conn	*c;

	px->held = 1;
	acc_pause(px->acc);
	for (c = px->conns; c != NULL; c = c->next)
		event_del(c->ev);
}

static void
gw_batch_free(struct gw_batch *b)
{
	free(b->exports);
	free(b->data);
	free(b);
}

/* Frames sent and not acknowledged. */
static uint64_t
gw_unacked(const struct proxy *px)
{
	return (px->next_seq - 1 - px->acked);
}

/* px's open batch is complete: keep it until acknowledged, and send it. */
static void
gw_close(struct proxy *px)
{
	struct gw_batch	*b = px->open;
	size_t		 i, n = 0;

	if (b == NULL)
		return;
	px->open = NULL;
	for (i = 0; i < b->nports; i++)
		n += (size_t)snprintf(b->keys + n, sizeof b->keys - n,
		    "%s%" PRIu32 ":%s", i > 0 ? "," : "", b->ports[i],
		    gw_key(px, b->ports[i]));
	if (px->head == NULL)
		px->sent_ms = gw_now_ms();
	*px->tail = b;
	px->tail = &b->next;
	px->out += b->len;
	gw_publish(px, b);
}

/* Out of memory for a frame of c's: c's sender is told; -1. */
static int
gw_nomem(struct gw_conn *c)
{
	char	text[200];

	snprintf(text, sizeof text, "the supervisor is out of memory: a "
	    "message to isolate %016" PRIx64 " on node %s and what followed "
	    "it on this connection were not sent", c->px->iso, c->px->node);
	log_warn("cluster: %s", text);
	acc_tell(c->fd, ACC_ISOLATE, ENOMEM, text);
	return (-1);
}

/* Append a frame's Iso-Ports items a to b's, unless they are the last
   ones added (a stream of requests carries the same reply port). */
static int
gw_exports_add(struct gw_batch *b, const char *a)
{
	size_t	 alen = strlen(a), n = b->exports_len;
	char	*grown;

	if (b->exports != NULL && n - b->exports_last == alen &&
	    memcmp(b->exports + b->exports_last, a, alen) == 0)
		return (0);
	if ((grown = realloc(b->exports, n + 1 + alen + 1)) == NULL)
		return (-1);
	if (n > 0)
		grown[n++] = ',';
	memcpy(grown + n, a, alen + 1);
	b->exports = grown;
	b->exports_last = n;
	b->exports_len = n + alen;
	return (0);
}

/*
 * One frame from sender c (its header and payload, len bytes in all):
 * into px's open batch, which goes out at the end of the read, or before
 * when it is full. 0; or -1 when it was not taken and c must end: the
 * sender was told why (a port whose key never came here: a SendPort
 * made up, or copied by hand from another node), or we are out of
 * memory.
 */
static int
gw_frame(struct gw_conn *c, const unsigned char *p, size_t len)
{
	struct proxy	*px = c->px;
	struct gw_batch	*b;
	uint32_t	 port;
	size_t		 off, i, cap;
	char		*ex = NULL, text[300];

	if (pk_frame_port(p + WIRE_HDR, len - WIRE_HDR, &port, &off) == -1)
		return (0);		/* not a port number: as a bad frame */
	if (port == 0)
		return (0);		/* control frames stay on this node */
	if (gw_key(px, port) == NULL) {
		snprintf(text, sizeof text, "port %" PRIu32 " of isolate %016"
		    PRIx64 " on node %s: no SendPort of it came to this node "
		    "in a message, so it cannot be reached from here; this "
		    "message and what followed it on this connection were not "
		    "sent", port, px->iso, px->node);
		log_warn("cluster: %s", text);
		acc_tell(c->fd, ACC_ISOLATE, EACCES, text);
		return (-1);
	}
	off += WIRE_HDR;
	/* A SendPort is fixext 16 of type 1: none without that byte. */
	if (memchr(p + off, 0xd8, len - off) != NULL &&
	    (ex = pk_export(p + off, len - off)) != NULL && ex[0] == '\0') {
		free(ex);
		ex = NULL;
	}
	if ((b = px->open) != NULL) {
		for (i = 0; i < b->nports && b->ports[i] != port; i++)
			;
		if (b->len + len > GW_BATCH ||
		    (i == b->nports && i == GW_BATCH_PORTS) ||
		    (ex != NULL && b->exports_len + strlen(ex) > GW_EXPORTS))
			gw_close(px);
	}
	if ((b = px->open) == NULL) {
		cap = len > GW_BATCH ? len : GW_BATCH;
		if ((b = calloc(1, sizeof *b)) == NULL ||
		    (b->data = malloc(cap)) == NULL) {
			free(b);
			free(ex);
			return (gw_nomem(c));
		}
		b->cap = cap;
		b->seq = px->next_seq;
		px->open = b;
	}
	for (i = 0; i < b->nports && b->ports[i] != port; i++)
		;
	if (i == b->nports)
		b->ports[b->nports++] = port;
	if (ex != NULL && gw_exports_add(b, ex) == -1) {
		free(ex);
		return (gw_nomem(c));
	}
	free(ex);
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->last = px->next_seq++;
	return (0);
}

/* Is a frame of len bytes more than NATS carries? Then c's sender is
   told, once, and c ends: 1. */
static int
gw_too_big(struct gw_conn *c, size_t len)
{
	struct proxy	*px = c->px;
	char		 text[400];

	if (len + GW_HEADROOM <= (size_t)natsConnection_GetMaxPayload(cl_nc) ||
	    !cl_connected())
		return (0);
	snprintf(text, sizeof text, "a message of %zu bytes for isolate %016"
	    PRIx64 " on node %s is over what the cluster's NATS carries (%"
	    PRId64 " bytes: raise max_payload); it and what followed it on "
	    "this connection were not sent", len, px->iso, px->node,
	    (int64_t)natsConnection_GetMaxPayload(cl_nc));
	log_warn("cluster: %s", text);
	acc_tell(c->fd, ACC_ISOLATE, EMSGSIZE, text);
	return (1);
}

/*
 * Is the frame payload p[0..len) of c's, read after descriptors came, one
 * that refers to descriptors? They cannot go to another machine: its
 * sender is told (EXDEV), and c ends: 1. A frame that is not a valid
 * message goes on as any other (the receiver drops a bad frame).
 */
static int
gw_refuse_fds(struct gw_conn *c, const unsigned char *p, size_t len)
{
	struct proxy	*px = c->px;
	uint32_t	 port;
	size_t		 off, n;
	char		 text[300];

	if (pk_frame_port(p, len, &port, &off) == -1 ||
	    wire_count_fds(p + off, len - off, &n, NULL) == -1 || n == 0)
		return (0);
	snprintf(text, sizeof text, "a message for isolate %016" PRIx64 " on "
	    "node %s carries descriptors, which cannot go to another machine; "
	    "it and what followed it on this connection were not sent",
	    px->iso, px->node);
	log_warn("cluster: %s", text);
	acc_tell(c->fd, ACC_ISOLATE, EXDEV, text);
	return (1);
}

static void
gw_conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct gw_conn	*c = arg;
	struct proxy	*px = c->px;
	unsigned char	*p;
	size_t		 len, avail, off = 0;
	int		 n, r, fds = 0;

	if (!(what & EV_READ) || px->held)
		return;
	n = evf_read_fds(c->in, fd, GW_READ_MAX, &c->q, &fds);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		n = 1;
	/* Descriptors came: the frame that refers to them is this read's
	   or a later one's; every frame is looked at until it is found.
	   Large bytes that came as memfds go on as plain bytes. */
	if (fds > 0)
		c->fds = 1;
	if ((r = evf_inline(c->in, &c->q)) == 1)
		c->fds = 1;
	else if (r == -1) {
		log_warn("cluster: a bad frame for isolate %016" PRIx64 " (%s); "
		    "closed that connection", px->iso, iso_error());
		gw_conn_free(c);
		return;
	}
	avail = evbuffer_get_length(c->in);
	p = evbuffer_pullup(c->in, -1);
	while (avail - off >= WIRE_HDR) {
		if (px->out + (px->open != NULL ? px->open->len : 0) >=
		    GW_WINDOW) {
			gw_close(px);
			gw_hold(px);
			evbuffer_drain(c->in, off);
			return;
		}
		if (wire_frame_len(p + off, &len) == -1) {
			log_warn("cluster: a bad frame for isolate %016" PRIx64
			    "; closed that connection", px->iso);
			n = 0;
			break;
		}
		if (gw_too_big(c, len)) {
			n = 0;
			break;
		}
		if (avail - off - WIRE_HDR < len)
			break;
		if ((c->fds && gw_refuse_fds(c, p + off + WIRE_HDR, len)) ||
		    gw_frame(c, p + off, WIRE_HDR + len) == -1) {
			n = 0;
			break;
		}
		off += WIRE_HDR + len;
	}
	gw_close(px);
	if (n <= 0)
		gw_conn_free(c);
	else
		evbuffer_drain(c->in, off);
}

static void
gw_acc_log(const char *line, void *arg)
{
	(void)arg;
	log_warn("%s", line);
}

static void
gw_take(int fd, pid_t pid, void *arg)
{
	struct proxy	*px = arg;
	struct gw_conn	*c;

	(void)pid;
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->in = evbuffer_new()) == NULL ||
	    (c->ev = event_new(gw_base, fd, EV_READ | EV_PERSIST,
	    gw_conn_read, c)) == NULL) {
		if (c != NULL && c->in != NULL)
			evbuffer_free(c->in);
		free(c);
		close(fd);
		acc_closed(px->acc);
		return;
	}
	c->px = px;
	c->fd = fd;
	c->next = px->conns;
	px->conns = c;
	if (!px->held)
		event_add(c->ev, NULL);
}

static void
gw_free_batches(struct proxy *px)
{
	struct gw_batch	*b;

	while ((b = px->head) != NULL) {
		px->head = b->next;
		gw_batch_free(b);
	}
	if (px->open != NULL)
		gw_batch_free(px->open);
	px->open = NULL;
	px->tail = &px->head;
	px->out = 0;
}

static void
gw_proxy_free(struct proxy *px)
{
	struct proxy	**pp;

	for (pp = &proxies; *pp != NULL; pp = &(*pp)->next)
		if (*pp == px) {
			*pp = px->next;
			break;
		}
	while (px->conns != NULL)
		gw_conn_free(px->conns);
	acc_free(px->acc);
	if (px->lfd != -1)
		close(px->lfd);
	gw_free_batches(px);
	free(px->keys);
	free(px);
}

/* Tell px's senders it is gone (e, why), and forget it. */
static void
gw_gone(struct proxy *px, int e, const char *why)
{
	struct gw_conn	*c;
	char		 text[400];

	snprintf(text, sizeof text, "isolate %016" PRIx64 " on node %s %s; "
	    "%" PRIu64 " message%s sent to it not delivered", px->iso,
	    px->node, why, gw_unacked(px), gw_unacked(px) == 1 ? "" : "s");
	log_info("cluster: %s", text);
	for (c = px->conns; c != NULL; c = c->next)
		acc_tell(c->fd, ACC_ISOLATE, e, text);
	gw_proxy_free(px);
}

int
gw_proxy_add(uint64_t iso, uint32_t pid, const char *node, uint32_t port,
    const char *key)
{
	static const struct acc_ops ops = { gw_take, gw_acc_log };
	struct proxy	*px;
	struct gw_key	*grown;
	char		 name[64];
	size_t		 i;
	int		 rc;

	if ((px = gw_find(iso)) == NULL) {
		if ((px = calloc(1, sizeof *px)) == NULL)
			return (-1);
		px->iso = iso;
		px->pid = pid;
		px->lfd = -1;
		px->next_seq = 1;
		px->tail = &px->head;
		snprintf(px->node, sizeof px->node, "%s", node);
		if (getrandom(name, 8, 0) != 8)
			memcpy(name, &px, sizeof px < 8 ? sizeof px : 8);
		for (i = 0; i < 8; i++)
			snprintf(px->stream + 2 * i, 3, "%02x",
			    (unsigned char)name[i]);
		snprintf(name, sizeof name, "isolate %016" PRIx64 " of node %s",
		    iso, node);
		if ((px->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0)) == -1 ||
		    rtdir_id_listen(px->lfd, iso, SOMAXCONN) == -1 ||
		    (px->acc = acc_new(gw_base, px->lfd, ACC_ISOLATE,
		    &gw_max_conns, name, &ops, px)) == NULL) {
			/* Taken: an isolate of this node by that id is not
			   ours to stand in for. */
			rc = errno == EADDRINUSE ? 0 : -1;
			if (rc == -1)
				log_warn("cluster: cannot serve a proxy for "
				    "%s: %s", name, strerror(errno));
			if (px->lfd != -1)
				close(px->lfd);
			free(px);
			return (rc);
		}
		px->next = proxies;
		proxies = px;
	}
	if (strcmp(px->node, node) != 0)
		return (0);		/* an id claimed by two nodes: the first */
	for (i = 0; i < px->nkeys; i++)
		if (px->keys[i].port == port)
			return (0);
	if ((grown = realloc(px->keys, (px->nkeys + 1) * sizeof *grown)) ==
	    NULL)
		return (-1);
	px->keys = grown;
	px->keys[px->nkeys].port = port;
	snprintf(px->keys[px->nkeys].key, sizeof px->keys[0].key, "%s", key);
	px->nkeys++;
	return (0);
}

/* An acknowledgement from a node that our frames reached. */
static void
gw_on_ack(natsMsg *msg, void *arg)
{
	struct proxy	*px;
	struct gw_batch	*b;
	iso_msg		*a;
	const char	*stream, *ename = NULL, *why = NULL;
	uint64_t	 upto = 0;
	int		 resend = 0;

	(void)arg;
	a = iso_msg_decode(natsMsg_GetData(msg),
	    (size_t)natsMsg_GetDataLength(msg));
	natsev_dispose(msg);
	if (a == NULL || iso_msg_unpack(a, "{s:s s:U s?b s?s s?s}", "stream",
	    &stream, "upto", &upto, "resend", &resend, "gone", &ename,
	    "error", &why) == -1) {
		iso_msg_free(a);
		return;
	}
	for (px = proxies; px != NULL && strcmp(px->stream, stream) != 0;
	    px = px->next)
		;
	if (px == NULL) {
		iso_msg_free(a);
		return;
	}
	cl_node_heard(px->node);
	if (upto >= px->next_seq)
		upto = px->acked;	/* never sent: not believed */
	while ((b = px->head) != NULL && b->last <= upto) {
		px->head = b->next;
		px->out -= b->len;
		gw_batch_free(b);
	}
	if (px->head == NULL)
		px->tail = &px->head;
	if (upto > px->acked) {
		px->acked = upto;
		px->sent_ms = gw_now_ms();
	}
	if (ename != NULL) {
		gw_gone(px, sup_errno_value(ename), why != NULL ? why :
		    "is gone");
		iso_msg_free(a);
		return;
	}
	/* Each frame after a gap asks; the first answer serves them all. */
	if (resend && gw_now_ms() - px->resent_ms >= GW_ASKED_MS)
		gw_resend(px);
	gw_unhold(px);
	iso_msg_free(a);
}

/* Send again what waits too long for its acknowledgement. */
static void
gw_tick(evutil_socket_t fd, short what, void *arg)
{
	struct proxy	*px;
	int64_t		 now = gw_now_ms();

	(void)fd;
	(void)what;
	(void)arg;
	if (!cl_connected())
		return;
	for (px = proxies; px != NULL; px = px->next) {
		if (px->head != NULL && now - px->sent_ms >= GW_RESEND_MS)
			gw_resend(px);
	}
}

void
gw_node_lost(const char *node)
{
	struct proxy	*px, *next;

	for (px = proxies; px != NULL; px = next) {
		next = px->next;
		if (strcmp(px->node, node) == 0)
			gw_gone(px, ECONNREFUSED, "is out of reach (its node "
			    "was lost)");
	}
}

int
gw_init(struct event_base *base)
{
	const struct timeval	tv = { 0, GW_TICK_MS * 1000 };
	char			subj[CL_SUBJ_MAX];

	gw_base = base;
	snprintf(subj, sizeof subj, "iso.node.%s.ack", cluster_node());
	if (cl_subscribe(subj, NULL, gw_on_ack, NULL) == -1)
		return (-1);
	if ((gw_timer = event_new(base, -1, EV_PERSIST, gw_tick, NULL)) ==
	    NULL || event_add(gw_timer, &tv) == -1)
		return (-1);
	return (0);
}

void
gw_free(void)
{
	while (proxies != NULL)
		gw_proxy_free(proxies);
	if (gw_timer != NULL)
		event_free(gw_timer);
	gw_timer = NULL;
}
