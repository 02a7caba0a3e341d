/*
 * chaos_lines: a --lines command fed numbers 1..N through its mailbox,
 * every answer taken from its outbox, while
 *   phase 1: the supervisor is SIGKILLed again and again (awk, which
 *            answers every line it reads: each number exactly once);
 *   phase 2: the command is SIGKILLed again and again under
 *            restart=always (tests/prog/lines_echo, which records what
 *            it read in a file a SIGKILL cannot cut short).
 * A line the command had read when it was killed counts as delivered:
 * it is not given again, and it has an answer only if the command
 * wrote one first (read_unanswered counts those). Lost: a number never
 * read, or answered (by the record) but no answer came. Dup: a number
 * read by two runs, or answered twice. Reordered: an answer after a
 * larger one. Faults fall between client calls, never inside one: the
 * client's own edge (a reply lost with the supervisor) is not what this
 * tests; the link between supervisor and shepherd and the terminal are.
 *
 * Env: BUILD (for isolated and the helper), CHAOS_LONG=1 for more.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chaos_sup.h"

#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"

static char		 logdir[PATH_MAX];

struct tally {
	int	 n;		/* numbers 1..n */
	int	*answers;	/* how many times each came back */
	int	*reads;		/* runs that read it whole (phase 2) */
	char	*marked;	/* a run wrote its answer (phase 2) */
	int	 last;		/* the last answer, for order */
	int	 reordered;
	int	 got;		/* numbers answered at least once */
};

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
	fprintf(stderr, "chaos_lines: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void
kill_supervisor(void)
{
	pid_t	sup = chaos_sup_pid();

	if (sup <= 0 || kill(sup, SIGKILL) == -1)
		die("no supervisor to kill");
	for (int i = 0; i < 1000 && tu_alive(sup); i++)
		tu_sleep_ms(1);
	if (tu_alive(sup))
		die("the supervisor %d outlived SIGKILL", (int)sup);
}

/* The command's pid if it runs and is our lines_echo, else 0. */
static pid_t
prog_pid(const char *target)
{
	iso_msg		*l;
	const iso_msg	*row;
	const char	*name, *state;
	char		 path[64], comm[64] = "";
	int64_t		 pid = 0;
	FILE		*f;
	size_t		 i;

	if (iso_sup_list(&l) == -1)
		die("list: %s", iso_error());
	for (i = 0; i < iso_msg_len(l); i++) {
		row = iso_msg_at(l, i);
		if (iso_msg_unpack(row, "{s:s s:s}", "name", &name, "state",
		    &state) == 0 && strcmp(name, target) == 0 &&
		    strcmp(state, "running") == 0)
			(void)iso_msg_int(iso_msg_get(row, "pid"), &pid);
	}
	iso_msg_free(l);
	if (pid <= 0)
		return (0);
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(comm, sizeof comm, f) == NULL)
			comm[0] = '\0';
		fclose(f);
	}
	return (strcmp(comm, "lines_echo\n") == 0 && chaos_ours((pid_t)pid) ?
	    (pid_t)pid : 0);
}

/* One of the target's counts in its row ("mailbox", "outbox"). */
static int64_t
row_count(const char *target, const char *key)
{
	iso_msg		*l;
	const char	*name;
	int64_t		 v = -1;
	size_t		 i;

	if (iso_sup_list(&l) == -1)
		die("list: %s", iso_error());
	for (i = 0; i < iso_msg_len(l); i++)
		if (iso_msg_unpack(iso_msg_at(l, i), "{s:s}", "name",
		    &name) == 0 && strcmp(name, target) == 0)
			(void)iso_msg_int(iso_msg_get(iso_msg_at(l, i), key),
			    &v);
	iso_msg_free(l);
	return (v);
}

/* Take what the outbox holds (waiting up to ms for the first): the
   number of answers. */
