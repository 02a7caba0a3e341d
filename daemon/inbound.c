/*
 * inbound.c: frames other nodes send to our isolates (gateway.c there),
 * on iso.node.NODE.port. Each sending proxy is a stream of numbered
 * frames; we deliver them in order, each once, with iso_send as any
 * local sender would, and acknowledge on iso.node.FROM.ack what has been
 * delivered, once per batch that NATS brought (ib_flush, after each
 * read). A frame out of order is dropped and asked for again; a frame
 * whose key is wrong, or whose isolate is gone, ends the stream with the
 * reason. An isolate that reads slowly (iso_send: ENOBUFS) holds its
 * stream: nothing more is taken until it has room, and then the sender
 * sends again from there, so the wait reaches back to the senders.
 *
 * Per small frame, two costs dominated a stream of them (perf): the key's
 * HMAC, now checked once per stream and port (the last good key is kept,
 * compared in constant time), and nats.c's freeing of each message on
 * its collector thread, woken for every message destroyed alone; they
 * are now destroyed together once the batch is handled (ib_flush).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cluster.h"

struct ib_stream {
	char		 from[65];
	char		 stream[17];
	uint64_t	 expected;	/* the next seq to deliver */
	uint64_t	 asked;		/* a resend asked from this seq */
	int		 due;		/* an ack to send */
	int		 resend;	/* ... asking for what follows */
	int		 waiting;	/* for room at its isolate */
	const char	*gone;		/* errno name: the stream ends */
	uint64_t	 ok_iso;	/* the last key found good: */
	uint32_t	 ok_port;	/* ... for this port */
	char		 ok_key[PK_HEX + 1];	/* "": none yet */
	char		 why[200];
	struct ib_stream *next;
};

static struct ib_stream	*streams;
static natsMsg		**dead;		/* handled, destroyed by ib_flush */
static size_t		  ndead, dead_cap;

/* Destroy m with the batch's others (ib_flush). */
static void
ib_dispose(natsMsg *m)
{
	natsMsg	**grown;
	size_t	  cap;

	if (ndead == dead_cap) {
		cap = dead_cap ? dead_cap * 2 : 256;
		if ((grown = realloc(dead, cap * sizeof *grown)) == NULL) {
			natsMsg_Destroy(m);
			return;
		}
		dead = grown;
		dead_cap = cap;
	}
	dead[ndead++] = m;
}

static void
ib_bury(void)
{
	while (ndead > 0)
		natsMsg_Destroy(dead[--ndead]);
}

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
	/* A stream new to us starts after what its sender knows was
	   delivered (we may be a new supervisor). */
	s->expected = base + 1;
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

/* Deliver one frame of s: 0, or -1 when it must come again later. */
static int
ib_deliver(struct ib_stream *s, natsMsg *msg)
{
	const unsigned char	*p = (const unsigned char *)natsMsg_GetData(msg);
	size_t			 len = (size_t)natsMsg_GetDataLength(msg), off;
	const char		*to, *key, *ports;
	iso_sendport		 sp;
	iso_msg			*m;
	uint32_t		 port;

	if (natsMsgHeader_Get(msg, "Iso-To", &to) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-Key", &key) != NATS_OK)
		return (0);
	memset(&sp, 0, sizeof sp);
	sp.isolate = strtoull(to, NULL, 16);
	if (pk_frame_port(p, len, &port, &off) == -1) {
		log_warn("cluster: a frame from node %s without a port; "
		    "dropped", s->from);
		return (0);
	}
	sp.port = port;
	if (port == 0 || !ib_key_ok(s, sp.isolate, port, key)) {
		s->gone = "EACCES";
		snprintf(s->why, sizeof s->why, "refused a forged or stale "
		    "key for port %" PRIu32, port);
		return (0);
	}
	if (natsMsgHeader_Get(msg, "Iso-Ports", &ports) == NATS_OK &&
	    pk_import(ports) == -1)
		log_warn("cluster: a bad Iso-Ports from node %s", s->from);
	if ((m = iso_msg_decode(p + off, len - off)) == NULL) {
		log_warn("cluster: a bad frame from node %s: %s; dropped",
		    s->from, iso_error());
		return (0);
	}
	if (iso_send(sp, m) == 0) {
		iso_msg_free(m);
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

/* Does msg's Iso-Sum match what came? */
static int
ib_intact(natsMsg *msg, const char *stream, uint64_t seq)
{
	const char	*to, *key, *sum;
	char		 want[9];

	if (natsMsgHeader_Get(msg, "Iso-To", &to) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-Key", &key) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-Sum", &sum) != NATS_OK)
		return (0);
	pk_sum(stream, seq, to, key, natsMsg_GetData(msg),
	    (size_t)natsMsg_GetDataLength(msg), want);
	return (strcmp(want, sum) == 0);
}

static void
ib_on_port(natsMsg *msg, void *arg)
{
	struct ib_stream	*s;
	const char		*from, *stream, *seqs, *bases;
	uint64_t		 seq;

	(void)arg;
	if (natsMsgHeader_Get(msg, "Iso-From", &from) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-Stream", &stream) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-Seq", &seqs) != NATS_OK ||
	    natsMsgHeader_Get(msg, "Iso-Base", &bases) != NATS_OK ||
	    !cluster_node_valid(from) || strlen(stream) != 16 ||
	    (s = ib_find(from, stream, strtoull(bases, NULL, 10))) == NULL) {
		ib_dispose(msg);
		return;
	}
	seq = strtoull(seqs, NULL, 10);
	if (!ib_intact(msg, stream, seq)) {
		/* Garbled on the way: as lost, asked for again. */
		if (s->gone == NULL && !s->waiting && seq >= s->expected &&
		    s->asked != s->expected) {
			s->due = s->resend = 1;
			s->asked = s->expected;
		}
	} else if (s->gone != NULL || s->waiting) {
		/* Said already, or held: it comes again when asked. */
	} else if (seq < s->expected)
		s->due = 1;		/* had it: say so again */
	else if (seq > s->expected) {
		/* One was lost on the way: ask once from there. */
		if (s->asked != s->expected) {
			s->due = s->resend = 1;
			s->asked = s->expected;
		}
	} else if (ib_deliver(s, msg) == 0) {
		s->expected++;
		s->due = 1;
	}
	ib_dispose(msg);
}

void
ib_flush(void)
{
	struct ib_stream	*s, *next;
	iso_msg			*a;
	void			*buf;
	size_t			 len;
	char			 subj[CL_SUBJ_MAX];

	ib_bury();
	for (s = streams; s != NULL; s = next) {
		next = s->next;
		if (!s->due && s->gone == NULL)
			continue;
		a = iso_msg_pack("{s:s s:U}", "stream", s->stream, "upto",
		    s->expected - 1);
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
		s->due = s->resend = 0;
		if (s->gone != NULL)
			ib_free(s);
	}
}

void
ib_node_lost(const char *node)
{
	struct ib_stream	*s, *next;

	for (s = streams; s != NULL; s = next) {
		next = s->next;
		if (strcmp(s->from, node) == 0 && !s->waiting)
			ib_free(s);
	}
}

int
ib_init(void)
{
	char	subj[CL_SUBJ_MAX];

	snprintf(subj, sizeof subj, "iso.node.%s.port", cluster_node());
	return (cl_subscribe(subj, NULL, ib_on_port, NULL));
}

void
ib_free_all(void)
{
	ib_bury();
	free(dead);
	dead = NULL;
	dead_cap = 0;
	while (streams != NULL)
		ib_free(streams);
}
