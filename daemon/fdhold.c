/*
 * fdhold.c: a keeper of descriptors, so that a cluster node's proxies
 * outlive a supervisor killed with SIGKILL. The keeper is a small process
 * of its own (forked once, before NATS starts its threads); the
 * supervisor hands it a duplicate of each proxy's listening socket and of
 * each sender's connection, under a name, and tells it when one is
 * closed. While the keeper holds them, a killed supervisor closes
 * nothing: local senders stay connected, what they write waits in the
 * sockets, and the next supervisor takes everything back (fh_open) and
 * goes on where its log says the last one was (gwlog.c).
 *
 * It listens on fdhold.sock in the runtime directory (SOCK_SEQPACKET, our
 * uid only) and serves one supervisor at a time, the newest. A message is
 * an operation byte and a name (at most FH_NAME bytes):
 *   supervisor to keeper:  '+' NAME with a descriptor: hold it (a name
 *                          held already is replaced); '-' NAME: close it;
 *                          '!': close everything and end (a supervisor
 *                          that stops cleanly)
 *   keeper to supervisor:  at connect, '=' NAME with the descriptor for
 *                          each held, then '.'
 * Once its supervisor is gone the keeper waits FH_GRACE_MS for the next;
 * then it closes everything (the senders then see their connections
 * end) and exits.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "rtdir.h"
#include "wire.h"

#define FH_SOCKET	"fdhold.sock"
#define FH_GRACE_MS	30000
#define FH_SEND_MS	2000	/* a send to the keeper waits at most */

struct fh_item {
	char	name[FH_NAME + 1];
	int	fd;
};

/* The supervisor's side. */
static int		 fh_conn = -1;
static struct fh_item	*fh_got;	/* held when we came: fh_take */
static size_t		 fh_ngot;

/* One message: op, name, and fd (-1: none). 0, or -1 with errno. */
static int
fh_send(int s, char op, const char *name, int fd)
{
	char	buf[1 + FH_NAME];
	size_t	n = strlen(name);
	ssize_t	rc;

	if (n > FH_NAME) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	buf[0] = op;
	memcpy(buf + 1, name, n);
	do
		rc = frame_sendmsg(s, buf, 1 + n, &fd, fd != -1, 0);
	while (rc == -1 && errno == EINTR);
	return (rc == -1 ? -1 : 0);
}

/* One message into op and name; *fd: its descriptor or -1. 1, 0 at the
   end, -1 with errno (EBADMSG: its descriptors were cut short). */
static int
fh_recv(int s, char *op, char name[FH_NAME + 1], int *fd)
{
	char	buf[1 + FH_NAME];
	int	fds[WIRE_FDS_MAX];
	size_t	k, i;
	ssize_t	n;

	do
		n = frame_recvmsg(s, buf, sizeof buf, fds, &k);
	while (n == -1 && errno == EINTR);
	if (n == -2)
		errno = EBADMSG;
	if (n <= 0)
		return (n == 0 ? 0 : -1);
	*fd = k > 0 ? fds[0] : -1;
	for (i = 1; i < k; i++)
		close(fds[i]);
	*op = buf[0];
	memcpy(name, buf + 1, (size_t)n - 1);
	name[n - 1] = '\0';
	return (1);
}

/* The keeper's table. */
static struct fh_item	*held;
static size_t		 nheld, capheld;

static struct fh_item *
keep_find(const char *name)
{
	size_t	i;

	for (i = 0; i < nheld; i++)
		if (strcmp(held[i].name, name) == 0)
			return (&held[i]);
	return (NULL);
}

static void
keep_drop(struct fh_item *it)
{
	close(it->fd);
	*it = held[--nheld];
}

static void
keep_hold(const char *name, int fd)
{
	struct fh_item	*it, *grown;

	if ((it = keep_find(name)) != NULL) {
		close(it->fd);
		it->fd = fd;
		return;
	}
	if (nheld == capheld) {
		if ((grown = realloc(held, (capheld ? capheld * 2 : 64) *
		    sizeof *held)) == NULL) {
			close(fd);	/* its proxy then ends with us */
			return;
		}
		held = grown;
		capheld = capheld ? capheld * 2 : 64;
	}
	it = &held[nheld++];
	snprintf(it->name, sizeof it->name, "%s", name);
	it->fd = fd;
}

