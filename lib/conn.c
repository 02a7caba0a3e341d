/*
 * conn.c: connections between isolates. Each isolate listens on one
 * socket in the runtime directory, named by its id, for all its ports.
 * A sender keeps one connection per peer for every message; frames carry
 * the destination port number before the message (docs/protocol.md).
 *
 * Sending appends the frame to the peer's queue (one flat buffer, encoded
 * in place) and writes at once, or, inside a callback, when the callback
 * batch is over (conn_flush), so a burst is one send. Receiving reads
 * into a shared scratch buffer, delivers every whole frame from there,
 * and keeps only a partial frame in the connection.
 *
 * Descriptors (SCM_RIGHTS): a queued frame that carries some has a
 * record of them (the library's duplicates) and of where it starts in
 * the stream; the frame is written by a sendmsg that starts at its first
 * byte, with them attached, so the kernel hands them over with that
 * byte. The receiver keeps what each recvmsg brings in a FIFO, and each
 * frame, in order, takes as many as it refers to (docs/protocol.md).
 */
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "accept.h"
#include "hot.h"
#include "loop.h"
#include "msg.h"
#include "supproto.h"
#include "table.h"
#include "wire.h"

#define SCRATCH		(64 * 1024)
#define PORT_MAX_LEN	5		/* msgpack uint32: 0xce + 4 bytes */
#define IN_HEAD		(8 * sizeof(iso_msg)) /* free room before c->in */
#define IN_WHOLE	(4 * SCRATCH)	/* a partial frame up to this size
					   gets its whole buffer at once */
#define OUT_FIRST	256		/* a queue's first size: small, so
					   that an idle isolate's blocks
					   (its base, connection, port and
					   this) fit one page of its region */
#define OUT_KEEP	(4 * SCRATCH)	/* a larger queue goes when empty */
#define RETRY_FIRST_MS	1
#define RETRY_MAX_MS	100

enum conn_state {
	CONN_CONNECTING,		/* backlog was full: retrying */
	CONN_OPEN,
	CONN_DEAD,			/* a pair whose peer is gone: reading
					   what it sent first, until EOF */
	CONN_REFUSED			/* the peer said why it closed: the
					   next send fails with that */
};

/* The descriptors of a queued frame, sent with its first byte: the
   message's own while its send writes at once, else the library's
   duplicates, closed once sent. */
struct out_fds {
	uint64_t		 at;	/* the frame's first byte, counted
					   as c->sent counts */
	size_t			 n;
	int			 own;	/* duplicates of ours: close them */
	STAILQ_ENTRY(out_fds)	 link;
	int			 fd[];
};
STAILQ_HEAD(out_fds_q, out_fds);

struct conn {
	int			 fd;
	uint64_t		 peer;	/* outgoing: the peer's id; 0: incoming */
	pid_t			 pid;	/* incoming: for log lines */
	enum conn_state		 state;
	struct event		*rev;	/* frames in, or the peer's EOF out */
	struct event		*wev;	/* writable again */
	struct event		*retry;	/* connect again */
	int			 retry_ms;
	int			 refs_wait; /* retry: conn_refs_wait */
	int			 progress_ms;	/* conn_drain: last write */
	char			*out;	/* queued frames: out[out_off..out_len) */
	size_t			 out_off, out_len, out_cap;
	uint64_t		 sent;	/* bytes written (or dropped) so far:
					   out[out_off] is byte `sent` */
	struct out_fds_q	 ofds;	/* frames' descriptors, in order */
	int			*ifd;	/* descriptors received, not yet
					   taken by a frame, in order */
	size_t			 ifd_n, ifd_cap;
	char			*in;	/* a partial frame, IN_HEAD bytes into
					   its malloc'd block */
	size_t			 in_len, in_cap;
	int			 dirty;
	int			 pair;	/* one end of a socketpair: both ways */
	uint64_t		 from;	/* a pair's peer, kept when it is gone:
					   whose frames come in on it */
	unsigned		 settle; /* marked by conn_settle */
	int			 reading; /* in conn_read: not to be read
					   again from a callback it runs */
	int			 incoming; /* accepted on our socket */
	int			 refused; /* CONN_REFUSED: the errno ... */
	char			*why;	/* ... and the peer's words */
	uint64_t		 serial; /* conn_progress: which one */
	uint64_t		 via_stream; /* incoming: the next frame's ... */
	uint64_t		 via_seq; /* ... place in a stream, if via */
	int			 via;
	LIST_ENTRY(conn)	 link;
	TAILQ_ENTRY(conn)	 dirty_link;
};

/* Who waits for room in a queue (iso_on_writable, iso_send_wait). */
struct room_wait {
	uint64_t		 peer;
	size_t			 need;	/* bytes of a frame; 0: half the bound */
	void			(*cb)(void *);
	void			*ud;
	TAILQ_ENTRY(room_wait)	 link;
};
TAILQ_HEAD(room_waits, room_wait);

static LIST_HEAD(, conn)	conns = LIST_HEAD_INITIALIZER(conns);
static struct room_waits	room_waits = TAILQ_HEAD_INITIALIZER(room_waits);
static struct event		*room_ev;	/* calls those that have room */
static TAILQ_HEAD(, conn)	dirty = TAILQ_HEAD_INITIALIZER(dirty);
static int			defer_writes;	/* conn_defer_writes */
static struct table		peers;
static int			listen_fd = -1;
static struct acc		*listen_acc;
static char			*scratch;	/* conn_scratch */
static char			*spare;		/* see conn_keep */
unsigned long			 conn_writes;	/* send calls, for tests */
static size_t			 spare_cap;
static int			 spawner_fd = -1; /* our end of the pair to
						   our spawner, until used */
static uint64_t			 spawner_id;

static void	conn_log(const char *, ...) __attribute__((format(printf, 1, 2)));
static void	conn_room_wake(void);

static void
conn_log(const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "isolate %d: %s\n", (int)getpid(), buf);
}

/* Forget what waits in c's queue, closing its frames' descriptors. */
static void
conn_out_drop(struct conn *c)
{
	struct out_fds	*f;
	size_t		 i;

	c->sent += c->out_len - c->out_off;
	c->out_off = c->out_len = 0;
	while ((f = STAILQ_FIRST(&c->ofds)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->ofds, link);
		for (i = 0; f->own && i < f->n; i++)
			loop_fd_close(f->fd[i]);
		free(f);
	}
}

/* Forget the first n received descriptors (a frame took them, or they
   were closed). */
static void
conn_in_fds_shift(struct conn *c, size_t n)
{
	c->ifd_n -= n;
	memmove(c->ifd, c->ifd + n, c->ifd_n * sizeof *c->ifd);
}

/* Close the first n received descriptors (n: all) and forget them. */
static void
conn_in_fds_drop(struct conn *c, size_t n)
{
	size_t	i;

	if (n > c->ifd_n)
		n = c->ifd_n;
	if (n == 0)
		return;
	for (i = 0; i < n; i++)
		loop_fd_close(c->ifd[i]);
	conn_in_fds_shift(c, n);
}

