/*
 * pool.c: iso_pool, warm workers: fn(arg) at the cost of a round trip.
 *
 * Each worker is an isolate forked by isolate_fork (as iso_compute's
 * child is) with a private socketpair. It loops blocking: read a job
 * frame, run fn, write a result frame. The pool gives one job at a time
 * to each idle worker and queues the rest; the loop reads results (one
 * persistent read event a worker) and calls done. A job frame is the
 * length, fn's address (valid in the worker: it is a fork of us) and
 * arg's MessagePack; a result frame the length, a tag and the result.
 * End of stream from a worker means it died: it is reaped, replaced,
 * and its job (never retried) is told why. A timeout kills the worker.
 *
 * No allocation per job on the way out when a worker is idle: the frame
 * is encoded into the pool's buffer and sent; job records are recycled.
 * Only a queued job keeps its frame in a buffer of its own.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "loop.h"
#include "msg.h"
#include "spawn.h"
#include "wire.h"

#define JOB_HDR		(WIRE_HDR + sizeof(void *))	/* length, fn */
#define RES_HDR		(WIRE_HDR + 1)			/* length, tag */
#define BUF_START	4096

#define RES_OK		0	/* the result follows */
#define RES_NULL	1	/* fn returned NULL */
#define RES_UNSENDABLE	2	/* why (a string) follows */

typedef iso_msg *(*pool_fn)(const iso_msg *);
typedef void (*pool_done)(int, iso_msg *, void *);

struct pool_job {
	pool_fn			 fn;
	pool_done		 done;
	void			*ud;
	char			*frame;		/* queued: its frame (owned) */
	size_t			 len;
	int			 timeout_ms;
	int			 err;		/* on the tells list: why */
	const char		*why;
	STAILQ_ENTRY(pool_job)	 link;
};
STAILQ_HEAD(pool_jobs, pool_job);

struct pool_worker {
	iso_pool		*pool;
	iso_isolate		*iso;		/* NULL: no worker here now */
	int			 fd;		/* our end; -1 with iso */
	struct event		*ev;		/* fd readable */
	struct event		*timer;		/* the job's timeout */
	struct pool_job		*job;		/* running; NULL: idle */
};

struct iso_pool {
	uint64_t		 owner;		/* the isolate that made it */
	int			 n;		/* workers wanted */
	int			 live;		/* workers there */
	struct pool_worker	*w;
	struct pool_jobs	 queue;		/* waiting for a worker */
	struct pool_jobs	 tells;		/* ended, done not yet called */
	struct pool_jobs	 spare;		/* recycled records */
	size_t			 queued;
	size_t			 max_queue;
	size_t			 jobs;		/* accepted, done not yet called */
	int			 empty;		/* jobs == 0, for loop_wait */
	int			 depth;		/* inside our callbacks */
	int			 freeing;	/* iso_pool_free was called */
	int			 waiting;	/* ... and runs the loop */
	struct event		*tell_ev;	/* calls done for p->tells */
	char			*buf;		/* frames built and read here */
	size_t			 cap;
	LIST_ENTRY(iso_pool)	 link;
};

static LIST_HEAD(, iso_pool)	pools = LIST_HEAD_INITIALIZER(pools);

static void	pool_kick(iso_pool *);
static void	pool_settle(iso_pool *);

