/*
 * sandbox.c: sandbox profiles: a seccomp filter (libseccomp), and a
 * Landlock ruleset for readonly:PATH, both built in the spawner; a new
 * isolate only loads them, with system calls alone, so that the exec
 * path stays async-signal-safe. docs/sandbox.md lists what each profile
 * allows and blocks.
 *
 * A blocked call traps (SECCOMP_RET_TRAP): the SIGSYS handler writes the
 * note ["SIGSYS", "blocked system call NAME"] (names from a table made in
 * the spawner: libseccomp's resolver allocates), then makes the same call
 * again with SIGSYS blocked, which the kernel turns into death by SIGSYS
 * with the default action. So the handler needs no call the filter might
 * block.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

#include "attr.h"
#include "msg.h"
#include "sandbox.h"

#define SB_COMPUTE	0x1
#define SB_NOEXEC	0x2
#define SB_NONET	0x4
#define SB_READONLY	0x8

#define NAMES_MAX	512		/* system call numbers named */
#define SI_SECCOMP	1		/* SIGSYS's si_code from a filter
					   (SYS_SECCOMP: not in every libc) */
#define PROFILE_MAX	4096

/* Landlock, as the kernel has it (Debian 12's headers stop at ABI 2). */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset	444
#define SYS_landlock_add_rule		445
#define SYS_landlock_restrict_self	446
#endif
#define LL_VERSION		(1U << 0)	/* ..._CREATE_RULESET_VERSION */
#define LL_RULE_PATH		1		/* LANDLOCK_RULE_PATH_BENEATH */
#define LL_EXECUTE		(1ULL << 0)
#define LL_READ_FILE		(1ULL << 2)
#define LL_READ_DIR		(1ULL << 3)
#define LL_ABI1			((1ULL << 13) - 1)	/* 13 rights */
#define LL_REFER		(1ULL << 13)		/* ABI 2 */
#define LL_TRUNCATE		(1ULL << 14)		/* ABI 3 */
#define LL_IOCTL_DEV		(1ULL << 15)		/* ABI 5 */

struct ll_ruleset_attr {
	uint64_t	handled_access_fs;	/* net and scopes: not handled */
};

struct ll_path_beneath {
	uint64_t	allowed_access;
	int32_t		parent_fd;
} __attribute__((packed));

struct sandbox {
	int			 refs;
	unsigned		 kinds;		/* SB_* */
	struct sock_fprog	 prog;		/* the filter, owned */
	int			 ruleset;	/* Landlock's, -1: none */
};

static char	*names[NAMES_MAX];	/* system calls by number */
static int	 names_made;
static void	(*on_trap)(const char *);	/* sandbox_on_trap */

/* ---- the handler ----------------------------------------------------------- */

/* names[], once: the handler cannot allocate. */
static void
sandbox_names(void)
{
	uint32_t	arch = seccomp_arch_native();
	int		i;

	if (names_made)
		return;
	for (i = 0; i < NAMES_MAX; i++)
		names[i] = seccomp_syscall_resolve_num_arch(arch, i);
	names_made = 1;
}

/* The same call again, with the same arguments: SIGSYS is blocked in
   this handler, so the kernel's second SIGSYS kills us by default. */
static void
sandbox_again(int nr, void *uc)
{
	const ucontext_t	*u = uc;

#if defined(__x86_64__)
	const greg_t		*g = u->uc_mcontext.gregs;

	syscall(nr, g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8],
	    g[REG_R9]);
#elif defined(__aarch64__)
	const unsigned long long	*r = u->uc_mcontext.regs;

	syscall(nr, r[0], r[1], r[2], r[3], r[4], r[5]);
#else
	(void)u;
	(void)nr;
	signal(SIGSYS, SIG_DFL);
	raise(SIGSYS);
#endif
}

