/*
 * check_pool.c: iso_pool, warm workers: results of many jobs across the
 * workers, functions that crash, exit or return NULL (the pool replaces
 * the worker and still serves), timeouts, a full queue, cancel, EDEADLK
 * inside a callback, free with jobs queued (and inside a callback), a
 * pool inside a spawned isolate and a spawned isolate beside a pool,
 * iso_pool_map (order, a crash or a timeout at one item, also in a batch
 * of thousands, an item that cannot be sent, results too large for the
 * region, an empty list, bad arguments, EDEADLK, jobs of another
 * function queued before and during a map, a map after a cancelled one),
 * and no process, zombie or descriptor left behind by any of them.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

#define WAIT_MS	20000

static int	fds_at_start;

static void
begin(void)
{
	ck_assert_ptr_nonnull(iso_event_base());
	iso_port_close(iso_port_new());		/* our socket, for good */
	fds_at_start = tu_fd_count();
	ck_assert_int_eq(tu_children(), 0);
}

/* Nothing left: no process, no zombie, no descriptor. */
static void
end(void)
{
	ck_assert_int_eq(tu_children(), 0);
	ck_assert_int_eq(tu_fd_count(), fds_at_start);
}

static iso_pool *
pool_new(int n)
{
	iso_pool	*p;

	p = iso_pool_new(n);
	ck_assert_msg(p != NULL, "pool: %s", iso_error());
	ck_assert_int_eq(iso_pool_size(p), n);
	ck_assert_int_eq(tu_children(), n);
	return (p);
}

/* ---- functions run on the workers ---------------------------------------- */

static iso_msg *
square_fn(const iso_msg *arg)
{
	int64_t	v = 0;

	iso_msg_int(arg, &v);
	return (iso_msg_pack("I", v * v));
}

/* [ms, v]: v after ms milliseconds. */
static iso_msg *
slow_fn(const iso_msg *arg)
{
	int64_t	v = 0;
	int	ms = 0;

	iso_msg_unpack(arg, "[iI]", &ms, &v);
	tu_sleep_ms(ms);
	return (iso_msg_pack("I", v));
}

static iso_msg *
pid_fn(const iso_msg *arg)
{
	(void)arg;
	return (iso_msg_pack("i", (int)getpid()));
}

static iso_msg *
segv_fn(const iso_msg *arg)
{
	(void)arg;
	signal(SIGSEGV, SIG_DFL);	/* a sanitizer's handler would exit */
	raise(SIGSEGV);
	return (NULL);
}

static iso_msg *
exit3_fn(const iso_msg *arg)
{
	(void)arg;
	exit(3);
}

static iso_msg *
null_fn(const iso_msg *arg)
{
	(void)arg;
	return (NULL);
}

static iso_msg *
forever_fn(const iso_msg *arg)
{
	(void)arg;
	for (;;)
		pause();
	return (NULL);
}

static iso_msg *
negate_fn(const iso_msg *arg)
{
	int64_t	v = 0;

	iso_msg_int(arg, &v);
	return (iso_msg_pack("I", -v));
}

static iso_msg *
arg_is_null_fn(const iso_msg *arg)
{
	return (iso_msg_pack("b", arg == NULL));
}


/* [pid, v] */
static iso_msg *
pid_and_fn(const iso_msg *arg)
{
	int64_t	v = 0;

	iso_msg_int(arg, &v);
	return (iso_msg_pack("[iI]", (int)getpid(), v));
}

static char	crash_log[256];	/* each call of crash_logged_fn: a byte */

/* A byte to crash_log, then SIGSEGV: how many times it ran is kept. */
static iso_msg *
crash_logged_fn(const iso_msg *arg)
{
	FILE	*f;

	(void)arg;
	if ((f = fopen(crash_log, "a")) != NULL) {
		fputc('x', f);
		fclose(f);
	}
	return (segv_fn(NULL));
}

/* A string of v bytes. */
static iso_msg *
big_fn(const iso_msg *arg)
{
	int64_t	 v = 0;
	iso_msg	*r;
	char	*s;

	iso_msg_int(arg, &v);
	if ((s = malloc((size_t)v + 1)) == NULL)
		return (NULL);
	memset(s, 'a' + (int)(v % 26), (size_t)v);
	s[v] = '\0';
	r = iso_msg_pack("s", s);
	free(s);
	return (r);
}

/* ---- done callbacks ---------------------------------------------------- */

#define JOBS	200

struct tally {
	int	 calls[JOBS];
	int	 err[JOBS];
	int64_t	 value[JOBS];
	int	 order[JOBS];
	int	 told;
};
static struct tally	tally;

static void
tally_done(int err, iso_msg *result, void *ud)
{
	int	i = (int)(intptr_t)ud;

	tally.calls[i]++;
	tally.err[i] = err;
	tally.order[tally.told++] = i;
	if (result != NULL)
		iso_msg_int(result, &tally.value[i]);
	iso_msg_free(result);
}


/* The length of a string result as its value, checked. */
static void
big_done(int err, iso_msg *result, void *ud)
{
	int		 i = (int)(intptr_t)ud;
	const char	*s;
	size_t		 len = 0, k;

	tally.calls[i]++;
	tally.err[i] = err;
	if (result != NULL && (s = iso_msg_str(result, &len)) != NULL) {
		for (k = 0; k < len; k++)
			ck_assert_int_eq(s[k], 'a' + (int)(len % 26));
		tally.value[i] = (int64_t)len;
	}
	iso_msg_free(result);
}

static void
submit(iso_pool *p, iso_msg *(*fn)(const iso_msg *), iso_msg *arg,
    int timeout_ms, int i)
{
	ck_assert_msg(iso_pool_submit(p, fn, arg, timeout_ms, tally_done,
	    (void *)(intptr_t)i) == 0, "submit %d: %s", i, iso_error());
	iso_msg_free(arg);
}

