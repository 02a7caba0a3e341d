/*
 * lifecycle.c: what happens to a supervised isolate. A command runs
 * through a shepherd (shepherd.c) and is restarted by policy with
 * exponential backoff and an intensity limit, as Erlang/OTP supervisors
 * do; an isolate the library forked is watched until it ends. At start,
 * what an earlier supervisor left is adopted; at stop, every command is
 * ended. A restart by hand ends the run (gracefully or not) and runs the
 * command again at once, whatever its policy. The per-isolate state of this (timers, watchers, the spawn
 * waiting for its command to run) is this file's slot in the record.
 */
#include <sys/syscall.h>
#include <sys/time.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cgroup.h"
#include "attr.h"
#include "daemon.h"
#include "records.h"
#include "rlimit.h"

size_t	life_log_max = 512 * 1024;	/* bytes of ID.log, and ID.log.1 */
int	life_grace_ms = 5000;		/* SIGTERM, then SIGKILL */
#define POLL_MS		200		/* without pidfd: how often to look */
#define LIFE_HOOKS	4

/* This file's slot in a record. */
struct life {
	struct event	*timer;		/* backoff, or SIGKILL after grace */
	int		 watch_fd;	/* pidfd on a process not our child */
	struct event	*watch_ev;
	int		 ready_fd;	/* shep_start's: the command runs */
	struct event	*ready_ev;
	struct sv_conn	*starter;	/* a spawn answered then */
	struct sv_conn	*restarter;	/* a restart: the starter of the run
					   that follows this one */
	int		 again;		/* run again at the end, by hand */
	int		 ours;		/* the shepherd is our child */
	int		 start_paused;	/* the next run starts stopped */
};

static char	  sock[PATH_MAX];	/* supervisor.sock */
static void	(*stop_done)(void);
static void	(*hooks[LIFE_HOOKS])(struct proc *);

static void	life_run(struct proc *);
static void	life_rerun(struct proc *, struct sv_conn *, int);
static int	life_signal(struct proc *, int);
static void	life_timer_cb(evutil_socket_t, short, void *);

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

void
life_on_end(void (*fn)(struct proc *))
{
	int	i;

	for (i = 0; i < LIFE_HOOKS; i++)
		if (hooks[i] == NULL || hooks[i] == fn) {
			hooks[i] = fn;
			return;
		}
	abort();	/* a fixed set of modules: more is a bug */
}

static struct life *
life_of(struct proc *p)
{
	return (rec_slot(p, SLOT_LIFE));
}

/* Give p its slot (a record about to live). 0 or -1/ENOMEM. */
static int
life_new(struct proc *p)
{
	struct life	*l;

	if ((l = calloc(1, sizeof *l)) == NULL)
		return (-1);
	l->watch_fd = l->ready_fd = -1;
	if ((l->timer = evtimer_new(rec_base, life_timer_cb, p)) == NULL) {
		free(l);
		errno = ENOMEM;
		return (-1);
	}
	rec_set_slot(p, SLOT_LIFE, l);
	return (0);
}

void
life_forget(struct proc *p)
{
	struct life	*l = life_of(p);

	if (l->ours)
		child_unwatch(rec_run(p)->shepherd);
	event_free(l->timer);
	if (l->watch_ev != NULL)
		event_free(l->watch_ev);
	if (l->watch_fd != -1)
		close(l->watch_fd);
	if (l->ready_ev != NULL)
		event_free(l->ready_ev);
	if (l->ready_fd != -1)
		close(l->ready_fd);
	free(l);
	rec_set_slot(p, SLOT_LIFE, NULL);
}

/*
 * p's command runs (or could not start, or its shepherd is gone): stop
 * watching for that, learn its pid, and answer the spawn that waited.
 */
