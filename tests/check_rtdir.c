/*
 * check_rtdir.c: the runtime directory (lib/rtdir.c): an unsafe directory
 * is refused with a line that says what to do; nothing planted in it is
 * followed; isolates' sockets are abstract, named after the directory
 * (two directories never see each other's) and leave no file; a process
 * of another uid holding an isolate's name gets nothing sent to it, and
 * one connecting to an isolate is refused. Each test runs in a process of
 * its own with a fresh directory.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <poll.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "loop.h"
#include "rtdir.h"
#include "testutil.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#define PEER	0x00c0ffee00c0ffeeULL	/* an isolate id nobody has */

static char	rt[64];		/* this test's runtime directory */
static char	out[64];	/* a directory outside it */

static void
setup(void)
{
	snprintf(rt, sizeof rt, "/tmp/iso-rtdir-XXXXXX");
	snprintf(out, sizeof out, "/tmp/iso-outside-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(rt));
	ck_assert_ptr_nonnull(mkdtemp(out));
	ck_assert_int_eq(chmod(rt, 0700), 0);
	setenv("ISO_RUNTIME_DIR", rt, 1);
	rtdir_forget();
}

static void
teardown(void)
{
	char	cmd[160];

	snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", rt, out);
	if (system(cmd) != 0)
		fprintf(stderr, "check_rtdir: cannot remove %s\n", rt);
}

/* A socket listening at path (bound by us): its descriptor. */
static int
listener(const char *path)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	return (fd);
}

/* 1 if a connection waits on the listening fd. */
static int
was_reached(int fd)
{
	int	c = accept(fd, NULL, NULL);

	if (c == -1)
		return (0);
	close(c);
	return (1);
}

/* iso_send a small message to PEER: its result, errno kept. */
static int
send_peer(void)
{
	iso_sendport	 to = { PEER, 1, 1 };
	iso_msg		*m = iso_msg_pack("i", 1);
	int		 r, e;

	r = iso_send(to, m);
	e = errno;
	iso_msg_free(m);
	errno = e;
	return (r);
}

static void
peer_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/%016llx.sock", rt, (unsigned long long)PEER);
}

#define ASSERT_ERROR_HAS(s) \
	ck_assert_msg(strstr(iso_error(), (s)) != NULL, "\"%s\" lacks \"%s\"", \
	    iso_error(), (s))

START_TEST(a_loose_mode_says_what_to_do)
{
	ck_assert_int_eq(chmod(rt, 0755), 0);
	ck_assert_ptr_null(iso_runtime_dir());
	ck_assert_int_eq(errno, EACCES);
	ASSERT_ERROR_HAS(rt);
	ASSERT_ERROR_HAS("mode 0755");
	ASSERT_ERROR_HAS("must be 0700");
	ASSERT_ERROR_HAS("chmod 700");
	/* Fixed, it is taken. */
	ck_assert_int_eq(chmod(rt, 0700), 0);
	ck_assert_str_eq(iso_runtime_dir(), rt);
}
END_TEST

START_TEST(a_symlink_or_another_owner_is_refused)
{
	char	link[96];

	snprintf(link, sizeof link, "%s/link", out);
	ck_assert_int_eq(chmod(out, 0700), 0);
	ck_assert_int_eq(symlink(rt, link), 0);
	setenv("ISO_RUNTIME_DIR", link, 1);
	ck_assert_ptr_null(iso_runtime_dir());
	ck_assert_int_eq(errno, EACCES);
	ASSERT_ERROR_HAS("is a symlink");
	ASSERT_ERROR_HAS("mode 0700");
	if (geteuid() != 0) {
		fprintf(stderr, "check_rtdir: skipped the owner case: needs "
		    "root\n");
		return;
	}
	ck_assert_int_eq(chown(rt, 65534, 65534), 0);
	setenv("ISO_RUNTIME_DIR", rt, 1);
	ck_assert_ptr_null(iso_runtime_dir());
	ck_assert_int_eq(errno, EACCES);
	ASSERT_ERROR_HAS("owner uid 65534");
	ASSERT_ERROR_HAS("must be owned by uid 0");
	ck_assert_int_eq(chown(rt, 0, 0), 0);
}
END_TEST

/* Files named as an older library named isolates' sockets are not
   looked at: the name is abstract. */
