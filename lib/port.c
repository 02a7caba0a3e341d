/*
 * port.c: ReceivePorts: the port table, SendPort identity, delivery to
 * listeners, first/listen/close, and sends within this isolate.
 *
 * A port number is never reused within an isolate, so a SendPort of a
 * closed port can never reach a newer one. Messages for a port without a
 * listener wait in its queue; a closed or unknown port drops them, as
 * Dart does.
 */
#include <sys/queue.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "hot.h"
#include "loop.h"
#include "msg.h"
#include "table.h"

struct pmsg {
	iso_msg			*m;
	uint32_t		 port;	/* the local queue's destination */
	pid_t			 pid;	/* a notice: isolate `ended`, pid, */
	uint64_t		 ended;	/* ... has ended (0: a message) */
	STAILQ_ENTRY(pmsg)	 link;
};
STAILQ_HEAD(pmsgq, pmsg);

struct iso_port {
	uint32_t	 num;
	uint32_t	 pid;		/* its isolate's */
	uint64_t	 isolate;	/* ... and id: in a new isolate, the
					   spawner's ports are not its own */
	void		(*fn)(iso_port *, const iso_msg *, void *);
	void		*arg;
	struct pmsgq	 queue;		/* waiting for a listener */
	struct event	*drain;		/* delivers the queue after listen */
	iso_msg		*first;		/* what iso_port_first waits for */
	int		 waiting;	/* iso_port_first in progress */
	int		 got;		/* ... and first is here */
	int		 busy;		/* its listener is running */
	int		 closed;
};

static struct table	ports;
static uint32_t		next_port;
static struct pmsgq	local = STAILQ_HEAD_INITIALIZER(local);
static struct event	*local_ev;	/* delivers sends to ourselves */


/* A port of the isolate that spawned us (or of its spawner...). */
static int
port_foreign(const iso_port *p)
{
	return (p->isolate != loop_self());
}

static void
pmsgq_free(struct pmsgq *q)
{
	struct pmsg	*pm;

	while ((pm = STAILQ_FIRST(q)) != NULL) {
		STAILQ_REMOVE_HEAD(q, link);
		iso_msg_free(pm->m);
		free(pm);
	}
}

static ISO_HOT void
port_free(iso_port *p)
{
	pmsgq_free(&p->queue);
	if (p->drain != NULL)
		event_free(p->drain);
	iso_msg_free(p->first);
	evmem_free(p);
}

/* Give m to p's listener; p is open and has one. Takes m. -1 when the
   listener closed p, which is then freed. */
static int
port_call(iso_port *p, iso_msg *m)
{
	p->busy = 1;
	p->fn(p, m, p->arg);
	p->busy = 0;
	iso_msg_free(m);
	if (!p->closed)
		return (0);
	port_free(p);
	return (-1);
}

/* Deliver what waited for a listener (a closed port has no pending
   drain: closing frees the event). */
static void
port_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	iso_port	*p = arg;
	struct pmsg	*pm;
	iso_msg		*m;

	(void)fd;
	(void)what;
	while (!loop_stopping() && (pm = STAILQ_FIRST(&p->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->queue, link);
		m = pm->m;
		free(pm);
		if (port_call(p, m) == -1)
			return;
	}
}

/* Queue m (taken) for port; ended, pid: see struct pmsg. */
static int
port_enqueue(struct pmsgq *q, uint32_t port, iso_msg *m, uint64_t ended,
    pid_t pid)
{
	struct pmsg	*pm;

	if ((pm = malloc(sizeof *pm)) == NULL) {
		iso_msg_free(m);
		return (msg_fail(ENOMEM, "port: out of memory"));
	}
	pm->m = m;
	pm->port = port;
	pm->ended = ended;
	pm->pid = pid;
	STAILQ_INSERT_TAIL(q, pm, link);
	return (0);
}

ISO_HOT void
port_deliver(uint32_t num, iso_msg *m)
{
	iso_port	*p;

	if ((p = table_get(&ports, num)) == NULL) {
		iso_msg_free(m);	/* closed: dropped, as in Dart */
		return;
	}
	if (p->waiting && !p->got) {
		p->first = m;
		p->got = 1;
		return;
	}
	if (p->fn == NULL || !STAILQ_EMPTY(&p->queue)) {
		port_enqueue(&p->queue, num, m, 0, 0);
		return;
	}
	(void)port_call(p, m);
}

