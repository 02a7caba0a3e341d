/*
 * ccompute.c: compute across the cluster. A node serves the modules it
 * was given (isolated --serve-module PATH, the same absolute path on
 * every node): for each it takes requests on iso.compute.HASH (HASH: 16
 * hex digits of the 64-bit FNV-1a of the path; a path never goes into a
 * subject as it is) in the queue group "iso", so that NATS gives each
 * request to one of the nodes serving it, and runs them on its warm
 * workers. Every node says what it serves on iso.serves every
 * CC_ANNOUNCE_MS and when a node comes up.
 *
 * A compute request with "cluster" goes to whichever node serves the
 * module: none up (nor this one) is ENOENT at once; when this node serves
 * it too, it takes its share (one chance in the number of nodes serving)
 * and runs it as any compute. Elsewhere the request is published with a
 * reply subject of our inbox; the node that takes it answers at once
 * with {"ack": true, "node": NODE}, then with the compute reply. No ack
 * within CC_ACK_MS, the node that took it lost before it answered, or
 * our NATS connection lost: EHOSTUNREACH, never a hang.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cluster.h"

#define CC_MODS_MAX	32	/* --serve-module, at most */
#define CC_ANNOUNCE_MS	2000
#define CC_ACK_MS	3000	/* a node takes a request by then */
#define CC_HASH_LEN	16

struct cc_mod {
	char	*path;
	char	 hash[CC_HASH_LEN + 1];
};

/* What a node serves (its last iso.serves). */
struct cc_node {
	char		 node[65];
	char		(*hashes)[CC_HASH_LEN + 1];
	size_t		 n;
	struct cc_node	*next;
};

/* A request of ours out on the cluster; node "" until one took it. */
struct cc_out {
	struct sv_conn	*c;
	uint64_t	 token;
	char		 node[65];
	struct event	*timer;
	struct cc_out	*next;
};

/* A request we serve: where its answer goes. */
struct cc_job {
	char		*reply;
};

static struct cc_mod	 cc_mods[CC_MODS_MAX];
static size_t		 cc_nmods;
static struct cc_node	*cc_nodes;
static struct cc_out	*cc_outs;
static struct event_base *cc_base;
static struct event	*cc_timer, *cc_soon;
static char		*cc_inbox;
static uint64_t		 cc_next_token = 1;

static void
cc_hash(const char *path, char out[CC_HASH_LEN + 1])
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (; *path != '\0'; path++) {
		h ^= (unsigned char)*path;
		h *= 0x100000001b3ULL;
	}
	snprintf(out, CC_HASH_LEN + 1, "%016" PRIx64, h);
}

int
ccompute_serve(const char *module)
{
	char	*path;
	size_t	 i;

	if (*module == '/')
		path = strdup(module);
	else
		path = realpath(module, NULL);
	if (path == NULL || access(path, R_OK) == -1) {
		fprintf(stderr, "isolated: --serve-module %s: %s\n", module,
		    strerror(errno));
		free(path);
		return (-1);
	}
	for (i = 0; i < cc_nmods; i++)
		if (strcmp(cc_mods[i].path, path) == 0) {
			free(path);
			return (0);
		}
	if (cc_nmods == CC_MODS_MAX) {
		fprintf(stderr, "isolated: --serve-module: %d modules at "
		    "most\n", CC_MODS_MAX);
		free(path);
		return (-1);
	}
	cc_mods[cc_nmods].path = path;
	cc_hash(path, cc_mods[cc_nmods].hash);
	cc_nmods++;
	return (0);
}

/* ---- what each node serves ---- */

static void
cc_announce(void)
{
	iso_msg	*m, *mods;
	void	*buf;
	size_t	 i, len;

	if (!cl_connected() || (mods = iso_msg_pack("[]")) == NULL)
		return;
	for (i = 0; i < cc_nmods; i++)
		if (iso_msg_append(mods, iso_msg_pack("s", cc_mods[i].hash)) ==
		    -1) {
			iso_msg_free(mods);
			return;
		}
	m = iso_msg_pack("{s:s s:O}", "node", cluster_node(), "modules",
	    mods);
	iso_msg_free(mods);
	if (m != NULL && iso_msg_encode(m, &buf, &len) == 0) {
		(void)cl_publish("iso.serves", NULL, buf, len);
		free(buf);
	}
	iso_msg_free(m);
}

static void
cc_announce_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	cc_announce();
}

void
ccompute_node_up(const char *node)
{
	(void)node;
	if (cc_soon != NULL)
		event_active(cc_soon, EV_TIMEOUT, 1);
}

static struct cc_node *
cc_find(const char *node)
{
	struct cc_node	*n;

	for (n = cc_nodes; n != NULL; n = n->next)
		if (strcmp(n->node, node) == 0)
			return (n);
	return (NULL);
}

