/*
 * supstream.c: requests the supervisor answers with a stream of frames
 * on one connection (docs/protocol.md, Streams): "events", and "follow"
 * (what a lines command prints). A follow stream acknowledges a message
 * once the caller asks for the next one, and after a supervisor went
 * away (its connection ended, reset, or cut inside a frame) connects
 * again, to the same command by its id, and resumes after the last
 * message it gave: "after" acknowledges what it gave, so nothing comes
 * twice and nothing given is lost.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"
#include "msg.h"
#include "supproto.h"
#include "wire.h"

/* Acknowledge at once after this many messages, else when none waits. */
#define STREAM_ACK_EVERY	64

struct iso_sup_stream {
	int		 fd;
	int		 follow;	/* else events */
	int		 ended;		/* 1: the end came; -1: an error */
	int		 error;		/* ... its errno */
	char		*target;	/* follow: as given, then its id */
	char		 box[17];	/* follow: the outbox, once known */
	uint64_t	 last;		/* follow: the last seq given */
	uint64_t	 acked;		/* ... and acknowledged */
};

/* (Re)open s's request; 0 or -1 with errno. */
static int
stream_open(iso_sup_stream *s)
{
	iso_msg		*req, *rep = NULL;
	const char	*box, *id;
	char		*copy;
	int		 r;

	if (s->follow)
		req = iso_msg_pack("{s:s s:s s:U s:s?}", "op", "follow",
		    "target", s->target, "after", s->last, "box",
		    s->box[0] != '\0' ? s->box : NULL);
	else
		req = iso_msg_pack("{s:s}", "op", "events");
	r = sup_call_again(req, &rep, &s->fd, SUP_START |
	    (s->follow ? SUP_SAFE : 0));
	iso_msg_free(req);
	if (r == -1)
		return (-1);
	if (s->follow && iso_msg_unpack(rep, "{s:s}", "box", &box) == 0 &&
	    strlen(box) == 16) {
		if (strcmp(box, s->box) != 0)
			s->last = 0;	/* another command */
		memcpy(s->box, box, sizeof s->box);
		/* "after" acknowledged what was given. */
		s->acked = s->last;
	}
	/* Come back to this command, not another of its name. */
	if (s->follow && iso_msg_unpack(rep, "{s:s}", "id", &id) == 0 &&
	    strlen(id) == 16 && strcmp(id, s->target) != 0 &&
	    (copy = strdup(id)) != NULL) {
		free(s->target);
		s->target = copy;
	}
	iso_msg_free(rep);
	return (0);
}

static iso_sup_stream *
stream_new(const char *target)
{
	iso_sup_stream	*s;
	int		 saved;

	if ((s = calloc(1, sizeof *s)) == NULL)
		return (NULL);
	s->fd = -1;
	if (target != NULL) {
		s->follow = 1;
		if ((s->target = strdup(target)) == NULL)
			goto fail;
	}
	if (stream_open(s) == -1)
		goto fail;
	return (s);
fail:
	saved = errno;
	free(s->target);
	free(s);
	errno = saved;
	return (NULL);
}

iso_sup_stream *
iso_sup_events(void)
{
	return (stream_new(NULL));
}

iso_sup_stream *
iso_sup_follow(const char *target)
{
	if (target == NULL) {
		(void)msg_fail(EINVAL, "follow: no target");
		return (NULL);
	}
	return (stream_new(target));
}

int
iso_sup_stream_fd(const iso_sup_stream *s)
{
	return (s->fd);
}

/* Acknowledge what was given; best effort (what is not comes again and
   is dropped by seq). */
static void
stream_ack(iso_sup_stream *s)
{
	iso_msg	*ack;

	if (!s->follow || s->fd == -1 || s->acked == s->last || s->ended)
		return;
	if ((ack = iso_msg_pack("{s:s s:U}", "op", "ack", "upto",
	    s->last)) == NULL)
		return;
	if (iso_msg_write(s->fd, ack) == 0)
		s->acked = s->last;
	iso_msg_free(ack);
}

/* Milliseconds left of timeout_ms since start (< 0: for ever). */
static int
stream_left(int timeout_ms, const struct timespec *start)
{
	struct timespec	now;
	long		ms;

	if (timeout_ms < 0)
		return (-1);
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
	return (ms >= timeout_ms ? 0 : (int)(timeout_ms - ms));
}

/*
 * One frame from fd: 1 and an owned *f; 0 when the supervisor went away
 * (end of stream, a reset, or a frame cut short: it was killed while it
 * wrote); -1 with errno when the frame is bad.
 */
