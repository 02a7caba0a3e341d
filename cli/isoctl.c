/*
 * isoctl.c: the command line over the supervisor, isolated. main() reads
 * the global options, finds the command in the table and runs it; each
 * command lives in the file of its group (cli.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int	cmd_help(const struct cli_cmd *, int, char **);

const struct cli_cmd cli_cmd_help = {
	.name = "help",
	.usage = "[COMMAND]",
	.help = "Print the list of commands, or COMMAND's usage.\n",
	.exec = cmd_help
};

const struct cli_cmd *const cli_cmds[] = {
	&cli_cmd_spawn, &cli_cmd_ps, &cli_cmd_kill, &cli_cmd_wait,
	&cli_cmd_logs, &cli_cmd_send, &cli_cmd_recv, &cli_cmd_names,
	&cli_cmd_compute, &cli_cmd_daemon, &cli_cmd_help, NULL
};

const struct cli_cmd *
cli_find(const char *name)
{
	const struct cli_cmd *const	*c;

	for (c = cli_cmds; *c != NULL; c++)
		if (strcmp((*c)->name, name) == 0)
			return (*c);
	return (NULL);
}

/* isoctl's own usage: every command's synopsis. */
static void
usage(FILE *f)
{
	const struct cli_cmd *const	*c;
	const char			*u, *nl;

	fputs("usage: isoctl [--help | --version] COMMAND [ARG...]\n\n"
	    "commands:\n", f);
	for (c = cli_cmds; *c != NULL; c++) {
		/* A usage of several lines repeats "isoctl NAME". */
		for (u = (*c)->usage; u != NULL; u = nl) {
			u += strspn(u, " ");
			if (strncmp(u, "isoctl ", 7) == 0)
				u += 7 + strlen((*c)->name) + 1;
			if ((nl = strchr(u, '\n')) != NULL)
				fprintf(f, "  %s %.*s\n", (*c)->name,
				    (int)(nl++ - u), u);
			else
				fprintf(f, "  %s %s\n", (*c)->name, u);
		}
	}
	fputs("\n'isoctl COMMAND --help' says more; see isoctl(1).\n", f);
}

static int
cmd_help(const struct cli_cmd *self, int argc, char **argv)
{
	const struct cli_cmd	*c;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0))
		return (cli_help(self));
	if (argc > 2)
		return (cli_usage(self, "too many arguments"));
	if (argc < 2) {
		usage(stdout);
		return (CLI_OK);
	}
	if ((c = cli_find(argv[1])) == NULL)
		return (cli_usage(self, "unknown command %s", argv[1]));
	return (cli_help(c));
}

int
main(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_cmd		*cmd;
	int				 c, r;

	while ((c = cli_getopt(NULL, argc, argv, "+V", opts)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return (CLI_OK);
		case 'V':
			printf("isoctl %s\n", ISO_VERSION);
			return (CLI_OK);
		default:
			return (CLI_USAGE);
		}
	}
	if (optind == argc) {
		usage(stderr);
		return (CLI_USAGE);
	}
	if ((cmd = cli_find(argv[optind])) == NULL)
		return (cli_usage(NULL, "unknown command %s", argv[optind]));
	argv += optind;
	argc -= optind;
	optind = 0;			/* getopt starts again, for the command */
	r = cmd->exec(cmd, argc, argv);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		cli_warn(cmd, "standard output: %s", strerror(errno));
		return (r == CLI_OK ? CLI_FAIL : r);
	}
	return (r);
}
