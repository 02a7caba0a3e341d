/*
 * cmd_top.c: isoctl top, the isolates' CPU, memory, queues and restarts
 * as they go. The figures are the supervisor's (iso_sup_stats); CPU use
 * is computed here, from two samples: the CPU time each used between
 * them over the time between them (100% is one CPU busy). On a terminal
 * the screen is redrawn in place (home, each line cleared to its end,
 * then the rest of the screen: no flicker) on the alternate screen, and
 * q, Ctrl-C, SIGTERM or SIGHUP end it with the terminal as it was;
 * elsewhere a table (or a line of JSON) is printed every interval.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define TOP_FIRST_MS	200	/* the first sample's length */
#define TOP_MIN_MS	100	/* the shortest --interval */

enum top_sort { SORT_CPU, SORT_MEM, SORT_MAILBOX, SORT_RESTARTS, SORT_NAME };

/* In the order of enum top_sort; the keys that pick each on a terminal. */
static const char *const sort_names[] = { "cpu", "mem", "mailbox",
    "restarts", "name", NULL };
static const char sort_keys[] = "cmbrn";

/* One row as shown: the supervisor's row (borrowed) and what is
   computed from it. */
struct line {
	const iso_msg	*row;
	const char	*id, *name, *state;
	int		 paused;	/* running, but stopped */
	int64_t		 pid, pss, mailbox, outbox, restarts;
	double		 cpu;		/* percent; < 0: not known */
};

/* What the previous sample said of one isolate. */
struct prev {
	char		 id[17];
	int64_t		 pid, cpu_ms;
};

struct top {
	const struct cli_cmd	*cmd;
	int			 all, json, once, screen, keys;
	enum top_sort		 sort;
	long long		 interval;	/* ms */
	iso_msg			*rows;		/* the latest sample, owned */
	struct prev		*prev;		/* the one before, by id */
	size_t			 nprev;
	double			 then;		/* when it was taken (ms) */
	struct line		*lines;		/* what is shown */
	size_t			 nlines;
	int			 sigfd[2];	/* signals, as bytes */
	struct termios		 saved;		/* stdin's, on a terminal */
	int			 raw;		/* saved holds what to restore */
};

static int	top_sigw = -1;

static void
top_signal(int sig)
{
	int	e = errno;
	char	c = (char)sig;
	ssize_t	n;

	n = write(top_sigw, &c, 1);
	(void)n;
	errno = e;
}

static void
handle(int sig, void (*fn)(int))
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = fn;
	(void)sigaction(sig, &sa, NULL);
}

static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
}

/* The int of key, or -1 when absent or nil. */
static int64_t
row_num(const iso_msg *row, const char *key)
{
	int64_t	x;

	return (cli_row_int(row, key, &x) ? x : -1);
}

static int
prev_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct prev *)a)->id,
	    ((const struct prev *)b)->id));
}

