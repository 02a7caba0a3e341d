/*
 * supclient.c: the supervisor's client calls. One connection a call: write
 * the request, read the reply (supproto.h). When no supervisor answers,
 * start one in the background and wait for its readiness line.
 */
#include <sys/file.h>
#include <sys/uio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"
#include "loop.h"
#include "msg.h"
#include "wire.h"
#include "supproto.h"

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

static int
sup_path(const char *leaf, char *buf, size_t len)
{
	const char	*dir;
	int		 n;

	if ((dir = iso_runtime_dir()) == NULL)
		return (-1);
	n = snprintf(buf, len, "%s/%s", dir, leaf);
	if (n < 0 || (size_t)n >= len)
		return (msg_fail(ENAMETOOLONG, "runtime directory %s: too long",
		    dir));
	return (0);
}

/* A connected socket, or -1 with connect's errno (ENOENT, ECONNREFUSED
   when none runs; EAGAIN when nonblock and its backlog is full). */
static int
sup_connect_flags(int nonblock)
{
	struct sockaddr_un	sun;
	int			fd, r, saved;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (sup_path(SUP_SOCKET, sun.sun_path, sizeof sun.sun_path) == -1)
		return (-1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    (nonblock ? SOCK_NONBLOCK : 0), 0)) == -1)
		return (-1);
	do
		r = connect(fd, (struct sockaddr *)&sun, sizeof sun);
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
	char	path[PATH_MAX];
	int	fd, lock, saved;

	if ((fd = sup_connect()) != -1)
		return (fd);
	if (errno != ENOENT && errno != ECONNREFUSED)
		return (msg_fail(errno, "supervisor: cannot connect: %s",
		    strerror(errno)));
	if (!start)
		return (msg_fail(ESRCH, "supervisor: not running"));
	/* One starter at a time: a second waits, then finds it running. */
	if (sup_path(SUP_START_LOCK, path, sizeof path) == -1)
		return (-1);
	lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lock == -1)
		return (msg_fail(errno, "supervisor: %s: %s", path,
		    strerror(errno)));
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

/*
 * Send req (taken over) and read its reply: 0 and an owned *reply (may
 * be NULL: dropped), or -1 with the errno the supervisor named.
 */
static int
sup_call(iso_msg *req, iso_msg **reply, int start)
{
	iso_msg		*rep = NULL;
	const char	*ename = "EIO", *etext = "failed";
	int		 fd, ok = 0, r;

	if (req == NULL)
		return (-1);
	if ((fd = sup_open(start)) == -1) {
		iso_msg_free(req);
		return (-1);
	}
	if (iso_msg_write(fd, req) == -1) {
		/* A supervisor that refused us said why before it closed. */
		ok = errno;
		if ((ok != EPIPE && ok != ECONNRESET) ||
		    iso_msg_read(fd, &rep) != 1) {
			close(fd);
			iso_msg_free(req);
			return (msg_fail(ECONNRESET, "supervisor: cannot send: "
			    "%s", strerror(ok)));
		}
		ok = 0;
		r = 1;
	} else
		r = iso_msg_read(fd, &rep);
	iso_msg_free(req);
	close(fd);
	if (r == 0 || (r == -1 && (errno == ECONNRESET || errno == EPIPE)))
		return (msg_fail(ECONNRESET, "supervisor: went away before "
		    "answering"));
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
	if (reply != NULL)
		*reply = rep;
	else
		iso_msg_free(rep);
	return (0);
}

/* A list message of the strings v[0..] up to NULL; NULL v gives nil. */
static iso_msg *
strv_msg(char *const *v)
{
	iso_msg	*l;

	if (v == NULL)
		return (iso_msg_pack("n"));
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

int
iso_sup_spawn(const iso_sup_spawn_opts *o, uint64_t *id)
{
	iso_msg		*argv, *envp, *req, *rep;
	const char	*hex;
	char		*end;
	int		 r;

	if (o == NULL || o->argv == NULL || o->argv[0] == NULL ||
	    (unsigned)o->restart > ISO_RESTART_ALWAYS)
		return (msg_fail(EINVAL, "spawn: no command or a bad option"));
	argv = strv_msg(o->argv);
	envp = strv_msg(o->envp);
	if (argv == NULL || envp == NULL) {
		iso_msg_free(argv);
		iso_msg_free(envp);
		return (-1);
	}
	req = iso_msg_pack("{s:s s:O s:s? s:O s:s? s:s s:i s:i s:i s:i s:i "
	    "s:i s:b}",
	    "op", "spawn", "argv", argv, "name", o->name, "env", envp,
	    "cwd", o->cwd, "restart", restart_names[o->restart],
	    "backoff_ms", o->backoff_ms, "backoff_max_ms", o->backoff_max_ms,
	    "reset_ms", o->reset_ms, "max_restarts", o->max_restarts,
	    "period_ms", o->period_ms, "mailbox", o->mailbox, "lines",
	    o->lines != 0);
	iso_msg_free(argv);
	iso_msg_free(envp);
	if (sup_call(req, &rep, 1) == -1)
		return (-1);
	r = iso_msg_unpack(rep, "{s:s}", "id", &hex);
	if (r == 0 && id != NULL) {
		errno = 0;
		*id = strtoull(hex, &end, 16);
		if (errno != 0 || *end != '\0')
			r = -1;
	}
	iso_msg_free(rep);
	if (r == -1)
		return (msg_fail(EPROTO, "supervisor: spawn reply without id"));
	return (0);
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

	if (sup_call(iso_msg_pack("{s:s}", "op", "list"), &rep, 1) == -1)
		return (-1);
	return (take(rep, "isolates", list));
}

int
iso_sup_kill(const char *target, int priority)
{
	if (target == NULL || (priority != ISO_IMMEDIATE &&
	    priority != ISO_BEFORE_NEXT_EVENT))
		return (msg_fail(EINVAL, "kill: bad target or priority"));
	return (sup_call(iso_msg_pack("{s:s s:s s:b}", "op", "kill",
	    "target", target, "graceful", priority == ISO_BEFORE_NEXT_EVENT),
	    NULL, 1));
}

int
iso_sup_wait(const char *target, int timeout_ms, iso_msg **status)
{
	iso_msg	*rep;

	if (target == NULL)
		return (msg_fail(EINVAL, "wait: no target"));
	if (sup_call(iso_msg_pack("{s:s s:s s:i}", "op", "wait", "target",
	    target, "timeout_ms", timeout_ms), &rep, 1) == -1)
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
	    target, "offset", *offset), &rep, 1) == -1)
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

