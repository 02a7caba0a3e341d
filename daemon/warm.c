/*
 * warm.c: warm compute workers. A MODULE.so:FUNCTION request goes to a
 * worker of that module that is already running, instead of a fork per
 * computation (compute.c, which the fresh path keeps).
 *
 * A module is its path and what stat(2) says of it at the request
 * (device, inode, size, modification time): the same path with another
 * identity is another module, and the old one is stale (its idle
 * workers end now, its busy ones after their request, and what waited
 * for it waits for the new one).
 *
 * A worker is forked from the daemon as the fresh path's child is (the
 * daemon's descriptors closed, a process group of its own, death with
 * the daemon) with one end of a socketpair at 3; it dlopen()s the module
 * once, then reads a request frame ([function, arg]) and writes a result
 * frame ([0, result] or [1, why]), one at a time, blocking. The library's
 * iso_pool does not fit here: its frames carry a function's address, and
 * it reaps by pidfd while child.c reaps every child with waitpid(-1).
 *
 * The daemon's side never blocks: the request is written, and the result
 * read, from the loop; each worker has one request at a time. A worker
 * whose stream ends (a crash, an exit) is killed with its group and,
 * once child.c has reaped it, its request is answered with how it ended.
 * A timeout kills it the same way. A result over ISO_LIMIT_FRAME is an
 * error, and that worker is killed too.
 *
 * A lease lends an idle worker to the client whose call it has just
 * answered (docs/design.md, "Leases"): the worker gets one end of a new
 * socketpair with [1, idle_ms], the client the other, and the worker
 * serves calls on it directly ([function, arg, timeout_ms]; its own
 * timer kills it at the deadline, written to a page shared with us)
 * until the client closes it, we ask it back ([2]: requests wait, the
 * module was replaced, the client closed its connection to us) or it has
 * been idle; then it says [2, why] and is ours again. It looks at our
 * socket before the client's, and closes the client's end only between
 * calls: a call the client wrote then is never read, which a reset tells
 * it. A leased worker that dies is answered for on the lease's
 * connection, once, when it is reaped.
 *
 * The command form (a "--lines" program kept running) is the same with
 * another worker: the program, exec'd with its stdin and stdout a
 * pseudo-terminal in raw mode (a pipe would be read in blocks by some,
 * mawk for one), is keyed by its argv and directory; a request is its
 * argument as one line of JSON, the answer the next line it prints (its
 * JSON, else a string). An exec failure comes back on a close-on-exec
 * pipe at 3, read once it is reaped.
 */
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "pty.h"

#define WARM_HDR	4	/* a frame's length field */
#define WARM_CHUNK	65536	/* bytes read at a time */
#define WARM_TURN	16	/* chunks read in one turn of the loop */

#define WARM_TAG_OK	0
#define WARM_TAG_ERROR	1
#define WARM_TAG_BACK	2	/* a lease has ended: [2, why] */

/* What the daemon sends a worker besides [function, arg]. */
#define WARM_CTL_LEASE	1	/* [1, idle_ms], the client's end passed */
#define WARM_CTL_REVOKE	2	/* [2]: end the lease between calls */

#define WARM_LEASE_MAX	(32 * 1024)	/* a result a lease comes with */

/*
 * A module worker's page shared with the daemon: the deadline of the
 * leased call it runs (its own timer kills it then), 0 between calls.
 * The daemon reads it when it reaps the worker, to say "timed out".
 */
struct warm_slot {
	volatile int64_t	 deadline_ns;	/* CLOCK_MONOTONIC */
	volatile int		 timeout_ms;
};

struct warm_mod;

/* A request: its frame ready to write, and whom to tell. */
struct warm_job {
	TAILQ_ENTRY(warm_job)	 entry;
	char			*frame;		/* length, [function, arg] */
	size_t			 len;
	int			 timeout_ms;
	int			 queued;
	int			 lease;		/* the client would take one */
	void			(*done)(iso_msg *, const char *, void *);
	void			*arg;
};
TAILQ_HEAD(warm_jobs, warm_job);

struct warm_worker {
	TAILQ_ENTRY(warm_worker) entry;
	struct warm_mod		*mod;
	pid_t			 pid;		/* also its process group */
	int			 fd;		/* our end; -1 once ending */
	struct event		*rev;
	struct event		*wev;
	struct event		*timer;		/* the timeout, or idle */
	int			 ex;		/* command: exec failure; -1 */
	struct warm_job		*job;		/* running; NULL: idle */
	size_t			 woff;		/* of job->frame written */
	char			*in;		/* the result frame so far */
	size_t			 in_len;
	size_t			 in_cap;
	int			 ending;	/* takes no more requests */
	int			 reaped;	/* its pid is not ours now */
	int			 timed_out;
	char			*error;		/* the first failure seen */
	struct warm_slot	*slot;		/* module form; else NULL */
	int			 leased;	/* to a client, until it is back */
	int			 revoked;	/* asked back */
	int			 lfd;		/* the client's connection; -1 */
	struct event		*lev;
};

struct warm_mod {
	TAILQ_ENTRY(warm_mod)	 entry;
	char			*path;		/* or the command's argv[0] */
	char			**argv;		/* command form; else NULL */
	char			*cwd;		/* command form; NULL: ours */
	dev_t			 dev;
	ino_t			 ino;
	off_t			 size;
	struct timespec		 mtime;
	int			 stale;		/* replaced on disk */
	int			 max;		/* workers at most */
	int			 live;		/* workers not ending */
	TAILQ_HEAD(, warm_worker) workers;	/* ending ones too */
	struct warm_jobs	 queue;
};

int			 warm_workers;
int			 warm_idle_ms = 60000;

static TAILQ_HEAD(, warm_mod) mods = TAILQ_HEAD_INITIALIZER(mods);
static size_t		 nqueued;	/* requests waiting, all modules */
static size_t		 nlive;		/* workers not ending */

static void	warm_pump(struct warm_mod *);

