/*
 * isolate.h: Dart-style isolates for C. The one public header.
 *
 * Conventions: functions returning int give 0 (or a count) on success and
 * -1 with errno set on failure; functions returning a pointer give NULL
 * with errno set on failure. Ownership is stated per function: "owned"
 * means the caller must free it, "borrowed" means it stays the library's
 * (or the argument's) and lives as long as stated.
 */
#ifndef ISOLATE_H
#define ISOLATE_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ISO_VERSION_MAJOR	0
#define ISO_VERSION_MINOR	1
#define ISO_VERSION_PATCH	0
#define ISO_VERSION		"0.1.0"

/* ---- errors ---------------------------------------------------------- */

/*
 * A one-line description of the last failure in the calling thread, with
 * the detail errno cannot carry (where a JSON text is wrong, which byte of
 * a frame is bad). Borrowed; valid until the thread's next failing call.
 * "" when nothing has failed yet.
 */
const char	*iso_error(void);

/* ---- limits ---------------------------------------------------------- */

enum iso_limit {
	ISO_LIMIT_FRAME,	/* bytes in one frame's payload; default 256 MiB,
				   at most 4 GiB - 1 (the length field) */
	ISO_LIMIT_DEPTH,	/* nesting of lists and maps; default and
				   maximum 32 */
	ISO_LIMIT_NODES,	/* values in one decoded message; default
				   8 Mi (bounds memory to ~32 B a value) */
	ISO_LIMIT_QUEUE,	/* bytes waiting to be written to one peer;
				   default 16 MiB. A larger message is still
				   accepted when nothing waits for that peer */
	ISO_LIMIT_STALL,	/* milliseconds an ending isolate waits for a
				   peer that reads nothing of what it queued
				   before dropping it (said on stderr); a
				   peer that keeps reading is waited for.
				   Default 2000 */
	ISO_LIMIT_CONNS,	/* connections open at once on this isolate's
				   socket; default 4096. Beyond, a peer is
				   refused and its next send fails with
				   EAGAIN */
	ISO_LIMIT_ZEROCOPY	/* bytes values made by iso_bytes_new with
				   this many bytes or more live in a sealed
				   shared memory file that goes between
				   isolates without a copy (y# copies into
				   plain bytes); default 64 KiB */
};

/* Process-wide. set: -1/EINVAL for an unknown limit or a value out of range. */
int		 iso_limit_set(enum iso_limit which, size_t value);
size_t		 iso_limit_get(enum iso_limit which);

/* ---- SendPort -------------------------------------------------------- */

/*
 * A SendPort: a plain value, copied by assignment, valid in every isolate
 * and able to travel inside messages ('P' in iso_msg_pack). `isolate` names
 * the isolate that owns the ReceivePort and is never reused, so a recycled
 * pid cannot misroute a message; `pid` is for display only.
 */
typedef struct iso_sendport {
	uint64_t	isolate;
	uint32_t	pid;
	uint32_t	port;
} iso_sendport;

/* ---- messages -------------------------------------------------------- */

/*
 * A message value: nil, bool, integer (int64, and uint64 above INT64_MAX),
 * double, UTF-8 string, bytes, list, map (any value as key), SendPort or
 * an open file descriptor (ISO_FD).
 * A message is a tree; an iso_msg * returned "owned" is the root of one and
 * is released with iso_msg_free. Values reached through the accessors are
 * borrowed from their root and live until it is freed or changed.
 *
 * A descriptor value owns a descriptor of its own (close-on-exec): pack
 * duplicates the caller's, iso_msg_copy duplicates the message's,
 * iso_msg_free closes what the message still owns, and a message that
 * is dropped anywhere (a closed port, an isolate that ends before
 * reading it, a queue given up) closes its descriptors. It travels to
 * isolates of this machine (SCM_RIGHTS: the receiver's message holds a
 * new descriptor for the same open file), never as JSON, to the
 * supervisor or to another machine: those refuse it (docs/api.md).
 */
typedef struct iso_msg iso_msg;

typedef enum iso_type {
	ISO_NIL,
	ISO_BOOL,
	ISO_INT,
	ISO_FLOAT,
	ISO_STR,
	ISO_BYTES,
	ISO_LIST,
	ISO_MAP,
	ISO_PORT,
	ISO_FD		/* an open file descriptor (any kind) */
} iso_type;

/*
 * Build a message from a format, as jansson's json_pack:
 *   n nil            b bool (int)       i int            I int64_t
 *   U uint64_t       f double           s string (NUL-terminated)
 *   s# string, size_t length            y# bytes, size_t length
 *   Y# bytes, size_t length, borrowed: the message points at the
 *     caller's bytes instead of copying them; they must stay valid and
 *     unchanged while the message is in use (iso_msg_free never reads
 *     or frees them). What is made from the message (iso_msg_copy, O, a
 *     send, iso_msg_encode) copies them and borrows nothing.
 *   P iso_sendport   O const iso_msg * (deep-copied)
 *   h int, an open descriptor: the message holds its own duplicate
 *     (F_DUPFD_CLOEXEC); the caller keeps and closes theirs
 *   [ ... ] list     { k v ... } map: each key is any one value, usually s
 * s? and O? give nil for a NULL argument. Spaces, ':' and ',' are ignored.
 * Returns an owned message, or NULL with EINVAL (bad format, NULL string,
 * invalid UTF-8), EMSGSIZE (deeper than ISO_LIMIT_DEPTH), EBADF (h: not
 * an open descriptor; O: a descriptor taken out of it), EMFILE or ENOMEM.
 */
iso_msg		*iso_msg_pack(const char *fmt, ...);
iso_msg		*iso_msg_vpack(const char *fmt, va_list ap);

/*
 * Read a message through a format, the mirror of iso_msg_pack:
 *   n  (no argument)  b int *   i int *   I int64_t *   U uint64_t *
 *   f double *   s const char **   s# const char **, size_t *
 *   y# const void **, size_t *   P iso_sendport *   O const iso_msg **
 *   h int * (the descriptor, borrowed: it stays the message's)
 *   [ ... ] list items in order; { s ... } values by string key.
 * In a map, `s?` makes the key optional: when absent its value's pointers
 * are left untouched. A `!` before `]` or `}` demands that nothing else is
 * there. Strings, bytes and O are borrowed from m.
 * Returns 0, or -1 with EINVAL (format and message disagree, or a bad
 * format), ERANGE (a number does not fit the C type) or EBADF (h: the
 * descriptor was taken); outputs may be partly written on failure.
 */
