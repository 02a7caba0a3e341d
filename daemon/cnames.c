/*
 * cnames.c: the name registry across the cluster. Each node keeps its
 * own names (names.c) and announces them all on iso.names, at once on a
 * change, when a node comes up, and every CN_ANNOUNCE_MS; every node
 * keeps the last announcement of each other node. From those: names
 * lists NAME@NODE for every node up, register refuses a name an up node
 * holds, and a lookup not answered here asks the nodes holding the name
 * (all the up nodes when none is known to), through forward.c, each for
 * CN_ASK_MS at most; a node silent that long is skipped and logged.
 *
 * A name can still be held twice: two registrations racing on two nodes
 * (each before the other's announcement came), or made on both sides of
 * a partition. The first announcement that shows it settles it, the same
 * way on both nodes: the older registration wins (ms of each node's real-
 * time clock), a tie going to the smaller node name. The loser drops its
 * name as an ended isolate's would (the "unname" event), logs one line
 * and announces again. Names of a lost node are not shown nor found
 * until it is up again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cluster.h"

#define CN_ANNOUNCE_MS	2000	/* every node's names, this often */
#define CN_ASK_MS	2000	/* a node asked for a name answers by then */

struct cn_name {
	char		*name;
	iso_sendport	 port;
	int64_t		 since;
};

/* What a node announced last. */
struct cn_node {
	char		 node[65];
	struct cn_name	*names;
	size_t		 n;
	struct cn_node	*next;
};

/* A lookup out on other nodes, for client c (NULL once it has gone). */
struct cn_ask {
	struct sv_conn	*c;
	char		 name[NAME_MAX_LEN + 1];
	int		 pending;
	int		 answered;
};

/* One node asked. */
struct cn_try {
	struct cn_ask	*ask;
	char		 node[65];
};

static struct cn_node	*cn_nodes;
static struct event	*cn_timer, *cn_soon;

static void
cn_node_clear(struct cn_node *n)
{
	size_t	i;

	for (i = 0; i < n->n; i++)
		free(n->names[i].name);
	free(n->names);
	n->names = NULL;
	n->n = 0;
}

static struct cn_node *
cn_find(const char *node)
{
	struct cn_node	*n;

	for (n = cn_nodes; n != NULL; n = n->next)
		if (strcmp(n->node, node) == 0)
			return (n);
	return (NULL);
}

/* node's entry for name, or NULL. */
static const struct cn_name *
cn_has(const struct cn_node *n, const char *name)
{
	size_t	i;

	for (i = 0; i < n->n; i++)
		if (strcmp(n->names[i].name, name) == 0)
			return (&n->names[i]);
	return (NULL);
}

/* Our names on iso.names. */
static void
cn_announce(void)
{
	iso_msg		*m, *names = NULL;
	iso_sendport	 port;
	const char	*name;
	int64_t		 since;
	void		*buf;
	size_t		 i, len;

	if (!cl_connected() || (names = iso_msg_pack("{}")) == NULL)
		goto fail;
	for (i = 0; i < names_count(); i++) {
		name = names_at(i, &port, &since);
		if (iso_msg_put(names, iso_msg_pack("s", name), iso_msg_pack(
		    "{s:P s:I}", "port", port, "since", since)) == -1)
			goto fail;
	}
	m = iso_msg_pack("{s:s s:O}", "node", cluster_node(), "names", names);
	if (m != NULL && iso_msg_encode(m, &buf, &len) == 0) {
		(void)cl_publish("iso.names", NULL, buf, len);
		free(buf);
	}
	iso_msg_free(m);
fail:
	iso_msg_free(names);
}

static void
cn_announce_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	cn_announce();
}

void
cnames_changed(void)
{
	/* Once this turn of the loop is over: a sweep changes many. */
	if (cn_soon != NULL)
		event_active(cn_soon, EV_TIMEOUT, 1);
}

void
cnames_node_up(const char *node)
{
	(void)node;
	cnames_changed();
}

/* Does node a's registration at ta win over node b's at tb? */
static int
cn_wins(int64_t ta, const char *a, int64_t tb, const char *b)
{
	return (ta < tb || (ta == tb && strcmp(a, b) < 0));
}