static void
conn_free(struct conn *c)
{
	if (c->pair)
		isolate_pair_closing(c->from);
	conn_out_drop(c);
	conn_in_fds_drop(c, c->ifd_n);
	free(c->ifd);
	if (c->peer != 0)
		table_del(&peers, c->peer);
	if (c->dirty)
		TAILQ_REMOVE(&dirty, c, dirty_link);
	LIST_REMOVE(c, link);
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	if (c->retry != NULL)
		event_free(c->retry);
	evmem_free(c->out);
	if (c->in != NULL)
		free(c->in - IN_HEAD);
	if (c->incoming)
		acc_closed(listen_acc);
	free(c->why);
	loop_fd_close(c->fd);
	evmem_free(c);
	conn_room_wake();	/* a send to that peer now fails at once */
}

static ISO_HOT struct conn *
conn_new(int fd)
{
	struct conn	*c;

	if ((c = evmem_calloc(sizeof *c)) == NULL)
		return (NULL);
	static uint64_t	 serials;

	c->fd = fd;
	c->serial = ++serials;
	STAILQ_INIT(&c->ofds);
	LIST_INSERT_HEAD(&conns, c, link);
	return (c);
}

/* ---- receiving ---------------------------------------------------------- */

/*
 * Frames a supervisor carried from another node come each with its
 * stream and number (a ["via", STREAM, SEQ] control frame before it), so
 * that one delivered again by the next supervisor after a killed one is
 * dropped here: the last number seen of each stream, for the VIA_MAX
 * streams used last. Allocated on the first such frame: 6 KiB that,
 * among the library's variables, would spread the ones every spawn
 * writes over two pages, each one more copied page per isolate.
 */
#define VIA_MAX	256
static struct via {
	uint64_t	stream, seq, used;
}		*vias;
static uint64_t	via_clock;

/* 1 if frame seq of stream was delivered here already; else it is now
   (also when no memory can be had for the record: rather twice than
   never). */
static int
via_seen(uint64_t stream, uint64_t seq)
{
	struct via	*v, *old;

	if (vias == NULL && (vias = calloc(VIA_MAX, sizeof *vias)) == NULL)
		return (0);
	old = &vias[0];
	for (v = vias; v < vias + VIA_MAX; v++) {
		if (v->used != 0 && v->stream == stream)
			break;
		if (v->used < old->used)
			old = v;
	}
	if (v == vias + VIA_MAX) {
		v = old;
		v->stream = stream;
	} else if (seq <= v->seq)
		return (1);
	v->seq = seq;
	v->used = ++via_clock;
	return (0);
}

/*
 * A control frame (port 0; takes m). ["ping", ...]: ping.c's.
 * ["ended", id, pid, port, message]:
 * isolate id (process pid) has ended; read what it sent us, then
 * deliver message to port (an exit or error notice comes after the
 * messages of the isolate it is about). Others are ignored, so that
 * newer peers may add kinds.
 */
static void
conn_control(struct conn *c, iso_msg *m)
{
	const char	*kind;
	const iso_msg	*notice;
	iso_msg		*copy;
	uint64_t	 id;
	int64_t		 pid, port;

	if (ping_control(m)) {		/* ping.c */
		iso_msg_free(m);
		return;
	}
	if (iso_msg_unpack(m, "[sUU!]", &kind, &c->via_stream, &c->via_seq) ==
	    0 && strcmp(kind, "via") == 0) {
		c->via = c->via_stream != 0;
		iso_msg_free(m);
		return;
	}
	if (iso_msg_unpack(m, "[sUIIO!]", &kind, &id, &pid, &port,
	    &notice) == 0 && strcmp(kind, "ended") == 0 && port > 0 &&
	    port <= UINT32_MAX && pid > 0 && pid <= INT32_MAX &&
	    (copy = iso_msg_copy(notice)) != NULL) {
		iso_msg_free(m);
		conn_settle(id, (pid_t)pid);
		port_deliver((uint32_t)port, copy);
		return;
	}
	iso_msg_free(m);
}

/*
 * Deliver one frame's payload: port number, then the message. `whole`:
 * the frame is all of c->in, so the message may take c->in's block for
 * its own and point into it instead of copying large bytes values.
 */
static int
conn_deliver(struct conn *c, const unsigned char *p, size_t n, int whole)
{
	struct wire_fds	 fds = { c->ifd, c->ifd_n, 0 };
	uint32_t	 port;
	size_t		 i, k;
	iso_msg		*m;
	int		 taken = 0;

	if (p[0] <= 0x7f) {
		port = p[0];
		k = 1;
	} else if (p[0] >= 0xcc && p[0] <= 0xce) {
		k = 1 + ((size_t)1 << (p[0] - 0xcc));
		if (n < k)
			goto bad;
		for (i = 1, port = 0; i < k; i++)
			port = port << 8 | p[i];
	} else
		goto bad;
	if (n <= k)
		goto bad;
	if (whole)
		m = wire_decode_in(c->in - IN_HEAD, IN_HEAD, p + k, n - k,
		    &taken, &fds);
	else
		m = wire_decode_fds(p + k, n - k, &fds);
	if (fds.used > 0) {
		/* the message's now, the program's, not the library's */
		for (i = 0; i < fds.used; i++)
			loop_fd_disown(c->ifd[i]);
		conn_in_fds_shift(c, fds.used);
	}
	if (taken) {
		c->in = NULL;
		c->in_len = c->in_cap = 0;
	}
	if (m == NULL) {
		conn_log("dropped a connection from pid %d: %s", (int)c->pid,
		    iso_error());
		return (-1);
	}
	if (port == 0)
		conn_control(c, m);
	else if (c->via && (c->via = 0, via_seen(c->via_stream, c->via_seq)))
		iso_msg_free(m);	/* had it, from a killed supervisor */
	else
		port_deliver(port, m);
	return (0);
bad:
	conn_log("dropped a connection from pid %d: frame: bad port number",
	    (int)c->pid);
	return (-1);
}

/*
 * Deliver every whole frame of buf; returns the bytes used, or -1 after a
 * bad frame. *need is set to the size of the partial frame left, if known.
 */
static ssize_t
conn_frames(struct conn *c, const char *buf, size_t len, size_t *need)
{
	size_t	off = 0, flen;

	*need = WIRE_HDR;
	while (len - off >= WIRE_HDR && !loop_stopping()) {
		if (wire_frame_len(buf + off, &flen) == -1) {
			conn_log("dropped a connection from pid %d: %s",
			    (int)c->pid, iso_error());
			return (-1);
		}
		if (len - off - WIRE_HDR < flen) {
			*need = WIRE_HDR + flen;
			break;
		}
		if (conn_deliver(c, (const unsigned char *)buf + off +
		    WIRE_HDR, flen, off == 0 && buf == c->in &&
		    WIRE_HDR + flen == len && flen > SCRATCH) == -1)
			return (-1);
		off += WIRE_HDR + flen;
	}
	return ((ssize_t)off);
}

/*
 * The shared scratch buffer, mapped on first use and wiped in a new
 * isolate, NULL without memory. Not in .bss, where its 64 KiB would
 * spread this file's variables over two pages that every new isolate
 * writes; and wiped rather than shared, so that neither the spawner's
 * next read nor the isolate's first copies a page of it.
 */
