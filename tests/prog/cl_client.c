/*
 * cl_client NODE NAME N [BYTES]: looks NAME up on node NODE's supervisor
 * (through ours), sends it N messages {"reply": our port, "n": i, "pad":
 * BYTES bytes}, waiting for room when the queue is full, and reads the N
 * echoes. Prints one line: "sent=N got=N lost=N dup=N reordered=N", or
 * the error that stopped it ("error: send: ..."), and exits 0 only when
 * every echo came once and in order.
 *
 * cl_client NODE NAME gone: one echo, then {"exit": true}, then a send
 * every 50 ms until one fails (30 s at most): prints "told=ERRNO TEXT"
 * and exits 0 when the sender was told ECONNREFUSED. "hold": the same
 * without the exit (the test ends the echo's node), "ready" printed after
 * the echo.
 *
 * cl_client NODE NAME big: one message of 2 MB (over NATS's default
 * max_payload), then small ones every 50 ms until a send fails: prints
 * "told=ERRNO TEXT" and exits 0 when that was EMSGSIZE.
 *
 * cl_client NODE NAME fd: one echo, then messages carrying a descriptor
 * (a pipe's) every 50 ms until a send fails: prints "told=ERRNO TEXT"
 * and exits 0 when that was EXDEV (descriptors cannot cross machines).
 *
 * cl_client NODE NAME shared: 20 messages as above whose pad is a bytes
 * value of 200,000 bytes made with iso_bytes_new, over the size that goes
 * between isolates as a memfd: the gateway sends it as plain bytes; every
 * echo is checked.
 *
 * cl_client NODE NAME madeup: one echo from NAME's port, then messages to
 * the next port of that isolate, a SendPort made up here (no key for it
 * came to this node), every 50 ms until a send fails: prints "told=ERRNO
 * TEXT" and exits 0 when that was EACCES.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isolate.h"

static int64_t	want, got, nrecv, ndup, reordered;
static unsigned char *seen;	/* by n: came already */
static iso_port	*port;
static iso_timer *deadline;
static const char *why;
static int	 shared;	/* the "shared" form: pad is bytes */
static char	*pad;
static size_t	 padlen;

static void
on_echo(iso_port *p, const iso_msg *m, void *arg)
{
	int64_t	n;

	(void)arg;
	if (iso_msg_unpack(m, "{s:I}", "n", &n) == -1)
		return;
	if (n < 1 || n > want)
		return;
	if (shared) {
		const void	*b;
		size_t		 len;

		if ((b = iso_msg_bytes(iso_msg_get(m, "pad"), &len)) == NULL ||
		    len != padlen || memcmp(b, pad, len) != 0) {
			why = "an echo's bytes differ";
			return;
		}
	}
	if (seen[n]) {
		ndup++;
		if (getenv("CL_DBG"))
			fprintf(stderr, "dup %lld\n", (long long)n);
		return;
	}
	seen[n] = 1;
	nrecv++;
	if (n != got + 1)
		reordered++;
	if (n > got)
		got = n;
	if (nrecv == want) {
		iso_timer_cancel(deadline);
		iso_port_close(p);
	}
}

/* Every second: gives up when no echo came for 30 s (a stream that
   stalls has lost something; a slow one is not wrong). */
static void
too_late(iso_timer *t, void *arg)
{
	static int64_t	last = -1;
	static int	idle;

	(void)arg;
	if (nrecv != last) {
		last = nrecv;
		idle = 0;
		return;
	}
	if (++idle < 30)
		return;
	why = "timed out: no echo came for 30 s";
	iso_timer_cancel(t);
	deadline = NULL;
	iso_port_close(port);
}

/* One echo from to, on port: 0, with *idle a new port to run the loop
   on (a successful iso_port_first closes its port); -1 said. */
