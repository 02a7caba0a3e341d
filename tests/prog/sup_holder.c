/*
 * sup_holder: a libisolate program run by the supervisor in the tests: it
 * registers a port of its own under argv[1] and keeps it open, so that
 * the name lives exactly as long as this isolate; it prints each message
 * the port gets as a line of JSON.
 */
#include <stdio.h>
#include <stdlib.h>

#include "isolate.h"

static void
print(iso_port *p, const iso_msg *m, void *arg)
{
	char	*json = iso_msg_to_json(m);

	(void)p;
	(void)arg;
	printf("got %s\n", json != NULL ? json : "?");
	fflush(stdout);
	free(json);
}

int
main(int argc, char **argv)
{
	iso_port	*p;

	if (argc != 2 || (p = iso_port_new()) == NULL ||
	    iso_port_listen(p, print, NULL) == -1) {
		fprintf(stderr, "sup_holder: %s\n", iso_error());
		return (2);
	}
	if (iso_sup_register(argv[1], iso_port_sendport(p)) == -1) {
		fprintf(stderr, "sup_holder: register: %s\n", iso_error());
		return (1);
	}
	printf("registered %s\n", argv[1]);
	fflush(stdout);
	return (iso_run() == 0 ? 0 : 1);
}
