/*
 * stats.c: the stats request: what each isolate costs now (CPU time,
 * memory, queue depths, restarts), read from /proc when asked and never
 * on a timer.
 *
 * A command counts as its process group (its process is the group's
 * leader: the shepherd starts it so), in the shepherd's session: what a
 * `sh -c` wrapper starts is the command's too, and CPU time includes the
 * children the group's processes have reaped (cutime, cstime), so a
 * shell loop of short commands shows what it costs. A process that left
 * the group (setsid, setpgid) is not counted. An isolate the library
 * forked counts as its own process only: the isolates it spawns share
 * its group and have rows of their own. A process that is gone by the
 * time it is read (between the walk of /proc and its files, or before
 * the request) is skipped; a row none of whose processes could be read
 * has nil figures.
 */
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "records.h"

/* What is wanted of one record's processes, and what was found. */
struct want {
	pid_t		 pid;		/* a process, or a group's id */
	pid_t		 sid;		/* group: its session; 0: any */
	uint64_t	 start;		/* process: its start time; 0: any */
	int		 group;
	int		 procs;		/* processes counted */
	int		 mem;		/* smaps_rollup read for one at least */
	uint64_t	 ticks;		/* CPU, in clock ticks */
	uint64_t	 pss, rss;	/* KiB */
};

/* What /proc/PID/stat says. */
struct pstat {
	pid_t		 pgrp, sid;
	uint64_t	 ticks;		/* utime + stime */
	uint64_t	 cticks;	/* cutime + cstime */
	uint64_t	 start;
};

/* Read up to len - 1 bytes of path into buf, NUL-terminated: the count,
   or -1 (gone, unreadable). */
static ssize_t
read_small(const char *path, char *buf, size_t len)
{
	ssize_t	n, got = 0;
	int	fd;

	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd == -1 && errno == EINTR);
	if (fd == -1)
		return (-1);
	while ((size_t)got < len - 1) {
		n = read(fd, buf + got, len - 1 - (size_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	if (got == 0)
		return (-1);	/* ESRCH reads as nothing */
	buf[got] = '\0';
	return (got);
}

/* /proc/pid/stat into *ps: 0, or -1 when pid is gone. */
static int
pstat_read(pid_t pid, struct pstat *ps)
{
	char			 path[64], buf[1024], *p, *end;
	unsigned long long	 v[20];
	int			 i;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof buf) == -1)
		return (-1);
	/* The name may hold spaces and parentheses: fields start after
	   the last ")", with the state (field 3) first. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ' || p[2] == '\0')
		return (-1);
	p += 3;
	/* Fields 4 (ppid) to 22 (starttime), as numbers. */
	for (i = 0; i < 19; i++) {
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (end == p || errno != 0)
			return (-1);
		p = end;
	}
	ps->pgrp = (pid_t)v[1];		/* field 5 */
	ps->sid = (pid_t)v[2];		/* 6 */
	ps->ticks = v[10] + v[11];	/* 14, 15 */
	ps->cticks = v[12] + v[13];	/* 16, 17 */
	ps->start = v[18];		/* 22 */
	return (0);
}

/* Pss and Rss of /proc/pid/smaps_rollup, in KiB: 0, or -1 (gone, a
   zombie, a kernel without the file). */
static int
mem_read(pid_t pid, uint64_t *pss, uint64_t *rss)
{
	char		 path[64], buf[4096], *line;
	unsigned long long v;
	int		 found = 0;

	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
	if (read_small(path, buf, sizeof buf) == -1)
		return (-1);
	for (line = buf; line != NULL && *line != '\0'; ) {
		if (sscanf(line, "Pss: %llu kB", &v) == 1) {
			*pss = v;
			found |= 1;
		} else if (sscanf(line, "Rss: %llu kB", &v) == 1) {
			*rss = v;
			found |= 2;
		}
		if ((line = strchr(line, '\n')) != NULL)
			line++;
	}
	return (found == 3 ? 0 : -1);
}

/* Count process pid (read as ps) for w. */
static void
want_add(struct want *w, pid_t pid, const struct pstat *ps)
{
	uint64_t	pss = 0, rss = 0;

	w->procs++;
	w->ticks += ps->ticks;
	if (w->group)
		w->ticks += ps->cticks;
	if (mem_read(pid, &pss, &rss) == 0) {
		w->mem = 1;
		w->pss += pss;
		w->rss += rss;
	}
}

static int
want_cmp(const void *a, const void *b)
{
	const struct want	*x = *(struct want *const *)a;
	const struct want	*y = *(struct want *const *)b;

	return (x->pid < y->pid ? -1 : x->pid > y->pid);
}

/* The want of sorted[0..n) whose pid is pid; NULL. */
static struct want *
want_find(struct want **sorted, size_t n, pid_t pid)
{
	struct want	key = { .pid = pid }, *kp = &key, **w;

	w = bsearch(&kp, sorted, n, sizeof *sorted, want_cmp);
	return (w != NULL ? *w : NULL);
}

