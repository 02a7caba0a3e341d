/*
 * attr.h: spawn options (iso_spawn_attr) as isolate.c and the supervisor
 * use them, and the note a dying isolate leaves its spawner. Internal.
 */
#ifndef ISO_LIB_ATTR_H
#define ISO_LIB_ATTR_H

#include <stddef.h>
#include <stdint.h>

#include "isolate.h"

#define ATTR_RLIMITS	4		/* enum iso_rlimit's values */
#define ATTR_NOTE_MAX	240		/* bytes of one note, "desc\tdetail" */

struct iso_spawn_attr {
	char		*name;		/* NULL: none */
	int		 paused;
	int		 on_exit;	/* exit_to and exit_msg are set */
	iso_sendport	 exit_to;
	iso_msg		*exit_msg;	/* owned; nil when set with NULL */
	int		 on_error;
	iso_sendport	 error_to;
	unsigned	 limits;	/* bit (1 << which): limit[which] set */
	uint64_t	 limit[ATTR_RLIMITS];
	char		*sandbox;	/* a profile, NULL: none */
	struct sandbox	*sb;		/* ... built (sandbox.h), a ref */
};

/* A copy of a's name, limits and sandbox (not its listeners, nor
   paused): what a pool's workers take. NULL with iso_error(). */
iso_spawn_attr	*attr_copy(const iso_spawn_attr *a);
/* 0, or -1/EINVAL when a's sandbox would block exec itself. */
int	 attr_exec_check(const iso_spawn_attr *a);

/* 1 when a's isolate may die of something only it can name (a limit, a
   blocked system call): it gets a note pipe. */
int	 attr_wants_note(const iso_spawn_attr *a);

/*
 * The note: a pipe made before fork. In the child, attr_note_child keeps
 * the write end (to descriptor `at` when at >= 0, for exec, without
 * O_CLOEXEC; fd -1: none, and a note inherited from the spawner is closed) and attr_note_write writes one note on it, async-signal-safe:
 * "desc\tdetail" (["SIGSYS", "blocked system call openat"]). The spawner
 * reads it with attr_note_read once the child has ended. 0 or -1 + errno.
 */
int	 attr_note_pipe(int fds[2]);
int	 attr_note_child(int fd, int at);
void	 attr_note_write(const char *desc, const char *detail);
/* In an exec'd program's first call into the library: take the note
   ISO_NOTE_FD gives (only a pipe: nothing else is written to), and set
   what tells of a death on it (rlimit_exec_arm, sandbox_exec_arm). */
void	 attr_exec_start(void);
/* The note in fd (read end, non-blocking), split at its tab: 1 when there
   was one, 0 when none. */
int	 attr_note_read(int fd, char *desc, size_t dlen, char *detail,
	    size_t tlen);

/* Close every O_CLOEXEC descriptor but keep (-1: none), as exec would;
   async-signal-safe (a child stopped before its exec). */
void	 attr_close_cloexec(int keep);

/*
 * In a new isolate before its entry (or exec, exec != 0: only
 * async-signal-safe calls): take a's name, limits and sandbox, in that
 * order. 0, or -1 with errno (the child then ends with a note).
 */
int	 attr_child(const iso_spawn_attr *a, int exec);

#endif /* ISO_LIB_ATTR_H */
