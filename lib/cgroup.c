/*
 * cgroup.c: a cgroup v2 of its own per isolate, for the limits a cgroup
 * enforces better than setrlimit (memory.max counts resident memory, not
 * address space; pids.max binds root too), where this process's cgroup
 * is delegated to it. Found once a process: the cgroup2 mount
 * (/proc/self/mountinfo), our cgroup in it (/proc/self/cgroup's "0::"),
 * and the one whose children we may make: ours, or its parent when we
 * were moved into a leaf (cg_delegate). A v1/v2 hybrid whose unified
 * hierarchy holds no memory or pids controller has none: setrlimit alone.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "isolate.h"

#define LEAF	"supervisor"

static int		 known;		/* cg_usable has looked */
static unsigned		 usable;
/* Allocated when first needed: 12 KiB of .bss here would lie between
   the variables of loop.c and conn.c, which every new isolate writes,
   and put them on two pages instead of one. */
static struct cg_text {
	char		 base[PATH_MAX];	/* where we make cgroups */
	char		 why[2 * PATH_MAX];
}			*cgt;
static const char	 cg_nomem[] = "out of memory";

/* cgt, allocated. 0, or -1. */
static int
cg_text(void)
{
	if (cgt == NULL && (cgt = calloc(1, sizeof *cgt)) == NULL)
		return (-1);
	return (0);
}

/* src into dst, cut to len - 1 bytes. */
static void
cg_copy(char *dst, const char *src, size_t len)
{
	size_t	n = strlen(src);

	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The first line of path into buf (no newline). 0 or -1. */
static int
cg_read(const char *path, char *buf, size_t len)
{
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	while ((n = read(fd, buf, len - 1)) == -1 && errno == EINTR)
		;
	close(fd);
	if (n < 0)
		return (-1);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return (0);
}

/* Write text to path. 0 or -1 with errno. Async-signal-safe. */
static int
cg_write(const char *path, const char *text)
{
	ssize_t	n;
	int	fd, saved;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return (-1);
	while ((n = write(fd, text, strlen(text))) == -1 && errno == EINTR)
		;
	saved = errno;
	close(fd);
	errno = saved;
	return (n == -1 ? -1 : 0);
}

/* Our cgroup's directory in dir. 0, or -1 with why_text. */
static int
cg_self(char *dir, size_t len)
{
	char	 line[PATH_MAX + 512], rel[PATH_MAX], mnt[PATH_MAX], *sep;
	FILE	*f;
	int	 found = 0;

	rel[0] = mnt[0] = '\0';
	if ((f = fopen("/proc/self/cgroup", "re")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL)
			if (strncmp(line, "0::", 3) == 0) {
				line[strcspn(line, "\n")] = '\0';
				cg_copy(rel, line + 3, sizeof rel);
				found = 1;
			}
		fclose(f);
	}
	if (!found) {
		snprintf(cgt->why, sizeof cgt->why, "this process is in no "
		    "cgroup v2 hierarchy");
		return (-1);
	}
	if ((f = fopen("/proc/self/mountinfo", "re")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL) {
			/* id parent maj:min root MOUNT opts... - TYPE ... */
			if ((sep = strstr(line, " - cgroup2 ")) == NULL)
				continue;
			*sep = '\0';
			if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1)
				break;
			mnt[0] = '\0';
		}
		fclose(f);
	}
	if (mnt[0] == '\0') {
		snprintf(cgt->why, sizeof cgt->why, "no cgroup v2 hierarchy is "
		    "mounted");
		return (-1);
	}
	if ((size_t)snprintf(dir, len, "%s%s", mnt, strcmp(rel, "/") == 0 ?
	    "" : rel) >= len) {
		snprintf(cgt->why, sizeof cgt->why, "the cgroup path is too "
		    "long");
		return (-1);
	}
	return (0);
}

