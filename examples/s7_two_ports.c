/*
 * s7_two_ports.c: S7 of the tutorial, "using several ports", and the
 * Flutter app at its end (S9): `make demo` runs this program.
 *
 * The isolate makes a ReceivePort of its own and sends its SendPort to
 * main inside a map {"port": SendPort}. Main then sends {"msg": 1} ...
 * {"msg": 5}, one a period; the isolate answers {"msg": n*n} on main's
 * port and main prints `msg : 1`, `msg : 4` ... `msg : 25`. At the sixth
 * tick main sends {"msg": "bye"} and closes its port; the isolate closes
 * its own port and so ends. Main waits for that end, then returns.
 *
 *   usage: s7_two_ports [--period-ms N] [--in-place | --no-in-place]
 *	--period-ms	main's timer (1000: the tutorial's 1 s)
 *	--in-place	show only the latest result, rewritten in place, as
 *			the Flutter app's Text(result) does with setState;
 *			the default when stdout is a terminal
 *	--no-in-place	one line per result; the default otherwise
 *
 * Dart (the isolate):
 *   myIsolate(SendPort mainPort) {
 *       ReceivePort isoPort = ReceivePort();
 *       mainPort.send({'port': isoPort.sendPort});
 *       isoPort.listen((message) {
 *           if (message['msg'] != 'bye') {
 *               int count = message['msg'];
 *               mainPort.send({'msg': count * count});
 *           } else {
 *               isoPort.close();
 *           }
 *       });
 *   }
 * Dart (main): see main() below; each step carries its Dart line.
 */
#include <err.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isolate.h>

static int		 period_ms = 1000;
static int		 in_place = -1;		/* -1: decide by isatty(1) */

/* ---- the isolate ----------------------------------------------------- */

static iso_sendport	 main_port;

/* isoPort.listen((message) { ... }) */
static void
on_iso_message(iso_port *iso_rport, const iso_msg *message, void *arg)
{
	const char	*word;
	int64_t		 count;
	iso_msg		*reply;

	(void)arg;
	/* message['msg'] is a number or the string 'bye': a C program asks
	   which, where Dart's dynamic typing just compares. */
	if (iso_msg_unpack(message, "{s:I}", "msg", &count) == 0) {
		if ((reply = iso_msg_pack("{s:I}", "msg", count * count)) ==
		    NULL || iso_send(main_port, reply) == -1)
			warn("isolate: send");
		iso_msg_free(reply);
	} else if (iso_msg_unpack(message, "{s:s}", "msg", &word) == 0 &&
	    strcmp(word, "bye") == 0) {
		/* The isolate's only port: once it is closed nothing keeps
		   the isolate's loop going, and the isolate exits 0. */
		iso_port_close(iso_rport);
	}
}

static void
my_isolate(const iso_msg *arg)
{
	iso_port	*iso_rport;	/* Dart's isoPort, the ReceivePort */
	iso_msg		*hello;

	if (iso_msg_sendport(arg, &main_port) == -1)
		err(1, "myIsolate: no SendPort");
	/* ReceivePort isoPort = ReceivePort(); */
	if ((iso_rport = iso_port_new()) == NULL)
		err(1, "myIsolate: ReceivePort");
	/* mainPort.send({'port': isoPort.sendPort}); a SendPort is a value
	   that travels inside messages ('P') and works in any isolate. */
	if ((hello = iso_msg_pack("{s:P}", "port",
	    iso_port_sendport(iso_rport))) == NULL ||
	    iso_send(main_port, hello) == -1)
		err(1, "myIsolate: send");
	iso_msg_free(hello);
	if (iso_port_listen(iso_rport, on_iso_message, NULL) == -1)
		err(1, "myIsolate: listen");
	/* Returning is right: the library now runs this isolate's loop
	   while iso_rport is open. */
}

/* ---- main ------------------------------------------------------------ */

struct app {
	iso_port	*main_port;
	iso_sendport	 iso_port;	/* SendPort? isoPort; in main */
	int		 have_iso_port;	/* ... and whether it is non-null */
	int		 count;
	int		 shown;		/* something is on the line */
};

