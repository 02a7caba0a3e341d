/*
 * spawn.h: what compute.c takes from isolate.c (and the reverse).
 * Internal. Not named isolate.h: "isolate.h" must keep finding the
 * public header from every file of lib/.
 */
#ifndef ISO_LIB_SPAWN_H
#define ISO_LIB_SPAWN_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "isolate.h"

/* isolate_fork's flags. */
#define ISOLATE_PAIR	0x1	/* a socketpair connects the new isolate
				   and its spawner from the start */
#define ISOLATE_WATCH	0x2	/* reaped from the loop when it ends, and
				   ISO_BEFORE_NEXT_EVENT works (a handle
				   for the program); otherwise the caller
				   waits for it (isolate_wait) */

/*
 * Fork a new isolate that runs fn(ctx) (ctx points into its copy of
 * memory) and then ends with loop_exit(0) if fn returns; no iso_run.
 * a (NULL: none) gives its options. *out gets an owned handle; entry is
 * what it runs, for the supervisor's list. 0, or -1 with errno.
 */
int	 isolate_fork(void (*fn)(void *ctx), void *ctx, int flags,
	    const iso_spawn_attr *a, const void *entry, iso_isolate **out);
/*
 * Wait (blocking, no signal sent) until iso has ended and is reaped.
 * *code is CLD_EXITED, CLD_KILLED or CLD_DUMPED, *status the exit status
 * or the signal. 0, or -1/ESRCH for a handle that is not our child.
 */
int	 isolate_wait(iso_isolate *iso, int *code, int *status);
/* iso's isolate id and pid, to reach it (ping.c): 0, or -1 with ESRCH
   (ended, not ours) or EINVAL. */
int	 isolate_target(iso_isolate *iso, uint64_t *id, pid_t *pid);
/* What iso said of its end in its note (attr.h: "blocked system call
   openat"), once reaped; NULL when it left none. */
const char *isolate_note_detail(const iso_isolate *iso);
/* "SIGSEGV" for 11, "SIG45"... for signals without a name; in buf. */
const char *isolate_signame(int sig, char *buf, size_t len);

/* compute.c: close the descriptors of computes in progress (in a new
   isolate, as part of isolate_forget). */
void	 compute_forget(void);
/* compute.c: p is being freed: iso_compute no longer runs on it. */
void	 compute_pool_freed(const iso_pool *p);
/* pool.c: start with no pool (a new isolate's spawner's are not its own;
   their descriptors are closed with the library's others). */
void	 pool_forget(void);

#endif /* ISO_LIB_SPAWN_H */
