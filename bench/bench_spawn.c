/*
 * bench_spawn.c: starting isolates, one at a time.
 *
 *   spawn    (ms)  isolate: iso_spawn of an entry that sends one message
 *                  back, the message taken with iso_port_first, then the
 *                  end awaited through an exit listener (the spawner has
 *                  reaped it by then).
 *   compute  (us)  isolate: iso_compute of a function returning its
 *                  argument plus one.
 *   raw, for both: socketpair + fork; the child writes one 11-byte frame
 *                  and _exits; the parent reads it, waitpids, closes.
 *
 * Rounds alternate between raw and isolate. QUICK=1: 3 short rounds.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "isolate.h"

#define WAIT_MS		20000

/* One raw fork: socketpair, fork, a frame back, waitpid. */
static void
raw_once(int n)
{
	unsigned char	frame[BENCH_SMALL_FRAME];
	int		sv[2];
	pid_t		pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		bench_fail("socketpair: %s", strerror(errno));
	if ((pid = bench_fork()) == 0) {
		bench_small_frame(frame, n);
		bench_write_all(sv[1], frame, sizeof frame);
		_exit(0);
	}
	if (bench_read_all(sv[0], frame, sizeof frame) != 1 ||
	    frame[BENCH_SMALL_FRAME - 1] != (n & 0x7f))
		bench_fail("raw: no frame from the child");
	bench_reap(pid);
	close(sv[0]);
	close(sv[1]);
}

static double
raw_batch(long iters)
{
	double	t = bench_now();
	long	k;

	for (k = 0; k < iters; k++)
		raw_once((int)k);
	return ((bench_now() - t) / (double)iters);
}

/* The spawned isolate: {"msg": 1} to the port it was given, then end. */
static void
hello_entry(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_msg		*m;

	if (iso_msg_unpack(arg, "P", &to) == -1 ||
	    (m = iso_msg_pack("{s:i}", "msg", 1)) == NULL ||
	    iso_send(to, m) == -1)
		bench_child_fail("hello");
	iso_msg_free(m);
}

static void
spawn_once(void)
{
	iso_isolate	*iso;
	iso_port	*p;
	iso_msg		*arg, *m;
	int		 n;

	if ((p = iso_port_new()) == NULL ||
	    (arg = iso_msg_pack("P", iso_port_sendport(p))) == NULL ||
	    iso_spawn(hello_entry, arg, &iso) == -1)
		bench_fail("spawn: %s", iso_error());
	iso_msg_free(arg);
	m = bench_first(p, WAIT_MS, "the spawned isolate's message");
	if (iso_msg_unpack(m, "{s:i}", "msg", &n) == -1 || n != 1)
		bench_fail("spawn: a wrong message");
	iso_msg_free(m);
	bench_end(iso, WAIT_MS);
}

static double
spawn_batch(long iters)
{
	double	t = bench_now();
	long	k;

	for (k = 0; k < iters; k++)
		spawn_once();
	return ((bench_now() - t) / (double)iters);
}

static iso_msg *
plus_one(const iso_msg *arg)
{
	int64_t	n;

	if (iso_msg_int(arg, &n) == -1)
		return (NULL);
	return (iso_msg_pack("I", n + 1));
}

static double
compute_batch(long iters)
{
	iso_msg	*arg, *res;
	int64_t	 n;
	double	 t = bench_now();
	long	 k;

	for (k = 0; k < iters; k++) {
		if ((arg = iso_msg_pack("I", (int64_t)k)) == NULL ||
		    iso_compute(plus_one, arg, &res) == -1)
			bench_fail("compute: %s", iso_error());
		if (iso_msg_int(res, &n) == -1 || n != k + 1)
			bench_fail("compute: a wrong result");
		iso_msg_free(res);
		iso_msg_free(arg);
	}
	return ((bench_now() - t) / (double)iters);
}

static void
measure(const char *bench, double (*iso)(long), long iters, int rounds,
    double scale, const char *unit)
{
	double	rv[BENCH_ROUNDS_MAX], iv[BENCH_ROUNDS_MAX];
	int	r;

	raw_batch(iters / 10 + 1);		/* warm-up */
	iso(iters / 10 + 1);
	for (r = 0; r < rounds; r++) {
		rv[r] = raw_batch(iters) * scale;
		iv[r] = iso(iters) * scale;
	}
	bench_emit(bench, "raw", unit, "lower", rv, rounds);
	bench_emit(bench, "isolate", unit, "lower", iv, rounds);
}

int
main(void)
{
	int	quick = bench_quick(), rounds = quick ? 3 : 9;
	long	iters = quick ? 30 : 400;

	bench_init("bench_spawn", 300);
	measure("spawn", spawn_batch, iters, rounds, 1e3, "ms");
	measure("compute", compute_batch, iters, rounds, 1e6, "us");
	return (0);
}
