/*
 * evframe.c: frames (a 4-byte big-endian length, then the payload) in and
 * out of libevent buffers, for the daemon's connections: requests and
 * replies (server.c), a mailbox's senders (mailbox.c), the gateway's
 * senders (gateway.c), a --lines shepherd (link.c).
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "daemon.h"
#include "msg.h"
#include "wire.h"

#define EVF_READ_MIN	512	/* the least room asked for */

int
evf_read(struct evbuffer *in, int fd, size_t max, int *fds)
{
	return (evf_read_fds(in, fd, max, NULL, fds));
}

/* Keep k descriptors at fdv in q: 0, or -1 (closed) when out of memory. */
static int
evf_keep(struct evf_fds *q, const int *fdv, size_t k)
{
	size_t	 cap, i;
	int	*p;

	if (q->n + k > q->cap) {
		cap = q->cap > 0 ? q->cap : 16;
		while (cap < q->n + k)
			cap *= 2;
		if ((p = realloc(q->fd, cap * sizeof *p)) == NULL) {
			for (i = 0; i < k; i++)
				close(fdv[i]);
			return (-1);
		}
		q->fd = p;
		q->cap = cap;
	}
	memcpy(q->fd + q->n, fdv, k * sizeof *fdv);
	q->n += k;
	return (0);
}

void
evf_fds_free(struct evf_fds *q)
{
	size_t	i;

	for (i = 0; i < q->n; i++)
		if (q->fd[i] >= 0)
			close(q->fd[i]);
	free(q->fd);
	q->fd = NULL;
	q->n = q->cap = 0;
}

int
evf_read_fds(struct evbuffer *in, int fd, size_t max, struct evf_fds *q,
    int *fds)
{
	return (evf_recv_fds(in, fd, max, 0, q, fds));
}

int
evf_recv_fds(struct evbuffer *in, int fd, size_t max, int flags,
    struct evf_fds *q, int *fds)
{
	struct evbuffer_iovec	 v;
	int			 fdv[WIRE_FDS_MAX], avail;
	size_t			 i, k = 0;
	ssize_t			 n;

	/* Room for what the socket holds, not for max: a chain stays the
	   size it was made, so a peer that sent the start of a frame and
	   stopped would keep max bytes of ours. */
	if (ioctl(fd, FIONREAD, &avail) == 0 && avail >= 0) {
		if (avail < EVF_READ_MIN)
			avail = EVF_READ_MIN;	/* EOF, or nothing yet */
		if ((size_t)avail < max)
			max = (size_t)avail;
	}
	if (evbuffer_reserve_space(in, (ev_ssize_t)max, &v, 1) < 1) {
		errno = ENOMEM;
		return (-1);
	}
	if (v.iov_len > max)
		v.iov_len = max;
	do
		n = frame_recvmsg_flags(fd, v.iov_base, v.iov_len, flags, fdv,
		    &k);
	while (n == -1 && errno == EINTR);
	if (q != NULL && n != -2 && k > 0) {
		if (evf_keep(q, fdv, k) == -1)
			*fds += 1;	/* lost: the frame will be refused */
		k = 0;
	}
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

/* The port prefix of payload p[0..len): its length, or 0 if it is bad. */
static size_t
evf_port_len(const unsigned char *p, size_t len)
{
	size_t	k;

	if (p[0] <= 0x7f)
		k = 1;
	else if (p[0] >= 0xcc && p[0] <= 0xce)
		k = 1 + ((size_t)1 << (p[0] - 0xcc));
	else
		return (0);
	return (k < len ? k : 0);
}

int
evf_plain(struct evbuffer *out, const unsigned char *p, size_t len,
    struct evf_fds *q)
{
	struct wire_fds	 wf = { q->fd, q->n, 0 };
	unsigned char	 hdr[WIRE_HDR];
	iso_msg		*m;
	void		*buf;
	size_t		 k = evf_port_len(p, len), n, i;
	int		 r;

	if (k == 0)
		return (msg_fail(EBADMSG, "frame: a bad port number"));
	m = wire_decode_fds(p + k, len - k, &wf);
	for (i = 0; i < wf.used; i++)	/* the message's now */
		q->fd[i] = -1;
	if (m == NULL)
		return (-1);
	r = iso_msg_encode(m, &buf, &n);
	iso_msg_free(m);
	if (r == -1)
		return (-1);
	memmove(q->fd, q->fd + wf.used, (q->n - wf.used) * sizeof *q->fd);
	q->n -= wf.used;
	wire_frame_hdr(hdr, k + n);
	r = evbuffer_add(out, hdr, WIRE_HDR) == -1 ||
	    evbuffer_add(out, p, k) == -1 ||
	    evbuffer_add(out, buf, n) == -1 ? -1 : 0;
	free(buf);
	if (r == -1)
		return (msg_fail(ENOMEM, "frame: out of memory"));
	return (0);
}

int
evf_inline(struct evbuffer *in, struct evf_fds *q)
{
	struct evbuffer	*out;
	unsigned char	*p;
	size_t		 avail, off = 0, len, k, n, shared;
	int		 rc = 0, any = 0;

	if (q->n == 0)
		return (0);
	avail = evbuffer_get_length(in);
	if ((p = evbuffer_pullup(in, -1)) == NULL && avail > 0)
		return (msg_fail(ENOMEM, "frame: out of memory"));
	if ((out = evbuffer_new()) == NULL)
		return (msg_fail(ENOMEM, "frame: out of memory"));
	while (avail - off >= WIRE_HDR) {
		if (wire_frame_len(p + off, &len) == -1) {
			rc = -1;
			break;
		}
		if (avail - off - WIRE_HDR < len)
			break;
		k = evf_port_len(p + off + WIRE_HDR, len);
		if (k > 0 && wire_count_fds(p + off + WIRE_HDR + k, len - k,
		    &n, &shared) == 0 && n > 0) {
			if (n != shared) {
				rc = 1;
				break;
			}
			if (evf_plain(out, p + off + WIRE_HDR, len, q) == -1) {
				rc = -1;
				break;
			}
			any = 1;
		} else if (evbuffer_add(out, p + off, WIRE_HDR + len) == -1) {
			rc = msg_fail(ENOMEM, "frame: out of memory");
			break;
		}
		off += WIRE_HDR + len;
	}
	if (rc != -1 && any) {
		/* what follows goes as it came; then out replaces in */
		if (evbuffer_add(out, p + off, avail - off) == -1 ||
		    evbuffer_drain(in, avail) == -1 ||
		    evbuffer_add_buffer(in, out) == -1)
			rc = msg_fail(ENOMEM, "frame: out of memory");
	}
	evbuffer_free(out);
	return (rc);
}
