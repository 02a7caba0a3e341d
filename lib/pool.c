/*
 * pool.c: iso_pool, warm workers: fn(arg) at the cost of a round trip,
 * and many small jobs at the cost of a fraction of one.
 *
 * Each worker is an isolate forked by isolate_fork (as iso_compute's
 * child is) with a private socketpair and a shared memory region of its
 * own. It loops blocking: read a batch frame (one job or many), run each
 * fn, write each result as a record into the region, then one short
 * frame that says the batch is done. The pool gives an idle worker the
 * first queued jobs, a fair share of the queue (at most BATCH_MAX, and
 * only jobs with the same timeout), and queues the rest; the loop reads
 * the done frames (one persistent read event a worker) and calls done.
 *
 * The region is what makes a batch fail no worse than single jobs: the
 * worker marks each item begun (started, and when) and each record
 * written (done) there, so when it dies, or is killed for a timeout, in
 * the middle of a batch, the records of the items before are read from
 * the region and told as results, the item it was running fails (EIO,
 * ETIMEDOUT), and the items it had not begun go back to the head of the
 * queue: they never ran, so that is no retry. A record that does not fit
 * in what is left of the region comes inline, in a frame of its own,
 * which the pool acknowledges once it has read the region.
 *
 * Batches alternate between the region's two halves: a worker that
 * says its batch is done is sent the next at once, and the pool reads
 * the records of the last one while it runs.
 *
 * An item is fn's address (valid in the worker: it is a fork of us),
 * the argument's length and MessagePack; a queued job keeps its item in
 * a buffer of its own until it is copied into a batch. iso_pool_map's
 * items have no record each: a record stands for a range of a map's
 * items, a batch is cut from it (encoded from the caller's list, fn
 * named once for the batch), and its records are read back in one loop,
 * scalar results decoded straight into the map's list. A map's batches
 * grow past BATCH_MAX (a round trip a batch is what many tiny items
 * cost), its last ones are cut so that the workers end together, and
 * its next items are encoded ahead while the workers run, so that a
 * worker that says it is done is sent its next batch at once.
 */
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "attr.h"
#include "hot.h"
#include "loop.h"
#include "msg.h"
#include "spawn.h"
#include "wire.h"

#define ITEM_HDR	(sizeof(void *) + 4)	/* fn, the argument's length */
#define ARG_HDR		4			/* ... in a BATCH_ONEFN batch */
#define BATCH_HDR	(WIRE_HDR + 5)		/* length, count, flags */
#define REC_HDR		5			/* tag, length */
#define BUF_START	4096
#define BATCH_MAX	1024			/* jobs in one batch */
#define MAP_BATCH_MAX	16384			/* ... of a map's items */
#define BATCH_BYTES	(256 * 1024)		/* items' bytes in one batch,
						   unless the first alone */
#define SHM_SIZE	(1024 * 1024)
#define FRAME_SLACK	64			/* our headers above the limit */

#define BATCH_TIMED	0x1	/* flag: the items have a timeout */
#define BATCH_HALF	0x2	/* flag: records go to the region's second
				   half (batches alternate halves) */
#define BATCH_ONEFN	0x4	/* flag: one fn for every item, after the
				   flags; an item is only ARG_HDR and the
				   argument (a map's batch) */

/* Record tags, and the tags of frames from a worker. */
#define RES_OK		0	/* the result follows */
#define RES_NULL	1	/* fn returned NULL */
#define RES_UNSENDABLE	2	/* why (a string) follows */
#define FR_DONE		3	/* the batch is done: its records are in the
				   region */
#define FR_INLINE	0x80	/* | a record tag: this item's record is here,
				   those before it in the region; ack it */

typedef iso_msg *(*pool_fn)(const iso_msg *);
typedef void (*pool_done)(int, iso_msg *, void *);

/* A worker's region: written by the worker, read by the pool. */
struct pool_shm {
	uint32_t		 started;	/* items of the batch begun */
	uint32_t		 done;		/* ... and recorded */
	int64_t			 t0;		/* when the last began (ns,
						   CLOCK_MONOTONIC; timed) */
	char			 pad[48];
	char			 data[];	/* records of items told.. */
};
#define SHM_DATA	(SHM_SIZE - offsetof(struct pool_shm, data))
#define SHM_HALF	(SHM_DATA / 2)

struct pool_map;

struct pool_job {
	pool_fn			 fn;
	pool_done		 done;
	void			*ud;
	char			*frame;		/* queued: its item (owned) */
	size_t			 len;		/* the item's size */
	size_t			 off;		/* sent: its item in w->out */
	int			 timeout_ms;
	int			 err;		/* to be told: why, or 0 and */
	iso_msg			*result;	/* ... this (owned) */
	char			*why;		/* owned */
	struct pool_map		*map;		/* items of this map, or NULL */
	size_t			 idx;		/* ... the first */
	size_t			 count;		/* ... how many (a job: 1) */
	STAILQ_ENTRY(pool_job)	 link;
};
STAILQ_HEAD(pool_jobs, pool_job);

/*
 * An iso_pool_map call: its items are queued a window at a time (a
 * record for a range of them), encoded from the caller's list when sent,
 * and told into one result list. It holds the loop until its last item
 * is told. An orphan is a map whose caller has gone (the loop failed):
 * what runs still is told into it, nothing is sent.
 */
struct pool_map {
	const iso_msg		*args;		/* the caller's; NULL: orphan */
	uint64_t		 seq;		/* which map of the pool */
	pool_fn			 fn;
	int			 timeout_ms;
	size_t			 n;
	size_t			 cut;		/* its next batches' most items */
	size_t			 chunk;		/* ... which grows up to this */
	size_t			 next;		/* items not queued yet: next.. */
	size_t			 left;		/* not told yet */
	iso_msg			*results;	/* owned until returned */
	int			*errs;		/* the caller's, or NULL */
	size_t			 failed;
	size_t			 first;		/* the first failed item */
	int			 first_err;
	char			 why[256];	/* ... and why */
	int			 done;		/* left == 0 */
};

struct pool_worker {
	iso_pool		*pool;
	iso_isolate		*iso;		/* NULL: no worker here now */
	int			 fd;		/* our end; -1 with iso */
	struct event		*ev;		/* fd readable */
	struct event		*timer;		/* the batch's timeout */
	struct pool_shm		*shm;		/* its region; NULL: none */
	struct pool_shm		*old;		/* a region still being read,
						   to unmap then; or NULL */
	int			 reading;	/* the pool reads shm now */
	int			 half;		/* the batch's records: in the
						   second half of the region */
	struct pool_jobs	 batch;		/* sent, not yet read back */
	int			 nbatch;	/* 0: idle */
	uint32_t		 told;		/* items read back */
	int			 timeout_ms;	/* the batch's */
	char			*out;		/* the batch as sent */
	size_t			 cap;
};

/*
 * Items of a map encoded ahead, while the workers run, so that a worker
 * that asks for its next batch is sent it without waiting for its
 * encoding: map seq's items first..end-1, at buf + off, as items of a
 * BATCH_ONEFN batch. Only a cache:
 * the items are queued as ever, and one sent from elsewhere (requeued,
 * cut differently) makes the next fill start again.
 */
struct pool_ahead {
	uint64_t		 seq;
	size_t			 first;
	size_t			 end;
	char			*buf;
	size_t			 off;
	size_t			 len;
	size_t			 cap;
};

struct iso_pool {
	uint64_t		 owner;		/* the isolate that made it */
	iso_spawn_attr		*attr;		/* the workers', owned; NULL */
	int			 n;		/* workers wanted */
	int			 live;		/* workers there */
	struct pool_worker	*w;
	struct pool_jobs	 queue;		/* waiting for a worker */
	struct pool_jobs	 tells;		/* ended, done not yet called */
	struct pool_jobs	 spare;		/* recycled records */
	size_t			 queued;	/* items in queue */
	size_t			 max_queue;
	size_t			 jobs;		/* accepted, done not yet called */
	int			 empty;		/* jobs == 0, for loop_wait */
	int			 depth;		/* inside our callbacks */
	int			 freeing;	/* iso_pool_free was called */
	int			 waiting;	/* ... and runs the loop */
	struct event		*tell_ev;	/* calls done for p->tells */
	struct pool_map		*map;		/* a map feeding the queue */
	uint64_t		 maps;		/* maps begun */
	struct pool_ahead	 ahead;
	char			*buf;		/* frames read here */
	size_t			 cap;
	LIST_ENTRY(iso_pool)	 link;
};

static LIST_HEAD(, iso_pool)	pools = LIST_HEAD_INITIALIZER(pools);

static void	pool_kick(iso_pool *);
static size_t	pool_map_cancel(iso_pool *, int, const char *);
static void	pool_map_feed(iso_pool *);
struct pool_worker;
struct pool_jobs;
static void	pool_lost(iso_pool *, struct pool_worker *, int,
		    const char *, struct pool_jobs *);
static void	pool_map_left(struct pool_map *, size_t);
static void	pool_settle(iso_pool *);

ISO_HOT void
pool_forget(void)
{
	/* Our spawner's pools are its own: their descriptors are closed,
	   their regions not mapped here, their memory left as it is. */
	loop_keep(LIST_FIRST(&pools));
	LIST_INIT(&pools);
}

static void
pool_put32(char *p, uint32_t v)
{
	memcpy(p, &v, sizeof v);
}

static uint32_t
pool_get32(const char *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof v);
	return (v);
}

