/*
 * link.c: the connection from a --lines command's shepherd ("attach"):
 * the supervisor feeds it the command's mailbox, a message at a time,
 * and puts each line of output it sends back into the outbox, stopping
 * either way while the other side is full.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon.h"
#include "proc.h"
#include "supproto.h"

#define LINK_OUT_MAX	(64 * 1024)	/* bytes of input queued to it */

void
link_free(struct proc *p)
{
	struct link	*l = p->link;

	if (l == NULL)
		return;
	event_free(l->rev);
	event_free(l->wev);
	evbuffer_free(l->in);
	evbuffer_free(l->out);
	close(l->fd);
	free(l);
	p->link = NULL;
}

static void
link_flush(struct link *l)
{
	while (evbuffer_get_length(l->out) > 0) {
		if (evbuffer_write(l->out, l->fd) <= 0) {
			if (errno == EAGAIN || errno == EINTR)
				event_add(l->wev, NULL);
			return;
		}
	}
	event_del(l->wev);
}

/* Pass the mailbox on to the shepherd, a little at a time. */
static void
link_feed(void *arg)
{
	struct proc	*p = arg;
	struct link	*l = p->link;
	iso_msg		*one;

	if (l == NULL || p->box == NULL)
		return;
	while (mbox_len(p->box) > 0 &&
	    evbuffer_get_length(l->out) < LINK_OUT_MAX) {
		if ((one = mbox_take(p->box, 1)) == NULL)
			break;
		(void)evf_add(l->out, iso_msg_at(one, 0));
		iso_msg_free(one);
	}
	link_flush(l);
}

static void
link_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;

	(void)fd;
	(void)what;
	link_feed(p);
}

/* Frames from the shepherd: each a line of output, into the outbox.
   0, or -1 when its stream is bad. */
static int
link_take(struct proc *p)
{
	iso_msg	*m;
	int	 r = 0;

	while (!mbox_full(p->outbox) && (r = evf_next(p->link->in, &m)) == 1) {
		if (mbox_put(p->outbox, m, NULL) == -1)
			log_warn("isolate %016" PRIx64 ": output: %s", p->id,
			    strerror(errno));
		iso_msg_free(m);
	}
	return (r == -1 ? -1 : 0);
}

static void
link_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct proc	*p = arg;
	int		 n;

	(void)what;
	if (mbox_full(p->outbox)) {
		event_del(p->link->rev);	/* until recv makes room */
		return;
	}
	n = evbuffer_read(p->link->in, fd, 65536);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (link_take(p) == -1 || n <= 0)
		link_free(p);
}

/* The outbox has room again: read from the shepherd. */
static void
link_room(void *arg)
{
	struct proc	*p = arg;

	if (p->link != NULL) {
		event_add(p->link->rev, NULL);
		if (link_take(p) == -1)
			link_free(p);
	}
}

/* "attach" {id}: a --lines command's shepherd; the connection is ours. */
void
op_attach(struct sv_conn *c, const iso_msg *req)
{
	const char	*id;
	struct proc	*p;
	struct link	*l;
	struct evbuffer	*in;
	int		 fd;

	if (iso_msg_unpack(req, "{s:s}", "id", &id) == -1 ||
	    (p = proc_by_id(strtoull(id, NULL, 16))) == NULL || !p->lines ||
	    p->outbox == NULL || (l = calloc(1, sizeof *l)) == NULL) {
		/* Not a link we can take: what follows on it is output, not
		   requests, so nothing more of it is read. */
		sv_drop(c);
		return;
	}
	fd = sv_detach(c, &in);
	link_free(p);
	l->fd = fd;
	l->in = in;
	l->proc = p;
	if ((l->out = evbuffer_new()) == NULL ||
	    (l->rev = event_new(proc_base, fd, EV_READ | EV_PERSIST, link_read_cb,
	    p)) == NULL ||
	    (l->wev = event_new(proc_base, fd, EV_WRITE, link_write_cb, p)) ==
	    NULL) {
		if (l->out != NULL)
			evbuffer_free(l->out);
		if (l->rev != NULL)
			event_free(l->rev);
		evbuffer_free(in);
		close(fd);
		free(l);
		return;
	}
	p->link = l;
	event_add(l->rev, NULL);
	mbox_on_room(p->outbox, link_room, p);
	mbox_on_put(p->box, link_feed, p);
	if (link_take(p) == -1) {
		link_free(p);
		return;
	}
	link_feed(p);
}