/* setState(() { result = 'msg : ...'; }): show the latest result. */
static void
show(struct app *app, int64_t value)
{
	if (in_place) {
		/* Back to the start of the line, erase it, write the new
		   result; the final newline comes at the end. */
		printf("\r\033[Kmsg : %" PRId64, value);
		fflush(stdout);
		app->shown = 1;
	} else
		printf("msg : %" PRId64 "\n", value);
}

/* mainPort.listen((message) { ... }) */
static void
on_main_message(iso_port *p, const iso_msg *message, void *arg)
{
	struct app	*app = arg;
	const iso_msg	*v;
	int64_t		 value;

	(void)p;
	if ((v = iso_msg_get(message, "port")) != NULL &&
	    iso_msg_sendport(v, &app->iso_port) == 0)
		app->have_iso_port = 1;		/* isoPort = message['port'] */
	else if ((v = iso_msg_get(message, "msg")) != NULL &&
	    iso_msg_int(v, &value) == 0)
		show(app, value);
}

/* isoPort?.send(...): nothing when the isolate's port has not come yet. */
static void
send_to_isolate(struct app *app, iso_msg *m)
{
	if (m == NULL)
		err(1, "pack");
	if (app->have_iso_port && iso_send(app->iso_port, m) == -1)
		warn("send");
	iso_msg_free(m);
}

/* Timer.periodic(Duration(seconds: 1), (timer) { ... }) */
static void
tick(iso_timer *timer, void *arg)
{
	struct app	*app = arg;

	app->count++;
	if (app->count < 6)
		send_to_isolate(app, iso_msg_pack("{s:i}", "msg", app->count));
	else {
		send_to_isolate(app, iso_msg_pack("{s:s}", "msg", "bye"));
		iso_port_close(app->main_port);
		app->main_port = NULL;
		/* Dart's timer ticks on forever, sending 'bye' to a closed
		   port; C's would keep main's loop going forever, so cancel
		   it (allowed inside its own callback). */
		iso_timer_cancel(timer);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: s7_two_ports [--period-ms N] "
	    "[--in-place | --no-in-place]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "period-ms", required_argument, NULL, 'p' },
		{ "in-place", no_argument, NULL, 'i' },
		{ "no-in-place", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct app	 app = { 0 };
	iso_isolate	*isolate;
	iso_port	*exits;
	iso_msg		*arg, *bye;
	char		*end;
	int		 c;

	while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			period_ms = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || period_ms < 0)
				usage();
			break;
		case 'i':
			in_place = 1;
			break;
		case 'n':
			in_place = 0;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (in_place == -1)
		in_place = isatty(STDOUT_FILENO);
	setvbuf(stdout, NULL, _IOLBF, 0);	/* print's pace, not exit's */

	/* ReceivePort mainPort = ReceivePort(); */
	if ((app.main_port = iso_port_new()) == NULL)
		err(1, "ReceivePort");
	/* Isolate isolate = await Isolate.spawn(myIsolate, mainPort.sendPort); */
	if ((arg = iso_msg_pack("P", iso_port_sendport(app.main_port))) ==
	    NULL || iso_spawn(my_isolate, arg, &isolate) == -1)
		err(1, "spawn");
	iso_msg_free(arg);
	/* mainPort.listen(...); Timer.periodic(...); */
	if (iso_port_listen(app.main_port, on_main_message, &app) == -1 ||
	    iso_timer_every(period_ms, tick, &app) == NULL)
		err(1, "listen");

	/* Dart's event loop runs by itself; C's main runs its own, until
	   tick has closed main_port and cancelled itself. */
	if (iso_run() == -1)
		err(1, "iso_run");
	if (in_place && app.shown)
		putchar('\n');

	/*
	 * The Flutter app lives on, so its isolate has all the time it needs
	 * to read 'bye' and close its port. Returning from main would end the
	 * isolate (it dies with its spawner), so wait for it to end by itself:
	 * Isolate.addOnExitListener sends a notice (nil) to a new port, and
	 * `first` runs the loop until the notice is there.
	 */
	if ((exits = iso_port_new()) == NULL ||
	    iso_on_exit(isolate, iso_port_sendport(exits), NULL) == -1 ||
	    iso_port_first(exits, &bye, -1) == -1)
		err(1, "waiting for the isolate");
	iso_msg_free(bye);
	iso_isolate_free(isolate);
	return (0);
}