int		 iso_msg_unpack(const iso_msg *m, const char *fmt, ...);
int		 iso_msg_vunpack(const iso_msg *m, const char *fmt, va_list ap);

/* Free an owned message (and everything under it), closing the
   descriptors it still owns. NULL is a no-op. */
void		 iso_msg_free(iso_msg *m);

/* An owned deep copy, its descriptors duplicated; NULL with ENOMEM,
   EMFILE, or EBADF (a descriptor was taken out of m). */
iso_msg		*iso_msg_copy(const iso_msg *m);

/*
 * 1 if a and b are the same value: same type, same items in the same
 * order (maps too), doubles compared bit for bit except that every NaN
 * equals every NaN (so 0.0 and -0.0 differ), descriptors equal when they
 * refer to the same open file description (kcmp(2); where it is not
 * available, the same file and access mode by fstat and F_GETFL), and a
 * taken descriptor equal only to another taken one. Else 0.
 */
int		 iso_msg_equal(const iso_msg *a, const iso_msg *b);

/* Walking a message of unknown shape. */
iso_type	 iso_msg_type(const iso_msg *m);
/* Items of a list, pairs of a map, bytes of a string or bytes; else 0. */
size_t		 iso_msg_len(const iso_msg *m);
/* List item i, borrowed; NULL with EINVAL (not a list) or ERANGE. */
const iso_msg	*iso_msg_at(const iso_msg *m, size_t i);
/* Key or value of map pair i, borrowed; NULL with EINVAL or ERANGE. */
const iso_msg	*iso_msg_key_at(const iso_msg *m, size_t i);
const iso_msg	*iso_msg_value_at(const iso_msg *m, size_t i);
/* The value under a string key (first match), borrowed; NULL with EINVAL
   (not a map) or ENOENT. */
const iso_msg	*iso_msg_get(const iso_msg *m, const char *key);
/* The value under any key (first match by iso_msg_equal). */
const iso_msg	*iso_msg_lookup(const iso_msg *m, const iso_msg *key);

/* Scalar getters: 0, or -1 with EINVAL (wrong type) or ERANGE. */
int		 iso_msg_bool(const iso_msg *m, int *out);
int		 iso_msg_int(const iso_msg *m, int64_t *out);
int		 iso_msg_uint(const iso_msg *m, uint64_t *out);
int		 iso_msg_float(const iso_msg *m, double *out);
int		 iso_msg_sendport(const iso_msg *m, iso_sendport *out);
/*
 * A descriptor value. iso_msg_fd: the descriptor, borrowed: it stays the
 * message's, closed when the message is freed (dup it to keep it).
 * iso_msg_fd_take: the descriptor, now the caller's to close; the message
 * no longer owns it (it stays a descriptor value, taken: iso_msg_fd and a
 * second take fail with EBADF, a send or copy of the message too). Both
 * take a borrowed value, a listener's message included. -1 with EINVAL
 * (not a descriptor) or EBADF (already taken).
 */
int		 iso_msg_fd(const iso_msg *m);
int		 iso_msg_fd_take(const iso_msg *m);
/* Borrowed data and its length (len may be NULL); NULL/EINVAL if m is not
   a string (bytes). A string is NUL-terminated and may contain NULs. */
const char	*iso_msg_str(const iso_msg *m, size_t *len);
const void	*iso_msg_bytes(const iso_msg *m, size_t *len);
/*
 * A bytes value of len bytes for the caller to fill in place: *ptr, which
 * may be written until the message (or one it was packed into with O) is
 * first sent, copied or encoded. From then on the bytes are read-only
 * (ISO_LIMIT_ZEROCOPY bytes or more: sealed, and writing faults; fewer:
 * a write is not seen by what was sent). NULL with EMSGSIZE (over 4 GiB
 * - 1), EINVAL, ENOMEM.
 */
iso_msg		*iso_bytes_new(size_t len, void **ptr);

/*
 * Growing a message whose shape is known only at run time. `list` and
 * `map` must be roots the caller owns (iso_msg_pack("[]"), "{}", or any
 * owned message of that type). The item, key and value are taken over and
 * freed by the call whatever it returns. iso_msg_put replaces the value of
 * an existing equal key. -1 with EINVAL (wrong type, item is the list),
 * EMSGSIZE (too deep) or ENOMEM.
 */
int		 iso_msg_append(iso_msg *list, iso_msg *item);
int		 iso_msg_put(iso_msg *map, iso_msg *key, iso_msg *value);

/* ---- JSON ------------------------------------------------------------ */

/*
 * Every message has a JSON form that reads back as the same message
 * (docs/protocol.md). Tagged objects with one "$"-key carry what JSON
 * lacks: {"$bytes": base64}, {"$port": "ISOLATE:PID:PORT"},
 * {"$uint": "decimal"}, {"$float": "nan"|"inf"|"-inf"} and
 * {"$map": [[key, value], ...]} for maps JSON cannot hold as objects.
 */
/* Compact one-line JSON, owned (free()); NULL with errno. */
char		*iso_msg_to_json(const iso_msg *m);
/* NULL with EINVAL and iso_error() saying where the text is wrong, or
   EMSGSIZE (too deep or too many values). */
iso_msg		*iso_msg_from_json(const char *text);

/* ---- wire format ----------------------------------------------------- */

/*
 * MessagePack of m in an owned buffer (free()): *buf and *len are set on
 * success. -1 with EMSGSIZE (beyond a limit) or ENOMEM.
 */
int		 iso_msg_encode(const iso_msg *m, void **buf, size_t *len);
/*
 * Decode exactly one MessagePack value filling buf[0..len). Hostile input
 * is safe: lengths, counts, nesting, UTF-8 and ext types are checked before
 * anything is allocated. Owned result, or NULL with EBADMSG (malformed),
 * EMSGSIZE (beyond a limit) or ENOMEM; iso_error() says what and where.
 */
