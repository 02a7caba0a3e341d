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

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "isolate.h"
#include "rtdir.h"

struct event_base;

/* ---- loop.c ---------------------------------------------------------- */

/* The base, made on first use; NULL with errno. */
struct event_base *loop_base(void);
/* The base made after this call takes libevent's locks, for a process
   where another thread adds events (the supervisor in a cluster: nats.c's
   reconnect thread); evthread_use_pthreads() must come first. */
void	 loop_threaded(void);
/* This isolate's id (made on first use, never 0). */
uint64_t	 loop_self(void);
/* A fresh random id, never 0. */
uint64_t	 loop_new_id(void);
/* getpid(), asked once a process (forgotten in the child of a fork). */
pid_t	 loop_pid(void);
/* 1 around isolate.c's fork of a new isolate, which sees to its own
   descriptors; the child of any other fork() closes the library's. */
void	 loop_spawning(int on);

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
 * In a new isolate right after fork: close every descriptor the library
 * owned in the spawner (one pass), start each module empty without
 * touching (or freeing) the spawner's state, and take `id` as this
 * isolate's id. eager: make the base now and make ISO_BEFORE_NEXT_EVENT
 * work here (loop_graceful); otherwise the base is made on first use.
 */
void		 loop_child(uint64_t id, int eager);
/* End this isolate: write out queued messages (bounded), flush stdio,
   _exit(status). */
void		 loop_exit(int status) __attribute__((noreturn));
/* SIGTERM ends this isolate after the current callback. */
void		 loop_graceful(void);

/*
 * Descriptors the library owns (sockets, pidfds, its base's epoll and
 * pipes): a new isolate closes them all at once. loop_fd_own records fd
 * (0, or -1/ENOMEM: the caller still owns fd); loop_fd_disown forgets it
 * (handed over); loop_fd_close forgets and closes it.
 */
int		 loop_fd_own(int fd);
void		 loop_fd_disown(int fd);
void		 loop_fd_close(int fd);

/* id as 16 lowercase hex digits at p, no NUL: for names a new isolate
   makes, where snprintf's code would be mapped again. */
static inline void
loop_hex16(char *p, uint64_t id)
{
	static const char	hex[] = "0123456789abcdef";
	int			i;

	for (i = 0; i < 16; i++)
		p[i] = hex[(id >> (60 - 4 * i)) & 0xf];
}

/* ---- evmem.c --------------------------------------------------------- */

/*
 * Small blocks from a region of this process's own, for what is made on
 * every spawn and message (libevent's base and events, connections,
 * ports, tables, small messages): not in chunks of the heap an isolate
 * shares with its spawner. evmem_free and evmem_realloc take any block of
 * evmem_* or of malloc (a large request is malloc's). The caller owns
 * the block.
 */
void		*evmem_malloc(size_t n);
void		*evmem_calloc(size_t n);	/* zeroed */
void		*evmem_realloc(void *p, size_t n);
void		 evmem_free(void *p);
size_t		 evmem_usable(const void *p);	/* bytes p can hold */
/* Blocks of this process's region not yet freed: what neither memcheck
   nor LeakSanitizer counts (for tests). */
size_t		 evmem_live(void);
/* libevent allocates with evmem_* (event_set_mem_functions): once a
   process, before the library makes its first event base. */
void		 evmem_libevent(void);
/* In a new isolate, before its base is made: its blocks start in a
   region of its own (its spawner's are left alone). */
void		 evmem_child(void);

/* In loop_child: keep p (a root of the spawner's state) reachable. */
void		 loop_keep(void *p);
/* Each module's part of loop_child: start empty. The spawner's objects
   are left alone in this copy of its memory (reachable, never freed or
   written) and its descriptors are already closed. */
void		 conn_forget(void);
void		 port_forget(void);
void		 timer_forget(void);
void		 isolate_forget(void);
void		 sup_forget(void);
/* At the end of an isolate: kill and reap the isolates it spawned. */
void		 isolate_kill_all(void);
/* conn.c: the pair to isolate id is being closed (before its
   descriptor is): an isolate of ours watched by it is watched by its
   pid from now on. */
void		 isolate_pair_closing(uint64_t id);

/* ---- conn.c ---------------------------------------------------------- */

/* Send m to a port of another isolate (see iso_send). */
int		 conn_send(iso_sendport to, const iso_msg *m);
/* iso_vsendf's way to another isolate: the value of fmt and *ap encoded
   straight into the queue (pack_encode_direct). 0 or -1 with errno as
   conn_send; 1 when that way does not apply (nothing queued, *ap partly
   read). */