static void
call_ok(iso_pool *p, int64_t v)
{
	iso_msg	*arg, *r = NULL;
	int64_t	 got = 0;

	arg = iso_msg_pack("I", v);
	ck_assert_msg(iso_pool_call(p, square_fn, arg, 0, &r) == 0,
	    "call: %s", iso_error());
	iso_msg_free(arg);
	ck_assert_int_eq(iso_msg_int(r, &got), 0);
	ck_assert_int_eq(got, v * v);
	iso_msg_free(r);
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(many_jobs_across_workers)
{
	iso_pool	*p;
	int		 i, called = 0;

	begin();
	memset(&tally, 0, sizeof tally);
	p = pool_new(3);
	for (i = 0; i < JOBS; i++)
		submit(p, square_fn, iso_msg_pack("i", i), 0, i);
	/* done is called from the loop, never inside submit */
	for (i = 0; i < JOBS; i++)
		called += tally.calls[i];
	ck_assert_int_eq(called, 0);
	ck_assert_int_eq(iso_run(), 0);
	for (i = 0; i < JOBS; i++) {
		ck_assert_int_eq(tally.calls[i], 1);
		ck_assert_int_eq(tally.err[i], 0);
		ck_assert_int_eq(tally.value[i], (int64_t)i * i);
	}
	for (i = 0; i < 50; i++)
		call_ok(p, i);
	iso_pool_free(p);
	end();
}
END_TEST

/* One worker runs the queue in submission order. */
START_TEST(one_worker_in_order)
{
	iso_pool	*p;
	iso_msg		*r = NULL;
	int		 i;

	begin();
	memset(&tally, 0, sizeof tally);
	p = pool_new(1);
	for (i = 0; i < 50; i++)
		submit(p, square_fn, iso_msg_pack("i", i), 0, i);
	ck_assert_int_eq(iso_run(), 0);
	for (i = 0; i < 50; i++)
		ck_assert_int_eq(tally.order[i], i);
	/* A NULL arg reaches fn as NULL. */
	ck_assert_int_eq(iso_pool_call(p, arg_is_null_fn, NULL, 0, &r), 0);
	ck_assert_int_eq(iso_msg_type(r), ISO_BOOL);
	ck_assert_int_eq(iso_msg_bool(r, &i), 0);
	ck_assert_int_eq(i, 1);
	iso_msg_free(r);
	iso_pool_free(p);
	end();
}
END_TEST

/* Whatever fn does wrong comes back as EIO naming it; a worker that
   died is reaped and replaced, and the pool serves on. */
static const struct {
	iso_msg		*(*fn)(const iso_msg *);
	const char	*says;
	int		 dies;
} failing[] = {
	{ segv_fn,	"killed by SIGSEGV",		1 },
	{ exit3_fn,	"exited with status 3",		1 },
	{ null_fn,	"returned NULL",		0 },
};

START_TEST(function_fails)
{
	iso_pool	*p;
	iso_msg		*r = NULL, *arg;
	int		 before = -1, after = -1;

	begin();
	p = pool_new(2);
	ck_assert_int_eq(iso_pool_call(p, pid_fn, NULL, 0, &r), 0);
	ck_assert_int_eq(iso_msg_unpack(r, "i", &before), 0);
	iso_msg_free(r);
	r = NULL;
	ck_assert_int_eq(iso_pool_call(p, failing[_i].fn, NULL, 0, &r), -1);
	ck_assert_int_eq(errno, EIO);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(iso_error(), failing[_i].says) != NULL,
	    "error: %s", iso_error());
	/* n workers, the dead one reaped (a zombie is still a child) */
	ck_assert_int_eq(iso_pool_size(p), 2);
	ck_assert_int_eq(tu_children(), 2);
	if (failing[_i].dies)
		ck_assert_int_eq(kill(before, 0) == -1 && errno == ESRCH, 1);
	/* the replacement (or the same worker) serves */
	call_ok(p, 7);
	ck_assert_int_eq(iso_pool_call(p, pid_fn, NULL, 0, &r), 0);
	ck_assert_int_eq(iso_msg_unpack(r, "i", &after), 0);
	iso_msg_free(r);
	ck_assert_int_ne(after, 0);
	/* done is told once, through submit too */
	memset(&tally, 0, sizeof tally);
	arg = iso_msg_pack("i", 1);
	submit(p, failing[_i].fn, NULL, 0, 0);
	submit(p, square_fn, arg, 0, 1);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(tally.calls[0], 1);
	ck_assert_int_eq(tally.err[0], EIO);
	ck_assert_int_eq(tally.calls[1], 1);
	ck_assert_int_eq(tally.err[1], 0);
	iso_pool_free(p);
	end();
}
END_TEST

START_TEST(timeout_kills_and_replaces)
{
	iso_pool	*p;
	iso_msg		*r = NULL;

	begin();
	p = pool_new(2);
	ck_assert_int_eq(iso_pool_call(p, forever_fn, NULL, 100, &r), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_msg(strstr(iso_error(), "timed out after 100 ms") != NULL,
	    "error: %s", iso_error());
	ck_assert_int_eq(iso_pool_size(p), 2);
	ck_assert_int_eq(tu_children(), 2);
	call_ok(p, 3);
	/* a job within its timeout is not touched */
	r = iso_msg_pack("[ii]", 10, 5);
	memset(&tally, 0, sizeof tally);
	submit(p, slow_fn, r, 5000, 0);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(tally.err[0], 0);
	ck_assert_int_eq(tally.value[0], 5);
	iso_pool_free(p);
	end();
}
END_TEST

START_TEST(queue_full)
{
	iso_pool	*p;
	iso_msg		*arg;
	int		 i;

	begin();
	memset(&tally, 0, sizeof tally);
	p = pool_new(1);
	ck_assert_int_eq(iso_pool_set_queue(p, 2), 0);
	submit(p, slow_fn, iso_msg_pack("[ii]", 100, 0), 0, 0);	/* runs */
	submit(p, slow_fn, iso_msg_pack("[ii]", 0, 1), 0, 1);	/* queued */
	submit(p, slow_fn, iso_msg_pack("[ii]", 0, 2), 0, 2);	/* queued */
	arg = iso_msg_pack("[ii]", 0, 3);
	ck_assert_int_eq(iso_pool_submit(p, slow_fn, arg, 0, tally_done,
	    (void *)3), -1);
	ck_assert_int_eq(errno, ENOBUFS);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_run(), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(tally.calls[i], 1);
		ck_assert_int_eq(tally.err[i], 0);
		ck_assert_int_eq(tally.value[i], i);
	}
	ck_assert_int_eq(tally.calls[3], 0);
	iso_pool_free(p);
	end();
}
END_TEST