static char *
conn_scratch(void)
{
	void	*p;

	if (scratch != NULL)
		return (scratch);
	if ((p = mmap(NULL, SCRATCH, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		return (NULL);
#ifdef MADV_WIPEONFORK
	(void)madvise(p, SCRATCH, MADV_WIPEONFORK);	/* Linux 4.14 */
#endif
	return (scratch = p);
}

/* The spare buffer if it holds *cap bytes or more (*cap is set to its
   size), or NULL. */
static char *
conn_spare_take(size_t *cap)
{
	char	*p = spare;

	if (p == NULL || spare_cap < *cap)
		return (NULL);
	*cap = spare_cap;
	spare = NULL;
	spare_cap = 0;
	return (p);
}

/* Keep p (cap bytes) as the spare if it is the largest, or free it. */
static void
conn_spare_give(char *p, size_t cap)
{
	if (spare_cap < cap) {
		free(spare);
		spare = p;
		spare_cap = cap;
	} else
		free(p);
}

/*
 * The capacity for a partial frame of `need` bytes of which `len` are
 * here, c->in holding in_cap: a small frame gets all of it at once; a
 * large one grows with what arrives (doubling, at least a scratch's worth
 * of room for the next read), so a header that announces 200 MiB and
 * stops there costs what came, not what was announced.
 */
static size_t
conn_in_cap(const struct conn *c, size_t len, size_t need)
{
	size_t	cap;

	if (need <= IN_WHOLE)
		return (need);
	if (c->in_cap > len)
		return (c->in_cap);	/* room left for the next read */
	cap = c->in_cap * 2 > len + SCRATCH ? c->in_cap * 2 : len + SCRATCH;
	if (cap < IN_WHOLE)
		cap = IN_WHOLE;
	return (cap < need ? cap : need);
}

/*
 * Keep buf[0..len), the start of a frame of `need` bytes, in c->in. A
 * buffer larger than scratch is not freed when its frame is done but kept
 * as the process's one spare (shared with the send queues): large
 * messages in a row would otherwise map and fault in fresh pages for
 * every frame. A large frame read whole may instead become its message's
 * block (conn_deliver).
 */
static int
conn_keep(struct conn *c, const char *buf, size_t len, size_t need)
{
	char	*p;
	size_t	 cap, want;

	if (len == 0) {
		c->in_len = 0;
		if (c->in_cap > SCRATCH) {
			conn_spare_give(c->in - IN_HEAD, IN_HEAD + c->in_cap);
			c->in = NULL;
			c->in_cap = 0;
		}
		return (0);
	}
	if (need < len)
		need = len;
	want = conn_in_cap(c, len, need);
	if (c->in_cap < want) {
		cap = IN_HEAD + want;
		if ((p = conn_spare_take(&cap)) != NULL) {
			memcpy(p + IN_HEAD, buf, len);
			if (c->in != NULL)
				free(c->in - IN_HEAD);
		} else if (c->in != NULL && buf == c->in) {
			/* growing what is there: realloc may move no byte */
			if ((p = realloc(c->in - IN_HEAD, cap)) == NULL)
				return (-1);
		} else {
			if ((p = malloc(cap)) == NULL)
				return (-1);
			memcpy(p + IN_HEAD, buf, len);
			if (c->in != NULL)
				free(c->in - IN_HEAD);
		}
		c->in = p + IN_HEAD;
		c->in_cap = cap - IN_HEAD;
	} else if (buf != c->in)
		memmove(c->in, buf, len);
	c->in_len = len;
	return (0);
}

/*
 * recvmsg into buf, keeping the descriptors that come (close-on-exec) at
 * the end of c's FIFO: read's result, or -2 after a hostile peer (more
 * than fit, or cut short), said on stderr.
 */
static ISO_HOT ssize_t
conn_recv(struct conn *c, char *buf, size_t room)
{
	int	fds[WIRE_FDS_MAX], *p;
	size_t	i, k = 0, cap;
	ssize_t	n;

	if ((n = frame_recvmsg(c->fd, buf, room, fds, &k)) == -2)
		goto bad;
	if (n <= 0 || k == 0)
		return (n);
	if (c->ifd_n + k > c->ifd_cap) {
		cap = c->ifd_cap * 2 > c->ifd_n + k ? c->ifd_cap * 2 :
		    c->ifd_n + k;
		if ((p = realloc(c->ifd, cap * sizeof *p)) == NULL) {
			for (i = 0; i < k; i++)
				close(fds[i]);
			conn_log("dropped a connection from pid %d: out of "
			    "memory for its descriptors", (int)c->pid);
			return (-2);
		}
		c->ifd = p;
		c->ifd_cap = cap;
	}
	for (i = 0; i < k; i++) {
		c->ifd[c->ifd_n++] = fds[i];
		(void)loop_fd_own(fds[i]);
	}
	return (n);
bad:
	conn_log("dropped a connection from pid %d: %s", (int)c->pid,
	    iso_error());
	return (-2);
}

/*
 * Read what c's peer sent and deliver every whole frame, until the socket
 * is drained. A listener may end up here again for another connection
 * (conn_settle): only the outermost read uses the shared scratch buffer.
 * 0, or -1 when c was freed (its peer closed, or sent a bad frame).
 */
static ISO_HOT int
conn_read(struct conn *c)
{
	static int	 depth;
	char		*buf, *scr;
	size_t		 room, len, need;
	ssize_t		 n, used;
	int		 rc = 0;

	if ((scr = depth > 0 ? malloc(SCRATCH) : conn_scratch()) == NULL)
		return (0);	/* the loop reads it later */
	depth++;
	c->reading = 1;
	for (;;) {
		/* Nothing pending: read into scratch and copy only a tail. */
		if (c->in_len == 0) {
			buf = scr;
			room = SCRATCH;
		} else {
			buf = c->in + c->in_len;
			room = c->in_cap - c->in_len;
		}
		n = conn_recv(c, buf, room);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -2)
			goto gone;
		if (n <= 0) {
			if (n == 0 && c->in_len > 0)
				conn_log("dropped a connection from pid %d: "
				    "frame: truncated at end of stream",
				    (int)c->pid);
			goto gone;
		}
		if (buf != scr) {
			buf = c->in;
			len = c->in_len + (size_t)n;
		} else
			len = (size_t)n;
		if ((used = conn_frames(c, buf, len, &need)) == -1)
			goto gone;
		if (loop_stopping())
			break;
		/* buf may be gone (a message took c->in) when all was used */
		if (conn_keep(c, (size_t)used == len ? NULL : buf + used,
		    len - (size_t)used, need) == -1) {
			conn_log("dropped a connection from pid %d: out of "
			    "memory", (int)c->pid);
			goto gone;
		}
		/* A frame's descriptors come with its first byte: with no
		   partial frame left, any still here belong to none. */
		if (c->in_len == 0 && c->ifd_n > 0) {
			conn_log("dropped a connection from pid %d: %zu "
			    "descriptors came with no frame", (int)c->pid,
			    c->ifd_n);
			goto gone;
		}
		if ((size_t)n < room)
			break;		/* drained: no extra read */
	}
	c->reading = 0;
	goto out;
gone:
	conn_free(c);
	rc = -1;
out:
	depth--;
	if (scr != scratch)
		free(scr);
	return (rc);
}

static ISO_HOT void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)conn_read(arg);
}

