/*
 * inbound.c: frames other nodes send to our isolates (gateway.c there),
 * on iso.node.NODE.port, in batches: a NATS message holds the frames of
 * one read of the sending proxy, numbered from its Iso-Seq. Each sending
 * proxy is a stream; we deliver its frames in order, each once, with
 * iso_send as any local sender would, and acknowledge on
 * iso.node.FROM.ack what has been delivered. A frame after a gap is
 * dropped, with what follows it, and asked for again; a key that is
 * wrong, or an isolate that is gone, ends the stream with the reason. An
 * isolate that reads slowly (iso_send: ENOBUFS) holds its stream:
 * nothing more is taken until it has room, and then the sender sends
 * again from there, so the wait reaches back to the senders.
 *
 * Acknowledgements wait (IB_ACK_MS, or IB_ACK_BYTES delivered) unless
 * the sender needs one now: one per message of a request and reply
 * exchange doubled the NATS traffic and the wake-ups of both
 * supervisors. A key's HMAC is checked once per stream and port (the
 * last good key is kept, compared in constant time).
 *
 * What is acknowledged is what has been written to the isolate's socket,
 * not what waits in our queue for it (conn_progress), and each stream's
 * position is saved (ibpos.c) before it is acknowledged: a
 * supervisor killed and started again goes on with the same streams, so
 * nothing is lost. Frames written between the last save and the kill
 * come again; each goes with its stream and number (conn_send_via), and
 * the isolate drops those it had.
 * Streams are kept across their node's loss or restart (the sender's
 * proxy may outlive its supervisor), and forgotten once idle for
 * IB_IDLE_MS, when everything in them has long been acknowledged.
 */
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "cluster.h"
#include "loop.h"
#include "rtdir.h"
#include "wire.h"

/* A frame handed to our queue for an isolate, not yet known written. */
struct ib_pend {
	uint64_t	 seq;
	uint64_t	 end;		/* the queue's byte count after it */
	uint64_t	 serial;	/* of the connection it went to */
};

struct ib_stream {
	char		 from[65];
	char		 stream[17];
	uint64_t	 id;		/* stream, as the number it is */
	uint64_t	 iso;		/* its isolate: 0 until a frame came */
	uint64_t	 expected;	/* the next seq to deliver */
	uint64_t	 written;	/* delivered and out of our hands */
	int		 slot;		/* its place in the file, or -1 */
	uint64_t	 told;		/* written, as the last ack said */
	struct ib_pend	*pend;		/* pend[phead..npend) */
	size_t		 phead, npend, pcap;
	int64_t		 last_ms;	/* a frame came */
	uint64_t	 asked;		/* a resend asked from this seq */
	int		 due;		/* an ack to send */
	size_t		 unacked;	/* bytes delivered since the last */
	int		 resend;	/* ... asking for what follows */
	int		 waiting;	/* for room at its isolate */
	const char	*gone;		/* errno name: the stream ends */
	uint64_t	 ok_iso;	/* the last key found good: */
	uint32_t	 ok_port;	/* ... for this port */
	char		 ok_key[PK_HEX + 1];	/* "": none yet */
	char		 why[200];
	struct ib_stream *next;
};

#define IB_ACK_MS	10		/* an acknowledgement waits at most */
#define IB_ACK_BYTES	(256 * 1024)	/* ... or for this much delivered */
#define IB_IDLE_MS	(10 * 60 * 1000)	/* a silent stream is forgotten */

static struct ib_stream	*streams;
static struct event	*ack_ev;
static int		 ib_delivered;	/* since the last flush */

static struct ib_stream *
ib_find(const char *from, const char *stream, uint64_t base)
{
	struct ib_stream	*s;

	for (s = streams; s != NULL; s = s->next)
		if (strcmp(s->stream, stream) == 0 &&
		    strcmp(s->from, from) == 0)
			return (s);
	if ((s = calloc(1, sizeof *s)) == NULL)
		return (NULL);
	snprintf(s->from, sizeof s->from, "%s", from);
	snprintf(s->stream, sizeof s->stream, "%s", stream);
	s->id = strtoull(stream, NULL, 16);
	/* A stream new to us starts after what its sender knows was
	   delivered (its record may be gone, or it was idle long). */
	s->expected = base + 1;
	s->written = s->told = base;
	s->slot = ibp_take(from, stream, base);
	s->last_ms = cl_now_ms();
	s->next = streams;
	streams = s;
	return (s);
}

