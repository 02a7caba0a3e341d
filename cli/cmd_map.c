/*
 * cmd_map.c: isoctl map, a function of a module over the lines of
 * standard input, on a warm pool (iso_pool) in this process; or, after
 * --, a command's warm programs (mapcmd.c); or, with --cluster, the warm
 * workers of the cluster's nodes serving the module (mapcluster.c).
 *
 * The module is dlopen()ed before the pool is made, so the workers,
 * forks of isoctl, have it and the function's address is valid there;
 * isoctl exports the library's iso_* functions to it, as isolated does.
 * Input streams: a line is read only while fewer than the window's items
 * are between reading and printing, and the reorder buffer is a ring of
 * the window's slots, so memory is bounded by the window whatever the
 * input's length (a slow item holds back output and reading, not
 * memory).
 */
#include <sys/epoll.h>
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "mapcluster.h"
#include "mapcmd.h"

#define MAP_WINDOW	4096		/* items in flight, per job slot */
#define MAP_WINDOW_MAX	65536
#define MAP_READ	65536		/* bytes one read asks for */
#define MAP_LINE_MAX	(64 * 1024 * 1024)
#define MAP_CLUSTER_JOBS 64		/* --cluster: requests in flight */

typedef iso_msg *(*map_fn)(const iso_msg *);

struct map_slot {
	int		 state;		/* SLOT_* */
	char		*text;		/* the result's JSON, or why */
};
#define SLOT_FREE	0
#define SLOT_RUNNING	1
#define SLOT_OK		2
#define SLOT_FAILED	3

struct map {
	const struct cli_cmd	*cmd;
	iso_pool		*pool;
	struct mapcmd		*cmdrun;	/* map -- CMD: its programs */
	struct mapcl		*clrun;		/* map --cluster */
	map_fn			 fn;
	int			 timeout_ms;
	int			 unordered;
	struct event_base	*base;
	struct event		*in_ev;		/* stdin readable */
	struct event		*pump_ev;	/* stdin not pollable: read now */
	struct event		*progress_ev;
	int			 pollable;
	int			 reading;	/* in_ev or pump_ev armed */
	int			 eof;
	int			 stop;		/* output failed */
	int			 status;
	/* lines read and not yet cut */
	char			*buf;
	size_t			 len, cap;
	int			 skipping;	/* a line over the limit */
	/* the window */
	struct map_slot		*slot;
	size_t			 window;
	unsigned long long	 next_in;	/* lines read */
	unsigned long long	 next_out;	/* lines printed (ordered) */
	unsigned long long	 finished;	/* items told (unordered) */
	unsigned long long	 failed;
	struct timespec		 t0;
	int			 progress;	/* stderr is a terminal */
	int			 shown;		/* a progress line is there */
};

static void	map_flow(struct map *);

static double
map_secs(const struct timespec *t0)
{
	struct timespec	t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return ((double)(t.tv_sec - t0->tv_sec) +
	    (double)(t.tv_nsec - t0->tv_nsec) / 1e9);
}

/* Writing to stdout failed (errno): stop. A reader that has gone
   (EPIPE: a head) is no error to tell about. */
static void
map_out_failed(struct map *m)
{
	if (m->stop)
		return;
	if (errno != EPIPE)
		cli_warn(m->cmd, "standard output: %s", strerror(errno));
	m->stop = 1;
	m->status = CLI_FAIL;
}

/* Item n's outcome to stdout (and why to stderr). */
static void
map_emit(struct map *m, unsigned long long n, struct map_slot *s)
{
	int	rc;

	if (m->shown && s->state != SLOT_OK) {
		fputs("\r\033[K", stderr);
		m->shown = 0;
	}
	if (s->state == SLOT_OK)
		rc = fputs(s->text, stdout) == EOF || putchar('\n') == EOF;
	else {
		rc = fputs("null\n", stdout) == EOF;
		fprintf(stderr, "isoctl: line %llu: %s\n", n + 1, s->text);
	}
	free(s->text);
	s->text = NULL;
	s->state = SLOT_FREE;
	if (rc)
		map_out_failed(m);
}

