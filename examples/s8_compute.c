/*
 * s8_compute.c: S8 of the tutorial, "getting the final result":
 * `compute(myIsolate, 10)`.
 *
 * A function that sums 1..n, sleeping one period per step, runs in a new
 * isolate; main gets its result once and prints `result : 55`. Main
 * handles no port: compute makes one, spawns, waits and cleans up.
 *
 *   usage: s8_compute [--period-ms N]	(N = 1000: the tutorial's 1 s a step)
 *
 * Dart:
 *   int myIsolate(int no) {
 *       int sum = 0;
 *       for (int i = 1; i <= no; i++) {
 *           sleep(Duration(seconds: 1));
 *           sum += i;
 *       }
 *       return sum;
 *   }
 *   compute(myIsolate, 10).then((value) => print("result : $value"));
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <isolate.h>

static int	period_ms = 1000;

/* Dart's sleep(): blocks the whole isolate, here the whole process. */
static void
sleep_ms(int ms)
{
	struct timespec	ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Runs in the new isolate. Argument and result are messages, not ints:
 * the argument is borrowed, the result is a new message handed to the
 * library, which sends it to the caller. NULL would mean "failed":
 * iso_compute then returns -1 with EIO.
 */
static iso_msg *
my_isolate(const iso_msg *arg)
{
	int	no, sum = 0;

	if (iso_msg_unpack(arg, "i", &no) == -1)
		return (NULL);
	for (int i = 1; i <= no; i++) {
		sleep_ms(period_ms);
		sum += i;
	}
	return (iso_msg_pack("i", sum));
}

static void
usage(void)
{
	fprintf(stderr, "usage: s8_compute [--period-ms N]\n");
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
	iso_msg		*arg, *value;
	int64_t		 sum;
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

	/*
	 * Dart's compute returns a Future and `then` prints later; C's
	 * iso_compute waits for the result (running main's loop meanwhile,
	 * so main's own timers and ports would keep working) and hands it
	 * over: we free it.
	 */
	if ((arg = iso_msg_pack("i", 10)) == NULL)
		err(1, "pack");
	if (iso_compute(my_isolate, arg, &value) == -1) {
		if (*iso_error() != '\0')	/* what errno cannot say */
			errx(1, "compute: %s", iso_error());
		err(1, "compute");
	}
	iso_msg_free(arg);
	if (iso_msg_int(value, &sum) == -1)
		errx(1, "compute: the result is not a number");
	printf("result : %" PRId64 "\n", sum);
	iso_msg_free(value);
	return (0);
}
