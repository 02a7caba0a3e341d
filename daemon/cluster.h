/*
 * cluster.h: what the cluster's files share (natsev.c, cluster.c,
 * forward.c). Internal. The rest of the daemon sees daemon.h's cluster_*
 * calls only.
 *
 * Subjects (docs/protocol.md, "Cluster"); NODE is a node's name, which
 * cluster_start allows only of letters, digits, '-' and '_', so it is
 * one subject token as it is:
 *   iso.hb			heartbeats, every node's
 *   iso.node.NODE.req		requests for NODE's supervisor
 *   iso.node.NODE.cancel	a requester gave up on a request
 *   iso.node.NODE.port		frames for isolates of NODE (inbound.c)
 *   iso.node.NODE.ack		their acknowledgements (gateway.c)
 *   iso.names			every node's names (cnames.c)
 *   iso.serves			the modules each node serves (ccompute.c)
 *   iso.compute.HASH		a module's requests, queue group "iso":
 *				HASH is 16 hex digits of the FNV-1a of
 *				its path (ccompute.c)
 */
#ifndef ISO_CLUSTER_H
#define ISO_CLUSTER_H

#include <nats/nats.h>

#include "daemon.h"

#define CL_SUBJ_MAX	160	/* a subject we make */

/* natsev.c: nats.c on the daemon's loop. */
int	 natsev_options(natsOptions *o, struct event_base *base);
/* Destroy m (NULL: nothing) soon, with others: natsMsg_Destroy as the
   daemon calls it. */
void	 natsev_dispose(natsMsg *m);
/* Destroy what waits now; and before nats_Close, free the rest. */
void	 natsev_bury(void);
void	 natsev_free(void);

/* cluster.c */
extern natsConnection	*cl_nc;		/* NULL: not in a cluster */
/* A subscription whose messages cluster_pump hands to fn(m, arg) (m is
   the callee's to destroy). 0, or -1 after logging why. */
int	 cl_subscribe(const char *subject, const char *queue,
	    void (*fn)(natsMsg *, void *), void *arg);
/* 1 while connected to NATS. */
int	 cl_connected(void);
/* Publish data on subject (reply: NULL or the subject to answer on):
   0, or -1 with the reason logged. Nothing is published while we are
   not connected (nats.c's reconnect buffer is not used: its flush on
   reconnect has been seen to garble frames published meanwhile); what
   must not be lost is acknowledged by the receiver and sent again. */
int	 cl_publish(const char *subject, const char *reply, const void *data,
	    size_t len);
/* The same, with headers: hdrs is key, value, ..., NULL (a NULL or
   empty value: that header left out). */
int	 cl_publish_hdr(const char *subject, const char *reply,
	    const void *data, size_t len, const char *const *hdrs);
/* Something came from node: it is alive, even when its heartbeats wait
   behind its data. */
void	 cl_node_heard(const char *node);
/* The tests' worst moments: $ISO_FAULT_KILL names one, where we die
   with SIGKILL the first time we get there. */
void	 cl_fault(const char *point);
int	 cl_fault_armed(const char *point);
/* Milliseconds of CLOCK_MONOTONIC. */
int64_t	 cl_now_ms(void);
/* A node's state: is it known and not lost? */
int	 cl_node_up(const char *node);
/* The other nodes up, at most max of them, names borrowed until the
   next heartbeat: how many. */
#define CL_NODES_MAX	256
size_t	 cl_nodes_up(const char **names, size_t max);

/* portkey.c: keys of our ports, and the SendPorts a message carries */
#define PK_HEX	32		/* hex digits of a port's key */
/* Load supervisor/cluster.key, or make it: 0, or -1 with errno. */
int	 pk_init(const char *sdir);
/* The key of port of our isolate iso. */
void	 pk_secret(uint64_t iso, uint32_t port, char out[PK_HEX + 1]);
/* 1 if hex is that key. */
int	 pk_check(uint64_t iso, uint32_t port, const char *hex);
/* The Iso-Ports value for the SendPorts of a message (encoded, or a
   tree): owned, "" when none; NULL on ENOMEM. */
