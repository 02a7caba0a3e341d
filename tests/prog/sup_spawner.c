/*
 * sup_spawner: a libisolate program that spawns isolates and then either
 * waits to be killed or ends, for the tests of what a spawner's end does
 * to its isolates and their sockets.
 *   sup_spawner N wait|exit [NAME]
 * It makes a port (so it listens on a socket of its own), spawns N
 * isolates that each make a port and wait, prints "ready ID" (its own
 * isolate id) once each has told it it listens, then waits forever
 * (wait) or returns from main (exit), which kills them. With NAME its
 * isolates are spawned with that name (iso_spawn_attr_set_name).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isolate.h"

static void
child(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_port	*p;
	iso_msg		*m;

	if (iso_msg_unpack(arg, "P", &to) == -1 || (p = iso_port_new()) ==
	    NULL || (m = iso_msg_pack("P", iso_port_sendport(p))) == NULL ||
	    iso_send(to, m) == -1)
		exit(2);
	iso_msg_free(m);
	(void)iso_run();
}

static int	want, got, ending;
static uint64_t	self;

/* One more isolate listens: once all do, say so (and end, for exit). */
static void
heard(iso_port *p, const iso_msg *m, void *arg)
{
	(void)m;
	(void)arg;
	if (++got < want)
		return;
	printf("ready %016" PRIx64 "\n", self);
	fflush(stdout);
	if (ending)
		iso_port_close(p);
}

int
main(int argc, char **argv)
{
	iso_spawn_attr	*a = NULL;
	iso_port	*p;
	iso_msg		*arg;
	int		 i;

	if (argc == 4 && ((a = iso_spawn_attr_new()) == NULL ||
	    iso_spawn_attr_set_name(a, argv[3]) == -1)) {
		fprintf(stderr, "sup_spawner: %s\n", iso_error());
		return (2);
	}
	if ((argc != 3 && argc != 4) || (want = atoi(argv[1])) <= 0 ||
	    (strcmp(argv[2], "wait") != 0 && strcmp(argv[2], "exit") != 0)) {
		fprintf(stderr, "usage: sup_spawner N wait|exit [NAME]\n");
		return (2);
	}
	ending = strcmp(argv[2], "exit") == 0;
	if ((p = iso_port_new()) == NULL ||
	    iso_port_listen(p, heard, NULL) == -1 ||
	    (arg = iso_msg_pack("P", iso_port_sendport(p))) == NULL) {
		fprintf(stderr, "sup_spawner: %s\n", iso_error());
		return (1);
	}
	self = iso_port_sendport(p).isolate;
	for (i = 0; i < want; i++)
		if (iso_spawn_with(child, arg, a, NULL) == -1) {
			fprintf(stderr, "sup_spawner: %s\n", iso_error());
			return (1);
		}
	iso_msg_free(arg);
	iso_spawn_attr_free(a);
	/* wait: the port stays open, so this runs until killed. */
	return (iso_run() == 0 ? 0 : 1);
}
