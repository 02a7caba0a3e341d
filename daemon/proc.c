/*
 * proc.c: every isolate the supervisor knows. Commands it runs (through a
 * shepherd each, shepherd.c), restarted by policy with exponential
 * backoff and an intensity limit as Erlang/OTP supervisors do; isolates
 * the library forked, which the spawner announces ("spawned", "exited").
 * Each record is saved to ID.json on every change so that a supervisor
 * started after a crash adopts what still runs and forgets nothing.
 * Reading logs (logs.c), messages (mail.c) and the --lines link
 * (link.c) act on the same records (proc.h).
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon.h"
#include "proc.h"
#include "supproto.h"

size_t	proc_history_max = 1000;		/* ended isolates remembered */
size_t	proc_log_max = 512 * 1024;		/* bytes of ID.log, and ID.log.1 */
int	proc_grace_ms = 5000;			/* SIGTERM, then SIGKILL */
#define POLL_MS		200		/* without pidfd: how often to look */
#define MAILBOX_MAX	256		/* messages a mailbox holds */

static const char *const state_names[] = { "running", "restarting",
    "exited", "failed" };
static const char *const restart_names[] = { "never", "on-failure",
    "always" };

struct waiter {
	struct sv_conn	*conn;
	struct event	*timer;
	struct proc	*proc;
	struct waiter	*next;
};

struct event_base	*proc_base;
char			 proc_dir[PATH_MAX];
static int			 proc_dirfd = -1;	/* proc_dir's */
static char			 sock[PATH_MAX];	/* supervisor.sock */
struct proc			*proc_list;
static void			(*stop_done)(void);

static void	proc_run(struct proc *);
static int	proc_signal(struct proc *, int);

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static double
mono_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

#define PF_EXITING_FLAG	0x4	/* the kernel's PF_EXITING, field 9 */

/*
 * Field 22 of /proc/PID/stat, the start time: with the pid it names one
 * process for good. 0 when pid is gone, a zombie, or (when `exiting`
 * counts as gone) on its way out: a process that is exiting kills the
 * children it asked to (PR_SET_PDEATHSIG) before it becomes a zombie.
 */
static uint64_t
pid_start_of(pid_t pid, int exiting)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 t;
	unsigned long		 flags = 0;
	FILE			*f;
	size_t			 n;
	int			 i;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (0);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return (0);
	if (p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
		return (0);	/* a zombie is as good as gone */
	/* After ")": state is field 3, flags field 9, start time field 22. */
	for (i = 2; i < 22 && p != NULL; i++) {
		p = strchr(p + 1, ' ');
		if (i == 8 && p != NULL && sscanf(p + 1, "%lu", &flags) != 1)
			return (0);
	}
	if (p == NULL || sscanf(p + 1, "%llu", &t) != 1)
		return (0);
	if (exiting && (flags & PF_EXITING_FLAG))
		return (0);
	return ((uint64_t)t);
}

static uint64_t
pid_start(pid_t pid)
{
	return (pid_start_of(pid, 0));
}

/* 1 if pid is still the process that started at start. */
static int
pid_same(pid_t pid, uint64_t start)
{
	return (pid > 0 && start != 0 && pid_start(pid) == start);
}

char *
proc_hex(uint64_t id, char buf[17])
{
	snprintf(buf, 17, "%016" PRIx64, id);
	return (buf);
}

struct proc *
proc_by_id(uint64_t id)
{
	struct proc	*p;

	for (p = proc_list; p != NULL; p = p->next)
		if (p->id == id)
			return (p);
	return (NULL);
}

uint64_t
proc_find(const char *target)
{
	struct proc	*p;
	char		*end;
	uint64_t	 id;

	/* A name first: names may look like ids, ids are hard to type. */
	for (p = proc_list; p != NULL; p = p->next)
		if (p->name != NULL && strcmp(p->name, target) == 0 &&
		    (p->state == P_RUNNING || p->state == P_RESTARTING))
			return (p->id);
	for (p = proc_list; p != NULL; p = p->next)
		if (p->name != NULL && strcmp(p->name, target) == 0)
			return (p->id);
	errno = 0;
	id = strtoull(target, &end, 16);
	if (errno != 0 || *end != '\0' || end == target || strlen(target) > 16)
		return (0);
	return (proc_by_id(id) != NULL ? id : 0);
}

size_t
proc_count(void)
{
	struct proc	*p;
	size_t		 n = 0;

	for (p = proc_list; p != NULL; p = p->next)
		n++;
	return (n);
}

int
proc_running(uint64_t id)
{
	struct proc	*p = proc_by_id(id);

	return (p != NULL && p->state == P_RUNNING);
}

/* The pid from ID.run once the shepherd has written it. */
static void
proc_learn_pid(struct proc *p)
{
	char		 path[PATH_MAX];
	iso_msg		*m;
	int64_t		 pid;

	if (!p->command || p->pid != 0 || p->state != P_RUNNING ||
	    state_path(proc_dir, p->id, ".run", path, sizeof path) == -1 ||
	    (m = state_read(path)) == NULL)
		return;
	if (iso_msg_unpack(m, "{s:I}", "pid", &pid) == 0 && pid > 0) {
		p->pid = (pid_t)pid;
		proc_save(p);
	}
	iso_msg_free(m);
}

