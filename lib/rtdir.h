/*
 * rtdir.h: the runtime directory, shared by the library and the
 * supervisor. Internal.
 *
 * The directory is found, checked (a real directory, ours, mode 0700)
 * and opened once a process; everything in it is then reached through
 * that descriptor, never through its path again: files with openat and
 * O_NOFOLLOW, the supervisor's socket (bind and connect take a path)
 * through /proc/self/fd/N/NAME, after fstatat(AT_SYMLINK_NOFOLLOW) has
 * shown a socket of ours, and the peer's uid is checked once connected.
 * The descriptor is not one an isolate owns: a spawned isolate keeps it
 * (the same directory), exec closes it.
 *
 * Sockets named by an id (isolates, mailboxes, cluster proxies) are not
 * in the directory: they are Linux abstract sockets named
 * "isolate/<st_dev>:<st_ino>/<16 hex id>" (the directory's device and
 * inode in hex), so that two runtime directories never see each other's,
 * no inode is made or removed, and nothing is left when a process dies.
 * Abstract names have no permissions: both ends check the peer's uid
 * (ours or root) with SO_PEERCRED, rtdir_id_connect here and accept.c.
 */
#ifndef ISO_LIB_RTDIR_H
#define ISO_LIB_RTDIR_H

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <stddef.h>
#include <stdint.h>

/* Room for an entry's name: "supervisor.sock" and its "X.<pid>.new". */
#define RTDIR_NAME_MAX	48

/* The directory's descriptor (opened on first use), or -1 with errno and
   iso_error() saying what is wrong with it and what to do. */
int	 rtdir_fd(void);
/* Forget it (closing it): $ISO_RUNTIME_DIR is read again on next use
   (the supervisor's tests). */
void	 rtdir_forget(void);

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
/* 0 if the peer of the connected socket fd runs as our uid or root, else
   -1 with EACCES (or getsockopt's errno); *uid: the peer's, or -1. */
int	 rtdir_peer_check(int fd, uid_t *uid);
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

/* The abstract address of the socket named by id, and its length. 0, or
   -1 when there is no runtime directory (iso_error() says why). */
int	 rtdir_id_addr(uint64_t id, struct sockaddr_un *sun, socklen_t *len);
/*
 * Bind the socket fd to id's name and listen. 0, or -1 with EADDRINUSE
 * (a process listens as id already) or bind's or listen's errno;
 * iso_error() says which.
 */
int	 rtdir_id_listen(int fd, uint64_t id, int backlog);
/*
 * Connect the socket fd to id's name, then check the peer's uid. 0, or -1
 * with EAGAIN or EINTR (try again: a full backlog), ECONNREFUSED (nobody
 * listens as id), EACCES (a process of another uid does: nothing may be
 * sent to it; iso_error() says so), or connect's errno.
 */
int	 rtdir_id_connect(int fd, uint64_t id);

#endif /* ISO_LIB_RTDIR_H */
