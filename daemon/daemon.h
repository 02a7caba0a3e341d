/*
 * daemon.h: isolated, the supervisor. What its modules share. Internal.
 *
 * One process, one libevent base (the library's, iso_event_base()), one
 * thread. Each command the supervisor runs has a shepherd: a process of
 * its own (forked from the daemon, not exec'd) that is the command's
 * parent, holds its stdio, writes its log and records its exit status in
 * the state directory, so that the command outlives a supervisor killed
 * with SIGKILL and a new supervisor can adopt it.
 *
 * State directory: <runtime dir>/supervisor/, mode 0700, holding per
 * isolate (ID is 16 lowercase hex digits):
 *   ID.json   the supervisor's record (spec, state, restarts), atomic
 *   ID.run    written by the shepherd once the command runs:
 *             {"pid": N, "shepherd": N}
 *   ID.exit   written by the shepherd when the command has ended:
 *             {"code": N|null, "signal": N|null, "error": "..."|null}
 *             and "reason" when a limit ended it ("SIGXCPU: CPU limit
 *             of 2 s reached", "out of memory: memory limit of ...")
 *             and for --lines "lines" (link.c takes it)
 *   ID.left   --lines: output of ended runs waiting for the outbox
 *   ID.log    stdout and stderr of the command, ID.log.1 the older half
 * Every file is written to a .tmp name and renamed into place.
 */
#ifndef ISO_DAEMON_H
#define ISO_DAEMON_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "isolate.h"

struct event_base;

/* ---- child.c: reaping the daemon's own children ---------------------- */

/*
 * Call fn(pid, status, arg) from the loop once the child pid (a child of
 * this process) has ended and been reaped; status as from waitpid.
 * The daemon reaps with waitpid(-1, WNOHANG) on SIGCHLD: every child it
 * forks must be watched here or it is reaped and ignored.
 * 0, or -1 with ENOMEM.
 */
int	 child_watch(pid_t pid, void (*fn)(pid_t, int, void *), void *arg);
/* Stop watching pid (it is still reaped). */
void	 child_unwatch(pid_t pid);
/* Install the SIGCHLD handler on base. 0 or -1 with errno. */
int	 child_init(struct event_base *base);

/* ---- shepherd.c: one run of one command --------------------------------- */

struct shep_spec {
	uint64_t	  id;		/* the isolate's id: ISO_ISOLATE_ID */
	char *const	 *argv;		/* argv[0] searched in PATH */
	char *const	 *envp;		/* NULL: the daemon's environment */
	const char	 *cwd;		/* NULL: the daemon's (/ when detached) */
	const char	 *dir;		/* the state directory */
	int		  dirfd;	/* ... its descriptor, when dir is
					   /proc/self/fd/N (else -1) */
	size_t		  log_max;	/* rotate ID.log beyond this many bytes */
	int		  lines;	/* stdin/stdout on a pty, as messages */
	const char	 *sock;		/* lines: the supervisor's socket */
	/* Limits (bit 1 << enum iso_rlimit set: limit[] holds it), set in
	   the command before exec, with a note at descriptor 4 (lib/attr.h);
	   cgroup: the command's own cgroup v2 to enter, NULL: none. */
	unsigned	  limits;
	uint64_t	  limit[4];
	const char	 *cgroup;
	int		  paused;	/* stopped before exec (SIGSTOP): the
					   shepherd goes on once it is */
	const char	 *sandbox;	/* a profile (sandbox.h), NULL: none;
					   built by the shepherd, taken by
					   the command before exec */
};

/*
 * Fork a shepherd for one run of spec's command and return its pid (a
 * child of the caller, to be watched with child_watch). The shepherd
 * removes stale ID.run and ID.exit, starts the command in a process group
 * of its own with stdin on /dev/null and stdout+stderr into ID.log, writes
 * ID.run, waits for it, writes ID.exit and exits 0. It survives the
 * daemon (own session, no death signal); the command dies with the
 * shepherd (PR_SET_PDEATHSIG). An exec failure is recorded in ID.exit as
 * {"code": 127, "signal": null, "error": "cannot run X: ..."}.
 * Signals to the shepherd: SIGTERM is passed to the command's process
 * group as SIGTERM, SIGUSR2 as SIGKILL.
 * With lines, the command's stdin and stdout are a pseudo-terminal in
 * raw mode (so that programs that buffer a pipe, as mawk does, still go
 * line by line) and only stderr goes to the log. The shepherd connects
 * to spec->sock, says {"op": "attach", "id", "run", "have", "read"}
 * and then speaks the link's frames (docs/protocol.md, Attach): each
 * message the supervisor sends is written to the pty as a line of JSON
 * (a bytes message as it is, plus a newline unless it ends with one)
 * and acknowledged once the command has read it; each line of output
 * becomes a message (its JSON, else the line as a string), kept until
 * the supervisor acknowledges it. It reconnects when the supervisor
 * goes away. Output waits, up to 256 lines, then the command waits.
 * When the command ends, ID.exit also has "lines": {"run", "read",
 * "first", "out"}, what the link did not carry.
 * shep_start returns once the shepherd holds none of the caller's
 * descriptors (it closes them first and tells; the caller is blocked
 * that long). *ready (if ready is not NULL) is then a descriptor (owned,
 * close-on-exec) that reaches end of file once the command runs (ID.run
 * written) or could not start (ID.exit written), or the shepherd died.
 * -1 with the errno of pipe2 or fork.
 */
