/*
 * error.c: the thread's last failure text, behind iso_error().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "msg.h"
#include "rlimit.h"

static __thread char	error_text[256];

const char *
iso_error(void)
{
	return (error_text);
}

int
msg_fail(int errnum, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(error_text, sizeof error_text, fmt, ap);
	va_end(ap);
	if (errnum == ENOMEM)
		rlimit_nomem();
	errno = errnum;
	return (-1);
}