START_TEST(cancel_queued)
{
	iso_pool	*p;
	int		 i;

	begin();
	memset(&tally, 0, sizeof tally);
	p = pool_new(1);
	submit(p, slow_fn, iso_msg_pack("[ii]", 50, 7), 0, 0);
	for (i = 1; i <= 5; i++)
		submit(p, square_fn, iso_msg_pack("i", i), 0, i);
	ck_assert_int_eq(iso_pool_cancel(p), 5);
	ck_assert_int_eq(tally.told, 0);	/* told from the loop */
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(tally.err[0], 0);
	ck_assert_int_eq(tally.value[0], 7);
	for (i = 1; i <= 5; i++) {
		ck_assert_int_eq(tally.calls[i], 1);
		ck_assert_int_eq(tally.err[i], ECANCELED);
	}
	iso_pool_free(p);
	end();
}
END_TEST

static iso_pool	*cb_pool;
static int	 cb_rc, cb_errno;

static void
call_inside(iso_port *port, const iso_msg *m, void *arg)
{
	iso_msg	*r = NULL;

	(void)m;
	(void)arg;
	cb_rc = iso_pool_call(cb_pool, square_fn, m, 0, &r);
	cb_errno = errno;
	iso_port_close(port);
}

START_TEST(edeadlk_inside_a_callback)
{
	iso_port	*port;
	iso_msg		*m;

	begin();
	cb_pool = pool_new(1);
	ck_assert_ptr_nonnull(port = iso_port_new());
	ck_assert_int_eq(iso_port_listen(port, call_inside, NULL), 0);
	m = iso_msg_pack("i", 2);
	ck_assert_int_eq(iso_send(iso_port_sendport(port), m), 0);
	iso_msg_free(m);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(cb_rc, -1);
	ck_assert_int_eq(cb_errno, EDEADLK);
	call_ok(cb_pool, 4);	/* nothing was left half done */
	iso_pool_free(cb_pool);
	end();
}
END_TEST

START_TEST(free_finishes_queued)
{
	iso_pool	*p;
	int		 i;

	begin();
	memset(&tally, 0, sizeof tally);
	p = pool_new(2);
	for (i = 0; i < 10; i++)
		submit(p, slow_fn, iso_msg_pack("[ii]", 10, i), 0, i);
	iso_pool_free(p);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(tally.calls[i], 1);
		ck_assert_int_eq(tally.err[i], 0);
		ck_assert_int_eq(tally.value[i], i);
	}
	end();
}
END_TEST

/* Freed inside its own done: the rest is still told, then it goes. */
static void
free_done(int err, iso_msg *result, void *ud)
{
	tally_done(err, result, ud);
	if (tally.told == 1)
		iso_pool_free(cb_pool);
}

START_TEST(free_inside_done)
{
	iso_msg	*arg;
	int	 i;

	begin();
	memset(&tally, 0, sizeof tally);
	cb_pool = pool_new(2);
	for (i = 0; i < 6; i++) {
		arg = iso_msg_pack("[ii]", 5, i);
		ck_assert_int_eq(iso_pool_submit(cb_pool, slow_fn, arg, 0,
		    free_done, (void *)(intptr_t)i), 0);
		iso_msg_free(arg);
	}
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(tally.told, 6);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(tally.value[i], i);
	end();
}
END_TEST

/* A pool made in a spawned isolate is that isolate's; a pool of ours in
   it is not usable there and its workers are not its children. */
static iso_pool	*outer_pool;

static void
pool_isolate_entry(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_pool	*p;
	iso_msg		*a, *r = NULL, *m;
	int64_t		 v = -1;
	int		 foreign_rc, foreign_errno, kids_before, kids, size;

	iso_msg_unpack(arg, "P", &to);
	kids_before = tu_children();
	a = iso_msg_pack("i", 9);
	foreign_rc = iso_pool_submit(outer_pool, square_fn, a, 0, NULL,
	    NULL);
	foreign_errno = errno;
	iso_pool_free(outer_pool);	/* a no-op here */
	if ((p = iso_pool_new(2)) != NULL &&
	    iso_pool_call(p, square_fn, a, 0, &r) == 0)
		iso_msg_int(r, &v);
	iso_msg_free(r);
	iso_msg_free(a);
	kids = tu_children();
	size = iso_pool_size(p);
	iso_pool_free(p);
	m = iso_msg_pack("{sI si si si si si si}", "v", v, "foreign_rc",
	    foreign_rc, "foreign_errno", foreign_errno, "kids_before",
	    kids_before, "kids", kids, "size", size, "kids_after",
	    tu_children());
	iso_send(to, m);
	iso_msg_free(m);
}

static void
noop_entry(const iso_msg *arg)
{
	(void)arg;
}

/* Wait until iso has ended (reaped), then free the handle. */
static void
wait_end(iso_isolate *iso)
{
	iso_port	*done;
	iso_msg		*m = NULL;

	ck_assert_ptr_nonnull(done = iso_port_new());
	ck_assert_int_eq(iso_on_exit(iso, iso_port_sendport(done), NULL), 0);
	ck_assert_int_eq(iso_port_first(done, &m, WAIT_MS), 0);
	iso_msg_free(m);
	iso_isolate_free(iso);
}

