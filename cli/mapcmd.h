/*
 * mapcmd.h: the programs of isoctl map -- CMD (mapcmd.c): one warm
 * line-per-item program a job slot, children of isoctl, each on a raw
 * pseudo-terminal for its stdin and stdout (its stderr is isoctl's).
 */
#ifndef CLI_MAPCMD_H
#define CLI_MAPCMD_H

#include <stddef.h>

struct event_base;
struct mapcmd;

/* An item's end: ok and text its result as one line of JSON, or not ok
   and text why it failed. text is the callee's to free. Never called
   from within mapcmd_submit. */
typedef void	(*mapcmd_done)(int ok, char *text, void *item, void *ud);

/*
 * jobs programs of argv (its words must outlive the runner) started on
 * base: the runner, or NULL with a one-line reason in err (the program
 * cannot be run, or no memory). An item running past timeout_ms (0:
 * never) fails and its program is killed.
 */
struct mapcmd	*mapcmd_new(struct event_base *base, char **argv, int jobs,
		    int timeout_ms, mapcmd_done done, void *ud, char *err,
		    size_t errlen);
/* Queue line (len bytes, one JSON value, copied) as item: 0, or -1 with
   errno (ENOMEM). */
int		 mapcmd_submit(struct mapcmd *mc, const char *line,
		    size_t len, void *item);
/* Kill and reap every program; queued items are dropped untold. */
void		 mapcmd_free(struct mapcmd *mc);

#endif