iso_msg		*iso_msg_decode(const void *buf, size_t len);
/*
 * iso_msg_decode whose bytes values are not copied: iso_msg_bytes of each
 * points into buf, as msgpack_unpack's objects point into their input.
 * buf stays the caller's: it must stay valid and unchanged while the
 * message is in use, and iso_msg_free never reads or frees it.
 * Strings are copied (they are NUL-terminated in a message, not in the
 * frame). iso_msg_copy, O, a send or iso_msg_encode of the message copy
 * the bytes, so what they make does not borrow buf. Errors as
 * iso_msg_decode.
 */
iso_msg		*iso_msg_decode_borrow(const void *buf, size_t len);

/*
 * Frames on a blocking descriptor: a 4-byte big-endian payload length,
 * then the payload. write: 0 or -1 (errno from write, EMSGSIZE); never
 * raises SIGPIPE on a socket. read: 1 and an owned *out, 0 at a clean end
 * of stream, -1 with EBADMSG (bad or truncated frame), EMSGSIZE (length
 * over ISO_LIMIT_FRAME, refused before allocating) or read's errno.
 * Both retry on EINTR.
 */
int		 iso_msg_write(int fd, const iso_msg *m);
int		 iso_msg_read(int fd, iso_msg **out);

/* ---- ports (port.c) -------------------------------------------------- */

/*
 * A ReceivePort. Owned by the isolate that made it; released by
 * iso_port_close (or by a successful iso_port_first). An open port keeps
 * iso_run going, listened to or not; messages to a port without a
 * listener wait for one. All port, isolate and timer calls are made from
 * the thread that runs the isolate's loop.
 */
typedef struct iso_port iso_port;

/* A new open port, or NULL with errno (EACCES/ENOTDIR/ENAMETOOLONG from
   the runtime directory, EMFILE, ENOMEM). */
iso_port	*iso_port_new(void);
/* The SendPort of p: give it to other isolates (inside messages). */
iso_sendport	 iso_port_sendport(const iso_port *p);
/* 1 if a and b name the same port. */
int		 iso_sendport_equal(iso_sendport a, iso_sendport b);
/*
 * Call fn for every message, in arrival order, from the loop, until the
 * port is closed (closing it inside fn is allowed). The message is
 * borrowed and lives until fn returns. Messages that waited are delivered
 * first. -1/EINVAL if p already has a listener or a first in progress.
 */
int		 iso_port_listen(iso_port *p,
		    void (*fn)(iso_port *p, const iso_msg *m, void *arg),
		    void *arg);
/*
 * Wait for one message and close (release) p: 0 and an owned *out. Runs
 * the loop while it waits, so timers and other ports keep working;
 * timeout_ms < 0 waits forever. -1 with ETIMEDOUT (nothing consumed, p
 * stays open), ECANCELED (a callback closed p meanwhile: p is released),
 * EINVAL (p has a listener) or EDEADLK (called inside a callback, where
 * the loop cannot be run again).
 */
int		 iso_port_first(iso_port *p, iso_msg **out, int timeout_ms);
/* Close and release p; messages that waited are dropped. NULL is a no-op. */
void		 iso_port_close(iso_port *p);

/*
 * Send a copy of m to a port, in this isolate or any other of this user.
 * Never blocks and never raises SIGPIPE: what cannot be written at once is
 * queued and written by the loop (and at exit). Sends made during one
 * callback are written together when it returns. 0, or -1 with
 * ECONNREFUSED (the isolate is gone), ENOBUFS (ISO_LIMIT_QUEUE bytes
 * already wait for that peer), EMSGSIZE, EINVAL. A message for a port that
 * is closed in a live isolate is dropped there, as Dart drops it.
 */
int		 iso_send(iso_sendport to, const iso_msg *m);
/*
 * Pack a message from fmt and its arguments, as iso_msg_pack, and send it,
 * as iso_send: one call, and no message is made. Once a format has been
 * packed (by any call with that format string), the next sends with it
 * encode the value straight into the queue to the peer. 0, or -1 with
 * iso_msg_pack's or iso_send's errors (nothing was sent).
 */
int		 iso_sendf(iso_sendport to, const char *fmt, ...);
int		 iso_vsendf(iso_sendport to, const char *fmt, va_list ap);
/*
 * iso_send, waiting for room when ISO_LIMIT_QUEUE bytes already wait for
 * that peer: runs the loop (timers and listeners keep working) until m is
 * queued or timeout_ms passes (< 0: no limit). 0, or -1 with ETIMEDOUT
 * (m not queued), EDEADLK (the queue is full and this is a callback,
 * where the loop cannot be run again: use iso_on_writable), or
 * iso_send's errors.
 */
int		 iso_send_wait(iso_sendport to, const iso_msg *m,
		    int timeout_ms);
/*
 * Call cb(ud) once, from the loop, when the queue to `to`'s isolate has
 * room: once it has drained to half of ISO_LIMIT_QUEUE or less, or the
 * peer is gone (a send then fails with ECONNREFUSED); soon if it has room
 * now. Never from inside this call. 0, or -1 with EINVAL or ENOMEM.
 */
int		 iso_on_writable(iso_sendport to, void (*cb)(void *ud),
		    void *ud);

/* ---- isolates (isolate.c, compute.c) -------------------------------- */

/* A handle on a spawned isolate; release it with iso_isolate_free. */
typedef struct iso_isolate iso_isolate;

#define ISO_IMMEDIATE		0	/* SIGKILL, reaped before returning */
#define ISO_BEFORE_NEXT_EVENT	1	/* ends after the current callback */

/*
 * Isolate.spawn: fork a new isolate that sees memory as it was at the
 * call, runs entry(arg) (arg points into its copy), then its loop until no
 * port or timer is open, then exits 0. It dies with its spawner. *out
 * (owned) may be NULL when no handle is wanted. -1 with errno from fork,
 * pidfd_open or the runtime directory.
 */
int		 iso_spawn(void (*entry)(const iso_msg *arg), const iso_msg *arg,
		    iso_isolate **out);
/*
 * Isolate.spawnUri: run argv[0] (searched in PATH) as an isolate; it
 * reads arg with iso_initial_message(). -1 with exec's errno when the
 * program cannot be started.
 */
int		 iso_spawn_exec(char *const argv[], const iso_msg *arg,
		    iso_isolate **out);
