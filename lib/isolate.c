/*
 * isolate.c: spawning isolates (fork, or fork and exec), their handles,
 * Isolate.kill, exit and error listeners, reaping, Isolate.exit, and a
 * spawner's end taking its isolates with it.
 *
 * Each child is watched in one epoll instance of ours, itself watched by
 * one event of the loop (which does not keep iso_run going): an isolate
 * spawned on a socketpair by the spawner's end of it (its hangup: the
 * isolate's end closes when it exits), anything else, or an isolate whose
 * pair closed while it runs, by a pidfd. The child is reaped with waitid
 * by pidfd or by pid (ours, unreaped: its pid cannot be reused): the
 * library waits for no pid but its own isolates' and never touches
 * SIGCHLD, so a program's own children stay its own. A pidfd costs a
 * descriptor in the spawner, which every later isolate inherits and
 * closes: watching the pair it already has halves that. Where pidfd_open
 * is missing (Linux < 5.3, valgrind < 3.20) a timer polls by pid, with
 * WNOHANG, each child that has neither. A handle lives while the program
 * holds it or its child is unreaped, whichever is longer.
 */
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "attr.h"
#include "cgroup.h"
#include "hot.h"
#include "loop.h"
#include "msg.h"
#include "rlimit.h"
#include "sandbox.h"
#include "spawn.h"
#include "supproto.h"

#define ISO_P_PIDFD	((idtype_t)3)	/* P_PIDFD (Linux 5.4), whatever
					   the headers say */
#define INIT_FD		3		/* iso_spawn_exec's argument */
#define NOTE_FD		4		/* ... and its note (attr.h) */
#define EXEC_HIGH_FD	10		/* exec_child's descriptors go above
					   this before taking their places */
#define REAP_BATCH	64		/* pidfds polled at once */
#define POLL_MS		20		/* without pidfds: how often */

#ifndef SYS_pidfd_open
#define SYS_pidfd_open		434	/* the same on every architecture */
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal	424
#endif

extern char	**environ;

/* Why we killed an isolate (iso_isolate.killed; 0: we did not). */
#define KILLED_BY_CALL		1	/* iso_kill, or a failed spawn */
#define KILLED_WITH_SPAWNER	2	/* its spawner's end (kill_all) */

/* An exit listener (msg: the response) or an error listener (msg NULL). */
struct listener {
	int			 error;
	iso_sendport		 to;
	iso_msg			*msg;
	STAILQ_ENTRY(listener)	 link;
};
STAILQ_HEAD(listeners, listener);

struct iso_isolate {
	pid_t			 pid;
	int			 pidfd;		/* -1 once reaped, or when
						   there are no pidfds */
	uint64_t		 id;		/* the child's isolate id */
	uint64_t		 owner;		/* the id of its spawner: in a
						   new isolate, the spawner's
						   handles are not its own */
	int			 watched;	/* in reap_ep: its pidfd, or ... */
	int			 pairfd;	/* ... our end of its pair, not
						   ours to close (conn.c's);
						   -1: not watched so */
	int			 held;		/* the program holds the handle */
	int			 ended;		/* reaped: code and status set */
	int			 code;		/* CLD_EXITED, CLD_KILLED,
						   CLD_DUMPED; 0 unknown */
	int			 status;	/* exit status or signal */
	int			 killed;	/* KILLED_*: not an error */
	char			*name;		/* iso_spawn_attr_set_name */
	int			 paused;	/* iso_pause, or spawned paused */
	int			 notefd;	/* read end of its note, -1 */
	char			*note;		/* "desc\0detail" it left */
	struct listeners	 listeners;
	LIST_ENTRY(iso_isolate)	 link;
};

/* What the child of isolate_start does, and what it needs. */
struct start {
	void		(*child)(struct start *);
	uint64_t	 id;
	int		 flags;		/* ISOLATE_* */
	int		 pairfd;	/* the child's end of the pair */
	int		 ourfd;		/* ours (conn.c's), -1 */
	uint64_t	 spawner;	/* our id, for the child */
	sigset_t	 mask;		/* the caller's, restored in both */
	iso_isolate	*iso;
	const iso_spawn_attr *attr;	/* NULL: none */
	int		 notefd;	/* the child's end of its note, -1 */
	const char	*cgroup;	/* to enter before the entry, NULL */
	/* fork */
	void		(*fn)(void *);
	void		*ctx;
	const void	*entry;		/* what it runs, for the supervisor */
	/* exec */
	char *const	*argv;
	char		**envp;
	int		 memfd;
	int		 errfd;
};

struct spawn_ctx {
	void		(*entry)(const iso_msg *);
	const iso_msg	*arg;
};

static LIST_HEAD(, iso_isolate)	isolates = LIST_HEAD_INITIALIZER(isolates);
static pid_t			owner;		/* whose children these are */
static int			no_pidfd;	/* pidfd_open: ENOSYS */
static int			reap_ep = -1;	/* epoll of our children's
						   pidfds */
static struct event		*reap_ev;	/* ... readable: one ended */
static int			prebound;	/* isolate_prebind done */
static struct event		*poll_ev;	/* ... so poll by pid */
static iso_msg			*initial;	/* iso_initial_message */
static int			initial_done, initial_errno;


/* A handle of the isolate that spawned us (or of its spawner...). */
static int
isolate_foreign(const iso_isolate *iso)
{
	return (iso->owner != loop_self());
}

static int
sys_pidfd_open(pid_t pid)
{
	return ((int)syscall(SYS_pidfd_open, pid, 0));	/* O_CLOEXEC */
}

/* Signal our unreaped child: its pid cannot have been reused, unless
   the program reaped it behind our back (waitpid(-1)): then it is no
   longer our child, which waitid tells without reaping. */
static int
isolate_signal(const iso_isolate *iso, int sig)
{
	siginfo_t	si;

	if (iso->ended || isolate_foreign(iso)) {
		errno = ESRCH;
		return (-1);
	}
	if (iso->pidfd == -1) {
		if (waitid(P_PID, (id_t)iso->pid, &si, WEXITED | WNOHANG |
		    WNOWAIT) == -1) {
			errno = ESRCH;
			return (-1);
		}
		return (kill(iso->pid, sig));
	}
	return ((int)syscall(SYS_pidfd_send_signal, iso->pidfd, sig, NULL,
	    0));
}

