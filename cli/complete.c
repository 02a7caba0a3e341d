/*
 * complete.c: shell completion from the command table.
 *
 * `isoctl completion bash|zsh` prints a small script whose function asks
 * isoctl itself, `isoctl __complete -- WORD...` (the words after
 * "isoctl", the last the one being completed), what may come next. Its
 * answer's first line says how to complete: "words" (the lines after
 * it, each "WORD<tab>DESCRIPTION"), "commands" (a command in PATH),
 * "files", "module" (a file, no space after: MODULE.so:FUNCTION) or
 * "argsof N" (the words from the shell's word N on are a command line of
 * their own). Targets are the ids and names of the supervisor that runs;
 * completing never starts one (iso_sup_autostart).
 */
#include <string.h>

#include "cli.h"

/* One candidate, prefix then word, if it starts with cur. */
static void
cand(const char *cur, const char *prefix, const char *word, const char *desc)
{
	char	full[512];

	if (word == NULL || strpbrk(word, "\t\n") != NULL)
		return;
	snprintf(full, sizeof full, "%s%s", prefix, word);
	if (strncmp(full, cur, strlen(cur)) != 0)
		return;
	printf("%s\t%s\n", full, desc != NULL ? desc : "");
}

/* The running supervisor's ids and names. */
static void
targets(const char *cur, const char *prefix)
{
	const iso_msg	*row, *v;
	const char	*name, *state;
	iso_msg		*list;
	size_t		 i;

	if (iso_sup_list(&list) == -1)
		return;
	for (i = 0; i < iso_msg_len(list); i++) {
		row = iso_msg_at(list, i);
		v = iso_msg_get(row, "name");
		name = v != NULL ? iso_msg_str(v, NULL) : NULL;
		v = iso_msg_get(row, "state");
		state = v != NULL ? iso_msg_str(v, NULL) : NULL;
		v = iso_msg_get(row, "id");
		cand(cur, prefix, v != NULL ? iso_msg_str(v, NULL) : NULL,
		    name != NULL ? name : state);
		cand(cur, prefix, name, state);
	}
	iso_msg_free(list);
}

/* The registered port names. */
static void
port_names(const char *cur)
{
	iso_msg	*names;
	size_t	 i;

	if (iso_sup_names(&names) == -1)
		return;
	for (i = 0; i < iso_msg_len(names); i++)
		cand(cur, "", iso_msg_str(iso_msg_key_at(names, i), NULL),
		    "registered port");
	iso_msg_free(names);
}

/* Complete by kind (an option's value or an argument). */
static void
complete_kind(enum cli_complete kind, const char *const *choices,
    const char *cur, const char *prefix)
{
	const struct cli_cmd *const	*c;

	switch (kind) {
	case CLI_C_COMMAND:
		puts("commands");
		return;
	case CLI_C_FILE:
		puts("files");
		return;
	case CLI_C_MODULE:
		puts("module");
		return;
	default:
		break;
	}
	puts("words");
	switch (kind) {
	case CLI_C_CHOICES:
		for (; choices != NULL && *choices != NULL; choices++)
			cand(cur, prefix, *choices, NULL);
		break;
	case CLI_C_PORTNAME:
		port_names(cur);
		/* FALLTHROUGH */
	case CLI_C_TARGET:
		targets(cur, prefix);
		break;
	case CLI_C_CMDNAME:
		for (c = cli_cmds; *c != NULL; c++)
			if (!(*c)->hidden)
				cand(cur, prefix, (*c)->name, (*c)->summary);
		break;
	default:
		break;
	}
}

/* The option word takes its value from the next word: that option. */
static const struct cli_opt *
wants_value(const struct cli_cmd *cmd, const char *w)
{
	const struct cli_opt	*o;

	if (w[1] == '-') {
		if (strchr(w, '=') != NULL ||
		    (o = cli_opt_find(cmd, w + 2, strlen(w + 2), 0)) == NULL)
			return (NULL);
		return (o->type == CLI_FLAG ? NULL : o);
	}
	for (w++; *w != '\0'; w++) {
		if ((o = cli_opt_find(cmd, NULL, 0, *w)) == NULL)
			return (NULL);
		if (o->type != CLI_FLAG)
			return (w[1] == '\0' ? o : NULL);
	}
	return (NULL);
}

/* Whether the last of args is a command line. */
static int
last_is_rest(const struct cli_arg *args)
{
	const struct cli_arg	*g;

	for (g = args; g != NULL && g->name != NULL; g++)
		if (g->arity >= CLI_REST)
			return (1);
	return (0);
}

