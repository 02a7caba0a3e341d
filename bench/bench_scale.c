/*
 * bench_scale.c: many isolates at once.
 *
 *   pss_idle  (KiB) the Pss of /proc/PID/smaps_rollup, summed over IDLE
 *             idle isolates (each listening on an open port) and divided
 *             by IDLE; raw: the same for raw children blocked in read().
 *             Measured first, while the spawner's heap is small.
 *   scale_N   (ms, N = 1, 10, 100, 1000, 10000) the total time for N isolates,
 *             spawned one after another, each saying hello with a port of
 *             its own, sent one message there and answering, then ending
 *             (the main isolate counts the answers and the exit listeners'
 *             messages). raw: N forks, each with a socketpair, blocked in
 *             read; then a frame to each, its answer read, and every
 *             child reaped. 10000 only where the hard descriptor limit
 *             is 2 x 10000 + 256 or more (a live isolate costs its spawner
 *             one, its pair; the margin keeps the row, over a minute a
 *             round, to machines set up for it); else skipped, with the
 *             reason on stderr.
 *
 * Rounds alternate between raw and isolate. QUICK=1: 3 rounds.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "isolate.h"

#define IDLE		100
#define SCALE_MAX	10000

/* ---- raw --------------------------------------------------------------- */

struct raw {
	int	*fd;		/* the parent's ends */
	pid_t	*pid;
	long	 n;
};

/* Fork n children, each blocked reading a frame from its socketpair. */
static void
raw_start(struct raw *rw, long n)
{
	unsigned char	frame[BENCH_SMALL_FRAME];
	int		sv[2];
	long		i;

	rw->n = n;
	if ((rw->fd = calloc((size_t)n, sizeof *rw->fd)) == NULL ||
	    (rw->pid = calloc((size_t)n, sizeof *rw->pid)) == NULL)
		bench_fail("out of memory");
	for (i = 0; i < n; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
		    -1)
			bench_fail("socketpair: %s", strerror(errno));
		if ((rw->pid[i] = bench_fork()) == 0) {
			close(sv[0]);	/* the parent's end: EOF if it dies */
			if (bench_read_all(sv[1], frame, sizeof frame) != 1)
				_exit(0);	/* ended without a message */
			bench_write_all(sv[1], frame, sizeof frame);
			_exit(0);
		}
		close(sv[1]);
		rw->fd[i] = sv[0];
	}
}

/* A frame to each, each answer read, each child reaped. */
static void
raw_finish(struct raw *rw)
{
	unsigned char	frame[BENCH_SMALL_FRAME];
	long		i;

	for (i = 0; i < rw->n; i++) {
		bench_small_frame(frame, (int)i);
		bench_write_all(rw->fd[i], frame, sizeof frame);
	}
	for (i = 0; i < rw->n; i++)
		if (bench_read_all(rw->fd[i], frame, sizeof frame) != 1 ||
		    frame[BENCH_SMALL_FRAME - 1] != (i & 0x7f))
			bench_fail("raw: child %ld did not answer", i);
	for (i = 0; i < rw->n; i++) {
		close(rw->fd[i]);
		bench_reap(rw->pid[i]);
	}
	free(rw->fd);
	free(rw->pid);
}

static double
raw_scale(long n)
{
	struct raw	rw;
	double		t = bench_now();

	raw_start(&rw, n);
	raw_finish(&rw);
	return ((bench_now() - t) * 1e3);
}

/* ---- isolate ----------------------------------------------------------- */

/* The isolate: ["h", its port] to main; on a message, ["a", n] back and
   close the port, which ends it. */
static void
answer_cb(iso_port *p, const iso_msg *m, void *arg)
{
	iso_sendport	*main_port = arg;
	iso_msg		*a;
	int		 n;

	if (iso_msg_unpack(m, "{s:i}", "msg", &n) == -1 ||
	    (a = iso_msg_pack("[si]", "a", n)) == NULL ||
	    iso_send(*main_port, a) == -1)
		bench_child_fail("answer");
	iso_msg_free(a);
	iso_port_close(p);
}

static void
worker_entry(const iso_msg *arg)
{
	static iso_sendport	 main_port;
	iso_port		*p;
	iso_msg			*h;

	if (iso_msg_unpack(arg, "P", &main_port) == -1 ||
	    (p = iso_port_new()) == NULL ||
	    iso_port_listen(p, answer_cb, &main_port) == -1 ||
	    (h = iso_msg_pack("[sP]", "h", iso_port_sendport(p))) == NULL ||
	    iso_send(main_port, h) == -1)
		bench_child_fail("hello");
	iso_msg_free(h);
}

struct tally {
	long		 n, hellos, answers, exits, next;
	iso_sendport	*ports;		/* pss_idle: the workers' ports */
	int		 failed;
};

/* {"msg": n} to a worker: 0, or -1. */
static int
send_msg(iso_sendport to, long n)
{
	iso_msg	*m;
	int	 rc;

	if ((m = iso_msg_pack("{s:i}", "msg", (int)(n & 0x7f))) == NULL)
		return (-1);
	rc = iso_send(to, m);
	iso_msg_free(m);
	return (rc);
}

