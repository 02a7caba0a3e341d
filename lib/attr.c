/*
 * attr.c: spawn options (iso_spawn_attr), what a new isolate does with
 * them before its entry runs, and the note a dying isolate leaves for its
 * spawner when it can say better than a signal number why it died.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attr.h"
#include "hot.h"
#include "msg.h"
#include "rlimit.h"
#include "sandbox.h"

#define NAME_MAX_LEN	255

static int	note_fd = -1;		/* in the child: the write end */

iso_spawn_attr *
iso_spawn_attr_new(void)
{
	iso_spawn_attr	*a;

	if ((a = calloc(1, sizeof *a)) == NULL)
		msg_fail(ENOMEM, "spawn attr: out of memory");
	return (a);
}

void
iso_spawn_attr_free(iso_spawn_attr *a)
{
	if (a == NULL)
		return;
	free(a->name);
	iso_msg_free(a->exit_msg);
	free(a->sandbox);
	sandbox_free(a->sb);
	free(a);
}

int
iso_spawn_attr_set_name(iso_spawn_attr *a, const char *name)
{
	size_t	 len, i;
	char	*copy;

	if (a == NULL || name == NULL)
		return (msg_fail(EINVAL, "spawn attr: no attr or no name"));
	len = strlen(name);
	if (len == 0 || len > NAME_MAX_LEN)
		return (msg_fail(EINVAL, "spawn attr: a name is 1 to %d bytes, "
		    "not %zu", NAME_MAX_LEN, len));
	if (!msg_utf8_valid(name, len))
		return (msg_fail(EINVAL, "spawn attr: the name is not UTF-8"));
	for (i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return (msg_fail(EINVAL, "spawn attr: the name has a "
			    "control character at byte %zu", i));
	if ((copy = strdup(name)) == NULL)
		return (msg_fail(ENOMEM, "spawn attr: out of memory"));
	free(a->name);
	a->name = copy;
	return (0);
}

int
iso_spawn_attr_set_paused(iso_spawn_attr *a, int paused)
{
	if (a == NULL)
		return (msg_fail(EINVAL, "spawn attr: no attr"));
	a->paused = paused != 0;
	return (0);
}

int
iso_spawn_attr_set_on_exit(iso_spawn_attr *a, iso_sendport to,
    const iso_msg *response)
{
	iso_msg	*m;

	if (a == NULL || to.isolate == 0 || to.port == 0)
		return (msg_fail(EINVAL, "spawn attr: no attr or no port"));
	if (response != NULL && (response->flags & MSG_FDS))
		return (msg_fail(EINVAL, "spawn attr: an exit response cannot "
		    "hold a descriptor"));
	if ((m = response != NULL ? iso_msg_copy(response) :
	    iso_msg_pack("n")) == NULL)
		return (-1);
	iso_msg_free(a->exit_msg);
	a->exit_msg = m;
	a->exit_to = to;
	a->on_exit = 1;
	return (0);
}

int
iso_spawn_attr_set_on_error(iso_spawn_attr *a, iso_sendport to)
{
	if (a == NULL || to.isolate == 0 || to.port == 0)
		return (msg_fail(EINVAL, "spawn attr: no attr or no port"));
	a->error_to = to;
	a->on_error = 1;
	return (0);
}

int
iso_spawn_attr_set_limit(iso_spawn_attr *a, enum iso_rlimit which,
    uint64_t value)
{
	if (a == NULL || (unsigned)which >= ATTR_RLIMITS)
		return (msg_fail(EINVAL, "spawn attr: no attr or an unknown "
		    "limit"));
	if (value == 0 || value == UINT64_MAX)
		return (msg_fail(EINVAL, "spawn attr: a limit is above 0 and "
		    "finite"));
	a->limit[which] = value;
	a->limits |= 1u << which;
	return (0);
}

int
iso_spawn_attr_set_sandbox(iso_spawn_attr *a, const char *profile)
{
	struct sandbox	*sb;
	char		*copy;

	if (a == NULL || profile == NULL)
		return (msg_fail(EINVAL, "spawn attr: no attr or no profile"));
	if ((sb = sandbox_new(profile)) == NULL)
		return (-1);
	if ((copy = strdup(profile)) == NULL) {
		sandbox_free(sb);
		return (msg_fail(ENOMEM, "spawn attr: out of memory"));
	}
	free(a->sandbox);
	sandbox_free(a->sb);
	a->sandbox = copy;
	a->sb = sb;
	return (0);
}

iso_spawn_attr *
attr_copy(const iso_spawn_attr *a)
{
	iso_spawn_attr	*c;

	if ((c = iso_spawn_attr_new()) == NULL)
		return (NULL);
	if ((a->name != NULL && (c->name = strdup(a->name)) == NULL) ||
	    (a->sandbox != NULL && (c->sandbox = strdup(a->sandbox)) ==
	    NULL)) {
		iso_spawn_attr_free(c);
		msg_fail(ENOMEM, "spawn attr: out of memory");
		return (NULL);
	}
	c->limits = a->limits;
	memcpy(c->limit, a->limit, sizeof c->limit);
	c->sb = sandbox_ref(a->sb);
	return (c);
}

int
attr_exec_check(const iso_spawn_attr *a)
{
	return (a != NULL ? sandbox_exec_check(a->sb) : 0);
}

int
attr_wants_note(const iso_spawn_attr *a)
{
	return (a != NULL && (a->limits != 0 || a->sandbox != NULL));
}

/* ---- the note ------------------------------------------------------------ */

int
attr_note_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) == -1)
		return (-1);
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) == -1) {
		close(fds[0]);
		close(fds[1]);
		return (-1);
	}
	return (0);
}

