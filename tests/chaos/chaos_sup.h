/*
 * chaos_sup.h: what a chaos program needs around a private supervisor:
 * a runtime directory of its own, cleaned up however the program ends,
 * and the figures of a process (CPU, descriptors, address space).
 * Included by one program each (static functions).
 */
#ifndef ISO_CHAOS_SUP_H
#define ISO_CHAOS_SUP_H

#include <sys/resource.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

static const char	*rt;		/* the runtime directory */

/* 1 if pid carries our runtime directory in its environment. */
static __attribute__((unused)) int
chaos_ours(pid_t pid)
{
	char	 want[128], path[64], env[1 << 16];
	FILE	*f;
	size_t	 n, i;

	snprintf(want, sizeof want, "ISO_RUNTIME_DIR=%s", rt);
	snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	n = fread(env, 1, sizeof env - 1, f);
	fclose(f);
	env[n] = '\0';
	for (i = 0; i < n; i += strlen(env + i) + 1)
		if (strcmp(env + i, want) == 0)
			return (1);
	return (0);
}

/* Kill whatever carries our runtime directory (a supervisor a failure
   left, its shepherds, their commands). */
static __attribute__((unused)) void
chaos_kill_ours(void)
{
	struct dirent	*e;
	DIR		*d;
	pid_t		 pid;

	if ((d = opendir("/proc")) == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if ((pid = (pid_t)atoi(e->d_name)) > 0 && pid != getpid() &&
		    chaos_ours(pid))
			kill(pid, SIGKILL);
	closedir(d);
}

static __attribute__((unused)) void
chaos_finish(void)
{
	(void)iso_sup_stop();
	chaos_kill_ours();
}

/*
 * However this program ends (a timeout's SIGTERM included), a child of
 * its own cleans up: it waits for the end of a pipe only we hold.
 */
static __attribute__((unused)) void
chaos_watchdog(void)
{
	char	cmd[4200], c;
	int	p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return;
	switch (fork()) {
	case -1:
		close(p[0]);
		close(p[1]);
		return;
	case 0:
		/* timeout(1) signals the whole group: outlive that */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		close(p[1]);
		while (read(p[0], &c, 1) == -1 && errno == EINTR)
			;
		chaos_kill_ours();
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", rt);
		_exit(system(cmd) == 0 ? 0 : 1);
	}
	close(p[0]);		/* p[1] stays open until we end */
}

static __attribute__((unused)) pid_t
chaos_sup_pid(void)
{
	char	 path[4096], buf[32] = "";
	FILE	*f;

	snprintf(path, sizeof path, "%s/supervisor.lock", rt);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	if (fgets(buf, sizeof buf, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	return ((pid_t)atoi(buf));
}

/* CPU time of pid so far, in ms. */
static __attribute__((unused)) double
chaos_cpu_ms(pid_t pid)
{
	char		 path[64], buf[1024], *p;
	unsigned long	 ut = 0, st = 0;
	FILE		*f;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	if (fgets(buf, sizeof buf, f) == NULL || (p = strrchr(buf, ')')) ==
	    NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
	    "%*u %lu %lu", &ut, &st) != 2)
		ut = st = 0;
	fclose(f);
	return ((double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK));
}

static __attribute__((unused)) int
chaos_fds(pid_t pid)
{
	char		 path[64];
	struct dirent	*e;
	DIR		*d;
	int		 n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return (n);
}

/* Address space of pid, in bytes; *resident, what of it is in memory. */
static __attribute__((unused)) size_t
chaos_vm(pid_t pid, size_t *resident)
{
	char		 path[64];
	unsigned long	 pages = 0, rss = 0;
	FILE		*f;

	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%lu %lu", &pages, &rss) != 2)
			pages = rss = 0;
		fclose(f);
	}
	*resident = (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
	return ((size_t)pages * (size_t)sysconf(_SC_PAGESIZE));
}

/*
 * A private runtime directory; the supervisor the library starts on
 * demand is $build/isolated; at exit (and, through a watchdog, at any
 * end) it is stopped and whatever carries the directory is killed. The
 * descriptor limit is raised to the hard one; no SIGPIPE.
 */
static __attribute__((unused)) void
chaos_sup_init(const char *build)
{
	struct rlimit	rl;
	char		path[4096];

	rt = tu_runtime_dir();
	snprintf(path, sizeof path, "%s/isolated", build);
	setenv("ISO_ISOLATED", path, 1);
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	atexit(chaos_finish);
	chaos_watchdog();
}

#endif
