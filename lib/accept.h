/*
 * accept.h: one way to accept connections, for every listening socket of
 * a process: an isolate's socket (conn.c), and the supervisor's request
 * socket and mailbox sockets (daemon/). Internal: the daemon includes it
 * as it includes supproto.h.
 *
 * A listener accepts peers of our uid (or root) only, at most `max` open
 * at once, and never takes the process's last descriptors; a peer it
 * refuses is told why in one frame before it is closed (docs/protocol.md).
 * Out of descriptors (EMFILE, ENFILE), it accepts the pending connection
 * on a spare descriptor kept for that, tells and closes it, and stops
 * accepting for a short while, so a backlog that cannot be served never
 * spins the loop. A listener can be paused by its owner (a full mailbox):
 * new peers then wait in the kernel's backlog, costing no descriptor.
 */
#ifndef ISO_LIB_ACCEPT_H
#define ISO_LIB_ACCEPT_H

#include <sys/types.h>

#include <stddef.h>

struct event_base;
struct acc;

enum acc_kind {
	ACC_ISOLATE,	/* an isolate's socket: a refusal is a port-0 control
			   frame {"op": "refused", "errno": E, "error": T} */
	ACC_SUPERVISOR	/* the supervisor's request socket: a refusal is an
			   error reply; may use the last descriptors, so
			   that isoctl is served when nothing else is */
};

#define ACC_MAX_DEFAULT	4096	/* open connections per listener */
#define ACC_PAUSE_MS	100	/* out of descriptors: accept again after */

struct acc_ops {
	/* A new peer of our uid (or root): fd (non-blocking, close-on-exec)
	   is the owner's, who calls acc_closed once it is closed. */
	void	(*take)(int fd, pid_t pid, void *arg);
	/* One line for the owner's log (refusals, descriptors). */
	void	(*log)(const char *line, void *arg);
};

/*
 * Accept on lfd (listening, non-blocking; still the caller's) from base.
 * *max caps the connections open at once, read at each accept (0: no
 * more). name says whose socket it is in log lines and refusals ("isolate
 * 0123...", "mailbox 0123...", "supervisor"). NULL with errno.
 */
struct acc	*acc_new(struct event_base *base, int lfd, enum acc_kind kind,
		    const size_t *max, const char *name,
		    const struct acc_ops *ops, void *arg);
/*
 * Tell a peer on fd why it is refused, in one frame, without waiting
 * (why short enough to fit a small frame): an isolate's peer (ACC_ISOLATE)
 * gets a control frame on port 0, {"op": "refused", "errno", "error"},
 * which is the one frame a receiver writes; a supervisor's client gets
 * an error reply. Also for a connection already taken that must end.
 */
void		 acc_tell(int fd, enum acc_kind kind, int err, const char *why);
/* Stop accepting and free a (lfd stays the caller's). NULL: no-op. */
void		 acc_free(struct acc *a);
/* Accept, now, every peer waiting in the backlog that the listener may
   take (not while paused or out of descriptors). */
void		 acc_now(struct acc *a);
/* One connection the listener handed over has been closed. */
void		 acc_closed(struct acc *a);
/* A connection of this listener's that came by other means (a socket
   kept across a restart) counts as handed over. */
void		 acc_adopt(struct acc *a);
/* Open connections it handed over and not yet told closed. */
size_t		 acc_open(const struct acc *a);
/* The owner cannot serve more now (a full mailbox): leave new peers in
   the backlog until acc_resume. */
void		 acc_pause(struct acc *a);
void		 acc_resume(struct acc *a);
/* Times accept ran out of descriptors (tests). */
extern unsigned long acc_starved;
/* In a new isolate after fork: the spare descriptor was the spawner's
   (closed with the library's others); the listeners are not ours. */
void		 acc_forget(void);

#endif /* ISO_LIB_ACCEPT_H */