/* The row of p, as iso_sup_list documents it. */
static iso_msg *
proc_row(struct proc *p)
{
	char	hex[17], phex[17];
	iso_msg	*r;

	proc_learn_pid(p);
	r = iso_msg_pack("{s:s s:s? s:i s:s? s:s s:O? s:s? s:s s:f s:f s:i "
	    "s:s? s:s}",
	    "id", proc_hex(p->id, hex), "name", p->name, "pid", (int)p->pid,
	    "parent", p->parent != 0 ? proc_hex(p->parent, phex) : NULL,
	    "kind", p->command ? "command" : "isolate",
	    "command", p->argv, "entry", p->entry,
	    "state", state_names[p->state], "started", p->started,
	    "ended", p->ended, "restarts", p->restarts, "error", p->error,
	    "restart", restart_names[p->restart]);
	if (r == NULL)
		return (NULL);
	if (p->command && iso_msg_put(r, iso_msg_pack("s", "lines"),
	    iso_msg_pack("b", p->lines)) == -1) {
		iso_msg_free(r);
		return (NULL);
	}
	if (p->outbox != NULL && iso_msg_put(r, iso_msg_pack("s", "outbox"),
	    iso_msg_pack("i", (int)mbox_len(p->outbox))) == -1) {
		iso_msg_free(r);
		return (NULL);
	}
	if (p->box != NULL && (iso_msg_put(r, iso_msg_pack("s", "mailbox"),
	    iso_msg_pack("i", (int)mbox_len(p->box))) == -1 ||
	    iso_msg_put(r, iso_msg_pack("s", "port"), iso_msg_pack("P",
	    mbox_port(p->box))) == -1)) {
		iso_msg_free(r);
		return (NULL);
	}
	if (!p->command && iso_msg_put(r, iso_msg_pack("s",
	    "ended_with_spawner"), iso_msg_pack("b", p->with_spawner)) == -1) {
		iso_msg_free(r);
		return (NULL);
	}
	if (iso_msg_put(r, iso_msg_pack("s", "exit_code"), p->exit_code >= 0 ?
	    iso_msg_pack("i", p->exit_code) : iso_msg_pack("n")) == -1 ||
	    iso_msg_put(r, iso_msg_pack("s", "signal"), p->sig > 0 ?
	    iso_msg_pack("i", p->sig) : iso_msg_pack("n")) == -1) {
		iso_msg_free(r);
		return (NULL);
	}
	return (r);
}

/* The record saved in ID.json: the row plus what adoption needs. */
void
proc_save(struct proc *p)
{
	char	 path[PATH_MAX];
	iso_msg	*r;

	if ((r = proc_row(p)) == NULL ||
	    iso_msg_put(r, iso_msg_pack("s", "env"), p->env != NULL ?
	    iso_msg_copy(p->env) : iso_msg_pack("n")) == -1 ||
	    iso_msg_put(r, iso_msg_pack("s", "cwd"), iso_msg_pack("s?",
	    p->cwd)) == -1 ||
	    iso_msg_put(r, iso_msg_pack("s", "policy"), iso_msg_pack(
	    "{s:i s:i s:i s:i s:i s:i s:b s:i s:U s:b s:f s:b}", "backoff_ms",
	    p->rs.backoff_ms,
	    "backoff_max_ms", p->rs.backoff_max_ms, "reset_ms", p->rs.reset_ms,
	    "max_restarts", p->rs.max_restarts, "period_ms", p->rs.period_ms,
	    "next_backoff", p->rs.next, "killed", p->killed, "mailbox",
	    p->box_limit, "mailbox_id", p->box != NULL ? mbox_id(p->box) :
	    p->box_id, "lines", p->lines, "restart_at", p->restart_at,
	    "mailbox_sync", p->box_sync)) == -1 ||
	    iso_msg_put(r, iso_msg_pack("s", "watch"), iso_msg_pack(
	    "{s:i s:U s:i s:U}", "pid", (int)(p->command ? p->shepherd :
	    p->pid), "start", p->pstart, "parent_pid", (int)p->parent_pid,
	    "parent_start", p->parent_start)) == -1 ||
	    state_path(proc_dir, p->id, ".json", path, sizeof path) == -1 ||
	    state_write(path, r) == -1)
		log_warn("cannot save isolate %016" PRIx64 ": %s", p->id,
		    strerror(errno));
	iso_msg_free(r);
}

static void
waiter_free(struct waiter *w)
{
	struct waiter	**wp;

	for (wp = &w->proc->waiters; *wp != NULL; wp = &(*wp)->next) {
		if (*wp == w) {
			*wp = w->next;
			break;
		}
	}
	event_free(w->timer);
	free(w);
}

/* p has ended for good: answer everyone waiting for it. */
static void
proc_notify(struct proc *p)
{
	struct waiter	*w;
	struct sv_conn	*c;

	while ((w = p->waiters) != NULL) {
		c = w->conn;
		waiter_free(w);
		sv_reply_with(c, "isolate", proc_row(p));
	}
}

/*
 * p's command runs (or could not start, or its shepherd is gone): stop
 * watching for that, learn its pid, and answer the spawn that waited.
 */
static void
proc_ready(struct proc *p)
{
	struct sv_conn	*c = p->starter;
	char		 hex[17];

	if (p->ready_ev != NULL) {
		event_free(p->ready_ev);
		p->ready_ev = NULL;
	}
	if (p->ready_fd != -1) {
		close(p->ready_fd);
		p->ready_fd = -1;
	}
	proc_learn_pid(p);
	if (c != NULL) {
		p->starter = NULL;
		sv_reply(c, iso_msg_pack("{s:b s:s}", "ok", 1, "id",
		    proc_hex(p->id, hex)));
	}
}

static void
proc_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;
	char		 hex[17];

	(void)fd;
	(void)what;
	proc_ready(p);
	if (p->state == P_RUNNING && p->pid > 0)
		events_emit("spawn", "{s:s s:s? s:i s:s s:i}", "id",
		    proc_hex(p->id, hex), "name", p->name, "pid", (int)p->pid,
		    "kind", "command", "restarts", p->restarts);
}

/* The spawn's client went away before its command ran. */
static void
proc_starter_cancel(void *arg)
{
	struct proc	*p = arg;

	p->starter = NULL;
}

