/*
 * compute.c: iso_compute, Dart's compute / Isolate.run: fn(arg) in a new
 * isolate, its result handed back once.
 *
 * No ports: the result comes back over a private socketpair, as one frame
 * holding [0, result], or [1] when fn returned NULL, or [2, why] when the
 * result could not be sent. End of stream without a frame means fn
 * crashed or exited; its wait status says how. The caller's loop runs
 * while it waits; the child is always reaped before iso_compute returns.
 * A result's descriptors come with the frame's first byte (SCM_RIGHTS).
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "hot.h"
#include "loop.h"
#include "msg.h"
#include "spawn.h"
#include "wire.h"

#define COMPUTE_OK		0	/* [0, result] */
#define COMPUTE_NULL		1	/* [1] */
#define COMPUTE_UNSENDABLE	2	/* [2, why] */

struct compute {
	iso_msg		*(*fn)(const iso_msg *);
	const iso_msg	*arg;
	int		 fd;		/* the child's end */
};

/* Descriptors a new isolate must not keep (compute_forget). */
static int	wait_fd = -1;		/* our end, while we wait */
static int	result_fd = -1;		/* in the computing isolate */

static iso_pool	*shared;		/* iso_compute_set_pool's */

ISO_HOT void
compute_forget(void)
{
	wait_fd = result_fd = -1;	/* closed with the library's others */
	shared = NULL;			/* our spawner's */
}

void
iso_compute_set_pool(iso_pool *p)
{
	shared = p;
}

void
compute_pool_freed(const iso_pool *p)
{
	if (shared == p)
		shared = NULL;
}

/* The frame at buf (len bytes), m's descriptors with its first byte. */
static int
compute_write(int fd, const char *buf, size_t len, const iso_msg *m)
{
	int	fds[WIRE_FDS_MAX];
	size_t	i, nfds = 0;
	ssize_t	r;

	if (m != NULL && (iso_msg_type(m) == ISO_FD || (m->flags & MSG_FDS)))
		nfds = msg_fds_list(m, fds, WIRE_FDS_MAX);
	if (nfds > WIRE_FDS_MAX)
		return (msg_fail(EMSGSIZE, "%zu descriptors, more than %d",
		    nfds, WIRE_FDS_MAX));
	for (i = 0; i < nfds; i++)
		if (fds[i] < 0)
			return (msg_fail(EBADF, "a descriptor was taken out "
			    "of it"));
	if (nfds == 0)
		return (frame_write_all(fd, buf, len));
	while ((r = frame_sendmsg(fd, buf, len, fds, nfds, 0)) == -1 &&
	    errno == EINTR)
		;
	if (r == -1)
		return (msg_fail(errno, "%s", strerror(errno)));
	return (frame_write_all(fd, buf + r, len - (size_t)r));
}

/* One frame: [tag] or [tag, m], encoded in place. The reason a result
   could not be sent goes whatever this isolate's frame limit. */
static int
compute_send(int fd, int tag, const iso_msg *m)
{
	size_t	 bound = 0, n = 0;
	char	*buf;
	int	 rc, saved;

	if (m != NULL && wire_bound(m, &bound) == -1)
		return (-1);
	if ((buf = malloc(WIRE_HDR + 2 + bound)) == NULL)
		return (msg_fail(ENOMEM, "compute: out of memory"));
	buf[WIRE_HDR] = (char)(m != NULL ? 0x92 : 0x91);	/* fixarray */
	buf[WIRE_HDR + 1] = (char)tag;				/* fixint */
	if (m != NULL)
		n = wire_encode_to(m, buf + WIRE_HDR + 2);
	if (tag == COMPUTE_OK && 2 + n > msg_limit_frame) {
		free(buf);
		return (msg_fail(EMSGSIZE, "%zu bytes, more than the frame "
		    "limit of %zu", n, msg_limit_frame));
	}
	wire_frame_hdr(buf, 2 + n);
	rc = compute_write(fd, buf, WIRE_HDR + 2 + n, m);
	saved = errno;
	free(buf);
	errno = saved;
	return (rc);
}