ISO_HOT iso_port *
iso_port_new(void)
{
	iso_port	*p;

	if (conn_listen() == -1)
		return (NULL);
	if ((p = evmem_calloc(sizeof *p)) == NULL) {
		msg_fail(ENOMEM, "port: out of memory");
		return (NULL);
	}
	STAILQ_INIT(&p->queue);
	p->num = ++next_port;
	p->isolate = loop_self();
	p->pid = (uint32_t)loop_pid();
	if (table_put(&ports, p->num, p) == -1) {
		evmem_free(p);
		msg_fail(ENOMEM, "port: out of memory");
		return (NULL);
	}
	loop_hold();
	return (p);
}

ISO_HOT iso_sendport
iso_port_sendport(const iso_port *p)
{
	iso_sendport	sp = { 0, 0, 0 };

	if (p != NULL) {
		sp.isolate = p->isolate;
		sp.pid = p->pid;
		sp.port = p->num;
	}
	return (sp);
}

int
iso_sendport_equal(iso_sendport a, iso_sendport b)
{
	return (a.isolate == b.isolate && a.port == b.port);
}

ISO_HOT int
iso_port_listen(iso_port *p, void (*fn)(iso_port *, const iso_msg *, void *),
    void *arg)
{
	struct event_base	*base;

	if (p == NULL || fn == NULL || p->fn != NULL || p->waiting ||
	    p->closed || port_foreign(p))
		return (msg_fail(EINVAL, "listen: port is already listened "
		    "to, waited on or closed"));
	p->fn = fn;
	p->arg = arg;
	if (!STAILQ_EMPTY(&p->queue)) {
		if ((base = loop_base()) == NULL)
			return (-1);
		if (p->drain == NULL && (p->drain = event_new(base, -1, 0,
		    port_drain_cb, p)) == NULL)
			return (msg_fail(ENOMEM, "listen: out of memory"));
		event_active(p->drain, 0, 0);
	}
	return (0);
}

ISO_HOT void
iso_port_close(iso_port *p)
{
	if (p == NULL || p->closed || port_foreign(p))
		return;		/* the spawner's: left as it is */
	p->closed = 1;
	table_del(&ports, p->num);
	loop_unhold();
	pmsgq_free(&p->queue);
	if (p->waiting)
		p->got = 1;	/* ends iso_port_first's wait, which frees p */
	if (p->busy || p->waiting)
		return;		/* freed when its callback or wait is over */
	port_free(p);
}

int
iso_port_first(iso_port *p, iso_msg **out, int timeout_ms)
{
	struct pmsg	*pm;

	if (p == NULL || out == NULL || p->fn != NULL || p->closed ||
	    port_foreign(p))
		return (msg_fail(EINVAL, "first: port is listened to or "
		    "closed"));
	if ((pm = STAILQ_FIRST(&p->queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&p->queue, link);
		*out = pm->m;
		free(pm);
		iso_port_close(p);
		return (0);
	}
	p->waiting = 1;
	if (loop_wait(&p->got, timeout_ms) == -1 && !p->got) {
		p->waiting = 0;
		return (-1);
	}
	p->waiting = 0;
	p->got = 0;
	if (p->closed) {	/* by a callback while we waited */
		port_free(p);
		return (msg_fail(ECANCELED, "first: the port was closed while "
		    "waiting"));
	}
	*out = p->first;
	p->first = NULL;
	iso_port_close(p);
	return (0);
}

static void
local_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pmsg	*pm;

	(void)fd;
	(void)what;
	(void)arg;
	while (!loop_stopping() && (pm = STAILQ_FIRST(&local)) != NULL) {
		STAILQ_REMOVE_HEAD(&local, link);
		if (pm->ended != 0)
			conn_settle(pm->ended, pm->pid);
		port_deliver(pm->port, pm->m);
		free(pm);
	}
}

/* A send to ourselves: delivered from the loop, as Dart does; a notice
   that isolate `ended` (pid) has ended (0: none) after what it sent. */
static int
port_send_local(uint32_t num, const iso_msg *m, uint64_t ended, pid_t pid)
{
	struct event_base	*base;
	iso_msg			*copy;

	if (table_get(&ports, num) == NULL)
		return (0);		/* closed: dropped */
	if ((base = loop_base()) == NULL)
		return (-1);
	if (local_ev == NULL &&
	    (local_ev = event_new(base, -1, 0, local_cb, NULL)) == NULL)
		return (msg_fail(ENOMEM, "send: out of memory"));
	if ((copy = iso_msg_copy(m)) == NULL ||
	    port_enqueue(&local, num, copy, ended, pid) == -1)
		return (-1);
	event_active(local_ev, 0, 0);
	return (0);
}

