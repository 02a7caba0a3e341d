/*
 * cl_echo NAME [DELAY_US]: a libisolate program the cluster tests run
 * under a node's supervisor: it registers a port of its own under NAME
 * and sends every message it gets that says where ({"reply": SendPort,
 * ...}) back there, as it came, after DELAY_US microseconds (a slow
 * reader); {"exit": true} ends it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "isolate.h"

static useconds_t	delay;

static void
echo(iso_port *p, const iso_msg *m, void *arg)
{
	iso_sendport	to;
	int		stop = 0;

	(void)arg;
	if (iso_msg_unpack(m, "{s:b}", "exit", &stop) == 0 && stop) {
		iso_port_close(p);
		return;
	}
	if (iso_msg_unpack(m, "{s:P}", "reply", &to) == -1)
		return;
	if (delay > 0)
		usleep(delay);
	if (iso_send_wait(to, m, -1) == -1)
		fprintf(stderr, "cl_echo: send: %s\n", iso_error());
}

int
main(int argc, char **argv)
{
	iso_port	*p;

	if (argc == 3)
		delay = (useconds_t)strtoul(argv[2], NULL, 10);
	if (argc < 2 || argc > 3 || (p = iso_port_new()) == NULL ||
	    iso_port_listen(p, echo, NULL) == -1) {
		fprintf(stderr, "cl_echo: %s\n", iso_error());
		return (2);
	}
	if (iso_sup_register(argv[1], iso_port_sendport(p)) == -1) {
		fprintf(stderr, "cl_echo: register: %s\n", iso_error());
		return (1);
	}
	printf("registered %s\n", argv[1]);
	fflush(stdout);
	return (iso_run() == 0 ? 0 : 1);
}