static void
sandbox_sigsys(int sig, siginfo_t *si, void *uc)
{
	char		 detail[64] = "blocked system call ";
	const char	*name = NULL;
	size_t		 n = strlen(detail);
	unsigned	 nr = (unsigned)si->si_syscall;
	char		 digits[12];
	int		 k = 0;
	struct rlimit	 nocore = { 0, 0 };	/* a trap is no bug to debug */

	if (si->si_code != SI_SECCOMP) {	/* kill -SYS: as if unhandled */
		signal(sig, SIG_DFL);
		raise(sig);		/* delivered once this returns */
		return;
	}
	if (nr < NAMES_MAX)
		name = names[nr];
	if (name != NULL) {
		while (*name != '\0' && n < sizeof detail - 1)
			detail[n++] = *name++;
	} else {
		do
			digits[k++] = (char)('0' + nr % 10);
		while ((nr /= 10) != 0 && k < 11);
		while (k > 0 && n < sizeof detail - 1)
			detail[n++] = digits[--k];
	}
	detail[n] = '\0';
	attr_note_write("SIGSYS", detail);
	if (on_trap != NULL)
		on_trap(detail);
	(void)syscall(SYS_prlimit64, 0, RLIMIT_CORE, &nocore, NULL);
	sandbox_again(si->si_syscall, uc);
	_exit(128 + SIGSYS);		/* not reached */
}

static int
sandbox_handler(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = sandbox_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return (sigaction(SIGSYS, &sa, NULL));
}

void
sandbox_on_trap(void (*fn)(const char *))
{
	on_trap = fn;
}

void
sandbox_exec_arm(void)
{
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2)
		return;
	sandbox_names();
	(void)sandbox_handler();
}

/* ---- building ---------------------------------------------------------------- */

/* rule: trap nr (by name; a name this architecture lacks is skipped). */
static int
sandbox_trap(scmp_filter_ctx ctx, const char *name, unsigned n,
    const struct scmp_arg_cmp *cmp)
{
	int	nr;

	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR ||
	    nr < 0)
		return (0);
	return (seccomp_rule_add_array(ctx, SCMP_ACT_TRAP, nr, n, cmp));
}

static int
sandbox_allow(scmp_filter_ctx ctx, const char *name)
{
	int	nr;

	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR ||
	    nr < 0)
		return (0);
	return (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0));
}

/*
 * compute: what a computing isolate calls (found with strace on iso_compute
 * and pool workers): reads and writes on the descriptors it has, its loop,
 * memory, time, signals to itself, exit. No path, no new socket, no new
 * process, no exec.
 */
static const char *const compute_calls[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64",
	"preadv", "pwritev", "preadv2", "pwritev2",
	"recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg",
	"shutdown", "getsockopt", "getsockname", "getpeername",
	"close", "dup", "dup3", "fcntl", "lseek", "fstat", "ftruncate",
	"poll", "ppoll", "select", "pselect6",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"epoll_pwait2", "eventfd2",
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
	"memfd_create",
	"futex", "set_robust_list", "get_robust_list", "rseq",
	"sched_yield", "sched_getaffinity",
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time", "getrandom",
	"getpid", "getppid", "gettid", "getuid", "geteuid", "getgid",
	"getegid", "getrlimit", "getrusage", "uname",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
	"sigaltstack", "restart_syscall",
	"exit", "exit_group",
	NULL
};

static int
sandbox_compute(scmp_filter_ctx ctx)
{
	const char *const	*c;

	for (c = compute_calls; *c != NULL; c++)
		if (sandbox_allow(ctx, *c) < 0)
			return (-1);
	/* prlimit64 on itself only; ioctl: FIONBIO and FIONREAD */
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
	    SCMP_A0(SCMP_CMP_EQ, 0)) < 0)
		return (-1);
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, FIONBIO)) < 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
	    SCMP_A1(SCMP_CMP_EQ, FIONREAD)) < 0)
		return (-1);
	return (0);
}

static int
sandbox_noexec(scmp_filter_ctx ctx)
{
	if (sandbox_trap(ctx, "execve", 0, NULL) < 0 ||
	    sandbox_trap(ctx, "execveat", 0, NULL) < 0)
		return (-1);
	return (0);
}

