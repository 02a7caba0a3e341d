/*
 * check_rlimit.c: resource limits of a spawned isolate, each hit on
 * purpose with the reason its spawner is told checked: CPU (SIGXCPU, in
 * words), memory (an allocation loop, a large allocation the program
 * handles, an exec'd program; a plain fault stays a fault), open files
 * (EMFILE inside), processes (under a non-root uid; root is not bound);
 * a spawn without limits keeps no note pipe; a cgroup v2 of its own
 * where ours is delegated (skipped, with the reason, where it is not).
 *
 * The binary re-executes itself for the processes limit: main() looks for
 * --nproc-child before running Check.
 */
#include <sys/resource.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "isolate.h"
#include "testutil.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND	0
#endif

#define WAIT_MS		30000	/* a second of CPU on a busy machine */
#define MIB		(1024ULL * 1024)
#define NOBODY		65534

static char		 self_path[PATH_MAX];
static char		 hog_path[PATH_MAX];	/* tests/prog/lim_hog */
static int		 fds_before;
static volatile char	*volatile nowhere;	/* NULL, read at run time */

/* ---- helpers ------------------------------------------------------------ */

static void
return_entry(const iso_msg *arg)
{
	(void)arg;
}

static void loop_ms(int);

/* The library's own descriptors made (a first spawn), then counted. */
static void
begin(void)
{
	iso_isolate	*iso;

	tu_runtime_dir();
	iso_port_close(iso_port_new());
	ck_assert_int_eq(iso_spawn(return_entry, NULL, &iso), 0);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE) == 0 || errno == ESRCH,
	    1);
	iso_isolate_free(iso);
	loop_ms(20);
	fds_before = tu_fd_count();
}

/* Run the loop for about ms. */
static void
loop_ms(int ms)
{
	iso_port	*p = iso_port_new();
	iso_msg		*m;

	ck_assert_ptr_nonnull(p);
	if (iso_port_first(p, &m, ms) == 0)
		iso_msg_free(m);
	else
		iso_port_close(p);
}

/* Every descriptor back and no child left, within 5 s. */
static void
end(void)
{
	int	i;

	for (i = 0; i < 250 && tu_fd_count() != fds_before; i++)
		loop_ms(20);
	ck_assert_int_eq(tu_fd_count(), fds_before);
	for (i = 0; i < 250 && tu_children() != 0; i++)
		loop_ms(20);
	ck_assert_int_eq(tu_children(), 0);
}

/* Why the RLIMIT_AS tests cannot run here, or NULL. */
static const char *
no_memory_tests(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return ("ASan reserves terabytes of address space: RLIMIT_AS cannot "
	    "be tested under it");
#endif
	if (RUNNING_ON_VALGRIND)
		return ("valgrind's own mappings count against RLIMIT_AS");
	return (NULL);
}

static iso_spawn_attr *
attr_with(enum iso_rlimit which, uint64_t value, const char *name)
{
	iso_spawn_attr	*a = iso_spawn_attr_new();

	ck_assert_ptr_nonnull(a);
	if (value != 0)
		ck_assert_int_eq(iso_spawn_attr_set_limit(a, which, value), 0);
	if (name != NULL)
		ck_assert_int_eq(iso_spawn_attr_set_name(a, name), 0);
	return (a);
}

/*
 * Spawn entry (or, entry NULL, exec argv) with a and wait for its error
 * report: [desc, detail] copied into the buffers. The isolate is ended
 * and its handle freed.
 */
static void
spawn_for_error(iso_spawn_attr *a, void (*entry)(const iso_msg *),
    const iso_msg *arg, char *const argv[], char *desc, size_t dlen,
    char *detail, size_t tlen)
{
	iso_port	*p = iso_port_new();
	iso_isolate	*iso;
	iso_msg		*m;
	const char	*d, *t;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(iso_spawn_attr_set_on_error(a,
	    iso_port_sendport(p)), 0);
	if (entry != NULL)
		ck_assert_int_eq(iso_spawn_with(entry, arg, a, &iso), 0);
	else
		ck_assert_int_eq(iso_spawn_exec_with(argv, arg, a, &iso), 0);
	if (iso_port_first(p, &m, WAIT_MS) == -1) {
		iso_kill(iso, ISO_IMMEDIATE);
		iso_isolate_free(iso);
		ck_abort_msg("no error report: %s", iso_error());
	}
	ck_assert_int_eq(iso_msg_unpack(m, "[ss]", &d, &t), 0);
	snprintf(desc, dlen, "%s", d);
	snprintf(detail, tlen, "%s", t);
	iso_msg_free(m);
	iso_isolate_free(iso);
}

