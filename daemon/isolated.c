/*
 * isolated.c: the supervisor's main: options, the lock, the socket, the
 * loop; and the operations about the daemon itself (status, stop) and
 * compute, which only glues the socket to compute.c.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "msg.h"
#include "rtdir.h"
#include "supproto.h"


static struct event_base	*base;
static int			 lock = -1;	/* held while we serve */
static struct sv_conn		*stopper;	/* who asked us to stop */
static int			 stopping;
static double			 started;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: isolated [--foreground] [--ready-fd FD] [--history N]\n"
	    "                [--isolate-history N] [--log-max BYTES] "
	    "[--grace-ms MS]\n"
	    "                [--max-conns N] [--compute-workers N] "
	    "[--compute-idle SEC]\n"
	    "                [--nats URL [--node NAME] [--nats-creds FILE] "
	    "[--nats-nkey PUB:SEED]\n"
	    "                 [--nats-tls-ca FILE] [--nats-tls-cert FILE] "
	    "[--nats-tls-key FILE]\n"
	    "                 [--serve-module PATH.so ...]]\n"
	    "  -f, --foreground   stay in the foreground, log to stderr\n"
	    "      --ready-fd FD  write \"ready\" (or why not) on FD once\n"
	    "                     serving, then close it\n"
	    "      --history N    ended commands kept in the list (1000)\n"
	    "      --isolate-history N  ended isolates of programs kept, "
	    "apart (1000)\n"
	    "      --log-max BYTES  rotate a command's log, and its own, beyond this "
	    "(524288)\n"
	    "      --grace-ms MS  a graceful kill's wait before SIGKILL "
	    "(5000)\n"
	    "      --max-conns N  connections each socket keeps open, the "
	    "request\n"
	    "                     socket and each mailbox's (4096)\n"
	    "      --compute-workers N  warm workers a compute module keeps "
	    "at most\n"
	    "                     (default: one per CPU)\n"
	    "      --compute-idle SEC  a warm worker idle this long ends "
	    "(60)\n"
	    "      --nats URL     join the cluster of the NATS server(s) at "
	    "URL\n"
	    "                     (nats://host:4222, comma-separated; "
	    "$ISO_NATS_URL)\n"
	    "      --node NAME    this node's name ($ISO_NODE; default: "
	    "the host's)\n"
	    "      --nats-creds FILE  NATS user credentials "
	    "($ISO_NATS_CREDS)\n"
	    "      --nats-nkey PUB:SEED  an nkey: its public key and seed "
	    "file\n"
	    "      --nats-tls-ca FILE, --nats-tls-cert FILE, --nats-tls-key "
	    "FILE\n"
	    "                     TLS to the NATS server\n"
	    "      --serve-module PATH.so  serve compute --cluster requests "
	    "for this\n"
	    "                     module on warm workers (repeatable)\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      the version\n"
	    "The runtime directory is $ISO_RUNTIME_DIR, else "
	    "$XDG_RUNTIME_DIR/isolate,\nelse /tmp/isolate-$UID.\n");
}