static void
life_ready(struct proc *p)
{
	struct life	*l = life_of(p);
	struct sv_conn	*c = l->starter;
	char		 hex[17];

	if (l->ready_ev != NULL) {
		event_free(l->ready_ev);
		l->ready_ev = NULL;
	}
	if (l->ready_fd != -1) {
		close(l->ready_fd);
		l->ready_fd = -1;
	}
	rec_learn_pid(p);
	if (c != NULL) {
		l->starter = NULL;
		sv_reply(c, iso_msg_pack("{s:b s:s}", "ok", 1, "id",
		    rec_hex(rec_id(p), hex)));
	}
}

static void
life_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;

	(void)fd;
	(void)what;
	life_ready(p);
	if (rec_state(p) == REC_RUNNING && rec_run(p)->pid > 0)
		events_rec("spawn", p, 0);
}

/* The spawn's (or restart's) client went away before its command ran;
   one of them at a time waits. */
static void
life_starter_cancel(void *arg)
{
	life_of(arg)->starter = NULL;
	life_of(arg)->restarter = NULL;
}

/* p's timer: the end of a backoff, or of the grace after SIGTERM. */
static void
life_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;

	(void)fd;
	(void)what;
	if (rec_state(p) == REC_RUNNING) {
		(void)life_signal(p, rec_is_command(p) ? SIGUSR2 : SIGKILL);
		return;
	}
	rec_run(p)->restarts++;
	life_run(p);
}

static void
life_stop_check(void)
{
	struct proc	*p;

	if (stop_done == NULL)
		return;
	for (p = rec_first(); p != NULL; p = rec_next(p))
		if (rec_is_command(p) && rec_state(p) == REC_RUNNING)
			return;
	stop_done();
	stop_done = NULL;
}

/* Whether a run that ended so is run again. */
static int
life_wants_restart(struct proc *p, int code, int sig)
{
	if (!rec_is_command(p) || rec_run(p)->killed || stop_done != NULL)
		return (0);
	switch (rec_restart(p)) {
	case RESTART_ALWAYS:
		return (1);
	case RESTART_ON_FAILURE:
		return (code != 0 || sig > 0);
	case RESTART_NEVER:
		break;
	}
	return (0);
}

/*
 * One run of p has ended (code, or sig > 0, or neither when unknown):
 * restart it by policy, or mark it exited or failed.
 */
static void
life_ended(struct proc *p, int code, int sig, const char *error)
{
	struct life	*l = life_of(p);
	struct rec_run	*r = rec_run(p);
	struct timeval	 tv;
	double		 t = mono_now(), ran;
	int		 restart, delay = 0, i;
	char		 text[128];

	life_ready(p);
	evtimer_del(l->timer);
	if (l->watch_ev != NULL) {
		event_free(l->watch_ev);
		l->watch_ev = NULL;
	}
	if (l->watch_fd != -1) {
		close(l->watch_fd);
		l->watch_fd = -1;
	}
	r->shepherd = 0;
	r->exit_code = code;
	r->sig = sig;
	rec_set_error(p, error);
	r->ended = now();
	ran = r->ended - r->started;
	names_isolate_ended(rec_id(p));
	/* Its spawner gone before it, with no word of how it ended: the
	   library's death signal ended it with its spawner. */
	if (!rec_is_command(p) && code < 0 && sig < 0 && r->parent_pid > 0 &&
	    (r->parent_start == 0 ||	/* gone before we heard of it */
	    pid_start_of(r->parent_pid, 1) != r->parent_start))
		r->with_spawner = 1;
	log_info("isolate %016" PRIx64 " (%s) ended: %s%d%s%s%s%s", rec_id(p),
	    rec_name(p) != NULL ? rec_name(p) : "-", sig > 0 ? "signal " :
	    "status ", sig > 0 ? sig : code, error != NULL ? ": " : "",
	    error != NULL ? error : "", rec_reason(p) != NULL ? ": " : "",
	    rec_reason(p) != NULL ? rec_reason(p) : "");

	if (l->again && stop_done == NULL) {
		/* Restarted by hand: at once, whatever the policy. */
		l->again = 0;
		r->state = REC_RESTARTING;
		r->restart_at = now();
		rec_save(p);
		events_rec("exit", p, 0);
		events_rec("restart", p, 0);
		life_rerun(p, l->restarter, 1);
		return;
	}
	if (l->again) {
		l->again = 0;
		if (l->restarter != NULL) {
			sv_error(l->restarter, ECANCELED, "the supervisor "
			    "is stopping");
			l->restarter = NULL;
		}
	}
	restart = life_wants_restart(p, code, sig);
	if (error != NULL && code == 127 && rec_is_command(p)) {
		/* It could not start: restarting will not help. */
		r->state = REC_FAILED;
		restart = 0;
	} else
		r->state = REC_EXITED;
	if (restart && (delay = restart_delay(&r->rs, t, ran)) == -1) {
		snprintf(text, sizeof text, "restarted %d times within %d ms: "
		    "given up", r->rs.nrecent, r->rs.period_ms);
		rec_set_error(p, text);
		r->state = REC_FAILED;
	} else if (restart) {
		r->state = REC_RESTARTING;
		r->restart_at = now() + delay / 1000.0;
		tv.tv_sec = delay / 1000;
		tv.tv_usec = (delay % 1000) * 1000;
		evtimer_add(l->timer, &tv);
	}
	if (r->state >= REC_EXITED && rec_box(p) != NULL)
		mbox_close(rec_box(p));	/* senders now get ECONNREFUSED */
	rec_save(p);
	events_rec("exit", p, 0);
	if (r->state == REC_RESTARTING)
		events_rec("restart", p, delay);
	else if (r->state == REC_FAILED)
		events_rec("failed", p, 0);
	if (r->state >= REC_EXITED) {
		for (i = 0; i < LIFE_HOOKS && hooks[i] != NULL; i++)
			hooks[i](p);
		rec_trim();
	}
	life_stop_check();
}

