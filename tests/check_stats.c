/*
 * check_stats.c: the supervisor's figures per isolate (daemon/stats.c):
 * rows built from records whose processes run, were never there, have
 * vanished, are zombies, or are a command's process group; a pid used
 * again by another process is not taken for the isolate's.
 */
#include <sys/prctl.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "records.h"
#include "testutil.h"

/* The requests isolated.c serves (its main is not in libisolated.a,
   and server.c lists them): never called here. */
const struct rq_entry rq_compute = { .name = "compute" };
const struct rq_entry rq_status = { .name = "status" };
const struct rq_entry rq_stop = { .name = "stop" };

/* A child that spins (busy) or waits; in a group of its own with a
   second process when group. Returns once all of it runs. */
static pid_t
child(int busy, int group)
{
	char	c;
	pid_t	pid;
	int	p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (group) {
			(void)setpgid(0, 0);
			if (fork() == 0) {
				(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
				for (;;)
					pause();
			}
		}
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			if (!busy)
				pause();
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	return (pid);
}

/* Kill pid (and its group when group) and reap what ends. */
static void
child_end(pid_t pid, int group)
{
	kill(group ? -pid : pid, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

/* A record of ours (in the table) running as pid. */
static struct proc *
record(int command, pid_t pid, uint64_t pstart)
{
	struct rec_spec	 spec;
	struct proc	*p;
	iso_msg		*argv = iso_msg_pack("[s]", "x");

	memset(&spec, 0, sizeof spec);
	spec.command = command;
	spec.argv = command ? argv : NULL;
	spec.entry = command ? NULL : "entry";
	ck_assert_ptr_nonnull(p = rec_new(0, &spec));
	iso_msg_free(argv);
	rec_run(p)->state = REC_RUNNING;
	rec_run(p)->pid = pid;
	rec_run(p)->pstart = pstart;
	rec_add(p);
	return (p);
}

/* The row of p in a fresh stats_rows(), owned. */
static iso_msg *
row_of(struct proc *p)
{
	iso_msg		*l, *r = NULL;
	char		 hex[17];
	size_t		 i;

	ck_assert_ptr_nonnull(l = stats_rows());
	ck_assert_uint_eq(iso_msg_len(l), rec_count());
	rec_hex(rec_id(p), hex);
	for (i = 0; i < iso_msg_len(l); i++)
		if (strcmp(iso_msg_str(iso_msg_get(iso_msg_at(l, i), "id"),
		    NULL), hex) == 0)
			r = iso_msg_copy(iso_msg_at(l, i));
	iso_msg_free(l);
	ck_assert_ptr_nonnull(r);
	return (r);
}

static int
is_nil(const iso_msg *row, const char *key)
{
	const iso_msg	*v = iso_msg_get(row, key);

	return (v != NULL && iso_msg_type(v) == ISO_NIL);
}

static int64_t
num(const iso_msg *row, const char *key)
{
	int64_t	x;

	ck_assert_msg(iso_msg_int(iso_msg_get(row, key), &x) == 0,
	    "%s is not a number", key);
	return (x);
}

static void
setup(void)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
}

static void
teardown(void)
{
	rec_free_all();
}

START_TEST(a_vanished_pid_has_nil_figures)
{
	struct proc	*cmd, *iso;
	iso_msg		*row;
	pid_t		 gone;

	/* A process that ran and was reaped: its pid is nobody's now. */
	gone = child(0, 0);
	child_end(gone, 0);
	cmd = record(1, gone, 0);
	iso = record(0, gone, 12345);
	row = row_of(cmd);
	ck_assert_int_eq(num(row, "pid"), gone);
	ck_assert_str_eq(iso_msg_str(iso_msg_get(row, "state"), NULL),
	    "running");
	ck_assert(is_nil(row, "cpu_ms"));
	ck_assert(is_nil(row, "pss_kb"));
	ck_assert(is_nil(row, "rss_kb"));
	ck_assert_int_eq(num(row, "procs"), 0);
	ck_assert_int_eq(num(row, "restarts"), 0);
	iso_msg_free(row);
	row = row_of(iso);
	ck_assert(is_nil(row, "cpu_ms"));
	ck_assert(is_nil(row, "pss_kb"));
	ck_assert(is_nil(row, "mailbox"));
	ck_assert(is_nil(row, "outbox"));
	iso_msg_free(row);
}
END_TEST

START_TEST(a_live_process_is_read)
{
	struct proc	*iso;
	iso_msg		*row = NULL;
	pid_t		 pid = child(1, 0);
	int		 i;

	iso = record(0, pid, 0);
	/* Spinning, it shows CPU time within a few ticks. */
	for (i = 0; i < 500; i++) {
		iso_msg_free(row);
		row = row_of(iso);
		if (num(row, "cpu_ms") > 0)
			break;
		tu_sleep_ms(10);
	}
	ck_assert_int_gt(num(row, "cpu_ms"), 0);
	ck_assert_int_gt(num(row, "pss_kb"), 0);
	ck_assert_int_ge(num(row, "rss_kb"), num(row, "pss_kb"));
	ck_assert_int_eq(num(row, "procs"), 1);
	iso_msg_free(row);
	/* Gone between two requests: nil, nothing else changes. */
	child_end(pid, 0);
	row = row_of(iso);
	ck_assert(is_nil(row, "cpu_ms"));
	ck_assert_int_eq(num(row, "procs"), 0);
	iso_msg_free(row);
}
END_TEST

START_TEST(a_zombie_has_no_memory)
{
	struct proc	*iso;
	iso_msg		*row;
	siginfo_t	 si;
	pid_t		 pid;

	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0)
		_exit(0);
	/* Ended, not reaped. */
	ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT),
	    0);
	iso = record(0, pid, 0);
	row = row_of(iso);
	ck_assert(is_nil(row, "pss_kb"));
	ck_assert(is_nil(row, "rss_kb"));
	iso_msg_free(row);
	child_end(pid, 0);
}
END_TEST