/* The limits dir's children can take: its cgroup.subtree_control. */
static unsigned
cg_given(const char *dir)
{
	char		 path[PATH_MAX + 32], buf[512], *w, *save;
	unsigned	 set = 0;

	snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
	if (cg_read(path, buf, sizeof buf) == -1)
		return (0);
	for (w = strtok_r(buf, " ", &save); w != NULL;
	    w = strtok_r(NULL, " ", &save)) {
		if (strcmp(w, "memory") == 0)
			set |= 1u << ISO_RLIMIT_MEMORY;
		else if (strcmp(w, "pids") == 0)
			set |= 1u << ISO_RLIMIT_NPROC;
	}
	return (set);
}

/* Our cgroup, or its parent, if it gives controllers and we may write
   there: base and usable set. */
static void
cg_look(void)
{
	char	dir[PATH_MAX], path[PATH_MAX + 32], buf[256], *slash;

	known = 1;
	usable = 0;
	if (cg_text() == -1 || cg_self(dir, sizeof dir) == -1)
		return;
	if (cg_given(dir) != 0 && access(dir, W_OK) == 0) {
		cg_copy(cgt->base, dir, sizeof cgt->base);
		usable = cg_given(dir);
		return;
	}
	/* In cg_delegate's leaf: its parent is ours to use. */
	cg_copy(path, dir, sizeof path);
	if ((slash = strrchr(path, '/')) != NULL && slash != path &&
	    strcmp(slash + 1, LEAF) == 0) {
		*slash = '\0';
		if (cg_given(path) != 0 && access(path, W_OK) == 0) {
			cg_copy(cgt->base, path, sizeof cgt->base);
			usable = cg_given(path);
			return;
		}
	}
	snprintf(path, sizeof path, "%s/cgroup.controllers", dir);
	if (cg_read(path, buf, sizeof buf) == -1 ||
	    (strstr(buf, "memory") == NULL && strstr(buf, "pids") == NULL))
		snprintf(cgt->why, sizeof cgt->why, "the cgroup v2 at %s has "
		    "no memory or pids controller (controllers: %s)", dir,
		    buf[0] != '\0' ? buf : "none");
	else if (access(dir, W_OK) == -1)
		snprintf(cgt->why, sizeof cgt->why, "the cgroup v2 at %s is "
		    "not delegated to this user (not writable)", dir);
	else
		snprintf(cgt->why, sizeof cgt->why, "the cgroup v2 at %s does "
		    "not give its controllers to its children "
		    "(cgroup.subtree_control)", dir);
}

unsigned
cg_usable(const char **why)
{
	if (!known)
		cg_look();
	if (why != NULL)
		*why = usable != 0 ? NULL : cgt != NULL ? cgt->why : cg_nomem;
	return (usable);
}

/* 1 if the cgroup.procs at path lists a process other than us. */
static int
cg_others(const char *path)
{
	char	 line[64];
	FILE	*f;
	int	 others = 0;

	if ((f = fopen(path, "re")) == NULL)
		return (1);
	while (fgets(line, sizeof line, f) != NULL)
		if (strtol(line, NULL, 10) != (long)getpid())
			others = 1;
	fclose(f);
	return (others);
}