START_TEST(pool_in_spawned_isolate)
{
	iso_isolate	*iso;
	iso_port	*port;
	iso_msg		*arg, *m = NULL;
	int64_t		 v = 0;
	int		 frc = 0, ferr = 0, kb = -1, k = -1, size = -1, ka = -1;

	/* a first spawn opens what every later spawn shares */
	ck_assert_int_eq(iso_spawn(noop_entry, NULL, &iso), 0);
	wait_end(iso);
	begin();
	outer_pool = pool_new(2);
	ck_assert_ptr_nonnull(port = iso_port_new());
	arg = iso_msg_pack("P", iso_port_sendport(port));
	ck_assert_int_eq(iso_spawn(pool_isolate_entry, arg, &iso), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_port_first(port, &m, WAIT_MS), 0);
	wait_end(iso);
	ck_assert_int_eq(iso_msg_unpack(m, "{sI si si si si si si}", "v", &v,
	    "foreign_rc", &frc, "foreign_errno", &ferr, "kids_before", &kb,
	    "kids", &k, "size", &size, "kids_after", &ka), 0);
	iso_msg_free(m);
	ck_assert_int_eq(v, 81);
	ck_assert_int_eq(frc, -1);
	ck_assert_int_eq(ferr, EINVAL);
	ck_assert_int_eq(kb, 0);	/* none of outer_pool's workers */
	ck_assert_int_eq(k, 2);
	ck_assert_int_eq(size, 2);
	ck_assert_int_eq(ka, 0);
	/* ours still serves, with its two workers */
	ck_assert_int_eq(tu_children(), 2);
	call_ok(outer_pool, 5);
	iso_pool_free(outer_pool);
	end();
}
END_TEST


/*
 * Batches: jobs queued behind a busy worker go to it many in one frame,
 * and come back right and in order.
 */
#define MANY	3000
static int	many_order[MANY], many_told;
static int64_t	many_value[MANY];

static void
many_done(int err, iso_msg *result, void *ud)
{
	int	i = (int)(intptr_t)ud;

	ck_assert_int_eq(err, 0);
	many_order[many_told++] = i;
	ck_assert_int_eq(iso_msg_int(result, &many_value[i]), 0);
	iso_msg_free(result);
}

START_TEST(batches_in_order)
{
	iso_pool	*p;
	iso_msg		*arg;
	int		 i, n;

	for (n = 1; n <= 2; n++) {
		begin();
		many_told = 0;
		p = pool_new(n);
		for (i = 0; i < MANY; i++) {
			arg = iso_msg_pack("i", i);
			ck_assert_int_eq(iso_pool_submit(p, square_fn, arg, 0,
			    many_done, (void *)(intptr_t)i), 0);
			iso_msg_free(arg);
		}
		ck_assert_int_eq(iso_run(), 0);
		ck_assert_int_eq(many_told, MANY);
		for (i = 0; i < MANY; i++) {
			ck_assert_int_eq(many_value[i], (int64_t)i * i);
			if (n == 1)	/* one worker: in submission order */
				ck_assert_int_eq(many_order[i], i);
		}
		iso_pool_free(p);
		end();
	}
}
END_TEST

/*
 * A crash in the middle of a batch: the items before it are results
 * (from the worker that died), the crashed one EIO and run once, the
 * items after it run on the new worker.
 */
#define BATCH	40
#define CRASH	17
static int	bt_err[BATCH + 1], bt_pid[BATCH + 1], bt_calls[BATCH + 1];
static int64_t	bt_v[BATCH + 1];

static void
bt_done(int err, iso_msg *result, void *ud)
{
	int	i = (int)(intptr_t)ud;

	bt_calls[i]++;
	bt_err[i] = err;
	if (result != NULL)
		ck_assert_int_eq(iso_msg_unpack(result, "[iI]", &bt_pid[i],
		    &bt_v[i]), 0);
	iso_msg_free(result);
}

static void
bt_submit(iso_pool *p, iso_msg *(*fn)(const iso_msg *), int timeout_ms,
    int i)
{
	iso_msg	*arg = iso_msg_pack("i", i);

	ck_assert_int_eq(iso_pool_submit(p, fn, arg, timeout_ms, bt_done,
	    (void *)(intptr_t)i), 0);
	iso_msg_free(arg);
}

static void
batch_with_a_failure(iso_msg *(*bad)(const iso_msg *), int timeout_ms,
    int err)
{
	iso_pool	*p;
	iso_msg		*arg;
	struct stat	 st;
	int		 i, dead;

	begin();
	memset(bt_calls, 0, sizeof bt_calls);
	memset(bt_pid, 0, sizeof bt_pid);
	p = pool_new(1);
	/* the worker is busy: what follows is queued, then one batch */
	arg = iso_msg_pack("[ii]", 50, 0);
	ck_assert_int_eq(iso_pool_submit(p, slow_fn, arg, timeout_ms,
	    NULL, NULL), 0);
	iso_msg_free(arg);
	for (i = 0; i < BATCH; i++)
		bt_submit(p, i == CRASH ? bad : pid_and_fn, timeout_ms, i);
	ck_assert_int_eq(iso_run(), 0);
	dead = bt_pid[0];
	for (i = 0; i < BATCH; i++) {
		ck_assert_int_eq(bt_calls[i], 1);
		if (i == CRASH) {
			ck_assert_int_eq(bt_err[i], err);
			continue;
		}
		ck_assert_msg(bt_err[i] == 0, "item %d: %d", i, bt_err[i]);
		ck_assert_int_eq(bt_v[i], i);
		/* before: the worker that died; after: its replacement */
		if (i < CRASH)
			ck_assert_int_eq(bt_pid[i], dead);
		else
			ck_assert_int_ne(bt_pid[i], dead);
	}
	ck_assert_int_eq(kill(dead, 0) == -1 && errno == ESRCH, 1);
	if (bad == crash_logged_fn) {	/* run once: never retried */
		ck_assert_int_eq(stat(crash_log, &st), 0);
		ck_assert_int_eq(st.st_size, 1);
	}
	ck_assert_int_eq(iso_pool_size(p), 1);
	iso_pool_free(p);
	end();
}

START_TEST(crash_in_a_batch)
{
	int	fd;

	snprintf(crash_log, sizeof crash_log, "%s/crash.XXXXXX",
	    tu_runtime_dir());
	ck_assert_int_ne(fd = mkstemp(crash_log), -1);
	close(fd);
	batch_with_a_failure(crash_logged_fn, 0, EIO);
	unlink(crash_log);
}
END_TEST

START_TEST(timeout_in_a_batch)
{
	batch_with_a_failure(forever_fn, 300, ETIMEDOUT);
}
END_TEST