/* Keep what rows says of each isolate's CPU for the next sample. */
static int
prev_keep(struct top *t, const iso_msg *rows, double when)
{
	size_t		 n = iso_msg_len(rows), i, k = 0;
	struct prev	*p;
	const char	*id;

	if ((p = calloc(n + 1, sizeof *p)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		if ((id = cli_row_str(iso_msg_at(rows, i), "id")) == NULL)
			continue;
		snprintf(p[k].id, sizeof p[k].id, "%s", id);
		p[k].pid = row_num(iso_msg_at(rows, i), "pid");
		p[k].cpu_ms = row_num(iso_msg_at(rows, i), "cpu_ms");
		k++;
	}
	qsort(p, k, sizeof *p, prev_cmp);
	free(t->prev);
	t->prev = p;
	t->nprev = k;
	t->then = when;
	return (0);
}

/* CPU percent of row since the previous sample; -1: not known. */
static double
cpu_of(const struct top *t, const iso_msg *row, double elapsed)
{
	struct prev	 key, *p;
	int64_t		 ms = row_num(row, "cpu_ms"), used = ms;
	const char	*id = cli_row_str(row, "id");

	if (ms < 0 || id == NULL || elapsed <= 0)
		return (-1);
	snprintf(key.id, sizeof key.id, "%s", id);
	p = bsearch(&key, t->prev, t->nprev, sizeof *p, prev_cmp);
	/* A process new since then (a restart) used all it shows since. */
	if (p != NULL && p->pid == row_num(row, "pid") && p->cpu_ms >= 0)
		used = ms >= p->cpu_ms ? ms - p->cpu_ms : 0;
	return (used * 100.0 / elapsed);
}

static int
live(const char *state)
{
	return (state != NULL && (strcmp(state, "running") == 0 ||
	    strcmp(state, "restarting") == 0));
}

static enum top_sort	sorting;

/* Larger first; then by id. */
static int
line_cmp(const void *a, const void *b)
{
	const struct line	*x = a, *y = b;
	int			 c = 0;

	switch (sorting) {
	case SORT_CPU:
		c = (y->cpu > x->cpu) - (y->cpu < x->cpu);
		if (c == 0)
			c = (y->pss > x->pss) - (y->pss < x->pss);
		break;
	case SORT_MEM:
		c = (y->pss > x->pss) - (y->pss < x->pss);
		break;
	case SORT_MAILBOX:
		c = (y->mailbox > x->mailbox) - (y->mailbox < x->mailbox);
		if (c == 0)
			c = (y->outbox > x->outbox) - (y->outbox < x->outbox);
		break;
	case SORT_RESTARTS:
		c = (y->restarts > x->restarts) - (y->restarts < x->restarts);
		break;
	case SORT_NAME:
		if (x->name != NULL && y->name != NULL)
			c = strcmp(x->name, y->name);
		else
			c = (x->name == NULL) - (y->name == NULL);
		break;
	}
	if (c == 0 && x->id != NULL && y->id != NULL)
		c = strcmp(x->id, y->id);
	return (c);
}

/* t->lines from t->rows: the rows shown (live ones, or all), with their
   CPU over elapsed ms, sorted. */
static int
lines_make(struct top *t, double elapsed)
{
	size_t		 n = iso_msg_len(t->rows), i;
	struct line	*l;
	const iso_msg	*row;

	free(t->lines);
	t->nlines = 0;
	if ((t->lines = calloc(n + 1, sizeof *t->lines)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		row = iso_msg_at(t->rows, i);
		l = &t->lines[t->nlines];
		l->row = row;
		l->id = cli_row_str(row, "id");
		l->name = cli_row_str(row, "name");
		l->state = cli_row_str(row, "state");
		if (!t->all && !live(l->state))
			continue;
		l->paused = 0;
		(void)iso_msg_unpack(row, "{s?b}", "paused", &l->paused);
		l->pid = row_num(row, "pid");
		l->pss = row_num(row, "pss_kb");
		l->mailbox = row_num(row, "mailbox");
		l->outbox = row_num(row, "outbox");
		l->restarts = row_num(row, "restarts");
		l->cpu = cpu_of(t, row, elapsed);
		t->nlines++;
	}
	sorting = t->sort;
	qsort(t->lines, t->nlines, sizeof *t->lines, line_cmp);
	return (0);
}

/* ---- the table ------------------------------------------------------------ */

#define TOP_COLS	10

static const char *const heads[TOP_COLS] = { "ID", "NAME", "PID", "STATE",
    "CPU%", "PSS", "MBOX", "OUT", "RESTARTS", "COMMAND" };
/* Numbers to the right. */
static const int right[TOP_COLS] = { 0, 0, 1, 0, 1, 1, 1, 1, 1, 0 };

/* KiB as 512K, 1.5M, 2.0G; "-" when not known. */
static void
kib(char *buf, size_t len, int64_t k)
{
	if (k < 0)
		snprintf(buf, len, "-");
	else if (k < 1024)
		snprintf(buf, len, "%" PRId64 "K", k);
	else if (k < 1024 * 1024)
		snprintf(buf, len, "%.1fM", k / 1024.0);
	else
		snprintf(buf, len, "%.1fG", k / (1024.0 * 1024.0));
}

static void
num(char *buf, size_t len, int64_t x)
{
	if (x < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%" PRId64, x);
}

/* The cells of line l (owned). */
static int
cells_of(const struct line *l, char *cells[TOP_COLS])
{
	const iso_msg	*cmd;
	const char	*s;
	char		 buf[32];
	size_t		 i;
	int		 r = 0;

	r |= cli_cell_add(&cells[0], l->id != NULL ? l->id : "?");
	r |= cli_cell_add(&cells[1], l->name != NULL ? l->name : "-");
	num(buf, sizeof buf, l->pid > 0 ? l->pid : -1);
	r |= cli_cell_add(&cells[2], buf);
	r |= cli_cell_add(&cells[3], l->state == NULL ? "?" : l->paused &&
	    strcmp(l->state, "running") == 0 ? "paused" : l->state);
	if (l->cpu < 0)
		snprintf(buf, sizeof buf, "-");
	else
		snprintf(buf, sizeof buf, "%.1f", l->cpu);
	r |= cli_cell_add(&cells[4], buf);
	kib(buf, sizeof buf, l->pss);
	r |= cli_cell_add(&cells[5], buf);
	num(buf, sizeof buf, l->mailbox);
	r |= cli_cell_add(&cells[6], buf);
	num(buf, sizeof buf, l->outbox);
	r |= cli_cell_add(&cells[7], buf);
	num(buf, sizeof buf, l->restarts);
	r |= cli_cell_add(&cells[8], buf);
	if ((cmd = iso_msg_get(l->row, "command")) != NULL &&
	    iso_msg_type(cmd) == ISO_LIST) {
		for (i = 0; i < iso_msg_len(cmd); i++)
			if ((s = iso_msg_str(iso_msg_at(cmd, i), NULL)) != NULL)
				r |= cli_cell_add(&cells[9], s);
	} else if ((s = cli_row_str(l->row, "entry")) != NULL)
		r |= cli_cell_add(&cells[9], s);
	if (cells[9] == NULL)
		r |= cli_cell_add(&cells[9], "-");
	return (r);
}

/* The line of totals: what runs, its CPU, memory and queues. */
static void
summary(FILE *f, const struct top *t)
{
	size_t		 i, running = 0, restarting = 0, ended = 0;
	double		 cpu = 0;
	int64_t		 pss = 0, box = 0;
	char		 clock[16], mem[32];
	time_t		 now = time(NULL);
	struct tm	 tm;
	const struct line *l;

	for (i = 0; i < t->nlines; i++) {
		l = &t->lines[i];
		if (l->state != NULL && strcmp(l->state, "running") == 0)
			running++;
		else if (l->state != NULL && strcmp(l->state,
		    "restarting") == 0)
			restarting++;
		else
			ended++;
		cpu += l->cpu > 0 ? l->cpu : 0;
		pss += l->pss > 0 ? l->pss : 0;
		box += (l->mailbox > 0 ? l->mailbox : 0) +
		    (l->outbox > 0 ? l->outbox : 0);
	}
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(clock, sizeof clock, "%H:%M:%S", &tm) == 0)
		snprintf(clock, sizeof clock, "-");
	kib(mem, sizeof mem, pss);
	fprintf(f, "top - %s  isolates: %zu running, %zu restarting", clock,
	    running, restarting);
	if (t->all)
		fprintf(f, ", %zu ended", ended);
	fprintf(f, "  cpu: %.1f%%  pss: %s  queued: %" PRId64
	    "  sort: %s", cpu, mem, box, sort_names[t->sort]);
}

/* The cells of one row of the table as a line (owned), padded to w. */
static char *
row_line(char **cells, const size_t w[TOP_COLS])
{
	char	*buf = NULL;
	size_t	 len = 0, j, pad;
	FILE	*f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return (NULL);
	for (j = 0; j < TOP_COLS; j++) {
		pad = w[j] - cli_width(cells[j]);
		if (j == TOP_COLS - 1)
			fputs(cells[j], f);
		else if (right[j])
			fprintf(f, "%*s%s  ", (int)pad, "", cells[j]);
		else
			fprintf(f, "%s%*s  ", cells[j], (int)pad, "");
	}
	if (fclose(f) == EOF) {
		free(buf);
		return (NULL);
	}
	return (buf);
}

/*
 * The summary, a blank line and the table, into f, each line cut to cols
 * (0: no limit). For a screen (rows > 0): at most rows lines, each
 * cleared to its end, the last without a newline (no scrolling).
 */
static int
table(FILE *f, const struct top *t, size_t cols, size_t rows)
{
	size_t	  n = t->nlines, w[TOP_COLS], i, j, count;
	char	**cells, **text;
	FILE	 *lf;
	size_t	  len = 0;
	int	  r = 0;

	count = n + 3;
	cells = calloc((n + 1) * TOP_COLS, sizeof *cells);
	text = calloc(count, sizeof *text);
	if (cells == NULL || text == NULL) {
		r = -1;
		goto out;
	}
	for (j = 0; j < TOP_COLS; j++)
		r |= cli_cell_add(&cells[j], heads[j]);
	for (i = 0; i < n; i++)
		r |= cells_of(&t->lines[i], cells + (i + 1) * TOP_COLS);
	if (r != 0 || (lf = open_memstream(&text[0], &len)) == NULL) {
		r = -1;
		goto out;
	}
	summary(lf, t);
	if (fclose(lf) == EOF || (text[1] = strdup("")) == NULL) {
		r = -1;
		goto out;
	}
	memset(w, 0, sizeof w);
	for (i = 0; i <= n; i++)
		for (j = 0; j < TOP_COLS; j++)
			if (cli_width(cells[i * TOP_COLS + j]) > w[j])
				w[j] = cli_width(cells[i * TOP_COLS + j]);
	for (i = 0; i <= n; i++)
		if ((text[i + 2] = row_line(cells + i * TOP_COLS, w)) ==
		    NULL) {
			r = -1;
			goto out;
		}
	if (rows > 0 && count > rows)
		count = rows;
	for (i = 0; i < count; i++) {
		if (cols > 0)
			cli_cut(text[i], cols);
		fputs(text[i], f);
		if (rows > 0)
			fputs("\033[K", f);
		if (rows == 0 || i + 1 < count)
			fputc('\n', f);
	}
out:
	if (text != NULL)
		for (i = 0; i < n + 3; i++)
			free(text[i]);
	free(text);
	if (cells != NULL)
		for (i = 0; i < (n + 1) * TOP_COLS; i++)
			free(cells[i]);
	free(cells);
	return (r);
}

/* ---- the terminal ---------------------------------------------------------- */

static void
term_size(size_t *cols, size_t *rows)
{
	struct winsize	ws;

	*cols = 80;
	*rows = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 &&
	    ws.ws_row > 0) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	}
}