/*
 * Why p's run ended, when a limit ended it: the shepherd's words in
 * ID.exit (exit), the kernel's OOM kill in its cgroup, or rss.c's
 * restart; its cgroup removed.
 */
static void
life_reason(struct proc *p, const iso_msg *exit)
{
	struct rec_run	*r = rec_run(p);
	const iso_msg	*v;
	const char	*s = NULL;
	char		 path[PATH_MAX], text[128], size[32];
	uint64_t	 limit[4];
	int		 oom = 0;

	if ((rec_limits(p, limit) & cg_usable(NULL)) != 0 &&
	    cg_path(rec_id(p), path, sizeof path) == 0) {
		oom = cg_oom_killed(path);
		cg_remove(path);
	}
	if (exit != NULL && (v = iso_msg_get(exit, "reason")) != NULL)
		s = iso_msg_str(v, NULL);
	if (s == NULL && oom) {
		rlimit_size(size, sizeof size, limit[ISO_RLIMIT_MEMORY]);
		snprintf(text, sizeof text, "out of memory: memory limit of %s "
		    "reached (cgroup)", size);
		s = text;
	}
	if (s != NULL)
		rec_set_reason(p, s);
	else if (!r->over_memory)
		rec_set_reason(p, NULL);
	r->over_memory = 0;
}

/* What the shepherd wrote in ID.exit, then life_ended. */
static void
life_collect(struct proc *p, const char *fallback)
{
	char		 path[PATH_MAX];
	const iso_msg	*v;
	iso_msg		*m = NULL;
	const char	*err = NULL;
	int64_t		 code = -1, sig = -1;

	if (state_path(rec_dir, rec_id(p), ".exit", path, sizeof path) == 0)
		m = state_read(path);
	if (m == NULL) {
		life_reason(p, NULL);
		life_ended(p, -1, -1, fallback);
		return;
	}
	if ((v = iso_msg_get(m, "code")) != NULL)
		(void)iso_msg_int(v, &code);
	if ((v = iso_msg_get(m, "signal")) != NULL)
		(void)iso_msg_int(v, &sig);
	if ((v = iso_msg_get(m, "error")) != NULL)
		err = iso_msg_str(v, NULL);
	life_reason(p, m);
	if (rec_lines(p))
		link_collect(p, m);
	rec_learn_pid(p);
	life_ended(p, (int)code, (int)sig, err);
	iso_msg_free(m);
}

