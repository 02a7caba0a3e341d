/*
 * mlog.c: a mailbox's log (ID.mbox, ID.outbox): what was put in and what
 * was acknowledged, one record appended at a time, so that a put or an
 * ack costs one write whatever the queue's depth, and a supervisor started
 * after a SIGKILL rebuilds the queue by reading it again.
 *
 * A record is framed as on the wire: a 4-byte big-endian length, then the
 * payload: a MessagePack array, the record's head, and for a put the
 * message right after it (two values back to back, as a port number and a
 * message are on an isolate's socket):
 *   ["mbox", 1, NEXT]         the first record: format 1; NEXT, the least
 *                             sequence number not yet given out
 *   ["put", SEQ] MSG          MSG, put with sequence number SEQ
 *   ["put", SEQ, REQID] MSG   the same, sent with a request id
 *   ["ack", UPTO]             every message with seq <= UPTO is gone
 *   ["ids", REQID...]         request ids of puts already gone, written by
 *                             compaction so that the window of recent ids
 *                             outlives their records
 * Heads are written and read here by hand (only the forms above), so a
 * message nested as deep as ISO_LIMIT_DEPTH allows decodes on its own.
 *
 * A record is written with one pwrite at the end before the put or ack is
 * answered: the page cache outlives a killed supervisor. There is no fsync
 * unless the mailbox asks for it (sync: fdatasync after each record, and
 * fsync of the new file and the directory around a compaction).
 *
 * Loading reads every record in order. A last record cut short (the
 * supervisor died inside its write, or the machine before the page was on
 * disk) or one that does not decode ends the log there: the file is
 * truncated to the last whole record and a line logged; what came before
 * is kept. A file that does not start with the format's first record,
 * whole, is moved aside to PATH.bad and a new log begun.
 *
 * Compaction: once the file is above 1 MiB and more than half of it lies
 * before the oldest message still held, a new file is written (the first
 * record, the window of request ids, then the bytes from that message's
 * record to the end, copied as they are) and renamed over the old one.
 * Each byte is copied at most once for each byte that died before it, so
 * the cost per put or ack stays constant.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "wire.h"

#define MLOG_VERSION	1
#define MLOG_COMPACT	(1024 * 1024)	/* smaller files are left alone */
#define MLOG_HEAD_MAX	(1 + 1 + 3 + 9 + 2 + 255)	/* put: the largest */
#define MLOG_COPY	(256 * 1024)

struct mlog {
	int		 fd;
	int		 sync;
	uint64_t	 size;		/* bytes in the file */
	uint64_t	 base;		/* logical offset of its first byte */
	unsigned char	*buf;		/* a record being written */
	size_t		 cap;
	char		 path[PATH_MAX];
};

/* ---- heads: the few MessagePack forms a record's head uses ------------ */

static unsigned char *
put_uint(unsigned char *p, uint64_t v)
{
	int	i;

	if (v < 128) {
		*p++ = (unsigned char)v;
		return (p);
	}
	*p++ = 0xcf;
	for (i = 7; i >= 0; i--)
		*p++ = (unsigned char)(v >> (8 * i));
	return (p);
}

static unsigned char *
put_str(unsigned char *p, const char *s, size_t n)
{
	if (n < 32)
		*p++ = (unsigned char)(0xa0 | n);
	else {
		*p++ = 0xd9;
		*p++ = (unsigned char)n;
	}
	memcpy(p, s, n);
	return (p + n);
}

static unsigned char *
put_array(unsigned char *p, size_t n)
{
	if (n < 16)
		*p++ = (unsigned char)(0x90 | n);
	else {
		*p++ = 0xdc;
		*p++ = (unsigned char)(n >> 8);
		*p++ = (unsigned char)n;
	}
	return (p);
}

struct rd {
	const unsigned char	*p, *end;
};

static uint64_t
be(const unsigned char *p, int n)
{
	uint64_t	v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return (v);
}

/* The next value as an array header, uint or string: 0, or -1 when it
   is something else or runs past the end. */
static int
rd_array(struct rd *r, size_t *n)
{
	if (r->p >= r->end)
		return (-1);
	if ((*r->p & 0xf0) == 0x90) {
		*n = *r->p++ & 0x0f;
		return (0);
	}
	if (*r->p == 0xdc && r->end - r->p >= 3) {
		*n = (size_t)be(r->p + 1, 2);
		r->p += 3;
		return (0);
	}
	return (-1);
}

