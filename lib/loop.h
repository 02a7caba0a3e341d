/*
 * loop.h: the isolate's loop and the library state shared between its
 * modules. Internal.
 *
 * One isolate is one process with one libevent base, made on first use.
 * The library is single-threaded per isolate: every call comes from the
 * thread that runs the loop.
 */
#ifndef ISO_LIB_LOOP_H
#define ISO_LIB_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "isolate.h"

struct event_base;

/* ---- loop.c ---------------------------------------------------------- */

/* The base, made on first use; NULL with errno. */
struct event_base *loop_base(void);
/* This isolate's id (made on first use, never 0). */
uint64_t	 loop_self(void);
/* A fresh random id, never 0. */
uint64_t	 loop_new_id(void);

/* What keeps iso_run going: open ports and pending timers. */
void		 loop_hold(void);
void		 loop_unhold(void);
/* 1 while iso_run or a wait runs callbacks: sends are then coalesced
   and written before the loop waits again. */
int		 loop_dispatching(void);
/* 1 once SIGTERM asked this isolate to end: deliver nothing more. */
int		 loop_stopping(void);

/*
 * Run the loop until *done is non-zero or timeout_ms passes (< 0: never).
 * 0, or -1 with ETIMEDOUT, or EDEADLK when called inside a callback.
 */
int		 loop_wait(const int *done, int timeout_ms);

/*
 * In a new isolate right after fork: give the inherited base its own epoll
 * (so nothing touches the parent's), close every descriptor the library
 * owns, free its state, and take `id` as this isolate's id. Also makes
 * ISO_BEFORE_NEXT_EVENT work here (loop_graceful).
 */
void		 loop_child(uint64_t id);
/* End this isolate: write out queued messages (bounded), flush stdio,
   _exit(status). */
void		 loop_exit(int status) __attribute__((noreturn));
/* SIGTERM ends this isolate after the current callback. */
void		 loop_graceful(void);

/* Each module's part of loop_child: close its descriptors and free its
   state without a syscall that could reach the parent's objects. */
void		 conn_forget(void);
void		 port_forget(void);
void		 timer_forget(void);
void		 isolate_forget(void);
/* At the end of an isolate: kill and reap the isolates it spawned. */
void		 isolate_kill_all(void);

/* ---- conn.c ---------------------------------------------------------- */

/* Send m to a port of another isolate (see iso_send). */
int		 conn_send(iso_sendport to, const iso_msg *m);
/* Make sure this isolate listens on its socket. 0 or -1 with errno. */
int		 conn_listen(void);
/* Write what callbacks queued, before the loop waits again. */
void		 conn_flush(void);
/* sendmsg calls made so far (tests check that sends are coalesced). */
extern unsigned long conn_writes;
/* At exit: write everything queued, giving up after timeout_ms, and
   remove this isolate's socket. */
void		 conn_drain(int timeout_ms);

/* ---- port.c ---------------------------------------------------------- */

/* A message arrived for port number `port` of this isolate; takes m. */
void		 port_deliver(uint32_t port, iso_msg *m);

/* ---- rtdir.c --------------------------------------------------------- */

/* The socket path of isolate `id`: 0, or -1/ENAMETOOLONG or the
   runtime directory's errno. */
int		 rtdir_sock_path(uint64_t id, char *buf, size_t len);
/* Read $ISO_RUNTIME_DIR again on next use (the supervisor's tests). */
void		 rtdir_forget(void);

/* Cap on loop_exit's and the atexit flush's wait for slow readers. */
#define LOOP_EXIT_FLUSH_MS	2000

#endif /* ISO_LIB_LOOP_H */