static void
life_shepherd_done(pid_t pid, int status, void *arg)
{
	struct proc	*p = arg;

	(void)pid;
	(void)status;
	life_of(p)->ours = 0;
	life_collect(p, "its shepherd died");
}

/* The process we act through: the shepherd, or the isolate. */
static pid_t
life_pid(struct proc *p)
{
	return (rec_is_command(p) ? rec_run(p)->shepherd : rec_run(p)->pid);
}

/* A process we watch but did not fork has ended (pidfd or polling). */
static void
life_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;

	(void)fd;
	(void)what;
	if (life_of(p)->watch_fd == -1 &&
	    pid_same(life_pid(p), rec_run(p)->pstart))
		return;		/* polling: still there */
	if (rec_is_command(p))
		life_collect(p, "lost while no supervisor watched it");
	else
		life_ended(p, -1, -1, NULL);
}

/* Watch pid, not our child, until it ends. */
static void
life_watch(struct proc *p, pid_t pid)
{
	struct life	*l = life_of(p);
	struct timeval	 tv = { 0, POLL_MS * 1000 };

	l->watch_fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (l->watch_fd != -1)
		l->watch_ev = event_new(rec_base, l->watch_fd, EV_READ,
		    life_watch_cb, p);
	else
		l->watch_ev = event_new(rec_base, -1, EV_PERSIST,
		    life_watch_cb, p);
	if (l->watch_ev != NULL)
		event_add(l->watch_ev, l->watch_fd != -1 ? NULL : &tv);
}

/* Signal the process we act through, if it is still the same one. */
static int
life_signal(struct proc *p, int sig)
{
	struct life	*l = life_of(p);
	pid_t		 pid = life_pid(p);

	if (l->watch_fd != -1)
		return ((int)syscall(SYS_pidfd_send_signal, l->watch_fd, sig,
		    NULL, 0));
	if (l->ours || pid_same(pid, rec_run(p)->pstart))
		return (kill(pid, sig));
	errno = ESRCH;
	return (-1);
}

/* A list of strings as a NULL-terminated vector (borrowed strings). */
static char **
life_vector(const iso_msg *l)
{
	char	**v;
	size_t	  i, n = iso_msg_len(l);

	if ((v = calloc(n + 1, sizeof *v)) == NULL)
		return (NULL);
	for (i = 0; i < n; i++)
		v[i] = (char *)(uintptr_t)iso_msg_str(iso_msg_at(l, i), NULL);
	return (v);
}

int
life_sandbox_check(const char *profile)
{
	iso_spawn_attr	*a;
	int		 rc, saved;

	if ((a = iso_spawn_attr_new()) == NULL)
		return (-1);
	rc = iso_spawn_attr_set_sandbox(a, profile) == -1 ||
	    attr_exec_check(a) == -1 ? -1 : 0;
	saved = errno;
	iso_spawn_attr_free(a);
	errno = saved;
	return (rc);
}

