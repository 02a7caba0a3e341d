/*
 * mapcluster.c: the items of isoctl map --cluster, sent as compute
 * requests with "cluster" to the local supervisor, which passes each to
 * a node serving the module. A connection carries one request at a time
 * (the supervisor answers a connection's requests in turn), so jobs
 * connections keep jobs items in flight; the rest wait here, in order.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "cli.h"
#include "mapcluster.h"
#include "rtdir.h"
#include "supproto.h"
#include "wire.h"

struct mc_item {
	iso_msg		*req;
	void		*item;
	struct mc_item	*next;
};

struct mc_conn {
	struct mapcl	*mc;
	int		 fd;
	struct event	*rev, *wev;
	struct evbuffer	*in, *out;
	struct mc_item	*cur;		/* in flight, or NULL */
};

struct mapcl {
	struct event_base	*base;
	char			*module, *function;
	int			 timeout_ms;
	mapcmd_done		 done;
	void			*ud;
	struct mc_conn		*conns;
	int			 nconns, alive;
	struct mc_item		*head, **tail;
	struct event		*later;		/* failures told from the loop */
	struct mc_item		*failed, **ftail;
	char			 why[256];
};

static void	mc_next(struct mc_conn *);

static void
mc_item_free(struct mc_item *it)
{
	iso_msg_free(it->req);
	free(it);
}

static void
mc_conn_close(struct mc_conn *k)
{
	if (k->rev != NULL)
		event_free(k->rev);
	if (k->wev != NULL)
		event_free(k->wev);
	if (k->in != NULL)
		evbuffer_free(k->in);
	if (k->out != NULL)
		evbuffer_free(k->out);
	if (k->fd != -1)
		close(k->fd);
	k->rev = k->wev = NULL;
	k->in = k->out = NULL;
	k->fd = -1;
}

/* Items that cannot run: told from the loop (never within submit). */
static void
mc_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mapcl	*mc = arg;
	struct mc_item	*it;

	(void)fd;
	(void)what;
	while ((it = mc->failed) != NULL) {
		if ((mc->failed = it->next) == NULL)
			mc->ftail = &mc->failed;
		mc->done(0, strdup(mc->why), it->item, mc->ud);
		mc_item_free(it);
	}
}

static void
mc_fail_later(struct mapcl *mc, struct mc_item *it)
{
	it->next = NULL;
	*mc->ftail = it;
	mc->ftail = &it->next;
	event_active(mc->later, EV_TIMEOUT, 1);
}

/* k's connection has ended: its item fails; with none left, all do. */
static void
mc_conn_dead(struct mc_conn *k, const char *why)
{
	struct mapcl	*mc = k->mc;
	struct mc_item	*it;

	mc_conn_close(k);
	mc->alive--;
	snprintf(mc->why, sizeof mc->why, "%s", why);
	if (k->cur != NULL) {
		mc_fail_later(mc, k->cur);
		k->cur = NULL;
	}
	if (mc->alive > 0)
		return;
	while ((it = mc->head) != NULL) {
		if ((mc->head = it->next) == NULL)
			mc->tail = &mc->head;
		mc_fail_later(mc, it);
	}
}

/* The answer to k's item. */
static void
mc_answer(struct mc_conn *k, iso_msg *rep)
{
	struct mapcl	*mc = k->mc;
	struct mc_item	*it = k->cur;
	const iso_msg	*result;
	const char	*why = "failed";
	int		 ok = 0;

	k->cur = NULL;
	if (iso_msg_unpack(rep, "{s:b}", "ok", &ok) == 0 && ok &&
	    (result = iso_msg_get(rep, "result")) != NULL)
		mc->done(1, iso_msg_to_json(result), it->item, mc->ud);
	else {
		(void)iso_msg_unpack(rep, "{s?s}", "error", &why);
		mc->done(0, strdup(why), it->item, mc->ud);
	}
	mc_item_free(it);
	iso_msg_free(rep);
}

static void
mc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mc_conn	*k = arg;
	unsigned char	*p;
	iso_msg		*rep;
	size_t		 len;
	int		 n;

	(void)what;
	n = evbuffer_read(k->in, fd, 65536);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	while (evbuffer_get_length(k->in) >= WIRE_HDR) {
		p = evbuffer_pullup(k->in, WIRE_HDR);
		if (wire_frame_len(p, &len) == -1) {
			mc_conn_dead(k, "the supervisor sent a bad frame");
			return;
		}
		if (evbuffer_get_length(k->in) < WIRE_HDR + len)
			break;
		p = evbuffer_pullup(k->in, (ssize_t)(WIRE_HDR + len));
		rep = iso_msg_decode(p + WIRE_HDR, len);
		evbuffer_drain(k->in, WIRE_HDR + len);
		if (rep == NULL || k->cur == NULL) {
			iso_msg_free(rep);
			mc_conn_dead(k, "the supervisor sent a bad reply");
			return;
		}
		mc_answer(k, rep);
		mc_next(k);
		if (k->fd == -1)
			return;
	}
	if (n <= 0)
		mc_conn_dead(k, "the supervisor closed the connection");
}

static void
mc_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mc_conn	*k = arg;

	(void)what;
	if (evbuffer_write(k->out, fd) == -1 && errno != EAGAIN &&
	    errno != EINTR) {
		mc_conn_dead(k, "cannot write to the supervisor");
		return;
	}
	if (evbuffer_get_length(k->out) == 0)
		event_del(k->wev);
}