/* Options of cmd that start with cur, or the value of --opt=cur. */
static void
complete_opts(const struct cli_cmd *cmd, const char *cur, int dd)
{
	const struct cli_opt	*o;
	const char		*eq;
	char			 prefix[128];

	if (strncmp(cur, "--", 2) == 0 && (eq = strchr(cur, '=')) != NULL) {
		o = cli_opt_find(cmd, cur + 2, (size_t)(eq - cur - 2), 0);
		if (o == NULL || o->type == CLI_FLAG || (size_t)(eq - cur) + 2 >
		    sizeof prefix) {
			puts("words");
			return;
		}
		snprintf(prefix, sizeof prefix, "%.*s", (int)(eq - cur + 1),
		    cur);
		complete_kind(o->complete, o->choices, cur, prefix);
		return;
	}
	puts("words");
	for (o = cmd->opts; o != NULL && o->name != NULL; o++)
		cand(cur, "--", o->name, o->help);
	cand(cur, "--", "help", "print the usage");
	if (!dd && (cmd->dd_args != NULL || last_is_rest(cmd->args)))
		cand(cur, "", "--", "the end of the options");
}

/*
 * Complete w[n - 1] for cmd, w[0..n - 2] the words before it; base is
 * the shell's index of w[0].
 */
static void
complete_cmd(const struct cli_cmd *cmd, char **w, int n, int base)
{
	const struct cli_arg	*args = cmd->args, *g;
	const struct cli_opt	*o, *pending = NULL;
	const char		*cur = w[n - 1];
	int			 k, nops = 0, rest = 0, dd = 0, cmdat = -1;

	for (k = 0; k < n - 1; k++) {
		if (pending != NULL) {
			pending = NULL;
			continue;
		}
		if (!rest && strcmp(w[k], "--") == 0) {
			if (cmd->dd_args != NULL && nops == 0) {
				args = cmd->dd_args;
				dd = 1;
			}
			rest = 1;
			continue;
		}
		if (!rest && cli_is_option(w[k])) {
			pending = wants_value(cmd, w[k]);
			continue;
		}
		if ((g = cli_arg_at(args, nops++)) != NULL &&
		    g->arity >= CLI_REST) {
			rest = 1;
			if (cmdat == -1)
				cmdat = k;
		}
	}
	if ((o = pending) != NULL) {
		complete_kind(o->complete, o->choices, cur, "");
		return;
	}
	if (cmdat != -1) {
		/* An argument of a command line. */
		if (cli_arg_at(args, 0)->complete == CLI_C_COMMAND)
			printf("argsof %d\n", base + cmdat);
		else
			puts("files");
		return;
	}
	if (!rest && (cli_is_option(cur) || strcmp(cur, "-") == 0)) {
		complete_opts(cmd, cur, dd);
		return;
	}
	if ((g = cli_arg_at(args, nops)) == NULL) {
		puts("words");
		return;
	}
	complete_kind(g->complete, g->choices, cur, "");
}

static int
cmd_complete(const struct cli_cmd *self, struct cli_args *a)
{
	const struct cli_cmd	*cmd;
	int			 i;

	(void)self;
	(void)iso_sup_autostart(0);
	if (a->argc == 0)
		return (CLI_OK);
	/* isoctl's own options, then the command. */
	for (i = 0; i < a->argc - 1 && cli_is_option(a->argv[i]); i++)
		;
	if (i == a->argc - 1)
		complete_cmd(&cli_root, a->argv, a->argc, 1);
	else if ((cmd = cli_find(a->argv[i])) != NULL && !cmd->hidden)
		complete_cmd(cmd, a->argv + i + 1, a->argc - i - 1, i + 2);
	else
		puts("words");
	return (CLI_OK);
}

