/*
 * timer.c: Timer and Timer.periodic on the isolate's loop. A pending timer
 * keeps iso_run going.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "hot.h"
#include "loop.h"
#include "msg.h"

struct iso_timer {
	struct event		*ev;
	uint64_t		 isolate;	/* whose */
	void			(*once)(void *);
	void			(*every)(iso_timer *, void *);
	void			*arg;
	int			 firing;
	int			 cancelled;
	LIST_ENTRY(iso_timer)	 link;
};

static LIST_HEAD(, iso_timer)	timers = LIST_HEAD_INITIALIZER(timers);

static void
timer_free(iso_timer *t)
{
	LIST_REMOVE(t, link);
	event_free(t->ev);
	free(t);
	loop_unhold();
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	iso_timer	*t = arg;

	(void)fd;
	(void)what;
	if (loop_stopping())
		return;		/* SIGTERM: no next event */
	t->firing = 1;
	if (t->once != NULL)
		t->once(t->arg);
	else
		t->every(t, t->arg);
	t->firing = 0;
	if (t->once != NULL || t->cancelled)
		timer_free(t);
}

static iso_timer *
timer_new(int ms, void (*once)(void *), void (*every)(iso_timer *, void *),
    void *arg)
{
	struct event_base	*base;
	struct timeval		 tv;
	iso_timer		*t;

	if (ms < 0 || (once == NULL && every == NULL)) {
		msg_fail(EINVAL, "timer: bad arguments");
		return (NULL);
	}
	if ((base = loop_base()) == NULL)
		return (NULL);
	if ((t = calloc(1, sizeof *t)) == NULL ||
	    (t->ev = event_new(base, -1, every != NULL ? EV_PERSIST : 0,
	    timer_cb, t)) == NULL) {
		free(t);
		msg_fail(ENOMEM, "timer: out of memory");
		return (NULL);
	}
	t->isolate = loop_self();
	t->once = once;
	t->every = every;
	t->arg = arg;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(t->ev, &tv);
	LIST_INSERT_HEAD(&timers, t, link);
	loop_hold();
	return (t);
}

iso_timer *
iso_timer_after(int ms, void (*fn)(void *arg), void *arg)
{
	return (timer_new(ms, fn, NULL, arg));
}

iso_timer *
iso_timer_every(int ms, void (*fn)(iso_timer *t, void *arg), void *arg)
{
	return (timer_new(ms, NULL, fn, arg));
}

void
iso_timer_cancel(iso_timer *t)
{
	if (t == NULL || t->isolate != loop_self())
		return;		/* the spawner's: left as it is */
	if (t->firing) {
		t->cancelled = 1;
		event_del(t->ev);
		return;
	}
	timer_free(t);
}

ISO_HOT void
timer_forget(void)
{
	loop_keep(LIST_FIRST(&timers));
	LIST_INIT(&timers);
}
