/*
 * cmd_proc.c: isoctl's commands over supervised processes: spawn, ps,
 * kill, restart, rm, wait and logs.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

extern char	**environ;

/* ---- spawn ---------------------------------------------------------------- */

/* --memory, --cpu, --nofile, --nproc, --max-memory into o: 0, or -1
   after a one-line usage error. */
static int
spawn_limits(const struct cli_cmd *self, struct cli_args *a,
    iso_sup_spawn_opts *o)
{
	const char	*t;

	if ((t = cli_str(a, "memory")) != NULL && cli_size(t, &o->memory) ==
	    -1) {
		cli_usage(self, "--memory: \"%s\" is not a size (bytes, or a "
		    "number with K, M or G)", t);
		return (-1);
	}
	if ((t = cli_str(a, "max-memory")) != NULL && cli_size(t,
	    &o->max_memory) == -1) {
		cli_usage(self, "--max-memory: \"%s\" is not a size (bytes, "
		    "or a number with K, M or G)", t);
		return (-1);
	}
	if ((t = cli_str(a, "cpu")) != NULL && cli_duration(t, &o->cpu) ==
	    -1) {
		cli_usage(self, "--cpu: \"%s\" is not a duration (seconds, or "
		    "a number with s, m or h)", t);
		return (-1);
	}
	if (cli_has(a, "nofile"))
		o->nofile = (uint64_t)cli_num(a, "nofile");
	if (cli_has(a, "nproc"))
		o->nproc = (uint64_t)cli_num(a, "nproc");
	return (0);
}

static int
cmd_spawn(const struct cli_cmd *self, struct cli_args *a)
{
	iso_sup_spawn_opts	 o;
	char			 cwd[PATH_MAX];
	uint64_t		 id;

	memset(&o, 0, sizeof o);
	o.name = cli_str(a, "name");
	o.restart = (iso_restart)cli_num(a, "restart");
	o.mailbox = (int)cli_num(a, "mailbox");
	o.lines = cli_has(a, "lines");
	o.mailbox_sync = cli_has(a, "mailbox-sync");
	if (spawn_limits(self, a, &o) == -1)
		return (CLI_USAGE);
	o.paused = cli_has(a, "paused");
	o.sandbox = cli_str(a, "sandbox");
	/* The command runs as if the caller had run it. */
	o.argv = a->argv;
	o.envp = environ;
	o.cwd = getcwd(cwd, sizeof cwd);
	if (iso_sup_spawn(&o, &id) == -1) {
		/* An argument or variable that is not UTF-8: it says which. */
		if (errno == EINVAL) {
			cli_warn(self, "%s", iso_error());
			return (CLI_USAGE);
		}
		return (cli_fail(self, "%s", o.argv[0]));
	}
	printf("%016" PRIx64 "\n", id);
	return (CLI_OK);
}

/* In the order of iso_restart. */
static const char *const restart_policies[] = { "never", "on-failure",
    "always", NULL };

static const struct cli_opt spawn_opts[] = {
	{ .name = "name", .letter = 'n', .type = CLI_STRING, .meta = "NAME",
	  .help = "a name, unique among the isolates, usable as a TARGET" },
	{ .name = "restart", .letter = 'r', .type = CLI_ENUM,
	  .meta = "POLICY", .choices = restart_policies, .def = "never",
	  .complete = CLI_C_CHOICES, .help = "when to run it again" },
	{ .name = "mailbox", .letter = 'm', .type = CLI_INT, .meta = "N",
	  .min = 1, .max = INT_MAX, .def = "256",
	  .help = "messages its mailbox holds" },
	{ .name = "lines", .letter = 'l', .type = CLI_FLAG,
	  .help = "messages in as JSON lines on its stdin, lines out for recv" },
	{ .name = "mailbox-sync", .type = CLI_FLAG,
	  .help = "sync its mailbox to disk before each answer (slower)" },
	/* limits */
	{ .name = "memory", .type = CLI_STRING, .meta = "SIZE",
	  .help = "its address space at most SIZE (64M, 1G)" },
	{ .name = "cpu", .type = CLI_STRING, .meta = "TIME",
	  .help = "CPU time at most TIME (2s, 5m), then SIGXCPU" },
	{ .name = "nofile", .type = CLI_INT, .meta = "N", .min = 1,
	  .max = INT_MAX, .help = "open descriptors at most N" },
	{ .name = "nproc", .type = CLI_INT, .meta = "N", .min = 1,
	  .max = INT_MAX, .help = "processes of its user at most N (not root)" },
	{ .name = "max-memory", .type = CLI_STRING, .meta = "SIZE",
	  .help = "restart it once its resident memory passes SIZE" },
	{ .name = "paused", .type = CLI_FLAG,
	  .help = "stopped before it runs, until isoctl resume" },
	{ .name = "sandbox", .type = CLI_STRING, .meta = "PROFILE",
	  .help = "run it under a sandbox: nonet, readonly:PATH or both" },
	{ .name = NULL }
};