void
pool_forget(void)
{
	/* Our spawner's pools are its own: their descriptors are closed,
	   their memory left as it is. */
	loop_keep(LIST_FIRST(&pools));
	LIST_INIT(&pools);
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
			if (wire_frame_len(*buf, len) == -1)
				return (-1);
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

/* ---- the worker ---------------------------------------------------------- */

/* The result frame of r (NULL: fn returned NULL) into *buf; its size,
   or 0 with iso_error() when r cannot be sent. */
static size_t
pool_result(char **buf, size_t *cap, const iso_msg *r, int tag)
{
	size_t	bound = 0, n = 0;

	if (r != NULL && (wire_bound(r, &bound) == -1 ||
	    pool_room(buf, cap, RES_HDR + bound) == -1))
		return (0);
	if (r != NULL)
		n = wire_encode_to(r, *buf + RES_HDR);
	if (tag == RES_OK && 1 + n > msg_limit_frame) {
		msg_fail(EMSGSIZE, "%zu bytes, more than the frame limit of "
		    "%zu", n, msg_limit_frame);
		return (0);
	}
	wire_frame_hdr(*buf, 1 + n);
	(*buf)[WIRE_HDR] = (char)tag;
	return (RES_HDR + n);
}

/* In the worker: jobs until the pool closes its end. */
static void
pool_worker_main(void *ctx)
{
	iso_msg	*arg, *r, *why;
	pool_fn	 fn;
	char	*buf = NULL;
	size_t	 cap = 0, len, n;
	int	 fd = *(int *)ctx, rc;

	(void)loop_fd_own(fd);	/* an isolate fn spawns must not keep it */
	while ((rc = pool_read_frame(fd, &buf, &cap, &len)) == 1) {
		if (len < sizeof fn)
			break;
		memcpy(&fn, buf + WIRE_HDR, sizeof fn);
		arg = NULL;
		if (len > sizeof fn && (arg = iso_msg_decode(buf + JOB_HDR,
		    len - sizeof fn)) == NULL)
			break;
		r = fn(arg);
		iso_msg_free(arg);
		if ((n = pool_result(&buf, &cap, r, r != NULL ? RES_OK :
		    RES_NULL)) == 0 && (why = iso_msg_pack("s",
		    iso_error())) != NULL) {
			n = pool_result(&buf, &cap, why, RES_UNSENDABLE);
			iso_msg_free(why);
		}
		iso_msg_free(r);
		if (n == 0 || frame_write_all(fd, buf, n) == -1)
			break;
	}
	free(buf);
	loop_fd_close(fd);
	loop_exit(rc == 0 ? 0 : 1);
}

/* ---- workers, from the pool's side -------------------------------------- */

static void	pool_read_cb(evutil_socket_t, short, void *);
static void	pool_timeout_cb(evutil_socket_t, short, void *);

/* Fork a worker into slot w. 0, or -1 with iso_error(). */
static int
pool_worker_start(iso_pool *p, struct pool_worker *w)
{
	struct event_base	*base;
	int			 sv[2], saved;

	if ((base = loop_base()) == NULL)
		return (-1);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return (msg_fail(errno, "pool: socketpair: %m"));
	if (loop_fd_own(sv[0]) == -1) {
		close(sv[0]);
		close(sv[1]);
		return (-1);
	}
	if (isolate_fork(pool_worker_main, &sv[1], 0,
	    (const void *)(uintptr_t)pool_worker_main, &w->iso) == -1) {
		saved = errno;
		loop_fd_close(sv[0]);
		close(sv[1]);
		errno = saved;
		return (-1);
	}
	close(sv[1]);
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

/*
 * Worker w has died, or is to die (kill): reap it and empty the slot.
 * *code and *status say how it ended (isolate_wait's). Its job, if any,
 * is the caller's.
 */
static void
pool_worker_end(iso_pool *p, struct pool_worker *w, int *code, int *status)
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
	iso_isolate_free(w->iso);
	w->iso = NULL;
	p->live--;
	if (code != NULL)
		*code = c;
	if (status != NULL)
		*status = s;
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
	return (job);
}

/*
 * Call job's done with err (and iso_error() set to why) or result, then
 * recycle the record. The record is recycled first: done may submit.
 */
static void
pool_tell(iso_pool *p, struct pool_job *job, int err, iso_msg *result,
    const char *why)
{
	pool_done	 done = job->done;
	void		*ud = job->ud;

	free(job->frame);
	job->frame = NULL;
	STAILQ_INSERT_HEAD(&p->spare, job, link);
	p->jobs--;
	p->empty = p->jobs == 0;
	loop_unhold();
	if (err != 0)
		msg_fail(err, "%s", why);
	p->depth++;
	if (done != NULL)
		done(err, result, ud);
	else
		iso_msg_free(result);
	p->depth--;
}

/* Tell job later, from the loop (never from inside a call of ours). */
static void
pool_tell_later(iso_pool *p, struct pool_job *job, int err, const char *why)
{
	job->err = err;
	job->why = why;
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
		pool_tell(p, job, job->err, NULL, job->why);
	}
	p->depth--;
	pool_settle(p);
}

/* Send a frame to idle worker w, which then runs job. 0, or -1 when w
   has gone (it is then ended, the job not started). */