static void
proc_free(struct proc *p)
{
	taker_end(&p->take, "forgotten");
	taker_end(&p->recv, "forgotten");
	link_free(p);
	iso_msg_free(p->left);
	mbox_free(p->box, 0);
	mbox_free(p->outbox, 0);
	if (p->timer != NULL)
		event_free(p->timer);
	if (p->watch_ev != NULL)
		event_free(p->watch_ev);
	if (p->watch_fd != -1)
		close(p->watch_fd);
	if (p->ready_ev != NULL)
		event_free(p->ready_ev);
	if (p->ready_fd != -1)
		close(p->ready_fd);
	free(p->name);
	iso_msg_free(p->argv);
	iso_msg_free(p->env);
	free(p->cwd);
	free(p->entry);
	free(p->error);
	restart_clear(&p->rs);
	free(p);
}

/* Keep at most HISTORY_MAX ended isolates: forget the oldest. */
static void
proc_trim(void)
{
	static const char *const suffixes[] = { ".json", ".run", ".exit",
	    ".log", ".log.1", ".mbox", ".outbox", ".left" };
	struct proc	**pp, **oldest;
	char		  path[PATH_MAX];
	size_t		  ended = 0, i;

	for (pp = &proc_list; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->state >= P_EXITED)
			ended++;
	while (ended > proc_history_max) {
		oldest = NULL;
		for (pp = &proc_list; *pp != NULL; pp = &(*pp)->next)
			if ((*pp)->state >= P_EXITED && (*pp)->waiters ==
			    NULL && (oldest == NULL ||
			    (*pp)->ended < (*oldest)->ended))
				oldest = pp;
		if (oldest == NULL)
			break;
		for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
			if (state_path(proc_dir, (*oldest)->id, suffixes[i], path,
			    sizeof path) == 0)
				(void)unlink(path);
		{
			struct proc	*p = *oldest;

			*oldest = p->next;
			proc_free(p);
		}
		ended--;
	}
}

static void
proc_set_error(struct proc *p, const char *text)
{
	free(p->error);
	p->error = text != NULL ? strdup(text) : NULL;
}

/* p's timer: the end of a backoff, or of the grace after SIGTERM. */
static void
proc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;

	(void)fd;
	(void)what;
	if (p->state == P_RUNNING) {
		(void)proc_signal(p, p->command ? SIGUSR2 : SIGKILL);
		return;
	}
	p->restarts++;
	proc_run(p);
}

static void
proc_stop_check(void)
{
	struct proc	*p;

	if (stop_done == NULL)
		return;
	for (p = proc_list; p != NULL; p = p->next)
		if (p->command && p->state == P_RUNNING)
			return;
	stop_done();
	stop_done = NULL;
}

/* Say that a run of p ended, and what comes of it (delay: ms before it
   restarts). */
static void
proc_ended_events(struct proc *p, int delay)
{
	iso_msg	*code, *sig;
	char	 hex[17];

	proc_hex(p->id, hex);
	code = p->exit_code >= 0 ? iso_msg_pack("i", p->exit_code) : NULL;
	sig = p->sig > 0 ? iso_msg_pack("i", p->sig) : NULL;
	events_emit("exit", "{s:s s:s? s:i s:s s:O? s:O? s:s?}", "id", hex,
	    "name", p->name, "pid", (int)p->pid, "kind", p->command ?
	    "command" : "isolate", "code", code, "signal", sig, "error",
	    p->error);
	iso_msg_free(code);
	iso_msg_free(sig);
	if (p->state == P_RESTARTING)
		events_emit("restart", "{s:s s:s? s:i s:i}", "id", hex, "name",
		    p->name, "in_ms", delay, "restarts", p->restarts);
	else if (p->state == P_FAILED)
		events_emit("failed", "{s:s s:s? s:s?}", "id", hex, "name",
		    p->name, "error", p->error);
}

/*
 * One run of p has ended (code, or sig > 0, or neither when unknown):
 * restart it by policy, or mark it exited or failed.
 */
static void
proc_ended(struct proc *p, int code, int sig, const char *error)
{
	struct timeval	tv;
	double		t = mono_now(), ran;
	int		restart, delay = 0;

	proc_ready(p);
	if (p->timer != NULL)
		evtimer_del(p->timer);
	if (p->watch_ev != NULL) {
		event_free(p->watch_ev);
		p->watch_ev = NULL;
	}
	if (p->watch_fd != -1) {
		close(p->watch_fd);
		p->watch_fd = -1;
	}
	p->shepherd = 0;
	p->exit_code = code;
	p->sig = sig;
	proc_set_error(p, error);
	p->ended = now();
	ran = p->ended - p->started;
	names_isolate_ended(p->id);
	/* A program killed by a signal leaves its socket (a library
	   isolate's spawner removes it, unless it was killed too). */
	sweep_id(p->id, p->command ? 0 : p->pid);
	/* Its spawner gone before it, with no word of how it ended: the
	   library's death signal ended it with its spawner. */
	if (!p->command && code < 0 && sig < 0 && p->parent_pid > 0 &&
	    (p->parent_start == 0 ||	/* gone before we heard of it */
	    pid_start_of(p->parent_pid, 1) != p->parent_start))
		p->with_spawner = 1;
	log_info("isolate %016" PRIx64 " (%s) ended: %s%d%s%s", p->id,
	    p->name != NULL ? p->name : "-", sig > 0 ? "signal " : "status ",
	    sig > 0 ? sig : code, error != NULL ? ": " : "",
	    error != NULL ? error : "");

	restart = p->command && !p->killed && stop_done == NULL &&
	    (p->restart == 2 || (p->restart == 1 && (code != 0 || sig > 0)));
	if (error != NULL && code == 127 && p->command) {
		/* It could not start: restarting will not help. */
		p->state = P_FAILED;
		restart = 0;
	} else
		p->state = P_EXITED;
	if (restart && (delay = restart_delay(&p->rs, t, ran)) == -1) {
		char	text[128];

		snprintf(text, sizeof text, "restarted %d times within %d ms: "
		    "given up", p->rs.nrecent, p->rs.period_ms);
		proc_set_error(p, text);
		p->state = P_FAILED;
	} else if (restart) {
		p->state = P_RESTARTING;
		p->restart_at = now() + delay / 1000.0;
		tv.tv_sec = delay / 1000;
		tv.tv_usec = (delay % 1000) * 1000;
		evtimer_add(p->timer, &tv);
	}
	if (p->state >= P_EXITED && p->box != NULL)
		mbox_close(p->box);	/* senders now get ECONNREFUSED */
	proc_save(p);
	proc_ended_events(p, delay);
	if (p->state >= P_EXITED) {
		proc_notify(p);
		proc_trim();
	}
	proc_stop_check();
}

