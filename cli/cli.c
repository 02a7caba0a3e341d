/*
 * cli.c: what isoctl's commands share: error lines, seconds, JSON in
 * and out, signal names.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* "isoctl: NAME: " then fmt, on stderr, without the newline. */
static void
vwarn(const struct cli_cmd *cmd, const char *fmt, va_list ap)
{
	fputs("isoctl: ", stderr);
	if (cmd != NULL && cmd->name != NULL)
		fprintf(stderr, "%s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
}

void
cli_warn(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vwarn(cmd, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A usage error: one line, and where to look. */
int
cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vwarn(cmd, fmt, ap);
	va_end(ap);
	if (cmd != NULL && cmd->name != NULL)
		fprintf(stderr, " (see isoctl %s --help)\n", cmd->name);
	else
		fputs(" (see isoctl --help)\n", stderr);
	return (CLI_USAGE);
}

/* A failed call: what was tried, then the library's reason. */
int
cli_fail(const struct cli_cmd *cmd, const char *fmt, ...)
{
	const char	*why = iso_error();
	int		 e = errno;
	va_list		 ap;

	va_start(ap, fmt);
	vwarn(cmd, fmt, ap);
	va_end(ap);
	if (why == NULL || *why == '\0')
		why = strerror(e);
	fprintf(stderr, ": %s\n", why);
	return (CLI_FAIL);
}

int
cli_seconds(const char *text, long long *ms)
{
	char	*end;
	double	 s;

	errno = 0;
	s = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !isfinite(s) ||
	    s < 0 || s * 1000 > INT_MAX)
		return (-1);
	*ms = (long long)(s * 1000 + 0.5);
	return (0);
}

/* All of stdin, NUL-terminated, owned; NULL with errno. */
static char *
read_stdin(void)
{
	char	*buf = NULL, *nbuf;
	size_t	 len = 0, size = 0, n;

	for (;;) {
		if (size - len < 4096) {
			size = size == 0 ? 8192 : size * 2;
			if ((nbuf = realloc(buf, size)) == NULL) {
				free(buf);
				return (NULL);
			}
			buf = nbuf;
		}
		n = fread(buf + len, 1, size - len - 1, stdin);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(stdin)) {
		free(buf);
		return (NULL);
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		free(buf);
		errno = EINVAL;
		return (NULL);
	}
	return (buf);
}

iso_msg *
cli_json_arg(const struct cli_cmd *cmd, const char *text)
{
	iso_msg	*m;
	char	*in = NULL;

	if (strcmp(text, "-") == 0) {
		if ((in = read_stdin()) == NULL) {
			cli_warn(cmd, "bad JSON: cannot read standard input: "
			    "%s", strerror(errno));
			return (NULL);
		}
		text = in;
	}
	if ((m = iso_msg_from_json(text)) == NULL)
		cli_warn(cmd, "bad JSON: %s", *iso_error() != '\0' ?
		    iso_error() : strerror(errno));
	free(in);
	return (m);
}

int
cli_print_json(const struct cli_cmd *cmd, const iso_msg *m)
{
	char	*s;

	if ((s = iso_msg_to_json(m)) == NULL) {
		cli_fail(cmd, "cannot print the result");
		return (-1);
	}
	puts(s);
	free(s);
	return (0);
}

const char *
cli_signame(int sig, char buf[16])
{
	const char	*abbrev;

#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
	if ((abbrev = sigabbrev_np(sig)) != NULL) {
		snprintf(buf, 16, "SIG%s", abbrev);
		return (buf);
	}
#else
	(void)abbrev;
#endif
	snprintf(buf, 16, "SIG%d", sig);
	return (buf);
}
