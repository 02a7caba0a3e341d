/*
 * chaos_follow: `isoctl recv --follow` of a --lines command that prints
 * 1..N, while the supervisor is SIGKILLed again and again (the follower
 * itself starts the next one, as any client does, and resumes its
 * stream there). What the follower printed must be 1..N, each exactly
 * once, in order, and it must exit 0 once the command has ended. Lost:
 * a number it never printed; dup: one printed twice; reordered: one
 * after a larger one.
 *
 * Env: BUILD (for isolated and isoctl), CHAOS_LONG=1 for more.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chaos_sup.h"

static long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fprintf(stderr, "chaos_follow: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* SIGKILL the supervisor if one runs (the follower may not have started
   the next one yet): 1 if one was killed. */
static int
kill_supervisor(void)
{
	pid_t	sup = chaos_sup_pid();
	int	i;

	if (sup <= 0 || !tu_alive(sup) || kill(sup, SIGKILL) == -1)
		return (0);
	for (i = 0; i < 1000 && tu_alive(sup); i++)
		tu_sleep_ms(1);
	if (tu_alive(sup))
		die("the supervisor %d outlived SIGKILL", (int)sup);
	return (1);
}

/* Lines in path so far. */
static int
count_lines(const char *path)
{
	FILE	*f;
	int	 c, n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return (0);
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return (n);
}

/* isoctl recv --follow target > out 2> err, in the background. */
static pid_t
follower(const char *isoctl, const char *target, const char *out,
    const char *err)
{
	pid_t	pid;
	int	fo, fe;

	if ((pid = fork()) == -1)
		die("fork: %s", strerror(errno));
	if (pid > 0)
		return (pid);
	if ((fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    (fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    dup2(fo, 1) == -1 || dup2(fe, 2) == -1)
		_exit(126);
	signal(SIGPIPE, SIG_DFL);
	execl(isoctl, "isoctl", "recv", "--follow", target, (char *)NULL);
	_exit(127);
}

int
main(void)
{
	const char	*build = getenv("BUILD");
	int		 longrun = getenv("CHAOS_LONG") != NULL &&
	    strcmp(getenv("CHAOS_LONG"), "1") == 0;
	int		 n = longrun ? 20000 : 3000, kills = 0, max_kills;
	int		 lost = 0, dup = 0, reordered = 0, last = 0, v, st = -1;
	char		 isoctl[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
	char		 script[256], line[64], sh[] = "sh", dash_c[] = "-c";
	char *const	 argv[] = { sh, dash_c, script, NULL };
	iso_sup_spawn_opts o;
	int		*seen;
	long		 deadline;
	pid_t		 fpid, w;
	FILE		*f;

	if (build == NULL)
		die("BUILD is not set");
	setvbuf(stdout, NULL, _IOLBF, 0);
	srand((unsigned)getpid());
	chaos_sup_init(build);
	snprintf(isoctl, sizeof isoctl, "%s/isoctl", build);
	snprintf(out, sizeof out, "%s/follow.out", rt);
	snprintf(err, sizeof err, "%s/follow.err", rt);
	max_kills = longrun ? 300 : 30;

	/* A producer in bursts of 10 lines every 20 ms or so, for some
	   seconds of faults; at times the outbox and the shepherd fill
	   (while no supervisor runs), and the command waits. */
	snprintf(script, sizeof script, "i=0; while [ $i -lt %d ]; do "
	    "i=$((i+1)); echo $i; [ $((i %% 10)) = 0 ] && sleep 0.02; "
	    "done", n);
	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "f1";
	o.lines = 1;
	o.mailbox = 64;
	if (iso_sup_spawn(&o, NULL) == -1)
		die("spawn: %s", iso_error());
	fpid = follower(isoctl, "f1", out, err);

	/* Faults while it streams, every 50 to 250 ms. */
	deadline = now_ms() + 300000;
	while (kills < max_kills && count_lines(out) < n * 9 / 10) {
		if ((w = waitpid(fpid, &st, WNOHANG)) == fpid)
			break;
		if (now_ms() > deadline)
			die("no progress: %d of %d lines", count_lines(out),
			    n);
		tu_sleep_ms(50 + rand() % 200);
		kills += kill_supervisor();
	}
	/* Then its end, which the command's brings. */
	deadline = now_ms() + 60000;
	while (st == -1 && (w = waitpid(fpid, &st, WNOHANG)) != fpid) {
		if (now_ms() > deadline) {
			kill(fpid, SIGKILL);
			(void)waitpid(fpid, &st, 0);
			die("the follower did not end (%d of %d lines)",
			    count_lines(out), n);
		}
		tu_sleep_ms(20);
	}

	if ((seen = calloc((size_t)n + 1, sizeof *seen)) == NULL)
		die("out of memory");
	if ((f = fopen(out, "r")) == NULL)
		die("%s: %s", out, strerror(errno));
	while (fgets(line, sizeof line, f) != NULL) {
		v = atoi(line);
		if (v < 1 || v > n)
			die("a line that was never printed: %s", line);
		if (seen[v]++ > 0)
			dup++;
		if (v < last)
			reordered++;
		last = v;
	}
	fclose(f);
	for (v = 1; v <= n; v++)
		lost += seen[v] == 0;
	free(seen);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if ((f = fopen(err, "r")) != NULL) {
			while (fgets(line, sizeof line, f) != NULL)
				fputs(line, stderr);
			fclose(f);
		}
	}
	printf("chaos follow: messages=%d sup_kills=%d lost=%d dup=%d "
	    "reordered=%d follower_exit=%d\n", n, kills, lost, dup, reordered,
	    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return (lost == 0 && dup == 0 && reordered == 0 && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0 ? 0 : 1);
}
