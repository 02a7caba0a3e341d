/*
 * cl_client NODE NAME N [BYTES]: looks NAME up on node NODE's supervisor
 * (through ours), sends it N messages {"reply": our port, "n": i, "pad":
 * BYTES bytes}, waiting for room when the queue is full, and reads the N
 * echoes. Prints one line: "sent=N got=N lost=N dup=N reordered=N", or
 * the error that stopped it ("error: send: ..."), and exits 0 only when
 * every echo came once and in order.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isolate.h"

static int64_t	want, got, nrecv, dup, reordered;
static iso_port	*port;
static iso_timer *deadline;
static const char *why;

static void
on_echo(iso_port *p, const iso_msg *m, void *arg)
{
	int64_t	n;

	(void)arg;
	if (iso_msg_unpack(m, "{s:I}", "n", &n) == -1)
		return;
	nrecv++;
	if (n <= got)
		dup++;
	else {
		if (n != got + 1)
			reordered++;
		got = n;
	}
	if (nrecv == want) {
		iso_timer_cancel(deadline);
		iso_port_close(p);
	}
}

static void
too_late(void *arg)
{
	(void)arg;
	why = "timed out waiting for the echoes";
	iso_port_close(port);
}

int
main(int argc, char **argv)
{
	iso_sendport	 to;
	iso_msg		*m;
	char		*pad;
	int64_t		 i;
	size_t		 bytes;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: cl_client NODE NAME N [BYTES]\n");
		return (2);
	}
	want = strtoll(argv[3], NULL, 10);
	bytes = argc == 5 ? strtoul(argv[4], NULL, 10) : 0;
	if ((pad = calloc(1, bytes + 1)) == NULL)
		return (2);
	memset(pad, 'x', bytes);
	if (iso_sup_set_node(argv[1]) == -1 ||
	    iso_sup_lookup(argv[2], &to) == -1 ||
	    iso_sup_set_node(NULL) == -1) {
		printf("error: lookup %s on %s: %s\n", argv[2], argv[1],
		    iso_error());
		return (1);
	}
	if ((port = iso_port_new()) == NULL ||
	    iso_port_listen(port, on_echo, NULL) == -1 ||
	    (deadline = iso_timer_after(60000, too_late, NULL)) == NULL)
		return (2);
	for (i = 1; i <= want; i++) {
		m = iso_msg_pack("{s:P s:I s:s}", "reply",
		    iso_port_sendport(port), "n", i, "pad", pad);
		if (m == NULL || iso_send_wait(to, m, 30000) == -1) {
			printf("error: send %lld: %s\n", (long long)i,
			    iso_error());
			return (1);
		}
		iso_msg_free(m);
	}
	(void)iso_run();
	printf("sent=%lld got=%lld lost=%lld dup=%lld reordered=%lld%s%s\n",
	    (long long)want, (long long)nrecv, (long long)(want - nrecv +
	    dup), (long long)dup, (long long)reordered, why != NULL ?
	    " error=" : "", why != NULL ? why : "");
	return (nrecv == want && dup == 0 && reordered == 0 ? 0 : 1);
}
