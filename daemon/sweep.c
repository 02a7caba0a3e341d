/*
 * sweep.c: removing what dead isolates left in the runtime directory. A
 * socket "<id>.sock" is stale once a connect to it is refused: the name
 * is renamed into place only once listening and ids are never reused, so
 * a refusal means its isolate is gone for good (the supervisor rebinds a
 * mailbox's name itself, from this loop). A temporary "<id>.<pid>.new"
 * (a bind cut short) is stale once its pid is gone, or when it has been
 * there a minute and refuses connections. Nothing that is not a socket of
 * ours is removed, and nothing is followed.
 *
 * When: at start, every minute, and at once for a socket whose owner the
 * supervisor sees end (a record's, or a spawner's that announced itself,
 * watched here by pidfd).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/* A process that listens on a socket of its own, watched until it ends. */
struct owner {
	uint64_t	 id;
	pid_t		 pid;
	int		 pidfd;
	struct event	*ev;
	uint64_t	*kids;		/* isolates it is spawning, not yet */
	size_t		 nkids, kcap;	/* announced as spawned */
	int		 ended;		/* ... then the kids looked again at */
	struct owner	*next;
};

#define SWEEP_AGAIN_MS	300	/* a kid still dying when its spawner ended */

static struct event_base	*sweep_base;
static struct event		*sweep_timer;
static struct owner		*owners;
static int			 sweep_warned;	/* of a foreign entry, once */

/*
 * 1 if nobody serves name: a connect is refused, or (dead > 0, a pid
 * known to have ended) it is accepted for a listener that was dead: the
 * socket is only held open by a child that inherited it and is about to
 * close it or die (a new isolate closes its spawner's descriptors).
 */
