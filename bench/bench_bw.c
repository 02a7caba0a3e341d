/*
 * bench_bw.c: bytes values one way, GB/s (benches "bw_1mib", "bw_64mib").
 *
 *   isolate  a producer isolate sends one prebuilt message, a shared
 *            bytes value (iso_bytes_new) of 1 MiB (64 MiB), over and
 *            over to a consumer isolate's listener, which checks its
 *            length and acks each one; the
 *            producer keeps WINDOW_BYTES in flight (at least one message)
 *            and waits for acks, as a sender must with a bounded queue.
 *            Timed by the main isolate from "go" to the consumer's "done".
 *   fresh    the same, but each message is new: the producer makes it
 *            with iso_bytes_new and writes every byte in place (the
 *            sender's one write), and the consumer reads every byte of
 *            what it receives (a receiver that uses the data).
 *   packed   as fresh, but the producer writes every byte into a buffer
 *            of its own and packs it (y#: a copy, plain bytes through
 *            the socket).
 *   raw      the same frames (length, port, bin32 header, the bytes)
 *            written whole by a forked child, read by the parent frame by
 *            frame into one buffer: header, then payload.
 *
 * Rounds alternate between them. QUICK=1: 3 short rounds.
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "isolate.h"

#define WINDOW_BYTES	(8u << 20)	/* half the default send queue */
#define WAIT_MS		120000
#define FRESH_IN_PLACE	1		/* iso_bw's fresh: iso_bytes_new */
#define FRESH_PACKED	2		/* ... y# of the producer's buffer */

/* ---- raw --------------------------------------------------------------- */

/*
 * The raw side's buffers come from mmap, not malloc: freeing a 1 MiB
 * malloc block here would raise glibc's mmap threshold in this process,
 * and the isolates forked after it would inherit that and receive into
 * reused heap memory instead of fresh pages: the isolate figure must be
 * that of a program that has not done so.
 */
