/*
 * records.c: the table of every isolate the supervisor knows, and its
 * persistence: each record saved to ID.json on every change (so that a
 * supervisor started after a crash forgets nothing), read back at start,
 * looked up, shown as a row, trimmed to a bounded history. struct proc
 * lives here only; the other modules go through records.h.
 */
#include <sys/random.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "daemon.h"
#include "records.h"

size_t	rec_history_max = 1000;		/* ended commands remembered */
size_t	rec_isolate_history_max = 1000;	/* ended isolates of programs */
#define MAILBOX_MAX	256		/* messages a mailbox holds */

const char *const rec_state_names[] = { "running", "restarting",
    "exited", "failed", NULL };
const char *const restart_names[] = { "never", "on-failure", "always",
    NULL };

struct proc {
	uint64_t	 id;
	char		*name;
	int		 command;
	iso_msg		*argv;
	iso_msg		*env;
	char		*cwd;
	char		*entry;
	char		*sandbox;	/* commands: a profile, or NULL */
	enum restart_policy restart;
	int		 lines;
	int		 box_limit;
	int		 box_sync;
	uint64_t	 parent;
	uint64_t	 box_id;	/* as saved, before the box opens */
	unsigned	 limits;	/* bits of limit[] set */
	uint64_t	 limit[4];
	uint64_t	 max_memory;
	char		*reason;	/* why the last run ended, or NULL */
	struct rec_run	 run;
	struct mbox	*box;		/* commands: their mailbox */
	struct mbox	*outbox;	/* lines: what it printed */
	void		*slot[SLOT_MAX];
	int		 holds;
	struct proc	*next;
};

struct event_base	*rec_base;
char			 rec_dir[PATH_MAX];
int			 rec_dirfd = -1;
static struct proc	*recs;

/* What each slot's owner frees. */
static void (*const slot_forget[SLOT_MAX])(struct proc *) = {
	[SLOT_LIFE] = life_forget,
	[SLOT_MAIL] = mail_forget,
	[SLOT_LINK] = link_forget,
	[SLOT_WAIT] = wait_forget,
};

char *
rec_hex(uint64_t id, char buf[17])
{
	snprintf(buf, 17, "%016" PRIx64, id);
	return (buf);
}

const char *
rec_who(const struct proc *p, char *buf, size_t len)
{
	char	hex[17];

	if (p->name != NULL)
		snprintf(buf, len, "%s (%.64s)", rec_hex(p->id, hex), p->name);
	else
		snprintf(buf, len, "%s", rec_hex(p->id, hex));
	return (buf);
}

struct proc *rec_first(void) { return (recs); }
struct proc *rec_next(struct proc *p) { return (p->next); }
uint64_t rec_id(const struct proc *p) { return (p->id); }
const char *rec_name(const struct proc *p) { return (p->name); }
int rec_is_command(const struct proc *p) { return (p->command); }
const iso_msg *rec_argv(const struct proc *p) { return (p->argv); }
const iso_msg *rec_env(const struct proc *p) { return (p->env); }
const char *rec_cwd(const struct proc *p) { return (p->cwd); }
const char *rec_sandbox(const struct proc *p) { return (p->sandbox); }
const char *rec_entry(const struct proc *p) { return (p->entry); }
enum restart_policy rec_restart(const struct proc *p) { return (p->restart); }
int rec_lines(const struct proc *p) { return (p->lines); }
int rec_box_limit(const struct proc *p) { return (p->box_limit); }
struct rec_run *rec_run(struct proc *p) { return (&p->run); }
enum rec_state rec_state(const struct proc *p) { return (p->run.state); }
struct mbox *rec_box(const struct proc *p) { return (p->box); }
struct mbox *rec_outbox(const struct proc *p) { return (p->outbox); }
uint64_t rec_box_id(const struct proc *p) { return (p->box_id); }
void *rec_slot(const struct proc *p, enum rec_slot w) { return (p->slot[w]); }
void rec_set_slot(struct proc *p, enum rec_slot w, void *v) { p->slot[w] = v; }
void **rec_slot_ref(struct proc *p, enum rec_slot w) { return (&p->slot[w]); }
void rec_hold(struct proc *p) { p->holds++; }
void rec_release(struct proc *p) { p->holds--; }

int
rec_live(const struct proc *p)
{
	return (p->run.state == REC_RUNNING ||
	    p->run.state == REC_RESTARTING);
}

