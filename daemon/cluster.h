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

/* cluster.c */
extern natsConnection	*cl_nc;		/* NULL: not in a cluster */
/* A subscription whose messages cluster_pump hands to fn(m, arg) (m is
   the callee's to destroy). 0, or -1 after logging why. */
int	 cl_subscribe(const char *subject, const char *queue,
	    void (*fn)(natsMsg *, void *), void *arg);
/* Publish data on subject (reply: NULL or the subject to answer on):
   0, or -1 with the reason logged. Queued by nats.c while disconnected
   (its reconnect buffer), dropped when that is full: what must not be
   lost is acknowledged by the receiver. */
int	 cl_publish(const char *subject, const char *reply, const void *data,
	    size_t len);
/* The same, with headers k1: v1 and (k2 not NULL) k2: v2. */
int	 cl_publish_hdr(const char *subject, const char *reply,
	    const void *data, size_t len, const char *k1, const char *v1,
	    const char *k2, const char *v2);
/* A node's state: is it known and not lost? */
int	 cl_node_up(const char *node);
/* The other nodes up, at most max of them, names borrowed until the
   next heartbeat: how many. */
#define CL_NODES_MAX	256
size_t	 cl_nodes_up(const char **names, size_t max);

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
