/*
 * parse.c: a command line read against a command's entry (cli.h).
 *
 * Options may come before or after the operands, long (--name VALUE,
 * --name=VALUE, a unique prefix of the name) or short (-n VALUE, -nVALUE,
 * -gj); "--" ends them, and selects the command's "--" form when it has
 * one and no operand came before. A word that starts an argument of
 * arity CLI_REST ends them too: the rest is a command line. "-" and
 * negative numbers are operands. Every value is checked and converted
 * here, so a command's exec sees only good ones.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int
cli_is_option(const char *w)
{
	if (w[0] != '-' || w[1] == '\0')
		return (0);
	/* -5, -1.5: a number (no command has a digit for an option). */
	return (!isdigit((unsigned char)w[1]) &&
	    !(w[1] == '.' && isdigit((unsigned char)w[2])));
}

const struct cli_opt *
cli_opt_find(const struct cli_cmd *cmd, const char *name, size_t len,
    char letter)
{
	const struct cli_opt	*o, *found = NULL;
	int			 n = 0;

	for (o = cmd->opts; o != NULL && o->name != NULL; o++) {
		if (letter != 0) {
			if (o->letter == letter)
				return (o);
			continue;
		}
		if (strncmp(o->name, name, len) != 0)
			continue;
		if (o->name[len] == '\0')
			return (o);		/* exact */
		found = o;
		n++;
	}
	return (n == 1 ? found : NULL);
}

int
cli_opt_index(const struct cli_cmd *cmd, const char *name)
{
	int	i;

	for (i = 0; cmd->opts != NULL && cmd->opts[i].name != NULL; i++)
		if (strcmp(cmd->opts[i].name, name) == 0)
			return (i);
	abort();			/* an option not in the table: a bug */
}

int
cli_has(const struct cli_args *a, const char *name)
{
	return (a->opt[cli_opt_index(a->cmd, name)].set);
}

const char *
cli_str(const struct cli_args *a, const char *name)
{
	return (a->opt[cli_opt_index(a->cmd, name)].text);
}

long long
cli_num(const struct cli_args *a, const char *name)
{
	return (a->opt[cli_opt_index(a->cmd, name)].num);
}

iso_msg *
cli_json(const struct cli_args *a, const char *name)
{
	return (a->opt[cli_opt_index(a->cmd, name)].json);
}

void
cli_args_free(struct cli_args *a)
{
	int	i;

	for (i = 0; i < CLI_MAXOPTS; i++) {
		iso_msg_free(a->opt[i].json);
		a->opt[i].json = NULL;
	}
	for (i = 0; i < CLI_MAXARGS; i++) {
		iso_msg_free(a->json[i]);
		a->json[i] = NULL;
	}
}

const struct cli_arg *
cli_arg_at(const struct cli_arg *args, int k)
{
	int	i;

	for (i = 0; args != NULL && args[i].name != NULL; i++) {
		if (i == k || args[i].arity >= CLI_REST)
			return (&args[i]);
	}
	return (NULL);
}

/* ", " between choices, for what a value must be. */
static void
join(char *buf, size_t size, const char *const *choices, const char *sep)
{
	size_t	len = 0;

	buf[0] = '\0';
	for (; choices != NULL && *choices != NULL; choices++) {
		len += (size_t)snprintf(buf + len, len < size ? size - len : 0,
		    "%s%s", len > 0 ? sep : "", *choices);
		if (len >= size)
			return;
	}
}

/*
 * Check text as a value of type for what ("--timeout", "TARGET") and
 * convert it into *v: 0, or -1 after a usage error.
 */
