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
 * their next send says ECONNREFUSED. An isolate that ended while nothing
 * was sent to it is found by a probe: a proxy idle for GW_PROBE_MS sends
 * an empty batch, which the isolate's node answers with "gone" if
 * nobody listens as that isolate any more; the proxy then ends (else
 * the proxies of every short-lived isolate ever heard of would stay).
 *
 * A killed supervisor loses none of it: a sender's socket is only peeked
 * at (SO_PEEK_OFF), and the bytes of its whole frames are taken out of it
 * once they are in the proxy's log (gwlog.c), before they are published;
 * the sockets are held by the keeper (fdhold.c). The next supervisor
 * takes them back, sends again what was not acknowledged, and reads on
 * from the first byte not taken (gw_restore). A clean stop ends the
 * proxies and tells their senders.
 */
#include <sys/socket.h>
#include <sys/random.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
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
#define GW_UNHEARD_MS	5000	/* a taken-back proxy's node, connected */
#define GW_PROBE_MS	30000	/* idle this long: is its isolate there? */
#define GW_READ_MAX	(256 * 1024)	/* bytes read per turn per sender */
#define GW_BATCH	(64 * 1024)	/* bytes of frames per NATS message */
#define GW_BATCH_PORTS	8		/* ports (keys) per batch */
#define GW_EXPORTS	(16 * 1024)	/* Iso-Ports bytes per batch */
#define GW_HEADROOM	(GW_EXPORTS + 2048)	/* NATS headers of a batch */
#define GW_LOG_COMPACT	(4 << 20)	/* a log this big is written anew */
#define GW_PART		(64 * 1024)	/* a frame's start this big is taken
					   out of its socket before it is whole */

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
	uint64_t	 id;		/* its name at the keeper */
	int		 peek;		/* in: peeked, taken once logged */
	size_t		 hold;		/* in's first bytes already taken (a
					   "part" in the log) */
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
	struct gw_batch	*pend;		/* the first not logged and sent */
	struct gw_batch	*open;		/* being filled by a read */
	struct gwlog	*log;		/* NULL: none (logged why) */
	size_t		 out;		/* bytes unacknowledged */
	int64_t		 sent_ms;	/* last progress or resend */
	int64_t		 resent_ms;	/* last resend */
	int64_t		 probed_ms;	/* made, or last probed */
	int		 held;		/* window full: senders not read */
	int		 restored;	/* its node not yet heard of since */
	struct proxy	*next;
};

static struct event_base	*gw_base;
static struct event		*gw_timer;
static struct proxy		*proxies;
static size_t			 gw_max_conns = ACC_MAX_DEFAULT;
static uint64_t			 gw_conn_ids;	/* the last given */

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
	px->sent_ms = px->resent_ms = cl_now_ms();
}

/* The keeper's name of a proxy's listening socket ('L') or of one of its
   senders' connections ('C'). */
static void
gw_keeper_name(char kind, uint64_t iso, uint64_t id, char name[FH_NAME + 1])
{
	if (kind == 'L')
		snprintf(name, FH_NAME + 1, "L%016" PRIx64, iso);
	else
		snprintf(name, FH_NAME + 1, "C%016" PRIx64 ".%016" PRIx64, iso,
		    id);
}

static void
gw_keeper_put(char kind, uint64_t iso, uint64_t id, int fd)
{
	char	name[FH_NAME + 1];

	gw_keeper_name(kind, iso, id, name);
	fh_put(name, fd);
}

static void
gw_keeper_drop(char kind, uint64_t iso, uint64_t id)
{
	char	name[FH_NAME + 1];

	gw_keeper_name(kind, iso, id, name);
	fh_drop(name);
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
	gw_keeper_drop('C', c->px->iso, c->id);
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
		px->sent_ms = cl_now_ms();
	*px->tail = b;
	px->tail = &b->next;
	px->out += b->len;
	if (px->pend == NULL)
		px->pend = b;
}

/*
 * Take n bytes out of c's socket, which we had only peeked at: the frames
 * they make up are in the log. 0, or -1 (the connection is bad).
 */