static int
stream_read(int fd, iso_msg **f)
{
	unsigned char	 hdr[WIRE_HDR];
	char		*buf;
	size_t		 len;
	int		 r;

	*f = NULL;
	if ((r = frame_read_all(fd, hdr, sizeof hdr)) != 1)
		return (r == 0 || errno == EBADMSG || errno == ECONNRESET ?
		    0 : -1);
	if (wire_frame_len(hdr, &len) == -1)
		return (-1);
	if ((buf = malloc(len)) == NULL)
		return (msg_fail(ENOMEM, "stream: out of memory"));
	if ((r = frame_read_all(fd, buf, len)) != 1) {
		free(buf);
		return (r == 0 || errno == EBADMSG || errno == ECONNRESET ?
		    0 : -1);
	}
	*f = iso_msg_decode(buf, len);
	free(buf);
	return (*f != NULL ? 1 : -1);
}

/* One frame of s's stream: 1 with an owned *f, -1 with errno. */
static int
stream_frame(iso_sup_stream *s, int timeout_ms, iso_msg **f)
{
	struct timespec	start;
	struct pollfd	pfd;
	int		r;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		if (s->fd == -1 && stream_open(s) == -1)
			return (-1);
		pfd.fd = s->fd;
		pfd.events = POLLIN;
		if ((r = poll(&pfd, 1, stream_left(timeout_ms, &start))) == -1 &&
		    errno == EINTR)
			continue;
		if (r == -1)
			return (-1);
		if (r == 0)
			return (msg_fail(ETIMEDOUT, "nothing within %d ms",
			    timeout_ms));
		if ((r = stream_read(s->fd, f)) == 1)
			return (1);
		close(s->fd);
		s->fd = -1;
		if (r == -1)
			return (msg_fail(EPROTO, "supervisor: bad frame: %s",
			    iso_error()));
		/* Gone: an events stream would miss what happens meanwhile,
		   a follow stream resumes after what it gave. */
		if (!s->follow)
			return (msg_fail(ECONNRESET, "supervisor: went away"));
	}
}

int
iso_sup_stream_next(iso_sup_stream *s, int timeout_ms, iso_msg **m)
{
	struct pollfd	 pfd;
	iso_msg		*f = NULL;
	const iso_msg	*v;
	const char	*ename = "EIO", *etext = "failed";
	uint64_t	 seq;
	int		 ok, end = 0;

	if (s == NULL || m == NULL)
		return (msg_fail(EINVAL, "stream: bad argument"));
	if (s->ended == -1)
		return (msg_fail(s->error, "stream: ended by an error"));
	if (s->ended)
		return (0);
	for (;;) {
		pfd.fd = s->fd;
		pfd.events = POLLIN;
		if (s->last - s->acked >= STREAM_ACK_EVERY ||
		    (s->fd != -1 && poll(&pfd, 1, 0) == 0))
			stream_ack(s);
		if (stream_frame(s, timeout_ms, &f) == -1)
			return (-1);
		if (iso_msg_unpack(f, "{s:b}", "ok", &ok) == 0 && !ok) {
			/* The last frame: the connection carries requests
			   again, and this stream none. */
			(void)iso_msg_unpack(f, "{s?s s?s}", "errno", &ename,
			    "error", &etext);
			s->error = sup_errno_value(ename);
			s->ended = -1;
			ok = msg_fail(s->error, "%s", etext);
			iso_msg_free(f);
			return (ok);
		}
		if (iso_msg_unpack(f, "{s:b}", "end", &end) == 0 && end) {
			/* (It comes once all given was acknowledged.) */
			iso_msg_free(f);
			s->ended = 1;
			return (0);
		}
		if (!s->follow && (v = iso_msg_get(f, "event")) != NULL)
			break;
		if (s->follow && iso_msg_unpack(f, "{s:U s:O}", "seq", &seq,
		    "message", &v) == 0) {
			if (seq <= s->last) {
				/* Had it; it is acknowledged again, or the
				   supervisor waits for that. */
				if (s->acked >= seq)
					s->acked = seq - 1;
				iso_msg_free(f);
				continue;
			}
			s->last = seq;
			break;
		}
		iso_msg_free(f);
		return (msg_fail(EPROTO, "supervisor: a bad stream frame"));
	}
	*m = iso_msg_copy(v);
	iso_msg_free(f);
	return (*m != NULL ? 1 : -1);
}

void
iso_sup_stream_close(iso_sup_stream *s)
{
	if (s == NULL)
		return;
	stream_ack(s);
	if (s->fd != -1)
		close(s->fd);
	free(s->target);
	free(s);
}