/* ---- CPU ------------------------------------------------------------------ */

static void
spin_entry(const iso_msg *arg)
{
	(void)arg;
	for (;;)
		;
}

START_TEST(cpu_limit_is_told_as_sigxcpu)
{
	iso_spawn_attr	*a;
	char		 desc[64], detail[400];

	begin();
	a = attr_with(ISO_RLIMIT_CPU, 1, "spinner");
	spawn_for_error(a, spin_entry, NULL, NULL, desc, sizeof desc, detail,
	    sizeof detail);
	iso_spawn_attr_free(a);
	ck_assert_str_eq(desc, "SIGXCPU");
	ck_assert_msg(strstr(detail, "(spinner) CPU limit of 1 s reached") !=
	    NULL, "detail: %s", detail);
	end();
}
END_TEST

/* An exec'd program that never enters the library: the spawner still
   says why. */
START_TEST(cpu_limit_of_an_exec_is_told)
{
	iso_spawn_attr	*a;
	char		*argv[] = { hog_path, (char *)"spin", NULL };
	char		 desc[64], detail[400];

	begin();
	a = attr_with(ISO_RLIMIT_CPU, 1, NULL);
	spawn_for_error(a, NULL, NULL, argv, desc, sizeof desc, detail,
	    sizeof detail);
	iso_spawn_attr_free(a);
	ck_assert_str_eq(desc, "SIGXCPU");
	ck_assert_msg(strstr(detail, "CPU limit of 1 s reached") != NULL,
	    "detail: %s", detail);
	end();
}
END_TEST

/* The hard CPU limit is a second above the soft one: SIGXCPU first. */
static void
cpu_report_entry(const iso_msg *arg)
{
	struct rlimit	rl;
	iso_sendport	to;
	iso_msg		*m;

	iso_msg_unpack(arg, "P", &to);
	getrlimit(RLIMIT_CPU, &rl);
	m = iso_msg_pack("[II]", (int64_t)rl.rlim_cur, (int64_t)rl.rlim_max);
	iso_send(to, m);
	iso_msg_free(m);
}

START_TEST(cpu_hard_limit_is_a_second_above)
{
	iso_spawn_attr	*a;
	iso_port	*p;
	iso_isolate	*iso;
	iso_msg		*arg, *m;
	int64_t		 soft, hard;

	begin();
	p = iso_port_new();
	ck_assert_ptr_nonnull(p);
	a = attr_with(ISO_RLIMIT_CPU, 5, NULL);
	arg = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_int_eq(iso_spawn_with(cpu_report_entry, arg, a, &iso), 0);
	iso_msg_free(arg);
	iso_spawn_attr_free(a);
	ck_assert_int_eq(iso_port_first(p, &m, WAIT_MS), 0);
	ck_assert_int_eq(iso_msg_unpack(m, "[II]", &soft, &hard), 0);
	iso_msg_free(m);
	ck_assert_int_eq(soft, 5);
	ck_assert_int_eq(hard, 6);
	iso_isolate_free(iso);
	end();
}
END_TEST

/* ---- memory --------------------------------------------------------------- */

static void
alloc_loop_entry(const iso_msg *arg)
{
	volatile char *volatile p;

	(void)arg;
	while ((p = malloc(MIB)) != NULL)
		memset((char *)p, 1, MIB);
	p[0] = 1;		/* the NULL malloc gave: SIGSEGV */
}

START_TEST(memory_limit_allocation_loop_is_out_of_memory)
{
	iso_spawn_attr	*a;
	char		 desc[64], detail[400];
	const char	*why;

	if ((why = no_memory_tests()) != NULL) {
		fprintf(stderr, "skipped: %s\n", why);
		return;
	}
	begin();
	a = attr_with(ISO_RLIMIT_MEMORY, 64 * MIB, "hog");
	spawn_for_error(a, alloc_loop_entry, NULL, NULL, desc, sizeof desc,
	    detail, sizeof detail);
	iso_spawn_attr_free(a);
	ck_assert_str_eq(desc, "out of memory");
	ck_assert_msg(strstr(detail, "(hog) memory limit of 64 MiB reached") !=
	    NULL, "detail: %s", detail);
	end();
}
END_TEST

