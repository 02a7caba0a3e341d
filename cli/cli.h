/*
 * cli.h: isoctl's command table and what its files share.
 *
 * Each command is one struct cli_cmd (as tmux's cmd_entry): its name,
 * aliases, options (with their types and defaults) and arguments, its
 * help and its exec function, defined in the file of its group
 * (cmd_proc.c, cmd_msg.c, cmd_daemon.c). isoctl.c lists them. Parsing
 * (parse.c), the usage and help texts and the man page's synopsis
 * (help.c) and shell completion (complete.c) are all read from the
 * entries; adding a command is adding an entry and its exec. The work
 * itself is done by libisolate's iso_sup_* calls: isoctl only parses,
 * calls and prints.
 */
#ifndef CLI_H
#define CLI_H

#include <stdint.h>
#include <stdio.h>

#include "isolate.h"

/* Exit statuses (isoctl(1), EXIT STATUS). */
#define CLI_OK		0	/* success */
#define CLI_FAIL	1	/* the operation failed, the target is unknown */
#define CLI_USAGE	2	/* a usage error or bad JSON */
#define CLI_TIMEOUT	124	/* wait: still running after --timeout */

/* What an option's value or an argument is; the parser checks and
   converts it. */
enum cli_type {
	CLI_FLAG,		/* an option without a value */
	CLI_STRING,		/* any text, not empty */
	CLI_INT,		/* a decimal integer within [min, max] */
	CLI_SECONDS,		/* a decimal number of seconds >= 0, as ms */
	CLI_ENUM,		/* one of choices */
	CLI_JSON,		/* one JSON value, "-": standard input */
	CLI_TARGET,		/* an isolate's id or name, not empty */
	CLI_FUNCTION,		/* MODULE.so:FUNCTION */
	CLI_WORD		/* an argument taken as it is (a command's) */
};

/* What completes a value or an argument. */
enum cli_complete {
	CLI_C_NONE,		/* nothing: the user's own text */
	CLI_C_CHOICES,		/* the choices of a CLI_ENUM */
	CLI_C_TARGET,		/* the running supervisor's ids and names */
	CLI_C_PORTNAME,		/* registered port names, then targets */
	CLI_C_COMMAND,		/* a command in PATH, then its arguments */
	CLI_C_FILE,		/* a file name */
	CLI_C_MODULE,		/* the MODULE.so part of MODULE.so:FUNCTION */
	CLI_C_CMDNAME		/* one of isoctl's commands */
};

struct cli_opt {
	const char		 *name;		/* long name, without "--" */
	char			  letter;	/* short form, 0: none */
	enum cli_type		  type;
	const char		 *meta;		/* the value's name: "SEC" */
	const char		 *def;		/* default, as text; NULL */
	const char *const	 *choices;	/* CLI_ENUM: NULL-terminated */
	long long		  min, max;	/* CLI_INT */
	enum cli_complete	  complete;	/* the value's completion */
	int			  dd_only;	/* only in the "--" form */
	int			  no_dd;	/* never in the "--" form */
	const char		 *help;		/* one line */
};

enum cli_arity {
	CLI_REQUIRED,
	CLI_OPTIONAL,
	CLI_REST,		/* this word and every one after it, options
				   included: a command line (the last) */
	CLI_REST_OPTIONAL	/* the same, or no word at all */
};

struct cli_arg {
	const char		 *name;		/* as in the synopsis: "TARGET" */
	enum cli_arity		  arity;
	enum cli_type		  type;
	const char *const	 *choices;	/* CLI_ENUM */
	enum cli_complete	  complete;
	/* CLI_JSON: with this flag option given, taken as it is (text),
	   not converted; NULL: never. */
	const char		 *raw_with;
};

#define CLI_MAXOPTS	16
#define CLI_MAXARGS	4

struct cli_args;

struct cli_cmd {
	const char		 *name;
	const char *const	 *aliases;	/* NULL-terminated, or NULL */
	const char		 *summary;	/* one line, for lists */
	const char		 *help;		/* what it does, in full */
	const struct cli_opt	 *opts;		/* ends with a NULL name */
	const struct cli_arg	 *args;		/* ends with a NULL name */
	/* A second form chosen by "--": after it, these (compute -- CMD);
	   its options are the same. NULL: "--" only ends options. */
	const struct cli_arg	 *dd_args;
	int			  hidden;	/* not listed nor completed */
	/* Returns the exit status. */
	int			(*exec)(const struct cli_cmd *self,
				    struct cli_args *a);
};

/*
 * A parsed command line (parse.c). Option values are read by their long
 * name; operands in order, argv[argc] NULL. JSON values are converted
 * and owned by the args.
 */
struct cli_val {
	int			  set;		/* given (or defaulted) */
	const char		 *text;		/* as given */
	long long		  num;		/* CLI_INT; CLI_SECONDS: ms */
	iso_msg			 *json;		/* CLI_JSON, owned */
};

struct cli_args {
	const struct cli_cmd	 *cmd;
	struct cli_val		  opt[CLI_MAXOPTS];
	int			  argc;		/* operands */
	char			**argv;
	int			  dashdash;	/* the "--" form (dd_args) */
	iso_msg			 *json[CLI_MAXARGS];	/* CLI_JSON operands */
};

/* isoctl.c: the table, NULL-terminated; the root entry (isoctl's own
   options); a lookup by name or alias. */