int
cg_delegate(const char **why)
{
	char	dir[PATH_MAX], leaf[PATH_MAX + 64], ctl[PATH_MAX + 32];
	char	buf[512], want[32];

	if (cg_usable(why) != 0)
		return (0);
	if (cgt == NULL)
		return (-1);	/* cg_usable said why */
	if (cg_self(dir, sizeof dir) == -1)
		goto fail;
	snprintf(ctl, sizeof ctl, "%s/cgroup.controllers", dir);
	want[0] = '\0';
	if (cg_read(ctl, buf, sizeof buf) == 0) {
		if (strstr(buf, "memory") != NULL)
			strcat(want, "+memory ");
		if (strstr(buf, "pids") != NULL)
			strcat(want, "+pids");
	}
	if (want[0] == '\0' || access(dir, W_OK) == -1)
		goto fail;	/* cg_look said why */
	/* Only a cgroup of our own: others' processes are not ours to move
	   (and would keep its controllers from its children). */
	snprintf(ctl, sizeof ctl, "%s/cgroup.procs", dir);
	if (cg_read(ctl, buf, sizeof buf) == -1 ||
	    strtol(buf, NULL, 10) != (long)getpid() || cg_others(ctl)) {
		snprintf(cgt->why, sizeof cgt->why, "the cgroup v2 at %s holds "
		    "other processes: not moved", dir);
		goto fail;
	}
	/* No process may stay in a cgroup that gives controllers away. */
	snprintf(leaf, sizeof leaf, "%s/" LEAF, dir);
	if ((mkdir(leaf, 0755) == -1 && errno != EEXIST)) {
		snprintf(cgt->why, sizeof cgt->why, "cannot make %s: %s", leaf,
		    strerror(errno));
		goto fail;
	}
	snprintf(leaf, sizeof leaf, "%s/" LEAF "/cgroup.procs", dir);
	snprintf(ctl, sizeof ctl, "%s/cgroup.subtree_control", dir);
	if (cg_write(leaf, "0") == -1 || cg_write(ctl, want) == -1) {
		snprintf(cgt->why, sizeof cgt->why, "cannot give %s's "
		    "controllers to its children: %s", dir, strerror(errno));
		goto fail;
	}
	cg_look();
	if (usable != 0)
		return (0);
fail:
	if (why != NULL)
		*why = cgt->why;
	return (-1);
}

int
cg_path(uint64_t id, char *path, size_t len)
{
	if (!known)
		cg_look();
	if (usable == 0) {
		errno = ENOTSUP;
		return (-1);
	}
	if ((size_t)snprintf(path, len, "%s/isolate-%016" PRIx64, cgt->base, id) >=
	    len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

int
cg_make(uint64_t id, unsigned set, const uint64_t limit[], char *path,
    size_t len)
{
	char	file[PATH_MAX + 64], num[32];
	int	saved;

	if (cg_path(id, path, len) == -1)
		return (-1);
	if ((set &= usable) == 0) {
		errno = ENOTSUP;
		return (-1);
	}
	if (mkdir(path, 0755) == -1)
		return (-1);
	if (set & (1u << ISO_RLIMIT_MEMORY)) {
		snprintf(num, sizeof num, "%" PRIu64, limit[ISO_RLIMIT_MEMORY]);
		snprintf(file, sizeof file, "%s/memory.max", path);
		if (cg_write(file, num) == -1)
			goto fail;
		/* not around the limit through swap */
		snprintf(file, sizeof file, "%s/memory.swap.max", path);
		(void)cg_write(file, "0");
	}
	if (set & (1u << ISO_RLIMIT_NPROC)) {
		snprintf(num, sizeof num, "%" PRIu64, limit[ISO_RLIMIT_NPROC]);
		snprintf(file, sizeof file, "%s/pids.max", path);
		if (cg_write(file, num) == -1)
			goto fail;
	}
	return (0);
fail:
	saved = errno;
	(void)rmdir(path);
	errno = saved;
	return (-1);
}

int
cg_enter(const char *path)
{
	char	file[PATH_MAX + 32];
	size_t	n = strlen(path);

	if (n + sizeof "/cgroup.procs" > sizeof file) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(file, path, n);
	memcpy(file + n, "/cgroup.procs", sizeof "/cgroup.procs");
	return (cg_write(file, "0"));	/* "0": the writer */
}

int
cg_oom_killed(const char *path)
{
	char		 file[PATH_MAX + 32], buf[512], *p;
	long long	 n;
	ssize_t		 r;
	int		 fd;

	snprintf(file, sizeof file, "%s/memory.events", path);
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	r = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (r <= 0)
		return (0);
	buf[r] = '\0';
	if ((p = strstr(buf, "oom_kill ")) == NULL)
		return (0);
	n = strtoll(p + 9, NULL, 10);
	return (n > 0);
}

void
cg_remove(const char *path)
{
	char	file[PATH_MAX + 32];

	if (rmdir(path) == 0 || errno != EBUSY)
		return;
	/* What it left behind (a daemon it forked) goes with it. */
	snprintf(file, sizeof file, "%s/cgroup.kill", path);
	(void)cg_write(file, "1");
	(void)rmdir(path);
}