/* k is free: send it the next item waiting. */
static void
mc_next(struct mc_conn *k)
{
	struct mapcl	*mc = k->mc;
	struct mc_item	*it;
	unsigned char	 hdr[WIRE_HDR];
	void		*buf;
	size_t		 len;

	if (k->fd == -1 || k->cur != NULL || (it = mc->head) == NULL)
		return;
	if ((mc->head = it->next) == NULL)
		mc->tail = &mc->head;
	if (iso_msg_encode(it->req, &buf, &len) == -1) {
		snprintf(mc->why, sizeof mc->why, "%s", iso_error());
		mc_fail_later(mc, it);
		return;
	}
	wire_frame_hdr(hdr, len);
	k->cur = it;
	if (evbuffer_add(k->out, hdr, sizeof hdr) == -1 ||
	    evbuffer_add(k->out, buf, len) == -1 ||
	    event_add(k->wev, NULL) == -1) {
		free(buf);
		mc_conn_dead(k, "out of memory");
		return;
	}
	free(buf);
}

/* A connection to the local supervisor, non-blocking: 0/-1. */
static int
mc_connect(struct mc_conn *k)
{
	int	r;

	if (rtdir_fd() == -1 || (k->fd = socket(AF_UNIX, SOCK_STREAM |
	    SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	do
		r = rtdir_connect(k->fd, SUP_SOCKET);
	while (r == -1 && errno == EINTR);
	if (r == -1 || fcntl(k->fd, F_SETFL, O_NONBLOCK) == -1 ||
	    (k->in = evbuffer_new()) == NULL ||
	    (k->out = evbuffer_new()) == NULL ||
	    (k->rev = event_new(k->mc->base, k->fd, EV_READ | EV_PERSIST,
	    mc_read_cb, k)) == NULL ||
	    (k->wev = event_new(k->mc->base, k->fd, EV_WRITE | EV_PERSIST,
	    mc_write_cb, k)) == NULL || event_add(k->rev, NULL) == -1)
		return (-1);
	return (0);
}

struct mapcl *
mapcl_new(struct event_base *base, const char *fn, int jobs,
    int timeout_ms, mapcmd_done done, void *ud, char *err, size_t errlen)
{
	struct mapcl	*mc;
	iso_msg		*nodes;
	const char	*colon = strrchr(fn, ':');
	char		*mod;
	int		 i;

	/* Started if need be, and in a cluster. */
	if (iso_sup_nodes(&nodes) == -1) {
		snprintf(err, errlen, "%s", iso_error());
		return (NULL);
	}
	iso_msg_free(nodes);
	if ((mc = calloc(1, sizeof *mc)) == NULL)
		goto nomem;
	mc->base = base;
	mc->timeout_ms = timeout_ms;
	mc->done = done;
	mc->ud = ud;
	mc->tail = &mc->head;
	mc->ftail = &mc->failed;
	if ((mod = strndup(fn, (size_t)(colon - fn))) == NULL)
		goto nomem;
	mc->module = *mod != '/' && access(mod, F_OK) == 0 ?
	    realpath(mod, NULL) : NULL;
	if (mc->module == NULL)
		mc->module = mod;
	else
		free(mod);
	if ((mc->function = strdup(colon + 1)) == NULL ||
	    (mc->later = event_new(base, -1, 0, mc_later_cb, mc)) == NULL ||
	    (mc->conns = calloc((size_t)jobs, sizeof *mc->conns)) == NULL)
		goto nomem;
	for (i = 0; i < jobs; i++) {
		mc->conns[i].mc = mc;
		mc->conns[i].fd = -1;
	}
	mc->nconns = jobs;
	for (i = 0; i < jobs; i++) {
		if (mc_connect(&mc->conns[i]) == -1) {
			snprintf(err, errlen, "cannot reach the supervisor: %s",
			    strerror(errno));
			mapcl_free(mc);
			return (NULL);
		}
		mc->alive++;
	}
	return (mc);
nomem:
	snprintf(err, errlen, "out of memory");
	mapcl_free(mc);
	return (NULL);
}

int
mapcl_submit(struct mapcl *mc, const iso_msg *arg, void *item)
{
	struct mc_item	*it;
	int		 i;

	if ((it = calloc(1, sizeof *it)) == NULL ||
	    (it->req = iso_msg_pack("{s:s s:s s:s s:O s:i s:b}", "op",
	    "compute", "module", mc->module, "function", mc->function, "arg",
	    arg, "timeout_ms", mc->timeout_ms, "cluster", 1)) == NULL) {
		free(it);
		return (-1);
	}
	it->item = item;
	if (mc->alive == 0) {
		mc_fail_later(mc, it);
		return (0);
	}
	*mc->tail = it;
	mc->tail = &it->next;
	for (i = 0; i < mc->nconns && mc->head != NULL; i++)
		mc_next(&mc->conns[i]);
	return (0);
}

void
mapcl_free(struct mapcl *mc)
{
	struct mc_item	*it;
	int		 i;

	if (mc == NULL)
		return;
	for (i = 0; i < mc->nconns; i++) {
		mc_conn_close(&mc->conns[i]);
		if (mc->conns[i].cur != NULL)
			mc_item_free(mc->conns[i].cur);
	}
	while ((it = mc->head) != NULL) {
		mc->head = it->next;
		mc_item_free(it);
	}
	while ((it = mc->failed) != NULL) {
		mc->failed = it->next;
		mc_item_free(it);
	}
	if (mc->later != NULL)
		event_free(mc->later);
	free(mc->conns);
	free(mc->module);
	free(mc->function);
	free(mc);
}
