/*
 * isolated.c: the supervisor's main: options, the lock, the socket, the
 * loop; and the operations about the daemon itself (status, stop) and
 * compute, which only glues the socket to compute.c.
 */
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
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
	    "                [--log-max BYTES] [--grace-ms MS] [--max-conns N]\n"
	    "  -f, --foreground   stay in the foreground, log to stderr\n"
	    "      --ready-fd FD  write \"ready\" (or why not) on FD once\n"
	    "                     serving, then close it\n"
	    "      --history N    ended isolates kept in the list (1000)\n"
	    "      --log-max BYTES  rotate a command's log, and its own, beyond this "
	    "(524288)\n"
	    "      --grace-ms MS  a graceful kill's wait before SIGKILL "
	    "(5000)\n"
	    "      --max-conns N  connections each socket keeps open, the "
	    "request\n"
	    "                     socket and each mailbox's (4096)\n"
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
	proc_stop_all(proc_grace_ms, stopped);
}

void
op_stop(struct sv_conn *c, const iso_msg *req)
{
	(void)req;
	if (stopping || stopper != NULL) {
		sv_error(c, EBUSY, "already stopping");
		return;
	}
	stopper = c;
	sv_defer(c, stop_cancel, NULL);
	stop();
}

void
op_status(struct sv_conn *c, const iso_msg *req)
{
	(void)req;
	sv_reply(c, iso_msg_pack("{s:b s:i s:s s:i s:f s:i s:i s:s}", "ok", 1,
	    "pid", (int)getpid(), "version", ISO_VERSION, "protocol",
	    SUP_PROTOCOL_VERSION, "started", started, "isolates",
	    (int)proc_count(), "connections", (int)sv_count(), "runtime_dir",
	    iso_runtime_dir()));
}

/* A computation in flight; conn is NULL once its client has gone. */
struct job {
	struct sv_conn	*conn;
};

static void
compute_done(iso_msg *result, const char *error, void *arg)
{
	struct job	*j = arg;

	if (j->conn == NULL)
		iso_msg_free(result);	/* nobody to tell */
	else if (result == NULL)
		sv_error(j->conn, EIO, "%s", error);
	else
		sv_reply_with(j->conn, "result", result);
	free(j);
}

static void
compute_cancel(void *arg)
{
	struct job	*j = arg;

	j->conn = NULL;
}

