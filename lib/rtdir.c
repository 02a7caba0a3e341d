/*
 * rtdir.c: the per-user runtime directory: $ISO_RUNTIME_DIR, else
 * $XDG_RUNTIME_DIR/isolate, else /tmp/isolate-$UID. It must be a real
 * directory (not a symlink) owned by us with mode 0700. It is opened
 * once; what is in it (the supervisor's socket, locks) is reached through
 * that descriptor. Sockets named by an id live in the abstract namespace
 * under a name that carries the directory's identity (rtdir.h).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hot.h"
#include "loop.h"
#include "msg.h"
#include "rtdir.h"

static int	rtdir_dfd = -1;
/* Made on first use (the spawner makes it before its first spawn): 8 KiB
   in .bss would sit among the variables a new isolate writes and spread
   them over more pages. */
static struct rtdir_paths {
	char	path[PATH_MAX];
	char	via[PATH_MAX];		/* what reaches it: rtdir_fd_path */
	char	abs[48];		/* "isolate/<dev>:<ino>/": rtdir_id_addr */
}		*paths;
#define rtdir_path	(paths->path)
#define rtdir_via	(paths->via)

/* What a file type is, for an error line. */
static const char *
rtdir_kind(mode_t mode)
{
	if (S_ISLNK(mode))
		return ("a symlink");
	if (S_ISREG(mode))
		return ("a regular file");
	if (S_ISDIR(mode))
		return ("a directory");
	if (S_ISSOCK(mode))
		return ("a socket");
	return ("a special file");
}

/* Open path as the runtime directory, making it if missing: the
   descriptor, or -1 with errno and a line that says what to do. */
static int
rtdir_open(const char *path)
{
	struct stat	st;
	uid_t		me = geteuid();
	int		fd, saved;

	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return (msg_fail(errno, "runtime directory %s: cannot create "
		    "it: %s; set ISO_RUNTIME_DIR to a directory of yours",
		    path, strerror(errno)));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && (errno == ELOOP || errno == ENOTDIR)) {
		if (lstat(path, &st) == -1)
			st.st_mode = S_IFLNK;
		return (msg_fail(EACCES, "runtime directory %s is %s, not a "
		    "directory: it must be a directory of uid %u with mode "
		    "0700; remove it, or set ISO_RUNTIME_DIR to another", path,
		    rtdir_kind(st.st_mode), (unsigned)me));
	}
	if (fd == -1)
		return (msg_fail(errno, "runtime directory %s: cannot open "
		    "it: %s; set ISO_RUNTIME_DIR to a directory of yours",
		    path, strerror(errno)));
	if (fstat(fd, &st) == -1) {
		saved = errno;
		close(fd);
		return (msg_fail(saved, "runtime directory %s: cannot stat "
		    "it: %s", path, strerror(saved)));
	}
	if (st.st_uid != me) {
		close(fd);
		return (msg_fail(EACCES, "runtime directory %s has owner uid "
		    "%u and mode %04o: it must be owned by uid %u (you) with "
		    "mode 0700; set ISO_RUNTIME_DIR to a directory of yours",
		    path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
		    (unsigned)me));
	}
	if ((st.st_mode & 077) != 0) {
		close(fd);
		return (msg_fail(EACCES, "runtime directory %s has mode %04o "
		    "(owner uid %u): it must be 0700, readable by you alone; "
		    "chmod 700 %s", path, (unsigned)(st.st_mode & 07777),
		    (unsigned)st.st_uid, path));
	}
	return (fd);
}