static int
first_echo(iso_sendport to, iso_port **idle)
{
	iso_msg	*m, *echo = NULL;
	int	 rc = -1;

	m = iso_msg_pack("{s:P s:I}", "reply", iso_port_sendport(port), "n",
	    (int64_t)1);
	if (m != NULL && iso_send(to, m) == 0 &&
	    iso_port_first(port, &echo, 20000) == 0 &&
	    (*idle = iso_port_new()) != NULL)
		rc = 0;
	else
		printf("error: no first echo: %s\n", iso_error());
	iso_msg_free(m);
	iso_msg_free(echo);
	return (rc);
}

/* Send m (freed here) to `to` every 50 ms, running the loop on idle
   meanwhile (a refusal is read then), until a send fails: prints
   "told=NAME TEXT" and returns 0 when it failed with e (named name),
   else 1. */
static int
until_told(iso_sendport to, iso_msg *m, iso_port *idle, int e,
    const char *name)
{
	iso_msg	*echo;
	int	 i, r;

	for (i = 0; i < 600; i++) {
		if (iso_send(to, m) == -1) {
			r = errno == e ? 0 : 1;
			printf("told=%s %s\n", r == 0 ? name : "other",
			    iso_error());
			iso_msg_free(m);
			return (r);
		}
		if (iso_port_first(idle, &echo, 50) == 0)
			iso_msg_free(echo);
	}
	printf("error: never told\n");
	iso_msg_free(m);
	return (1);
}

/* The "gone" and "hold" forms: 0 when told. */
static int
gone(iso_sendport to, int say_exit)
{
	iso_port	*idle;
	iso_msg		*m;

	if (first_echo(to, &idle) == -1)
		return (1);
	if (!say_exit) {
		printf("ready\n");
		fflush(stdout);
	}
	if ((m = iso_msg_pack("{s:b}", "exit", say_exit)) == NULL ||
	    iso_send(to, m) == -1) {
		printf("error: exit: %s\n", iso_error());
		return (1);
	}
	return (until_told(to, m, idle, ECONNREFUSED, "ECONNREFUSED"));
}

static void
free_all(void)
{
	free(pad);
	free(seen);
}

/* The "big" form: 0 when told EMSGSIZE. */
static int
big(iso_sendport to)
{
	iso_msg		*m;
	iso_port	*idle;
	char		*blob;
	int		 r;

	if ((blob = malloc(2 << 20)) == NULL)
		return (2);
	memset(blob, 'x', (2 << 20) - 1);
	blob[(2 << 20) - 1] = '\0';
	m = iso_msg_pack("{s:P s:s}", "reply", iso_port_sendport(port),
	    "pad", blob);
	free(blob);
	if (m == NULL || iso_send(to, m) == -1) {
		/* Told already, while the library was still writing it. */
		r = m != NULL && errno == EMSGSIZE ? 0 : 1;
		printf("%s%s\n", r == 0 ? "told=EMSGSIZE " : "error: big: ",
		    iso_error());
		iso_msg_free(m);
		return (r);
	}
	iso_msg_free(m);
	if ((m = iso_msg_pack("{s:i}", "n", 0)) == NULL ||
	    (idle = iso_port_new()) == NULL)
		return (2);
	return (until_told(to, m, idle, EMSGSIZE, "EMSGSIZE"));
}

/* The "fd" form: 0 when told EXDEV. */
static int
with_fd(iso_sendport to)
{
	iso_port	*idle;
	iso_msg		*m;
	int		 pfd[2];

	if (first_echo(to, &idle) == -1)
		return (1);
	if (pipe2(pfd, O_CLOEXEC) == -1 ||
	    (m = iso_msg_pack("{s:P s:I s:h}", "reply",
	    iso_port_sendport(idle), "n", (int64_t)2, "fd", pfd[0])) == NULL)
		return (2);
	close(pfd[0]);
	close(pfd[1]);
	return (until_told(to, m, idle, EXDEV, "EXDEV"));
}