/* The payload length in a frame's header. */
static uint32_t
warm_frame_len(const char *p)
{
	const unsigned char	*u = (const unsigned char *)p;

	return ((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	    (uint32_t)u[2] << 8 | (uint32_t)u[3]);
}

/* Tell j's caller (result owned by done, or error) and free j. */
static void
warm_job_done(struct warm_job *j, iso_msg *result, const char *error)
{
	void	(*done)(iso_msg *, const char *, void *) = j->done;
	void	*arg = j->arg;

	free(j->frame);
	free(j);
	done(result, error, arg);
}

/* ---- the worker's side ------------------------------------------------ */

/* What a worker holds at its end stays reachable (valgrind checks forked
   children for leaks too). */
static void	*warm_child_handle;
static char	*warm_child_name;

/* In a worker: write [tag, m] (m taken over); on failure to send a
   result, [1, why]. 0, or -1 when the daemon is gone. */
static int
warm_reply(int fd, int tag, iso_msg *m)
{
	iso_msg	*frame, *why;
	char	 text[256];
	int	 r;

	if (m == NULL || (frame = iso_msg_pack("[i]", tag)) == NULL ||
	    iso_msg_append(frame, m) == -1)
		_exit(70);
	if ((r = iso_msg_write(fd, frame)) == -1 && errno != EPIPE &&
	    tag == WARM_TAG_OK) {
		snprintf(text, sizeof text, "cannot send the result: %s",
		    iso_error());
		if ((why = iso_msg_pack("[is]", WARM_TAG_ERROR, text)) ==
		    NULL)
			_exit(70);
		r = iso_msg_write(fd, why);
		iso_msg_free(why);
	}
	iso_msg_free(frame);
	return (r);
}

/* In a worker: a one-line failure as its answer. */
static int __attribute__((format(printf, 2, 3)))
warm_reply_error(int fd, const char *fmt, ...)
{
	char	text[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	return (warm_reply(fd, WARM_TAG_ERROR, iso_msg_pack("s", text)));
}

/* In a worker: answer one request for function name of the loaded
   module (fn, when name was the last one asked for). 0, or -1 when the
   daemon is gone. */
static int
warm_call(int fd, const char *module, const char *name, const iso_msg *arg)
{
	static iso_msg	*(*fn)(const iso_msg *);
	iso_msg		*r;

	if (warm_child_name == NULL || strcmp(warm_child_name, name) != 0) {
		free(warm_child_name);
		if ((warm_child_name = strdup(name)) == NULL)
			_exit(70);
		*(void **)&fn = dlsym(warm_child_handle, name);
	}
	if (fn == NULL)
		return (warm_reply_error(fd, "no function %s in %s", name,
		    module));
	if ((r = fn(arg)) == NULL)
		return (warm_reply_error(fd, "function %s returned NULL",
		    name));
	return (warm_reply(fd, WARM_TAG_OK, r));
}

/* The monotonic clock in nanoseconds. */
static int64_t
warm_now_ns(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* In a worker: one frame from the daemon, and the descriptor that came
   with its first bytes (*passed, -1 when none). As iso_msg_read. */
static int
warm_child_recv(int fd, iso_msg **req, int *passed)
{
	unsigned char	 hdr[WARM_HDR];
	char		 cbuf[CMSG_SPACE(sizeof(int))], *buf;
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	size_t		 got = 0, len;
	ssize_t		 r;

	*passed = -1;
	while (got < WARM_HDR) {
		iov.iov_base = hdr + got;
		iov.iov_len = WARM_HDR - got;
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof cbuf;
		r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return (r == 0 && got == 0 ? 0 : -1);
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_RIGHTS && *passed == -1)
				memcpy(passed, CMSG_DATA(cm), sizeof *passed);
		got += (size_t)r;
	}
	len = warm_frame_len((char *)hdr);
	if (len > iso_limit_get(ISO_LIMIT_FRAME) || (buf = malloc(len)) ==
	    NULL)
		return (-1);
	for (got = 0; got < len; got += (size_t)r)
		if ((r = read(fd, buf + got, len - got)) <= 0 &&
		    (r == 0 || errno != EINTR)) {
			free(buf);
			return (-1);
		} else if (r == -1)
			r = 0;
	*req = iso_msg_decode(buf, len);
	free(buf);
	return (*req == NULL ? -1 : 1);
}

/* In a worker: a leased call's deadline, its timer armed (a SIGKILL the
   call cannot catch), or with 0 disarmed. */
static void
warm_child_deadline(struct warm_slot *slot, int timeout_ms)
{
	static timer_t		 timer;
	static int		 made;
	struct sigevent		 sev;
	struct itimerspec	 its;

	if (timeout_ms <= 0 && slot->deadline_ns == 0)
		return;
	if (!made) {
		memset(&sev, 0, sizeof sev);
		sev.sigev_notify = SIGEV_SIGNAL;
		sev.sigev_signo = SIGKILL;
		if (timer_create(CLOCK_MONOTONIC, &sev, &timer) == -1)
			_exit(70);
		made = 1;
	}
	memset(&its, 0, sizeof its);
	if (timeout_ms > 0) {
		slot->timeout_ms = timeout_ms;
		slot->deadline_ns = warm_now_ns() +
		    (int64_t)timeout_ms * 1000000;
		its.it_value.tv_sec = timeout_ms / 1000;
		its.it_value.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
	}
	if (timer_settime(timer, 0, &its, NULL) == -1)
		_exit(70);
	if (timeout_ms <= 0)
		slot->deadline_ns = 0;
}

/*
 * In a worker: serve the client on cfd (taken over) directly, a call
 * ([function, arg, timeout_ms]) and its result at a time, until the
 * client closes it, the daemon asks for the worker back (looked at
 * first, so a call the client sends then stays unread, which tells it
 * to go through the daemon), or idle_ms pass with nothing. Then say so
 * to the daemon on fd: [2, why], why "" or "idle" or what was wrong.
 * 0, or -1 when the daemon is gone.
 */
static int
warm_leased(int fd, int cfd, const char *module, struct warm_slot *slot,
    int idle_ms)
{
	struct pollfd	 pfd[2];
	iso_msg		*req;
	const char	*why = "", *name;
	int64_t		 tmo;
	int		 rc, passed;

	for (;;) {
		pfd[0].fd = fd;
		pfd[1].fd = cfd;
		pfd[0].events = pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		rc = poll(pfd, 2, idle_ms > 0 ? idle_ms : -1);
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc == 0) {
			why = "idle";
			break;
		}
		if (rc == -1)
			_exit(70);
		if (pfd[0].revents != 0) {
			if ((rc = warm_child_recv(fd, &req, &passed)) <= 0)
				_exit(0);
			if (passed != -1)
				close(passed);
			iso_msg_free(req);	/* a revoke */
			break;
		}
		if ((rc = iso_msg_read(cfd, &req)) == 0 ||
		    (rc == -1 && errno == ECONNRESET))
			break;
		if (rc == -1 || iso_msg_len(req) != 3 ||
		    (name = iso_msg_str(iso_msg_at(req, 0), NULL)) == NULL ||
		    iso_msg_int(iso_msg_at(req, 2), &tmo) == -1 ||
		    tmo > INT32_MAX) {
			why = "bad request on a leased connection";
			if (rc == 1)
				iso_msg_free(req);
			break;
		}
		warm_child_deadline(slot, (int)tmo);
		if (warm_child_handle == NULL)
			rc = warm_reply_error(cfd, "cannot load %s", module);
		else
			rc = warm_call(cfd, module, name, iso_msg_at(req, 1));
		warm_child_deadline(slot, 0);
		iso_msg_free(req);
		if (rc == -1)
			break;		/* the client has gone */
	}
	close(cfd);
	return (warm_reply(fd, WARM_TAG_BACK, iso_msg_pack("s", why)));
}

/* In a worker: load module, then serve requests on fd until its end. A
   module that cannot be loaded is said to each request, until it is
   replaced or this worker has been idle long enough. A lease serves a
   client directly until it is back. */
static void __attribute__((noreturn))
warm_child(const char *module, int fd, struct warm_slot *slot)
{
	iso_msg		*req;
	const char	*name;
	char		 why[1024];
	int64_t		 kind, idle;
	int		 rc, passed;

	if ((warm_child_handle = dlopen(module, RTLD_NOW | RTLD_LOCAL)) ==
	    NULL)
		snprintf(why, sizeof why, "cannot load %s: %s", module,
		    dlerror());
	for (;;) {
		if ((rc = warm_child_recv(fd, &req, &passed)) <= 0)
			_exit(rc == 0 ? 0 : 70);
		if (iso_msg_int(iso_msg_at(req, 0), &kind) == 0) {
			if (kind == WARM_CTL_LEASE && passed != -1 &&
			    iso_msg_int(iso_msg_at(req, 1), &idle) == 0) {
				rc = warm_leased(fd, passed, module, slot,
				    idle > INT32_MAX ? INT32_MAX : (int)idle);
				passed = -1;
			} else
				rc = 0;	/* a revoke come late */
			if (passed != -1)
				close(passed);
			iso_msg_free(req);
			if (rc == -1)
				_exit(0);
			continue;
		}
		if (passed != -1)
			close(passed);
		name = iso_msg_str(iso_msg_at(req, 0), NULL);
		if (name == NULL || iso_msg_len(req) != 2)
			_exit(70);
		if (warm_child_handle == NULL)
			rc = warm_reply_error(fd, "%s", why);
		else
			rc = warm_call(fd, module, name, iso_msg_at(req, 1));
		iso_msg_free(req);
		if (rc == -1)
			_exit(0);
	}
}

/* ---- the daemon's side ------------------------------------------------ */

/* Stop w's I/O and its timer, close its end: it takes no more. */
static void
warm_close(struct warm_worker *w)
{
	if (w->rev != NULL)
		event_free(w->rev);
	if (w->wev != NULL)
		event_free(w->wev);
	if (w->timer != NULL)
		event_free(w->timer);
	w->rev = w->wev = w->timer = NULL;
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
}

/* w takes no more requests: its end closed (an idle worker reads the end
   of its stream and exits), and killed with its group unless gently. Its
   request, if any, is answered once it is reaped. */
static void
warm_end(struct warm_worker *w, int gently)
{
	if (!w->ending) {
		w->ending = 1;
		w->mod->live--;
		nlive--;
	}
	warm_close(w);
	if (w->reaped)
		return;
	if (!gently && kill(-w->pid, SIGKILL) == -1)
		(void)kill(w->pid, SIGKILL);
	else if (gently && w->mod->argv != NULL)
		/* A program need not end at the end of its input. */
		(void)kill(-w->pid, SIGTERM);
}

/* Record the first failure the daemon saw and kill w. */
static void __attribute__((format(printf, 2, 3)))
warm_fail(struct warm_worker *w, const char *fmt, ...)
{
	va_list	ap;

	if (w->error == NULL) {
		va_start(ap, fmt);
		if (vasprintf(&w->error, fmt, ap) == -1)
			w->error = NULL;
		va_end(ap);
	}
	warm_end(w, 0);
}

/* w has nothing to do: it ends after warm_idle_ms, or now if its
   module is stale. */
static void
warm_idle(struct warm_worker *w)
{
	struct timeval	tv;

	if (w->mod->stale) {
		warm_end(w, 1);
		return;
	}
	tv.tv_sec = warm_idle_ms / 1000;
	tv.tv_usec = (warm_idle_ms % 1000) * 1000;
	(void)evtimer_add(w->timer, &tv);
}

/* ---- leases: a worker lent to one client, which calls it directly ---- */

/* The worker that has just answered a request that asked for a lease,
   while its done callback runs (warm_offered, warm_lease). */
static struct warm_worker	*warm_offer;

/* Encode m (taken over) as a frame into *buf; 0, or -1 with errno. */
static int
warm_frame(iso_msg *m, char **buf, size_t *len)
{
	void	*p;
	size_t	 n;
	int	 r, saved;

	if (m == NULL)
		return (-1);
	r = iso_msg_encode(m, &p, &n);
	iso_msg_free(m);
	if (r == -1)
		return (-1);
	if ((*buf = malloc(WARM_HDR + n)) == NULL) {
		saved = errno;
		free(p);
		errno = saved;
		return (-1);
	}
	(*buf)[0] = (char)(n >> 24);
	(*buf)[1] = (char)(n >> 16);
	(*buf)[2] = (char)(n >> 8);
	(*buf)[3] = (char)n;
	memcpy(*buf + WARM_HDR, p, n);
	free(p);
	*len = WARM_HDR + n;
	return (0);
}

/* Send buf whole on fd, non-blocking, with pass (a descriptor, -1:
   none) on its first byte; 0, or -1 (EAGAIN: no room, nothing sent). */
static int
warm_send_bytes(int fd, const char *buf, size_t len, int pass)
{
	char		 cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr	 mh;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	ssize_t		 r;

	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = len;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (pass != -1) {
		memset(cbuf, 0, sizeof cbuf);
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof cbuf;
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass, sizeof pass);
	}
	do
		r = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r == -1 && errno == EINTR);
	if (r >= 0 && (size_t)r != len) {
		/* Small frames into a socket with nothing queued go whole;
		   a part of one leaves the stream cut. */
		errno = EPIPE;
		return (-1);
	}
	return (r == -1 ? -1 : 0);
}

