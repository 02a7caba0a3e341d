/*
 * records.h: the supervisor's record of one isolate (records.c), read
 * and changed through these calls only. Internal to daemon/.
 *
 * A record holds what was asked (struct rec_spec, fixed once made), what
 * is known of its latest run (struct rec_run), its queues (a command's
 * mailbox, a --lines command's outbox) and one opaque slot per module
 * that keeps state of its own per isolate (lifecycle.c's timers and
 * watchers, mail.c's waiting takers, link.c's link, proc_ops.c's
 * waiters). The slot's owner allocates it and frees it when the record
 * goes (records.c calls each module's forget function).
 */
#ifndef ISO_DAEMON_RECORDS_H
#define ISO_DAEMON_RECORDS_H

#include <sys/types.h>

#include <limits.h>
#include <stdint.h>

#include "daemon.h"

struct proc;

/* running, restarting (waiting out a backoff), exited, failed */
enum rec_state { REC_RUNNING, REC_RESTARTING, REC_EXITED, REC_FAILED };

/* What a record is made from. Strings and lists are copied. */
struct rec_spec {
	int		 command;	/* else an isolate the library forked */
	const char	*name;		/* NULL: none */
	const iso_msg	*argv;		/* commands: list of strings */
	const iso_msg	*env;		/* list of strings, or NULL */
	const char	*cwd;
	const char	*entry;		/* isolates: what they run */
	enum restart_policy restart;
	int		 lines;		/* stdin/stdout are messages */
	int		 box_limit;	/* messages its mailbox holds */
	int		 box_sync;	/* fdatasync each record of its log */
	uint64_t	 parent;	/* isolates: their spawner's id */
	/* commands: limits, bit (1 << enum iso_rlimit) of limit[] set;
	   max_memory: restart once its RSS passes that many bytes (0: no) */
	unsigned	 limits;
	uint64_t	 limit[4];
	uint64_t	 max_memory;
	const char	*sandbox;	/* commands: a profile, NULL: none */
};

/* What is known of the latest run; lifecycle.c changes it, then calls
   rec_save. error is owned (rec_set_error). */
struct rec_run {
	enum rec_state	 state;
	pid_t		 pid;		/* last known; 0 before ID.run */
	pid_t		 shepherd;	/* 0 when none runs */
	uint64_t	 pstart;	/* start time of the process we
					   watch by pid (shepherd or isolate) */
	pid_t		 parent_pid;	/* isolates: their spawner's, */
	uint64_t	 parent_start;	/* ... and its start time */
	int		 with_spawner;	/* ended because its spawner did */
	double		 started, ended;
	double		 restart_at;	/* restarting: when (Unix time) */
	int		 exit_code, sig;	/* -1: none */
	char		*error;
	int		 restarts, killed;
	int		 over_memory;	/* ended by rss.c: reason is set */
	struct restart	 rs;		/* backoff and intensity */
};

/* The modules that keep a slot in each record. */
enum rec_slot { SLOT_LIFE, SLOT_MAIL, SLOT_LINK, SLOT_WAIT, SLOT_MAX };

/* Settings: the state directory (its path, and its descriptor, which
   shepherds inherit), the base, ended isolates kept. */
extern struct event_base	*rec_base;
extern char			 rec_dir[PATH_MAX];
extern int			 rec_dirfd;

/* A new record (not in the table yet), with the default policy: NULL
   with errno. id 0: a fresh random id. */
struct proc	*rec_new(uint64_t id, const struct rec_spec *spec);
/* Set the policy numbers of req's keys (absent or 0: keep the default;
   out of bounds: -1/EINVAL): backoff_ms, backoff_max_ms, reset_ms,
   max_restarts, period_ms, mailbox. */
int		 rec_set_policy(struct proc *p, const iso_msg *req);
/* Put p in the table (newest first); rec_drop takes it out and frees. */
void		 rec_add(struct proc *p);
void		 rec_free(struct proc *p);
/* Read every ID.json in rec_dir into the table: what an earlier
   supervisor left. 0 or -1. */
int		 rec_load_all(void);
/* Save p to ID.json (a warning in the log when that fails). */
void		 rec_save(struct proc *p);
/* Forget the oldest ended commands beyond rec_history_max and the
   oldest ended isolates of programs beyond rec_isolate_history_max
   (each with its files); a held record is kept. */
void		 rec_trim(void);
/* Take ended record p out of the table, remove its files (ID.json, its
   logs, its mailbox's and outbox's) and free it. -1 with EBUSY when it
   is running or restarting, or held. */
int		 rec_forget(struct proc *p);
/* Forget every record (at exit). */
void		 rec_free_all(void);

/* Walking the table, newest first. */
struct proc	*rec_first(void);
struct proc	*rec_next(struct proc *p);
size_t		 rec_count(void);

/* Lookups (no resolution rules: target.c has those). */
struct proc	*rec_by_id(uint64_t id);
/* The record named name, running or restarting first, else the newest
   ended one; NULL. */
struct proc	*rec_by_name(const char *name);
/* The running record whose process is pid; NULL. */
struct proc	*rec_by_pid(pid_t pid);
/* The record whose mailbox listens as isolate id; NULL. */
struct proc	*rec_by_box(uint64_t id);
/* 1 if id is a known record that runs. */
int		 rec_running(uint64_t id);