/* A large allocation of the library fails; the program handles it and
   exits 3: the reason is still the memory limit. */
static void
huge_entry(const iso_msg *arg)
{
	iso_msg	*m;
	void	*p;

	(void)arg;
	if ((m = iso_bytes_new(1024 * MIB, &p)) != NULL) {
		iso_msg_free(m);
		exit(0);
	}
	exit(3);
}

START_TEST(memory_limit_handled_allocation_is_out_of_memory)
{
	iso_spawn_attr	*a;
	char		 desc[64], detail[400];
	const char	*why;

	if ((why = no_memory_tests()) != NULL) {
		fprintf(stderr, "skipped: %s\n", why);
		return;
	}
	begin();
	a = attr_with(ISO_RLIMIT_MEMORY, 64 * MIB, NULL);
	spawn_for_error(a, huge_entry, NULL, NULL, desc, sizeof desc,
	    detail, sizeof detail);
	iso_spawn_attr_free(a);
	ck_assert_str_eq(desc, "out of memory");
	ck_assert_msg(strstr(detail, "memory limit of 64 MiB reached") != NULL,
	    "detail: %s", detail);
	end();
}
END_TEST

/* A fault with memory to spare stays a fault; and with a limit on
   something else, no handler is there to tell. */
static void
fault_entry(const iso_msg *arg)
{
	(void)arg;
	nowhere[0] = 1;
}

START_TEST(memory_limit_plain_fault_is_a_fault)
{
	iso_spawn_attr	*a;
	char		 desc[64], detail[400];
	const char	*why;

	if ((why = no_memory_tests()) != NULL) {
		fprintf(stderr, "skipped: %s\n", why);
		return;
	}
	begin();
	a = attr_with(ISO_RLIMIT_MEMORY, 1024 * MIB, NULL);
	spawn_for_error(a, fault_entry, NULL, NULL, desc, sizeof desc, detail,
	    sizeof detail);
	iso_spawn_attr_free(a);
	ck_assert_str_eq(desc, "SIGSEGV");
	a = attr_with(ISO_RLIMIT_MEMORY, 64 * MIB, NULL);
	spawn_for_error(a, huge_entry, NULL, NULL, desc, sizeof desc,
	    detail, sizeof detail);
	iso_spawn_attr_free(a);
	ck_assert_str_eq(desc, "out of memory");
	/* without a memory limit the same exit is only an exit */
	a = attr_with(ISO_RLIMIT_CPU, 60, NULL);
	spawn_for_error(a, fault_entry, NULL, NULL, desc, sizeof desc, detail,
	    sizeof detail);
	iso_spawn_attr_free(a);
	ck_assert_str_eq(desc, "SIGSEGV");
	end();
}
END_TEST

/* An exec'd program that uses the library arms its own handlers (the
   note at ISO_NOTE_FD); one that does not dies of the bare signal. */
START_TEST(memory_limit_of_an_exec)
{
	iso_spawn_attr	*a;
	char		*lib[] = { hog_path, (char *)"alloc", NULL };
	char		*nolib[] = { hog_path, (char *)"alloc-nolib", NULL };
	char		 desc[64], detail[400];
	const char	*why;

	if ((why = no_memory_tests()) != NULL) {
		fprintf(stderr, "skipped: %s\n", why);
		return;
	}
	begin();
	a = attr_with(ISO_RLIMIT_MEMORY, 64 * MIB, "exechog");
	spawn_for_error(a, NULL, NULL, lib, desc, sizeof desc, detail,
	    sizeof detail);
	ck_assert_str_eq(desc, "out of memory");
	ck_assert_msg(strstr(detail, "(exechog) memory limit of 64 MiB "
	    "reached") != NULL, "detail: %s", detail);
	spawn_for_error(a, NULL, NULL, nolib, desc, sizeof desc, detail,
	    sizeof detail);
	ck_assert_str_eq(desc, "SIGSEGV");
	iso_spawn_attr_free(a);
	end();
}
END_TEST

