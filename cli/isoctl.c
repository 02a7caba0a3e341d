/*
 * isoctl.c: the command line over the supervisor, isolated. The table of
 * commands (each defined in the file of its group, cli.h) and main():
 * isoctl's own options, then the command's line parsed against its entry
 * and its exec run.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

const struct cli_cmd *const cli_cmds[] = {
	&cli_cmd_spawn, &cli_cmd_ps, &cli_cmd_kill, &cli_cmd_restart,
	&cli_cmd_rm, &cli_cmd_wait, &cli_cmd_logs,
	&cli_cmd_pause, &cli_cmd_resume, &cli_cmd_ping, &cli_cmd_send,
	&cli_cmd_recv, &cli_cmd_names, &cli_cmd_compute, &cli_cmd_map,
	&cli_cmd_events,
	&cli_cmd_top, &cli_cmd_nodes, &cli_cmd_daemon, &cli_cmd_completion, &cli_cmd_help,
	&cli_cmd_man_synopsis, &cli_cmd_complete, NULL
};

const struct cli_cmd *
cli_find(const char *name)
{
	const struct cli_cmd *const	*c;
	const char *const		*al;

	for (c = cli_cmds; *c != NULL; c++) {
		if (strcmp((*c)->name, name) == 0)
			return (*c);
		for (al = (*c)->aliases; al != NULL && *al != NULL; al++)
			if (strcmp(*al, name) == 0)
				return (*c);
	}
	return (NULL);
}

/* isoctl's own options; the command and its words are the rest. */
static const struct cli_opt root_opts[] = {
	{ .name = "version", .letter = 'V', .type = CLI_FLAG,
	  .help = "print isoctl's version" },
	{ .name = "node", .type = CLI_STRING, .meta = "NODE",
	  .help = "run the command on NODE's supervisor, through ours (a "
	  "cluster's)" },
	{ .name = NULL }
};

static const struct cli_arg root_args[] = {
	{ .name = "COMMAND", .arity = CLI_REST_OPTIONAL, .type = CLI_WORD,
	  .complete = CLI_C_CMDNAME },
	{ .name = NULL }
};

const struct cli_cmd cli_root = {
	.name = NULL,
	.opts = root_opts,
	.args = root_args
};

/* Parse argv for cmd and run it: the exit status. */
static int
run(const struct cli_cmd *cmd, int argc, char **argv)
{
	struct cli_args	a;
	int		r;

	if (cli_parse(cmd, argc, argv, &a, &r) == -1)
		return (r);
	r = cmd->exec(cmd, &a);
	cli_args_free(&a);
	return (r);
}

int
main(int argc, char **argv)
{
	const struct cli_cmd	*cmd;
	struct cli_args		 a;
	int			 r;

	if (argc < 2) {
		cli_usage_all(stderr);
		return (CLI_USAGE);
	}
	if (cli_parse(&cli_root, argc, argv, &a, &r) == -1)
		return (r);
	if (cli_has(&a, "version")) {
		printf("isoctl %s\n", ISO_VERSION);
		return (CLI_OK);
	}
	if (a.argc == 0)
		return (cli_usage(&cli_root, "no command"));
	if (cli_has(&a, "node") && iso_sup_set_node(cli_str(&a, "node")) ==
	    -1)
		return (cli_usage(&cli_root, "--node: %s", iso_error()));
	if ((cmd = cli_find(a.argv[0])) == NULL)
		return (cli_usage(NULL, "unknown command %s", a.argv[0]));
	r = run(cmd, a.argc, a.argv);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_warn(cmd, "standard output: %s", strerror(errno));
		return (r == CLI_OK ? CLI_FAIL : r);
	}
	return (r);
}
