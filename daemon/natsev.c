/*
 * natsev.c: a NATS connection driven by the daemon's own libevent loop.
 * nats.c reads and writes its socket only when told (natsOptions_
 * SetEventLoop); we tell it from the loop, and right after a read hand
 * what came in to the cluster (cluster_pump), which takes it from
 * synchronous subscriptions without waiting. So every message is
 * handled on the daemon's one thread, with no delivery thread and no
 * hand-over between threads. nats.c's ping timer still runs on a thread
 * of its own and asks for write events from there; the base is then made
 * thread-safe (natsev_threads, before it is created), as libevent
 * requires.
 */
#include <stdlib.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <nats/nats.h>

#include "cluster.h"
#include "loop.h"

struct natsev {
	natsConnection		*nc;
	struct event_base	*base;
	struct event		*rev;
	struct event		*wev;
	int			 want;	/* a write asked for (atomic) */
	int			 in_cb;	/* in natsev_cb: detach frees later */
	int			 dead;	/* ... and it did */
};

/*
 * nats.c frees every message (published or received) on its garbage
 * collector thread, woken whenever one is destroyed while it sleeps:
 * two wake-ups of that thread per message and supervisor in a round
 * trip, on a machine of two CPUs. Messages are destroyed here in
 * batches instead, every NE_BURY_MS or NE_BURY_MAX messages.
 */
#define NE_BURY_MS	20
#define NE_BURY_MAX	256
#define NE_BURY_BYTES	(4 << 20)

static struct event		*ne_bury_ev;
static natsMsg			*ne_dead[NE_BURY_MAX];
static size_t			 ne_ndead, ne_dead_bytes;

int
natsev_threads(void)
{
	if (evthread_use_pthreads() == -1)
		return (-1);
	loop_threaded();
	return (0);
}

void
natsev_bury(void)
{
	while (ne_ndead > 0)
		natsMsg_Destroy(ne_dead[--ne_ndead]);
	ne_dead_bytes = 0;
}

static void
natsev_bury_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	natsev_bury();
}

void
natsev_dispose(natsMsg *m)
{
	const struct timeval	tv = { 0, NE_BURY_MS * 1000 };

	if (m == NULL)
		return;
	if (ne_ndead == NE_BURY_MAX)
		natsev_bury();
	ne_dead[ne_ndead++] = m;
	ne_dead_bytes += (size_t)natsMsg_GetDataLength(m);
	if (ne_dead_bytes >= NE_BURY_BYTES)
		natsev_bury();
	else if (ne_bury_ev != NULL && !evtimer_pending(ne_bury_ev, NULL))
		evtimer_add(ne_bury_ev, &tv);
}

/*
 * A write asked for (natsev_write) runs from the loop's active queue in
 * the turn that asked, after the callbacks already due: what that turn
 * published goes out in one write, without waiting for epoll to say the
 * socket is writable, which it nearly always is. Only a write that did
 * not finish waits for EV_WRITE.
 */
static void
natsev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct natsev	*ne = arg;
	natsConnection	*nc = ne->nc;

	(void)fd;
	ne->in_cb = 1;
	if (what & EV_WRITE) {
		natsConnection_ProcessWriteEvent(nc);
		if (!ne->dead && __atomic_load_n(&ne->want, __ATOMIC_ACQUIRE) &&
		    !event_pending(ne->wev, EV_WRITE, NULL))
			event_add(ne->wev, NULL);
	}
	/* What a read brings for our isolates is written once, after it
	   (ib_flush), not a send each. */
	conn_defer_writes(1);
	if ((what & EV_READ) && !ne->dead)
		natsConnection_ProcessReadEvent(nc);
	ne->in_cb = 0;
	if (ne->dead)
		free(ne);
	if (what & EV_READ)
		cluster_pump();
	conn_flush();
	conn_defer_writes(0);
}

static natsStatus
natsev_attach(void **ud, void *loop, natsConnection *nc, natsSock sock)
{
	struct natsev	*ne = *ud;

	if (ne == NULL) {
		if ((ne = calloc(1, sizeof *ne)) == NULL)
			return (NATS_NO_MEMORY);
		ne->nc = nc;
		ne->base = loop;
	}
	/* A reconnect: the old socket is gone. */
	if (ne->rev != NULL)
		event_free(ne->rev);
	if (ne->wev != NULL)
		event_free(ne->wev);
	ne->rev = event_new(ne->base, sock, EV_READ | EV_PERSIST, natsev_cb,
	    ne);
	ne->wev = event_new(ne->base, sock, EV_WRITE | EV_PERSIST, natsev_cb,
	    ne);
	if (ne->rev == NULL || ne->wev == NULL || event_add(ne->rev, NULL)
	    == -1) {
		if (*ud == NULL) {
			if (ne->rev != NULL)
				event_free(ne->rev);
			if (ne->wev != NULL)
				event_free(ne->wev);
			free(ne);
		}
		return (NATS_NO_MEMORY);
	}
	*ud = ne;
	return (NATS_OK);
}

static natsStatus
natsev_read(void *ud, bool add)
{
	struct natsev	*ne = ud;

	return ((add ? event_add(ne->rev, NULL) : event_del_noblock(ne->rev))
	    == 0 ? NATS_OK : NATS_ERR);
}

static natsStatus
natsev_write(void *ud, bool add)
{
	struct natsev	*ne = ud;

	__atomic_store_n(&ne->want, add, __ATOMIC_RELEASE);
	if (!add)
		return (event_del_noblock(ne->wev) == 0 ? NATS_OK : NATS_ERR);
	event_active(ne->wev, EV_WRITE, 0);
	return (NATS_OK);
}

static natsStatus
natsev_detach(void *ud)
{
	struct natsev	*ne = ud;

	if (ne->rev != NULL)
		event_free(ne->rev);
	if (ne->wev != NULL)
		event_free(ne->wev);
	ne->rev = ne->wev = NULL;
	if (ne->in_cb)
		ne->dead = 1;	/* natsev_cb frees it */
	else
		free(ne);
	return (NATS_OK);
}

/*
 * SendAsap: without it nats.c hands each write to its flusher thread,
 * which sleeps 1 ms first (a round trip between nodes took 2.1 ms, two
 * such waits); with it, on an event loop, a publish asks for a write
 * (natsev_write), done in the same turn of the loop.
 */
int
natsev_options(natsOptions *o, struct event_base *base)
{
	if (ne_bury_ev == NULL &&
	    (ne_bury_ev = evtimer_new(base, natsev_bury_cb, NULL)) == NULL)
		return (-1);
	return (natsOptions_SetEventLoop(o, base, natsev_attach, natsev_read,
	    natsev_write, natsev_detach) == NATS_OK &&
	    natsOptions_SetSendAsap(o, true) == NATS_OK ? 0 : -1);
}

void
natsev_free(void)
{
	natsev_bury();
	if (ne_bury_ev != NULL)
		event_free(ne_bury_ev);
	ne_bury_ev = NULL;
}
