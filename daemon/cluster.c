/*
 * cluster.c: this supervisor as one node of a cluster, over NATS. The
 * connection (nats.c on our loop, natsev.c), our name, the heartbeats
 * every node sends on iso.hb each second and the table of nodes they
 * fill (a node silent for CL_LOST_MS is lost), and the ops that show
 * it: nodes, and status's cluster fields. Without --nats nothing here
 * runs and nothing needs NATS.
 */
#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cluster.h"
#include "records.h"

#define CL_HB_MS	1000	/* a heartbeat this often */
#define CL_LOST_MS	3500	/* a node silent this long is lost */
#define CL_SUBS_MAX	64
#define CL_NODE_MAX	64	/* bytes of a node's name */
#define CL_CONNECT_MS	1000	/* a connect's handshake, at most */
#define CL_URLS_MAX	32	/* servers in --nats */

struct cluster_conf	 cluster_conf;
natsConnection		*cl_nc;

struct cl_sub {
	char			*subject;
	char			*queue;		/* NULL: none */
	natsSubscription	*sub;		/* NULL while not connected */
	void			(*fn)(natsMsg *, void *);
	void			*arg;
};

struct cl_node {
	char		 name[CL_NODE_MAX + 1];
	uint64_t	 boot;		/* its supervisor's run */
	int		 isolates;
	double		 load;
	int64_t		 last_ms;	/* monotonic, of its last heartbeat */
	int		 lost;
};

static natsOptions	*cl_opts;
static struct event	*cl_timer;
static struct cl_sub	 cl_subs[CL_SUBS_MAX];
static size_t		 cl_nsubs;
static struct cl_node	*cl_nodes;
static size_t		 cl_nnodes, cl_cap;
static uint64_t		 cl_boot;
static int		 cl_was_connected = -1;
static int		 cl_configured;
static int		 cl_said_down;	/* "not there" logged this outage */
static int		 cl_twin_warned;
static int64_t		 cl_last_tick;	/* monotonic, of cl_tick's last run */

int
cl_fault_armed(const char *point)
{
	static const char	*at;
	static int		 read;

	if (!read) {
		at = getenv("ISO_FAULT_KILL");
		read = 1;
	}
	return (at != NULL && strcmp(at, point) == 0);
}

void
cl_fault(const char *point)
{
	if (cl_fault_armed(point))
		raise(SIGKILL);
}

int64_t
cl_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* nats.c's last error for people: without its "(file.c:line): ". */
static const char *
cl_error(natsStatus st)
{
	const char	*e = nats_GetLastError(NULL), *p;

	if (e == NULL || *e == '\0')
		return (natsStatus_GetText(st));
	if (*e == '(' && (p = strstr(e, "): ")) != NULL)
		return (p + 3);
	return (e);
}

int
cluster_node_valid(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_')
			return (0);
	return (i > 0 && i <= CL_NODE_MAX);
}

const char *
cluster_node(void)
{
	static char	host[256];

	if (cluster_conf.node != NULL)
		return (cluster_conf.node);
	if (host[0] == '\0' && gethostname(host, sizeof host - 1) == -1)
		snprintf(host, sizeof host, "localhost");
	return (host);
}

int
cluster_on(void)
{
	return (cl_configured);
}

/* Subscribe s on the connection: 0, or -1 after logging why. */
static int
cl_sub_open(struct cl_sub *s)
{
	natsStatus	st;

	st = s->queue != NULL ? natsConnection_QueueSubscribeSync(&s->sub,
	    cl_nc, s->subject, s->queue) : natsConnection_SubscribeSync(&s->sub,
	    cl_nc, s->subject);
	if (st != NATS_OK) {
		log_warn("cluster: cannot subscribe to %s: %s", s->subject,
		    natsStatus_GetText(st));
		s->sub = NULL;
		return (-1);
	}
	/* Drained after every read: the limits only guard a burst. */
	(void)natsSubscription_SetPendingLimits(s->sub, 1 << 20, 256 << 20);
	return (0);
}