/* In a program started by iso_spawn_exec: its argument (borrowed, lives
   until exit); NULL with ENOENT elsewhere. */
const iso_msg	*iso_initial_message(void);
/* Isolate.kill. 0, or -1 with ESRCH (already ended), EINVAL. */
int		 iso_kill(iso_isolate *iso, int priority);
pid_t		 iso_pid(const iso_isolate *iso);
/*
 * Isolate.addOnExitListener: send a copy of response (NULL: nil) to `to`
 * when the isolate ends, however it ends; at once if it has ended.
 */
int		 iso_on_exit(iso_isolate *iso, iso_sendport to,
		    const iso_msg *response);
/*
 * Isolate.addErrorListener: when the isolate dies abnormally (a signal,
 * abort(), a non-zero exit; not iso_kill) send [description, detail], e.g.
 * ["SIGSEGV", "isolate 123 killed by signal 11 (Segmentation fault)"].
 */
int		 iso_on_error(iso_isolate *iso, iso_sendport to);
/* Let go of a handle. The isolate runs on (and still ends with its
   spawner); its listeners still fire. NULL is a no-op. */
void		 iso_isolate_free(iso_isolate *iso);
/* ---- spawn options (attr.c) ------------------------------------------- */

/*
 * Options for iso_spawn_with / iso_spawn_exec_with, in the manner of
 * posix_spawnattr_t: made empty (every option as iso_spawn has it), set
 * one by one, used by any number of spawns, freed by the caller. A setter
 * returns 0, or -1 with EINVAL (and iso_error()) for a value it refuses.
 */
typedef struct iso_spawn_attr iso_spawn_attr;

/* What iso_spawn_attr_set_limit limits (setrlimit in the new isolate). */
enum iso_rlimit {
	ISO_RLIMIT_MEMORY,	/* bytes of address space (RLIMIT_AS) */
	ISO_RLIMIT_CPU,		/* seconds of CPU time (RLIMIT_CPU) */
	ISO_RLIMIT_NOFILE,	/* open descriptors (RLIMIT_NOFILE) */
	ISO_RLIMIT_NPROC	/* processes of the user (RLIMIT_NPROC) */
};

/* NULL with ENOMEM. */
iso_spawn_attr	*iso_spawn_attr_new(void);
/* NULL is a no-op. */
void		 iso_spawn_attr_free(iso_spawn_attr *a);
/*
 * Isolate.spawn's debugName: shown by isoctl ps, in error texts, and as
 * the process's name (/proc/PID/comm, cut to 15 bytes). 1 to 255 bytes of
 * UTF-8 without control characters; copied.
 */
int		 iso_spawn_attr_set_name(iso_spawn_attr *a, const char *name);
/* Isolate.spawn's paused: the isolate is made and stopped before its
   entry (or exec) runs; iso_resume starts it. */
int		 iso_spawn_attr_set_paused(iso_spawn_attr *a, int paused);
/* Isolate.spawn's onExit / onError, listening from before the isolate
   runs: iso_on_exit and iso_on_error on the new handle. response is
   copied (NULL: nil). Setting again replaces. */
int		 iso_spawn_attr_set_on_exit(iso_spawn_attr *a, iso_sendport to,
		    const iso_msg *response);
int		 iso_spawn_attr_set_on_error(iso_spawn_attr *a,
		    iso_sendport to);
/* A hard limit for the new isolate (0 < value). */
int		 iso_spawn_attr_set_limit(iso_spawn_attr *a,
		    enum iso_rlimit which, uint64_t value);
/* A sandbox profile for the new isolate (docs/api.md lists them); an
   unknown profile or one this machine cannot enforce is refused here. */
int		 iso_spawn_attr_set_sandbox(iso_spawn_attr *a,
		    const char *profile);
/* iso_spawn and iso_spawn_exec with options; a NULL a is iso_spawn's. */
int		 iso_spawn_with(void (*entry)(const iso_msg *arg),
		    const iso_msg *arg, const iso_spawn_attr *a,
		    iso_isolate **out);
int		 iso_spawn_exec_with(char *const argv[], const iso_msg *arg,
		    const iso_spawn_attr *a, iso_isolate **out);

/* ---- pause, resume, ping (isolate.c, ping.c) ---------------------------- */

/*
 * Isolate.pause / resume: stop our isolate (SIGSTOP; returns once it is
 * stopped) and let it go on (SIGCONT). A paused isolate runs no code;
 * messages to it wait in the socket's buffer and then in each sender's
 * queue, and once ISO_LIMIT_QUEUE bytes wait there iso_send fails with
 * ENOBUFS: nothing accepted is lost. Pausing twice is pausing once.
 * iso_kill(ISO_BEFORE_NEXT_EVENT) resumes a paused isolate so that it
 * can end. 0, or -1 with ESRCH (ended, or not ours), EINVAL.
 */
int		 iso_pause(iso_isolate *iso);
int		 iso_resume(iso_isolate *iso);
/*
 * Isolate.ping: send a copy of response (NULL: nil; no descriptors) to
 * `to` from the isolate's own loop, when it next reads its connections:
 * a reply proves the loop is responsive (a busy or paused one answers
 * only once it yields or is resumed). ISO_IMMEDIATE: this process answers
 * at once for it if its process exists, even paused. An isolate started
 * by iso_spawn_exec is reached through its socket: it answers once it has
 * opened a port. 0, or -1 with ESRCH (ended), EINVAL (priority, response),
 * or iso_send's errors.
 */
int		 iso_ping(iso_isolate *iso, iso_sendport to,
		    const iso_msg *response, int priority);

/*
 * Isolate.exit: send final (NULL: nil) to `to`, write out everything
 * queued, and end this isolate with status 0. Does not return.
 */
void		 iso_exit(iso_sendport to, const iso_msg *final)
		    __attribute__((noreturn));

/*
 * compute / Isolate.run: run fn(arg) in a new isolate and hand back its
 * result (owned *result). Runs the loop while it waits. -1 with EIO when
 * fn crashed, exited or returned NULL (iso_error() says which), EMSGSIZE
 * when its result is beyond the limits, EDEADLK inside a callback, or
 * spawn's errno.
 */
int		 iso_compute(iso_msg *(*fn)(const iso_msg *arg),
		    const iso_msg *arg, iso_msg **result);