/* The frame m (taken over) sent as warm_send_bytes does. */
static int
warm_send_frame(int fd, iso_msg *m, int pass)
{
	char	*buf;
	size_t	 len;
	int	 r, saved;

	if (warm_frame(m, &buf, &len) == -1)
		return (-1);
	r = warm_send_bytes(fd, buf, len, pass);
	saved = errno;
	free(buf);
	errno = saved;
	return (r);
}

/* The lease of w has ended for its client: tell it why (an error reply
   with ename, for a client waiting on a call its worker took), and close
   the connection. */
static void
warm_lease_close(struct warm_worker *w, const char *ename, const char *text)
{
	if (w->lfd == -1)
		return;
	(void)warm_send_frame(w->lfd, iso_msg_pack("{s:b s:s s:s}", "ok", 0,
	    "errno", ename, "error", text), -1);
	event_free(w->lev);
	w->lev = NULL;
	close(w->lfd);
	w->lfd = -1;
}

/* Ask the leased w back; it comes between calls ([2, why] read). */
static void
warm_revoke(struct warm_worker *w)
{
	if (!w->leased || w->revoked || w->fd == -1)
		return;
	w->revoked = 1;
	if (warm_send_frame(w->fd, iso_msg_pack("[i]", WARM_CTL_REVOKE),
	    -1) == -1)
		warm_fail(w, "cannot take it back from a lease: %s",
		    strerror(errno));
}

