/*
 * benchutil.c: the C benchmarks' shared helpers (benchutil.h): the clock,
 * the JSON line of a measurement, raw children and their I/O, failing.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "isolate.h"

static const char	*prog = "bench";
static int		 in_child;	/* a raw child: fail with _exit */
static pid_t		*kids;		/* raw children not yet reaped */
static size_t		 nkids, kids_cap;

void
bench_init(const char *name, unsigned seconds)
{
	struct rlimit	rl;

	prog = name;
	signal(SIGPIPE, SIG_IGN);
	/* 1000 isolates hold ~3000 descriptors in their spawner. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	bench_watchdog(seconds);
}

void
bench_watchdog(unsigned seconds)
{
	alarm(seconds);		/* default action: the process ends */
}

int
bench_quick(void)
{
	const char	*q = getenv("QUICK");

	return (q != NULL && *q != '\0' && strcmp(q, "0") != 0);
}

double
bench_now(void)
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

/* Six significant digits, never an exponent JSON readers dislike. */
static void
put_num(double x)
{
	if (x >= 1e6 || x == 0)
		printf("%.0f", x);
	else
		printf("%.6g", x);
}

void
bench_emit(const char *bench, const char *impl, const char *unit,
    const char *better, double *v, int n)
{
	double	med;

	if (n < 1)
		bench_fail("%s/%s: no sample", bench, impl);
	qsort(v, (size_t)n, sizeof v[0], cmp_double);
	med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	printf("{\"bench\": \"%s\", \"impl\": \"%s\", \"unit\": \"%s\", "
	    "\"median\": ", bench, impl, unit);
	put_num(med);
	printf(", \"min\": ");
	put_num(v[0]);
	printf(", \"max\": ");
	put_num(v[n - 1]);
	printf(", \"rounds\": %d, \"better\": \"%s\"}\n", n, better);
	fflush(stdout);
	fprintf(stderr, "%s: %s %s: %.4g %s\n", prog, bench, impl, med, unit);
}

static void
kids_forget(pid_t pid)
{
	size_t	i;

	for (i = 0; i < nkids; i++)
		if (kids[i] == pid) {
			kids[i] = kids[--nkids];
			return;
		}
}

void
bench_fail(const char *fmt, ...)
{
	va_list	ap;
	size_t	i;
	int	status;

	if (in_child)
		_exit(1);
	fprintf(stderr, "%s: FAILED: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (i = 0; i < nkids; i++)
		(void)kill(kids[i], SIGKILL);
	for (i = 0; i < nkids; i++)
		while (waitpid(kids[i], &status, 0) == -1 && errno == EINTR)
			;
	nkids = 0;
	exit(1);
}

pid_t
bench_fork(void)
{
	pid_t	*p, pid;

	if (nkids == kids_cap) {
		kids_cap = kids_cap ? kids_cap * 2 : 64;
		if ((p = realloc(kids, kids_cap * sizeof *kids)) == NULL)
			bench_fail("out of memory");
		kids = p;
	}
	fflush(NULL);
	if ((pid = fork()) == -1)
		bench_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		in_child = 1;
		return (0);
	}
	kids[nkids++] = pid;
	return (pid);
}

