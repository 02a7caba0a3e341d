/*
 * bench_rt.c: round trip of {"msg": n} between two isolates, listen
 * callbacks on both sides, against a blocking socketpair ping-pong of the
 * same bytes in plain C, in the same run. Prints median and spread of
 * rounds and the ratio isolate / raw.
 *
 * QUICK=1 in the environment runs fewer, shorter rounds.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"

#define ROUNDS_MAX	15

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

static void
full_write(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		abort();
}

static void
full_read(int fd, void *p, size_t n)
{
	size_t	got = 0;
	ssize_t	r;

	while (got < n) {
		if ((r = read(fd, (char *)p + got, n - got)) <= 0)
			abort();
		got += (size_t)r;
	}
}

/* Raw: the frame {"msg": n} as isolate sends it, 11 bytes each way. */
static double
raw_rt(long iters)
{
	unsigned char	 frame[11] = { 0, 0, 0, 7, 1, 0x81, 0xa3, 'm', 's',
			    'g', 0 };
	int		 sv[2], status;
	pid_t		 pid;
	long		 k;
	double		 t;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if ((pid = fork()) == 0) {
		close(sv[0]);
		for (k = 0; k < iters; k++) {
			full_read(sv[1], frame, sizeof frame);
			full_write(sv[1], frame, sizeof frame);
		}
		_exit(0);
	}
	close(sv[1]);
	t = now();
	for (k = 0; k < iters; k++) {
		frame[10] = (unsigned char)(k & 0x7f);
		full_write(sv[0], frame, sizeof frame);
		full_read(sv[0], frame, sizeof frame);
	}
	t = now() - t;
	close(sv[0]);
	waitpid(pid, &status, 0);
	return (t / (double)iters);
}

struct pong {
	iso_sendport	to;
};

static void
echo_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct pong	*pg = arg;
	int		 n;

	if (iso_msg_unpack(m, "{s:i}", "msg", &n) == -1) {
		iso_port_close(p);
		return;
	}
	iso_send(pg->to, m);
}

static void
echo_entry(const iso_msg *arg)
{
	static struct pong	 pg;
	iso_port		*p = iso_port_new();
	iso_msg			*hello;

	iso_msg_unpack(arg, "P", &pg.to);
	iso_port_listen(p, echo_cb, &pg);
	hello = iso_msg_pack("{s:P}", "port", iso_port_sendport(p));
	iso_send(pg.to, hello);
	iso_msg_free(hello);
}

struct ping {
	iso_sendport	 to;
	long		 left;
	int		 have;
	double		 t0, t;
};

static void
ping_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct ping	*st = arg;
	iso_msg		*next;

	if (!st->have) {
		iso_msg_unpack(m, "{s:P}", "port", &st->to);
		st->have = 1;
		st->t0 = now();
	} else if (--st->left == 0) {
		st->t = now() - st->t0;
		next = iso_msg_pack("s", "bye");
		iso_send(st->to, next);
		iso_msg_free(next);
		iso_port_close(p);
		return;
	}
	next = iso_msg_pack("{s:i}", "msg", (int)(st->left & 0x7f));
	iso_send(st->to, next);
	iso_msg_free(next);
}

static double
iso_rt(long iters)
{
	struct ping	 st = { { 0, 0, 0 }, iters, 0, 0, 0 };
	iso_port	*p = iso_port_new();
	iso_msg		*arg = iso_msg_pack("P", iso_port_sendport(p));

	if (iso_spawn(echo_entry, arg, NULL) == -1)
		abort();
	iso_msg_free(arg);
	iso_port_listen(p, ping_cb, &st);
	iso_run();
	return (st.t / (double)iters);
}

int
main(void)
{
	double	raw[ROUNDS_MAX], iso[ROUNDS_MAX];
	int	quick = getenv("QUICK") != NULL && strcmp(getenv("QUICK"),
		    "0") != 0;
	int	r, rounds = quick ? 3 : 9;
	long	iters = quick ? 5000 : 50000;

	for (r = 0; r < rounds; r++) {
		raw[r] = raw_rt(iters);
		iso[r] = iso_rt(iters);
	}
	qsort(raw, (size_t)rounds, sizeof raw[0], cmp_double);
	qsort(iso, (size_t)rounds, sizeof iso[0], cmp_double);
	printf("bench_rt: %d rounds of %ld round trips, median [min-max]\n",
	    rounds, iters);
	printf("%-34s %8.1f us [%5.1f-%5.1f]\n", "raw socketpair ping-pong",
	    raw[rounds / 2] * 1e6, raw[0] * 1e6, raw[rounds - 1] * 1e6);
	printf("%-34s %8.1f us [%5.1f-%5.1f] %6.2fx raw\n",
	    "isolate listen <-> listen", iso[rounds / 2] * 1e6, iso[0] * 1e6,
	    iso[rounds - 1] * 1e6, iso[rounds / 2] / raw[rounds / 2]);
	return (0);
}