/* The client closed its lease's connection (or wrote on it, which it
   may not): the worker is asked back. */
static void
warm_lfd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct warm_worker	*w = arg;

	(void)fd;
	(void)what;
	event_free(w->lev);
	w->lev = NULL;
	close(w->lfd);
	w->lfd = -1;
	warm_revoke(w);
}

/* The leased w is back ([2, why] whole in w->in): its client is told,
   and w is idle, or ends when it came back for its idle time. */
static void
warm_back(struct warm_worker *w)
{
	iso_msg		*m;
	const char	*why = NULL;
	int64_t		 tag;

	m = iso_msg_decode(w->in + WARM_HDR, w->in_len - WARM_HDR);
	w->in_len = 0;
	if (m == NULL || iso_msg_unpack(m, "[Is]", &tag, &why) == -1 ||
	    tag != WARM_TAG_BACK) {
		iso_msg_free(m);
		warm_fail(w, "bad frame at the end of a lease");
		return;
	}
	w->leased = w->revoked = 0;
	if (why[0] != '\0' && strcmp(why, "idle") != 0)
		warm_lease_close(w, "EPROTO", why);
	else
		warm_lease_close(w, "EAGAIN", "the lease has ended; call "
		    "again");
	if (strcmp(why, "idle") == 0)
		warm_end(w, 1);
	else
		warm_idle(w);
	iso_msg_free(m);
}

int
warm_offered(void)
{
	return (warm_offer != NULL);
}

int
warm_lease(int cfd, iso_msg *rep)
{
	struct warm_worker	*w = warm_offer;
	struct warm_mod		*m;
	struct event_base	*base;
	iso_msg			*l;
	char			 one = 'L';
	int			 sv[2] = { -1, -1 }, r, saved;

	warm_offer = NULL;
	if (w == NULL || rep == NULL) {
		iso_msg_free(rep);
		close(cfd);
		errno = EINVAL;
		return (-1);
	}
	m = w->mod;
	base = iso_event_base();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    (w->lev = event_new(base, cfd, EV_READ, warm_lfd_cb, w)) ==
	    NULL ||
	    warm_send_frame(w->fd, iso_msg_pack("[ii]", WARM_CTL_LEASE,
	    warm_idle_ms), sv[0]) == -1) {
		/* No lease: the reply alone. */
		saved = errno;
		if (w->lev != NULL)
			event_free(w->lev);
		w->lev = NULL;
		if (sv[0] != -1) {
			close(sv[0]);
			close(sv[1]);
		}
		(void)warm_send_frame(cfd, rep, -1);
		close(cfd);
		errno = saved;
		return (-1);
	}
	close(sv[0]);
	(void)evtimer_del(w->timer);
	w->leased = 1;
	w->revoked = 0;
	w->lfd = cfd;
	l = iso_msg_pack("{s:I s:I s:I s:I s:I}", "dev", (int64_t)m->dev,
	    "ino", (int64_t)m->ino, "size", (int64_t)m->size, "mtime_s",
	    (int64_t)m->mtime.tv_sec, "mtime_ns", (int64_t)m->mtime.tv_nsec);
	if (l == NULL || iso_msg_put(rep, iso_msg_pack("s", "lease"), l) ==
	    -1) {
		iso_msg_free(rep);
		r = -1;
	} else
		r = warm_send_frame(cfd, rep, -1);
	if (r == 0)	/* its end, on a byte of its own after the reply */
		r = warm_send_bytes(cfd, &one, 1, sv[1]);
	close(sv[1]);
	if (r == -1) {
		/* The client cannot have it: the worker, which reads the end
		   of its connection, comes back. */
		event_free(w->lev);
		w->lev = NULL;
		close(cfd);
		w->lfd = -1;
		return (-1);
	}
	(void)event_add(w->lev, NULL);
	return (0);
}

/* Write what the loop lets us of w's request. */
static void
warm_write(struct warm_worker *w)
{
	struct warm_job	*j = w->job;
	ssize_t		 n;

	while (w->woff < j->len) {
		if (w->mod->argv != NULL)	/* a terminal: no SIGPIPE */
			n = write(w->fd, j->frame + w->woff, j->len - w->woff);
		else
			n = send(w->fd, j->frame + w->woff, j->len - w->woff,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			(void)event_add(w->wev, NULL);
			return;
		}
		if (n == -1) {
			/* It died: the reap says how. */
			warm_end(w, 0);
			return;
		}
		w->woff += (size_t)n;
	}
	(void)event_del(w->wev);
}

static void
warm_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	warm_write(arg);
}