/*
 * Fill w[0..n): each process want is read directly; the groups by one
 * walk of /proc (only when there is one), each process found in a
 * wanted group counted once.
 */
static void
want_collect(struct want *w, size_t n)
{
	struct want	**groups;
	struct want	 *g;
	struct pstat	  ps;
	struct dirent	 *de;
	DIR		 *d;
	size_t		  ng = 0, i;
	char		 *end;
	long		  pid;

	for (i = 0; i < n; i++) {
		if (w[i].group)
			ng++;
		else if (pstat_read(w[i].pid, &ps) == 0 && (w[i].start == 0 ||
		    ps.start == w[i].start))
			want_add(&w[i], w[i].pid, &ps);
	}
	if (ng == 0)
		return;
	if ((groups = calloc(ng, sizeof *groups)) == NULL) {
		log_warn("stats: out of memory");
		return;
	}
	for (ng = 0, i = 0; i < n; i++)
		if (w[i].group)
			groups[ng++] = &w[i];
	qsort(groups, ng, sizeof *groups, want_cmp);
	if ((d = opendir("/proc")) == NULL) {
		log_warn("stats: /proc: %s", strerror(errno));
		free(groups);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || pstat_read((pid_t)pid,
		    &ps) == -1)
			continue;	/* gone since the walk saw it */
		if ((g = want_find(groups, ng, ps.pgrp)) != NULL &&
		    (g->sid == 0 || g->sid == ps.sid))
			want_add(g, (pid_t)pid, &ps);
	}
	closedir(d);
	free(groups);
}

/* m[key] = x, or nil when !have. -1/ENOMEM. */
static int
put_num(iso_msg *m, const char *key, int have, uint64_t x)
{
	return (iso_msg_put(m, iso_msg_pack("s", key), have ?
	    iso_msg_pack("U", x) : iso_msg_pack("n")));
}

/* The row of p with what w found. Owned; NULL: ENOMEM. */
static iso_msg *
stats_row(struct proc *p, const struct want *w, long tck)
{
	struct rec_run	*r = rec_run(p);
	struct mbox	*box = rec_box(p), *out = rec_outbox(p);
	char		 hex[17];
	iso_msg		*m;
	int		 seen = w->procs > 0;

	m = iso_msg_pack("{s:s s:s? s:i s:s s:s s:i s:O? s:s?}",
	    "id", rec_hex(rec_id(p), hex), "name", rec_name(p),
	    "pid", (int)r->pid, "state", rec_state_names[r->state],
	    "kind", rec_is_command(p) ? "command" : "isolate",
	    "restarts", r->restarts, "command", rec_argv(p),
	    "entry", rec_entry(p));
	if (m == NULL)
		return (NULL);
	if (put_num(m, "cpu_ms", seen, w->ticks * 1000 / (uint64_t)tck) ==
	    -1 || put_num(m, "pss_kb", seen && w->mem, w->pss) == -1 ||
	    put_num(m, "rss_kb", seen && w->mem, w->rss) == -1 ||
	    put_num(m, "procs", 1, (uint64_t)w->procs) == -1 ||
	    put_num(m, "mailbox", box != NULL, box != NULL ? mbox_len(box) :
	    0) == -1 || put_num(m, "outbox", out != NULL, out != NULL ?
	    mbox_len(out) : 0) == -1 || iso_msg_put(m, iso_msg_pack("s",
	    "paused"), iso_msg_pack("b", rec_paused(p))) == -1) {
		iso_msg_free(m);
		return (NULL);
	}
	return (m);
}

iso_msg *
stats_rows(void)
{
	struct proc	*p;
	struct rec_run	*r;
	struct want	*w;
	iso_msg		*l, *row;
	size_t		 n = rec_count(), i;
	long		 tck = sysconf(_SC_CLK_TCK);

	if (tck <= 0)
		tck = 100;
	if ((w = calloc(n + 1, sizeof *w)) == NULL)
		return (NULL);
	/* Only what runs has processes to read. */
	for (i = 0, p = rec_first(); p != NULL; p = rec_next(p), i++) {
		rec_learn_pid(p);
		r = rec_run(p);
		if (r->state != REC_RUNNING || r->pid <= 0)
			continue;
		w[i].pid = r->pid;
		if (rec_is_command(p)) {
			w[i].group = 1;
			w[i].sid = r->shepherd;
		} else
			w[i].start = r->pstart;
	}
	want_collect(w, n);
	if ((l = iso_msg_pack("[]")) == NULL)
		goto fail;
	for (i = 0, p = rec_first(); p != NULL; p = rec_next(p), i++)
		if ((row = stats_row(p, &w[i], tck)) == NULL ||
		    iso_msg_append(l, row) == -1)
			goto fail;
	free(w);
	return (l);
fail:
	iso_msg_free(l);
	free(w);
	errno = ENOMEM;
	return (NULL);
}

static void
op_stats(struct sv_conn *c, const struct rq *r)
{
	(void)r;
	sv_reply_with(c, "isolates", stats_rows());
}

const struct rq_entry rq_stats = { .name = "stats", .exec = op_stats };