char	*pk_export(const void *buf, size_t len);
char	*pk_export_msg(const iso_msg *m);
/* Proxies for the other nodes' ports in an Iso-Ports value: 0, or -1
   when an item was bad (the good ones are taken). */
int	 pk_import(const char *hdr);

/* Iso-Sum of a batch of port frames: CRC-32 of its routing, keys and
   frames, so that a batch garbled on the way is asked for again rather
   than delivered. */
void	 pk_sum(const char *stream, uint64_t seq, const char *to,
	    const char *keys, const void *data, size_t len, char out[9]);

/* The port number that starts a frame's payload (a positive fixint, or
   uint 8/16/32) and the offset of the message after it: 0, or -1 when
   it is not one. */
int	 pk_frame_port(const void *buf, size_t len, uint32_t *port,
	    size_t *off);

/* gateway.c: proxies for other nodes' isolates */
int	 gw_init(struct event_base *base, const char *sdir);
void	 gw_free(void);
/* Serve a proxy for isolate iso of node (once), and learn port's key. */
int	 gw_proxy_add(uint64_t iso, uint32_t pid, const char *node,
	    uint32_t port, const char *key);
/* The node and key of a proxy's port: 0, or -1 (not a proxy's). */
int	 gw_port_key(uint64_t iso, uint32_t port, const char **node,
	    const char **key);
/* Node is lost: its proxies' senders are told. */
void	 gw_node_lost(const char *node);

/*
 * fdhold.c: the keeper, a process of its own that holds duplicates of
 * the proxies' sockets so that they outlive a killed supervisor.
 * fh_open: reach it (starting one if there is none), and take what it
 * holds; 0, or -1 (logged; we go on without one). fh_take: a descriptor
 * it held under name when we came (ours), or -1; fh_take_next: the same
 * for the next name that starts with prefix (copied to name); fh_untaken: those not
 * taken are closed and dropped. fh_put: hold a duplicate of fd (ours
 * stays ours) under name; fh_drop: close it there. fh_close: we stop;
 * end (a clean stop): the keeper closes everything and ends.
 */
#define FH_NAME	40
int	 fh_open(void);
int	 fh_take(const char *name);
int	 fh_take_next(const char *prefix, char name[FH_NAME + 1]);
void	 fh_untaken(void);
void	 fh_put(const char *name, int fd);
void	 fh_drop(const char *name);
void	 fh_close(int end);

/*
 * gwlog.c: a proxy's log, read again by the next supervisor. Records are
 * queued (data borrowed until the commit) and written by gwl_commit in
 * one write; gwl_create's tmp log replaces the old by gwl_replace (the
 * old is closed; on failure tmp is removed and old returned). gwl_close:
 * remove, or keep (what is queued written first). gwl_pending: bytes
 * queued. gwl_taking marks the bytes of sender conn of iso's proxy being
 * taken (took of them, peeked the socket's peek offset before, start and
 * end the log's size before and once their frames are in it) until
 * gwl_taken;
 * gwl_was_taking: the mark a killed supervisor left (1), kept until
 * gwl_taken (a supervisor killed as it takes the rest leaves it).
 */
struct gwlog;
struct gwl_ops {
	/* each 0, or -1: the log is not ours (it ends there) */
	int	(*head)(void *arg, uint64_t iso, uint32_t pid,
		    const char *node, const char *stream);
	int	(*key)(void *arg, uint32_t port, const char *key);
	int	(*batch)(void *arg, uint64_t seq, uint64_t last,
		    const char *keys, const char *exports, const void *data,
		    size_t len);
	int	(*ack)(void *arg, uint64_t upto);
	int	(*part)(void *arg, uint64_t conn, const void *data,
		    size_t len);
};
int	 gwl_init(const char *sdir);
void	 gwl_fini(void);
/* Every log found: begin(iso) makes what ops fill (NULL: skip it), then
   end(arg, l) with the log (NULL: nothing of use in it; removed); the
   log of cut_iso is first cut to cut_at bytes if it is longer, but
   shorter than cut_end (a write that did not finish). */