static void
cc_on_serves(natsMsg *msg, void *arg)
{
	struct cc_node	*n;
	const iso_msg	*mods;
	const char	*node, *h;
	iso_msg		*m;
	size_t		 i, k = 0, len;
	char		(*hashes)[CC_HASH_LEN + 1] = NULL;

	(void)arg;
	m = iso_msg_decode(natsMsg_GetData(msg),
	    (size_t)natsMsg_GetDataLength(msg));
	natsev_dispose(msg);
	if (m == NULL || iso_msg_unpack(m, "{s:s s:O}", "node", &node,
	    "modules", &mods) == -1 || iso_msg_type(mods) != ISO_LIST ||
	    !cluster_node_valid(node)) {
		log_warn("cluster: a bad message on iso.serves: ignored");
		iso_msg_free(m);
		return;
	}
	if (strcmp(node, cluster_node()) == 0 || (iso_msg_len(mods) > 0 &&
	    (hashes = calloc(iso_msg_len(mods), sizeof *hashes)) == NULL)) {
		iso_msg_free(m);
		return;
	}
	for (i = 0; i < iso_msg_len(mods); i++)
		if ((h = iso_msg_str(iso_msg_at(mods, i), &len)) != NULL &&
		    len == CC_HASH_LEN)
			snprintf(hashes[k++], CC_HASH_LEN + 1, "%s", h);
	if ((n = cc_find(node)) == NULL) {
		if ((n = calloc(1, sizeof *n)) == NULL) {
			free(hashes);
			iso_msg_free(m);
			return;
		}
		snprintf(n->node, sizeof n->node, "%s", node);
		n->next = cc_nodes;
		cc_nodes = n;
	}
	free(n->hashes);
	n->hashes = hashes;
	n->n = k;
	iso_msg_free(m);
}

/* Does node n, up, serve hash? */
static int
cc_serves(const struct cc_node *n, const char *hash)
{
	size_t	i;

	if (!cl_node_up(n->node))
		return (0);
	for (i = 0; i < n->n; i++)
		if (strcmp(n->hashes[i], hash) == 0)
			return (1);
	return (0);
}

/* ---- asking ---- */

static void
cc_out_free(struct cc_out *f)
{
	struct cc_out	**pp;

	for (pp = &cc_outs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	if (f->timer != NULL)
		event_free(f->timer);
	free(f);
}

static void
cc_cancel(void *arg)
{
	cc_out_free(arg);
}

/* f's client is told e and why; f is freed. */
static void
cc_fail(struct cc_out *f, int e, const char *why)
{
	struct sv_conn	*c = f->c;

	cc_out_free(f);
	sv_error(c, e, "compute: %s", why);
}

static void
cc_ack_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	cc_fail(arg, EHOSTUNREACH, "no node took the request in time");
}

void
ccompute_node_lost(const char *node)
{
	struct cc_out	*f, *next;
	char		 why[128];

	for (f = cc_outs; f != NULL; f = next) {
		next = f->next;
		if (strcmp(f->node, node) != 0)
			continue;
		snprintf(why, sizeof why, "node \"%s\" was lost before it "
		    "answered", node);
		cc_fail(f, EHOSTUNREACH, why);
	}
}

void
ccompute_nats_lost(void)
{
	while (cc_outs != NULL)
		cc_fail(cc_outs, EHOSTUNREACH, "the connection to NATS was "
		    "lost before an answer came");
}

/* An ack, or the answer, to one of ours. */
static void
cc_on_reply(natsMsg *msg, void *arg)
{
	const char	*subj = natsMsg_GetSubject(msg), *dot, *node;
	struct cc_out	*f;
	struct sv_conn	*c;
	iso_msg		*rep;
	uint64_t	 token;
	int		 ack = 0;

	(void)arg;
	dot = strrchr(subj, '.');
	token = dot != NULL ? strtoull(dot + 1, NULL, 10) : 0;
	for (f = cc_outs; f != NULL && f->token != token; f = f->next)
		;
	rep = f == NULL ? NULL : iso_msg_decode(natsMsg_GetData(msg),
	    (size_t)natsMsg_GetDataLength(msg));
	natsev_dispose(msg);
	if (f == NULL)
		return;
	if (rep == NULL) {
		cc_fail(f, EPROTO, "a node answered with a bad frame");
		return;
	}
	if (iso_msg_unpack(rep, "{s:b}", "ack", &ack) == 0 && ack) {
		if (f->timer != NULL &&
		    iso_msg_unpack(rep, "{s:s}", "node", &node) == 0 &&
		    cluster_node_valid(node)) {
			snprintf(f->node, sizeof f->node, "%s", node);
			event_free(f->timer);
			f->timer = NULL;
		}
		iso_msg_free(rep);
		/* A node that took it and is not up: lost already. */
		if (f->timer == NULL && !cl_node_up(f->node))
			ccompute_node_lost(f->node);
		return;
	}
	c = f->c;
	cc_out_free(f);
	sv_reply(c, rep);
}

