/*
 * bench_zmq.c: the ZeroMQ peer of the isolate benchmarks, in C, parent
 * and forked child over ipc:// endpoints in a temporary directory.
 *
 *   rt      REQ/REP round trip of the frame {"msg": n} as isolate sends
 *           it (11 bytes), us a round trip
 *   oneway  PUSH/PULL of the same frames, producer child -> consumer
 *           parent, msg/s from the producer's first send to the
 *           consumer's last receive
 *
 * Prints one JSON object a measurement on stdout, nothing else; the
 * version and any error on stderr. Exits 1 if a measurement fails.
 * QUICK=1 in the environment runs 3 short rounds.
 *
 * Build: cc ... bench_zmq.c $(pkg-config --cflags --libs libzmq)
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#define ROUNDS_MAX	15
#define FRAME_LEN	11
#define POLL_MS		500	/* how often a waiting parent checks its peer */
#define TIMEOUT_MS	20000	/* a peer silent this long has failed */

static char		 dir[] = "/tmp/bench_zmq.XXXXXX";
static char		 path_rt[sizeof dir + 16], path_oneway[sizeof dir + 16];
static volatile int	 have_dir;
static volatile pid_t	 child = -1;

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
endpoint(char *buf, size_t len, const char *path)
{
	snprintf(buf, len, "ipc://%s", path);
}

/* Async-signal-safe: also the handler of SIGINT, SIGTERM and SIGHUP. */
static void
cleanup(void)
{
	int	status;

	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
		child = -1;
	}
	if (have_dir) {
		unlink(path_rt);
		unlink(path_oneway);
		rmdir(dir);
		have_dir = 0;
	}
}

static void
on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "bench_zmq: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	cleanup();
	exit(1);
}

/* Waits for the child; it must have exited 0. */
static void
reap(const char *what)
{
	int	status;

	if (waitpid(child, &status, 0) == -1)
		fail("%s: waitpid: %s", what, strerror(errno));
	child = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail("%s: peer process failed (status %d)", what, status);
}

/*
 * The parent's receives time out every POLL_MS so that it can check on
 * its peer (recv_checked); the child's block, as usual, and the child
 * dies with its parent.
 */
static void *
new_socket(void *ctx, int type, int parent)
{
	void	*s;
	int	 linger = 0, rcvtmo = parent ? POLL_MS : -1;
	int	 sndtmo = parent ? TIMEOUT_MS : -1;

	if ((s = zmq_socket(ctx, type)) == NULL ||
	    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) == -1 ||
	    zmq_setsockopt(s, ZMQ_RCVTIMEO, &rcvtmo, sizeof rcvtmo) == -1 ||
	    zmq_setsockopt(s, ZMQ_SNDTIMEO, &sndtmo, sizeof sndtmo) == -1)
		return (NULL);
	return (s);
}

/* In the child, right after fork. */
static void
child_init(pid_t parent)
{
	have_dir = 0;	/* the parent removes it */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(1);
}

/*
 * Parent: zmq_recv that gives up when the peer has exited or has been
 * silent for TIMEOUT_MS.
 */
static int
recv_checked(void *s, void *buf, size_t len, const char *what)
{
	int	n, waited, status;
	pid_t	pid;

	for (waited = 0; waited < TIMEOUT_MS; waited += POLL_MS) {
		if ((n = zmq_recv(s, buf, len, 0)) >= 0) {
			if ((size_t)n > len)
				fail("%s: message of %d bytes", what, n);
			return (n);
		}
		if (zmq_errno() != EAGAIN)
			fail("%s: zmq_recv: %s", what,
			    zmq_strerror(zmq_errno()));
		if ((pid = waitpid(child, &status, WNOHANG)) == child) {
			child = -1;
			fail("%s: peer process ended (status %d)", what,
			    status);
		}
	}
	fail("%s: no message from the peer in %d ms", what, TIMEOUT_MS);
}

static void
frame_init(unsigned char *f, long n)
{
	static const unsigned char	tmpl[FRAME_LEN] = { 0, 0, 0, 7, 1,
					    0x81, 0xa3, 'm', 's', 'g', 0 };

	memcpy(f, tmpl, FRAME_LEN);
	f[10] = (unsigned char)(n & 0x7f);
}