/* Print what is ready, in order. */
static void
map_drain(struct map *m)
{
	struct map_slot	*s;

	while (m->next_out < m->next_in) {
		s = &m->slot[m->next_out % m->window];
		if (s->state != SLOT_OK && s->state != SLOT_FAILED)
			break;
		map_emit(m, m->next_out, s);
		m->next_out++;
	}
}

/* Item n ended: text (owned) is its JSON, or why it failed. */
static void
map_told(struct map *m, unsigned long long n, int ok, char *text)
{
	struct map_slot	 one, *s = m->unordered ? &one :
			    &m->slot[n % m->window];

	if (m->stop) {		/* ending: nothing more is printed */
		free(text);
		return;
	}
	if (text == NULL && (text = strdup(ok ? "null" : "failed")) == NULL) {
		cli_warn(m->cmd, "out of memory");
		exit(CLI_FAIL);
	}
	s->state = ok ? SLOT_OK : SLOT_FAILED;
	s->text = text;
	m->finished++;
	if (!ok) {
		m->failed++;
		m->status = CLI_FAIL;
	}
	if (m->unordered)
		map_emit(m, n, s);
	else
		map_drain(m);
}

/* The pool's done; ud is the item's number. One map a process. */
static struct map	*map_self;

static void
map_done(int err, iso_msg *result, void *ud)
{
	unsigned long long	 n = (unsigned long long)(uintptr_t)ud;
	const char		*why;
	char			*text;

	if (err != 0) {
		why = iso_error();
		if (strncmp(why, "pool: ", 6) == 0)
			why += 6;
		map_told(map_self, n, 0, strdup(why));
	} else {
		if ((text = iso_msg_to_json(result)) == NULL)
			map_told(map_self, n, 0, strdup(iso_error()));
		else
			map_told(map_self, n, 1, text);
		iso_msg_free(result);
	}
	map_flow(map_self);
}

/* A program's item ended (map -- CMD). */
static void
map_cmd_done(int ok, char *text, void *item, void *ud)
{
	struct map	*m = ud;

	map_told(m, (unsigned long long)(uintptr_t)item, ok, text);
	map_flow(m);
}

/* Items between reading and printing (ordered), or running. */
static size_t
map_in_flight(const struct map *m)
{
	return ((size_t)(m->next_in - (m->unordered ? m->finished :
	    m->next_out)));
}

/* One line (NUL-terminated at len) as item next_in. */
static void
map_line(struct map *m, char *line, size_t len)
{
	unsigned long long	 n = m->next_in++;
	iso_msg			*arg;
	char			*why;

	if (!m->unordered)
		m->slot[n % m->window].state = SLOT_RUNNING;
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (strlen(line) != len) {
		map_told(m, n, 0, strdup("bad JSON: a NUL byte in the line"));
		return;
	}
	if ((arg = iso_msg_from_json(line)) == NULL) {
		if (asprintf(&why, "bad JSON: %s", iso_error()) == -1)
			why = NULL;
		map_told(m, n, 0, why);
		return;
	}
	if (m->clrun != NULL) {
		if (mapcl_submit(m->clrun, arg, (void *)(uintptr_t)n) == -1)
			map_told(m, n, 0, strdup(strerror(errno)));
		iso_msg_free(arg);
		return;
	}
	if (m->cmdrun != NULL) {
		/* the line as it is: it is one JSON value */
		iso_msg_free(arg);
		if (mapcmd_submit(m->cmdrun, line, len, (void *)(uintptr_t)n)
		    == -1)
			map_told(m, n, 0, strdup(strerror(errno)));
		return;
	}
	if (iso_pool_submit(m->pool, m->fn, arg, m->timeout_ms, map_done,
	    (void *)(uintptr_t)n) == -1) {
		if (asprintf(&why, "%s", iso_error()) == -1)
			why = NULL;
		map_told(m, n, 0, why);
	}
	iso_msg_free(arg);
}