START_TEST(files_named_like_a_socket_are_not_followed)
{
	char	target[96], name[96];
	int	lfd, fd;

	snprintf(target, sizeof target, "%s/elsewhere.sock", out);
	lfd = listener(target);
	peer_path(name, sizeof name);
	ck_assert_int_eq(symlink(target, name), 0);
	ck_assert_int_eq(send_peer(), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	ck_assert_int_eq(was_reached(lfd), 0);
	ck_assert_int_eq(unlink(name), 0);
	ck_assert_int_ge(fd = open(name, O_CREAT | O_WRONLY, 0600), 0);
	close(fd);
	ck_assert_int_eq(send_peer(), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	close(lfd);
}
END_TEST

/* The user nobody, or NULL (the test says it skips) unless we are root. */
static struct passwd *
nobody(const char *test)
{
	struct passwd	*pw;

	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		fprintf(stderr, "check_rtdir: skipped %s: needs root and a "
		    "user nobody\n", test);
		return (NULL);
	}
	return (pw);
}

/*
 * A squatter: a child of uid nobody listening on PEER's name (backlog)
 * until ctl is closed, then accepting everything waiting and reading it to
 * the end. It writes "l" on ready once listening; once ctl says "a" it
 * accepts; at the end it writes how many bytes it read, as an int.
 */
static pid_t
squatter(const struct passwd *pw, int backlog, int *ready, int *ctl)
{
	struct sockaddr_un	sun;
	socklen_t		len;
	int			r[2], c[2], lfd, fd, total = 0;
	ssize_t			n;
	char			buf[256], cmd;
	pid_t			pid;

	ck_assert_int_eq(rtdir_id_addr(PEER, &sun, &len), 0);
	ck_assert_int_eq(pipe2(r, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(c, O_CLOEXEC), 0);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		close(r[0]);
		close(c[1]);
		if (setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1 ||
		    (lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    bind(lfd, (struct sockaddr *)&sun, len) == -1 ||
		    listen(lfd, backlog) == -1)
			_exit(1);
		(void)!write(r[1], "l", 1);
		while (read(c[0], &cmd, 1) == 1) {
			/* accept what waits, and what comes within 1 s */
			while (1) {
				struct pollfd	pfd = { lfd, POLLIN, 0 };

				if (poll(&pfd, 1, 1000) != 1 ||
				    (fd = accept(lfd, NULL, NULL)) == -1)
					break;
				while ((n = read(fd, buf, sizeof buf)) > 0)
					total += (int)n;
				close(fd);
			}
		}
		(void)!write(r[1], &total, sizeof total);
		_exit(0);
	}
	close(r[1]);
	close(c[0]);
	ck_assert_int_eq(read(r[0], &cmd, 1), 1);
	*ready = r[0];
	*ctl = c[1];
	return (pid);
}

/* End the squatter: the bytes it was sent. */
static int
squatter_end(pid_t pid, int ready, int ctl)
{
	int	total = -1, status;

	close(ctl);
	ck_assert_int_eq(read(ready, &total, sizeof total),
	    (ssize_t)sizeof total);
	close(ready);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return (total);
}

/* Run the loop for ms (a port that nothing is sent to, waited on). */
static void
idle(int ms)
{
	iso_port	*q = iso_port_new();
	iso_msg		*m = NULL;

	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(iso_port_first(q, &m, ms), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	iso_port_close(q);
}

/* A process of another uid holding an isolate's name (its isolate gone,
   or never there) is sent nothing, and the sender is told why. */
START_TEST(a_name_held_by_another_user_is_sent_nothing)
{
	struct passwd	*pw;
	int		 ready, ctl;
	pid_t		 pid;

	if ((pw = nobody("a_name_held_by_another_user_is_sent_nothing")) ==
	    NULL)
		return;
	pid = squatter(pw, 8, &ready, &ctl);
	ck_assert_int_eq(send_peer(), -1);
	ck_assert_int_eq(errno, EACCES);
	ASSERT_ERROR_HAS("held by a process of uid 65534");
	ASSERT_ERROR_HAS("nothing sent");
	/* and again, not just once */
	ck_assert_int_eq(send_peer(), -1);
	ck_assert_int_eq(errno, EACCES);
	(void)!write(ctl, "a", 1);
	ck_assert_int_eq(squatter_end(pid, ready, ctl), 0);
}
END_TEST

/*
 * The same where the connect would block (the squatter's backlog full):
 * the message waits, the connect is made again from the loop, the peer is
 * checked there too: what waited is dropped, said on stderr, never
 * written, and the next send fails with EACCES.
 */
START_TEST(a_name_held_by_another_user_is_checked_after_a_full_backlog)
{
	struct sockaddr_un	 sun;
	struct passwd		*pw;
	socklen_t		 len;
	char			 log[128], said[1024];
	ssize_t			 n;
	int			 ready, ctl, filler, err, saved, k;
	pid_t			 pid;

	if ((pw = nobody("a_name_held_by_another_user_is_checked_after_a_"
	    "full_backlog")) == NULL)
		return;
	pid = squatter(pw, 0, &ready, &ctl);
	ck_assert_int_eq(rtdir_id_addr(PEER, &sun, &len), 0);
	ck_assert_int_ge(filler = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0), 0);
	ck_assert_int_eq(connect(filler, (struct sockaddr *)&sun, len), 0);
	/* what the library says on stderr, kept */
	snprintf(log, sizeof log, "%s/stderr", out);
	ck_assert_int_ge(err = open(log, O_RDWR | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600), 0);
	ck_assert_int_ge(saved = fcntl(2, F_DUPFD_CLOEXEC, 3), 0);
	ck_assert_int_eq(dup2(err, 2), 2);
	ck_assert_int_eq(send_peer(), 0);	/* queued: the backlog is full */
	close(filler);
	(void)!write(ctl, "a", 1);		/* the backlog is emptied */
	for (k = 0, n = 0; k < 250; k++) {
		idle(20);
		n = pread(err, said, sizeof said - 1, 0);
		if (n > 0 && memmem(said, (size_t)n, "dropped", 7) != NULL)
			break;
	}
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
	close(err);
	ck_assert_int_gt(n, 0);
	said[n] = '\0';
	ck_assert_msg(strstr(said, "held by a process of uid 65534") != NULL,
	    "stderr: %s", said);
	ck_assert_int_eq(send_peer(), -1);
	ck_assert_int_eq(errno, EACCES);
	ASSERT_ERROR_HAS("held by a process of uid 65534");
	ck_assert_int_eq(squatter_end(pid, ready, ctl), 0);
}
END_TEST

/* An isolate that sends a port of its own to the first port of its
   argument, then forwards what comes there to the second. */
static void
forward_cb(iso_port *p, const iso_msg *m, void *arg)
{
	iso_sendport	*to = arg;

	(void)p;
	(void)iso_send(*to, m);
}

static void
forwarder(const iso_msg *arg)
{
	static iso_sendport	 to;
	iso_sendport		 hello;
	iso_port		*p;
	iso_msg			*m;

	if (iso_msg_unpack(arg, "[P P]", &hello, &to) == -1 ||
	    (p = iso_port_new()) == NULL ||
	    iso_port_listen(p, forward_cb, &to) == -1 ||
	    (m = iso_msg_pack("P", iso_port_sendport(p))) == NULL ||
	    iso_send(hello, m) == -1)
		exit(2);
	iso_msg_free(m);
	(void)iso_run();
}

struct intruder {
	iso_sendport	 to;
	pid_t		 pid;
	int		 status;
};

/* Every 5 ms: once the intruder has ended, a message of our own. */
static void
intruder_wait_cb(iso_timer *t, void *arg)
{
	struct intruder	*in = arg;
	iso_msg		*m;

	if (waitpid(in->pid, &in->status, WNOHANG) != in->pid)
		return;
	iso_timer_cancel(t);
	ck_assert_ptr_nonnull(m = iso_msg_pack("s", "ours"));
	ck_assert_int_eq(iso_send(in->to, m), 0);
	iso_msg_free(m);
}

/* A process of another uid connecting to an isolate is refused and told
   why; what it wrote is never delivered; our own senders still are. */
START_TEST(a_peer_of_another_user_is_refused)
{
	struct sockaddr_un	 sun;
	struct passwd		*pw;
	struct intruder		 in;
	struct pollfd		 pfd;
	socklen_t		 len;
	unsigned char		 frame[6] = { 0, 0, 0, 2, 0, 7 };
	char			 buf[512];
	const char		*s;
	iso_isolate		*iso;
	iso_port		*hello, *fwd;
	iso_msg			*m;
	ssize_t			 n, got = 0;
	int			 fd;

	if ((pw = nobody("a_peer_of_another_user_is_refused")) == NULL)
		return;
	memset(&in, 0, sizeof in);
	/* An isolate of its own to intrude on: this process may have run
	   other tests and listen under another directory's name (valgrind
	   runs the suite with CK_FORK=no). */
	ck_assert_ptr_nonnull(hello = iso_port_new());
	ck_assert_ptr_nonnull(fwd = iso_port_new());
	ck_assert_ptr_nonnull(m = iso_msg_pack("[P P]",
	    iso_port_sendport(hello), iso_port_sendport(fwd)));
	ck_assert_int_eq(iso_spawn(forwarder, m, &iso), 0);
	iso_msg_free(m);
	ck_assert_int_eq(iso_port_first(hello, &m, 10000), 0);
	ck_assert_int_eq(iso_msg_sendport(m, &in.to), 0);
	iso_msg_free(m);
	ck_assert_uint_lt(in.to.port, 128);
	frame[4] = (unsigned char)in.to.port;
	ck_assert_int_eq(rtdir_id_addr(in.to.isolate, &sun, &len), 0);
	ck_assert_int_ge(in.pid = fork(), 0);
	if (in.pid == 0) {
		/* 0: refused and told; 1: could not try; 2: not told */
		if (setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1 ||
		    (fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
		    connect(fd, (struct sockaddr *)&sun, len) == -1)
			_exit(1);
		(void)!send(fd, frame, sizeof frame, MSG_NOSIGNAL);
		pfd.fd = fd;
		pfd.events = POLLIN;
		while (poll(&pfd, 1, 5000) == 1 && (n = read(fd, buf + got,
		    sizeof buf - 1 - (size_t)got)) > 0)
			got += n;
		buf[got] = '\0';
		_exit(got > 5 && memmem(buf + 5, (size_t)got - 5, "refused", 7)
		    != NULL && memmem(buf + 5, (size_t)got - 5, "uid 65534", 9)
		    != NULL ? 0 : 2);
	}
	ck_assert_ptr_nonnull(iso_timer_every(5, intruder_wait_cb, &in));
	ck_assert_int_eq(iso_port_first(fwd, &m, 10000), 0);
	/* the first message is ours: the intruder's 7 never came */
	ck_assert_ptr_nonnull(s = iso_msg_str(m, NULL));
	ck_assert_str_eq(s, "ours");
	iso_msg_free(m);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	ck_assert(WIFEXITED(in.status));
	ck_assert_int_eq(WEXITSTATUS(in.status), 0);
}
END_TEST

/* Two runtime directories (two supervisors' worlds) never see each
   other's isolates: the same id is two names. */
START_TEST(two_runtime_dirs_are_apart)
{
	char		other[64];
	int		a, b, c;

	ck_assert_int_ge(a = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0), 0);
	ck_assert_int_eq(rtdir_id_listen(a, PEER, 8), 0);
	/* taken in this directory */
	ck_assert_int_ge(c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
	    0);
	ck_assert_int_eq(rtdir_id_listen(c, PEER, 8), -1);
	ck_assert_int_eq(errno, EADDRINUSE);
	close(c);

	snprintf(other, sizeof other, "%s/other", out);
	ck_assert_int_eq(mkdir(other, 0700), 0);
	setenv("ISO_RUNTIME_DIR", other, 1);
	rtdir_forget();
	ck_assert_int_ge(c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
	    0);
	ck_assert_int_eq(rtdir_id_connect(c, PEER), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	close(c);
	ck_assert_int_eq(send_peer(), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	ck_assert_int_eq(was_reached(a), 0);
	/* its own PEER, reached, and the first one still not */
	ck_assert_int_ge(b = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0), 0);
	ck_assert_int_eq(rtdir_id_listen(b, PEER, 8), 0);
	ck_assert_int_eq(send_peer(), 0);
	ck_assert_int_eq(was_reached(b), 1);
	ck_assert_int_eq(was_reached(a), 0);
	close(a);
	close(b);
}
END_TEST

START_TEST(a_planted_supervisor_socket_is_refused)
{
	char	target[96], name[96];
	int	lfd;

	snprintf(target, sizeof target, "%s/fake.sock", out);
	lfd = listener(target);
	snprintf(name, sizeof name, "%s/supervisor.sock", rt);
	ck_assert_int_eq(symlink(target, name), 0);
	/* Neither talked to nor replaced: the user is told to look. */
	ck_assert_int_eq(iso_sup_status(NULL), -1);
	ck_assert_int_eq(errno, EACCES);
	ASSERT_ERROR_HAS("supervisor.sock is a symlink, not a socket");
	ck_assert_int_eq(was_reached(lfd), 0);
	close(lfd);
}
END_TEST

/* The directory first opened names an isolate's socket, and no file is
   made for it, there or anywhere. */
START_TEST(sockets_are_named_after_the_opened_directory)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	socklen_t		 len;
	char			 moved[96], want[64];
	uint64_t		 id;
	int			 fd;

	/* Opened once: the directory renamed away and another put in its
	   place, the name is still the first one's. */
	ck_assert_str_eq(iso_runtime_dir(), rt);
	ck_assert_int_eq(stat(rt, &st), 0);
	snprintf(moved, sizeof moved, "%s/moved", out);
	ck_assert_int_eq(rename(rt, moved), 0);
	ck_assert_int_eq(mkdir(rt, 0700), 0);
	/* Bound as an isolate binds (the process's own isolate may listen
	   under an earlier test's directory: CK_FORK=no). */
	id = PEER + 1;
	ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
	    0), 0);
	ck_assert_int_eq(rtdir_id_listen(fd, id, 8), 0);
	ck_assert_int_eq(rtdir_id_addr(id, &sun, &len), 0);
	ck_assert_int_eq(sun.sun_path[0], '\0');
	snprintf(want, sizeof want, "isolate/%jx:%jx/%016jx",
	    (uintmax_t)st.st_dev, (uintmax_t)st.st_ino, (uintmax_t)id);
	ck_assert_uint_eq(len, offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(want));
	ck_assert(memcmp(sun.sun_path + 1, want, strlen(want)) == 0);
	ck_assert_int_eq(tu_iso_bound(id), 1);
	close(fd);
	ck_assert_int_eq(tu_iso_bound(id), 0);
	ck_assert_int_eq(rmdir(rt), 0);		/* nothing made there */
	ck_assert_int_eq(rename(moved, rt), 0);
	ck_assert_int_eq(tu_rtdir_entries(), 0);	/* nor there */
}
END_TEST

