/*
 * gwlog.c: a proxy's log (supervisor/proxies/ISO, ISO the isolate's id in
 * 16 hex digits), so that a supervisor killed with SIGKILL loses nothing
 * its proxies took from their senders: what the next supervisor finds
 * here it sends again, on the same stream with the same numbers, and the
 * receiving node drops what it had already (inbound.c).
 *
 * A record is a 4-byte big-endian length, a MessagePack array (its head)
 * and, for "batch" and "part", the bytes it carries right after it:
 *   ["proxy", 1, ISO, PID, NODE, STREAM]	the first record
 *   ["key", PORT, KEY]			a port's key came
 *   ["batch", SEQ, LAST, KEYS, EXPORTS|nil] FRAMES
 *					frames SEQ..LAST, sent as one NATS
 *					message (gateway.c's batch)
 *   ["ack", UPTO]			frames <= UPTO were delivered
 *   ["part", CONN] BYTES		the start of a frame too big to wait
 *					in sender CONN's socket: taken out of
 *					it (the last such record of CONN
 *					holds; empty once it is whole)
 * The frames of one read are written with one writev before they are
 * published, and the page cache outlives a killed supervisor (no fsync: a
 * machine that crashes loses its isolates too). A record cut short ends
 * the log: the file is truncated there.
 *
 * The gateway only peeks at its senders' sockets (SO_PEEK_OFF) and takes
 * the bytes of whole frames out of them once those are in the log. So
 * that the next supervisor knows how far a killed one got, a page of its
 * own (supervisor/proxies/taking, mapped shared: a store is in the page
 * cache at once) says, from before the log is written until the bytes
 * are taken, which connection they come from, how many, how far it had
 * peeked before, and how long the log is before and once written: the
 * log's length says whether the frames are in it (a write cut short is
 * cut back to where it began), the socket's peek offset whether they
 * were taken.
 *
 * Once a log is above GWL_COMPACT, the gateway writes a new one from
 * what it holds (gwl_create with tmp, then gwl_replace).
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "cluster.h"
#include "wire.h"

#define GWL_VERSION	1
#define GWL_DIR		"proxies"
#define GWL_TAKING	"taking"
#define GWL_IOV		64	/* records written by one commit */

struct gwlog {
	uint64_t	 iso;
	int		 fd;
	uint64_t	 size;		/* bytes in the file */
	int		 tmp;		/* named ISO.new until gwl_replace */
	int		 failed;	/* a write failed: said once */
	msgpack_sbuffer	 heads;		/* pending records' heads */
	size_t		 nrec;
	struct {
		size_t		 head_off, head_len;
		const void	*data;
		size_t		 len;
	}		 rec[GWL_IOV];
};

/* What the taking page holds. */
struct gwl_mark {
	uint64_t	 iso;
	uint64_t	 conn;
	uint64_t	 start;
	uint64_t	 end;
	uint64_t	 peeked;
	uint64_t	 took;
	uint32_t	 busy;
};

static int		 gwl_dfd = -1;
static struct gwl_mark	*gwl_mark;