static int
rd_uint(struct rd *r, uint64_t *v)
{
	static const int	width[] = { 1, 2, 4, 8 };
	int			w;

	if (r->p >= r->end)
		return (-1);
	if (*r->p <= 0x7f) {
		*v = *r->p++;
		return (0);
	}
	if (*r->p < 0xcc || *r->p > 0xcf)
		return (-1);
	w = width[*r->p - 0xcc];
	if (r->end - r->p < 1 + w)
		return (-1);
	*v = be(r->p + 1, w);
	r->p += 1 + w;
	return (0);
}

static int
rd_str(struct rd *r, const char **s, size_t *n)
{
	if (r->p >= r->end)
		return (-1);
	if ((*r->p & 0xe0) == 0xa0) {
		*n = *r->p++ & 0x1f;
	} else if (*r->p == 0xd9 && r->end - r->p >= 2) {
		*n = r->p[1];
		r->p += 2;
	} else
		return (-1);
	if ((size_t)(r->end - r->p) < *n)
		return (-1);
	*s = (const char *)r->p;
	r->p += *n;
	return (0);
}

/* 1 if the string just read is word. */
static int
is(const char *s, size_t n, const char *word)
{
	return (n == strlen(word) && memcmp(s, word, n) == 0);
}

/* ---- writing ------------------------------------------------------------- */

static int
mlog_room(struct mlog *l, size_t n)
{
	unsigned char	*p;
	size_t		 cap = l->cap == 0 ? 4096 : l->cap;

	if (n <= l->cap)
		return (0);
	while (cap < n)
		cap *= 2;
	if ((p = realloc(l->buf, cap)) == NULL)
		return (-1);
	l->buf = p;
	l->cap = cap;
	return (0);
}

