/*
 * bench_oneway.c: small messages one way (bench "oneway"), messages a
 * second from the first send to the last delivery.
 *
 *   isolate  a producer isolate sends {"msg": n} to a consumer isolate's
 *            listener with iso_sendf, CHUNK sends a callback (written
 *            together when it returns), yielding to its loop between
 *            chunks; the consumer unpacks each. Timed by the main isolate
 *            from "go" to "done".
 *   pack_send  the same, each message made with iso_msg_pack, sent with
 *            iso_send and freed.
 *   raw      the same 11-byte frames, prebuilt, written in 64 KiB batches
 *            by a forked child and read by the parent, which walks the
 *            length prefixes and counts frames.
 *
 * Rounds alternate between the three. QUICK=1: 3 short rounds.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "isolate.h"

#define BATCH		(64 * 1024)
#define CHUNK		5000		/* sends a callback: ~55 KB */
#define WAIT_MS		60000

/* ---- raw --------------------------------------------------------------- */

static double
raw_oneway(long want)
{
	static unsigned char	 buf[BATCH + BENCH_SMALL_FRAME];
	long			 per = BATCH / BENCH_SMALL_FRAME, batches, k;
	long			 frames = 0, total;
	size_t			 have = 0, off, flen;
	ssize_t			 r;
	int			 sv[2];
	pid_t			 pid;
	char			 go;
	double			 t;

	batches = (want + per - 1) / per;
	total = batches * per;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		bench_fail("socketpair: %s", strerror(errno));
	if ((pid = bench_fork()) == 0) {
		close(sv[0]);
		for (k = 0; k < per; k++)
			bench_small_frame(buf + k * BENCH_SMALL_FRAME, (int)k);
		if (bench_read_all(sv[1], &go, 1) != 1)
			_exit(1);
		for (k = 0; k < batches; k++)
			bench_write_all(sv[1], buf, (size_t)per *
			    BENCH_SMALL_FRAME);
		_exit(0);
	}
	close(sv[1]);
	t = bench_now();
	bench_write_all(sv[0], "g", 1);
	while (frames < total) {
		if ((r = read(sv[0], buf + have, BATCH)) <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			bench_fail("raw: read: %s", r == 0 ? "end of stream" :
			    strerror(errno));
		}
		have += (size_t)r;
		for (off = 0; have - off >= 4; off += flen) {
			flen = 4 + ((size_t)buf[off] << 24 |
			    (size_t)buf[off + 1] << 16 |
			    (size_t)buf[off + 2] << 8 | buf[off + 3]);
			if (flen != BENCH_SMALL_FRAME)
				bench_fail("raw: bad frame");
			if (have - off < flen)
				break;
			frames++;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	t = bench_now() - t;
	close(sv[0]);
	bench_reap(pid);
	return ((double)total / t);
}

/* ---- isolate ----------------------------------------------------------- */

struct consumer {
	iso_sendport	done;
	long		want, got;
};

static void
consume_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct consumer	*c = arg;
	iso_msg		*done;
	int		 n;

	if (iso_msg_unpack(m, "{s:i}", "msg", &n) == -1)
		bench_child_fail("consumer");
	if (++c->got < c->want)
		return;
	if ((done = iso_msg_pack("I", (int64_t)c->got)) == NULL ||
	    iso_send(c->done, done) == -1)
		bench_child_fail("consumer");
	iso_msg_free(done);
	iso_port_close(p);
}

/* [hello port, done port, count]: say hello with our port, count. */
static void
consumer_entry(const iso_msg *arg)
{
	static struct consumer	 c;
	iso_sendport		 hello;
	iso_port		*p;
	iso_msg			*m;
	int64_t			 want;

	if (iso_msg_unpack(arg, "[PPI]", &hello, &c.done, &want) == -1 ||
	    (p = iso_port_new()) == NULL ||
	    iso_port_listen(p, consume_cb, &c) == -1 ||
	    (m = iso_msg_pack("P", iso_port_sendport(p))) == NULL ||
	    iso_send(hello, m) == -1)
		bench_child_fail("consumer start");
	c.want = want;
	iso_msg_free(m);
}

struct producer {
	iso_sendport	 to;
	long		 left;
	int		 packed;	/* pack, send, free: not iso_sendf */
	iso_timer	*timer;
};

static void
produce_cb(void *arg)
{
	struct producer	*pr = arg;
	iso_msg		*m;
	long		 k;
	int		 rc;

	pr->timer = NULL;
	for (k = 0; k < CHUNK && pr->left > 0; k++) {
		if (!pr->packed)
			rc = iso_sendf(pr->to, "{s:i}", "msg",
			    (int)(pr->left & 0x7f));
		else {
			if ((m = iso_msg_pack("{s:i}", "msg",
			    (int)(pr->left & 0x7f))) == NULL)
				bench_child_fail("producer send");
			rc = iso_send(pr->to, m);
			iso_msg_free(m);
		}
		if (rc == -1 && errno != ENOBUFS)
			bench_child_fail("producer send");
		if (rc == -1)
			break;		/* the queue is full: later */
		pr->left--;
	}
	if (pr->left > 0 &&
	    (pr->timer = iso_timer_after(k < CHUNK ? 1 : 0, produce_cb,
	    pr)) == NULL)
		bench_child_fail("producer send");
}

/* On our port: [consumer port, count] starts; "bye" ends us. */
static void
producer_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct producer	*pr = arg;
	int64_t		 n;

	if (iso_msg_unpack(m, "[PI]", &pr->to, &n) == -1) {
		iso_timer_cancel(pr->timer);
		iso_port_close(p);
		return;
	}
	pr->left = n;
	produce_cb(pr);
}

