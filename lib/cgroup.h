/*
 * cgroup.h: a cgroup v2 of its own per isolate with limits, where this
 * process's cgroup is delegated to it (cgroup.c). Internal.
 */
#ifndef ISO_LIB_CGROUP_H
#define ISO_LIB_CGROUP_H

#include <stddef.h>
#include <stdint.h>

/*
 * The limits a cgroup can enforce for a child of this process: bit
 * (1 << enum iso_rlimit) for memory (memory.max) and processes
 * (pids.max); 0 when none can, and then *why (if not NULL) says why
 * (no cgroup2 mount, no such controller in our cgroup, not writable, not
 * given to its children). Learnt once a process.
 */
unsigned	 cg_usable(const char **why);
/*
 * Take our cgroup's controllers for its children (the supervisor does
 * this at start): move this process into a leaf "supervisor" beside the
 * cgroups it will make, and write the controllers to the parent's
 * cgroup.subtree_control. 0, or -1 with *why.
 */
int		 cg_delegate(const char **why);
/* The directory of isolate id's cgroup. 0, or -1 with ENOTSUP (none
   usable) or ENAMETOOLONG. */
int		 cg_path(uint64_t id, char *path, size_t len);
/*
 * Make the cgroup of isolate id with the limits of set (bits of
 * cg_usable only): its directory in path. 0, or -1 with errno.
 */
int		 cg_make(uint64_t id, unsigned set, const uint64_t limit[],
		    char *path, size_t len);
/* In the child, before its entry or exec: move the calling process into
   path. Async-signal-safe. 0 or -1 with errno. */
int		 cg_enter(const char *path);
/* 1 if the kernel's OOM killer killed a process of path. */
int		 cg_oom_killed(const char *path);
/* Remove path once its processes are gone (its leftovers killed). */
void		 cg_remove(const char *path);

#endif /* ISO_LIB_CGROUP_H */