/* The same, killed after timeout_ms (0: none): -1 with ETIMEDOUT. */
int		 iso_compute_timeout(iso_msg *(*fn)(const iso_msg *arg),
		    const iso_msg *arg, int timeout_ms, iso_msg **result);
/*
 * The same in a new isolate spawned with a's name, limits and sandbox
 * (NULL: none; never on iso_compute_set_pool's pool). A function its
 * sandbox stops fails with EIO and iso_error() naming the call
 * ("compute: function killed by SIGSYS: blocked system call openat").
 */
int		 iso_compute_with(iso_msg *(*fn)(const iso_msg *arg),
		    const iso_msg *arg, const iso_spawn_attr *a,
		    int timeout_ms, iso_msg **result);

/* ---- pools (pool.c) --------------------------------------------------- */

/*
 * A warm pool: n worker isolates forked once, each running one job at a
 * time, so that fn(arg) costs a round trip instead of a fork. Workers
 * are forked from the program as iso_spawn forks (fn may be any function
 * of the program; a worker replacing one that died is forked from the
 * program as it is then). A pool belongs to the isolate that made it: in
 * an isolate spawned later it is not usable (EINVAL) and its workers are
 * not that isolate's. An idle pool does not keep iso_run going; a job not
 * yet told does. Workers die with the pool's isolate.
 *
 * Errors of a job, with iso_error() saying which: EIO when fn crashed
 * ("pool: function killed by SIGSEGV"), exited or returned NULL (the
 * worker is replaced when it died; a job is never run again), ETIMEDOUT
 * when it ran past its timeout_ms (the worker is killed and replaced),
 * EMSGSIZE when its result is beyond the limits, ECANCELED when it was
 * still queued at iso_pool_cancel, or no worker is left and none can be
 * forked.
 */
typedef struct iso_pool iso_pool;

#define ISO_POOL_QUEUE	65536	/* jobs waiting for a worker, by default */

/* n workers forked now (0: one per online CPU). Owned: iso_pool_free.
   NULL with EINVAL or spawn's errno. */
iso_pool	*iso_pool_new(int n);
/* The same, each worker (and each that replaces one) spawned with a's
   name, limits and sandbox, copied now (NULL: none). A job its sandbox
   stops fails with EIO naming the call, and its worker is replaced. */
iso_pool	*iso_pool_new_with(int n, const iso_spawn_attr *a);
/*
 * Run fn(arg) on a worker (arg is copied before the call returns; NULL
 * passes NULL to fn), queued while all are busy, in submission order.
 * timeout_ms 0: none. done(err, result, ud) is called exactly once, from
 * the loop, never from inside this call: err 0 and an owned result (done
 * frees it; a NULL done drops it), or an errno as above with a NULL
 * result. 0 when accepted, or -1 with ENOBUFS (the queue is full),
 * EMSGSIZE (arg beyond the limits), EINVAL (no pool or fn, timeout < 0,
 * a pool of another isolate or being freed), ENOMEM; done is then not
 * called.
 */
int		 iso_pool_submit(iso_pool *p, iso_msg *(*fn)(const iso_msg *arg),
		    const iso_msg *arg, int timeout_ms,
		    void (*done)(int err, iso_msg *result, void *ud),
		    void *ud);
/* The same, waiting (runs the loop): 0 and an owned *result, or -1 with
   the job's errors, iso_pool_submit's, or EDEADLK inside a callback. */
int		 iso_pool_call(iso_pool *p, iso_msg *(*fn)(const iso_msg *arg),
		    const iso_msg *arg, int timeout_ms, iso_msg **result);
/*
 * fn over each item of the list args (borrowed; not changed until this
 * returns), spread over the workers in batches, waiting (runs the loop).
 * Each item is a job as above, with the same errors and timeout_ms each,
 * but without a copy, a done or a record of its own. *results (owned) is
 * a list as long as args, in its order: each item's result, nil where
 * the item failed. errs, when not NULL, is the caller's array of
 * iso_msg_len(args) ints: each item's errno, 0 where it succeeded.
 * Items not yet sent to a worker do not count against the queue limit,
 * and iso_pool_cancel fails them with ECANCELED. 0 when every item
 * succeeded. -1 with errno: an item's error (that of the first that
 * failed, which iso_error() names; *results is still set); EINVAL (no
 * pool or fn, timeout < 0, args not a list, a pool of another isolate or
 * being freed); EDEADLK inside a callback; ENOMEM; or the loop's error
 * (*results NULL; the items not begun are cancelled).
 */
int		 iso_pool_map(iso_pool *p, iso_msg *(*fn)(const iso_msg *arg),
		    const iso_msg *args, int timeout_ms, iso_msg **results,
		    int *errs);
/* Cancel the jobs still queued (not those running), and a running
   map's items not yet sent: each done gets ECANCELED, from the loop.
   The number cancelled, or -1/EINVAL. */
int		 iso_pool_cancel(iso_pool *p);
/* Jobs that may wait for a worker before a submit fails with ENOBUFS
   (ISO_POOL_QUEUE by default). 0, or -1/EINVAL. */
int		 iso_pool_set_queue(iso_pool *p, size_t max);
/* Workers alive now (n, unless one died and could not be replaced). */
int		 iso_pool_size(const iso_pool *p);
/*
 * Finish queued and running jobs (their done calls are made: the loop
 * runs), then end the workers (reaped) and free p. Inside a callback,
 * where the loop cannot run, this returns at once and p is freed from
 * the loop once its last job is told; p may not be used after the call
 * either way. NULL, or a pool of another isolate, is a no-op.
 */
void		 iso_pool_free(iso_pool *p);
/*
 * Make p the pool iso_compute and iso_compute_timeout run on (a warm
 * worker instead of a new isolate per call; their errors are then the
 * pool's), or NULL for a new isolate per call (the default). p stays the
 * caller's; freeing it sets this back to NULL. An isolate spawned later
 * starts with none.
 */
void		 iso_compute_set_pool(iso_pool *p);

/* ---- timers and the loop (timer.c, loop.c) -------------------------- */

typedef struct iso_timer iso_timer;

/*
 * Timer(ms, fn): call fn once after ms. The handle is released when fn
 * returns; cancel it only before that (or inside fn). NULL with errno.
 */