/* Results larger than a worker's region come inline, acknowledged. */
START_TEST(large_results_in_a_batch)
{
	iso_pool	*p;
	iso_msg		*arg;
	int		 i;

	begin();
	memset(&tally, 0, sizeof tally);
	p = pool_new(1);
	arg = iso_msg_pack("[ii]", 50, 0);
	ck_assert_int_eq(iso_pool_submit(p, slow_fn, arg, 0, NULL, NULL),
	    0);
	iso_msg_free(arg);
	for (i = 0; i < 12; i++) {
		arg = iso_msg_pack("i", 300000 + i);
		ck_assert_int_eq(iso_pool_submit(p, big_fn, arg, 0, big_done,
		    (void *)(intptr_t)i), 0);
		iso_msg_free(arg);
	}
	ck_assert_int_eq(iso_run(), 0);
	for (i = 0; i < 12; i++) {
		ck_assert_int_eq(tally.calls[i], 1);
		ck_assert_int_eq(tally.err[i], 0);
		ck_assert_int_eq(tally.value[i], 300000 + i);
	}
	iso_pool_free(p);
	end();
}
END_TEST

/* Logs a byte to crash_log, returns its argument. */
static iso_msg *
logged_fn(const iso_msg *arg)
{
	FILE	*f;

	if ((f = fopen(crash_log, "a")) != NULL) {
		fputc('x', f);
		fclose(f);
	}
	return (iso_msg_copy(arg));
}

static off_t	logged_at_first;

static void
logged_done(int err, iso_msg *result, void *ud)
{
	struct stat	st;

	ck_assert_int_eq(err, 0);
	if (ud == (void *)1 && stat(crash_log, &st) == 0)
		logged_at_first = st.st_size;
	iso_msg_free(result);
}

/* Jobs queued behind a busy worker go to it in one batch: all of them
   have run by the time the first is told. */
START_TEST(queued_jobs_go_in_one_batch)
{
	iso_pool	*p;
	iso_msg		*arg;
	int		 i, fd;

	begin();
	snprintf(crash_log, sizeof crash_log, "%s/log.XXXXXX",
	    tu_runtime_dir());
	ck_assert_int_ne(fd = mkstemp(crash_log), -1);
	close(fd);
	p = pool_new(1);
	arg = iso_msg_pack("[ii]", 50, 0);
	ck_assert_int_eq(iso_pool_submit(p, slow_fn, arg, 0, NULL, NULL),
	    0);
	iso_msg_free(arg);
	logged_at_first = -1;
	arg = iso_msg_pack("i", 1);
	for (i = 1; i <= 40; i++)
		ck_assert_int_eq(iso_pool_submit(p, logged_fn, arg, 0,
		    logged_done, (void *)(intptr_t)i), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(logged_at_first, 40);
	unlink(crash_log);
	iso_pool_free(p);
	end();
}
END_TEST

START_TEST(bad_arguments)
{
	iso_pool	*p;
	iso_msg		*r = NULL;

	begin();
	ck_assert_ptr_null(iso_pool_new(-1));
	ck_assert_int_eq(errno, EINVAL);
	p = pool_new(1);
	ck_assert_int_eq(iso_pool_submit(p, NULL, NULL, 0, NULL, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_pool_submit(p, square_fn, NULL, -1, NULL, NULL),
	    -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_pool_call(p, square_fn, NULL, 0, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_pool_submit(NULL, square_fn, NULL, 0, NULL,
	    NULL), -1);
	ck_assert_int_eq(iso_pool_cancel(p), 0);
	(void)r;
	iso_pool_free(p);
	iso_pool_free(NULL);
	end();
}
END_TEST


/* ---- iso_pool_map ------------------------------------------------------ */

/* A list of the ints 0..n-1. */
static iso_msg *
int_list(int n)
{
	iso_msg	*l;
	int	 i;

	ck_assert_ptr_nonnull(l = iso_msg_pack("[]"));
	for (i = 0; i < n; i++)
		ck_assert_int_eq(iso_msg_append(l, iso_msg_pack("i", i)), 0);
	return (l);
}

#define MAP_N	10000

/* 10,000 items over two workers: every result in its place, from both. */
START_TEST(map_in_order)
{
	static int	 errs[MAP_N];
	iso_pool	*p;
	iso_msg		*args, *res = NULL, *sq = NULL;
	int64_t		 v, w;
	int		 i, pid, first = 0, both = 0;

	begin();
	p = pool_new(2);
	args = int_list(MAP_N);
	memset(errs, 0x55, sizeof errs);
	ck_assert_msg(iso_pool_map(p, pid_and_fn, args, 0, &res, errs) == 0,
	    "map: %s", iso_error());
	ck_assert_int_eq(iso_msg_type(res), ISO_LIST);
	ck_assert_int_eq(iso_msg_len(res), MAP_N);
	for (i = 0; i < MAP_N; i++) {
		ck_assert_int_eq(errs[i], 0);
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(res, i), "[iI]",
		    &pid, &v), 0);
		ck_assert_int_eq(v, i);
		if (i == 0)
			first = pid;
		else if (pid != first)
			both = 1;
	}
	ck_assert_int_eq(both, 1);
	/* scalar results, and no errs array */
	ck_assert_int_eq(iso_pool_map(p, square_fn, args, 0, &sq, NULL), 0);
	for (i = 0; i < MAP_N; i++) {
		ck_assert_int_eq(iso_msg_int(iso_msg_at(sq, i), &w), 0);
		ck_assert_int_eq(w, (int64_t)i * i);
	}
	iso_msg_free(sq);
	iso_msg_free(res);
	iso_msg_free(args);
	call_ok(p, 3);		/* the pool serves on */
	iso_pool_free(p);
	end();
}
END_TEST

#define MAP_K	17
static iso_msg	*(*map_bad)(const iso_msg *);
static int64_t	 map_k = MAP_K;

/* map_bad at item MAP_K, [pid, v] elsewhere. */
static iso_msg *
bad_at_k_fn(const iso_msg *arg)
{
	int64_t	v = 0;

	iso_msg_int(arg, &v);
	if (v == map_k)
		return (map_bad(arg));
	return (pid_and_fn(arg));
}

static void
map_with_a_failure(iso_msg *(*bad)(const iso_msg *), int timeout_ms,
    int err)
{
	iso_pool	*p;
	iso_msg		*args, *res = NULL;
	int		 errs[BATCH], i, pid, dead = 0;
	int64_t		 v;
	struct stat	 st;

	begin();
	map_bad = bad;
	p = pool_new(1);
	args = int_list(BATCH);
	ck_assert_int_eq(iso_pool_map(p, bad_at_k_fn, args, timeout_ms, &res,
	    errs), -1);
	ck_assert_int_eq(errno, err);
	ck_assert_msg(strstr(iso_error(), "item 17") != NULL, "%s",
	    iso_error());
	ck_assert_int_eq(iso_msg_len(res), BATCH);
	for (i = 0; i < BATCH; i++) {
		if (i == MAP_K) {
			ck_assert_int_eq(errs[i], err);
			ck_assert_int_eq(iso_msg_type(iso_msg_at(res, i)),
			    ISO_NIL);
			continue;
		}
		ck_assert_msg(errs[i] == 0, "item %d: %d", i, errs[i]);
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(res, i), "[iI]",
		    &pid, &v), 0);
		ck_assert_int_eq(v, i);
		/* before: the worker that died; after: its replacement */
		if (i == 0)
			dead = pid;
		else if (i < MAP_K)
			ck_assert_int_eq(pid, dead);
		else
			ck_assert_int_ne(pid, dead);
	}
	ck_assert_int_eq(kill(dead, 0) == -1 && errno == ESRCH, 1);
	if (bad == crash_logged_fn) {	/* run once: never retried */
		ck_assert_int_eq(stat(crash_log, &st), 0);
		ck_assert_int_eq(st.st_size, 1);
	}
	ck_assert_int_eq(iso_pool_size(p), 1);
	iso_msg_free(res);
	iso_msg_free(args);
	iso_pool_free(p);
	end();
}