/* n's names now known: drop ours that lost to one of them. */
static void
cn_settle(const struct cn_node *n)
{
	iso_sendport	 port;
	const char	*name;
	const struct cn_name *theirs;
	int64_t		 since;
	size_t		 i;
	char		 copy[NAME_MAX_LEN + 1];

	for (i = 0; i < names_count();) {
		name = names_at(i, &port, &since);
		if ((theirs = cn_has(n, name)) == NULL ||
		    cn_wins(since, cluster_node(), theirs->since, n->node)) {
			i++;
			continue;
		}
		snprintf(copy, sizeof copy, "%s", name);
		log_warn("cluster: name \"%s\" dropped: node %s registered "
		    "it first", copy, n->node);
		(void)names_remove(copy);	/* i is now another name */
	}
}

/* Another node's names, all of them. */
static void
cn_on_names(natsMsg *msg, void *arg)
{
	struct cn_node	*n;
	struct cn_name	*list = NULL;
	const iso_msg	*names, *v;
	const char	*node, *name;
	iso_msg		*m;
	size_t		 i, k = 0, len;

	(void)arg;
	m = iso_msg_decode(natsMsg_GetData(msg),
	    (size_t)natsMsg_GetDataLength(msg));
	natsev_dispose(msg);
	if (m == NULL || iso_msg_unpack(m, "{s:s s:O}", "node", &node,
	    "names", &names) == -1 || iso_msg_type(names) != ISO_MAP ||
	    !cluster_node_valid(node)) {
		log_warn("cluster: a bad message on iso.names: ignored");
		iso_msg_free(m);
		return;
	}
	if (strcmp(node, cluster_node()) == 0) {
		iso_msg_free(m);		/* a twin: cluster.c says so */
		return;
	}
	if (iso_msg_len(names) > 0 &&
	    (list = calloc(iso_msg_len(names), sizeof *list)) == NULL) {
		iso_msg_free(m);
		return;
	}
	for (i = 0; i < iso_msg_len(names); i++) {
		v = iso_msg_value_at(names, i);
		if ((name = iso_msg_str(iso_msg_key_at(names, i), &len)) ==
		    NULL || len == 0 || len > NAME_MAX_LEN ||
		    strlen(name) != len ||
		    iso_msg_unpack(v, "{s:P s:I}", "port", &list[k].port,
		    "since", &list[k].since) == -1)
			continue;	/* that one is bad; the rest may do */
		if ((list[k].name = strdup(name)) == NULL)
			break;
		k++;
	}
	if ((n = cn_find(node)) == NULL) {
		if ((n = calloc(1, sizeof *n)) == NULL) {
			while (k > 0)
				free(list[--k].name);
			free(list);
			iso_msg_free(m);
			return;
		}
		snprintf(n->node, sizeof n->node, "%s", node);
		n->next = cn_nodes;
		cn_nodes = n;
	}
	cn_node_clear(n);
	n->names = list;
	n->n = k;
	iso_msg_free(m);
	cn_settle(n);
}

const char *
cnames_holder(const char *name)
{
	struct cn_node	*n;

	if (!cluster_on())
		return (NULL);
	for (n = cn_nodes; n != NULL; n = n->next)
		if (cl_node_up(n->node) && cn_has(n, name) != NULL)
			return (n->node);
	return (NULL);
}

/* Put NAME@NODE: port into m. 0/-1. */
static int
cn_put(iso_msg *m, const char *name, const char *node, iso_sendport port)
{
	char	*key;
	int	 r;

	if (asprintf(&key, "%s@%s", name, node) == -1)
		return (-1);
	r = iso_msg_put(m, iso_msg_pack("s", key), iso_msg_pack("P", port));
	free(key);
	return (r);
}

iso_msg *
cnames_list(void)
{
	struct cn_node	*n;
	iso_sendport	 port;
	iso_msg		*m;
	const char	*name;
	int64_t		 since;
	size_t		 i;

	if ((m = iso_msg_pack("{}")) == NULL)
		return (NULL);
	for (i = 0; i < names_count(); i++) {
		name = names_at(i, &port, &since);
		if (cn_put(m, name, cluster_node(), port) == -1)
			goto fail;
	}
	for (n = cn_nodes; n != NULL; n = n->next) {
		if (!cl_node_up(n->node))
			continue;
		for (i = 0; i < n->n; i++)
			if (cn_put(m, n->names[i].name, n->node,
			    n->names[i].port) == -1)
				goto fail;
	}
	return (m);
fail:
	iso_msg_free(m);
	return (NULL);
}