static int
convert(const struct cli_cmd *cmd, const char *what, enum cli_type type,
    const char *const *choices, long long min, long long max,
    const char *text, struct cli_val *v)
{
	const char *const	*c;
	const char		*colon;
	char			*end, list[256];
	long long		 n;

	v->text = text;
	switch (type) {
	case CLI_FLAG:
	case CLI_WORD:
		return (0);
	case CLI_STRING:
		if (*text == '\0') {
			cli_usage(cmd, "%s is empty: give a value", what);
			return (-1);
		}
		return (0);
	case CLI_TARGET:
		if (*text == '\0') {
			cli_usage(cmd, "empty %s", what);
			return (-1);
		}
		return (0);
	case CLI_INT:
		errno = 0;
		n = strtoll(text, &end, 10);
		if (errno != 0 || end == text || *end != '\0' || n < min ||
		    n > max) {
			cli_usage(cmd, "%s '%s' is not an integer from %lld to "
			    "%lld", what, text, min, max);
			return (-1);
		}
		v->num = n;
		return (0);
	case CLI_SECONDS:
		if (cli_seconds(text, &v->num) == -1) {
			cli_usage(cmd, "%s '%s' is not a number of seconds (a "
			    "decimal >= 0, such as 1.5)", what, text);
			return (-1);
		}
		return (0);
	case CLI_ENUM:
		for (c = choices; *c != NULL; c++)
			if (strcmp(*c, text) == 0) {
				v->num = c - choices;
				return (0);
			}
		join(list, sizeof list, choices, ", ");
		cli_usage(cmd, "%s '%s' is not one of %s", what, text, list);
		return (-1);
	case CLI_FUNCTION:
		if ((colon = strrchr(text, ':')) == NULL || colon == text ||
		    colon[1] == '\0') {
			cli_usage(cmd, "%s is not MODULE.so:FUNCTION", text);
			return (-1);
		}
		return (0);
	case CLI_JSON:
		if ((v->json = cli_json_arg(cmd, text)) == NULL)
			return (-1);
		return (0);
	}
	abort();
}

/* Set option o from its value text (NULL for a flag). */
static int
set_opt(const struct cli_cmd *cmd, struct cli_args *a,
    const struct cli_opt *o, const char *text)
{
	struct cli_val	*v = &a->opt[o - cmd->opts];
	char		 what[64];

	snprintf(what, sizeof what, "--%s", o->name);
	iso_msg_free(v->json);
	v->json = NULL;
	v->set = 1;
	if (o->type == CLI_FLAG)
		return (0);
	return (convert(cmd, what, o->type, o->choices, o->min, o->max,
	    text, v));
}

/* Whether word is --help or -h (for a command that has no -h). */
static int
is_help(const struct cli_cmd *cmd, const char *word)
{
	if (strcmp(word, "-h") == 0)
		return (cli_opt_find(cmd, NULL, 0, 'h') == NULL);
	return (strncmp(word, "--help", strlen(word) < 3 ? 3 :
	    strlen(word)) == 0 && cli_opt_find(cmd, word + 2,
	    strlen(word + 2), 0) == NULL);
}

/* A long option at argv[*i]: 0, or -1 after a usage error. */
static int
long_opt(const struct cli_cmd *cmd, struct cli_args *a, int argc,
    char **argv, int *i)
{
	const struct cli_opt	*o;
	const char		*w = argv[*i] + 2, *eq;
	size_t			 len;

	len = (eq = strchr(w, '=')) != NULL ? (size_t)(eq - w) : strlen(w);
	if ((o = cli_opt_find(cmd, w, len, 0)) == NULL) {
		cli_usage(cmd, "unknown option --%.*s", (int)len, w);
		return (-1);
	}
	if (o->type == CLI_FLAG) {
		if (eq != NULL) {
			cli_usage(cmd, "option --%s takes no value", o->name);
			return (-1);
		}
		return (set_opt(cmd, a, o, NULL));
	}
	if (eq != NULL)
		return (set_opt(cmd, a, o, eq + 1));
	if (*i + 1 == argc) {
		cli_usage(cmd, "option --%s needs a value (%s)", o->name,
		    o->meta);
		return (-1);
	}
	return (set_opt(cmd, a, o, argv[++*i]));
}

/* Short options at argv[*i] (-g, -gj, -t5, -t 5). */
static int
short_opts(const struct cli_cmd *cmd, struct cli_args *a, int argc,
    char **argv, int *i)
{
	const struct cli_opt	*o;
	const char		*p;

	for (p = argv[*i] + 1; *p != '\0'; p++) {
		if ((o = cli_opt_find(cmd, NULL, 0, *p)) == NULL) {
			cli_usage(cmd, "unknown option -%c", *p);
			return (-1);
		}
		if (o->type == CLI_FLAG) {
			if (set_opt(cmd, a, o, NULL) == -1)
				return (-1);
			continue;
		}
		if (p[1] != '\0')
			return (set_opt(cmd, a, o, p + 1));
		if (*i + 1 == argc) {
			cli_usage(cmd, "option -%c needs a value (%s)", *p,
			    o->meta);
			return (-1);
		}
		return (set_opt(cmd, a, o, argv[++*i]));
	}
	return (0);
}