void
rec_drop_name(struct proc *p)
{
	free(p->name);
	p->name = NULL;
	rec_save(p);
}

void
rec_set_error(struct proc *p, const char *text)
{
	free(p->run.error);
	p->run.error = text != NULL ? strdup(text) : NULL;
}

unsigned
rec_limits(const struct proc *p, uint64_t limit[])
{
	memcpy(limit, p->limit, sizeof p->limit);
	return (p->limits);
}

uint64_t rec_max_memory(const struct proc *p) { return (p->max_memory); }
const char *rec_reason(const struct proc *p) { return (p->reason); }

void
rec_set_reason(struct proc *p, const char *text)
{
	free(p->reason);
	p->reason = text != NULL ? strdup(text) : NULL;
}

/* In the order of enum iso_rlimit, as rows and requests name them. */
static const char *const limit_keys[] = { "memory", "cpu", "nofile",
    "nproc" };

/* {"memory": {"value": N, "by": "setrlimit"}, ...} of p's limits. */
static iso_msg *
rec_limits_row(const struct proc *p)
{
	iso_msg		*m;
	unsigned	 cg = cg_usable(NULL), i;

	if ((m = iso_msg_pack("{}")) == NULL)
		return (NULL);
	for (i = 0; i < 4; i++)
		if ((p->limits & (1u << i)) && iso_msg_put(m,
		    iso_msg_pack("s", limit_keys[i]), iso_msg_pack(
		    "{s:U s:s}", "value", p->limit[i], "by", (cg & (1u << i)) ?
		    "setrlimit+cgroup" : "setrlimit")) == -1)
			goto fail;
	if (p->max_memory != 0 && iso_msg_put(m, iso_msg_pack("s",
	    "max_memory"), iso_msg_pack("{s:U s:s}", "value", p->max_memory,
	    "by", "supervisor")) == -1)
		goto fail;
	return (m);
fail:
	iso_msg_free(m);
	return (NULL);
}

/* p's limits back from the row saved (rec_limits_row). */
static void
rec_limits_load(struct proc *p, const iso_msg *m)
{
	const iso_msg	*lim = iso_msg_get(m, "limits");
	uint64_t	 v;
	unsigned	 i;

	if (lim == NULL || iso_msg_type(lim) != ISO_MAP)
		return;
	for (i = 0; i < 4; i++)
		if (iso_msg_unpack(lim, "{s:{s:U}}", limit_keys[i], "value",
		    &v) == 0 && v != 0) {
			p->limit[i] = v;
			p->limits |= 1u << i;
		}
	if (iso_msg_unpack(lim, "{s:{s:U}}", "max_memory", "value", &v) == 0)
		p->max_memory = v;
}

size_t
rec_count(void)
{
	struct proc	*p;
	size_t		 n = 0;

	for (p = recs; p != NULL; p = p->next)
		n++;
	return (n);
}

struct proc *
rec_by_id(uint64_t id)
{
	struct proc	*p;

	for (p = recs; p != NULL; p = p->next)
		if (p->id == id)
			return (p);
	return (NULL);
}

struct proc *
rec_by_name(const char *name)
{
	struct proc	*p, *ended = NULL;

	for (p = recs; p != NULL; p = p->next) {
		if (p->name == NULL || strcmp(p->name, name) != 0)
			continue;
		if (rec_live(p))
			return (p);
		if (ended == NULL)
			ended = p;
	}
	return (ended);
}

struct proc *
rec_by_pid(pid_t pid)
{
	struct proc	*p;

	for (p = recs; p != NULL; p = p->next)
		if (p->run.state == REC_RUNNING && p->run.pid == pid)
			return (p);
	return (NULL);
}

struct proc *
rec_by_box(uint64_t id)
{
	struct proc	*p;

	for (p = recs; p != NULL; p = p->next)
		if (p->box != NULL && mbox_id(p->box) == id)
			return (p);
	return (NULL);
}

int
rec_running(uint64_t id)
{
	struct proc	*p = rec_by_id(id);

	return (p != NULL && p->run.state == REC_RUNNING);
}

static uint64_t
rec_new_id(void)
{
	uint64_t	id = 0;

	while (id == 0 || rec_by_id(id) != NULL)
		if (getrandom(&id, sizeof id, 0) != sizeof id)
			id = 0;
	return (id);
}