START_TEST(a_command_counts_its_process_group)
{
	struct proc	*cmd;
	iso_msg		*row;
	pid_t		 pid = child(0, 1);

	cmd = record(1, pid, 0);
	row = row_of(cmd);
	ck_assert_int_eq(num(row, "procs"), 2);
	ck_assert_int_ge(num(row, "cpu_ms"), 0);
	ck_assert_int_gt(num(row, "pss_kb"), 0);
	iso_msg_free(row);
	/* In another session than the shepherd's: not its processes. */
	rec_run(cmd)->shepherd = getsid(0) == 1 ? 2 : 1;
	row = row_of(cmd);
	ck_assert_int_eq(num(row, "procs"), 0);
	ck_assert(is_nil(row, "cpu_ms"));
	iso_msg_free(row);
	child_end(pid, 1);
}
END_TEST

START_TEST(a_pid_used_again_is_not_the_isolate)
{
	struct proc	*iso;
	iso_msg		*row;
	pid_t		 pid = child(0, 0);

	/* The record's process started at another time than this one. */
	iso = record(0, pid, 1);
	row = row_of(iso);
	ck_assert(is_nil(row, "cpu_ms"));
	ck_assert_int_eq(num(row, "procs"), 0);
	iso_msg_free(row);
	child_end(pid, 0);
}
END_TEST

START_TEST(ended_records_are_rows_without_figures)
{
	struct proc	*p;
	iso_msg		*row;
	pid_t		 pid = child(0, 0);

	p = record(0, pid, 0);
	rec_run(p)->state = REC_EXITED;
	rec_run(p)->restarts = 3;
	row = row_of(p);
	ck_assert_str_eq(iso_msg_str(iso_msg_get(row, "state"), NULL),
	    "exited");
	ck_assert(is_nil(row, "cpu_ms"));
	ck_assert_int_eq(num(row, "restarts"), 3);
	iso_msg_free(row);
	child_end(pid, 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("stats");
	TCase	*tc = tcase_create("rows");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_vanished_pid_has_nil_figures);
	tcase_add_test(tc, a_live_process_is_read);
	tcase_add_test(tc, a_zombie_has_no_memory);
	tcase_add_test(tc, a_command_counts_its_process_group);
	tcase_add_test(tc, a_pid_used_again_is_not_the_isolate);
	tcase_add_test(tc, ended_records_are_rows_without_figures);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