int
cl_subscribe(const char *subject, const char *queue,
    void (*fn)(natsMsg *, void *), void *arg)
{
	struct cl_sub	*s;

	if (cl_nsubs == CL_SUBS_MAX) {
		log_warn("cluster: too many subscriptions (%s)", subject);
		return (-1);
	}
	s = &cl_subs[cl_nsubs];
	memset(s, 0, sizeof *s);
	if ((s->subject = strdup(subject)) == NULL ||
	    (queue != NULL && (s->queue = strdup(queue)) == NULL)) {
		free(s->subject);
		return (-1);
	}
	s->fn = fn;
	s->arg = arg;
	cl_nsubs++;
	/* Not connected: cl_connect subscribes it. */
	return (cl_nc != NULL ? cl_sub_open(s) : 0);
}

/* Let go of a connection that ended (or is ending): its subscriptions
   too; the tick makes a new one. */
static void
cl_drop(void)
{
	size_t	i;

	for (i = 0; i < cl_nsubs; i++) {
		natsSubscription_Destroy(cl_subs[i].sub);
		cl_subs[i].sub = NULL;
	}
	if (cl_nc != NULL) {
		natsConnection_Close(cl_nc);
		natsConnection_Destroy(cl_nc);
	}
	cl_nc = NULL;
}

/*
 * Connect, and subscribe again to every subject: 0, or -1 (the tick
 * tries again). We reconnect ourselves, from the loop, rather than let
 * nats.c's reconnect thread do it: with an event loop its reconnect was
 * seen to stall for tens of seconds, and one thread is simpler.
 */
static int
cl_connect(void)
{
	natsStatus	st;
	size_t		i;

	if ((st = natsConnection_Connect(&cl_nc, cl_opts)) != NATS_OK) {
		cl_nc = NULL;
		if (!cl_said_down)
			log_warn("cluster: NATS at %s: %s; trying on",
			    cluster_conf.url, cl_error(st));
		cl_said_down = 1;
		return (-1);
	}
	cl_said_down = 0;
	for (i = 0; i < cl_nsubs; i++)
		if (cl_sub_open(&cl_subs[i]) == -1) {
			cl_drop();
			return (-1);
		}
	return (0);
}

int
cl_connected(void)
{
	return (cl_nc != NULL && natsConnection_Status(cl_nc) ==
	    NATS_CONN_STATUS_CONNECTED);
}

int
cl_publish(const char *subject, const char *reply, const void *data,
    size_t len)
{
	natsStatus	st;

	if (!cl_connected())
		return (-1);

	st = reply != NULL ? natsConnection_PublishRequest(cl_nc, subject,
	    reply, data, (int)len) : natsConnection_Publish(cl_nc, subject,
	    data, (int)len);
	if (st != NATS_OK) {
		log_warn("cluster: cannot publish on %s: %s", subject,
		    natsStatus_GetText(st));
		return (-1);
	}
	return (0);
}

int
cl_publish_hdr(const char *subject, const char *reply, const void *data,
    size_t len, const char *const *hdrs)
{
	natsMsg		*m = NULL;
	natsStatus	 st;

	if (!cl_connected())
		return (-1);
	st = natsMsg_Create(&m, subject, reply, data, (int)len);
	for (; st == NATS_OK && hdrs[0] != NULL; hdrs += 2)
		if (hdrs[1] != NULL && hdrs[1][0] != '\0')
			st = natsMsgHeader_Set(m, hdrs[0], hdrs[1]);
	if (st == NATS_OK)
		st = natsConnection_PublishMsg(cl_nc, m);
	natsev_dispose(m);
	if (st != NATS_OK) {
		log_warn("cluster: cannot publish on %s: %s", subject,
		    natsStatus_GetText(st));
		return (-1);
	}
	return (0);
}