static int
take_answers(const char *target, struct tally *t, int ms)
{
	iso_msg		*l;
	int64_t		 v;
	size_t		 i, n;

	if (iso_sup_recv(target, 1000, ms, &l) == -1)
		die("recv %s: %s", target, iso_error());
	n = iso_msg_len(l);
	for (i = 0; i < n; i++) {
		if (iso_msg_int(iso_msg_at(l, i), &v) == -1 || v < 1 ||
		    v > t->n) {
			char	*json = iso_msg_to_json(iso_msg_at(l, i));

			die("an answer that was never asked: %s", json);
		}
		if (t->answers[v]++ == 0)
			t->got++;
		if (v < t->last)
			t->reordered++;
		t->last = (int)v;
	}
	iso_msg_free(l);
	return ((int)n);
}

static void
spawn(const char *name, char *const *argv, iso_restart restart)
{
	iso_sup_spawn_opts	o;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = name;
	o.lines = 1;
	o.mailbox = 64;
	o.restart = restart;
	o.backoff_ms = 1;
	o.backoff_max_ms = 1;
	o.max_restarts = 1000000;
	o.period_ms = 1;
	if (iso_sup_spawn(&o, NULL) == -1)
		die("spawn %s: %s", name, iso_error());
}

/*
 * Feed 1..t->n to target, taking answers, with fault() every 0.5 to 1.5 every_ms
 * right after a burst of sends (so that lines are on their way both
 * ways). Then, faults over, wait until the mailbox is empty (every line
 * read) and, for a command that answers everything, every answer.
 */
static int
feed(const char *target, struct tally *t, int (*fault)(const char *),
    int every_ms, int all_answered)
{
	long	 next_fault = now_ms() + 50, deadline = now_ms() + 300000;
	int	 next = 1, faults = 0, burst, k;

	while (next <= t->n) {
		if (now_ms() > deadline)
			die("%s: no progress (sent %d of %d)", target,
			    next - 1, t->n);
		burst = 1 + rand() % 24;
		for (k = 0; k < burst && next <= t->n; k++) {
			iso_msg	*m = iso_msg_pack("i", next);
			int	 r = iso_sup_send(target, m), e = errno;

			iso_msg_free(m);
			if (r == 0)
				next++;
			else if (e == ENOBUFS)
				break;
			else
				die("send %d: %s", next, iso_error());
		}
		if (now_ms() >= next_fault) {
			faults += fault(target);
			next_fault = now_ms() + every_ms / 2 + rand() % every_ms;
		}
		(void)take_answers(target, t, 0);
	}
	/* No more faults: the last lines go through, and their answers
	   (until none comes for 200 ms, for a command that may not answer
	   every line). */
	while (row_count(target, "mailbox") != 0 ||
	    (all_answered && t->got < t->n)) {
		if (now_ms() > deadline)
			break;
		(void)take_answers(target, t, 200);
	}
	while (!all_answered && take_answers(target, t, 200) > 0)
		;
	return (faults);
}

static int
fault_supervisor(const char *target)
{
	(void)target;
	kill_supervisor();
	return (1);
}

static int
fault_program(const char *target)
{
	pid_t	pid = prog_pid(target);

	if (pid <= 0)
		return (0);	/* between two runs */
	return (kill(pid, SIGKILL) == 0);
}

/* Read every run's record of what it read into t. */
static void
read_records(struct tally *t)
{
	struct dirent	*e;
	DIR		*d;
	char		 path[PATH_MAX * 2];
	FILE		*f;
	int		 c, v = 0, digits = 0, line = 0;

	if ((d = opendir(logdir)) == NULL)
		die("%s: %s", logdir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "run.", 4) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", logdir, e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			die("%s: %s", path, strerror(errno));
		v = digits = line = 0;
		while ((c = getc(f)) != EOF && c != '\0') {
			if (c >= '0' && c <= '9') {
				v = v * 10 + (c - '0');
				digits++;
			} else if (c == '\n') {
				if (digits == 0 || v < 1 || v > t->n)
					die("%s: a line that was never sent",
					    path);
				t->reads[v]++;
				line = v;
				v = digits = 0;
			} else if (c == '+' && line > 0) {
				t->marked[line] = 1;
				line = 0;
			} else
				die("%s: unexpected byte %#x", path, c);
		}
		fclose(f);
	}
	closedir(d);
}

static void
tally_free(struct tally *t)
{
	free(t->answers);
	free(t->reads);
	free(t->marked);
}

