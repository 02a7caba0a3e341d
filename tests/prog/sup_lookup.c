/*
 * sup_lookup: iso_sup_lookup of argv[1] for the tests, printed as one
 * line of JSON (its SendPort); on failure "ERRNO: why" on stdout and
 * exit 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isolate.h"

int
main(int argc, char **argv)
{
	iso_sendport	 port;
	iso_msg		*m;
	char		*json;

	if (argc != 2) {
		fprintf(stderr, "usage: sup_lookup NAME\n");
		return (2);
	}
	if (iso_sup_lookup(argv[1], &port) == -1) {
		printf("%s: %s\n", strerrorname_np(errno), iso_error());
		return (1);
	}
	if ((m = iso_msg_pack("P", port)) == NULL ||
	    (json = iso_msg_to_json(m)) == NULL) {
		fprintf(stderr, "sup_lookup: %s\n", iso_error());
		return (2);
	}
	printf("%s\n", json);
	free(json);
	iso_msg_free(m);
	return (0);
}