int
ccompute_route(struct sv_conn *c, const char *module, const char *function,
    const iso_msg *arg, int timeout_ms, int workers)
{
	const struct timeval	 tv = { CC_ACK_MS / 1000, 0 };
	struct cc_node		*n;
	struct cc_out		*f;
	iso_msg			*req;
	void			*buf;
	size_t			 i, len;
	int			 here = 0, there = 0;
	char			 hash[CC_HASH_LEN + 1], subj[CL_SUBJ_MAX];
	char			 reply[CL_SUBJ_MAX];
	const char		*hdrs[] = { "Iso-From", cluster_node(), NULL };

	if (!cluster_on()) {
		sv_error(c, ENOENT, "compute: not in a cluster (start "
		    "isolated with --nats URL)");
		return (1);
	}
	cc_hash(module, hash);
	for (i = 0; i < cc_nmods; i++)
		if (strcmp(cc_mods[i].path, module) == 0)
			here = 1;
	for (n = cc_nodes; n != NULL; n = n->next)
		there += cc_serves(n, hash);
	if (!here && there == 0) {
		sv_error(c, ENOENT, "compute: no node serves %s (isolated "
		    "--serve-module)", module);
		return (1);
	}
	if (there == 0 || (here && arc4random_uniform((uint32_t)there + 1)
	    == 0))
		return (0);
	req = iso_msg_pack("{s:s s:s s:O? s:i s:i}", "module", module,
	    "function", function, "arg", arg, "timeout_ms", timeout_ms,
	    "workers", workers);
	if (req == NULL || (f = calloc(1, sizeof *f)) == NULL) {
		iso_msg_free(req);
		sv_error(c, ENOMEM, "out of memory");
		return (1);
	}
	if (iso_msg_encode(req, &buf, &len) == -1) {
		iso_msg_free(req);
		free(f);
		sv_error(c, errno, "compute: %s", iso_error());
		return (1);
	}
	iso_msg_free(req);
	f->c = c;
	f->token = cc_next_token++;
	snprintf(subj, sizeof subj, "iso.compute.%s", hash);
	snprintf(reply, sizeof reply, "%s.%" PRIu64, cc_inbox, f->token);
	if ((f->timer = evtimer_new(cc_base, cc_ack_timeout, f)) == NULL ||
	    evtimer_add(f->timer, &tv) == -1 ||
	    cl_publish_hdr(subj, reply, buf, len, hdrs) == -1) {
		free(buf);
		if (f->timer != NULL)
			event_free(f->timer);
		free(f);
		sv_error(c, EHOSTUNREACH, "compute: cannot send the request "
		    "(NATS: see the supervisor's log)");
		return (1);
	}
	free(buf);
	f->next = cc_outs;
	cc_outs = f;
	sv_defer(c, cc_cancel, f);
	return (1);
}

/* ---- serving ---- */

/* Publish m (taken over) on subject; a reply too big for NATS becomes an
   error that says so. */
static void
cc_answer(const char *subject, iso_msg *m)
{
	void	*buf;
	size_t	 len;
	int	 r = -1;

	if (m != NULL && iso_msg_encode(m, &buf, &len) == 0) {
		r = cl_publish(subject, NULL, buf, len);
		free(buf);
	}
	iso_msg_free(m);
	if (r == -1 && (m = iso_msg_pack("{s:b s:s s:s}", "ok", 0, "errno",
	    "EMSGSIZE", "error", "the answer cannot be sent over NATS (see "
	    "the serving node's log)")) != NULL &&
	    iso_msg_encode(m, &buf, &len) == 0) {
		(void)cl_publish(subject, NULL, buf, len);
		free(buf);
	}
	if (r == -1)
		iso_msg_free(m);
}

