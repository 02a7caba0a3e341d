/*
 * cmd_msg.c: isoctl's commands over messages: send, recv (not yet),
 * names and compute.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ---- send ------------------------------------------------------------------ */

static int
cmd_send(const struct cli_cmd *self, int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char			*target;
	iso_msg				*m;
	int				 c, r = CLI_OK;

	/* '+': the JSON may start with '-' (send T -1). */
	while ((c = cli_getopt(self, argc, argv, "+", opts)) != -1) {
		if (c == 'h')
			return (cli_help(self));
		return (CLI_USAGE);
	}
	if (argc - optind < 2)
		return (cli_usage(self, argc == optind ? "no TARGET" :
		    "no message (JSON, or - for standard input)"));
	if (argc - optind > 2)
		return (cli_usage(self, "unexpected argument %s (quote the "
		    "JSON as one argument)", argv[optind + 2]));
	target = argv[optind];
	if (*target == '\0')
		return (cli_usage(self, "empty TARGET"));
	if ((m = cli_json_arg(self, argv[optind + 1])) == NULL)
		return (CLI_USAGE);
	if (iso_sup_send(target, m) == -1)
		r = cli_fail(self, "%s", target);
	iso_msg_free(m);
	return (r);
}

const struct cli_cmd cli_cmd_send = {
	.name = "send",
	.usage = "TARGET JSON|-",
	.help =
	    "Send one message, given as JSON (- reads it from standard input),\n"
	    "to TARGET: a registered port name, else the mailbox of the\n"
	    "supervised command with that id or name. Exits 1 when TARGET is\n"
	    "unknown, has ended or its mailbox is full; 2 on bad JSON.\n",
	.exec = cmd_send
};

/* ---- recv (not yet) --------------------------------------------------------- */

/* A monotonic clock in milliseconds. */
static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static int
cmd_recv(const struct cli_cmd *self, int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char			*target;
	iso_msg				*got, *row;
	char				*end;
	long				 count = 1, done = 0, n;
	long long			 end_ms, left;
	int				 c, ms = -1, slice;
	size_t				 i;

	while ((c = cli_getopt(self, argc, argv, "n:t:", opts)) != -1) {
		switch (c) {
		case 'h':
			return (cli_help(self));
		case 'n':
			errno = 0;
			count = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    count < 0 || count > INT_MAX)
				return (cli_usage(self, "count %s is not a "
				    "number >= 0", optarg));
			break;
		case 't':
			if (cli_seconds(optarg, &ms) == -1)
				return (cli_usage(self, "timeout %s is not a "
				    "number of seconds", optarg));
			break;
		default:
			return (CLI_USAGE);
		}
	}
	if (optind != argc - 1)
		return (cli_usage(self, optind == argc ? "no target" :
		    "one target only"));
	target = argv[optind];
	/* --count 0: everything, until it has ended and all is read. The
	   timeout counts from the start, however many calls it takes. */
	end_ms = ms < 0 ? -1 : now_ms() + ms;
	while (count == 0 || done < count) {
		left = end_ms < 0 ? -1 : end_ms - now_ms();
		if (end_ms >= 0 && left < 0)
			left = 0;
		n = count == 0 ? INT_MAX : count - done;
		/* Without --count, look every second whether it has ended. */
		slice = count == 0 && (left < 0 || left > 1000) ? 1000 :
		    (int)left;
		if (iso_sup_recv(target, (int)n, slice, &got) == -1)
			return (cli_fail(self, "%s", target));
		for (i = 0; i < iso_msg_len(got); i++)
			if (cli_print_json(self, iso_msg_at(got, i)) == -1) {
				iso_msg_free(got);
				return (CLI_FAIL);
			}
		fflush(stdout);
		n = (long)iso_msg_len(got);
		done += n;
		iso_msg_free(got);
		if (n > 0)
			continue;
		if (count == 0 && iso_sup_wait(target, 0, &row) == 0) {
			/* It has ended: what it printed last, then done. */
			iso_msg_free(row);
			if (iso_sup_recv(target, INT_MAX, 0, &got) == 0) {
				for (i = 0; i < iso_msg_len(got); i++)
					(void)cli_print_json(self,
					    iso_msg_at(got, i));
				iso_msg_free(got);
			}
			return (CLI_OK);
		}
		if (end_ms < 0 || now_ms() < end_ms)
			continue;
		cli_warn(self, "%s: nothing more within the timeout", target);
		return (CLI_TIMEOUT);
	}
	return (CLI_OK);
}

const struct cli_cmd cli_cmd_recv = {
	.name = "recv",
	.usage = "[--count N] [--timeout SEC] TARGET",
	.help =
	    "Print what a spawn --lines command printed, one message a line\n"
	    "of JSON, as it comes, taking it out of the supervisor's queue.\n"
	    "\n"
	    "  -n, --count N       how many messages (default 1); 0: all of\n"
	    "                      them until the command has ended\n"
	    "  -t, --timeout SEC   give up after SEC seconds (a decimal) and\n"
	    "                      exit 124; default: wait for ever\n",
	.exec = cmd_recv
};

/* ---- names ------------------------------------------------------------------ */