static size_t	conn_queued(const struct conn *);
static int	conn_refusal(struct conn *);

/*
 * A connection to `peer` on `fd`, one end of a socketpair made when one
 * of us spawned the other: open at once, and it carries frames both ways
 * (unlike a connection we made, where only EOF comes back). NULL with
 * errno; fd is closed then.
 */
static ISO_HOT struct conn *
conn_pair_new(int fd, uint64_t peer)
{
	struct event_base	*base;
	struct conn		*c;

	if ((base = loop_base()) == NULL || (c = conn_new(fd)) == NULL) {
		loop_fd_close(fd);
		msg_fail(ENOMEM, "connection: out of memory");
		return (NULL);
	}
	c->state = CONN_OPEN;
	c->pair = 1;
	c->from = peer;
	if ((c->rev = event_new(base, fd, EV_READ | EV_PERSIST, conn_read_cb,
	    c)) == NULL || table_put(&peers, peer, c) == -1) {
		conn_free(c);
		msg_fail(ENOMEM, "connection: out of memory");
		return (NULL);
	}
	c->peer = peer;
	if (event_add(c->rev, NULL) == -1) {
		conn_free(c);
		msg_fail(EIO, "connection: cannot watch it");
		return (NULL);
	}
	return (c);
}

int
conn_pair(int fd, uint64_t peer)
{
	if (loop_fd_own(fd) == -1) {
		close(fd);
		return (-1);
	}
	return (conn_pair_new(fd, peer) == NULL ? -1 : 0);
}

void
conn_unpair(uint64_t peer)
{
	struct conn	*c;

	if ((c = table_get(&peers, peer)) != NULL)
		conn_free(c);
}

void
conn_pair_reaped(uint64_t peer)
{
	struct conn	*c;
	char		 b;
	ssize_t		 n;

	/* A program that never runs the loop would keep one descriptor a
	   spawn. With nothing unread and nothing to write, there is nothing
	   to lose: free it now. Not from inside the loop, though: its read
	   callback may be the one delivering (and the loop sees the end). */
	if (loop_dispatching() || (c = table_get(&peers, peer)) == NULL ||
	    !c->pair || conn_queued(c) > 0)
		return;
	do
		n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == 0)
		conn_free(c);
}

ISO_HOT void
conn_spawner(int fd, uint64_t peer)
{
	if (loop_fd_own(fd) == -1) {
		close(fd);	/* we shall connect to its socket instead */
		return;
	}
	spawner_fd = fd;
	spawner_id = peer;
}

void
conn_forked(void)
{
	struct conn	*c;

	if (spawner_fd != -1)
		close(spawner_fd);
	else if (spawner_id != 0 && (c = table_get(&peers, spawner_id)) !=
	    NULL && c->pair)
		close(c->fd);
}

/* The connection to our spawner on the pair, on first use. */
static struct conn *
conn_spawner_open(void)
{
	int	fd = spawner_fd;

	spawner_fd = -1;
	return (conn_pair_new(fd, spawner_id));
}

static void
conn_acc_log(const char *line, void *arg)
{
	(void)arg;
	conn_log("%s", line);
}

/* A peer connected to our socket (accept.c checked it). */
static void
conn_take(int fd, pid_t pid, void *arg)
{
	struct conn	*c;

	(void)arg;
	if (loop_fd_own(fd) == -1) {
		close(fd);
		acc_closed(listen_acc);
		return;
	}
	if ((c = conn_new(fd)) == NULL ||
	    (c->rev = event_new(loop_base(), fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c)) == NULL ||
	    event_add(c->rev, NULL) == -1) {
		if (c != NULL)
			conn_free(c);
		else
			loop_fd_close(fd);
		acc_closed(listen_acc);
		return;
	}
	c->incoming = 1;
	c->pid = pid;
}

ISO_HOT int
conn_listen(void)
{
	struct event_base	*base;
	static const struct acc_ops ops = { conn_take, conn_acc_log };
	char			 name[64];
	int			 fd = -1, saved;

	if (listen_fd != -1)
		return (0);
	/* With ports of our own, what our spawner sends us must be read. */
	if (spawner_fd != -1)
		(void)conn_spawner_open();
	if ((base = loop_base()) == NULL || rtdir_fd() == -1)
		return (-1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		goto fail;
	if (loop_fd_own(fd) == -1) {
		close(fd);
		fd = -1;
		errno = ENOMEM;
		goto fail;
	}
	if (rtdir_id_listen(fd, loop_self(), SOMAXCONN) == -1) {
		saved = errno;
		loop_fd_close(fd);
		errno = saved;
		return (-1);	/* iso_error() says why */
	}
	memcpy(name, "isolate ", 8);	/* "isolate %016llx" */
	loop_hex16(name + 8, loop_self());
	name[24] = '\0';
	if ((listen_acc = acc_new(base, fd, ACC_ISOLATE, &msg_limit_conns,
	    name, &ops, NULL)) == NULL)
		goto fail;
	listen_fd = fd;
	return (0);
fail:
	saved = errno;
	if (fd != -1)
		loop_fd_close(fd);
	return (msg_fail(saved, "cannot listen as isolate %016llx: %s",
	    (unsigned long long)loop_self(), strerror(saved)));
}

/*
 * Isolate id, process pid, has ended: deliver now what it sent us (its
 * connections are read to the end: it writes nothing more), so that a
 * notice of its end, delivered next, comes after its messages. Its
 * connections are the pair it was spawned on (either way) and those it
 * made to our socket, known by the pid that connected, some of them
 * maybe still in the backlog. A connection being read further up the
 * stack is left to that read.
 */
void
conn_settle(uint64_t id, pid_t pid)
{
	static unsigned	 gen;
	struct conn	*c;

	acc_now(listen_acc);
	if (++gen == 0)
		gen = 1;
	LIST_FOREACH(c, &conns, link)
		if (c->pair ? c->from == id : c->peer == 0 && c->pid == pid)
			c->settle = gen;
	/* Each read may free any connection: look again from the start. */
	for (;;) {
		LIST_FOREACH(c, &conns, link)
			if (c->settle == gen && !c->reading)
				break;
		if (c == NULL)
			break;
		c->settle = 0;
		(void)conn_read(c);
	}
}

/* ---- sending ------------------------------------------------------------- */

/* The bytes waiting in c's queue. */
static size_t
conn_queued(const struct conn *c)
{
	return (c->out_len - c->out_off);
}

int
conn_progress(uint64_t peer, uint64_t *serial, uint64_t *queued,
    uint64_t *sent)
{
	struct conn	*c;

	if ((c = table_get(&peers, peer)) == NULL)
		return (-1);
	*serial = c->serial;
	*sent = c->sent;
	*queued = c->sent + conn_queued(c);
	return (0);
}

/* Room for n more bytes at the end of c's queue, or NULL. */
static inline __attribute__((always_inline)) char *
conn_reserve(struct conn *c, size_t n)
{
	size_t	 q = conn_queued(c), cap;
	char	*p;

	if (c->out_cap - c->out_len < n) {
		if (c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, q);
			c->out_off = 0;
			c->out_len = q;
		}
		if (c->out_cap - q < n) {
			if (n > SIZE_MAX / 2 - q)
				return (NULL);
			cap = c->out_cap * 2 > q + n ? c->out_cap * 2 : q + n;
			if (cap < OUT_FIRST)
				cap = OUT_FIRST;
			if (cap > OUT_KEEP && (p = conn_spare_take(&cap)) !=
			    NULL) {
				if (q > 0)
					memcpy(p, c->out, q);
				evmem_free(c->out);
			} else if ((p = evmem_realloc(c->out, cap)) == NULL)
				return (NULL);
			c->out = p;
			c->out_cap = cap;
		}
	}
	return (c->out + c->out_len);
}