/* Give j to w, idle. */
static void
warm_send(struct warm_worker *w, struct warm_job *j)
{
	struct timeval	tv;

	w->job = j;
	w->woff = 0;
	w->timed_out = 0;
	(void)evtimer_del(w->timer);
	if (j->timeout_ms > 0) {
		tv.tv_sec = j->timeout_ms / 1000;
		tv.tv_usec = (j->timeout_ms % 1000) * 1000;
		(void)evtimer_add(w->timer, &tv);
	}
	warm_write(w);
}

/* A command's answer, its line in w->in (newline included): its JSON,
   else a string without a carriage return (bytes if not UTF-8). */
static iso_msg *
warm_line_result(struct warm_worker *w)
{
	iso_msg	*m;
	size_t	 n = w->in_len - 1;

	if (n > 0 && w->in[n - 1] == '\r')
		n--;
	w->in[n] = '\0';
	if (strlen(w->in) == n && (m = iso_msg_from_json(w->in)) != NULL)
		return (m);
	if ((m = iso_msg_pack("s#", w->in, n)) != NULL)
		return (m);
	return (iso_msg_pack("y#", w->in, n));
}

/* w's result is whole: answer its request; w waits for the next. */
static void
warm_result(struct warm_worker *w)
{
	struct warm_job	*j = w->job;
	iso_msg		*result;
	char		*why = NULL;
	size_t		 len = w->in_len;

	if (w->mod->argv != NULL) {
		if ((result = warm_line_result(w)) == NULL &&
		    asprintf(&why, "bad output: %s", iso_error()) == -1)
			why = NULL;
	} else
		(void)dc_result_frame(w->in, w->in_len, &result, &why);
	w->job = NULL;
	w->in_len = 0;
	if (w->fd != -1) {
		(void)evtimer_del(w->timer);
		(void)event_del(w->wev);
		warm_idle(w);
	}
	/* A lease when asked for, and nothing waits for this module. */
	if (result != NULL && j->lease && w->fd != -1 && !w->ending &&
	    !w->reaped && !w->mod->stale && w->mod->argv == NULL &&
	    TAILQ_EMPTY(&w->mod->queue) && w->slot != NULL &&
	    len <= WARM_LEASE_MAX)
		warm_offer = w;
	if (result != NULL)
		warm_job_done(j, result, NULL);
	else
		warm_job_done(j, NULL, why != NULL ? why : "bad result frame");
	warm_offer = NULL;
	free(why);
}

/* Room for n more bytes in w->in. 0, or -1 after warm_fail. */
static int
warm_room(struct warm_worker *w, size_t n)
{
	size_t	 cap;
	char	*p;

	if (w->in_cap - w->in_len >= n)
		return (0);
	cap = w->in_cap == 0 ? 256 : w->in_cap;
	while (cap - w->in_len < n)
		cap *= 2;
	if ((p = realloc(w->in, cap)) == NULL) {
		warm_fail(w, "out of memory");
		return (-1);
	}
	w->in = p;
	w->in_cap = cap;
	return (0);
}

/* A command's warm_read: 1 when its answer's line is whole (w->in, the
   newline last). A line longer than the frame limit, a second line for
   one request, or output with no request kills it. */
static int
warm_read_line(struct warm_worker *w, int drain)
{
	size_t	 limit = iso_limit_get(ISO_LIMIT_FRAME), n;
	ssize_t	 r;
	char	*nl;
	int	 turns = 0;

	for (;;) {
		if (w->job != NULL && w->in_len > 0 &&
		    (nl = memchr(w->in, '\n', w->in_len)) != NULL) {
			if ((size_t)(nl - w->in) + 1 == w->in_len)
				return (1);
			warm_fail(w, "more than one line of output for one "
			    "line of input");
			return (-1);
		}
		if (w->in_len > limit) {
			warm_fail(w, "a line of more than %zu bytes", limit);
			return (-1);
		}
		if (!drain && turns++ == WARM_TURN)
			return (0);
		n = w->job == NULL ? 1 : WARM_CHUNK;
		if (warm_room(w, n + 1) == -1)	/* + 1: its NUL */
			return (-1);
		r = read(w->fd, w->in + w->in_len, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			return (0);
		if (r == 0 || r == -1) {
			/* EIO: the terminal's last holder closed it. */
			warm_end(w, 0);
			return (-1);
		}
		if (w->job == NULL) {
			warm_fail(w, "printed with no request");
			return (-1);
		}
		w->in_len += (size_t)r;
	}
}

/*
 * Read what w's stream holds: 1 when a result frame is whole (w->in),
 * 0 when more may come, -1 at its end or after warm_fail. Unless drain,
 * at most WARM_TURN chunks a turn.
 */
static int
warm_read(struct warm_worker *w, int drain)
{
	size_t	 limit = iso_limit_get(ISO_LIMIT_FRAME), want, n, cap;
	ssize_t	 r;
	uint32_t len;
	char	*p;
	int	 turns = 0;

	if (w->mod->argv != NULL)
		return (warm_read_line(w, drain));
	for (;;) {
		if (w->job == NULL && !w->leased)
			want = 1;	/* nothing is due: only its end */
		else if (w->in_len < WARM_HDR)
			want = WARM_HDR;
		else {
			len = warm_frame_len(w->in);
			if (len > limit) {
				warm_fail(w, "result of %u bytes, more than "
				    "the frame limit of %zu", len, limit);
				return (-1);
			}
			want = WARM_HDR + (size_t)len;
			if (w->in_len == want)
				return (1);
			if (w->in_len > want) {
				warm_fail(w, "more than one result frame");
				return (-1);
			}
		}
		if (!drain && turns++ == WARM_TURN)
			return (0);
		n = want - w->in_len;
		if (n > WARM_CHUNK)
			n = WARM_CHUNK;
		/* A small result is one read: all there is room for. */
		if ((w->job != NULL || w->leased) &&
		    n < w->in_cap - w->in_len)
			n = w->in_cap - w->in_len < WARM_CHUNK ?
			    w->in_cap - w->in_len : WARM_CHUNK;
		if (w->in_cap - w->in_len < n) {
			cap = w->in_cap == 0 ? 256 : w->in_cap;
			while (cap - w->in_len < n)
				cap *= 2;
			if ((p = realloc(w->in, cap)) == NULL) {
				warm_fail(w, "out of memory");
				return (-1);
			}
			w->in = p;
			w->in_cap = cap;
		}
		r = read(w->fd, w->in + w->in_len, n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno == EAGAIN)
			return (0);
		if (r == 0 || r == -1) {
			warm_end(w, 0);	/* it died, or will: the reap says */
			return (-1);
		}
		if (w->job == NULL && !w->leased) {
			warm_fail(w, "wrote with no request");
			return (-1);
		}
		w->in_len += (size_t)r;
	}
}

static void
warm_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct warm_worker	*w = arg;
	struct warm_mod		*m = w->mod;

	(void)fd;
	(void)what;
	if (warm_read(w, 0) == 1) {
		if (w->leased)
			warm_back(w);
		else
			warm_result(w);
		warm_pump(m);
	}
}