void
bench_reap(pid_t pid)
{
	int	status;

	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			bench_fail("waitpid %d: %s", (int)pid, strerror(errno));
	kids_forget(pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		bench_fail("raw child %d ended with status %#x", (int)pid,
		    status);
}

void
bench_write_all(int fd, const void *p, size_t n)
{
	const char	*c = p;
	ssize_t		 r;

	while (n > 0) {
		if ((r = write(fd, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			bench_fail("write: %s", strerror(errno));
		}
		c += r;
		n -= (size_t)r;
	}
}

int
bench_read_all(int fd, void *p, size_t n)
{
	size_t	got = 0;
	ssize_t	r;

	while (got < n) {
		if ((r = read(fd, (char *)p + got, n - got)) == -1) {
			if (errno == EINTR)
				continue;
			bench_fail("read: %s", strerror(errno));
		}
		if (r == 0) {
			if (got == 0)
				return (0);
			bench_fail("read: truncated");
		}
		got += (size_t)r;
	}
	return (1);
}

void
bench_small_frame(unsigned char *buf, int n)
{
	static const unsigned char	frame[BENCH_SMALL_FRAME] = {
		0, 0, 0, 7, 1, 0x81, 0xa3, 'm', 's', 'g', 0
	};

	memcpy(buf, frame, sizeof frame);
	buf[BENCH_SMALL_FRAME - 1] = (unsigned char)(n & 0x7f);
}

long
bench_pss_kib(pid_t pid)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 kib = -1;

	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		bench_fail("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "Pss: %ld kB", &kib) == 1)
			break;
	fclose(f);
	if (kib < 0)
		bench_fail("%s: no Pss line", path);
	return (kib);
}

void
bench_child_fail(const char *what)
{
	fprintf(stderr, "%s: isolate %d: %s: %s\n", prog, (int)getpid(), what,
	    iso_error());
	_exit(1);
}

iso_msg *
bench_first(iso_port *p, int timeout_ms, const char *what)
{
	iso_msg	*m;

	if (iso_port_first(p, &m, timeout_ms) == -1)
		bench_fail("waiting for %s: %s", what, iso_error());
	return (m);
}

void
bench_end(iso_isolate *iso, int timeout_ms)
{
	iso_port	*p;

	if ((p = iso_port_new()) == NULL ||
	    iso_on_exit(iso, iso_port_sendport(p), NULL) == -1)
		bench_fail("exit listener: %s", iso_error());
	iso_msg_free(bench_first(p, timeout_ms, "an isolate's end"));
	iso_isolate_free(iso);
}

double
bench_pipeline(struct iso_isolate *pi, struct iso_port *ph,
    struct iso_isolate *ci, struct iso_port *ch, struct iso_port *done,
    long count, int timeout_ms)
{
	iso_sendport	 cport, pport;
	iso_msg		*m;
	int64_t		 got;
	double		 t;

	m = bench_first(ch, timeout_ms, "the consumer's hello");
	if (iso_msg_unpack(m, "P", &cport) == -1)
		bench_fail("isolate: consumer hello: %s", iso_error());
	iso_msg_free(m);
	m = bench_first(ph, timeout_ms, "the producer's hello");
	if (iso_msg_unpack(m, "P", &pport) == -1)
		bench_fail("isolate: producer hello: %s", iso_error());
	iso_msg_free(m);

	if ((m = iso_msg_pack("[PI]", cport, (int64_t)count)) == NULL)
		bench_fail("isolate: %s", iso_error());
	t = bench_now();
	if (iso_send(pport, m) == -1)
		bench_fail("isolate: go: %s", iso_error());
	iso_msg_free(m);
	m = bench_first(done, timeout_ms, "the consumer's count");
	t = bench_now() - t;
	if (iso_msg_unpack(m, "I", &got) == -1 || got != count)
		bench_fail("isolate: the consumer got a wrong count");
	iso_msg_free(m);

	if ((m = iso_msg_pack("s", "bye")) == NULL ||
	    iso_send(pport, m) == -1)
		bench_fail("isolate: bye: %s", iso_error());
	iso_msg_free(m);
	bench_end(pi, timeout_ms);
	bench_end(ci, timeout_ms);
	return (t);
}

double
bench_raw_rt(long iters)
{
	unsigned char	 frame[BENCH_SMALL_FRAME];
	int		 sv[2];
	pid_t		 pid;
	long		 k;
	double		 t;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		bench_fail("socketpair: %s", strerror(errno));
	bench_small_frame(frame, 0);
	if ((pid = bench_fork()) == 0) {
		close(sv[0]);
		while (bench_read_all(sv[1], frame, sizeof frame) == 1)
			bench_write_all(sv[1], frame, sizeof frame);
		_exit(0);
	}
	close(sv[1]);
	t = bench_now();
	for (k = 0; k < iters; k++) {
		frame[BENCH_SMALL_FRAME - 1] = (unsigned char)(k & 0x7f);
		bench_write_all(sv[0], frame, sizeof frame);
		if (bench_read_all(sv[0], frame, sizeof frame) != 1)
			bench_fail("raw: the echo child has gone");
	}
	t = bench_now() - t;
	close(sv[0]);
	bench_reap(pid);
	return (t / (double)iters * 1e6);
}