START_TEST(map_crash_at_k)
{
	int	fd;

	snprintf(crash_log, sizeof crash_log, "%s/crash.XXXXXX",
	    tu_runtime_dir());
	ck_assert_int_ne(fd = mkstemp(crash_log), -1);
	close(fd);
	map_with_a_failure(crash_logged_fn, 0, EIO);
	unlink(crash_log);
}
END_TEST

START_TEST(map_timeout_at_k)
{
	map_with_a_failure(forever_fn, 300, ETIMEDOUT);
}
END_TEST

/* Results larger than the region come inline; strings are kept. */
START_TEST(map_large_results)
{
	iso_pool	*p;
	iso_msg		*args, *res = NULL;
	int		 sizes[] = { 300000, 10, 400000, 500000, 3, 600000 };
	size_t		 i, len;

	begin();
	p = pool_new(1);
	ck_assert_ptr_nonnull(args = iso_msg_pack("[]"));
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		ck_assert_int_eq(iso_msg_append(args, iso_msg_pack("i",
		    sizes[i])), 0);
	ck_assert_msg(iso_pool_map(p, big_fn, args, 0, &res, NULL) == 0,
	    "map: %s", iso_error());
	for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		ck_assert_ptr_nonnull(iso_msg_str(iso_msg_at(res, i), &len));
		ck_assert_uint_eq(len, (size_t)sizes[i]);
	}
	iso_msg_free(res);
	iso_msg_free(args);
	iso_pool_free(p);
	end();
}
END_TEST