static const struct cli_arg spawn_args[] = {
	{ .name = "CMD", .arity = CLI_REST, .type = CLI_WORD,
	  .complete = CLI_C_COMMAND },
	{ .name = NULL }
};

static const char *const spawn_aliases[] = { "run", NULL };

const struct cli_cmd cli_cmd_spawn = {
	.name = "spawn",
	.aliases = spawn_aliases,
	.summary = "run a command under the supervisor",
	.help =
	    "Run CMD under the supervisor, with this environment and working\n"
	    "directory, and print its id (16 hex digits). Options stop at CMD:\n"
	    "what follows it is its own. With --lines any program is an\n"
	    "isolate: each message sent to it is a JSON line on its stdin,\n"
	    "each line it prints a message for recv. With --mailbox-sync what\n"
	    "its mailbox accepted outlives a machine crash too. With --paused\n"
	    "it is stopped before exec (ps: paused) until isoctl resume.\n"
	    "Limits (--memory, --cpu, --nofile, --nproc) are set in it before\n"
	    "it runs; one that ends it is a failure for --restart, and ps\n"
	    "says which in words. --max-memory restarts it, whatever its\n"
	    "policy, once its resident memory passes SIZE.\n",
	.opts = spawn_opts,
	.args = spawn_args,
	.exec = cmd_spawn
};

/* ---- ps ------------------------------------------------------------------- */

#define PS_COLS		7

static const char *const ps_heads[PS_COLS] = { "ID", "NAME", "PID",
    "STATE", "EXIT", "RESTARTS", "COMMAND" };

/* 1 if the value of key in row is true. */
static int
row_bool(const iso_msg *row, const char *key)
{
	int	b = 0;

	return (iso_msg_unpack(row, "{s?b}", key, &b) == 0 && b);
}

/* The seven cells of row, owned. */
static int
ps_cells(const iso_msg *row, char *cells[PS_COLS])
{
	const iso_msg	*cmd;
	const char	*s, *node;
	char		 buf[32], sig[16], named[400];
	int64_t		 x;
	size_t		 i;
	int		 r = 0;

	s = cli_row_str(row, "id");
	r |= cli_cell_add(&cells[0], s != NULL ? s : "?");
	s = cli_row_str(row, "name");
	if ((node = cli_row_str(row, "node")) != NULL) {
		/* ps --cluster: the target that reaches it. */
		snprintf(named, sizeof named, "%s@%s", s != NULL ? s : "",
		    node);
		s = named;
	}
	r |= cli_cell_add(&cells[1], s != NULL ? s : "-");
	if (cli_row_int(row, "pid", &x) && x > 0)
		snprintf(buf, sizeof buf, "%" PRId64, x);
	else
		snprintf(buf, sizeof buf, "-");
	r |= cli_cell_add(&cells[2], buf);
	s = cli_row_str(row, "state");
	if (s != NULL && strcmp(s, "running") == 0 && row_bool(row, "paused"))
		s = "paused";
	r |= cli_cell_add(&cells[3], s != NULL ? s : "?");
	if (row_bool(row, "ended_with_spawner"))
		snprintf(buf, sizeof buf, "spawner");
	else if ((s = cli_row_str(row, "reason")) != NULL)
		buf[0] = '\0';		/* a limit, in words: below */
	else if (cli_row_int(row, "exit_code", &x))
		snprintf(buf, sizeof buf, "%" PRId64, x);
	else if (cli_row_int(row, "signal", &x) && x > 0 && x < 256)
		snprintf(buf, sizeof buf, "%s", cli_signame((int)x, sig));
	else
		snprintf(buf, sizeof buf, "-");
	r |= cli_cell_add(&cells[4], buf[0] != '\0' ? buf : s);
	if (!cli_row_int(row, "restarts", &x))
		x = 0;
	snprintf(buf, sizeof buf, "%" PRId64, x);
	r |= cli_cell_add(&cells[5], buf);
	if ((cmd = iso_msg_get(row, "command")) != NULL &&
	    iso_msg_type(cmd) == ISO_LIST) {
		for (i = 0; i < iso_msg_len(cmd); i++)
			if ((s = iso_msg_str(iso_msg_at(cmd, i), NULL)) !=
			    NULL)
				r |= cli_cell_add(&cells[6], s);
	} else if ((s = cli_row_str(row, "entry")) != NULL)
		r |= cli_cell_add(&cells[6], s);
	if (cells[6] == NULL)
		r |= cli_cell_add(&cells[6], "-");
	return (r);
}

