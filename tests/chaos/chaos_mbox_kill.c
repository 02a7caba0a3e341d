/*
 * chaos_mbox_kill.c: the supervisor SIGKILLed over and over (every 50 to
 * 200 ms) while senders put numbered messages into one command's mailbox
 * with iso_sup_send and a taker takes them with iso_sup_take. At the end
 * every message must have been taken exactly once, in order per sender:
 *
 *   chaos mbox_kill: messages=N kills=K lost=0 dup=0 reordered=0
 *
 * The supervisor is started on demand by whichever client finds none (a
 * private runtime directory, isolated next to this build). A send that
 * fails for good is sent again with a new request id, and counted as
 * "resent": a duplicate it may make is counted too. CHAOS_LONG=1: more
 * senders, more messages.
 */
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chaos_sup.h"

#define SENDERS_MAX	8

static int		 senders = 3;
static int		 per_sender = 30000;

/* The running supervisor's pid, from its lock file, or 0. */
/* A sender: {"s": who, "n": 1..per_sender} in order. Exit status: 0, or
   1 when it could not go on. Resends are written to fd as one int. */
static void
sender(int who, int fd)
{
	iso_msg	*m;
	int	 n, resent = 0, tries;

	for (n = 1; n <= per_sender; n++) {
		m = iso_msg_pack("{s:i s:i}", "s", who, "n", n);
		for (tries = 0; iso_sup_send("box", m) == -1; tries++) {
			if (tries == 1000 || (errno != ECONNRESET &&
			    errno != ECONNREFUSED && errno != ENOBUFS &&
			    errno != ESRCH && errno != ENOENT)) {
				fprintf(stderr, "chaos mbox_kill: sender %d, "
				    "message %d: %s\n", who, n, iso_error());
				_exit(1);
			}
			if (errno == ECONNRESET)
				resent++;
			tu_sleep_ms(errno == ENOBUFS ? 20 : 5);
		}
		iso_msg_free(m);
	}
	(void)!write(fd, &resent, sizeof resent);
	_exit(0);
}

int
main(void)
{
	static char	 sleep_[] = "sleep", secs[] = "3600";
	char *const	 cmd[] = { sleep_, secs, NULL };
	iso_sup_spawn_opts o;
	pid_t		 kids[SENDERS_MAX], pid, sup;
	int		 last[SENDERS_MAX], *seen[SENDERS_MAX], p[2];
	int		 i, s, n, running, status, kills = 0, failed = 0;
	long		 got = 0, lost = 0, dup = 0, reordered = 0, resent = 0,
			 total;
	int		 r, v, idle;
	iso_msg		*l;
	size_t		 k;

	if (getenv("CHAOS_LONG") != NULL && strcmp(getenv("CHAOS_LONG"),
	    "1") == 0) {
		senders = 4;
		per_sender = 250000;
	}
	if (getenv("BUILD") == NULL) {
		fprintf(stderr, "chaos mbox_kill: BUILD is not set\n");
		return (2);
	}
	chaos_sup_init(getenv("BUILD"));
	srand((unsigned)getpid());

	memset(&o, 0, sizeof o);
	o.argv = cmd;
	o.name = "box";
	o.mailbox = 1000000;
	if (iso_sup_spawn(&o, NULL) == -1) {
		fprintf(stderr, "chaos mbox_kill: spawn: %s\n", iso_error());
		return (1);
	}
	total = (long)senders * per_sender;
	if (pipe2(p, O_CLOEXEC) == -1)
		return (1);
	for (s = 0; s < senders; s++) {
		if ((seen[s] = calloc((size_t)per_sender + 1,
		    sizeof *seen[s])) == NULL)
			return (1);
		last[s] = 0;
		if ((kids[s] = fork()) == 0) {
			close(p[0]);
			alarm(per_sender > 30000 ? 1500 : 200);
			sender(s, p[1]);
		}
	}
	close(p[1]);

	/* Take, and kill the supervisor now and then, until every sender
	   is done and nothing new has come for a while. */
	running = senders;
	idle = 0;
	double next_kill = 0;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	next_kill = ts.tv_sec + ts.tv_nsec / 1e9 + 0.1;
	while (got < total && idle < 100) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		if (running > 0 && ts.tv_sec + ts.tv_nsec / 1e9 >= next_kill) {
			if ((sup = chaos_sup_pid()) > 0 && kill(sup, SIGKILL) == 0)
				kills++;
			next_kill = ts.tv_sec + ts.tv_nsec / 1e9 +
			    (50 + rand() % 151) / 1000.0;
		}
		while (running > 0 && (pid = waitpid(-1, &status, WNOHANG)) >
		    0) {
			running--;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				failed++;
		}
		if (iso_sup_take("box", 200, 50, &l) == -1) {
			if (errno != ECONNRESET && errno != ECONNREFUSED &&
			    errno != ESRCH && errno != ENOENT) {
				fprintf(stderr, "chaos mbox_kill: take: %s\n",
				    iso_error());
				failed++;
				break;
			}
			tu_sleep_ms(5);
			continue;
		}
		idle = iso_msg_len(l) == 0 && running == 0 ? idle + 1 : 0;
		for (k = 0; k < iso_msg_len(l); k++) {
			if (iso_msg_unpack(iso_msg_at(l, k), "{s:i s:i}", "s",
			    &s, "n", &n) == -1 || s < 0 || s >= senders ||
			    n < 1 || n > per_sender) {
				fprintf(stderr, "chaos mbox_kill: a message "
				    "nobody sent\n");
				failed++;
				continue;
			}
			if (seen[s][n]++ > 0) {
				dup++;
				continue;
			}
			got++;
			if (n < last[s])
				reordered++;
			else
				last[s] = n;
		}
		iso_msg_free(l);
	}
	while (running > 0 && waitpid(-1, &status, 0) > 0) {
		running--;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	while ((r = (int)read(p[0], &v, sizeof v)) == (int)sizeof v)
		resent += v;
	close(p[0]);
	for (s = 0; s < senders; s++) {
		for (i = 1; i <= per_sender; i++)
			if (seen[s][i] == 0)
				lost++;
		free(seen[s]);
	}
	printf("chaos mbox_kill: messages=%ld kills=%d lost=%ld dup=%ld "
	    "reordered=%ld resent=%ld\n", total, kills, lost, dup, reordered,
	    resent);
	fflush(stdout);
	return (failed || lost || dup || reordered ? 1 : 0);
}
