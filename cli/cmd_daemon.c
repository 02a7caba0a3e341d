/*
 * cmd_daemon.c: isoctl daemon start|stop|status, over iso_sup_start,
 * iso_sup_stop and iso_sup_status.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "cli.h"

/* Print status's map one "key value" a line (pid, version, started,
   isolates first), the values as JSON unless strings or numbers. */
static int
print_status(const struct cli_cmd *self, const iso_msg *info)
{
	const iso_msg	*k, *v;
	const char	*key;
	char		*json;
	double		 f;
	int64_t		 x;
	size_t		 i;

	for (i = 0; i < iso_msg_len(info); i++) {
		k = iso_msg_key_at(info, i);
		v = iso_msg_value_at(info, i);
		if ((key = iso_msg_str(k, NULL)) == NULL)
			continue;
		if (iso_msg_type(v) == ISO_STR)
			printf("%s %s\n", key, iso_msg_str(v, NULL));
		else if (iso_msg_int(v, &x) == 0)
			printf("%s %" PRId64 "\n", key, x);
		else if (iso_msg_type(v) == ISO_FLOAT &&
		    iso_msg_float(v, &f) == 0)
			printf("%s %.3f\n", key, f);
		else {
			if ((json = iso_msg_to_json(v)) == NULL)
				return (cli_fail(self, "status"));
			printf("%s %s\n", key, json);
			free(json);
		}
	}
	return (CLI_OK);
}

enum { DAEMON_START, DAEMON_STOP, DAEMON_STATUS };
static const char *const daemon_actions[] = { "start", "stop", "status",
    NULL };

static int
cmd_daemon(const struct cli_cmd *self, struct cli_args *a)
{
	iso_msg	*info;
	int	 r, what = 0;

	while (strcmp(daemon_actions[what], a->argv[0]) != 0)
		what++;			/* the parser checked it is one */
	if (cli_has(a, "json") && what != DAEMON_STATUS)
		return (cli_usage(self, "--json is for status"));
	switch (what) {
	case DAEMON_START:
		if (iso_sup_start() == -1)
			return (cli_fail(self, "cannot start"));
		return (CLI_OK);
	case DAEMON_STOP:
		if (iso_sup_stop() == -1)
			return (cli_fail(self, "cannot stop"));
		return (CLI_OK);
	}
	if (iso_sup_status(&info) == -1) {
		if (errno == ESRCH) {
			cli_warn(self, "not running");
			return (CLI_FAIL);
		}
		return (cli_fail(self, "status"));
	}
	if (cli_has(a, "json"))
		r = cli_print_json(self, info) == 0 ? CLI_OK : CLI_FAIL;
	else
		r = print_status(self, info);
	iso_msg_free(info);
	return (r);
}

static const struct cli_opt daemon_opts[] = {
	{ .name = "json", .letter = 'j', .type = CLI_FLAG,
	  .help = "status as one JSON object" },
	{ .name = NULL }
};

static const struct cli_arg daemon_args[] = {
	{ .name = "ACTION", .arity = CLI_REQUIRED, .type = CLI_ENUM,
	  .choices = daemon_actions, .complete = CLI_C_CHOICES },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_daemon = {
	.name = "daemon",
	.summary = "start, stop or ask the supervisor",
	.help =
	    "start: start the supervisor, isolated, unless it runs (it also\n"
	    "starts on demand for every other command).\n"
	    "stop: stop it; its commands are ended gracefully first. Exits 1\n"
	    "when none runs.\n"
	    "status: print its pid, version, start time and how many isolates\n"
	    "it knows, one \"key value\" a line; exits 1 when none runs.\n",
	.opts = daemon_opts,
	.args = daemon_args,
	.exec = cmd_daemon
};