void
cluster_pump(void)
{
	natsMsg	*m;
	size_t	 i;

	for (i = 0; i < cl_nsubs; i++)
		while (cl_subs[i].sub != NULL &&
		    natsSubscription_NextMsg(&m, cl_subs[i].sub, 0) == NATS_OK)
			cl_subs[i].fn(m, cl_subs[i].arg);
	ib_flush();
}

static struct cl_node *
cl_find(const char *name)
{
	size_t	i;

	for (i = 0; i < cl_nnodes; i++)
		if (strcmp(cl_nodes[i].name, name) == 0)
			return (&cl_nodes[i]);
	return (NULL);
}

void
cl_node_heard(const char *node)
{
	struct cl_node	*n = cl_find(node);

	/* Only a node known up: coming back takes a heartbeat (its state). */
	if (n != NULL && !n->lost)
		n->last_ms = cl_now_ms();
}

int
cl_node_up(const char *node)
{
	const struct cl_node	*n = cl_find(node);

	return (n != NULL && !n->lost);
}

size_t
cl_nodes_up(const char **names, size_t max)
{
	size_t	i, n = 0;

	for (i = 0; i < cl_nnodes && n < max; i++)
		if (!cl_nodes[i].lost)
			names[n++] = cl_nodes[i].name;
	return (n);
}

static int
cl_live(void)
{
	struct proc	*p;
	int		 n = 0;

	for (p = rec_first(); p != NULL; p = rec_next(p))
		n += rec_live(p);
	return (n);
}

static double
cl_load(void)
{
	double	l[1];

	return (getloadavg(l, 1) == 1 ? l[0] : 0);
}

static void
cl_heartbeat(void)
{
	iso_msg	*m;
	void	*buf;
	size_t	 len;
	char	 boot[17];

	snprintf(boot, sizeof boot, "%016" PRIx64, cl_boot);
	m = iso_msg_pack("{s:s s:s s:i s:f s:i s:s}", "node", cluster_node(),
	    "boot", boot, "isolates", cl_live(), "load",
	    cl_load(), "pid", (int)getpid(), "version", ISO_VERSION);
	if (m != NULL && iso_msg_encode(m, &buf, &len) == 0) {
		(void)cl_publish("iso.hb", NULL, buf, len);
		free(buf);
	}
	iso_msg_free(m);
}

/* A heartbeat from another node. */
static void
cl_on_hb(natsMsg *msg, void *arg)
{
	struct cl_node	*n, *grown;
	iso_msg		*m;
	const char	*name, *boot;
	int64_t		 isolates = 0;
	double		 load = 0;
	uint64_t	 b;

	(void)arg;
	m = iso_msg_decode(natsMsg_GetData(msg),
	    (size_t)natsMsg_GetDataLength(msg));
	natsev_dispose(msg);
	if (m == NULL || iso_msg_unpack(m, "{s:s s:s s?I s?f}", "node", &name,
	    "boot", &boot, "isolates", &isolates, "load", &load) == -1 ||
	    !cluster_node_valid(name)) {
		iso_msg_free(m);
		return;
	}
	b = strtoull(boot, NULL, 16);
	if (strcmp(name, cluster_node()) == 0) {
		if (b != cl_boot && !cl_twin_warned) {
			log_warn("cluster: another supervisor calls itself "
			    "\"%s\": give each node its own --node", name);
			cl_twin_warned = 1;
		}
		iso_msg_free(m);
		return;
	}
	if ((n = cl_find(name)) == NULL) {
		if (cl_nnodes == cl_cap) {
			cl_cap = cl_cap ? cl_cap * 2 : 8;
			if ((grown = realloc(cl_nodes, cl_cap * sizeof *grown))
			    == NULL) {
				cl_cap = cl_nnodes;
				iso_msg_free(m);
				return;
			}
			cl_nodes = grown;
		}
		n = &cl_nodes[cl_nnodes++];
		memset(n, 0, sizeof *n);
		snprintf(n->name, sizeof n->name, "%s", name);
		n->lost = 1;
	}
	if (n->lost || n->boot != b) {
		log_info("cluster: node %s is up%s", name, n->boot != 0 &&
		    n->boot != b ? " (a new supervisor)" : "");
		/* A new supervisor there knows none of our sessions. */
		if (!n->lost && n->boot != b) {
			fwd_node_lost(name);
			ccompute_node_lost(name);
		}
		cnames_node_up(name);
		ccompute_node_up(name);
		/* Tell a newcomer of us now rather than in a second. */
		cl_heartbeat();
	}
	n->boot = b;
	n->isolates = (int)isolates;
	n->load = load;
	n->last_ms = cl_now_ms();
	n->lost = 0;
	iso_msg_free(m);
}

