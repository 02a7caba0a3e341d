/*
 * testutil.h: what every Check suite needs around isolates: a private
 * runtime directory, descriptor counts, process checks.
 */
#ifndef ISO_TESTUTIL_H
#define ISO_TESTUTIL_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stdint.h>

#include "isolate.h"

/* Make a fresh 0700 runtime directory and point ISO_RUNTIME_DIR at it;
   removed (with what is left in it) at exit. Returns its path. */
const char	*tu_runtime_dir(void);
/* Point ISO_ISOLATED (unless set) at the supervisor built beside the
   test binary argv0 (BUILD/tests/X: BUILD/isolated). */
void		 tu_use_built_isolated(const char *argv0);
/* Open descriptors of this process. */
int		 tu_fd_count(void);
/* 1 if pid exists and is not a zombie. */
int		 tu_alive(pid_t pid);
/* 1 if pid is gone entirely (no process, no zombie) within ms. */
int		 tu_gone_within(pid_t pid, int ms);
/* Entries in the runtime directory. */
int		 tu_rtdir_entries(void);
/* The abstract address isolate id listens on, for the runtime directory
   in use (rtdir.h); its length. */
socklen_t	 tu_iso_addr(uint64_t id, struct sockaddr_un *sun);
/* A blocking socket connected to isolate id's name, or -1 with errno. */
int		 tu_iso_connect(uint64_t id);
/* 1 if a socket is bound to isolate id's name (/proc/net/unix). */
int		 tu_iso_bound(uint64_t id);
/* Children of this thread, zombies included (0 where the kernel cannot
   tell: no CONFIG_PROC_CHILDREN). */
int		 tu_children(void);
/* Sleep ms milliseconds. */
void		 tu_sleep_ms(int ms);

#ifdef ck_assert_msg	/* a Check suite (check.h first): not the chaos
			   programs, which link this file without Check */
/* The first message port p gets within ms (the caller frees it); the
   test fails if none comes. */
static inline iso_msg *
tu_take(iso_port *p, int ms)
{
	iso_msg	*m = NULL;

	ck_assert_msg(iso_port_first(p, &m, ms) == 0, "first: %s",
	    iso_error());
	return (m);
}
#endif

#endif