static int
gw_take_bytes(struct gw_conn *c, size_t n)
{
	static char	 buf[64 * 1024];
	int		 fdv[WIRE_FDS_MAX];
	size_t		 k, i, want;
	ssize_t		 r;
	/* For tests: killed with half of them taken. */
	int		 half = n > 1 && cl_fault_armed("gateway-half-taken");

	while (n > 0) {
		want = n < sizeof buf ? n : sizeof buf;
		if (half && want > n / 2)
			want = n / 2;
		do
			r = frame_recvmsg(c->fd, buf, want, fdv, &k);
		while (r == -1 && errno == EINTR);
		if (r <= 0)
			return (-1);
		/* The peek gave us their duplicates already. */
		for (i = 0; i < k; i++)
			close(fdv[i]);
		n -= (size_t)r;
		if (half)
			cl_fault("gateway-half-taken");
	}
	return (0);
}

/*
 * The end of a read of sender c, whose first off bytes were whole frames
 * (then a frame not whole, if cut): the batches it closed into the log,
 * in one write with the start of a cut frame too big to wait in the
 * socket (its sender could never finish it);
 * then what that covers taken out of c's socket, and the batches
 * published. Logged first: a batch published and then lost with a killed
 * supervisor would have its numbers given again to other frames, which
 * the receiver would drop as had. -1: c is bad.
 */