struct proc *
rec_new(uint64_t id, const struct rec_spec *s)
{
	struct proc	*p;

	if ((p = calloc(1, sizeof *p)) == NULL)
		return (NULL);
	p->id = id != 0 ? id : rec_new_id();
	p->run.exit_code = p->run.sig = -1;
	p->run.rs.backoff_ms = 100;
	p->run.rs.backoff_max_ms = 30000;
	p->run.rs.reset_ms = 10000;
	p->run.rs.max_restarts = 5;
	p->run.rs.period_ms = 10000;
	p->box_limit = MAILBOX_MAX;
	if (s == NULL)
		return (p);
	p->command = s->command;
	p->restart = s->restart;
	p->lines = s->lines;
	p->box_sync = s->box_sync;
	p->parent = s->parent;
	p->limits = s->limits;
	memcpy(p->limit, s->limit, sizeof p->limit);
	p->max_memory = s->max_memory;
	if (s->box_limit > 0)
		p->box_limit = s->box_limit;
	if ((s->name != NULL && (p->name = strdup(s->name)) == NULL) ||
	    (s->cwd != NULL && (p->cwd = strdup(s->cwd)) == NULL) ||
	    (s->entry != NULL && (p->entry = strdup(s->entry)) == NULL) ||
	    (s->sandbox != NULL && (p->sandbox = strdup(s->sandbox)) ==
	    NULL) ||
	    (s->argv != NULL && (p->argv = iso_msg_copy(s->argv)) == NULL) ||
	    (s->env != NULL && iso_msg_type(s->env) == ISO_LIST &&
	    (p->env = iso_msg_copy(s->env)) == NULL)) {
		rec_free(p);
		errno = ENOMEM;
		return (NULL);
	}
	return (p);
}

int
rec_set_policy(struct proc *p, const iso_msg *req)
{
	static const char *const keys[] = { "backoff_ms", "backoff_max_ms",
	    "reset_ms", "max_restarts", "period_ms", "mailbox" };
	int		*fields[] = { &p->run.rs.backoff_ms,
	    &p->run.rs.backoff_max_ms, &p->run.rs.reset_ms,
	    &p->run.rs.max_restarts, &p->run.rs.period_ms, &p->box_limit };
	const iso_msg	*v;
	int64_t		 x;
	size_t		 i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		if ((v = iso_msg_get(req, keys[i])) == NULL)
			continue;
		if (iso_msg_int(v, &x) == -1 || x < 0 || x > 86400000 ||
		    (fields[i] == &p->box_limit && x > 1000000)) {
			errno = EINVAL;
			return (-1);
		}
		if (x > 0)
			*fields[i] = (int)x;
	}
	if (p->run.rs.backoff_max_ms < p->run.rs.backoff_ms)
		p->run.rs.backoff_max_ms = p->run.rs.backoff_ms;
	return (restart_init(&p->run.rs));
}

int
rec_open_boxes(struct proc *p, uint64_t box_id, int fresh)
{
	int	rc = 0;

	if ((fresh || box_id != 0) && (p->box = mbox_open(rec_dir, p->id,
	    NULL, box_id, (size_t)p->box_limit)) == NULL) {
		log_warn("isolate %016" PRIx64 ": mailbox: %s", p->id,
		    strerror(errno));
		rc = -1;
	}
	if (p->lines && (rc == 0 || !fresh) && (p->outbox = mbox_open(rec_dir,
	    p->id, ".outbox", 0, (size_t)p->box_limit)) == NULL) {
		log_warn("isolate %016" PRIx64 ": outbox: %s", p->id,
		    strerror(errno));
		rc = -1;
	}
	if (p->box != NULL)
		mbox_set_sync(p->box, p->box_sync);
	if (p->outbox != NULL)
		mbox_set_sync(p->outbox, p->box_sync);
	return (rc);
}

void
rec_add(struct proc *p)
{
	p->next = recs;
	recs = p;
}

void
rec_free(struct proc *p)
{
	int	i;

	for (i = 0; i < SLOT_MAX; i++)
		if (p->slot[i] != NULL)
			slot_forget[i](p);
	mbox_free(p->box, 0);
	mbox_free(p->outbox, 0);
	free(p->name);
	iso_msg_free(p->argv);
	iso_msg_free(p->env);
	free(p->cwd);
	free(p->entry);
	free(p->sandbox);
	free(p->run.error);
	free(p->reason);
	restart_clear(&p->run.rs);
	free(p);
}