static unsigned char *
raw_buf(size_t len)
{
	void	*p;

	if ((p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		bench_fail("mmap: %s", strerror(errno));
	return (p);
}

static double
raw_bw(size_t size, long count)
{
	unsigned char	*frame, *in, hdr[4];
	size_t		 flen = 4 + 1 + 5 + size, len;
	long		 k;
	int		 sv[2];
	pid_t		 pid;
	char		 go;
	double		 t;

	frame = raw_buf(flen);
	memset(frame, 0x5a, flen);
	len = flen - 4;
	frame[0] = (unsigned char)(len >> 24);
	frame[1] = (unsigned char)(len >> 16);
	frame[2] = (unsigned char)(len >> 8);
	frame[3] = (unsigned char)len;
	frame[4] = 1;				/* port 1 */
	frame[5] = 0xc6;			/* bin32 */
	frame[6] = (unsigned char)(size >> 24);
	frame[7] = (unsigned char)(size >> 16);
	frame[8] = (unsigned char)(size >> 8);
	frame[9] = (unsigned char)size;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		bench_fail("socketpair: %s", strerror(errno));
	if ((pid = bench_fork()) == 0) {
		close(sv[0]);
		if (bench_read_all(sv[1], &go, 1) != 1)
			_exit(1);
		for (k = 0; k < count; k++)
			bench_write_all(sv[1], frame, flen);
		_exit(0);
	}
	close(sv[1]);
	/* Our own buffer, touched: writing into `frame`, shared with the
	   child, would cost a copy-on-write fault a page. */
	in = raw_buf(flen);
	memset(in, 0, flen);
	t = bench_now();
	bench_write_all(sv[0], "g", 1);
	for (k = 0; k < count; k++) {
		if (bench_read_all(sv[0], hdr, 4) != 1)
			bench_fail("raw: end of stream");
		len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
		    (size_t)hdr[2] << 8 | hdr[3];
		if (len != flen - 4 || bench_read_all(sv[0], in, len) != 1)
			bench_fail("raw: bad frame");
	}
	t = bench_now() - t;
	close(sv[0]);
	bench_reap(pid);
	munmap(in, flen);
	munmap(frame, flen);
	return ((double)size * (double)count / t / 1e9);
}

/* ---- isolate ----------------------------------------------------------- */

struct consumer {
	iso_sendport	done, ack;
	int		have_ack;
	int64_t		want, got, size, fresh;
	uint64_t	sum;
	iso_msg		*ackmsg;
};

/* First [ack port] from the producer, then the bytes values. */
static void
consume_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct consumer	*c = arg;
	iso_msg		*done;
	size_t		 len;

	if (!c->have_ack) {
		if (iso_msg_unpack(m, "[P]", &c->ack) == -1)
			bench_child_fail("consumer");
		c->have_ack = 1;
		return;
	}
	const uint64_t	*w;
	size_t		 i;

	if ((w = iso_msg_bytes(m, &len)) == NULL || (int64_t)len != c->size ||
	    iso_send(c->ack, c->ackmsg) == -1)
		bench_child_fail("consumer");
	if (c->fresh) {
		for (i = 0; i < len / sizeof *w; i++)
			c->sum += w[i];
		if (c->sum == 1)	/* keeps the reads */
			bench_child_fail("consumer sum");
	}
	if (++c->got < c->want)
		return;
	if ((done = iso_msg_pack("I", c->got)) == NULL ||
	    iso_send(c->done, done) == -1)
		bench_child_fail("consumer");
	iso_msg_free(done);
	iso_port_close(p);
}

/* [hello port, done port, count, size]: say hello with our port. */
static void
consumer_entry(const iso_msg *arg)
{
	static struct consumer	 c;
	iso_sendport		 hello;
	iso_port		*p;
	iso_msg			*m;

	if (iso_msg_unpack(arg, "[PPIII]", &hello, &c.done, &c.want,
	    &c.size, &c.fresh) == -1 ||
	    (c.ackmsg = iso_msg_pack("n")) == NULL ||
	    (p = iso_port_new()) == NULL ||
	    iso_port_listen(p, consume_cb, &c) == -1 ||
	    (m = iso_msg_pack("P", iso_port_sendport(p))) == NULL ||
	    iso_send(hello, m) == -1)
		bench_child_fail("consumer start");
	iso_msg_free(m);
}

struct producer {
	iso_sendport	 to;
	iso_port	*acks;
	iso_msg		*data;
	char		*buf;		/* FRESH_PACKED: what is packed */
	int64_t		 left, size, fresh;
	long		 inflight, window;
};

static void	produce(struct producer *);

static void
retry_cb(void *arg)
{
	produce(arg);
}

/*
 * Send while the window and the queue allow. A full queue (ENOBUFS) is
 * retried at the next ack, or, with nothing in flight (what waits is
 * only our small first message), once the loop has written it.
 */
static void
produce(struct producer *pr)
{
	void	*p;

	while (pr->left > 0 && pr->inflight < pr->window) {
		if (pr->fresh == FRESH_IN_PLACE) {
			iso_msg_free(pr->data);
			if ((pr->data = iso_bytes_new((size_t)pr->size, &p)) ==
			    NULL)
				bench_child_fail("producer bytes");
			memset(p, (int)pr->left, (size_t)pr->size);
		} else if (pr->fresh == FRESH_PACKED) {
			iso_msg_free(pr->data);
			memset(pr->buf, (int)pr->left, (size_t)pr->size);
			if ((pr->data = iso_msg_pack("y#", pr->buf,
			    (size_t)pr->size)) == NULL)
				bench_child_fail("producer bytes");
		}
		if (iso_send(pr->to, pr->data) == -1) {
			if (errno != ENOBUFS)
				bench_child_fail("producer send");
			if (pr->inflight == 0 &&
			    iso_timer_after(0, retry_cb, pr) == NULL)
				bench_child_fail("producer timer");
			return;
		}
		pr->left--;
		pr->inflight++;
	}
}

static void
ack_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct producer	*pr = arg;

	(void)p;
	(void)m;
	pr->inflight--;
	produce(pr);
}

/* On our port: [consumer port, count] starts; "bye" ends us. */
static void
producer_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct producer	*pr = arg;
	iso_msg		*hi;

	if (iso_msg_unpack(m, "[PI]", &pr->to, &pr->left) == -1) {
		iso_port_close(pr->acks);
		iso_port_close(p);
		return;
	}
	if ((hi = iso_msg_pack("[P]", iso_port_sendport(pr->acks))) ==
	    NULL || iso_send(pr->to, hi) == -1)
		bench_child_fail("producer");
	iso_msg_free(hi);
	produce(pr);
}

