/*
 * chaos_full_mailbox: thousands of senders at a supervisor whose mailbox
 * is full, and thousands of idle peers at one with room. The supervisor
 * must keep answering isoctl within a bound, spend no CPU while the
 * senders wait, hold no descriptor per waiting sender, refuse peers
 * beyond its cap with a reason, and, once the mailbox is drained, have
 * every message a sender got in (no loss, no duplicate; what "send"
 * put in first comes out first, in order).
 *
 * Senders are raw sockets: connect (non-blocking), write one frame, keep
 * the socket. A connect that finds the backlog full fails with EAGAIN:
 * that is the kernel's backpressure, counted, not a loss (the frame was
 * never written).
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

#include "chaos_sup.h"

#define BOX		100		/* the mailbox's limit */
#define TAG0		1000000		/* senders' messages: TAG0 + i */
#define ISOCTL_MS	2000		/* each isoctl call answers within */
#define IDLE_CPU_MS	100		/* the supervisor, 1 s of waiting */
#define CAP		4096		/* its connections per socket */
#define IDLE_PEERS	6000

static char		 isoctl[4096];
static pid_t		 sup;
static int		 failures;

static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
}

static void	fail(const char *, ...) __attribute__((format(printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "chaos full_mailbox: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	failures++;
}

/* Run isoctl with args; its exit status, or -1 when it did not end
   within ISOCTL_MS (then killed). *ms: how long it took. */
static int
run_isoctl(char *const argv[], double *ms)
{
	double	t0 = now_ms();
	pid_t	pid;
	int	status;

	if ((pid = fork()) == -1)
		return (-1);
	if (pid == 0) {
		int	null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execv(isoctl, argv);
		_exit(127);
	}
	for (;;) {
		pid_t	r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (now_ms() - t0 > ISOCTL_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			*ms = now_ms() - t0;
			return (-1);
		}
		tu_sleep_ms(2);
	}
	*ms = now_ms() - t0;
	return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

struct probe {
	int	calls;
	int	late;
	double	max_ms;
};

/* isoctl must answer: status (0), and a send to the full mailbox
   (refused at once, exit 1). */
static void
probe(struct probe *pr, int full)
{
	char	*status[] = { isoctl, (char *)"daemon", (char *)"status",
	    NULL };
	char	*send[] = { isoctl, (char *)"send", (char *)"mb", (char *)"0",
	    NULL };
	double	 ms;
	int	 rc;

	rc = run_isoctl(status, &ms);
	pr->calls++;
	if (ms > pr->max_ms)
		pr->max_ms = ms;
	if (rc != 0)
		pr->late++;
	if (full) {
		rc = run_isoctl(send, &ms);
		pr->calls++;
		if (ms > pr->max_ms)
			pr->max_ms = ms;
		if (rc != 1)
			pr->late++;
	}
}

/* 1 if fd was refused: a port-0 control frame, then the end. Waits up
   to wait_ms for one. */
static int
refused(int fd, int wait_ms)
{
	unsigned char	b[512];
	ssize_t		n;
	int		ms;

	for (ms = 0;; ms += 2) {
		n = recv(fd, b, sizeof b, MSG_DONTWAIT | MSG_PEEK);
		if (n > 5 && b[4] == 0 && (size_t)n >= 4 + ((size_t)b[2] << 8 |
		    b[3]))
			return (1);
		if (n == 0 || ms >= wait_ms)
			return (0);
		tu_sleep_ms(2);
	}
}

static socklen_t	box_len;	/* of the mailbox's address */

static int
box_connect(const struct sockaddr_un *sun)
{
	int	fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return (-1);
	if (connect(fd, (const struct sockaddr *)sun, box_len) == -1) {
		int	e = errno;

		close(fd);
		errno = e;
		return (-1);
	}
	return (fd);
}

int
main(void)
{
	const char	*build = getenv("BUILD");
	int		 longrun = getenv("CHAOS_LONG") != NULL &&
			    strcmp(getenv("CHAOS_LONG"), "1") == 0;
	int		 rounds = longrun ? 5 : 1, round;
	struct rlimit	 rl;
	struct sockaddr_un sun;
	iso_sup_spawn_opts o;
	char *const	 argv[] = { (char *)"sleep", (char *)"3600", NULL };
	struct probe	 pr = { 0, 0, 0 };
	iso_msg		*l, *m;
	iso_sendport	 port;
	uint64_t	 id;
	char		*seen = NULL;
	int		*slot = NULL;
	int		*fds = NULL, nfd, budget, attempts, per, k, i;
	long		 connected = 0, kernel_refused = 0, cap_refused = 0;
	long		 idle = 0, delivered = 0, lost = 0, dup = 0, told = 0;
	long		 reordered = 0, total_attempts = 0, want, got;
	double		 idle_cpu = 0, c0;
	int		 fds_base = 0, fds_max = 0, f;
	int64_t		 v, next_own;
	size_t		 j;

	if (build == NULL) {
		fprintf(stderr, "chaos full_mailbox: BUILD is not set\n");
		return (2);
	}
	snprintf(isoctl, sizeof isoctl, "%s/isoctl", build);
	chaos_sup_init(build);
	(void)getrlimit(RLIMIT_NOFILE, &rl);
	budget = (int)(rl.rlim_cur > 40000 ? 40000 : rl.rlim_cur) - 200;
	attempts = 20000;
	if (budget < 1000) {
		printf("chaos full_mailbox: skipped: %d descriptors\n", budget);
		return (0);
	}
	fds = calloc((size_t)budget, sizeof *fds);
	seen = calloc((size_t)attempts, 1);
	slot = calloc((size_t)attempts, sizeof *slot);
	if (fds == NULL || seen == NULL || slot == NULL)
		return (2);

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "mb";
	o.mailbox = BOX;
	if (iso_sup_spawn(&o, &id) == -1) {
		fprintf(stderr, "chaos full_mailbox: spawn: %s\n", iso_error());
		return (1);
	}
	sup = chaos_sup_pid();
	if (iso_sup_list(&l) == -1 || iso_msg_len(l) != 1 ||
	    iso_msg_sendport(iso_msg_get(iso_msg_at(l, 0), "port"),
	    &port) == -1) {
		fprintf(stderr, "chaos full_mailbox: no mailbox port\n");
		return (1);
	}
	iso_msg_free(l);
	box_len = tu_iso_addr(port.isolate, &sun);
	fds_base = chaos_fds(sup);

	for (round = 0; round < rounds; round++) {
		/* 1. Full: what "send" puts in first, then the flood. */
		for (k = 0; k < BOX; k++) {
			m = iso_msg_pack("i", k);
			if (iso_sup_send("mb", m) == -1)
				fail("send: %s", iso_error());
			iso_msg_free(m);
		}
		memset(seen, 0, (size_t)attempts);
		nfd = 0;
		per = attempts / 10;
		for (i = 0; i < attempts; i++) {
			/* port 1, then TAG0 + i as uint 32 */
			unsigned char	 fr[10] = { 0, 0, 0, 6, 1, 0xce };
			uint32_t	 tag = TAG0 + (uint32_t)i;
			int		 fd;

			total_attempts++;
			if (i % per == 0)
				probe(&pr, 1);
			if (nfd == budget || (fd = box_connect(&sun)) == -1) {
				kernel_refused++;
				seen[i] = 2;	/* never written */
				continue;
			}
			fr[6] = (unsigned char)(tag >> 24);
			fr[7] = (unsigned char)(tag >> 16);
			fr[8] = (unsigned char)(tag >> 8);
			fr[9] = (unsigned char)tag;
			if (send(fd, fr, sizeof fr, MSG_DONTWAIT) != sizeof fr) {
				close(fd);
				seen[i] = 2;
				fail("a sender could not write: %s",
				    strerror(errno));
				continue;
			}
			slot[i] = nfd;
			fds[nfd++] = fd;
			connected++;
		}
		/* 2. Waiting senders cost nothing. */
		f = chaos_fds(sup);
		if (f > fds_max)
			fds_max = f;
		c0 = chaos_cpu_ms(sup);
		tu_sleep_ms(1000);
		c0 = chaos_cpu_ms(sup) - c0;
		if (c0 > idle_cpu)
			idle_cpu = c0;
		probe(&pr, 1);

		/* 3. Drain: every frame written comes in, once; a take that
		   waits 2 s for nothing means the rest is lost. */
		next_own = 0;
		for (k = 0, want = BOX + nfd; want > 0; k++) {
			if (iso_sup_take("mb", 1000, 2000, &l) == -1) {
				fail("take: %s", iso_error());
				break;
			}
			got = (long)iso_msg_len(l);
			for (j = 0; j < iso_msg_len(l); j++) {
				if (iso_msg_int(iso_msg_at(l, j), &v) == -1)
					continue;
				want--;
				if (v < BOX) {
					if (v != next_own)
						reordered++;
					next_own = v + 1;
				} else if (v >= TAG0 && v < TAG0 + attempts &&
				    seen[v - TAG0] == 0) {
					seen[v - TAG0] = 1;
					delivered++;
				} else
					dup++;
			}
			iso_msg_free(l);
			if (got == 0)
				break;
			if (k % 20 == 0)
				probe(&pr, 0);
		}
		/* Written and never taken: lost, unless the supervisor
		   refused that sender (the cap) and told it why. */
		for (i = 0; i < attempts; i++) {
			if (seen[i] != 0)
				continue;
			if (refused(fds[slot[i]], 2000))
				told++;
			else {
				lost++;
				fprintf(stderr, "chaos full_mailbox: sender %d "
				    "never got in, and was not told\n", i);
			}
		}
		if (next_own != BOX)
			lost += BOX - next_own;
		for (i = 0; i < nfd; i++)
			close(fds[i]);

		/* 4. Room, but peers that say nothing: beyond the cap each is
		   told why. */
		nfd = 0;
		for (i = 0, k = 0; i < IDLE_PEERS && nfd < budget; i++) {
			int	fd;

			/* a full backlog: wait for the supervisor to take
			   (or refuse) what is in it */
			while ((fd = box_connect(&sun)) == -1 &&
			    errno == EAGAIN && k++ < 100000)
				tu_sleep_ms(1);
			if (fd != -1)
				fds[nfd++] = fd;
		}
		probe(&pr, 0);
		/* The last one beyond the cap is told once the supervisor
		   has taken all before it (in order): then each is held, or
		   was told, within the cap. */
		if (nfd > 0 && !refused(fds[nfd - 1], 5000))
			fail("%s", "the last idle peer was not told");
		for (i = 0, k = 0; i < nfd; i++) {
			if (refused(fds[i], 0))
				k++;
			close(fds[i]);
		}
		cap_refused += k;
		idle += nfd - k;
		if (nfd - k > CAP)
			fail("the supervisor held %d idle peers", nfd - k);
		f = chaos_fds(sup);
		if (f > fds_max)
			fds_max = f;
	}

	printf("chaos full_mailbox: attempts=%ld connected=%ld "
	    "kernel_refused=%ld delivered=%ld told=%ld lost=%ld dup=%ld "
	    "reordered=%ld "
	    "idle_peers=%ld cap_refused=%ld isoctl_calls=%d isoctl_late=%d "
	    "isoctl_max_ms=%.0f sup_idle_cpu_ms=%.0f sup_fds=%d..%d\n",
	    total_attempts, connected, kernel_refused, delivered, told, lost,
	    dup,
	    reordered, idle, cap_refused, pr.calls, pr.late, pr.max_ms,
	    idle_cpu, fds_base, fds_max);
	if (pr.late > 0)
		fail("%s", "isoctl did not answer in time");
	if (idle_cpu > IDLE_CPU_MS)
		fail("%s", "the supervisor spent CPU while senders waited");
	if (cap_refused == 0)
		fail("%s", "no idle peer beyond the cap was told");
	free(fds);
	free(seen);
	free(slot);
	return (lost == 0 && dup == 0 && reordered == 0 && failures == 0 ?
	    0 : 1);
}