const char *
isolate_signame(int sig, char *buf, size_t len)
{
	const char	*abbrev = NULL;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || \
    (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	abbrev = sigabbrev_np(sig);
#endif
	if (abbrev != NULL)
		snprintf(buf, len, "SIG%s", abbrev);
	else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, len, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, len, "SIG%d", sig);
	return (buf);
}

static void
listeners_free(struct listeners *ls)
{
	struct listener	*l;

	while ((l = STAILQ_FIRST(ls)) != NULL) {
		STAILQ_REMOVE_HEAD(ls, link);
		iso_msg_free(l->msg);
		evmem_free(l);
	}
}

/*
 * Call, to no effect, what a new isolate calls that we may not have yet
 * (loop_graceful's signal calls, the sending path): a first call binds
 * its symbol, and after fork that writes (copies) the GOT page and ld.so's
 * pages in every child. Nothing to do where symbols are bound at load.
 */
static void
isolate_prebind(void)
{
	struct sigaction	sa;
	sigset_t		set;

	sigemptyset(&set);
	(void)syscall(SYS_getppid);		/* the calls right after the
						   fork, all through it */
	(void)sigaction(SIGTERM, NULL, &sa);	/* a query */
	(void)fcntl(-1, F_GETFD);		/* EBADF */
	(void)madvise(NULL, 0, MADV_NORMAL);	/* conn.c's scratch */
	conn_prebind();
}

/* Stop watching iso and close its pidfd. */
static void
isolate_unwatch(iso_isolate *iso)
{
	if (iso->watched)
		(void)epoll_ctl(reap_ep, EPOLL_CTL_DEL, iso->pairfd != -1 ?
		    iso->pairfd : iso->pidfd, NULL);
	iso->watched = 0;
	iso->pairfd = -1;
	loop_fd_close(iso->pidfd);
	iso->pidfd = -1;
}

static void
isolate_free(iso_isolate *iso)
{
	if (iso->notefd != -1) {	/* never started, or not reaped */
		rlimit_drop(iso);
		close(iso->notefd);
	}
	free(iso->name);
	free(iso->note);
	evmem_free(iso);
}

/* Free iso once nothing needs it: not held, and reaped. Our spawner's
   handles stay as they are in our copy of its memory. */
static void
isolate_release(iso_isolate *iso)
{
	if (iso->held || !iso->ended || isolate_foreign(iso))
		return;
	LIST_REMOVE(iso, link);
	listeners_free(&iso->listeners);
	isolate_unwatch(iso);
	isolate_free(iso);
}

/* 1 if iso's end is an error for its error listeners. */
static int
isolate_abnormal(const iso_isolate *iso)
{
	if (iso->killed)
		return (0);	/* iso_kill is not an error (Dart's rule) */
	if (iso->code == CLD_EXITED)
		return (iso->status != 0);
	return (iso->code == CLD_KILLED || iso->code == CLD_DUMPED);
}

/* "isolate 123" or "isolate 123 (name)", in buf. */
static const char *
isolate_who(const iso_isolate *iso, char *buf, size_t len)
{
	if (iso->name != NULL)
		snprintf(buf, len, "isolate %d (%s)", (int)iso->pid, iso->name);
	else
		snprintf(buf, len, "isolate %d", (int)iso->pid);
	return (buf);
}

/* [desc, detail] for an abnormal end: the note the isolate left when it
   could name the cause (attr.h), else what waitid said. */
static void
isolate_describe(const iso_isolate *iso, char *desc, size_t dlen,
    char *detail, size_t tlen)
{
	char	who[300];

	isolate_who(iso, who, sizeof who);
	if (iso->note != NULL) {
		snprintf(desc, dlen, "%s", iso->note);
		snprintf(detail, tlen, "%s %s", who,
		    iso->note + strlen(iso->note) + 1);
		return;
	}
	switch (iso->code) {
	case CLD_EXITED:
		snprintf(desc, dlen, "exit %d", iso->status);
		snprintf(detail, tlen, "%s exited with status %d", who,
		    iso->status);
		break;
	case CLD_KILLED:
	case CLD_DUMPED:
		isolate_signame(iso->status, desc, dlen);
		snprintf(detail, tlen, "%s killed by signal %d (%s)%s", who,
		    iso->status, strsignal(iso->status),
		    iso->code == CLD_DUMPED ? ", core dumped" : "");
		break;
	default:
		snprintf(desc, dlen, "unknown");
		snprintf(detail, tlen, "%s ended, reaped by someone else",
		    who);
		break;
	}
}

/* Send what iso's listeners wait for; it has ended. Empties the list. */
static void
isolate_fire(iso_isolate *iso)
{
	struct listener	*l;
	iso_msg		*m;
	char		 desc[ATTR_NOTE_MAX], detail[ATTR_NOTE_MAX + 320];
	int		 abnormal = isolate_abnormal(iso);

	if (abnormal)
		isolate_describe(iso, desc, sizeof desc, detail,
		    sizeof detail);
	while ((l = STAILQ_FIRST(&iso->listeners)) != NULL) {
		STAILQ_REMOVE_HEAD(&iso->listeners, link);
		if (!l->error)
			(void)port_send_ended(l->to, iso->id, iso->pid,
			    l->msg);
		else if (abnormal &&
		    (m = iso_msg_pack("[ss]", desc, detail)) != NULL) {
			(void)port_send_ended(l->to, iso->id, iso->pid, m);
			iso_msg_free(m);
		}
		iso_msg_free(l->msg);
		evmem_free(l);
	}
}

/* iso's note becomes [desc, detail], kept as "desc\0detail". */
static void
isolate_note_set(iso_isolate *iso, const char *desc, const char *detail)
{
	size_t	dl = strlen(desc), tl = strlen(detail);

	free(iso->note);
	if ((iso->note = malloc(dl + tl + 2)) == NULL)
		return;
	memcpy(iso->note, desc, dl + 1);
	memcpy(iso->note + dl + 1, detail, tl + 1);
}

/* Keep the note iso left before it died, if any. */
static void
isolate_note(iso_isolate *iso)
{
	char	desc[ATTR_NOTE_MAX], detail[ATTR_NOTE_MAX];

	if (attr_note_read(iso->notefd, desc, sizeof desc, detail,
	    sizeof detail))
		isolate_note_set(iso, desc, detail);
}