static void
ib_free(struct ib_stream *s)
{
	struct ib_stream	**pp;

	for (pp = &streams; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	ibp_drop(s->slot);
	free(s->pend);
	free(s);
}

/* Room at the isolate a held stream waits for: ask for the rest. */
static void
ib_room(void *arg)
{
	struct ib_stream	*s = arg, *x;

	for (x = streams; x != NULL && x != s; x = x->next)
		;
	if (x == NULL)
		return;			/* gone meanwhile */
	s->waiting = 0;
	s->due = s->resend = 1;
	s->asked = s->expected;
	ib_flush();
}

/* Is key port's of isolate iso? The last good one is kept: the same key
   again needs no HMAC. */
static int
ib_key_ok(struct ib_stream *s, uint64_t iso, uint32_t port, const char *key)
{
	if (s->ok_key[0] != '\0' && s->ok_iso == iso && s->ok_port == port &&
	    strlen(key) == PK_HEX && CRYPTO_memcmp(s->ok_key, key, PK_HEX) == 0)
		return (1);
	if (!pk_check(iso, port, key))
		return (0);
	s->ok_iso = iso;
	s->ok_port = port;
	memcpy(s->ok_key, key, PK_HEX + 1);
	return (1);
}

/* The key of port in an Iso-Keys value ("PORT:KEY,..."), or NULL. */
static const char *
ib_key_of(const char *keys, uint32_t port, char out[PK_HEX + 1])
{
	const char	*p = keys;
	char		*end;
	unsigned long	 n;

	while (*p != '\0') {
		n = strtoul(p, &end, 10);
		if (end == p || *end != ':' || strspn(end + 1,
		    "0123456789abcdef") != PK_HEX)
			return (NULL);
		if (n == port) {
			memcpy(out, end + 1, PK_HEX);
			out[PK_HEX] = '\0';
			return (out);
		}
		p = end + 1 + PK_HEX;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			return (NULL);
	}
	return (NULL);
}

/* Frame seq of s went to our queue for isolate iso: written when the
   queue's byte count passes where it is now. */
static void
ib_pend_add(struct ib_stream *s, uint64_t iso, uint64_t seq)
{
	struct ib_pend	*grown;
	uint64_t	 serial, queued, sent;

	if (conn_progress(iso, &serial, &queued, &sent) == -1 ||
	    queued == sent) {
		/* Out already, and all before it (or no connection holds
		   it: dropped, and its isolate's end comes with the next
		   send). */
		s->phead = s->npend = 0;
		s->written = seq;
		return;
	}
	if (s->npend == s->pcap) {
		if (s->phead > 0) {
			memmove(s->pend, s->pend + s->phead, (s->npend -
			    s->phead) * sizeof *s->pend);
			s->npend -= s->phead;
			s->phead = 0;
		} else {
			if ((grown = realloc(s->pend, (s->pcap ? s->pcap * 2 :
			    64) * sizeof *grown)) == NULL) {
				/* Counted as written: at worst a frame comes
				   twice after a killed supervisor. */
				s->written = seq;
				return;
			}
			s->pend = grown;
			s->pcap = s->pcap ? s->pcap * 2 : 64;
		}
	}
	s->pend[s->npend].seq = seq;
	s->pend[s->npend].end = queued;
	s->pend[s->npend].serial = serial;
	s->npend++;
}

/* What of s's frames in our queue has been written since. */
static void
ib_progress(struct ib_stream *s)
{
	uint64_t	serial = 0, queued, sent = 0;
	int		have;

	if (s->phead == s->npend)
		return;
	have = conn_progress(s->iso, &serial, &queued, &sent) == 0;
	while (s->phead < s->npend && (!have ||
	    s->pend[s->phead].serial != serial ||
	    s->pend[s->phead].end <= sent))
		s->written = s->pend[s->phead++].seq;
	if (s->phead == s->npend)
		s->phead = s->npend = 0;
}

/* Deliver one frame (its payload, len bytes) of s, for isolate iso:
   0, or -1 when it must come again later. */
static int
ib_deliver(struct ib_stream *s, uint64_t iso, const char *keys,
    const unsigned char *p, size_t len)
{
	iso_sendport	 sp;
	iso_msg		*m;
	uint32_t	 port;
	size_t		 off;
	char		 key[PK_HEX + 1];

	memset(&sp, 0, sizeof sp);
	sp.isolate = iso;
	if (pk_frame_port(p, len, &port, &off) == -1) {
		log_warn("cluster: a frame from node %s without a port; "
		    "dropped", s->from);
		return (0);
	}
	sp.port = port;
	if (port == 0 || ib_key_of(keys, port, key) == NULL ||
	    !ib_key_ok(s, iso, port, key)) {
		s->gone = "EACCES";
		snprintf(s->why, sizeof s->why, "refused a forged or stale "
		    "key for port %" PRIu32, port);
		return (0);
	}
	if ((m = iso_msg_decode(p + off, len - off)) == NULL) {
		log_warn("cluster: a bad frame from node %s: %s; dropped",
		    s->from, iso_error());
		return (0);
	}
	if (conn_send_via(sp, s->id, s->expected, m) == 0) {
		iso_msg_free(m);
		s->unacked += len;
		ib_delivered = 1;
		ib_pend_add(s, iso, s->expected);
		return (0);
	}
	iso_msg_free(m);
	if (errno == ENOBUFS || errno == EAGAIN) {
		if (iso_on_writable(sp, ib_room, s) == 0) {
			s->waiting = 1;
			return (-1);
		}
	}
	s->gone = "ECONNREFUSED";
	snprintf(s->why, sizeof s->why, "is gone (%s)", iso_error());
	return (0);
}

/* Ask s's sender, once per gap, for what follows what was delivered. */
static void
ib_ask(struct ib_stream *s)
{
	if (s->asked != s->expected) {
		s->due = s->resend = 1;
		s->asked = s->expected;
	}
}

/* The frames of a batch that came whole, from the first numbered seq. */
static void
ib_batch(struct ib_stream *s, natsMsg *msg, uint64_t seq, const char *to,
    const char *keys)
{
	const unsigned char	*p = (const unsigned char *)natsMsg_GetData(msg);
	size_t			 len = (size_t)natsMsg_GetDataLength(msg);
	size_t			 off = 0, flen;
	uint64_t		 iso = strtoull(to, NULL, 16);
	const char		*ports;
	int			 imported = 0;

	s->iso = iso;
	s->last_ms = cl_now_ms();
	for (; off < len && s->gone == NULL && !s->waiting; seq++) {
		if (len - off < WIRE_HDR || wire_frame_len(p + off, &flen) ==
		    -1 || len - off - WIRE_HDR < flen) {
			s->gone = "EINVAL";
			snprintf(s->why, sizeof s->why, "refused a batch "
			    "whose frames were cut");
			return;
		}
		if (seq > s->expected) {
			ib_ask(s);	/* one was lost on the way */
			return;
		}
		if (seq == s->expected) {
			if (!imported &&
			    natsMsgHeader_Get(msg, "Iso-Ports", &ports) ==
			    NATS_OK && pk_import(ports) == -1)
				log_warn("cluster: a bad Iso-Ports from node "
				    "%s", s->from);
			imported = 1;
			if (ib_deliver(s, iso, keys, p + off + WIRE_HDR,
			    flen) == -1)
				return;
			s->expected++;
		}
		s->due = 1;	/* a frame had before: said again */
		off += WIRE_HDR + flen;
	}
}

/* A probe (an empty batch) of a proxy idle long: "gone" if nobody
   listens as its isolate any more. */
static void
ib_probe(struct ib_stream *s, const char *to)
{
	int	fd, rc;

	s->iso = strtoull(to, NULL, 16);
	s->last_ms = cl_now_ms();
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return;
	rc = rtdir_id_connect(fd, s->iso);
	close(fd);
	if (rc == -1 && errno == ECONNREFUSED) {
		s->gone = "ECONNREFUSED";
		snprintf(s->why, sizeof s->why, "is gone (it ended)");
		s->due = 1;
	}
}

static void
ib_on_port(natsMsg *msg, void *arg)
{
	struct ib_stream	*s;
	const char		*from, *stream, *seqs, *bases, *to, *keys, *sum;
	uint64_t		 seq;
	char			 want[9];

	(void)arg;
	if (natsMsgHeader_Get(msg, "Iso-From", &from) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-Stream", &stream) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-Seq", &seqs) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-Base", &bases) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-To", &to) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-Keys", &keys) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-Sum", &sum) != NATS_OK ||
	    !cluster_node_valid(from) || strlen(stream) != 16 ||
	    (s = ib_find(from, stream, strtoull(bases, NULL, 10))) == NULL) {
		natsev_dispose(msg);
		return;
	}
	seq = strtoull(seqs, NULL, 10);
	cl_node_heard(from);
	pk_sum(stream, seq, to, keys, natsMsg_GetData(msg),
	    (size_t)natsMsg_GetDataLength(msg), want);
	if (s->gone != NULL || s->waiting) {
		/* Said already, or held: it comes again when asked. */
	} else if (strcmp(want, sum) != 0) {
		/* Garbled on the way: as lost, asked for again. */
		if (seq >= s->expected)
			ib_ask(s);
	} else if (natsMsg_GetDataLength(msg) == 0) {
		if (seq > s->expected)
			ib_ask(s);
		else
			ib_probe(s, to);
	} else
		ib_batch(s, msg, seq, to, keys);
	natsev_dispose(msg);
}

