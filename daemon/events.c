/*
 * events.c: the supervisor's event stream. Each change a script may want
 * to follow (an isolate spawned, ended, restarting, failed; a name
 * registered or dropped) is one event, a map {"event": TYPE, "time": T,
 * ...}, pushed to every connection that asked with "events". Nothing is
 * kept: a subscriber sees what happens from its request on.
 *
 * A subscriber that does not read cannot make the supervisor hold
 * unbounded memory: beyond EV_QUEUE_MAX bytes queued for it, events are
 * counted and not queued, and once its queue has drained a {"event":
 * "lost", "count": N} says how many it missed.
 */
#include <sys/time.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "daemon.h"

#define EV_QUEUE_MAX	(256 * 1024)

struct ev_sub {
	struct sv_conn	*conn;
	uint64_t	 lost;		/* events not queued since the last
					   "lost" */
	struct ev_sub	*prev, *next;
};

static struct ev_sub	*subs;

static double
ev_now(void)
{
	struct timeval	tv;

	gettimeofday(&tv, NULL);
	return (tv.tv_sec + tv.tv_usec / 1e6);
}

/* The client went away. */
static void
ev_cancel(void *arg)
{
	struct ev_sub	*s = arg;

	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		subs = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	free(s);
}

/* Queue {"event": ev} (borrowed) for s, or count it as lost. */
static void
ev_push(struct ev_sub *s, const iso_msg *ev)
{
	iso_msg	*frame;

	if (sv_pending(s->conn) > EV_QUEUE_MAX) {
		s->lost++;
		return;
	}
	if ((frame = iso_msg_pack("{s:O}", "event", ev)) == NULL ||
	    sv_push(s->conn, frame) == -1)
		s->lost++;
	iso_msg_free(frame);
}

/* s's queue has drained: tell it what it missed. */
static void
ev_drained(void *arg)
{
	struct ev_sub	*s = arg;
	iso_msg		*ev;

	if (s->lost == 0)
		return;
	if ((ev = iso_msg_pack("{s:s s:f s:U}", "event", "lost", "time",
	    ev_now(), "count", s->lost)) == NULL)
		return;
	s->lost = 0;
	ev_push(s, ev);
	iso_msg_free(ev);
}

void
events_emit(const char *type, const char *fmt, ...)
{
	struct ev_sub	*s;
	iso_msg		*ev, *more;
	va_list		 ap;
	size_t		 i, n;

	if (subs == NULL)
		return;
	if ((ev = iso_msg_pack("{s:s s:f}", "event", type, "time",
	    ev_now())) == NULL)
		goto lost;
	if (fmt != NULL) {
		va_start(ap, fmt);
		more = iso_msg_vpack(fmt, ap);
		va_end(ap);
		if (more == NULL)
			goto lost;
		n = iso_msg_len(more);
		for (i = 0; i < n; i++)
			if (iso_msg_put(ev,
			    iso_msg_copy(iso_msg_key_at(more, i)),
			    iso_msg_copy(iso_msg_value_at(more, i))) == -1) {
				iso_msg_free(more);
				goto lost;
			}
		iso_msg_free(more);
	}
	for (s = subs; s != NULL; s = s->next)
		ev_push(s, ev);
	iso_msg_free(ev);
	return;
lost:
	iso_msg_free(ev);
	log_warn("event %s: %s", type, iso_error());
	for (s = subs; s != NULL; s = s->next)
		s->lost++;
}

void
op_events(struct sv_conn *c, const iso_msg *req)
{
	struct ev_sub	*s;

	(void)req;
	if ((s = calloc(1, sizeof *s)) == NULL) {
		sv_error(c, ENOMEM, "events: out of memory");
		return;
	}
	s->conn = c;
	if (sv_stream(c, iso_msg_pack("{s:b s:b}", "ok", 1, "stream", 1),
	    NULL, ev_cancel, s) == -1) {
		free(s);
		return;
	}
	sv_on_drain(c, ev_drained, s);
	s->next = subs;
	if (subs != NULL)
		subs->prev = s;
	subs = s;
}

size_t
events_count(void)
{
	struct ev_sub	*s;
	size_t		 n = 0;

	for (s = subs; s != NULL; s = s->next)
		n++;
	return (n);
}