/* 1 if pid is stopped (paused: SIGSTOP), as /proc says now. */
static int
rec_stopped(pid_t pid)
{
	char	 path[64], buf[512], *p;
	ssize_t	 n;
	int	 fd;

	if (pid <= 0)
		return (0);
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	while ((n = read(fd, buf, sizeof buf - 1)) == -1 && errno == EINTR)
		;
	close(fd);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	return ((p = strrchr(buf, ')')) != NULL && p[1] == ' ' &&
	    p[2] == 'T');
}

int
rec_paused(struct proc *p)
{
	return (p->run.state == REC_RUNNING && rec_stopped(p->run.pid));
}

void
rec_learn_pid(struct proc *p)
{
	char		 path[PATH_MAX];
	iso_msg		*m;
	int64_t		 pid;

	if (!p->command || p->run.pid != 0 || p->run.state != REC_RUNNING ||
	    state_path(rec_dir, p->id, ".run", path, sizeof path) == -1 ||
	    (m = state_read(path)) == NULL)
		return;
	if (iso_msg_unpack(m, "{s:I}", "pid", &pid) == 0 && pid > 0) {
		p->run.pid = (pid_t)pid;
		rec_save(p);
	}
	iso_msg_free(m);
}

iso_msg *
rec_row(struct proc *p)
{
	struct rec_run	*r = &p->run;
	char		 hex[17], phex[17];
	iso_msg		*m;

	rec_learn_pid(p);
	m = iso_msg_pack("{s:s s:s? s:i s:s? s:s s:O? s:s? s:s s:f s:f s:i "
	    "s:s? s:s}",
	    "id", rec_hex(p->id, hex), "name", p->name, "pid", (int)r->pid,
	    "parent", p->parent != 0 ? rec_hex(p->parent, phex) : NULL,
	    "kind", p->command ? "command" : "isolate",
	    "command", p->argv, "entry", p->entry,
	    "state", rec_state_names[r->state], "started", r->started,
	    "ended", r->ended, "restarts", r->restarts, "error", r->error,
	    "restart", restart_names[p->restart]);
	if (m == NULL)
		return (NULL);
	if ((p->command && iso_msg_put(m, iso_msg_pack("s", "lines"),
	    iso_msg_pack("b", p->lines)) == -1) ||
	    (p->command && iso_msg_put(m, iso_msg_pack("s", "sandbox"),
	    iso_msg_pack("s?", p->sandbox)) == -1) ||
	    (p->outbox != NULL && iso_msg_put(m, iso_msg_pack("s", "outbox"),
	    iso_msg_pack("i", (int)mbox_len(p->outbox))) == -1) ||
	    (p->box != NULL && (iso_msg_put(m, iso_msg_pack("s", "mailbox"),
	    iso_msg_pack("i", (int)mbox_len(p->box))) == -1 ||
	    iso_msg_put(m, iso_msg_pack("s", "port"), iso_msg_pack("P",
	    mbox_port(p->box))) == -1)) ||
	    (!p->command && iso_msg_put(m, iso_msg_pack("s",
	    "ended_with_spawner"), iso_msg_pack("b", r->with_spawner)) == -1) ||
	    iso_msg_put(m, iso_msg_pack("s", "paused"), iso_msg_pack("b",
	    rec_paused(p))) == -1 ||
	    iso_msg_put(m, iso_msg_pack("s", "exit_code"), r->exit_code >= 0 ?
	    iso_msg_pack("i", r->exit_code) : iso_msg_pack("n")) == -1 ||
	    iso_msg_put(m, iso_msg_pack("s", "signal"), r->sig > 0 ?
	    iso_msg_pack("i", r->sig) : iso_msg_pack("n")) == -1 ||
	    (p->command && (iso_msg_put(m, iso_msg_pack("s", "limits"),
	    rec_limits_row(p)) == -1 || iso_msg_put(m, iso_msg_pack("s",
	    "reason"), iso_msg_pack("s?", p->reason)) == -1))) {
		iso_msg_free(m);
		return (NULL);
	}
	return (m);
}

