/*
 * s3_s4_listen.c: S3 and S4 of the tutorial, "sending again and again"
 * and `listen()`.
 *
 * S3, the isolate: a periodic timer sends 1, 2, 3 ... to main, once a
 * period, forever (until it is killed or its spawner ends).
 * S4, main: listens on its ReceivePort and prints `receive : N` for each
 * message as it arrives.
 *
 *   usage: s3_s4_listen [--period-ms N] [--count N]
 *	--period-ms	the timer's period (1000: the tutorial's 1 s)
 *	--count		stop after N messages (5); 0 listens forever, as Dart
 *
 * How it ends, and why differently from Dart: the Flutter app listens
 * until the app is closed. A C program must end by itself (tests run it),
 * so after --count messages main closes its port. That was the last thing
 * keeping iso_run going: it returns, main returns, and the isolate, still
 * sending, ends with its spawner (the library kills and reaps it). See
 * s5_close.c for the tutorial's own way to close, s6_kill.c for kill.
 *
 * Dart:
 *   void myIsolate2(SendPort sendPort) {
 *       int counter = 0;
 *       Timer.periodic(new Duration(seconds: 1), (Timer t) {
 *           sendPort.send(++counter);
 *       });
 *   }
 *   void onPressListen() async {
 *       ReceivePort receivePort = ReceivePort();
 *       Isolate isolate = await Isolate.spawn(myIsolate2, receivePort.sendPort);
 *       receivePort.listen((data) {
 *           print('receive : $data');
 *       });
 *   }
 */
#include <err.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <isolate.h>

static int		 period_ms = 1000;
static int		 count = 5;

/* ---- the isolate (S3) ------------------------------------------------ */

static iso_sendport	 send_port;
static int		 counter;

/* Timer.periodic's callback: the timer itself is its first argument. */
static void
tick(iso_timer *t, void *arg)
{
	iso_msg	*m;

	(void)arg;
	if ((m = iso_msg_pack("i", ++counter)) == NULL)
		err(1, "pack");
	/* Dart drops a send to a dead isolate without a word; C says
	   ECONNREFUSED. Nobody is listening any more: stop the timer,
	   which ends this isolate (nothing else keeps its loop going). */
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

/* ---- main (S4) ------------------------------------------------------- */

/* The listener: `m` is lent for the call (the library frees it after). */
static void
on_data(iso_port *p, const iso_msg *m, void *arg)
{
	int	*received = arg;
	int64_t	 data;

	if (iso_msg_int(m, &data) == -1)
		return;			/* not a number: not ours */
	printf("receive : %" PRId64 "\n", data);
	if (count > 0 && ++*received == count)
		iso_port_close(p);	/* allowed inside its own listener */
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
	fprintf(stderr, "usage: s3_s4_listen [--period-ms N] [--count N]\n");
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
	iso_port	*receive_port;
	iso_isolate	*isolate;
	iso_msg		*arg;
	int		 c, received = 0;

	while ((c = getopt_long(argc, argv, "p:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if ((period_ms = number(optarg)) == -1)
				usage();
			break;
		case 'c':
			if ((count = number(optarg)) == -1)
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);	/* print's pace, not exit's */

	if ((receive_port = iso_port_new()) == NULL)
		err(1, "ReceivePort");
	if ((arg = iso_msg_pack("P", iso_port_sendport(receive_port))) ==
	    NULL || iso_spawn(my_isolate2, arg, &isolate) == -1)
		err(1, "spawn");
	iso_msg_free(arg);
	if (iso_port_listen(receive_port, on_data, &received) == -1)
		err(1, "listen");

	/*
	 * Dart runs the event loop for you; in C, main runs it. iso_run
	 * delivers messages to on_data until no port or timer of main is
	 * open. The isolate's timer is the isolate's: it does not keep
	 * main's loop going.
	 */
	if (iso_run() == -1)
		err(1, "iso_run");
	iso_isolate_free(isolate);
	return (0);		/* the isolate ends with us */
}
