/*
 * check_rtdir.c: the runtime directory (lib/rtdir.c): an unsafe directory
 * is refused with a line that says what to do; nothing planted in it is
 * followed; a socket that is not a socket of ours, or is served by
 * another user, is refused. Each test runs in a process of its own with
 * a fresh directory.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "loop.h"

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

START_TEST(a_symlink_named_like_a_socket_is_not_followed)
{
	char	target[96], name[96];
	int	lfd;

	snprintf(target, sizeof target, "%s/elsewhere.sock", out);
	lfd = listener(target);
	peer_path(name, sizeof name);
	ck_assert_int_eq(symlink(target, name), 0);
	ck_assert_int_eq(send_peer(), -1);
	ck_assert_int_eq(errno, EACCES);
	ASSERT_ERROR_HAS("is a symlink, not a socket");
	ASSERT_ERROR_HAS("remove it");
	ck_assert_int_eq(was_reached(lfd), 0);
	close(lfd);
}
END_TEST

START_TEST(a_file_named_like_a_socket_is_refused)
{
	char	name[96];
	int	fd;

	peer_path(name, sizeof name);
	ck_assert_int_ge(fd = open(name, O_CREAT | O_WRONLY, 0600), 0);
	close(fd);
	ck_assert_int_eq(send_peer(), -1);
	ck_assert_int_eq(errno, EACCES);
	ASSERT_ERROR_HAS("is a regular file, not a socket");
}
END_TEST

START_TEST(a_socket_of_another_user_is_refused)
{
	char	name[96];
	int	lfd;

	if (geteuid() != 0) {
		fprintf(stderr, "check_rtdir: skipped a_socket_of_another_user_"
		    "is_refused: needs root\n");
		return;
	}
	peer_path(name, sizeof name);
	lfd = listener(name);
	ck_assert_int_eq(lchown(name, 65534, 65534), 0);
	ck_assert_int_eq(send_peer(), -1);
	ck_assert_int_eq(errno, EACCES);
	ASSERT_ERROR_HAS("a socket of uid 65534");
	ck_assert_int_eq(was_reached(lfd), 0);
	close(lfd);
}
END_TEST

START_TEST(a_peer_served_by_another_user_is_refused)
{
	struct sockaddr_un	 sun;
	struct passwd		*pw;
	char			 name[96], c;
	int			 fd, p[2], status;
	pid_t			 pid;

	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		fprintf(stderr, "check_rtdir: skipped a_peer_served_by_another_"
		    "user_is_refused: needs root and a user nobody\n");
		return;
	}
	/* Our socket file, but listened on (so served) by nobody. */
	peer_path(name, sizeof name);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", name);
	ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		if (setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1 ||
		    listen(fd, 8) == -1)
			_exit(1);
		(void)!write(p[1], "l", 1);
		pause();
		_exit(0);
	}
	close(fd);
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	ck_assert_int_eq(send_peer(), -1);
	ck_assert_int_eq(errno, EACCES);
	ASSERT_ERROR_HAS("served by another user");
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
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

START_TEST(sockets_are_bound_through_the_opened_directory)
{
	char		 moved[96], name[160];
	iso_port	*p;
	struct stat	 st;

	/* Opened once: the directory renamed away and a symlink put in its
	   place, the socket is still made in the directory first opened. */
	ck_assert_str_eq(iso_runtime_dir(), rt);
	snprintf(moved, sizeof moved, "%s/moved", out);
	ck_assert_int_eq(rename(rt, moved), 0);
	ck_assert_int_eq(mkdir(rt, 0700), 0);
	ck_assert_ptr_nonnull(p = iso_port_new());
	snprintf(name, sizeof name, "%s/%016llx.sock", moved,
	    (unsigned long long)iso_port_sendport(p).isolate);
	ck_assert_int_eq(lstat(name, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	iso_port_close(p);
	ck_assert_int_eq(rmdir(rt), 0);		/* nothing made there */
	ck_assert_int_eq(rename(moved, rt), 0);
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
	ck_assert_int_eq(rtdir_remove("00000000000000aa.sock"), 0);
	ck_assert_int_eq(lstat(name, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(rtdir_remove("00000000000000aa.sock"), 0); /* gone */
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
	tcase_add_test(tc, a_symlink_named_like_a_socket_is_not_followed);
	tcase_add_test(tc, a_file_named_like_a_socket_is_refused);
	tcase_add_test(tc, a_socket_of_another_user_is_refused);
	tcase_add_test(tc, a_peer_served_by_another_user_is_refused);
	tcase_add_test(tc, a_planted_supervisor_socket_is_refused);
	tcase_add_test(tc, sockets_are_bound_through_the_opened_directory);
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