/* The record saved in ID.json: the row plus what adoption needs. */
void
rec_save(struct proc *p)
{
	struct rec_run	*r = &p->run;
	char		 path[PATH_MAX];
	iso_msg		*m;

	if ((m = rec_row(p)) == NULL ||
	    iso_msg_put(m, iso_msg_pack("s", "env"), p->env != NULL ?
	    iso_msg_copy(p->env) : iso_msg_pack("n")) == -1 ||
	    iso_msg_put(m, iso_msg_pack("s", "cwd"), iso_msg_pack("s?",
	    p->cwd)) == -1 ||
	    iso_msg_put(m, iso_msg_pack("s", "policy"), iso_msg_pack(
	    "{s:i s:i s:i s:i s:i s:i s:b s:i s:U s:b s:f s:b}", "backoff_ms",
	    r->rs.backoff_ms,
	    "backoff_max_ms", r->rs.backoff_max_ms, "reset_ms", r->rs.reset_ms,
	    "max_restarts", r->rs.max_restarts, "period_ms", r->rs.period_ms,
	    "next_backoff", r->rs.next, "killed", r->killed, "mailbox",
	    p->box_limit, "mailbox_id", p->box != NULL ? mbox_id(p->box) :
	    p->box_id, "lines", p->lines, "restart_at", r->restart_at,
	    "mailbox_sync", p->box_sync)) == -1 ||
	    iso_msg_put(m, iso_msg_pack("s", "watch"), iso_msg_pack(
	    "{s:i s:U s:i s:U}", "pid", (int)(p->command ? r->shepherd :
	    r->pid), "start", r->pstart, "parent_pid", (int)r->parent_pid,
	    "parent_start", r->parent_start)) == -1 ||
	    state_path(rec_dir, p->id, ".json", path, sizeof path) == -1 ||
	    state_write(path, m) == -1)
		log_warn("cannot save isolate %016" PRIx64 ": %s", p->id,
		    strerror(errno));
	iso_msg_free(m);
}

/* A list of strings (copied), else NULL. */
static iso_msg *
strlist_copy(const iso_msg *m)
{
	size_t		 i, len;
	const char	*s;

	if (m == NULL || iso_msg_type(m) != ISO_LIST)
		return (NULL);
	for (i = 0; i < iso_msg_len(m); i++)
		if ((s = iso_msg_str(iso_msg_at(m, i), &len)) == NULL ||
		    strlen(s) != len)
			return (NULL);
	return (iso_msg_copy(m));
}

/* A string of m (copied), else NULL. */
static char *
str_copy(const iso_msg *m, const char *key)
{
	const iso_msg	*v = iso_msg_get(m, key);
	const char	*s;

	return (v != NULL && (s = iso_msg_str(v, NULL)) != NULL ?
	    strdup(s) : NULL);
}

/* The index of m's key among names, else def. */
static int
name_index(const iso_msg *m, const char *key, const char *const *names,
    int def)
{
	const char	*s;
	int		 i;

	if (iso_msg_unpack(m, "{s:s}", key, &s) == -1)
		return (def);
	for (i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0)
			return (i);
	return (def);
}