/* ---- open files ----------------------------------------------------------- */

static void
nofile_entry(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_msg		*m;
	int		 fd, e, last[4] = { -1, -1, -1, -1 }, n = 0, i;
	struct rlimit	 rl;

	iso_msg_unpack(arg, "P", &to);
	while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1)
		last[n++ % 4] = fd;
	e = errno;
	for (i = 0; i < 4; i++)		/* room to report it */
		if (last[i] != -1)
			close(last[i]);
	getrlimit(RLIMIT_NOFILE, &rl);
	m = iso_msg_pack("[sII]", e == EMFILE ? "EMFILE" : strerror(e),
	    (int64_t)n, (int64_t)rl.rlim_cur);
	iso_send(to, m);
	iso_msg_free(m);
}

START_TEST(nofile_limit_makes_open_fail_with_emfile)
{
	iso_spawn_attr	*a;
	iso_port	*p;
	iso_isolate	*iso;
	iso_msg		*arg, *m;
	const char	*e;
	int64_t		 n, lim;

	if (RUNNING_ON_VALGRIND) {
		/* it refuses a hard RLIMIT_NOFILE other than its own */
		fprintf(stderr, "skipped: valgrind refuses RLIMIT_NOFILE\n");
		return;
	}
	begin();
	p = iso_port_new();
	ck_assert_ptr_nonnull(p);
	a = attr_with(ISO_RLIMIT_NOFILE, 32, NULL);
	arg = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_int_eq(iso_spawn_with(nofile_entry, arg, a, &iso), 0);
	iso_msg_free(arg);
	iso_spawn_attr_free(a);
	ck_assert_int_eq(iso_port_first(p, &m, WAIT_MS), 0);
	ck_assert_int_eq(iso_msg_unpack(m, "[sII]", &e, &n, &lim), 0);
	ck_assert_str_eq(e, "EMFILE");
	ck_assert_int_eq(lim, 32);
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, 32);
	iso_msg_free(m);
	iso_isolate_free(iso);
	end();
}
END_TEST

/* A limit the kernel refuses (above fs.nr_open, for root too): the
   isolate ends with 127 and says so, its entry never runs. */
START_TEST(a_limit_that_cannot_be_set_fails_the_spawn)
{
	iso_spawn_attr	*a;
	char		 desc[64], detail[400];

	begin();
	a = attr_with(ISO_RLIMIT_NOFILE, 1ULL << 40, "toomany");
	spawn_for_error(a, spin_entry, NULL, NULL, desc, sizeof desc, detail,
	    sizeof detail);
	iso_spawn_attr_free(a);
	ck_assert_str_eq(desc, "spawn failed");
	ck_assert_msg(strstr(detail, "(toomany) could not start") != NULL,
	    "detail: %s", detail);
	end();
}
END_TEST

/* ---- processes ------------------------------------------------------------ */

/* Tries one fork and reports 0 or its errno. */
static void
fork_entry(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_msg		*m;
	pid_t		 pid;
	int		 e = 0;

	iso_msg_unpack(arg, "P", &to);
	if ((pid = fork()) == 0)
		_exit(0);
	if (pid == -1)
		e = errno;
	else
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
	m = iso_msg_pack("I", (int64_t)e);
	iso_send(to, m);
	iso_msg_free(m);
}

/* The errno of a fork in an isolate limited to one process of its user
   (0: it forked), -1 with iso_error() when that could not be learnt.
   No ck_assert: --nproc-child runs it outside Check. */
static int
fork_under_nproc(void)
{
	iso_spawn_attr	*a;
	iso_port	*p;
	iso_isolate	*iso = NULL;
	iso_msg		*arg, *m;
	int64_t		 e = -1;

	if ((p = iso_port_new()) == NULL ||
	    (a = iso_spawn_attr_new()) == NULL)
		return (-1);
	arg = iso_msg_pack("P", iso_port_sendport(p));
	if (arg != NULL && iso_spawn_attr_set_limit(a, ISO_RLIMIT_NPROC,
	    1) == 0 && iso_spawn_with(fork_entry, arg, a, &iso) == 0 &&
	    iso_port_first(p, &m, WAIT_MS) == 0) {
		if (iso_msg_unpack(m, "I", &e) == -1)
			e = -1;
		iso_msg_free(m);
	} else
		iso_port_close(p);
	iso_msg_free(arg);
	iso_spawn_attr_free(a);
	if (iso != NULL) {
		(void)iso_kill(iso, ISO_IMMEDIATE);
		iso_isolate_free(iso);
	}
	return ((int)e);
}