/* What the shepherd wrote in ID.exit, then proc_ended. */
static void
proc_collect(struct proc *p, const char *fallback)
{
	char		 path[PATH_MAX];
	const iso_msg	*v;
	iso_msg		*m = NULL;
	const char	*err = NULL;
	int64_t		 code = -1, sig = -1;

	if (state_path(proc_dir, p->id, ".exit", path, sizeof path) == 0)
		m = state_read(path);
	if (m == NULL) {
		proc_ended(p, -1, -1, fallback);
		return;
	}
	if ((v = iso_msg_get(m, "code")) != NULL)
		(void)iso_msg_int(v, &code);
	if ((v = iso_msg_get(m, "signal")) != NULL)
		(void)iso_msg_int(v, &sig);
	if ((v = iso_msg_get(m, "error")) != NULL)
		err = iso_msg_str(v, NULL);
	if (p->lines)
		link_collect(p, m);
	proc_learn_pid(p);
	proc_ended(p, (int)code, (int)sig, err);
	iso_msg_free(m);
}

static void
proc_shepherd_done(pid_t pid, int status, void *arg)
{
	struct proc	*p = arg;

	(void)pid;
	(void)status;
	p->ours = 0;
	proc_collect(p, "its shepherd died");
}

/* A process we watch but did not fork has ended (pidfd or polling). */
static void
proc_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;
	pid_t		 pid = p->command ? p->shepherd : p->pid;

	(void)fd;
	(void)what;
	if (p->watch_fd == -1 && pid_same(pid, p->pstart))
		return;		/* polling: still there */
	if (p->command)
		proc_collect(p, "lost while no supervisor watched it");
	else
		proc_ended(p, -1, -1, NULL);
}

/* Watch pid, not our child, until it ends. */
static void
proc_watch(struct proc *p, pid_t pid)
{
	struct timeval	tv = { 0, POLL_MS * 1000 };

	p->watch_fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->watch_fd != -1)
		p->watch_ev = event_new(proc_base, p->watch_fd, EV_READ,
		    proc_watch_cb, p);
	else
		p->watch_ev = event_new(proc_base, -1, EV_PERSIST, proc_watch_cb,
		    p);
	if (p->watch_ev != NULL)
		event_add(p->watch_ev, p->watch_fd != -1 ? NULL : &tv);
}

/* Signal the process we act through, if it is still the same one. */
static int
proc_signal(struct proc *p, int sig)
{
	pid_t	pid = p->command ? p->shepherd : p->pid;

	if (p->watch_fd != -1)
		return ((int)syscall(SYS_pidfd_send_signal, p->watch_fd, sig,
		    NULL, 0));
	if (p->ours || pid_same(pid, p->pstart))
		return (kill(pid, sig));
	errno = ESRCH;
	return (-1);
}

static void
proc_run(struct proc *p)
{
	struct shep_spec spec;
	char		 path[PATH_MAX], **argv = NULL, **envp = NULL;
	size_t		 i, n;
	pid_t		 pid;

	p->state = P_RUNNING;
	p->pid = 0;
	p->exit_code = p->sig = -1;
	proc_set_error(p, NULL);
	p->started = now();
	p->ended = 0;
	/* Stale files of the last run must not be read for this one. */
	if (state_path(proc_dir, p->id, ".run", path, sizeof path) == 0)
		(void)unlink(path);
	if (state_path(proc_dir, p->id, ".exit", path, sizeof path) == 0)
		(void)unlink(path);
	n = iso_msg_len(p->argv);
	if ((argv = calloc(n + 1, sizeof *argv)) == NULL)
		goto fail;
	for (i = 0; i < n; i++)
		argv[i] = (char *)(uintptr_t)iso_msg_str(iso_msg_at(p->argv,
		    i), NULL);
	if (iso_msg_type(p->env) == ISO_LIST) {
		n = iso_msg_len(p->env);
		if ((envp = calloc(n + 1, sizeof *envp)) == NULL)
			goto fail;
		for (i = 0; i < n; i++)
			envp[i] = (char *)(uintptr_t)iso_msg_str(
			    iso_msg_at(p->env, i), NULL);
	}
	memset(&spec, 0, sizeof spec);
	spec.id = p->id;
	spec.argv = argv;
	spec.envp = envp;
	spec.cwd = p->cwd;
	spec.dir = proc_dir;
	spec.dirfd = strncmp(proc_dir, "/proc/self/fd/", 14) == 0 ?
	    proc_dirfd : -1;
	spec.log_max = proc_log_max;
	spec.lines = p->lines;
	spec.sock = sock;
	if ((pid = shep_start(&spec, &p->ready_fd)) == -1)
		goto fail;
	free(argv);
	free(envp);
	/* Without the event, the pid is learnt when asked for (ID.run). */
	if ((p->ready_ev = event_new(proc_base, p->ready_fd, EV_READ,
	    proc_ready_cb, p)) == NULL || event_add(p->ready_ev, NULL) == -1)
		proc_ready(p);
	p->shepherd = pid;
	p->ours = 1;
	p->pstart = pid_start(pid);
	if (child_watch(pid, proc_shepherd_done, p) == -1) {
		/* Cannot learn its end from SIGCHLD: watch it instead. */
		p->ours = 0;
		proc_watch(p, pid);
	}
	proc_save(p);
	return;
fail:
	free(argv);
	free(envp);
	{
		char	text[128];

		snprintf(text, sizeof text, "cannot start: %s",
		    strerror(errno));
		proc_ended(p, 127, -1, text);
	}
}