/* The record's parts. */
uint64_t	 rec_id(const struct proc *p);
const char	*rec_name(const struct proc *p);
/* An ended record gives its name up (another may take it). */
void		 rec_drop_name(struct proc *p);
int		 rec_is_command(const struct proc *p);
const iso_msg	*rec_argv(const struct proc *p);
const iso_msg	*rec_env(const struct proc *p);
const char	*rec_cwd(const struct proc *p);
const char	*rec_sandbox(const struct proc *p);	/* NULL: none */
/* Isolates: what they run (NULL for commands). */
const char	*rec_entry(const struct proc *p);
enum restart_policy rec_restart(const struct proc *p);
int		 rec_lines(const struct proc *p);
int		 rec_box_limit(const struct proc *p);
struct rec_run	*rec_run(struct proc *p);
enum rec_state	 rec_state(const struct proc *p);
/* 1 while running or restarting. */
int		 rec_live(const struct proc *p);
void		 rec_set_error(struct proc *p, const char *text);
/* Limits: the bits set, limit[] filled (4 values); bytes of RSS that
   restart it (0: none). */
unsigned	 rec_limits(const struct proc *p, uint64_t limit[]);
uint64_t	 rec_max_memory(const struct proc *p);
/* Why its last run ended, in words, when a limit (or --max-memory)
   ended it; NULL otherwise. Copied. */
const char	*rec_reason(const struct proc *p);
void		 rec_set_reason(struct proc *p, const char *text);

/* Queues: opened by lifecycle.c, freed with the record. */
struct mbox	*rec_box(const struct proc *p);
struct mbox	*rec_outbox(const struct proc *p);
/* The id the mailbox had when the record was saved (0: none). */
uint64_t	 rec_box_id(const struct proc *p);
/* Open p's mailbox and, for lines, its outbox: fresh, a new mailbox
   (box_id 0: a new id); else the one an earlier supervisor kept as
   box_id (0: none). 0, or -1 with errno (logged). */
int		 rec_open_boxes(struct proc *p, uint64_t box_id, int fresh);

/* The row of p, as iso_sup_list documents it (owned; NULL: ENOMEM). */
iso_msg		*rec_row(struct proc *p);
/* The pid from ID.run once the shepherd has written it. */
void		 rec_learn_pid(struct proc *p);
/* 1 if p runs but is stopped (paused), as /proc says now. */
int		 rec_paused(struct proc *p);

/* A module's slot. */
void		*rec_slot(const struct proc *p, enum rec_slot which);
void		 rec_set_slot(struct proc *p, enum rec_slot which, void *v);
/* Where the slot is kept (for a module that keeps a list there). */
void		**rec_slot_ref(struct proc *p, enum rec_slot which);
/* A hold keeps an ended record from being trimmed (a waiter). */
void		 rec_hold(struct proc *p);
void		 rec_release(struct proc *p);

/* id as 16 hex digits in buf. */
char		*rec_hex(uint64_t id, char buf[17]);
/* "ID (NAME)", or "ID", in buf: p for an error line. */
const char	*rec_who(const struct proc *p, char *buf, size_t len);

/* rss.c: watch the RSS of commands with a max_memory (started once
   one exists; stops itself when none runs). */
void		 rss_watch(void);

/* The slots' owners: free what they keep for p (called by rec_free). */
void		 life_forget(struct proc *p);
void		 mail_forget(struct proc *p);
void		 link_forget(struct proc *p);
void		 wait_forget(struct proc *p);
/* proc_ops.c: p has ended for good: answer who waits for it. */
void		 wait_ended(struct proc *p);

/* link.c: give lines command p its slot. 0 or -1/ENOMEM. */
int		 link_new(struct proc *p);
/* link.c: a run of lines command p has ended and its shepherd wrote
   exit (ID.exit): ack what it read, put what it printed last into the
   outbox, before any output of a later run. */
void		 link_collect(struct proc *p, const iso_msg *exit);
/* link.c: p's outbox is open (a supervisor starts): take up ID.left. */
void		 link_adopt(struct proc *p);

/* lifecycle.c: call fn(p) when a record has ended for good (exited or
   failed, no restart to come), before the history is trimmed. */
void		 life_on_end(void (*fn)(struct proc *));
/* Command p (new, not in the table) is added and run (paused: its first
   run stopped before exec); c is answered with its id once it runs (or
   could not start). 0, or -1/ENOMEM (p is the caller's still). */
int		 life_spawn(struct proc *p, struct sv_conn *c, int paused);
/* Isolate p (new, not in the table), process pid, spawned by ppid, is
   added and watched until it ends. 0, or -1/ENOMEM (the caller's). */
int		 life_isolate(struct proc *p, pid_t pid, pid_t ppid);
/* Its spawner says isolate p has ended (code, or sig > 0). */
void		 life_exited(struct proc *p, int code, int sig,
		    int with_spawner);
/* Kill p: SIGKILL, or graceful (SIGTERM, SIGKILL after the grace); one
   waiting out a backoff is not restarted. 0, or -1 with ESRCH when it
   is not running (or its process is gone). */
int		 life_kill(struct proc *p, int graceful);
/* Send sig to running p: SIGSTOP (pause), SIGCONT (resume), 0 (is it
   there?), to a command's process group or an isolate's process. 0, or
   -1 with ESRCH (not running), EAGAIN (a command not started yet). */
int		 life_control(struct proc *p, int sig);
/*
 * Restart command p by hand: a running one is ended (SIGTERM, SIGKILL
 * after the grace; now: SIGKILL) and run again at once whatever its
 * policy, an ended or restarting one is run now; backoff and intensity
 * start over. c is answered with its id once the new run runs (or could
 * not start). 0, or -1 with EINVAL (an isolate of a program, not a
 * command), EBUSY (a spawn or restart of it is under way), ECANCELED
 * (the supervisor is stopping), or the error of the signal.
 */
int		 life_restart(struct proc *p, int now, struct sv_conn *c);

#endif
