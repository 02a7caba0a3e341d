/*
 * s6_kill.c: S6 of the tutorial, "ending an isolate":
 * `isolate.kill(priority: Isolate.immediate)`.
 *
 * The isolate of S3 sends 1, 2, 3 ... once a period; main listens as in S4
 * and, after --count messages, kills it at once. Its timer dies with it:
 * main waits three more periods with its port open to show that nothing
 * more arrives, checks that no process (not even a zombie) is left, and
 * closes its port, which ends its loop.
 *
 *   usage: s6_kill [--period-ms N] [--count N]
 *	--period-ms	the isolate's period (1000: the tutorial's 1 s)
 *	--count		messages to take before the kill (3)
 *
 * Output: `receive : 1` ... `receive : N`, `kill : immediate`, then
 * `isolate gone : no process, no zombie`.
 *
 * Dart:
 *   Isolate isolate = await Isolate.spawn(myIsolate2, receivePort.sendPort);
 *   ...
 *   isolate.kill(priority: Isolate.immediate);
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <isolate.h>

static int		 period_ms = 1000;
static int		 count = 3;

/* ---- the isolate: S3's myIsolate2 ------------------------------------ */

static iso_sendport	 send_port;
static int		 counter;

static void
tick(iso_timer *t, void *arg)
{
	iso_msg	*m;

	(void)arg;
	if ((m = iso_msg_pack("i", ++counter)) == NULL)
		err(1, "pack");
	if (iso_send(send_port, m) == -1)
		iso_timer_cancel(t);
	iso_msg_free(m);
}

static void
my_isolate2(const iso_msg *arg)
{
	if (iso_msg_sendport(arg, &send_port) == -1 ||
	    iso_timer_every(period_ms, tick, NULL) == NULL)
		err(1, "myIsolate2");
}

/* ---- main ------------------------------------------------------------ */

struct state {
	iso_port	*port;
	iso_isolate	*isolate;
	pid_t		 pid;		/* the isolate's process, for the check */
	int		 received;
	int		 gone;		/* the check found nothing left */
};

/* Three periods after the kill: is anything of the isolate left? */
static void
check_gone(void *arg)
{
	struct state	*st = arg;

	/*
	 * kill(pid, 0) succeeds for a live process and for a zombie (one
	 * that ended but was not waited for). ISO_IMMEDIATE reaps the
	 * isolate before it returns, so the pid is gone entirely.
	 */
	if (kill(st->pid, 0) == -1 && errno == ESRCH) {
		printf("isolate gone : no process, no zombie\n");
		st->gone = 1;
	} else
		printf("isolate still there : pid %ld\n", (long)st->pid);
	iso_port_close(st->port);	/* the last open thing: iso_run ends */
}

static void
on_data(iso_port *p, const iso_msg *m, void *arg)
{
	struct state	*st = arg;
	int64_t		 data;

	(void)p;
	if (iso_msg_int(m, &data) == -1)
		return;
	printf("receive : %" PRId64 "\n", data);	/* nothing after the kill */
	if (++st->received != count)
		return;

	/* SIGKILL, and the process is reaped before iso_kill returns. A
	   killed isolate is not an error (no on_error notice), as in Dart. */
	if (iso_kill(st->isolate, ISO_IMMEDIATE) == -1)
		err(1, "kill");
	printf("kill : immediate\n");
	if (iso_timer_after(3 * period_ms, check_gone, st) == NULL)
		err(1, "timer");
}

static int
number(const char *s)
{
	char	*end;
	long	 n;

	n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || n < 0 || n > 1000000000)
		return (-1);
	return ((int)n);
}

static void
usage(void)
{
	fprintf(stderr, "usage: s6_kill [--period-ms N] [--count N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "period-ms", required_argument, NULL, 'p' },
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct state	 st = { 0 };
	iso_msg		*arg;
	int		 c;

	while ((c = getopt_long(argc, argv, "p:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if ((period_ms = number(optarg)) == -1)
				usage();
			break;
		case 'c':
			if ((count = number(optarg)) < 1)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);	/* print's pace, not exit's */

	if ((st.port = iso_port_new()) == NULL)
		err(1, "ReceivePort");
	if ((arg = iso_msg_pack("P", iso_port_sendport(st.port))) == NULL ||
	    iso_spawn(my_isolate2, arg, &st.isolate) == -1)
		err(1, "spawn");
	iso_msg_free(arg);
	st.pid = iso_pid(st.isolate);
	if (iso_port_listen(st.port, on_data, &st) == -1)
		err(1, "listen");

	if (iso_run() == -1)
		err(1, "iso_run");
	iso_isolate_free(st.isolate);
	return (st.gone ? 0 : 1);
}