pid_t	 shep_start(const struct shep_spec *spec, int *ready);

/* ---- state.c: files in the state directory ----------------------------- */

/* <dir>/<ID><suffix> into buf. 0 or -1/ENAMETOOLONG. */
int	 state_path(const char *dir, uint64_t id, const char *suffix,
	    char *buf, size_t len);
/* Write m as JSON to path atomically (path.tmp, rename). 0/-1. */
int	 state_write(const char *path, const iso_msg *m);
/* Read the JSON file at path: an owned message, or NULL with errno
   (ENOENT when absent, EINVAL when it does not parse). */
iso_msg	*state_read(const char *path);

/* ---- compute.c: the compute service ------------------------------------ */

/*
 * Run one computation in a fresh process and call done(result, error,
 * arg) from the loop exactly once: result owned by done on success;
 * on failure result is NULL and error a one-line reason ("crashed:
 * SIGSEGV", "timed out after 5000 ms", "exited with status 3", "cannot
 * load m.so: ...", ...), borrowed for the call.
 *   so form:      module (a path to a shared object) and function, a
 *                 symbol of type iso_msg *(*)(const iso_msg *).
 *   command form: argv (module and function NULL); the argument is
 *                 written to its stdin as one line of JSON and its
 *                 stdout, once it exits 0, is the result: JSON if it
 *                 parses, else a string (one trailing newline dropped).
 * timeout_ms <= 0: no timeout. arg NULL is nil. Returns 0, or -1 with
 * errno (nothing will be called): EINVAL for a request that is neither
 * form, or the errno of pipe, fork, ...
 * Needs child_init: done follows the child's reaping. The computation runs
 * in a process group of its own and dies with the daemon; once its process
 * has ended (or timed out), whatever is left in its group is killed with
 * SIGKILL. A result (frame or output) over ISO_LIMIT_FRAME is an error and
 * kills it. Command output that is neither JSON nor UTF-8 comes back as
 * bytes.
 */
struct dc_req {
	const char	 *module;
	const char	 *function;
	char *const	 *argv;
	const iso_msg	 *arg;
	int		  timeout_ms;
	int		  workers;	/* warm.c: the module's workers at
					   most; 0: warm_workers */
	const char	 *cwd;		/* command form: where it runs;
					   NULL: the daemon's directory */
	int		  lease;	/* warm.c, module form: the client
					   would take the worker (warm_lease) */
	const char	 *sandbox;	/* fresh only: a profile the child
					   takes (after dlopen; before exec) */
};
/* 0 if profile is a sandbox the so form can run under; -1 with errno
   and iso_error(). */
int	 dc_sandbox_check(const char *profile);
int	 dc_start(const struct dc_req *req,
	    void (*done)(iso_msg *result, const char *error, void *arg),
	    void *arg);
/* Kill and reap every computation in flight (at daemon exit), blocking
   until each is reaped; done is called for each, before this returns,
   with the error "supervisor stopping". */
void	 dc_stop_all(void);
/* What warm.c shares with the fresh path. In a child just forked:
   default signals, nothing blocked, death with the daemon (parent), a
   process group of its own, fds[0..2] at 0, 1 and 3 (-1: keep stdin or
   stdout, nothing at 3), every other descriptor closed. */
void	 dc_child_setup(pid_t parent, const int fds[3]);
/* In a child set up by dc_child_setup with a close-on-exec pipe at 3:
   chdir to cwd (unless NULL) and exec argv (argv[0] searched in PATH);
   on failure write an int to 3, errno (negated for chdir), and exit
   127. */
void	 dc_exec(char *const argv[], const char *cwd)
	    __attribute__((noreturn));
/* "crashed: SIGSEGV", "exited with status 3" (... "without a result"
   when result_expected and it exited 0) into buf. */
void	 dc_status_text(int status, int result_expected, char *buf,
	    size_t len);
/* A whole result frame (length, then [0, result] or [1, why]) of n
   bytes: 0 and an owned *result, or -1 and an owned *why (NULL: the
   frame is not whole). */
int	 dc_result_frame(const void *frame, size_t n, iso_msg **result,
	    char **why);

/* ---- warm.c: warm compute workers -------------------------------------- */