int		 conn_send_direct(iso_sendport to, const char *fmt,
		    va_list *ap);
/* Make sure this isolate listens on its socket. 0 or -1 with errno. */
int		 conn_listen(void);
/*
 * A new isolate's connection to its spawner, a socketpair made before
 * fork. In the spawner, conn_pair makes `fd` the connection to the new
 * isolate `peer` (before fork: 0, or -1 with errno, fd closed);
 * conn_unpair undoes it when fork failed. In the new isolate,
 * conn_spawner takes its end `fd` as the connection to its spawner
 * `peer`, opened on first use.
 */
int		 conn_pair(int fd, uint64_t peer);
void		 conn_unpair(uint64_t peer);
/* peer, spawned on a pair, was reaped: free the pair now if nothing is
   left on it either way (the loop may never run to see its end). */
void		 conn_pair_reaped(uint64_t peer);
void		 conn_spawner(int fd, uint64_t peer);
/* In the child of a plain fork() of an isolate: close the isolate's end
   of its pair (only: the library is not used in such a child). */
void		 conn_forked(void);
/*
 * Call cb(ud) once, from the loop, when a frame of `need` bytes (0: any,
 * once the queue is down to half of ISO_LIMIT_QUEUE) would be queued for
 * peer; at once (from the loop) if it would be now. 0 or -1/ENOMEM.
 * cancel forgets every wait of cb with ud.
 */
int		 conn_on_room(uint64_t peer, size_t need, void (*cb)(void *),
		    void *ud);
void		 conn_on_room_cancel(void (*cb)(void *), void *ud);
/* The room m's frame takes in a queue (0 if it cannot be sent). */
size_t		 conn_frame_need(const iso_msg *m);
/* 1 if a frame of need bytes would be taken for peer now, as a message
   would (control frames are not held to the bound: a caller that could
   send them without end asks first). */
int		 conn_room(uint64_t peer, size_t need);
/* Isolate id (process pid) has ended: deliver what it sent us first. */
void		 conn_settle(uint64_t id, pid_t pid);
/* Send notice to `to` (a port of another isolate) as a control frame:
   the receiver delivers it after what isolate id (pid) sent it. */
int		 conn_send_ended(iso_sendport to, uint64_t id, pid_t pid,
		    const iso_msg *notice);
/* Before the first spawn: bind what a new isolate's sends call. */
void		 conn_prebind(void);
/* Write what callbacks queued, before the loop waits again. */
void		 conn_flush(void);
/* What became of what was sent to peer (for the supervisor, which says
   what it delivered only once it is out of its hands): the connection's
   serial (a new connection, a new one), bytes it ever queued, and bytes
   written (or dropped with a gone peer) so far. 0, or -1: none open. */
int		 conn_progress(uint64_t peer, uint64_t *serial,
		    uint64_t *queued, uint64_t *sent);
/* Send m to `to` as frame seq of another node's stream (the supervisor's
   inbound): a receiver that had it already drops it. As conn_send. */
int		 conn_send_via(iso_sendport to, uint64_t stream, uint64_t seq,
		    const iso_msg *m);
/* For a program that runs the base itself (the supervisor): 1, sends
   are queued as inside iso_run, until conn_flush; 0, written at once. */
void		 conn_defer_writes(int on);
/* send calls made so far (tests check that sends are coalesced). */
extern unsigned long conn_writes;
/* At exit: write everything queued while each reader makes progress
   (ISO_LIMIT_STALL). */
void		 conn_drain(void);

/* ---- ping.c ---------------------------------------------------------- */

/* A control frame m (borrowed) that is ["ping", to, response]: response
   sent to `to`, and 1; 0 when m is not one. */
int		 ping_control(const iso_msg *m);
/* Ask isolate id (pid)'s loop to send response to `to` (a control frame,
   held to the queue's bound: ENOBUFS). 0, or -1 with errno. */
int		 ping_send(uint64_t id, pid_t pid, iso_sendport to,
		    const iso_msg *response);

/* ---- port.c ---------------------------------------------------------- */

/* A message arrived for port number `port` of this isolate; takes m. */
void		 port_deliver(uint32_t port, iso_msg *m);
/* Send notice to `to` once isolate id (process pid) has ended: after
   every message it sent to the process of `to` (iso_on_exit's). */
int		 port_send_ended(iso_sendport to, uint64_t id, pid_t pid,
		    const iso_msg *notice);


#endif /* ISO_LIB_LOOP_H */