/* In the new isolate: run fn, send what came of it, end. */
static void
compute_child(void *arg)
{
	struct compute	*c = arg;
	iso_msg		*r, *why;

	result_fd = c->fd;
	(void)loop_fd_own(result_fd);
	r = c->fn(c->arg);
	if (r == NULL)
		(void)compute_send(c->fd, COMPUTE_NULL, NULL);
	else if (compute_send(c->fd, COMPUTE_OK, r) == -1 &&
	    errno != EPIPE && errno != ECONNRESET &&
	    (why = iso_msg_pack("s", iso_error())) != NULL) {
		(void)compute_send(c->fd, COMPUTE_UNSENDABLE, why);
		iso_msg_free(why);
	}
	loop_fd_close(c->fd);
	result_fd = -1;
	iso_msg_free(r);
	loop_exit(0);
}

/*
 * Read the one frame: 1 with *tag and *out (NULL for COMPUTE_NULL), 0 at
 * end of stream, -1 with errno.
 */
/* The header, and the descriptors that came with it into fds: 1, 0 at
   the end of stream, -1. */
static int
compute_read_hdr(int fd, unsigned char *hdr, struct wire_fds *fds)
{
	size_t	got = 0, k;
	ssize_t	r;

	while (got < WIRE_HDR) {
		r = frame_recvmsg(fd, hdr + got, WIRE_HDR - got,
		    fds->fd + fds->n, &k);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -2 || (k > 0 && fds->n > 0))
			return (msg_fail(EBADMSG, "compute: descriptors cut "
			    "short"));
		if (r == -1)
			return (-1);
		fds->n += k;
		if (r == 0)
			return (got == 0 ? 0 : msg_fail(EBADMSG,
			    "compute: truncated result"));
		got += (size_t)r;
	}
	return (1);
}

static int
compute_read(int fd, int *tag, iso_msg **out)
{
	int		 fdv[WIRE_FDS_MAX];
	struct wire_fds	 fds = { fdv, 0, 0 };
	unsigned char	 hdr[WIRE_HDR], *buf;
	size_t		 len, i;
	int		 rc, saved;

	if ((rc = compute_read_hdr(fd, hdr, &fds)) != 1)
		goto out;
	if (wire_frame_len(hdr, &len) == -1) {
		rc = -1;
		goto out;
	}
	if (wire_frame_len(hdr, &len) == -1)
		return (-1);
	if (len < 2) {
		rc = msg_fail(EBADMSG, "compute: bad frame");
		goto out;
	}
	if ((buf = malloc(len)) == NULL) {
		rc = msg_fail(ENOMEM, "compute: out of memory");
		goto out;
	}
	if ((rc = frame_read_all(fd, buf, len)) == 0)
		rc = msg_fail(EBADMSG, "compute: truncated result");
	if (rc == 1) {
		*tag = buf[1];
		if (buf[0] != (len > 2 ? 0x92 : 0x91) || buf[1] > 2 ||
		    (*tag == COMPUTE_NULL) != (len == 2))
			rc = msg_fail(EBADMSG, "compute: bad frame");
		else if (len > 2 &&
		    (*out = wire_decode_fds(buf + 2, len - 2, &fds)) == NULL)
			rc = -1;
	}
	free(buf);
out:
	saved = errno;
	for (i = fds.used; i < fds.n; i++)	/* what no value took */
		close(fds.fd[i]);
	errno = saved;
	return (rc);
}

static void
compute_ready_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/*
 * Say why a computation gave no result: compute_read's rc (with the
 * errno it left, saved), the frame's tag and message m when one came,
 * and how the child ended (isolate_wait's code and status).
 */
static void
compute_why(int rc, int tag, const iso_msg *m, int saved, int code,
    int status, const char *note)
{
	const char	*why;
	char		 name[32];

	if (rc == 1 && tag == COMPUTE_UNSENDABLE) {
		why = m != NULL ? iso_msg_str(m, NULL) : NULL;
		msg_fail(EMSGSIZE, "compute: the result cannot be sent: %s",
		    why != NULL ? why : "?");
	} else if (rc == 1)
		msg_fail(EIO, "compute: function returned NULL");
	else if (rc == -1 && saved != EBADMSG)
		msg_fail(saved, "compute: cannot read the result: %s",
		    strerror(saved));
	else if (code == CLD_KILLED || code == CLD_DUMPED)
		msg_fail(EIO, "compute: function killed by %s%s%s%s",
		    isolate_signame(status, name, sizeof name),
		    code == CLD_DUMPED ? " (core dumped)" : "",
		    note != NULL ? ": " : "", note != NULL ? note : "");
	else if (code == CLD_EXITED)
		msg_fail(EIO, "compute: function exited with status %d",
		    status);
	else
		msg_fail(EIO, "compute: function ended without a result");
}