/* The timeout of w's request, or the end of its idle time. */
static void
warm_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct warm_worker	*w = arg;

	(void)fd;
	(void)what;
	if (w->job != NULL) {
		w->timed_out = 1;
		warm_end(w, 0);
	} else
		warm_end(w, 1);
}

static void
warm_mod_free(struct warm_mod *m)
{
	char	**av;

	if (m->argv != NULL) {
		for (av = m->argv; *av != NULL; av++)
			free(*av);
		free(m->argv);
	}
	free(m->cwd);
	free(m->path);
	free(m);
}

/* Free m if nothing is left of it. */
static void
warm_mod_gc(struct warm_mod *m)
{
	if (!TAILQ_EMPTY(&m->workers) || !TAILQ_EMPTY(&m->queue))
		return;
	TAILQ_REMOVE(&mods, m, entry);
	warm_mod_free(m);
}

static void
warm_worker_free(struct warm_worker *w)
{
	warm_close(w);
	if (w->lev != NULL)
		event_free(w->lev);
	if (w->lfd != -1)
		close(w->lfd);
	if (w->slot != NULL)
		(void)munmap(w->slot, sizeof *w->slot);
	if (w->ex != -1)
		close(w->ex);
	free(w->in);
	free(w->error);
	free(w);
}

/* A command that could not start: why, into buf (0), else -1. */
static int
warm_exec_error(struct warm_worker *w, char *buf, size_t len)
{
	ssize_t	r;
	int	e;

	if (w->ex == -1)
		return (-1);
	do
		r = read(w->ex, &e, sizeof e);
	while (r == -1 && errno == EINTR);
	if (r != (ssize_t)sizeof e)
		return (-1);
	if (e < 0)
		snprintf(buf, len, "cannot chdir to %s: %s", w->mod->cwd,
		    strerror(-e));
	else
		snprintf(buf, len, "cannot run %s: %s", w->mod->path,
		    strerror(e));
	return (0);
}

/* child.c reaped w: take down what it left in its group, answer its
   request (a result it wrote whole before it died still counts), and
   let the queue have another worker. */
static void
warm_reap_cb(pid_t pid, int status, void *arg)
{
	struct warm_worker	*w = arg;
	struct warm_mod		*m = w->mod;
	struct warm_job		*j;
	char			 text[256];

	(void)pid;
	(void)kill(-w->pid, SIGKILL);	/* what it left in its group */
	w->reaped = 1;
	if ((w->job != NULL || w->leased) && w->fd != -1 &&
	    warm_read(w, 1) == 1) {
		if (w->leased)
			warm_back(w);
		else
			warm_result(w);
	}
	warm_end(w, 1);
	TAILQ_REMOVE(&m->workers, w, entry);
	if (w->leased) {
		/* What a client waiting on a call it made is told. */
		if (w->slot->deadline_ns != 0 && WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGKILL &&
		    warm_now_ns() >= w->slot->deadline_ns)
			snprintf(text, sizeof text, "timed out after %d ms",
			    w->slot->timeout_ms);
		else if (w->error != NULL)
			snprintf(text, sizeof text, "%s", w->error);
		else
			dc_status_text(status, 1, text, sizeof text);
		warm_lease_close(w, "EIO", text);
	}
	if ((j = w->job) != NULL) {
		w->job = NULL;
		if (w->timed_out)
			snprintf(text, sizeof text, "timed out after %d ms",
			    j->timeout_ms);
		else if (w->error != NULL)
			snprintf(text, sizeof text, "%s", w->error);
		else if (warm_exec_error(w, text, sizeof text) == -1)
			dc_status_text(status, 1, text, sizeof text);
		warm_job_done(j, NULL, text);
	}
	warm_worker_free(w);
	warm_pump(m);
	warm_mod_gc(m);
}

/* Make non-blocking. 0/-1. */
static int
warm_nonblock(int fd)
{
	int	flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1)
		return (-1);
	return (fcntl(fd, F_SETFL, flags | O_NONBLOCK));
}

/* A new worker of m, idle (no idle timer yet); NULL with errno. */
static struct warm_worker *
warm_worker_new(struct warm_mod *m)
{
	struct event_base	*base;
	struct warm_worker	*w;
	sigset_t		 all, old;
	pid_t			 pid, parent = getpid();
	int			 sv[2] = { -1, -1 }, ex[2] = { -1, -1 };
	int			 fds[3], saved;

	if ((base = iso_event_base()) == NULL)
		return (NULL);
	if ((w = calloc(1, sizeof *w)) == NULL)
		return (NULL);
	w->fd = w->ex = w->lfd = -1;
	w->mod = m;
	if (m->argv != NULL) {
		/* sv: the terminal's master (ours) and the program's side. */
		if ((sv[0] = pty_open(&sv[1], NULL)) == -1 ||
		    pipe2(ex, O_CLOEXEC) == -1 || warm_nonblock(ex[0]) == -1)
			goto fail;
	} else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ==
	    -1 || warm_nonblock(sv[0]) == -1)
		goto fail;
	else if ((w->slot = mmap(NULL, sizeof *w->slot, PROT_READ |
	    PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)) == MAP_FAILED) {
		w->slot = NULL;
		goto fail;
	}
	w->fd = sv[0];
	w->ex = ex[0];
	if ((w->rev = event_new(base, w->fd, EV_READ | EV_PERSIST,
	    warm_read_cb, w)) == NULL ||
	    (w->wev = event_new(base, w->fd, EV_WRITE | EV_PERSIST,
	    warm_write_cb, w)) == NULL ||
	    (w->timer = evtimer_new(base, warm_timer_cb, w)) == NULL)
		goto fail;

	/* On the list before the fork: the child sees it reachable (valgrind
	   checks forked children for leaks too). */
	TAILQ_INSERT_TAIL(&m->workers, w, entry);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		fds[0] = fds[1] = m->argv != NULL ? sv[1] : -1;
		fds[2] = m->argv != NULL ? ex[1] : sv[1];
		dc_child_setup(parent, fds);
		if (m->argv != NULL)
			dc_exec(m->argv, m->cwd);
		warm_child(m->path, 3, w->slot);
	}
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		TAILQ_REMOVE(&m->workers, w, entry);
		errno = saved;
		goto fail;
	}
	close(sv[1]);
	sv[1] = -1;
	if (ex[1] != -1)
		close(ex[1]);
	ex[1] = -1;
	(void)setpgid(pid, pid);	/* whichever of us is first */
	w->pid = pid;
	if (child_watch(pid, warm_reap_cb, w) == -1) {
		saved = errno;
		(void)kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		TAILQ_REMOVE(&m->workers, w, entry);
		errno = saved;
		goto fail;
	}
	(void)event_add(w->rev, NULL);
	m->live++;
	nlive++;
	return (w);