/* The "madeup" form: 0 when told EACCES. */
static int
madeup(iso_sendport to)
{
	iso_sendport	 fake = to;
	iso_port	*idle;
	iso_msg		*m;

	if (first_echo(to, &idle) == -1 ||
	    (m = iso_msg_pack("{s:P s:I}", "reply", iso_port_sendport(idle),
	    "n", (int64_t)2)) == NULL)
		return (1);
	fake.port = to.port + 1;
	return (until_told(fake, m, idle, EACCES, "EACCES"));
}

/* Message i of the shared form: pad in a shared bytes value. */
static iso_msg *
shared_msg(int64_t i)
{
	iso_msg	*v, *m;
	void	*p;

	if ((v = iso_bytes_new(padlen, &p)) == NULL)
		return (NULL);
	memcpy(p, pad, padlen);
	m = iso_msg_pack("{s:P s:I s:O}", "reply", iso_port_sendport(port),
	    "n", i, "pad", v);
	iso_msg_free(v);
	return (m);
}

int
main(int argc, char **argv)
{
	iso_sendport	 to;
	iso_msg		*m;
	int64_t		 i;
	size_t		 bytes;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: cl_client NODE NAME N [BYTES]\n");
		return (2);
	}
	want = strtoll(argv[3], NULL, 10);
	bytes = argc == 5 ? strtoul(argv[4], NULL, 10) : 0;
	if (strcmp(argv[3], "shared") == 0) {
		shared = 1;
		want = 20;
		bytes = 200000;
	}
	padlen = bytes;
	if ((pad = calloc(1, bytes + 1)) == NULL ||
	    (seen = calloc(1, (size_t)want + 2)) == NULL)
		return (2);
	for (i = 0; i < (int64_t)bytes; i++)
		pad[i] = shared ? (char)(i * 7 + (i >> 10)) : 'x';
	/* Freed at exit, whichever way (a leak checker runs the tests). */
	if (atexit(free_all) != 0)
		return (2);
	if (iso_sup_set_node(argv[1]) == -1 ||
	    iso_sup_lookup(argv[2], &to) == -1 ||
	    iso_sup_set_node(NULL) == -1) {
		printf("error: lookup %s on %s: %s\n", argv[2], argv[1],
		    iso_error());
		return (1);
	}
	if (strcmp(argv[3], "fd") == 0)
		return ((port = iso_port_new()) == NULL ? 2 : with_fd(to));
	if (strcmp(argv[3], "madeup") == 0)
		return ((port = iso_port_new()) == NULL ? 2 : madeup(to));
	if (strcmp(argv[3], "big") == 0) {
		return ((port = iso_port_new()) == NULL ? 2 : big(to));
	}
	if (strcmp(argv[3], "gone") == 0 || strcmp(argv[3], "hold") == 0) {
		return ((port = iso_port_new()) == NULL ? 2 : gone(to,
		    argv[3][0] == 'g'));
	}
	if ((port = iso_port_new()) == NULL ||
	    iso_port_listen(port, on_echo, NULL) == -1 ||
	    (deadline = iso_timer_every(1000, too_late, NULL)) == NULL)
		return (2);
	for (i = 1; i <= want; i++) {
		m = shared ? shared_msg(i) : iso_msg_pack("{s:P s:I s:s}",
		    "reply", iso_port_sendport(port), "n", i, "pad", pad);
		if (m == NULL || iso_send_wait(to, m, 30000) == -1) {
			printf("error: send %lld: %s\n", (long long)i,
			    iso_error());
			return (1);
		}
		iso_msg_free(m);
	}
	(void)iso_run();
	printf("sent=%lld got=%lld lost=%lld dup=%lld reordered=%lld%s%s\n",
	    (long long)want, (long long)nrecv, (long long)(want - nrecv),
	    (long long)ndup, (long long)reordered, why != NULL ?
	    " error=" : "", why != NULL ? why : "");
	return (nrecv == want && ndup == 0 && reordered == 0 ? 0 : 1);
}
