/*
 * mapcluster.h: the items of isoctl map --cluster (mapcluster.c), compute
 * requests the local supervisor passes to the nodes serving the module.
 */
#ifndef CLI_MAPCLUSTER_H
#define CLI_MAPCLUSTER_H

#include <stddef.h>

#include "mapcmd.h"

struct event_base;
struct mapcl;

/*
 * fn (MODULE.so:FUNCTION; a relative module made absolute) over jobs
 * connections to the local supervisor (started if need be), on base:
 * the runner, or NULL with a one-line reason in err (no supervisor, not
 * in a cluster, no memory). done as mapcmd's: text a result's JSON, or
 * why it failed (the supervisor's error: "no node serves ...", a node
 * lost, a crash, ...). An item running past timeout_ms (0: never) fails.
 */
struct mapcl	*mapcl_new(struct event_base *base, const char *fn, int jobs,
		    int timeout_ms, mapcmd_done done, void *ud, char *err,
		    size_t errlen);
/* Queue arg (borrowed) as item: 0, or -1 with errno (ENOMEM). */
int		 mapcl_submit(struct mapcl *mc, const iso_msg *arg, void *item);
/* Close the connections; items not told are dropped untold. */
void		 mapcl_free(struct mapcl *mc);

#endif
