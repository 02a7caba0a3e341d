/*
 * cmd_proc.c: isoctl's commands over supervised processes: spawn, ps,
 * kill, wait and logs.
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

static int
cmd_spawn(const struct cli_cmd *self, int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "restart", required_argument, NULL, 'r' },
		{ "mailbox", required_argument, NULL, 'm' },
		{ "lines", no_argument, NULL, 'l' },
		{ "mailbox-sync", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	iso_sup_spawn_opts		 o;
	char				 cwd[PATH_MAX], *end;
	uint64_t			 id;
	long				 n;
	int				 c, lines = 0;

	memset(&o, 0, sizeof o);
	o.restart = ISO_RESTART_NEVER;
	while ((c = cli_getopt(self, argc, argv, "+n:r:m:l", opts)) != -1) {
		switch (c) {
		case 'h':
			return (cli_help(self));
		case 'n':
			if (*optarg == '\0')
				return (cli_usage(self, "empty name"));
			o.name = optarg;
			break;
		case 'r':
			if (strcmp(optarg, "never") == 0)
				o.restart = ISO_RESTART_NEVER;
			else if (strcmp(optarg, "on-failure") == 0)
				o.restart = ISO_RESTART_ON_FAILURE;
			else if (strcmp(optarg, "always") == 0)
				o.restart = ISO_RESTART_ALWAYS;
			else
				return (cli_usage(self, "restart policy %s is "
				    "not never, on-failure or always", optarg));
			break;
		case 'm':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    n < 1 || n > INT_MAX)
				return (cli_usage(self, "mailbox size %s is "
				    "not a positive number", optarg));
			o.mailbox = (int)n;
			break;
		case 'l':
			lines = 1;
			break;
		case 'S':
			o.mailbox_sync = 1;
			break;
		default:
			return (CLI_USAGE);
		}
	}
	if (optind == argc)
		return (cli_usage(self, "no command"));
	o.lines = lines;
	/* The command runs as if the caller had run it. */
	o.argv = argv + optind;
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

const struct cli_cmd cli_cmd_spawn = {
	.name = "spawn",
	.usage = "[--name NAME] [--restart POLICY] [--mailbox N] [--lines] "
	    "[--mailbox-sync] [--] CMD [ARG...]",
	.help =
	    "Run CMD under the supervisor, with this environment and working\n"
	    "directory, and print its id (16 hex digits).\n"
	    "\n"
	    "  -n, --name NAME       a name, unique among the isolates the\n"
	    "                        supervisor knows, usable as a TARGET\n"
	    "  -r, --restart POLICY  never (default), on-failure or always\n"
	    "  -m, --mailbox N       messages its mailbox holds (default 256)\n"
	    "  -l, --lines           make any program an isolate: each message\n"
	    "                        sent to it is a JSON line on its stdin,\n"
	    "                        each line it prints a message for recv\n"
	    "      --mailbox-sync    sync its mailbox to disk before each\n"
	    "                        answer: what it accepted outlives a\n"
	    "                        machine crash too (slower)\n",
	.exec = cmd_spawn
};

/* ---- ps ------------------------------------------------------------------- */

#define PS_COLS		7

static const char *const ps_heads[PS_COLS] = { "ID", "NAME", "PID",
    "STATE", "EXIT", "RESTARTS", "COMMAND" };

/* Characters (UTF-8 code points) in s. */
static size_t
width(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return (n);
}

/* Cut s after w characters. */
static void
cut(char *s, size_t w)
{
	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80 && w-- == 0) {
			*s = '\0';
			return;
		}
	}
}

/* A string value of row, or NULL. */
static const char *
row_str(const iso_msg *row, const char *key)
{
	const iso_msg	*v = iso_msg_get(row, key);

	return (v != NULL && iso_msg_type(v) == ISO_STR ?
	    iso_msg_str(v, NULL) : NULL);
}

/* An int value of row into *out: 1, or 0 when absent or nil. */
static int
row_int(const iso_msg *row, const char *key, int64_t *out)
{
	const iso_msg	*v = iso_msg_get(row, key);

	return (v != NULL && iso_msg_int(v, out) == 0);
}

/* 1 if the value of key in row is true. */
static int
row_bool(const iso_msg *row, const char *key)
{
	int	b = 0;

	return (iso_msg_unpack(row, "{s?b}", key, &b) == 0 && b);
}

/* Append s to the cell *cell (owned), a space first when not empty;
   control characters become '?'. -1 on ENOMEM. */