static int
pool_send(iso_pool *p, struct pool_worker *w, struct pool_job *job,
    const char *frame, size_t len)
{
	struct timeval	tv;

	if (frame_write_all(w->fd, frame, len) == -1) {
		pool_worker_end(p, w, NULL, NULL);
		return (-1);
	}
	w->job = job;
	if (job->timeout_ms > 0) {
		tv.tv_sec = job->timeout_ms / 1000;
		tv.tv_usec = (job->timeout_ms % 1000) * 1000;
		evtimer_add(w->timer, &tv);
	}
	return (0);
}

static struct pool_worker *
pool_idle(iso_pool *p)
{
	int	i;

	for (i = 0; i < p->n; i++)
		if (p->w[i].iso != NULL && p->w[i].job == NULL)
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

	while ((job = STAILQ_FIRST(&p->queue)) != NULL) {
		if ((w = pool_idle(p)) == NULL && p->live < p->n &&
		    pool_refill(p) == 0)
			w = pool_idle(p);
		if (w == NULL) {
			if (p->live > 0)
				break;		/* all busy */
			while ((job = STAILQ_FIRST(&p->queue)) != NULL) {
				STAILQ_REMOVE_HEAD(&p->queue, link);
				p->queued--;
				pool_tell_later(p, job, ECANCELED,
				    "pool: no worker left and none can be "
				    "started");
			}
			break;
		}
		if (pool_send(p, w, job, job->frame, job->len) == -1)
			continue;	/* w died idle: the job never ran */
		STAILQ_REMOVE_HEAD(&p->queue, link);
		p->queued--;
		free(job->frame);
		job->frame = NULL;
	}
}

/* Free p when it was asked to go and has nothing left to do; never
   inside one of its callbacks. */
static void
pool_settle(iso_pool *p)
{
	if (p->freeing && !p->waiting && p->jobs == 0 && p->depth == 0)
		iso_pool_free(p);
}

/* Why w's process ended, for its job. */
static void
pool_why(char *buf, size_t len, int code, int status)
{
	char	name[32];

	if (code == CLD_KILLED || code == CLD_DUMPED)
		snprintf(buf, len, "pool: function killed by %s%s",
		    isolate_signame(status, name, sizeof name),
		    code == CLD_DUMPED ? " (core dumped)" : "");
	else if (code == CLD_EXITED)
		snprintf(buf, len, "pool: function exited with status %d",
		    status);
	else
		snprintf(buf, len, "pool: worker ended without a result");
}

static void
pool_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_worker	*w = arg;
	iso_pool		*p = w->pool;
	struct pool_job		*job = w->job;
	iso_msg			*m = NULL;
	const char		*s;
	char			 why[256];
	size_t			 len;
	int			 rc, tag = -1, code, status;

	(void)what;
	rc = pool_read_frame(fd, &p->buf, &p->cap, &len);
	if (rc == 1 && job != NULL) {
		tag = (unsigned char)p->buf[WIRE_HDR];
		if (tag == RES_OK || tag == RES_UNSENDABLE)
			m = iso_msg_decode(p->buf + RES_HDR, len - 1);
		if ((tag == RES_OK || tag == RES_UNSENDABLE) && m == NULL)
			snprintf(why, sizeof why, "pool: %s", iso_error());
		else if (tag == RES_NULL)
			snprintf(why, sizeof why, "pool: function returned "
			    "NULL");
		else if (tag == RES_UNSENDABLE)
			snprintf(why, sizeof why, "pool: the result cannot "
			    "be sent: %s", (s = iso_msg_str(m, NULL)) != NULL ?
			    s : "?");
		w->job = NULL;
		evtimer_del(w->timer);
		if (tag > RES_UNSENDABLE)
			rc = -1;
	}
	p->depth++;
	if (rc != 1 || job == NULL) {
		/* it died, or said something unasked: it goes */
		w->job = NULL;
		pool_worker_end(p, w, &code, &status);
		pool_why(why, sizeof why, code, status);
		(void)pool_refill(p);
		pool_kick(p);
		if (job != NULL)
			pool_tell(p, job, EIO, NULL, why);
	} else {
		pool_kick(p);	/* the worker starts its next job now */
		if (tag == RES_OK && m != NULL)
			pool_tell(p, job, 0, m, NULL);
		else {
			iso_msg_free(m);
			pool_tell(p, job, tag == RES_UNSENDABLE && m != NULL ?
			    EMSGSIZE : EIO, NULL, why);
		}
	}
	p->depth--;
	pool_settle(p);
}