static void
cn_ask_cancel(void *arg)
{
	struct cn_ask	*a = arg;

	a->c = NULL;
}

/* One node's answer to a lookup. */
static void
cn_asked(iso_msg *rep, int e, const char *why, void *arg)
{
	struct cn_try	*t = arg;
	struct cn_ask	*a = t->ask;
	int		 ok = 0;

	a->pending--;
	if (rep != NULL && iso_msg_unpack(rep, "{s:b}", "ok", &ok) == 0 &&
	    ok && !a->answered && a->c != NULL) {
		a->answered = 1;
		sv_reply(a->c, rep);
		rep = NULL;
	}
	iso_msg_free(rep);
	if (e != 0 && e != ECANCELED)
		log_warn("cluster: lookup of \"%s\": node %s %s; skipped",
		    a->name, t->node, why);
	free(t);
	if (a->pending > 0)
		return;
	if (!a->answered && a->c != NULL)
		sv_error(a->c, ENOENT, "no name \"%.64s\" on any node up",
		    a->name);
	free(a);
}

/* Ask node for a's name: 0/-1. */
static int
cn_ask_node(struct cn_ask *a, const char *node)
{
	struct cn_try	*t;
	iso_msg		*req;
	int		 r;

	if ((t = calloc(1, sizeof *t)) == NULL)
		return (-1);
	t->ask = a;
	snprintf(t->node, sizeof t->node, "%s", node);
	if ((req = iso_msg_pack("{s:s s:s s:b}", "op", "lookup", "name",
	    a->name, "local", 1)) == NULL) {
		free(t);
		return (-1);
	}
	r = fwd_ask(node, req, CN_ASK_MS, cn_asked, t);
	iso_msg_free(req);
	if (r == -1) {
		free(t);
		return (-1);
	}
	a->pending++;
	return (0);
}

void
cnames_lookup(struct sv_conn *c, const char *name, const char *err)
{
	struct cn_node	*n;
	struct cn_ask	*a;
	const char	*at, *up[CL_NODES_MAX];
	size_t		 i, nup;
	int		 held = 0;

	if ((a = calloc(1, sizeof *a)) == NULL) {
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	a->c = c;
	if ((at = strrchr(name, '@')) != NULL && at[1] != '\0') {
		/* NAME@NODE: that node only (ours has been looked at). */
		snprintf(a->name, sizeof a->name, "%.*s", (int)(at - name),
		    name);
		if (strcmp(at + 1, cluster_node()) != 0 &&
		    cl_node_up(at + 1))
			(void)cn_ask_node(a, at + 1);
	} else {
		snprintf(a->name, sizeof a->name, "%s", name);
		for (n = cn_nodes; n != NULL; n = n->next)
			if (cl_node_up(n->node) && cn_has(n, name) != NULL) {
				held = 1;
				(void)cn_ask_node(a, n->node);
			}
		/* Known to none: it may be newer than what we heard. */
		nup = held ? 0 : cl_nodes_up(up, CL_NODES_MAX);
		for (i = 0; i < nup; i++)
			(void)cn_ask_node(a, up[i]);
	}
	if (a->pending == 0) {
		free(a);
		sv_error(c, ENOENT, "%s", err);
		return;
	}
	sv_defer(c, cn_ask_cancel, a);
}

int
cnames_init(struct event_base *base)
{
	const struct timeval	tv = { CN_ANNOUNCE_MS / 1000,
				    (CN_ANNOUNCE_MS % 1000) * 1000 };

	if ((cn_timer = event_new(base, -1, EV_PERSIST, cn_announce_cb,
	    NULL)) == NULL || event_add(cn_timer, &tv) == -1 ||
	    (cn_soon = event_new(base, -1, 0, cn_announce_cb, NULL)) == NULL)
		return (-1);
	if (cl_subscribe("iso.names", NULL, cn_on_names, NULL) == -1)
		return (-1);
	cnames_changed();
	return (0);
}

void
cnames_free(void)
{
	struct cn_node	*n;

	while ((n = cn_nodes) != NULL) {
		cn_nodes = n->next;
		cn_node_clear(n);
		free(n);
	}
	if (cn_timer != NULL)
		event_free(cn_timer);
	if (cn_soon != NULL)
		event_free(cn_soon);
	cn_timer = cn_soon = NULL;
}
