/*
 * wire.h: MessagePack encoding and frames, for the connection code.
 * A frame is WIRE_HDR bytes of big-endian payload length, then the payload.
 */
#ifndef ISO_LIB_WIRE_H
#define ISO_LIB_WIRE_H

#include <sys/types.h>

#include <stddef.h>

#include "isolate.h"

#define WIRE_HDR	4
#define WIRE_EXT_PORT	1	/* ext type of a SendPort */
#define WIRE_PORT_LEN	16	/* isolate u64, pid u32, port u32, big-endian */
#define WIRE_EXT_FD	2	/* ext type of a descriptor: fixext 1, data 0,
				   the frame's next descriptor (SCM_RIGHTS) */
#define WIRE_EXT_BYTES	3	/* ext type of a shared bytes value: fixext
				   8, its length (big-endian); its bytes are
				   the frame's next descriptor, a sealed
				   memfd of exactly that length */
#define WIRE_FDS_MAX	253	/* descriptors in one frame (SCM_MAX_FD) */

/*
 * The descriptors that came with a frame, for its decode: the frame's
 * references take fd[0], fd[1], ... in the order they appear; `used` is
 * set to how many it took, which the message then owns (the caller
 * forgets them). A frame referring to more than n is invalid (EBADMSG).
 */
struct wire_fds {
	int	*fd;
	size_t	 n;
	size_t	 used;
};

/* An upper bound of m's encoded size; -1/EMSGSIZE if a peer would refuse
   m (too deep, too many values). Seals m's iso_bytes_new values. */
int	 wire_bound(const iso_msg *m, size_t *bound);
/* Encode m at dst, which has room for wire_bound(m) bytes; returns the
   bytes written. Shared bytes values (MSG_MFD) go as plain bytes. */
size_t	 wire_encode_to(const iso_msg *m, void *dst);
/* The same for a frame whose descriptors go with it (a Unix socket,
   msg_fds_list_all): shared bytes values go as WIRE_EXT_BYTES. */
int	 wire_bound_fds(const iso_msg *m, size_t *bound);
size_t	 wire_encode_fds(const iso_msg *m, void *dst);

/* Encode m itself at dst, with room for its bound (WIRE_NODE_MAX, or
   5 + its length for a string or bytes): a scalar whole, a list or map
   only its header (its items follow it, each put the same way, a map's
   keys and values in turn). Bytes go plain. Returns the bytes written. */
#define WIRE_NODE_MAX	(2 + 1 + WIRE_PORT_LEN)
size_t	 wire_put_node(const iso_msg *m, void *dst);

/* Encode m at dst (room for WIRE_SCALAR_MAX bytes) when it is one scalar
   (nil, bool, int, float): the bytes written; 0 for anything else. */
#define WIRE_SCALAR_MAX	9
size_t	 wire_encode_scalar(const iso_msg *m, void *dst);
/*
 * Decode buf[0..len), which lies inside `block` (malloc'd) after `head`
 * free bytes at its start: when the message has no strings and its nodes
 * fit in the head, they are placed there and its bytes values point into
 * buf; the message then owns block (*taken is set: iso_msg_free frees
 * it). Otherwise as iso_msg_decode, and block stays the caller's.
 */
iso_msg	*wire_decode_in(void *block, size_t head, const void *buf,
	    size_t len, int *taken, struct wire_fds *fds);
/* iso_msg_decode with the descriptors that came with the frame (fds may
   be NULL: none came). */
iso_msg	*wire_decode_fds(const void *buf, size_t len, struct wire_fds *fds);
/* The descriptor references of a valid encoded message (a check, no
   decode): 0, *n of them, *shared of which are shared bytes values
   (shared may be NULL), or -1 when it is not one. */
int	 wire_count_fds(const void *buf, size_t len, size_t *n,
	    size_t *shared);

/* Decode buf[0..len) into node dst when it is one scalar (nil, bool,
   int, float): 1; 0 (dst untouched) when it is anything else. */
int	 wire_decode_scalar(const void *buf, size_t len, iso_msg *dst);

/* Payload length from a frame header; -1 with EMSGSIZE (over the limit)
   or EBADMSG (zero). */
int	 wire_frame_len(const void *hdr, size_t *len);
void	 wire_frame_hdr(void *hdr, size_t len);

/* frame.c: all of n bytes on a blocking descriptor, retrying on EINTR.
   write: 0 or -1, never SIGPIPE. read: 1 when n bytes were read, 0 at
   end of stream before any, -1 (EBADMSG when it ends part way). */
int	 frame_write_all(int fd, const char *p, size_t n);
int	 frame_read_all(int fd, void *buf, size_t n);
/*
 * On a Unix socket. sendmsg: one sendmsg(MSG_NOSIGNAL | flags) of
 * p[0..n) with fds[0..nfds) (at most WIRE_FDS_MAX) attached to its first
 * byte; its result (EINTR is the caller's). recvmsg: one
 * recvmsg(MSG_CMSG_CLOEXEC) into buf; the descriptors that came go to
 * fds (room for WIRE_FDS_MAX), their count to *nfds; its result, or -2
 * when they were cut short (MSG_CTRUNC; those that came are closed,
 * iso_error() says so).
 */
ssize_t	 frame_sendmsg(int fd, const void *p, size_t n, const int *fds,
	    size_t nfds, int flags);
ssize_t	 frame_recvmsg(int fd, void *buf, size_t n, int *fds, size_t *nfds);
/* The same with recvmsg's flags (MSG_PEEK). */
ssize_t	 frame_recvmsg_flags(int fd, void *buf, size_t n, int flags,
	    int *fds, size_t *nfds);

#endif /* ISO_LIB_WIRE_H */