/* Run as --nproc-child under a non-root uid: exit 0 if the fork was
   refused with EAGAIN. */
static int
nproc_child(void)
{
	int	e;

	tu_runtime_dir();
	e = fork_under_nproc();
	if (e != EAGAIN) {
		fprintf(stderr, "nproc child: fork under RLIMIT_NPROC 1 gave "
		    "%s\n", e == 0 ? "a process" : e == -1 ? iso_error() :
		    strerror(e));
		return (1);
	}
	return (0);
}

START_TEST(nproc_limit_binds_a_non_root_user)
{
	pid_t	pid;
	int	status, i;

	begin();
	if (geteuid() != 0) {
		ck_assert_int_eq(fork_under_nproc(), EAGAIN);
		end();
		return;
	}
	/* root: the test itself becomes nobody in a fresh process */
	if ((pid = fork()) == 0) {
		if (setgroups(0, NULL) == -1 || setgid(NOBODY) == -1 ||
		    setuid(NOBODY) == -1)
			_exit(3);
		execl(self_path, self_path, "--nproc-child", (char *)NULL);
		_exit(4);
	}
	ck_assert_int_gt(pid, 0);
	for (i = 0; i < WAIT_MS / 10; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		tu_sleep_ms(10);
	}
	if (i == WAIT_MS / 10) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		ck_abort_msg("the nobody child did not end");
	}
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the nobody child: status %#x (3: setuid, 4: exec, 1: forked)",
	    status);
	end();
}
END_TEST

/* RLIMIT_NPROC does not bind root (CAP_SYS_RESOURCE): documented. */
START_TEST(nproc_limit_does_not_bind_root)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: not root\n");
		return;
	}
	begin();
	ck_assert_int_eq(fork_under_nproc(), 0);
	end();
}
END_TEST

/* ---- the note pipe -------------------------------------------------------- */

static void
sleep_entry(const iso_msg *arg)
{
	(void)arg;
	for (;;)
		pause();
}

/* Descriptors the spawner holds for one isolate spawned with a. */
static int
fds_for_spawn(const iso_spawn_attr *a)
{
	iso_isolate	*iso;
	int		 n0, n;

	n0 = tu_fd_count();
	ck_assert_int_eq(iso_spawn_with(sleep_entry, NULL, a, &iso), 0);
	n = tu_fd_count() - n0;
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	return (n);
}

START_TEST(no_limits_no_note_pipe)
{
	iso_spawn_attr	*named, *limited;
	int		 plain;

	begin();
	named = attr_with(ISO_RLIMIT_CPU, 0, "plain");
	limited = attr_with(ISO_RLIMIT_CPU, 60, NULL);
	plain = fds_for_spawn(NULL);
	ck_assert_int_eq(fds_for_spawn(named), plain);
	ck_assert_int_eq(fds_for_spawn(limited), plain + 1);
	iso_spawn_attr_free(named);
	iso_spawn_attr_free(limited);
	end();
}
END_TEST

/* ---- cgroup v2 ------------------------------------------------------------ */

/* Reports its cgroup (/proc/self/cgroup's "0::" line) and RLIMIT_AS. */
static void
cgroup_entry(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_msg		*m;
	struct rlimit	 rl;
	char		 line[4096], cg[4096] = "";
	FILE		*f;

	iso_msg_unpack(arg, "P", &to);
	if ((f = fopen("/proc/self/cgroup", "re")) != NULL) {
		while (fgets(line, sizeof line, f) != NULL)
			if (strncmp(line, "0::", 3) == 0) {
				line[strcspn(line, "\n")] = '\0';
				snprintf(cg, sizeof cg, "%s", line + 3);
			}
		fclose(f);
	}
	getrlimit(RLIMIT_AS, &rl);
	m = iso_msg_pack("[sU]", cg, (uint64_t)rl.rlim_cur);
	iso_send(to, m);
	iso_msg_free(m);
	for (;;)
		pause();
}

