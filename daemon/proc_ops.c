/*
 * proc_ops.c: the requests about supervised isolates: spawn, list, kill,
 * restart, rm and wait, and the notes of the library's spawners (spawned, exited,
 * spawning, listening). Each is an entry of fields and a function; the
 * records and their lifecycle do the work.
 */
#include <sys/time.h>

#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon.h"
#include "records.h"

/* ---- spawn ---------------------------------------------------------------- */

struct spawn_args {
	const iso_msg	*argv, *env;
	const char	*name, *cwd;
	const char	*sandbox;	/* a profile (sandbox.h), NULL */
	int		 restart, lines, sync, paused;
	int		 pol[6];	/* only checked here: rec_set_policy */
	uint64_t	 limit[4];	/* enum iso_rlimit; 0: none */
	uint64_t	 max_memory;
};

static const struct rq_field spawn_fields[] = {
	RQ_FIELD(struct spawn_args, argv, "argv", RQ_STRLIST, RQ_REQ, 1, 0),
	RQ_FIELD(struct spawn_args, env, "env", RQ_STRLIST, RQ_NIL, 0, 0),
	RQ_FIELD(struct spawn_args, name, "name", RQ_STR, RQ_NIL, 1,
	    NAME_MAX_LEN),
	RQ_FIELD(struct spawn_args, cwd, "cwd", RQ_STR, RQ_NIL, 0, 0),
	RQ_ENUM_DEF(struct spawn_args, restart, "restart", restart_names,
	    RESTART_NEVER),
	RQ_FIELD(struct spawn_args, lines, "lines", RQ_BOOL, 0, 0, 0),
	RQ_FIELD(struct spawn_args, sync, "mailbox_sync", RQ_BOOL, 0, 0, 0),
	RQ_FIELD(struct spawn_args, paused, "paused", RQ_BOOL, 0, 0, 0),
	RQ_FIELD(struct spawn_args, sandbox, "sandbox", RQ_STR, RQ_NIL, 1,
	    4096),
	RQ_FIELD_DEF(struct spawn_args, pol[0], "backoff_ms", RQ_INT, 0,
	    86400000, 0),
	RQ_FIELD_DEF(struct spawn_args, pol[1], "backoff_max_ms", RQ_INT, 0,
	    86400000, 0),
	RQ_FIELD_DEF(struct spawn_args, pol[2], "reset_ms", RQ_INT, 0,
	    86400000, 0),
	RQ_FIELD_DEF(struct spawn_args, pol[3], "max_restarts", RQ_INT, 0,
	    86400000, 0),
	RQ_FIELD_DEF(struct spawn_args, pol[4], "period_ms", RQ_INT, 0,
	    86400000, 0),
	RQ_FIELD_DEF(struct spawn_args, pol[5], "mailbox", RQ_INT, 0, 1000000,
	    0),
	/* limits (lifecycle.c, shepherd.c, rss.c) */
	RQ_FIELD_DEF(struct spawn_args, limit[0], "memory", RQ_U64, 0, 0, 0),
	RQ_FIELD_DEF(struct spawn_args, limit[1], "cpu", RQ_U64, 0, 0, 0),
	RQ_FIELD_DEF(struct spawn_args, limit[2], "nofile", RQ_U64, 0, 0, 0),
	RQ_FIELD_DEF(struct spawn_args, limit[3], "nproc", RQ_U64, 0, 0, 0),
	RQ_FIELD_DEF(struct spawn_args, max_memory, "max_memory", RQ_U64, 0,
	    0, 0),
	RQ_END
};

