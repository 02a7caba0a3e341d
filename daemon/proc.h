/*
 * proc.h: the supervisor's record of one isolate, shared by the files
 * that act on it (proc.c, logs.c, mail.c, link.c). Internal to daemon/.
 */
#ifndef ISO_DAEMON_PROC_H
#define ISO_DAEMON_PROC_H

#include <limits.h>
#include <stdint.h>

#include "daemon.h"

struct event;
struct evbuffer;

/* running, restarting (waiting out a backoff), exited, failed */
enum pstate { P_RUNNING, P_RESTARTING, P_EXITED, P_FAILED };

/* A request waiting for a queue (a mailbox or an outbox) to fill. */
struct taker {
	struct sv_conn	*conn;
	struct event	*timer;
	struct mbox	*box;
	int		 max;
	int		 acks;		/* the client acknowledges */
	uint64_t	 after;		/* what it has already */
};

/* The connection of a --lines command's shepherd. */
struct link {
	int		 fd;
	struct event	*rev, *wev;
	struct evbuffer	*in, *out;
	struct proc	*proc;
	uint64_t	 sent;		/* the last seq of the mailbox sent */
	char		 run[17];	/* the shepherd's run: its output ids */
	iso_msg		*held;		/* a frame waiting for the outbox */
};

struct proc {
	uint64_t	 id;
	char		*name;
	int		 command;	/* else an isolate the library forked */
	iso_msg		*argv;		/* commands: list of strings */
	iso_msg		*env;		/* list of strings or nil */
	char		*cwd;
	char		*entry;		/* isolates: what they run */
	int		 restart;	/* index in restart_names */
	struct restart	 rs;

	enum pstate	 state;
	pid_t		 pid;		/* last known; 0 before ID.run */
	pid_t		 shepherd;	/* 0 when none runs */
	uint64_t	 pstart;	/* start time of the process we
					   watch by pid (shepherd or isolate) */
	int		 ours;		/* the shepherd is our child */
	uint64_t	 parent;
	pid_t		 parent_pid;	/* isolates: their spawner's, */
	uint64_t	 parent_start;	/* ... and its start time */
	int		 with_spawner;	/* ended because its spawner did */
	double		 started, ended;
	double		 restart_at;	/* restarting: when (Unix time) */
	int		 exit_code, sig;	/* -1: none */
	char		*error;
	int		 restarts, killed;
	struct event	*timer;		/* backoff, or SIGKILL after grace */
	int		 watch_fd;	/* pidfd on a process not our child */
	struct event	*watch_ev;
	int		 ready_fd;	/* shep_start's: the command runs */
	struct event	*ready_ev;
	struct sv_conn	*starter;	/* a spawn answered then */
	struct waiter	*waiters;
	struct mbox	*box;		/* commands: their mailbox */
	int		 box_limit;
	int		 box_sync;	/* fdatasync each record of its log */
	uint64_t	 box_id;
	struct taker	 take;		/* a "take" waiting for mail */
	int		 lines;		/* stdin/stdout are messages */
	struct mbox	*outbox;	/* lines: what it printed */
	struct taker	 recv;		/* a "recv" waiting for output */
	struct link	*link;		/* lines: its shepherd, attached */
	iso_msg		*left;		/* lines: output of ended runs not in
					   the outbox yet, [reqid, message]s
					   (ID.left) */
	struct proc	*next;
};

extern struct event_base	*proc_base;
extern char			 proc_dir[PATH_MAX];
extern struct proc		*proc_list;	/* newest first */

/* The record of id, or NULL. */
struct proc	*proc_by_id(uint64_t id);
/* The record req's "target" names, or NULL after answering ENOENT. */
struct proc	*proc_target(struct sv_conn *c, const iso_msg *req);
/* Save p to ID.json (a warning in the log when that fails). */
void		 proc_save(struct proc *p);
/* id as 16 hex digits in buf. */
char		*proc_hex(uint64_t id, char buf[17]);

/* mail.c: answer a waiting take or recv with an error, free its timer. */
void		 taker_end(struct taker *t, const char *why);
/* link.c: close the link to p's shepherd, if any. */
void		 link_free(struct proc *p);
/* link.c: a run of lines command p has ended and its shepherd wrote
   exit (ID.exit): ack what it read, put what it printed last into the
   outbox, before any output of a later run. */
void		 link_collect(struct proc *p, const iso_msg *exit);
/* link.c: p's outbox is open (a supervisor starts): take up ID.left. */
void		 link_adopt(struct proc *p);

#endif