/* Blocked whatever the profile, where the default is allow: io_uring
   makes sockets and opens files without these system calls. */
static int
sandbox_uring(scmp_filter_ctx ctx)
{
	if (sandbox_trap(ctx, "io_uring_setup", 0, NULL) < 0 ||
	    sandbox_trap(ctx, "io_uring_enter", 0, NULL) < 0 ||
	    sandbox_trap(ctx, "io_uring_register", 0, NULL) < 0)
		return (-1);
	return (0);
}

/* nonet: socket and socketpair of any family but AF_UNIX. */
static int
sandbox_nonet(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp	ne = SCMP_A0(SCMP_CMP_NE, AF_UNIX);

	if (sandbox_trap(ctx, "socket", 1, &ne) < 0 ||
	    sandbox_trap(ctx, "socketpair", 1, &ne) < 0)
		return (-1);
	return (0);
}

/*
 * readonly: an open for writing (flags with O_WRONLY, O_RDWR, O_CREAT or
 * O_TRUNC) and every call that writes what Landlock does not guard
 * (data, modes, owners, times, attributes, mounts). Making, removing and
 * renaming entries, and reading outside PATH, are Landlock's: EACCES
 * (EEXIST for a mkdir of what is there, as the library's runtime
 * directory), for it cannot end the isolate.
 */
static const char *const write_calls[] = {
	"creat", "truncate", "chmod", "fchmodat",
	"fchmodat2", "chown", "lchown", "fchownat", "utime", "utimes",
	"utimensat", "futimesat", "setxattr", "lsetxattr", "removexattr",
	"lremovexattr", "openat2", "open_by_handle_at", "mount",
	"move_mount", "fsopen", "name_to_handle_at",
	NULL
};

static int
sandbox_readonly(scmp_filter_ctx ctx)
{
	static const int	 wflags[] = { O_WRONLY, O_RDWR, O_CREAT,
	    O_TRUNC };
	const char *const	*c;
	struct scmp_arg_cmp	 cmp;
	unsigned		 i;

	for (c = write_calls; *c != NULL; c++)
		if (sandbox_trap(ctx, *c, 0, NULL) < 0)
			return (-1);
	for (i = 0; i < sizeof wflags / sizeof wflags[0]; i++) {
		cmp = (struct scmp_arg_cmp)SCMP_A1(SCMP_CMP_MASKED_EQ,
		    (unsigned)wflags[i], (unsigned)wflags[i]);
		if (sandbox_trap(ctx, "open", 1, &cmp) < 0)
			return (-1);
		cmp = (struct scmp_arg_cmp)SCMP_A2(SCMP_CMP_MASKED_EQ,
		    (unsigned)wflags[i], (unsigned)wflags[i]);
		if (sandbox_trap(ctx, "openat", 1, &cmp) < 0)
			return (-1);
	}
	return (0);
}

/* sb->prog, the BPF of ctx (exported through a memfd: Debian 12's
   libseccomp has no seccomp_export_bpf_mem). */
static int
sandbox_export(struct sandbox *sb, scmp_filter_ctx ctx)
{
	off_t	 len;
	ssize_t	 r;
	size_t	 got = 0;
	char	*buf = NULL;
	int	 fd, rc;

	if ((fd = memfd_create("iso-seccomp", MFD_CLOEXEC)) == -1)
		return (msg_fail(errno, "sandbox: memfd_create: %m"));
	if ((rc = seccomp_export_bpf(ctx, fd)) < 0) {
		msg_fail(-rc, "sandbox: seccomp_export_bpf: %s",
		    strerror(-rc));
		goto fail;
	}
	if ((len = lseek(fd, 0, SEEK_END)) <= 0 ||
	    len % (off_t)sizeof(struct sock_filter) != 0 ||
	    len / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		msg_fail(EINVAL, "sandbox: a filter of %lld bytes",
		    (long long)len);
		goto fail;
	}
	if ((buf = malloc((size_t)len)) == NULL) {
		msg_fail(ENOMEM, "sandbox: out of memory");
		goto fail;
	}
	while (got < (size_t)len) {
		r = pread(fd, buf + got, (size_t)len - got, (off_t)got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			msg_fail(r == 0 ? EIO : errno, "sandbox: reading the "
			    "filter back: %s", r == 0 ? "short" :
			    strerror(errno));
			goto fail;
		}
		got += (size_t)r;
	}
	close(fd);
	sb->prog.len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
	sb->prog.filter = (struct sock_filter *)(void *)buf;
	return (0);
fail:
	free(buf);
	close(fd);
	return (-1);
}

