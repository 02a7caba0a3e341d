/*
 * frame.c: whole frames on a blocking descriptor (iso_msg_write and
 * iso_msg_read), for tools and for programs in other languages' shoes.
 */
#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hot.h"
#include "msg.h"
#include "wire.h"

/* Frames up to this size are built on the stack. */
#define FRAME_STACK	256

/*
 * write() on a pipe whose reader is gone raises SIGPIPE; block it around
 * the write and swallow one we caused, leaving the program's disposition
 * and any SIGPIPE already pending alone.
 */
static ssize_t
frame_write_nosig(int fd, const void *p, size_t n)
{
	sigset_t	pipe_set, old, pend;
	struct timespec	zero = { 0, 0 };
	ssize_t		r;
	int		pending, saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	sigpending(&pend);
	pending = sigismember(&pend, SIGPIPE);
	r = write(fd, p, n);
	saved = errno;
	if (r == -1 && errno == EPIPE && !pending)
		while (sigtimedwait(&pipe_set, NULL, &zero) == -1 &&
		    errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return (r);
}

ssize_t
frame_sendmsg(int fd, const void *p, size_t n, const int *fds, size_t nfds,
    int flags)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(WIRE_FDS_MAX * sizeof(int))];
	}		 ctl;
	struct iovec	 iov = { (void *)p, n };
	struct msghdr	 mh;

	memset(&mh, 0, sizeof mh);
	memset(&ctl, 0, sizeof ctl);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		ctl.h.cmsg_level = SOL_SOCKET;
		ctl.h.cmsg_type = SCM_RIGHTS;
		ctl.h.cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(&ctl.h), fds, nfds * sizeof(int));
	}
	return (sendmsg(fd, &mh, MSG_NOSIGNAL | flags));
}

ISO_HOT ssize_t
frame_recvmsg(int fd, void *buf, size_t n, int *fds, size_t *nfds)
{
	return (frame_recvmsg_flags(fd, buf, n, 0, fds, nfds));
}

ISO_HOT ssize_t
frame_recvmsg_flags(int fd, void *buf, size_t n, int flags, int *fds,
    size_t *nfds)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(WIRE_FDS_MAX * sizeof(int))];
	}		 ctl;
	struct iovec	 iov = { buf, n };
	struct msghdr	 mh;
	struct cmsghdr	*cm;
	size_t		 i, k;
	ssize_t		 r;

	*nfds = 0;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof ctl.b;
	if ((r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | flags)) == -1 ||
	    mh.msg_controllen == 0)
		return (r);
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			if (*nfds < WIRE_FDS_MAX)
				memcpy(&fds[(*nfds)++], CMSG_DATA(cm) +
				    i * sizeof(int), sizeof(int));
			else {
				int	extra;

				memcpy(&extra, CMSG_DATA(cm) + i * sizeof(int),
				    sizeof extra);
				close(extra);
				mh.msg_flags |= MSG_CTRUNC;
			}
		}
	}
	if (!(mh.msg_flags & MSG_CTRUNC))
		return (r);
	for (i = 0; i < *nfds; i++)
		close(fds[i]);
	*nfds = 0;
	msg_fail(EBADMSG, "frame: descriptors cut short (more than a frame "
	    "may carry, or none left here)");
	return (-2);
}

int
frame_write_all(int fd, const char *p, size_t n)
{
	ssize_t	r;
	int	sock = 1;

	while (n > 0) {
		if (sock) {
			r = send(fd, p, n, MSG_NOSIGNAL);
			if (r == -1 && errno == ENOTSOCK) {
				sock = 0;
				continue;
			}
		} else
			r = frame_write_nosig(fd, p, n);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += r;
		n -= (size_t)r;
	}
	return (0);
}

/* All of p[0..n) on a Unix socket, fds attached to the first byte. */
static int
frame_write_fds(int fd, const char *p, size_t n, const int *fds,
    size_t nfds)
{
	ssize_t	r;

	while ((r = frame_sendmsg(fd, p, n, fds, nfds, 0)) == -1 &&
	    errno == EINTR)
		;
	if (r == -1 && errno == ENOTSOCK)
		return (msg_fail(EINVAL, "write: descriptors go only over a "
		    "Unix socket"));
	if (r == -1)
		return (-1);
	return (frame_write_all(fd, p + r, n - (size_t)r));
}