static void
cl_tick(evutil_socket_t fd, short what, void *arg)
{
	int64_t	now = cl_now_ms();
	size_t	i;
	int	up;

	(void)fd;
	(void)what;
	(void)arg;
	if (cl_nc != NULL && natsConnection_Status(cl_nc) ==
	    NATS_CONN_STATUS_CLOSED)
		cl_drop();
	if (cl_nc == NULL)
		(void)cl_connect();
	up = cl_connected();
	if (up != cl_was_connected) {
		if (up)
			log_info("cluster: connected to NATS as node %s",
			    cluster_node());
		else if (cl_was_connected == 1) {
			log_warn("cluster: lost NATS; reconnecting");
			ccompute_nats_lost();
		}
		/* Silence while we heard nothing is not theirs: start
		   counting again. */
		for (i = 0; up && i < cl_nnodes; i++)
			cl_nodes[i].last_ms = now;
		cl_was_connected = up;
	}
	/* Time we did not run (stopped, or starved of CPU) is not their
	   silence: what they said meanwhile waits unread on our socket. */
	if (cl_last_tick != 0 && now - cl_last_tick > 2 * CL_HB_MS)
		for (i = 0; i < cl_nnodes; i++)
			cl_nodes[i].last_ms += now - cl_last_tick - CL_HB_MS;
	cl_last_tick = now;
	cluster_pump();
	if (!up)
		return;
	cl_heartbeat();
	for (i = 0; i < cl_nnodes; i++) {
		if (cl_nodes[i].lost || now - cl_nodes[i].last_ms < CL_LOST_MS)
			continue;
		cl_nodes[i].lost = 1;
		log_warn("cluster: node %s lost (silent for %d ms)",
		    cl_nodes[i].name, (int)(now - cl_nodes[i].last_ms));
		fwd_node_lost(cl_nodes[i].name);
		gw_node_lost(cl_nodes[i].name);
		ccompute_node_lost(cl_nodes[i].name);
	}
}

/* A file an option names must be readable now: 0, or -1 with why. */
static int
cl_readable(const char *opt, const char *path, char *why, size_t len)
{
	if (path == NULL || access(path, R_OK) == 0)
		return (0);
	snprintf(why, len, "--%s %s: %s", opt, path, strerror(errno));
	return (-1);
}

/*
 * The servers of url, a comma-separated list: 0, or -1 with why. One by
 * one (natsOptions_SetServers): nats.c 3.4 takes a list given as one URL
 * for a single server it can never reach.
 */
