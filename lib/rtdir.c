/*
 * rtdir.c: the per-user runtime directory that holds isolates' sockets:
 * $ISO_RUNTIME_DIR, else $XDG_RUNTIME_DIR/isolate, else /tmp/isolate-$UID.
 * It must be a real directory (not a symlink) owned by us with mode 0700.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "msg.h"

static char	rtdir_path[PATH_MAX];
static int	rtdir_ready;

static int
rtdir_check(const char *path)
{
	struct stat	st;
	int		fd, saved;

	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return (msg_fail(errno, "runtime directory %s: cannot create: "
		    "%s", path, strerror(errno)));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && (errno == ELOOP || errno == ENOTDIR))
		return (msg_fail(EACCES, "runtime directory %s: a symlink or "
		    "not a directory", path));
	if (fd == -1)
		return (msg_fail(errno, "runtime directory %s: cannot open: "
		    "%s", path, strerror(errno)));
	if (fstat(fd, &st) == -1) {
		saved = errno;
		close(fd);
		return (msg_fail(saved, "runtime directory %s: cannot stat",
		    path));
	}
	close(fd);
	if (st.st_uid != geteuid())
		return (msg_fail(EACCES, "runtime directory %s: owned by uid "
		    "%u, not us", path, (unsigned)st.st_uid));
	if ((st.st_mode & 077) != 0)
		return (msg_fail(EACCES, "runtime directory %s: mode %03o, "
		    "must be 0700", path, (unsigned)(st.st_mode & 0777)));
	return (0);
}

const char *
iso_runtime_dir(void)
{
	const char	*env;
	int		 n;

	if (rtdir_ready)
		return (rtdir_path);
	if ((env = getenv("ISO_RUNTIME_DIR")) != NULL && *env != '\0')
		n = snprintf(rtdir_path, sizeof rtdir_path, "%s", env);
	else if ((env = getenv("XDG_RUNTIME_DIR")) != NULL && *env != '\0')
		n = snprintf(rtdir_path, sizeof rtdir_path, "%s/isolate", env);
	else
		n = snprintf(rtdir_path, sizeof rtdir_path, "/tmp/isolate-%u",
		    (unsigned)geteuid());
	if (n < 0 || (size_t)n >= sizeof rtdir_path) {
		msg_fail(ENAMETOOLONG, "runtime directory: path too long");
		return (NULL);
	}
	if (rtdir_check(rtdir_path) == -1)
		return (NULL);
	rtdir_ready = 1;
	return (rtdir_path);
}

int
rtdir_sock_path(uint64_t id, char *buf, size_t len)
{
	const char	*dir;
	int		 n;

	if ((dir = iso_runtime_dir()) == NULL)
		return (-1);
	n = snprintf(buf, len, "%s/%016" PRIx64 ".sock", dir, id);
	if (n < 0 || (size_t)n >= len ||
	    (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return (msg_fail(ENAMETOOLONG, "runtime directory %s: too "
		    "long for a socket path", dir));
	return (0);
}

void
rtdir_forget(void)
{
	rtdir_ready = 0;
}