/*
 * The so form on warm workers: per module (its path, and its device,
 * inode, size and modification time at the request) up to req->workers
 * processes forked from the daemon (0: warm_workers; that 0: one per
 * CPU), each of which loads the module once and then runs one request
 * after another. done as dc_start's, and the same reasons for a failure
 * (a crash or a timeout ends only that worker; the next request gets a
 * new one). Requests beyond the workers wait, at most WARM_QUEUE_MAX in
 * all: then -1 with ENOBUFS. A module replaced on disk gets new workers;
 * the old ones finish what they run, then end. A worker idle for
 * warm_idle_ms ends. A module that cannot be looked at (stat) goes to
 * dc_start, which says why. The command form (argv, and cwd) likewise:
 * per argv and cwd, each worker the program exec'd with its stdin and
 * stdout a raw pseudo-terminal, a request the argument as one line of
 * JSON, its answer the next line (JSON, else a string). -1 with EINVAL
 * (neither form whole), ENOBUFS, or the errno of socketpair, fork, ...
 */
#define WARM_QUEUE_MAX	1024
extern int	 warm_workers;		/* default workers a module; 0: CPUs */
extern int	 warm_idle_ms;		/* an idle worker ends after this */
int	 warm_start(const struct dc_req *req,
	    void (*done)(iso_msg *result, const char *error, void *arg),
	    void *arg);
/*
 * Leases. In the done callback of a request with lease set, when
 * warm_offered() says the worker that answered may be lent: warm_lease
 * takes cfd (the client's connection, out of server.c: sv_handover) and
 * rep (the reply), adds the module's identity to rep as "lease", writes
 * it, then one byte carrying the client's end of a new socketpair whose
 * other end went to the worker. The client then calls the worker
 * directly until it closes cfd, the worker is asked back (requests wait
 * for the module, or it was replaced) or it has been idle warm_idle_ms;
 * the daemon writes one error reply on cfd when the lease ends (why: a
 * crash, a timeout the worker's own timer enforced) and closes it. 0, or
 * -1 when no lease could be made (rep was written alone, cfd closed).
 */
int	 warm_offered(void);
int	 warm_lease(int cfd, iso_msg *rep);
/* Workers alive (busy or idle), and requests waiting for one. */
size_t	 warm_count(void);
size_t	 warm_queued(void);
/* Kill and reap every worker, blocking; done is called for each request
   running or waiting, with "supervisor stopping". */
void	 warm_stop_all(void);


/* ---- restart.c: backoff and intensity ---------------------------------- */

struct restart {
	int	 backoff_ms;		/* the first delay */
	int	 backoff_max_ms;	/* doubling stops here */
	int	 reset_ms;		/* a run this long starts over */
	int	 max_restarts;		/* more within period_ms: give up */
	int	 period_ms;
	int	 next;			/* the next delay; 0: backoff_ms */
	double	*recent;		/* times of the restarts in the period */
	int	 nrecent;
};

/* Size r->recent for r->max_restarts (after setting it). 0 or -1. */
int	 restart_init(struct restart *r);
void	 restart_clear(struct restart *r);
/*
 * A run that lasted ran seconds has ended at now (seconds, monotonic) and
 * the policy wants it run again: the delay in ms before it is, or -1 when
 * that would be more than max_restarts restarts within period_ms.
 */
int	 restart_delay(struct restart *r, double now, double ran);

/* ---- evframe.c: frames in libevent buffers --------------------------- */

struct evbuffer;

/* Append m to out as one frame. 0, or -1 with errno (EMSGSIZE, ENOMEM). */
int	 evf_add(struct evbuffer *out, const iso_msg *m);
/*
 * Take the first whole frame of in and decode it: 1 and an owned *m,
 * 0 when it has not all come yet, -1 with errno (EMSGSIZE, EBADMSG,
 * ENOMEM; iso_error() says more) when the stream is bad. _port: a frame
 * as on an isolate's socket, a port number (into *port) then a message.
 */
int	 evf_next(struct evbuffer *in, iso_msg **m);
/*
 * evbuffer_read for a socket whose peer may attach descriptors
 * (SCM_RIGHTS), which the daemon never keeps: at most max bytes into in;
 * the descriptors that came are closed and counted in *fds (descriptors
 * cut short count as one). read's result.
 */
int	 evf_read(struct evbuffer *in, int fd, size_t max, int *fds);
int	 evf_next_port(struct evbuffer *in, uint64_t *port, iso_msg **m);
/*
 * Large bytes values come as sealed memfds with their frames (shared
 * bytes, docs/protocol.md); where the daemon passes or keeps messages
 * (a mailbox, the gateway) they become plain bytes. struct evf_fds: the
 * descriptors a connection received, in order, not yet taken by a frame
 * (evf_fds_free closes them). evf_read_fds: evf_read keeping them in q.
 * evf_inline: each whole frame of in (port first) that refers to shared
 * bytes and nothing else is decoded with q's descriptors and put back
 * encoded plain; it stops at a frame that refers to other descriptors,
 * which it leaves as it is: 1 then, else 0; -1 with iso_error() for a bad
 * frame or a shared value its sender can change (the connection is bad).
 * evf_recv_fds: evf_read_fds with recvmsg's flags (MSG_PEEK). evf_plain:
 * one frame payload p[0..len), which refers to shared bytes only,
 * encoded plain onto out (its frame header first) with q's first
 * descriptors (taken): 0 or -1.
 */