iso_timer	*iso_timer_after(int ms, void (*fn)(void *arg), void *arg);
/* Timer.periodic: call fn every ms until cancelled (inside fn is fine). */
iso_timer	*iso_timer_every(int ms, void (*fn)(iso_timer *t, void *arg),
		    void *arg);
/* Cancel and release t. NULL is a no-op. */
void		 iso_timer_cancel(iso_timer *t);

/*
 * Run this isolate's loop until no port is open and no timer pending,
 * then write out what is queued. 0, or -1 with EDEADLK inside a callback.
 */
int		 iso_run(void);

/* The loop's libevent base, for programs that add events of their own
   (created on first use). NULL with errno. */
struct event_base;
struct event_base *iso_event_base(void);

/* The runtime directory holding this user's sockets (borrowed), or NULL
   with errno when it cannot be made safe. */
const char	*iso_runtime_dir(void);

/* ---- the supervisor, isolated (supclient.c) ---------------------------- */

/*
 * One supervisor per runtime directory tracks this user's isolates, runs
 * commands under restart policies, names ports and serves computations
 * (docs/supervisor.md). Each call below connects to it, starting it in
 * the background first when none runs (except iso_sup_stop and
 * iso_sup_status); the program's own isolates never need it. Calls block
 * until the supervisor answers; they do not run the isolate's loop.
 * Beyond each call's own errors, every call can fail with ECONNREFUSED
 * (no supervisor and it cannot be started: iso_error() says why),
 * ECONNRESET (it went away mid-call, after reading a request that is
 * not safe to repeat: a request it never read, or one safe to repeat,
 * is sent again to the next supervisor) or EPROTO (a reply it should not
 * have sent). iso_error() holds the supervisor's one-line reason.
 *
 * A TARGET names an isolate by its id (16 hex digits, as iso_sup_spawn
 * and `isoctl ps` give it) or by its name.
 */

typedef enum iso_restart {
	ISO_RESTART_NEVER,		/* run once */
	ISO_RESTART_ON_FAILURE,		/* again after a non-zero exit or a
					   signal that iso_sup_kill did not send */
	ISO_RESTART_ALWAYS		/* again after any end but iso_sup_kill */
} iso_restart;

typedef struct iso_sup_spawn_opts {
	char *const	 *argv;		/* the command; argv[0] is searched in
					   the supervisor's PATH */
	const char	 *name;		/* NULL: none; else unique among the
					   isolates the supervisor knows */
	char *const	 *envp;		/* NULL: the supervisor's environment */
	const char	 *cwd;		/* NULL: the supervisor's, "/" */
	iso_restart	  restart;
	/* 0 picks the default. Backoff: the first restart after backoff_ms
	   (100), doubling up to backoff_max_ms (30000), back to the start
	   once a run lasted reset_ms (10000). Intensity: more than
	   max_restarts (5) within period_ms (10000) marks it failed. */
	int		  backoff_ms;
	int		  backoff_max_ms;
	int		  reset_ms;
	int		  max_restarts;
	int		  period_ms;
	/* Messages its mailbox holds (see iso_sup_send); 0: 256. */
	int		  mailbox;
	/* Make any program an isolate: its stdin and stdout are a
	   pseudo-terminal; each message for it (its mailbox) is written to
	   its stdin as a line of JSON, and each line it prints becomes a
	   message (its JSON if it parses, else a string) that
	   iso_sup_recv takes. */
	int		  lines;
	/* Non-zero: the supervisor syncs (fdatasync) each record of this
	   command's mailbox log before it answers, so that what it
	   accepted outlives a machine crash too; slower. Without it what
	   was accepted outlives the supervisor, not the machine. */
	int		  mailbox_sync;
	/* Limits (0: none), set in the command before exec as
	   iso_spawn_attr_set_limit's (docs/api.md): bytes of address space,
	   seconds of CPU, open descriptors, processes of its user. A
	   command a limit ends is restarted by its policy; the row's
	   "reason" says which limit in words. */
	uint64_t	  memory;
	uint64_t	  cpu;
	uint64_t	  nofile;
	uint64_t	  nproc;
	/* Restart the command (whatever its policy) once its resident
	   memory passes this many bytes, looked at every second, as pm2's
	   max_memory_restart; 0: never. */
	uint64_t	  max_memory;
	/* spawn options (isoctl spawn --paused) */
	int		  paused;	/* stopped before exec, until
					   iso_sup_resume; its first run only */
	/* A sandbox profile (iso_spawn_attr_set_sandbox) the command runs
	   under; NULL: none. compute and noexec are refused: they would
	   block the exec that starts it. */
	const char	 *sandbox;
} iso_sup_spawn_opts;

/* Start opts->argv as a supervised isolate; *id (may be NULL) gets its
   id. Returns once the command runs (its pid is in iso_sup_list) or
   could not start. -1 with EINVAL (no argv, bad option) or EEXIST (name
   taken). The command's start failing (no such program) is not an error
   here: it shows as state "failed" with the reason in the isolate's
   "error". */
int		 iso_sup_spawn(const iso_sup_spawn_opts *opts, uint64_t *id);
/*
 * Every isolate the supervisor knows, running or ended (a bounded
 * history): an owned list of maps with "id" (16 hex digits), "name"
 * (string or nil), "pid", "parent" (an id, or nil for the supervisor's
 * own commands), "kind" ("command" or "isolate"), "command" (list of
 * strings) or "entry" (string), "state" ("running", "restarting",
 * "exited", "failed"), "started" (Unix time, float), "exit_code" and
 * "signal" (int or nil), "restarts", "error" (string or nil); commands
 * also "limits" (a map: "memory", "cpu", "nofile", "nproc", "max_memory"
 * as set, each {"value": N, "by": "setrlimit", "setrlimit+cgroup" or
 * "supervisor"}) and "reason" (why its last run ended when a limit or
 * max_memory ended it, in words, else nil).
 */