/* Defaults of what was not given; the "--"-form-only options. */
static int
check_opts(const struct cli_cmd *cmd, struct cli_args *a)
{
	const struct cli_opt	*o;
	struct cli_val		*v;

	for (o = cmd->opts; o != NULL && o->name != NULL; o++) {
		v = &a->opt[o - cmd->opts];
		if (v->set && o->dd_only && !a->dashdash) {
			cli_usage(cmd, "--%s is for the form with -- (isoctl "
			    "%s [--%s %s] -- ...)", o->name, cmd->name,
			    o->name, o->meta);
			return (-1);
		}
		if (v->set && o->no_dd && a->dashdash) {
			cli_usage(cmd, "--%s is not for the form with -- "
			    "(isoctl %s [--%s%s%s] %s ...)", o->name, cmd->name,
			    o->name, o->meta != NULL ? " " : "",
			    o->meta != NULL ? o->meta : "",
			    cmd->args != NULL && cmd->args[0].name != NULL ?
			    cmd->args[0].name : "");
			return (-1);
		}
		if (!v->set && o->def != NULL &&
		    convert(cmd, o->name, o->type, o->choices, o->min, o->max,
		    o->def, v) == -1)
			abort();	/* a bad default: a bug */
	}
	return (0);
}

/* The operands: as many as the arguments want, each converted. */
static int
check_operands(const struct cli_cmd *cmd, struct cli_args *a)
{
	const struct cli_arg	*args = a->dashdash ? cmd->dd_args : cmd->args;
	const struct cli_arg	*g, *last = NULL;
	struct cli_val		 v;
	int			 k;

	for (k = 0; args != NULL && args[k].name != NULL; k++) {
		last = &args[k];
		if (args[k].arity == CLI_OPTIONAL ||
		    args[k].arity == CLI_REST_OPTIONAL || k < a->argc)
			continue;
		if (args[k].type == CLI_JSON)
			cli_usage(cmd, "missing %s (or - for standard input)",
			    args[k].name);
		else if (a->dashdash && k == 0)
			cli_usage(cmd, "missing %s after --", args[k].name);
		else
			cli_usage(cmd, "missing %s", args[k].name);
		return (-1);
	}
	if (a->argc > k && (last == NULL || last->arity < CLI_REST)) {
		cli_usage(cmd, "unexpected argument %s%s", a->argv[k],
		    last != NULL && last->type == CLI_JSON ?
		    " (quote the JSON as one argument)" : "");
		return (-1);
	}
	for (k = 0; k < a->argc; k++) {
		g = cli_arg_at(args, k);
		if (g->raw_with != NULL && cli_has(a, g->raw_with))
			continue;	/* text, as it is (send --text) */
		memset(&v, 0, sizeof v);
		if (convert(cmd, g->name, g->type, g->choices, 0, 0,
		    a->argv[k], &v) == -1)
			return (-1);
		if (k < CLI_MAXARGS)
			a->json[k] = v.json;
	}
	return (0);
}

int
cli_parse(const struct cli_cmd *cmd, int argc, char **argv,
    struct cli_args *a, int *status)
{
	const struct cli_arg	*args = cmd->args, *g;
	char			*w;
	int			 i, n = 0, rest = 0;

	memset(a, 0, sizeof *a);
	a->cmd = cmd;
	*status = CLI_USAGE;
	for (i = 0; cmd->opts != NULL && cmd->opts[i].name != NULL; i++)
		if (i == CLI_MAXOPTS)
			abort();	/* a table too long: a bug */
	/* Operands are moved down in argv, in order, as they come. */
	for (i = 1; i < argc; i++) {
		w = argv[i];
		if (!rest && strcmp(w, "--") == 0) {
			if (cmd->dd_args != NULL && n == 0) {
				a->dashdash = 1;
				args = cmd->dd_args;
			}
			rest = 1;
			continue;
		}
		if (rest || !cli_is_option(w)) {
			argv[1 + n++] = w;
			if ((g = cli_arg_at(args, n - 1)) != NULL &&
			    g->arity >= CLI_REST)
				rest = 1;
			continue;
		}
		if (is_help(cmd, w)) {
			*status = cli_help(cmd);
			goto fail;
		}
		if ((w[1] == '-' ? long_opt(cmd, a, argc, argv, &i) :
		    short_opts(cmd, a, argc, argv, &i)) == -1)
			goto fail;
	}
	argv[1 + n] = NULL;
	a->argc = n;
	a->argv = argv + 1;
	if (check_opts(cmd, a) == -1 || check_operands(cmd, a) == -1)
		goto fail;
	return (0);
fail:
	cli_args_free(a);
	return (-1);
}