/* One run of command p: its shepherd. */
static void
life_run(struct proc *p)
{
	struct life	*l = life_of(p);
	struct rec_run	*r = rec_run(p);
	struct shep_spec spec;
	char		 path[PATH_MAX], **argv = NULL, **envp = NULL;
	char		 text[128], cgpath[PATH_MAX];
	pid_t		 pid;

	r->state = REC_RUNNING;
	r->pid = 0;
	r->exit_code = r->sig = -1;
	rec_set_error(p, NULL);
	r->started = now();
	r->ended = 0;
	/* Stale files of the last run must not be read for this one. */
	if (state_path(rec_dir, rec_id(p), ".run", path, sizeof path) == 0)
		(void)unlink(path);
	if (state_path(rec_dir, rec_id(p), ".exit", path, sizeof path) == 0)
		(void)unlink(path);
	if ((argv = life_vector(rec_argv(p))) == NULL ||
	    (iso_msg_type(rec_env(p)) == ISO_LIST &&
	    (envp = life_vector(rec_env(p))) == NULL))
		goto fail;
	memset(&spec, 0, sizeof spec);
	spec.sandbox = rec_sandbox(p);
	spec.id = rec_id(p);
	spec.argv = argv;
	spec.envp = envp;
	spec.cwd = rec_cwd(p);
	spec.dir = rec_dir;
	spec.dirfd = strncmp(rec_dir, "/proc/self/fd/", 14) == 0 ?
	    rec_dirfd : -1;
	spec.log_max = life_log_max;
	spec.lines = rec_lines(p);
	spec.paused = l->start_paused;	/* its first run only */
	l->start_paused = 0;
	spec.sock = sock;
	spec.limits = rec_limits(p, spec.limit);
	/* A cgroup of its own too where ours is delegated (cgroup.c). */
	if ((spec.limits & cg_usable(NULL)) != 0) {
		if (cg_make(rec_id(p), spec.limits, spec.limit, cgpath,
		    sizeof cgpath) == 0)
			spec.cgroup = cgpath;
		else
			log_warn("isolate %016" PRIx64 ": cgroup: %s",
			    rec_id(p), strerror(errno));
	}
	if ((pid = shep_start(&spec, &l->ready_fd)) == -1)
		goto fail;
	free(argv);
	free(envp);
	/* Without the event, the pid is learnt when asked for (ID.run). */
	if ((l->ready_ev = event_new(rec_base, l->ready_fd, EV_READ,
	    life_ready_cb, p)) == NULL || event_add(l->ready_ev, NULL) == -1)
		life_ready(p);
	r->shepherd = pid;
	l->ours = 1;
	r->pstart = pid_start(pid);
	if (child_watch(pid, life_shepherd_done, p) == -1) {
		/* Cannot learn its end from SIGCHLD: watch it instead. */
		l->ours = 0;
		life_watch(p, pid);
	}
	rec_save(p);
	if (rec_max_memory(p) != 0)
		rss_watch();
	return;
fail:
	free(argv);
	free(envp);
	snprintf(text, sizeof text, "cannot start: %s", strerror(errno));
	life_ended(p, 127, -1, text);
}

int
life_spawn(struct proc *p, struct sv_conn *c, int paused)
{
	char	hex[17];

	if (life_new(p) == -1)
		return (-1);
	life_of(p)->start_paused = paused;
	rec_add(p);
	life_run(p);
	/* Once the command runs: a list right after shows its pid. */
	if (life_of(p)->ready_ev != NULL) {
		life_of(p)->starter = c;
		sv_defer(c, life_starter_cancel, p);
		return (0);
	}
	sv_reply(c, iso_msg_pack("{s:b s:s}", "ok", 1, "id",
	    rec_hex(rec_id(p), hex)));
	return (0);
}

/*
 * Run command p again now, by hand, and answer c (NULL: nobody; deferred:
 * sv_defer was called already) with its id once it runs. Its backoff
 * and intensity start over, as for a command spawned anew: the operator
 * asked for this run, so a command that had failed gets its full
 * chances again. It counts as a restart.
 */
static void
life_rerun(struct proc *p, struct sv_conn *c, int deferred)
{
	struct life	*l = life_of(p);
	struct rec_run	*r = rec_run(p);
	char		 hex[17];

	l->restarter = NULL;
	r->rs.next = 0;
	r->rs.nrecent = 0;
	r->killed = 0;
	r->restarts++;
	/* An ended command's mailbox stopped taking messages. */
	if (rec_box(p) != NULL && mbox_reopen(rec_box(p)) == -1)
		log_warn("isolate %016" PRIx64 ": mailbox: %s", rec_id(p),
		    strerror(errno));
	/* Held: a run that cannot start ends at once, and trims. */
	rec_hold(p);
	life_run(p);
	rec_release(p);
	if (c == NULL)
		return;
	if (l->ready_ev != NULL) {
		l->starter = c;
		if (!deferred)
			sv_defer(c, life_starter_cancel, p);
		return;
	}
	sv_reply(c, iso_msg_pack("{s:b s:s}", "ok", 1, "id",
	    rec_hex(rec_id(p), hex)));
}

