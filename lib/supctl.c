/*
 * supctl.c: pause, resume and ping of supervised isolates (iso_sup_pause,
 * iso_sup_resume, iso_sup_ping). The supervisor signals; a ping of an
 * isolate's loop is made here, on its socket, as iso_ping makes it, and
 * the supervisor answers for a command (it has no loop of ours) while
 * its process group is not paused.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop.h"
#include "msg.h"
#include "supproto.h"

#define PING_POLL_MS	50	/* a paused command: asked again after */

static int
supctl_call(const char *op, const char *target, iso_msg **rep)
{
	iso_msg	*req;
	int	 rc;

	if (target == NULL)
		return (msg_fail(EINVAL, "%s: no target", op));
	if ((req = iso_msg_pack("{s:s s:s}", "op", op, "target", target)) ==
	    NULL)
		return (-1);
	rc = sup_call_again(req, rep, NULL, SUP_START);
	iso_msg_free(req);
	return (rc);
}

int
iso_sup_pause(const char *target)
{
	return (supctl_call("pause", target, NULL));
}

int
iso_sup_resume(const char *target)
{
	return (supctl_call("resume", target, NULL));
}

static long
supctl_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Ping isolate id's loop on its socket; wait for the answer. */
static int
supctl_ping_loop(const char *target, uint64_t id, pid_t pid, int timeout_ms)
{
	iso_port	*p;
	iso_msg		*nil, *m = NULL;
	int		 rc;

	if ((p = iso_port_new()) == NULL)
		return (-1);
	if ((nil = iso_msg_pack("n")) == NULL) {
		iso_port_close(p);
		return (-1);
	}
	rc = ping_send(id, pid, iso_port_sendport(p), nil);
	iso_msg_free(nil);
	if (rc == -1) {
		iso_port_close(p);
		if (errno == ECONNREFUSED)
			return (msg_fail(ECONNREFUSED, "ping: %s has no port "
			    "open: there is no loop to ask", target));
		return (-1);
	}
	if (iso_port_first(p, &m, timeout_ms) == -1) {
		iso_port_close(p);
		if (errno == ETIMEDOUT)
			return (msg_fail(ETIMEDOUT, "ping: %s did not answer "
			    "within %d ms (busy or paused)", target,
			    timeout_ms));
		return (-1);
	}
	iso_msg_free(m);
	return (0);
}

int
iso_sup_ping(const char *target, int priority, int timeout_ms)
{
	iso_msg		*rep = NULL;
	const char	*hex, *kind;
	uint64_t	 id;
	long		 end = supctl_now_ms() + timeout_ms;
	int		 pid, paused, rc;
	struct timespec	 ts = { 0, PING_POLL_MS * 1000000L };

	if (priority != ISO_IMMEDIATE && priority != ISO_BEFORE_NEXT_EVENT)
		return (msg_fail(EINVAL, "ping: bad priority"));
	for (;;) {
		if (supctl_call("ping", target, &rep) == -1)
			return (-1);
		paused = 0;
		if (iso_msg_unpack(rep, "{s:s s:i s:s s?b}", "id", &hex, "pid",
		    &pid, "kind", &kind, "paused", &paused) == -1) {
			iso_msg_free(rep);
			return (msg_fail(EPROTO, "ping: a reply without its "
			    "isolate"));
		}
		id = strtoull(hex, NULL, 16);
		if (priority == ISO_IMMEDIATE)
			break;
		if (strcmp(kind, "isolate") == 0) {
			rc = supctl_ping_loop(target, id, pid, timeout_ms);
			iso_msg_free(rep);
			return (rc);
		}
		iso_msg_free(rep);
		rep = NULL;
		if (!paused)
			return (0);
		if (timeout_ms >= 0 && supctl_now_ms() >= end)
			return (msg_fail(ETIMEDOUT, "ping: %s is paused", target));
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		ts.tv_nsec = PING_POLL_MS * 1000000L;
	}
	iso_msg_free(rep);
	return (0);
}
