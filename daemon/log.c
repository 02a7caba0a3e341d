/*
 * log.c: the daemon's own log, one line an event on stderr (a file in the
 * state directory when it runs detached, the journal under systemd).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

static void
log_line(const char *level, const char *fmt, va_list ap)
{
	char		when[32];
	struct tm	tm;
	time_t		now = time(NULL);

	if (localtime_r(&now, &tm) == NULL ||
	    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		strcpy(when, "?");
	fprintf(stderr, "%s isolated: %s", when, level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	fflush(stderr);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_line("", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_line("warning: ", fmt, ap);
	va_end(ap);
}