/* The alternate screen, no cursor; keys one at a time, not echoed. */
static void
screen_enter(struct top *t)
{
	struct termios	tio;

	if (t->keys && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
		tio = t->saved;
		tio.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		tio.c_cc[VMIN] = 1;
		tio.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSANOW, &tio) == 0)
			t->raw = 1;
	}
	fputs("\033[?1049h\033[?25l\033[H\033[J", stdout);
	fflush(stdout);
}

/* The terminal as it was. */
static void
screen_leave(struct top *t)
{
	if (t->raw) {
		(void)tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
		t->raw = 0;
	}
	fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
}

/* ---- output ---------------------------------------------------------------- */

/* The rows shown, each with its "cpu" (percent, nil when not known). */
static iso_msg *
json_rows(const struct top *t)
{
	iso_msg	*l, *row;
	size_t	 i;

	if ((l = iso_msg_pack("[]")) == NULL)
		return (NULL);
	for (i = 0; i < t->nlines; i++) {
		if ((row = iso_msg_copy(t->lines[i].row)) == NULL ||
		    iso_msg_put(row, iso_msg_pack("s", "cpu"),
		    t->lines[i].cpu >= 0 ? iso_msg_pack("f", t->lines[i].cpu) :
		    iso_msg_pack("n")) == -1 || iso_msg_append(l, row) == -1) {
			iso_msg_free(l);
			return (NULL);
		}
	}
	return (l);
}