static void
op_spawn(struct sv_conn *c, const struct rq *r)
{
	const struct spawn_args	*a = r->args;
	struct rec_spec		 spec;
	struct proc		*p, *q;
	unsigned		 i;

	if (a->name != NULL) {
		for (q = rec_first(); q != NULL; q = rec_next(q)) {
			if (rec_name(q) == NULL ||
			    strcmp(rec_name(q), a->name) != 0)
				continue;
			if (rec_live(q)) {
				sv_error(c, EEXIST, "spawn: name \"%s\" is "
				    "taken by %016" PRIx64, a->name,
				    rec_id(q));
				return;
			}
			/* An ended isolate gives its name up. */
			rec_drop_name(q);
		}
	}
	if (a->sandbox != NULL && life_sandbox_check(a->sandbox) == -1) {
		sv_error(c, errno, "spawn: %s", iso_error());
		return;
	}
	memset(&spec, 0, sizeof spec);
	spec.command = 1;
	spec.sandbox = a->sandbox;
	spec.name = a->name;
	spec.argv = a->argv;
	spec.env = a->env;
	spec.cwd = a->cwd;
	spec.restart = (enum restart_policy)a->restart;
	spec.lines = a->lines;
	spec.box_sync = a->sync;
	for (i = 0; i < 4; i++) {
		if (a->limit[i] == UINT64_MAX) {
			sv_error(c, EINVAL, "spawn: a limit is finite");
			return;
		}
		if (a->limit[i] != 0)
			spec.limits |= 1u << i;
		spec.limit[i] = a->limit[i];
	}
	spec.max_memory = a->max_memory;
	if ((p = rec_new(0, &spec)) == NULL)
		goto nomem;
	if (rec_set_policy(p, r->msg) == -1) {
		rec_free(p);
		goto nomem;	/* the bounds were checked */
	}
	if (a->lines && link_new(p) == -1) {
		rec_free(p);
		goto nomem;
	}
	if (rec_open_boxes(p, 0, 1) == -1) {
		sv_error(c, errno, "spawn: mailbox: %s", strerror(errno));
		rec_free(p);
		return;
	}
	log_info("spawn %016" PRIx64 " (%s): %s", rec_id(p),
	    a->name != NULL ? a->name : "-",
	    iso_msg_str(iso_msg_at(a->argv, 0), NULL));
	if (life_spawn(p, c, a->paused) == -1) {
		rec_free(p);
		goto nomem;
	}
	return;
nomem:
	sv_error(c, ENOMEM, "out of memory");
}

const struct rq_entry rq_spawn = {
	.name = "spawn", .exec = op_spawn, .size = sizeof(struct spawn_args),
	.fields = spawn_fields, .flags = RQ_STRICT
};

/* ---- list ----------------------------------------------------------------- */

/* A record's state (enum rec_state), then "ended": exited or failed. */
static const char *const list_states[] = { "running", "restarting",
    "exited", "failed", "ended", NULL };
#define LIST_ENDED	4

/* Filters; a list without them gives every row. */
struct list_args {
	const char	*name;		/* an fnmatch(3) pattern */
	int		 state;		/* of list_states, -1: any */
	int		 all;		/* 0: no ended isolates of programs */
};

static const struct rq_field list_fields[] = {
	RQ_FIELD(struct list_args, name, "name", RQ_STR, RQ_NIL, 1,
	    NAME_MAX_LEN),
	{ "state", RQ_ENUM, RQ_NIL, 0, 0, -1, offsetof(struct list_args,
	    state), list_states },
	RQ_FIELD_DEF(struct list_args, all, "all", RQ_BOOL, 0, 0, 1),
	RQ_END
};

/* Whether p's row passes a's filters. */
static int
list_wants(const struct list_args *a, struct proc *p)
{
	enum rec_state	 st = rec_state(p);
	const char	*name;

	if (!a->all && !rec_is_command(p) && st >= REC_EXITED)
		return (0);
	if (a->state == LIST_ENDED ? st < REC_EXITED :
	    a->state >= 0 && (int)st != a->state)
		return (0);
	/* A program's isolate without a name goes by its entry. */
	name = rec_name(p) != NULL ? rec_name(p) : rec_is_command(p) ? NULL :
	    rec_entry(p);
	return (a->name == NULL || (name != NULL &&
	    fnmatch(a->name, name, 0) == 0));
}

static void
op_list(struct sv_conn *c, const struct rq *r)
{
	const struct list_args	*a = r->args;
	struct proc		*p;
	iso_msg			*l;

	if ((l = iso_msg_pack("[]")) == NULL)
		goto nomem;
	for (p = rec_first(); p != NULL; p = rec_next(p))
		if (list_wants(a, p) && iso_msg_append(l, rec_row(p)) == -1)
			goto nomem;
	sv_reply_with(c, "isolates", l);
	return;
nomem:
	iso_msg_free(l);
	sv_error(c, ENOMEM, "out of memory");
}

const struct rq_entry rq_list = {
	.name = "list", .exec = op_list, .size = sizeof(struct list_args),
	.fields = list_fields
};

/* ---- kill ----------------------------------------------------------------- */

struct kill_args {
	int	graceful;
};

static const struct rq_field kill_fields[] = {
	RQ_FIELD(struct kill_args, graceful, "graceful", RQ_BOOL, 0, 0, 0),
	RQ_END
};