static int
cl_servers(natsOptions *o, const char *url, char *why, size_t len)
{
	const char	*list[CL_URLS_MAX];
	char		*copy, *item, *save = NULL, *end;
	int		 n = 0, rc = -1;

	if ((copy = strdup(url)) == NULL) {
		snprintf(why, len, "NATS options: %s", strerror(errno));
		return (-1);
	}
	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		item += strspn(item, " \t");
		for (end = item + strlen(item); end > item &&
		    (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		*end = '\0';
		if (*item == '\0')
			continue;
		if (n == CL_URLS_MAX) {
			snprintf(why, len, "--nats: more than %d servers",
			    CL_URLS_MAX);
			goto out;
		}
		list[n++] = item;
	}
	if (n == 0) {
		snprintf(why, len, "--nats: no server in \"%s\"", url);
		goto out;
	}
	if (natsOptions_SetServers(o, list, n) != NATS_OK) {
		snprintf(why, len, "--nats: %s", nats_GetLastError(NULL) !=
		    NULL ? nats_GetLastError(NULL) : "bad server list");
		goto out;
	}
	rc = 0;
out:
	free(copy);
	return (rc);
}

/* Pass the credentials, nkey and TLS options on: 0, or -1 with why. */
static int
cl_auth(natsOptions *o, char *why, size_t len)
{
	const struct cluster_conf	*c = &cluster_conf;
	natsStatus			 st = NATS_OK;
	const char			*what = NULL;
	char				 pub[128], *colon;

	if (cl_readable("nats-creds", c->creds, why, len) == -1 ||
	    cl_readable("nats-tls-ca", c->tls_ca, why, len) == -1 ||
	    cl_readable("nats-tls-cert", c->tls_cert, why, len) == -1 ||
	    cl_readable("nats-tls-key", c->tls_key, why, len) == -1)
		return (-1);
	if (c->creds != NULL && (st = natsOptions_SetUserCredentialsFromFiles(
	    o, c->creds, NULL)) != NATS_OK)
		what = c->creds;
	if (st == NATS_OK && c->nkey != NULL) {
		snprintf(pub, sizeof pub, "%s", c->nkey);
		if ((colon = strchr(pub, ':')) == NULL) {
			snprintf(why, len, "--nats-nkey: want PUBLIC_KEY:"
			    "SEED_FILE, not %s", c->nkey);
			return (-1);
		}
		*colon = '\0';
		if (cl_readable("nats-nkey", c->nkey + (colon - pub) + 1, why,
		    len) == -1)
			return (-1);
		if ((st = natsOptions_SetNKeyFromSeed(o, pub,
		    c->nkey + (colon - pub) + 1)) != NATS_OK)
			what = c->nkey;
	}
	if (st == NATS_OK && (c->tls_ca != NULL || c->tls_cert != NULL))
		st = natsOptions_SetSecure(o, true);
	if (st == NATS_OK && c->tls_ca != NULL && (st =
	    natsOptions_LoadCATrustedCertificates(o, c->tls_ca)) != NATS_OK)
		what = c->tls_ca;
	if (st == NATS_OK && c->tls_cert != NULL && (st =
	    natsOptions_LoadCertificatesChain(o, c->tls_cert, c->tls_key !=
	    NULL ? c->tls_key : c->tls_cert)) != NATS_OK)
		what = c->tls_cert;
	if (st != NATS_OK) {
		snprintf(why, len, "NATS options: %s%s%s", what != NULL ? what :
		    "", what != NULL ? ": " : "", cl_error(st));
		return (-1);
	}
	return (0);
}

int
cluster_start(struct event_base *base, const char *sdir, char *why,
    size_t len)
{
	const struct timeval	 tv = { CL_HB_MS / 1000, (CL_HB_MS % 1000) *
				    1000 };
	char			 name[160];

	if (cluster_conf.url == NULL)
		return (0);
	if (pk_init(sdir) == -1) {
		snprintf(why, len, "%s/cluster.key: %s", sdir,
		    strerror(errno));
		return (-1);
	}
	if (getrandom(&cl_boot, sizeof cl_boot, 0) != sizeof cl_boot)
		cl_boot = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	snprintf(name, sizeof name, "isolated %s", cluster_node());
	if (natsOptions_Create(&cl_opts) != NATS_OK) {
		snprintf(why, len, "NATS options: out of memory");
		return (-1);
	}
	if (cl_servers(cl_opts, cluster_conf.url, why, len) == -1)
		return (-1);
	if (natsOptions_SetName(cl_opts, name) != NATS_OK ||
	    natsOptions_SetNoEcho(cl_opts, true) != NATS_OK ||
	    natsOptions_SetAllowReconnect(cl_opts, false) != NATS_OK ||
	    natsOptions_SetTimeout(cl_opts, CL_CONNECT_MS) != NATS_OK ||
	    natsOptions_DisableNoResponders(cl_opts, true) != NATS_OK ||
	    natsev_options(cl_opts, base) == -1) {
		snprintf(why, len, "NATS options: %s", cl_error(NATS_ERR));
		return (-1);
	}
	if (cl_auth(cl_opts, why, len) == -1)
		return (-1);
	cl_configured = 1;
	(void)cl_connect();
	if (cl_subscribe("iso.hb", NULL, cl_on_hb, NULL) == -1 ||
	    fwd_init(base) == -1 || gw_init(base, sdir) == -1 || ib_init(base, sdir) == -1 ||
	    cnames_init(base) == -1 || ccompute_init(base) == -1 ||
	    (cl_timer = event_new(base, -1, EV_PERSIST, cl_tick, NULL)) ==
	    NULL || event_add(cl_timer, &tv) == -1) {
		snprintf(why, len, "cluster: cannot subscribe (see the log)");
		return (-1);
	}
	cl_heartbeat();
	return (0);
}

void
cluster_stop(void)
{
	size_t	i;

	if (!cl_configured)
		return;
	ccompute_free();
	cnames_free();
	fwd_free();
	gw_free();
	ib_free_all();
	if (cl_timer != NULL)
		event_free(cl_timer);
	cl_timer = NULL;
	if (cl_nc != NULL)
		(void)natsConnection_FlushTimeout(cl_nc, 500);
	cl_drop();
	natsev_free();
	for (i = 0; i < cl_nsubs; i++) {
		free(cl_subs[i].subject);
		free(cl_subs[i].queue);
	}
	cl_nsubs = 0;
	natsOptions_Destroy(cl_opts);
	cl_opts = NULL;
	free(cl_nodes);
	cl_nodes = NULL;
	cl_nnodes = cl_cap = 0;
	cl_configured = 0;
	cl_last_tick = 0;
	nats_Close();
}

/* One row of nodes. */
static iso_msg *
cl_row(const char *name, int self, int up, int isolates, double load,
    int64_t ago)
{
	return (iso_msg_pack("{s:s s:b s:s s:i s:f s:I}", "node", name, "self",
	    self, "state", up ? "up" : "lost", "isolates", isolates, "load",
	    load, "last_ms", ago));
}

iso_msg *
cluster_nodes(void)
{
	iso_msg	*list;
	int64_t	 now = cl_now_ms();
	size_t	 i;

	if ((list = iso_msg_pack("[]")) == NULL ||
	    iso_msg_append(list, cl_row(cluster_node(), 1, 1,
	    cl_live(), cl_load(), 0)) == -1) {
		iso_msg_free(list);
		return (NULL);
	}
	for (i = 0; i < cl_nnodes; i++)
		if (iso_msg_append(list, cl_row(cl_nodes[i].name, 0,
		    !cl_nodes[i].lost, cl_nodes[i].isolates, cl_nodes[i].load,
		    now - cl_nodes[i].last_ms)) == -1) {
			iso_msg_free(list);
			return (NULL);
		}
	return (list);
}

iso_msg *
cluster_status(void)
{
	if (!cl_configured)
		return (iso_msg_pack("n"));
	return (iso_msg_pack("{s:s s:b s:i}", "url", cluster_conf.url,
	    "connected", cl_connected(), "nodes", (int)cl_nnodes + 1));
}

static void
op_nodes(struct sv_conn *c, const struct rq *r)
{
	(void)r;
	if (!cl_configured) {
		sv_error(c, ENOENT, "nodes: not in a cluster (start isolated "
		    "with --nats URL)");
		return;
	}
	sv_reply_with(c, "nodes", cluster_nodes());
}

const struct rq_entry rq_nodes = { .name = "nodes", .exec = op_nodes };
