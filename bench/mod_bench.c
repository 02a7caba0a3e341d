/*
 * mod_bench.c: the compute module bench_supcompute asks the supervisor
 * to run. Built -shared without the library: the supervisor's worker
 * that loads it exports the iso_* functions.
 */
#include <stdint.h>

#include "isolate.h"

iso_msg	*plus_one(const iso_msg *);

/* int n: n + 1. */
iso_msg *
plus_one(const iso_msg *arg)
{
	int64_t	n;

	if (iso_msg_int(arg, &n) == -1)
		return (NULL);
	return (iso_msg_pack("I", n + 1));
}
