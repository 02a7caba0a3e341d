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
};

int
natsev_threads(void)
{
	if (evthread_use_pthreads() == -1)
		return (-1);
	loop_threaded();
	return (0);
}

static void
natsev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct natsev	*ne = arg;
	natsConnection	*nc = ne->nc;

	(void)fd;
	/* A read that finds the connection ended detaches it: ne is
	   freed then, so only nc is used after. */
	if (what & EV_WRITE)
		natsConnection_ProcessWriteEvent(nc);
	if (what & EV_READ) {
		natsConnection_ProcessReadEvent(nc);
		cluster_pump();
	}
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

	return ((add ? event_add(ne->wev, NULL) : event_del_noblock(ne->wev))
	    == 0 ? NATS_OK : NATS_ERR);
}

static natsStatus
natsev_detach(void *ud)
{
	struct natsev	*ne = ud;

	if (ne->rev != NULL)
		event_free(ne->rev);
	if (ne->wev != NULL)
		event_free(ne->wev);
	free(ne);
	return (NATS_OK);
}

/*
 * SendAsap: without it nats.c hands each write to its flusher thread,
 * which sleeps 1 ms first (a round trip between nodes took 2.1 ms, two
 * such waits); with it, on an event loop, a publish asks for a write
 * event, so what one turn of the loop published goes out in one write
 * at the next.
 */
int
natsev_options(natsOptions *o, struct event_base *base)
{
	return (natsOptions_SetEventLoop(o, base, natsev_attach, natsev_read,
	    natsev_write, natsev_detach) == NATS_OK &&
	    natsOptions_SetSendAsap(o, true) == NATS_OK ? 0 : -1);
}