/* A limit's words for iso's end (rlimit.c: a SIGXCPU at its CPU limit,
   an OOM kill in its cgroup) replace its note. */
static void
isolate_limit_ended(iso_isolate *iso)
{
	char	desc[ATTR_NOTE_MAX], detail[ATTR_NOTE_MAX];

	if (rlimit_ended(iso, iso->code, iso->status, iso->note != NULL,
	    desc, sizeof desc, detail, sizeof detail))
		isolate_note_set(iso, desc, detail);
}

/*
 * iso has been reaped: record how it ended, stop watching it, fire its
 * listeners (or drop them). iso may be freed on return unless the caller holds it.
 */
static void
isolate_ended(iso_isolate *iso, int code, int status, int fire)
{
	iso->ended = 1;
	iso->code = code;
	iso->status = status;
	if (iso->notefd != -1) {
		isolate_note(iso);
		close(iso->notefd);
		iso->notefd = -1;
		isolate_limit_ended(iso);
	}
	sup_note_exited(iso->id, code, status,
	    iso->killed == KILLED_WITH_SPAWNER);
	isolate_unwatch(iso);		/* before the pair may be closed */
	conn_pair_reaped(iso->id);
	if (fire)
		isolate_fire(iso);
	else
		listeners_free(&iso->listeners);
	isolate_release(iso);
}

/*
 * Reap iso if it has ended (block: wait until it has). 1 when reaped
 * (iso may then be freed unless held), 0 while it runs.
 */
static int
isolate_reap(iso_isolate *iso, int block, int fire)
{
	siginfo_t	si;
	int		rc;

	if (iso->ended || isolate_foreign(iso))
		return (1);
	memset(&si, 0, sizeof si);
	do
		rc = iso->pidfd != -1 ?
		    waitid(ISO_P_PIDFD, (id_t)iso->pidfd, &si,
		    WEXITED | (block ? 0 : WNOHANG)) :
		    waitid(P_PID, (id_t)iso->pid, &si,
		    WEXITED | (block ? 0 : WNOHANG));
	while (rc == -1 && errno == EINTR);
	if (rc == -1) {
		/* ECHILD: someone waited for any child and took ours. */
		isolate_ended(iso, 0, 0, fire);
		return (1);
	}
	if (si.si_pid == 0)
		return (0);
	isolate_ended(iso, si.si_code, si.si_status, fire);
	return (1);
}

static int	isolate_watch(struct event_base *, iso_isolate *);

/*
 * iso's pair hung up, or is being closed, while iso may still run (it
 * closed its end, or we drop the connection): watch it by a pidfd from
 * now on, or by the polling timer where there is none.
 */
static void
isolate_watch_pid(iso_isolate *iso)
{
	int	fd = -1;

	(void)epoll_ctl(reap_ep, EPOLL_CTL_DEL, iso->pairfd, NULL);
	iso->watched = 0;
	iso->pairfd = -1;
	if (!no_pidfd) {
		if ((fd = sys_pidfd_open(iso->pid)) == -1 && errno == ENOSYS)
			no_pidfd = 1;
		else if (fd != -1 && loop_fd_own(fd) == -1) {
			close(fd);
			fd = -1;
		}
	}
	iso->pidfd = fd;
	(void)isolate_watch(loop_base(), iso);
}

void
isolate_pair_closing(uint64_t id)
{
	iso_isolate	*iso;

	LIST_FOREACH(iso, &isolates, link)
		if (iso->id == id) {
			if (iso->pairfd != -1)
				isolate_watch_pid(iso);
			return;
		}
}

/* Reap every child whose pidfd is readable or whose pair hung up,
   without waiting. */
static void
isolate_reap_ready(void)
{
	struct epoll_event	ev[REAP_BATCH];
	iso_isolate		*iso;
	int			n, i;

	do {
		while ((n = epoll_wait(reap_ep, ev, REAP_BATCH, 0)) == -1 &&
		    errno == EINTR)
			;
		/* reaping one frees no other, so ev[] stays good */
		for (i = 0; i < n; i++)
			if (!isolate_reap(iso = ev[i].data.ptr, 0, 1) &&
			    iso->pairfd != -1)
				isolate_watch_pid(iso);
	} while (n == REAP_BATCH);
}

static void
isolate_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	isolate_reap_ready();
}

/* Without pidfds: reap by pid what has ended; stop when none is left. */
static void
isolate_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	iso_isolate	*iso, *next;
	int		 left = 0;

	(void)fd;
	(void)what;
	(void)arg;
	for (iso = LIST_FIRST(&isolates); iso != NULL; iso = next) {
		next = LIST_NEXT(iso, link);
		if (!iso->ended && iso->pidfd == -1 && iso->pairfd == -1)
			left += !isolate_reap(iso, 0, 1);
	}
	if (left == 0 && poll_ev != NULL) {
		event_free(poll_ev);
		poll_ev = NULL;
	}
}

