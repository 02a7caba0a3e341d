/*
 * rtdir.h: the runtime directory, shared by the library and the
 * supervisor. Internal.
 *
 * The directory is found, checked (a real directory, ours, mode 0700)
 * and opened once a process; everything in it is then reached through
 * that descriptor, never through its path again: files with openat and
 * O_NOFOLLOW, sockets (bind and connect take a path) through
 * /proc/self/fd/N/NAME, after fstatat(AT_SYMLINK_NOFOLLOW) has shown a
 * socket of ours, and the peer's uid is checked once connected. The
 * descriptor is not one an isolate owns: a spawned isolate keeps it (the
 * same directory), exec closes it.
 */
#ifndef ISO_LIB_RTDIR_H
#define ISO_LIB_RTDIR_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stddef.h>
#include <stdint.h>

/* Room for an entry's name: "<16 hex>.<pid>.new" and "supervisor.sock". */
#define RTDIR_NAME_MAX	48

/* The directory's descriptor (opened on first use), or -1 with errno and
   iso_error() saying what is wrong with it and what to do. */
int	 rtdir_fd(void);
/* Forget it (closing it): $ISO_RUNTIME_DIR is read again on next use
   (the supervisor's tests). */
void	 rtdir_forget(void);

/* The name of isolate id's socket, "<16 hex>.sock". */
void	 rtdir_sock_name(uint64_t id, char name[RTDIR_NAME_MAX]);
/*
 * A path that reaches dfd's directory without looking its path up again:
 * "/proc/self/fd/N" when /proc shows it, else path itself. 0, or -1 with
 * ENAMETOOLONG.
 */
int	 rtdir_fd_path(int dfd, const char *path, char *buf, size_t len);
/* The address of name in the runtime directory. 0 or -1 with errno. */
int	 rtdir_addr(const char *name, struct sockaddr_un *sun);

/*
 * 0 if name in the runtime directory is a socket owned by us; -1 with
 * ENOENT when there is none, else EACCES (a symlink, a file, another
 * user's socket: iso_error() says which and what to do).
 */
int	 rtdir_sock_check(const char *name);
/* 0 if the peer of the connected socket fd runs as our uid, else -1 with
   EACCES. */
int	 rtdir_peer_check(int fd);
/*
 * Connect the socket fd to name (rtdir_sock_check first, rtdir_peer_check
 * once connected). 0, or -1 with connect's errno (EAGAIN, EINTR,
 * ECONNREFUSED, ...), ENOENT or EACCES.
 */
int	 rtdir_connect(int fd, const char *name);
/*
 * Bind the socket fd as name ("X.sock"): bound as "X.<pid>.new" (mode
 * 0600), listening, then renamed into place, so that a connect
 * never finds the name of a socket not yet listening; whatever was
 * there is replaced. 0 or -1 with errno.
 */
int	 rtdir_listen(int fd, const char *name, int backlog);
/* unlinkat name in the runtime directory (a symlink itself, never what
   it points to). 0 or -1 with errno. */
int	 rtdir_unlink(const char *name);
/* The same where name is likely gone already: looked up first, which
   does not lock the directory as unlinkat does. 0 (removed, or not
   there) or -1 with errno. */
int	 rtdir_remove(const char *name);

#endif /* ISO_LIB_RTDIR_H */