/* The terminal's width when stdout is one, else 0 (no limit). */
static size_t
term_width(void)
{
	struct winsize	ws;

	if (!isatty(STDOUT_FILENO) ||
	    ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == -1)
		return (0);
	return (ws.ws_col);
}

/* The table: aligned columns, COMMAND cut to the terminal's width. */
static int
ps_table(const struct cli_cmd *self, const iso_msg *list)
{
	size_t	  rows = iso_msg_len(list), w[PS_COLS], i, j, used, cols;
	char	**cells;
	int	  r = CLI_OK;

	if ((cells = calloc((rows + 1) * PS_COLS, sizeof *cells)) == NULL)
		return (cli_fail(self, "out of memory"));
	for (j = 0; j < PS_COLS; j++)
		if (cli_cell_add(&cells[j], ps_heads[j]) == -1)
			r = CLI_FAIL;
	for (i = 0; i < rows; i++)
		if (ps_cells(iso_msg_at(list, i), cells + (i + 1) * PS_COLS)
		    != 0)
			r = CLI_FAIL;
	if (r != CLI_OK) {
		cli_warn(self, "out of memory");
		goto out;
	}
	memset(w, 0, sizeof w);
	for (i = 0; i <= rows; i++)
		for (j = 0; j < PS_COLS; j++)
			if (cli_width(cells[i * PS_COLS + j]) > w[j])
				w[j] = cli_width(cells[i * PS_COLS + j]);
	for (used = 0, j = 0; j < PS_COLS - 1; j++)
		used += w[j] + 2;
	cols = term_width();
	for (i = 0; i <= rows; i++) {
		for (j = 0; j < PS_COLS - 1; j++) {
			/* Numbers to the right, words to the left. */
			if (j == 2 || j == 5)
				printf("%*s%s  ", (int)(w[j] -
				    cli_width(cells[i * PS_COLS + j])), "",
				    cells[i * PS_COLS + j]);
			else
				printf("%s%*s  ", cells[i * PS_COLS + j],
				    (int)(w[j] - cli_width(cells[i * PS_COLS +
				    j])), "");
		}
		if (cols > 0)
			cli_cut(cells[i * PS_COLS + j], cols > used + 8 ?
			    cols - used : 8);
		printf("%s\n", cells[i * PS_COLS + j]);
	}
out:
	for (i = 0; i < (rows + 1) * PS_COLS; i++)
		free(cells[i]);
	free(cells);
	return (r);
}

/* In the order of iso_sup_state, from ISO_SUP_RUNNING. */
static const char *const ps_states[] = { "running", "restarting", "exited",
    "failed", "ended", NULL };

static int
cmd_ps(const struct cli_cmd *self, struct cli_args *a)
{
	iso_sup_list_opts	 o;
	iso_msg			*list;
	int			 r, failed = 0;

	memset(&o, 0, sizeof o);
	o.name = cli_str(a, "name");
	o.state = cli_has(a, "state") ? (iso_sup_state)(cli_num(a, "state") +
	    1) : ISO_SUP_ANY;
	o.all = cli_has(a, "all");
	if (cli_has(a, "cluster")) {
		if (cli_cluster_list(&o, &list, &failed) == -1)
			return (cli_fail(self, "cannot list the cluster"));
	} else if (iso_sup_list_filter(&o, &list) == -1)
		return (cli_fail(self, "cannot list"));
	if (cli_has(a, "json"))
		r = cli_print_json(self, list) == 0 ? CLI_OK : CLI_FAIL;
	else
		r = ps_table(self, list);
	iso_msg_free(list);
	return (r == CLI_OK && failed ? CLI_FAIL : r);
}