ISO_HOT int
iso_send(iso_sendport to, const iso_msg *m)
{
	if (m == NULL || to.isolate == 0 || to.port == 0)
		return (msg_fail(EINVAL, "send: no message or no port"));
	if (to.isolate == loop_self())
		return (port_send_local(to.port, m, 0, 0));
	return (conn_send(to, m));
}

/* iso_sendf from three va_starts of the arguments: *direct for the way
   straight into the queue, *fast and *slow for pack_ap. */
static int
sendf_ap(iso_sendport to, const char *fmt, va_list *direct, va_list *fast,
    va_list *slow)
{
	iso_msg	*m;
	int	 rc, saved;

	if (fmt == NULL || to.isolate == 0 || to.port == 0)
		return (msg_fail(EINVAL, "sendf: no format or no port"));
	if (to.isolate != loop_self() &&
	    (rc = conn_send_direct(to, fmt, direct)) != 1)
		return (rc);
	if ((m = pack_ap(fmt, fast, slow)) == NULL)
		return (-1);
	rc = iso_send(to, m);
	saved = errno;
	iso_msg_free(m);
	errno = saved;
	return (rc);
}

int
iso_vsendf(iso_sendport to, const char *fmt, va_list ap)
{
	va_list	direct, fast, slow;
	int	rc;

	va_copy(direct, ap);
	va_copy(fast, ap);
	va_copy(slow, ap);
	rc = sendf_ap(to, fmt, &direct, &fast, &slow);
	va_end(direct);
	va_end(fast);
	va_end(slow);
	return (rc);
}

int
iso_sendf(iso_sendport to, const char *fmt, ...)
{
	va_list	direct, fast, slow;
	int	rc;

	va_start(direct, fmt);
	va_start(fast, fmt);
	va_start(slow, fmt);
	rc = sendf_ap(to, fmt, &direct, &fast, &slow);
	va_end(direct);
	va_end(fast);
	va_end(slow);
	return (rc);
}

int
iso_on_writable(iso_sendport to, void (*cb)(void *ud), void *ud)
{
	if (cb == NULL || to.isolate == 0 || to.port == 0)
		return (msg_fail(EINVAL, "on_writable: no callback or no "
		    "port"));
	/* To ourselves nothing is queued: room now, told from the loop. */
	return (conn_on_room(to.isolate, 0, cb, ud));
}

static void
port_room_cb(void *ud)
{
	*(int *)ud = 1;
}

int
iso_send_wait(iso_sendport to, const iso_msg *m, int timeout_ms)
{
	struct timespec	ts;
	int64_t		deadline = 0;
	int		room, left = timeout_ms, rc;

	if (timeout_ms >= 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		deadline = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
		    timeout_ms;
	}
	for (;;) {
		if (iso_send(to, m) == 0)
			return (0);
		if (errno != ENOBUFS)
			return (-1);
		if (loop_dispatching())
			return (msg_fail(EDEADLK, "send_wait: the queue to "
			    "isolate %016llx is full, and a wait inside a "
			    "callback would need the loop that is running it",
			    (unsigned long long)to.isolate));
		room = 0;
		if (conn_on_room(to.isolate, conn_frame_need(m), port_room_cb,
		    &room) == -1)
			return (-1);
		if (timeout_ms >= 0) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			left = (int)(deadline - ((int64_t)ts.tv_sec * 1000 +
			    ts.tv_nsec / 1000000));
			if (left < 0)
				left = 0;
		}
		rc = loop_wait(&room, left);
		conn_on_room_cancel(port_room_cb, &room);
		if (rc == -1)
			return (-1);
	}
}

int
port_send_ended(iso_sendport to, uint64_t id, pid_t pid,
    const iso_msg *notice)
{
	if (to.isolate == loop_self())
		return (port_send_local(to.port, notice, id, pid));
	return (conn_send_ended(to, id, pid, notice));
}

ISO_HOT void
port_forget(void)
{
	loop_keep(ports.slots);
	loop_keep(STAILQ_FIRST(&local));
	loop_keep(local_ev);
	memset(&ports, 0, sizeof ports);
	STAILQ_INIT(&local);
	local_ev = NULL;
	next_port = 0;
}