static int
gw_commit(struct proxy *px, struct gw_conn *c, size_t off, int cut)
{
	struct gw_batch	*b;
	size_t		 len = evbuffer_get_length(c->in), hold, took;
	int		 rc = 0, part;

	gw_close(px);
	/* What stays taken after off, and what is taken now. */
	hold = c->hold > off ? c->hold - off : 0;
	if (cut && c->peek && len - off >= GW_PART)
		hold = len - off;
	took = off + hold - c->hold;
	part = hold != c->hold || (off > 0 && c->hold > 0);
	if (px->log != NULL && (px->pend != NULL || part)) {
		for (b = px->pend; b != NULL; b = b->next)
			(void)gwl_batch(px->log, b->seq, b->last, b->keys,
			    b->exports, b->data, b->len);
		if (part)
			(void)gwl_part(px->log, c->id, evbuffer_pullup(c->in,
			    -1) + off, hold);
	}
	if (took > 0 && c->peek)
		gwl_taking(px->iso, c->id, px->log != NULL ?
		    gwl_size(px->log) : 0, px->log != NULL ?
		    gwl_size(px->log) + gwl_pending(px->log) : 0,
		    len - c->hold, took);
	if (px->log != NULL)
		(void)gwl_commit(px->log);
	if (took > 0 && c->peek) {
		cl_fault("gateway-logged");
		rc = gw_take_bytes(c, took);
		cl_fault("gateway-taken");
		gwl_taken();
	}
	evbuffer_drain(c->in, off);
	c->hold = hold;
	for (b = px->pend; b != NULL; b = b->next)
		gw_publish(px, b);
	px->pend = NULL;
	return (rc);
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

/*
 * Frame p[0..WIRE_HDR + len) of c's, which may refer to descriptors
 * (some came on c): *frame and *flen are what goes on, p itself or, for
 * a frame whose descriptors are all shared bytes, that frame made plain
 * in tmp. 0; 1 when it refers to other descriptors (its sender told,
 * EXDEV: c ends); -1 when it is bad (c ends).
 */
static int
gw_plain(struct gw_conn *c, const unsigned char *p, size_t len,
    struct evbuffer *tmp, const unsigned char **frame, size_t *flen)
{
	uint32_t	port;
	size_t		off, n, shared;

	*frame = p;
	*flen = WIRE_HDR + len;
	if (pk_frame_port(p + WIRE_HDR, len, &port, &off) == -1 ||
	    wire_count_fds(p + WIRE_HDR + off, len - off, &n, &shared) == -1 ||
	    n == 0)
		return (0);	/* a bad one goes on: the receiver drops it */
	if (n != shared)
		return (gw_refuse_fds(c, p + WIRE_HDR, len));
	evbuffer_drain(tmp, evbuffer_get_length(tmp));
	if (evf_plain(tmp, p + WIRE_HDR, len, &c->q) == -1)
		return (-1);
	*flen = evbuffer_get_length(tmp);
	*frame = evbuffer_pullup(tmp, -1);
	return (0);
}

static void
gw_conn_read(evutil_socket_t fd, short what, void *arg)
{
	static struct evbuffer	*tmp;
	struct gw_conn		*c = arg;
	struct proxy		*px = c->px;
	const unsigned char	*frame;
	unsigned char		*p;
	size_t			 len, flen, avail, off = 0, got = 0, had;
	int			 n, r, fds = 0, cut = 0;

	if (!(what & EV_READ) || px->held)
		return;
	if (tmp == NULL && (tmp = evbuffer_new()) == NULL)
		return;
	/* Edge-triggered (what was peeked stays readable): read until
	   the socket has no more, or GW_READ_MAX and again next turn. A
	   read ends early at a message that carries descriptors, else only
	   when the socket had no more. */
	do {
		had = c->q.n + (size_t)fds;
		n = evf_recv_fds(c->in, fd, GW_READ_MAX - got, c->peek ?
		    MSG_PEEK : 0, &c->q, &fds);
	} while (c->peek && n > 0 && (got += (size_t)n) < GW_READ_MAX &&
	    c->q.n + (size_t)fds > had);
	if (c->peek && got >= GW_READ_MAX)
		event_active(c->ev, EV_READ, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		n = 1;
	/* Descriptors came: the frame that refers to them is this read's
	   or a later one's; every frame is looked at until it is found.
	   Large bytes that came as memfds go on as plain bytes. */
	if (fds > 0 || c->q.n > 0)
		c->fds = 1;
	avail = evbuffer_get_length(c->in);
	p = evbuffer_pullup(c->in, -1);
	while (avail - off >= WIRE_HDR) {
		if (px->out + (px->open != NULL ? px->open->len : 0) >=
		    GW_WINDOW) {
			if (gw_commit(px, c, off, 0) == -1)
				gw_conn_free(c);
			gw_hold(px);
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
		if (avail - off - WIRE_HDR < len) {
			cut = 1;
			break;
		}
		frame = p + off;
		flen = WIRE_HDR + len;
		if (c->fds && (r = gw_plain(c, p + off, len, tmp, &frame,
		    &flen)) != 0) {
			if (r == -1)
				log_warn("cluster: a bad frame for isolate "
				    "%016" PRIx64 " (%s); closed that "
				    "connection", px->iso, iso_error());
			n = 0;
			break;
		}
		if (gw_frame(c, frame, flen) == -1) {
			n = 0;
			break;
		}
		off += WIRE_HDR + len;
	}
	if (gw_commit(px, c, off, cut) == -1 || n <= 0)
		gw_conn_free(c);
}

static void
gw_acc_log(const char *line, void *arg)
{
	(void)arg;
	log_warn("%s", line);
}

/* A sender's connection fd, named id at the keeper (put: told now).
   The connection, or NULL (fd closed). */
static struct gw_conn *
gw_conn_add(struct proxy *px, int fd, uint64_t id, int put)
{
	static int	 gw_nopeek_said;
	struct gw_conn	*c;
	int		 zero = 0, peek;
	socklen_t	 zlen = sizeof zero;

	/* Peeked at, so that what is not yet in the log stays in the
	   socket; a connection kept by the keeper keeps its offset until
	   gw_conn_resume has looked at it. */
	peek = put ? setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero,
	    sizeof zero) == 0 : getsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero,
	    &zlen) == 0;
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->in = evbuffer_new()) == NULL ||
	    (c->ev = event_new(gw_base, fd, EV_READ | EV_PERSIST |
	    (peek ? EV_ET : 0), gw_conn_read, c)) == NULL) {
		if (c != NULL && c->in != NULL)
			evbuffer_free(c->in);
		free(c);
		close(fd);
		acc_closed(px->acc);
		return (NULL);
	}
	c->px = px;
	c->fd = fd;
	c->id = id;
	c->next = px->conns;
	px->conns = c;
	c->peek = peek;
	if (!c->peek && !gw_nopeek_said) {
		gw_nopeek_said = 1;
		log_warn("cluster: this kernel cannot peek at Unix sockets "
		    "(SO_PEEK_OFF: %s): a supervisor killed while it reads "
		    "a sender loses what it had read", strerror(errno));
	}
	if (put)
		gw_keeper_put('C', px->iso, c->id, fd);
	if (!px->held)
		event_add(c->ev, NULL);
	return (c);
}