/* Cut the whole lines of m->buf into items while the window has room. */
static void
map_cut(struct map *m)
{
	char	*nl, *p = m->buf;
	size_t	 left = m->len;

	while (left > 0 && map_in_flight(m) < m->window && !m->stop) {
		if ((nl = memchr(p, '\n', left)) == NULL)
			break;
		*nl = '\0';
		if (m->skipping)
			m->skipping = 0;
		else
			map_line(m, p, (size_t)(nl - p));
		left -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
	if (m->eof && left > 0 && memchr(p, '\n', left) == NULL &&
	    map_in_flight(m) < m->window && !m->stop) {
		/* the last line, without its newline (cap > len: room) */
		p[left] = '\0';
		if (!m->skipping)
			map_line(m, p, left);
		left = 0;
	}
	if (left > 0 && p != m->buf)
		memmove(m->buf, p, left);
	m->len = left;
}

/* One read of stdin into m->buf. */
static void
map_read(struct map *m)
{
	size_t	 want = m->len + MAP_READ + 1;
	ssize_t	 r;
	char	*b;

	if (m->cap < want) {
		if ((b = realloc(m->buf, want)) == NULL) {
			cli_warn(m->cmd, "out of memory");
			exit(CLI_FAIL);
		}
		m->buf = b;
		m->cap = want;
	}
	r = read(STDIN_FILENO, m->buf + m->len, m->cap - m->len - 1);
	if (r == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		cli_warn(m->cmd, "standard input: %s", strerror(errno));
		m->status = CLI_FAIL;
		m->eof = 1;
		return;
	}
	if (r == 0) {
		m->eof = 1;
		return;
	}
	m->len += (size_t)r;
	map_cut(m);
	if (m->len >= MAP_LINE_MAX && memchr(m->buf, '\n', m->len) ==
	    NULL) {
		/* no newline in 64 MiB: that line fails, the rest is read
		   past up to its end */
		if (!m->skipping) {
			if (!m->unordered)
				m->slot[m->next_in % m->window].state =
				    SLOT_RUNNING;
			map_told(m, m->next_in++, 0, strdup("a line longer "
			    "than 64 MiB"));
		}
		m->skipping = 1;
		m->len = 0;
	}
}

/* Read more when the window has room and no whole line waits; note the
   end. */
static void
map_flow(struct map *m)
{
	int	want;

	map_cut(m);
	want = !m->eof && !m->stop && map_in_flight(m) < m->window &&
	    (m->len == 0 || memchr(m->buf, '\n', m->len) == NULL);
	if (want && !m->reading) {
		if (m->pollable)
			event_add(m->in_ev, NULL);
		else
			event_active(m->pump_ev, EV_READ, 1);
		m->reading = 1;
	} else if (!want && m->reading) {
		if (m->pollable)
			event_del(m->in_ev);
		m->reading = 0;	/* the pump reads no more when it runs */
	}
}

static void
map_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct map	*m = arg;

	(void)fd;
	(void)what;
	if (!m->reading)
		return;
	m->reading = 0;
	map_read(m);
	map_flow(m);
}

static void
map_progress_cb(evutil_socket_t fd, short what, void *arg)
{
	struct map	*m = arg;
	double		 t = map_secs(&m->t0);

	(void)fd;
	(void)what;
	fprintf(stderr, "\r\033[Kisoctl: map: %llu done, %llu failed, "
	    "%.0f/s", m->finished, m->failed, t > 0 ? (double)m->finished /
	    t : 0.0);
	m->shown = 1;
}

/* Whether fd can be watched by epoll (a regular file or /dev/null
   cannot: they are always ready). */
static int
map_pollable(int fd)
{
	struct epoll_event	ev = { .events = EPOLLIN };
	int			ep, ok;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return (0);
	ok = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
	close(ep);
	return (ok);
}

/*
 * MODULE.so:FUNCTION loaded: the function, or NULL after a one-line
 * error. A relative module path is made absolute, as compute does.
 */
