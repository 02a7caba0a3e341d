/*
 * bench_mbox.c: a supervisor's mailbox (daemon/mailbox.c and its log,
 * called directly, no socket), put and take at two depths:
 *
 *   mbox_put   (us)  mbox_put of {"msg": n}: one log record written
 *   mbox_take  (us)  the take a client's request costs: mbox_peek of the
 *                    oldest message, then mbox_ack of it
 *
 * impl "depth_0": into an empty mailbox and out again; "depth_100k": the
 * same with 100,000 messages already waiting. Each round is a run of
 * put-then-take pairs long enough to include the log's compactions at
 * that depth, so the figure is the cost per operation, amortized. Rounds
 * alternate between the two mailboxes. The log is in a fresh directory
 * under $XDG_RUNTIME_DIR (else $TMPDIR, else /tmp), as the supervisor's
 * is. QUICK=1: 3 short rounds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "daemon.h"
#include "isolate.h"

#define DEEP	100000
#define ROUNDS	7

static char	dir[256];

static void
cleanup(void)
{
	char	cmd[300];

	if (dir[0] != '\0') {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_mbox: cannot remove %s\n", dir);
	}
}

static void
put(struct mbox *b, long n)
{
	iso_msg	*m = iso_msg_pack("{s:i}", "msg", (int)(n & 0x7fffffff));

	if (m == NULL || mbox_put(b, m, NULL) == -1)
		bench_fail("mbox_put: %s", strerror(errno));
	iso_msg_free(m);
}

static void
take(struct mbox *b)
{
	iso_msg		*l;
	uint64_t	 seq;
	int		 v;

	if ((l = mbox_peek(b, 0, 1)) == NULL || iso_msg_len(l) != 1 ||
	    iso_msg_unpack(iso_msg_at(l, 0), "[U {s:i}]", &seq, "msg",
	    &v) == -1 || mbox_ack(b, seq) == -1)
		bench_fail("take: %s", strerror(errno));
	iso_msg_free(l);
}

/* iters put-then-take pairs on b: the mean put and take, in us. */
static void
round_of(struct mbox *b, long iters, double *put_us, double *take_us)
{
	double	t0, t1, tp = 0, tt = 0;
	long	k;

	for (k = 0; k < iters; k++) {
		t0 = bench_now();
		put(b, k);
		t1 = bench_now();
		take(b);
		tp += t1 - t0;
		tt += bench_now() - t1;
	}
	*put_us = tp / (double)iters * 1e6;
	*take_us = tt / (double)iters * 1e6;
}

int
main(void)
{
	double		 put0[ROUNDS], take0[ROUNDS], putd[ROUNDS],
			 taked[ROUNDS];
	struct mbox	*empty, *deep;
	const char	*base;
	long		 iters, k;
	int		 rounds, r;

	bench_init("bench_mbox", 240);
	rounds = bench_quick() ? 3 : ROUNDS;
	iters = bench_quick() ? 20000 : 150000;
	if ((base = getenv("XDG_RUNTIME_DIR")) == NULL || access(base, W_OK))
		if ((base = getenv("TMPDIR")) == NULL || *base == '\0')
			base = "/tmp";
	snprintf(dir, sizeof dir, "%s/isobench-mbox-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		dir[0] = '\0';
		bench_fail("mkdtemp: %s", strerror(errno));
	}
	atexit(cleanup);
	setenv("ISO_RUNTIME_DIR", dir, 1);
	mbox_init(iso_event_base());
	if ((empty = mbox_open(dir, 1, ".outbox", 0, 2 * DEEP)) == NULL ||
	    (deep = mbox_open(dir, 2, ".outbox", 0, 2 * DEEP)) == NULL)
		bench_fail("mbox_open: %s", strerror(errno));
	for (k = 0; k < DEEP; k++)
		put(deep, k);
	for (r = 0; r < rounds; r++) {
		bench_watchdog(240);
		round_of(empty, iters, &put0[r], &take0[r]);
		round_of(deep, iters, &putd[r], &taked[r]);
		if (mbox_len(empty) != 0 || mbox_len(deep) != DEEP)
			bench_fail("the depths moved: %zu and %zu",
			    mbox_len(empty), mbox_len(deep));
	}
	bench_emit("mbox_put", "depth_0", "us", "lower", put0, rounds);
	bench_emit("mbox_put", "depth_100k", "us", "lower", putd, rounds);
	bench_emit("mbox_take", "depth_0", "us", "lower", take0, rounds);
	bench_emit("mbox_take", "depth_100k", "us", "lower", taked, rounds);
	mbox_free(empty, 1);
	mbox_free(deep, 1);
	return (0);
}