static void
emit(const char *bench, const char *unit, const char *better, double *v,
    int rounds)
{
	qsort(v, (size_t)rounds, sizeof v[0], cmp_double);
	printf("{\"bench\": \"%s\", \"impl\": \"zmq\", \"unit\": \"%s\", "
	    "\"median\": %.3f, \"min\": %.3f, \"max\": %.3f, \"rounds\": %d, "
	    "\"better\": \"%s\"}\n", bench, unit, v[rounds / 2], v[0],
	    v[rounds - 1], rounds, better);
	if (fflush(stdout) == EOF || ferror(stdout))
		fail("writing stdout: %s", strerror(errno));
}

/* ---- REQ/REP round trip ------------------------------------------- */

/* Child: REP, echoes every frame; an empty message ends it. */
static int
rep_child(const char *ep)
{
	unsigned char	 buf[64];
	void		*ctx, *s;
	int		 n;

	if ((ctx = zmq_ctx_new()) == NULL || (s = new_socket(ctx,
	    ZMQ_REP, 0)) == NULL || zmq_bind(s, ep) == -1)
		return (1);
	for (;;) {
		if ((n = zmq_recv(s, buf, sizeof buf, 0)) == -1 ||
		    n > (int)sizeof buf || zmq_send(s, buf, (size_t)n, 0) != n)
			return (1);
		if (n == 0)
			break;
	}
	zmq_close(s);
	zmq_ctx_term(ctx);
	return (0);
}

static void
rt_batch(void *s, long iters)
{
	unsigned char	f[FRAME_LEN], in[64];
	long		k;
	int		n;

	for (k = 0; k < iters; k++) {
		frame_init(f, k);
		if (zmq_send(s, f, FRAME_LEN, 0) != FRAME_LEN)
			fail("rt: zmq_send: %s", zmq_strerror(zmq_errno()));
		n = recv_checked(s, in, sizeof in, "rt");
		if (n != FRAME_LEN || memcmp(in, f, FRAME_LEN) != 0)
			fail("rt: echo differs from the frame sent");
	}
}

static void
bench_rt(int rounds, long iters)
{
	char	 ep[sizeof dir + 32], in[64];
	double	 v[ROUNDS_MAX], t;
	void	*ctx, *s;
	pid_t	 parent;
	int	 r;

	endpoint(ep, sizeof ep, path_rt);
	fflush(NULL);
	parent = getpid();
	if ((child = fork()) == -1)
		fail("rt: fork: %s", strerror(errno));
	if (child == 0) {
		child_init(parent);
		_exit(rep_child(ep));
	}

	if ((ctx = zmq_ctx_new()) == NULL || (s = new_socket(ctx,
	    ZMQ_REQ, 1)) == NULL || zmq_connect(s, ep) == -1)
		fail("rt: REQ socket: %s", zmq_strerror(zmq_errno()));
	rt_batch(s, iters / 10 + 1);	/* connect, warm up */
	for (r = 0; r < rounds; r++) {
		t = now();
		rt_batch(s, iters);
		v[r] = (now() - t) / (double)iters * 1e6;
	}
	if (zmq_send(s, "", 0, 0) != 0)
		fail("rt: stopping the peer: %s", zmq_strerror(zmq_errno()));
	if (recv_checked(s, in, sizeof in, "rt: stopping the peer") != 0)
		fail("rt: the peer did not stop");
	zmq_close(s);
	zmq_ctx_term(ctx);
	reap("rt");
	fprintf(stderr, "bench_zmq: rt: %d rounds of %ld REQ/REP round "
	    "trips\n", rounds, iters);
	emit("rt", "us", "lower", v, rounds);
}

/* ---- PUSH/PULL one way -------------------------------------------- */