int		 iso_sup_list(iso_msg **list);
/*
 * What each isolate the supervisor knows costs now, read from /proc when
 * asked: an owned list of maps with "id", "name", "pid", "state", "kind",
 * "command" or "entry" and "restarts" as in iso_sup_list, and "cpu_ms"
 * (CPU time used so far, user and system, in ms), "pss_kb" and "rss_kb"
 * (memory, in KiB), "procs" (processes counted), "mailbox" and "outbox"
 * (messages waiting; nil when it has none). A command counts as its
 * process group (what a `sh -c` wrapper starts, and the CPU time of
 * children they have reaped); an isolate of the library, its process
 * only. cpu_ms, pss_kb and rss_kb are nil for an isolate not running or
 * whose processes could not be read. CPU use is the difference of two
 * calls' cpu_ms over the time between them.
 */
int		 iso_sup_stats(iso_msg **rows);
/* Kill a supervised isolate: ISO_IMMEDIATE sends SIGKILL,
   ISO_BEFORE_NEXT_EVENT SIGTERM (then SIGKILL after isolated's
   --grace-ms, 5 s by default). It is not restarted. -1 with ENOENT
   (unknown target), ESRCH (not running). */
int		 iso_sup_kill(const char *target, int priority);
/* Wait until target is no longer running (or restarting) and set
   *status (owned, may be NULL) to its row as in iso_sup_list.
   timeout_ms < 0: forever. -1 with ENOENT or ETIMEDOUT. */
int		 iso_sup_wait(const char *target, int timeout_ms,
		    iso_msg **status);
/*
 * Restart, forget, filter (isoctl restart, rm, ps).
 * restart: end target's run and run it again at once, whatever its
 * restart policy: now 0 sends SIGTERM, then SIGKILL after isolated's
 * --grace-ms; now 1 sends SIGKILL. An ended (or restarting) command is
 * simply run again. Its backoff and intensity start over, and the run
 * counts in its "restarts". Returns once the new run runs (as
 * iso_sup_spawn does); *id (may be NULL) gets its id, which is the same.
 * -1 with ENOENT, EINVAL (an isolate a program forked: only commands
 * can be restarted), EBUSY (a spawn or restart of it is under way),
 * ECANCELED (killed meanwhile, or the supervisor is stopping).
 * rm: forget an ended isolate: its row and its files (log, mailbox,
 * outbox). -1 with ENOENT, EBUSY (running or restarting: kill it first).
 */
int		 iso_sup_restart(const char *target, int now, uint64_t *id);
int		 iso_sup_rm(const char *target);

/*
 * Pause (SIGSTOP: a command's process group, or an isolate's process)
 * and resume (SIGCONT) a running target; its row says "paused": true.
 * Ping: ISO_IMMEDIATE answers (0) if its process is there, paused or
 * not; otherwise an isolate's own loop is asked, on its socket, as
 * iso_ping asks it (it must have a port open), and a command, which has
 * no loop of ours, counts as answering while it is not paused. -1 with
 * ENOENT, ESRCH (not running), ETIMEDOUT (no answer within timeout_ms;
 * < 0: no limit), ECONNREFUSED (an isolate with no port open).
 */
int		 iso_sup_pause(const char *target);
int		 iso_sup_resume(const char *target);
int		 iso_sup_ping(const char *target, int priority, int timeout_ms);

typedef enum iso_sup_state {
	ISO_SUP_ANY,			/* every state */
	ISO_SUP_RUNNING,
	ISO_SUP_RESTARTING,
	ISO_SUP_EXITED,
	ISO_SUP_FAILED,
	ISO_SUP_ENDED			/* exited or failed */
} iso_sup_state;

typedef struct iso_sup_list_opts {
	const char	 *name;		/* NULL: any; else an fnmatch(3)
					   pattern a row's name must match
					   (a program's isolate without one
					   by its entry; a command without
					   one never does) */
	iso_sup_state	  state;
	int		  all;		/* 0: leave out the isolates that
					   programs forked and that have
					   ended (isoctl ps without --all) */
} iso_sup_list_opts;

/* The rows of iso_sup_list that pass opts' filters (NULL opts: every
   row, as iso_sup_list). -1 with EINVAL (a bad state). */
int		 iso_sup_list_filter(const iso_sup_list_opts *opts,
		    iso_msg **list);

/*
 * What a command wrote on stdout and stderr (with `lines`, stderr only),
 * at most 1 MiB a call: *offset 0 gives the latest of what is kept; pass
 * back the *offset a call set to get what was written since (an opaque
 * position; empty data: nothing new yet). *data (owned, free()) gets the
 * bytes, NUL-terminated, *len their length. -1 with ENOENT.
 */
int		 iso_sup_logs(const char *target, uint64_t *offset,
		    char **data, size_t *len);

/*
 * Mailboxes. Every command the supervisor runs has a SendPort held by the
 * supervisor (its row's "port"; iso_sup_lookup of the command's name gives
 * it too): messages sent to it, with iso_send or iso_sup_send, wait in a
 * bounded mailbox, kept across a restart of the supervisor, until taken.
 * When the mailbox is full, iso_sup_send fails with ENOBUFS and plain
 * iso_send calls queue in the sender until they fail with ENOBUFS too;
 * nothing accepted is dropped.
 *
 * send: a copy of m to target: a registered name (its port, wherever it
 * is), else the mailbox of the command with that name or id. -1 with
 * ENOENT, ENOBUFS (mailbox full), ECONNREFUSED (it has ended).
 * take: up to max messages (oldest first) out of target's mailbox as an
 * owned list in *messages, waiting up to timeout_ms (0: not at all, < 0:
 * forever) while it is empty (an empty list then). -1 with ENOENT, EBUSY
 * (another take waits on it), EINVAL (a `lines` command: its mailbox
 * feeds its stdin).
 * Exactly once: a send is in the mailbox's log once it returns 0, and is
 * sent again with the same request id (kept once) when the supervisor
 * goes away before answering; -1 with ECONNRESET after 40 tries means it
 * may have been kept. A take acknowledges what it got before returning
 * it, gets again what a killed supervisor handed out unacknowledged, and
 * drops what this process was already given.
 */
int		 iso_sup_send(const char *target, const iso_msg *m);
int		 iso_sup_take(const char *target, int max, int timeout_ms,
		    iso_msg **messages);
/* As iso_sup_take, for the lines a command spawned with `lines` printed;
   -1 with EINVAL for another command. */
int		 iso_sup_recv(const char *target, int max, int timeout_ms,
		    iso_msg **messages);