/* Rebuild a record from ID.json; NULL when it does not parse. */
static struct proc *
rec_load(const char *path)
{
	struct rec_run	*r;
	iso_msg		*m;
	const iso_msg	*v, *pol;
	const char	*s;
	struct proc	*p = NULL;
	int64_t		 x;
	uint64_t	 id, start = 0;

	if ((m = state_read(path)) == NULL)
		return (NULL);
	if (iso_msg_unpack(m, "{s:s}", "id", &s) == -1 ||
	    (id = strtoull(s, NULL, 16)) == 0 || rec_by_id(id) != NULL ||
	    (p = rec_new(id, NULL)) == NULL)
		goto fail;
	r = &p->run;
	pol = iso_msg_get(m, "policy");
	if (pol == NULL || rec_set_policy(p, pol) == -1)
		goto fail;
	(void)iso_msg_unpack(pol, "{s?i s?b s?U s?b s?f s?b}", "next_backoff",
	    &r->rs.next, "killed", &r->killed, "mailbox_id", &p->box_id,
	    "lines", &p->lines, "restart_at", &r->restart_at, "mailbox_sync",
	    &p->box_sync);
	p->command = iso_msg_unpack(m, "{s:s}", "kind", &s) == 0 &&
	    strcmp(s, "command") == 0;
	p->name = str_copy(m, "name");
	p->entry = str_copy(m, "entry");
	p->sandbox = str_copy(m, "sandbox");
	p->cwd = str_copy(m, "cwd");
	p->argv = strlist_copy(iso_msg_get(m, "command"));
	p->env = strlist_copy(iso_msg_get(m, "env"));
	if (p->command && p->argv == NULL)
		goto fail;
	if ((v = iso_msg_get(m, "parent")) != NULL && (s = iso_msg_str(v,
	    NULL)) != NULL)
		p->parent = strtoull(s, NULL, 16);
	(void)iso_msg_unpack(m, "{s?f s?f s?i s?i}", "started", &r->started,
	    "ended", &r->ended, "restarts", &r->restarts, "pid", &r->pid);
	if ((v = iso_msg_get(m, "exit_code")) != NULL &&
	    iso_msg_int(v, &x) == 0)
		r->exit_code = (int)x;
	if ((v = iso_msg_get(m, "signal")) != NULL && iso_msg_int(v, &x) == 0)
		r->sig = (int)x;
	r->error = str_copy(m, "error");
	p->reason = str_copy(m, "reason");
	rec_limits_load(p, m);
	r->state = (enum rec_state)name_index(m, "state", rec_state_names,
	    REC_RUNNING);
	p->restart = (enum restart_policy)name_index(m, "restart",
	    restart_names, RESTART_NEVER);
	x = 0;
	(void)iso_msg_unpack(m, "{s:{s?I s?U s?i s?U}}", "watch", "pid", &x,
	    "start", &start, "parent_pid", &r->parent_pid, "parent_start",
	    &r->parent_start);
	(void)iso_msg_unpack(m, "{s?b}", "ended_with_spawner",
	    &r->with_spawner);
	r->pstart = start;
	if (p->command)
		r->shepherd = (pid_t)x;
	iso_msg_free(m);
	return (p);
fail:
	iso_msg_free(m);
	if (p != NULL)
		rec_free(p);
	return (NULL);
}

int
rec_load_all(void)
{
	DIR		*dp;
	struct dirent	*de;
	struct proc	*p, *loaded = NULL;
	char		 path[PATH_MAX];
	int		 n;

	if ((dp = opendir(rec_dir)) == NULL)
		return (-1);
	while ((de = readdir(dp)) != NULL) {
		if (strlen(de->d_name) != 16 + 5 ||
		    strcmp(de->d_name + 16, ".json") != 0)
			continue;
		n = snprintf(path, sizeof path, "%s/%s", rec_dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof path)
			continue;
		if ((p = rec_load(path)) == NULL) {
			log_warn("%s: unreadable, ignored", path);
			continue;
		}
		p->next = loaded;
		loaded = p;
	}
	closedir(dp);
	/* In the order the directory gave them, as before. */
	while ((p = loaded) != NULL) {
		loaded = p->next;
		rec_add(p);
	}
	return (0);
}

int
rec_forget(struct proc *p)
{
	static const char *const suffixes[] = { ".json", ".run", ".exit",
	    ".log", ".log.1", ".mbox", ".outbox", ".left" };
	struct proc	**pp;
	char		  path[PATH_MAX];
	size_t		  i;

	if (rec_live(p) || p->holds > 0) {
		errno = EBUSY;
		return (-1);
	}
	for (pp = &recs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	for (i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++)
		if (state_path(rec_dir, p->id, suffixes[i], path,
		    sizeof path) == 0)
			(void)unlink(path);
	rec_free(p);
	return (0);
}

/*
 * Forget the oldest ended records of one kind (commands, or isolates of
 * programs) beyond max: each kind has its own bound, so that a program
 * forking many short-lived isolates never pushes a command out.
 */
static void
rec_trim_kind(int command, size_t max)
{
	struct proc	*p, *oldest;
	size_t		 ended = 0;

	for (p = recs; p != NULL; p = p->next)
		if (p->command == command && p->run.state >= REC_EXITED)
			ended++;
	while (ended > max) {
		oldest = NULL;
		for (p = recs; p != NULL; p = p->next)
			if (p->command == command &&
			    p->run.state >= REC_EXITED && p->holds == 0 &&
			    (oldest == NULL || p->run.ended <
			    oldest->run.ended))
				oldest = p;
		if (oldest == NULL || rec_forget(oldest) == -1)
			break;
		ended--;
	}
}

void
rec_trim(void)
{
	rec_trim_kind(1, rec_history_max);
	rec_trim_kind(0, rec_isolate_history_max);
}

void
rec_free_all(void)
{
	struct proc	*p;

	while ((p = recs) != NULL) {
		recs = p->next;
		rec_free(p);
	}
}