/* Main's port: hellos (answered at once, or kept), answers, exits. */
static void
main_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct tally	*t = arg;
	iso_sendport	 to;
	const char	*kind;
	int		 n;

	if (iso_msg_type(m) == ISO_NIL)
		t->exits++;
	else if (iso_msg_unpack(m, "[sP]", &kind, &to) == 0) {
		t->hellos++;
		if (t->ports != NULL)
			t->ports[t->next++] = to;
		else if (send_msg(to, t->next++) == -1)
			t->failed = 1;
	} else if (iso_msg_unpack(m, "[si]", &kind, &n) == 0)
		t->answers++;
	else
		t->failed = 1;
	if (t->failed || (t->ports != NULL && t->hellos == t->n) ||
	    (t->answers == t->n && t->exits == t->n))
		iso_port_close(p);
}

/* Spawn n workers telling p, each with an exit listener on p. */
static void
iso_start(iso_port *p, long n, iso_isolate **keep)
{
	iso_isolate	*iso;
	iso_msg		*arg;
	long		 i;

	if ((arg = iso_msg_pack("P", iso_port_sendport(p))) == NULL)
		bench_fail("%s", iso_error());
	for (i = 0; i < n; i++) {
		if (iso_spawn(worker_entry, arg, &iso) == -1 ||
		    iso_on_exit(iso, iso_port_sendport(p), NULL) == -1)
			bench_fail("spawn %ld: %s", i, iso_error());
		if (keep != NULL)
			keep[i] = iso;
		else
			iso_isolate_free(iso);
	}
	iso_msg_free(arg);
}

static void
iso_loop(struct tally *t)
{
	if (iso_run() == -1)
		bench_fail("iso_run: %s", iso_error());
	if (t->failed)
		bench_fail("isolate: a bad message or a failed send: %s",
		    iso_error());
}

static double
iso_scale(long n)
{
	struct tally	 t;
	iso_port	*p;
	double		 t0 = bench_now();

	memset(&t, 0, sizeof t);
	t.n = n;
	if ((p = iso_port_new()) == NULL ||
	    iso_port_listen(p, main_cb, &t) == -1)
		bench_fail("%s", iso_error());
	iso_start(p, n, NULL);
	iso_loop(&t);
	if (t.answers != n || t.exits != n)
		bench_fail("isolate: %ld answers, %ld ends of %ld", t.answers,
		    t.exits, n);
	return ((bench_now() - t0) * 1e3);
}

/* ---- idle memory --------------------------------------------------------- */

static double
raw_pss(void)
{
	struct raw	rw;
	long		i, sum = 0;

	raw_start(&rw, IDLE);
	for (i = 0; i < IDLE; i++)
		sum += bench_pss_kib(rw.pid[i]);
	raw_finish(&rw);
	return ((double)sum / IDLE);
}

static double
iso_pss(void)
{
	iso_isolate	*iso[IDLE];
	iso_sendport	 ports[IDLE];
	struct tally	 t;
	iso_port	*p;
	long		 i, sum = 0;

	memset(&t, 0, sizeof t);
	t.n = IDLE;
	t.ports = ports;
	if ((p = iso_port_new()) == NULL ||
	    iso_port_listen(p, main_cb, &t) == -1)
		bench_fail("%s", iso_error());
	iso_start(p, IDLE, iso);
	iso_loop(&t);		/* until every one has said hello */
	if (t.hellos != IDLE)
		bench_fail("isolate: %ld hellos of %d", t.hellos, IDLE);
	for (i = 0; i < IDLE; i++)
		sum += bench_pss_kib(iso_pid(iso[i]));
	for (i = 0; i < IDLE; i++) {
		if (iso_kill(iso[i], ISO_IMMEDIATE) == -1)
			bench_fail("kill: %s", iso_error());
		iso_isolate_free(iso[i]);
	}
	return ((double)sum / IDLE);
}

static void
measure_scale(long n, int rounds)
{
	double	rv[BENCH_ROUNDS_MAX], iv[BENCH_ROUNDS_MAX];
	char	id[32];
	int	r;

	for (r = 0; r < rounds; r++) {
		rv[r] = raw_scale(n);
		iv[r] = iso_scale(n);
	}
	snprintf(id, sizeof id, "scale_%ld", n);
	bench_emit(id, "raw", "ms", "lower", rv, rounds);
	bench_emit(id, "isolate", "ms", "lower", iv, rounds);
}

int
main(void)
{
	double		rv[BENCH_ROUNDS_MAX], iv[BENCH_ROUNDS_MAX];
	struct rlimit	rl;
	int		quick = bench_quick(), r, rounds = quick ? 3 : 5;

	bench_init("bench_scale", 900);
	raw_scale(10);			/* warm-up */
	iso_scale(10);
	/* First, while the spawner is small: what an idle isolate costs
	   depends on how much of its spawner's heap it touches. */
	for (r = 0; r < 3; r++) {
		rv[r] = raw_pss();
		iv[r] = iso_pss();
	}
	bench_emit("pss_idle", "raw", "KiB", "lower", rv, 3);
	bench_emit("pss_idle", "isolate", "KiB", "lower", iv, 3);
	measure_scale(1, quick ? 3 : 15);
	measure_scale(10, quick ? 3 : 9);
	measure_scale(100, rounds);
	measure_scale(1000, rounds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_max < 2 * SCALE_MAX + 256)
		fprintf(stderr, "bench_scale: scale_%d skipped: it runs where "
		    "the hard descriptor limit is %d or more, here %llu\n",
		    SCALE_MAX, 2 * SCALE_MAX + 256,
		    (unsigned long long)rl.rlim_max);
	else
		measure_scale(SCALE_MAX, quick ? 1 : 3);
	return (0);
}