/*
 * Streams: what the supervisor says as it happens, on one connection.
 * events: every spawn, exit, restart, failed, name and unname from now
 * on, each a map {"event": TYPE, "time": UNIX_SECONDS, ...} (isoctl(1),
 * EVENTS); one that could not keep up is told {"event": "lost",
 * "count": N}. follow: what lines command target prints, from what waits
 * in its outbox until it has ended for good (across its restarts); a
 * message is acknowledged when the next is asked for (or at close), so
 * one given to a process that dies first comes again to the next
 * follower; after the supervisor went away it connects again to the
 * same command and goes on after the last message it gave.
 * NULL with errno (ENOENT: no such isolate; EINVAL: not a lines command).
 */
typedef struct iso_sup_stream iso_sup_stream;
iso_sup_stream	*iso_sup_events(void);
iso_sup_stream	*iso_sup_follow(const char *target);
/*
 * The next item: 1 and an owned *m; 0 at the end (follow: the command
 * ended and all it printed was given); -1 with ETIMEDOUT (nothing
 * within timeout_ms; < 0 waits for ever), ECONNRESET (events: the
 * supervisor went away; a follow stream connects again by itself), or
 * the errno the supervisor named.
 */
int		 iso_sup_stream_next(iso_sup_stream *s, int timeout_ms,
		    iso_msg **m);
/* The connection, for poll(2): readable when next may not block. It
   changes when a follow stream connects again. */
int		 iso_sup_stream_fd(const iso_sup_stream *s);
/* Acknowledge what was given and close. NULL is a no-op. */
void		 iso_sup_stream_close(iso_sup_stream *s);

/* The name registry (Flutter's IsolateNameServer). A name goes away when
   the isolate owning its port ends. register: -1 with EEXIST (taken),
   EINVAL (empty or longer than 255 bytes). lookup: a registered name,
   else the mailbox port of a running command of that name; -1 ENOENT.
   remove: -1 with ENOENT. */
int		 iso_sup_register(const char *name, iso_sendport port);
int		 iso_sup_lookup(const char *name, iso_sendport *port);
int		 iso_sup_unregister(const char *name);
/* Every name: an owned map from name to SendPort. */
int		 iso_sup_names(iso_msg **names);

/*
 * Clusters (isolated --nats URL --node NAME). iso_sup_set_node: the
 * requests this process makes from now on go to node's supervisor,
 * passed on by ours (NULL or "": ours again); streams (iso_sup_events,
 * iso_sup_follow) stay on this node and are refused for another. 0, or
 * -1 with EINVAL (not 1 to 64 letters, digits, '-' or '_'). A node that
 * is unknown or lost fails each call with ENOENT or EHOSTUNREACH.
 * iso_sup_nodes: the nodes this supervisor knows, an owned list of maps
 * {"node", "self", "state": "up"|"lost", "isolates", "load",
 * "last_ms"}; ENOENT when it is in no cluster.
 */
int		 iso_sup_set_node(const char *node);
int		 iso_sup_nodes(iso_msg **nodes);

/*
 * Run fn = "MODULE.so:FUNCTION" (FUNCTION: iso_msg *(*)(const iso_msg *),
 * in a shared object built without -lisolate) on arg in one of the
 * supervisor's warm workers of that module (forked once, the module
 * loaded once, one call after another; new workers once the module is
 * replaced on disk), or (exec form) run argv with arg as one line of
 * JSON on its stdin and take its stdout as the result (JSON, else a
 * string). timeout_ms <= 0: none. 0 and an owned *result, or -1 with EIO
 * (it crashed, exited, timed out or could not start: iso_error() says
 * which; a crash or a timeout ends only that worker), ENOBUFS (too many
 * requests wait for the module's workers) or EINVAL.
 */
int		 iso_sup_compute(const char *fn, const iso_msg *arg,
		    int timeout_ms, iso_msg **result);
int		 iso_sup_compute_exec(char *const argv[], const iso_msg *arg,
		    int timeout_ms, iso_msg **result);
/*
 * The two with more said (NULL o: the defaults). fresh (compute): a new
 * process for this call only. warm (exec): the command kept running as a
 * warm worker for the next call with the same argv and cwd, each call one
 * line of JSON in and one line out (its JSON, else a string), on a
 * pseudo-terminal; it must answer every line with exactly one line.
 * workers: at most this many warm workers of that module or command
 * from now on (0: the supervisor's default, one per CPU unless isolated
 * --compute-workers). cwd (exec): an absolute directory to run in
 * (NULL: the supervisor's, "/"). cluster (compute, not fresh): on
 * whichever node of the supervisor's cluster serves the module (isolated
 * --serve-module), this one included; -1 with ENOENT when none does,
 * EHOSTUNREACH when the node that took it is lost before it answers.
 */
struct iso_sup_compute_opt {
	int		 timeout_ms;	/* <= 0: none */
	int		 fresh;
	int		 warm;
	int		 workers;	/* 0, or 1 to 1024 */
	const char	*cwd;
	int		 cluster;
	/* A sandbox profile (iso_spawn_attr_set_sandbox) for one fresh
	   process (taken after the module is loaded; before the command's
	   exec: not compute or noexec there); NULL: none. Not with warm or
	   cluster. A blocked call fails the call with its name. */
	const char	*sandbox;
};
int		 iso_sup_compute_with(const char *fn, const iso_msg *arg,
		    const struct iso_sup_compute_opt *o, iso_msg **result);
int		 iso_sup_compute_exec_with(char *const argv[],
		    const iso_msg *arg, const struct iso_sup_compute_opt *o,
		    iso_msg **result);

/*
 * Start the supervisor unless one runs (0 either way), stop it (its
 * commands are ended gracefully first; 0, or -1/ESRCH when none runs),
 * or ask how it is: an owned map with "pid", "version", "started",
 * "isolates" (-1 with ESRCH when none runs; it is not started).
 */
int		 iso_sup_start(void);
int		 iso_sup_stop(void);
int		 iso_sup_status(iso_msg **info);
/* Whether the calls above start a supervisor when none runs (on, the
   default, but for iso_sup_start, which always does): off, they fail
   with ESRCH instead, for a client that only looks (shell completion).
   Process-wide; returns the previous setting. */
int		 iso_sup_autostart(int on);

#ifdef __cplusplus
}
#endif

#endif /* ISOLATE_H */