static struct proc *
proc_new(uint64_t id)
{
	struct proc	*p;

	if ((p = calloc(1, sizeof *p)) == NULL)
		return (NULL);
	p->id = id;
	p->exit_code = p->sig = -1;
	p->watch_fd = p->ready_fd = -1;
	p->rs.backoff_ms = 100;
	p->rs.backoff_max_ms = 30000;
	p->rs.reset_ms = 10000;
	p->rs.max_restarts = 5;
	p->rs.period_ms = 10000;
	p->box_limit = MAILBOX_MAX;
	if ((p->timer = evtimer_new(proc_base, proc_timer_cb, p)) == NULL) {
		free(p);
		return (NULL);
	}
	return (p);
}

/* A mailbox_sync command's mailbox and outbox sync every record. */
static void
proc_box_sync(struct proc *p)
{
	if (p->box != NULL)
		mbox_set_sync(p->box, p->box_sync);
	if (p->outbox != NULL)
		mbox_set_sync(p->outbox, p->box_sync);
}

/* Read the policy numbers of req (0 or absent: keep the default). */
static int
proc_policy(struct proc *p, const iso_msg *req)
{
	static const char *const keys[] = { "backoff_ms", "backoff_max_ms",
	    "reset_ms", "max_restarts", "period_ms", "mailbox" };
	int		*fields[] = { &p->rs.backoff_ms, &p->rs.backoff_max_ms,
	    &p->rs.reset_ms, &p->rs.max_restarts, &p->rs.period_ms, &p->box_limit };
	const iso_msg	*v;
	int64_t		 x;
	size_t		 i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if ((v = iso_msg_get(req, keys[i])) == NULL)
			continue;
		if (iso_msg_int(v, &x) == -1 || x < 0 || x > 86400000 ||
		    (fields[i] == &p->box_limit && x > 1000000))
			return (-1);
		if (x > 0)
			*fields[i] = (int)x;
	}
	if (p->rs.backoff_max_ms < p->rs.backoff_ms)
		p->rs.backoff_max_ms = p->rs.backoff_ms;
	return (restart_init(&p->rs));
}

/* A string list message, or nil; else -1. */
static int
strlist_ok(const iso_msg *m, int nil_ok)
{
	size_t	i;

	if (m == NULL || iso_msg_type(m) == ISO_NIL)
		return (nil_ok ? 0 : -1);
	if (iso_msg_type(m) != ISO_LIST)
		return (-1);
	for (i = 0; i < iso_msg_len(m); i++) {
		size_t		 len;
		const char	*s = iso_msg_str(iso_msg_at(m, i), &len);

		if (s == NULL || strlen(s) != len)
			return (-1);
	}
	return (0);
}

static uint64_t
proc_new_id(void)
{
	uint64_t	id = 0;

	while (id == 0 || proc_by_id(id) != NULL)
		if (getrandom(&id, sizeof id, 0) != sizeof id)
			id = 0;
	return (id);
}

void
op_spawn(struct sv_conn *c, const iso_msg *req)
{
	const iso_msg	*argv, *env;
	const char	*name = NULL, *cwd = NULL, *restart = "never";
	struct proc	*p, *q;
	int		 lines = 0, sync = 0;
	char		 hex[17];
	size_t		 i;

	argv = iso_msg_get(req, "argv");
	env = iso_msg_get(req, "env");
	if (strlist_ok(argv, 0) == -1 || iso_msg_len(argv) == 0 ||
	    strlist_ok(env, 1) == -1 ||
	    iso_msg_unpack(req, "{s?s s?b s?b}", "restart", &restart, "lines",
	    &lines, "mailbox_sync", &sync) == -1) {
		sv_error(c, EINVAL, "spawn: want \"argv\", a non-empty list of "
		    "strings, \"env\" a list of strings or nil, \"restart\" a "
		    "string, \"lines\" and \"mailbox_sync\" bools");
		return;
	}
	if (iso_msg_get(req, "name") != NULL &&
	    iso_msg_type(iso_msg_get(req, "name")) != ISO_NIL &&
	    ((name = iso_msg_str(iso_msg_get(req, "name"), &i)) == NULL ||
	    i == 0 || i > 255 || strlen(name) != i)) {
		sv_error(c, EINVAL, "spawn: a name is a string of 1 to 255 "
		    "bytes");
		return;
	}
	if (iso_msg_get(req, "cwd") != NULL &&
	    iso_msg_type(iso_msg_get(req, "cwd")) != ISO_NIL &&
	    (cwd = iso_msg_str(iso_msg_get(req, "cwd"), NULL)) == NULL) {
		sv_error(c, EINVAL, "spawn: \"cwd\" is a string");
		return;
	}
	for (i = 0; i < 3; i++)
		if (strcmp(restart, restart_names[i]) == 0)
			break;
	if (i == 3) {
		sv_error(c, EINVAL, "spawn: restart is never, on-failure or "
		    "always, not \"%.32s\"", restart);
		return;
	}
	if (name != NULL) {
		for (q = proc_list; q != NULL; q = q->next) {
			if (q->name == NULL || strcmp(q->name, name) != 0)
				continue;
			if (q->state == P_RUNNING || q->state == P_RESTARTING) {
				sv_error(c, EEXIST, "spawn: name \"%s\" is "
				    "taken by %016" PRIx64, name, q->id);
				return;
			}
			/* An ended isolate gives its name up. */
			free(q->name);
			q->name = NULL;
			proc_save(q);
		}
	}
	if ((p = proc_new(proc_new_id())) == NULL)
		goto nomem;
	p->command = 1;
	p->restart = (int)i;
	if ((name != NULL && (p->name = strdup(name)) == NULL) ||
	    (cwd != NULL && (p->cwd = strdup(cwd)) == NULL) ||
	    (p->argv = iso_msg_copy(argv)) == NULL ||
	    (env != NULL && iso_msg_type(env) == ISO_LIST &&
	    (p->env = iso_msg_copy(env)) == NULL)) {
		proc_free(p);
		goto nomem;
	}
	if (proc_policy(p, req) == -1) {
		proc_free(p);
		sv_error(c, EINVAL, "spawn: the policy numbers are 0 to "
		    "86400000, a mailbox at most 1000000");
		return;
	}
	p->lines = lines;
	p->box_sync = sync;
	if ((p->box = mbox_open(proc_dir, p->id, NULL, 0,
	    (size_t)p->box_limit)) == NULL || (lines && (p->outbox =
	    mbox_open(proc_dir, p->id, ".outbox", 0, (size_t)p->box_limit)) ==
	    NULL)) {
		sv_error(c, errno, "spawn: mailbox: %s", strerror(errno));
		proc_free(p);
		return;
	}
	proc_box_sync(p);
	p->next = proc_list;
	proc_list = p;
	log_info("spawn %016" PRIx64 " (%s): %s", p->id,
	    name != NULL ? name : "-", iso_msg_str(iso_msg_at(argv, 0), NULL));
	proc_run(p);
	/* Once the command runs: a list right after shows its pid. */
	if (p->ready_ev != NULL) {
		p->starter = c;
		sv_defer(c, proc_starter_cancel, p);
		return;
	}
	sv_reply(c, iso_msg_pack("{s:b s:s}", "ok", 1, "id", proc_hex(p->id,
	    hex)));
	return;
nomem:
	sv_error(c, ENOMEM, "out of memory");
}

