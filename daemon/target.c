/*
 * target.c: what a request names, resolved in one place, once, before
 * the request runs (as tmux's cmd-find.c resolves session:window.pane).
 * The order, which docs/supervisor.md states too: a node part first
 * (name@node; no cluster yet, so only this node), then a registered
 * port's name, a supervised isolate's name (a name before an id: names
 * may look like ids, ids are hard to type; running or restarting before
 * ended), its id in hex, and last a live isolate's pid in decimal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "records.h"

const char *
target_node(void)
{
	return (cluster_node());
}

/* s as an id: at most 16 hex digits; 0 when it is not one. */
static uint64_t
target_id(const char *s)
{
	char		*end;
	uint64_t	 id;

	if (*s == '\0' || strlen(s) > 16 || strspn(s, "0123456789abcdefABCDEF")
	    != strlen(s))
		return (0);
	errno = 0;
	id = strtoull(s, &end, 16);
	return (errno != 0 || *end != '\0' ? 0 : id);
}

/* s as a pid: decimal digits; 0 when it is not one. */
static pid_t
target_pid(const char *s)
{
	char	*end;
	long	 n;

	if (*s == '\0' || strlen(s) > 10 || strspn(s, "0123456789") !=
	    strlen(s))
		return (0);
	n = strtol(s, &end, 10);
	return (n > 0 && n <= INT32_MAX ? (pid_t)n : 0);
}

/* A record found: does kinds take it? */
static int
target_fits(struct proc *p, int kinds)
{
	if (p == NULL)
		return (0);
	if (kinds & TGT_RECORD)
		return (1);
	return ((kinds & TGT_LIVE) && rec_live(p));
}

/* s without a node part: 0 and t filled, or -1. */
static int
target_plain(const char *s, int kinds, struct target *t)
{
	struct proc	*p;
	pid_t		 pid;

	memset(t, 0, sizeof *t);
	if (kinds & TGT_ID)
		return ((t->rec = rec_by_id(target_id(s))) != NULL ? 0 : -1);
	if ((kinds & TGT_PORT) && names_get(s, &t->port) == 0) {
		t->has_port = 1;
		/* One of our mailboxes: the record, for what it holds. */
		if ((kinds & (TGT_RECORD | TGT_LIVE)) != 0)
			t->rec = rec_by_box(t->port.isolate);
		return (0);
	}
	if ((kinds & (TGT_RECORD | TGT_LIVE)) == 0)
		return (-1);
	if (target_fits(p = rec_by_name(s), kinds) ||
	    target_fits(p = rec_by_id(target_id(s)), kinds) ||
	    ((pid = target_pid(s)) != 0 &&
	    target_fits(p = rec_by_pid(pid), kinds))) {
		t->rec = p;
		return (0);
	}
	return (-1);
}

int
target_resolve(const char *s, int kinds, struct target *t, char *err,
    size_t errlen)
{
	char		 name[NAME_MAX_LEN + 1];
	const char	*at;

	/* A name with an @ of its own, registered before name@node was
	   reserved, is still found as it is. */
	if (target_plain(s, kinds, t) == 0)
		return (0);
	if ((at = strrchr(s, '@')) != NULL && !(kinds & TGT_ID)) {
		if (at[1] != '\0' && strcmp(at + 1, target_node()) != 0) {
			if (cluster_on())
				snprintf(err, errlen, "no node \"%.64s\" in "
				    "the cluster (isoctl nodes lists them)",
				    at + 1);
			else
				snprintf(err, errlen, "no node \"%.64s\" (not "
				    "in a cluster; this node is \"%.64s\")",
				    at + 1, target_node());
			errno = ENOENT;
			return (-1);
		}
		if ((size_t)(at - s) <= NAME_MAX_LEN) {
			memcpy(name, s, (size_t)(at - s));
			name[at - s] = '\0';
			if (target_plain(name, kinds, t) == 0)
				return (0);
		}
	}
	snprintf(err, errlen, "no %s \"%.64s\"", (kinds & TGT_PORT) ?
	    "port or isolate" : "isolate", s);
	errno = ENOENT;
	return (-1);
}