int
gwl_init(const char *sdir)
{
	char	path[4096];
	int	fd;

	if (snprintf(path, sizeof path, "%s/%s", sdir, GWL_DIR) >=
	    (int)sizeof path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return (-1);
	if ((gwl_dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return (-1);
	if ((fd = openat(gwl_dfd, GWL_TAKING, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return (-1);
	if (ftruncate(fd, (off_t)sizeof *gwl_mark) == -1 ||
	    (gwl_mark = mmap(NULL, sizeof *gwl_mark, PROT_READ | PROT_WRITE,
	    MAP_SHARED, fd, 0)) == MAP_FAILED) {
		gwl_mark = NULL;
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

void
gwl_fini(void)
{
	if (gwl_mark != NULL)
		munmap(gwl_mark, sizeof *gwl_mark);
	gwl_mark = NULL;
	if (gwl_dfd != -1)
		close(gwl_dfd);
	gwl_dfd = -1;
}

void
gwl_taking(uint64_t iso, uint64_t conn, uint64_t start, uint64_t end,
    uint64_t peeked, uint64_t took)
{
	if (gwl_mark == NULL)
		return;
	gwl_mark->iso = iso;
	gwl_mark->conn = conn;
	gwl_mark->start = start;
	gwl_mark->end = end;
	gwl_mark->peeked = peeked;
	gwl_mark->took = took;
	gwl_mark->busy = 1;
}

void
gwl_taken(void)
{
	if (gwl_mark != NULL)
		gwl_mark->busy = 0;
}

int
gwl_was_taking(uint64_t *iso, uint64_t *conn, uint64_t *start,
    uint64_t *end, uint64_t *peeked, uint64_t *took)
{
	if (gwl_mark == NULL || !gwl_mark->busy)
		return (0);
	*iso = gwl_mark->iso;
	*conn = gwl_mark->conn;
	*start = gwl_mark->start;
	*end = gwl_mark->end;
	*peeked = gwl_mark->peeked;
	*took = gwl_mark->took;
	return (1);
}

static void
gwl_name(uint64_t iso, int tmp, char *buf, size_t len)
{
	snprintf(buf, len, "%016" PRIx64 "%s", iso, tmp ? ".new" : "");
}

/* Queue a record: the head packed in l->heads by the caller from
   head_off on, and data (len bytes, borrowed until gwl_commit). */
static int
gwl_queue(struct gwlog *l, size_t head_off, const void *data, size_t len)
{
	l->rec[l->nrec].head_off = head_off;
	l->rec[l->nrec].head_len = l->heads.size - head_off;
	l->rec[l->nrec].data = data;
	l->rec[l->nrec].len = len;
	l->nrec++;
	return (0);
}

static msgpack_packer
gwl_packer(struct gwlog *l, size_t *off)
{
	msgpack_packer	pk;
	unsigned char	room[WIRE_HDR] = { 0 };

	if (l->nrec == GWL_IOV)
		(void)gwl_commit(l);	/* a failure is said there */

	/* Each record's length goes in front of its head. */
	msgpack_sbuffer_write(&l->heads, (const char *)room, sizeof room);
	*off = l->heads.size;
	msgpack_packer_init(&pk, &l->heads, msgpack_sbuffer_write);
	return (pk);
}

static void
gwl_pack_str(msgpack_packer *pk, const char *s)
{
	size_t	n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

uint64_t
gwl_pending(const struct gwlog *l)
{
	uint64_t	total = 0;
	size_t		i;

	for (i = 0; i < l->nrec; i++)
		total += WIRE_HDR + l->rec[i].head_len + l->rec[i].len;
	return (total);
}

int
gwl_commit(struct gwlog *l)
{
	struct iovec	 iov[2 * GWL_IOV];
	size_t		 i, n = 0, total = 0, len;
	ssize_t		 w;
	uint64_t	 at = l->size;

	if (l->nrec == 0)
		return (0);
	for (i = 0; i < l->nrec; i++) {
		len = l->rec[i].head_len + l->rec[i].len;
		wire_frame_hdr(l->heads.data + l->rec[i].head_off - WIRE_HDR,
		    len);
		iov[n].iov_base = l->heads.data + l->rec[i].head_off - WIRE_HDR;
		iov[n++].iov_len = WIRE_HDR + l->rec[i].head_len;
		if (l->rec[i].len > 0) {
			iov[n].iov_base = (void *)l->rec[i].data;
			iov[n++].iov_len = l->rec[i].len;
		}
		total += WIRE_HDR + len;
	}
	l->nrec = 0;
	msgpack_sbuffer_clear(&l->heads);
	if (n > 2 && cl_fault_armed("gateway-half-logged")) {
		(void)pwritev(l->fd, iov, 2, (off_t)at);
		cl_fault("gateway-half-logged");
	}
	do
		w = pwritev(l->fd, iov, (int)n, (off_t)at);
	while (w == -1 && errno == EINTR);
	if (w == (ssize_t)total) {
		l->size += total;
		return (0);
	}
	/* A short write (a full disk): cut back to the last whole record. */
	if (w >= 0)
		errno = ENOSPC;
	if (!l->failed)
		log_warn("cluster: the log of the proxy of %016" PRIx64 ": %s; "
		    "its messages are sent, but a supervisor killed before "
		    "they are acknowledged loses them", l->iso,
		    strerror(errno));
	l->failed = 1;
	(void)ftruncate(l->fd, (off_t)l->size);
	return (-1);
}

struct gwlog *
gwl_create(uint64_t iso, uint32_t pid, const char *node, const char *stream,
    int tmp)
{
	struct gwlog	*l;
	msgpack_packer	 pk;
	char		 name[32];
	size_t		 off;

	if (gwl_dfd == -1) {
		errno = ENOENT;
		return (NULL);
	}
	if ((l = calloc(1, sizeof *l)) == NULL)
		return (NULL);
	l->iso = iso;
	l->tmp = tmp;
	msgpack_sbuffer_init(&l->heads);
	gwl_name(iso, tmp, name, sizeof name);
	if ((l->fd = openat(gwl_dfd, name, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		msgpack_sbuffer_destroy(&l->heads);
		free(l);
		return (NULL);
	}
	pk = gwl_packer(l, &off);
	msgpack_pack_array(&pk, 6);
	gwl_pack_str(&pk, "proxy");
	msgpack_pack_uint32(&pk, GWL_VERSION);
	msgpack_pack_uint64(&pk, iso);
	msgpack_pack_uint32(&pk, pid);
	gwl_pack_str(&pk, node);
	gwl_pack_str(&pk, stream);
	if (gwl_queue(l, off, NULL, 0) == -1 || gwl_commit(l) == -1) {
		gwl_close(l, 1);
		return (NULL);
	}
	return (l);
}

int
gwl_key(struct gwlog *l, uint32_t port, const char *key)
{
	msgpack_packer	pk;
	size_t		off;

	pk = gwl_packer(l, &off);
	msgpack_pack_array(&pk, 3);
	gwl_pack_str(&pk, "key");
	msgpack_pack_uint32(&pk, port);
	gwl_pack_str(&pk, key);
	return (gwl_queue(l, off, NULL, 0));
}

int
gwl_batch(struct gwlog *l, uint64_t seq, uint64_t last, const char *keys,
    const char *exports, const void *data, size_t len)
{
	msgpack_packer	pk;
	size_t		off;

	pk = gwl_packer(l, &off);
	msgpack_pack_array(&pk, 5);
	gwl_pack_str(&pk, "batch");
	msgpack_pack_uint64(&pk, seq);
	msgpack_pack_uint64(&pk, last);
	gwl_pack_str(&pk, keys);
	if (exports != NULL)
		gwl_pack_str(&pk, exports);
	else
		msgpack_pack_nil(&pk);
	return (gwl_queue(l, off, data, len));
}

int
gwl_ack(struct gwlog *l, uint64_t upto)
{
	msgpack_packer	pk;
	size_t		off;

	pk = gwl_packer(l, &off);
	msgpack_pack_array(&pk, 2);
	gwl_pack_str(&pk, "ack");
	msgpack_pack_uint64(&pk, upto);
	return (gwl_queue(l, off, NULL, 0));
}

int
gwl_part(struct gwlog *l, uint64_t conn, const void *data, size_t len)
{
	msgpack_packer	pk;
	size_t		off;

	pk = gwl_packer(l, &off);
	msgpack_pack_array(&pk, 2);
	gwl_pack_str(&pk, "part");
	msgpack_pack_uint64(&pk, conn);
	return (gwl_queue(l, off, data, len));
}

uint64_t
gwl_size(const struct gwlog *l)
{
	return (l->size);
}

struct gwlog *
gwl_replace(struct gwlog *old, struct gwlog *tmp)
{
	char	from[32], to[32];

	if (gwl_commit(tmp) == -1)
		goto fail;
	gwl_name(tmp->iso, 1, from, sizeof from);
	gwl_name(tmp->iso, 0, to, sizeof to);
	if (renameat(gwl_dfd, from, gwl_dfd, to) == -1)
		goto fail;
	tmp->tmp = 0;
	gwl_close(old, 0);
	return (tmp);
fail:
	gwl_close(tmp, 1);
	return (old);
}

void
gwl_close(struct gwlog *l, int remove)
{
	char	name[32];

	if (l == NULL)
		return;
	if (remove) {
		gwl_name(l->iso, l->tmp, name, sizeof name);
		(void)unlinkat(gwl_dfd, name, 0);
	} else
		(void)gwl_commit(l);
	close(l->fd);
	msgpack_sbuffer_destroy(&l->heads);
	free(l);
}

/* Is o a string equal to s? */
static int
gwl_is(const msgpack_object *o, const char *s)
{
	return (o->type == MSGPACK_OBJECT_STR &&
	    o->via.str.size == strlen(s) &&
	    memcmp(o->via.str.ptr, s, o->via.str.size) == 0);
}

/* o as a string of its own (NUL-terminated), or NULL. */
static char *
gwl_dup(const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_STR ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return (NULL);
	return (strndup(o->via.str.ptr, o->via.str.size));
}

static int
gwl_uint(const msgpack_object *o, uint64_t *v)
{
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (-1);
	*v = o->via.u64;
	return (0);
}

/* One record (head h, then data[0..len)) through ops: 0, or -1 when it is
   not one we write. */
static int
gwl_record(const msgpack_object *h, const unsigned char *data, size_t len,
    const struct gwl_ops *ops, void *arg, int first)
{
	const msgpack_object	*a;
	uint64_t		 v[3];
	char			*s1 = NULL, *s2 = NULL;
	uint32_t		 n;
	int			 rc = -1;

	if (h->type != MSGPACK_OBJECT_ARRAY || (n = h->via.array.size) == 0)
		return (-1);
	a = h->via.array.ptr;
	if (first != gwl_is(&a[0], "proxy"))
		return (-1);
	if (first) {
		if (n == 6 && gwl_uint(&a[1], &v[0]) == 0 &&
		    v[0] == GWL_VERSION && gwl_uint(&a[2], &v[1]) == 0 &&
		    gwl_uint(&a[3], &v[2]) == 0 && v[2] <= UINT32_MAX &&
		    (s1 = gwl_dup(&a[4])) != NULL &&
		    (s2 = gwl_dup(&a[5])) != NULL && len == 0)
			rc = ops->head(arg, v[1], (uint32_t)v[2], s1, s2);
	} else if (gwl_is(&a[0], "key")) {
		if (n == 3 && len == 0 && gwl_uint(&a[1], &v[0]) == 0 &&
		    v[0] <= UINT32_MAX && (s1 = gwl_dup(&a[2])) != NULL)
			rc = ops->key(arg, (uint32_t)v[0], s1);
	} else if (gwl_is(&a[0], "batch")) {
		if (n == 5 && gwl_uint(&a[1], &v[0]) == 0 &&
		    gwl_uint(&a[2], &v[1]) == 0 && v[1] >= v[0] &&
		    (s1 = gwl_dup(&a[3])) != NULL &&
		    (a[4].type == MSGPACK_OBJECT_NIL ||
		    (s2 = gwl_dup(&a[4])) != NULL))
			rc = ops->batch(arg, v[0], v[1], s1, s2, data, len);
	} else if (gwl_is(&a[0], "ack")) {
		if (n == 2 && len == 0 && gwl_uint(&a[1], &v[0]) == 0)
			rc = ops->ack(arg, v[0]);
	} else if (gwl_is(&a[0], "part")) {
		if (n == 2 && gwl_uint(&a[1], &v[0]) == 0)
			rc = ops->part(arg, v[0], data, len);
	}
	free(s1);
	free(s2);
	return (rc);
}

/* Read one log, by name, through ops. The log, open to append; NULL if it
   held nothing of use (then it is removed). */
static struct gwlog *
gwl_load(const char *name, uint64_t iso, uint64_t cut, uint64_t cut_end,
    const struct gwl_ops *ops, void *arg)
{
	struct gwlog		*l;
	struct stat		 st;
	msgpack_unpacked	 u;
	unsigned char		*p = NULL;
	size_t			 off = 0, flen, used;
	int			 fd, first = 1;

	if ((fd = openat(gwl_dfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1)
		return (NULL);
	/* The records of a write cut short go, whole ones too: the bytes
	   they hold are still in their socket, read again. */
	if (fstat(fd, &st) == 0 && cut < (uint64_t)st.st_size &&
	    (uint64_t)st.st_size < cut_end && ftruncate(fd, (off_t)cut) == 0)
		st.st_size = (off_t)cut;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_size > 0 && (p = mmap(NULL, (size_t)st.st_size, PROT_READ,
	    MAP_PRIVATE, fd, 0)) == MAP_FAILED)) {
		close(fd);
		(void)unlinkat(gwl_dfd, name, 0);
		return (NULL);
	}
	msgpack_unpacked_init(&u);
	while ((size_t)st.st_size - off >= WIRE_HDR &&
	    wire_frame_len(p + off, &flen) == 0 &&
	    (size_t)st.st_size - off - WIRE_HDR >= flen) {
		used = 0;
		if (msgpack_unpack_next(&u, (const char *)p + off + WIRE_HDR,
		    flen, &used) != MSGPACK_UNPACK_SUCCESS ||
		    gwl_record(&u.data, p + off + WIRE_HDR + used, flen - used,
		    ops, arg, first) == -1)
			break;
		first = 0;
		off += WIRE_HDR + flen;
	}
	msgpack_unpacked_destroy(&u);
	if (p != NULL)
		munmap(p, (size_t)st.st_size);
	if (first || (l = calloc(1, sizeof *l)) == NULL) {
		close(fd);
		(void)unlinkat(gwl_dfd, name, 0);
		return (NULL);
	}
	if (off < (size_t)st.st_size) {
		log_warn("cluster: the log of the proxy of %016" PRIx64 " was "
		    "cut short at byte %zu of %jd (a supervisor killed while "
		    "writing it); kept what came before", iso, off,
		    (intmax_t)st.st_size);
		(void)ftruncate(fd, (off_t)off);
	}
	l->iso = iso;
	l->fd = fd;
	l->size = off;
	msgpack_sbuffer_init(&l->heads);
	return (l);
}

int
gwl_load_all(const struct gwl_ops *ops, void *(*begin)(uint64_t iso),
    void (*end)(void *arg, struct gwlog *l), uint64_t cut_iso,
    uint64_t cut_at, uint64_t cut_end)
{
	DIR		*d;
	struct dirent	*e;
	uint64_t	 iso;
	char		*stop;
	void		*arg;
	int		 fd;

	if ((fd = dup(gwl_dfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return (-1);
	}
	while ((e = readdir(d)) != NULL) {
		if (strlen(e->d_name) == 20 &&
		    strcmp(e->d_name + 16, ".new") == 0) {
			/* A compaction that did not finish: the old log
			   stands. */
			(void)unlinkat(gwl_dfd, e->d_name, 0);
			continue;
		}
		if (strlen(e->d_name) != 16)
			continue;
		iso = strtoull(e->d_name, &stop, 16);
		if (*stop != '\0' || (arg = begin(iso)) == NULL)
			continue;
		end(arg, gwl_load(e->d_name, iso, iso == cut_iso ? cut_at :
		    UINT64_MAX, cut_end, ops, arg));
	}
	closedir(d);
	return (0);
}
