/*
 * ping.c: Isolate.ping. The spawner sends a control frame (port 0,
 * ["ping", to, response]) to the isolate, on its pair or its socket; the
 * isolate's own loop, reading it, sends response to `to`. So an answer
 * proves the loop runs; with ISO_IMMEDIATE the spawner answers for it
 * at once if its process exists, paused or busy.
 */
#include <errno.h>
#include <string.h>

#include "loop.h"
#include "msg.h"
#include "spawn.h"

int
iso_ping(iso_isolate *iso, iso_sendport to, const iso_msg *response,
    int priority)
{
	iso_msg		*nil = NULL;
	uint64_t	 id;
	pid_t		 pid;
	int		 rc;

	if (priority != ISO_IMMEDIATE && priority != ISO_BEFORE_NEXT_EVENT)
		return (msg_fail(EINVAL, "ping: bad priority"));
	if (to.isolate == 0 || to.port == 0)
		return (msg_fail(EINVAL, "ping: no port to answer"));
	if (response != NULL && (response->flags & MSG_FDS))
		return (msg_fail(EINVAL, "ping: a response cannot hold a "
		    "descriptor"));
	if (isolate_target(iso, &id, &pid) == -1)
		return (-1);
	if (response == NULL && (response = nil = iso_msg_pack("n")) == NULL)
		return (-1);
	if (priority == ISO_IMMEDIATE) {
		rc = iso_send(to, response);
		iso_msg_free(nil);
		return (rc);
	}
	rc = ping_send(id, pid, to, response);
	iso_msg_free(nil);
	return (rc);
}

int
ping_send(uint64_t id, pid_t pid, iso_sendport to, const iso_msg *response)
{
	iso_sendport	 peer;
	iso_msg		*ctl;
	int		 rc;

	if ((ctl = iso_msg_pack("[sPO]", "ping", to, response)) == NULL)
		return (-1);
	memset(&peer, 0, sizeof peer);
	peer.isolate = id;
	peer.pid = (uint32_t)pid;
	/* Held to the bound of a message: pings to an isolate that reads
	   nothing must not grow our queue without end. */
	if (!conn_room(id, conn_frame_need(ctl)))
		rc = msg_fail(ENOBUFS, "ping: the queue to isolate %d is full",
		    (int)pid);
	else
		rc = conn_send(peer, ctl);
	iso_msg_free(ctl);
	return (rc);
}

int
ping_control(const iso_msg *m)
{
	const char	*kind;
	const iso_msg	*response;
	iso_sendport	 to;

	if (iso_msg_unpack(m, "[sPO!]", &kind, &to, &response) == -1 ||
	    strcmp(kind, "ping") != 0)
		return (0);
	/* A sender gone meanwhile is no one's loss. */
	(void)iso_send(to, response);
	return (1);
}
