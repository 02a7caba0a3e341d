/*
 * accept.c: accepting on a listening socket (acc_*), the same way for
 * every listener of the process: our uid (or root) only, a cap on open
 * connections, the last descriptors kept for the supervisor's own socket,
 * a refusal told in one frame, and no spinning when descriptors run out.
 *
 * Out of descriptors, accept4 fails with EMFILE (or ENFILE) while the
 * connection stays in the backlog, so a level-triggered loop would call
 * us again at once, forever. As redis and libuv do, one spare descriptor
 * is kept open for that moment: close it, accept the connection on it,
 * tell the peer and close it, open the spare again, and stop accepting
 * on that listener for ACC_PAUSE_MS.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "accept.h"
#include "hot.h"
#include "loop.h"
#include "supproto.h"
#include "wire.h"

#define ACC_BATCH	64	/* accepts a turn: other events get theirs */
#define ACC_HEAD_MIN	16	/* descriptors kept for the program: at */
#define ACC_HEAD_MAX	256	/* least, at most, else 1/16 of the limit */

struct acc {
	struct event	*ev;		/* lfd readable */
	struct event	*timer;		/* the pause after EMFILE ends */
	int		 lfd;
	enum acc_kind	 kind;
	const size_t	*max;
	size_t		 open;
	int		 paused;	/* by the owner */
	int		 starving;	/* out of descriptors: the timer runs */
	int		 told;		/* that was logged; until an accept */
	struct acc_ops	 ops;
	void		*arg;
	char		 name[64];
};

static int		spare = -1;	/* see the top of this file */
unsigned long		acc_starved;

static void	acc_cb(evutil_socket_t, short, void *);

