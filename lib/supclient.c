/*
 * supclient.c: the supervisor's client calls. One connection a call: write
 * the request, read the reply (supproto.h). When no supervisor answers,
 * start one in the background and wait for its readiness line.
 */
#include <sys/file.h>
#include <sys/poll.h>
#include <sys/uio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"
#include "hot.h"
#include "loop.h"
#include "msg.h"
#include "wire.h"
#include "supproto.h"
#include "symname.h"

#ifndef ISO_ISOLATED_PATH
#define ISO_ISOLATED_PATH	"/usr/local/bin/isolated"
#endif

static const struct {
	int		 value;
	const char	*name;
} errnames[] = {
	{ ENOENT, "ENOENT" }, { EEXIST, "EEXIST" }, { EINVAL, "EINVAL" },
	{ ESRCH, "ESRCH" }, { ETIMEDOUT, "ETIMEDOUT" }, { EIO, "EIO" },
	{ ENOBUFS, "ENOBUFS" }, { ECONNREFUSED, "ECONNREFUSED" },
	{ EPROTO, "EPROTO" }, { ENOMEM, "ENOMEM" }, { EMSGSIZE, "EMSGSIZE" },
	{ EBUSY, "EBUSY" }, { EPERM, "EPERM" }, { EAGAIN, "EAGAIN" },
	{ ECANCELED, "ECANCELED" }, { EBADMSG, "EBADMSG" },
	{ ENAMETOOLONG, "ENAMETOOLONG" }, { EMFILE, "EMFILE" },
	{ EHOSTUNREACH, "EHOSTUNREACH" }, { EXDEV, "EXDEV" },
	{ EACCES, "EACCES" },
};

const char *
sup_errno_name(int e)
{
	size_t	i;

	for (i = 0; i < sizeof errnames / sizeof errnames[0]; i++)
		if (errnames[i].value == e)
			return (errnames[i].name);
	return ("EIO");
}

int
sup_errno_value(const char *name)
{
	size_t	i;

	for (i = 0; i < sizeof errnames / sizeof errnames[0]; i++)
		if (strcmp(errnames[i].name, name) == 0)
			return (errnames[i].value);
	return (EPROTO);
}

/* A connected socket, or -1 with connect's errno (ENOENT, ECONNREFUSED
   when none runs; EAGAIN when nonblock and its backlog is full) or
   EACCES (not a socket of ours), iso_error() saying which. */
