/*
 * cl_echo NAME [DELAY_US]: a libisolate program the cluster tests run
 * under a node's supervisor: it registers a port of its own under NAME
 * and sends every message it gets that says where ({"reply": SendPort,
 * ...}) back there, as it came, after DELAY_US microseconds (a slow
 * reader); {"exit": true} ends it. A reply that finds the queue full
 * waits, in order with those after it, until iso_on_writable says there
 * is room (a wait inside the listen callback cannot run the loop).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "isolate.h"

static useconds_t	delay;

/* Replies waiting for room, oldest first. */
static struct wait {
	iso_sendport	 to;
	iso_msg		*m;
	struct wait	*next;
}			*waits, **waits_tail = &waits;

static void
flush(void *arg)
{
	struct wait	*w;

	(void)arg;
	while ((w = waits) != NULL) {
		if (iso_send(w->to, w->m) == -1) {
			if (errno == ENOBUFS &&
			    iso_on_writable(w->to, flush, NULL) == 0)
				return;
			fprintf(stderr, "cl_echo: send: %s\n", iso_error());
		}
		waits = w->next;
		iso_msg_free(w->m);
		free(w);
	}
	waits_tail = &waits;
}

static void
echo(iso_port *p, const iso_msg *m, void *arg)
{
	iso_sendport	to;
	struct wait	*w;
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
	if (waits == NULL && iso_send(to, m) == 0)
		return;
	if (waits == NULL && errno != ENOBUFS) {
		fprintf(stderr, "cl_echo: send: %s\n", iso_error());
		return;
	}
	if ((w = malloc(sizeof *w)) == NULL || (w->m = iso_msg_copy(m)) ==
	    NULL) {
		fprintf(stderr, "cl_echo: out of memory\n");
		exit(1);
	}
	w->to = to;
	w->next = NULL;
	*waits_tail = w;
	waits_tail = &w->next;
	if (waits == w && iso_on_writable(to, flush, NULL) == -1)
		fprintf(stderr, "cl_echo: on_writable: %s\n", iso_error());
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