static void
op_kill(struct sv_conn *c, const struct rq *r)
{
	const struct kill_args	*a = r->args;
	struct proc		*p = r->target.rec;

	if (life_kill(p, a->graceful) == 0) {
		sv_ok(c);
		return;
	}
	if (rec_state(p) != REC_RUNNING)
		sv_error(c, ESRCH, "isolate %016" PRIx64 " is not running",
		    rec_id(p));
	else
		sv_error(c, ESRCH, "isolate %016" PRIx64 ": %s", rec_id(p),
		    strerror(errno));
}

const struct rq_entry rq_kill = {
	.name = "kill", .exec = op_kill, .target = TGT_RECORD,
	.size = sizeof(struct kill_args), .fields = kill_fields
};

/* ---- restart ----------------------------------------------------------------- */

struct restart_args {
	int	now;
};

static const struct rq_field restart_fields[] = {
	RQ_FIELD(struct restart_args, now, "now", RQ_BOOL, 0, 0, 0),
	RQ_END
};

/* Answered by lifecycle.c once the new run runs, with its id. */
static void
op_restart(struct sv_conn *c, const struct rq *r)
{
	const struct restart_args	*a = r->args;
	struct proc			*p = r->target.rec;
	char				 w[100];

	if (life_restart(p, a->now, c) == 0)
		return;
	rec_who(p, w, sizeof w);
	switch (errno) {
	case EINVAL:
		sv_error(c, EINVAL, "isolate %s was forked by a program "
		    "(pid %d): only the supervisor's commands can be "
		    "restarted; restart that program", w,
		    (int)rec_run(p)->pid);
		break;
	case EBUSY:
		sv_error(c, EBUSY, "isolate %s is being started or "
		    "restarted; try again once it runs", w);
		break;
	case ECANCELED:
		sv_error(c, ECANCELED, "the supervisor is stopping");
		break;
	default:
		sv_error(c, errno, "isolate %s: %s", w, strerror(errno));
	}
}

const struct rq_entry rq_restart = {
	.name = "restart", .exec = op_restart, .target = TGT_RECORD,
	.size = sizeof(struct restart_args), .fields = restart_fields
};

/* ---- rm ---------------------------------------------------------------------- */

static void
op_rm(struct sv_conn *c, const struct rq *r)
{
	struct proc	*p = r->target.rec;
	char		 w[100];
	uint64_t	 id = rec_id(p);

	if (rec_live(p)) {
		sv_error(c, EBUSY, "isolate %s is %s: kill it first (isoctl "
		    "kill %016" PRIx64 ")", rec_who(p, w, sizeof w),
		    rec_state_names[rec_state(p)], id);
		return;
	}
	if (rec_forget(p) == -1) {
		sv_error(c, EBUSY, "isolate %s is waited for; try again "
		    "once that is over", rec_who(p, w, sizeof w));
		return;
	}
	log_info("forgot %016" PRIx64, id);
	sv_ok(c);
}

const struct rq_entry rq_rm = {
	.name = "rm", .exec = op_rm, .target = TGT_RECORD
};

/* ---- wait: requests waiting for a record to end ------------------------------ */

struct waiter {
	struct sv_conn	*conn;
	struct event	*timer;
	struct proc	*proc;
	struct waiter	*next;
};

static void
waiter_free(struct waiter *w)
{
	struct waiter	**wp;

	for (wp = (struct waiter **)rec_slot_ref(w->proc, SLOT_WAIT);
	    *wp != NULL; wp = &(*wp)->next) {
		if (*wp == w) {
			*wp = w->next;
			break;
		}
	}
	rec_release(w->proc);
	event_free(w->timer);
	free(w);
}

void
wait_forget(struct proc *p)
{
	struct waiter	*w;

	while ((w = rec_slot(p, SLOT_WAIT)) != NULL)
		waiter_free(w);
}

void
wait_ended(struct proc *p)
{
	struct waiter	*w;
	struct sv_conn	*c;

	while ((w = rec_slot(p, SLOT_WAIT)) != NULL) {
		c = w->conn;
		waiter_free(w);
		sv_reply_with(c, "isolate", rec_row(p));
	}
}

/* The timer of a waiter. */
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

/* sv_defer's cancel: its client went away. */
static void
waiter_cancel(void *arg)
{
	waiter_free(arg);
}

struct wait_args {
	int	timeout_ms;
};

static const struct rq_field wait_fields[] = {
	RQ_FIELD_DEF(struct wait_args, timeout_ms, "timeout_ms", RQ_INT, 0, 0,
	    -1),
	RQ_END
};