/* Tell whoever waits on fd how the start went; close it. */
static void
ready(int *fd, const char *fmt, ...)
{
	char	line[512];
	va_list	ap;
	int	n;

	if (*fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	(void)!write(*fd, line, (size_t)n);
	close(*fd);
	*fd = -1;
}

/* Why it cannot start: to whoever waits on the ready descriptor, who
   reports it, else on stderr. 1, the exit status. */
static int __attribute__((format(printf, 2, 3)))
start_failed(int *fd, const char *fmt, ...)
{
	char	line[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (*fd != -1)
		ready(fd, "%s", line);
	else
		fprintf(stderr, "isolated: %s\n", line);
	return (1);
}

static void
stopped(void)
{
	/* Gone before the answer: a client that starts a supervisor next
	   finds neither the socket nor the lock of this one. */
	follow_stop_all();
	sv_unlisten();
	close(lock);
	lock = -1;
	if (stopper != NULL)
		sv_ok(stopper);
	stopper = NULL;
	event_base_loopbreak(base);
}

static void
stop_cancel(void *arg)
{
	(void)arg;
	stopper = NULL;
}

static void
stop(void)
{
	if (stopping)
		return;
	stopping = 1;
	log_info("stopping: ending the commands");
	dc_stop_all();
	warm_stop_all();
	life_stop_all(life_grace_ms, stopped);
}

static void
op_stop(struct sv_conn *c, const struct rq *r)
{
	(void)r;
	if (stopping || stopper != NULL) {
		sv_error(c, EBUSY, "already stopping");
		return;
	}
	stopper = c;
	sv_defer(c, stop_cancel, NULL);
	stop();
}

const struct rq_entry rq_stop = { .name = "stop", .exec = op_stop };

static void
op_status(struct sv_conn *c, const struct rq *r)
{
	iso_msg	*rep;

	(void)r;
	rep = iso_msg_pack("{s:b s:i s:s s:i s:f s:i s:i s:i s:i s:s "
	    "s:s}", "ok", 1, "pid", (int)getpid(), "version", ISO_VERSION,
	    "protocol", SUP_PROTOCOL_VERSION, "started", started, "isolates",
	    (int)rec_count(), "connections", (int)sv_count(), "subscribers",
	    (int)events_count(), "compute_workers", (int)warm_count(),
	    "runtime_dir", iso_runtime_dir(), "node", cluster_node());
	if (rep != NULL && iso_msg_put(rep, iso_msg_pack("s", "cluster"),
	    cluster_status()) == -1) {
		iso_msg_free(rep);
		rep = NULL;
	}
	sv_reply(c, rep);
}

const struct rq_entry rq_status = { .name = "status", .exec = op_status };

/* A computation in flight; conn is NULL once its client has gone. */
struct job {
	struct sv_conn	*conn;
	int		 lease;		/* asked for one */
};

static void
compute_done(iso_msg *result, const char *error, void *arg)
{
	struct job	*j = arg;
	iso_msg		*rep;
	int		 fd;

	if (j->conn == NULL)
		iso_msg_free(result);	/* nobody to tell */
	else if (result == NULL)
		sv_error(j->conn, EIO, "%s", error);
	else if (j->lease && warm_offered() &&
	    (fd = sv_handover(j->conn)) != -1) {
		/* The connection is the lease's from now on. */
		if ((rep = iso_msg_pack("{s:b}", "ok", 1)) == NULL)
			iso_msg_free(result);
		else if (iso_msg_put(rep, iso_msg_pack("s", "result"),
		    result) == -1) {
			iso_msg_free(rep);
			rep = NULL;
		}
		(void)warm_lease(fd, rep);
	} else
		sv_reply_with(j->conn, "result", result);
	free(j);
}

static void
compute_cancel(void *arg)
{
	struct job	*j = arg;

	j->conn = NULL;
}

#define COMPUTE_WORKERS_MAX	1024	/* a module's warm workers at most */

struct compute_args {
	const iso_msg	*arg, *argv;
	const char	*module, *function;
	int		 timeout_ms;
	int		 fresh;
	int		 warm;
	int		 workers;
	const char	*cwd;
	int		 lease;
	int		 cluster;
	const char	*sandbox;
};

static const struct rq_field compute_fields[] = {
	RQ_FIELD(struct compute_args, arg, "arg", RQ_MSG, 0, 0, 0),
	RQ_FIELD(struct compute_args, argv, "argv", RQ_STRLIST, 0, 1, 0),
	RQ_FIELD(struct compute_args, module, "module", RQ_STR, 0, 0, 0),
	RQ_FIELD(struct compute_args, function, "function", RQ_STR, 0, 0, 0),
	RQ_FIELD(struct compute_args, timeout_ms, "timeout_ms", RQ_INT, 0, 0,
	    0),
	RQ_FIELD(struct compute_args, fresh, "fresh", RQ_BOOL, 0, 0, 0),
	RQ_FIELD(struct compute_args, warm, "warm", RQ_BOOL, 0, 0, 0),
	RQ_FIELD(struct compute_args, cwd, "cwd", RQ_STR, 0, 0, 0),
	RQ_FIELD(struct compute_args, workers, "workers", RQ_INT, 0, 1,
	    COMPUTE_WORKERS_MAX),
	RQ_FIELD(struct compute_args, lease, "lease", RQ_BOOL, 0, 0, 0),
	RQ_FIELD(struct compute_args, cluster, "cluster", RQ_BOOL, 0, 0, 0),
	RQ_FIELD(struct compute_args, sandbox, "sandbox", RQ_STR, 0, 1, 4096),
	RQ_END
};

static void
op_compute(struct sv_conn *c, const struct rq *rq)
{
	const struct compute_args *a = rq->args;
	struct dc_req	 r;
	struct job	*j;
	char		**av = NULL;
	size_t		 i, n;
	int		 rc;

	memset(&r, 0, sizeof r);
	r.arg = a->arg;
	r.timeout_ms = a->timeout_ms;
	r.workers = a->workers;
	r.cwd = a->cwd;
	r.lease = a->lease;
	if (a->fresh && a->warm) {
		sv_error(c, EINVAL, "compute: \"fresh\" or \"warm\", not "
		    "both");
		return;
	}
	if (a->cluster && (a->argv != NULL || a->fresh)) {
		sv_error(c, EINVAL, "compute: \"cluster\" is for a module's "
		    "warm workers, not \"%s\"", a->fresh ? "fresh" : "argv");
		return;
	}
	/* A sandbox is one process's, for one call: the fresh path. */
	if (a->sandbox != NULL && (a->warm || a->cluster)) {
		sv_error(c, EINVAL, "compute: \"sandbox\" runs a fresh "
		    "process: not with \"%s\"", a->warm ? "warm" : "cluster");
		return;
	}
	if (a->sandbox != NULL && (a->argv != NULL ?
	    life_sandbox_check(a->sandbox) : dc_sandbox_check(a->sandbox)) ==
	    -1) {
		sv_error(c, errno, "compute: %s", iso_error());
		return;
	}
	r.sandbox = a->sandbox;
	if (a->cwd != NULL && (a->argv == NULL || a->cwd[0] != '/')) {
		sv_error(c, EINVAL, "compute: \"cwd\" is an absolute "
		    "directory, for \"argv\"");
		return;
	}
	if (a->argv != NULL) {
		n = iso_msg_len(a->argv);
		if ((av = calloc(n + 1, sizeof *av)) == NULL) {
			sv_error(c, ENOMEM, "out of memory");
			return;
		}
		for (i = 0; i < n; i++)
			av[i] = (char *)(uintptr_t)iso_msg_str(
			    iso_msg_at(a->argv, i), NULL);
		r.argv = av;
	} else if (a->module == NULL || a->function == NULL) {
		sv_error(c, EINVAL, "compute: want \"module\" and "
		    "\"function\", or \"argv\"");
		return;
	} else {
		r.module = a->module;
		r.function = a->function;
	}
	if (stopping) {
		free(av);
		sv_error(c, EBUSY, "compute: the supervisor is stopping");
		return;
	}
	/* Another node's, or ours when this node is the one chosen. */
	if (a->cluster && ccompute_route(c, r.module, r.function, r.arg,
	    r.timeout_ms, r.workers))
		return;
	if ((j = malloc(sizeof *j)) == NULL) {
		free(av);
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	j->conn = c;
	j->lease = a->lease && a->sandbox == NULL;
	/* The so form goes to the module's warm workers unless fresh, a
	   command only when warm. */
	if ((r.module != NULL && !a->fresh && a->sandbox == NULL) ||
	    (r.argv != NULL && a->warm))
		rc = warm_start(&r, compute_done, j);
	else
		rc = dc_start(&r, compute_done, j);
	free(av);
	if (rc == -1 && errno == ENOBUFS) {
		free(j);
		sv_error(c, ENOBUFS, "compute: %d requests wait for workers "
		    "already; try again later, or ask for more \"workers\"",
		    WARM_QUEUE_MAX);
		return;
	}
	if (rc == -1) {
		free(j);
		sv_error(c, EIO, "compute: cannot start: %s", strerror(errno));
		return;
	}
	/* A client gone before the result: the result is dropped. */
	sv_defer(c, compute_cancel, j);
}

const struct rq_entry rq_compute = {
	.name = "compute", .exec = op_compute, .flags = RQ_STRICT,
	.size = sizeof(struct compute_args), .fields = compute_fields
};

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_info("got signal %d", (int)sig);
	stop();
}

/*
 * Run by hand without --foreground: go on in a child of a session of its
 * own; the parent exits 0 once the child says "ready", else 1 with the
 * child's reason. In the child, *readyfd gets the pipe to say it on.
 */
static int
background(int *readyfd)
{
	char	line[512];
	size_t	n = 0;
	ssize_t	r;
	int	p[2];
	pid_t	pid;

	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		fprintf(stderr, "isolated: cannot go to the background: %s\n",
		    strerror(errno));
		return (-1);
	}
	if (pid == 0) {
		close(p[0]);
		(void)setsid();
		*readyfd = p[1];
		return (0);
	}
	close(p[1]);
	while (n < sizeof line - 1) {
		r = read(p[0], line + n, sizeof line - 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (strcmp(line, "ready") == 0)
		exit(0);
	fprintf(stderr, "isolated: %s\n", n > 0 ? line :
	    "exited before it was ready");
	exit(1);
}

/*
 * Make and open the state directory, <rt>/supervisor, through the runtime
 * directory's descriptor: a real directory of ours with mode 0700. Its
 * descriptor, and in dir the path that reaches it without looking
 * <rt>/supervisor up again; -1 with iso_error() saying what to do.
 */
static int
state_dir_open(const char *rt, char *dir, size_t len)
{
	struct stat	st;
	int		dfd = rtdir_fd(), fd;

	if (mkdirat(dfd, SUP_STATE_DIR, 0700) == -1 && errno != EEXIST)
		return (msg_fail(errno, "%s/%s: cannot create it: %s", rt,
		    SUP_STATE_DIR, strerror(errno)));
	fd = openat(dfd, SUP_STATE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 && (errno == ELOOP || errno == ENOTDIR))
		return (msg_fail(EACCES, "%s/%s is a symlink or not a "
		    "directory: refused; remove it", rt, SUP_STATE_DIR));
	if (fd == -1 || fstat(fd, &st) == -1)
		return (msg_fail(errno, "%s/%s: %s", rt, SUP_STATE_DIR,
		    strerror(errno)));
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		close(fd);
		return (msg_fail(EACCES, "%s/%s has owner uid %u and mode "
		    "%04o: it must be owned by uid %u (you) with mode 0700; "
		    "chmod 700 it, or remove it", rt, SUP_STATE_DIR,
		    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
		    (unsigned)geteuid()));
	}
	if (rtdir_fd_path(fd, "", dir, len) == -1 || dir[0] == '\0') {
		/* No /proc: the path, checked just now. */
		if (snprintf(dir, len, "%s/%s", rt, SUP_STATE_DIR) >=
		    (int)len) {
			close(fd);
			return (msg_fail(ENAMETOOLONG, "runtime directory %s: "
			    "too long", rt));
		}
	}
	return (fd);
}

/* What the command line asked for. */
struct opts {
	int	foreground;
	int	readyfd;	/* -1: none */
};

/* The value of environment variable name, NULL when unset or empty. */
static const char *
env_nonempty(const char *name)
{
	const char	*v = getenv(name);

	return (v != NULL && *v != '\0' ? v : NULL);
}

/* A number for option name within [lo, hi]: 0, or -1 after saying so. */
static int
opt_number(const char *name, const char *arg, long lo, long hi, long *out)
{
	char	*end;

	errno = 0;
	*out = strtol(arg, &end, 10);
	if (errno != 0 || *end != '\0' || end == arg || *out < lo ||
	    *out > hi) {
		fprintf(stderr, "isolated: --%s: not a number from %ld to "
		    "%ld: %s\n", name, lo, hi, arg);
		return (-1);
	}
	return (0);
}

/* Seconds (a fraction allowed) from 0.001 to a day for option name, in
   milliseconds: 0, or -1 after saying so. */
static int
opt_seconds(const char *name, const char *arg, int *ms)
{
	char	*end;
	double	 d;

	errno = 0;
	d = strtod(arg, &end);
	if (errno != 0 || *end != '\0' || end == arg || !(d >= 0.001) ||
	    d > 86400) {
		fprintf(stderr, "isolated: --%s: not a number of seconds from "
		    "0.001 to 86400: %s\n", name, arg);
		return (-1);
	}
	*ms = (int)(d * 1000 + 0.5);
	return (0);
}

/* Parse the command line into o and the settings: -1 to go on, else
   the exit status. */
static int
options(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "history", required_argument, NULL, 'H' },
		{ "isolate-history", required_argument, NULL, 'I' },
		{ "log-max", required_argument, NULL, 'L' },
		{ "grace-ms", required_argument, NULL, 'G' },
		{ "max-conns", required_argument, NULL, 'C' },
		{ "compute-workers", required_argument, NULL, 'W' },
		{ "compute-idle", required_argument, NULL, 'D' },
		{ "nats", required_argument, NULL, 'N' },
		{ "node", required_argument, NULL, 'n' },
		{ "nats-creds", required_argument, NULL, 'c' },
		{ "nats-nkey", required_argument, NULL, 'k' },
		{ "nats-tls-ca", required_argument, NULL, 'a' },
		{ "nats-tls-cert", required_argument, NULL, 't' },
		{ "nats-tls-key", required_argument, NULL, 'K' },
		{ "serve-module", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int	ch;
	long	l;

	o->foreground = 0;
	o->readyfd = -1;
	cluster_conf.url = env_nonempty("ISO_NATS_URL");
	cluster_conf.node = env_nonempty("ISO_NODE");
	cluster_conf.creds = env_nonempty("ISO_NATS_CREDS");
	while ((ch = getopt_long(argc, argv, "fhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			o->foreground = 1;
			break;
		case 'r':
			if (opt_number("ready-fd", optarg, 0, INT_MAX, &l) ==
			    -1 || fcntl((int)l, F_GETFD) == -1) {
				fprintf(stderr, "isolated: --ready-fd: not an "
				    "open descriptor: %s\n", optarg);
				return (2);
			}
			o->readyfd = (int)l;
			(void)fcntl(o->readyfd, F_SETFD, FD_CLOEXEC);
			break;
		case 'C':
			if (opt_number("max-conns", optarg, 1, 1000000, &l) ==
			    -1)
				return (2);
			sv_max_conns = mbox_max_conns = (size_t)l;
			break;
		case 'W':
			if (opt_number("compute-workers", optarg, 1,
			    COMPUTE_WORKERS_MAX, &l) == -1)
				return (2);
			warm_workers = (int)l;
			break;
		case 'D':
			if (opt_seconds("compute-idle", optarg, &warm_idle_ms) ==
			    -1)
				return (2);
			break;
		case 'H':
			if (opt_number("history", optarg, 0, INT_MAX, &l) == -1)
				return (2);
			rec_history_max = (size_t)l;
			break;
		case 'I':
			if (opt_number("isolate-history", optarg, 0, INT_MAX,
			    &l) == -1)
				return (2);
			rec_isolate_history_max = (size_t)l;
			break;
		case 'L':
			if (opt_number("log-max", optarg, 1024, INT_MAX, &l) ==
			    -1)
				return (2);
			life_log_max = (size_t)l;
			break;
		case 'G':
			if (opt_number("grace-ms", optarg, 1, 3600000, &l) == -1)
				return (2);
			life_grace_ms = (int)l;
			break;
		case 'N':
			cluster_conf.url = optarg;
			break;
		case 'n':
			cluster_conf.node = optarg;
			break;
		case 'c':
			cluster_conf.creds = optarg;
			break;
		case 'k':
			cluster_conf.nkey = optarg;
			break;
		case 'a':
			cluster_conf.tls_ca = optarg;
			break;
		case 't':
			cluster_conf.tls_cert = optarg;
			break;
		case 'K':
			cluster_conf.tls_key = optarg;
			break;
		case 'S':
			if (ccompute_serve(optarg) == -1)
				return (2);
			break;
		case 'h':
			usage(stdout);
			return (0);
		case 'V':
			printf("isolated %s\n", ISO_VERSION);
			return (0);
		default:
			usage(stderr);
			return (2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "isolated: unexpected argument: %s\n",
		    argv[optind]);
		usage(stderr);
		return (2);
	}
	if (cluster_conf.node != NULL &&
	    !cluster_node_valid(cluster_conf.node)) {
		fprintf(stderr, "isolated: --node: want 1 to 64 letters, "
		    "digits, '-' or '_', not \"%s\"\n", cluster_conf.node);
		return (2);
	}
	if (cluster_conf.url != NULL && cluster_conf.node == NULL &&
	    !cluster_node_valid(cluster_node())) {
		fprintf(stderr, "isolated: the host's name \"%s\" cannot "
		    "name a node (letters, digits, '-' and '_' only): give "
		    "--node NAME\n", cluster_node());
		return (2);
	}
	return (-1);
}

/*
 * Take the lock of the runtime directory rt (one supervisor per runtime
 * directory: the lock says which) and write our pid in it: 0, or -1
 * with the reason in why.
 */
static int
take_lock(const char *rt, char *why, size_t len)
{
	char	pidtext[32];
	ssize_t	n;
	int	e;

	lock = openat(rtdir_fd(), SUP_LOCK, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NOCTTY, 0600);
	if (lock == -1 || flock(lock, LOCK_EX | LOCK_NB) == -1) {
		e = errno;
		n = lock == -1 ? -1 : pread(lock, pidtext, sizeof pidtext - 1,
		    0);
		pidtext[n > 0 ? n : 0] = '\0';
		pidtext[strcspn(pidtext, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			snprintf(why, len, "already running (pid %s)", pidtext);
		else if (e == ELOOP)
			snprintf(why, len, "%s/%s is a symlink: refused; "
			    "remove it", rt, SUP_LOCK);
		else
			snprintf(why, len, "%s/%s: %s", rt, SUP_LOCK,
			    strerror(e));
		return (-1);
	}
	snprintf(pidtext, sizeof pidtext, "%d\n", (int)getpid());
	if (ftruncate(lock, 0) == -1 ||
	    pwrite(lock, pidtext, strlen(pidtext), 0) == -1)
		fprintf(stderr, "isolated: %s/%s: %s\n", rt, SUP_LOCK,
		    strerror(errno));
	return (0);
}

/* Detached: nothing of the starter's terminal; log to isolated.log in
   the state directory sfd. 0, or -1 with errno. */
static int
detach(int sfd)
{
	int	fd;

	if (chdir("/") == -1)
		return (-1);
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		(void)dup2(fd, 0);
		(void)dup2(fd, 1);
		close(fd);
	}
	/* Its own log, rotated as a command's (log.c). */
	return (log_open(sfd, life_log_max));
}

/* Start the modules, adopt what is left, listen on sock, and route the
   signals that stop us: 0, or -1 with errno. (The library's loop raises
   the descriptor limit to its hard maximum: idle clients cost one
   each.) */
static int
serve(const char *sdir, int sfd, const char *sock, struct event *sigs[3])
{
	static const int	signos[3] = { SIGTERM, SIGINT, SIGHUP };
	int			i;

	if ((base = iso_event_base()) == NULL || child_init(base) == -1 ||
	    names_load(sdir) == -1 || life_init(base, sdir, sfd, sock) == -1 ||
	    sv_listen(base, sock) == -1 || sweep_init(base) == -1)
		return (-1);
	for (i = 0; i < 3; i++)
		if ((sigs[i] = evsignal_new(base, signos[i], on_signal,
		    NULL)) == NULL || evsignal_add(sigs[i], NULL) == -1)
			return (-1);
	return (0);
}

/* Stopped: what runs has ended; forget it all. */
static void
shutdown_all(struct event *sigs[3])
{
	int	i;

	sv_close();
	cluster_stop();
	for (i = 0; i < 3; i++)
		if (sigs[i] != NULL)
			event_free(sigs[i]);
	rec_free_all();
	sweep_free();
	names_clear();
	log_info("stopped");
	if (lock != -1)
		close(lock);
}

int
main(int argc, char **argv)
{
	struct opts	 o;
	struct event	*sigs[3] = { NULL, NULL, NULL };
	const char	*rt;
	char		 sdir[PATH_MAX], sock[PATH_MAX], why[512];
	int		 rc, sfd;

	if ((rc = options(argc, argv, &o)) != -1)
		return (rc);
	/* Before any event base is made (libevent's rule). */
	if (cluster_conf.url != NULL && natsev_threads() == -1) {
		fprintf(stderr, "isolated: cannot make libevent thread-safe\n");
		return (1);
	}
	if (!o.foreground && o.readyfd == -1 && background(&o.readyfd) == -1)
		return (1);
	signal(SIGPIPE, SIG_IGN);
	started = (double)time(NULL);
	if ((rt = iso_runtime_dir()) == NULL ||
	    (sfd = state_dir_open(rt, sdir, sizeof sdir)) == -1)
		return (start_failed(&o.readyfd, "%s", iso_error()));
	if (take_lock(rt, why, sizeof why) == -1)
		return (start_failed(&o.readyfd, "%s", why));
	if (!o.foreground && detach(sfd) == -1)
		return (start_failed(&o.readyfd, "%s/%s/%s: %s", rt,
		    SUP_STATE_DIR, LOG_FILE, strerror(errno)));
	if (snprintf(sock, sizeof sock, "%s/%s", rt, SUP_SOCKET) >=
	    (int)sizeof sock)
		return (start_failed(&o.readyfd, "runtime directory %s: too "
		    "long", rt));
	if (serve(sdir, sfd, sock, sigs) == -1) {
		log_warn("cannot start: %s", strerror(errno));
		return (start_failed(&o.readyfd, "cannot start: %s",
		    strerror(errno)));
	}
	if (cluster_start(base, sdir, why, sizeof why) == -1) {
		log_warn("cannot join the cluster: %s", why);
		shutdown_all(sigs);
		return (start_failed(&o.readyfd, "cannot join the cluster: %s",
		    why));
	}
	log_info("serving on %s (pid %d)", sock, (int)getpid());
	ready(&o.readyfd, "ready");
	event_base_dispatch(base);
	shutdown_all(sigs);
	return (0);
}