static void	acc_log(struct acc *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
acc_log(struct acc *a, const char *fmt, ...)
{
	char	line[256];
	va_list	ap;

	if (a->ops.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	a->ops.log(line, a->arg);
}

/* Keep the spare descriptor open: 0, or -1 when it cannot be. */
static ISO_HOT int
acc_spare(void)
{
	if (spare != -1)
		return (0);
	if ((spare = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	if (loop_fd_own(spare) == -1) {	/* a new isolate closes it */
		close(spare);
		spare = -1;
		return (-1);
	}
	return (0);
}

/* Listen when neither the owner nor a shortage says not to. */
static void
acc_update(struct acc *a)
{
	if (a->paused || a->starving)
		event_del(a->ev);
	else
		event_add(a->ev, NULL);
}

void
acc_tell(int fd, enum acc_kind kind, int err, const char *why)
{
	unsigned char	 buf[512];
	iso_msg		*m;
	void		*p = NULL;
	size_t		 len, k = 0;

	if (kind == ACC_ISOLATE)
		m = iso_msg_pack("{s:s s:s s:s}", "op", "refused", "errno",
		    sup_errno_name(err), "error", why);
	else
		m = iso_msg_pack("{s:b s:s s:s}", "ok", 0, "errno",
		    sup_errno_name(err), "error", why);
	if (m == NULL || iso_msg_encode(m, &p, &len) == -1 ||
	    len + WIRE_HDR + 1 > sizeof buf) {
		iso_msg_free(m);
		free(p);
		return;
	}
	if (kind == ACC_ISOLATE)
		buf[WIRE_HDR + k++] = 0;	/* port 0: control */
	memcpy(buf + WIRE_HDR + k, p, len);
	wire_frame_hdr(buf, k + len);
	(void)send(fd, buf, WIRE_HDR + k + len, MSG_DONTWAIT | MSG_NOSIGNAL);
	iso_msg_free(m);
	free(p);
}

/* Out of descriptors: take the pending peer on the spare, tell it, and
   stop accepting for a while. */
static void
acc_starve(struct acc *a, int err)
{
	struct timeval	tv = { 0, ACC_PAUSE_MS * 1000 };
	char		why[160];
	int		fd;

	acc_starved++;
	snprintf(why, sizeof why, "%s is out of descriptors (%s); try again "
	    "later", a->name, strerror(err));
	if (spare != -1) {
		loop_fd_close(spare);
		spare = -1;
		if ((fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) != -1) {
			acc_tell(fd, a->kind, EAGAIN, why);
			close(fd);
		}
		(void)acc_spare();
	}
	if (!a->told)
		acc_log(a, "%s: not accepting for %d ms: %s", a->name,
		    ACC_PAUSE_MS, why);
	a->told = 1;
	a->starving = 1;
	acc_update(a);
	evtimer_add(a->timer, &tv);
}

static void
acc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acc	*a = arg;

	(void)fd;
	(void)what;
	a->starving = 0;
	acc_update(a);
}

/* The lowest descriptor a listener of this kind may not take: the ones
   above are kept for the program (and for the supervisor's socket). */
static long
acc_ceiling(const struct acc *a)
{
	struct rlimit	rl;
	rlim_t		head;

	if (a->kind == ACC_SUPERVISOR || getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1L << 30)
		return (1L << 30);
	head = rl.rlim_cur / 16;
	if (head < ACC_HEAD_MIN)
		head = ACC_HEAD_MIN;
	if (head > ACC_HEAD_MAX)
		head = ACC_HEAD_MAX;
	return (rl.rlim_cur > head ? (long)(rl.rlim_cur - head) : 0);
}

static void
acc_refuse(struct acc *a, int fd, const char *why)
{
	acc_tell(fd, a->kind, EAGAIN, why);
	close(fd);
	acc_log(a, "%s: refused a connection: %s", a->name, why);
}

/* Accept up to ACC_BATCH peers: 1 if there may be more waiting. */
static int
acc_batch(struct acc *a)
{
	struct ucred	 cred;
	socklen_t	 clen;
	char		 why[200];
	long		 ceiling = -1;	/* asked once a peer is there */
	int		 fd, n;

	for (n = 0; n < ACC_BATCH && !a->paused; n++) {
		fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				acc_starve(a, errno);
			return (0);
		}
		clen = sizeof cred;
		/* Abstract names have no permissions: the uid is the gate. */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ==
		    -1 || (cred.uid != geteuid() && cred.uid != 0)) {
			snprintf(why, sizeof why, "%s takes connections from "
			    "uid %u%s only, not uid %d", a->name,
			    (unsigned)geteuid(), geteuid() == 0 ? "" :
			    " and root", clen == sizeof cred ?
			    (int)cred.uid : -1);
			acc_tell(fd, a->kind, EACCES, why);
			close(fd);
			acc_log(a, "%s: refused a peer (pid %d): %s", a->name,
			    clen == sizeof cred ? (int)cred.pid : -1, why);
			continue;
		}
		/* The lowest free descriptor came back: all below are used. */
		if (ceiling == -1)
			ceiling = acc_ceiling(a);
		if (fd >= ceiling) {
			snprintf(why, sizeof why, "%s is out of descriptors "
			    "(%d open); try again later", a->name, fd);
			acc_refuse(a, fd, why);
			continue;
		}
		if (a->open >= *a->max) {
			snprintf(why, sizeof why, "%s has %zu connections open,"
			    " its limit; try again later", a->name, a->open);
			acc_refuse(a, fd, why);
			continue;
		}
		a->told = 0;
		a->open++;
		a->ops.take(fd, cred.pid, a->arg);
	}
	return (n == ACC_BATCH);
}

static void
acc_cb(evutil_socket_t lfd, short what, void *arg)
{
	(void)lfd;
	(void)what;
	(void)acc_batch(arg);
}

void
acc_now(struct acc *a)
{
	if (a == NULL || a->starving)
		return;
	while (acc_batch(a))
		;
}

ISO_HOT struct acc *
acc_new(struct event_base *base, int lfd, enum acc_kind kind,
    const size_t *max, const char *name, const struct acc_ops *ops, void *arg)
{
	struct acc	*a;

	if ((a = evmem_calloc(sizeof *a)) == NULL)
		return (NULL);
	a->lfd = lfd;
	a->kind = kind;
	a->max = max;
	a->ops = *ops;
	a->arg = arg;
	/* copied by hand (zeroed: NUL-terminated): snprintf's code is not
	   mapped in a new isolate, which makes its listener here */
	memcpy(a->name, name, strnlen(name, sizeof a->name - 1));
	(void)acc_spare();	/* without it, EMFILE only pauses */
	if ((a->ev = event_new(base, lfd, EV_READ | EV_PERSIST, acc_cb,
	    a)) == NULL || (a->timer = evtimer_new(base, acc_timer_cb,
	    a)) == NULL || event_add(a->ev, NULL) == -1) {
		acc_free(a);
		errno = ENOMEM;
		return (NULL);
	}
	return (a);
}

void
acc_free(struct acc *a)
{
	if (a == NULL)
		return;
	if (a->ev != NULL)
		event_free(a->ev);
	if (a->timer != NULL)
		event_free(a->timer);
	evmem_free(a);
}

void
acc_closed(struct acc *a)
{
	if (a != NULL && a->open > 0)
		a->open--;
}

void
acc_adopt(struct acc *a)
{
	if (a != NULL)
		a->open++;
}

size_t
acc_open(const struct acc *a)
{
	return (a->open);
}

void
acc_pause(struct acc *a)
{
	a->paused = 1;
	acc_update(a);
}

void
acc_resume(struct acc *a)
{
	a->paused = 0;
	acc_update(a);
}

ISO_HOT void
acc_forget(void)
{
	spare = -1;
}
