/*
 * rlimit.c: resource limits in a new isolate (setrlimit), and telling an
 * allocation failing under the memory limit from a plain fault: handlers
 * that leave the spawner the note "out of memory" (attr.h) before the
 * signal takes its course. The spawner keeps what it gave (the CPU limit,
 * to word a SIGXCPU itself; the cgroup, to read its OOM kills and remove
 * it) apart from the handle until the isolate is reaped.
 */
#include <sys/mman.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "cgroup.h"
#include "hot.h"
#include "loop.h"
#include "rlimit.h"

#define ALT_STACK	(64 * 1024)	/* the handlers' stack */
#define PROBE_BYTES	(64 * 1024)	/* an mmap this size fails: out */
#define SLACK_MIN	(1024 * 1024)	/* or less than this (or 1/16 of
					   the limit) is left of it */

static const int	 fault_sigs[] = { SIGSEGV, SIGBUS, SIGABRT };

static uint64_t		 oom_limit;	/* armed: the memory limit */
static uint64_t		 oom_page;	/* the page size, learnt then */
static char		 oom_detail[64];
static volatile sig_atomic_t oom_noted;

int
rlimit_apply(unsigned set, const uint64_t limit[])
{
	static const int	 res[ATTR_RLIMITS] = { RLIMIT_AS, RLIMIT_CPU,
	    RLIMIT_NOFILE, RLIMIT_NPROC };
	struct rlimit		 rl, now;
	unsigned		 i;

	for (i = 0; i < ATTR_RLIMITS; i++) {
		if (!(set & (1u << i)))
			continue;
		rl.rlim_cur = rl.rlim_max = (rlim_t)limit[i];
		/* At the soft limit SIGXCPU, each second after it again, at
		   the hard one SIGKILL: one second between, so that SIGXCPU
		   (whose default is to end the process) is what ends it, and
		   a program that catches it still ends a second later. An
		   unprivileged spawner cannot raise its own hard limit. */
		if (i == ISO_RLIMIT_CPU) {
			rl.rlim_max = rl.rlim_cur + 1;
			if (getrlimit(RLIMIT_CPU, &now) == 0 &&
			    now.rlim_max != RLIM_INFINITY &&
			    now.rlim_max < rl.rlim_max && geteuid() != 0)
				rl.rlim_max = now.rlim_max;
		}
		if (setrlimit(res[i], &rl) == -1)
			return ((int)i + 1);
	}
	return (0);
}

void
rlimit_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "GiB", "MiB", "KiB" };
	uint64_t		 unit = 1024ULL * 1024 * 1024;
	int			 i;

	for (i = 0; i < 3; i++, unit /= 1024)
		if (bytes >= unit && bytes % unit == 0) {
			snprintf(buf, len, "%llu %s",
			    (unsigned long long)(bytes / unit), units[i]);
			return;
		}
	snprintf(buf, len, "%llu bytes", (unsigned long long)bytes);
}

/* The address space in use, from /proc/self/statm; 0 when unknown.
   Async-signal-safe. */