/* Write what c's queue holds up to its next frame with descriptors, or
   that frame (and what follows it up to the next such) with them. */
static ssize_t
conn_send_some(struct conn *c)
{
	struct out_fds	*f = STAILQ_FIRST(&c->ofds), *next;
	size_t		 n = conn_queued(c);
	ssize_t		 r;

	if (f == NULL)
		return (send(c->fd, c->out + c->out_off, n,
		    MSG_NOSIGNAL | MSG_DONTWAIT));
	if (f->at > c->sent) {
		if (f->at - c->sent < n)
			n = (size_t)(f->at - c->sent);
		return (send(c->fd, c->out + c->out_off, n,
		    MSG_NOSIGNAL | MSG_DONTWAIT));
	}
	if ((next = STAILQ_NEXT(f, link)) != NULL && next->at - c->sent < n)
		n = (size_t)(next->at - c->sent);
	if ((r = frame_sendmsg(c->fd, c->out + c->out_off, n, f->fd, f->n,
	    MSG_DONTWAIT)) > 0) {
		/* the kernel holds them now */
		STAILQ_REMOVE_HEAD(&c->ofds, link);
		for (n = 0; f->own && n < f->n; n++)
			loop_fd_close(f->fd[n]);
		free(f);
	}
	return (r);
}

static void	conn_retry_cb(evutil_socket_t, short, void *);

/*
 * The descriptors this user has in flight (sent, not yet received by
 * anyone) are at its RLIMIT_NOFILE: the kernel takes more once receivers
 * take some, and says nothing when. Keep the queue and try again on a
 * timer (backing off to RETRY_MAX_MS); the peer is not gone. 0.
 */
static int
conn_refs_wait(struct conn *c)
{
	struct event_base	*base;
	struct timeval		 tv;

	if (c->retry == NULL && ((base = loop_base()) == NULL ||
	    (c->retry = evtimer_new(base, conn_retry_cb, c)) == NULL)) {
		event_add(c->wev, NULL);	/* a busy wait beats a loss */
		return (0);
	}
	if (!c->refs_wait || c->retry_ms < 1)
		c->retry_ms = RETRY_FIRST_MS;
	else if (c->retry_ms < RETRY_MAX_MS)
		c->retry_ms *= 2;
	c->refs_wait = 1;
	tv.tv_sec = 0;
	tv.tv_usec = c->retry_ms * 1000;
	evtimer_add(c->retry, &tv);
	return (0);
}

/* Write c's queue: 0, or -1 when the peer is gone: what waited for it is
   dropped, as Dart drops it, and c freed (a pair: no longer a peer, and
   freed once what the peer sent before it went is read). */
static ISO_HOT int
conn_write(struct conn *c)
{
	ssize_t	r;

	if (c->state != CONN_OPEN)
		return (0);
	while (conn_queued(c) > 0) {
		r = conn_send_some(c);
		conn_writes++;
		if (r == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				event_add(c->wev, NULL);
				conn_room_wake();
				return (0);
			}
			if (errno == ETOOMANYREFS)
				return (conn_refs_wait(c));
			if (c->pair) {
				/* The peer may have written before it went:
				   conn_read_cb takes that, and frees c at EOF. */
				table_del(&peers, c->peer);
				c->peer = 0;
				conn_out_drop(c);
				c->state = CONN_DEAD;
				if (c->wev != NULL)
					event_del(c->wev);
				conn_room_wake();
				return (-1);
			}
			if (!conn_refusal(c))
				conn_free(c);
			return (-1);
		}
		c->out_off += (size_t)r;
		c->sent += (uint64_t)r;
	}
	c->out_off = c->out_len = 0;
	if (c->out_cap > OUT_KEEP) {
		conn_spare_give(c->out, c->out_cap);
		c->out = NULL;
		c->out_cap = 0;
	}
	conn_room_wake();
	return (0);
}

/* ---- waiting for room ---------------------------------------------------- */

/* 1 if a frame of `need` bytes (0: any, once the queue is down to half
   its bound) would be taken for peer now; an unknown or gone peer has
   room (a send to it connects, or fails at once). */
static int
conn_has_room(uint64_t peer, size_t need)
{
	struct conn	*c;
	size_t		 q;

	if ((c = table_get(&peers, peer)) == NULL || c->state == CONN_DEAD)
		return (1);
	q = conn_queued(c);
	if (need == 0)
		return (q <= msg_limit_queue / 2);
	return (q == 0 || q + need <= msg_limit_queue);
}

static void
conn_room_cb(evutil_socket_t fd, short what, void *arg)
{
	struct room_waits	 ready = TAILQ_HEAD_INITIALIZER(ready);
	struct room_wait	*w, *next;

	(void)fd;
	(void)what;
	(void)arg;
	/* Take out the ready ones first: a callback may add or cancel. */
	for (w = TAILQ_FIRST(&room_waits); w != NULL; w = next) {
		next = TAILQ_NEXT(w, link);
		if (conn_has_room(w->peer, w->need)) {
			TAILQ_REMOVE(&room_waits, w, link);
			TAILQ_INSERT_TAIL(&ready, w, link);
		}
	}
	while ((w = TAILQ_FIRST(&ready)) != NULL) {
		TAILQ_REMOVE(&ready, w, link);
		w->cb(w->ud);
		free(w);
	}
}

/* Some queue got shorter: see, from the loop, who can go on. */
static void
conn_room_wake(void)
{
	if (room_ev != NULL && !TAILQ_EMPTY(&room_waits))
		event_active(room_ev, EV_TIMEOUT, 0);
}

int
conn_on_room(uint64_t peer, size_t need, void (*cb)(void *), void *ud)
{
	struct event_base	*base;
	struct room_wait	*w;

	if ((base = loop_base()) == NULL)
		return (-1);
	if (room_ev == NULL &&
	    (room_ev = event_new(base, -1, 0, conn_room_cb, NULL)) == NULL)
		return (msg_fail(ENOMEM, "out of memory"));
	if ((w = calloc(1, sizeof *w)) == NULL)
		return (msg_fail(ENOMEM, "out of memory"));
	w->peer = peer;
	w->need = need;
	w->cb = cb;
	w->ud = ud;
	TAILQ_INSERT_TAIL(&room_waits, w, link);
	/* Room already: called from the loop all the same, never from
	   inside this call. */
	if (conn_has_room(peer, need))
		event_active(room_ev, EV_TIMEOUT, 0);
	return (0);
}