static void
cc_error(const char *subject, const char *eno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
cc_error(const char *subject, const char *eno, const char *fmt, ...)
{
	va_list	ap;
	char	text[512];

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	cc_answer(subject, iso_msg_pack("{s:b s:s s:s}", "ok", 0, "errno",
	    eno, "error", text));
}

static void
cc_done(iso_msg *result, const char *error, void *arg)
{
	struct cc_job	*j = arg;
	iso_msg		*rep;

	if (!cluster_on())
		iso_msg_free(result);
	else if (result == NULL)
		cc_error(j->reply, "EIO", "%s", error);
	else if ((rep = iso_msg_pack("{s:b}", "ok", 1)) == NULL ||
	    iso_msg_put(rep, iso_msg_pack("s", "result"), result) == -1) {
		iso_msg_free(rep);
		cc_error(j->reply, "ENOMEM", "out of memory on node %s",
		    cluster_node());
	} else
		cc_answer(j->reply, rep);
	free(j->reply);
	free(j);
}

/* A request for module mod, which NATS gave to us. */
static void
cc_on_request(natsMsg *msg, void *arg)
{
	const struct cc_mod	*mod = arg;
	const char		*reply = natsMsg_GetReply(msg), *module;
	const char		*function;
	const iso_msg		*a = NULL;
	struct dc_req		 r;
	struct cc_job		*j;
	iso_msg			*m;
	int64_t			 timeout_ms = 0, workers = 0;

	if (reply == NULL || strlen(reply) >= CL_SUBJ_MAX) {
		natsev_dispose(msg);
		return;
	}
	m = iso_msg_decode(natsMsg_GetData(msg),
	    (size_t)natsMsg_GetDataLength(msg));
	if (m == NULL || iso_msg_unpack(m, "{s:s s:s s?O s?I s?I}", "module",
	    &module, "function", &function, "arg", &a, "timeout_ms",
	    &timeout_ms, "workers", &workers) == -1 || timeout_ms < 0 ||
	    timeout_ms > INT_MAX || workers < 0 || workers > 1024) {
		log_warn("cluster: a bad request on %s: refused",
		    natsMsg_GetSubject(msg));
		cc_error(reply, "EINVAL", "node %s: a bad compute request",
		    cluster_node());
		goto done;
	}
	if (strcmp(module, mod->path) != 0) {
		cc_error(reply, "ENOENT", "node %s does not serve %s",
		    cluster_node(), module);
		goto done;
	}
	cc_answer(reply, iso_msg_pack("{s:b s:s}", "ack", 1, "node",
	    cluster_node()));
	memset(&r, 0, sizeof r);
	r.module = mod->path;
	r.function = function;
	r.arg = a;
	r.timeout_ms = (int)timeout_ms;
	r.workers = (int)workers;
	if ((j = calloc(1, sizeof *j)) == NULL ||
	    (j->reply = strdup(reply)) == NULL) {
		free(j);
		cc_error(reply, "ENOMEM", "out of memory on node %s",
		    cluster_node());
		goto done;
	}
	if (warm_start(&r, cc_done, j) == -1) {
		cc_error(reply, errno == ENOBUFS ? "ENOBUFS" : "EIO",
		    "node %s cannot start it: %s", cluster_node(),
		    strerror(errno));
		free(j->reply);
		free(j);
	}
done:
	iso_msg_free(m);
	natsev_dispose(msg);
}

int
ccompute_init(struct event_base *base)
{
	const struct timeval	tv = { CC_ANNOUNCE_MS / 1000,
				    (CC_ANNOUNCE_MS % 1000) * 1000 };
	char			subj[CL_SUBJ_MAX];
	size_t			i;

	cc_base = base;
	if (natsInbox_Create(&cc_inbox) != NATS_OK)
		return (-1);
	snprintf(subj, sizeof subj, "%s.*", cc_inbox);
	if (cl_subscribe(subj, NULL, cc_on_reply, NULL) == -1 ||
	    cl_subscribe("iso.serves", NULL, cc_on_serves, NULL) == -1)
		return (-1);
	for (i = 0; i < cc_nmods; i++) {
		snprintf(subj, sizeof subj, "iso.compute.%s", cc_mods[i].hash);
		if (cl_subscribe(subj, "iso", cc_on_request, &cc_mods[i]) ==
		    -1)
			return (-1);
		log_info("cluster: serving %s on %s", cc_mods[i].path, subj);
	}
	if ((cc_timer = event_new(base, -1, EV_PERSIST, cc_announce_cb,
	    NULL)) == NULL || event_add(cc_timer, &tv) == -1 ||
	    (cc_soon = event_new(base, -1, 0, cc_announce_cb, NULL)) == NULL)
		return (-1);
	cc_announce();
	return (0);
}

void
ccompute_free(void)
{
	struct cc_node	*n;

	while (cc_outs != NULL)
		cc_fail(cc_outs, ECANCELED, "the supervisor is stopping");
	while ((n = cc_nodes) != NULL) {
		cc_nodes = n->next;
		free(n->hashes);
		free(n);
	}
	if (cc_timer != NULL)
		event_free(cc_timer);
	if (cc_soon != NULL)
		event_free(cc_soon);
	cc_timer = cc_soon = NULL;
	natsInbox_Destroy(cc_inbox);
	cc_inbox = NULL;
}
