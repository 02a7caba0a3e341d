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

static int
cmd_daemon(const struct cli_cmd *self, int argc, char **argv)
{
	const char			*what;
	iso_msg				*info;
	int				 c, json = 0, r;

	if ((c = cli_json_opts(self, argc, argv, &json)) != -1)
		return (c);
	if (optind == argc)
		return (cli_usage(self, "no action (start, stop or status)"));
	if (optind + 1 != argc)
		return (cli_usage(self, "unexpected argument %s",
		    argv[optind + 1]));
	what = argv[optind];
	if (json && strcmp(what, "status") != 0)
		return (cli_usage(self, "--json is for status"));
	if (strcmp(what, "start") == 0) {
		if (iso_sup_start() == -1)
			return (cli_fail(self, "cannot start"));
		return (CLI_OK);
	}
	if (strcmp(what, "stop") == 0) {
		if (iso_sup_stop() == -1)
			return (cli_fail(self, "cannot stop"));
		return (CLI_OK);
	}
	if (strcmp(what, "status") == 0) {
		if (iso_sup_status(&info) == -1) {
			if (errno == ESRCH) {
				cli_warn(self, "not running");
				return (CLI_FAIL);
			}
			return (cli_fail(self, "status"));
		}
		if (json)
			r = cli_print_json(self, info) == 0 ? CLI_OK :
			    CLI_FAIL;
		else
			r = print_status(self, info);
		iso_msg_free(info);
		return (r);
	}
	return (cli_usage(self, "unknown action %s (start, stop or status)",
	    what));
}

const struct cli_cmd cli_cmd_daemon = {
	.name = "daemon",
	.usage = "start|stop|status [--json]",
	.help =
	    "start: start the supervisor, isolated, unless it runs (it also\n"
	    "starts on demand for every other command).\n"
	    "stop: stop it; its commands are ended gracefully first. Exits 1\n"
	    "when none runs.\n"
	    "status: print its pid, version, start time and how many isolates\n"
	    "it knows, one \"key value\" a line; exits 1 when none runs.\n"
	    "\n"
	    "  -j, --json   status as one JSON object\n",
	.exec = cmd_daemon
};