static const struct cli_opt ps_opts[] = {
	{ .name = "json", .letter = 'j', .type = CLI_FLAG,
	  .help = "one JSON array of the supervisor's rows instead" },
	{ .name = "name", .letter = 'n', .type = CLI_STRING, .meta = "GLOB",
	  .help = "only the rows whose name matches GLOB (as the shell's)" },
	{ .name = "state", .letter = 's', .type = CLI_ENUM, .meta = "STATE",
	  .choices = ps_states, .complete = CLI_C_CHOICES,
	  .help = "only the rows in STATE (ended: exited or failed)" },
	{ .name = "all", .letter = 'a', .type = CLI_FLAG,
	  .help = "with the ended isolates of C programs too" },
	{ .name = "cluster", .letter = 'c', .type = CLI_FLAG,
	  .help = "the rows of every node of the cluster; NAME as "
	  "NAME@NODE" },
	{ .name = NULL }
};

static const char *const ps_aliases[] = { "ls", NULL };

const struct cli_cmd cli_cmd_ps = {
	.name = "ps",
	.aliases = ps_aliases,
	.summary = "list the isolates",
	.help =
	    "List the isolates the supervisor knows: its commands, running or\n"
	    "ended, and the live isolates C programs spawned (--all: the\n"
	    "ended ones too, a history of their own). --name and --state\n"
	    "keep the rows that match; a row without a name matches no GLOB.\n"
	    "Columns: ID NAME PID STATE EXIT RESTARTS COMMAND; EXIT is the\n"
	    "exit code, the signal that ended it, \"spawner\" for an\n"
	    "isolate ended because its spawner ended, or the limit that\n"
	    "ended (or restarted) it in words. On a terminal the\n"
	    "COMMAND column is cut to fit.\n",
	.opts = ps_opts,
	.exec = cmd_ps
};

/* ---- kill ------------------------------------------------------------------ */

/* The one argument of kill, wait and logs. */
static const struct cli_arg target_arg[] = {
	{ .name = "TARGET", .arity = CLI_REQUIRED, .type = CLI_TARGET,
	  .complete = CLI_C_TARGET },
	{ .name = NULL }
};

static int
cmd_kill(const struct cli_cmd *self, struct cli_args *a)
{
	const char	*target = a->argv[0];

	if (iso_sup_kill(target, cli_has(a, "graceful") ?
	    ISO_BEFORE_NEXT_EVENT : ISO_IMMEDIATE) == -1)
		return (cli_fail(self, "%s", target));
	return (CLI_OK);
}

