/*
 * evframe.c: frames (a 4-byte big-endian length, then the payload) in and
 * out of libevent buffers, for the daemon's connections: requests and
 * replies (server.c), a mailbox's senders (mailbox.c), a --lines
 * shepherd (link.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "daemon.h"
#include "wire.h"

int
evf_read(struct evbuffer *in, int fd, size_t max, int *fds)
{
	struct evbuffer_iovec	 v;
	int			 fdv[WIRE_FDS_MAX];
	size_t			 i, k = 0;
	ssize_t			 n;

	if (evbuffer_reserve_space(in, (ev_ssize_t)max, &v, 1) < 1) {
		errno = ENOMEM;
		return (-1);
	}
	if (v.iov_len > max)
		v.iov_len = max;
	do
		n = frame_recvmsg(fd, v.iov_base, v.iov_len, fdv, &k);
	while (n == -1 && errno == EINTR);
	for (i = 0; i < k; i++)
		close(fdv[i]);
	*fds += (int)k + (n == -2);
	if (n == -2)
		n = 0;		/* hostile: the caller sees *fds */
	if (n <= 0) {
		evbuffer_commit_space(in, NULL, 0);
		return ((int)n);
	}
	v.iov_len = (size_t)n;
	evbuffer_commit_space(in, &v, 1);
	return ((int)n);
}

int
evf_add(struct evbuffer *out, const iso_msg *m)
{
	unsigned char	 hdr[WIRE_HDR];
	void		*buf;
	size_t		 len;
	int		 r;

	if (iso_msg_encode(m, &buf, &len) == -1)
		return (-1);
	wire_frame_hdr(hdr, len);
	r = evbuffer_add(out, hdr, WIRE_HDR) == -1 ||
	    evbuffer_add(out, buf, len) == -1 ? -1 : 0;
	free(buf);
	if (r == -1)
		errno = ENOMEM;
	return (r);
}

/*
 * The payload of the first whole frame of in, decoded: ports, a port
 * number comes first (as on an isolate's socket), into *port. 1 with an
 * owned *m (the frame is drained), 0 when the frame is not all there yet,
 * -1 with errno (EMSGSIZE, EBADMSG, ENOMEM) when the stream is bad.
 */
static int
evf_take(struct evbuffer *in, uint64_t *port, iso_msg **m)
{
	unsigned char	 hdr[WIRE_HDR], *p;
	size_t		 len, skip = 0;

	if (evbuffer_copyout(in, hdr, WIRE_HDR) != WIRE_HDR)
		return (0);
	if (wire_frame_len(hdr, &len) == -1)
		return (-1);
	if (evbuffer_get_length(in) < WIRE_HDR + len)
		return (0);
	evbuffer_drain(in, WIRE_HDR);
	if ((p = evbuffer_pullup(in, (ssize_t)len)) == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	if (port != NULL) {
		/* A positive msgpack uint, as isolate writes it. */
		if (p[0] <= 0x7f) {
			*port = p[0];
			skip = 1;
		} else if (p[0] == 0xcc && len > 2) {
			*port = p[1];
			skip = 2;
		} else if (p[0] == 0xcd && len > 3) {
			*port = (uint64_t)p[1] << 8 | p[2];
			skip = 3;
		} else if (p[0] == 0xce && len > 5) {
			*port = (uint64_t)p[1] << 24 | (uint64_t)p[2] << 16 |
			    (uint64_t)p[3] << 8 | p[4];
			skip = 5;
		}
		if (skip == 0 || skip == len) {
			evbuffer_drain(in, len);
			errno = EBADMSG;
			return (-1);
		}
	}
	*m = iso_msg_decode(p + skip, len - skip);
	evbuffer_drain(in, len);
	return (*m != NULL ? 1 : -1);
}

int
evf_next(struct evbuffer *in, iso_msg **m)
{
	return (evf_take(in, NULL, m));
}

int
evf_next_port(struct evbuffer *in, uint64_t *port, iso_msg **m)
{
	return (evf_take(in, port, m));
}
