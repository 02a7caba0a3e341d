/*
 * cmd_events.c: isoctl events, the supervisor's event stream, one line an
 * event, as it happens.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static const char *
ev_str(const iso_msg *ev, const char *key, const char *none)
{
	const char	*s = cli_row_str(ev, key);

	return (s != NULL ? s : none);
}

static int64_t
ev_int(const iso_msg *ev, const char *key)
{
	int64_t	v;

	return (cli_row_int(ev, key, &v) ? v : -1);
}

/* "12:00:01.123", local time, of the event's "time". */
static void
ev_clock(const iso_msg *ev, char buf[16])
{
	struct tm	tm;
	double		t = 0;
	time_t		s;

	(void)iso_msg_float(iso_msg_get(ev, "time"), &t);
	s = (time_t)t;
	if (localtime_r(&s, &tm) == NULL ||
	    strftime(buf, 16, "%H:%M:%S", &tm) == 0) {
		snprintf(buf, 16, "-");
		return;
	}
	snprintf(buf + 8, 8, ".%03d", (int)((t - (double)s) * 1000) % 1000);
}

/* What follows the id and name on an event's line. */
static void
ev_details(const iso_msg *ev, const char *type)
{
	char		sig[16];
	const char	*err = ev_str(ev, "error", NULL);
	int64_t		v;

	if (strcmp(type, "spawn") == 0) {
		printf(" pid %" PRId64, ev_int(ev, "pid"));
		if (cli_row_str(ev, "entry") != NULL)
			printf(" %s", ev_str(ev, "entry", ""));
	} else if (strcmp(type, "exit") == 0) {
		printf(" pid %" PRId64, ev_int(ev, "pid"));
		if ((v = ev_int(ev, "signal")) > 0)
			printf(" %s", cli_signame((int)v, sig));
		else if ((v = ev_int(ev, "exit_code")) >= 0)
			printf(" status %" PRId64, v);
		if (err != NULL)
			printf(": %s", err);
	} else if (strcmp(type, "restart") == 0)
		printf(" in %" PRId64 " ms", ev_int(ev, "in_ms"));
	else if (strcmp(type, "failed") == 0 && err != NULL)
		printf(": %s", err);
}

/* One event as a line of text. */
static void
ev_print(const iso_msg *ev)
{
	const char	*type = ev_str(ev, "event", "?");
	char		 when[16], *port;

	ev_clock(ev, when);
	printf("%s %-7s", when, type);
	if (strcmp(type, "lost") == 0)
		printf(" %" PRId64 " events (read too slowly)", ev_int(ev,
		    "count"));
	else if (strcmp(type, "name") == 0 || strcmp(type, "unname") == 0) {
		port = iso_msg_to_json(iso_msg_get(ev, "port"));
		printf(" %s %s", ev_str(ev, "name", "?"), port != NULL ? port :
		    "?");
		free(port);
	} else {
		printf(" %s %s", ev_str(ev, "id", "?"), ev_str(ev, "name",
		    "-"));
		ev_details(ev, type);
	}
	putchar('\n');
}

static int
cmd_events(const struct cli_cmd *self, struct cli_args *a)
{
	iso_sup_stream	*s;
	iso_msg		*ev;
	long long	 left = cli_has(a, "count") ? cli_num(a, "count") : -1;
	int		 json = cli_has(a, "json"), r = CLI_OK;

	if ((s = iso_sup_events()) == NULL)
		return (cli_fail(self, "cannot subscribe"));
	while (left != 0) {
		if (iso_sup_stream_next(s, -1, &ev) != 1) {
			r = cli_fail(self, "stream ended");
			break;
		}
		if (json)
			r = cli_print_json(self, ev) == 0 ? CLI_OK : CLI_FAIL;
		else
			ev_print(ev);
		iso_msg_free(ev);
		if (r != CLI_OK || fflush(stdout) == EOF)
			break;
		if (left > 0)
			left--;
	}
	iso_sup_stream_close(s);
	return (r);
}

static const struct cli_opt events_opts[] = {
	{ .name = "json", .letter = 'j', .type = CLI_FLAG,
	  .help = "each event as one line of JSON, as the supervisor says it" },
	{ .name = "count", .letter = 'n', .type = CLI_INT, .meta = "N",
	  .min = 1, .max = 1000000000,
	  .help = "exit 0 after N events (default: until interrupted)" },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_events = {
	.name = "events",
	.summary = "follow spawns, exits, restarts, failures and names live",
	.help =
	    "Print each event of the supervisor as it happens, one a line:\n"
	    "the local time, the event, the isolate's id and name, and what\n"
	    "it says:\n"
	    "  spawn    a command runs (again), or a program forked an isolate\n"
	    "  exit     a run ended: its status or signal\n"
	    "  restart  it runs again after the backoff shown\n"
	    "  failed   it will not run again, and why\n"
	    "  name     a port name was registered; unname: it was dropped\n"
	    "  lost     this reader was too slow and missed N events\n"
	    "Only what happens from now on is shown; ps says how things are.\n"
	    "Exits 1 when the supervisor goes away.\n",
	.opts = events_opts,
	.exec = cmd_events
};