static map_fn
map_load(const struct cli_cmd *self, const char *text)
{
	const char	*colon = strrchr(text, ':');
	char		*mod, *abs;
	void		*h;
	map_fn		 fn;

	if ((mod = strndup(text, (size_t)(colon - text))) == NULL) {
		cli_warn(self, "out of memory");
		return (NULL);
	}
	abs = *mod != '/' && access(mod, F_OK) == 0 ? realpath(mod, NULL) :
	    NULL;
	if ((h = dlopen(abs != NULL ? abs : mod, RTLD_NOW | RTLD_LOCAL)) ==
	    NULL) {
		cli_warn(self, "cannot load %s: %s", mod, dlerror());
		free(abs);
		free(mod);
		return (NULL);
	}
	dlerror();
	*(void **)&fn = dlsym(h, colon + 1);
	if (fn == NULL)
		cli_warn(self, "no function %s in %s", colon + 1, mod);
	free(abs);
	free(mod);
	return (fn);
}

static int
cmd_map(const struct cli_cmd *self, struct cli_args *a)
{
	struct map		 m;
	struct timeval		 tick = { 0, 250000 };
	char			 err[512];
	int			 jobs = (int)cli_num(a, "jobs"), i;
	long			 cpus;

	memset(&m, 0, sizeof m);
	m.cmd = self;
	m.status = CLI_OK;
	m.timeout_ms = (int)cli_num(a, "timeout");
	m.unordered = cli_has(a, "unordered");
	if (a->dashdash && cli_has(a, "cluster"))
		return (cli_usage(self, "--cluster is for MODULE.so:FUNCTION"));
	if (!a->dashdash && !cli_has(a, "cluster") &&
	    (m.fn = map_load(self, a->argv[0])) == NULL)
		return (CLI_FAIL);
	signal(SIGPIPE, SIG_IGN);	/* a closed stdout is an error */
	if ((m.base = iso_event_base()) == NULL)
		return (cli_fail(self, "cannot make an event loop"));
	if (cli_has(a, "cluster")) {
		if (jobs == 0)
			jobs = MAP_CLUSTER_JOBS;
		if ((m.clrun = mapcl_new(m.base, a->argv[0], jobs,
		    m.timeout_ms, map_cmd_done, &m, err, sizeof err)) == NULL) {
			cli_warn(self, "%s", err);
			return (CLI_FAIL);
		}
	} else if (a->dashdash) {
		if (jobs == 0)
			jobs = (cpus = sysconf(_SC_NPROCESSORS_ONLN)) > 0 ?
			    (int)cpus : 1;
		if ((m.cmdrun = mapcmd_new(m.base, a->argv, jobs,
		    m.timeout_ms, map_cmd_done, &m, err, sizeof err)) ==
		    NULL) {
			cli_warn(self, "%s", err);
			return (CLI_FAIL);
		}
	} else {
		if ((m.pool = iso_pool_new(jobs)) == NULL)
			return (cli_fail(self, "cannot start the workers"));
		jobs = iso_pool_size(m.pool);
	}
	m.window = (size_t)jobs * MAP_WINDOW;
	if (m.window > MAP_WINDOW_MAX)
		m.window = MAP_WINDOW_MAX;
	if (m.pool != NULL)
		(void)iso_pool_set_queue(m.pool, m.window);
	m.pollable = map_pollable(STDIN_FILENO);
	m.progress = isatty(STDERR_FILENO);
	if ((m.slot = calloc(m.window, sizeof *m.slot)) == NULL ||
	    (m.in_ev = event_new(m.base, STDIN_FILENO, EV_READ, map_in_cb,
	    &m)) == NULL ||
	    (m.pump_ev = event_new(m.base, -1, 0, map_in_cb, &m)) == NULL ||
	    (m.progress_ev = event_new(m.base, -1, EV_PERSIST,
	    map_progress_cb, &m)) == NULL) {
		cli_warn(self, "out of memory");
		exit(CLI_FAIL);
	}
	map_self = &m;
	clock_gettime(CLOCK_MONOTONIC, &m.t0);
	if (m.progress)
		event_add(m.progress_ev, &tick);
	map_flow(&m);
	while (!m.stop && !(m.eof && m.len == 0 && map_in_flight(&m) == 0)) {
		if (fflush(stdout) == EOF) {
			map_out_failed(&m);
			break;
		}
		if (event_base_loop(m.base, EVLOOP_ONCE) == -1) {
			cli_warn(self, "the event loop failed");
			m.status = CLI_FAIL;
			break;
		}
	}
	if (m.shown)
		fputs("\r\033[K", stderr);
	if (m.stop) {
		/* No one reads on: the workers (which may run for ever)
		   die with us (their parent-death signal); the programs
		   are killed and reaped now. */
		mapcmd_free(m.cmdrun);
		mapcl_free(m.clrun);
		fflush(stderr);
		_exit(m.status);
	}
	m.stop = 1;	/* nothing is left, but nothing would be printed */
	if (m.pool != NULL)
		iso_pool_free(m.pool);
	mapcmd_free(m.cmdrun);
	mapcl_free(m.clrun);
	event_free(m.progress_ev);
	event_free(m.pump_ev);
	event_free(m.in_ev);
	for (i = 0; i < (int)m.window; i++)
		free(m.slot[i].text);
	free(m.slot);
	free(m.buf);
	map_self = NULL;
	return (m.status);
}