/* Send s's acknowledgement. */
static void
ib_ack(struct ib_stream *s)
{
	iso_msg		*a;
	void		*buf;
	size_t		 len;
	char		 subj[CL_SUBJ_MAX];

	a = iso_msg_pack("{s:s s:U}", "stream", s->stream, "upto",
	    s->written);
	if (a != NULL && s->resend)
		(void)iso_msg_put(a, iso_msg_pack("s", "resend"),
		    iso_msg_pack("b", 1));
	if (a != NULL && s->gone != NULL &&
	    (iso_msg_put(a, iso_msg_pack("s", "gone"),
	    iso_msg_pack("s", s->gone)) == -1 ||
	    iso_msg_put(a, iso_msg_pack("s", "error"),
	    iso_msg_pack("s", s->why)) == -1)) {
		iso_msg_free(a);
		a = NULL;
	}
	if (a != NULL && iso_msg_encode(a, &buf, &len) == 0) {
		snprintf(subj, sizeof subj, "iso.node.%s.ack", s->from);
		(void)cl_publish(subj, NULL, buf, len);
		free(buf);
	}
	iso_msg_free(a);
	s->told = s->written;
	s->due = s->resend = 0;
	s->unacked = 0;
}

/* Acknowledge what is due: at once what the sender waits for (a resend,
   the end, a quarter of its window), the rest within IB_ACK_MS, so that
   a stream of messages one at a time is not one acknowledgement each.
   Frames still in our queue are looked at again then. */
