/*
 * rlimit.h: resource limits in a new isolate (rlimit.c) and the words for
 * a death by one. Internal.
 */
#ifndef ISO_LIB_RLIMIT_H
#define ISO_LIB_RLIMIT_H

#include <stddef.h>
#include <stdint.h>

/*
 * setrlimit for each limit whose bit (1 << enum iso_rlimit) is in set,
 * async-signal-safe (after fork, before exec). The CPU limit's hard
 * value is one second above the soft one, so that SIGXCPU comes before
 * the kernel's SIGKILL. 0, or which + 1 of the limit that failed, with
 * errno.
 */
int	 rlimit_apply(unsigned set, const uint64_t limit[]);
/*
 * In an isolate with a memory limit of bytes, before its entry runs (or
 * where an exec'd program first enters the library): handlers for
 * SIGSEGV, SIGBUS and SIGABRT on an alternate stack that, when memory is
 * exhausted, leave the note ["out of memory", "memory limit of N MiB
 * reached"] before the signal takes its course. A library allocation
 * that fails leaves the same note (rlimit_nomem). 0 or -1 with errno.
 */
int	 rlimit_arm(uint64_t bytes);
/* msg_fail's hook: an allocation of the library failed. */
void	 rlimit_nomem(void);
/* In an exec'd program that took its note (attr_exec_start): arm for
   RLIMIT_AS if it is set. */
void	 rlimit_exec_arm(void);
/*
 * The spawner's side. What it keeps of an isolate with limits until it is
 * reaped, apart from the handle, so that a spawn without limits costs
 * nothing more (iso is the handle, only compared).
 * rlimit_keep: keep a's limits for iso, and make its cgroup where one is
 * usable (*cgroup: its path for the child to enter, else NULL). 0 or -1
 * with ENOMEM.
 * rlimit_ended: iso has been reaped with code and status (waitid's);
 * when a limit is what ended it (a SIGXCPU at its CPU limit; an OOM kill
 * in its cgroup, unless noted, a note left already), 1 with the words in
 * desc and detail; its cgroup removed, what was kept freed.
 * rlimit_drop: iso goes without being reaped: the same, wordless.
 * rlimit_forget: in a new isolate, the spawner's records are not ours.
 */
int	 rlimit_keep(const void *iso, uint64_t id, unsigned set,
	    const uint64_t limit[], const char **cgroup);
int	 rlimit_ended(const void *iso, int code, int status, int noted,
	    char *desc, size_t dlen, char *detail, size_t tlen);
void	 rlimit_drop(const void *iso);
void	 rlimit_forget(void);
/* bytes in words ("64 MiB", "1.5 GiB" is "1536 MiB", "1000 bytes"). */
void	 rlimit_size(char *buf, size_t len, uint64_t bytes);

#endif /* ISO_LIB_RLIMIT_H */