void
conn_on_room_cancel(void (*cb)(void *), void *ud)
{
	struct room_wait	*w, *next;

	for (w = TAILQ_FIRST(&room_waits); w != NULL; w = next) {
		next = TAILQ_NEXT(w, link);
		if (w->cb == cb && w->ud == ud) {
			TAILQ_REMOVE(&room_waits, w, link);
			free(w);
		}
	}
}

size_t
conn_frame_need(const iso_msg *m)
{
	size_t	bound;

	if (wire_bound_fds(m, &bound) == -1)
		return (0);
	return (WIRE_HDR + PORT_MAX_LEN + bound);
}

int
conn_room(uint64_t peer, size_t need)
{
	return (conn_has_room(peer, need));
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_write(arg);
}

/*
 * A peer that refuses a connection says why in a control frame before it
 * closes it (docs/protocol.md): if that is what c holds, log it, close c
 * and keep it as CONN_REFUSED for the next send to report; 1 then.
 */
static int
conn_refusal(struct conn *c)
{
	unsigned char		 p[512];	/* not scratch: this may run
						   while it is being read */
	const char		*op = NULL, *ename = NULL, *why = NULL;
	iso_msg			*m;
	size_t			 flen;
	ssize_t			 n;

	do
		n = recv(c->fd, p, sizeof p, MSG_PEEK | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n < WIRE_HDR + 2 || p[WIRE_HDR] != 0 ||
	    wire_frame_len(p, &flen) == -1 || (size_t)n < WIRE_HDR + flen ||
	    (m = iso_msg_decode(p + WIRE_HDR + 1, flen - 1)) == NULL)
		return (0);
	if (iso_msg_unpack(m, "{s:s s:s s:s}", "op", &op, "errno", &ename,
	    "error", &why) == -1 || strcmp(op, "refused") != 0) {
		iso_msg_free(m);
		return (0);
	}
	/* Said now only if it cost queued bytes: the next send says it
	   anyway (a proxy of an isolate that ended refuses its idle
	   senders). */
	if (conn_queued(c) > 0)
		conn_log("isolate %016llx refused our connection, %zu queued "
		    "bytes dropped: %s", (unsigned long long)c->peer,
		    conn_queued(c), why);
	c->refused = sup_errno_value(ename);
	c->why = strdup(why);
	iso_msg_free(m);
	c->state = CONN_REFUSED;
	conn_out_drop(c);
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->retry);
	c->rev = c->wev = c->retry = NULL;
	loop_fd_close(c->fd);
	c->fd = -1;
	return (1);
}

/* The next send to a refused peer fails, as the peer said. */
static int
conn_refused_fail(struct conn *c)
{
	uint64_t	peer = c->peer;
	int		e = c->refused;

	msg_fail(e, "send: isolate %016llx refused the connection: %s",
	    (unsigned long long)peer, c->why != NULL ? c->why : "");
	conn_free(c);
	errno = e;
	return (-1);
}

/* An outgoing connection is readable only when the peer has gone, or
   refused it. */
static void
conn_eof_cb(evutil_socket_t fd, short what, void *arg)
{
	char	 small[256], *buf = conn_scratch();
	size_t	 len = SCRATCH;
	ssize_t	 n;

	(void)what;
	if (conn_refusal(arg))
		return;
	if (buf == NULL) {
		buf = small;
		len = sizeof small;
	}
	while ((n = read(fd, buf, len)) > 0 ||
	    (n == -1 && errno == EINTR))
		;
	if (n == 0 || errno != EAGAIN)
		conn_free(arg);
}


/* Give c what sending needs, on first use for a pair: 0 or -1. */
static ISO_HOT int
conn_outbuf(struct conn *c)
{
	if (c->wev == NULL && (c->wev = event_new(loop_base(), c->fd,
	    EV_WRITE, conn_write_cb, c)) == NULL)
		return (msg_fail(ENOMEM, "send: out of memory"));
	return (0);
}

/*
 * 0 connected, 1 try again later, -1 with errno. A connect that would
 * block (a full backlog) is made again from conn_retry_cb, through here:
 * the peer's uid is checked whichever call connects.
 */
static int
conn_connect(struct conn *c)
{
	if (rtdir_id_connect(c->fd, c->peer) == 0)
		return (0);
	if (errno == EAGAIN || errno == EINTR)
		return (1);
	/* Nobody listens as it: its isolate is gone (ids are not reused). */
	if (errno == ECONNREFUSED)
		return (msg_fail(ECONNREFUSED, "send: isolate %016llx is gone",
		    (unsigned long long)c->peer));
	return (-1);	/* iso_error() says what rtdir_id_connect found */
}

static void
conn_opened(struct conn *c)
{
	c->state = CONN_OPEN;
	event_add(c->rev, NULL);
}

static void
conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	struct timeval	 tv;
	int		 rc;

	(void)fd;
	(void)what;
	if (c->state == CONN_OPEN) {		/* conn_refs_wait */
		c->refs_wait = 0;
		conn_write(c);
		return;
	}
	if ((rc = conn_connect(c)) == 0) {
		conn_opened(c);
		conn_write(c);
		return;
	}
	/* Refused or gone: what waited is dropped, said here, and the next
	   send fails with ECONNREFUSED. A full backlog is a peer that is
	   there but busy: waited for however long (sends meanwhile queue up
	   to the bound, then ENOBUFS; at exit the stall limit applies). */
	if (rc == -1) {
		conn_log("dropped %zu queued bytes for isolate %016llx: %s",
		    conn_queued(c), (unsigned long long)c->peer, iso_error());
		conn_free(c);
		return;
	}
	if (c->retry_ms < RETRY_MAX_MS)
		c->retry_ms *= 2;
	tv.tv_sec = 0;
	tv.tv_usec = c->retry_ms * 1000;
	evtimer_add(c->retry, &tv);
}

static inline __attribute__((always_inline)) struct conn *
conn_peer(uint64_t peer)
{
	struct event_base	*base;
	struct conn		*c;
	struct timeval		 tv = { 0, RETRY_FIRST_MS * 1000 };
	int			 fd, rc, saved;

	if ((c = table_get(&peers, peer)) != NULL)
		return (c);
	if (peer == spawner_id && spawner_fd != -1)
		return (conn_spawner_open());
	if ((base = loop_base()) == NULL)
		return (NULL);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		msg_fail(errno, "send: socket: %s", strerror(errno));
		return (NULL);
	}
	if (loop_fd_own(fd) == -1) {
		close(fd);
		return (NULL);
	}
	if ((c = conn_new(fd)) == NULL) {
		loop_fd_close(fd);
		msg_fail(ENOMEM, "send: out of memory");
		return (NULL);
	}
	c->peer = peer;
	if ((c->rev = event_new(base, fd, EV_READ | EV_PERSIST, conn_eof_cb,
	    c)) == NULL ||
	    (c->wev = event_new(base, fd, EV_WRITE, conn_write_cb, c)) ==
	    NULL ||
	    (c->retry = evtimer_new(base, conn_retry_cb, c)) == NULL ||
	    table_put(&peers, peer, c) == -1) {
		c->peer = 0;
		conn_free(c);
		msg_fail(ENOMEM, "send: out of memory");
		return (NULL);
	}
	if ((rc = conn_connect(c)) == -1) {
		saved = errno;
		conn_free(c);
		errno = saved;
		return (NULL);
	}
	if (rc == 0)
		conn_opened(c);
	else {
		c->state = CONN_CONNECTING;
		c->retry_ms = RETRY_FIRST_MS;
		evtimer_add(c->retry, &tv);
	}
	return (c);
}