static uint64_t
rlimit_vsize(void)
{
	char		buf[64];
	ssize_t		n;
	uint64_t	pages = 0;
	int		fd, i;

	if ((fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	for (i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		pages = pages * 10 + (uint64_t)(buf[i] - '0');
	return (pages * oom_page);
}

/* 1 if the memory limit is what a fault or abort came of: a few pages
   cannot be mapped, or what is left is a sliver. Async-signal-safe. */
static int
rlimit_exhausted(void)
{
	uint64_t	 used, slack;
	void		*p;

	p = mmap(NULL, PROBE_BYTES, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return (errno == ENOMEM);
	munmap(p, PROBE_BYTES);
	slack = oom_limit / 16 > SLACK_MIN ? oom_limit / 16 : SLACK_MIN;
	used = rlimit_vsize();
	return (used != 0 && used + slack >= oom_limit);
}

static void
rlimit_note(void)
{
	if (oom_noted)
		return;
	oom_noted = 1;
	attr_note_write("out of memory", oom_detail);
}

/* SIGSEGV, SIGBUS or SIGABRT: the note if memory ran out, then the
   signal's own end. */
static void
rlimit_fault(int sig)
{
	struct sigaction	sa;
	int			saved = errno;

	if (rlimit_exhausted())
		rlimit_note();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(sig, &sa, NULL);
	/* Pending until we return (a fault's instruction then faults
	   again, abort raises again): the default action ends us. */
	(void)raise(sig);
	errno = saved;
}

int
rlimit_arm(uint64_t bytes)
{
	struct sigaction	 sa;
	stack_t			 ss;
	size_t			 i;
	void			*stack;
	char			 size[32];

	if ((stack = mmap(NULL, ALT_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) == MAP_FAILED)
		return (-1);
	memset(&ss, 0, sizeof ss);
	ss.ss_sp = stack;
	ss.ss_size = ALT_STACK;
	if (sigaltstack(&ss, NULL) == -1) {
		munmap(stack, ALT_STACK);
		return (-1);
	}
	rlimit_size(size, sizeof size, bytes);
	snprintf(oom_detail, sizeof oom_detail, "memory limit of %s reached",
	    size);
	oom_page = (uint64_t)sysconf(_SC_PAGESIZE);
	oom_limit = bytes;
	oom_noted = 0;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = rlimit_fault;
	sa.sa_flags = SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof fault_sigs / sizeof fault_sigs[0]; i++)
		if (sigaction(fault_sigs[i], &sa, NULL) == -1)
			return (-1);
	return (0);
}

void
rlimit_nomem(void)
{
	if (oom_limit != 0)
		rlimit_note();
}

void
rlimit_exec_arm(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		(void)rlimit_arm(rl.rlim_cur);
}

/* ---- the spawner's side ---------------------------------------------------- */

struct kept {
	const void		*iso;
	uint64_t		 cpu, mem;	/* 0: none */
	char			*cgroup;	/* NULL: none */
	LIST_ENTRY(kept)	 link;
};
static LIST_HEAD(, kept)	 kept = LIST_HEAD_INITIALIZER(kept);

int
rlimit_keep(const void *iso, uint64_t id, unsigned set,
    const uint64_t limit[], const char **cgroup)
{
	struct kept	*k;
	char		 path[PATH_MAX];

	*cgroup = NULL;
	if ((k = calloc(1, sizeof *k)) == NULL)
		return (-1);
	k->iso = iso;
	if (set & (1u << ISO_RLIMIT_CPU))
		k->cpu = limit[ISO_RLIMIT_CPU];
	if (set & (1u << ISO_RLIMIT_MEMORY))
		k->mem = limit[ISO_RLIMIT_MEMORY];
	/* setrlimit alone where no cgroup is usable or it cannot be made */
	if ((set & cg_usable(NULL)) != 0 &&
	    cg_make(id, set, limit, path, sizeof path) == 0 &&
	    (k->cgroup = strdup(path)) == NULL) {
		cg_remove(path);
		free(k);
		return (-1);
	}
	*cgroup = k->cgroup;
	LIST_INSERT_HEAD(&kept, k, link);
	return (0);
}

static struct kept *
rlimit_find(const void *iso)
{
	struct kept	*k;

	LIST_FOREACH(k, &kept, link)
		if (k->iso == iso)
			return (k);
	return (NULL);
}

static void
rlimit_free(struct kept *k)
{
	LIST_REMOVE(k, link);
	if (k->cgroup != NULL)
		cg_remove(k->cgroup);
	free(k->cgroup);
	free(k);
}

int
rlimit_ended(const void *iso, int code, int status, int noted, char *desc,
    size_t dlen, char *detail, size_t tlen)
{
	struct kept	*k;
	char		 size[32];
	int		 said = 0;

	if ((k = rlimit_find(iso)) == NULL)
		return (0);
	/* The kernel's SIGXCPU at the limit we gave (its note, if any,
	   came before). */
	if (k->cpu != 0 && (code == CLD_KILLED || code == CLD_DUMPED) &&
	    status == SIGXCPU) {
		snprintf(desc, dlen, "SIGXCPU");
		snprintf(detail, tlen, "CPU limit of %llu s reached",
		    (unsigned long long)k->cpu);
		said = 1;
	} else if (!noted && k->mem != 0 && k->cgroup != NULL &&
	    cg_oom_killed(k->cgroup)) {
		rlimit_size(size, sizeof size, k->mem);
		snprintf(desc, dlen, "out of memory");
		snprintf(detail, tlen, "memory limit of %s reached (cgroup)",
		    size);
		said = 1;
	}
	rlimit_free(k);
	return (said);
}

void
rlimit_drop(const void *iso)
{
	struct kept	*k;

	if ((k = rlimit_find(iso)) != NULL)
		rlimit_free(k);
}

ISO_HOT void
rlimit_forget(void)
{
	/* Still reachable from our copy of the spawner's memory; its
	   cgroups are its own to remove. */
	loop_keep(LIST_FIRST(&kept));
	LIST_INIT(&kept);
}
