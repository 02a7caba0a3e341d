/*
 * s1_memory.c: S1 of the tutorial, "isolates with their own memory".
 *
 * Main sets a global and a struct field to "hello", spawns two isolates
 * (with 10 and 20), then sets both to "world". Each isolate prints, two
 * periods later, its argument and what it sees: still "hello". An isolate
 * is a fork()ed process, so it got a copy of main's memory as it was at
 * the spawn; what main changes afterwards lives in main's copy only.
 *
 *   usage: s1_memory [--period-ms N]	(N = 1000: the tutorial's 2 s delay)
 *
 * Dart:
 *   String topData = 'hello';
 *   myIsolate1(var arg) {
 *       Future.delayed(Duration(seconds: 2), () {
 *           print('in myIsolate1... $arg, $topData');
 *       });
 *   }
 *   ... onPress(): Isolate.spawn(myIsolate1, 10); Isolate.spawn(myIsolate2, 20);
 *                  topData = 'world'; classData = 'world';
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include <isolate.h>

static int		 period_ms = 1000;

/* Dart's top-level variable. */
static const char	*top_data = "hello";

/* Dart's MyApp with its field classData. A C function has no `this`, so
   the app is a global struct that both sides name. */
struct my_app {
	const char	*class_data;
};
static struct my_app	 app = { "hello" };

/* ---- the isolates ------------------------------------------------------ */

/* The argument, saved by the isolate in its own memory (main's copy of
   this variable is never touched). */
static int		 my_arg;

static void
print1(void *arg)
{
	(void)arg;
	printf("in myIsolate1... %d, %s\n", my_arg, top_data);
}

static void
print2(void *arg)
{
	(void)arg;
	printf("in myIsolate2... %d, %s, %s\n", my_arg, top_data,
	    app.class_data);
}

/*
 * Isolate.spawn's entry. `arg` is a message, not a Dart object: read the
 * number out of it. Like Dart's function, this one only starts a timer and
 * returns; the library then runs the isolate's loop until the timer has
 * fired (nothing else is open), and the process exits 0.
 */
static void
my_isolate1(const iso_msg *arg)
{
	if (iso_msg_unpack(arg, "i", &my_arg) == -1 ||
	    iso_timer_after(2 * period_ms, print1, NULL) == NULL)
		err(1, "myIsolate1");
}

static void
my_isolate2(const iso_msg *arg)
{
	if (iso_msg_unpack(arg, "i", &my_arg) == -1 ||
	    iso_timer_after(2 * period_ms, print2, NULL) == NULL)
		err(1, "myIsolate2");
}

/* ---- main -------------------------------------------------------------- */

static iso_isolate *
spawn_int(void (*entry)(const iso_msg *), int n)
{
	iso_isolate	*iso;
	iso_msg		*arg;

	/* The argument travels as a message; spawn does not take it, so
	   free our own copy afterwards. */
	if ((arg = iso_msg_pack("i", n)) == NULL ||
	    iso_spawn(entry, arg, &iso) == -1)
		err(1, "spawn");
	iso_msg_free(arg);
	return (iso);
}

/* Counts the isolates' exit notices; the port closes after the last. */
static void
on_exit_msg(iso_port *p, const iso_msg *m, void *arg)
{
	int	*left = arg;

	(void)m;
	if (--*left == 0)
		iso_port_close(p);
}

static void
usage(void)
{
	fprintf(stderr, "usage: s1_memory [--period-ms N]\n");
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
	iso_isolate	*iso1, *iso2;
	iso_port	*exits;
	char		*end;
	int		 c, left = 2;

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

	/* Dart's print writes each line at once. stdout to a pipe or file
	   is fully buffered in C: make it line-buffered, or main's last
	   line would come out late (at exit), after the isolates' lines. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	printf("onPress... before run isolate.. topData: %s, classData: %s\n",
	    top_data, app.class_data);
	iso1 = spawn_int(my_isolate1, 10);
	iso2 = spawn_int(my_isolate2, 20);
	top_data = "world";		/* main's memory only */
	app.class_data = "world";
	printf("onPress... after run isolate.. topData: %s, classData: %s\n",
	    top_data, app.class_data);

	/*
	 * Flutter's main isolate lives on after onPress returns, so Dart's
	 * isolates have all the time they need. A C program ends when main
	 * returns, and its isolates end with it. So main waits: each isolate
	 * sends a notice to `exits` when it ends (Isolate.addOnExitListener),
	 * and the open port keeps iso_run going until both have arrived.
	 */
	if ((exits = iso_port_new()) == NULL ||
	    iso_on_exit(iso1, iso_port_sendport(exits), NULL) == -1 ||
	    iso_on_exit(iso2, iso_port_sendport(exits), NULL) == -1 ||
	    iso_port_listen(exits, on_exit_msg, &left) == -1)
		err(1, "exit listener");
	if (iso_run() == -1)
		err(1, "iso_run");
	iso_isolate_free(iso1);
	iso_isolate_free(iso2);
	return (0);
}