static int64_t
pool_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
}

/* *buf holds at least need bytes. 0 or -1/ENOMEM. */
static int
pool_room(char **buf, size_t *cap, size_t need)
{
	size_t	 c = *cap != 0 ? *cap : BUF_START;
	char	*b;

	if (need <= *cap)
		return (0);
	while (c < need)
		c *= 2;
	if ((b = realloc(*buf, c)) == NULL)
		return (msg_fail(ENOMEM, "pool: out of memory"));
	*buf = b;
	*cap = c;
	return (0);
}

/*
 * One whole frame from a blocking descriptor into *buf (grown): what one
 * read gives, then the rest. Frames alternate on a worker's pair, so
 * nothing follows one. 1 and *len (the payload's), 0 at end of stream,
 * -1 with errno.
 */
static int
pool_read_frame(int fd, char **buf, size_t *cap, size_t *len)
{
	size_t	have = 0, need = WIRE_HDR;
	ssize_t	r;

	if (pool_room(buf, cap, BUF_START) == -1)
		return (-1);
	while (have < need) {
		r = read(fd, *buf + have, (have < WIRE_HDR ? *cap : need) -
		    have);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (r == 0)
			return (have == 0 ? 0 :
			    msg_fail(EBADMSG, "pool: truncated frame"));
		have += (size_t)r;
		if (have >= WIRE_HDR && need == WIRE_HDR) {
			*len = (size_t)(unsigned char)(*buf)[0] << 24 |
			    (size_t)(unsigned char)(*buf)[1] << 16 |
			    (size_t)(unsigned char)(*buf)[2] << 8 |
			    (unsigned char)(*buf)[3];
			if (*len == 0 || *len > msg_limit_frame + FRAME_SLACK)
				return (msg_fail(EBADMSG, "pool: a frame of "
				    "%zu bytes", *len));
			need = WIRE_HDR + *len;
			if (have > need)
				return (msg_fail(EBADMSG, "pool: bytes after "
				    "a frame"));
			if (pool_room(buf, cap, need) == -1)
				return (-1);
		}
	}
	return (1);
}

/* A frame of one byte, tag. 0 or -1. */
static int
pool_write_tag(int fd, int tag)
{
	char	f[WIRE_HDR + 1];

	wire_frame_hdr(f, 1);
	f[WIRE_HDR] = (char)tag;
	return (frame_write_all(fd, f, sizeof f));
}

/* Arguments and results cross in shared memory, where no descriptor can
   go. */
#define POOL_NO_FDS	"pool: a descriptor cannot go to or from a pool " \
			"worker (use iso_compute or a port)"

/* ---- the worker ---------------------------------------------------------- */

/*
 * r's record (tag, length, MessagePack) at dst if it fits in room: its
 * size; 0 when it does not fit; -1 with iso_error() when r cannot be
 * sent.
 */
static ssize_t
pool_record(char *dst, size_t room, const iso_msg *r, int tag)
{
	size_t	bound = 0, n = 0;

	if (r != NULL && (r->flags & MSG_FDS))
		return (msg_fail(EINVAL, POOL_NO_FDS));
	if (r != NULL && room >= REC_HDR + WIRE_SCALAR_MAX &&
	    (n = wire_encode_scalar(r, dst + REC_HDR)) > 0)
		goto done;	/* no measure first: it fits */
	if (r != NULL && wire_bound(r, &bound) == -1)
		return (-1);
	if (REC_HDR + bound > room)
		return (0);
	if (r != NULL)
		n = wire_encode_to(r, dst + REC_HDR);
	if (tag == RES_OK && 1 + n > msg_limit_frame)
		return (msg_fail(EMSGSIZE, "%zu bytes, more than the frame "
		    "limit of %zu", n, msg_limit_frame));
done:
	dst[0] = (char)tag;
	pool_put32(dst + 1, (uint32_t)n);
	return ((ssize_t)(REC_HDR + n));
}

/*
 * In the worker: r's record for item i (tag RES_OK or RES_NULL) into the
 * region at *used, else inline (then acknowledged, and the region begins
 * again). 0, or -1 when the worker must end.
 */
static int
pool_put_result(int fd, struct pool_shm *shm, char *base, size_t *used,
    char **out,
    size_t *cap, uint32_t i, const iso_msg *r, int tag)
{
	iso_msg	*why = NULL;
	ssize_t	 n;
	size_t	 len, bound = 0;
	int	 rc = -1;

	if ((n = pool_record(base + *used, SHM_HALF - *used, r,
	    tag)) == -1) {
		if ((why = iso_msg_pack("s", iso_error())) == NULL)
			return (-1);
		r = why;
		tag = RES_UNSENDABLE;
		n = pool_record(base + *used, SHM_HALF - *used, r, tag);
	}
	if (n > 0) {
		*used += (size_t)n;
		__atomic_store_n(&shm->done, i + 1, __ATOMIC_RELEASE);
		iso_msg_free(why);
		return (0);
	}
	if (n == -1 || (r != NULL && wire_bound(r, &bound) == -1) ||
	    pool_room(out, cap, WIRE_HDR + REC_HDR + bound) == -1 ||
	    (n = pool_record(*out + WIRE_HDR, REC_HDR + bound, r, tag)) <= 0)
		goto out;
	wire_frame_hdr(*out, (size_t)n);
	(*out)[WIRE_HDR] |= (char)FR_INLINE;
	if (frame_write_all(fd, *out, WIRE_HDR + (size_t)n) == -1 ||
	    pool_read_frame(fd, out, cap, &len) != 1)
		goto out;
	*used = 0;
	__atomic_store_n(&shm->done, i + 1, __ATOMIC_RELEASE);
	rc = 0;
out:
	iso_msg_free(why);
	return (rc);
}

struct pool_start {
	int		 fd;
	struct pool_shm	*shm;
};

/* In the worker: batches until the pool closes its end. */
static void
pool_worker_main(void *ctx)
{
	struct pool_start	*st = ctx;
	struct pool_shm		*shm = st->shm;
	iso_msg			*arg, *r, scalar;
	pool_fn			 fn = NULL;
	char			*buf = NULL, *out = NULL, *base;
	size_t			 cap = 0, ocap = 0, len, off, end, used, ih;
	uint32_t		 count, i, alen;
	int			 fd = st->fd, rc, timed, onefn;

	(void)loop_fd_own(fd);	/* an isolate fn spawns must not keep it */
	(void)madvise(shm, SHM_SIZE, MADV_DONTFORK);	/* nor the region */
	while ((rc = pool_read_frame(fd, &buf, &cap, &len)) == 1) {
		if (len < BATCH_HDR - WIRE_HDR)
			break;
		count = pool_get32(buf + WIRE_HDR);
		timed = buf[WIRE_HDR + 4] & BATCH_TIMED;
		base = shm->data + (buf[WIRE_HDR + 4] & BATCH_HALF ? SHM_HALF :
		    0);
		off = BATCH_HDR;
		end = WIRE_HDR + len;
		if ((onefn = buf[WIRE_HDR + 4] & BATCH_ONEFN)) {
			if (end - off < sizeof fn)
				break;
			memcpy(&fn, buf + off, sizeof fn);
			off += sizeof fn;
		}
		ih = onefn ? ARG_HDR : ITEM_HDR;
		used = 0;
		__atomic_store_n(&shm->started, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&shm->done, 0, __ATOMIC_RELEASE);
		for (i = 0; i < count; i++) {
			if (end - off < ih)
				goto bad;
			if (!onefn)
				memcpy(&fn, buf + off, sizeof fn);
			alen = pool_get32(buf + off + ih - ARG_HDR);
			off += ih;
			if (alen > end - off)
				goto bad;
			arg = NULL;
			if (alen > 0 && wire_decode_scalar(buf + off, alen,
			    &scalar))
				arg = &scalar;	/* no block to allocate */
			else if (alen > 0 && (arg = iso_msg_decode(buf + off,
			    alen)) == NULL)
				goto bad;
			off += alen;
			if (timed)
				shm->t0 = pool_now_ns();
			__atomic_store_n(&shm->started, i + 1,
			    __ATOMIC_RELEASE);
			r = fn(arg);
			if (arg != &scalar)
				iso_msg_free(arg);
			rc = pool_put_result(fd, shm, base, &used, &out, &ocap,
			    i, r,
			    r != NULL ? RES_OK : RES_NULL);
			iso_msg_free(r);
			if (rc == -1)
				goto bad;
		}
		if (pool_write_tag(fd, FR_DONE) == -1)
			goto bad;
	}
bad:
	free(out);
	free(buf);
	loop_fd_close(fd);
	loop_exit(rc == 0 ? 0 : 1);
}

