/*
 * bench_pool.c: warm pools (iso_pool).
 *
 *   pool      (us)     isolate: iso_pool_call of a function returning its
 *                      argument plus one, on a pool of one worker per
 *                      CPU; raw: a blocking socketpair ping-pong of the
 *                      same 11 bytes each way with a forked child, as
 *                      bench_rt's raw. Rounds alternate.
 *   pool_map  (jobs/s) isolate: iso_pool_map of a trivial function
 *                      (plus one) over a list of N ints, on a pool of
 *                      one worker per CPU; worker_1: the same on a pool
 *                      of one worker.
 *   pool_submit (jobs/s) isolate: N trivial submits on the pool of one
 *                      worker per CPU, then iso_run until every done was
 *                      called; the same work as pool_map's, job by job.
 *   pool_cpu  (jobs/s) the same with a function that spins about 1 ms:
 *                      does a map scale with workers.
 *   pool_map  (jobs/s) xargs: the shell's way, `xargs -P<cpus>` running
 *                      a small program (expr) per item, over fewer
 *                      items (a fork and exec each); GNU parallel, when
 *                      installed, is slower still and not measured.
 *   map_cli   (jobs/s) isolate: `seq 1 N | isoctl map MOD:square`, the
 *                      module tests/prog/mod_compute; xargs: the same
 *                      measurement as pool_map's xargs (-P2 on two CPUs).
 *   map_cmd   (jobs/s) isolate: `seq 1 N | isoctl map -- awk ...`, a warm
 *                      awk a job slot on a terminal, an item a round
 *                      trip; xargs: the same as map_cli's.
 *
 * QUICK=1: 3 short rounds.
 */
#include <sys/socket.h>

#include <libgen.h>
#include <limits.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "isolate.h"

static iso_msg *
plus_one(const iso_msg *arg)
{
	int64_t	n;

	if (iso_msg_int(arg, &n) == -1)
		return (NULL);
	return (iso_msg_pack("I", n + 1));
}

/* About 1 ms of arithmetic. */
static iso_msg *
spin(const iso_msg *arg)
{
	volatile uint64_t	x = 1;
	double			t = bench_now();

	while (bench_now() - t < 0.001)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return (plus_one(arg));
}

static double
pool_rt(iso_pool *p, long iters)
{
	iso_msg	*arg, *res;
	int64_t	 n;
	double	 t = bench_now();
	long	 k;

	for (k = 0; k < iters; k++) {
		if ((arg = iso_msg_pack("I", (int64_t)(k & 0x7f))) == NULL ||
		    iso_pool_call(p, plus_one, arg, 0, &res) == -1)
			bench_fail("pool: %s", iso_error());
		if (iso_msg_int(res, &n) == -1 || n != (k & 0x7f) + 1)
			bench_fail("pool: a wrong result");
		iso_msg_free(res);
		iso_msg_free(arg);
	}
	return ((bench_now() - t) / (double)iters * 1e6);
}

static long	map_left, map_bad;

static void
map_done(int err, iso_msg *result, void *ud)
{
	int64_t	n;

	if (err != 0 || iso_msg_int(result, &n) == -1 ||
	    n != (int64_t)(intptr_t)ud + 1)
		map_bad++;
	iso_msg_free(result);
	map_left--;
}

/* Jobs a second: n submits of fn, then the loop until all are told. */
static double
pool_map(iso_pool *p, iso_msg *(*fn)(const iso_msg *), long n)
{
	iso_msg	*arg;
	double	 t = bench_now();
	long	 k;

	map_left = n;
	map_bad = 0;
	for (k = 0; k < n; k++) {
		if ((arg = iso_msg_pack("I", (int64_t)(k & 0x7f))) == NULL ||
		    iso_pool_submit(p, fn, arg, 0, map_done,
		    (void *)(intptr_t)(k & 0x7f)) == -1)
			bench_fail("pool_map: %s", iso_error());
		iso_msg_free(arg);
	}
	if (iso_run() == -1)
		bench_fail("pool_map: %s", iso_error());
	if (map_left != 0 || map_bad != 0)
		bench_fail("pool_map: %ld not told, %ld wrong", map_left,
		    map_bad);
	return ((double)n / (bench_now() - t));
}

/* Jobs a second: iso_pool_map of fn over args (n ints). */
static double
pool_map_array(iso_pool *p, iso_msg *(*fn)(const iso_msg *),
    const iso_msg *args)
{
	iso_msg	*res;
	int64_t	 v;
	size_t	 k, n = iso_msg_len(args);
	double	 t = bench_now();

	if (iso_pool_map(p, fn, args, 0, &res, NULL) == -1)
		bench_fail("pool_map: %s", iso_error());
	t = bench_now() - t;
	for (k = 0; k < n; k++)
		if (iso_msg_int(iso_msg_at(res, k), &v) == -1 ||
		    v != (int64_t)(k & 0x7f) + 1)
			bench_fail("pool_map: item %zu wrong", k);
	iso_msg_free(res);
	return ((double)n / t);
}

static iso_msg *
int_list(long n)
{
	iso_msg	*l;
	long	 k;

	if ((l = iso_msg_pack("[]")) == NULL)
		bench_fail("pool_map: %s", iso_error());
	for (k = 0; k < n; k++)
		if (iso_msg_append(l, iso_msg_pack("I",
		    (int64_t)(k & 0x7f))) == -1)
			bench_fail("pool_map: %s", iso_error());
	return (l);
}