/* [hello port, packed]: say hello with our port. */
static void
producer_entry(const iso_msg *arg)
{
	static struct producer	 pr;
	iso_sendport		 hello;
	iso_port		*p;
	iso_msg			*m;

	if (iso_msg_unpack(arg, "[Pb]", &hello, &pr.packed) == -1 ||
	    (p = iso_port_new()) == NULL ||
	    iso_port_listen(p, producer_cb, &pr) == -1 ||
	    (m = iso_msg_pack("P", iso_port_sendport(p))) == NULL ||
	    iso_send(hello, m) == -1)
		bench_child_fail("producer start");
	iso_msg_free(m);
}

static double
iso_oneway(long want, int packed)
{
	iso_isolate	*ci, *pi;
	iso_port	*ch, *ph, *done;
	iso_msg		*arg;
	double		 t;

	if ((ch = iso_port_new()) == NULL || (ph = iso_port_new()) == NULL ||
	    (done = iso_port_new()) == NULL ||
	    (arg = iso_msg_pack("[PPI]", iso_port_sendport(ch),
	    iso_port_sendport(done), (int64_t)want)) == NULL ||
	    iso_spawn(consumer_entry, arg, &ci) == -1)
		bench_fail("isolate: consumer: %s", iso_error());
	iso_msg_free(arg);
	if ((arg = iso_msg_pack("[Pb]", iso_port_sendport(ph), packed)) ==
	    NULL ||
	    iso_spawn(producer_entry, arg, &pi) == -1)
		bench_fail("isolate: producer: %s", iso_error());
	iso_msg_free(arg);
	t = bench_pipeline(pi, ph, ci, ch, done, want, WAIT_MS);
	return ((double)want / t);
}

int
main(void)
{
	double	raw[BENCH_ROUNDS_MAX], iso[BENCH_ROUNDS_MAX];
	double	packed[BENCH_ROUNDS_MAX];
	int	quick = bench_quick(), r, rounds = quick ? 3 : 9;
	long	nraw = quick ? 2000000 : 20000000;
	long	niso = quick ? 200000 : 1000000;

	bench_init("bench_oneway", 300);
	raw_oneway(nraw / 10);		/* warm-up */
	iso_oneway(niso / 10, 0);
	for (r = 0; r < rounds; r++) {
		raw[r] = raw_oneway(nraw);
		iso[r] = iso_oneway(niso, 0);
		packed[r] = iso_oneway(niso, 1);
	}
	bench_emit("oneway", "raw", "msg/s", "higher", raw, rounds);
	bench_emit("oneway", "isolate", "msg/s", "higher", iso, rounds);
	bench_emit("oneway", "pack_send", "msg/s", "higher", packed, rounds);
	return (0);
}