/* A new supervisor: give it all we hold. 0, or -1: it went away. */
static int
keep_give(int s)
{
	size_t	i;

	for (i = 0; i < nheld; i++)
		if (fh_send(s, '=', held[i].name, held[i].fd) == -1)
			return (-1);
	return (fh_send(s, '.', "", -1));
}

/* The keeper: lfd listens, dfd is the runtime directory. Never returns. */
static void __attribute__((noreturn))
keep_main(int lfd, int dfd)
{
	const struct timeval tv = { FH_GRACE_MS / 1000, 0 };
	struct pollfd	 pfd[2];
	struct rlimit	 rl;
	sigset_t	 none;
	char		 op, name[FH_NAME + 1];
	int64_t		 alone = cl_now_ms();
	int		 s = -1, fd, n, i;
	uid_t		 uid;

	for (i = 1; i < NSIG; i++)
		if (i != SIGKILL && i != SIGSTOP)
			signal(i, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	(void)setsid();
	(void)prctl(PR_SET_NAME, "isolated-fdhold");
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (;;) {
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = s;
		pfd[1].events = POLLIN;
		n = poll(pfd, 2, s == -1 ? FH_GRACE_MS : -1);
		if (n == -1 && errno != EINTR)
			break;
		if (s == -1 && cl_now_ms() - alone >= FH_GRACE_MS)
			break;
		if (n > 0 && (pfd[0].revents & POLLIN) &&
		    (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) != -1) {
			/* The newest supervisor holds the lock: it is ours. */
			if (rtdir_peer_check(fd, &uid) == -1 ||
			    (uid != geteuid() && uid != 0) ||
			    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
			    sizeof tv) == -1 || keep_give(fd) == -1) {
				close(fd);
			} else {
				if (s != -1)
					close(s);
				s = fd;
			}
			continue;
		}
		if (s == -1 || n <= 0 || pfd[1].revents == 0)
			continue;
		if ((n = fh_recv(s, &op, name, &fd)) <= 0) {
			if (n == -1 && errno == EBADMSG)
				continue;
			close(s);
			s = -1;
			alone = cl_now_ms();
			continue;
		}
		if (op == '+' && fd != -1)
			keep_hold(name, fd);
		else if (fd != -1)
			close(fd);
		if (op == '-') {
			struct fh_item	*it = keep_find(name);

			if (it != NULL)
				keep_drop(it);
		} else if (op == '!')
			break;
	}
	/* Gone for good: what we hold ends, and so does our name. */
	(void)unlinkat(dfd, FH_SOCKET, 0);
	_exit(0);
}

static void	fh_lost(const char *);

static void
fh_ended(pid_t pid, int status, void *arg)
{
	(void)pid;
	(void)status;
	(void)arg;
	if (fh_conn != -1) {
		errno = ECHILD;
		fh_lost("it ended");
	}
}

