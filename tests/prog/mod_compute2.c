/*
 * mod_compute2.c: another build of a compute module, copied over
 * mod_compute by check_dcompute to see that a module replaced on disk
 * gets new workers.
 */
#include <unistd.h>

#include "isolate.h"

iso_msg	*which(const iso_msg *);
iso_msg	*pid(const iso_msg *);

iso_msg *
which(const iso_msg *arg)
{
	(void)arg;
	return (iso_msg_pack("i", 2));
}

iso_msg *
pid(const iso_msg *arg)
{
	(void)arg;
	return (iso_msg_pack("i", (int)getpid()));
}
