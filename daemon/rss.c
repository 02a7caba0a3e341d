/*
 * rss.c: --max-memory. The resident memory of each running command that
 * has a bound is read from /proc/PID/statm every RSS_POLL_MS, as pm2's
 * max_memory_restart polls; one that has passed it is restarted
 * (SIGTERM, SIGKILL after the grace, then run again at once whatever its
 * policy), and its row and the event log say why. The command's own
 * process is measured, not its children. One timer for all, running
 * only while such a command is known.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "records.h"
#include "rlimit.h"

#define RSS_POLL_MS	1000

static struct event	*tick;

/* Resident bytes of pid, 0 when unknown. */
static uint64_t
rss_of(pid_t pid)
{
	char			 path[64], buf[128];
	unsigned long long	 size, res;
	ssize_t			 n;
	int			 fd;

	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (0);
	while ((n = read(fd, buf, sizeof buf - 1)) == -1 && errno == EINTR)
		;
	close(fd);
	if (n <= 0)
		return (0);
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &size, &res) != 2)
		return (0);
	return ((uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE));
}

/* p has passed its bound: restart it, saying why. */
static void
rss_restart(struct proc *p, uint64_t rss)
{
	struct rec_run	*r = rec_run(p);
	char		 text[128], now[32], max[32];

	rlimit_size(now, sizeof now, rss - rss % (1024 * 1024));
	rlimit_size(max, sizeof max, rec_max_memory(p));
	snprintf(text, sizeof text, "max-memory: RSS of %s passed %s", now,
	    max);
	log_info("isolate %016" PRIx64 " (%s): %s: restarting", rec_id(p),
	    rec_name(p) != NULL ? rec_name(p) : "-", text);
	rec_set_reason(p, text);
	r->over_memory = 1;
	if (life_restart(p, 0, NULL) == -1) {
		r->over_memory = 0;
		log_warn("isolate %016" PRIx64 ": restart: %s", rec_id(p),
		    strerror(errno));
	}
}

static void
rss_tick(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	 tv = { RSS_POLL_MS / 1000, (RSS_POLL_MS % 1000) * 1000 };
	struct proc	*p, *next;
	uint64_t	 rss;
	int		 any = 0;

	(void)fd;
	(void)what;
	(void)arg;
	for (p = rec_first(); p != NULL; p = next) {
		next = rec_next(p);
		if (!rec_is_command(p) || rec_max_memory(p) == 0 ||
		    !rec_live(p))
			continue;
		any = 1;
		if (rec_state(p) != REC_RUNNING || rec_run(p)->over_memory)
			continue;
		rec_learn_pid(p);
		if (rec_run(p)->pid > 0 &&
		    (rss = rss_of(rec_run(p)->pid)) > rec_max_memory(p))
			rss_restart(p, rss);
	}
	if (any)
		evtimer_add(tick, &tv);
}

void
rss_watch(void)
{
	if (tick == NULL && (tick = evtimer_new(rec_base, rss_tick, NULL)) ==
	    NULL) {
		log_warn("max-memory: cannot make a timer: out of memory");
		return;
	}
	if (!evtimer_pending(tick, NULL))
		rss_tick(-1, 0, NULL);
}