/* Start a keeper listening as FH_SOCKET. 0, or -1 with errno. */
static int
fh_spawn(void)
{
	sigset_t	all, old;
	pid_t		pid;
	int		lfd, dfd, saved;

	if ((dfd = rtdir_fd()) == -1)
		return (-1);
	if ((lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (rtdir_listen(lfd, FH_SOCKET, 16) == -1) {
		saved = errno;
		close(lfd);
		errno = saved;
		return (-1);
	}
	/* No handler of the supervisor's may run in the child. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == 0) {
		/* Nothing of the supervisor's stays open here (its lock!). */
		if (dup2(lfd, 3) == -1 || dup2(dfd, 4) == -1)
			_exit(1);
		closefrom(5);
		keep_main(3, 4);
	}
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(lfd);
	if (pid == -1) {
		errno = saved;
		return (-1);
	}
	(void)child_watch(pid, fh_ended, NULL);
	log_info("cluster: a keeper of proxies' descriptors started (pid %d)",
	    (int)pid);
	return (0);
}

static void
fh_got_free(void)
{
	size_t	i;

	for (i = 0; i < fh_ngot; i++)
		if (fh_got[i].fd != -1)
			close(fh_got[i].fd);
	free(fh_got);
	fh_got = NULL;
	fh_ngot = 0;
}

/* Connect to the keeper and take what it holds: 0, or -1 with errno. */
static int
fh_attach(void)
{
	const struct timeval	 tv = { FH_SEND_MS / 1000,
				    (FH_SEND_MS % 1000) * 1000 };
	struct fh_item		*grown;
	char			 op, name[FH_NAME + 1];
	int			 s, fd, n, saved;

	if ((s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (rtdir_connect(s, FH_SOCKET) == -1 ||
	    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1 ||
	    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1)
		goto fail;
	for (;;) {
		if ((n = fh_recv(s, &op, name, &fd)) <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			goto fail;
		}
		if (op == '.')
			break;
		if (op != '=' || fd == -1) {
			if (fd != -1)
				close(fd);
			continue;
		}
		if ((grown = realloc(fh_got, (fh_ngot + 1) * sizeof *grown)) ==
		    NULL) {
			close(fd);
			goto fail;
		}
		fh_got = grown;
		snprintf(fh_got[fh_ngot].name, sizeof fh_got[0].name, "%s",
		    name);
		fh_got[fh_ngot++].fd = fd;
	}
	fh_conn = s;
	return (0);
fail:
	saved = errno;
	close(s);
	fh_got_free();
	errno = saved;
	return (-1);
}

int
fh_open(void)
{
	if (fh_attach() == 0) {
		if (fh_ngot > 0)
			log_info("cluster: took %zu descriptors back from the "
			    "keeper", fh_ngot);
		return (0);
	}
	if ((errno != ECONNREFUSED && errno != ENOENT) || fh_spawn() == -1 ||
	    fh_attach() == -1) {
		log_warn("cluster: no keeper of proxies' descriptors (%s): "
		    "a killed supervisor loses what its proxies held",
		    strerror(errno));
		return (-1);
	}
	return (0);
}

int
fh_take(const char *name)
{
	size_t	i;
	int	fd;

	for (i = 0; i < fh_ngot; i++)
		if (fh_got[i].fd != -1 && strcmp(fh_got[i].name, name) == 0) {
			fd = fh_got[i].fd;
			fh_got[i].fd = -1;
			return (fd);
		}
	return (-1);
}

int
fh_take_next(const char *prefix, char name[FH_NAME + 1])
{
	size_t	i, n = strlen(prefix);
	int	fd;

	for (i = 0; i < fh_ngot; i++)
		if (fh_got[i].fd != -1 &&
		    strncmp(fh_got[i].name, prefix, n) == 0) {
			fd = fh_got[i].fd;
			fh_got[i].fd = -1;
			memcpy(name, fh_got[i].name, FH_NAME + 1);
			return (fd);
		}
	return (-1);
}

void
fh_untaken(void)
{
	size_t	i;

	for (i = 0; i < fh_ngot; i++)
		if (fh_got[i].fd != -1)
			fh_drop(fh_got[i].name);
	fh_got_free();
}

/* The keeper is lost (it died, or stopped taking): we go on without. */
static void
fh_lost(const char *what)
{
	log_warn("cluster: the keeper of proxies' descriptors is lost (%s: "
	    "%s): a killed supervisor loses what its proxies held",
	    what, strerror(errno));
	close(fh_conn);
	fh_conn = -1;
}

void
fh_put(const char *name, int fd)
{
	if (fh_conn != -1 && fh_send(fh_conn, '+', name, fd) == -1)
		fh_lost(name);
}

void
fh_drop(const char *name)
{
	if (fh_conn != -1 && fh_send(fh_conn, '-', name, -1) == -1)
		fh_lost(name);
}

void
fh_close(int end)
{
	fh_got_free();
	if (fh_conn == -1)
		return;
	if (end)
		(void)fh_send(fh_conn, '!', "", -1);
	close(fh_conn);
	fh_conn = -1;
}