/* [hello port, size]: build the message, say hello with our port. */
static void
producer_entry(const iso_msg *arg)
{
	static struct producer	 pr;
	iso_sendport		 hello;
	iso_port		*p;
	iso_msg			*m;
	void			*bytes;

	if (iso_msg_unpack(arg, "[PII]", &hello, &pr.size, &pr.fresh) == -1 ||
	    (pr.data = iso_bytes_new((size_t)pr.size, &bytes)) == NULL)
		bench_child_fail("producer start");
	memset(bytes, 0x5a, (size_t)pr.size);
	if (pr.fresh == FRESH_PACKED && (pr.buf = malloc((size_t)pr.size)) ==
	    NULL)
		bench_child_fail("producer start");
	pr.window = (long)(WINDOW_BYTES / (uint64_t)pr.size);
	if (pr.window < 1)
		pr.window = 1;
	if ((p = iso_port_new()) == NULL ||
	    (pr.acks = iso_port_new()) == NULL ||
	    iso_port_listen(p, producer_cb, &pr) == -1 ||
	    iso_port_listen(pr.acks, ack_cb, &pr) == -1 ||
	    (m = iso_msg_pack("P", iso_port_sendport(p))) == NULL ||
	    iso_send(hello, m) == -1)
		bench_child_fail("producer start");
	iso_msg_free(m);
}

static double
iso_bw(size_t size, long count, int fresh)
{
	iso_isolate	*ci, *pi;
	iso_port	*ch, *ph, *done;
	iso_msg		*arg;
	double		 t;

	if ((ch = iso_port_new()) == NULL || (ph = iso_port_new()) == NULL ||
	    (done = iso_port_new()) == NULL ||
	    (arg = iso_msg_pack("[PPIII]", iso_port_sendport(ch),
	    iso_port_sendport(done), (int64_t)count, (int64_t)size,
	    (int64_t)fresh)) ==
	    NULL || iso_spawn(consumer_entry, arg, &ci) == -1)
		bench_fail("isolate: consumer: %s", iso_error());
	iso_msg_free(arg);
	if ((arg = iso_msg_pack("[PII]", iso_port_sendport(ph),
	    (int64_t)size, (int64_t)fresh)) == NULL ||
	    iso_spawn(producer_entry, arg, &pi) == -1)
		bench_fail("isolate: producer: %s", iso_error());
	iso_msg_free(arg);
	t = bench_pipeline(pi, ph, ci, ch, done, count, WAIT_MS);
	return ((double)size * (double)count / t / 1e9);
}

static void
measure(const char *bench, size_t size, long count, int rounds)
{
	double	raw[BENCH_ROUNDS_MAX], iso[BENCH_ROUNDS_MAX];
	double	fresh[BENCH_ROUNDS_MAX], packed[BENCH_ROUNDS_MAX];
	int	r;

	raw_bw(size, count / 8 + 1);		/* warm-up */
	iso_bw(size, count / 8 + 1, 0);
	iso_bw(size, count / 8 + 1, FRESH_IN_PLACE);
	iso_bw(size, count / 8 + 1, FRESH_PACKED);
	for (r = 0; r < rounds; r++) {
		raw[r] = raw_bw(size, count);
		iso[r] = iso_bw(size, count, 0);
		fresh[r] = iso_bw(size, count, FRESH_IN_PLACE);
		packed[r] = iso_bw(size, count, FRESH_PACKED);
	}
	bench_emit(bench, "raw", "GB/s", "higher", raw, rounds);
	bench_emit(bench, "isolate", "GB/s", "higher", iso, rounds);
	bench_emit(bench, "fresh", "GB/s", "higher", fresh, rounds);
	bench_emit(bench, "packed", "GB/s", "higher", packed, rounds);
}

int
main(void)
{
	int	quick = bench_quick(), rounds = quick ? 3 : 9;

	bench_init("bench_bw", 400);
	measure("bw_1mib", (size_t)1 << 20, quick ? 64 : 512, rounds);
	measure("bw_64mib", (size_t)64 << 20, quick ? 3 : 12, rounds);
	return (0);
}