/* Watch iso: its pair or its pidfd, else the polling timer. 0 or -1. */
static int
isolate_watch(struct event_base *base, iso_isolate *iso)
{
	struct timeval		tv = { 0, POLL_MS * 1000 };
	struct epoll_event	ev;

	if (iso->pidfd != -1 || iso->pairfd != -1) {
		if (reap_ep == -1) {
			if ((reap_ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
				return (-1);
			if (loop_fd_own(reap_ep) == -1 ||
			    (reap_ev = event_new(base, reap_ep, EV_READ |
			    EV_PERSIST, isolate_watch_cb, NULL)) == NULL ||
			    event_add(reap_ev, NULL) == -1) {
				if (reap_ev != NULL)
					event_free(reap_ev);
				reap_ev = NULL;
				loop_fd_close(reap_ep);
				reap_ep = -1;
				return (-1);
			}
		}
		memset(&ev, 0, sizeof ev);
		/* a pidfd is readable once its process has ended; a pair
		   hangs up once the other end is closed (as it exits) */
		ev.events = iso->pairfd != -1 ? EPOLLRDHUP : EPOLLIN;
		ev.data.ptr = iso;
		if (epoll_ctl(reap_ep, EPOLL_CTL_ADD, iso->pairfd != -1 ?
		    iso->pairfd : iso->pidfd, &ev) == -1)
			return (-1);
		iso->watched = 1;
		return (0);
	}
	if (poll_ev != NULL)
		return (0);
	if ((poll_ev = event_new(base, -1, EV_PERSIST, isolate_poll_cb,
	    NULL)) == NULL)
		return (-1);
	if (event_add(poll_ev, &tv) == -1) {
		event_free(poll_ev);
		poll_ev = NULL;
		return (-1);
	}
	return (0);
}

/*
 * Reap whatever has ended without running the loop, so that a program
 * that never runs it does not pile up zombies: one epoll_wait, whatever
 * the number of children (by pid, one at a time, without pidfds).
 */
static void
isolate_reap_some(void)
{
	iso_isolate	*iso, *next;

	if (reap_ep != -1)
		isolate_reap_ready();
	if (!no_pidfd)
		return;
	for (iso = LIST_FIRST(&isolates); iso != NULL; iso = next) {
		next = LIST_NEXT(iso, link);
		if (!iso->ended && iso->pidfd == -1 && iso->pairfd == -1)
			isolate_reap(iso, 0, 1);
	}
}

ISO_HOT void
isolate_kill_all(void)
{
	iso_isolate	*iso, *next;

	/* A plain fork() of the spawner ending: those are not its own. */
	if (owner != loop_pid())
		return;
	for (iso = LIST_FIRST(&isolates); iso != NULL; iso = next) {
		next = LIST_NEXT(iso, link);
		if (iso->ended)
			continue;
		iso->killed = KILLED_WITH_SPAWNER;
		(void)isolate_signal(iso, SIGKILL);
		isolate_reap(iso, 1, 0);
	}
}

ISO_HOT void
isolate_forget(void)
{
	/* Our spawner's isolates are our siblings: let them be. */
	loop_keep(LIST_FIRST(&isolates));
	loop_keep(initial);
	loop_keep(reap_ev);
	loop_keep(poll_ev);
	LIST_INIT(&isolates);
	rlimit_forget();
	reap_ep = -1;
	reap_ev = NULL;
	poll_ev = NULL;
	compute_forget();
	pool_forget();
	/* A spawned isolate has no initial message (and must not read the
	   spawner's descriptor 3 if the spawner has not yet). */
	initial = NULL;
	initial_done = 1;
	initial_errno = ENOENT;
}

/* ---- pause and resume ---------------------------------------------------- */

/*
 * Wait until iso (ours, unreaped, sent SIGSTOP or stopping itself) is
 * stopped: iso->paused then. If it ends instead it is left to the reaper
 * (WNOWAIT) and iso->paused stays 0.
 */
static void
isolate_until_stopped(iso_isolate *iso)
{
	siginfo_t	si;
	int		rc;

	memset(&si, 0, sizeof si);
	do
		rc = iso->pidfd != -1 ?
		    waitid(ISO_P_PIDFD, (id_t)iso->pidfd, &si,
		    WSTOPPED | WEXITED | WNOWAIT) :
		    waitid(P_PID, (id_t)iso->pid, &si,
		    WSTOPPED | WEXITED | WNOWAIT);
	while (rc == -1 && errno == EINTR);
	iso->paused = rc == 0 && si.si_code == CLD_STOPPED;
}

/* 0 if iso is our child and has not ended (reaping it if it has), else
   -1 with EINVAL or ESRCH and a line for op. */
static int
isolate_live(iso_isolate *iso, const char *op)
{
	if (iso == NULL)
		return (msg_fail(EINVAL, "%s: no isolate", op));
	if (isolate_foreign(iso))
		return (msg_fail(ESRCH, "%s: isolate %d is not ours", op,
		    (int)iso->pid));
	if (isolate_reap(iso, 0, 1))
		return (msg_fail(ESRCH, "%s: isolate %d has ended", op,
		    (int)iso->pid));
	return (0);
}

int
iso_pause(iso_isolate *iso)
{
	int	saved;

	if (isolate_live(iso, "pause") == -1)
		return (-1);
	if (iso->paused)
		return (0);
	if (isolate_signal(iso, SIGSTOP) == -1) {
		saved = errno;
		return (msg_fail(saved, "pause: isolate %d: %s", (int)iso->pid,
		    strerror(saved)));
	}
	isolate_until_stopped(iso);
	if (!iso->paused)
		return (msg_fail(ESRCH, "pause: isolate %d has ended",
		    (int)iso->pid));
	return (0);
}

int
iso_resume(iso_isolate *iso)
{
	int	saved;

	if (isolate_live(iso, "resume") == -1)
		return (-1);
	/* Sent whether or not we paused it: a stop from elsewhere ends too. */
	if (isolate_signal(iso, SIGCONT) == -1) {
		saved = errno;
		return (msg_fail(saved, "resume: isolate %d: %s",
		    (int)iso->pid, strerror(saved)));
	}
	iso->paused = 0;
	return (0);
}

int
isolate_target(iso_isolate *iso, uint64_t *id, pid_t *pid)
{
	if (isolate_live(iso, "ping") == -1)
		return (-1);
	*id = iso->id;
	*pid = iso->pid;
	return (0);
}

/* ---- starting a child -------------------------------------------------- */

static int
listener_add(iso_isolate *iso, int error, iso_sendport to,
    const iso_msg *response)
{
	struct listener	*l;

	if ((l = evmem_calloc(sizeof *l)) == NULL)
		return (msg_fail(ENOMEM, "listener: out of memory"));
	if (!error && (l->msg = response != NULL ? iso_msg_copy(response) :
	    iso_msg_pack("n")) == NULL) {
		evmem_free(l);
		return (msg_fail(ENOMEM, "listener: out of memory"));
	}
	l->error = error;
	l->to = to;
	STAILQ_INSERT_TAIL(&iso->listeners, l, link);
	return (0);
}

/* 1 when a's isolate gets a note pipe: attr.h's, or an exec paused
   before it runs (its exec failing is told as a note: no one waits on
   its error pipe then). */
static int
isolate_wants_note(const iso_spawn_attr *a, int exec)
{
	return (attr_wants_note(a) || (exec && a != NULL && a->paused));
}

/* What st->attr gives the new handle before the child exists: its name,
   its listeners (so none can miss its end) and its note pipe. */
static int
isolate_new_attr(struct start *st)
{
	const iso_spawn_attr	*a = st->attr;
	iso_isolate		*iso = st->iso;
	int			 fds[2];

	if (a == NULL)
		return (0);
	if (a->name != NULL && (iso->name = strdup(a->name)) == NULL)
		return (msg_fail(ENOMEM, "spawn: out of memory"));
	if ((a->on_exit && listener_add(iso, 0, a->exit_to,
	    a->exit_msg) == -1) || (a->on_error && listener_add(iso, 1,
	    a->error_to, NULL) == -1))
		return (-1);
	if (!isolate_wants_note(a, st->argv != NULL))
		return (0);
	if (attr_note_pipe(fds) == -1)
		return (msg_fail(errno, "spawn: pipe: %s", strerror(errno)));
	iso->notefd = fds[0];
	st->notefd = fds[1];
	/* Its limits kept apart from the handle (rlimit.c), and a cgroup. */
	if (a->limits != 0 && rlimit_keep(iso, st->id, a->limits, a->limit,
	    &st->cgroup) == -1)
		return (msg_fail(ENOMEM, "spawn: out of memory"));
	return (0);
}

/* st->iso, a new handle, and st->pairfd, the child's end of its pair
   when st asks for one (-1: none). 0, or -1 with iso_error(). */
static int
isolate_new(struct start *st)
{
	iso_isolate	*iso;
	int		 saved, sv[2];

	if ((iso = evmem_calloc(sizeof *iso)) == NULL)
		return (msg_fail(ENOMEM, "spawn: out of memory"));
	STAILQ_INIT(&iso->listeners);
	iso->pidfd = -1;
	iso->pairfd = -1;
	iso->notefd = -1;
	iso->id = st->id;
	iso->owner = st->spawner = loop_self();
	iso->held = 1;
	st->iso = iso;
	st->pairfd = -1;
	st->ourfd = -1;
	st->notefd = -1;
	if (isolate_new_attr(st) == -1) {
		saved = errno;
		if (st->notefd != -1)
			close(st->notefd);
		listeners_free(&iso->listeners);
		isolate_free(iso);
		errno = saved;
		return (-1);
	}
	if (!(st->flags & ISOLATE_PAIR))
		return (0);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sv) == -1) {
		saved = errno;
		msg_fail(saved, "spawn: socketpair: %s", strerror(saved));
		goto fail;
	}
	if (conn_pair(sv[0], st->id) == -1) {	/* closes sv[0] */
		saved = errno;
		close(sv[1]);
		msg_fail(saved, "spawn: %s", iso_error());
		goto fail;
	}
	st->pairfd = sv[1];
	st->ourfd = sv[0];
	return (0);
fail:
	if (st->notefd != -1)
		close(st->notefd);
	listeners_free(&iso->listeners);
	isolate_free(iso);
	errno = saved;
	return (-1);
}