int
life_restart(struct proc *p, int now, struct sv_conn *c)
{
	struct timeval	 tv = { life_grace_ms / 1000,
	    (life_grace_ms % 1000) * 1000 };
	struct life	*l = life_of(p);
	struct rec_run	*r = rec_run(p);

	if (!rec_is_command(p)) {
		errno = EINVAL;
		return (-1);
	}
	if (stop_done != NULL) {
		errno = ECANCELED;
		return (-1);
	}
	if (l->starter != NULL || l->restarter != NULL || l->again) {
		errno = EBUSY;
		return (-1);
	}
	if (r->state != REC_RUNNING) {
		/* Ended, or waiting out a backoff: run it now. */
		evtimer_del(l->timer);
		life_rerun(p, c, 0);
		return (0);
	}
	/* A shepherd already gone (ESRCH) is about to be collected. */
	if (life_signal(p, now ? SIGUSR2 : SIGTERM) == -1 && errno != ESRCH)
		return (-1);
	l->again = 1;
	l->restarter = c;
	if (c != NULL)
		sv_defer(c, life_starter_cancel, p);
	if (!now)
		evtimer_add(l->timer, &tv);
	return (0);
}

int
life_isolate(struct proc *p, pid_t pid, pid_t ppid)
{
	struct rec_run	*r = rec_run(p);

	if (life_new(p) == -1)
		return (-1);
	r->pid = pid;
	r->pstart = pid_start(pid);
	if (ppid > 0) {
		r->parent_pid = ppid;
		r->parent_start = pid_start(ppid);
	}
	r->state = REC_RUNNING;
	r->started = now();
	rec_add(p);
	if (r->pstart == 0) {
		life_ended(p, -1, -1, NULL);
		return (0);
	}
	life_watch(p, pid);
	rec_save(p);
	events_rec("spawn", p, 0);
	return (0);
}

void
life_exited(struct proc *p, int code, int sig, int with_spawner)
{
	struct rec_run	*r = rec_run(p);

	if (with_spawner)
		r->with_spawner = 1;
	if (r->state == REC_RUNNING)
		life_ended(p, code, sig, NULL);
	else if (r->exit_code < 0 && r->sig < 0) {
		/* The pidfd told first; now we know how. */
		r->exit_code = code;
		r->sig = sig;
		rec_save(p);
	} else if (with_spawner)
		rec_save(p);
}

int
life_kill(struct proc *p, int graceful)
{
	struct timeval	 tv = { life_grace_ms / 1000,
	    (life_grace_ms % 1000) * 1000 };
	struct life	*l = life_of(p);
	struct rec_run	*r = rec_run(p);

	if (l->again) {
		/* A kill wins over a restart under way. */
		l->again = 0;
		if (l->restarter != NULL) {
			sv_error(l->restarter, ECANCELED, "killed before "
			    "it was run again");
			l->restarter = NULL;
		}
	}
	if (r->state == REC_RESTARTING) {
		evtimer_del(l->timer);
		r->killed = 1;
		life_ended(p, r->exit_code, r->sig, r->error);
		return (0);
	}
	if (r->state != REC_RUNNING) {
		errno = ESRCH;
		return (-1);
	}
	r->killed = 1;
	rec_save(p);
	if (life_signal(p, graceful ? SIGTERM : rec_is_command(p) ? SIGUSR2 :
	    SIGKILL) == -1) {
		r->killed = 0;
		rec_save(p);
		return (-1);
	}
	/* A paused isolate takes its SIGTERM once it runs (a command's
	   shepherd does the same for its group). */
	if (graceful && !rec_is_command(p))
		(void)life_signal(p, SIGCONT);
	if (graceful)
		evtimer_add(l->timer, &tv);
	return (0);
}