static int
sup_connect_flags(int nonblock)
{
	int	fd, r, saved;

	if (rtdir_fd() == -1)
		return (-1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    (nonblock ? SOCK_NONBLOCK : 0), 0)) == -1)
		return (-1);
	do
		r = rtdir_connect(fd, SUP_SOCKET);
	while (r == -1 && errno == EINTR);
	if (r == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

static int
sup_connect(void)
{
	return (sup_connect_flags(0));
}

/*
 * Start isolated, detached (its own session, not our child once the
 * middle process has exited), and wait for the line it writes on fd 3
 * once it listens: "ready", or the reason it could not start.
 */
static int
sup_launch(void)
{
	struct sigaction sa;
	sigset_t	 none;
	const char	*prog;
	char		*argv[4], line[512];
	int		 p[2], saved, sig;
	size_t		 n = 0;
	ssize_t		 r;
	pid_t		 pid;

	if ((prog = getenv("ISO_ISOLATED")) == NULL || *prog == '\0')
		prog = ISO_ISOLATED_PATH;
	argv[0] = (char *)(uintptr_t)prog;
	argv[1] = (char *)(uintptr_t)"--ready-fd";
	argv[2] = (char *)(uintptr_t)"3";
	argv[3] = NULL;
	if (pipe2(p, O_CLOEXEC) == -1)
		return (-1);
	if ((pid = fork()) == -1) {
		saved = errno;
		close(p[0]);
		close(p[1]);
		errno = saved;
		return (-1);
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here on. */
		close(p[0]);
		if (setsid() == -1 || (pid = fork()) == -1)
			_exit(1);
		if (pid > 0)
			_exit(0);
		if (p[1] == 3)
			(void)fcntl(3, F_SETFD, 0);
		else if (dup2(p[1], 3) == -1)
			_exit(1);
		/* Nothing of this program's but stdio and the ready pipe, and
		   signals as a new program expects them. */
		closefrom(4);
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		for (sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				(void)sigaction(sig, &sa, NULL);
		sigemptyset(&none);
		(void)sigprocmask(SIG_SETMASK, &none, NULL);
		execv(prog, argv);
		(void)!write(3, "cannot run ", 11);
		(void)!write(3, prog, strlen(prog));
		(void)!write(3, "\n", 1);
		_exit(127);
	}
	close(p[1]);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
	for (;;) {
		r = read(p[0], line + n, sizeof line - 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == sizeof line - 1)
			break;
	}
	close(p[0]);
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (strcmp(line, "ready") == 0)
		return (0);
	return (msg_fail(ECONNREFUSED, "supervisor: %s", n > 0 ? line :
	    "exited before it was ready"));
}

/* Connect, starting the supervisor when none runs and start is set. */
static int
sup_open(int start)
{
	int	fd, lock, saved;

	if ((fd = sup_connect()) != -1)
		return (fd);
	/* Else iso_error() says what is wrong (the runtime directory, a
	   planted file) and what to do. */
	if (errno != ENOENT && errno != ECONNREFUSED)
		return (-1);
	if (!start)
		return (msg_fail(ESRCH, "supervisor: not running"));
	/* One starter at a time: a second waits, then finds it running. */
	lock = openat(rtdir_fd(), SUP_START_LOCK, O_RDWR | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (lock == -1)
		return (msg_fail(errno, "supervisor: %s/%s: %s; remove it",
		    iso_runtime_dir(), SUP_START_LOCK, strerror(errno)));
	while (flock(lock, LOCK_EX) == -1 && errno == EINTR)
		;
	if ((fd = sup_connect()) == -1 && sup_launch() == 0 &&
	    (fd = sup_connect()) == -1)
		(void)msg_fail(ECONNREFUSED, "supervisor: started but does "
		    "not answer: %s", strerror(errno));
	saved = errno;
	close(lock);
	errno = saved;
	return (fd);
}

/* How a call's connection ended without an answer (sup_exchange). */
#define SUP_GONE	1	/* it read the request, or may have */
#define SUP_UNREAD	2	/* it never read the request whole */

/* The node whose supervisor this process's requests go to; "": ours. */
static char	sup_node[65];

int
iso_sup_set_node(const char *node)
{
	size_t	len = node != NULL ? strlen(node) : 0;

	if (len >= sizeof sup_node || strspn(node != NULL ? node : "",
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-_") != len)
		return (msg_fail(EINVAL, "not a node's name (1 to 64 letters, "
		    "digits, '-' or '_'): %.80s", node));
	memcpy(sup_node, len > 0 ? node : "", len + 1);
	return (0);
}

/*
 * Write req on fd and read its reply: 0 and an owned *reply, or -1 with
 * the errno the supervisor named. *gone is set when the failure was the
 * connection's, not an answer: SUP_UNREAD when the supervisor never read
 * the whole request, so never acted on it (the write failed, or the
 * connection was reset: a Unix socket closed with bytes of ours unread
 * resets its peer, and a listener closed with connections in its backlog
 * resets them, where one that read all we sent ends with end of file),
 * else SUP_GONE.
 */
static int
sup_exchange(int fd, const iso_msg *req, iso_msg **reply, int *gone)
{
	iso_msg		*rep = NULL, *routed = NULL;
	const char	*ename = "EIO", *etext = "failed";
	int		 ok = 0, r;

	*gone = 0;
	/* For another node: the local supervisor passes it on. */
	if (sup_node[0] != '\0' && iso_msg_get(req, "node") == NULL) {
		if ((routed = iso_msg_copy(req)) == NULL ||
		    iso_msg_put(routed, iso_msg_pack("s", "node"),
		    iso_msg_pack("s", sup_node)) == -1) {
			iso_msg_free(routed);
			return (msg_fail(ENOMEM, "out of memory"));
		}
		req = routed;
	}
	r = iso_msg_write(fd, req);
	iso_msg_free(routed);
	if (r == -1) {
		/* A supervisor that refused us said why before it closed. */
		ok = errno;
		if ((ok != EPIPE && ok != ECONNRESET) ||
		    iso_msg_read(fd, &rep) != 1) {
			*gone = SUP_UNREAD;
			return (msg_fail(ECONNRESET, "supervisor: cannot "
			    "send: %s", strerror(ok)));
		}
		ok = 0;
		r = 1;
	} else
		r = iso_msg_read(fd, &rep);
	if (r == 0 || (r == -1 && (errno == ECONNRESET || errno == EPIPE))) {
		*gone = r == -1 && errno == ECONNRESET ? SUP_UNREAD : SUP_GONE;
		return (msg_fail(ECONNRESET, "supervisor: went away before "
		    "answering"));
	}
	if (r == -1)
		return (msg_fail(EPROTO, "supervisor: bad reply: %s",
		    iso_error()));
	if (iso_msg_unpack(rep, "{s:b}", "ok", &ok) == -1) {
		iso_msg_free(rep);
		return (msg_fail(EPROTO, "supervisor: reply without \"ok\""));
	}
	if (!ok) {
		(void)iso_msg_unpack(rep, "{s?s s?s}", "errno", &ename,
		    "error", &etext);
		r = msg_fail(sup_errno_value(ename), "%s", etext);
		iso_msg_free(rep);
		return (r);
	}
	*reply = rep;
	return (0);
}

/*
 * A call is tried again when the supervisor went away before reading its
 * request (one that stops, or one killed while a listener of its is still
 * open somewhere), and a call that may safely be made twice (SUP_SAFE: a
 * send with its request id, a take, an ack, a question) also when it went
 * away after: up to SUP_TRIES times over about SUP_TRY_MS, pausing a
 * little longer each time, a supervisor started when none runs
 * (SUP_START) and the connect retried while one is being started.
 */
#define SUP_TRIES	40
#define SUP_TRY_MS	10000

/* Whether a call may start a supervisor (iso_sup_autostart). */
static volatile int	sup_autostart = 1;

int
iso_sup_autostart(int on)
{
	int	was = sup_autostart;

	sup_autostart = on != 0;
	return (was);
}

/* A connection for a call: the fd, or -1 (*again: worth another try). */
static int
sup_open_again(int start, int *again)
{
	int	fd;

	if ((fd = sup_open(start && sup_autostart)) != -1)
		return (fd);
	/* Refused, or a new one that died before it was ready. */
	*again = errno == ECONNREFUSED || errno == ENOENT ||
	    errno == ECONNRESET || errno == EAGAIN;
	return (-1);
}

static void
sup_pause(int try)
{
	struct timespec	ts;
	long		ms = 5L * (try + 1);

	if (ms > SUP_TRY_MS / SUP_TRIES * 2)
		ms = SUP_TRY_MS / SUP_TRIES * 2;
	ts.tv_sec = 0;
	ts.tv_nsec = ms * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * The connection SUP_KEEP calls share (compute: a round trip without a
 * connect and an accept each call), -1 when none, and the process that
 * opened it: a forked child forgets it without closing it (the number
 * may be another file by then).
 */
static pthread_mutex_t	 sup_kept_lock = PTHREAD_MUTEX_INITIALIZER;
static int		 sup_kept = -1;
static pid_t		 sup_kept_pid;

/* The kept connection, taken (the slot is empty until it is given
   back), or -1: none, another thread has it, or the supervisor closed
   it (then it is closed here). */
static int
sup_kept_take(void)
{
	struct pollfd	pfd;
	int		fd = -1;

	if (pthread_mutex_trylock(&sup_kept_lock) != 0)
		return (-1);
	if (sup_kept != -1 && sup_kept_pid == getpid())
		fd = sup_kept;
	sup_kept = -1;
	pthread_mutex_unlock(&sup_kept_lock);
	if (fd == -1)
		return (-1);
	/* Between requests nothing comes: readable is its end. */
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) != 0) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Keep fd for the next SUP_KEEP call, or close it when one is kept. */
static void
sup_kept_give(int fd)
{
	if (pthread_mutex_trylock(&sup_kept_lock) == 0) {
		if (sup_kept == -1 || sup_kept_pid != getpid()) {
			sup_kept = fd;
			sup_kept_pid = getpid();
			fd = -1;
		}
		pthread_mutex_unlock(&sup_kept_lock);
	}
	if (fd != -1)
		close(fd);
}

/* Refuse m before anything is written when it holds a descriptor: the
   supervisor keeps messages (mailboxes outlive processes, and their
   logs are files), runs them elsewhere, or hands them to other nodes. */
static int
sup_no_fds(const iso_msg *m)
{
	if (m != NULL && (m->flags & MSG_FDS))
		return (msg_fail(EINVAL, "supervisor: a descriptor cannot go "
		    "to the supervisor (send it to an isolate's port)"));
	return (0);
}

int
sup_call_again(const iso_msg *req, iso_msg **reply, int *fdp, int how)
{
	iso_msg	*rep = NULL;
	int	 fd, gone = 0, again = 0, sent = 0, r = -1, try;

	if (req == NULL || sup_no_fds(req) == -1)
		return (-1);
	for (try = 0; try < SUP_TRIES; try++) {
		if (try > 0)
			sup_pause(try);
		again = 0;
		if ((!(how & SUP_KEEP) || (fd = sup_kept_take()) == -1) &&
		    (fd = sup_open_again(how & SUP_START, &again)) == -1) {
			/* Only a call already under way waits for a new
			   supervisor to answer. */
			if (again && (sent || (how & SUP_SAFE)))
				continue;
			return (-1);
		}
		r = sup_exchange(fd, req, &rep, &gone);
		if (r == 0 && fdp != NULL)
			*fdp = fd;
		else if ((how & SUP_KEEP) && gone == 0 &&
		    (r == 0 || errno != EPROTO))
			sup_kept_give(fd);	/* it answered: fit for more */
		else
			close(fd);
		sent |= gone;
		if (r == 0 || gone == 0 ||
		    (gone == SUP_GONE && !(how & SUP_SAFE)))
			break;
	}
	if (try == SUP_TRIES)
		try--;
	if (r == -1 && sent && (gone || again) && try == 0)
		return (msg_fail(ECONNRESET, "supervisor: went away before "
		    "answering"));
	if (r == -1 && sent && (gone || again))
		return (msg_fail(ECONNRESET, "supervisor: went away before "
		    "answering (tried %d times)", try + 1));
	if (r == -1)
		return (-1);
	if (reply != NULL)
		*reply = rep;
	else
		iso_msg_free(rep);
	return (0);
}

/*
 * Send req (taken over) and read its reply: 0 and an owned *reply (may
 * be NULL: dropped), or -1 with the errno the supervisor named.
 */
static int
sup_call(iso_msg *req, iso_msg **reply, int how)
{
	int	r;

	if (req == NULL)
		return (-1);
	r = sup_call_again(req, reply, NULL, how);
	iso_msg_free(req);
	return (r);
}

/* s (at most 32 bytes of it) with what is not printable ASCII as \\xNN. */
static void
strv_escape(const char *s, size_t len, char *out, size_t size)
{
	size_t	i, n = 0;

	for (i = 0; i < len && i < 32 && n + 5 < size; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
			out[n++] = s[i];
		else
			n += (size_t)snprintf(out + n, size - n, "\\x%02x",
			    (unsigned char)s[i]);
	}
	if (i < len && n + 4 < size)
		n += (size_t)snprintf(out + n, size - n, "...");
	out[n] = '\0';
}

/* Where the first byte that is not UTF-8 is, in s[0..len) that is not. */
static size_t
strv_bad_at(const char *s, size_t len)
{
	size_t	i = 0, k;

	while (i < len) {
		for (k = 1; k <= 4 && i + k <= len; k++)
			if (msg_utf8_valid(s + i, k))
				break;
		if (k > 4 || i + k > len)
			return (i);
		i += k;
	}
	return (len);
}

/*
 * A list message of the strings v[0..] up to NULL; NULL v gives nil.
 * A string that is not UTF-8 is EINVAL, named: argv[N] when env is 0,
 * else the variable.
 */
static iso_msg *
strv_msg(char *const *v, int env)
{
	iso_msg		*l;
	char		 shown[160];
	size_t		 i, len, at, n;

	if (v == NULL)
		return (iso_msg_pack("n"));
	for (i = 0; v[i] != NULL; i++) {
		len = strlen(v[i]);
		if (msg_utf8_valid(v[i], len))
			continue;
		at = strv_bad_at(v[i], len);
		if (!env) {
			strv_escape(v[i], len, shown, sizeof shown);
			(void)msg_fail(EINVAL, "argv[%zu] \"%s\" is not UTF-8 "
			    "(byte 0x%02x at offset %zu): the supervisor takes "
			    "commands as UTF-8 text; pass it in UTF-8", i,
			    shown, (unsigned char)v[i][at], at);
		} else {
			n = strcspn(v[i], "=");
			strv_escape(v[i], n, shown, sizeof shown);
			(void)msg_fail(EINVAL, "environment variable %s is not "
			    "UTF-8 (byte 0x%02x at offset %zu): the supervisor "
			    "takes the environment as UTF-8 text; unset it "
			    "(env -u) or set it in UTF-8", shown,
			    (unsigned char)v[i][at], at > n ? at - n - 1 : at);
		}
		return (NULL);
	}
	if ((l = iso_msg_pack("[]")) == NULL)
		return (NULL);
	for (; *v != NULL; v++) {
		if (iso_msg_append(l, iso_msg_pack("s", *v)) == -1) {
			iso_msg_free(l);
			return (NULL);
		}
	}
	return (l);
}

static const char *const restart_names[] = { "never", "on-failure",
    "always" };

/* The "id" of rep (taken over) into *id (if not NULL): 0, or -1/EPROTO. */
static int
reply_id(iso_msg *rep, const char *op, uint64_t *id)
{
	const char	*hex;
	char		*end;
	uint64_t	 v = 0;
	int		 r;

	r = iso_msg_unpack(rep, "{s:s}", "id", &hex);
	if (r == 0) {
		errno = 0;
		v = strtoull(hex, &end, 16);
		if (errno != 0 || *end != '\0' || end == hex)
			r = -1;
	}
	iso_msg_free(rep);
	if (r == -1)
		return (msg_fail(EPROTO, "supervisor: %s reply without id", op));
	if (id != NULL)
		*id = v;
	return (0);
}

int
iso_sup_spawn(const iso_sup_spawn_opts *o, uint64_t *id)
{
	iso_msg		*argv, *envp, *req, *rep;

	if (o == NULL || o->argv == NULL || o->argv[0] == NULL ||
	    (unsigned)o->restart > ISO_RESTART_ALWAYS)
		return (msg_fail(EINVAL, "spawn: no command or a bad option"));
	if ((argv = strv_msg(o->argv, 0)) == NULL)
		return (-1);
	if ((envp = strv_msg(o->envp, 1)) == NULL) {
		iso_msg_free(argv);
		return (-1);
	}
	req = iso_msg_pack("{s:s s:O s:s? s:O s:s? s:s s:i s:i s:i s:i s:i "
	    "s:i s:b s:b s:U s:U s:U s:U s:U s:s?}",
	    "op", "spawn", "argv", argv, "name", o->name, "env", envp,
	    "cwd", o->cwd, "restart", restart_names[o->restart],
	    "backoff_ms", o->backoff_ms, "backoff_max_ms", o->backoff_max_ms,
	    "reset_ms", o->reset_ms, "max_restarts", o->max_restarts,
	    "period_ms", o->period_ms, "mailbox", o->mailbox, "lines",
	    o->lines != 0, "mailbox_sync", o->mailbox_sync != 0,
	    "memory", o->memory, "cpu", o->cpu, "nofile", o->nofile,
	    "nproc", o->nproc, "max_memory", o->max_memory,
	    "sandbox", o->sandbox);
	if (req != NULL && o->paused && iso_msg_put(req, iso_msg_pack("s",
	    "paused"), iso_msg_pack("b", 1)) == -1) {
		iso_msg_free(req);
		req = NULL;
	}
	iso_msg_free(argv);
	iso_msg_free(envp);
	if (sup_call(req, &rep, SUP_START) == -1)
		return (-1);
	return (reply_id(rep, "spawn", id));
}

/* Take the value under key out of an ok reply as an owned message. */
static int
take(iso_msg *rep, const char *key, iso_msg **out)
{
	const iso_msg	*v;

	if ((v = iso_msg_get(rep, key)) == NULL) {
		iso_msg_free(rep);
		return (msg_fail(EPROTO, "supervisor: reply without \"%s\"",
		    key));
	}
	if (out != NULL && (*out = iso_msg_copy(v)) == NULL) {
		iso_msg_free(rep);
		return (-1);
	}
	iso_msg_free(rep);
	return (0);
}

int
iso_sup_list(iso_msg **list)
{
	iso_msg	*rep;

	if (sup_call(iso_msg_pack("{s:s}", "op", "list"), &rep,
	    SUP_START | SUP_SAFE) == -1)
		return (-1);
	return (take(rep, "isolates", list));
}

/* ---- restart, rm, list's filters (isoctl restart, rm, ps) ------------ */

int
iso_sup_restart(const char *target, int now, uint64_t *id)
{
	iso_msg		*rep;

	if (target == NULL)
		return (msg_fail(EINVAL, "restart: no target"));
	if (sup_call(iso_msg_pack("{s:s s:s s:b}", "op", "restart", "target",
	    target, "now", now != 0), &rep, SUP_START) == -1)
		return (-1);
	return (reply_id(rep, "restart", id));
}

int
iso_sup_rm(const char *target)
{
	if (target == NULL)
		return (msg_fail(EINVAL, "rm: no target"));
	return (sup_call(iso_msg_pack("{s:s s:s}", "op", "rm", "target",
	    target), NULL, SUP_START));
}

int
iso_sup_list_filter(const iso_sup_list_opts *o, iso_msg **list)
{
	static const char *const states[] = { NULL, "running", "restarting",
	    "exited", "failed", "ended" };
	iso_msg	*rep;

	if (o == NULL)
		return (iso_sup_list(list));
	if ((unsigned)o->state > ISO_SUP_ENDED)
		return (msg_fail(EINVAL, "list: bad state %d", (int)o->state));
	if (sup_call(iso_msg_pack("{s:s s:s? s:s? s:b}", "op", "list", "name",
	    o->name, "state", states[o->state], "all", o->all != 0), &rep,
	    SUP_START | SUP_SAFE) == -1)
		return (-1);
	return (take(rep, "isolates", list));
}

int
iso_sup_stats(iso_msg **rows)
{
	iso_msg	*rep;

	if (sup_call(iso_msg_pack("{s:s}", "op", "stats"), &rep,
	    SUP_START | SUP_SAFE) == -1)
		return (-1);
	return (take(rep, "isolates", rows));
}

int
iso_sup_kill(const char *target, int priority)
{
	if (target == NULL || (priority != ISO_IMMEDIATE &&
	    priority != ISO_BEFORE_NEXT_EVENT))
		return (msg_fail(EINVAL, "kill: bad target or priority"));
	return (sup_call(iso_msg_pack("{s:s s:s s:b}", "op", "kill",
	    "target", target, "graceful", priority == ISO_BEFORE_NEXT_EVENT),
	    NULL, SUP_START));
}

int
iso_sup_wait(const char *target, int timeout_ms, iso_msg **status)
{
	iso_msg	*rep;

	if (target == NULL)
		return (msg_fail(EINVAL, "wait: no target"));
	if (sup_call(iso_msg_pack("{s:s s:s s:i}", "op", "wait", "target",
	    target, "timeout_ms", timeout_ms), &rep, SUP_START) == -1)
		return (-1);
	return (take(rep, "isolate", status));
}

int
iso_sup_logs(const char *target, uint64_t *offset, char **data, size_t *len)
{
	iso_msg		*rep;
	const void	*p;
	size_t		 n;
	uint64_t	 next;

	if (target == NULL || offset == NULL || data == NULL || len == NULL)
		return (msg_fail(EINVAL, "logs: bad argument"));
	if (sup_call(iso_msg_pack("{s:s s:s s:U}", "op", "logs", "target",
	    target, "offset", *offset), &rep, SUP_START | SUP_SAFE) == -1)
		return (-1);
	if (iso_msg_unpack(rep, "{s:y# s:U}", "data", &p, &n, "offset",
	    &next) == -1) {
		iso_msg_free(rep);
		return (msg_fail(EPROTO, "supervisor: bad logs reply"));
	}
	if ((*data = malloc(n + 1)) == NULL) {
		iso_msg_free(rep);
		return (-1);
	}
	memcpy(*data, p, n);
	(*data)[n] = '\0';
	*len = n;
	*offset = next;
	iso_msg_free(rep);
	return (0);
}

/* A request id: 32 random hex digits. */
static int
sup_reqid(char id[33])
{
	unsigned char	r[16];
	size_t		i;

	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		return (msg_fail(EAGAIN, "send: no random bytes for a "
		    "request id"));
	for (i = 0; i < sizeof r; i++)
		snprintf(id + 2 * i, 3, "%02x", r[i]);
	return (0);
}

int
iso_sup_send(const char *target, const iso_msg *m)
{
	iso_msg	*req;
	char	 reqid[33];
	int	 r;

	if (target == NULL || m == NULL)
		return (msg_fail(EINVAL, "send: no target or message"));
	if (sup_no_fds(m) == -1)
		return (-1);
	/* One id for this send, however many times it is sent: a mailbox
	   keeps it once. */
	if (sup_reqid(reqid) == -1)
		return (-1);
	req = iso_msg_pack("{s:s s:s s:O s:s}", "op", "send", "target",
	    target, "message", m, "reqid", reqid);
	r = sup_call_again(req, NULL, NULL, SUP_START | SUP_SAFE);
	iso_msg_free(req);
	if (r == -1 && errno == ECONNRESET) {
		char	why[256];

		snprintf(why, sizeof why, "%s", iso_error());
		return (msg_fail(ECONNRESET, "%s: the message may have been "
		    "kept", why));
	}
	return (r);
}

/*
 * What this process was handed from each mailbox: per (op, target), the
 * box (its id, from the replies) and the highest seq handed out, so a
 * message given again (its ack lost with a killed supervisor) is dropped
 * and the next take acknowledges what the last one could not. A small
 * table, the least recently used entry replaced, made on first use (9 KiB
 * in .bss would sit among the variables a new isolate writes and spread
 * them over more pages).
 */
#define SEEN_MAX	32

static struct seen {
	char		 op[8];
	char		 target[256];
	uint64_t	 box;
	uint64_t	 upto;
	unsigned long	 used;
} *seen;
static unsigned long	seen_clock;
static pthread_mutex_t	seen_lock = PTHREAD_MUTEX_INITIALIZER;

/* The entry of (op, target), made if absent. Under seen_lock. */
static struct seen *
seen_find(const char *op, const char *target)
{
	struct seen	*e, *old = &seen[0];

	for (e = seen; e < seen + SEEN_MAX; e++) {
		if (e->used != 0 && strcmp(e->op, op) == 0 &&
		    strcmp(e->target, target) == 0)
			goto found;
		if (e->used < old->used)
			old = e;
	}
	e = old;
	memset(e, 0, sizeof *e);
	snprintf(e->op, sizeof e->op, "%s", op);
	snprintf(e->target, sizeof e->target, "%s", target);
found:
	e->used = ++seen_clock;
	return (e);
}

/* The highest seq of box handed out under any target. */
static uint64_t
seen_upto(uint64_t box)
{
	struct seen	*e;
	uint64_t	 upto = 0;

	for (e = seen; e < seen + SEEN_MAX; e++)
		if (e->used != 0 && e->box == box && e->upto > upto)
			upto = e->upto;
	return (upto);
}

/* Tell the supervisor, on fd (then on new connections while it goes
   away), that everything of box up to upto has been had. Best effort:
   what is not acknowledged comes again and is dropped here. */
static void
sup_ack(int fd, const char *target, const char *box, uint64_t upto)
{
	iso_msg	*req, *rep = NULL;
	int	 gone = 0;

	req = iso_msg_pack("{s:s s:s s:s s:U}", "op", "ack", "target", target,
	    "box", box, "upto", upto);
	if (req == NULL)
		return;
	if (sup_exchange(fd, req, &rep, &gone) == 0)
		iso_msg_free(rep);
	else if (gone && sup_call_again(req, &rep, NULL, SUP_START |
	    SUP_SAFE) == 0)
		iso_msg_free(rep);
	iso_msg_free(req);
}

/*
 * take and recv: messages stay in the mailbox until acknowledged. The
 * request says what this process already had ("after", "box"); the
 * reply gives each message's seq; what was had before is dropped, the
 * rest acknowledged on the same connection before it is returned.
 */
static int
sup_take(const char *op, const char *target, int max, int timeout_ms,
    iso_msg **messages)
{
	iso_msg		*req, *rep = NULL, *out = NULL;
	const iso_msg	*msgs, *seqs;
	struct seen	*e;
	const char	*bhex = NULL;
	char		 hex[17], *end;
	uint64_t	 box, after, upto, seq;
	size_t		 i;
	int		 fd = -1, r;

	if (target == NULL || messages == NULL || max <= 0)
		return (msg_fail(EINVAL, "%s: bad argument", op));
	pthread_mutex_lock(&seen_lock);
	if (seen == NULL && (seen = calloc(SEEN_MAX, sizeof *seen)) == NULL) {
		pthread_mutex_unlock(&seen_lock);
		return (msg_fail(ENOMEM, "%s: out of memory", op));
	}
	e = seen_find(op, target);
	box = e->box;
	after = box != 0 ? seen_upto(box) : 0;
	pthread_mutex_unlock(&seen_lock);
	snprintf(hex, sizeof hex, "%016" PRIx64, box);
	req = iso_msg_pack("{s:s s:s s:i s:i s:U s:s?}", "op", op, "target",
	    target, "max", max, "timeout_ms", timeout_ms, "after", after,
	    "box", box != 0 ? hex : NULL);
	r = sup_call_again(req, &rep, &fd, SUP_START | SUP_SAFE);
	iso_msg_free(req);
	if (r == -1)
		return (-1);
	if ((msgs = iso_msg_get(rep, "messages")) == NULL ||
	    iso_msg_type(msgs) != ISO_LIST) {
		close(fd);
		iso_msg_free(rep);
		return (msg_fail(EPROTO, "supervisor: reply without "
		    "\"messages\""));
	}
	seqs = iso_msg_get(rep, "seqs");
	if (seqs == NULL || iso_msg_unpack(rep, "{s:s}", "box", &bhex) == -1) {
		/* A supervisor before sequence numbers: taken already. */
		close(fd);
		return (take(rep, "messages", messages));
	}
	errno = 0;
	box = strtoull(bhex, &end, 16);
	if (iso_msg_type(seqs) != ISO_LIST || iso_msg_len(seqs) !=
	    iso_msg_len(msgs) || errno != 0 || *end != '\0' || box == 0 ||
	    (out = iso_msg_pack("[]")) == NULL) {
		close(fd);
		iso_msg_free(rep);
		return (out == NULL && errno == ENOMEM ? -1 : msg_fail(EPROTO,
		    "supervisor: a bad take reply"));
	}
	pthread_mutex_lock(&seen_lock);
	e = seen_find(op, target);
	if (e->box != box) {
		e->box = box;	/* another command under that name */
		e->upto = 0;
	}
	after = upto = seen_upto(box);
	pthread_mutex_unlock(&seen_lock);
	for (i = 0; i < iso_msg_len(msgs); i++) {
		if (iso_msg_uint(iso_msg_at(seqs, i), &seq) == -1)
			seq = 0;
		if (seq != 0 && seq <= after)
			continue;	/* had it: its ack was lost */
		if (iso_msg_append(out, iso_msg_copy(iso_msg_at(msgs,
		    i))) == -1) {
			close(fd);
			iso_msg_free(rep);
			iso_msg_free(out);
			return (-1);
		}
		if (seq > upto)
			upto = seq;
	}
	if (iso_msg_len(seqs) > 0)
		sup_ack(fd, target, bhex, upto > after ? upto : after);
	close(fd);
	pthread_mutex_lock(&seen_lock);
	e = seen_find(op, target);
	if (e->box == box && upto > e->upto)
		e->upto = upto;
	pthread_mutex_unlock(&seen_lock);
	iso_msg_free(rep);
	*messages = out;
	return (0);
}

int
iso_sup_take(const char *target, int max, int timeout_ms, iso_msg **messages)
{
	return (sup_take("take", target, max, timeout_ms, messages));
}

int
iso_sup_recv(const char *target, int max, int timeout_ms, iso_msg **messages)
{
	return (sup_take("recv", target, max, timeout_ms, messages));
}

int
iso_sup_register(const char *name, iso_sendport port)
{
	if (name == NULL)
		return (msg_fail(EINVAL, "register: no name"));
	return (sup_call(iso_msg_pack("{s:s s:s s:P}", "op", "register",
	    "name", name, "port", port), NULL, SUP_START));
}

int
iso_sup_lookup(const char *name, iso_sendport *port)
{
	iso_msg	*rep;
	int	 r;

	if (name == NULL || port == NULL)
		return (msg_fail(EINVAL, "lookup: bad argument"));
	if (sup_call(iso_msg_pack("{s:s s:s}", "op", "lookup", "name", name),
	    &rep, SUP_START | SUP_SAFE) == -1)
		return (-1);
	r = iso_msg_unpack(rep, "{s:P}", "port", port);
	iso_msg_free(rep);
	if (r == -1)
		return (msg_fail(EPROTO, "supervisor: lookup reply without "
		    "port"));
	return (0);
}

int
iso_sup_unregister(const char *name)
{
	if (name == NULL)
		return (msg_fail(EINVAL, "unregister: no name"));
	return (sup_call(iso_msg_pack("{s:s s:s}", "op", "unregister",
	    "name", name), NULL, SUP_START));
}

int
iso_sup_nodes(iso_msg **nodes)
{
	iso_msg		*rep;
	const iso_msg	*list;

	if (sup_call(iso_msg_pack("{s:s}", "op", "nodes"), &rep, SUP_START |
	    SUP_SAFE) == -1)
		return (-1);
	if (iso_msg_unpack(rep, "{s:O}", "nodes", &list) == -1 ||
	    iso_msg_type(list) != ISO_LIST ||
	    (*nodes = iso_msg_copy(list)) == NULL) {
		iso_msg_free(rep);
		return (msg_fail(EPROTO, "supervisor: nodes without a list"));
	}
	iso_msg_free(rep);
	return (0);
}

int
iso_sup_names(iso_msg **names)
{
	iso_msg	*rep;

	if (sup_call(iso_msg_pack("{s:s}", "op", "names"), &rep,
	    SUP_START | SUP_SAFE) == -1)
		return (-1);
	return (take(rep, "names", names));
}

/* Put key: value (taken over) into the map *req, which is freed and
   NULL on failure. */
static void
put_field(iso_msg **req, const char *key, iso_msg *value)
{
	if (*req != NULL &&
	    iso_msg_put(*req, iso_msg_pack("s", key), value) == -1) {
		iso_msg_free(*req);
		*req = NULL;
	} else if (*req == NULL)
		iso_msg_free(value);
}

/*
 * A lease: a warm worker the supervisor lent this process (one at a
 * time), called directly on fd, a connection to it alone; ctl is the
 * connection the lease came on, which the supervisor closes when the
 * lease ends, saying why first (a crash or a timeout while the worker
 * had a call of ours). The module was the file of that identity when it
 * was leased: a file replaced since is another module, and the lease is
 * given up. A forked child forgets a lease without closing it.
 */
static pthread_mutex_t	 lease_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int		 fd, ctl;
	pid_t		 pid;
	char		*module;
	int64_t		 dev, ino, size, mtime_s, mtime_ns;
} lease = { -1, -1, 0, NULL, 0, 0, 0, 0, 0 };

/* Give the lease up (lease_lock held). */
static void
lease_drop(void)
{
	if (lease.pid == getpid()) {
		if (lease.fd != -1)
			close(lease.fd);
		if (lease.ctl != -1)
			close(lease.ctl);
	}
	lease.fd = lease.ctl = -1;
	free(lease.module);
	lease.module = NULL;
}

/* Whether the file at path is still the one leased. */
static int
lease_same(const char *path)
{
	struct stat	st;

	return (stat(path, &st) == 0 && (int64_t)st.st_dev == lease.dev &&
	    (int64_t)st.st_ino == lease.ino &&
	    (int64_t)st.st_size == lease.size &&
	    (int64_t)st.st_mtim.tv_sec == lease.mtime_s &&
	    (int64_t)st.st_mtim.tv_nsec == lease.mtime_ns);
}

/* Whether a call for module may ask for a lease: its path is absolute
   (the supervisor's directory is not ours) and none is held. */
static int
lease_wanted(const char *module)
{
	int	want = 0;

	if (module[0] != '/' || pthread_mutex_trylock(&lease_lock) != 0)
		return (0);
	if (lease.fd != -1 && lease.pid != getpid())
		lease_drop();
	want = lease.fd == -1;
	pthread_mutex_unlock(&lease_lock);
	return (want);
}

/* The reply rep came on ctl with "lease": the worker's end follows on a
   byte of its own. Kept as the lease, else ctl closed. */
static void
lease_take(int ctl, const char *module, const iso_msg *rep)
{
	char		 cbuf[CMSG_SPACE(sizeof(int))], one;
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	ssize_t		 r;
	int		 fd = -1;

	iov.iov_base = &one;
	iov.iov_len = 1;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof cbuf;
	do
		r = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
	while (r == -1 && errno == EINTR);
	for (cm = r == 1 ? CMSG_FIRSTHDR(&mh) : NULL; cm != NULL;
	    cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS && fd == -1)
			memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	if (fd == -1 || pthread_mutex_trylock(&lease_lock) != 0) {
		if (fd != -1)
			close(fd);
		close(ctl);
		return;
	}
	lease_drop();
	if ((lease.module = strdup(module)) == NULL ||
	    iso_msg_unpack(iso_msg_get(rep, "lease"), "{s:I s:I s:I s:I s:I}",
	    "dev", &lease.dev, "ino", &lease.ino, "size", &lease.size,
	    "mtime_s", &lease.mtime_s, "mtime_ns", &lease.mtime_ns) == -1) {
		free(lease.module);
		lease.module = NULL;
		close(fd);
		close(ctl);
	} else {
		lease.fd = fd;
		lease.ctl = ctl;
		lease.pid = getpid();
	}
	pthread_mutex_unlock(&lease_lock);
}

/*
 * A call on the lease of module, if this process holds one and no other
 * thread uses it: 1 when made (0 and *result, or -1 with errno and
 * iso_error), else 0 and the caller goes through the supervisor. The
 * worker reads a call only while the lease stands: a call it never read
 * (the write fails, or the connection is reset under it) is made through
 * the supervisor; one it read is answered once, by its result or by the
 * reason the supervisor gives (it died with it).
 */
static int
lease_call(const char *module, const char *function, const iso_msg *arg,
    int timeout_ms, iso_msg **result, int *rc)
{
	iso_msg		*req, *rep = NULL;
	const char	*ename = "EIO", *etext = "failed";
	int64_t		 tag;
	int		 r, ok = 0;

	if (module[0] != '/' || pthread_mutex_trylock(&lease_lock) != 0)
		return (0);
	if (lease.fd == -1 || lease.pid != getpid() ||
	    strcmp(lease.module, module) != 0) {
		if (lease.fd != -1 && lease.pid != getpid())
			lease_drop();
		pthread_mutex_unlock(&lease_lock);
		return (0);
	}
	if (!lease_same(module) ||
	    (req = iso_msg_pack("[s O? i]", function, arg, timeout_ms)) ==
	    NULL) {
		lease_drop();
		pthread_mutex_unlock(&lease_lock);
		return (0);
	}
	r = iso_msg_write(lease.fd, req);
	iso_msg_free(req);
	if (r == 0)
		r = iso_msg_read(lease.fd, &rep);
	else
		r = -2;
	if (r == -2 || (r == -1 && errno == ECONNRESET)) {
		/* Never read: the lease had ended. */
		lease_drop();
		pthread_mutex_unlock(&lease_lock);
		return (0);
	}
	if (r == 0) {
		/* It took the call and ended: the supervisor says why. */
		if ((r = iso_msg_read(lease.ctl, &rep)) == 1 &&
		    iso_msg_unpack(rep, "{s:b s?s s?s}", "ok", &ok, "errno",
		    &ename, "error", &etext) == 0)
			*rc = msg_fail(sup_errno_value(ename), "%s", etext);
		else
			*rc = msg_fail(ECONNRESET, "supervisor: went away "
			    "before answering");
		iso_msg_free(rep);
		lease_drop();
	} else if (r == -1) {
		*rc = msg_fail(EPROTO, "compute: bad reply from a leased "
		    "worker: %s", iso_error());
		lease_drop();
	} else if (iso_msg_len(rep) != 2 ||
	    iso_msg_int(iso_msg_at(rep, 0), &tag) == -1 ||
	    (tag != 0 && tag != 1)) {
		*rc = msg_fail(EPROTO, "compute: bad reply from a leased "
		    "worker");
		iso_msg_free(rep);
		lease_drop();
	} else if (tag == 1) {
		etext = iso_msg_str(iso_msg_at(rep, 1), NULL);
		*rc = msg_fail(EIO, "%s", etext != NULL ? etext : "failed");
		iso_msg_free(rep);
	} else {
		*rc = (*result = iso_msg_copy(iso_msg_at(rep, 1))) == NULL ?
		    -1 : 0;
		iso_msg_free(rep);
	}
	pthread_mutex_unlock(&lease_lock);
	return (1);
}

int
iso_sup_compute_with(const char *fn, const iso_msg *arg,
    const struct iso_sup_compute_opt *o, iso_msg **result)
{
	static const struct iso_sup_compute_opt none;
	const char	*colon;
	char		*module = NULL;
	iso_msg		*req, *rep;
	int		 r, fd;

	if (o == NULL)
		o = &none;
	if (sup_no_fds(arg) == -1)
		return (-1);
	if (fn == NULL || result == NULL || (colon = strrchr(fn, ':')) ==
	    NULL || colon == fn || colon[1] == '\0')
		return (msg_fail(EINVAL, "compute: want MODULE.so:FUNCTION"));
	if (o->workers < 0 || o->workers > 1024)
		return (msg_fail(EINVAL, "compute: workers %d: want 0 (the "
		    "default) to 1024", o->workers));
	if (!o->fresh && (module = strndup(fn, (size_t)(colon - fn))) ==
	    NULL)
		return (msg_fail(ENOMEM, "compute: out of memory"));
	/* A lease is a local worker's: not for another node's compute,
	   nor for a sandboxed one (a fresh process). */
	if (o->cluster || sup_node[0] != '\0' || o->sandbox != NULL) {
		free(module);
		module = NULL;
	}
	if (module != NULL &&
	    lease_call(module, colon + 1, arg, o->timeout_ms, result, &r)) {
		free(module);
		return (r);
	}
	req = iso_msg_pack("{s:s s:s# s:s s:O? s:i}", "op", "compute",
	    "module", fn, (size_t)(colon - fn), "function", colon + 1, "arg",
	    arg, "timeout_ms", o->timeout_ms);
	/* Only what differs from the defaults: an older supervisor
	   refuses no request it could serve (and ignores "lease"). */
	if (o->fresh)
		put_field(&req, "fresh", iso_msg_pack("b", 1));
	if (o->workers > 0)
		put_field(&req, "workers", iso_msg_pack("i", o->workers));
	if (o->cluster)
		put_field(&req, "cluster", iso_msg_pack("b", 1));
	if (o->sandbox != NULL)
		put_field(&req, "sandbox", iso_msg_pack("s", o->sandbox));
	if (module != NULL && lease_wanted(module))
		put_field(&req, "lease", iso_msg_pack("b", 1));
	r = sup_call_again(req, &rep, &fd, SUP_START | SUP_KEEP);
	iso_msg_free(req);
	if (r == 0 && iso_msg_get(rep, "lease") != NULL)
		lease_take(fd, module, rep);
	else if (r == 0)
		sup_kept_give(fd);
	free(module);
	if (r == -1)
		return (-1);
	return (take(rep, "result", result));
}

int
iso_sup_compute(const char *fn, const iso_msg *arg, int timeout_ms,
    iso_msg **result)
{
	struct iso_sup_compute_opt	o = { .timeout_ms = timeout_ms };

	return (iso_sup_compute_with(fn, arg, &o, result));
}

int
iso_sup_compute_exec_with(char *const argv[], const iso_msg *arg,
    const struct iso_sup_compute_opt *o, iso_msg **result)
{
	static const struct iso_sup_compute_opt none;
	iso_msg	*av, *req, *rep;

	if (o == NULL)
		o = &none;
	if (sup_no_fds(arg) == -1)
		return (-1);
	if (argv == NULL || argv[0] == NULL || result == NULL)
		return (msg_fail(EINVAL, "compute: no command"));
	if (o->workers < 0 || o->workers > 1024)
		return (msg_fail(EINVAL, "compute: workers %d: want 0 (the "
		    "default) to 1024", o->workers));
	if (o->cwd != NULL && o->cwd[0] != '/')
		return (msg_fail(EINVAL, "compute: cwd %s: want an absolute "
		    "directory", o->cwd));
	if (o->cluster)
		return (msg_fail(EINVAL, "compute: cluster is for "
		    "MODULE.so:FUNCTION"));
	if ((av = strv_msg(argv, 0)) == NULL)
		return (-1);
	req = iso_msg_pack("{s:s s:O s:O? s:i}", "op", "compute", "argv", av,
	    "arg", arg, "timeout_ms", o->timeout_ms);
	iso_msg_free(av);
	/* Only what differs from the defaults: an older supervisor
	   refuses no request it could serve. */
	if (o->warm)
		put_field(&req, "warm", iso_msg_pack("b", 1));
	if (o->workers > 0)
		put_field(&req, "workers", iso_msg_pack("i", o->workers));
	if (o->cwd != NULL)
		put_field(&req, "cwd", iso_msg_pack("s", o->cwd));
	if (o->sandbox != NULL)
		put_field(&req, "sandbox", iso_msg_pack("s", o->sandbox));
	if (sup_call(req, &rep, SUP_START | SUP_KEEP) == -1)
		return (-1);
	return (take(rep, "result", result));
}

int
iso_sup_compute_exec(char *const argv[], const iso_msg *arg, int timeout_ms,
    iso_msg **result)
{
	struct iso_sup_compute_opt	o = { .timeout_ms = timeout_ms };

	return (iso_sup_compute_exec_with(argv, arg, &o, result));
}

int
iso_sup_start(void)
{
	int	fd;

	if ((fd = sup_open(1)) == -1)
		return (-1);
	close(fd);
	return (0);
}

int
iso_sup_stop(void)
{
	return (sup_call(iso_msg_pack("{s:s}", "op", "stop"), NULL, 0));
}

int
iso_sup_status(iso_msg **info)
{
	iso_msg	*rep, *m;
	size_t	 i;

	if (info == NULL)
		return (sup_call(iso_msg_pack("{s:s}", "op", "status"), NULL,
		    SUP_SAFE));
	if (sup_call(iso_msg_pack("{s:s}", "op", "status"), &rep,
	    SUP_SAFE) == -1)
		return (-1);
	/* The reply without its "ok". */
	if ((m = iso_msg_pack("{}")) == NULL)
		goto fail;
	for (i = 0; i < iso_msg_len(rep); i++) {
		const iso_msg	*k = iso_msg_key_at(rep, i);
		const char	*ks = iso_msg_str(k, NULL);

		if (ks != NULL && strcmp(ks, "ok") == 0)
			continue;
		if (iso_msg_put(m, iso_msg_copy(k),
		    iso_msg_copy(iso_msg_value_at(rep, i))) == -1)
			goto fail;
	}
	iso_msg_free(rep);
	*info = m;
	return (0);
fail:
	iso_msg_free(m);
	iso_msg_free(rep);
	return (-1);
}

/*
 * Notifications: one connection per isolate, opened on first use, never
 * waited on. A frame that does not fit the socket buffer at once closes
 * the connection (the supervisor drops the piece) rather than block.
 */
/* Initialised, so in .data with the other variables a new isolate
   writes (sup_forget), not on a page of .bss of their own. */
static struct {
	int	fd;
	int	spawned;		/* our spawner told of us */
	time_t	retry;			/* no supervisor: look again then */
} note = { -1, 0, 0 };
#define note_fd		(note.fd)
#define note_retry	(note.retry)
#define note_spawned	(note.spawned)

ISO_HOT void
sup_forget(void)
{
	/* The spawner's connection was closed with its other descriptors. */
	note_fd = -1;
	note_retry = 0;
	note_spawned = 1;
}

/* Connect for notifications unless the supervisor was found absent
   less than a second ago. 0 or -1. */
static int
note_connect(void)
{
	time_t	t = time(NULL);

	if (t < note_retry)
		return (-1);
	/* Never wait, even for a supervisor whose backlog is full. */
	if ((note_fd = sup_connect_flags(1)) == -1) {
		note_retry = t + 1;
		return (-1);
	}
	if (loop_fd_own(note_fd) == -1) {
		loop_fd_close(note_fd);
		note_fd = -1;
		return (-1);
	}
	return (0);
}

static void
note_send(iso_msg *m)
{
	unsigned char	 hdr[4];
	struct iovec	 iov[2];
	struct msghdr	 mh;
	void		*buf = NULL;
	size_t		 len;
	ssize_t		 n;
	int		 saved = errno, tries;

	if (m == NULL)
		return;
	if (iso_msg_encode(m, &buf, &len) == -1)
		goto out;
	wire_frame_hdr(hdr, len);
	iov[0].iov_base = hdr;
	iov[0].iov_len = 4;
	iov[1].iov_base = buf;
	iov[1].iov_len = len;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	/* A connection to a supervisor that has since been restarted fails
	   on first use: connect to the new one once and try again. */
	for (tries = 0; tries < 2; tries++) {
		if (note_fd == -1 && note_connect() == -1)
			break;
		do
			n = sendmsg(note_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (n == -1 && errno == EINTR);
		if (n == (ssize_t)(len + 4))
			break;
		loop_fd_close(note_fd);
		note_fd = -1;
		if (n != -1 || (errno != EPIPE && errno != ECONNRESET &&
		    errno != ENOTCONN))
			break;	/* cut short: not worth a second try */
	}
out:
	free(buf);
	iso_msg_free(m);
	errno = saved;
}

/* What fn is, for the supervisor's list: its exported symbol, else its
   symbol in its file's table (symname.c: a static function, a program
   not linked with -rdynamic), else file+offset, else its address.
   Borrowed; the last answer is kept, since a program spawns the same
   entry over and over. Runs in the spawner, after the fork. */
static const char *
note_entry(const void *fn)
{
	static const void	*last;
	static char		 name[256];
	const char		*slash;
	Dl_info			 dli;

	if (fn == last && name[0] != '\0')
		return (name);
	if (fn == NULL || dladdr(fn, &dli) == 0)
		snprintf(name, sizeof name, "%p", fn);
	else if (dli.dli_sname != NULL)
		snprintf(name, sizeof name, "%s", dli.dli_sname);
	else if (sym_name(fn, name, sizeof name) == 0)
		;
	else if (dli.dli_fname != NULL) {
		/* No table names it (stripped): where it is, for
		   addr2line. */
		slash = strrchr(dli.dli_fname, '/');
		snprintf(name, sizeof name, "%s+%#tx", slash != NULL ?
		    slash + 1 : dli.dli_fname,
		    (const char *)fn - (const char *)dli.dli_fbase);
	} else
		snprintf(name, sizeof name, "%p", fn);
	last = fn;
	return (name);
}

void
sup_note_spawned(uint64_t id, pid_t pid, const void *fn, const char *prog,
    const char *name)
{
	char	hex[17], parent[17];

	/* No supervisor a moment ago: nothing to name, pack or encode. */
	if (note_fd == -1 && time(NULL) < note_retry)
		return;
	snprintf(hex, sizeof hex, "%016" PRIx64, id);
	snprintf(parent, sizeof parent, "%016" PRIx64, loop_self());
	note_send(iso_msg_pack("{s:s s:s s:i s:s s:i s:s s:s?}", "op",
	    "spawned", "id", hex, "pid", (int)pid, "parent", parent,
	    "parent_pid", (int)loop_pid(), "entry", prog != NULL ? prog :
	    note_entry(fn), "name", name));
}

void
sup_note_exited(uint64_t id, int code, int status, int with_spawner)
{
	char	hex[17];

	snprintf(hex, sizeof hex, "%016" PRIx64, id);
	if (code == CLD_EXITED)
		note_send(iso_msg_pack("{s:s s:s s:i s:b}", "op", "exited",
		    "id", hex, "code", status, "with_spawner", with_spawner));
	else if (code == CLD_KILLED || code == CLD_DUMPED)
		note_send(iso_msg_pack("{s:s s:s s:i s:b}", "op", "exited",
		    "id", hex, "signal", status, "with_spawner", with_spawner));
	else
		note_send(iso_msg_pack("{s:s s:s s:b}", "op", "exited", "id",
		    hex, "with_spawner", with_spawner));
}