/*
 * Fork st's child with every signal blocked (the old mask in st->mask,
 * for the caller to restore once the child is watched); the child runs
 * st->child and never returns. In the parent the child's end of the pair
 * is closed. The pid, or -1 with fork's errno. Not inlined: the child
 * returns from fork here, which must be with the rest of its path.
 */
static ISO_HOT __attribute__((noinline)) pid_t
isolate_fork_child(struct start *st, pid_t parent)
{
	sigset_t	all;
	pid_t		pid;
	int		saved;

	fflush(NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &st->mask);
	loop_spawning(1);
	if ((pid = fork()) == 0) {
		(void)syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
		if (syscall(SYS_getppid) != parent)
			syscall(SYS_exit_group, 1);	/* the spawner is gone */
		st->child(st);
		_exit(1);
	}
	saved = errno;
	loop_spawning(0);
	if (st->pairfd != -1)
		close(st->pairfd);
	if (st->notefd != -1)
		close(st->notefd);
	errno = saved;
	return (pid);
}

/* *pidfd, a pidfd on pid (our child, unreaped), owned by the loop; -1
   where the kernel has none (we poll by pid). 0, or -1 with errno once
   the child is killed and reaped. */
static int
isolate_pidfd(pid_t pid, int *pidfd)
{
	int	saved;

	if (no_pidfd || ((*pidfd = sys_pidfd_open(pid)) == -1 &&
	    errno == ENOSYS)) {
		no_pidfd = 1;
		*pidfd = -1;
		return (0);
	}
	if (*pidfd != -1 && loop_fd_own(*pidfd) == 0)
		return (0);
	saved = errno;
	if (*pidfd != -1)
		close(*pidfd);
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	errno = saved;
	return (-1);
}

/*
 * Fork, and run st->child in the child. The child dies with us: with
 * PR_SET_PDEATHSIG if we die (or if the thread calling this ends), killed
 * and reaped at our exit. Signals stay blocked until the pidfd is open, so
 * no handler of the program can run in this thread (and reap the pid) in
 * between.
 *
 * Every page either process writes while they share it is copied, so
 * what can be made before fork is (the handle, the connection to the
 * child), and the child calls only functions that we have called (a
 * first call binds its symbol, writing pages): syscall() for prctl and
 * getppid.
 */
static int
isolate_start(struct start *st, iso_isolate **out)
{
	struct event_base	*base;
	iso_isolate		*iso;
	pid_t			 parent, pid;
	int			 pidfd = -1, saved, paired, bypair;

	if ((base = loop_base()) == NULL || iso_runtime_dir() == NULL)
		return (-1);
	if (!prebound) {
		isolate_prebind();
		prebound = 1;
	}
	isolate_reap_some();
	if (isolate_new(st) == -1)
		return (-1);
	iso = st->iso;
	paired = st->pairfd != -1;
	/* watched by its pair: no pidfd unless the pair goes first */
	bypair = paired && (st->flags & ISOLATE_WATCH);
	parent = loop_pid();
	if ((pid = isolate_fork_child(st, parent)) == -1 ||
	    (!bypair && isolate_pidfd(pid, &pidfd) == -1)) {
		saved = errno;
		pthread_sigmask(SIG_SETMASK, &st->mask, NULL);
		if (paired)
			conn_unpair(st->id);
		listeners_free(&iso->listeners);
		isolate_free(iso);
		return (msg_fail(saved, "spawn: %s: %s", pid == -1 ? "fork" :
		    "pidfd_open", strerror(saved)));
	}
	pthread_sigmask(SIG_SETMASK, &st->mask, NULL);

	iso->pid = pid;
	iso->pidfd = pidfd;
	if (bypair)
		iso->pairfd = st->ourfd;
	owner = parent;
	LIST_INSERT_HEAD(&isolates, iso, link);
	if ((st->flags & ISOLATE_WATCH) && isolate_watch(base, iso) == -1) {
		iso->killed = KILLED_BY_CALL;
		(void)isolate_signal(iso, SIGKILL);
		isolate_reap(iso, 1, 0);
		iso->held = 0;
		isolate_release(iso);
		return (msg_fail(ENOMEM, "spawn: cannot watch the child"));
	}
	sup_note_spawned(iso->id, pid, st->entry, st->argv != NULL ?
	    st->argv[0] : NULL, iso->name);
	if (st->attr != NULL && st->attr->paused)
		isolate_until_stopped(iso);
	*out = iso;
	return (0);
}