void
op_list(struct sv_conn *c, const iso_msg *req)
{
	struct proc	*p;
	iso_msg		*l;

	(void)req;
	if ((l = iso_msg_pack("[]")) == NULL)
		goto nomem;
	for (p = proc_list; p != NULL; p = p->next)
		if (iso_msg_append(l, proc_row(p)) == -1)
			goto nomem;
	sv_reply_with(c, "isolates", l);
	return;
nomem:
	iso_msg_free(l);
	sv_error(c, ENOMEM, "out of memory");
}

/* The record req's "target" names, or NULL after answering ENOENT. */
struct proc *
proc_target(struct sv_conn *c, const iso_msg *req)
{
	const char	*target;
	struct proc	*p;

	if (iso_msg_unpack(req, "{s:s}", "target", &target) == -1) {
		sv_error(c, EINVAL, "want a \"target\" string");
		return (NULL);
	}
	if ((p = proc_by_id(proc_find(target))) == NULL)
		sv_error(c, ENOENT, "no isolate \"%.64s\"", target);
	return (p);
}

void
op_kill(struct sv_conn *c, const iso_msg *req)
{
	struct timeval	 tv = { proc_grace_ms / 1000,
	    (proc_grace_ms % 1000) * 1000 };
	struct proc	*p;
	int		 graceful = 0;

	if ((p = proc_target(c, req)) == NULL)
		return;
	if (iso_msg_unpack(req, "{s?b}", "graceful", &graceful) == -1) {
		sv_error(c, EINVAL, "kill: \"graceful\" is a bool");
		return;
	}
	if (p->state == P_RESTARTING) {
		evtimer_del(p->timer);
		p->killed = 1;
		proc_ended(p, p->exit_code, p->sig, p->error);
		sv_ok(c);
		return;
	}
	if (p->state != P_RUNNING) {
		sv_error(c, ESRCH, "isolate %016" PRIx64 " is not running",
		    p->id);
		return;
	}
	p->killed = 1;
	proc_save(p);
	if (proc_signal(p, graceful ? SIGTERM : p->command ? SIGUSR2 :
	    SIGKILL) == -1) {
		p->killed = 0;
		proc_save(p);
		sv_error(c, ESRCH, "isolate %016" PRIx64 ": %s", p->id,
		    strerror(errno));
		return;
	}
	if (graceful)
		evtimer_add(p->timer, &tv);
	sv_ok(c);
}

/* The timer of a waiter; sv_defer's cancel when its client went away. */
static void
waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct waiter	*w = arg;
	struct sv_conn	*c = w->conn;

	(void)fd;
	(void)what;
	waiter_free(w);
	sv_error(c, ETIMEDOUT, "still running");
}

static void
waiter_cancel(void *arg)
{
	waiter_free(arg);
}

void
op_wait(struct sv_conn *c, const iso_msg *req)
{
	struct proc	*p;
	struct waiter	*w;
	struct timeval	 tv;
	int		 ms = -1;

	if ((p = proc_target(c, req)) == NULL)
		return;
	if (iso_msg_unpack(req, "{s?i}", "timeout_ms", &ms) == -1) {
		sv_error(c, EINVAL, "wait: \"timeout_ms\" is an integer");
		return;
	}
	if (p->state >= P_EXITED) {
		sv_reply_with(c, "isolate", proc_row(p));
		return;
	}
	if ((w = calloc(1, sizeof *w)) == NULL ||
	    (w->timer = evtimer_new(proc_base, waiter_timeout, w)) == NULL) {
		free(w);
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	w->conn = c;
	w->proc = p;
	w->next = p->waiters;
	p->waiters = w;
	if (ms >= 0) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(w->timer, &tv);
	}
	sv_defer(c, waiter_cancel, w);
}

