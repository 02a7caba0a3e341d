/*
 * s2_first.c: S2 of the tutorial, "sending data through a port" with
 * `receivePort.first`.
 *
 * Main makes a ReceivePort and spawns an isolate with its SendPort. The
 * isolate sends "hello world" two periods later; main takes that first
 * message and prints it. `first` closes the port: it cannot be used again.
 *
 *   usage: s2_first [--period-ms N]	(N = 1000: the tutorial's 2 s delay)
 *
 * Dart:
 *   myIsolate(SendPort sendPort) {
 *       Future.delayed(Duration(seconds: 2), () {
 *           sendPort.send("hello world");
 *       });
 *   }
 *   void onPress() async {
 *       ReceivePort receivePort = ReceivePort();
 *       await Isolate.spawn(myIsolate, receivePort.sendPort);
 *       String data = await receivePort.first;
 *       print("main isolate... data read : " + data);
 *   }
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <isolate.h>

static int		 period_ms = 1000;

/* ---- the isolate ----------------------------------------------------- */

/* The SendPort is a plain value: the isolate keeps its own copy. */
static iso_sendport	 main_port;

static void
send_hello(void *arg)
{
	iso_msg	*m;

	(void)arg;
	/* send() copies the message into the frame: we still own m. */
	if ((m = iso_msg_pack("s", "hello world")) == NULL ||
	    iso_send(main_port, m) == -1)
		err(1, "send");
	iso_msg_free(m);
}

/* `arg` is the message main spawned us with: a SendPort. Once the timer
   has fired and the message is written, nothing is left open and the
   isolate ends by itself. */
static void
my_isolate(const iso_msg *arg)
{
	if (iso_msg_sendport(arg, &main_port) == -1 ||
	    iso_timer_after(2 * period_ms, send_hello, NULL) == NULL)
		err(1, "myIsolate");
}

/* ---- main ------------------------------------------------------------ */

static void
usage(void)
{
	fprintf(stderr, "usage: s2_first [--period-ms N]\n");
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
	iso_msg		*arg, *data;
	const char	*text;
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
	/* The SendPort travels to the isolate inside a message ('P'). */
	if ((arg = iso_msg_pack("P", iso_port_sendport(receive_port))) ==
	    NULL || iso_spawn(my_isolate, arg, NULL) == -1)
		err(1, "spawn");
	iso_msg_free(arg);

	/*
	 * `await receivePort.first`: runs this isolate's loop until one
	 * message arrives (timeout -1: wait forever), hands it over (we free
	 * it) and closes the port. receive_port is gone from here on: using
	 * it again would be using a closed FILE *.
	 */
	if (iso_port_first(receive_port, &data, -1) == -1)
		err(1, "first");
	receive_port = NULL;
	if (iso_msg_unpack(data, "s", &text) == -1)	/* Dart's String */
		errx(1, "first: not a string");
	printf("main isolate... data read : %s\n", text);
	iso_msg_free(data);

	/* The isolate has done its work and ends by itself; if it has not
	   quite finished, returning from main ends it (an isolate dies with
	   its spawner) and the library reaps it: nothing is left behind. */
	return (0);
}