/*
 * In a new isolate: fd moved down to the lowest free descriptor. The
 * spawner's numbers run high (a pair and a pidfd an isolate), and
 * libevent sizes a table by the highest descriptor it watches: at 1 KiB,
 * that allocation would first consolidate the spawner's free chunks,
 * writing (copying) pages all over the heap we share with it.
 */
static int
isolate_lowfd(int fd)
{
	int	low;

	if ((low = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		return (fd);
	if (low > fd) {
		close(low);
		return (fd);
	}
	close(fd);
	return (low);
}

/* In a new isolate whose options could not be taken: say why (as its
   note, and on stderr) and end with status 127, as exec's failure. */
static void
isolate_child_failed(void)
{
	char	detail[ATTR_NOTE_MAX];

	snprintf(detail, sizeof detail, "could not start: %s",
	    iso_error()[0] != '\0' ? iso_error() : strerror(errno));
	attr_note_write("spawn failed", detail);
	_exit(127);
}

/*
 * In the child of isolate_fork: become an isolate, run fn. The spawner's
 * handle on us (st->iso) is left alone, as is all its state.
 */
static ISO_HOT void
fork_child(struct start *st)
{
	void	(*fn)(void *) = st->fn;
	void	*ctx = st->ctx;

	/* through syscall(), bound in the spawner, as the calls right
	   after the fork: a first call of pthread_sigmask here would map
	   a page of the C library's code again */
	(void)syscall(SYS_rt_sigprocmask, SIG_SETMASK, &st->mask, NULL,
	    (size_t)(_NSIG / 8));
	loop_child(st->id, (st->flags & ISOLATE_WATCH) != 0);
	if (st->pairfd != -1)
		conn_spawner(isolate_lowfd(st->pairfd), st->spawner);
	if (attr_note_child(st->notefd, -1) == -1 ||
	    (st->cgroup != NULL && cg_enter(st->cgroup) == -1) ||
	    attr_child(st->attr, 0) == -1)
		isolate_child_failed();
	if (st->attr != NULL && st->attr->paused)	/* iso_resume goes on */
		(void)syscall(SYS_kill, (pid_t)syscall(SYS_getpid), SIGSTOP);
	fn(ctx);
	loop_exit(0);
}

int
isolate_fork(void (*fn)(void *), void *ctx, int flags,
    const iso_spawn_attr *a, const void *entry, iso_isolate **out)
{
	struct start	st;

	memset(&st, 0, sizeof st);
	st.attr = a;
	st.child = fork_child;
	st.id = loop_new_id();
	st.flags = flags;
	st.fn = fn;
	st.ctx = ctx;
	st.entry = entry;
	return (isolate_start(&st, out));
}

static ISO_HOT void
spawn_entry(void *arg)
{
	struct spawn_ctx	*c = arg;

	c->entry(c->arg);
	iso_run();
}

int
iso_spawn(void (*entry)(const iso_msg *), const iso_msg *arg,
    iso_isolate **out)
{
	return (iso_spawn_with(entry, arg, NULL, out));
}

int
iso_spawn_with(void (*entry)(const iso_msg *), const iso_msg *arg,
    const iso_spawn_attr *a, iso_isolate **out)
{
	struct spawn_ctx	 c;
	iso_isolate		*iso;

	if (entry == NULL)
		return (msg_fail(EINVAL, "spawn: no entry function"));
	/* entry reads arg in its copy of memory: a value being filled in
	   place (iso_bytes_new) is not in that copy until sealed. */
	if (arg != NULL && (arg->flags & MSG_MFD) && msg_mfd_freeze(arg) == -1)
		return (-1);
	c.entry = entry;
	c.arg = arg;
	if (isolate_fork(spawn_entry, &c, ISOLATE_PAIR | ISOLATE_WATCH, a,
	    (const void *)(uintptr_t)entry, &iso) == -1)
		return (-1);
	if (out != NULL)
		*out = iso;
	else
		iso_isolate_free(iso);
	return (0);
}

/* In the child of a paused iso_spawn_exec whose exec failed once resumed:
   the note "spawn failed", "could not exec PROG: ENAME" (async-signal-safe:
   no formatting calls). */
static void
exec_failed_note(const char *prog, int e)
{
	char		 buf[ATTR_NOTE_MAX];
	const char	*name = NULL;
	size_t		 n = 0, i;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || \
    (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	name = strerrorname_np(e);
#endif
	for (i = 0; "could not exec "[i] != '\0'; i++)
		buf[n++] = "could not exec "[i];
	for (i = 0; prog[i] != '\0' && n < 160; i++)
		buf[n++] = prog[i];
	buf[n++] = ':';
	buf[n++] = ' ';
	if (name != NULL)
		for (i = 0; name[i] != '\0' && n < sizeof buf - 1; i++)
			buf[n++] = name[i];
	else {
		buf[n++] = 'e';
		buf[n++] = 'r';
		buf[n++] = 'r';
		buf[n++] = 'n';
		buf[n++] = 'o';
		buf[n++] = ' ';
		if (e >= 100)
			buf[n++] = (char)('0' + e / 100 % 10);
		if (e >= 10)
			buf[n++] = (char)('0' + e / 10 % 10);
		buf[n++] = (char)('0' + e % 10);
	}
	buf[n] = '\0';
	attr_note_write("spawn failed", buf);
}

/*
 * In the child of iso_spawn_exec: default signals, an empty mask, the
 * argument on descriptor 3 and exec. Only async-signal-safe calls: the
 * spawner may have threads. Reports exec's errno on errfd.
 */
static void
exec_child(struct start *st)
{
	struct sigaction	sa;
	sigset_t		none;
	int			sig, efd = st->errfd, e, memfd;
	int			notefd = -1;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);	/* EINVAL for
								   libc's own */
	/* Out of the way of the places they take (3 and 4) first. */
	if ((efd = fcntl(efd, F_DUPFD_CLOEXEC, EXEC_HIGH_FD)) == -1) {
		efd = st->errfd;
		goto fail;
	}
	if ((memfd = fcntl(st->memfd, F_DUPFD_CLOEXEC, EXEC_HIGH_FD)) == -1 ||
	    (st->notefd != -1 && (notefd = fcntl(st->notefd,
	    F_DUPFD_CLOEXEC, EXEC_HIGH_FD)) == -1))
		goto fail;
	if (dup2(memfd, INIT_FD) == -1)		/* not CLOEXEC */
		goto fail;
	if (attr_note_child(notefd, notefd != -1 ? NOTE_FD : -1) == -1 ||
	    (st->cgroup != NULL && cg_enter(st->cgroup) == -1) ||
	    attr_child(st->attr, 1) == -1)
		goto fail;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (st->attr != NULL && st->attr->paused) {
		/* Stopped, we must not hold what exec would have closed (the
		   spawner's connections: their peers would miss its EOF); and
		   the spawner no longer reads efd once we are stopped. */
		attr_close_cloexec(-1);
		(void)kill(getpid(), SIGSTOP);
		execvpe(st->argv[0], st->argv, st->envp);
		exec_failed_note(st->argv[0], errno);
		_exit(127);
	}
	execvpe(st->argv[0], st->argv, st->envp);
fail:
	e = errno;
	(void)!write(efd, &e, sizeof e);
	_exit(127);
}

/*
 * environ without our variables, plus ISO_INIT_FD and ISO_ISOLATE_ID,
 * ISO_NOTE_FD when the isolate has a note (attr.h), and ISO_NAME (*namevar,
 * owned by the caller) when it has a name: exec drops PR_SET_NAME's, and
 * the library takes it again from there (loop.c, loop_self).
 */
static char **
exec_env(char *idvar, size_t len, uint64_t id, int note, const char *name,
    char **namevar)
{
	static char	 fdvar[] = "ISO_INIT_FD=3";
	static char	 notevar[] = "ISO_NOTE_FD=4";
	char		**env;
	size_t		 n = 0, i, k = 0;

	*namevar = NULL;
	if (name != NULL && asprintf(namevar, "ISO_NAME=%s", name) == -1)
		return (NULL);
	while (environ != NULL && environ[n] != NULL)
		n++;
	if ((env = calloc(n + 5, sizeof *env)) == NULL) {
		free(*namevar);
		*namevar = NULL;
		return (NULL);
	}
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "ISO_INIT_FD=", 12) != 0 &&
		    strncmp(environ[i], "ISO_NOTE_FD=", 12) != 0 &&
		    strncmp(environ[i], "ISO_NAME=", 9) != 0 &&
		    strncmp(environ[i], "ISO_ISOLATE_ID=", 15) != 0)
			env[k++] = environ[i];
	snprintf(idvar, len, "ISO_ISOLATE_ID=%016" PRIx64, id);
	env[k++] = fdvar;
	env[k++] = idvar;
	if (note)
		env[k++] = notevar;
	if (*namevar != NULL)
		env[k++] = *namevar;
	env[k] = NULL;
	return (env);
}

