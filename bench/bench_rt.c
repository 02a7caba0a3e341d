/*
 * bench_rt.c: round trip of {"msg": n} between two isolates, listen
 * callbacks on both sides (bench "rt", impl "isolate"), against a blocking
 * socketpair ping-pong of the same 11 bytes each way between a parent and
 * a forked child in plain C (impl "raw"). Bench "fd_rt": the same round
 * trip with a descriptor in the message both ways ({"msg": n, "fd": h},
 * impl "isolate": packed once, then each side sends back what came, so
 * each hop is a sendmsg with SCM_RIGHTS, a recvmsg that installs a new
 * descriptor, and its close when the message is freed) against
 * the plain message's figures of this run (impl "message"). Rounds
 * alternate between the three. Microseconds a round trip, one JSON line
 * each (benchutil.h).
 *
 * QUICK=1 in the environment runs 3 short rounds.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
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
	int		fd;	/* >= 0: sent in every message */
};

static iso_msg *
ping_msg(const struct ping *st, int n)
{
	if (st->fd >= 0)
		return (iso_msg_pack("{s:i s:h}", "msg", n, "fd", st->fd));
	return (iso_msg_pack("{s:i}", "msg", n));
}

static void
ping_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct ping	*st = arg;
	iso_msg		*next;
	int		 n;

	if (iso_msg_unpack(m, st->fd >= 0 ? "{s:i s:h}" : "{s:i}", "msg",
	    &n, "fd", &(int){ -1 }) == -1) {
		st->failed = 1;
		iso_port_close(p);
		return;
	}
	if (--st->left == 0) {
		iso_port_close(p);
		return;
	}
	if (st->fd >= 0) {
		/* the descriptor that came back goes out again */
		if (iso_send(st->to, m) == -1) {
			st->failed = 1;
			iso_port_close(p);
		}
		return;
	}
	if ((next = ping_msg(st, (int)(st->left & 0x7f))) == NULL ||
	    iso_send(st->to, next) == -1) {
		st->failed = 1;
		iso_port_close(p);
	}
	iso_msg_free(next);
}

static double
iso_rt(long iters, int fd)
{
	struct ping	 st;
	iso_isolate	*echo;
	iso_port	*p, *hp;
	iso_msg		*arg, *hello, *m;
	double		 t;

	memset(&st, 0, sizeof st);
	st.left = iters;
	st.fd = fd;
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
	if ((m = ping_msg(&st, 0)) == NULL ||
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
	double	fdrt[BENCH_ROUNDS_MAX];
	int	quick = bench_quick(), r, rounds = quick ? 3 : 9, pfd[2];
	long	iters = quick ? 3000 : 30000;

	bench_init("bench_rt", 300);
	if (pipe2(pfd, O_CLOEXEC) == -1)
		bench_fail("pipe: %s", strerror(errno));
	bench_raw_rt(iters / 10);			/* warm-up */
	iso_rt(iters / 10, -1);
	iso_rt(iters / 10, pfd[1]);
	for (r = 0; r < rounds; r++) {
		raw[r] = bench_raw_rt(iters);
		iso[r] = iso_rt(iters, -1);
		fdrt[r] = iso_rt(iters, pfd[1]);
	}
	close(pfd[0]);
	close(pfd[1]);
	bench_emit("rt", "raw", "us", "lower", raw, rounds);
	bench_emit("rt", "isolate", "us", "lower", iso, rounds);
	bench_emit("fd_rt", "message", "us", "lower", iso, rounds);
	bench_emit("fd_rt", "isolate", "us", "lower", fdrt, rounds);
	return (0);
}