fail:
	saved = errno;
	if (sv[0] != -1 && w->fd == -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	if (ex[0] != -1 && w->ex == -1)
		close(ex[0]);
	if (ex[1] != -1)
		close(ex[1]);
	warm_worker_free(w);
	errno = saved;
	return (NULL);
}

/* An idle worker of m that takes requests; NULL when none. */
static struct warm_worker *
warm_idle_worker(struct warm_mod *m)
{
	struct warm_worker	*w;

	TAILQ_FOREACH(w, &m->workers, entry)
		if (!w->ending && w->job == NULL && !w->leased)
			return (w);
	return (NULL);
}

/* Requests wait for m while workers of it are leased: as many of those
   as there are requests are asked back (a lease is for a client that
   has the module to itself). */
static void
warm_revoke_for(struct warm_mod *m)
{
	struct warm_worker	*w;
	struct warm_job		*j;
	size_t			 want = 0;

	TAILQ_FOREACH(j, &m->queue, entry)
		want++;
	TAILQ_FOREACH(w, &m->workers, entry)
		if (w->leased && w->revoked && want > 0)
			want--;
	TAILQ_FOREACH(w, &m->workers, entry) {
		if (want == 0)
			break;
		if (w->leased && !w->revoked) {
			warm_revoke(w);
			want--;
		}
	}
}

/* Hand m's waiting requests to idle workers, starting workers up to
   m->max. When m has none and none can start, what waits fails. */
static void
warm_pump(struct warm_mod *m)
{
	struct warm_worker	*w;
	struct warm_job		*j;
	char			 text[256];

	while ((j = TAILQ_FIRST(&m->queue)) != NULL) {
		if ((w = warm_idle_worker(m)) == NULL) {
			if (m->stale || m->live >= m->max) {
				warm_revoke_for(m);
				return;
			}
			if ((w = warm_worker_new(m)) == NULL) {
				if (m->live > 0)
					return;	/* they will take it */
				snprintf(text, sizeof text, "cannot start a "
				    "worker: %s", strerror(errno));
				TAILQ_REMOVE(&m->queue, j, entry);
				j->queued = 0;
				nqueued--;
				warm_job_done(j, NULL, text);
				continue;
			}
		}
		TAILQ_REMOVE(&m->queue, j, entry);
		j->queued = 0;
		nqueued--;
		warm_send(w, j);
	}
}

/* m was replaced on disk: its idle workers end, the busy ones after
   their request, and what waits for it goes to to. */
static void
warm_mod_stale(struct warm_mod *m, struct warm_mod *to)
{
	struct warm_worker	*w, *next;
	struct warm_job		*j;

	m->stale = 1;
	while ((j = TAILQ_FIRST(&m->queue)) != NULL) {
		TAILQ_REMOVE(&m->queue, j, entry);
		TAILQ_INSERT_TAIL(&to->queue, j, entry);
	}
	for (w = TAILQ_FIRST(&m->workers); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (!w->ending && w->job == NULL && !w->leased)
			warm_end(w, 1);
		else if (w->leased)
			warm_revoke(w);	/* it ends when back */
	}
	warm_mod_gc(m);
}

/* Whether m is the command argv run in cwd. */
static int
warm_mod_is(const struct warm_mod *m, char *const argv[], const char *cwd)
{
	size_t	i;

	if (m->argv == NULL || (m->cwd == NULL) != (cwd == NULL) ||
	    (cwd != NULL && strcmp(m->cwd, cwd) != 0))
		return (0);
	for (i = 0; argv[i] != NULL && m->argv[i] != NULL; i++)
		if (strcmp(argv[i], m->argv[i]) != 0)
			return (0);
	return (argv[i] == NULL && m->argv[i] == NULL);
}

/* A new module, empty, on the list; NULL with ENOMEM. */
static struct warm_mod *
warm_mod_new(const char *path)
{
	struct warm_mod	*m;

	if ((m = calloc(1, sizeof *m)) == NULL ||
	    (m->path = strdup(path)) == NULL) {
		free(m);
		return (NULL);
	}
	TAILQ_INIT(&m->workers);
	TAILQ_INIT(&m->queue);
	TAILQ_INSERT_HEAD(&mods, m, entry);
	return (m);
}

/* The command argv run in cwd: found, or made. NULL with ENOMEM. */
static struct warm_mod *
warm_cmd_get(char *const argv[], const char *cwd)
{
	struct warm_mod	*m;
	size_t		 n, i;

	TAILQ_FOREACH(m, &mods, entry)
		if (warm_mod_is(m, argv, cwd))
			return (m);
	for (n = 0; argv[n] != NULL; n++)
		;
	if ((m = warm_mod_new(argv[0])) == NULL)
		return (NULL);
	if ((m->argv = calloc(n + 1, sizeof *m->argv)) == NULL ||
	    (cwd != NULL && (m->cwd = strdup(cwd)) == NULL))
		goto fail;
	for (i = 0; i < n; i++)
		if ((m->argv[i] = strdup(argv[i])) == NULL)
			goto fail;
	return (m);

fail:
	TAILQ_REMOVE(&mods, m, entry);
	warm_mod_free(m);
	errno = ENOMEM;
	return (NULL);
}

/* The module at path as st describes it: found, or made (and any other
   of that path made stale). NULL with ENOMEM. */
