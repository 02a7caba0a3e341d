/*
 * restart.c: when to run a command again, in the manner of Erlang/OTP
 * supervisors: exponential backoff between restarts, reset once a run
 * has lasted long enough, and an intensity limit (more than max_restarts
 * restarts within period_ms means give up) so that a command that cannot
 * stay up does not loop forever. Pure arithmetic, no clock of its own.
 */
#include <stdlib.h>

#include "daemon.h"

int
restart_init(struct restart *r)
{
	free(r->recent);
	r->nrecent = 0;
	r->recent = calloc((size_t)r->max_restarts + 1, sizeof *r->recent);
	return (r->recent == NULL ? -1 : 0);
}

void
restart_clear(struct restart *r)
{
	free(r->recent);
	r->recent = NULL;
	r->nrecent = 0;
}

int
restart_delay(struct restart *r, double now, double ran)
{
	int	i, n, delay;

	/* Forget restarts older than the period. */
	for (i = n = 0; i < r->nrecent; i++)
		if (now - r->recent[i] < r->period_ms / 1000.0)
			r->recent[n++] = r->recent[i];
	r->nrecent = n;
	if (n >= r->max_restarts)
		return (-1);
	if (r->recent != NULL)
		r->recent[r->nrecent++] = now;
	if (ran * 1000 >= r->reset_ms || r->next <= 0)
		r->next = r->backoff_ms;
	delay = r->next;
	r->next = r->next > r->backoff_max_ms / 2 ? r->backoff_max_ms :
	    r->next * 2;
	return (delay);
}