/* Show t->lines: 0, or -1 after a message. */
static int
show(struct top *t)
{
	char	*buf = NULL;
	size_t	 len = 0, cols = 0, rows = 0;
	iso_msg	*l;
	FILE	*f;
	int	 r;

	if (t->json) {
		if ((l = json_rows(t)) == NULL) {
			cli_warn(t->cmd, "out of memory");
			return (-1);
		}
		r = cli_print_json(t->cmd, l);
		iso_msg_free(l);
		fflush(stdout);
		return (r);
	}
	if ((f = open_memstream(&buf, &len)) == NULL) {
		cli_warn(t->cmd, "%s", strerror(errno));
		return (-1);
	}
	if (t->screen) {
		term_size(&cols, &rows);
		fputs("\033[H", f);
	} else if (isatty(STDOUT_FILENO)) {
		term_size(&cols, &rows);
		rows = 0;	/* a table, cut to the width */
	}
	r = table(f, t, cols, rows);
	if (t->screen)
		fputs("\033[J", f);
	else if (!t->once)
		fputc('\n', f);
	if (fclose(f) == EOF || r == -1) {
		free(buf);
		cli_warn(t->cmd, "out of memory");
		return (-1);
	}
	/* One write a frame. */
	fwrite(buf, 1, len, stdout);
	free(buf);
	if (fflush(stdout) == EOF) {
		cli_warn(t->cmd, "standard output: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* ---- the loop --------------------------------------------------------------- */

#define WAIT_TICK	0
#define WAIT_QUIT	1
#define WAIT_FAIL	2

/* Take a sample: 0, or -1 after a message. */
static int
sample(struct top *t)
{
	iso_msg	*rows;
	double	 when;

	if (iso_sup_stats(&rows) == -1) {
		if (t->screen)
			screen_leave(t);
		cli_fail(t->cmd, "cannot read the supervisor's figures");
		return (-1);
	}
	when = now_ms();
	iso_msg_free(t->rows);
	t->rows = rows;
	if (lines_make(t, t->then > 0 ? when - t->then : 0) == -1 ||
	    prev_keep(t, rows, when) == -1) {
		if (t->screen)
			screen_leave(t);
		cli_warn(t->cmd, "out of memory");
		return (-1);
	}
	return (0);
}

/* A key typed: 1 to quit. */
static int
key(struct top *t, char c)
{
	const char	*k;

	if (c == 'q' || c == 'Q')
		return (1);
	if ((k = strchr(sort_keys, c)) != NULL && c != '\0') {
		t->sort = (enum top_sort)(k - sort_keys);
		sorting = t->sort;
		qsort(t->lines, t->nlines, sizeof *t->lines, line_cmp);
		(void)show(t);
	}
	return (0);
}

/* Wait ms, serving keys and signals: WAIT_TICK, WAIT_QUIT or
   WAIT_FAIL. */
static int
wait_for(struct top *t, long long ms)
{
	struct pollfd	 pf[2];
	double		 end = now_ms() + (double)ms, left;
	char		 buf[64];
	ssize_t		 n, i;
	int		 np;

	while ((left = end - now_ms()) > 0) {
		pf[0].fd = t->sigfd[0];
		pf[0].events = POLLIN;
		pf[1].fd = STDIN_FILENO;
		pf[1].events = POLLIN;
		np = t->keys ? 2 : 1;
		if (poll(pf, (nfds_t)np, (int)left + 1) == -1) {
			if (errno == EINTR)
				continue;
			cli_warn(t->cmd, "poll: %s", strerror(errno));
			return (WAIT_FAIL);
		}
		if (pf[0].revents & POLLIN) {
			while ((n = read(t->sigfd[0], buf, sizeof buf)) > 0) {
				for (i = 0; i < n; i++) {
					if (buf[i] == SIGWINCH) {
						(void)show(t);
						continue;
					}
					if (buf[i] != SIGTSTP)
						return (WAIT_QUIT);
					/* Stop with the terminal as it was,
					   come back to the screen. */
					screen_leave(t);
					handle(SIGTSTP, SIG_DFL);
					raise(SIGTSTP);
					handle(SIGTSTP, top_signal);
					screen_enter(t);
					(void)show(t);
				}
			}
		}
		if (np == 2 && (pf[1].revents & (POLLIN | POLLHUP))) {
			n = read(STDIN_FILENO, buf, sizeof buf);
			if (n == 0 || (n == -1 && errno != EINTR &&
			    errno != EAGAIN))
				t->keys = 0;	/* no more keys */
			for (i = 0; i < n; i++)
				if (key(t, buf[i]))
					return (WAIT_QUIT);
		}
	}
	return (WAIT_TICK);
}

static int
signals(struct top *t, int on)
{
	static const int	 sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH,
	    SIGTSTP };
	size_t			 i;

	if (on) {
		if (pipe2(t->sigfd, O_CLOEXEC | O_NONBLOCK) == -1)
			return (-1);
		top_sigw = t->sigfd[1];
	}
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		if (!t->screen && (sigs[i] == SIGWINCH || sigs[i] == SIGTSTP))
			continue;
		handle(sigs[i], on ? top_signal : SIG_DFL);
	}
	if (!on) {
		close(t->sigfd[0]);
		close(t->sigfd[1]);
		top_sigw = -1;
	}
	return (0);
}

static int
cmd_top(const struct cli_cmd *self, struct cli_args *a)
{
	struct top	t;
	int		r = CLI_OK, w;

	memset(&t, 0, sizeof t);
	t.cmd = self;
	t.all = cli_has(a, "all");
	t.json = cli_has(a, "json");
	t.once = cli_has(a, "once");
	t.sort = (enum top_sort)cli_num(a, "sort");
	t.interval = cli_num(a, "interval");
	if (t.interval < TOP_MIN_MS)
		return (cli_usage(self, "--interval %s is too short (at least "
		    "0.1 seconds)", cli_str(a, "interval")));
	t.screen = !t.once && !t.json && isatty(STDOUT_FILENO);
	t.keys = t.screen && isatty(STDIN_FILENO);
	if (signals(&t, 1) == -1)
		return (cli_fail(self, "pipe"));
	/* The first sample, then a short one, so that CPU use means
	   something from the first table on. */
	if (sample(&t) == -1) {
		r = CLI_FAIL;
		goto out;
	}
	/* Never start a supervisor again behind the user's back. */
	iso_sup_autostart(0);
	if (t.screen)
		screen_enter(&t);
	w = wait_for(&t, t.interval < TOP_FIRST_MS ? t.interval :
	    TOP_FIRST_MS);
	while (w == WAIT_TICK) {
		if (sample(&t) == -1) {
			r = CLI_FAIL;
			goto out;
		}
		if (show(&t) == -1) {
			r = CLI_FAIL;
			break;
		}
		if (t.once)
			break;
		w = wait_for(&t, t.interval);
	}
	if (w == WAIT_FAIL)
		r = CLI_FAIL;
	if (t.screen)
		screen_leave(&t);
out:
	signals(&t, 0);
	iso_msg_free(t.rows);
	free(t.prev);
	free(t.lines);
	return (r);
}

static const struct cli_opt top_opts[] = {
	{ .name = "once", .type = CLI_FLAG,
	  .help = "one table (after a 0.2 s sample) and exit" },
	{ .name = "json", .letter = 'j', .type = CLI_FLAG,
	  .help = "rows as JSON: one array (each interval, one a line)" },
	{ .name = "interval", .letter = 'i', .type = CLI_SECONDS,
	  .meta = "SEC", .def = "2",
	  .help = "seconds between samples (at least 0.1)" },
	{ .name = "sort", .letter = 's', .type = CLI_ENUM, .meta = "KEY",
	  .choices = sort_names, .def = "cpu", .complete = CLI_C_CHOICES,
	  .help = "order of the rows, largest first (name: A to Z)" },
	{ .name = "all", .letter = 'a', .type = CLI_FLAG,
	  .help = "ended isolates too" },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_top = {
	.name = "top",
	.summary = "the isolates' CPU, memory and queues, as they go",
	.help =
	    "Show what each running isolate costs, refreshed every interval:\n"
	    "CPU% (of one CPU, over the last interval), PSS (its share of\n"
	    "memory), MBOX and OUT (messages waiting in its mailbox and, for\n"
	    "--lines, its outbox) and RESTARTS, sorted by CPU. A command\n"
	    "counts with its whole process group (what a `sh -c` wrapper\n"
	    "starts); an isolate of a C program, its process alone. CPU use is\n"
	    "measured between two samples: the first table comes after a 0.2 s\n"
	    "sample, and so does --once's. On a terminal the screen is redrawn\n"
	    "in place; keys: q quits, c m b r n sort by cpu, mem, mailbox,\n"
	    "restarts, name. Elsewhere a table is printed every interval.\n"
	    "q, Ctrl-C or SIGTERM end it with status 0.\n",
	.opts = top_opts,
	.exec = cmd_top
};