static int
sandbox_filter(struct sandbox *sb)
{
	scmp_filter_ctx	ctx;
	int		rc = -1;

	ctx = seccomp_init(sb->kinds & SB_COMPUTE ? SCMP_ACT_TRAP :
	    SCMP_ACT_ALLOW);
	if (ctx == NULL)
		return (msg_fail(ENOMEM, "sandbox: seccomp_init failed"));
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) < 0 ||
	    (sb->kinds & SB_COMPUTE && sandbox_compute(ctx) == -1) ||
	    (!(sb->kinds & SB_COMPUTE) && sandbox_uring(ctx) == -1) ||
	    (!(sb->kinds & SB_COMPUTE) && sb->kinds & SB_NOEXEC &&
	    sandbox_noexec(ctx) == -1) ||
	    (!(sb->kinds & SB_COMPUTE) && sb->kinds & SB_NONET &&
	    sandbox_nonet(ctx) == -1) ||
	    (!(sb->kinds & SB_COMPUTE) && sb->kinds & SB_READONLY &&
	    sandbox_readonly(ctx) == -1)) {
		msg_fail(EINVAL, "sandbox: cannot build the seccomp filter");
		goto out;
	}
	rc = sandbox_export(sb, ctx);
out:
	seccomp_release(ctx);
	return (rc);
}

/* 0 when this kernel loads seccomp filters that trap (valgrind, for
   one, passes no seccomp call through), else -1 with iso_error(). */
static int
sandbox_seccomp_ok(void)
{
	static int	known, ok;
	uint32_t	action = SECCOMP_RET_TRAP;

	if (!known) {
		ok = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0,
		    &action) == 0;
		known = 1;
		if (!ok)
			return (msg_fail(ENOTSUP, "sandbox: this system cannot "
			    "load seccomp filters (%s)", strerror(errno)));
	}
	return (ok ? 0 : msg_fail(ENOTSUP, "sandbox: this system cannot "
	    "load seccomp filters"));
}

/* The Landlock ABI version, 0 where there is none. */
static int
sandbox_landlock_abi(void)
{
	long	abi;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_VERSION);
	return (abi > 0 ? (int)abi : 0);
}

/* sb->ruleset: nothing may be written anywhere, and only what is under
   path may be read (or executed). */