/* 0 when prog is a file exec can try: a path, or found in PATH (for a
   paused exec, which cannot wait for exec's answer); -1 with errno. */
static int
exec_findable(const char *prog)
{
	const char	*path, *p, *end;
	char		 buf[PATH_MAX];
	int		 saved = ENOENT;

	if (strchr(prog, '/') != NULL)
		return (access(prog, X_OK));
	if ((path = getenv("PATH")) == NULL)
		path = "/bin:/usr/bin";
	for (p = path; ; p = end + 1) {
		end = strchrnul(p, ':');
		if (snprintf(buf, sizeof buf, "%.*s%s%s", (int)(end - p), p,
		    end > p ? "/" : "", prog) < (int)sizeof buf) {
			if (access(buf, X_OK) == 0)
				return (0);
			if (errno != ENOENT && errno != ENOTDIR)
				saved = errno;
		}
		if (*end == '\0')
			break;
	}
	errno = saved;
	return (-1);
}

int
iso_spawn_exec(char *const argv[], const iso_msg *arg, iso_isolate **out)
{
	return (iso_spawn_exec_with(argv, arg, NULL, out));
}

int
iso_spawn_exec_with(char *const argv[], const iso_msg *arg,
    const iso_spawn_attr *a, iso_isolate **out)
{
	struct start	 st;
	iso_isolate	*iso = NULL;
	iso_msg		*nil = NULL;
	char		 idvar[40], *namevar = NULL;
	int		 errpipe[2] = { -1, -1 }, e = 0, saved, code, status;
	ssize_t		 r;

	memset(&st, 0, sizeof st);
	st.memfd = -1;
	if (argv == NULL || argv[0] == NULL)
		return (msg_fail(EINVAL, "spawn_exec: no program"));
	if (arg != NULL && (arg->flags & MSG_FDS))
		return (msg_fail(EINVAL, "spawn_exec: a descriptor cannot go "
		    "through exec (send it to the new isolate's port)"));
	if (attr_exec_check(a) == -1)
		return (-1);
	if (arg == NULL && (arg = nil = iso_msg_pack("n")) == NULL)
		return (-1);
	st.child = exec_child;
	st.attr = a;
	st.id = loop_new_id();
	st.flags = ISOLATE_WATCH;
	st.argv = argv;
	if ((st.memfd = memfd_create("iso-init", MFD_CLOEXEC)) == -1) {
		msg_fail(errno, "spawn_exec: memfd_create: %m");
		goto fail;
	}
	if (iso_msg_write(st.memfd, arg) == -1)
		goto fail;
	if (lseek(st.memfd, 0, SEEK_SET) == -1 ||
	    pipe2(errpipe, O_CLOEXEC) == -1) {
		msg_fail(errno, "spawn_exec: %m");
		goto fail;
	}
	st.errfd = errpipe[1];
	if ((st.envp = exec_env(idvar, sizeof idvar, st.id,
	    isolate_wants_note(a, 1), a != NULL ? a->name : NULL,
	    &namevar)) == NULL) {
		msg_fail(ENOMEM, "spawn_exec: out of memory");
		goto fail;
	}
	if (a != NULL && a->paused && exec_findable(argv[0]) == -1) {
		msg_fail(errno, "spawn_exec: %s: %s", argv[0],
		    strerror(errno));
		goto fail;
	}
	if (isolate_start(&st, &iso) == -1)
		goto fail;
	close(errpipe[1]);
	errpipe[1] = -1;
	/* EOF: exec worked, and closed the write end. Paused (stopped before
	   exec): exec's failure, if any, comes later, as its note. */
	r = 0;
	if (!iso->paused)
		while ((r = read(errpipe[0], &e, sizeof e)) == -1 &&
		    errno == EINTR)
			;
	if (r == (ssize_t)sizeof e) {
		isolate_wait(iso, &code, &status);
		iso_isolate_free(iso);
		iso = NULL;
		msg_fail(e, "spawn_exec: %s: %s", argv[0], strerror(e));
		goto fail;
	}
	close(errpipe[0]);
	close(st.memfd);
	free(st.envp);
	free(namevar);
	iso_msg_free(nil);
	if (out != NULL)
		*out = iso;
	else
		iso_isolate_free(iso);
	return (0);
fail:
	saved = errno;
	if (errpipe[0] != -1)
		close(errpipe[0]);
	if (errpipe[1] != -1)
		close(errpipe[1]);
	if (st.memfd != -1)
		close(st.memfd);
	free(st.envp);
	free(namevar);
	iso_msg_free(nil);
	errno = saved;
	return (-1);
}

