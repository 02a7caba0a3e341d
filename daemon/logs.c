/*
 * logs.c: reading what a command wrote (ID.log and the older ID.log.1
 * the shepherd rotated it to), whole or from where a reader stopped.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "daemon.h"
#include "records.h"
#include "supproto.h"

/* The size of path, 0 when it is not there. */
static uint64_t
logs_size(const char *path)
{
	struct stat	st;

	return (lstat(path, &st) == 0 && S_ISREG(st.st_mode) ?
	    (uint64_t)st.st_size : 0);
}

/* Bytes [from, to) of path appended at buf + *n. 0 or -1. */
static int
logs_read(const char *path, uint64_t from, uint64_t to, char *buf, size_t *n)
{
	ssize_t	r;
	int	fd;

	if (to <= from)
		return (0);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return (errno == ENOENT ? 0 : -1);
	while (from < to) {
		r = pread(fd, buf + *n, (size_t)(to - from), (off_t)from);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		*n += (size_t)r;
		from += (uint64_t)r;
	}
	close(fd);
	return (0);
}

/*
 * "logs" {target, offset}: at most SUP_LOGS_CHUNK bytes of what the
 * command wrote. The offset is opaque to clients: 0 asks for the latest
 * chunk of ID.log.1 and ID.log together; else it is 1 + a position in
 * ID.log, and a position beyond ID.log's end means ID.log was rotated
 * since, so the rest of ID.log.1 comes first.
 */
struct logs_args {
	uint64_t	offset;
};

static void
op_logs(struct sv_conn *c, const struct rq *r)
{
	const struct logs_args	*a = r->args;
	char		 cur[PATH_MAX], old[PATH_MAX], *buf;
	uint64_t	 off = a->offset, id = rec_id(r->target.rec), pos, size_cur, size_old, room;
	uint64_t	 old_from = 0, old_to = 0, cur_from, cur_to;
	size_t		 n = 0;

	if (state_path(rec_dir, id, ".log", cur, sizeof cur) == -1 ||
	    state_path(rec_dir, id, ".log.1", old, sizeof old) == -1) {
		sv_error(c, ENAMETOOLONG, "logs: path too long");
		return;
	}
	size_old = logs_size(old);
	size_cur = logs_size(cur);
	if (off == 0) {
		cur_from = size_cur > SUP_LOGS_CHUNK ?
		    size_cur - SUP_LOGS_CHUNK : 0;
		room = SUP_LOGS_CHUNK - (size_cur - cur_from);
		old_from = size_old > room ? size_old - room : 0;
		old_to = size_old;
	} else if ((pos = off - 1) <= size_cur)
		cur_from = pos;
	else {
		old_from = pos < size_old ? pos : size_old;
		old_to = size_old - old_from > SUP_LOGS_CHUNK ?
		    old_from + SUP_LOGS_CHUNK : size_old;
		cur_from = 0;
	}
	room = SUP_LOGS_CHUNK - (old_to - old_from);
	cur_to = size_cur - cur_from > room ? cur_from + room : size_cur;
	if ((buf = malloc(SUP_LOGS_CHUNK)) == NULL) {
		sv_error(c, ENOMEM, "out of memory");
		return;
	}
	if (logs_read(old, old_from, old_to, buf, &n) == -1 ||
	    logs_read(cur, cur_from, cur_to, buf, &n) == -1) {
		free(buf);
		sv_error(c, errno, "logs: %s", strerror(errno));
		return;
	}
	sv_reply(c, iso_msg_pack("{s:b s:y# s:U}", "ok", 1, "data", buf, n,
	    "offset", 1 + cur_to));
	free(buf);
}


static const struct rq_field logs_fields[] = {
	RQ_FIELD(struct logs_args, offset, "offset", RQ_U64, 0, 0, 0),
	RQ_END
};

const struct rq_entry rq_logs = {
	.name = "logs", .exec = op_logs, .target = TGT_RECORD,
	.size = sizeof(struct logs_args), .fields = logs_fields
};