static const struct cli_opt map_opts[] = {
	{ .name = "jobs", .letter = 'j', .type = CLI_INT, .meta = "N",
	  .def = "0", .min = 0, .max = 1024,
	  .help = "N workers (default 0: one per CPU)" },
	{ .name = "timeout", .letter = 't', .type = CLI_SECONDS,
	  .meta = "SEC", .help = "an item running past SEC seconds fails "
	  "(default: never)" },
	{ .name = "unordered", .letter = 'u', .type = CLI_FLAG,
	  .help = "print each result as it comes, not in input order" },
	{ .name = "cluster", .letter = 'c', .type = CLI_FLAG, .no_dd = 1,
	  .help = "on the warm workers of the cluster's nodes serving the "
	  "module (-j: requests in flight, default 64)" },
	{ .name = NULL }
};

static const struct cli_arg map_args[] = {
	{ .name = "MODULE.so:FUNCTION", .arity = CLI_REQUIRED,
	  .type = CLI_FUNCTION, .complete = CLI_C_MODULE },
	{ .name = NULL }
};

static const struct cli_arg map_dd_args[] = {
	{ .name = "CMD", .arity = CLI_REST, .type = CLI_WORD,
	  .complete = CLI_C_COMMAND },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_map = {
	.name = "map",
	.summary = "run a function or a command over the lines of standard "
	    "input",
	.help =
	    "Read one JSON value a line on standard input and print, one line\n"
	    "each, FUNCTION of MODULE.so applied to it (as JSON), in input\n"
	    "order (--unordered: as they finish). The module is loaded here\n"
	    "and the items run on a pool of warm workers forked from isoctl,\n"
	    "many items a round trip; no supervisor is involved. After --,\n"
	    "CMD is run here once a worker and kept running, its stdin and\n"
	    "stdout a terminal: each item is written to it as one line of\n"
	    "JSON, and the next line it prints is the result (JSON, else a\n"
	    "string); one that exits or times out is replaced for the next\n"
	    "item. An item that fails (bad JSON, a crash, an exit, --timeout,\n"
	    "NULL) prints null, and \"isoctl: line N: REASON\" on standard\n"
	    "error; the others still run, and the exit status is then 1.\n"
	    "Input streams: at most 4096 items a worker (65536 in all) are\n"
	    "between reading and printing, so memory stays flat on an endless\n"
	    "input, and a slow item holds back output, not memory. When\n"
	    "standard error is a terminal, a progress line (done, failed,\n"
	    "rate) is kept there. With --cluster, the items are compute\n"
	    "requests the supervisor passes on to the nodes of its cluster\n"
	    "that serve MODULE (isolated --serve-module), many in flight at\n"
	    "once; the module is not loaded here.\n",
	.opts = map_opts,
	.args = map_args,
	.dd_args = map_dd_args,
	.exec = cmd_map
};