int
iso_sup_send(const char *target, const iso_msg *m)
{
	if (target == NULL || m == NULL)
		return (msg_fail(EINVAL, "send: no target or message"));
	return (sup_call(iso_msg_pack("{s:s s:s s:O}", "op", "send", "target",
	    target, "message", m), NULL, 1));
}

static int
sup_take(const char *op, const char *target, int max, int timeout_ms,
    iso_msg **messages)
{
	iso_msg	*rep;

	if (target == NULL || messages == NULL || max <= 0)
		return (msg_fail(EINVAL, "%s: bad argument", op));
	if (sup_call(iso_msg_pack("{s:s s:s s:i s:i}", "op", op, "target",
	    target, "max", max, "timeout_ms", timeout_ms), &rep, 1) == -1)
		return (-1);
	return (take(rep, "messages", messages));
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
	    "name", name, "port", port), NULL, 1));
}

int
iso_sup_lookup(const char *name, iso_sendport *port)
{
	iso_msg	*rep;
	int	 r;

	if (name == NULL || port == NULL)
		return (msg_fail(EINVAL, "lookup: bad argument"));
	if (sup_call(iso_msg_pack("{s:s s:s}", "op", "lookup", "name", name),
	    &rep, 1) == -1)
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
	    "name", name), NULL, 1));
}

int
iso_sup_names(iso_msg **names)
{
	iso_msg	*rep;

	if (sup_call(iso_msg_pack("{s:s}", "op", "names"), &rep, 1) == -1)
		return (-1);
	return (take(rep, "names", names));
}

int
iso_sup_compute(const char *fn, const iso_msg *arg, int timeout_ms,
    iso_msg **result)
{
	const char	*colon;
	iso_msg		*rep;

	if (fn == NULL || result == NULL || (colon = strrchr(fn, ':')) ==
	    NULL || colon == fn || colon[1] == '\0')
		return (msg_fail(EINVAL, "compute: want MODULE.so:FUNCTION"));
	if (sup_call(iso_msg_pack("{s:s s:s# s:s s:O? s:i}", "op", "compute",
	    "module", fn, (size_t)(colon - fn), "function", colon + 1, "arg",
	    arg, "timeout_ms", timeout_ms), &rep, 1) == -1)
		return (-1);
	return (take(rep, "result", result));
}

int
iso_sup_compute_exec(char *const argv[], const iso_msg *arg, int timeout_ms,
    iso_msg **result)
{
	iso_msg	*av, *rep;
	int	 r;

	if (argv == NULL || argv[0] == NULL || result == NULL)
		return (msg_fail(EINVAL, "compute: no command"));
	if ((av = strv_msg(argv)) == NULL)
		return (-1);
	r = sup_call(iso_msg_pack("{s:s s:O s:O? s:i}", "op", "compute",
	    "argv", av, "arg", arg, "timeout_ms", timeout_ms), &rep, 1);
	iso_msg_free(av);
	if (r == -1)
		return (-1);
	return (take(rep, "result", result));
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
		    0));
	if (sup_call(iso_msg_pack("{s:s}", "op", "status"), &rep, 0) == -1)
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
static int	note_fd = -1;
static time_t	note_retry;		/* no supervisor: look again then */

void
sup_forget(void)
{
	/* The spawner's connection was closed with its other descriptors. */
	note_fd = -1;
	note_retry = 0;
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

/* What fn is, for the supervisor's list: its symbol, else file+offset,
   else its address. Borrowed; the last answer is kept, since a program
   spawns the same entry over and over (dladdr scans symbol tables). */
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
	else if (dli.dli_fname != NULL) {
		/* Not exported (static, no -rdynamic): where it is, for
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
sup_note_spawned(uint64_t id, pid_t pid, const void *fn, const char *prog)
{
	char	hex[17], parent[17];

	/* No supervisor a moment ago: nothing to name, pack or encode. */
	if (note_fd == -1 && time(NULL) < note_retry)
		return;
	snprintf(hex, sizeof hex, "%016" PRIx64, id);
	snprintf(parent, sizeof parent, "%016" PRIx64, loop_self());
	note_send(iso_msg_pack("{s:s s:s s:i s:s s:s}", "op", "spawned", "id",
	    hex, "pid", (int)pid, "parent", parent, "entry", prog != NULL ?
	    prog : note_entry(fn)));
}

void
sup_note_exited(uint64_t id, int code, int status)
{
	char	hex[17];

	snprintf(hex, sizeof hex, "%016" PRIx64, id);
	if (code == CLD_EXITED)
		note_send(iso_msg_pack("{s:s s:s s:i}", "op", "exited", "id",
		    hex, "code", status));
	else if (code == CLD_KILLED || code == CLD_DUMPED)
		note_send(iso_msg_pack("{s:s s:s s:i}", "op", "exited", "id",
		    hex, "signal", status));
	else
		note_send(iso_msg_pack("{s:s s:s}", "op", "exited", "id", hex));
}