/* All of p[0..n) at offset off of fd. 0, or -1 with errno. */
static int
pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	const char	*c = p;
	ssize_t		 w;

	while (n > 0) {
		w = pwrite(fd, c, n, (off_t)off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return (-1);
		if (w == 0) {
			errno = EIO;
			return (-1);
		}
		c += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return (0);
}

/* The record of n bytes in l->buf (its length field included) at the end
   of the file; a write that fails part way is undone. 0 or -1/errno. */
static int
mlog_write(struct mlog *l, size_t n)
{
	int	saved;

	wire_frame_hdr(l->buf, n - WIRE_HDR);
	if (pwrite_all(l->fd, l->buf, n, l->size) == -1 ||
	    (l->sync && fdatasync(l->fd) == -1)) {
		saved = errno;
		while (ftruncate(l->fd, (off_t)l->size) == -1 && errno == EINTR)
			;
		errno = saved;
		return (-1);
	}
	l->size += n;
	return (0);
}

/* The first record, into l->buf: its length. */
static size_t
mlog_first(struct mlog *l, uint64_t next)
{
	unsigned char	*p = l->buf + WIRE_HDR;

	p = put_array(p, 3);
	p = put_str(p, "mbox", 4);
	p = put_uint(p, MLOG_VERSION);
	p = put_uint(p, next);
	return ((size_t)(p - l->buf));
}

int
mlog_put(struct mlog *l, uint64_t seq, const iso_msg *m, const char *reqid,
    uint64_t *off)
{
	unsigned char	*p;
	size_t		 bound, idlen = reqid != NULL ? strlen(reqid) : 0;

	if (idlen > MLOG_REQID_MAX) {
		errno = EINVAL;
		return (-1);
	}
	if (wire_bound(m, &bound) == -1 ||
	    mlog_room(l, WIRE_HDR + MLOG_HEAD_MAX + bound) == -1)
		return (-1);
	p = l->buf + WIRE_HDR;
	p = put_array(p, reqid != NULL ? 3 : 2);
	p = put_str(p, "put", 3);
	p = put_uint(p, seq);
	if (reqid != NULL)
		p = put_str(p, reqid, idlen);
	p += wire_encode_to(m, p);
	if ((size_t)(p - l->buf) - WIRE_HDR > UINT32_MAX) {
		errno = EMSGSIZE;
		return (-1);
	}
	*off = l->base + l->size;
	return (mlog_write(l, (size_t)(p - l->buf)));
}

int
mlog_ack(struct mlog *l, uint64_t upto)
{
	unsigned char	*p;

	if (mlog_room(l, 64) == -1)
		return (-1);
	p = l->buf + WIRE_HDR;
	p = put_array(p, 2);
	p = put_str(p, "ack", 3);
	p = put_uint(p, upto);
	return (mlog_write(l, (size_t)(p - l->buf)));
}

uint64_t
mlog_end(const struct mlog *l)
{
	return (l->base + l->size);
}

void
mlog_set_sync(struct mlog *l, int sync)
{
	l->sync = sync;
}

int
mlog_wants_compact(const struct mlog *l, uint64_t from)
{
	return (l->size > MLOG_COMPACT && from - l->base > l->size / 2);
}

/* fsync the directory holding path (after a rename, with sync). */
static void
sync_dir(const char *path)
{
	char	dir[PATH_MAX];
	int	fd;

	snprintf(dir, sizeof dir, "%s", path);
	if ((fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		return;
	(void)fsync(fd);
	close(fd);
}

int
mlog_compact(struct mlog *l, uint64_t next, uint64_t from,
    const char *const *ids, size_t nids)
{
	char		 tmp[PATH_MAX + 8];
	unsigned char	*p, *chunk = NULL;
	uint64_t	 at, end, wrote;
	size_t		 n, i;
	ssize_t		 r;
	int		 fd, saved;

	if (from < l->base || from > l->base + l->size) {
		errno = EINVAL;
		return (-1);
	}
	if (snprintf(tmp, sizeof tmp, "%s.tmp", l->path) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if (mlog_room(l, WIRE_HDR + 8 + nids * (2 + MLOG_REQID_MAX)) == -1 ||
	    (chunk = malloc(MLOG_COPY)) == NULL) {
		free(chunk);
		return (-1);
	}
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1) {
		free(chunk);
		return (-1);
	}
	n = mlog_first(l, next);
	wire_frame_hdr(l->buf, n - WIRE_HDR);
	if (pwrite_all(fd, l->buf, n, 0) == -1)
		goto fail;
	wrote = n;
	if (nids > 0) {
		p = l->buf + WIRE_HDR;
		p = put_array(p, nids + 1);
		p = put_str(p, "ids", 3);
		for (i = 0; i < nids; i++)
			p = put_str(p, ids[i], strlen(ids[i]));
		n = (size_t)(p - l->buf);
		wire_frame_hdr(l->buf, n - WIRE_HDR);
		if (pwrite_all(fd, l->buf, n, wrote) == -1)
			goto fail;
		wrote += n;
	}
	/* What is still held, as it is. */
	end = l->size;
	for (at = from - l->base; at < end; at += (uint64_t)r) {
		n = end - at < MLOG_COPY ? (size_t)(end - at) : MLOG_COPY;
		do
			r = pread(l->fd, chunk, n, (off_t)at);
		while (r == -1 && errno == EINTR);
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			goto fail;
		}
		if (pwrite_all(fd, chunk, (size_t)r, wrote + at - (from -
		    l->base)) == -1)
			goto fail;
	}
	if ((l->sync && fsync(fd) == -1) || rename(tmp, l->path) == -1)
		goto fail;
	if (l->sync)
		sync_dir(l->path);
	free(chunk);
	close(l->fd);
	l->fd = fd;
	/* The record at logical offset from is now at byte wrote. */
	l->size = wrote + end - (from - l->base);
	l->base = from - wrote;
	return (0);
fail:
	saved = errno;
	close(fd);
	(void)unlink(tmp);
	free(chunk);
	errno = saved;
	return (-1);
}

/* ---- reading ------------------------------------------------------------- */

/* Begin an empty log in l->fd. 0 or -1. */
static int
mlog_begin(struct mlog *l, uint64_t next)
{
	size_t	n;

	if (ftruncate(l->fd, 0) == -1 || mlog_room(l, 64) == -1)
		return (-1);
	l->size = 0;
	n = mlog_first(l, next);
	if (mlog_write(l, n) == -1)
		return (-1);
	if (l->sync)
		sync_dir(l->path);
	return (0);
}

/*
 * Replay the records of map[0..size) through ops: the offset just past
 * the last whole record that made sense (0: the first record is not the
 * format's, or not whole: this is not a log), or -1 when ops failed
 * (ENOMEM).
 */
static int64_t
mlog_replay(struct mlog *l, const unsigned char *map, uint64_t size,
    const struct mlog_ops *ops, void *arg)
{
	struct rd	 r;
	uint64_t	 off = 0, len, seq, ver;
	const char	*s, *id;
	size_t		 n, sn, idn, i;
	char		 idbuf[MLOG_REQID_MAX + 1];
	iso_msg		*m;

	while (size - off >= WIRE_HDR) {
		len = be(map + off, WIRE_HDR);
		if (len == 0 || len > size - off - WIRE_HDR)
			break;
		r.p = map + off + WIRE_HDR;
		r.end = r.p + len;
		if (rd_array(&r, &n) == -1 || n < 1 ||
		    rd_str(&r, &s, &sn) == -1)
			break;
		if (off == 0) {
			if (!is(s, sn, "mbox") || n != 3 ||
			    rd_uint(&r, &ver) == -1 || ver != MLOG_VERSION ||
			    rd_uint(&r, &seq) == -1 || r.p != r.end)
				break;
			ops->next(arg, seq);
		} else if (is(s, sn, "put") && (n == 2 || n == 3)) {
			id = NULL;
			if (rd_uint(&r, &seq) == -1)
				break;
			if (n == 3) {
				if (rd_str(&r, &id, &idn) == -1 || idn == 0 ||
				    idn > MLOG_REQID_MAX)
					break;
				memcpy(idbuf, id, idn);
				idbuf[idn] = '\0';
				id = idbuf;
			}
			if (r.p == r.end || (m = iso_msg_decode(r.p,
			    (size_t)(r.end - r.p))) == NULL)
				break;
			if (ops->put(arg, seq, l->base + off, m, id) == -1)
				return (-1);
		} else if (is(s, sn, "ack") && n == 2) {
			if (rd_uint(&r, &seq) == -1 || r.p != r.end)
				break;
			ops->ack(arg, seq);
		} else if (is(s, sn, "ids")) {
			for (i = 1; i < n; i++) {
				if (rd_str(&r, &id, &idn) == -1 || idn == 0 ||
				    idn > MLOG_REQID_MAX)
					break;
				memcpy(idbuf, id, idn);
				idbuf[idn] = '\0';
				if (ops->id(arg, idbuf) == -1)
					return (-1);
			}
			if (i < n || r.p != r.end)
				break;
		} else
			break;
		off += WIRE_HDR + len;
	}
	return ((int64_t)off);
}

struct mlog *
mlog_open(const char *path, const struct mlog_ops *ops, void *arg)
{
	struct mlog	*l;
	struct stat	 st;
	char		 aside[PATH_MAX + 8];
	void		*map = NULL;
	int64_t		 good = 0;
	int		 saved;

	if ((l = calloc(1, sizeof *l)) == NULL)
		return (NULL);
	if (snprintf(l->path, sizeof l->path, "%s", path) >=
	    (int)sizeof l->path) {
		free(l);
		errno = ENAMETOOLONG;
		return (NULL);
	}
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (l->fd == -1 || fstat(l->fd, &st) == -1)
		goto fail;
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
		    l->fd, 0);
		if (map == MAP_FAILED) {
			map = NULL;
			goto fail;
		}
		good = mlog_replay(l, map, (uint64_t)st.st_size, ops, arg);
		munmap(map, (size_t)st.st_size);
		if (good == -1)
			goto fail;
	}
	if (st.st_size > 0 && good == 0) {
		/* Nothing of ours is lost (a first record cut short held
		   nothing), and someone else's file is kept. */
		snprintf(aside, sizeof aside, "%s.bad", path);
		log_warn("%s is not a mailbox log: moved to %s, a new one "
		    "begun", path, aside);
		close(l->fd);
		if (rename(path, aside) == -1 || (l->fd = open(path, O_RDWR |
		    O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
			goto fail;
		st.st_size = 0;
	}
	if (st.st_size == 0) {
		ops->next(arg, 1);
		if (mlog_begin(l, 1) == -1)
			goto fail;
		return (l);
	}
	if ((uint64_t)good < (uint64_t)st.st_size) {
		log_warn("%s: %" PRIu64 " bytes of a torn or damaged record at "
		    "byte %" PRId64 " dropped; the %" PRId64 " bytes before it "
		    "are kept", path, (uint64_t)st.st_size - (uint64_t)good,
		    good, good);
		if (ftruncate(l->fd, (off_t)good) == -1)
			goto fail;
	}
	l->size = (uint64_t)good;
	return (l);
fail:
	saved = errno;
	if (l->fd != -1)
		close(l->fd);
	free(l);
	errno = saved;
	return (NULL);
}

void
mlog_close(struct mlog *l, int forget)
{
	if (l == NULL)
		return;
	close(l->fd);
	if (forget)
		(void)unlink(l->path);
	free(l->buf);
	free(l);
}