static int
sandbox_landlock(struct sandbox *sb, const char *path)
{
	struct ll_ruleset_attr	 attr;
	struct ll_path_beneath	 rule;
	struct stat		 st;
	int			 abi, fd, saved;

	if ((abi = sandbox_landlock_abi()) == 0)
		return (msg_fail(ENOTSUP, "sandbox: readonly:%s needs Landlock, "
		    "which this kernel does not have or has disabled (%s)",
		    path, strerror(errno)));
	if (path[0] != '/')
		return (msg_fail(EINVAL, "sandbox: readonly:%s: not an "
		    "absolute path", path));
	if ((fd = open(path, O_PATH | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		saved = errno;
		if (fd != -1)
			close(fd);
		return (msg_fail(saved == ENOENT ? EINVAL : saved,
		    "sandbox: readonly:%s: %s", path, strerror(saved)));
	}
	attr.handled_access_fs = LL_ABI1 | (abi >= 2 ? LL_REFER : 0) |
	    (abi >= 3 ? LL_TRUNCATE : 0) | (abi >= 5 ? LL_IOCTL_DEV : 0);
	rule.allowed_access = LL_READ_FILE | LL_EXECUTE |
	    (S_ISDIR(st.st_mode) ? LL_READ_DIR : 0);
	rule.parent_fd = fd;
	if ((sb->ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr,
	    sizeof attr, 0)) == -1 ||
	    syscall(SYS_landlock_add_rule, sb->ruleset, LL_RULE_PATH, &rule,
	    0) == -1) {
		saved = errno;
		close(fd);
		return (msg_fail(saved, "sandbox: readonly:%s: landlock: %s",
		    path, strerror(saved)));
	}
	close(fd);
	return (0);
}

/* sb->kinds from profile; *path, readonly's PATH (inside profile). */
static int
sandbox_parse(struct sandbox *sb, const char *profile, const char **path)
{
	const char	*p = profile, *e;
	size_t		 n;

	*path = NULL;
	for (;;) {
		e = strchr(p, ',');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		if (strncmp(p, "readonly:", 9) == 0) {
			if (p[9] == '\0')
				return (msg_fail(EINVAL, "sandbox profile "
				    "\"%s\": readonly: wants a path", profile));
			sb->kinds |= SB_READONLY;
			*path = p + 9;	/* the rest, commas and all */
			return (0);
		}
		if (n == 7 && strncmp(p, "compute", n) == 0)
			sb->kinds |= SB_COMPUTE;
		else if (n == 6 && strncmp(p, "noexec", n) == 0)
			sb->kinds |= SB_NOEXEC;
		else if (n == 5 && strncmp(p, "nonet", n) == 0)
			sb->kinds |= SB_NONET;
		else
			return (msg_fail(EINVAL, "sandbox profile \"%s\": "
			    "unknown \"%.*s\" (compute, noexec, nonet or "
			    "readonly:PATH)", profile, (int)n, p));
		if (e == NULL)
			return (0);
		p = e + 1;
	}
}

struct sandbox *
sandbox_new(const char *profile)
{
	struct sandbox	*sb;
	const char	*path;

	if (profile == NULL || profile[0] == '\0' ||
	    strlen(profile) > PROFILE_MAX) {
		msg_fail(EINVAL, "sandbox: no profile, or one too long");
		return (NULL);
	}
	if ((sb = calloc(1, sizeof *sb)) == NULL) {
		msg_fail(ENOMEM, "sandbox: out of memory");
		return (NULL);
	}
	sb->refs = 1;
	sb->ruleset = -1;
	if (sandbox_parse(sb, profile, &path) == -1 ||
	    sandbox_seccomp_ok() == -1 ||
	    (path != NULL && sandbox_landlock(sb, path) == -1) ||
	    sandbox_filter(sb) == -1) {
		sandbox_free(sb);
		return (NULL);
	}
	sandbox_names();
	return (sb);
}

struct sandbox *
sandbox_ref(struct sandbox *sb)
{
	if (sb != NULL)
		sb->refs++;
	return (sb);
}

void
sandbox_free(struct sandbox *sb)
{
	int	saved = errno;

	if (sb == NULL || --sb->refs > 0)
		return;
	if (sb->ruleset != -1)
		close(sb->ruleset);
	free(sb->prog.filter);
	free(sb);
	errno = saved;
}

int
sandbox_exec_check(const struct sandbox *sb)
{
	if (sb == NULL || !(sb->kinds & (SB_COMPUTE | SB_NOEXEC)))
		return (0);
	return (msg_fail(EINVAL, "sandbox: %s blocks the exec that would "
	    "start the program (nonet and readonly:PATH do not)",
	    sb->kinds & SB_COMPUTE ? "compute" : "noexec"));
}

/* ---- in the new isolate ------------------------------------------------------ */

int
sandbox_child(const struct sandbox *sb, int exec)
{
	if (sb == NULL)
		return (0);
	if (!exec && sandbox_handler() == -1)
		return (-1);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return (-1);
	/* sb->ruleset stays open: sb is the program's (O_CLOEXEC) */
	if (sb->ruleset != -1 &&
	    syscall(SYS_landlock_restrict_self, sb->ruleset, 0) == -1)
		return (-1);
	return ((int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0,
	    &sb->prog));
}