static void
pool_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_worker	*w = arg;
	iso_pool		*p = w->pool;
	struct pool_job		*job = w->job;
	char			 why[64];

	(void)fd;
	(void)what;
	if (job == NULL)
		return;
	snprintf(why, sizeof why, "pool: timed out after %d ms",
	    job->timeout_ms);
	w->job = NULL;
	p->depth++;
	pool_worker_end(p, w, NULL, NULL);
	(void)pool_refill(p);
	pool_kick(p);
	pool_tell(p, job, ETIMEDOUT, NULL, why);
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
	struct pool_worker	*w;
	struct pool_job		*job;
	size_t			 bound = 0, n = 0;
	char			*frame;

	if (p == NULL || fn == NULL || timeout_ms < 0)
		return (msg_fail(EINVAL, "pool: no pool, no function or a "
		    "negative timeout"));
	if (pool_foreign(p))
		return (msg_fail(EINVAL, "pool: made by another isolate"));
	if (p->freeing)
		return (msg_fail(EINVAL, "pool: being freed"));
	if ((w = pool_idle(p)) == NULL && p->queued >= p->max_queue)
		return (msg_fail(ENOBUFS, "pool: %zu jobs queued already",
		    p->queued));
	if (arg != NULL && wire_bound(arg, &bound) == -1)
		return (-1);
	if (pool_room(&p->buf, &p->cap, JOB_HDR + bound) == -1 ||
	    (job = pool_job_new(p)) == NULL)
		return (-1);
	if (arg != NULL)
		n = wire_encode_to(arg, p->buf + JOB_HDR);
	if (sizeof fn + n > msg_limit_frame) {
		STAILQ_INSERT_HEAD(&p->spare, job, link);
		return (msg_fail(EMSGSIZE, "pool: %zu bytes, more than the "
		    "frame limit of %zu", n, msg_limit_frame));
	}
	wire_frame_hdr(p->buf, sizeof fn + n);
	memcpy(p->buf + WIRE_HDR, &fn, sizeof fn);
	job->fn = fn;
	job->done = done;
	job->ud = ud;
	job->len = JOB_HDR + n;
	job->timeout_ms = timeout_ms;
	p->jobs++;
	p->empty = 0;
	loop_hold();
	while (w != NULL) {
		if (pool_send(p, w, job, p->buf, job->len) == 0)
			return (0);
		w = pool_idle(p);	/* w had died idle */
	}
	/* Queued; a worker that died idle is replaced from the loop. */
	if ((frame = malloc(job->len)) == NULL) {
		p->jobs--;
		p->empty = p->jobs == 0;
		loop_unhold();
		STAILQ_INSERT_HEAD(&p->spare, job, link);
		return (msg_fail(ENOMEM, "pool: out of memory"));
	}
	memcpy(frame, p->buf, job->len);
	job->frame = frame;
	STAILQ_INSERT_TAIL(&p->queue, job, link);
	p->queued++;
	if (p->live < p->n)
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
iso_pool_cancel(iso_pool *p)
{
	struct pool_job	*job;
	int		 n = 0;

	if (p == NULL || pool_foreign(p))
		return (msg_fail(EINVAL, "pool: none, or made by another "
		    "isolate"));
	while ((job = STAILQ_FIRST(&p->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->queue, link);
		p->queued--;
		pool_tell_later(p, job, ECANCELED, "pool: cancelled");
		n++;
	}
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
	}
	while ((job = STAILQ_FIRST(&p->spare)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->spare, link);
		free(job);
	}
	event_free(p->tell_ev);
	LIST_REMOVE(p, link);
	free(p->buf);
	free(p->w);
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
				if ((job = p->w[i].job) != NULL)
					STAILQ_INSERT_TAIL(&p->queue, job,
					    link);
				p->w[i].job = NULL;
				pool_worker_end(p, &p->w[i], NULL, NULL);
			}
		STAILQ_CONCAT(&p->tells, &p->queue);
		while ((job = STAILQ_FIRST(&p->tells)) != NULL) {
			STAILQ_REMOVE_HEAD(&p->tells, link);
			pool_tell(p, job, ECANCELED, NULL, "pool: cancelled: "
			    "the loop cannot run");
		}
	}
	pool_destroy(p);
}