ISO_HOT int
attr_note_child(int fd, int at)
{
	/* A note inherited from our spawner's spawn is not ours to write. */
	if (note_fd != -1 && note_fd != fd)
		close(note_fd);
	note_fd = -1;
	if (fd == -1)
		return (0);
	if (at >= 0 && fd != at) {
		if (dup2(fd, at) == -1)		/* not O_CLOEXEC */
			return (-1);
		close(fd);
		fd = at;
	} else if (at >= 0 && fcntl(fd, F_SETFD, 0) == -1)
		return (-1);
	note_fd = fd;
	return (0);
}

void
attr_note_write(const char *desc, const char *detail)
{
	char	buf[ATTR_NOTE_MAX];
	size_t	n = 0, i;

	if (note_fd == -1)
		return;
	for (i = 0; desc[i] != '\0' && n < sizeof buf - 2; i++)
		buf[n++] = desc[i] == '\t' ? ' ' : desc[i];
	buf[n++] = '\t';
	for (i = 0; detail[i] != '\0' && n < sizeof buf; i++)
		buf[n++] = detail[i];
	/* One write of at most PIPE_BUF: whole or not at all. */
	(void)!write(note_fd, buf, n);
}

int
attr_note_read(int fd, char *desc, size_t dlen, char *detail, size_t tlen)
{
	char	 buf[ATTR_NOTE_MAX + 1], *tab;
	ssize_t	 r;

	while ((r = read(fd, buf, ATTR_NOTE_MAX)) == -1 && errno == EINTR)
		;
	if (r <= 0)
		return (0);
	buf[r] = '\0';
	if ((tab = strchr(buf, '\t')) == NULL)
		return (0);
	*tab++ = '\0';
	if (dlen == 0 || tlen == 0)
		return (1);
	strncpy(desc, buf, dlen - 1);
	desc[dlen - 1] = '\0';
	strncpy(detail, tab, tlen - 1);
	detail[tlen - 1] = '\0';
	return (1);
}

void
attr_exec_start(void)
{
	struct stat	 st;
	const char	*env;
	char		*end;
	long		 fd;

	if ((env = getenv("ISO_NOTE_FD")) == NULL)
		return;
	errno = 0;
	fd = strtol(env, &end, 10);
	unsetenv("ISO_NOTE_FD");
	if (errno != 0 || end == env || *end != '\0' || fd < 3 ||
	    fd > 1024 || fstat((int)fd, &st) == -1 || !S_ISFIFO(st.st_mode) ||
	    fcntl((int)fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    attr_note_child((int)fd, -1) == -1)
		return;
	rlimit_exec_arm();
	sandbox_exec_arm();
}

/* Close every O_CLOEXEC descriptor but keep (-1: none), as exec would,
   listing /proc/self/fd (async-signal-safe: system calls only). For a
   child stopped before its exec: it must not hold what its exec would
   have closed (the spawner's connections: their peers would miss an end
   of file). */
void
attr_close_cloexec(int keep)
{
	char		 buf[4096];
	const char	*name;
	unsigned short	 reclen;
	long		 n, off;
	int		 dfd, fd, flags;

	if ((dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return;
	/* struct linux_dirent64: ino (8), off (8), reclen (2), type, name */
	while ((n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0)
		for (off = 0; off + 19 < n; off += reclen) {
			memcpy(&reclen, buf + off + 16, sizeof reclen);
			if (reclen == 0)
				break;
			name = buf + off + 19;
			if (*name < '0' || *name > '9')
				continue;
			for (fd = 0; *name >= '0' && *name <= '9'; name++)
				fd = fd * 10 + (*name - '0');
			if (fd == dfd || fd == keep ||
			    (flags = fcntl(fd, F_GETFD)) == -1 ||
			    !(flags & FD_CLOEXEC))
				continue;
			close(fd);
		}
	close(dfd);
}

/* ---- in the new isolate --------------------------------------------------- */

/* setrlimit (rlimit.c); before it, in a fork, the handlers that tell a
   fault of exhausted memory from another (an exec'd program's library
   sets its own). 0, or which + 1 of the limit that failed. */
static int
attr_limits(const iso_spawn_attr *a, int exec)
{
	if (!exec && (a->limits & (1u << ISO_RLIMIT_MEMORY)) &&
	    rlimit_arm(a->limit[ISO_RLIMIT_MEMORY]) == -1)
		return (ISO_RLIMIT_MEMORY + 1);
	return (rlimit_apply(a->limits, a->limit));
}

ISO_HOT int
attr_child(const iso_spawn_attr *a, int exec)
{
	int	failed;

	if (a == NULL)
		return (0);
	if (a->name != NULL)
		(void)prctl(PR_SET_NAME, a->name, 0, 0, 0);
	if ((failed = attr_limits(a, exec)) != 0) {
		if (!exec)	/* msg_fail formats: not async-signal-safe */
			msg_fail(errno, "limit %d of %" PRIu64 ": setrlimit: "
			    "%s", failed - 1, a->limit[failed - 1],
			    strerror(errno));
		return (-1);
	}
	if (sandbox_child(a->sb, exec) == -1) {
		if (!exec)
			msg_fail(errno, "sandbox %s: %s", a->sandbox,
			    strerror(errno));
		return (-1);
	}
	return (0);
}