/* An isolate the library forked: {"id", "pid", "parent", "entry"}. */
void
op_spawned(struct sv_conn *c, const iso_msg *req)
{
	const char	*id, *parent = NULL, *entry = NULL;
	struct proc	*p;
	uint64_t	 n;
	int		 pid, ppid = 0;

	(void)c;
	if (iso_msg_unpack(req, "{s:s s:i s?s s?s s?i}", "id", &id, "pid",
	    &pid, "parent", &parent, "entry", &entry, "parent_pid", &ppid) ==
	    -1 || pid <= 0)
		return;
	n = strtoull(id, NULL, 16);
	sweep_spawned(n);
	if (n == 0 || proc_by_id(n) != NULL || (p = proc_new(n)) == NULL)
		return;
	p->pid = pid;
	p->pstart = pid_start(pid);
	p->parent = parent != NULL ? strtoull(parent, NULL, 16) : 0;
	if (ppid > 0) {
		p->parent_pid = ppid;
		p->parent_start = pid_start(ppid);
		/* A spawner that is not a record of ours: its socket is
		   swept when it ends. */
		if (p->parent != 0 && proc_by_id(p->parent) == NULL)
			sweep_watch(p->parent, ppid);
	}
	p->entry = entry != NULL ? strdup(entry) : NULL;
	p->state = P_RUNNING;
	p->started = now();
	p->next = proc_list;
	proc_list = p;
	if (p->pstart == 0) {
		proc_ended(p, -1, -1, NULL);
		return;
	}
	proc_watch(p, pid);
	proc_save(p);
	events_emit("spawn", "{s:s s:i s:s s:s? s:s?}", "id", id, "pid", pid,
	    "kind", "isolate", "entry", entry, "parent", parent);
}

/* The spawner saw it end: {"id", "code" or "signal"}. */
void
op_exited(struct sv_conn *c, const iso_msg *req)
{
	const char	*id;
	struct proc	*p;
	int		 code = -1, sig = -1, with = 0;

	(void)c;
	if (iso_msg_unpack(req, "{s:s s?i s?i s?b}", "id", &id, "code", &code,
	    "signal", &sig, "with_spawner", &with) == -1 ||
	    (p = proc_by_id(strtoull(id, NULL, 16))) == NULL || p->command)
		return;
	if (with)
		p->with_spawner = 1;
	if (p->state == P_RUNNING)
		proc_ended(p, code, sig, NULL);
	else if (p->exit_code < 0 && p->sig < 0) {
		/* The pidfd told first; now we know how. */
		p->exit_code = code;
		p->sig = sig;
		proc_save(p);
	} else if (with)
		proc_save(p);
}

/* An isolate is about to fork isolate "id": {"id", "parent",
   "parent_pid"}. */
void
op_spawning(struct sv_conn *c, const iso_msg *req)
{
	const char	*id, *parent;
	int		 ppid;

	(void)c;
	if (iso_msg_unpack(req, "{s:s s:s s:i}", "id", &id, "parent", &parent,
	    "parent_pid", &ppid) == -1)
		return;
	sweep_spawning(strtoull(parent, NULL, 16), ppid, strtoull(id, NULL,
	    16));
}

/* A program not spawned by the library listens as isolate "id": sweep
   its socket once "pid" ends. */
void
op_listening(struct sv_conn *c, const iso_msg *req)
{
	const char	*id;
	uint64_t	 n;
	int		 pid;

	(void)c;
	if (iso_msg_unpack(req, "{s:s s:i}", "id", &id, "pid", &pid) == -1 ||
	    (n = strtoull(id, NULL, 16)) == 0 || proc_by_id(n) != NULL)
		return;
	sweep_watch(n, pid);
}

void
proc_stop_all(int grace_ms, void (*done)(void))
{
	struct timeval	 tv = { grace_ms / 1000, (grace_ms % 1000) * 1000 };
	struct proc	*p;

	stop_done = done;
	for (p = proc_list; p != NULL; p = p->next) {
		if (!p->command)
			continue;
		if (p->state == P_RESTARTING) {
			evtimer_del(p->timer);
			p->killed = 1;
			proc_ended(p, p->exit_code, p->sig, p->error);
		} else if (p->state == P_RUNNING) {
			p->killed = 1;
			(void)proc_signal(p, SIGTERM);
			evtimer_add(p->timer, &tv);
		}
	}
	proc_stop_check();
}