static struct warm_mod *
warm_mod_get(const char *path, const struct stat *st)
{
	struct warm_mod	*m, *old = NULL;

	TAILQ_FOREACH(m, &mods, entry) {
		if (m->stale || m->argv != NULL || strcmp(m->path, path) != 0)
			continue;
		if (m->dev == st->st_dev && m->ino == st->st_ino &&
		    m->size == st->st_size &&
		    m->mtime.tv_sec == st->st_mtim.tv_sec &&
		    m->mtime.tv_nsec == st->st_mtim.tv_nsec)
			return (m);
		old = m;
		break;
	}
	if ((m = warm_mod_new(path)) == NULL)
		return (NULL);
	m->dev = st->st_dev;
	m->ino = st->st_ino;
	m->size = st->st_size;
	m->mtime = st->st_mtim;
	if (old != NULL)
		warm_mod_stale(old, m);
	return (m);
}

/* A command's job: the argument as one line of JSON. NULL with errno. */
static struct warm_job *
warm_job_line(const struct dc_req *req)
{
	struct warm_job	*j;
	char		*json;
	size_t		 len;

	json = req->arg != NULL ? iso_msg_to_json(req->arg) : strdup("null");
	if (json == NULL)
		return (NULL);
	len = strlen(json);
	if ((j = calloc(1, sizeof *j)) == NULL ||
	    (j->frame = realloc(json, len + 1)) == NULL) {
		free(j);
		free(json);
		return (NULL);
	}
	j->frame[len] = '\n';
	j->len = len + 1;
	j->timeout_ms = req->timeout_ms;
	return (j);
}

/* A job for req: its frame encoded, length first. NULL with errno. */
static struct warm_job *
warm_job_new(const struct dc_req *req)
{
	struct warm_job	*j;
	iso_msg		*m;
	void		*buf;
	size_t		 len;
	int		 r, saved;

	if (req->argv != NULL)
		return (warm_job_line(req));
	if ((m = iso_msg_pack("[s O?]", req->function, req->arg)) == NULL)
		return (NULL);
	r = iso_msg_encode(m, &buf, &len);
	iso_msg_free(m);
	if (r == -1)
		return (NULL);
	if ((j = calloc(1, sizeof *j)) == NULL ||
	    (j->frame = malloc(WARM_HDR + len)) == NULL) {
		saved = errno;
		free(j);
		free(buf);
		errno = saved;
		return (NULL);
	}
	j->frame[0] = (char)(len >> 24);
	j->frame[1] = (char)(len >> 16);
	j->frame[2] = (char)(len >> 8);
	j->frame[3] = (char)len;
	memcpy(j->frame + WARM_HDR, buf, len);
	free(buf);
	j->len = WARM_HDR + len;
	j->timeout_ms = req->timeout_ms;
	return (j);
}

/* The default number of workers a module (the CPUs counted once). */
static int
warm_default(void)
{
	static int	cpus;
	long		n;

	if (warm_workers > 0)
		return (warm_workers);
	if (cpus == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		cpus = n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
	}
	return (cpus);
}

int
warm_start(const struct dc_req *req,
    void (*done)(iso_msg *, const char *, void *), void *arg)
{
	struct warm_mod	*m;
	struct warm_job	*j;
	struct stat	 st;
	int		 saved;

	if (req == NULL || done == NULL || (req->argv != NULL ?
	    req->argv[0] == NULL || req->module != NULL ||
	    req->function != NULL : req->module == NULL ||
	    req->function == NULL)) {
		errno = EINVAL;
		return (-1);
	}
	if (req->argv != NULL)
		m = warm_cmd_get(req->argv, req->cwd);
	else if (stat(req->module, &st) == -1)
		return (dc_start(req, done, arg));	/* it says why */
	else
		m = warm_mod_get(req->module, &st);
	if (m == NULL)
		return (-1);
	m->max = req->workers > 0 ? req->workers : warm_default();
	if ((j = warm_job_new(req)) == NULL) {
		saved = errno;
		warm_mod_gc(m);
		errno = saved;
		return (-1);
	}
	j->done = done;
	j->arg = arg;
	j->lease = req->lease && req->argv == NULL;
	j->queued = 1;
	TAILQ_INSERT_TAIL(&m->queue, j, entry);
	nqueued++;
	/* A worker for it if it may have one; failing that with none
	   running, the failure is the caller's. */
	saved = 0;
	if (warm_idle_worker(m) == NULL && m->live < m->max &&
	    warm_worker_new(m) == NULL && m->live == 0)
		saved = errno;
	else
		warm_pump(m);
	if (j->queued && (saved != 0 || nqueued > WARM_QUEUE_MAX)) {
		TAILQ_REMOVE(&m->queue, j, entry);
		nqueued--;
		free(j->frame);
		free(j);
		warm_mod_gc(m);
		errno = saved != 0 ? saved : ENOBUFS;
		return (-1);
	}
	return (0);
}

size_t
warm_count(void)
{
	return (nlive);
}

size_t
warm_queued(void)
{
	return (nqueued);
}

void
warm_stop_all(void)
{
	struct warm_mod		*m;
	struct warm_worker	*w;
	struct warm_job		*j;
	int			 status;

	TAILQ_FOREACH(m, &mods, entry)
		TAILQ_FOREACH(w, &m->workers, entry)
			if (kill(-w->pid, SIGKILL) == -1)
				(void)kill(w->pid, SIGKILL);
	while ((m = TAILQ_FIRST(&mods)) != NULL) {
		m->stale = 1;		/* no worker starts */
		while ((w = TAILQ_FIRST(&m->workers)) != NULL) {
			child_unwatch(w->pid);
			(void)kill(w->pid, SIGKILL);
			while (waitpid(w->pid, &status, 0) == -1 &&
			    errno == EINTR)
				;
			(void)kill(-w->pid, SIGKILL);
			w->reaped = 1;
			warm_end(w, 1);
			TAILQ_REMOVE(&m->workers, w, entry);
			warm_lease_close(w, "EIO", "supervisor stopping");
			j = w->job;
			warm_worker_free(w);
			if (j != NULL)
				warm_job_done(j, NULL, "supervisor stopping");
		}
		while ((j = TAILQ_FIRST(&m->queue)) != NULL) {
			TAILQ_REMOVE(&m->queue, j, entry);
			nqueued--;
			warm_job_done(j, NULL, "supervisor stopping");
		}
		warm_mod_gc(m);
	}
}