static void
ib_acks(int all)
{
	struct ib_stream	*s, *next;
	const struct timeval	 tv = { 0, IB_ACK_MS * 1000 };
	int64_t			 now = cl_now_ms();
	int			 later = 0;

	for (s = streams; s != NULL; s = s->next) {
		ib_progress(s);
		if (s->gone == NULL)
			ibp_set(s->slot, s->written);	/* a store */
	}
	for (s = streams; s != NULL; s = next) {
		next = s->next;
		if (s->phead < s->npend)
			later = 1;
		if (s->written > s->told)
			s->due = 1;
		if (!s->due && s->gone == NULL) {
			if (s->phead == s->npend && !s->waiting &&
			    now - s->last_ms >= IB_IDLE_MS)
				ib_free(s);
			continue;
		}
		if (all || s->resend || s->gone != NULL ||
		    s->unacked >= IB_ACK_BYTES)
			ib_ack(s);
		else
			later = 1;
		if (s->gone != NULL)
			ib_free(s);
	}
	if (later && ack_ev != NULL && !evtimer_pending(ack_ev, NULL))
		evtimer_add(ack_ev, &tv);
}

static void
ib_ack_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ib_acks(1);
}

void
ib_flush(void)
{
	/* What was delivered goes to its isolates before we say so. */
	conn_flush();
	if (ib_delivered) {
		ib_delivered = 0;
		cl_fault("inbound-written");
	}
	ib_acks(0);
}


/* A position a killed supervisor saved, taken back. */
static void
ib_found(const char *from, const char *stream, uint64_t written, int slot,
    void *arg)
{
	struct ib_stream	*s;

	(void)arg;
	if (!cluster_node_valid(from) || strlen(stream) != 16 ||
	    (s = calloc(1, sizeof *s)) == NULL) {
		ibp_drop(slot);
		return;
	}
	snprintf(s->from, sizeof s->from, "%s", from);
	snprintf(s->stream, sizeof s->stream, "%s", stream);
	s->id = strtoull(stream, NULL, 16);
	s->expected = written + 1;
	s->written = s->told = written;
	s->slot = slot;
	s->last_ms = cl_now_ms();
	s->next = streams;
	streams = s;
}

int
ib_init(struct event_base *base, const char *sdir)
{
	char	subj[CL_SUBJ_MAX];

	if (ibp_open(sdir, ib_found, NULL) == -1)
		log_warn("cluster: %s/inbound.pos: %s; a killed supervisor "
		    "may deliver messages from other nodes twice", sdir,
		    strerror(errno));
	if ((ack_ev = evtimer_new(base, ib_ack_cb, NULL)) == NULL)
		return (-1);
	snprintf(subj, sizeof subj, "iso.node.%s.port", cluster_node());
	return (cl_subscribe(subj, NULL, ib_on_port, NULL));
}

void
ib_free_all(void)
{
	while (streams != NULL)
		ib_free(streams);
	ibp_close();
	if (ack_ev != NULL)
		event_free(ack_ev);
	ack_ev = NULL;
}
