/*
 * help.c: the texts read from the command table: a command's synopsis
 * and --help, isoctl's list of commands (isoctl help), and the man
 * page's SYNOPSIS in roff (isoctl __man-synopsis, which `make man`
 * writes into docs/isoctl.1).
 */
#include <ctype.h>
#include <string.h>

#include "cli.h"

/* "JSON|-", "start|stop|status", or the argument's name. */
static void
arg_text(FILE *f, const struct cli_arg *g)
{
	const char *const	*c;

	if (g->type == CLI_ENUM) {
		for (c = g->choices; *c != NULL; c++)
			fprintf(f, "%s%s", c == g->choices ? "" : "|", *c);
	} else if (g->type == CLI_JSON)
		fprintf(f, "%s|-", g->name);
	else
		fputs(g->name, f);
}

/* The words after "isoctl NAME" for one form (dd: the "--" form). */
static void
synopsis(FILE *f, const struct cli_cmd *cmd, int dd)
{
	const struct cli_opt	*o;
	const struct cli_arg	*g, *args = dd ? cmd->dd_args : cmd->args;
	const char		*sp = "";

	for (o = cmd->opts; o != NULL && o->name != NULL; o++) {
		if ((o->dd_only && !dd) || (o->no_dd && dd))
			continue;
		if (o->type == CLI_FLAG)
			fprintf(f, "%s[--%s]", sp, o->name);
		else
			fprintf(f, "%s[--%s %s]", sp, o->name, o->meta);
		sp = " ";
	}
	for (g = args; g != NULL && g->name != NULL; g++) {
		if (g == args && dd)
			fprintf(f, "%s--", sp), sp = " ";
		else if (g->arity >= CLI_REST)
			fprintf(f, "%s[--]", sp), sp = " ";
		fputs(sp, f);
		if (g->arity == CLI_OPTIONAL || g->arity == CLI_REST_OPTIONAL)
			fputc('[', f);
		arg_text(f, g);
		if (g->arity == CLI_REST)
			fputs(" [ARG...]", f);
		else if (g->arity == CLI_REST_OPTIONAL)
			fputs("...]", f);
		else if (g->arity == CLI_OPTIONAL)
			fputc(']', f);
		sp = " ";
	}
}

void
cli_usage_all(FILE *f)
{
	const struct cli_cmd *const	*c;
	const char *const		*al;

	fputs("usage: isoctl [--help | --version] [--node NODE] COMMAND "
	    "[ARG...]\n\n"
	    "commands:\n", f);
	for (c = cli_cmds; *c != NULL; c++) {
		if ((*c)->hidden)
			continue;
		fprintf(f, "  %s ", (*c)->name);
		synopsis(f, *c, 0);
		fputc('\n', f);
		if ((*c)->dd_args != NULL) {
			fprintf(f, "  %s ", (*c)->name);
			synopsis(f, *c, 1);
			fputc('\n', f);
		}
	}
	fputs("\naliases:", f);
	for (c = cli_cmds; *c != NULL; c++)
		for (al = (*c)->aliases; al != NULL && *al != NULL; al++)
			fprintf(f, " %s (%s)", *al, (*c)->name);
	fputs("\n\n'isoctl COMMAND --help' says more; see isoctl(1).\n", f);
}

/* "  -n, --name NAME" into buf. */
static void
opt_head(char *buf, size_t size, const struct cli_opt *o)
{
	char	letter[8] = "    ";

	if (o->letter != 0)
		snprintf(letter, sizeof letter, "-%c, ", o->letter);
	snprintf(buf, size, "  %s--%s%s%s", letter, o->name,
	    o->type == CLI_FLAG ? "" : " ", o->type == CLI_FLAG ? "" : o->meta);
}

/* One option's line: its help, its choices and default. */
static void
opt_line(const struct cli_opt *o, int width)
{
	const char *const	*c;
	char			 head[96];

	opt_head(head, sizeof head, o);
	printf("%-*s%s", width, head, o->help);
	if (o->choices != NULL) {
		fputs(" (", stdout);
		for (c = o->choices; *c != NULL; c++)
			printf("%s%s", c == o->choices ? "" : ", ", *c);
		if (o->def != NULL)
			printf("; default %s", o->def);
		fputc(')', stdout);
	} else if (o->def != NULL)
		printf(" (default %s)", o->def);
	putchar('\n');
}

int
cli_help(const struct cli_cmd *cmd)
{
	static const struct cli_opt	 help = { .name = "help", .letter = 'h',
	    .help = "print this help" };
	const struct cli_opt		*o;
	const char *const		*al;
	char				 head[96];
	int				 width = 20;

	if (cmd == &cli_root) {
		cli_usage_all(stdout);
		return (fflush(stdout) == 0 ? CLI_OK : CLI_FAIL);
	}
	printf("usage: isoctl %s ", cmd->name);
	synopsis(stdout, cmd, 0);
	if (cmd->dd_args != NULL) {
		printf("\n       isoctl %s ", cmd->name);
		synopsis(stdout, cmd, 1);
	}
	putchar('\n');
	for (al = cmd->aliases; al != NULL && *al != NULL; al++)
		printf("%s %s", al == cmd->aliases ? "alias:" : ",", *al);
	if (cmd->aliases != NULL)
		putchar('\n');
	printf("\n%s", cmd->help);
	for (o = cmd->opts; o != NULL && o->name != NULL; o++) {
		opt_head(head, sizeof head, o);
		if ((int)strlen(head) + 2 > width)
			width = (int)strlen(head) + 2;
	}
	putchar('\n');
	for (o = cmd->opts; o != NULL && o->name != NULL; o++)
		opt_line(o, width);
	opt_line(&help, width);
	return (fflush(stdout) == 0 ? CLI_OK : CLI_FAIL);
}

