/*
 * bench_rt.c: round trip of {"msg": n} between two isolates, listen
 * callbacks on both sides (bench "rt", impl "isolate"), against a blocking
 * socketpair ping-pong of the same 11 bytes each way between a parent and
 * a forked child in plain C (impl "raw"). Rounds alternate between the
 * two. Microseconds a round trip, one JSON line each (benchutil.h).
 *
 * QUICK=1 in the environment runs 3 short rounds.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "isolate.h"

#define WAIT_MS		20000	/* the echo isolate saying hello */

/* The echo isolate: every {"msg": n} back to the ping port; "bye" ends
   it. Its argument: [hello port, ping port]. */
static void
echo_cb(iso_port *p, const iso_msg *m, void *arg)
{
	iso_sendport	*to = arg;
	int		 n;

	if (iso_msg_unpack(m, "{s:i}", "msg", &n) == -1) {
		iso_port_close(p);
		return;
	}
	if (iso_send(*to, m) == -1)
		iso_port_close(p);
}

static void
echo_entry(const iso_msg *arg)
{
	static iso_sendport	 to;
	iso_sendport		 hp;
	iso_port		*p;
	iso_msg			*hello;

	if (iso_msg_unpack(arg, "[PP]", &hp, &to) == -1 ||
	    (p = iso_port_new()) == NULL ||
	    iso_port_listen(p, echo_cb, &to) == -1 ||
	    (hello = iso_msg_pack("P", iso_port_sendport(p))) == NULL)
		bench_child_fail("echo start");
	if (iso_send(hp, hello) == -1)
		bench_child_fail("echo start");
	iso_msg_free(hello);
}

struct ping {
	iso_sendport	to;
	long		left;
	int		failed;
};

static void
ping_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct ping	*st = arg;
	iso_msg		*next;
	int		 n;

	if (iso_msg_unpack(m, "{s:i}", "msg", &n) == -1) {
		st->failed = 1;
		iso_port_close(p);
		return;
	}
	if (--st->left == 0) {
		iso_port_close(p);
		return;
	}
	if ((next = iso_msg_pack("{s:i}", "msg", (int)(st->left & 0x7f))) ==
	    NULL || iso_send(st->to, next) == -1) {
		st->failed = 1;
		iso_port_close(p);
	}
	iso_msg_free(next);
}

static double
iso_rt(long iters)
{
	struct ping	 st;
	iso_isolate	*echo;
	iso_port	*p, *hp;
	iso_msg		*arg, *hello, *m;
	double		 t;

	memset(&st, 0, sizeof st);
	st.left = iters;
	if ((p = iso_port_new()) == NULL || (hp = iso_port_new()) == NULL ||
	    (arg = iso_msg_pack("[PP]", iso_port_sendport(hp),
	    iso_port_sendport(p))) == NULL)
		bench_fail("isolate: %s", iso_error());
	if (iso_spawn(echo_entry, arg, &echo) == -1)
		bench_fail("isolate: spawn: %s", iso_error());
	iso_msg_free(arg);
	if (iso_port_first(hp, &hello, WAIT_MS) == -1 ||
	    iso_msg_unpack(hello, "P", &st.to) == -1)
		bench_fail("isolate: no hello: %s", iso_error());
	iso_msg_free(hello);
	/* The echo isolate answers to p from now on. */
	if ((m = iso_msg_pack("{s:i}", "msg", 0)) == NULL ||
	    iso_port_listen(p, ping_cb, &st) == -1)
		bench_fail("isolate: %s", iso_error());
	t = bench_now();
	if (iso_send(st.to, m) == -1 || iso_run() == -1)
		bench_fail("isolate: %s", iso_error());
	t = bench_now() - t;
	iso_msg_free(m);
	if (st.failed || st.left != 0)
		bench_fail("isolate: the round trips stopped: %s", iso_error());
	/* "bye" ends the echo isolate. */
	if ((m = iso_msg_pack("s", "bye")) == NULL ||
	    iso_send(st.to, m) == -1)
		bench_fail("isolate: %s", iso_error());
	iso_msg_free(m);
	bench_end(echo, WAIT_MS);
	return (t / (double)iters * 1e6);
}

int
main(void)
{
	double	raw[BENCH_ROUNDS_MAX], iso[BENCH_ROUNDS_MAX];
	int	quick = bench_quick(), r, rounds = quick ? 3 : 9;
	long	iters = quick ? 3000 : 30000;

	bench_init("bench_rt", 300);
	bench_raw_rt(iters / 10);			/* warm-up */
	iso_rt(iters / 10);
	for (r = 0; r < rounds; r++) {
		raw[r] = bench_raw_rt(iters);
		iso[r] = iso_rt(iters);
	}
	bench_emit("rt", "raw", "us", "lower", raw, rounds);
	bench_emit("rt", "isolate", "us", "lower", iso, rounds);
	return (0);
}