int
life_control(struct proc *p, int sig)
{
	struct rec_run	*r = rec_run(p);

	if (r->state != REC_RUNNING) {
		errno = ESRCH;
		return (-1);
	}
	if (!rec_is_command(p))
		return (life_signal(p, sig));
	rec_learn_pid(p);
	if (r->pid <= 0) {
		errno = EAGAIN;		/* not started yet */
		return (-1);
	}
	/* Its group, which its shepherd keeps until it has reaped it. */
	return (kill(-r->pid, sig));
}

void
life_stop_all(int grace_ms, void (*done)(void))
{
	struct timeval	 tv = { grace_ms / 1000, (grace_ms % 1000) * 1000 };
	struct proc	*p;
	struct rec_run	*r;

	stop_done = done;
	for (p = rec_first(); p != NULL; p = rec_next(p)) {
		if (!rec_is_command(p))
			continue;
		r = rec_run(p);
		if (r->state == REC_RESTARTING) {
			evtimer_del(life_of(p)->timer);
			r->killed = 1;
			life_ended(p, r->exit_code, r->sig, r->error);
		} else if (r->state == REC_RUNNING) {
			r->killed = 1;
			(void)life_signal(p, SIGTERM);
			evtimer_add(life_of(p)->timer, &tv);
		}
	}
	life_stop_check();
}

/* Take up a record an earlier supervisor left. */
static void
life_adopt(struct proc *p)
{
	struct rec_run	*r = rec_run(p);
	struct timeval	 tv;
	pid_t		 pid = life_pid(p);
	long		 left;

	if (rec_is_command(p)) {
		(void)rec_open_boxes(p, rec_box_id(p), 0);
		if (rec_box(p) != NULL && r->state >= REC_EXITED)
			mbox_close(rec_box(p));
	}
	if (rec_is_command(p) && rec_lines(p))
		link_adopt(p);
	if (r->state == REC_RESTARTING) {
		/* What was left of its backoff when the last one died. */
		left = (long)((r->restart_at - now()) * 1000);
		if (left < 0)
			left = 0;
		if (left > r->rs.backoff_max_ms)
			left = r->rs.backoff_max_ms;
		tv.tv_sec = left / 1000;
		tv.tv_usec = (left % 1000) * 1000;
		evtimer_add(life_of(p)->timer, &tv);
		return;
	}
	if (r->state != REC_RUNNING)
		return;
	if (pid_same(pid, r->pstart)) {
		log_info("adopted %016" PRIx64 " (pid %d)", rec_id(p),
		    (int)r->pid);
		life_watch(p, pid);
		/* It may have ended between the check and the watch. */
		if (!pid_same(pid, r->pstart))
			life_watch_cb(-1, 0, p);
	} else if (rec_is_command(p))
		life_collect(p, "lost while no supervisor watched it");
	else
		life_ended(p, -1, -1, NULL);
}

int
life_init(struct event_base *b, const char *d, int dfd, const char *s)
{
	struct proc	*p;
	const char	*why;
	int		 n;

	rec_base = b;
	rec_dirfd = dfd;
	life_on_end(wait_ended);
	mbox_init(b);
	n = snprintf(rec_dir, sizeof rec_dir, "%s", d);
	if (n < 0 || (size_t)n >= sizeof rec_dir ||
	    snprintf(sock, sizeof sock, "%s", s) >= (int)sizeof sock) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	/* Commands' limits by cgroup too where ours is delegated. */
	if (cg_delegate(&why) == 0)
		log_info("limits: setrlimit, and a cgroup v2 per command");
	else
		log_info("limits: setrlimit alone (%s)", why);
	/* Load them all before acting: a restart looks names up. */
	if (rec_load_all() == -1)
		return (-1);
	/* Held while adopting: an end's trim must not free what the walk
	   has not reached. */
	for (p = rec_first(); p != NULL; p = rec_next(p)) {
		if (life_new(p) == -1)
			return (-1);
		rec_hold(p);
	}
	for (p = rec_first(); p != NULL; p = rec_next(p))
		life_adopt(p);
	for (p = rec_first(); p != NULL; p = rec_next(p))
		rec_release(p);
	rec_trim();
	rss_watch();
	return (0);
}
