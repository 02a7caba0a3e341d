/*
 * cli.h: isoctl's command table and the helpers its commands share.
 * Each command is an entry { .name, .usage, .help, .exec } (as in tmux's
 * cmd-*.c), defined in the file of its group (cmd_proc.c, cmd_msg.c,
 * cmd_daemon.c); isoctl.c holds the table and main(). The work itself is
 * done by libisolate's iso_sup_* calls: isoctl only parses, calls and
 * prints.
 */
#ifndef CLI_H
#define CLI_H

#include <getopt.h>
#include <stdio.h>

#include "isolate.h"

/* Exit statuses (isoctl(1), EXIT STATUS). */
#define CLI_OK		0	/* success */
#define CLI_FAIL	1	/* the operation failed, the target is unknown */
#define CLI_USAGE	2	/* a usage error or bad JSON */
#define CLI_TIMEOUT	124	/* wait: still running after --timeout */

struct cli_cmd {
	const char	*name;
	const char	*usage;		/* the synopsis after "isoctl NAME" */
	const char	*help;		/* what it does, its options */
	/* argv[0] is the command's name; returns the exit status. */
	int		(*exec)(const struct cli_cmd *cmd, int argc,
			    char **argv);
};

/* cmd_proc.c */
extern const struct cli_cmd	cli_cmd_spawn, cli_cmd_ps, cli_cmd_kill,
				cli_cmd_wait, cli_cmd_logs;
/* cmd_msg.c */
extern const struct cli_cmd	cli_cmd_send, cli_cmd_recv, cli_cmd_names,
				cli_cmd_compute;
/* cmd_daemon.c */
extern const struct cli_cmd	cli_cmd_daemon;
/* isoctl.c */
extern const struct cli_cmd	cli_cmd_help;

/* isoctl.c: the table, NULL-terminated, and a lookup in it. */
extern const struct cli_cmd	*const cli_cmds[];
const struct cli_cmd	*cli_find(const char *name);

/* cli.c */
/* Print cmd's usage and help on stdout: CLI_OK (for --help). */
int		 cli_help(const struct cli_cmd *cmd);
/* "isoctl: NAME: <what>" on stderr, one line: CLI_USAGE. */
int		 cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* "isoctl: NAME: <what>: <iso_error()>" on stderr: CLI_FAIL. */
int		 cli_fail(const struct cli_cmd *cmd, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* "isoctl: NAME: <what>" on stderr. */
void		 cli_warn(const struct cli_cmd *cmd, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/*
 * getopt_long over argv with opterr off: the next option's value, -1 at
 * the end of the options, or '?' after a usage error has been printed.
 * --help / -h is always known and returns 'h'. shortopts may start with
 * '+' (stop at the first operand: commands that take a command line or
 * JSON that can start with '-').
 */
int		 cli_getopt(const struct cli_cmd *cmd, int argc, char **argv,
		    const char *shortopts, const struct option *longopts);

/*
 * The options of a command whose only option is --json (and --help):
 * sets *json; -1 to go on, else the status to exit with (--help, a usage
 * error). optind is then the first operand.
 */
int		 cli_json_opts(const struct cli_cmd *cmd, int argc, char **argv,
		    int *json);

/* Seconds (a decimal, >= 0) as milliseconds in *ms; -1 if not one. */
int		 cli_seconds(const char *text, int *ms);
/* A JSON argument ("-": all of stdin) as an owned message, or NULL
   after a one-line "bad JSON" message on stderr. */
iso_msg		*cli_json_arg(const struct cli_cmd *cmd, const char *text);
/* m as one line of JSON on stdout: 0, or -1 after a message. */
int		 cli_print_json(const struct cli_cmd *cmd, const iso_msg *m);
/* "SIGKILL" for 9 (static storage, or buf). */
const char	*cli_signame(int sig, char buf[16]);

#endif /* CLI_H */