static void
tally_init(struct tally *t, int n)
{
	memset(t, 0, sizeof *t);
	t->n = n;
	if ((t->answers = calloc((size_t)n + 1, sizeof *t->answers)) == NULL ||
	    (t->reads = calloc((size_t)n + 1, sizeof *t->reads)) == NULL ||
	    (t->marked = calloc((size_t)n + 1, 1)) == NULL)
		die("out of memory");
}

int
main(void)
{
	char		 echo[PATH_MAX];
	char *const	 awk[] = { "awk", "{ print $1; fflush() }", NULL };
	char *const	 prog[] = { echo, logdir, "300", NULL };
	const char	*build = getenv("BUILD");
	int		 longrun = getenv("CHAOS_LONG") != NULL &&
	    strcmp(getenv("CHAOS_LONG"), "1") == 0;
	struct tally	 t1, t2;
	int		 sup_kills, prog_kills, lost = 0, dup = 0, unanswered = 0;
	int		 v;
	iso_msg		*row;

	if (build == NULL)
		die("BUILD is not set");
	setvbuf(stdout, NULL, _IOLBF, 0);
	srand((unsigned)getpid());
	chaos_sup_init(build);
	snprintf(echo, sizeof echo, "%s/tests/prog/lines_echo", build);
	snprintf(logdir, sizeof logdir, "%s/records", rt);
	if (mkdir(logdir, 0700) == -1)
		die("%s: %s", logdir, strerror(errno));

	/* Phase 1: the supervisor dies; awk answers everything. */
	tally_init(&t1, longrun ? 20000 : 2000);
	spawn("p1", awk, ISO_RESTART_NEVER);
	sup_kills = feed("p1", &t1, fault_supervisor, 50, 1);
	for (v = 1; v <= t1.n; v++) {
		if (t1.answers[v] == 0)
			lost++;
		if (t1.answers[v] > 1)
			dup += t1.answers[v] - 1;
	}
	printf("phase 1 (supervisor killed %d times, awk): %d numbers, "
	    "%d answered, reordered %d\n", sup_kills, t1.n, t1.got,
	    t1.reordered);
	if (iso_sup_kill("p1", ISO_IMMEDIATE) == -1 ||
	    iso_sup_wait("p1", 10000, &row) == -1)
		die("kill p1: %s", iso_error());
	iso_msg_free(row);

	/* Phase 2: the command dies and is restarted. */
	tally_init(&t2, longrun ? 5000 : 600);
	spawn("p2", prog, ISO_RESTART_ALWAYS);
	prog_kills = feed("p2", &t2, fault_program, 20, 0);
	/* Every line read: end it, and take what its last run printed. */
	if (iso_sup_kill("p2", ISO_IMMEDIATE) == -1 ||
	    iso_sup_wait("p2", 10000, &row) == -1)
		die("kill p2: %s", iso_error());
	iso_msg_free(row);
	while (take_answers("p2", &t2, 0) > 0)
		;
	read_records(&t2);
	for (v = 1; v <= t2.n; v++) {
		if (t2.reads[v] > 1)
			dup += t2.reads[v] - 1;
		if (t2.answers[v] > 1)
			dup += t2.answers[v] - 1;
		if (t2.answers[v] == 0 && (t2.reads[v] == 0 || t2.marked[v]))
			lost++;
		else if (t2.answers[v] == 0)
			unanswered++;
	}
	printf("phase 2 (command killed %d times, restart always): %d "
	    "numbers, %d answered, %d read by a run killed before it "
	    "answered, reordered %d\n", prog_kills, t2.n, t2.got, unanswered,
	    t2.reordered);
	printf("chaos lines: messages=%d sup_kills=%d prog_kills=%d lost=%d "
	    "dup=%d reordered=%d read_unanswered=%d\n", t1.n + t2.n,
	    sup_kills, prog_kills, lost, dup, t1.reordered + t2.reordered,
	    unanswered);
	v = lost == 0 && dup == 0 && t1.reordered + t2.reordered == 0;
	tally_free(&t1);
	tally_free(&t2);
	return (v ? 0 : 1);
}