/* Rebuild a record from ID.json; NULL when it does not parse. */
static struct proc *
proc_load(const char *path)
{
	iso_msg		*m;
	const iso_msg	*v, *pol;
	const char	*s;
	struct proc	*p = NULL;
	int64_t		 x;
	uint64_t	 id, start = 0;
	size_t		 i;

	if ((m = state_read(path)) == NULL)
		return (NULL);
	if (iso_msg_unpack(m, "{s:s}", "id", &s) == -1 ||
	    (id = strtoull(s, NULL, 16)) == 0 || proc_by_id(id) != NULL ||
	    (p = proc_new(id)) == NULL)
		goto fail;
	pol = iso_msg_get(m, "policy");
	if (pol == NULL || proc_policy(p, pol) == -1)
		goto fail;
	(void)iso_msg_unpack(pol, "{s?i s?b s?U s?b s?f s?b}", "next_backoff",
	    &p->rs.next, "killed", &p->killed, "mailbox_id", &p->box_id,
	    "lines", &p->lines, "restart_at", &p->restart_at, "mailbox_sync",
	    &p->box_sync);
	p->command = iso_msg_unpack(m, "{s:s}", "kind", &s) == 0 &&
	    strcmp(s, "command") == 0;
	if ((v = iso_msg_get(m, "name")) != NULL && (s = iso_msg_str(v,
	    NULL)) != NULL)
		p->name = strdup(s);
	if ((v = iso_msg_get(m, "entry")) != NULL && (s = iso_msg_str(v,
	    NULL)) != NULL)
		p->entry = strdup(s);
	if ((v = iso_msg_get(m, "cwd")) != NULL && (s = iso_msg_str(v,
	    NULL)) != NULL)
		p->cwd = strdup(s);
	if ((v = iso_msg_get(m, "command")) != NULL && strlist_ok(v, 0) == 0)
		p->argv = iso_msg_copy(v);
	if ((v = iso_msg_get(m, "env")) != NULL && iso_msg_type(v) ==
	    ISO_LIST && strlist_ok(v, 0) == 0)
		p->env = iso_msg_copy(v);
	if (p->command && p->argv == NULL)
		goto fail;
	if ((v = iso_msg_get(m, "parent")) != NULL && (s = iso_msg_str(v,
	    NULL)) != NULL)
		p->parent = strtoull(s, NULL, 16);
	(void)iso_msg_unpack(m, "{s?f s?f s?i s?i}", "started", &p->started,
	    "ended", &p->ended, "restarts", &p->restarts, "pid", &p->pid);
	if ((v = iso_msg_get(m, "exit_code")) != NULL &&
	    iso_msg_int(v, &x) == 0)
		p->exit_code = (int)x;
	if ((v = iso_msg_get(m, "signal")) != NULL && iso_msg_int(v, &x) == 0)
		p->sig = (int)x;
	if ((v = iso_msg_get(m, "error")) != NULL && (s = iso_msg_str(v,
	    NULL)) != NULL)
		p->error = strdup(s);
	for (i = 0; i < sizeof state_names / sizeof state_names[0]; i++)
		if (iso_msg_unpack(m, "{s:s}", "state", &s) == 0 &&
		    strcmp(s, state_names[i]) == 0)
			p->state = (enum pstate)i;
	for (i = 0; i < 3; i++)
		if (iso_msg_unpack(m, "{s:s}", "restart", &s) == 0 &&
		    strcmp(s, restart_names[i]) == 0)
			p->restart = (int)i;
	x = 0;
	(void)iso_msg_unpack(m, "{s:{s?I s?U s?i s?U}}", "watch", "pid", &x,
	    "start", &start, "parent_pid", &p->parent_pid, "parent_start",
	    &p->parent_start);
	(void)iso_msg_unpack(m, "{s?b}", "ended_with_spawner",
	    &p->with_spawner);
	p->pstart = start;
	if (p->command)
		p->shepherd = (pid_t)x;
	iso_msg_free(m);
	return (p);
fail:
	iso_msg_free(m);
	if (p != NULL)
		proc_free(p);
	return (NULL);
}

/* Take up a record an earlier supervisor left. */
static void
proc_adopt(struct proc *p)
{
	struct timeval	tv;
	pid_t		pid = p->command ? p->shepherd : p->pid;
	long		left;

	if (p->command && p->box_id != 0) {
		if ((p->box = mbox_open(proc_dir, p->id, NULL,
		    p->box_id, (size_t)p->box_limit)) == NULL)
			log_warn("isolate %016" PRIx64 ": mailbox: %s", p->id,
			    strerror(errno));
		else if (p->state >= P_EXITED)
			mbox_close(p->box);
	}
	if (p->command && p->lines && (p->outbox = mbox_open(proc_dir, p->id,
	    ".outbox", 0, (size_t)p->box_limit)) == NULL)
		log_warn("isolate %016" PRIx64 ": outbox: %s", p->id,
		    strerror(errno));
	proc_box_sync(p);
	if (p->command && p->lines)
		link_adopt(p);
	if (p->state == P_RESTARTING) {
		/* What was left of its backoff when the last one died. */
		left = (long)((p->restart_at - now()) * 1000);
		if (left < 0)
			left = 0;
		if (left > p->rs.backoff_max_ms)
			left = p->rs.backoff_max_ms;
		tv.tv_sec = left / 1000;
		tv.tv_usec = (left % 1000) * 1000;
		evtimer_add(p->timer, &tv);
		return;
	}
	if (p->state != P_RUNNING)
		return;
	if (pid_same(pid, p->pstart)) {
		log_info("adopted %016" PRIx64 " (pid %d)", p->id, (int)p->pid);
		proc_watch(p, pid);
		/* It may have ended between the check and the watch. */
		if (!pid_same(pid, p->pstart))
			proc_watch_cb(-1, 0, p);
	} else if (p->command)
		proc_collect(p, "lost while no supervisor watched it");
	else
		proc_ended(p, -1, -1, NULL);
}

int
proc_init(struct event_base *b, const char *d, int dfd, const char *s)
{
	DIR		*dp;
	struct dirent	*de;
	struct proc	*p, *adopted = NULL;
	char		 path[PATH_MAX];
	size_t		 len;
	int		 n;

	proc_base = b;
	proc_dirfd = dfd;
	mbox_init(b);
	n = snprintf(proc_dir, sizeof proc_dir, "%s", d);
	if (n < 0 || (size_t)n >= sizeof proc_dir ||
	    snprintf(sock, sizeof sock, "%s", s) >= (int)sizeof sock) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((dp = opendir(proc_dir)) == NULL)
		return (-1);
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (len != 16 + 5 || strcmp(de->d_name + 16, ".json") != 0)
			continue;
		n = snprintf(path, sizeof path, "%s/%s", proc_dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof path)
			continue;
		if ((p = proc_load(path)) == NULL) {
			log_warn("%s: unreadable, ignored", path);
			continue;
		}
		p->next = adopted;
		adopted = p;
	}
	closedir(dp);
	/* Link them all before acting: a restart looks names up. */
	while ((p = adopted) != NULL) {
		adopted = p->next;
		p->next = proc_list;
		proc_list = p;
	}
	for (p = proc_list; p != NULL; p = p->next)
		proc_adopt(p);
	return (0);
}

void
proc_free_all(void)
{
	struct proc	*p;

	while ((p = proc_list) != NULL) {
		proc_list = p->next;
		while (p->waiters != NULL)
			waiter_free(p->waiters);
		if (p->ours)
			child_unwatch(p->shepherd);
		proc_free(p);
	}
}

