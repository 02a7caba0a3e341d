/*
 * s5_close.c: S5 of the tutorial, "closing a port".
 *
 * The isolate of S3 sends 1, 2, 3 ... once a period. Main listens and
 * prints `receive : N`, until a value above 5 arrives: then it closes its
 * ReceivePort, so it prints `receive : 1` ... `receive : 5` and nothing
 * after. The closed port was the last thing keeping main's loop going:
 * iso_run returns, main returns, and the isolate, still sending, ends
 * with its spawner (an isolate dies with the isolate that spawned it).
 *
 *   usage: s5_close [--period-ms N]	(N = 1000: the tutorial's 1 s)
 *
 * Dart:
 *   void onPressListen() async {
 *       ReceivePort receivePort = ReceivePort();
 *       Isolate isolate = await Isolate.spawn(myIsolate2, receivePort.sendPort);
 *       receivePort.listen((data) {
 *           if (int.parse(data.toString()) > 5) {
 *               receivePort.close();
 *           } else {
 *               print('receive : $data');
 *           }
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
	/* After main closed its port, main drops what we send (as Dart
	   does); once main is gone, send fails: stop then. */
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

/*
 * Dart's closure captures receivePort; a C callback gets it as `p`.
 * Closing the port inside its own listener is allowed: the library
 * releases it when this function returns, so `p` must not be used after
 * the close.
 */
static void
on_data(iso_port *p, const iso_msg *m, void *arg)
{
	int64_t	 data;

	(void)arg;
	if (iso_msg_int(m, &data) == -1)
		return;
	if (data > 5)
		iso_port_close(p);
	else
		printf("receive : %" PRId64 "\n", data);
}

static void
usage(void)
{
	fprintf(stderr, "usage: s5_close [--period-ms N]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "period-ms", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	iso_port	*receive_port;
	iso_isolate	*isolate;
	iso_msg		*arg;
	char		*end;
	int		 c;

	while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			period_ms = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || period_ms < 0)
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
	if (iso_port_listen(receive_port, on_data, NULL) == -1)
		err(1, "listen");

	/* Returns once on_data has closed the port: nothing else is open. */
	if (iso_run() == -1)
		err(1, "iso_run");
	iso_isolate_free(isolate);
	return (0);		/* ends the isolate too */
}