static int
cmd_names(const struct cli_cmd *self, int argc, char **argv)
{
	const char			*name;
	iso_msg				*names;
	char				*port;
	size_t				 i;
	int				 c, json = 0, r = CLI_OK;

	if ((c = cli_json_opts(self, argc, argv, &json)) != -1)
		return (c);
	if (optind != argc)
		return (cli_usage(self, "unexpected argument %s",
		    argv[optind]));
	if (iso_sup_names(&names) == -1)
		return (cli_fail(self, "cannot list"));
	if (json) {
		r = cli_print_json(self, names) == 0 ? CLI_OK : CLI_FAIL;
		iso_msg_free(names);
		return (r);
	}
	for (i = 0; i < iso_msg_len(names); i++) {
		name = iso_msg_str(iso_msg_key_at(names, i), NULL);
		port = iso_msg_to_json(iso_msg_value_at(names, i));
		if (name == NULL || port == NULL) {
			free(port);
			r = cli_fail(self, "bad reply");
			break;
		}
		printf("%s %s\n", name, port);
		free(port);
	}
	iso_msg_free(names);
	return (r);
}

const struct cli_cmd cli_cmd_names = {
	.name = "names",
	.usage = "[--json]",
	.help =
	    "Print the registered port names, one a line: the name, a space,\n"
	    "and its SendPort as JSON ({\"$port\": \"...\"}).\n"
	    "\n"
	    "  -j, --json   one JSON object from name to SendPort instead\n",
	.exec = cmd_names
};

/* ---- compute ------------------------------------------------------------------ */

/*
 * The supervisor runs in "/": a path relative to here is made absolute.
 * path: a file name (made absolute when it exists here); the result is
 * owned, or NULL/ENOMEM.
 */
static char *
here(const char *path, size_t len)
{
	char	*p, *abs;

	if ((p = strndup(path, len)) == NULL)
		return (NULL);
	if (*p == '/' || access(p, F_OK) == -1 ||
	    (abs = realpath(p, NULL)) == NULL)
		return (p);
	free(p);
	return (abs);
}

static int
cmd_compute(const struct cli_cmd *self, int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "arg", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char			*argtext = NULL, *colon;
	char				*mod = NULL, *fn = NULL, *prog = NULL,
					*argv0;
	iso_msg				*arg = NULL, *result = NULL;
	int				 c, ms = 0, exec_form, r;

	while ((c = cli_getopt(self, argc, argv, "+t:a:", opts)) != -1) {
		switch (c) {
		case 'h':
			return (cli_help(self));
		case 't':
			if (cli_seconds(optarg, &ms) == -1)
				return (cli_usage(self, "timeout %s is not a "
				    "number of seconds", optarg));
			break;
		case 'a':
			argtext = optarg;
			break;
		default:
			return (CLI_USAGE);
		}
	}
	/* "--" before the operands: the command form. */
	exec_form = optind > 1 && strcmp(argv[optind - 1], "--") == 0;
	if (exec_form) {
		if (optind == argc)
			return (cli_usage(self, "no command after --"));
		arg = cli_json_arg(self, argtext != NULL ? argtext : "null");
		if (arg == NULL)
			return (CLI_USAGE);
		argv0 = argv[optind];
		if (strchr(argv0, '/') != NULL) {
			if ((prog = here(argv0, strlen(argv0))) == NULL) {
				iso_msg_free(arg);
				return (cli_fail(self, "%s", argv0));
			}
			argv[optind] = prog;
		}
		r = iso_sup_compute_exec(argv + optind, arg, ms, &result);
		argv[optind] = argv0;
		free(prog);
		goto done;
	}
	if (argtext != NULL)
		return (cli_usage(self, "--arg is for the command form "
		    "(compute --arg JSON -- CMD)"));
	if (argc - optind != 2)
		return (cli_usage(self, argc == optind ? "no MODULE.so:FUNCTION"
		    : argc - optind == 1 ? "no JSON argument" :
		    "unexpected argument"));
	if ((colon = strrchr(argv[optind], ':')) == NULL ||
	    colon == argv[optind] || colon[1] == '\0')
		return (cli_usage(self, "%s is not MODULE.so:FUNCTION",
		    argv[optind]));
	if ((arg = cli_json_arg(self, argv[optind + 1])) == NULL)
		return (CLI_USAGE);
	if ((mod = here(argv[optind], (size_t)(colon - argv[optind]))) ==
	    NULL || asprintf(&fn, "%s%s", mod, colon) == -1) {
		free(mod);
		iso_msg_free(arg);
		return (cli_fail(self, "%s", argv[optind]));
	}
	free(mod);
	r = iso_sup_compute(fn, arg, ms, &result);
	free(fn);
done:
	iso_msg_free(arg);
	if (r == -1)
		return (cli_fail(self, "%s", argv[optind]));
	r = cli_print_json(self, result) == 0 ? CLI_OK : CLI_FAIL;
	iso_msg_free(result);
	return (r);
}

const struct cli_cmd cli_cmd_compute = {
	.name = "compute",
	.usage = "[--timeout SEC] MODULE.so:FUNCTION JSON|-\n"
	    "       isoctl compute [--timeout SEC] [--arg JSON] -- CMD [ARG...]",
	.help =
	    "Compute one result in a fresh process of the supervisor's and\n"
	    "print it as one line of JSON: FUNCTION of the shared object\n"
	    "MODULE.so called on the JSON argument (- reads it from standard\n"
	    "input), or (after --) CMD run with the argument as one JSON line\n"
	    "on its stdin (null without --arg), its stdout the result (JSON,\n"
	    "else a string). A crash, an exit or a timeout exits 1 with the\n"
	    "reason. A relative MODULE or CMD path is taken from here.\n"
	    "\n"
	    "  -t, --timeout SEC   give up after SEC seconds (default: none)\n"
	    "  -a, --arg JSON      the command form's argument\n",
	.exec = cmd_compute
};