static int
cell_add(char **cell, const char *s)
{
	size_t	 old = *cell != NULL ? strlen(*cell) : 0, n = strlen(s), i;
	char	*p;

	if ((p = realloc(*cell, old + n + 2)) == NULL)
		return (-1);
	*cell = p;
	p += old;
	if (old > 0)
		*p++ = ' ';
	for (i = 0; i < n; i++)
		p[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	p[n] = '\0';
	return (0);
}

/* The seven cells of row, owned. */
static int
ps_cells(const iso_msg *row, char *cells[PS_COLS])
{
	const iso_msg	*cmd;
	const char	*s;
	char		 buf[32], sig[16];
	int64_t		 x;
	size_t		 i;
	int		 r = 0;

	s = row_str(row, "id");
	r |= cell_add(&cells[0], s != NULL ? s : "?");
	s = row_str(row, "name");
	r |= cell_add(&cells[1], s != NULL ? s : "-");
	if (row_int(row, "pid", &x) && x > 0)
		snprintf(buf, sizeof buf, "%" PRId64, x);
	else
		snprintf(buf, sizeof buf, "-");
	r |= cell_add(&cells[2], buf);
	s = row_str(row, "state");
	r |= cell_add(&cells[3], s != NULL ? s : "?");
	if (row_bool(row, "ended_with_spawner"))
		snprintf(buf, sizeof buf, "spawner");
	else if (row_int(row, "exit_code", &x))
		snprintf(buf, sizeof buf, "%" PRId64, x);
	else if (row_int(row, "signal", &x) && x > 0 && x < 256)
		snprintf(buf, sizeof buf, "%s", cli_signame((int)x, sig));
	else
		snprintf(buf, sizeof buf, "-");
	r |= cell_add(&cells[4], buf);
	if (!row_int(row, "restarts", &x))
		x = 0;
	snprintf(buf, sizeof buf, "%" PRId64, x);
	r |= cell_add(&cells[5], buf);
	if ((cmd = iso_msg_get(row, "command")) != NULL &&
	    iso_msg_type(cmd) == ISO_LIST) {
		for (i = 0; i < iso_msg_len(cmd); i++)
			if ((s = iso_msg_str(iso_msg_at(cmd, i), NULL)) !=
			    NULL)
				r |= cell_add(&cells[6], s);
	} else if ((s = row_str(row, "entry")) != NULL)
		r |= cell_add(&cells[6], s);
	if (cells[6] == NULL)
		r |= cell_add(&cells[6], "-");
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
		if (cell_add(&cells[j], ps_heads[j]) == -1)
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
			if (width(cells[i * PS_COLS + j]) > w[j])
				w[j] = width(cells[i * PS_COLS + j]);
	for (used = 0, j = 0; j < PS_COLS - 1; j++)
		used += w[j] + 2;
	cols = term_width();
	for (i = 0; i <= rows; i++) {
		for (j = 0; j < PS_COLS - 1; j++) {
			/* Numbers to the right, words to the left. */
			if (j == 2 || j == 5)
				printf("%*s%s  ", (int)(w[j] -
				    width(cells[i * PS_COLS + j])), "",
				    cells[i * PS_COLS + j]);
			else
				printf("%s%*s  ", cells[i * PS_COLS + j],
				    (int)(w[j] - width(cells[i * PS_COLS +
				    j])), "");
		}
		if (cols > 0)
			cut(cells[i * PS_COLS + j], cols > used + 8 ?
			    cols - used : 8);
		printf("%s\n", cells[i * PS_COLS + j]);
	}
out:
	for (i = 0; i < (rows + 1) * PS_COLS; i++)
		free(cells[i]);
	free(cells);
	return (r);
}

static int
cmd_ps(const struct cli_cmd *self, int argc, char **argv)
{
	iso_msg				*list;
	int				 c, json = 0, r;

	if ((c = cli_json_opts(self, argc, argv, &json)) != -1)
		return (c);
	if (optind != argc)
		return (cli_usage(self, "unexpected argument %s",
		    argv[optind]));
	if (iso_sup_list(&list) == -1)
		return (cli_fail(self, "cannot list"));
	if (json)
		r = cli_print_json(self, list) == 0 ? CLI_OK : CLI_FAIL;
	else
		r = ps_table(self, list);
	iso_msg_free(list);
	return (r);
}

const struct cli_cmd cli_cmd_ps = {
	.name = "ps",
	.usage = "[--json]",
	.help =
	    "List every isolate the supervisor knows, running or ended: its\n"
	    "commands and the isolates C programs spawned.\n"
	    "Columns: ID NAME PID STATE EXIT RESTARTS COMMAND; EXIT is the\n"
	    "exit code, the signal that ended it, or \"spawner\" for an\n"
	    "isolate ended because its spawner ended. On a terminal the\n"
	    "COMMAND column is cut to fit.\n"
	    "\n"
	    "  -j, --json   one JSON array of the supervisor's rows instead\n",
	.exec = cmd_ps
};

/* ---- kill ------------------------------------------------------------------ */

/* Exactly one operand, the TARGET, after the options. */
static const char *
one_target(const struct cli_cmd *self, int argc, char **argv)
{
	if (optind == argc) {
		cli_usage(self, "no TARGET");
		return (NULL);
	}
	if (optind + 1 != argc) {
		cli_usage(self, "unexpected argument %s", argv[optind + 1]);
		return (NULL);
	}
	if (*argv[optind] == '\0') {
		cli_usage(self, "empty TARGET");
		return (NULL);
	}
	return (argv[optind]);
}

static int
cmd_kill(const struct cli_cmd *self, int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "graceful", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char			*target;
	int				 c, prio = ISO_IMMEDIATE;

	while ((c = cli_getopt(self, argc, argv, "g", opts)) != -1) {
		switch (c) {
		case 'h':
			return (cli_help(self));
		case 'g':
			prio = ISO_BEFORE_NEXT_EVENT;
			break;
		default:
			return (CLI_USAGE);
		}
	}
	if ((target = one_target(self, argc, argv)) == NULL)
		return (CLI_USAGE);
	if (iso_sup_kill(target, prio) == -1)
		return (cli_fail(self, "%s", target));
	return (CLI_OK);
}

const struct cli_cmd cli_cmd_kill = {
	.name = "kill",
	.usage = "[--graceful] TARGET",
	.help =
	    "Kill a supervised isolate (SIGKILL); it is not restarted.\n"
	    "TARGET is an isolate's id or name.\n"
	    "\n"
	    "  -g, --graceful   SIGTERM first, SIGKILL 5 s later\n",
	.exec = cmd_kill
};

/* ---- wait ------------------------------------------------------------------ */

/* Print how row ended; its exit status as a shell gives it. */
static int
print_end(const iso_msg *row)
{
	const char	*state = row_str(row, "state"), *error;
	char		 how[64], sig[16];
	int64_t		 code, signo;
	int		 status;

	if (row_int(row, "exit_code", &code)) {
		snprintf(how, sizeof how, "exited %" PRId64, code);
		status = (int)(code & 0xff);
	} else if (row_int(row, "signal", &signo) && signo > 0 &&
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
		error = row_str(row, "error");
		printf("failed: %s\n", error != NULL ? error : how);
		if (status == CLI_OK)
			status = CLI_FAIL;
	} else
		printf("%s\n", how);
	return (status);
}

static int
cmd_wait(const struct cli_cmd *self, int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char			*target, *sec = NULL;
	iso_msg				*row;
	int				 c, ms = -1, r;

	while ((c = cli_getopt(self, argc, argv, "t:", opts)) != -1) {
		switch (c) {
		case 'h':
			return (cli_help(self));
		case 't':
			if (cli_seconds(optarg, &ms) == -1)
				return (cli_usage(self, "timeout %s is not a "
				    "number of seconds", optarg));
			sec = optarg;
			break;
		default:
			return (CLI_USAGE);
		}
	}
	if ((target = one_target(self, argc, argv)) == NULL)
		return (CLI_USAGE);
	if (iso_sup_wait(target, ms, &row) == -1) {
		if (errno == ETIMEDOUT) {
			cli_warn(self, "%s: still running after %s s", target,
			    sec);
			return (CLI_TIMEOUT);
		}
		return (cli_fail(self, "%s", target));
	}
	r = print_end(row);
	iso_msg_free(row);
	return (r);
}

const struct cli_cmd cli_cmd_wait = {
	.name = "wait",
	.usage = "[--timeout SEC] TARGET",
	.help =
	    "Wait until TARGET has ended for good (not restarting), print how\n"
	    "(\"exited N\", \"killed by SIGNAME\", \"ended with its spawner\",\n"
	    "\"failed: REASON\") and exit\n"
	    "with its status: its exit code, 128+N after signal N, 124 when\n"
	    "it still runs after SEC seconds.\n"
	    "\n"
	    "  -t, --timeout SEC   give up after SEC seconds (a decimal)\n",
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
cmd_logs(const struct cli_cmd *self, int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char			*target;
	uint64_t			 offset = 0;
	iso_msg				*row;
	int				 c, follow = 0, ended;

	while ((c = cli_getopt(self, argc, argv, "f", opts)) != -1) {
		switch (c) {
		case 'h':
			return (cli_help(self));
		case 'f':
			follow = 1;
			break;
		default:
			return (CLI_USAGE);
		}
	}
	if ((target = one_target(self, argc, argv)) == NULL)
		return (CLI_USAGE);
	for (;;) {
		/* Ended before this drain: nothing comes after it. */
		ended = 1;
		if (follow) {
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

const struct cli_cmd cli_cmd_logs = {
	.name = "logs",
	.usage = "[--follow] TARGET",
	.help =
	    "Print what a supervised command wrote on its stdout and stderr\n"
	    "(the oldest kept first).\n"
	    "\n"
	    "  -f, --follow   go on printing (polling every 200 ms) until it\n"
	    "                 has ended for good and all is printed\n",
	.exec = cmd_logs
};
