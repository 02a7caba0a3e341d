/*
 * testutil.c: helpers shared by the Check suites.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rtdir.h"
#include "isolate.h"
#include "testutil.h"

static char	tu_dir[64];
static pid_t	tu_owner;

static void
tu_cleanup(void)
{
	char	cmd[128];

	if (getpid() != tu_owner || tu_dir[0] == '\0')
		return;
	/* A test that failed before its teardown may have left a supervisor
	   running in our directory: stop it (never start one to do so). */
	iso_sup_autostart(0);
	(void)iso_sup_stop();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tu_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "testutil: cannot remove %s\n", tu_dir);
}

void
tu_use_built_isolated(const char *argv0)
{
	char	path[4096], *slash;

	if (realpath(argv0, path) != NULL &&
	    (slash = strrchr(path, '/')) != NULL) {
		snprintf(slash, sizeof path - (size_t)(slash - path),
		    "/../isolated");
		setenv("ISO_ISOLATED", path, 0);
	}
}

const char *
tu_runtime_dir(void)
{
	if (tu_dir[0] != '\0')
		return (tu_dir);
	snprintf(tu_dir, sizeof tu_dir, "/tmp/iso-test-XXXXXX");
	if (mkdtemp(tu_dir) == NULL || chmod(tu_dir, 0700) == -1) {
		perror("testutil: mkdtemp");
		exit(1);
	}
	setenv("ISO_RUNTIME_DIR", tu_dir, 1);
	tu_owner = getpid();
	atexit(tu_cleanup);
	return (tu_dir);
}

static int
tu_count(const char *path)
{
	struct dirent	*e;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return (n);
}

int
tu_fd_count(void)
{
	return (tu_count("/proc/self/fd") - 1);	/* opendir's own */
}

int
tu_rtdir_entries(void)
{
	return (tu_count(tu_runtime_dir()));
}

socklen_t
tu_iso_addr(uint64_t id, struct sockaddr_un *sun)
{
	socklen_t	len;

	if (rtdir_id_addr(id, sun, &len) == -1) {
		fprintf(stderr, "testutil: no runtime directory\n");
		abort();
	}
	return (len);
}

int
tu_iso_connect(uint64_t id)
{
	struct sockaddr_un	sun;
	socklen_t		len = tu_iso_addr(id, &sun);
	int			fd, saved;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, len) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

int
tu_iso_bound(uint64_t id)
{
	struct sockaddr_un	 sun;
	socklen_t		 len = tu_iso_addr(id, &sun);
	char			 want[128], line[512];
	size_t			 n;
	FILE			*f;
	int			 found = 0;

	n = len - offsetof(struct sockaddr_un, sun_path) - 1;
	snprintf(want, sizeof want, " @%.*s\n", (int)n, sun.sun_path + 1);
	if ((f = fopen("/proc/net/unix", "re")) == NULL)
		return (-1);
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = strlen(line) > strlen(want) && strcmp(line +
		    strlen(line) - strlen(want), want) == 0;
	fclose(f);
	return (found);
}

int
tu_alive(pid_t pid)
{
	char	path[64], buf[256], *p;
	FILE	*f;
	int	 alive = 0;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	if (fgets(buf, sizeof buf, f) != NULL && (p = strrchr(buf, ')'))
	    != NULL)
		alive = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return (alive);
}

int
tu_gone_within(pid_t pid, int ms)
{
	char	path[64];

	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	for (; ms > 0; ms -= 5) {
		if (access(path, F_OK) == -1 && errno == ENOENT)
			return (1);
		tu_sleep_ms(5);
	}
	return (access(path, F_OK) == -1);
}

void
tu_sleep_ms(int ms)
{
	struct timespec	ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
tu_children(void)
{
	char	path[64], buf[4096], *tok;
	FILE	*f;
	int	n = 0;

	snprintf(path, sizeof path, "/proc/self/task/%d/children",
	    (int)getpid());
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	if (fgets(buf, sizeof buf, f) != NULL)
		for (tok = strtok(buf, " \n"); tok != NULL;
		    tok = strtok(NULL, " \n"))
			n++;
	fclose(f);
	return (n);
}