/* Where our cgroup is delegated, a limited isolate runs in a cgroup of
   its own (memory.max set), removed once it is reaped; where it is not
   (this machine's v1/v2 hybrid), setrlimit alone, and the test says why
   it checked no more. */
START_TEST(cgroup_of_its_own_where_delegated)
{
	iso_spawn_attr	*a;
	iso_port	*p;
	iso_isolate	*iso;
	iso_msg		*arg, *m;
	const char	*why, *cg;
	char		 path[8300], dir[4096], buf[64];
	uint64_t	 as;
	FILE		*f;

	begin();
	p = iso_port_new();
	ck_assert_ptr_nonnull(p);
	a = attr_with(ISO_RLIMIT_MEMORY, 1024 * MIB, NULL);
	arg = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_int_eq(iso_spawn_with(cgroup_entry, arg, a, &iso), 0);
	iso_msg_free(arg);
	iso_spawn_attr_free(a);
	ck_assert_int_eq(iso_port_first(p, &m, WAIT_MS), 0);
	ck_assert_int_eq(iso_msg_unpack(m, "[sU]", &cg, &as), 0);
	ck_assert(as == 1024 * MIB);	/* setrlimit in every case */
	if (!(cg_usable(&why) & (1u << ISO_RLIMIT_MEMORY))) {
		fprintf(stderr, "cgroup test skipped: %s\n", why);
		ck_assert_ptr_null(strstr(cg, "/isolate-"));
	} else {
		ck_assert_msg(strstr(cg, "/isolate-") != NULL, "in %s", cg);
		ck_assert_int_eq(cg_path(0, dir, sizeof dir), 0);
		*strrchr(dir, '/') = '\0';	/* where they are made */
		snprintf(path, sizeof path, "%s%s/memory.max", dir,
		    strrchr(cg, '/'));
		ck_assert_ptr_nonnull(f = fopen(path, "r"));
		ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
		fclose(f);
		ck_assert_int_eq(strtoull(buf, NULL, 10), 1024 * MIB);
		*strrchr(path, '/') = '\0';
		ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
		ck_assert_int_eq(access(path, F_OK), -1);	/* removed */
	}
	iso_msg_free(m);
	(void)iso_kill(iso, ISO_IMMEDIATE);
	iso_isolate_free(iso);
	end();
}
END_TEST

/* ---- the suite ------------------------------------------------------------ */

static Suite *
rlimit_suite(void)
{
	Suite	*s = suite_create("rlimit");
	TCase	*tc = tcase_create("limits");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, cpu_limit_is_told_as_sigxcpu);
	tcase_add_test(tc, cpu_limit_of_an_exec_is_told);
	tcase_add_test(tc, cpu_hard_limit_is_a_second_above);
	tcase_add_test(tc, memory_limit_allocation_loop_is_out_of_memory);
	tcase_add_test(tc, memory_limit_handled_allocation_is_out_of_memory);
	tcase_add_test(tc, memory_limit_plain_fault_is_a_fault);
	tcase_add_test(tc, memory_limit_of_an_exec);
	tcase_add_test(tc, nofile_limit_makes_open_fail_with_emfile);
	tcase_add_test(tc, a_limit_that_cannot_be_set_fails_the_spawn);
	tcase_add_test(tc, nproc_limit_binds_a_non_root_user);
	tcase_add_test(tc, nproc_limit_does_not_bind_root);
	tcase_add_test(tc, no_limits_no_note_pipe);
	tcase_add_test(tc, cgroup_of_its_own_where_delegated);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(int argc, char **argv)
{
	SRunner	*sr;
	char	*slash;
	int	 failed;

	signal(SIGPIPE, SIG_IGN);
	/* argv[0], not /proc/self/exe: under valgrind that is valgrind */
	if (realpath(argv[0], self_path) == NULL)
		snprintf(self_path, sizeof self_path, "%s", argv[0]);
	snprintf(hog_path, sizeof hog_path, "%s", self_path);
	if ((slash = strrchr(hog_path, '/')) != NULL)
		snprintf(slash, sizeof hog_path - (size_t)(slash - hog_path),
		    "/prog/lim_hog");
	if (argc == 2 && strcmp(argv[1], "--nproc-child") == 0)
		return (nproc_child());
	sr = srunner_create(rlimit_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