static const struct cli_arg complete_args[] = {
	{ .name = "WORD", .arity = CLI_REST_OPTIONAL, .type = CLI_WORD },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_complete = {
	.name = "__complete",
	.summary = "what may come next on a command line",
	.help = "Print what completes the last WORD of \"isoctl WORD...\".\n",
	.args = complete_args,
	.hidden = 1,
	.exec = cmd_complete
};

/* ---- the scripts ------------------------------------------------------------ */

static const char bash_script[] =
"# bash completion for isoctl(1), as `isoctl completion bash` prints it.\n"
"# Every word is isoctl's own answer (isoctl __complete): its command\n"
"# table, and the ids and names of the supervisor that runs (completing\n"
"# never starts one).\n"
"_isoctl()\n"
"{\n"
"\tlocal IFS=$'\\n' cur raw kind w i j=0\n"
"\tlocal -a words=() at=() out=()\n"
"\t# The words as typed: bash splits --opt=value and MODULE.so:FUNCTION.\n"
"\tfor ((i = 1; i <= COMP_CWORD; i++)); do\n"
"\t\tw=${COMP_WORDS[i]}\n"
"\t\tif ((j > 0)) && [[ $w == [=:] || ${COMP_WORDS[i-1]} == [=:] ]]; then\n"
"\t\t\twords[j-1]+=$w\n"
"\t\telse\n"
"\t\t\twords[j]=$w\n"
"\t\t\tat[j]=$i\n"
"\t\t\tj=$((j + 1))\n"
"\t\tfi\n"
"\tdone\n"
"\tcur=${words[j-1]}\n"
"\traw=${COMP_WORDS[COMP_CWORD]}\n"
"\tmapfile -t out < <(\"${COMP_WORDS[0]}\" __complete -- \"${words[@]}\" 2>/dev/null)\n"
"\tkind=${out[0]-}\n"
"\tCOMPREPLY=()\n"
"\tcase $kind in\n"
"\twords)\n"
"\t\tfor w in \"${out[@]:1}\"; do\n"
"\t\t\tw=${w%%$'\\t'*}\n"
"\t\t\tCOMPREPLY+=(\"${w#\"${cur%\"$raw\"}\"}\")\n"
"\t\tdone ;;\n"
"\tcommands)\n"
"\t\tmapfile -t COMPREPLY < <(compgen -c -- \"$cur\") ;;\n"
"\tfiles|module)\n"
"\t\tcompopt -o filenames 2>/dev/null\n"
"\t\t[ \"$kind\" = module ] && compopt -o nospace 2>/dev/null\n"
"\t\tmapfile -t COMPREPLY < <(compgen -f -- \"$cur\") ;;\n"
"\t\"argsof \"*)\n"
"\t\tif declare -F _command_offset >/dev/null; then\n"
"\t\t\t_command_offset \"${at[${kind#argsof }-1]}\"\n"
"\t\telse\n"
"\t\t\tcompopt -o filenames 2>/dev/null\n"
"\t\t\tmapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
"\t\tfi ;;\n"
"\tesac\n"
"}\n"
"complete -F _isoctl isoctl\n";

static const char zsh_script[] =
"#compdef isoctl\n"
"# zsh completion for isoctl(1), as `isoctl completion zsh` prints it.\n"
"# Every word is isoctl's own answer (isoctl __complete): its command\n"
"# table, and the ids and names of the supervisor that runs (completing\n"
"# never starts one).\n"
"_isoctl() {\n"
"\tlocal kind line n\n"
"\tlocal -a out cands\n"
"\tout=(\"${(@f)$(${words[1]} __complete -- \"${(@)words[2,CURRENT]}\" 2>/dev/null)}\")\n"
"\tkind=$out[1]\n"
"\tcase $kind in\n"
"\twords)\n"
"\t\tfor line in \"${(@)out[2,-1]}\"; do\n"
"\t\t\t[[ -n $line ]] || continue\n"
"\t\t\tcands+=(\"${${line%%$'\\t'*}//:/\\\\:}:${line#*$'\\t'}\")\n"
"\t\tdone\n"
"\t\t_describe -t values isoctl cands ;;\n"
"\tcommands) _command_names -e ;;\n"
"\tfiles|module) _files ;;\n"
"\t'argsof '*)\n"
"\t\tn=${kind#argsof }\n"
"\t\tshift $n words\n"
"\t\t(( CURRENT -= n ))\n"
"\t\t_normal ;;\n"
"\tesac\n"
"}\n"
"_isoctl \"$@\"\n";

static int
cmd_completion(const struct cli_cmd *self, struct cli_args *a)
{
	(void)self;
	fputs(strcmp(a->argv[0], "bash") == 0 ? bash_script : zsh_script,
	    stdout);
	return (CLI_OK);
}

static const char *const shells[] = { "bash", "zsh", NULL };

static const struct cli_arg completion_args[] = {
	{ .name = "SHELL", .arity = CLI_REQUIRED, .type = CLI_ENUM,
	  .choices = shells, .complete = CLI_C_CHOICES },
	{ .name = NULL }
};

const struct cli_cmd cli_cmd_completion = {
	.name = "completion",
	.summary = "print the shell completion script",
	.help =
	    "Print the completion script for bash or zsh. make install puts\n"
	    "them where the shells look; by hand:\n"
	    "  source <(isoctl completion bash)\n",
	.args = completion_args,
	.exec = cmd_completion
};