void
op_compute(struct sv_conn *c, const iso_msg *req)
{
	struct dc_req	 r;
	struct job	*j;
	const iso_msg	*argv;
	char		**av = NULL;
	size_t		 i, n;
	int		 rc;

	memset(&r, 0, sizeof r);
	r.arg = iso_msg_get(req, "arg");
	if (iso_msg_unpack(req, "{s?i}", "timeout_ms", &r.timeout_ms) == -1) {
		sv_error(c, EINVAL, "compute: \"timeout_ms\" is an integer");
		return;
	}
	if ((argv = iso_msg_get(req, "argv")) != NULL) {
		n = iso_msg_len(argv);
		if (iso_msg_type(argv) != ISO_LIST || n == 0 ||
		    (av = calloc(n + 1, sizeof *av)) == NULL) {
			sv_error(c, EINVAL, "compute: \"argv\" is a non-empty "
			    "list of strings");
			return;
		}
		for (i = 0; i < n; i++) {
			if ((av[i] = (char *)(uintptr_t)iso_msg_str(
			    iso_msg_at(argv, i), NULL)) == NULL) {
				free(av);
				sv_error(c, EINVAL, "compute: \"argv\" is a "
				    "non-empty list of strings");
				return;
			}
		}
		r.argv = av;
	} else if (iso_msg_unpack(req, "{s:s s:s}", "module", &r.module,
	    "function", &r.function) == -1) {
		sv_error(c, EINVAL, "compute: want \"module\" and "
		    "\"function\", or \"argv\"");
		return;
	}
	if (stopping) {
		free(av);
		sv_error(c, EBUSY, "compute: the supervisor is stopping");
		return;
	}
	if ((j = malloc(sizeof *j)) == NULL) {
		free(av);
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	j->conn = c;
	rc = dc_start(&r, compute_done, j);
	free(av);
	if (rc == -1) {
		free(j);
		sv_error(c, EIO, "compute: cannot start: %s", strerror(errno));
		return;
	}
	/* A client gone before the result: the result is dropped. */
	sv_defer(c, compute_cancel, j);
}

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

/* Raise the descriptor limit to its hard maximum: idle clients cost one
   each. */
static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "history", required_argument, NULL, 'H' },
		{ "log-max", required_argument, NULL, 'L' },
		{ "grace-ms", required_argument, NULL, 'G' },
		{ "max-conns", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct event	*sigs[3];
	const char	*rt;
	char		 sdir[PATH_MAX], sock[PATH_MAX], pidtext[32], *end;
	int		 ch, foreground = 0, readyfd = -1, fd, sfd, i;
	long		 l;

	while ((ch = getopt_long(argc, argv, "fhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			foreground = 1;
			break;
		case 'r':
			errno = 0;
			l = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || l < 0 || l > INT_MAX ||
			    fcntl((int)l, F_GETFD) == -1) {
				fprintf(stderr, "isolated: --ready-fd: not an "
				    "open descriptor: %s\n", optarg);
				return (2);
			}
			readyfd = (int)l;
			(void)fcntl(readyfd, F_SETFD, FD_CLOEXEC);
			break;
		case 'C':
			errno = 0;
			l = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    l < 1 || l > 1000000) {
				fprintf(stderr, "isolated: --max-conns: not a "
				    "number from 1 to 1000000: %s\n", optarg);
				return (2);
			}
			sv_max_conns = mbox_max_conns = (size_t)l;
			break;
		case 'H':
		case 'L':
		case 'G':
			errno = 0;
			l = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    l < (ch == 'L' ? 1024 : ch == 'H' ? 0 : 1) ||
			    l > (ch == 'G' ? 3600000 : INT_MAX)) {
				fprintf(stderr, "isolated: --%s: bad number: %s\n",
				    ch == 'H' ? "history" : ch == 'L' ?
				    "log-max" : "grace-ms", optarg);
				return (2);
			}
			if (ch == 'H')
				proc_history_max = (size_t)l;
			else if (ch == 'L')
				proc_log_max = (size_t)l;
			else
				proc_grace_ms = (int)l;
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

	if (!foreground && readyfd == -1 && background(&readyfd) == -1)
		return (1);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	started = (double)time(NULL);
	if ((rt = iso_runtime_dir()) == NULL) {
		return (start_failed(&readyfd, "%s", iso_error()));
	}
	if ((sfd = state_dir_open(rt, sdir, sizeof sdir)) == -1)
		return (start_failed(&readyfd, "%s", iso_error()));

	/* One supervisor per runtime directory: the lock says which. */
	lock = openat(rtdir_fd(), SUP_LOCK, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NOCTTY, 0600);
	if (lock == -1 || flock(lock, LOCK_EX | LOCK_NB) == -1) {
		int	 e = errno;
		ssize_t	 n = lock == -1 ? -1 : pread(lock, pidtext,
		    sizeof pidtext - 1, 0);

		pidtext[n > 0 ? n : 0] = '\0';
		pidtext[strcspn(pidtext, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			return (start_failed(&readyfd, "already running (pid "
			    "%s)", pidtext));
		if (e == ELOOP)
			return (start_failed(&readyfd, "%s/%s is a symlink: "
			    "refused; remove it", rt, SUP_LOCK));
		return (start_failed(&readyfd, "%s/%s: %s", rt, SUP_LOCK,
		    strerror(e)));
	}
	snprintf(pidtext, sizeof pidtext, "%d\n", (int)getpid());
	if (ftruncate(lock, 0) == -1 ||
	    pwrite(lock, pidtext, strlen(pidtext), 0) == -1)
		fprintf(stderr, "isolated: %s/%s: %s\n", rt, SUP_LOCK,
		    strerror(errno));

	if (!foreground) {
		/* Detached: nothing of the starter's terminal. */
		if (chdir("/") == -1)
			return (1);
		if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
			(void)dup2(fd, 0);
			(void)dup2(fd, 1);
			close(fd);
		}
		/* Its own log, rotated as a command's (log.c). */
		if (log_open(sfd, proc_log_max) == -1)
			return (start_failed(&readyfd, "%s/%s/%s: %s", rt,
			    SUP_STATE_DIR, LOG_FILE, strerror(errno)));
	}

	if (snprintf(sock, sizeof sock, "%s/%s", rt, SUP_SOCKET) >=
	    (int)sizeof sock)
		return (start_failed(&readyfd, "runtime directory %s: too long",
		    rt));
	if ((base = iso_event_base()) == NULL || child_init(base) == -1 ||
	    names_load(sdir) == -1 || proc_init(base, sdir, sfd, sock) == -1 ||
	    sv_listen(base, sock) == -1 || sweep_init(base) == -1) {
		log_warn("cannot start: %s", strerror(errno));
		return (start_failed(&readyfd, "cannot start: %s",
		    strerror(errno)));
	}
	sigs[0] = evsignal_new(base, SIGTERM, on_signal, NULL);
	sigs[1] = evsignal_new(base, SIGINT, on_signal, NULL);
	sigs[2] = evsignal_new(base, SIGHUP, on_signal, NULL);
	for (i = 0; i < 3; i++)
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) == -1) {
			ready(&readyfd, "cannot start: signals");
			return (1);
		}
	log_info("serving on %s (pid %d)", sock, (int)getpid());
	ready(&readyfd, "ready");

	event_base_dispatch(base);

	/* Stopped: what runs has ended; forget it all. */
	sv_close();
	for (i = 0; i < 3; i++)
		event_free(sigs[i]);
	proc_free_all();
	sweep_free();
	names_clear();
	log_info("stopped");
	if (lock != -1)
		close(lock);
	return (0);
}
