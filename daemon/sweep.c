/*
 * sweep.c: what is left in the runtime directory, and whether an
 * isolate's socket is there. Sockets named by an id are abstract
 * (rtdir.h): a dead isolate leaves nothing, and it is gone once a connect
 * to its name is refused. What can be left in the directory is a
 * temporary "X.<pid>.new" (the supervisor's socket's bind cut short),
 * stale once its pid is gone, or when it has been there a minute and
 * refuses connections; and "<16 hex>.sock" files an older version of the
 * library left, stale once a connect to one is refused. Nothing that is
 * not a socket of ours is removed, and nothing is followed.
 *
 * When: at start, and every minute.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "rtdir.h"

#define SWEEP_EVERY_S	60	/* a full sweep this often */
#define SWEEP_TMP_AGE_S	60	/* a .new this old with no pid is stale */

static struct event		*sweep_timer;
static int			 sweep_warned;	/* of a foreign entry, once */

/* 1 if nobody serves name: a connect to it is refused. */
static int
sweep_refused(const char *name)
{
	struct sockaddr_un	sun;
	int			fd, r;

	if (rtdir_addr(name, &sun) == -1 || (fd = socket(AF_UNIX,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	do
		r = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	while (r == -1 && errno == EINTR);
	close(fd);
	return (r == -1 && errno == ECONNREFUSED);
}

/* Remove name if it is still the file st described. 1 if removed. */
static int
sweep_remove(int dfd, const char *name, const struct stat *st)
{
	struct stat	now;

	if (fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) == -1 ||
	    now.st_dev != st->st_dev || now.st_ino != st->st_ino)
		return (0);
	return (unlinkat(dfd, name, 0) == 0);
}

/*
 * name in the runtime directory, an older library's socket or a
 * temporary bind (pid: its binder's, 0 when the name has none). 1 if it
 * was stale and is removed, 0 if not, -1 if it is not a socket of ours
 * (left alone, and said once in the log).
 */
static int
sweep_entry(int dfd, const char *name, pid_t pid, int tmp)
{
	struct stat	st;
	int		stale;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return (0);
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
		if (!sweep_warned++)
			log_warn("%s/%s is not a socket of ours: left alone; "
			    "remove it", iso_runtime_dir(), name);
		return (-1);
	}
	if (!tmp)
		stale = sweep_refused(name);
	else if (pid > 0 && kill(pid, 0) == -1 && errno == ESRCH)
		stale = 1;
	else
		stale = time(NULL) - st.st_mtime > SWEEP_TMP_AGE_S &&
		    sweep_refused(name);
	return (stale ? sweep_remove(dfd, name, &st) : 0);
}

int
sock_alive(uint64_t id)
{
	int	fd, r, alive;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return (1);
	do
		r = rtdir_id_connect(fd, id);
	while (r == -1 && errno == EINTR);
	if (r == 0 || errno == EAGAIN)
		alive = 1;	/* a full backlog is someone there */
	else	/* nobody, or another uid's: not ours; else cannot tell */
		alive = errno != ECONNREFUSED && errno != EACCES;
	close(fd);
	return (alive);
}

/* The pid in a temporary name "X.<pid>.new", else 0. */
static pid_t
sweep_tmp_pid(const char *name)
{
	const char	*end = name + strlen(name) - 4, *p = end;
	long		 pid = 0;

	while (p > name && p[-1] >= '0' && p[-1] <= '9')
		p--;
	if (p == end || p == name || p[-1] != '.' || end - p > 9)
		return (0);
	for (; p < end; p++)
		pid = pid * 10 + (*p - '0');
	return ((pid_t)pid);
}

int
sweep_all(void)
{
	struct dirent	*de;
	DIR		*dp;
	size_t		 len;
	int		 dfd, fd, n = 0, tmp, r;

	if ((dfd = rtdir_fd()) == -1 ||
	    (fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-1);
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return (-1);
	}
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (len < 5 || de->d_name[0] == '.')
			continue;
		tmp = strcmp(de->d_name + len - 4, ".new") == 0;
		/* An older library's isolate socket; not the supervisor's,
		   which is ours and live. */
		if (!tmp && (len != 16 + 5 || strcmp(de->d_name + 16,
		    ".sock") != 0 || strspn(de->d_name, "0123456789abcdef") !=
		    16))
			continue;
		r = sweep_entry(dfd, de->d_name, tmp ?
		    sweep_tmp_pid(de->d_name) : 0, tmp);
		if (r == 1)
			n++;
	}
	closedir(dp);
	if (n > 0)
		log_info("swept %d stale entries from %s", n,
		    iso_runtime_dir());
	return (n);
}

static void
sweep_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	(void)sweep_all();
}

int
sweep_init(struct event_base *base)
{
	struct timeval	tv = { SWEEP_EVERY_S, 0 };

	if ((sweep_timer = event_new(base, -1, EV_PERSIST, sweep_timer_cb,
	    NULL)) == NULL || event_add(sweep_timer, &tv) == -1)
		return (-1);
	(void)sweep_all();
	return (0);
}

void
sweep_free(void)
{
	if (sweep_timer != NULL)
		event_free(sweep_timer);
	sweep_timer = NULL;
}