struct evf_fds {
	int	*fd;
	size_t	 n, cap;
};
int	 evf_read_fds(struct evbuffer *in, int fd, size_t max,
	    struct evf_fds *q, int *fds);
int	 evf_recv_fds(struct evbuffer *in, int fd, size_t max, int flags,
	    struct evf_fds *q, int *fds);
int	 evf_inline(struct evbuffer *in, struct evf_fds *q);
int	 evf_plain(struct evbuffer *out, const unsigned char *p, size_t len,
	    struct evf_fds *q);
void	 evf_fds_free(struct evf_fds *q);

/* ---- server.c: the socket, connections, requests ----------------------- */

struct sv_conn;

/*
 * Listen on path (replacing a stale socket: the caller holds the lock)
 * and serve requests from the loop. 0 or -1 with errno.
 */
int	 sv_listen(struct event_base *base, const char *path);
/* Stop listening and remove the socket: new clients find none. */
void	 sv_unlisten(void);
/* That, and close every connection (at exit), writing what is queued
   for each as far as its socket takes it at once. */
void	 sv_close(void);

/* Answer c's request with rep (taken over; a map with "ok": true). A
   NULL rep (allocation failed) answers ENOMEM. */
void	 sv_reply(struct sv_conn *c, iso_msg *rep);
/* Answer {"ok": true, key: value}; value (taken over) NULL: ENOMEM. */
void	 sv_reply_with(struct sv_conn *c, const char *key, iso_msg *value);
/* Answer {"ok": true}. */
void	 sv_ok(struct sv_conn *c);
/* Answer {"ok": false, "errno": name of e, "error": text}. */
void	 sv_error(struct sv_conn *c, int e, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* Close c once what is queued for it is written, reading nothing more
   (a notification that makes no sense: no answer to give). */
void	 sv_drop(struct sv_conn *c);
/* The answer comes later; if the client goes away first, cancel(arg)
   is called and c must not be used again. */
void	 sv_defer(struct sv_conn *c, void (*cancel)(void *), void *arg);
/* Call fn(arg) when c closes, whatever its state (one at a time; a NULL
   fn forgets it). */
void	 sv_on_close(struct sv_conn *c, void (*fn)(void *), void *arg);
/*
 * c's request becomes a stream: first (taken over; NULL answers ENOMEM)
 * is its reply, and frames follow with sv_push until sv_reply (or
 * sv_error) sends the last one and c reads requests again. Frames the
 * client sends meanwhile go to on_frame(arg, frame) (NULL: ignored); if
 * the client goes away first, cancel(arg) is called and c must not be
 * used again. 0, or -1 after answering ENOMEM (nothing was set).
 */
int	 sv_stream(struct sv_conn *c, iso_msg *first,
	    void (*on_frame)(void *, const iso_msg *), void (*cancel)(void *),
	    void *arg);
/* Queue m (borrowed) as one frame of c's stream, written from the loop:
   0, or -1 with errno (EMSGSIZE, ENOMEM). */
int	 sv_push(struct sv_conn *c, const iso_msg *m);
/* Bytes queued for c and not yet written. */
size_t	 sv_pending(const struct sv_conn *c);
/* While c streams, call fn(arg) each time what is queued for it has all
   been written (fn may push more). arg replaces sv_stream's. */
void	 sv_on_drain(struct sv_conn *c, void (*fn)(void *), void *arg);
/* Open connections (status). */
size_t	 sv_count(void);
/* Connections the supervisor's request socket keeps open at once
   (--max-conns); beyond, a peer is refused with a reason
   (docs/protocol.md). */
extern size_t	sv_max_conns;
/* Take c's socket and what was read of it beyond the request (owned);
   the connection is no more the server's. The socket's fd. */
struct evbuffer;
int	 sv_detach(struct sv_conn *c, struct evbuffer **in);
/* A deferred request's connection with nothing more read from it or
   still to write: its descriptor, taken over (c freed). -1 with EBUSY
   otherwise (c untouched). */
int	 sv_handover(struct sv_conn *c);
/* Serve fd (a socketpair's end, taken over) as a client that sent the
   request req (len bytes of MessagePack, copied): its reply is written
   to fd. 0, or -1 (fd closed). */
int	 sv_adopt(int fd, const void *req, size_t len);
/* Call fwd_closed(c) when c closes. */
void	 sv_mark_forwarded(struct sv_conn *c);

/* ---- cluster.c, forward.c: this node among others, over NATS ---------- */

/* isolated's options (--nats, --node, ...); url NULL: no cluster. */
struct cluster_conf {
	const char	*url;
	const char	*node;		/* NULL: the host's name */
	const char	*creds;		/* a .creds file */
	const char	*nkey;		/* PUBLIC_KEY:SEED_FILE */
	const char	*tls_ca;
	const char	*tls_cert;
	const char	*tls_key;
};
extern struct cluster_conf	cluster_conf;

/* 1 if s can name a node: 1 to 64 letters, digits, '-' or '_'. */
int	 cluster_node_valid(const char *s);
/* This node's name: --node, else the host's name. */
const char *cluster_node(void);
/* 1 once cluster_start was given a url (connected or not). */
int	 cluster_on(void);
/* Join the cluster cluster_conf names (nothing without a url): 0, or
   -1 with why. The NATS server need not be up yet. The base must have
   been made after natsev_threads(). */
int	 cluster_start(struct event_base *base, const char *sdir, char *why,
	    size_t len);
void	 cluster_stop(void);
/* Make libevent thread-safe, and the library's base take its locks
   (before the base is made): nats.c's ping thread asks for events. 0
   or -1. */
int	 natsev_threads(void);
/* Hand what NATS brought to the subscriptions (natsev.c calls it). */
void	 cluster_pump(void);
/* The nodes known: an owned list of rows; NULL with errno. */
iso_msg	*cluster_nodes(void);
/* status's "cluster": nil, or {"url", "connected", "nodes"}; owned. */
iso_msg	*cluster_status(void);
/* If req is for another node (its "node", or a NAME@NODE target), send
   it there and answer c later (or now, with an error): 1. Else 0. */
int	 fwd_route(struct sv_conn *c, const char *op, const iso_msg *req);
/* c (marked by sv_mark_forwarded) closes: end its sessions elsewhere. */
void	 fwd_closed(struct sv_conn *c);
/* cnames.c: names across the cluster (docs/supervisor.md, "Names").
   A local name changed: tell the other nodes. The node holding name
   among the up nodes (borrowed), or NULL. */
void	 cnames_changed(void);
const char *cnames_holder(const char *name);
/* names in a cluster: every up node's, keys NAME@NODE; NULL/ENOMEM. */
iso_msg	*cnames_list(void);
/* Look name (NAME, or NAME@NODE of another node) up on the other nodes
   and answer c; err: why it is not here. */
void	 cnames_lookup(struct sv_conn *c, const char *name, const char *err);
/* ccompute.c: compute across the cluster. Serve module (a path; made
   absolute) to the cluster once in one: 0, or -1 after saying why on
   stderr (isolated --serve-module). */
int	 ccompute_serve(const char *module);
/* A compute request with "cluster": answer c (1), or 0 when it is to
   run here, this node being the one chosen among those serving it. */
int	 ccompute_route(struct sv_conn *c, const char *module,
	    const char *function, const iso_msg *arg, int timeout_ms,
	    int workers);

/* ---- request.c: requests as tables of fields -------------------------- */

/*
 * A request is a map with a string "op" and the fields its entry
 * declares. The server finds the entry, fills the entry's struct from the
 * fields (rq_run), resolves the target when the entry takes one
 * (target.c), and only then calls exec, which answers (sv_reply,
 * sv_error) now or later (sv_defer). Bad input is answered with one line
 * naming the op and the field, and exec is not called.
 */
enum rq_type {
	RQ_STR,		/* const char *: a string, no NUL, min..max bytes */
	RQ_INT,		/* int, min..max */
	RQ_U64,		/* uint64_t: an integer >= 0 */
	RQ_BOOL,	/* int, 0 or 1 */
	RQ_MSG,		/* const iso_msg *: any message */
	RQ_STRLIST,	/* const iso_msg *: a list of at least min strings */
	RQ_PORT,	/* iso_sendport */
	RQ_ENUM,	/* int: the index of the string among names */
	RQ_HEX		/* uint64_t: an id as a hex string */
};
#define RQ_REQ		0x1	/* required */
#define RQ_NIL		0x2	/* nil is as absent */

struct rq_field {
	const char		*key;
	enum rq_type		 type;
	int			 flags;
	int64_t			 min, max;	/* 0, 0: no bounds */
	int64_t			 def;		/* RQ_INT, RQ_U64, RQ_ENUM,
						   RQ_BOOL: when absent */
	size_t			 off;		/* in the entry's struct */
	const char *const	*names;		/* RQ_ENUM, NULL-terminated */
};
#define RQ_FIELD(st, member, key, type, flags, min, max) \
	{ key, type, flags, min, max, 0, offsetof(st, member), NULL }
#define RQ_FIELD_DEF(st, member, key, type, min, max, def) \
	{ key, type, 0, min, max, def, offsetof(st, member), NULL }
#define RQ_ENUM_DEF(st, member, key, names, def) \
	{ key, RQ_ENUM, 0, 0, 0, def, offsetof(st, member), names }
#define RQ_END	{ NULL, 0, 0, 0, 0, 0, 0, NULL }

/* What a target may be (target.c), or'd. */
#define TGT_RECORD	0x1	/* a record, running or ended */
#define TGT_LIVE	0x2	/* a record running or restarting */
#define TGT_PORT	0x4	/* a registered port's name */
#define TGT_ID		0x8	/* an id only: no name, no pid */

struct proc;
struct target {
	struct proc	*rec;		/* NULL: a port of no record of ours */
	int		 has_port;	/* a registered name was given */
	iso_sendport	 port;
};

/* One request, parsed: what exec gets. Borrowed for the call. */
struct rq {
	const char	*op;
	const iso_msg	*msg;		/* the whole request */
	struct target	 target;	/* when the entry takes one */
	void		*args;		/* the entry's struct, filled */
};

#define RQ_NOREPLY	0x1	/* a notification: never answered */
#define RQ_DROPBAD	0x2	/* bad: close the connection, no answer */
#define RQ_STRICT	0x4	/* a field not in the table is refused: a
				   client newer than us must not have an
				   option (a sandbox, a limit) ignored */

struct rq_entry {
	const char		*name;
	void			(*exec)(struct sv_conn *, const struct rq *);
	int			 flags;
	int			 target;	/* TGT_*, 0: none */
	const char		*target_key;	/* NULL: "target" */
	const char		*target_what;	/* "no WHAT \"x\"" */
	size_t			 size;		/* of the args struct */
	const struct rq_field	*fields;	/* NULL or up to RQ_END */
};

/* Parse req by e, resolve its target, call e->exec. */
void	 rq_run(const struct rq_entry *e, struct sv_conn *c,
	    const iso_msg *req);

/* ---- target.c: what a request names ---------------------------------- */

/*
 * Resolve s as the kinds allow, in this order: name@node (a node other
 * than this one's is ENOENT: no cluster), a registered port's name, a
 * supervised isolate's name (running or restarting before ended), an id
 * (hex digits), a live isolate's pid (decimal digits). 0, or -1 with
 * errno (ENOENT) and a one-line reason in err.
 */
int	 target_resolve(const char *s, int kinds, struct target *t,
	    char *err, size_t errlen);
/* This node's name (the host's): what name@node may say. */
const char *target_node(void);

/* ---- the requests, by module ------------------------------------------- */

/* proc_ops.c: supervised isolates */
extern const struct rq_entry rq_spawn, rq_list, rq_kill, rq_wait,
	rq_restart, rq_rm, rq_spawned, rq_exited, rq_listening, rq_spawning;
/* control.c: pause, resume, ping */
extern const struct rq_entry rq_pause, rq_resume, rq_ping;
/* logs.c */
extern const struct rq_entry rq_logs;
/* mail.c */
extern const struct rq_entry rq_send, rq_take, rq_ack, rq_recv;
/* follow.c */
extern const struct rq_entry rq_follow;
/* link.c: a shepherd */
extern const struct rq_entry rq_attach;
/* names.c */
extern const struct rq_entry rq_register, rq_lookup, rq_unregister,
	rq_names;
/* events.c */
extern const struct rq_entry rq_events;
/* isolated.c */
extern const struct rq_entry rq_status, rq_stop, rq_compute;

/* ---- mail.c: leases of what was handed out ------------------------------ */

/*
 * What a take, a recv or a follow hands out is leased to its connection
 * until the client acknowledges it (docs/protocol.md, Delivery).
 * lease_take: up to max messages of box after `after` that nobody else
 * holds, oldest first, into *msgs and *seqs (owned lists): how many, or
 * -1/ENOMEM. Leased to c (acks), else removed at once. A lease that
 * ends just before what c takes grows rather than adding one.
 * lease_ack: c says it has every message of box up to upto.
 * lease_release: c's leases go back, as when it closes.
 * lease_box_is: hex (a request's "box") is box's id.
 */
struct mbox;
int	 lease_take(struct sv_conn *c, struct mbox *box, uint64_t after,
	    size_t max, int acks, iso_msg **msgs, iso_msg **seqs);
void	 lease_ack(struct sv_conn *c, struct mbox *box, uint64_t upto);
void	 lease_release(struct sv_conn *c);
int	 lease_box_is(const char *hex, struct mbox *box);
/* mail_forget will be called for p when it is forgotten (it then ends
   p's followers, follow_forget, and forgets the leases of its queues).
   0 or -1/ENOMEM. */
struct proc;
int	 mail_keep(struct proc *p);

/* ---- follow.c: streams of what a lines command prints --------------- */

/* p is forgotten: end its followers' streams (ESRCH). */
void	 follow_forget(struct proc *p);
/* The supervisor stops: end every stream (ECANCELED), so that no
   follower starts the next supervisor. */
void	 follow_stop_all(void);

/* ---- link.c ------------------------------------------------------------ */

/* 1 while output of p's ended runs waits for room in its outbox. */
int	 link_left_waiting(struct proc *p);

/* ---- restart policies -------------------------------------------------- */

enum restart_policy { RESTART_NEVER, RESTART_ON_FAILURE, RESTART_ALWAYS };
/* "never", "on-failure", "always", NULL */
extern const char *const restart_names[];
extern const char *const rec_state_names[];

/* ---- records.c, lifecycle.c: every isolate it knows ---------------------- */

/* Settings (isolated's options): how many ended commands, and ended
   isolates of programs, are kept (two bounds: one never evicts the
   other), how large ID.log grows before it is rotated, how long a
   graceful kill (or restart) waits before SIGKILL. */
extern size_t	rec_history_max;
extern size_t	rec_isolate_history_max;
extern size_t	life_log_max;
extern int	life_grace_ms;
/* Adopt what an earlier supervisor left in dir (dfd: its descriptor,
   which shepherds inherit), then run; sock is the supervisor's socket
   (for --lines shepherds). 0 or -1. */
int	 life_init(struct event_base *base, const char *dir, int dfd,
	    const char *sock);
/* Isolates known (status). */
size_t	 rec_count(void);
/* 0 if a command can run under the sandbox profile; -1 with errno and
   iso_error() saying why not (unknown, or it would block exec). */
int	 life_sandbox_check(const char *profile);
/* End every command gracefully (SIGTERM, SIGKILL after grace_ms); call
   done() once all have ended. */
void	 life_stop_all(int grace_ms, void (*done)(void));
/* 1 if the isolate with this id is known and running. */
int	 rec_running(uint64_t id);
/* Forget everything (at exit; what runs keeps running). */
void	 rec_free_all(void);

/* ---- names.c ------------------------------------------------------------ */

/* The isolate id has ended: drop the names of its ports. */
void	 names_isolate_ended(uint64_t id);
void	 names_clear(void);
/* Read names.json in dir (what an earlier supervisor saved). 0 or -1. */
int	 names_load(const char *dir);
/* The port registered as name (if its isolate lives): 0, or -1/ENOENT. */
int	 names_get(const char *name, iso_sendport *out);
/* The i-th name (i < names_count()), its port and when it was
   registered (ms of the real-time clock); borrowed. */
size_t	 names_count(void);
const char *names_at(size_t i, iso_sendport *port, int64_t *since);
/* Drop name as an isolate's end would ("unname"): 0, or -1/ENOENT. */
int	 names_remove(const char *name);
#define NAME_MAX_LEN	255	/* bytes of a name */

/* ---- events.c: the event stream ------------------------------------- */

/*
 * Push {"event": type, "time": now, ...} to every "events" subscriber;
 * fmt (NULL: nothing more) packs a map (iso_msg_pack) whose pairs are
 * added. Never fails: an event that cannot be built is counted as lost
 * for every subscriber.
 */
void	 events_emit(const char *type, const char *fmt, ...);
/* An event about record p: "spawn", "exit", "restart" (delay: in ms),
   "failed"; the fields from p's row (docs/protocol.md, Streams). */
struct proc;
void	 events_rec(const char *type, struct proc *p, int delay);
/* Subscribers (status). */
size_t	 events_count(void);

/* ---- stats.c: what each isolate costs now -------------------------- */

extern const struct rq_entry rq_stats;
extern const struct rq_entry rq_nodes;
/* A row per record (docs/protocol.md, stats), its processes read from
   /proc now: an owned list, or NULL with ENOMEM. */
iso_msg	*stats_rows(void);

/* ---- sweep.c: stale entries of the runtime directory ------------------ */

/* Sweep now, then every minute, from base. 0 or -1. */
int	 sweep_init(struct event_base *base);
/* Remove every stale temporary bind and older library's socket: how
   many, or -1. */
int	 sweep_all(void);
/* 1 if isolate id takes connections on its socket (or cannot be told),
   0 if nobody of ours listens as it. */
int	 sock_alive(uint64_t id);
/* Stop (at exit). */
void	 sweep_free(void);

/* ---- log.c -------------------------------------------------------------- */

#define LOG_FILE	"isolated.log"	/* in the state directory */

/* Make stderr LOG_FILE in the directory dfd, rotated to LOG_FILE.1 beyond
   max bytes (also now). 0 or -1 with errno (ELOOP: a symlink). */
int	 log_open(int dfd, size_t max);
/* One line on stderr, prefixed with the time: the daemon's own log. */
void	 log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- mlog.c: a mailbox's log ------------------------------------------- */

struct mlog;

/* Request ids are strings of 1 to this many bytes. */
#define MLOG_REQID_MAX	64

/* What mlog_open found, record by record, oldest first. put takes m over;
   off is the record's logical offset (for mlog_compact). put and id: 0,
   or -1 (ENOMEM) to give up the open. */
struct mlog_ops {
	void	(*next)(void *arg, uint64_t next);
	int	(*put)(void *arg, uint64_t seq, uint64_t off, iso_msg *m,
		    const char *reqid);
	void	(*ack)(void *arg, uint64_t upto);
	int	(*id)(void *arg, const char *reqid);
};

/*
 * Open (or begin) the log at path and replay it through ops. A torn or
 * damaged last record is dropped and the file truncated before it (one
 * line logged); a file that is not a mailbox log is moved to path.bad.
 * NULL with errno.
 */
struct mlog *mlog_open(const char *path, const struct mlog_ops *ops,
	    void *arg);
/* Close; forget: remove the file too. NULL is a no-op. */
void	 mlog_close(struct mlog *l, int forget);
/* sync: fdatasync after every record (default off: a record reaches the
   page cache before the caller answers, which a killed process cannot
   undo; a machine crash can). */
void	 mlog_set_sync(struct mlog *l, int sync);
/* Append a put (reqid may be NULL) or an ack record, one write each:
   0, or -1 with errno (nothing written). *off: the put's offset. */
int	 mlog_put(struct mlog *l, uint64_t seq, const iso_msg *m,
	    const char *reqid, uint64_t *off);
int	 mlog_ack(struct mlog *l, uint64_t upto);
/* The logical offset of the end (where the next record goes). */
uint64_t mlog_end(const struct mlog *l);
/* 1 when the file is above 1 MiB and more than half of it lies before
   from (the offset of the oldest record still needed). */
int	 mlog_wants_compact(const struct mlog *l, uint64_t from);
/* Rewrite the log as: its first record (next), the request ids (oldest
   first), then every record from offset from on. 0 or -1 (the old file
   is kept). Offsets of the records kept do not change. */
int	 mlog_compact(struct mlog *l, uint64_t next, uint64_t from,
	    const char *const *ids, size_t nids);

/* ---- mailbox.c: a SendPort for a command ----------------------------- */

struct mbox;

void	 mbox_init(struct event_base *base);
/* Connections each mailbox's socket keeps open at once (--max-conns). */
extern size_t	mbox_max_conns;
/*
 * Open the mailbox of isolate owner: listen as isolate id (0: a new id),
 * holding at most limit messages, with what its log ID.mbox in dir holds
 * (an older JSON ID.mbox is read once and rewritten as a log). With a
 * suffix, a plain queue logged as ID<suffix>, with no socket (an outbox);
 * its id is owner. NULL with errno.
 */
struct mbox *mbox_open(const char *dir, uint64_t owner, const char *suffix,
	    uint64_t id, size_t limit);
/* fdatasync every record of b's log before answering (default off). */
void	 mbox_set_sync(struct mbox *b, int sync);
/* 1 when it holds its limit. */
int	 mbox_full(const struct mbox *b);
/* Call room(arg) when an ack makes room in a full queue. */
void	 mbox_on_room(struct mbox *b, void (*room)(void *), void *arg);
/* Stop taking messages (the isolate has ended for good); what waits is
   kept. */
void	 mbox_close(struct mbox *b);
/* Take messages again after mbox_close (its command runs again, by
   hand): listen as the same isolate id. A mailbox, not an outbox (which
   has no socket). 0 or -1 with errno. */
int	 mbox_reopen(struct mbox *b);
/* Close and free; forget: remove its log too. NULL is a no-op. */
void	 mbox_free(struct mbox *b, int forget);
iso_sendport mbox_port(const struct mbox *b);
uint64_t mbox_id(const struct mbox *b);
/* Messages held (put and not acknowledged). */
size_t	 mbox_len(const struct mbox *b);
/*
 * Add a copy of m with the next sequence number (per mailbox, from 1,
 * never reused, kept across restarts), logged before this returns.
 * reqid (NULL: none; at most MLOG_REQID_MAX bytes): a put whose reqid is
 * among the last MBOX_REQIDS ids put returns 0 and stores nothing. 0, or
 * -1 with ENOBUFS when full, EINVAL (reqid too long), ENOMEM, or the
 * log's write error (nothing stored).
 */
#define MBOX_REQIDS	1024
int	 mbox_put(struct mbox *b, const iso_msg *m, const char *reqid);
/* Up to max messages with seq > after, oldest first, not removed: an
   owned list of [seq, message] pairs (maybe empty), or NULL with errno. */
iso_msg	*mbox_peek(struct mbox *b, uint64_t after, size_t max);
/* Remove every message with seq <= upto (an ack record); acking what is
   already gone is 0. -1 with the log's write error (nothing removed). */
int	 mbox_ack(struct mbox *b, uint64_t upto);
/* The sequence number the next put gets. */
uint64_t mbox_next_seq(const struct mbox *b);
/* peek(0, max) then ack of what it gave: an owned list of messages
   (maybe empty), or NULL with errno. */
iso_msg	*mbox_take(struct mbox *b, size_t max);
/*
 * Someone waiting on a queue (a take, a recv, a follower, a link): any
 * number may wait on one queue, each a struct of its own (the caller's,
 * zeroed before its first use; it waits on one queue at a time).
 * mbox_wait: call fn(arg) from the loop after each put, and after each
 * mbox_wake, until mbox_unwait (a no-op when it does not wait; freeing
 * the queue ends every wait). fn may stop any wait, its own included.
 */
struct mbox_waiter {
	void			(*fn)(void *);
	void			 *arg;
	struct mbox		 *box;		/* NULL: not waiting */
	struct mbox_waiter	 *next;
};
void	 mbox_wait(struct mbox *b, struct mbox_waiter *w, void (*fn)(void *),
	    void *arg);
void	 mbox_unwait(struct mbox_waiter *w);
/* Wake b's waiters from the loop: what they may take has changed other
   than by a put (a lease given back, an ack). */
void	 mbox_wake(struct mbox *b);

#endif