extern const struct cli_cmd	*const cli_cmds[];
extern const struct cli_cmd	 cli_root;
const struct cli_cmd	*cli_find(const char *name);

/* cmd_proc.c */
extern const struct cli_cmd	cli_cmd_spawn, cli_cmd_ps, cli_cmd_kill,
				cli_cmd_restart, cli_cmd_rm, cli_cmd_wait,
				cli_cmd_logs;
/* cmd_ctl.c */
extern const struct cli_cmd	cli_cmd_pause, cli_cmd_resume, cli_cmd_ping;
/* cmd_msg.c */
extern const struct cli_cmd	cli_cmd_send, cli_cmd_recv, cli_cmd_names,
				cli_cmd_compute;
/* cmd_map.c */
extern const struct cli_cmd	cli_cmd_map;
/* cmd_events.c */
extern const struct cli_cmd	cli_cmd_events;
/* cmd_top.c */
extern const struct cli_cmd	cli_cmd_top;
/* cmd_daemon.c */
extern const struct cli_cmd	cli_cmd_daemon;
/* cmd_cluster.c */
extern const struct cli_cmd	cli_cmd_nodes;
/* Every up node's rows of iso_sup_list_filter, each with its "node":
   0 and owned *rows (*failed: a node could not be asked, said on
   stderr), or -1 with iso_error(). */
int		 cli_cluster_list(const iso_sup_list_opts *o, iso_msg **rows,
		    int *failed);
/* help.c */
extern const struct cli_cmd	cli_cmd_help, cli_cmd_man_synopsis;
/* complete.c */
extern const struct cli_cmd	cli_cmd_completion, cli_cmd_complete;

/* parse.c */
/*
 * Parse argv (argv[0] the command's name) for cmd into *a: 0; or -1
 * after a one-line usage error on stderr (*status CLI_USAGE), or after
 * --help was printed (*status CLI_OK). argv must outlive a.
 */
int		 cli_parse(const struct cli_cmd *cmd, int argc, char **argv,
		    struct cli_args *a, int *status);
void		 cli_args_free(struct cli_args *a);
/* The option's index in cmd->opts (abort() on a name not there: a bug),
   and the accessors by long name. */
int		 cli_opt_index(const struct cli_cmd *cmd, const char *name);
int		 cli_has(const struct cli_args *a, const char *name);
const char	*cli_str(const struct cli_args *a, const char *name);
long long	 cli_num(const struct cli_args *a, const char *name);
iso_msg		*cli_json(const struct cli_args *a, const char *name);
/* The option with this long name or letter (0: by name); NULL. */
const struct cli_opt *cli_opt_find(const struct cli_cmd *cmd,
		    const char *name, size_t len, char letter);
/* The argument (of args) the operand at index k is; NULL: one too many. */
const struct cli_arg *cli_arg_at(const struct cli_arg *args, int k);
/* Whether word is an option (not "-", not a negative number). */
int		 cli_is_option(const char *word);

/* help.c */
/* Print cmd's usage and help on stdout: CLI_OK. */
int		 cli_help(const struct cli_cmd *cmd);
/* isoctl's usage: every command's synopsis. */
void		 cli_usage_all(FILE *f);

/* cells.c: tables of rows (ps, top, events) */
/* Characters (UTF-8 code points) in s. */
size_t		 cli_width(const char *s);
/* Cut s after w characters. */
void		 cli_cut(char *s, size_t w);
/* A string value of row, or NULL. */
const char	*cli_row_str(const iso_msg *row, const char *key);
/* An int value of row into *out: 1, or 0 when absent or nil. */
int		 cli_row_int(const iso_msg *row, const char *key, int64_t *out);
/* Append s to the cell *cell (owned), a space first when not empty;
   control characters become '?'. -1 on ENOMEM. */
int		 cli_cell_add(char **cell, const char *s);

/* cli.c */
/* "isoctl: NAME: <what> (see isoctl NAME --help)" on stderr: CLI_USAGE. */
int		 cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* "isoctl: NAME: <what>: <iso_error()>" on stderr: CLI_FAIL. */
int		 cli_fail(const struct cli_cmd *cmd, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* "isoctl: NAME: <what>" on stderr. */
void		 cli_warn(const struct cli_cmd *cmd, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* Seconds (a decimal, >= 0) as milliseconds in *ms; -1 if not one. */
int		 cli_seconds(const char *text, long long *ms);
/* A JSON argument ("-": all of stdin) as an owned message, or NULL
   after a one-line "bad JSON" message on stderr. */
iso_msg		*cli_json_arg(const struct cli_cmd *cmd, const char *text);
/* m as one line of JSON on stdout: 0, or -1 after a message. */
int		 cli_print_json(const struct cli_cmd *cmd, const iso_msg *m);
/* units.c */
/* A size above 0: bytes, or a number with K, M, G or T (binary; "64M",
   "64MiB"). 0, or -1 if text is not one. */
int		 cli_size(const char *text, uint64_t *bytes);
/* A duration above 0 in whole seconds: N, Ns, Nm or Nh. 0 or -1. */
int		 cli_duration(const char *text, uint64_t *seconds);
/* "SIGKILL" for 9 (static storage, or buf). */
const char	*cli_signame(int sig, char buf[16]);

#endif /* CLI_H */
