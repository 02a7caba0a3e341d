/*
 * supproto.h: what the supervisor and its clients share (docs/protocol.md,
 * "The supervisor"). Internal: lib/supclient.c and daemon/ include it.
 *
 * On <runtime dir>/supervisor.sock a client writes frames whose payload
 * is one request, a map {"op": OP, ...}, and reads one reply per request,
 * in order: {"ok": true, ...} or {"ok": false, "errno": NAME, "error":
 * TEXT}. Notifications (SUP_OP_SPAWNED, SUP_OP_EXITED) get no reply.
 */
#ifndef ISO_LIB_SUPPROTO_H
#define ISO_LIB_SUPPROTO_H

#include <sys/types.h>

#include <stdint.h>

#include "isolate.h"

#define SUP_PROTOCOL_VERSION	2

#define SUP_SOCKET		"supervisor.sock"
#define SUP_LOCK		"supervisor.lock"	/* held while one runs */
#define SUP_START_LOCK		"supervisor.start"	/* held while starting */
#define SUP_STATE_DIR		"supervisor"		/* under the runtime dir */

/* Bytes of log one "logs" reply carries at most. */
#define SUP_LOGS_CHUNK		(1024 * 1024)

/* errno <-> its name on the wire ("ENOENT"); unknown names give EPROTO,
   unknown values "EIO". */
const char	*sup_errno_name(int e);
int		 sup_errno_value(const char *name);

/*
 * Tell the supervisor, if one runs, that this isolate forked isolate id
 * (pid; running fn, or the program prog; its name, NULL: none), or that
 * it ended (code as waitid's si_code, status; with_spawner: killed
 * because this isolate, its spawner, is ending). Never blocks and never fails: without a
 * supervisor (looked for at most once a second) nothing is sent.
 */
void		 sup_note_spawned(uint64_t id, pid_t pid, const void *fn,
		    const char *prog, const char *name);
void		 sup_note_exited(uint64_t id, int code, int status,
		    int with_spawner);

/*
 * supclient.c, for the library's other clients (supstream.c): send req
 * (borrowed) and read its reply, trying again when the supervisor went
 * away before it read the request, and with SUP_SAFE (a request that
 * may be made twice) also after; SUP_START starts a supervisor when none
 * runs. 0 and an owned *reply (may be NULL: dropped), or -1 with the
 * errno the supervisor named. On success *fdp (if not NULL) is the
 * connection, left open for more. SUP_KEEP: the connection is kept for
 * the process's next SUP_KEEP call, which takes it unless the supervisor
 * has closed it (one kept a process; a call while another thread holds
 * it opens its own).
 */
#define SUP_START	0x1
#define SUP_SAFE	0x2
#define SUP_KEEP	0x4
int		 sup_call_again(const iso_msg *req, iso_msg **reply, int *fdp,
		    int how);

#endif
