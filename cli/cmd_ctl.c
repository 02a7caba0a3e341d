/*
 * cmd_ctl.c: isoctl's pause, resume and ping of a running isolate.
 */
#include <errno.h>
#include <stdio.h>

#include "cli.h"

static const struct cli_arg ctl_target[] = {
	{ .name = "TARGET", .arity = CLI_REQUIRED, .type = CLI_TARGET,
	  .complete = CLI_C_TARGET },
	{ .name = NULL }
};

/* ---- pause, resume ------------------------------------------------------ */

static int
cmd_pause(const struct cli_cmd *self, struct cli_args *a)
{
	if (iso_sup_pause(a->argv[0]) == -1)
		return (cli_fail(self, "%s", a->argv[0]));
	return (CLI_OK);
}

const struct cli_cmd cli_cmd_pause = {
	.name = "pause",
	.summary = "stop an isolate (SIGSTOP)",
	.help =
	    "Stop a running isolate: a command's process group, or an\n"
	    "isolate a program forked, gets SIGSTOP and runs no code until\n"
	    "resumed; ps shows it as paused. Messages to it wait in its\n"
	    "mailbox or its senders' queues.\n",
	.args = ctl_target,
	.exec = cmd_pause
};

static int
cmd_resume(const struct cli_cmd *self, struct cli_args *a)
{
	if (iso_sup_resume(a->argv[0]) == -1)
		return (cli_fail(self, "%s", a->argv[0]));
	return (CLI_OK);
}

const struct cli_cmd cli_cmd_resume = {
	.name = "resume",
	.summary = "let a paused isolate go on (SIGCONT)",
	.help =
	    "Let a paused isolate (isoctl pause, spawn --paused) go on.\n",
	.args = ctl_target,
	.exec = cmd_resume
};

/* ---- ping ---------------------------------------------------------------- */

static int
cmd_ping(const struct cli_cmd *self, struct cli_args *a)
{
	const char	*target = a->argv[0];

	if (iso_sup_ping(target, cli_has(a, "immediate") ? ISO_IMMEDIATE :
	    ISO_BEFORE_NEXT_EVENT, (int)cli_num(a, "timeout")) == -1) {
		if (errno == ETIMEDOUT) {
			cli_warn(self, "%s: no answer within %s s", target,
			    cli_str(a, "timeout"));
			return (CLI_TIMEOUT);
		}
		return (cli_fail(self, "%s", target));
	}
	printf("%s: answered\n", target);
	return (CLI_OK);
}

static const struct cli_opt ping_opts[] = {
	{ .name = "immediate", .letter = 'i', .type = CLI_FLAG,
	  .help = "answered by the supervisor if its process is there" },
	{ .name = "timeout", .letter = 't', .type = CLI_SECONDS,
	  .meta = "SEC", .def = "5", .help = "give up after SEC seconds, "
	  "exit 124" },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_ping = {
	.name = "ping",
	.summary = "is an isolate responsive?",
	.help =
	    "Ask a running isolate to answer: an isolate's own loop answers\n"
	    "once it reads its socket (it must have a port open), so a busy\n"
	    "or paused one answers late; a command, which has no loop of\n"
	    "ours, answers while it is not paused. --immediate: the\n"
	    "supervisor answers if its process is there, even paused. Exit\n"
	    "124 when no answer came within SEC seconds.\n",
	.opts = ping_opts,
	.args = ctl_target,
	.exec = cmd_ping
};
