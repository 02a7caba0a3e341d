/*
 * bench_supcompute.c: a compute request through the supervisor, a call.
 *
 *   supcompute (us)  isolate: iso_sup_compute of mod_bench.so:plus_one,
 *                    the module's warm worker answering (after the first
 *                    call, on the lease the supervisor gave this process:
 *                    a round trip to the worker alone); fresh: the same
 *                    with "fresh", a process forked for each call.
 *   raw:             a round trip of one 11-byte frame over a socketpair
 *                    with a forked echo child, blocking.
 *
 * A supervisor of its own in a temporary runtime directory (ISO_ISOLATED
 * and the module beside this program's build). Rounds alternate.
 * QUICK=1: 3 short rounds.
 */
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "isolate.h"

static char	fn[PATH_MAX + 32];

static double
sup_batch(long iters, int fresh)
{
	struct iso_sup_compute_opt o = { .fresh = fresh };
	iso_msg	*arg, *res;
	int64_t	 n;
	double	 t = bench_now();
	long	 k;

	for (k = 0; k < iters; k++) {
		if ((arg = iso_msg_pack("I", (int64_t)k)) == NULL ||
		    iso_sup_compute_with(fn, arg, &o, &res) == -1)
			bench_fail("supcompute: %s", iso_error());
		if (iso_msg_int(res, &n) == -1 || n != k + 1)
			bench_fail("supcompute: a wrong result");
		iso_msg_free(res);
		iso_msg_free(arg);
	}
	return ((bench_now() - t) / (double)iters * 1e6);
}

static char	rtdir[64];

/* At exit, failed or not: the supervisor stopped (its workers with it)
   and its runtime directory removed. */
static void
teardown(void)
{
	char	cmd[128];

	(void)iso_sup_stop();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", rtdir);
	(void)!system(cmd);
}

/* A runtime directory of our own, the supervisor and the module found
   from this program's path (BUILD/bench/bench_supcompute). */
static void
setup(const char *argv0, char *rt, size_t len)
{
	char	self[PATH_MAX], isolated[PATH_MAX + 16], *slash;

	if (realpath(argv0, self) == NULL ||
	    (slash = strrchr(self, '/')) == NULL)
		bench_fail("where am I: %s", strerror(errno));
	*slash = '\0';
	snprintf(fn, sizeof fn, "%s/mod_bench.so:plus_one", self);
	if ((slash = strrchr(self, '/')) == NULL)
		bench_fail("no build directory above %s", self);
	*slash = '\0';
	snprintf(isolated, sizeof isolated, "%s/isolated", self);
	snprintf(rt, len, "/tmp/iso-bench-XXXXXX");
	if (mkdtemp(rt) == NULL)
		bench_fail("mkdtemp: %s", strerror(errno));
	setenv("ISO_RUNTIME_DIR", rt, 1);
	setenv("ISO_ISOLATED", isolated, 1);
	snprintf(rtdir, sizeof rtdir, "%s", rt);
	atexit(teardown);
	if (iso_sup_start() == -1)
		bench_fail("cannot start the supervisor: %s", iso_error());
}

int
main(int argc, char **argv)
{
	double	rv[BENCH_ROUNDS_MAX], wv[BENCH_ROUNDS_MAX],
		fv[BENCH_ROUNDS_MAX];
	char	rt[64];
	int	quick = bench_quick(), rounds = quick ? 3 : 9, r;
	long	iters = quick ? 200 : 2000, fresh_iters = iters / 10;

	(void)argc;
	bench_init("bench_supcompute", 300);
	setup(argv[0], rt, sizeof rt);
	bench_raw_rt(iters / 10);			/* warm-up */
	sup_batch(iters / 10, 0);
	sup_batch(fresh_iters / 10 + 1, 1);
	for (r = 0; r < rounds; r++) {
		rv[r] = bench_raw_rt(iters);
		wv[r] = sup_batch(iters, 0);
		fv[r] = sup_batch(fresh_iters, 1);
	}
	bench_emit("supcompute", "raw", "us", "lower", rv, rounds);
	bench_emit("supcompute", "isolate", "us", "lower", wv, rounds);
	bench_emit("supcompute", "fresh", "us", "lower", fv, rounds);
	return (0);
}