START_TEST(a_leftover_temporary_name_is_replaced)
{
	char		 tmp[160], name[160];
	struct stat	 st;
	int		 fd, lfd;

	/* What a process of our pid left (killed between bind and rename). */
	ck_assert_int_ge(rtdir_fd(), 0);
	snprintf(tmp, sizeof tmp, "%s/00000000000000aa.%d.new", rt,
	    (int)getpid());
	snprintf(name, sizeof name, "%s/00000000000000aa.sock", rt);
	lfd = listener(tmp);
	ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0), 0);
	ck_assert_int_eq(rtdir_listen(fd, "00000000000000aa.sock", 8), 0);
	ck_assert_int_eq(lstat(name, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(lstat(tmp, &st), -1);
	ck_assert_int_eq(rtdir_unlink("00000000000000aa.sock"), 0);
	ck_assert_int_eq(lstat(name, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	close(fd);
	close(lfd);
}
END_TEST

static Suite *
rtdir_suite(void)
{
	Suite	*s = suite_create("rtdir");
	TCase	*tc = tcase_create("rtdir");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_loose_mode_says_what_to_do);
	tcase_add_test(tc, a_symlink_or_another_owner_is_refused);
	tcase_add_test(tc, files_named_like_a_socket_are_not_followed);
	tcase_add_test(tc, a_name_held_by_another_user_is_sent_nothing);
	tcase_add_test(tc,
	    a_name_held_by_another_user_is_checked_after_a_full_backlog);
	tcase_add_test(tc, a_peer_of_another_user_is_refused);
	tcase_add_test(tc, two_runtime_dirs_are_apart);
	tcase_add_test(tc, a_planted_supervisor_socket_is_refused);
	tcase_add_test(tc, sockets_are_named_after_the_opened_directory);
	tcase_add_test(tc, a_leftover_temporary_name_is_replaced);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(rtdir_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