int
iso_compute(iso_msg *(*fn)(const iso_msg *), const iso_msg *arg,
    iso_msg **result)
{
	return (iso_compute_timeout(fn, arg, 0, result));
}

int
iso_compute_timeout(iso_msg *(*fn)(const iso_msg *), const iso_msg *arg,
    int timeout_ms, iso_msg **result)
{
	return (iso_compute_with(fn, arg, NULL, timeout_ms, result));
}

int
iso_compute_with(iso_msg *(*fn)(const iso_msg *), const iso_msg *arg,
    const iso_spawn_attr *a, int timeout_ms, iso_msg **result)
{
	struct event_base	*base;
	struct compute		 c;
	struct event		*ev = NULL;
	iso_isolate		*iso = NULL;
	iso_msg			*m = NULL;
	char			 text[256];
	int			 sv[2] = { -1, -1 }, done = 0, tag = -1, rc;
	int			 saved, code = 0, status = 0;

	if (fn == NULL || result == NULL || timeout_ms < 0)
		return (msg_fail(EINVAL, "compute: no function, no result or a "
		    "timeout < 0"));
	*result = NULL;
	if (loop_dispatching())
		return (msg_fail(EDEADLK, "compute: called inside a callback, "
		    "where the loop cannot run"));
	if (shared != NULL && a == NULL)
		return (iso_pool_call(shared, fn, arg, timeout_ms, result));
	if ((base = loop_base()) == NULL)
		return (-1);
	/* The child reads arg in its copy of memory: a value being filled
	   in place (iso_bytes_new) is not in that copy until sealed. */
	if (arg != NULL && (arg->flags & MSG_MFD) && msg_mfd_freeze(arg) == -1)
		return (-1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return (msg_fail(errno, "compute: socketpair: %m"));
	if (loop_fd_own(sv[0]) == -1) {
		close(sv[0]);
		close(sv[1]);
		return (-1);
	}
	wait_fd = sv[0];
	c.fn = fn;
	c.arg = arg;
	c.fd = sv[1];
	if (isolate_fork(compute_child, &c, 0, a, (const void *)(uintptr_t)fn,
	    &iso) == -1)
		goto fail;
	close(sv[1]);
	sv[1] = -1;

	if ((ev = event_new(base, sv[0], EV_READ, compute_ready_cb, &done)) ==
	    NULL || event_add(ev, NULL) == -1) {
		msg_fail(ENOMEM, "compute: out of memory");
		goto fail;
	}
	if (loop_wait(&done, timeout_ms > 0 ? timeout_ms : -1) == -1) {
		if (errno == ETIMEDOUT)
			msg_fail(ETIMEDOUT, "compute: timed out after %d ms",
			    timeout_ms);
		goto fail;
	}
	event_free(ev);
	ev = NULL;
	/* It has started writing, or has gone: a blocking read is fine. */
	rc = compute_read(sv[0], &tag, &m);
	saved = errno;
	loop_fd_close(sv[0]);
	sv[0] = wait_fd = -1;
	isolate_wait(iso, &code, &status);
	if (rc == 1 && tag == COMPUTE_OK) {
		iso_isolate_free(iso);
		*result = m;
		return (0);
	}
	compute_why(rc, tag, m, saved, code, status,
	    isolate_note_detail(iso));
	iso_isolate_free(iso);
	iso_msg_free(m);
	return (-1);

fail:
	saved = errno;
	snprintf(text, sizeof text, "%s", iso_error());
	if (ev != NULL)
		event_free(ev);
	if (iso != NULL) {
		(void)iso_kill(iso, ISO_IMMEDIATE);
		iso_isolate_free(iso);
	}
	loop_fd_close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	wait_fd = -1;
	return (msg_fail(saved, "%s", text));
}