static int
full_io(int fd, void *p, size_t n, int wr)
{
	size_t	got = 0;
	ssize_t	r;

	while (got < n) {
		r = wr ? write(fd, (char *)p + got, n - got) :
		    read(fd, (char *)p + got, n - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return (-1);
		got += (size_t)r;
	}
	return (0);
}

/*
 * Child: PUSH. For each count read from the control socket, notes the
 * time, sends that many frames, then writes the time of its first send
 * back; a count of 0 ends it.
 */
static int
push_child(const char *ep, int ctl)
{
	unsigned char	 f[FRAME_LEN];
	void		*ctx, *s;
	long		 n, k;
	double		 t0;

	if ((ctx = zmq_ctx_new()) == NULL || (s = new_socket(ctx,
	    ZMQ_PUSH, 0)) == NULL || zmq_connect(s, ep) == -1)
		return (1);
	for (;;) {
		if (full_io(ctl, &n, sizeof n, 0) == -1)
			return (1);
		if (n == 0)
			break;
		t0 = now();
		for (k = 0; k < n; k++) {
			frame_init(f, k);
			if (zmq_send(s, f, FRAME_LEN, 0) != FRAME_LEN)
				return (1);
		}
		if (full_io(ctl, &t0, sizeof t0, 1) == -1)
			return (1);
	}
	zmq_close(s);
	zmq_ctx_term(ctx);
	return (0);
}

/* Parent: one batch of n; returns seconds from first send to last recv. */
static double
oneway_batch(void *s, int ctl, long n)
{
	unsigned char	f[FRAME_LEN], in[64];
	long		k;
	double		t0, t1;
	int		len;

	if (full_io(ctl, &n, sizeof n, 1) == -1)
		fail("oneway: control write: %s", strerror(errno));
	for (k = 0; k < n; k++) {
		len = recv_checked(s, in, sizeof in, "oneway");
		frame_init(f, k);
		if (len != FRAME_LEN || memcmp(in, f, FRAME_LEN) != 0)
			fail("oneway: frame %ld differs from the one sent", k);
	}
	t1 = now();
	if (full_io(ctl, &t0, sizeof t0, 0) == -1)
		fail("oneway: control read: %s", strerror(errno));
	return (t1 - t0);
}

static void
bench_oneway(int rounds, long iters)
{
	char	 ep[sizeof dir + 32];
	double	 v[ROUNDS_MAX];
	void	*ctx, *s;
	long	 zero = 0;
	pid_t	 parent;
	int	 r, sv[2];

	endpoint(ep, sizeof ep, path_oneway);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		fail("oneway: socketpair: %s", strerror(errno));
	/* Fork before any context exists: ZeroMQ's threads do not fork. */
	fflush(NULL);
	parent = getpid();
	if ((child = fork()) == -1)
		fail("oneway: fork: %s", strerror(errno));
	if (child == 0) {
		child_init(parent);
		close(sv[0]);
		_exit(push_child(ep, sv[1]));
	}
	close(sv[1]);
	if ((ctx = zmq_ctx_new()) == NULL || (s = new_socket(ctx,
	    ZMQ_PULL, 1)) == NULL || zmq_bind(s, ep) == -1)
		fail("oneway: PULL socket: %s", zmq_strerror(zmq_errno()));
	oneway_batch(s, sv[0], iters / 10 + 1);	/* connect, warm up */
	for (r = 0; r < rounds; r++)
		v[r] = (double)iters / oneway_batch(s, sv[0], iters);
	if (full_io(sv[0], &zero, sizeof zero, 1) == -1)
		fail("oneway: stopping the peer: %s", strerror(errno));
	reap("oneway");
	close(sv[0]);
	zmq_close(s);
	zmq_ctx_term(ctx);
	fprintf(stderr, "bench_zmq: oneway: %d rounds of %ld PUSH/PULL "
	    "messages\n", rounds, iters);
	emit("oneway", "msg/s", "higher", v, rounds);
}

int
main(void)
{
	const char	*q = getenv("QUICK");
	int		 quick = q != NULL && *q != '\0' && strcmp(q, "0") != 0;
	int		 rounds = quick ? 3 : 9, major, minor, patch;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	zmq_version(&major, &minor, &patch);
	fprintf(stderr, "bench_zmq: libzmq %d.%d.%d\n", major, minor, patch);
	if (mkdtemp(dir) == NULL)
		fail("mkdtemp: %s", strerror(errno));
	snprintf(path_rt, sizeof path_rt, "%s/rt", dir);
	snprintf(path_oneway, sizeof path_oneway, "%s/oneway", dir);
	have_dir = 1;
	bench_rt(rounds, quick ? 500 : 5000);
	bench_oneway(rounds, quick ? 20000 : 2000000);
	cleanup();
	return (0);
}