int	 gwl_load_all(const struct gwl_ops *ops, void *(*begin)(uint64_t),
	    void (*end)(void *, struct gwlog *), uint64_t cut_iso,
	    uint64_t cut_at, uint64_t cut_end);
struct gwlog *gwl_create(uint64_t iso, uint32_t pid, const char *node,
	    const char *stream, int tmp);
int	 gwl_key(struct gwlog *l, uint32_t port, const char *key);
int	 gwl_batch(struct gwlog *l, uint64_t seq, uint64_t last,
	    const char *keys, const char *exports, const void *data,
	    size_t len);
int	 gwl_ack(struct gwlog *l, uint64_t upto);
int	 gwl_part(struct gwlog *l, uint64_t conn, const void *data,
	    size_t len);
int	 gwl_commit(struct gwlog *l);
uint64_t gwl_size(const struct gwlog *l);
struct gwlog *gwl_replace(struct gwlog *old, struct gwlog *tmp);
void	 gwl_close(struct gwlog *l, int remove);
uint64_t gwl_pending(const struct gwlog *l);
void	 gwl_taking(uint64_t iso, uint64_t conn, uint64_t start,
	    uint64_t end, uint64_t peeked, uint64_t took);
void	 gwl_taken(void);
int	 gwl_was_taking(uint64_t *iso, uint64_t *conn, uint64_t *start,
	    uint64_t *end, uint64_t *peeked, uint64_t *took);

/*
 * ibpos.c: each inbound stream's position, saved. ibp_open calls fn(from,
 * stream, written, slot, arg) for each saved; 0, or -1 with errno (then
 * nothing is saved). ibp_take: a slot for a new stream (-1: none);
 * ibp_set: its position now; ibp_drop: it is forgotten.
 */
int	 ibp_open(const char *sdir, void (*fn)(const char *, const char *,
	    uint64_t, int, void *), void *arg);
int	 ibp_take(const char *from, const char *stream, uint64_t written);
void	 ibp_set(int slot, uint64_t written);
void	 ibp_drop(int slot);
void	 ibp_close(void);

/* inbound.c: frames from other nodes for our isolates */
int	 ib_init(struct event_base *base, const char *sdir);
void	 ib_free_all(void);
/* Send the acknowledgements due (after each batch). */
void	 ib_flush(void);

/* forward.c */
int	 fwd_init(struct event_base *base);
void	 fwd_node_lost(const char *node);
void	 fwd_free(void);
/* Send req (borrowed) to node's supervisor, as a session of its own,
   and call done(rep, 0, NULL, arg) with its answer (owned), or done(NULL,
   e, why, arg) once it is lost (EHOSTUNREACH), silent for timeout_ms
   (ETIMEDOUT) or we stop (ECANCELED); never from within fwd_ask. 0, or
   -1 with errno (EHOSTUNREACH: not up, or NATS refused it). */
int	 fwd_ask(const char *node, const iso_msg *req, int timeout_ms,
	    void (*done)(iso_msg *rep, int e, const char *why, void *arg),
	    void *arg);

/* cnames.c, ccompute.c: node names NODE came up (or restarted) or
   went; our connection to NATS was lost. */
int	 cnames_init(struct event_base *base);
void	 cnames_node_up(const char *node);
void	 cnames_free(void);
int	 ccompute_init(struct event_base *base);
void	 ccompute_node_up(const char *node);
void	 ccompute_node_lost(const char *node);
void	 ccompute_nats_lost(void);
void	 ccompute_free(void);

#endif
