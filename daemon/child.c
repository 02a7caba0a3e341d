/*
 * child.c: the daemon reaps its children on SIGCHLD (waitpid(-1) until
 * none is left, as tmux does) and hands each status to whoever watches
 * that pid. Only the daemon may do this: the library reaps by pid.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include <event2/event.h>

#include "daemon.h"

struct watch {
	pid_t		 pid;
	void		(*fn)(pid_t, int, void *);
	void		*arg;
	struct watch	*next;
};

static struct watch	*watches;
static struct event	*sigchld_ev;

int
child_watch(pid_t pid, void (*fn)(pid_t, int, void *), void *arg)
{
	struct watch	*w;

	if ((w = malloc(sizeof *w)) == NULL)
		return (-1);
	w->pid = pid;
	w->fn = fn;
	w->arg = arg;
	w->next = watches;
	watches = w;
	return (0);
}

void
child_unwatch(pid_t pid)
{
	struct watch	**wp, *w;

	for (wp = &watches; (w = *wp) != NULL; wp = &w->next) {
		if (w->pid == pid) {
			*wp = w->next;
			free(w);
			return;
		}
	}
}

static void
child_reap(evutil_socket_t sig, short what, void *arg)
{
	struct watch	**wp, *w;
	pid_t		  pid;
	int		  status;

	(void)sig;
	(void)what;
	(void)arg;
	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		for (wp = &watches; (w = *wp) != NULL; wp = &w->next) {
			if (w->pid == pid) {
				*wp = w->next;
				w->fn(pid, status, w->arg);
				free(w);
				break;
			}
		}
	}
}

int
child_init(struct event_base *base)
{
	if (sigchld_ev != NULL)
		return (0);
	sigchld_ev = evsignal_new(base, SIGCHLD, child_reap, NULL);
	if (sigchld_ev == NULL || evsignal_add(sigchld_ev, NULL) == -1)
		return (-1);
	/* Children that ended before the handler was there. */
	child_reap(SIGCHLD, EV_SIGNAL, NULL);
	return (0);
}
