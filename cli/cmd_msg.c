/*
 * cmd_msg.c: isoctl's commands over messages: send, recv, names and
 * compute.
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

/* One line of text (its newline dropped) as a bytes message. */
static int
send_text(const struct cli_cmd *self, const char *target, const char *line,
    size_t len)
{
	iso_msg	*m;
	int	 r;

	if ((m = iso_msg_pack("y#", line, len)) == NULL)
		return (cli_fail(self, "%s", target));
	r = iso_sup_send(target, m);
	iso_msg_free(m);
	return (r == -1 ? cli_fail(self, "%s", target) : CLI_OK);
}

/* --text -: each line of standard input, one message each, as it is
   read (a line waits for nothing after it). */
static int
send_text_stdin(const struct cli_cmd *self, const char *target)
{
	char	*line = NULL;
	size_t	 size = 0;
	ssize_t	 n;
	int	 r = CLI_OK;

	while (r == CLI_OK && (n = getline(&line, &size, stdin)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			n--;
		r = send_text(self, target, line, (size_t)n);
	}
	if (r == CLI_OK && ferror(stdin))
		r = cli_fail(self, "cannot read standard input");
	free(line);
	return (r);
}

static int
cmd_send(const struct cli_cmd *self, struct cli_args *a)
{
	const char	*target = a->argv[0], *text = a->argv[1];

	if (cli_has(a, "text"))
		return (strcmp(text, "-") == 0 ? send_text_stdin(self, target) :
		    send_text(self, target, text, strlen(text)));
	if (iso_sup_send(target, a->json[1]) == -1)
		return (cli_fail(self, "%s", target));
	return (CLI_OK);
}

static const struct cli_opt send_opts[] = {
	{ .name = "text", .letter = 'x', .type = CLI_FLAG,
	  .help = "JSON is a line of text, sent as it is (-: each line of "
	  "standard input)" },
	{ .name = NULL }
};

static const struct cli_arg send_args[] = {
	{ .name = "TARGET", .arity = CLI_REQUIRED, .type = CLI_TARGET,
	  .complete = CLI_C_PORTNAME },
	{ .name = "JSON", .arity = CLI_REQUIRED, .type = CLI_JSON,
	  .raw_with = "text" },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_send = {
	.name = "send",
	.summary = "send a message",
	.help =
	    "Send one message, given as JSON (- reads it from standard input),\n"
	    "to TARGET: a registered port name, else the mailbox of the\n"
	    "supervised command with that id or name. With --text the\n"
	    "argument is a line of text, not JSON, sent as bytes, which a\n"
	    "spawn --lines command reads as it is (with a newline); --text -\n"
	    "sends each line of standard input as a message of its own, as it\n"
	    "comes. Exits 1 when TARGET is unknown, has ended or its mailbox is\n"
	    "full (with --text -, at that line: the lines before it were\n"
	    "sent); 2 on bad JSON.\n",
	.opts = send_opts,
	.args = send_args,
	.exec = cmd_send
};

/* ---- recv ------------------------------------------------------------------ */

/* A monotonic clock in milliseconds. */
static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Milliseconds left until end_ms (< 0: no end), at least 0. */
static int
left_ms(long long end_ms)
{
	long long	left;

	if (end_ms < 0)
		return (-1);
	left = end_ms - now_ms();
	return (left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left);
}

/*
 * --follow (and --count 0): the supervisor's stream of what target
 * prints, until it has ended for good and all is read (or count
 * messages, count > 0). Each message is on stdout before the next is
 * asked for, which acknowledges it: a follower killed in between leaves
 * it, and what was streamed after it, to the next reader.
 */
static int
recv_follow(const struct cli_cmd *self, const char *target, long count,
    long long end_ms)
{
	iso_sup_stream	*s;
	iso_msg		*m;
	long		 done = 0;
	int		 r = CLI_OK, got;

	if ((s = iso_sup_follow(target)) == NULL)
		return (cli_fail(self, "%s", target));
	while (count == 0 || done < count) {
		if ((got = iso_sup_stream_next(s, left_ms(end_ms), &m)) == 0)
			break;			/* it has ended */
		if (got == -1) {
			if (errno == ETIMEDOUT) {
				cli_warn(self, "%s: nothing more within the "
				    "timeout", target);
				r = CLI_TIMEOUT;
			} else
				r = cli_fail(self, "%s", target);
			break;
		}
		if (cli_print_json(self, m) == -1 || fflush(stdout) == EOF) {
			/* Not printed: not acknowledged either (no close);
			   it comes again to the next reader. */
			iso_msg_free(m);
			return (CLI_FAIL);
		}
		iso_msg_free(m);
		done++;
	}
	iso_sup_stream_close(s);
	return (r);
}

static int
cmd_recv(const struct cli_cmd *self, struct cli_args *a)
{
	const char	*target = a->argv[0];
	iso_msg		*got;
	long		 count = (long)cli_num(a, "count"), done = 0, n;
	long long	 end_ms;
	size_t		 i;

	/* The timeout counts from the start, however many calls it takes. */
	end_ms = cli_has(a, "timeout") ? now_ms() + cli_num(a, "timeout") : -1;
	if (cli_has(a, "follow"))
		return (recv_follow(self, target, cli_has(a, "count") ? count :
		    0, end_ms));
	if (count == 0)
		return (recv_follow(self, target, 0, end_ms));
	while (done < count) {
		if (iso_sup_recv(target, (int)(count - done), left_ms(end_ms),
		    &got) == -1)
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
		if (n > 0 || end_ms < 0 || now_ms() < end_ms)
			continue;
		cli_warn(self, "%s: nothing more within the timeout", target);
		return (CLI_TIMEOUT);
	}
	return (CLI_OK);
}

static const struct cli_opt recv_opts[] = {
	{ .name = "count", .letter = 'n', .type = CLI_INT, .meta = "N",
	  .min = 0, .max = INT_MAX, .def = "1",
	  .help = "how many messages; 0: all until the command has ended" },
	{ .name = "follow", .letter = 'f', .type = CLI_FLAG,
	  .help = "stream until the command has ended (at most --count)" },
	{ .name = "timeout", .letter = 't', .type = CLI_SECONDS,
	  .meta = "SEC", .help = "give up after SEC seconds and exit 124" },
	{ .name = NULL }
};

static const struct cli_arg recv_args[] = {
	{ .name = "TARGET", .arity = CLI_REQUIRED, .type = CLI_TARGET,
	  .complete = CLI_C_TARGET },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_recv = {
	.name = "recv",
	.summary = "read what a --lines command printed",
	.help =
	    "Print what a spawn --lines command printed, one message a line\n"
	    "of JSON, as it comes, taking it out of the supervisor's queue;\n"
	    "without --timeout it waits for ever. With --follow (or --count 0)\n"
	    "the supervisor streams it, across restarts of the command, and\n"
	    "recv exits 0 once the command has ended for good and all it\n"
	    "printed was printed here. A message is taken once it is printed\n"
	    "and the next one is asked for: a recv killed before that leaves\n"
	    "it to the next recv.\n",
	.opts = recv_opts,
	.args = recv_args,
	.exec = cmd_recv
};

/* ---- names ------------------------------------------------------------------ */

static int
cmd_names(const struct cli_cmd *self, struct cli_args *a)
{
	const char	*name;
	iso_msg		*names;
	char		*port;
	size_t		 i;
	int		 r = CLI_OK;

	if (iso_sup_names(&names) == -1)
		return (cli_fail(self, "cannot list"));
	if (cli_has(a, "json")) {
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

static const struct cli_opt names_opts[] = {
	{ .name = "json", .letter = 'j', .type = CLI_FLAG,
	  .help = "one JSON object from name to SendPort instead" },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_names = {
	.name = "names",
	.summary = "the name registry",
	.help =
	    "Print the registered port names, one a line: the name, a space,\n"
	    "and its SendPort as JSON ({\"$port\": \"...\"}). In a cluster, every\n"
	    "node up's names, each as NAME@NODE.\n",
	.opts = names_opts,
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

/* The command form: argv run with the argument on its stdin (o->warm:
   kept running, here, for the next call). */
static int
compute_exec(char **argv, const iso_msg *arg, struct iso_sup_compute_opt *o,
    iso_msg **result)
{
	char	*argv0 = argv[0], *prog = NULL, cwd[PATH_MAX];
	int	 r;

	if (strchr(argv0, '/') != NULL) {
		if ((prog = here(argv0, strlen(argv0))) == NULL)
			return (-1);
		argv[0] = prog;
	}
	if (o->warm)
		o->cwd = getcwd(cwd, sizeof cwd);
	r = iso_sup_compute_exec_with(argv, arg, o, result);
	argv[0] = argv0;
	free(prog);
	return (r);
}

/* The function form: MODULE.so:FUNCTION, the module made absolute. */
static int
compute_fn(const char *text, const iso_msg *arg,
    const struct iso_sup_compute_opt *o, iso_msg **result)
{
	const char	*colon = strrchr(text, ':');
	char		*mod, *fn = NULL;
	int		 r;

	if ((mod = here(text, (size_t)(colon - text))) == NULL ||
	    asprintf(&fn, "%s%s", mod, colon) == -1) {
		free(mod);
		return (-1);
	}
	free(mod);
	r = iso_sup_compute_with(fn, arg, o, result);
	free(fn);
	return (r);
}

static int
cmd_compute(const struct cli_cmd *self, struct cli_args *a)
{
	struct iso_sup_compute_opt o;
	iso_msg	*null = NULL, *result = NULL;
	int	 ms = (int)cli_num(a, "timeout"), r;

	memset(&o, 0, sizeof o);
	o.timeout_ms = ms;
	o.fresh = cli_has(a, "fresh");
	o.warm = cli_has(a, "warm");
	o.cluster = cli_has(a, "cluster");
	o.sandbox = cli_str(a, "sandbox");
	if (o.cluster && o.fresh)
		return (cli_usage(self, "--cluster goes to warm workers: not "
		    "with --fresh"));
	if (a->dashdash && !o.warm && cli_has(a, "workers"))
		return (cli_usage(self, "--workers is for warm workers: "
		    "MODULE.so:FUNCTION, or --warm -- CMD"));
	o.workers = cli_has(a, "workers") ? (int)cli_num(a, "workers") : 0;
	if (a->dashdash) {
		if ((null = iso_msg_pack("n")) == NULL)
			return (cli_fail(self, "out of memory"));
		r = compute_exec(a->argv, cli_has(a, "arg") ?
		    cli_json(a, "arg") : null, &o, &result);
		iso_msg_free(null);
	} else
		r = compute_fn(a->argv[0], a->json[1], &o, &result);
	if (r == -1)
		return (cli_fail(self, "%s", a->argv[0]));
	r = cli_print_json(self, result) == 0 ? CLI_OK : CLI_FAIL;
	iso_msg_free(result);
	return (r);
}

static const struct cli_opt compute_opts[] = {
	{ .name = "timeout", .letter = 't', .type = CLI_SECONDS,
	  .meta = "SEC", .help = "give up after SEC seconds (default: never)" },
	{ .name = "arg", .letter = 'a', .type = CLI_JSON, .meta = "JSON",
	  .dd_only = 1, .help = "the command form's argument (default null)" },
	{ .name = "fresh", .type = CLI_FLAG, .no_dd = 1,
	  .help = "a new process for this call, not a warm worker" },
	{ .name = "cluster", .letter = 'c', .type = CLI_FLAG, .no_dd = 1,
	  .help = "on whichever node of the cluster serves the module" },
	{ .name = "warm", .type = CLI_FLAG, .dd_only = 1,
	  .help = "keep CMD running for the next call: a line in, a line out" },
	{ .name = "workers", .letter = 'w', .type = CLI_INT, .meta = "N",
	  .min = 1, .max = 1024,
	  .help = "warm workers of the module or CMD at most (default: one "
	  "per CPU)" },
	{ .name = "sandbox", .type = CLI_STRING, .meta = "PROFILE",
	  .help = "in a fresh process under a sandbox (compute: no files, "
	  "sockets or processes)" },
	{ .name = NULL }
};

static const struct cli_arg compute_args[] = {
	{ .name = "MODULE.so:FUNCTION", .arity = CLI_REQUIRED,
	  .type = CLI_FUNCTION, .complete = CLI_C_MODULE },
	{ .name = "JSON", .arity = CLI_REQUIRED, .type = CLI_JSON },
	{ .name = NULL }
};

static const struct cli_arg compute_dd_args[] = {
	{ .name = "CMD", .arity = CLI_REST, .type = CLI_WORD,
	  .complete = CLI_C_COMMAND },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_compute = {
	.name = "compute",
	.summary = "run a function or a command once",
	.help =
	    "Compute one result in a process of the supervisor's and print it\n"
	    "as one line of JSON: FUNCTION of the shared object MODULE.so\n"
	    "called on the JSON argument (- reads it from standard input), in\n"
	    "one of the module's warm workers (kept for the next call; new\n"
	    "ones once the module is replaced on disk; --fresh: a new process\n"
	    "for this call), or (after --) CMD run once with the argument as\n"
	    "one JSON line on its stdin (null without --arg), its stdout the\n"
	    "result (JSON, else a string). With --warm, CMD is kept running\n"
	    "here on a terminal for the next call of the same CMD: each call\n"
	    "one line in, the next line it prints out. A crash, an exit or a\n"
	    "timeout exits 1 with the reason. A relative MODULE or CMD path is\n"
	    "taken from here. With --cluster, the call goes to the warm workers\n"
	    "of whichever node of the supervisor's cluster serves MODULE\n"
	    "(isolated --serve-module; this node included); none: exit 1.\n",
	.opts = compute_opts,
	.args = compute_args,
	.dd_args = compute_dd_args,
	.exec = cmd_compute
};
