/*
 * log.c: the daemon's own log, one line an event on stderr (the journal
 * under systemd, the terminal with --foreground). Detached, stderr is
 * isolated.log in the state directory, rotated as a command's log is:
 * beyond --log-max bytes it becomes isolated.log.1 (replacing the older
 * one) and a fresh isolated.log is started, so the two stay bounded
 * while the daemon runs.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

static int	log_dfd = -1;	/* the state directory, once log_open'd */
static size_t	log_max;

/* Open a fresh or existing isolated.log as stderr. 0 or -1. */
static int
log_reopen(int truncate)
{
	int	fd, saved;

	fd = openat(log_dfd, LOG_FILE, O_WRONLY | O_CREAT | O_APPEND |
	    O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | (truncate ? O_TRUNC : 0), 0600);
	if (fd == -1)
		return (-1);
	if (fd != STDERR_FILENO && dup2(fd, STDERR_FILENO) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	if (fd != STDERR_FILENO)
		close(fd);
	return (0);
}

/* isolated.log has reached log_max: it becomes isolated.log.1. */
static void
log_rotate(void)
{
	struct stat	st;

	if (log_dfd == -1 || fstat(STDERR_FILENO, &st) == -1 ||
	    (size_t)st.st_size < log_max)
		return;
	if (renameat(log_dfd, LOG_FILE, log_dfd, LOG_FILE ".1") == -1 ||
	    log_reopen(1) == -1)
		return;		/* then it keeps growing: better than nothing */
}

int
log_open(int dfd, size_t max)
{
	log_dfd = dfd;
	log_max = max;
	if (log_reopen(0) == -1) {
		log_dfd = -1;
		return (-1);
	}
	log_rotate();
	return (0);
}

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
	log_rotate();
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