static void
op_wait(struct sv_conn *c, const struct rq *r)
{
	const struct wait_args	*a = r->args;
	struct proc		*p = r->target.rec;
	struct waiter		*w;
	struct timeval		 tv;

	if (rec_state(p) >= REC_EXITED) {
		sv_reply_with(c, "isolate", rec_row(p));
		return;
	}
	if ((w = calloc(1, sizeof *w)) == NULL ||
	    (w->timer = evtimer_new(rec_base, waiter_timeout, w)) == NULL) {
		free(w);
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	w->conn = c;
	w->proc = p;
	w->next = rec_slot(p, SLOT_WAIT);
	rec_set_slot(p, SLOT_WAIT, w);
	rec_hold(p);
	if (a->timeout_ms >= 0) {
		tv.tv_sec = a->timeout_ms / 1000;
		tv.tv_usec = (a->timeout_ms % 1000) * 1000;
		evtimer_add(w->timer, &tv);
	}
	sv_defer(c, waiter_cancel, w);
}

const struct rq_entry rq_wait = {
	.name = "wait", .exec = op_wait, .target = TGT_RECORD,
	.size = sizeof(struct wait_args), .fields = wait_fields
};

/* ---- the spawners' notes: never answered ------------------------------------ */

struct note_args {
	uint64_t	 id, parent;
	int		 pid, parent_pid, code, sig, with;
	const char	*entry;
	const char	*name;		/* spawned: its debug name, or NULL */
};

/* An isolate the library forked: {"id", "pid", "parent", "entry",
   "parent_pid"}. */
static void
op_spawned(struct sv_conn *c, const struct rq *r)
{
	const struct note_args	*a = r->args;
	struct rec_spec		 spec;
	struct proc		*p;

	(void)c;
	if (a->pid <= 0)
		return;
	if (a->id == 0 || rec_by_id(a->id) != NULL)
		return;
	memset(&spec, 0, sizeof spec);
	spec.entry = a->entry;
	spec.name = a->name;
	spec.parent = a->parent;
	if ((p = rec_new(a->id, &spec)) == NULL)
		return;
	if (life_isolate(p, a->pid, a->parent_pid) == -1)
		rec_free(p);
}

static const struct rq_field spawned_fields[] = {
	RQ_FIELD(struct note_args, id, "id", RQ_HEX, RQ_REQ, 0, 0),
	RQ_FIELD(struct note_args, pid, "pid", RQ_INT, RQ_REQ, 0, 0),
	RQ_FIELD(struct note_args, parent, "parent", RQ_HEX, 0, 0, 0),
	RQ_FIELD(struct note_args, entry, "entry", RQ_STR, 0, 0, 0),
	RQ_FIELD(struct note_args, parent_pid, "parent_pid", RQ_INT, 0, 0, 0),
	RQ_FIELD(struct note_args, name, "name", RQ_STR, RQ_NIL, 1,
	    NAME_MAX_LEN),
	RQ_END
};

const struct rq_entry rq_spawned = {
	.name = "spawned", .exec = op_spawned, .flags = RQ_NOREPLY,
	.size = sizeof(struct note_args), .fields = spawned_fields
};

/* The spawner saw it end: {"id", "code" or "signal", "with_spawner"}. */
static void
op_exited(struct sv_conn *c, const struct rq *r)
{
	const struct note_args	*a = r->args;

	(void)c;
	if (rec_is_command(r->target.rec))
		return;
	life_exited(r->target.rec, a->code, a->sig, a->with);
}

static const struct rq_field exited_fields[] = {
	RQ_FIELD_DEF(struct note_args, code, "code", RQ_INT, 0, 0, -1),
	RQ_FIELD_DEF(struct note_args, sig, "signal", RQ_INT, 0, 0, -1),
	RQ_FIELD(struct note_args, with, "with_spawner", RQ_BOOL, 0, 0, 0),
	RQ_END
};

const struct rq_entry rq_exited = {
	.name = "exited", .exec = op_exited, .flags = RQ_NOREPLY,
	.target = TGT_ID, .target_key = "id",
	.size = sizeof(struct note_args), .fields = exited_fields
};

/*
 * "spawning" and "listening": what an older library sends so that its
 * sockets are swept when their owners die. Sockets named by an id are
 * abstract now and leave nothing: accepted and ignored.
 */
static void
op_ignored(struct sv_conn *c, const struct rq *r)
{
	(void)c;
	(void)r;
}

const struct rq_entry rq_spawning = {
	.name = "spawning", .exec = op_ignored, .flags = RQ_NOREPLY
};

const struct rq_entry rq_listening = {
	.name = "listening", .exec = op_ignored, .flags = RQ_NOREPLY
};