const iso_msg *
iso_initial_message(void)
{
	const char	*env;
	char		*end;
	long		 fd;
	int		 rc;

	if (initial_done) {
		if (initial == NULL)
			errno = initial_errno;
		return (initial);
	}
	initial_done = 1;
	(void)loop_self();	/* takes ISO_ISOLATE_ID out of the way */
	if ((env = getenv("ISO_INIT_FD")) == NULL) {
		initial_errno = ENOENT;
		msg_fail(ENOENT, "not started by iso_spawn_exec");
		return (NULL);
	}
	errno = 0;
	fd = strtol(env, &end, 10);
	if (errno != 0 || end == env || *end != '\0' || fd < 0 ||
	    fd > INT32_MAX) {
		unsetenv("ISO_INIT_FD");
		initial_errno = EBADF;
		msg_fail(EBADF, "ISO_INIT_FD: not a descriptor");
		return (NULL);
	}
	unsetenv("ISO_INIT_FD");
	rc = iso_msg_read((int)fd, &initial);
	if (rc == 0)
		msg_fail(EBADMSG, "ISO_INIT_FD: no message");
	initial_errno = errno;
	close((int)fd);
	if (rc != 1) {
		errno = initial_errno;
		return (NULL);
	}
	loop_graceful();
	return (initial);
}

/* ---- the handle ---------------------------------------------------------- */

const char *
isolate_note_detail(const iso_isolate *iso)
{
	return (iso->note != NULL ? iso->note + strlen(iso->note) + 1 : NULL);
}

int
isolate_wait(iso_isolate *iso, int *code, int *status)
{
	if (isolate_foreign(iso))
		return (msg_fail(ESRCH, "isolate %d is not ours",
		    (int)iso->pid));
	isolate_reap(iso, 1, 1);
	*code = iso->code;
	*status = iso->status;
	return (0);
}

int
iso_kill(iso_isolate *iso, int priority)
{
	int	sig, saved;

	if (iso == NULL ||
	    (priority != ISO_IMMEDIATE && priority != ISO_BEFORE_NEXT_EVENT))
		return (msg_fail(EINVAL, "kill: bad priority"));
	/* An end of its own is told as it was, not as a kill. */
	if (isolate_live(iso, "kill") == -1)
		return (-1);
	iso->killed = KILLED_BY_CALL;
	sig = priority == ISO_IMMEDIATE ? SIGKILL : SIGTERM;
	if (isolate_signal(iso, sig) == -1) {
		saved = errno;
		return (msg_fail(saved, "kill: isolate %d: %s", (int)iso->pid,
		    strerror(saved)));
	}
	/* A stopped isolate takes its SIGTERM only once it runs again. */
	if (sig == SIGTERM)
		(void)isolate_signal(iso, SIGCONT);
	iso->paused = 0;
	if (priority == ISO_IMMEDIATE)
		isolate_reap(iso, 1, 1);
	return (0);
}

pid_t
iso_pid(const iso_isolate *iso)
{
	if (iso == NULL) {
		errno = EINVAL;
		return (-1);
	}
	return (iso->pid);
}

static int
isolate_listen(iso_isolate *iso, int error, iso_sendport to,
    const iso_msg *response)
{
	if (iso == NULL || to.isolate == 0 || to.port == 0)
		return (msg_fail(EINVAL, "listener: no isolate or no port"));
	if (isolate_foreign(iso))
		return (msg_fail(ESRCH, "listener: isolate %d is not ours",
		    (int)iso->pid));
	if (listener_add(iso, error, to, response) == -1)
		return (-1);
	/* Ended already (told or not yet): fire at once with what is known. */
	if (iso->ended)
		isolate_fire(iso);
	else
		isolate_reap(iso, 0, 1);
	return (0);
}

int
iso_on_exit(iso_isolate *iso, iso_sendport to, const iso_msg *response)
{
	return (isolate_listen(iso, 0, to, response));
}

int
iso_on_error(iso_isolate *iso, iso_sendport to)
{
	return (isolate_listen(iso, 1, to, NULL));
}

void
iso_isolate_free(iso_isolate *iso)
{
	if (iso == NULL)
		return;
	iso->held = 0;
	isolate_release(iso);
}

void
iso_exit(iso_sendport to, const iso_msg *final)
{
	iso_msg	*nil = NULL;

	if (final == NULL)
		final = nil = iso_msg_pack("n");
	if (final != NULL)
		(void)iso_send(to, final);
	iso_msg_free(nil);
	loop_exit(0);
}