/* ---- help ---------------------------------------------------------------- */

static int
cmd_help(const struct cli_cmd *self, struct cli_args *a)
{
	const struct cli_cmd	*c;

	if (a->argc == 0) {
		cli_usage_all(stdout);
		return (CLI_OK);
	}
	if ((c = cli_find(a->argv[0])) == NULL)
		return (cli_usage(self, "unknown command %s", a->argv[0]));
	return (cli_help(c));
}

static const struct cli_arg help_args[] = {
	{ .name = "COMMAND", .arity = CLI_OPTIONAL, .type = CLI_WORD,
	  .complete = CLI_C_CMDNAME },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_help = {
	.name = "help",
	.summary = "list the commands, or one's usage",
	.help = "Print the list of commands, or COMMAND's usage.\n",
	.args = help_args,
	.exec = cmd_help
};

/* ---- the man page's synopsis ---------------------------------------------- */

/* s in roff: '-' as "\-"; lower: in lower case (metavariables). */
static void
roff(const char *s, int lower)
{
	for (; *s != '\0'; s++) {
		if (*s == '-')
			fputs("\\-", stdout);
		else if (*s == '\\')
			fputs("\\e", stdout);
		else
			putchar(lower ? tolower((unsigned char)*s) : *s);
	}
}

static void
man_arg(const struct cli_arg *g)
{
	const char *const	*c;
	const char		*colon;
	int			 i = 0;

	switch (g->type) {
	case CLI_ENUM:
		fputs(".BR ", stdout);
		for (c = g->choices; *c != NULL; c++) {
			if (c != g->choices)
				fputs(" | ", stdout);
			roff(*c, 0);
		}
		putchar('\n');
		return;
	case CLI_JSON:
		fputs(".IR ", stdout);
		roff(g->name, 1);
		fputs(" | \\-\n", stdout);
		return;
	case CLI_FUNCTION:
		colon = strchr(g->name, ':');
		fputs(".IB ", stdout);
		while (g->name + i < colon)
			putchar(tolower((unsigned char)g->name[i++]));
		fputs(" : ", stdout);
		roff(colon + 1, 1);
		putchar('\n');
		return;
	default:
		break;
	}
	fputs(g->arity == CLI_OPTIONAL || g->arity == CLI_REST_OPTIONAL ?
	    ".RI [ " : ".I ", stdout);
	roff(g->name, 1);
	if (g->arity == CLI_REST_OPTIONAL)
		fputs(" ...]\n", stdout);
	else
		fputs(g->arity == CLI_OPTIONAL ? " ]\n" : "\n", stdout);
	if (g->arity == CLI_REST)
		fputs(".RI [ arg ...]\n", stdout);
}

static void
man_form(const struct cli_cmd *cmd, int dd)
{
	const struct cli_opt	*o;
	const struct cli_arg	*g, *args = dd ? cmd->dd_args : cmd->args;

	printf(".B isoctl %s\n", cmd->name);
	for (o = cmd->opts; o != NULL && o->name != NULL; o++) {
		if ((o->dd_only && !dd) || (o->no_dd && dd))
			continue;
		fputs(".RB [ \\-\\-", stdout);
		roff(o->name, 0);
		if (o->type == CLI_FLAG)
			fputs(" ]\n", stdout);
		else {
			fputs("\n.IR ", stdout);
			roff(o->meta, 1);
			fputs(" ]\n", stdout);
		}
	}
	for (g = args; g != NULL && g->name != NULL; g++) {
		if (g == args && dd)
			fputs(".B \\-\\-\n", stdout);
		else if (g->arity >= CLI_REST)
			fputs(".RB [ \\-\\- ]\n", stdout);
		man_arg(g);
	}
}

static int
cmd_man_synopsis(const struct cli_cmd *self, struct cli_args *a)
{
	const struct cli_cmd *const	*c;

	(void)self;
	(void)a;
	fputs(".B isoctl\n.RB [ \\-\\-help | \\-\\-version ]\n.I command\n"
	    ".RI [ arg ...]\n", stdout);
	for (c = cli_cmds; *c != NULL; c++) {
		if ((*c)->hidden)
			continue;
		fputs(c == cli_cmds ? ".PP\n" : ".br\n", stdout);
		man_form(*c, 0);
		if ((*c)->dd_args != NULL) {
			fputs(".br\n", stdout);
			man_form(*c, 1);
		}
	}
	return (CLI_OK);
}

const struct cli_cmd cli_cmd_man_synopsis = {
	.name = "__man-synopsis",
	.summary = "the man page's SYNOPSIS, in roff",
	.help = "Print isoctl(1)'s SYNOPSIS section, from the command table.\n",
	.hidden = 1,
	.exec = cmd_man_synopsis
};