ISO_HOT int
rtdir_fd(void)
{
	struct stat	 st;
	const char	*env;
	int		 n;

	if (rtdir_dfd != -1)
		return (rtdir_dfd);
	if (paths == NULL && (paths = calloc(1, sizeof *paths)) == NULL)
		return (msg_fail(ENOMEM, "runtime directory: out of memory"));
	if ((env = getenv("ISO_RUNTIME_DIR")) != NULL && *env != '\0')
		n = snprintf(rtdir_path, sizeof rtdir_path, "%s", env);
	else if ((env = getenv("XDG_RUNTIME_DIR")) != NULL && *env != '\0')
		n = snprintf(rtdir_path, sizeof rtdir_path, "%s/isolate", env);
	else
		n = snprintf(rtdir_path, sizeof rtdir_path, "/tmp/isolate-%u",
		    (unsigned)geteuid());
	if (n < 0 || (size_t)n >= sizeof rtdir_path)
		return (msg_fail(ENAMETOOLONG, "runtime directory: path too "
		    "long; set ISO_RUNTIME_DIR to a shorter one"));
	if ((rtdir_dfd = rtdir_open(rtdir_path)) == -1)
		return (-1);
	if (fstat(rtdir_dfd, &st) == -1 || rtdir_fd_path(rtdir_dfd,
	    rtdir_path, rtdir_via, sizeof rtdir_via) == -1) {
		close(rtdir_dfd);
		rtdir_dfd = -1;
		return (msg_fail(ENAMETOOLONG, "runtime directory %s: too "
		    "long", rtdir_path));
	}
	snprintf(paths->abs, sizeof paths->abs, "isolate/%jx:%jx/",
	    (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	return (rtdir_dfd);
}

const char *
iso_runtime_dir(void)
{
	return (rtdir_fd() == -1 ? NULL : rtdir_path);
}

void
rtdir_forget(void)
{
	if (rtdir_dfd != -1)
		close(rtdir_dfd);
	rtdir_dfd = -1;
}

int
rtdir_fd_path(int dfd, const char *path, char *buf, size_t len)
{
	struct stat	a, b;
	int		n;

	n = snprintf(buf, len, "/proc/self/fd/%d", dfd);
	if (n > 0 && (size_t)n < len && stat(buf, &a) == 0 &&
	    fstat(dfd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return (0);
	/* No /proc: the path, checked when opened; what is in it is still
	   checked (O_NOFOLLOW, fstatat) before use. */
	n = snprintf(buf, len, "%s", path);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

int
rtdir_addr(const char *name, struct sockaddr_un *sun)
{
	int	n;

	if (rtdir_fd() == -1)
		return (-1);
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path, sizeof sun->sun_path, "%s/%s", rtdir_via,
	    name);
	if (n < 0 || (size_t)n >= sizeof sun->sun_path)
		return (msg_fail(ENAMETOOLONG, "runtime directory %s: too "
		    "long for a socket path; set ISO_RUNTIME_DIR to a shorter "
		    "one", rtdir_path));
	return (0);
}

int
rtdir_sock_check(const char *name)
{
	struct stat	st;
	int		dfd;

	if ((dfd = rtdir_fd()) == -1)
		return (-1);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return (msg_fail(errno, "%s/%s: %s", rtdir_path, name,
		    strerror(errno)));
	if (!S_ISSOCK(st.st_mode))
		return (msg_fail(EACCES, "%s/%s is %s, not a socket: refused; "
		    "remove it", rtdir_path, name, rtdir_kind(st.st_mode)));
	if (st.st_uid != geteuid())
		return (msg_fail(EACCES, "%s/%s is a socket of uid %u, not "
		    "ours (uid %u): refused; remove it", rtdir_path, name,
		    (unsigned)st.st_uid, (unsigned)geteuid()));
	return (0);
}

int
rtdir_peer_check(int fd, uid_t *uid)
{
	struct ucred	cred;
	socklen_t	len = sizeof cred;

	*uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return (-1);
	*uid = cred.uid;
	if (cred.uid != geteuid() && cred.uid != 0) {
		errno = EACCES;
		return (-1);
	}
	return (0);
}

int
rtdir_connect(int fd, const char *name)
{
	struct sockaddr_un	sun;
	uid_t			uid;
	int			r, saved;

	if (rtdir_addr(name, &sun) == -1 || rtdir_sock_check(name) == -1)
		return (-1);
	r = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	if (r == -1) {
		saved = errno;
		if (saved != EAGAIN && saved != EINTR)
			(void)msg_fail(saved, "%s/%s: cannot connect: %s",
			    rtdir_path, name, strerror(saved));
		errno = saved;
		return (-1);
	}
	if (rtdir_peer_check(fd, &uid) == -1)
		return (msg_fail(EACCES, "%s/%s is served by uid %d, not ours "
		    "(uid %u): refused; remove it", rtdir_path, name, (int)uid,
		    (unsigned)geteuid()));
	return (0);
}

int
rtdir_listen(int fd, const char *name, int backlog)
{
	struct sockaddr_un	sun;
	char			tmp[RTDIR_NAME_MAX];
	size_t			n = strcspn(name, ".");
	int			dfd, saved;

	if ((dfd = rtdir_fd()) == -1)
		return (-1);
	if (snprintf(tmp, sizeof tmp, "%.*s.%d.new", (int)n, name,
	    (int)getpid()) >= (int)sizeof tmp)
		return (msg_fail(ENAMETOOLONG, "listen: %s: name too long",
		    name));
	if (rtdir_addr(tmp, &sun) == -1)
		return (-1);
	/* A leftover (our pid reused) is removed only when bind finds one:
	   unlinkat locks the directory even to find nothing, and a thousand
	   isolates starting and ending at once queue on that lock. */
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 &&
	    (errno != EADDRINUSE || unlinkat(dfd, tmp, 0) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1))
		return (msg_fail(errno, "%s/%s: cannot bind: %s", rtdir_path,
		    tmp, strerror(errno)));
	if (fchmodat(dfd, tmp, 0600, 0) == -1 || listen(fd, backlog) == -1 ||
	    renameat(dfd, tmp, dfd, name) == -1) {
		saved = errno;
		(void)unlinkat(dfd, tmp, 0);
		return (msg_fail(saved, "%s/%s: cannot listen: %s",
		    rtdir_path, name, strerror(saved)));
	}
	return (0);
}

int
rtdir_unlink(const char *name)
{
	int	dfd;

	if ((dfd = rtdir_fd()) == -1)
		return (-1);
	return (unlinkat(dfd, name, 0));
}

ISO_HOT int
rtdir_id_addr(uint64_t id, struct sockaddr_un *sun, socklen_t *len)
{
	size_t	n;

	if (rtdir_fd() == -1)
		return (-1);
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	/* sun_path[0] stays 0: abstract; the name is not NUL-terminated. */
	n = strlen(paths->abs);
	memcpy(sun->sun_path + 1, paths->abs, n);
	loop_hex16(sun->sun_path + 1 + n, id);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n +
	    16);
	return (0);
}

ISO_HOT int
rtdir_id_listen(int fd, uint64_t id, int backlog)
{
	struct sockaddr_un	sun;
	socklen_t		len;

	if (rtdir_id_addr(id, &sun, &len) == -1)
		return (-1);
	if (bind(fd, (struct sockaddr *)&sun, len) == -1) {
		if (errno == EADDRINUSE)
			return (msg_fail(EADDRINUSE, "@%s: the socket name of "
			    "%016" PRIx64 " is taken: another process listens "
			    "as it", sun.sun_path + 1, id));
		return (msg_fail(errno, "@%s: cannot bind: %s",
		    sun.sun_path + 1, strerror(errno)));
	}
	if (listen(fd, backlog) == -1)
		return (msg_fail(errno, "@%s: cannot listen: %s",
		    sun.sun_path + 1, strerror(errno)));
	return (0);
}

int
rtdir_id_connect(int fd, uint64_t id)
{
	struct sockaddr_un	sun;
	socklen_t		len;
	uid_t			uid;
	int			saved;

	if (rtdir_id_addr(id, &sun, &len) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, len) == -1) {
		saved = errno;
		if (saved != EAGAIN && saved != EINTR)
			(void)msg_fail(saved, "@%s: cannot connect: %s",
			    sun.sun_path + 1, strerror(saved));
		errno = saved;
		return (-1);
	}
	if (rtdir_peer_check(fd, &uid) == -1)
		return (msg_fail(EACCES, "@%s (%016" PRIx64 ") is held by a "
		    "process of uid %d, not ours (uid %u): refused, nothing "
		    "sent", sun.sun_path + 1, id, (int)uid,
		    (unsigned)geteuid()));
	return (0);
}