/*
 * Call once what sending calls (realloc, memmove, send), to no effect: a
 * spawner that has not sent to another isolate yet would otherwise leave
 * each new isolate to bind those symbols itself after fork (lazy binding
 * writes the GOT and ld.so's data: copy-on-write faults, every spawn).
 */
void
conn_prebind(void)
{
	char	*p, c = 0;

	if ((p = realloc(NULL, 2)) != NULL) {
		memmove(p, &c, 1);
		free(p);
	}
	(void)send(-1, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT);	/* EBADF */
	(void)recvmsg(-1, NULL, 0);				/* EBADF */
}

/* The port number as a MessagePack uint, shortest form. */
static size_t
conn_put_port(unsigned char *p, uint32_t port)
{
	if (port <= 0x7f) {
		p[0] = (unsigned char)port;
		return (1);
	}
	p[0] = 0xce;
	p[1] = (unsigned char)(port >> 24);
	p[2] = (unsigned char)(port >> 16);
	p[3] = (unsigned char)(port >> 8);
	p[4] = (unsigned char)port;
	return (5);
}

/*
 * The descriptors of m for its frame, in the order the frame refers to
 * them, borrowed from m; NULL when it has none (*rc 0) or cannot carry
 * them (*rc -1, errno).
 */
static ISO_HOT struct out_fds *
conn_fds_of(const iso_msg *m, int *rc)
{
	struct out_fds	*f;
	int		 fds[WIRE_FDS_MAX];
	size_t		 i, n;

	*rc = 0;
	if (!(m->flags & (MSG_FDS | MSG_MFD)))
		return (NULL);
	if ((n = msg_fds_list_all(m, fds, WIRE_FDS_MAX)) > WIRE_FDS_MAX) {
		*rc = msg_fail(EMSGSIZE, "send: %zu descriptors in one message, "
		    "more than %d", n, WIRE_FDS_MAX);
		return (NULL);
	}
	for (i = 0; i < n; i++)
		if (fds[i] < 0) {
			*rc = msg_fail(EBADF, "send: a descriptor was taken "
			    "out of the message");
			return (NULL);
		}
	if (n == 0)
		return (NULL);
	if ((f = malloc(sizeof *f + n * sizeof f->fd[0])) == NULL) {
		*rc = msg_fail(ENOMEM, "send: out of memory");
		return (NULL);
	}
	f->n = n;
	f->own = 0;
	memcpy(f->fd, fds, n * sizeof fds[0]);
	return (f);
}

/* f's frame waits in c's queue, not a byte of it sent: its descriptors
   become duplicates of ours (the message's are the caller's once the
   send returns). 0, or -1 with errno. */
static int
conn_fds_keep(struct out_fds *f)
{
	size_t	i, k;
	int	fd, saved;

	for (i = 0; i < f->n; i++) {
		if ((fd = fcntl(f->fd[i], F_DUPFD_CLOEXEC, 0)) == -1 ||
		    loop_fd_own(fd) == -1) {
			saved = fd == -1 ? errno : ENOMEM;
			if (fd != -1)
				close(fd);
			for (k = 0; k < i; k++)
				loop_fd_close(f->fd[k]);
			return (msg_fail(saved, "send: a descriptor: %s",
			    strerror(saved)));
		}
		f->fd[i] = fd;
	}
	f->own = 1;
	return (0);
}

/* 1 if f is still in c's queue of descriptors (not sent). */
static int
conn_fds_waiting(const struct conn *c, const struct out_fds *f)
{
	const struct out_fds	*g;

	STAILQ_FOREACH(g, &c->ofds, link)
		if (g == f)
			return (1);
	return (0);
}

static int	conn_queue_bound(iso_sendport, const iso_msg *, int);

/* Queue m for port `to.port` of isolate `to.isolate` (0: a control
   frame, which the queue's bound does not stop) and write it when it is
   time. */
static int
conn_queue(iso_sendport to, const iso_msg *m)
{
	return (conn_queue_bound(to, m, 1));
}

/* A frame being put in a queue: conn_frame_room, then conn_frame_end. */
struct conn_frame {
	iso_sendport	 to;
	int		 bound_check;
	struct conn	*c;
	unsigned char	*p;	/* its header */
	size_t		 k;	/* the port's bytes, after the header */
};

/* Room at the end of fr->to's queue for a frame of up to bound bytes of
   message: where the message goes, or NULL with errno (ENOBUFS past the
   queue's bound, unless fr->bound_check is 0 or fr->to.port is). fr is a
   struct conn_frame. Inline, with what it calls once, in both callers: a
   send's own path is as short as before it was shared. */
static inline __attribute__((always_inline)) void *
conn_frame_room(void *arg, size_t bound)
{
	struct conn_frame	*fr = arg;
	struct conn		*c;
	size_t			 queued;

	if ((c = conn_peer(fr->to.isolate)) != NULL &&
	    c->state == CONN_REFUSED) {
		conn_refused_fail(c);
		return (NULL);
	}
	if (c == NULL || conn_outbuf(c) == -1)
		return (NULL);
	queued = conn_queued(c);
	if (fr->bound_check && fr->to.port != 0 && queued > 0 &&
	    queued + bound > msg_limit_queue) {
		msg_fail(ENOBUFS, "send: %zu bytes already wait for isolate "
		    "%016llx", queued, (unsigned long long)fr->to.isolate);
		return (NULL);
	}
	if ((fr->p = (unsigned char *)conn_reserve(c, WIRE_HDR +
	    PORT_MAX_LEN + bound)) == NULL) {
		msg_fail(ENOMEM, "send: out of memory");
		return (NULL);
	}
	fr->c = c;
	fr->k = conn_put_port(fr->p + WIRE_HDR, fr->to.port);
	return (fr->p + WIRE_HDR + fr->k);
}

/* The frame fr made room for, with len bytes of message and the
   descriptors f (NULL: none; taken in every case), queued and written
   when it is time. 0, or -1 with errno. */
static inline __attribute__((always_inline)) int
conn_frame_end(struct conn_frame *fr, size_t len, struct out_fds *f)
{
	struct conn	*c = fr->c;
	size_t		 n = fr->k + len;

	if (n > msg_limit_frame) {
		free(f);
		return (msg_fail(EMSGSIZE, "send: %zu bytes, more than the "
		    "frame limit of %zu", n, msg_limit_frame));
	}
	wire_frame_hdr(fr->p, n);
	if (f != NULL) {
		f->at = c->sent + conn_queued(c);
		STAILQ_INSERT_TAIL(&c->ofds, f, link);
	}
	c->out_len += WIRE_HDR + n;
	/* A frame with descriptors is written at once, even in a callback:
	   what the kernel took needs no duplicate. */
	if (f == NULL && (loop_dispatching() || defer_writes)) {
		if (!c->dirty) {
			c->dirty = 1;
			TAILQ_INSERT_TAIL(&dirty, c, dirty_link);
		}
		return (0);
	}
	if (conn_write(c) == -1) {
		if ((c = table_get(&peers, fr->to.isolate)) != NULL &&
		    c->state == CONN_REFUSED)
			return (conn_refused_fail(c));
		return (msg_fail(ECONNREFUSED, "send: isolate %016llx is gone",
		    (unsigned long long)fr->to.isolate));
	}
	if (f != NULL && conn_fds_waiting(c, f) && conn_fds_keep(f) == -1) {
		/* the frame is the queue's last, untouched: take it back */
		STAILQ_REMOVE(&c->ofds, f, out_fds, link);
		free(f);
		c->out_len -= WIRE_HDR + n;
		return (-1);
	}
	return (0);
}

