/*
 * daemon.h: isolated, the supervisor. What its modules share. Internal.
 *
 * One process, one libevent base (the library's, iso_event_base()), one
 * thread. Each command the supervisor runs has a shepherd: a process of
 * its own (forked from the daemon, not exec'd) that is the command's
 * parent, holds its stdio, writes its log and records its exit status in
 * the state directory, so that the command outlives a supervisor killed
 * with SIGKILL and a new supervisor can adopt it.
 *
 * State directory: <runtime dir>/supervisor/, mode 0700, holding per
 * isolate (ID is 16 lowercase hex digits):
 *   ID.json   the supervisor's record (spec, state, restarts), atomic
 *   ID.run    written by the shepherd once the command runs:
 *             {"pid": N, "shepherd": N}
 *   ID.exit   written by the shepherd when the command has ended:
 *             {"code": N|null, "signal": N|null, "error": "..."|null}
 *   ID.log    stdout and stderr of the command, ID.log.1 the older half
 * Every file is written to a .tmp name and renamed into place.
 */
#ifndef ISO_DAEMON_H
#define ISO_DAEMON_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "isolate.h"

struct event_base;

/* ---- child.c: reaping the daemon's own children ---------------------- */

/*
 * Call fn(pid, status, arg) from the loop once the child pid (a child of
 * this process) has ended and been reaped; status as from waitpid.
 * The daemon reaps with waitpid(-1, WNOHANG) on SIGCHLD: every child it
 * forks must be watched here or it is reaped and ignored.
 * 0, or -1 with ENOMEM.
 */
int	 child_watch(pid_t pid, void (*fn)(pid_t, int, void *), void *arg);
/* Stop watching pid (it is still reaped). */
void	 child_unwatch(pid_t pid);
/* Install the SIGCHLD handler on base. 0 or -1 with errno. */
int	 child_init(struct event_base *base);

/* ---- shepherd.c: one run of one command --------------------------------- */

struct shep_spec {
	uint64_t	  id;		/* the isolate's id: ISO_ISOLATE_ID */
	char *const	 *argv;		/* argv[0] searched in PATH */
	char *const	 *envp;		/* NULL: the daemon's environment */
	const char	 *cwd;		/* NULL: the daemon's (/ when detached) */
	const char	 *dir;		/* the state directory */
	size_t		  log_max;	/* rotate ID.log beyond this many bytes */
};

/*
 * Fork a shepherd for one run of spec's command and return its pid (a
 * child of the caller, to be watched with child_watch). The shepherd
 * removes stale ID.run and ID.exit, starts the command in a process group
 * of its own with stdin on /dev/null and stdout+stderr into ID.log, writes
 * ID.run, waits for it, writes ID.exit and exits 0. It survives the
 * daemon (own session, no death signal); the command dies with the
 * shepherd (PR_SET_PDEATHSIG). An exec failure is recorded in ID.exit as
 * {"code": 127, "signal": null, "error": "cannot run X: ..."}.
 * Signals to the shepherd: SIGTERM is passed to the command's process
 * group as SIGTERM, SIGUSR2 as SIGKILL.
 * -1 with fork's errno.
 */
pid_t	 shep_start(const struct shep_spec *spec);

/* ---- state.c: files in the state directory ----------------------------- */

/* <dir>/<ID><suffix> into buf. 0 or -1/ENAMETOOLONG. */
int	 state_path(const char *dir, uint64_t id, const char *suffix,
	    char *buf, size_t len);
/* Write m as JSON to path atomically (path.tmp, fsync, rename). 0/-1. */
int	 state_write(const char *path, const iso_msg *m);
/* Read the JSON file at path: an owned message, or NULL with errno
   (ENOENT when absent, EINVAL when it does not parse). */
iso_msg	*state_read(const char *path);

/* ---- compute.c: the compute service ------------------------------------ */

/*
 * Run one computation in a fresh process and call done(result, error,
 * arg) from the loop exactly once: result owned by done on success;
 * on failure result is NULL and error a one-line reason ("crashed:
 * SIGSEGV", "timed out after 5000 ms", "exited with status 3", "cannot
 * load m.so: ...", ...), borrowed for the call.
 *   so form:      module (a path to a shared object) and function, a
 *                 symbol of type iso_msg *(*)(const iso_msg *).
 *   command form: argv (module and function NULL); the argument is
 *                 written to its stdin as one line of JSON and its
 *                 stdout, once it exits 0, is the result: JSON if it
 *                 parses, else a string (one trailing newline dropped).
 * timeout_ms <= 0: no timeout. arg NULL is nil. Returns 0, or -1 with
 * errno (nothing will be called): EINVAL for a request that is neither
 * form, or the errno of pipe, fork, ...
 * Needs child_init: done follows the child's reaping. The computation runs
 * in a process group of its own and dies with the daemon; once its process
 * has ended (or timed out), whatever is left in its group is killed with
 * SIGKILL. A result (frame or output) over ISO_LIMIT_FRAME is an error and
 * kills it. Command output that is neither JSON nor UTF-8 comes back as
 * bytes.
 */
struct dc_req {
	const char	 *module;
	const char	 *function;
	char *const	 *argv;
	const iso_msg	 *arg;
	int		  timeout_ms;
};
int	 dc_start(const struct dc_req *req,
	    void (*done)(iso_msg *result, const char *error, void *arg),
	    void *arg);
/* Kill and reap every computation in flight (at daemon exit), blocking
   until each is reaped; done is called for each, before this returns,
   with the error "supervisor stopping". */
void	 dc_stop_all(void);

#endif