static int
sweep_refused(const char *name, pid_t dead)
{
	struct sockaddr_un	sun;
	struct ucred		cred;
	socklen_t		len = sizeof cred;
	int			fd, r, refused;

	if (rtdir_addr(name, &sun) == -1 || (fd = socket(AF_UNIX,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	do
		r = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	while (r == -1 && errno == EINTR);
	refused = r == -1 && errno == ECONNREFUSED;
	if (r == 0 && dead > 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED,
	    &cred, &len) == 0 && cred.pid == dead)
		refused = 1;
	close(fd);
	return (refused);
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
 * name in the runtime directory, a socket name or a temporary one (pid:
 * its binder's, 0 when the name has none; for a socket name, a pid known
 * to have ended that listened on it, else 0). 1 if it was stale and is
 * removed (remove) or would be (!remove), 0 if not, -1 if it is not a
 * socket of ours (left alone, and said once in the log).
 */
static int
sweep_entry(int dfd, const char *name, pid_t pid, int tmp, int remove)
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
		stale = sweep_refused(name, pid);
	else if (pid > 0 && kill(pid, 0) == -1 && errno == ESRCH)
		stale = 1;
	else
		stale = time(NULL) - st.st_mtime > SWEEP_TMP_AGE_S &&
		    sweep_refused(name, 0);
	if (!stale)
		return (0);
	return (remove ? sweep_remove(dfd, name, &st) : 1);
}

int
sock_alive(uint64_t id, int sweep)
{
	char	name[RTDIR_NAME_MAX];
	int	dfd;

	if ((dfd = rtdir_fd()) == -1)
		return (1);
	rtdir_sock_name(id, name);
	switch (sweep_entry(dfd, name, 0, 0, sweep)) {
	case 1:
		return (0);
	case -1:
		return (0);	/* no isolate listens on a symlink */
	}
	/* Not stale: alive, or absent. */
	return (faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0);
}

void
sweep_id(uint64_t id, pid_t pid)
{
	char	name[RTDIR_NAME_MAX];
	int	dfd;

	if ((dfd = rtdir_fd()) == -1)
		return;
	rtdir_sock_name(id, name);
	(void)sweep_entry(dfd, name, pid, 0, 1);
	if (pid <= 0)
		return;
	/* pid has ended, though it may be a zombie yet: only a refusal
	   counts (a binder that had listened would be refused too). */
	snprintf(name, sizeof name, "%016" PRIx64 ".%d.new", id, (int)pid);
	(void)sweep_entry(dfd, name, pid, 0, 1);
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
		/* An isolate's socket; not the supervisor's, which is ours
		   and live. */
		if (!tmp && (len != 16 + 5 || strcmp(de->d_name + 16,
		    ".sock") != 0 || strspn(de->d_name, "0123456789abcdef") !=
		    16))
			continue;
		r = sweep_entry(dfd, de->d_name, tmp ?
		    sweep_tmp_pid(de->d_name) : 0, tmp, 1);
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

	sweep_base = base;
	if ((sweep_timer = event_new(base, -1, EV_PERSIST, sweep_timer_cb,
	    NULL)) == NULL || event_add(sweep_timer, &tv) == -1)
		return (-1);
	(void)sweep_all();
	return (0);
}

static void
owner_free(struct owner *o)
{
	struct owner	**op;

	for (op = &owners; *op != NULL; op = &(*op)->next)
		if (*op == o) {
			*op = o->next;
			break;
		}
	if (o->ev != NULL)
		event_free(o->ev);
	if (o->pidfd != -1)
		close(o->pidfd);
	free(o->kids);
	free(o);
}

/* Temporary binds "<kid>.<pid>.new" of kids[0..n) whose pid we never
   learnt: refused, they are a dead binder's. */
static void
sweep_kid_binds(int dfd, const uint64_t *kids, size_t n)
{
	struct dirent	*de;
	DIR		*dp;
	char		 hex[17];
	size_t		 i, len;
	int		 fd;

	if (n == 0 || (fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(dp)) != NULL) {
		len = strlen(de->d_name);
		if (len < 21 || de->d_name[16] != '.' ||
		    strcmp(de->d_name + len - 4, ".new") != 0)
			continue;
		for (i = 0; i < n; i++) {
			snprintf(hex, sizeof hex, "%016" PRIx64, kids[i]);
			if (strncmp(de->d_name, hex, 16) == 0) {
				(void)sweep_entry(dfd, de->d_name, 0, 0, 1);
				break;
			}
		}
	}
	closedir(dp);
}

/* Sweep what o's kids left; keep those that may still be dying. */
static void
owner_sweep_kids(struct owner *o)
{
	char	name[RTDIR_NAME_MAX];
	size_t	i, left = 0;
	int	dfd;

	if ((dfd = rtdir_fd()) == -1)
		return;
	for (i = 0; i < o->nkids; i++) {
		rtdir_sock_name(o->kids[i], name);
		if (sweep_entry(dfd, name, 0, 0, 1) == 0 &&
		    faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			o->kids[left++] = o->kids[i];
	}
	sweep_kid_binds(dfd, o->kids, o->nkids);
	o->nkids = left;
}

/* o's process has ended (pidfd), or its kids' second look is due. */
static void
owner_ended(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	 tv = { 0, SWEEP_AGAIN_MS * 1000 };
	struct owner	*o = arg;

	(void)fd;
	(void)what;
	if (!o->ended) {
		sweep_id(o->id, o->pid);
		owner_sweep_kids(o);
		o->ended = 1;
		/* A kid is killed as its spawner ends, not before. */
		if (o->nkids > 0) {
			event_free(o->ev);
			close(o->pidfd);
			o->pidfd = -1;
			if ((o->ev = evtimer_new(sweep_base, owner_ended, o)) !=
			    NULL && evtimer_add(o->ev, &tv) == 0)
				return;
		}
	} else
		owner_sweep_kids(o);
	owner_free(o);
}

/* The owner of id (process pid), watched from now on; NULL when pid is
   gone already (its sockets swept) or cannot be watched. */
static struct owner *
owner_get(uint64_t id, pid_t pid)
{
	struct owner	*o;
	int		 pidfd;

	if (id == 0 || pid <= 0)
		return (NULL);
	for (o = owners; o != NULL; o = o->next)
		if (o->id == id)
			return (o->ended ? NULL : o);
	if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) == -1) {
		if (errno == ESRCH)
			sweep_id(id, pid);	/* gone already */
		return (NULL);	/* else the periodic sweep will do */
	}
	if ((o = calloc(1, sizeof *o)) == NULL) {
		close(pidfd);
		return (NULL);
	}
	o->id = id;
	o->pid = pid;
	o->pidfd = pidfd;
	if ((o->ev = event_new(sweep_base, pidfd, EV_READ, owner_ended, o)) ==
	    NULL || event_add(o->ev, NULL) == -1) {
		owner_free(o);
		return (NULL);
	}
	o->next = owners;
	owners = o;
	return (o);
}

void
sweep_watch(uint64_t id, pid_t pid)
{
	(void)owner_get(id, pid);
}

void
sweep_spawning(uint64_t id, pid_t pid, uint64_t kid)
{
	struct owner	*o;
	uint64_t	*k;
	size_t		 cap;

	if ((o = owner_get(id, pid)) == NULL) {
		/* Its spawner is gone: so is it, or it soon will be. */
		sweep_id(kid, 0);
		return;
	}
	if (o->nkids == o->kcap) {
		cap = o->kcap == 0 ? 8 : o->kcap * 2;
		if ((k = reallocarray(o->kids, cap, sizeof *k)) == NULL)
			return;
		o->kids = k;
		o->kcap = cap;
	}
	o->kids[o->nkids++] = kid;
}

void
sweep_spawned(uint64_t kid)
{
	struct owner	*o;
	size_t		 i;

	for (o = owners; o != NULL; o = o->next)
		for (i = 0; i < o->nkids; i++)
			if (o->kids[i] == kid) {
				o->kids[i] = o->kids[--o->nkids];
				return;
			}
}

void
sweep_free(void)
{
	while (owners != NULL)
		owner_free(owners);
	if (sweep_timer != NULL)
		event_free(sweep_timer);
	sweep_timer = NULL;
}