int
iso_msg_write(int fd, const iso_msg *m)
{
	char	 stack[FRAME_STACK], *buf = stack;
	int	 fds[WIRE_FDS_MAX];
	size_t	 bound, n, nfds = 0, i;
	int	 rc = -1, saved;

	if (wire_bound(m, &bound) == -1)
		return (-1);
	if ((m->flags & MSG_FDS) &&
	    (nfds = msg_fds_list(m, fds, WIRE_FDS_MAX)) > WIRE_FDS_MAX)
		return (msg_fail(EMSGSIZE, "write: %zu descriptors, more than "
		    "%d", nfds, WIRE_FDS_MAX));
	for (i = 0; i < nfds; i++)
		if (fds[i] < 0)
			return (msg_fail(EBADF, "write: a descriptor was taken "
			    "out of the message"));
	if (bound > sizeof stack - WIRE_HDR &&
	    (buf = malloc(WIRE_HDR + bound)) == NULL)
		return (msg_fail(ENOMEM, "write: out of memory"));
	n = wire_encode_to(m, buf + WIRE_HDR);
	if (n > msg_limit_frame)
		msg_fail(EMSGSIZE, "write: %zu bytes, more than the frame "
		    "limit of %zu", n, msg_limit_frame);
	else {
		wire_frame_hdr(buf, n);
		rc = nfds > 0 ? frame_write_fds(fd, buf, WIRE_HDR + n, fds,
		    nfds) : frame_write_all(fd, buf, WIRE_HDR + n);
	}
	saved = errno;
	if (buf != stack)
		free(buf);
	errno = saved;
	return (rc);
}

int
frame_read_all(int fd, void *buf, size_t n)
{
	char	*p = buf;
	ssize_t	 r;
	size_t	 got = 0;

	while (got < n) {
		r = read(fd, p + got, n - got);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (r == 0) {
			if (got == 0)
				return (0);
			return (msg_fail(EBADMSG, "frame: truncated, end of "
			    "stream after %zu of %zu bytes", got, n));
		}
		got += (size_t)r;
	}
	return (1);
}

/*
 * The header at hdr, with the descriptors that came with it (a frame's
 * come with its first byte) into fds: as frame_read_all. Not a socket:
 * plain reads.
 */
static int
frame_read_hdr(int fd, unsigned char *hdr, struct wire_fds *fds)
{
	size_t	got = 0, k;
	ssize_t	r;

	while (got < WIRE_HDR) {
		r = frame_recvmsg(fd, hdr + got, WIRE_HDR - got,
		    fds->fd + fds->n, &k);
		if (r == -1 && errno == ENOTSOCK)
			return (got == 0 ? frame_read_all(fd, hdr, WIRE_HDR) :
			    frame_read_all(fd, hdr + got, WIRE_HDR - got));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return (-1);
		if (r == -2 || (k > 0 && fds->n > 0)) {
			fds->n += r == -2 ? 0 : k;
			return (msg_fail(EBADMSG, "frame: descriptors cut "
			    "short, or more than one batch"));
		}
		fds->n += k;
		if (r == 0)
			return (got == 0 ? 0 : msg_fail(EBADMSG, "frame: "
			    "truncated, end of stream in the header"));
		got += (size_t)r;
	}
	return (1);
}

int
iso_msg_read(int fd, iso_msg **out)
{
	int		 fdv[WIRE_FDS_MAX];
	struct wire_fds	 fds = { fdv, 0, 0 };
	unsigned char	 hdr[WIRE_HDR];
	char		 stack[FRAME_STACK], *buf = stack;
	size_t		 len, i;
	int		 rc, saved;

	if (out == NULL)
		return (msg_fail(EINVAL, "read: NULL argument"));
	*out = NULL;
	if ((rc = frame_read_hdr(fd, hdr, &fds)) != 1)
		goto out;
	if (wire_frame_len(hdr, &len) == -1) {
		rc = -1;
		goto out;
	}
	if (len > sizeof stack && (buf = malloc(len)) == NULL) {
		rc = msg_fail(ENOMEM, "read: out of memory");
		goto out;
	}
	rc = frame_read_all(fd, buf, len);
	if (rc == 0)
		rc = msg_fail(EBADMSG, "frame: truncated, end of stream "
		    "after the header");
	if (rc == 1 && (*out = wire_decode_fds(buf, len, &fds)) == NULL)
		rc = -1;
	if (buf != stack)
		free(buf);
out:
	saved = errno;
	for (i = fds.used; i < fds.n; i++)	/* what no value took */
		close(fds.fd[i]);
	errno = saved;
	return (rc);
}