static void
gw_take(int fd, pid_t pid, void *arg)
{
	(void)pid;
	(void)gw_conn_add(arg, fd, ++gw_conn_ids, 1);
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
	if (px->lfd != -1) {
		gw_keeper_drop('L', px->iso, 0);
		close(px->lfd);
	}
	gwl_close(px->log, 1);
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

/*
 * A proxy for isolate iso of node, listening on lfd (-1: a socket of its
 * own, new), on stream (NULL: a new one, with a new log). The proxy, or
 * NULL with errno (EADDRINUSE: an isolate of this node by that id is
 * not ours to stand in for).
 */
static struct proxy *
gw_proxy_new(uint64_t iso, uint32_t pid, const char *node, const char *stream,
    int lfd)
{
	static const struct acc_ops ops = { gw_take, gw_acc_log };
	struct proxy	*px;
	unsigned char	 r[8];
	char		 name[100];
	size_t		 i;
	int		 saved;

	if ((px = calloc(1, sizeof *px)) == NULL) {
		if (lfd != -1)
			close(lfd);
		return (NULL);
	}
	px->iso = iso;
	px->pid = pid;
	px->lfd = lfd;
	px->next_seq = 1;
	px->tail = &px->head;
	px->probed_ms = cl_now_ms();
	snprintf(px->node, sizeof px->node, "%s", node);
	if (stream != NULL)
		snprintf(px->stream, sizeof px->stream, "%s", stream);
	else {
		if (getrandom(r, sizeof r, 0) != sizeof r)
			memcpy(r, &px, sizeof px < 8 ? sizeof px : 8);
		for (i = 0; i < 8; i++)
			snprintf(px->stream + 2 * i, 3, "%02x", r[i]);
	}
	snprintf(name, sizeof name, "isolate %016" PRIx64 " of node %s", iso,
	    node);
	if ((px->lfd == -1 && ((px->lfd = socket(AF_UNIX, SOCK_STREAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1 ||
	    rtdir_id_listen(px->lfd, iso, SOMAXCONN) == -1)) ||
	    (px->acc = acc_new(gw_base, px->lfd, ACC_ISOLATE, &gw_max_conns,
	    name, &ops, px)) == NULL) {
		saved = errno;
		if (saved != EADDRINUSE)
			log_warn("cluster: cannot serve a proxy for %s: %s",
			    name, strerror(saved));
		if (px->lfd != -1)
			close(px->lfd);
		free(px);
		errno = saved;
		return (NULL);
	}
	gw_keeper_put('L', iso, 0, px->lfd);
	if (stream == NULL && (px->log = gwl_create(iso, pid, node,
	    px->stream, 0)) == NULL)
		log_warn("cluster: the log of the proxy of %s: %s; a killed "
		    "supervisor loses what it holds", name, strerror(errno));
	px->next = proxies;
	proxies = px;
	return (px);
}

/* Learn port's key (once). 0, or -1 with ENOMEM. */
static int
gw_key_add(struct proxy *px, uint32_t port, const char *key)
{
	struct gw_key	*grown;
	size_t		 i;

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
	if (px->log != NULL && gwl_key(px->log, port, key) == 0)
		(void)gwl_commit(px->log);	/* a failure is said there */
	return (0);
}

int
gw_proxy_add(uint64_t iso, uint32_t pid, const char *node, uint32_t port,
    const char *key)
{
	struct proxy	*px;

	if ((px = gw_find(iso)) == NULL &&
	    (px = gw_proxy_new(iso, pid, node, NULL, -1)) == NULL)
		return (errno == EADDRINUSE ? 0 : -1);
	if (strcmp(px->node, node) != 0)
		return (0);		/* an id claimed by two nodes: the first */
	return (gw_key_add(px, port, key));
}

/* A new log for px from what it holds: what is not acknowledged, and
   the starts of frames taken out of their sockets. */
static void
gw_compact(struct proxy *px)
{
	struct gwlog	*l;
	struct gw_batch	*b;
	struct gw_conn	*c;
	size_t		 i;

	if ((l = gwl_create(px->iso, px->pid, px->node, px->stream, 1)) ==
	    NULL)
		return;
	for (i = 0; i < px->nkeys; i++)
		(void)gwl_key(l, px->keys[i].port, px->keys[i].key);
	(void)gwl_ack(l, px->acked);
	for (b = px->head; b != NULL; b = b->next)
		(void)gwl_batch(l, b->seq, b->last, b->keys, b->exports,
		    b->data, b->len);
	for (c = px->conns; c != NULL; c = c->next)
		if (c->hold > 0)
			(void)gwl_part(l, c->id, evbuffer_pullup(c->in, -1),
			    c->hold);
	px->log = gwl_replace(px->log, l);
}

/* px's frames up to px->acked were delivered. The log says so only when
   it is written anew: an acknowledgement it lacks costs a next
   supervisor a resend (the receiver drops what it had), not a write on
   every acknowledgement. */
static void
gw_log_ack(struct proxy *px)
{
	if (px->log != NULL && gwl_size(px->log) >= GW_LOG_COMPACT)
		gw_compact(px);
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
		px->sent_ms = cl_now_ms();
		gw_log_ack(px);
	}
	if (ename != NULL) {
		gw_gone(px, sup_errno_value(ename), why != NULL ? why :
		    "is gone");
		iso_msg_free(a);
		return;
	}
	/* Each frame after a gap asks; the first answer serves them all. */
	if (resend && cl_now_ms() - px->resent_ms >= GW_ASKED_MS)
		gw_resend(px);
	gw_unhold(px);
	iso_msg_free(a);
}

/* Idle this long (ms; ISO_CLUSTER_PROBE_MS for the tests), a proxy asks
   whether its isolate is still there. */
static int64_t
gw_probe_ms(void)
{
	static int64_t	 ms;
	const char	*e;

	if (ms == 0)
		ms = (e = getenv("ISO_CLUSTER_PROBE_MS")) != NULL &&
		    atoll(e) > 0 ? atoll(e) : GW_PROBE_MS;
	return (ms);
}

/* An empty batch, numbered as the next would be: the isolate's node
   says "gone" if nobody listens as it any more. */
static void
gw_probe(struct proxy *px)
{
	struct gw_batch	b;

	memset(&b, 0, sizeof b);
	b.seq = b.last = px->next_seq;
	b.keys[0] = '-';
	gw_publish(px, &b);
}

/* Send again what waits too long for its acknowledgement. */
static void
gw_tick(evutil_socket_t fd, short what, void *arg)
{
	static int64_t	 connected;	/* since, or 0 */
	struct proxy	*px, *next;
	int64_t		 now = cl_now_ms();

	(void)fd;
	(void)what;
	(void)arg;
	if (!cl_connected()) {
		connected = 0;
		return;
	}
	if (connected == 0)
		connected = now;
	for (px = proxies; px != NULL; px = next) {
		next = px->next;
		/* Taken back from a killed supervisor: its node is known
		   once heard from; one never heard from is as lost. */
		if (px->restored && cl_node_up(px->node))
			px->restored = 0;
		else if (px->restored && now - connected >= GW_UNHEARD_MS) {
			gw_gone(px, ECONNREFUSED, "is out of reach (its node "
			    "was not heard from since this supervisor started)");
			continue;
		}
		if (px->head != NULL && now - px->sent_ms >= GW_RESEND_MS)
			gw_resend(px);
		else if (px->head == NULL && px->open == NULL &&
		    !px->restored && now - px->sent_ms >= gw_probe_ms() &&
		    now - px->probed_ms >= gw_probe_ms()) {
			px->probed_ms = now;
			gw_probe(px);
		}
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

/*
 * What a killed supervisor's logs hold, taken back: each a proxy again,
 * on its stream, with its keys, its batches not acknowledged (sent again
 * by the first tick) and its sockets from the keeper, read again from
 * the first byte not taken.
 */

/* The bytes a killed supervisor was taking, if it was. */
static struct {
	int		 was;
	uint64_t	 iso, conn, start, end, peeked, took;
}			 gw_mark;

struct gw_part {
	uint64_t	 conn;
	size_t		 len;
	unsigned char	*data;
	struct gw_part	*next;
};

struct gw_found {
	struct proxy	*px;		/* made at the head record */
	struct gw_part	*parts;
	uint64_t	 iso;
};

static void *
gwr_begin(uint64_t iso)
{
	struct gw_found	*f;

	if (gw_find(iso) != NULL || (f = calloc(1, sizeof *f)) == NULL)
		return (NULL);
	f->iso = iso;
	return (f);
}

static int
gwr_head(void *arg, uint64_t iso, uint32_t pid, const char *node,
    const char *stream)
{
	struct gw_found	*f = arg;
	char		 name[FH_NAME + 1];

	if (iso != f->iso || !cluster_node_valid(node) || strlen(stream) != 16)
		return (-1);
	gw_keeper_name('L', iso, 0, name);
	/* Without the keeper's socket (it ended too): a socket anew. */
	if ((f->px = gw_proxy_new(iso, pid, node, stream, fh_take(name))) ==
	    NULL)
		return (-1);
	return (0);
}

static int
gwr_key(void *arg, uint32_t port, const char *key)
{
	struct gw_found	*f = arg;

	if (strlen(key) != PK_HEX)
		return (-1);
	return (gw_key_add(f->px, port, key));
}

static int
gwr_batch(void *arg, uint64_t seq, uint64_t last, const char *keys,
    const char *exports, const void *data, size_t len)
{
	struct gw_found	*f = arg;
	struct proxy	*px = f->px;
	struct gw_batch	*b;

	if (seq < px->next_seq || strlen(keys) >= sizeof b->keys)
		return (-1);
	if ((b = calloc(1, sizeof *b)) == NULL ||
	    (b->data = malloc(len > 0 ? len : 1)) == NULL ||
	    (exports != NULL && (b->exports = strdup(exports)) == NULL)) {
		if (b != NULL)
			gw_batch_free(b);
		return (-1);
	}
	b->seq = seq;
	b->last = last;
	snprintf(b->keys, sizeof b->keys, "%s", keys);
	if (exports != NULL)
		b->exports_len = strlen(exports);
	memcpy(b->data, data, len);
	b->len = b->cap = len;
	*px->tail = b;
	px->tail = &b->next;
	px->out += len;
	px->next_seq = last + 1;
	return (0);
}

static int
gwr_ack(void *arg, uint64_t upto)
{
	struct gw_found	*f = arg;
	struct proxy	*px = f->px;
	struct gw_batch	*b;

	if (upto > px->acked)
		px->acked = upto;
	while ((b = px->head) != NULL && b->last <= px->acked) {
		px->head = b->next;
		px->out -= b->len;
		gw_batch_free(b);
	}
	if (px->head == NULL)
		px->tail = &px->head;
	return (0);
}

static int
gwr_part(void *arg, uint64_t conn, const void *data, size_t len)
{
	struct gw_found	*f = arg;
	struct gw_part	*t;

	for (t = f->parts; t != NULL && t->conn != conn; t = t->next)
		;
	if (t == NULL) {
		if ((t = calloc(1, sizeof *t)) == NULL)
			return (-1);
		t->conn = conn;
		t->next = f->parts;
		f->parts = t;
	}
	free(t->data);
	t->data = NULL;
	if (len > 0 && (t->data = malloc(len)) == NULL)
		return (-1);
	if (len > 0)
		memcpy(t->data, data, len);
	t->len = len;
	return (0);
}

/*
 * Sender c comes back from the keeper: its socket is read again from the
 * first byte not taken. If the last supervisor was taking bytes from it
 * when it was killed, and their frames are in the log (as long as the
 * mark says it would be), what it had not taken yet is taken now: the
 * socket's peek offset, where the mark says it was before, less what was
 * taken (a take is several reads; it may have been killed between two).
 * 0, or -1 (c is bad).
 */
static int
gw_conn_resume(struct gw_conn *c)
{
	int		off = 0;
	socklen_t	len = sizeof off;
	uint64_t	done;

	if (!c->peek)
		return (0);
	if (gw_mark.was && gw_mark.iso == c->px->iso &&
	    gw_mark.conn == c->id) {
		gw_mark.was = 0;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEEK_OFF, &off, &len) ==
		    -1)
			return (-1);
		done = gw_mark.peeked - (uint64_t)off;
		if (c->px->log != NULL && gwl_size(c->px->log) >=
		    gw_mark.end && off >= 0 && (uint64_t)off <=
		    gw_mark.peeked && done < gw_mark.took &&
		    gw_take_bytes(c, gw_mark.took - done) == -1)
			return (-1);
	}
	off = 0;
	return (setsockopt(c->fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off));
}

static void
gwr_end(void *arg, struct gwlog *l)
{
	struct gw_found	*f = arg;
	struct proxy	*px = f->px;
	struct gw_part	*t, *tn;
	struct gw_conn	*c;
	uint64_t	 id;
	char		 prefix[FH_NAME + 1], name[FH_NAME + 1];
	int		 fd;

	if (px == NULL) {
		if (l != NULL)
			log_warn("cluster: the log of the proxy of isolate %016"
			    PRIx64 " could not be taken back (see above); what "
			    "was in it is not sent", f->iso);
		gwl_close(l, 1);
		goto out;
	}
	if (l == NULL) {
		gw_proxy_free(px);
		goto out;
	}
	px->log = l;
	px->restored = 1;
	if (px->next_seq <= px->acked)
		px->next_seq = px->acked + 1;
	snprintf(prefix, sizeof prefix, "C%016" PRIx64 ".", px->iso);
	while ((fd = fh_take_next(prefix, name)) != -1) {
		id = strtoull(name + strlen(prefix), NULL, 16);
		acc_adopt(px->acc);
		if ((c = gw_conn_add(px, fd, id, 0)) == NULL) {
			fh_drop(name);
			continue;
		}
		if (id > gw_conn_ids)
			gw_conn_ids = id;
		for (t = f->parts; t != NULL && t->conn != id; t = t->next)
			;
		if (gw_conn_resume(c) == -1 || (t != NULL && t->len > 0 &&
		    evbuffer_add(c->in, t->data, t->len) == -1)) {
			log_warn("cluster: a sender's connection to the proxy of "
			    "isolate %016" PRIx64 " could not be read again: %s",
			    px->iso, strerror(errno));
			gw_conn_free(c);
			continue;
		}
		if (t != NULL)
			c->hold = t->len;
		event_active(c->ev, EV_READ, 0);
	}
	if (px->head != NULL)
		log_info("cluster: took back the proxy of isolate %016" PRIx64
		    " of node %s: %" PRIu64 " messages to send again",
		    px->iso, px->node, px->next_seq - 1 - px->acked);
	if (px->out >= GW_WINDOW)
		gw_hold(px);
out:
	for (t = f->parts; t != NULL; t = tn) {
		tn = t->next;
		free(t->data);
		free(t);
	}
	free(f);
}

static void
gw_restore(void)
{
	static const struct gwl_ops ops = { gwr_head, gwr_key, gwr_batch,
	    gwr_ack, gwr_part };

	gw_mark.was = gwl_was_taking(&gw_mark.iso, &gw_mark.conn,
	    &gw_mark.start, &gw_mark.end, &gw_mark.peeked, &gw_mark.took);
	/* A write of that log cut short loses its whole records too: their
	   bytes are still in the socket, and would be read and numbered
	   again. */
	(void)gwl_load_all(&ops, gwr_begin, gwr_end, gw_mark.was ?
	    gw_mark.iso : 0, gw_mark.start, gw_mark.end);
	gwl_taken();		/* the rest was taken, or is gone */
	fh_untaken();
}

int
gw_init(struct event_base *base, const char *sdir)
{
	const struct timeval	tv = { 0, GW_TICK_MS * 1000 };
	char			subj[CL_SUBJ_MAX];

	gw_base = base;
	if (gwl_init(sdir) == -1)
		log_warn("cluster: %s/proxies: %s; a killed supervisor loses "
		    "what its proxies hold", sdir, strerror(errno));
	(void)fh_open();
	gw_restore();
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
	/* A clean stop: nothing goes on after us, so senders are told. */
	while (proxies != NULL)
		gw_gone(proxies, ECONNREFUSED, "is out of reach (this node's "
		    "supervisor stopped)");
	fh_close(1);
	gwl_fini();
	if (gw_timer != NULL)
		event_free(gw_timer);
	gw_timer = NULL;
}
