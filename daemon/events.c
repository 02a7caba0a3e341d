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
#include <string.h>

#include "daemon.h"
#include "records.h"

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

/* Push ev (taken over, NULL: could not be built) to every subscriber. */
static void
ev_send(const char *type, iso_msg *ev)
{
	struct ev_sub	*s;

	if (ev == NULL) {
		log_warn("event %s: %s", type, iso_error());
		for (s = subs; s != NULL; s = s->next)
			s->lost++;
		return;
	}
	for (s = subs; s != NULL; s = s->next)
		ev_push(s, ev);
	iso_msg_free(ev);
}

/* {"event": type, "time": now} and the pairs of more (taken over). */
static iso_msg *
ev_new(const char *type, iso_msg *more)
{
	iso_msg	*ev;
	size_t	 i, n = iso_msg_len(more);

	if (more == NULL || (ev = iso_msg_pack("{s:s s:f}", "event", type,
	    "time", ev_now())) == NULL) {
		iso_msg_free(more);
		return (NULL);
	}
	for (i = 0; i < n; i++)
		if (iso_msg_put(ev, iso_msg_copy(iso_msg_key_at(more, i)),
		    iso_msg_copy(iso_msg_value_at(more, i))) == -1) {
			iso_msg_free(ev);
			ev = NULL;
			break;
		}
	iso_msg_free(more);
	return (ev);
}

void
events_emit(const char *type, const char *fmt, ...)
{
	iso_msg	*more;
	va_list	 ap;

	if (subs == NULL)
		return;
	va_start(ap, fmt);
	more = iso_msg_vpack(fmt, ap);
	va_end(ap);
	ev_send(type, ev_new(type, more));
}

void
events_rec(const char *type, struct proc *p, int delay)
{
	/* The keys of p's row (rec_row) each type carries. */
	static const struct {
		const char	*type;
		const char	*keys[9];
	} carry[] = {
		{ "spawn", { "id", "name", "pid", "kind", "entry", "parent",
		    "restarts", NULL } },
		{ "exit", { "id", "name", "pid", "kind", "exit_code",
		    "signal", "error", "reason", NULL } },
		{ "restart", { "id", "name", "restarts", "reason", NULL } },
		{ "failed", { "id", "name", "error", NULL } },
	};
	const iso_msg	*v;
	iso_msg		*row, *ev;
	size_t		 i, k;

	if (subs == NULL)
		return;
	for (i = 0; i < sizeof carry / sizeof carry[0]; i++)
		if (strcmp(carry[i].type, type) == 0)
			break;
	if (i == sizeof carry / sizeof carry[0] ||
	    (row = rec_row(p)) == NULL) {
		ev_send(type, NULL);
		return;
	}
	ev = ev_new(type, iso_msg_pack("{}"));
	for (k = 0; ev != NULL && carry[i].keys[k] != NULL; k++)
		if ((v = iso_msg_get(row, carry[i].keys[k])) != NULL &&
		    iso_msg_put(ev, iso_msg_pack("s", carry[i].keys[k]),
		    iso_msg_copy(v)) == -1) {
			iso_msg_free(ev);
			ev = NULL;
		}
	if (ev != NULL && strcmp(type, "restart") == 0 &&
	    iso_msg_put(ev, iso_msg_pack("s", "in_ms"),
	    iso_msg_pack("i", delay)) == -1) {
		iso_msg_free(ev);
		ev = NULL;
	}
	iso_msg_free(row);
	ev_send(type, ev);
}

static void
op_events(struct sv_conn *c, const struct rq *r)
{
	struct ev_sub	*s;

	(void)r;
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

const struct rq_entry rq_events = { .name = "events", .exec = op_events };

size_t
events_count(void)
{
	struct ev_sub	*s;
	size_t		 n = 0;

	for (s = subs; s != NULL; s = s->next)
		n++;
	return (n);
}