/* Jobs a second of cmd, a shell pipeline over n items. */
static double
shell_rate(const char *cmd, long n)
{
	double	t;

	t = bench_now();
	if (system(cmd) != 0)
		bench_fail("%s: failed", cmd);
	return ((double)n / (bench_now() - t));
}

/* The build directory: where this program's directory is. */
static void
build_dir(char *buf, size_t len)
{
	char	exe[PATH_MAX];
	ssize_t	r;

	if ((r = readlink("/proc/self/exe", exe, sizeof exe - 1)) == -1)
		bench_fail("readlink: %s", strerror(errno));
	exe[r] = '\0';
	snprintf(buf, len, "%s", dirname(dirname(exe)));
}

static iso_pool *
pool_new(int n)
{
	iso_pool	*p;

	if ((p = iso_pool_new(n)) == NULL)
		bench_fail("pool: %s", iso_error());
	return (p);
}

int
main(void)
{
	double		 raw[BENCH_ROUNDS_MAX], iso[BENCH_ROUNDS_MAX];
	double		 one[BENCH_ROUNDS_MAX];
	iso_pool	*p, *p1;
	iso_msg		*args, *small;
	int		 quick = bench_quick(), r, rounds = quick ? 3 : 9;
	long		 iters = quick ? 3000 : 30000;
	long		 items = quick ? 10000 : 100000;
	long		 cpu_items = quick ? 100 : 1000;

	bench_init("bench_pool", 300);
	p = pool_new(0);
	p1 = pool_new(1);
	if (iso_pool_set_queue(p, (size_t)items) == -1 ||
	    iso_pool_set_queue(p1, (size_t)items) == -1)
		bench_fail("pool: %s", iso_error());

	bench_raw_rt(iters / 10);			/* warm-up */
	pool_rt(p, iters / 10);
	for (r = 0; r < rounds; r++) {
		raw[r] = bench_raw_rt(iters);
		iso[r] = pool_rt(p, iters);
	}
	bench_emit("pool", "raw", "us", "lower", raw, rounds);
	bench_emit("pool", "isolate", "us", "lower", iso, rounds);

	args = int_list(items);
	small = int_list(items / 10);
	pool_map_array(p, plus_one, small);
	pool_map_array(p1, plus_one, small);
	for (r = 0; r < rounds; r++) {
		one[r] = pool_map_array(p1, plus_one, args);
		iso[r] = pool_map_array(p, plus_one, args);
	}
	bench_emit("pool_map", "worker_1", "jobs/s", "higher", one, rounds);
	bench_emit("pool_map", "isolate", "jobs/s", "higher", iso, rounds);
	iso_msg_free(small);
	iso_msg_free(args);

	pool_map(p, plus_one, items / 10);
	for (r = 0; r < rounds; r++)
		iso[r] = pool_map(p, plus_one, items);
	bench_emit("pool_submit", "isolate", "jobs/s", "higher", iso, rounds);

	for (r = 0; r < rounds; r++) {
		one[r] = pool_map(p1, spin, cpu_items);
		iso[r] = pool_map(p, spin, cpu_items);
	}
	bench_emit("pool_cpu", "worker_1", "jobs/s", "higher", one, rounds);
	bench_emit("pool_cpu", "isolate", "jobs/s", "higher", iso, rounds);

	iso_pool_free(p1);
	iso_pool_free(p);

	/* The shell's way, and isoctl map, with no pool of ours about. */
	{
		char	build[PATH_MAX], isoctl[PATH_MAX + 32];
		char	mod[PATH_MAX + 64], xcmd[256], mcmd[PATH_MAX * 3];
		char	acmd[PATH_MAX * 2];
		double	awk[BENCH_ROUNDS_MAX];
		long	cpus = sysconf(_SC_NPROCESSORS_ONLN);
		long	xitems = quick ? 300 : 2000;

		build_dir(build, sizeof build);
		snprintf(isoctl, sizeof isoctl, "%s/isoctl", build);
		snprintf(mod, sizeof mod, "%s/tests/prog/mod_compute:square",
		    build);
		snprintf(xcmd, sizeof xcmd, "seq 1 %ld | xargs -P%ld -I{} "
		    "expr {} '*' {} > /dev/null", xitems, cpus > 0 ? cpus : 1);
		snprintf(mcmd, sizeof mcmd, "seq 1 %ld | %s map %s > /dev/null",
		    items, isoctl, mod);
		snprintf(acmd, sizeof acmd, "seq 1 %ld | %s map -- awk "
		    "'{ print $1 * $1; fflush() }' > /dev/null", items,
		    isoctl);
		for (r = 0; r < rounds; r++) {
			one[r] = shell_rate(xcmd, xitems);
			iso[r] = shell_rate(mcmd, items);
			awk[r] = shell_rate(acmd, items);
		}
		bench_emit("pool_map", "xargs", "jobs/s", "higher", one,
		    rounds);
		bench_emit("map_cli", "xargs", "jobs/s", "higher", one,
		    rounds);
		bench_emit("map_cli", "isolate", "jobs/s", "higher", iso,
		    rounds);
		bench_emit("map_cmd", "xargs", "jobs/s", "higher", one,
		    rounds);
		bench_emit("map_cmd", "isolate", "jobs/s", "higher", awk,
		    rounds);
	}
	return (0);
}