/* conn_queue; bound_check 0: the caller looked at the queue's bound. */
static ISO_HOT int
conn_queue_bound(iso_sendport to, const iso_msg *m, int bound_check)
{
	struct conn_frame	 fr = { to, bound_check, NULL, NULL, 0 };
	struct out_fds		*f;
	unsigned char		*p;
	size_t			 bound;
	int			 rc;

	if (wire_bound_fds(m, &bound) == -1 ||
	    (p = conn_frame_room(&fr, bound)) == NULL)
		return (-1);
	if ((f = conn_fds_of(m, &rc)) == NULL && rc == -1)
		return (-1);
	return (conn_frame_end(&fr, wire_encode_fds(m, p), f));
}

/* conn_frame_room, called by pack_encode_direct. */
static void *
conn_frame_reserve(void *arg, size_t bound)
{
	return (conn_frame_room(arg, bound));
}

int
conn_send_direct(iso_sendport to, const char *fmt, va_list *ap)
{
	struct conn_frame	fr = { to, 1, NULL, NULL, 0 };
	ssize_t			n;

	if ((n = pack_encode_direct(fmt, ap, conn_frame_reserve, &fr)) <= 0)
		return (n == 0 ? 1 : -1);
	return (conn_frame_end(&fr, (size_t)n, NULL));
}

ISO_HOT int
conn_send(iso_sendport to, const iso_msg *m)
{
	return (conn_queue(to, m));
}

int
conn_send_via(iso_sendport to, uint64_t stream, uint64_t seq,
    const iso_msg *m)
{
	iso_sendport	 sp = to;
	iso_msg		*ctl;
	int		 rc;

	if (!conn_has_room(to.isolate, conn_frame_need(m) + 32))
		return (msg_fail(ENOBUFS, "send: the queue to isolate %016llx "
		    "is full", (unsigned long long)to.isolate));
	sp.port = 0;
	if ((ctl = iso_msg_pack("[sUU]", "via", stream, seq)) == NULL)
		return (-1);
	rc = conn_queue(sp, ctl);
	iso_msg_free(ctl);
	if (rc == -1)
		return (-1);
	if ((rc = conn_queue_bound(to, m, 0)) == -1 &&
	    table_get(&peers, to.isolate) != NULL &&
	    (ctl = iso_msg_pack("[sUU]", "via", (uint64_t)0, (uint64_t)0)) !=
	    NULL) {
		/* Not queued: the next frame is no longer this one. */
		(void)conn_queue(sp, ctl);
		iso_msg_free(ctl);
	}
	return (rc);
}

int
conn_send_ended(iso_sendport to, uint64_t id, pid_t pid,
    const iso_msg *notice)
{
	iso_msg		*ctl;
	iso_sendport	 sp = to;
	int		 rc;

	if ((ctl = iso_msg_pack("[sUIIO]", "ended", id, (int64_t)pid,
	    (int64_t)to.port, notice)) == NULL)
		return (-1);
	sp.port = 0;
	rc = conn_queue(sp, ctl);
	iso_msg_free(ctl);
	return (rc);
}

void
conn_defer_writes(int on)
{
	defer_writes = on;
}

ISO_HOT void
conn_flush(void)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&dirty)) != NULL) {
		TAILQ_REMOVE(&dirty, c, dirty_link);
		c->dirty = 0;
		conn_write(c);
	}
}

static int
conn_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
}

/*
 * Write out everything queued, for as long as each reader makes progress:
 * a peer that takes nothing for msg_limit_stall ms loses what waits for
 * it (said on stderr), the others are still written. Our socket's name
 * goes with the process: it is abstract.
 */
ISO_HOT void
conn_drain(void)
{
	struct pollfd	 pfd[64];
	struct conn	*c, *next;
	size_t		 before;
	int		 now, n, more, rc, stall = (int)msg_limit_stall;

	LIST_FOREACH(c, &conns, link)
		if (conn_queued(c) > 0)
			break;
	/* Only now: a first clock_gettime would be bound here, writing
	   pages, in every new isolate that ends with nothing queued. */
	if (c == NULL)
		return;
	now = conn_now_ms();
	LIST_FOREACH(c, &conns, link)
		c->progress_ms = now;
	for (;;) {
		n = more = 0;
		for (c = LIST_FIRST(&conns); c != NULL; c = next) {
			next = LIST_NEXT(c, link);
			if (conn_queued(c) == 0)
				continue;
			if (c->state == CONN_CONNECTING) {
				if ((rc = conn_connect(c)) == -1) {
					conn_log("dropped %zu queued bytes for "
					    "isolate %016llx: %s",
					    conn_queued(c),
					    (unsigned long long)c->peer,
					    iso_error());
					conn_free(c);
					continue;
				}
				if (rc == 0)
					conn_opened(c);
			}
			if (c->state == CONN_OPEN) {
				before = conn_queued(c);
				if (conn_write(c) == -1 || conn_queued(c) == 0)
					continue;
				if (conn_queued(c) < before)
					c->progress_ms = now;
			}
			if (now - c->progress_ms >= stall) {
				conn_log("dropped %zu queued bytes for isolate "
				    "%016llx: it read nothing for %d ms",
				    conn_queued(c), (unsigned long long)c->peer,
				    now - c->progress_ms);
				conn_out_drop(c);
				continue;
			}
			if (c->state == CONN_OPEN && !c->refs_wait &&
			    n < (int)(sizeof pfd / sizeof pfd[0])) {
				pfd[n].fd = c->fd;
				pfd[n].events = POLLOUT;
				n++;
			} else
				more = 1;	/* connecting, or no room */
		}
		if (n == 0 && !more)
			break;
		if (poll(pfd, (nfds_t)n, more ? 10 : 100) == -1 &&
		    errno != EINTR)
			break;
		now = conn_now_ms();
	}
}

ISO_HOT void
conn_forget(void)
{
	loop_keep(LIST_FIRST(&conns));
	loop_keep(peers.slots);
	loop_keep(spare);
	loop_keep(listen_acc);
	loop_keep(TAILQ_FIRST(&room_waits));
	loop_keep(room_ev);
	TAILQ_INIT(&room_waits);
	room_ev = NULL;
	LIST_INIT(&conns);
	TAILQ_INIT(&dirty);
	memset(&peers, 0, sizeof peers);
	spare = NULL;
	spare_cap = 0;
	listen_acc = NULL;
	acc_forget();
	listen_fd = -1;		/* the spawner's: closed */
	spawner_fd = -1;
	spawner_id = 0;
}