/* ---- workers, from the pool's side -------------------------------------- */

static void	pool_read_cb(evutil_socket_t, short, void *);
static void	pool_timeout_cb(evutil_socket_t, short, void *);

/* Fork a worker into slot w, with a new region. 0, or -1 with
   iso_error(). */
static int
pool_worker_start(iso_pool *p, struct pool_worker *w)
{
	struct event_base	*base;
	struct pool_start	 st;
	int			 sv[2], saved;

	if ((base = loop_base()) == NULL)
		return (-1);
	if (w->shm != NULL && w->reading && w->old == NULL)
		w->old = w->shm;	/* unmapped once read */
	else if (w->shm != NULL)
		(void)munmap(w->shm, SHM_SIZE);
	w->half = 0;
	w->shm = mmap(NULL, SHM_SIZE, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (w->shm == MAP_FAILED) {
		w->shm = NULL;
		return (msg_fail(errno, "pool: mmap: %m"));
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return (msg_fail(errno, "pool: socketpair: %m"));
	if (loop_fd_own(sv[0]) == -1) {
		close(sv[0]);
		close(sv[1]);
		return (-1);
	}
	st.fd = sv[1];
	st.shm = w->shm;
	if (isolate_fork(pool_worker_main, &st, 0, p->attr,
	    (const void *)(uintptr_t)pool_worker_main, &w->iso) == -1) {
		saved = errno;
		loop_fd_close(sv[0]);
		close(sv[1]);
		errno = saved;
		return (-1);
	}
	close(sv[1]);
	/* Only this worker has it: not the next workers, nor isolates. */
	(void)madvise(w->shm, SHM_SIZE, MADV_DONTFORK);
	w->fd = sv[0];
	if (w->ev == NULL && (w->ev = event_new(base, -1, 0, NULL, NULL)) ==
	    NULL)
		goto fail;
	if (w->timer == NULL && (w->timer = evtimer_new(base,
	    pool_timeout_cb, w)) == NULL)
		goto fail;
	if (event_assign(w->ev, base, w->fd, EV_READ | EV_PERSIST,
	    pool_read_cb, w) == -1 || event_add(w->ev, NULL) == -1)
		goto fail;
	p->live++;
	return (0);
fail:
	(void)iso_kill(w->iso, ISO_IMMEDIATE);
	iso_isolate_free(w->iso);
	w->iso = NULL;
	loop_fd_close(w->fd);
	w->fd = -1;
	return (msg_fail(ENOMEM, "pool: out of memory"));
}

static void	pool_why(char *, size_t, int, int, const char *);

/*
 * Worker w has died, or is to die (kill): reap it and empty the slot.
 * why (len bytes; NULL: not wanted) says how it ended. Its batch, and
 * its region, are the caller's until the slot is filled again.
 */
static void
pool_worker_end(iso_pool *p, struct pool_worker *w, char *why, size_t len)
{
	int	c = 0, s = 0;

	event_del(w->ev);
	evtimer_del(w->timer);
	loop_fd_close(w->fd);
	w->fd = -1;
	/* At end of stream it has begun to exit, and SIGKILL does not
	   change how: unless fn closed our descriptor, which this ends. */
	(void)iso_kill(w->iso, ISO_IMMEDIATE);
	(void)isolate_wait(w->iso, &c, &s);
	if (why != NULL)
		pool_why(why, len, c, s, isolate_note_detail(w->iso));
	iso_isolate_free(w->iso);
	w->iso = NULL;
	p->live--;
}

/* Replace what has died; 0 if at least one worker is there. */
static int
pool_refill(iso_pool *p)
{
	int	i;

	for (i = 0; i < p->n && p->live < p->n; i++)
		if (p->w[i].iso == NULL)
			(void)pool_worker_start(p, &p->w[i]);
	return (p->live > 0 ? 0 : -1);
}

/* ---- jobs ---------------------------------------------------------------- */

static struct pool_job *
pool_job_new(iso_pool *p)
{
	struct pool_job	*job;

	if ((job = STAILQ_FIRST(&p->spare)) != NULL)
		STAILQ_REMOVE_HEAD(&p->spare, link);
	else if ((job = malloc(sizeof *job)) == NULL) {
		msg_fail(ENOMEM, "pool: out of memory");
		return (NULL);
	}
	job->frame = NULL;
	job->result = NULL;
	job->why = NULL;
	job->err = 0;
	job->map = NULL;
	job->count = 1;
	return (job);
}

/* Set job's outcome: a result (owned), or err and why. */
static void
pool_outcome(struct pool_job *job, int err, iso_msg *result,
    const char *why)
{
	job->err = err;
	job->result = result;
	free(job->why);
	job->why = err != 0 ? strdup(why != NULL ? why : "pool: failed") :
	    NULL;
}

/*
 * Call job's done with its outcome (iso_error() set to why), then
 * recycle the record. The record is recycled first: done may submit.
 * A map's range: each of its items is told the outcome.
 */
static void	pool_map_told(iso_pool *, struct pool_map *, size_t, int,
		    iso_msg *, const char *);

static void
pool_tell(iso_pool *p, struct pool_job *job)
{
	pool_done	 done = job->done;
	void		*ud = job->ud;
	iso_msg		*result = job->result;
	struct pool_map	*map = job->map;
	size_t		 idx = job->idx, count = job->count, i;
	int		 err = job->err;

	free(job->frame);
	job->frame = NULL;
	if (err != 0)
		msg_fail(err, "%s", job->why != NULL ? job->why :
		    "pool: out of memory");
	free(job->why);
	job->why = NULL;
	job->result = NULL;
	STAILQ_INSERT_HEAD(&p->spare, job, link);
	p->jobs -= count;
	p->empty = p->jobs == 0;
	p->depth++;
	if (map != NULL) {
		/* the last may free an orphan map: nothing of it after */
		for (i = 0; i < count; i++)
			pool_map_told(p, map, idx + i, err, i == 0 ? result :
			    NULL, err != 0 ? iso_error() : NULL);
	} else {
		loop_unhold();
		if (done != NULL)
			done(err, result, ud);
		else
			iso_msg_free(result);
	}
	p->depth--;
}

/* Tell the jobs of list, in order (the list is emptied). */
static void
pool_tell_all(iso_pool *p, struct pool_jobs *list)
{
	struct pool_job	*job;

	while ((job = STAILQ_FIRST(list)) != NULL) {
		STAILQ_REMOVE_HEAD(list, link);
		pool_tell(p, job);
	}
}

/* Tell job later, from the loop (never from inside a call of ours). */
static void
pool_tell_later(iso_pool *p, struct pool_job *job, int err, const char *why)
{
	pool_outcome(job, err, NULL, why);
	STAILQ_INSERT_TAIL(&p->tells, job, link);
	event_active(p->tell_ev, EV_TIMEOUT, 1);
}

static void
pool_tell_cb(evutil_socket_t fd, short what, void *arg)
{
	iso_pool	*p = arg;
	struct pool_job	*job;

	(void)fd;
	(void)what;
	p->depth++;
	while ((job = STAILQ_FIRST(&p->tells)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->tells, link);
		pool_tell(p, job);
	}
	p->depth--;
	pool_settle(p);
}

/* Put the jobs of list back at the head of the queue, in order. */
static void
pool_requeue(iso_pool *p, struct pool_jobs *list)
{
	struct pool_job	*job;

	STAILQ_FOREACH(job, list, link)
		p->queued += job->count;
	STAILQ_CONCAT(list, &p->queue);
	STAILQ_CONCAT(&p->queue, list);
}

static void
pool_arm(struct pool_worker *w, int ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(w->timer, &tv);
}

/*
 * Encode map's items from item from (at most max) at *buf + *len (grown;
 * *len moved past them) while *len stays within limit, unless first
 * (then the first item in any case). How many; *stop says why fewer
 * than max: 1 the limit or out of memory, -1 the next item cannot be
 * sent (errno and iso_error()).
 */
static size_t
pool_map_encode(char **buf, size_t *cap, size_t *len, size_t limit,
    int first, int onefn, const struct pool_map *map, size_t from,
    size_t max, int *stop)
{
	const iso_msg	*arg = map->args->v.items + from;
	size_t		 k, n, bound = 0, off = *len;
	size_t		 ih = onefn ? ARG_HDR : ITEM_HDR;
	pool_fn		 fn = map->fn;

	*stop = 0;
	for (k = 0; k < max; k++, arg++) {
		if (pool_room(buf, cap, off + ih + WIRE_SCALAR_MAX) == -1) {
			*stop = 1;
			break;
		}
		if (arg->type == ISO_INT && arg->flags == 0 &&
		    (uint64_t)arg->v.i <= 0x7f) {
			/* a positive fixint: the value is the byte */
			(*buf)[off + ih] = (char)arg->v.i;
			n = 1;
		} else if ((n = wire_encode_scalar(arg, *buf + off + ih)) ==
		    0) {
			if (wire_bound(arg, &bound) == -1) {
				*stop = -1;
				break;
			}
			if (pool_room(buf, cap, off + ih + bound) == -1) {
				*stop = 1;
				break;
			}
			n = wire_encode_to(arg, *buf + off + ih);
			if (sizeof fn + n > msg_limit_frame) {
				msg_fail(EMSGSIZE, "pool: %zu bytes, more "
				    "than the frame limit of %zu", n,
				    msg_limit_frame);
				*stop = -1;
				break;
			}
		}
		if ((k > 0 || !first) && off + ih + n > limit) {
			*stop = 1;
			break;
		}
		if (!onefn)
			memcpy(*buf + off, &fn, sizeof fn);
		pool_put32(*buf + off + ih - ARG_HDR, (uint32_t)n);
		off += ih + n;
	}
	*len = off;
	return (k);
}

/*
 * The items of map range job encoded ahead, from its first (at most
 * max), copied to w->out + *len as pool_map_encode would. How many;
 * *stop as pool_map_encode's (0 also when the cache has no more).
 */
static size_t
pool_ahead_take(iso_pool *p, struct pool_worker *w, size_t *len,
    int first, const struct pool_job *job, size_t max, int *stop)
{
	struct pool_ahead	*a = &p->ahead;
	const char		*src = a->buf + a->off, *it = src;
	size_t			 k, n, bytes = 0;

	*stop = 0;
	if (a->seq != job->map->seq || a->first != job->idx)
		return (0);
	if (max > job->count)
		max = job->count;
	if (max > a->end - a->first)
		max = a->end - a->first;
	for (k = 0; k < max; k++) {
		n = ARG_HDR + pool_get32(it);
		if ((k > 0 || !first) && *len + bytes + n > BATCH_BYTES) {
			*stop = 1;
			break;
		}
		bytes += n;
		it += n;
	}
	if (k > 0 && pool_room(&w->out, &w->cap, *len + bytes) == -1) {
		*stop = 1;
		return (0);
	}
	memcpy(w->out + *len, src, bytes);
	*len += bytes;
	a->first += k;
	a->off += bytes;
	return (k);
}

/*
 * Encode ahead the items of the map whose range heads the queue, from
 * that range on, in order (they are queued in order): what the workers
 * take in their next batches.
 */
static void
pool_ahead_fill(iso_pool *p)
{
	struct pool_ahead	*a = &p->ahead;
	struct pool_job		*job = STAILQ_FIRST(&p->queue);
	struct pool_map		*map;
	size_t			 want;
	int			 stop;

	if (job == NULL || (map = job->map) == NULL || map->args == NULL)
		return;
	if (a->seq != map->seq || a->first != job->idx) {
		a->seq = map->seq;
		a->first = a->end = job->idx;
		a->off = a->len = 0;
	}
	want = map->cut * (size_t)p->n;
	if (want > map->n - a->first)
		want = map->n - a->first;
	if (a->end - a->first >= want)
		return;
	if (a->first == a->end)
		a->off = a->len = 0;
	else if (a->off > a->cap / 2) {
		memmove(a->buf, a->buf + a->off, a->len - a->off);
		a->len -= a->off;
		a->off = 0;
	}
	a->end += pool_map_encode(&a->buf, &a->cap, &a->len, SIZE_MAX, 0, 1,
	    map, a->end, a->first + want - a->end, &stop);
}

/*
 * The first k items of queued range job go to w's batch: the record
 * itself when they are all of it, else a new one for them. 0, or -1
 * (out of memory: they stay queued).
 */
static int
pool_map_cut(iso_pool *p, struct pool_worker *w, struct pool_job *job,
    size_t k)
{
	struct pool_job	*cut;

	if (k == job->count) {
		STAILQ_REMOVE_HEAD(&p->queue, link);
		cut = job;
	} else {
		if ((cut = pool_job_new(p)) == NULL)
			return (-1);
		*cut = *job;
		cut->count = k;
		job->idx += k;
		job->count -= k;
	}
	STAILQ_INSERT_TAIL(&w->batch, cut, link);
	p->queued -= k;
	return (0);
}

/*
 * How many of map's items idle worker w takes: what is left to run
 * (those not sent, and those the other workers have not run yet) over
 * the workers, so that the last batches end together; at most map->cut,
 * which doubles each batch up to map->chunk.
 */
static size_t
pool_map_share(iso_pool *p, struct pool_worker *w, struct pool_map *map)
{
	struct pool_worker	*o;
	size_t			 unsent, left, share;
	uint32_t		 done;
	int			 i;

	unsent = p->queued + (p->map == map ? map->n - map->next : 0);
	left = unsent;
	for (i = 0; i < p->n; i++) {
		o = &p->w[i];
		if (o == w || o->iso == NULL || o->nbatch == 0)
			continue;
		done = __atomic_load_n(&o->shm->done, __ATOMIC_RELAXED);
		if (done < (uint32_t)o->nbatch)
			left += (uint32_t)o->nbatch - done;
	}
	share = (left + (size_t)p->live - 1) / (size_t)p->live;
	if (share > unsent)
		share = unsent;
	if (share > map->cut)
		share = map->cut;
	if ((map->cut *= 2) > map->chunk)
		map->cut = map->chunk;
	return (share > 0 ? share : 1);
}

/*
 * Send idle worker w a batch: the first queued jobs with the timeout of
 * the first, a fair share of the queue. 0, or -1 when w has gone (it is
 * then ended, the jobs back in the queue: they never ran).
 */
static int
pool_dispatch(iso_pool *p, struct pool_worker *w)
{
	struct pool_job	*job;
	struct pool_map	*map;
	size_t		 share, k, idx, len = BATCH_HDR, start;
	uint32_t	 count = 0;
	int		 tmo = 0, stop, err, onefn = 0;
	pool_fn		 fn = NULL;

	share = (p->queued + (size_t)p->live - 1) / (size_t)p->live;
	if (share > BATCH_MAX)
		share = BATCH_MAX;
	if ((job = STAILQ_FIRST(&p->queue)) != NULL &&
	    (map = job->map) != NULL) {
		share = pool_map_share(p, w, map);
		onefn = 1;
		fn = job->fn;
		if (pool_room(&w->out, &w->cap, BATCH_HDR + sizeof fn) == -1)
			return (0);		/* told nothing: later */
		memcpy(w->out + BATCH_HDR, &fn, sizeof fn);
		len += sizeof fn;
	}
	while ((job = STAILQ_FIRST(&p->queue)) != NULL && count < share) {
		if (count == 0)
			tmo = job->timeout_ms;
		else if (job->timeout_ms != tmo)
			break;
		if (onefn && (job->map == NULL || job->fn != fn))
			break;
		if (job->map != NULL) {
			/* a map's items: encoded here, from its list */
			start = len;
			k = 0;
			stop = 0;
			if (onefn)
				k = pool_ahead_take(p, w, &len, count == 0,
				    job, share - count, &stop);
			if (k == 0 && stop == 0)
				k = pool_map_encode(&w->out, &w->cap, &len,
				    BATCH_BYTES, count == 0, onefn, job->map,
				    job->idx, share - count < job->count ?
				    share - count : job->count, &stop);
			err = errno;
			if (k > 0 && pool_map_cut(p, w, job, k) == -1) {
				len = start;
				k = 0;
				stop = 1;
			}
			count += (uint32_t)k;
			if (stop == -1) {
				/* that item fails alone, from here */
				map = job->map;
				idx = job->idx;
				if (--job->count == 0) {
					STAILQ_REMOVE_HEAD(&p->queue, link);
					STAILQ_INSERT_HEAD(&p->spare, job,
					    link);
				} else
					job->idx++;
				p->queued--;
				p->jobs--;
				pool_map_told(p, map, idx, err, NULL,
				    iso_error());
				p->empty = p->jobs == 0;
				continue;
			}
			if (stop == 1) {
				if (count == 0)
					return (0);	/* told nothing: later */
				break;
			}
			continue;
		}
		if (count > 0 && len + job->len > BATCH_BYTES)
			break;
		if (pool_room(&w->out, &w->cap, len + job->len) == -1) {
			if (count == 0)
				return (0);	/* told nothing: later */
			break;
		}
		memcpy(w->out + len, job->frame, job->len);
		job->off = len;
		len += job->len;
		STAILQ_REMOVE_HEAD(&p->queue, link);
		STAILQ_INSERT_TAIL(&w->batch, job, link);
		p->queued--;
		count++;
	}
	if (count == 0)
		return (0);	/* what there was failed: told */
	wire_frame_hdr(w->out, len - WIRE_HDR);
	pool_put32(w->out + WIRE_HDR, count);
	w->half = !w->half;
	w->out[WIRE_HDR + 4] = (tmo > 0 ? BATCH_TIMED : 0) |
	    (w->half ? BATCH_HALF : 0) | (onefn ? BATCH_ONEFN : 0);
	w->shm->started = w->shm->done = 0;	/* the worker's now */
	if (frame_write_all(w->fd, w->out, len) == -1) {
		pool_worker_end(p, w, NULL, 0);
		pool_requeue(p, &w->batch);
		return (-1);
	}
	STAILQ_FOREACH(job, &w->batch, link) {
		free(job->frame);
		job->frame = NULL;
	}
	w->nbatch = (int)count;
	w->told = 0;
	w->timeout_ms = tmo;
	if (tmo > 0)
		pool_arm(w, tmo);
	return (0);
}

/*
 * Item idx of map is told (result owned): into its slot, or its error
 * (why) into errs and the map's first failure. The last frees an
 * orphan.
 */
static void
pool_map_told(iso_pool *p, struct pool_map *map, size_t idx, int err,
    iso_msg *result, const char *why)
{
	(void)p;
	if (result != NULL && map->results != NULL)
		msg_list_set(map->results, idx, result);
	else
		iso_msg_free(result);	/* NULL: in its slot already */
	if (err != 0) {
		if (map->errs != NULL)
			map->errs[idx] = err;
		if (map->failed++ == 0 || idx < map->first) {
			map->first = idx;
			map->first_err = err;
			snprintf(map->why, sizeof map->why, "%s",
			    why != NULL ? why : "pool: failed");
		}
	}
	pool_map_left(map, 1);
}

/* k items of map fewer to tell; the last frees an orphan. */
static void
pool_map_left(struct pool_map *map, size_t k)
{
	if ((map->left -= k) > 0)
		return;
	map->done = 1;
	loop_unhold();
	if (map->args == NULL) {
		iso_msg_free(map->results);
		free(map);
	}
}

/* The items of p's map not queued yet fail with err: how many. */
static size_t
pool_map_cancel(iso_pool *p, int err, const char *why)
{
	struct pool_map	*map = p->map;
	size_t		 n = 0;

	if (map == NULL)
		return (0);
	p->map = NULL;
	while (map->next < map->n) {
		p->jobs--;
		n++;
		pool_map_told(p, map, map->next++, err, NULL, why);
	}
	p->empty = p->jobs == 0;
	return (n);
}

/* Queue the next items of p's map (a range) while the queue is short of
   what the workers can take next. */
static void
pool_map_feed(iso_pool *p)
{
	struct pool_map	*map = p->map;
	struct pool_job	*job;
	size_t		 want, k;

	if (map == NULL || p->queued >= (want = map->cut * ((size_t)p->n +
	    1)))
		return;
	if ((job = pool_job_new(p)) == NULL) {
		if (p->queued == 0)
			(void)pool_map_cancel(p, ENOMEM,
			    "pool: out of memory");
		return;
	}
	k = map->n - map->next;
	if (k > want - p->queued)
		k = want - p->queued;
	job->fn = map->fn;
	job->done = NULL;
	job->ud = NULL;
	job->len = 0;
	job->timeout_ms = map->timeout_ms;
	job->map = map;
	job->idx = map->next;
	job->count = k;
	STAILQ_INSERT_TAIL(&p->queue, job, link);
	p->queued += k;
	if ((map->next += k) == map->n)
		p->map = NULL;
}

static struct pool_worker *
pool_idle(iso_pool *p)
{
	int	i;

	for (i = 0; i < p->n; i++)
		if (p->w[i].iso != NULL && p->w[i].nbatch == 0)
			return (&p->w[i]);
	return (NULL);
}

/* Give queued jobs to idle workers; replace dead ones. With no worker
   left and none to be made, what is queued is cancelled. */
static void
pool_kick(iso_pool *p)
{
	struct pool_worker	*w;
	struct pool_job		*job;

	while (pool_map_feed(p), STAILQ_FIRST(&p->queue) != NULL) {
		if ((w = pool_idle(p)) == NULL && p->live < p->n &&
		    pool_refill(p) == 0)
			w = pool_idle(p);
		if (w == NULL) {
			if (p->live > 0)
				break;		/* all busy */
			while ((job = STAILQ_FIRST(&p->queue)) != NULL) {
				STAILQ_REMOVE_HEAD(&p->queue, link);
				p->queued -= job->count;
				pool_tell_later(p, job, ECANCELED,
				    "pool: no worker left and none can be "
				    "started");
			}
			(void)pool_map_cancel(p, ECANCELED, "pool: no worker "
			    "left and none can be started");
			break;
		}
		(void)pool_dispatch(p, w);	/* -1: w died idle; again */
		if (w->iso != NULL && w->nbatch == 0)
			break;			/* out of memory: later */
	}
	pool_ahead_fill(p);
}

/* Free p when it was asked to go and has nothing left to do; never
   inside one of its callbacks. */
static void
pool_settle(iso_pool *p)
{
	if (p->freeing && !p->waiting && p->jobs == 0 && p->depth == 0)
		iso_pool_free(p);
}

/* Why w's process ended, for its job; note: what it said (NULL). */
static void
pool_why(char *buf, size_t len, int code, int status, const char *note)
{
	char	name[32];

	if (code == CLD_KILLED || code == CLD_DUMPED)
		snprintf(buf, len, "pool: function killed by %s%s%s%s",
		    isolate_signame(status, name, sizeof name),
		    code == CLD_DUMPED ? " (core dumped)" : "",
		    note != NULL ? ": " : "", note != NULL ? note : "");
	else if (code == CLD_EXITED)
		snprintf(buf, len, "pool: function exited with status %d",
		    status);
	else
		snprintf(buf, len, "pool: worker ended without a result");
}

/*
 * The outcome of the record at rec (tag, then n bytes of MessagePack)
 * when it is not a result decoded in place: 0 and *m, or an errno with
 * why.
 */
static int
pool_outcome_of(const char *rec, uint32_t n, iso_msg **m, char *why,
    size_t len)
{
	const char	*s;
	int		 tag = (unsigned char)*rec & ~FR_INLINE, err;

	*m = NULL;
	if (tag == RES_OK || tag == RES_UNSENDABLE)
		*m = iso_msg_decode(rec + REC_HDR, n);
	if (tag == RES_OK && *m != NULL)
		return (0);
	if ((tag == RES_OK || tag == RES_UNSENDABLE) && *m == NULL)
		snprintf(why, len, "pool: %s", iso_error());
	else if (tag == RES_NULL)
		snprintf(why, len, "pool: function returned NULL");
	else if (tag == RES_UNSENDABLE)
		snprintf(why, len, "pool: the result cannot be sent: %s",
		    (s = iso_msg_str(*m, NULL)) != NULL ? s : "?");
	else
		snprintf(why, len, "pool: a malformed result");
	err = tag == RES_UNSENDABLE && *m != NULL ? EMSGSIZE : EIO;
	iso_msg_free(*m);
	*m = NULL;
	return (err);
}

/* The length of the record at rec (within end), or -1 when it is
   malformed. */
static ssize_t
pool_record_len(const char *rec, const char *end)
{
	uint32_t	n;

	if (end - rec < REC_HDR ||
	    (n = pool_get32(rec + 1)) > (size_t)(end - rec - REC_HDR))
		return (-1);
	return ((ssize_t)n);
}

/* The outcome of the record at *rec (within end) for job. 0, or -1 when
   the record is malformed (job then failed). */
static int
pool_take(struct pool_job *job, const char **rec, const char *end)
{
	iso_msg		*m;
	char		 why[256];
	ssize_t		 n;
	int		 tag, err;

	if ((n = pool_record_len(*rec, end)) == -1) {
		pool_outcome(job, EIO, NULL, "pool: a malformed result");
		return (-1);
	}
	tag = (unsigned char)**rec & ~FR_INLINE;
	err = pool_outcome_of(*rec, (uint32_t)n, &m, why, sizeof why);
	*rec += REC_HDR + n;
	pool_outcome(job, err, m, err != 0 ? why : NULL);
	return (tag <= RES_UNSENDABLE ? 0 : -1);
}

/*
 * Tell the first k items of map range job from the records at *rec
 * (within end): a scalar result straight into the map's list, any other
 * outcome as pool_take's. The range keeps the rest. rc: -1 once a record
 * was malformed (the items from there fail); returned, updated.
 */
static int
pool_take_range(iso_pool *p, struct pool_job *job, size_t k,
    const char **rec, const char *end, int rc)
{
	struct pool_map	*map = job->map;
	iso_msg		*m, *slot = map->results->v.items + job->idx;
	const char	*r = *rec;
	char		 why[256];
	size_t		 i, ok = 0, idx = job->idx;
	ssize_t		 n;
	int		 err, tag;

	job->idx += k;
	job->count -= k;
	p->jobs -= k;
	p->empty = p->jobs == 0;
	for (i = 0; i < k; i++) {
		if (rc == 0 && (n = pool_record_len(r, end)) != -1) {
			tag = (unsigned char)*r & ~FR_INLINE;
			if (tag == RES_OK && wire_decode_scalar(r + REC_HDR,
			    (size_t)n, &slot[i])) {
				r += REC_HDR + n;
				ok++;
				continue;
			}
			err = pool_outcome_of(r, (uint32_t)n, &m, why,
			    sizeof why);
			r += REC_HDR + n;
			if (tag > RES_UNSENDABLE)
				rc = -1;
		} else {
			rc = -1;
			err = EIO;
			m = NULL;
			snprintf(why, sizeof why, "pool: a malformed result");
		}
		/* ok > 0 is still to count: this is not the map's last */
		pool_map_told(p, map, idx + i, err, m, err != 0 ? why : NULL);
	}
	*rec = r;
	if (ok > 0)
		pool_map_left(map, ok);	/* may free an orphan: the last */
	return (rc);
}

/*
 * Read the records at base (within end) of the items told..upto-1 of
 * batch: single jobs are moved to out with their outcomes, a map's
 * items are told. -1 when a record was malformed.
 */
static int
pool_collect_from(iso_pool *p, struct pool_jobs *batch, const char *base,
    const char *end, uint32_t *told, uint32_t upto, struct pool_jobs *out)
{
	struct pool_job	*job;
	const char	*rec = base;
	size_t		 k;
	int		 rc = 0;

	while (*told < upto && (job = STAILQ_FIRST(batch)) != NULL) {
		if (job->map != NULL) {
			k = upto - *told;
			if (k > job->count)
				k = job->count;
			rc = pool_take_range(p, job, k, &rec, end, rc);
			*told += (uint32_t)k;
			if (job->count == 0) {
				STAILQ_REMOVE_HEAD(batch, link);
				STAILQ_INSERT_HEAD(&p->spare, job, link);
			}
			continue;
		}
		STAILQ_REMOVE_HEAD(batch, link);
		(*told)++;
		if (rc == 0)
			rc = pool_take(job, &rec, end);
		else
			pool_outcome(job, EIO, NULL, "pool: a malformed "
			    "result");
		STAILQ_INSERT_TAIL(out, job, link);
	}
	return (rc);
}

/* The records of w's half now. */
static const char *
pool_base(const struct pool_worker *w)
{
	return (w->shm->data + (w->half ? SHM_HALF : 0));
}

static int
pool_collect(struct pool_worker *w, uint32_t upto, struct pool_jobs *out)
{
	if (upto > (uint32_t)w->nbatch)
		upto = (uint32_t)w->nbatch;
	return (pool_collect_from(w->pool, &w->batch, pool_base(w),
	    pool_base(w) + SHM_HALF, &w->told, upto, out));
}

/*
 * w's batch is done: w is given its next batch first (its records go to
 * the other half of the region), then this one's records are read, so
 * that the worker does not wait while the pool reads.
 */
static void
pool_batch_done(iso_pool *p, struct pool_worker *w)
{
	struct pool_jobs	 prev = STAILQ_HEAD_INITIALIZER(prev);
	struct pool_jobs	 out = STAILQ_HEAD_INITIALIZER(out);
	struct pool_shm		*shm = w->shm;
	const char		*base = pool_base(w);
	uint32_t		 told = w->told, n = (uint32_t)w->nbatch;
	int			 rc;

	STAILQ_CONCAT(&prev, &w->batch);
	w->nbatch = 0;
	evtimer_del(w->timer);
	p->depth++;
	w->reading = 1;
	pool_kick(p);
	rc = pool_collect_from(p, &prev, base, base + SHM_HALF, &told, n,
	    &out);
	w->reading = 0;
	if (w->old != NULL) {
		(void)munmap(w->old, SHM_SIZE);
		w->old = NULL;
	}
	if ((rc == -1 || told != n) && w->iso != NULL && w->shm == shm) {
		/* malformed: w goes, and what it has begun since fails */
		pool_worker_end(p, w, NULL, 0);
		if (w->nbatch > 0)
			pool_lost(p, w, EIO, "pool: a malformed result", &out);
		(void)pool_refill(p);
		pool_kick(p);
	}
	pool_tell_all(p, &out);
	p->depth--;
	pool_settle(p);
}

/*
 * w is ended: what it recorded is told, the job it was running (or,
 * when it had begun none, the first) fails with err and why, the jobs it
 * had not begun go back to the queue. The jobs to tell are added to out.
 */
static void
pool_lost(iso_pool *p, struct pool_worker *w, int err, const char *why,
    struct pool_jobs *out)
{
	struct pool_jobs	 back = STAILQ_HEAD_INITIALIZER(back);
	struct pool_job		*job;
	struct pool_map		*map;
	size_t			 idx;
	char			*frame;

	(void)pool_collect(w, __atomic_load_n(&w->shm->done,
	    __ATOMIC_ACQUIRE), out);
	if ((job = STAILQ_FIRST(&w->batch)) != NULL && job->map != NULL) {
		/* the first item of a range fails, the rest go back */
		map = job->map;
		idx = job->idx++;
		if (--job->count == 0) {
			STAILQ_REMOVE_HEAD(&w->batch, link);
			STAILQ_INSERT_HEAD(&p->spare, job, link);
		}
		p->jobs--;
		p->empty = p->jobs == 0;
		pool_map_told(p, map, idx, err, NULL, why);
	} else if (job != NULL) {
		STAILQ_REMOVE_HEAD(&w->batch, link);
		pool_outcome(job, err, NULL, why);
		STAILQ_INSERT_TAIL(out, job, link);
	}
	while ((job = STAILQ_FIRST(&w->batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&w->batch, link);
		if (job->map != NULL && job->map->args == NULL) {
			pool_outcome(job, ECANCELED, NULL, "pool: cancelled: "
			    "the map's caller has gone");
			STAILQ_INSERT_TAIL(out, job, link);
			continue;
		}
		if (job->map != NULL) {
			/* encoded again from its list when sent */
			STAILQ_INSERT_TAIL(&back, job, link);
			continue;
		}
		if ((frame = malloc(job->len)) == NULL) {
			pool_outcome(job, ECANCELED, NULL, "pool: out of "
			    "memory");
			STAILQ_INSERT_TAIL(out, job, link);
			continue;
		}
		memcpy(frame, w->out + job->off, job->len);
		job->frame = frame;
		STAILQ_INSERT_TAIL(&back, job, link);
	}
	w->nbatch = 0;
	pool_requeue(p, &back);
}

static void
pool_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_worker	*w = arg;
	iso_pool		*p = w->pool;
	struct pool_jobs	 out = STAILQ_HEAD_INITIALIZER(out);
	const char		*rec;
	char			 why[256];
	size_t			 len;
	uint32_t		 at;
	int			 rc, tag = -1;

	(void)what;
	rc = pool_read_frame(fd, &p->buf, &p->cap, &len);
	if (rc == 1 && w->nbatch > 0) {
		tag = (unsigned char)p->buf[WIRE_HDR];
		at = __atomic_load_n(&w->shm->done, __ATOMIC_ACQUIRE);
		if (tag == FR_DONE && len == 1) {
			pool_batch_done(p, w);
			return;
		} else if ((tag & FR_INLINE) && at < (uint32_t)w->nbatch) {
			if (pool_collect(w, at, &out) == -1 ||
			    w->told != at)
				rc = -1;
			else {
				rec = p->buf + WIRE_HDR;
				if (pool_collect_from(p, &w->batch, rec, rec +
				    len, &w->told, at + 1, &out) == -1)
					rc = -1;
				if (rc == 1 && pool_write_tag(fd, 0) == -1)
					rc = -1;
			}
		} else
			rc = -1;
	}
	p->depth++;
	if (rc != 1 || w->nbatch == 0) {
		/* it died, or said something unasked: it goes */
		pool_worker_end(p, w, why, sizeof why);
		if (w->nbatch > 0)
			pool_lost(p, w, EIO, why, &out);
		(void)pool_refill(p);
	}
	/* after an inline record, even the batch's last, FR_DONE follows */
	pool_kick(p);
	pool_tell_all(p, &out);
	p->depth--;
	pool_settle(p);
}

static void
pool_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_worker	*w = arg;
	iso_pool		*p = w->pool;
	struct pool_jobs	 out = STAILQ_HEAD_INITIALIZER(out);
	uint32_t		 s1, s2, done;
	int64_t			 t0, ran, tmo;
	char			 why[64];

	(void)fd;
	(void)what;
	if (w->nbatch == 0)
		return;
	tmo = (int64_t)w->timeout_ms * 1000000;
	s1 = __atomic_load_n(&w->shm->started, __ATOMIC_ACQUIRE);
	t0 = w->shm->t0;
	s2 = __atomic_load_n(&w->shm->started, __ATOMIC_ACQUIRE);
	done = __atomic_load_n(&w->shm->done, __ATOMIC_ACQUIRE);
	if (s1 != s2 || s1 == done) {
		pool_arm(w, w->timeout_ms);	/* between items */
		return;
	}
	if ((ran = pool_now_ns() - t0) < tmo) {
		pool_arm(w, (int)((tmo - ran) / 1000000) + 1);
		return;
	}
	snprintf(why, sizeof why, "pool: timed out after %d ms",
	    w->timeout_ms);
	p->depth++;
	pool_worker_end(p, w, NULL, 0);
	pool_lost(p, w, ETIMEDOUT, why, &out);
	(void)pool_refill(p);
	pool_kick(p);
	pool_tell_all(p, &out);
	p->depth--;
	pool_settle(p);
}

/* ---- the calls ----------------------------------------------------------- */

static int
pool_foreign(const iso_pool *p)
{
	return (p->owner != loop_self());
}

iso_pool *
iso_pool_new(int n)
{
	return (iso_pool_new_with(n, NULL));
}

iso_pool *
iso_pool_new_with(int n, const iso_spawn_attr *a)
{
	struct event_base	*base;
	iso_pool		*p;
	long			 cpus;
	int			 i, saved;

	if (n < 0) {
		msg_fail(EINVAL, "pool: %d workers", n);
		return (NULL);
	}
	if (n == 0)
		n = (cpus = sysconf(_SC_NPROCESSORS_ONLN)) > 0 ? (int)cpus : 1;
	if ((base = loop_base()) == NULL)
		return (NULL);
	if ((p = calloc(1, sizeof *p)) == NULL ||
	    (p->w = calloc((size_t)n, sizeof *p->w)) == NULL ||
	    (p->tell_ev = event_new(base, -1, 0, pool_tell_cb, p)) == NULL) {
		if (p != NULL)
			free(p->w);
		free(p);
		msg_fail(ENOMEM, "pool: out of memory");
		return (NULL);
	}
	if (a != NULL && (p->attr = attr_copy(a)) == NULL) {
		event_free(p->tell_ev);
		free(p->w);
		free(p);
		return (NULL);
	}
	p->owner = loop_self();
	p->n = n;
	p->max_queue = ISO_POOL_QUEUE;
	p->empty = 1;
	STAILQ_INIT(&p->queue);
	STAILQ_INIT(&p->tells);
	STAILQ_INIT(&p->spare);
	LIST_INSERT_HEAD(&pools, p, link);
	for (i = 0; i < n; i++) {
		p->w[i].pool = p;
		p->w[i].fd = -1;
		STAILQ_INIT(&p->w[i].batch);
	}
	for (i = 0; i < n; i++) {
		if (pool_worker_start(p, &p->w[i]) == -1) {
			saved = errno;
			iso_pool_free(p);
			errno = saved;
			return (NULL);
		}
	}
	return (p);
}

int
iso_pool_submit(iso_pool *p, iso_msg *(*fn)(const iso_msg *),
    const iso_msg *arg, int timeout_ms,
    void (*done)(int, iso_msg *, void *), void *ud)
{
	struct pool_job	*job;
	size_t		 bound = 0, n = 0;
	char		*frame;

	if (p == NULL || fn == NULL || timeout_ms < 0)
		return (msg_fail(EINVAL, "pool: no pool, no function or a "
		    "negative timeout"));
	if (pool_foreign(p))
		return (msg_fail(EINVAL, "pool: made by another isolate"));
	if (p->freeing)
		return (msg_fail(EINVAL, "pool: being freed"));
	if (p->queued >= p->max_queue && pool_idle(p) == NULL)
		return (msg_fail(ENOBUFS, "pool: %zu jobs queued already",
		    p->queued));
	if (arg != NULL && (arg->flags & MSG_FDS))
		return (msg_fail(EINVAL, POOL_NO_FDS));
	if (arg != NULL && wire_bound(arg, &bound) == -1)
		return (-1);
	if ((frame = malloc(ITEM_HDR + bound)) == NULL)
		return (msg_fail(ENOMEM, "pool: out of memory"));
	if (arg != NULL)
		n = wire_encode_to(arg, frame + ITEM_HDR);
	if (sizeof fn + n > msg_limit_frame) {
		free(frame);
		return (msg_fail(EMSGSIZE, "pool: %zu bytes, more than the "
		    "frame limit of %zu", n, msg_limit_frame));
	}
	if ((job = pool_job_new(p)) == NULL) {
		free(frame);
		return (-1);
	}
	memcpy(frame, &fn, sizeof fn);
	pool_put32(frame + sizeof fn, (uint32_t)n);
	job->fn = fn;
	job->done = done;
	job->ud = ud;
	job->frame = frame;
	job->len = ITEM_HDR + n;
	job->timeout_ms = timeout_ms;
	p->jobs++;
	p->empty = 0;
	loop_hold();
	STAILQ_INSERT_TAIL(&p->queue, job, link);
	p->queued++;
	/* An idle worker takes it now; a worker that died idle is
	   replaced (or the job cancelled, from the loop). */
	pool_kick(p);
	return (0);
}

struct pool_wait {
	int	 done;
	int	 err;
	iso_msg	*result;
	char	 why[256];
};

static void
pool_call_done(int err, iso_msg *result, void *ud)
{
	struct pool_wait	*pw = ud;

	pw->done = 1;
	pw->err = err;
	pw->result = result;
	if (err != 0)
		snprintf(pw->why, sizeof pw->why, "%s", iso_error());
}

int
iso_pool_call(iso_pool *p, iso_msg *(*fn)(const iso_msg *),
    const iso_msg *arg, int timeout_ms, iso_msg **result)
{
	struct pool_wait	pw;

	if (result == NULL)
		return (msg_fail(EINVAL, "pool: no result"));
	*result = NULL;
	if (loop_dispatching())
		return (msg_fail(EDEADLK, "pool: a call inside a callback, "
		    "where the loop cannot run (use iso_pool_submit)"));
	pw.done = 0;
	if (iso_pool_submit(p, fn, arg, timeout_ms, pool_call_done, &pw) ==
	    -1)
		return (-1);
	if (loop_wait(&pw.done, -1) == -1)
		return (-1);	/* the loop failed: pw is still p's */
	if (pw.err != 0)
		return (msg_fail(pw.err, "%s", pw.why));
	*result = pw.result;
	return (0);
}

int
iso_pool_map(iso_pool *p, iso_msg *(*fn)(const iso_msg *),
    const iso_msg *args, int timeout_ms, iso_msg **results, int *errs)
{
	struct pool_jobs	 keep = STAILQ_HEAD_INITIALIZER(keep);
	struct pool_map		*map;
	struct pool_job		*job;
	size_t			 n;
	int			 saved;

	if (results == NULL)
		return (msg_fail(EINVAL, "pool: map: no results"));
	*results = NULL;
	if (p == NULL || fn == NULL || timeout_ms < 0 || args == NULL ||
	    iso_msg_type(args) != ISO_LIST)
		return (msg_fail(EINVAL, "pool: map: no pool, no function, a "
		    "negative timeout, or args not a list"));
	if (pool_foreign(p))
		return (msg_fail(EINVAL, "pool: made by another isolate"));
	if (p->freeing)
		return (msg_fail(EINVAL, "pool: being freed"));
	if (args->flags & MSG_FDS)
		return (msg_fail(EINVAL, POOL_NO_FDS));
	if (loop_dispatching())
		return (msg_fail(EDEADLK, "pool: a map inside a callback, "
		    "where the loop cannot run (use iso_pool_submit)"));
	n = iso_msg_len(args);
	if (errs != NULL && n > 0)
		memset(errs, 0, n * sizeof *errs);
	if ((map = calloc(1, sizeof *map)) == NULL)
		return (msg_fail(ENOMEM, "pool: out of memory"));
	if ((map->results = msg_list_new(n)) == NULL) {
		free(map);
		return (-1);
	}
	if (n == 0) {
		*results = map->results;
		free(map);
		return (0);
	}
	map->args = args;
	map->seq = ++p->maps;
	map->cut = BATCH_MAX;
	map->chunk = n / (4 * (size_t)p->n);
	if (map->chunk < BATCH_MAX)
		map->chunk = BATCH_MAX;
	else if (map->chunk > MAP_BATCH_MAX)
		map->chunk = MAP_BATCH_MAX;
	map->fn = fn;
	map->timeout_ms = timeout_ms;
	map->n = map->left = n;
	map->errs = errs;
	p->map = map;
	p->jobs += n;
	p->empty = 0;
	loop_hold();		/* until its last item is told */
	pool_kick(p);
	if (loop_wait(&map->done, -1) == -1) {
		/* The loop cannot run: what is queued is cancelled, what
		   runs is told into the map, which is then freed. */
		saved = errno;
		map->args = NULL;
		map->errs = NULL;
		if (p->map == map)
			(void)pool_map_cancel(p, ECANCELED, "pool: cancelled");
		while ((job = STAILQ_FIRST(&p->queue)) != NULL) {
			STAILQ_REMOVE_HEAD(&p->queue, link);
			if (job->map != map) {
				STAILQ_INSERT_TAIL(&keep, job, link);
				continue;
			}
			p->queued -= job->count;
			pool_tell_later(p, job, ECANCELED, "pool: cancelled");
		}
		STAILQ_CONCAT(&p->queue, &keep);
		errno = saved;
		return (-1);
	}
	*results = map->results;
	saved = map->first_err;
	if (map->failed > 0)
		msg_fail(saved, "pool: %zu of %zu items failed; the first, "
		    "item %zu: %s", map->failed, n, map->first, map->why);
	free(map);
	return (saved != 0 ? -1 : 0);
}

int
iso_pool_cancel(iso_pool *p)
{
	struct pool_job	*job;
	int		 n = 0;

	if (p == NULL || pool_foreign(p))
		return (msg_fail(EINVAL, "pool: none, or made by another "
		    "isolate"));
	while ((job = STAILQ_FIRST(&p->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->queue, link);
		p->queued -= job->count;
		pool_tell_later(p, job, ECANCELED, "pool: cancelled");
		n += (int)job->count;
	}
	n += (int)pool_map_cancel(p, ECANCELED, "pool: cancelled");
	return (n);
}

int
iso_pool_set_queue(iso_pool *p, size_t max)
{
	if (p == NULL || pool_foreign(p))
		return (msg_fail(EINVAL, "pool: none, or made by another "
		    "isolate"));
	p->max_queue = max;
	return (0);
}

int
iso_pool_size(const iso_pool *p)
{
	if (p == NULL || pool_foreign(p))
		return (msg_fail(EINVAL, "pool: none, or made by another "
		    "isolate"));
	return (p->live);
}

/* Every job of p told, and every worker ended: free it. */
static void
pool_destroy(iso_pool *p)
{
	struct pool_job	*job;
	int		 i, c, s;

	/* End of stream ends each worker: close all, then reap all. */
	for (i = 0; i < p->n; i++)
		if (p->w[i].iso != NULL) {
			if (p->w[i].ev != NULL)
				event_del(p->w[i].ev);
			loop_fd_close(p->w[i].fd);
			p->w[i].fd = -1;
		}
	for (i = 0; i < p->n; i++) {
		if (p->w[i].iso != NULL) {
			(void)isolate_wait(p->w[i].iso, &c, &s);
			iso_isolate_free(p->w[i].iso);
		}
		if (p->w[i].ev != NULL)
			event_free(p->w[i].ev);
		if (p->w[i].timer != NULL)
			event_free(p->w[i].timer);
		if (p->w[i].shm != NULL)
			(void)munmap(p->w[i].shm, SHM_SIZE);
		free(p->w[i].out);
	}
	while ((job = STAILQ_FIRST(&p->spare)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->spare, link);
		free(job);
	}
	event_free(p->tell_ev);
	LIST_REMOVE(p, link);
	free(p->ahead.buf);
	free(p->buf);
	free(p->w);
	iso_spawn_attr_free(p->attr);
	free(p);
}

void
iso_pool_free(iso_pool *p)
{
	struct pool_job	*job;
	int		 i, rc;

	if (p == NULL || pool_foreign(p))
		return;
	compute_pool_freed(p);
	p->freeing = 1;
	if (p->depth > 0 || (p->jobs > 0 && loop_dispatching()))
		return;		/* pool_settle frees it once idle */
	p->waiting = 1;
	rc = p->jobs > 0 ? loop_wait(&p->empty, -1) : 0;
	p->waiting = 0;
	if (rc == -1) {
		/* The loop cannot run: end the workers, cancel the rest. */
		for (i = 0; i < p->n; i++)
			if (p->w[i].iso != NULL) {
				STAILQ_CONCAT(&p->queue, &p->w[i].batch);
				p->w[i].nbatch = 0;
				pool_worker_end(p, &p->w[i], NULL, 0);
			}
		STAILQ_CONCAT(&p->tells, &p->queue);
		STAILQ_FOREACH(job, &p->tells, link)
			pool_outcome(job, ECANCELED, NULL, "pool: cancelled: "
			    "the loop cannot run");
		pool_tell_all(p, &p->tells);
	}
	pool_destroy(p);
}