static const struct cli_opt kill_opts[] = {
	{ .name = "graceful", .letter = 'g', .type = CLI_FLAG,
	  .help = "SIGTERM first, SIGKILL 5 s later" },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_kill = {
	.name = "kill",
	.summary = "end an isolate",
	.help =
	    "Kill a supervised isolate (SIGKILL); it is not restarted.\n"
	    "TARGET is an isolate's id or name.\n",
	.opts = kill_opts,
	.args = target_arg,
	.exec = cmd_kill
};

/* ---- restart --------------------------------------------------------------- */

static int
cmd_restart(const struct cli_cmd *self, struct cli_args *a)
{
	const char	*target = a->argv[0];
	uint64_t	 id;

	if (iso_sup_restart(target, cli_has(a, "now"), &id) == -1)
		return (cli_fail(self, "%s", target));
	printf("%016" PRIx64 "\n", id);
	return (CLI_OK);
}

static const struct cli_opt restart_opts[] = {
	{ .name = "now", .type = CLI_FLAG,
	  .help = "SIGKILL at once, not SIGTERM first" },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_restart = {
	.name = "restart",
	.summary = "run a command again",
	.help =
	    "End a supervised command and run it again at once, whatever its\n"
	    "restart policy: SIGTERM first, SIGKILL after the supervisor's\n"
	    "grace (5 s) if it still runs; --now: SIGKILL. An ended command\n"
	    "is simply run again. Its backoff and intensity limit start over.\n"
	    "Prints its id once the new run runs. An isolate a C program\n"
	    "forked cannot be restarted (restart that program).\n",
	.opts = restart_opts,
	.args = target_arg,
	.exec = cmd_restart
};

/* ---- rm ---------------------------------------------------------------------- */

static int
cmd_rm(const struct cli_cmd *self, struct cli_args *a)
{
	const char	*target = a->argv[0];

	if (iso_sup_rm(target) == -1)
		return (cli_fail(self, "%s", target));
	return (CLI_OK);
}

const struct cli_cmd cli_cmd_rm = {
	.name = "rm",
	.summary = "forget an ended isolate",
	.help =
	    "Forget an ended isolate: its row and its files (log, mailbox,\n"
	    "outbox). A running or restarting one is refused: kill it first.\n",
	.args = target_arg,
	.exec = cmd_rm
};

/* ---- wait ------------------------------------------------------------------ */

/* Print how row ended; its exit status as a shell gives it. */
static int
print_end(const iso_msg *row)
{
	const char	*state = cli_row_str(row, "state"), *error;
	char		 how[64], sig[16];
	int64_t		 code, signo;
	int		 status;

	if (cli_row_int(row, "exit_code", &code)) {
		snprintf(how, sizeof how, "exited %" PRId64, code);
		status = (int)(code & 0xff);
	} else if (cli_row_int(row, "signal", &signo) && signo > 0 &&
	    signo < 128) {
		snprintf(how, sizeof how, "killed by %s",
		    cli_signame((int)signo, sig));
		status = 128 + (int)signo;
	} else {
		snprintf(how, sizeof how, "ended");
		status = CLI_FAIL;
	}
	/* Killed by the library because its spawner ended: no fault of
	   its own. */
	if (row_bool(row, "ended_with_spawner"))
		snprintf(how, sizeof how, "ended with its spawner");
	if (state != NULL && strcmp(state, "failed") == 0) {
		error = cli_row_str(row, "error");
		printf("failed: %s\n", error != NULL ? error : how);
		if (status == CLI_OK)
			status = CLI_FAIL;
	} else
		printf("%s\n", how);
	return (status);
}

static int
cmd_wait(const struct cli_cmd *self, struct cli_args *a)
{
	const char	*target = a->argv[0];
	iso_msg		*row;
	int		 r;

	if (iso_sup_wait(target, cli_has(a, "timeout") ?
	    (int)cli_num(a, "timeout") : -1, &row) == -1) {
		if (errno == ETIMEDOUT) {
			cli_warn(self, "%s: still running after %s s", target,
			    cli_str(a, "timeout"));
			return (CLI_TIMEOUT);
		}
		return (cli_fail(self, "%s", target));
	}
	r = print_end(row);
	iso_msg_free(row);
	return (r);
}

static const struct cli_opt wait_opts[] = {
	{ .name = "timeout", .letter = 't', .type = CLI_SECONDS,
	  .meta = "SEC", .help = "give up after SEC seconds, exit 124" },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_wait = {
	.name = "wait",
	.summary = "wait for an isolate to end",
	.help =
	    "Wait until TARGET has ended for good (not restarting), print how\n"
	    "(\"exited N\", \"killed by SIGNAME\", \"ended with its spawner\",\n"
	    "\"failed: REASON\") and exit\n"
	    "with its status: its exit code, 128+N after signal N, 124 when\n"
	    "it still runs after SEC seconds.\n",
	.opts = wait_opts,
	.args = target_arg,
	.exec = cmd_wait
};

/* ---- logs ------------------------------------------------------------------ */

/* Write what target's log holds from *offset on: bytes written, or -1. */
static long long
logs_drain(const struct cli_cmd *self, const char *target, uint64_t *offset)
{
	long long	 total = 0;
	char		*data;
	size_t		 len;

	do {
		if (iso_sup_logs(target, offset, &data, &len) == -1) {
			cli_fail(self, "%s", target);
			return (-1);
		}
		if (len > 0 && (fwrite(data, 1, len, stdout) != len ||
		    fflush(stdout) == EOF)) {
			free(data);
			cli_warn(self, "standard output: %s", strerror(errno));
			return (-1);
		}
		free(data);
		total += (long long)len;
	} while (len > 0);
	return (total);
}

static int
cmd_logs(const struct cli_cmd *self, struct cli_args *a)
{
	const char	*target = a->argv[0];
	uint64_t	 offset = 0;
	iso_msg		*row;
	int		 ended;

	for (;;) {
		/* Ended before this drain: nothing comes after it. */
		ended = 1;
		if (cli_has(a, "follow")) {
			if (iso_sup_wait(target, 0, &row) == 0)
				iso_msg_free(row);
			else if (errno == ETIMEDOUT)
				ended = 0;
			else
				return (cli_fail(self, "%s", target));
		}
		if (logs_drain(self, target, &offset) == -1)
			return (CLI_FAIL);
		if (ended)
			return (CLI_OK);
		(void)poll(NULL, 0, 200);
	}
}

static const struct cli_opt logs_opts[] = {
	{ .name = "follow", .letter = 'f', .type = CLI_FLAG,
	  .help = "go on (polling every 200 ms) until it has ended for good" },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_logs = {
	.name = "logs",
	.summary = "what a command wrote",
	.help =
	    "Print what a supervised command wrote on its stdout and stderr\n"
	    "(the oldest kept first).\n",
	.opts = logs_opts,
	.args = target_arg,
	.exec = cmd_logs
};
