/*
 * chaos_exit_order: an exit notice comes after every message the ended
 * isolate sent to ports of the receiving process. Hundreds of isolates
 * each send K messages and end: by returning, by iso_exit, by SIGKILL
 * (raised by itself after its sends), by abort (an error notice too),
 * and with the notice going to a third isolate instead of the spawner.
 * Counts the messages that arrived after their isolate's notice (lost
 * to the receiver, which closes its port on the notice) and those out of
 * order.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

#define K		25
#define VARIANTS	5

enum { V_RETURN, V_EXIT, V_SIGKILL, V_ABORT, V_THIRD };

struct tally {
	int64_t	 next;		/* the next sequence number expected */
	int	 reordered;
	int	 notices;	/* notices still expected */
	int	 before;	/* messages before the (last) notice */
};

static void
die(const char *what)
{
	fprintf(stderr, "chaos_exit_order: %s: %s\n", what, iso_error());
	exit(2);
}

/* The isolate that ends: K numbers to `to`, then its end. */
static void
sender(const iso_msg *arg)
{
	iso_sendport	 to;
	int64_t		 v, i;
	iso_msg		*m;

	if (iso_msg_unpack(arg, "[PI]", &to, &v) == -1)
		_exit(3);
	for (i = 0; i < K; i++) {
		if ((m = iso_msg_pack("I", i)) == NULL || iso_send(to, m) == -1)
			_exit(4);
		iso_msg_free(m);
	}
	switch (v) {
	case V_EXIT:
		iso_exit(to, NULL);	/* nil: the last message */
	case V_SIGKILL:
		raise(SIGKILL);
		break;
	case V_ABORT:
		abort();
	}
}

/* Count numbers in order; a string or list is a notice. */
static void
tally_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct tally	*t = arg;
	int64_t		 v;

	if (iso_msg_int(m, &v) == 0) {
		if (v != t->next)
			t->reordered++;
		t->next = v + 1;
		return;
	}
	if (iso_msg_type(m) == ISO_NIL)
		return;		/* iso_exit's final message */
	t->before = (int)t->next;
	if (--t->notices == 0)
		iso_port_close(p);
}

/* The third isolate: tallies one sender, answers [before, reordered]
   on `answer` after telling its port on `hello`. */
static void
third(const iso_msg *arg)
{
	iso_sendport	 hello, answer;
	iso_port	*p;
	iso_msg		*m;
	struct tally	 t = { 0, 0, 1, -1 };

	if (iso_msg_unpack(arg, "[PP]", &hello, &answer) == -1 ||
	    (p = iso_port_new()) == NULL)
		_exit(3);
	m = iso_msg_pack("P", iso_port_sendport(p));
	if (m == NULL || iso_send(hello, m) == -1)
		_exit(4);
	iso_msg_free(m);
	iso_port_listen(p, tally_cb, &t);
	iso_run();
	m = iso_msg_pack("[ii]", t.before, t.reordered);
	if (m == NULL || iso_send(answer, m) == -1)
		_exit(4);
	iso_msg_free(m);
}

/* Spawn the sender of variant v with its exit (and error) notice to
   `to`. */
static void
spawn_sender(int v, iso_sendport to)
{
	iso_isolate	*iso;
	iso_msg		*arg, *m;

	if ((arg = iso_msg_pack("[PI]", to, (int64_t)v)) == NULL ||
	    iso_spawn(sender, arg, &iso) == -1)
		die("spawn");
	iso_msg_free(arg);
	if ((m = iso_msg_pack("s", "exit")) == NULL ||
	    iso_on_exit(iso, to, m) == -1 ||
	    (v == V_ABORT && iso_on_error(iso, to) == -1))
		die("listeners");
	iso_msg_free(m);
	iso_isolate_free(iso);
}

/* One run: the number of messages its notice overtook. */
static int
run_one(int v, int *reordered)
{
	iso_port	*p, *hello, *answer;
	iso_sendport	 to;
	iso_msg		*arg, *m;
	struct tally	 t = { 0, 0, v == V_ABORT ? 2 : 1, -1 };
	int64_t		 before, reord;

	if (v != V_THIRD) {
		if ((p = iso_port_new()) == NULL)
			die("port");
		spawn_sender(v, iso_port_sendport(p));
		iso_port_listen(p, tally_cb, &t);
		if (iso_run() == -1)
			die("run");
		*reordered += t.reordered;
		return (K - t.before);
	}
	if ((hello = iso_port_new()) == NULL ||
	    (answer = iso_port_new()) == NULL ||
	    (arg = iso_msg_pack("[PP]", iso_port_sendport(hello),
	    iso_port_sendport(answer))) == NULL ||
	    iso_spawn(third, arg, NULL) == -1)
		die("third isolate");
	iso_msg_free(arg);
	if (iso_port_first(hello, &m, 10000) == -1 ||
	    iso_msg_sendport(m, &to) == -1)
		die("third isolate's port");
	iso_msg_free(m);
	spawn_sender(v, to);
	if (iso_port_first(answer, &m, 10000) == -1 ||
	    iso_msg_unpack(m, "[II]", &before, &reord) == -1)
		die("third isolate's answer");
	iso_msg_free(m);
	*reordered += (int)reord;
	return (K - (int)before);
}

int
main(void)
{
	const char	*names[VARIANTS] = { "return", "iso_exit", "SIGKILL",
			    "abort", "third" };
	int		 runs, i, v, lost[VARIANTS] = { 0 }, reordered = 0;
	int		 total_lost = 0, overtaken = 0, n;

	runs = getenv("CHAOS_LONG") != NULL &&
	    strcmp(getenv("CHAOS_LONG"), "1") == 0 ? 3000 : 600;
	tu_runtime_dir();
	for (i = 0; i < runs; i++) {
		v = i % VARIANTS;
		if ((n = run_one(v, &reordered)) > 0) {
			lost[v] += n;
			overtaken++;
		}
	}
	for (v = 0; v < VARIANTS; v++)
		total_lost += lost[v];
	printf("chaos exit_order: runs=%d messages=%d overtaken=%d lost=%d "
	    "reordered=%d", runs, runs * K, overtaken, total_lost, reordered);
	for (v = 0; v < VARIANTS; v++)
		printf(" %s=%d", names[v], lost[v]);
	printf("\n");
	return (total_lost == 0 && reordered == 0 ? 0 : 1);
}
