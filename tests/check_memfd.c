/*
 * check_memfd.c: sealed memory files for large bytes values
 * (lib/memfd.c): what is made is sealed and reads back the same; what a
 * peer sends is mapped only when it cannot change (sealed against
 * writing, shrinking and growing) and is as long as announced; nothing
 * leaks.
 */
#include <sys/mman.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "memfd.h"
#include "testutil.h"

#define LEN	(256 * 1024 + 123)	/* not a whole number of pages */

static unsigned char *
pattern(size_t len)
{
	unsigned char	*p = malloc(len);
	size_t		 i;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 7 + 3);
	return (p);
}

static int
unsealed(size_t len, int seals)
{
	int	fd = memfd_create("test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
	if (seals != 0)
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
	return (fd);
}

START_TEST(a_copy_is_sealed_and_reads_back)
{
	unsigned char	*want = pattern(LEN);
	const void	*got;
	int		 fds = tu_fd_count(), fd;

	fd = mfd_from(want, LEN);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	/* Nobody writes, shrinks or grows it any more. */
	ck_assert_int_eq(pwrite(fd, "x", 1, 0), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(ftruncate(fd, 10), -1);
	ck_assert_int_eq(ftruncate(fd, 2 * LEN), -1);
	got = mfd_map(fd, LEN);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(memcmp(got, want, LEN), 0);
	mfd_unmap(got, LEN);
	close(fd);
	free(want);
	ck_assert_int_eq(tu_fd_count(), fds);
}
END_TEST

START_TEST(filled_in_place_then_sealed)
{
	unsigned char	*want = pattern(LEN), *w;
	const void	*r, *got;
	int		 fd;

	w = mfd_new(LEN, &fd);
	ck_assert_ptr_nonnull(w);
	memcpy(w, want, LEN);
	r = mfd_seal(fd, w, LEN);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(memcmp(r, want, LEN), 0);
	ck_assert_int_eq(pwrite(fd, "x", 1, 0), -1);
	got = mfd_map(fd, LEN);
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(memcmp(got, want, LEN), 0);
	mfd_unmap(got, LEN);
	mfd_unmap(r, LEN);
	close(fd);
	free(want);
}
END_TEST

/* A child forked while the writable mapping exists does not inherit it,
   so it cannot keep the file from being sealed. */
START_TEST(a_fork_meanwhile_does_not_block_the_seal)
{
	int	 fd, go[2], status;
	void	*w, *r;
	pid_t	 pid;
	char	 c;

	w = mfd_new(LEN, &fd);
	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
	if ((pid = fork()) == 0) {
		close(go[1]);
		(void)read(go[0], &c, 1);
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	close(go[0]);
	r = mfd_seal(fd, w, LEN);
	ck_assert_ptr_nonnull(r);
	close(go[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	mfd_unmap(r, LEN);
	close(fd);
}
END_TEST

START_TEST(an_unsealed_file_is_refused)
{
	int	fd = unsealed(LEN, 0);

	ck_assert_ptr_null(mfd_map(fd, LEN));
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_ptr_nonnull(strstr(iso_error(), "can still change"));
	close(fd);
}
END_TEST

/* A sender that keeps a writable mapping cannot add the write seal: the
   most it can send is a file sealed against resizing only. */
START_TEST(a_file_its_sender_can_still_write_is_refused)
{
	int	 fd = unsealed(LEN, 0);
	void	*w;

	w = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(w, MAP_FAILED);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW),
	    0);
	ck_assert_ptr_null(mfd_map(fd, LEN));
	ck_assert_int_eq(errno, EBADMSG);
	munmap(w, LEN);
	close(fd);
}
END_TEST

START_TEST(a_length_other_than_announced_is_refused)
{
	int	fd = mfd_from("0123456789", 10);

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_null(mfd_map(fd, 11));
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_ptr_nonnull(strstr(iso_error(), "announced"));
	ck_assert_ptr_null(mfd_map(fd, 9));
	ck_assert_int_eq(errno, EBADMSG);
	close(fd);
}
END_TEST

START_TEST(a_pipe_or_a_plain_file_is_refused)
{
	char	path[] = "/tmp/iso-memfd-XXXXXX";
	int	p[2], f;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_ptr_null(mfd_map(p[0], 4096));
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_ge(f = mkostemp(path, O_CLOEXEC), 0);
	unlink(path);
	ck_assert_int_eq(ftruncate(f, 4096), 0);
	ck_assert_ptr_null(mfd_map(f, 4096));
	ck_assert_int_eq(errno, EBADMSG);
	close(p[0]);
	close(p[1]);
	close(f);
}
END_TEST

START_TEST(nothing_is_left_open)
{
	unsigned char	*want = pattern(LEN);
	int		 fds = tu_fd_count(), fd, k;
	const void	*r;
	void		*w;

	for (k = 0; k < 50; k++) {
		ck_assert_int_ge(fd = mfd_from(want, LEN), 0);
		ck_assert_ptr_nonnull(r = mfd_map(fd, LEN));
		mfd_unmap(r, LEN);
		close(fd);
		ck_assert_ptr_nonnull(w = mfd_new(LEN, &fd));
		ck_assert_ptr_nonnull(r = mfd_seal(fd, w, LEN));
		mfd_unmap(r, LEN);
		close(fd);
	}
	free(want);
	ck_assert_int_eq(tu_fd_count(), fds);
}
END_TEST

static Suite *
memfd_suite(void)
{
	Suite	*s = suite_create("memfd");
	TCase	*tc = tcase_create("memfd");

	tcase_add_test(tc, a_copy_is_sealed_and_reads_back);
	tcase_add_test(tc, filled_in_place_then_sealed);
	tcase_add_test(tc, a_fork_meanwhile_does_not_block_the_seal);
	tcase_add_test(tc, an_unsealed_file_is_refused);
	tcase_add_test(tc, a_file_its_sender_can_still_write_is_refused);
	tcase_add_test(tc, a_length_other_than_announced_is_refused);
	tcase_add_test(tc, a_pipe_or_a_plain_file_is_refused);
	tcase_add_test(tc, nothing_is_left_open);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(memfd_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