START_TEST(map_empty_and_bad_arguments)
{
	iso_pool	*p;
	iso_msg		*args, *res = NULL, *one;

	begin();
	p = pool_new(1);
	args = iso_msg_pack("[]");
	ck_assert_int_eq(iso_pool_map(p, segv_fn, args, 0, &res, NULL), 0);
	ck_assert_int_eq(iso_msg_type(res), ISO_LIST);
	ck_assert_int_eq(iso_msg_len(res), 0);
	iso_msg_free(res);
	one = iso_msg_pack("i", 1);
	ck_assert_int_eq(iso_pool_map(p, square_fn, one, 0, &res, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(iso_pool_map(p, square_fn, NULL, 0, &res, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_pool_map(p, NULL, args, 0, &res, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_pool_map(p, square_fn, args, -1, &res, NULL),
	    -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_pool_map(p, square_fn, args, 0, NULL, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_pool_map(NULL, square_fn, args, 0, &res, NULL),
	    -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_msg_free(one);
	iso_msg_free(args);
	call_ok(p, 5);
	iso_pool_free(p);
	end();
}
END_TEST

static void
map_inside(iso_port *port, const iso_msg *m, void *arg)
{
	iso_msg	*r = NULL, *args = iso_msg_pack("[i]", 2);

	(void)m;
	(void)arg;
	cb_rc = iso_pool_map(cb_pool, square_fn, args, 0, &r, NULL);
	cb_errno = errno;
	iso_msg_free(args);
	iso_port_close(port);
}

START_TEST(map_edeadlk_inside_a_callback)
{
	iso_port	*port;
	iso_msg		*m;

	begin();
	cb_pool = pool_new(1);
	ck_assert_ptr_nonnull(port = iso_port_new());
	ck_assert_int_eq(iso_port_listen(port, map_inside, NULL), 0);
	m = iso_msg_pack("i", 2);
	ck_assert_int_eq(iso_send(iso_port_sendport(port), m), 0);
	iso_msg_free(m);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(cb_rc, -1);
	ck_assert_int_eq(cb_errno, EDEADLK);
	call_ok(cb_pool, 4);
	iso_pool_free(cb_pool);
	end();
}
END_TEST


static void
cancel_done(int err, iso_msg *result, void *ud)
{
	(void)err;
	iso_msg_free(result);
	cb_rc = iso_pool_cancel(ud);
}

/* iso_pool_cancel during a map fails its items not yet sent, and only
   those: the map returns with every item told. */
START_TEST(map_cancelled)
{
	static int	 errs[MAP_N];
	iso_pool	*p;
	iso_msg		*args, *res = NULL, *arg;
	int64_t		 v;
	int		 i, ok = 0, cancelled = 0;

	begin();
	p = pool_new(1);
	arg = iso_msg_pack("[ii]", 20, 0);
	ck_assert_int_eq(iso_pool_submit(p, slow_fn, arg, 0, cancel_done, p),
	    0);
	iso_msg_free(arg);
	args = int_list(MAP_N);
	ck_assert_int_eq(iso_pool_map(p, square_fn, args, 0, &res, errs), -1);
	ck_assert_int_eq(errno, ECANCELED);
	for (i = 0; i < MAP_N; i++) {
		if (errs[i] == ECANCELED) {
			ck_assert_int_eq(iso_msg_type(iso_msg_at(res, i)),
			    ISO_NIL);
			cancelled++;
			continue;
		}
		ck_assert_int_eq(errs[i], 0);
		ck_assert_int_eq(cancelled, 0);	/* a prefix ran, no more */
		ck_assert_int_eq(iso_msg_int(iso_msg_at(res, i), &v), 0);
		ck_assert_int_eq(v, (int64_t)i * i);
		ok++;
	}
	ck_assert_int_eq(cb_rc, cancelled);
	ck_assert_int_gt(cancelled, 0);
	ck_assert_int_eq(ok + cancelled, MAP_N);
	iso_msg_free(res);
	iso_msg_free(args);
	call_ok(p, 3);
	iso_pool_free(p);
	end();
}
END_TEST

#define MAP_BIG	20000
#define MAP_BIG_K	15000

/* A crash deep in a map, where batches are thousands of items: only that
   item fails, run once; the rest of its batch goes to the next worker. */
START_TEST(map_crash_in_a_large_batch)
{
	static int	 errs[MAP_BIG];
	iso_pool	*p;
	iso_msg		*args, *res = NULL;
	int64_t		 v;
	int		 fd, i, pid, dead = 0;
	struct stat	 st;

	begin();
	snprintf(crash_log, sizeof crash_log, "%s/crash.XXXXXX",
	    tu_runtime_dir());
	ck_assert_int_ne(fd = mkstemp(crash_log), -1);
	close(fd);
	map_bad = crash_logged_fn;
	map_k = MAP_BIG_K;
	p = pool_new(1);
	args = int_list(MAP_BIG);
	ck_assert_int_eq(iso_pool_map(p, bad_at_k_fn, args, 0, &res, errs),
	    -1);
	ck_assert_int_eq(errno, EIO);
	for (i = 0; i < MAP_BIG; i++) {
		if (i == MAP_BIG_K) {
			ck_assert_int_eq(errs[i], EIO);
			continue;
		}
		ck_assert_msg(errs[i] == 0, "item %d: %d", i, errs[i]);
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(res, i), "[iI]",
		    &pid, &v), 0);
		ck_assert_int_eq(v, i);
		if (i == 0)
			dead = pid;
		else if (i < MAP_BIG_K)
			ck_assert_int_eq(pid, dead);
		else
			ck_assert_int_ne(pid, dead);
	}
	ck_assert_int_eq(stat(crash_log, &st), 0);
	ck_assert_int_eq(st.st_size, 1);
	map_k = MAP_K;
	unlink(crash_log);
	iso_msg_free(res);
	iso_msg_free(args);
	iso_pool_free(p);
	end();
}
END_TEST

/* An item the pool cannot encode (nested deeper than the limit) fails
   alone with EMSGSIZE, in the middle of a large map. */
START_TEST(map_item_cannot_be_sent)
{
	static int	 errs[MAP_BIG];
	iso_pool	*p;
	iso_msg		*args, *res = NULL, *deep;
	size_t		 depth = iso_limit_get(ISO_LIMIT_DEPTH);
	int64_t		 v;
	int		 i;

	begin();
	p = pool_new(2);
	ck_assert_ptr_nonnull(args = iso_msg_pack("[]"));
	for (i = 0; i < MAP_BIG; i++) {
		deep = i == MAP_BIG_K ? iso_msg_pack("[[[i]]]", i) :
		    iso_msg_pack("i", i);
		ck_assert_int_eq(iso_msg_append(args, deep), 0);
	}
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH, 2), 0);
	ck_assert_int_eq(iso_pool_map(p, square_fn, args, 0, &res, errs), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH, depth), 0);
	ck_assert_msg(strstr(iso_error(), "item 15000") != NULL, "%s",
	    iso_error());
	for (i = 0; i < MAP_BIG; i++) {
		if (i == MAP_BIG_K) {
			ck_assert_int_eq(errs[i], EMSGSIZE);
			ck_assert_int_eq(iso_msg_type(iso_msg_at(res, i)),
			    ISO_NIL);
			continue;
		}
		ck_assert_msg(errs[i] == 0, "item %d: %d", i, errs[i]);
		ck_assert_int_eq(iso_msg_int(iso_msg_at(res, i), &v), 0);
		ck_assert_int_eq(v, (int64_t)i * i);
	}
	iso_msg_free(res);
	iso_msg_free(args);
	call_ok(p, 6);
	iso_pool_free(p);
	end();
}
END_TEST

#define NEG_N	50

static int64_t	neg_got[NEG_N + 1];
static int	neg_told;

/* A negate job told; the first submits one more, queued behind the
   map's items. */
static void
neg_done(int err, iso_msg *result, void *ud)
{
	iso_msg	*arg;
	int	 i = (int)(intptr_t)ud;

	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(iso_msg_int(result, &neg_got[i]), 0);
	iso_msg_free(result);
	neg_told++;
	if (i == 0) {
		arg = iso_msg_pack("i", NEG_N);
		ck_assert_int_eq(iso_pool_submit(cb_pool, negate_fn, arg, 0,
		    neg_done, (void *)(intptr_t)NEG_N), 0);
		iso_msg_free(arg);
	}
}

/* Jobs of another function queued before a map, and one submitted while
   it runs: each item runs its own function (a map's batch names its
   function once, a job's item its own). */
START_TEST(map_among_other_jobs)
{
	static int	 errs[MAP_BIG];
	iso_msg		*args, *res = NULL, *arg;
	int64_t		 v;
	int		 i;

	begin();
	cb_pool = pool_new(1);
	arg = iso_msg_pack("[ii]", 100, 0);
	ck_assert_int_eq(iso_pool_submit(cb_pool, slow_fn, arg, 0, NULL,
	    NULL), 0);
	iso_msg_free(arg);
	neg_told = 0;
	for (i = 0; i < NEG_N; i++) {
		arg = iso_msg_pack("i", i);
		ck_assert_int_eq(iso_pool_submit(cb_pool, negate_fn, arg, 0,
		    neg_done, (void *)(intptr_t)i), 0);
		iso_msg_free(arg);
	}
	args = int_list(MAP_BIG);
	ck_assert_msg(iso_pool_map(cb_pool, square_fn, args, 0, &res, errs) ==
	    0, "map: %s", iso_error());
	for (i = 0; i < MAP_BIG; i++) {
		ck_assert_int_eq(errs[i], 0);
		ck_assert_int_eq(iso_msg_int(iso_msg_at(res, i), &v), 0);
		ck_assert_int_eq(v, (int64_t)i * i);
	}
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(neg_told, NEG_N + 1);
	for (i = 0; i <= NEG_N; i++)
		ck_assert_int_eq(neg_got[i], -i);
	iso_msg_free(res);
	iso_msg_free(args);
	iso_pool_free(cb_pool);
	end();
}
END_TEST

static int	gate[2];	/* gate_fn waits for a byte on it */

static iso_msg *
gate_fn(const iso_msg *arg)
{
	char	c;

	(void)arg;
	while (read(gate[0], &c, 1) == -1 && errno == EINTR)
		;
	return (iso_msg_pack("i", 1));
}

static void
cancel_on_message(iso_port *port, const iso_msg *m, void *arg)
{
	(void)m;
	(void)arg;
	cb_rc = iso_pool_cancel(cb_pool);
	iso_port_close(port);
}

/*
 * A map cancelled before any of its items was sent (its worker busy),
 * then another over a list as long: the second gives its own list's
 * results (nothing the first had encoded ahead is taken for them).
 */
START_TEST(map_after_a_cancelled_map)
{
	static int	 errs[MAP_N];
	iso_port	*port;
	iso_msg		*args, *args2, *res, *res2, *m;
	int64_t		 v;
	int		 i, round;

	begin();
	ck_assert_int_eq(pipe2(gate, O_CLOEXEC), 0);
	cb_pool = pool_new(1);
	args = int_list(MAP_N);
	for (round = 1; round <= 4; round++) {
		ck_assert_int_eq(iso_pool_submit(cb_pool, gate_fn, NULL, 0,
		    NULL, NULL), 0);
		ck_assert_ptr_nonnull(port = iso_port_new());
		ck_assert_int_eq(iso_port_listen(port, cancel_on_message,
		    NULL), 0);
		m = iso_msg_pack("i", 1);
		ck_assert_int_eq(iso_send(iso_port_sendport(port), m), 0);
		iso_msg_free(m);
		ck_assert_ptr_nonnull(args2 = iso_msg_pack("[]"));
		for (i = 0; i < MAP_N; i++)
			ck_assert_int_eq(iso_msg_append(args2,
			    iso_msg_pack("i", round * i)), 0);
		res = res2 = NULL;
		ck_assert_int_eq(iso_pool_map(cb_pool, square_fn, args, 0,
		    &res, errs), -1);
		ck_assert_int_eq(errno, ECANCELED);
		ck_assert_int_eq(write(gate[1], "x", 1), 1);
		/* at once: its record may well be where the first's was */
		ck_assert_int_eq(iso_pool_map(cb_pool, negate_fn, args2, 0,
		    &res2, NULL), 0);
		ck_assert_int_eq(cb_rc, MAP_N);
		for (i = 0; i < MAP_N; i++) {
			ck_assert_int_eq(errs[i], ECANCELED);
			ck_assert_int_eq(iso_msg_int(iso_msg_at(res2, i), &v),
			    0);
			ck_assert_int_eq(v, -(int64_t)round * i);
		}
		iso_msg_free(res2);
		iso_msg_free(res);
		iso_msg_free(args2);
	}
	iso_msg_free(args);
	iso_pool_free(cb_pool);
	close(gate[0]);
	close(gate[1]);
	end();
}
END_TEST

/* One worker per CPU for 0. */
START_TEST(one_per_cpu)
{
	iso_pool	*p;
	long		 cpus = sysconf(_SC_NPROCESSORS_ONLN);

	begin();
	ck_assert_ptr_nonnull(p = iso_pool_new(0));
	ck_assert_int_eq(iso_pool_size(p), cpus > 0 ? (int)cpus : 1);
	call_ok(p, 6);
	iso_pool_free(p);
	end();
}
END_TEST

static Suite *
pool_suite(void)
{
	Suite	*s = suite_create("pool");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, many_jobs_across_workers);
	tcase_add_test(tc, one_worker_in_order);
	tcase_add_loop_test(tc, function_fails, 0,
	    (int)(sizeof failing / sizeof failing[0]));
	tcase_add_test(tc, timeout_kills_and_replaces);
	tcase_add_test(tc, queue_full);
	tcase_add_test(tc, cancel_queued);
	tcase_add_test(tc, edeadlk_inside_a_callback);
	tcase_add_test(tc, free_finishes_queued);
	tcase_add_test(tc, free_inside_done);
	tcase_add_test(tc, pool_in_spawned_isolate);
	tcase_add_test(tc, batches_in_order);
	tcase_add_test(tc, queued_jobs_go_in_one_batch);
	tcase_add_test(tc, crash_in_a_batch);
	tcase_add_test(tc, timeout_in_a_batch);
	tcase_add_test(tc, large_results_in_a_batch);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, one_per_cpu);
	tcase_add_test(tc, map_in_order);
	tcase_add_test(tc, map_crash_at_k);
	tcase_add_test(tc, map_timeout_at_k);
	tcase_add_test(tc, map_large_results);
	tcase_add_test(tc, map_empty_and_bad_arguments);
	tcase_add_test(tc, map_edeadlk_inside_a_callback);
	tcase_add_test(tc, map_cancelled);
	tcase_add_test(tc, map_crash_in_a_large_batch);
	tcase_add_test(tc, map_item_cannot_be_sent);
	tcase_add_test(tc, map_among_other_jobs);
	tcase_add_test(tc, map_after_a_cancelled_map);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	struct rlimit	 nocore = { 0, 0 };
	SRunner		*sr;
	int		 failed;

	setrlimit(RLIMIT_CORE, &nocore);	/* crashes on purpose */
	tu_runtime_dir();
	sr = srunner_create(pool_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
