/*
 * state.c: files in the supervisor's state directory, written so that a
 * reader (or a supervisor started after a crash) sees the old content or
 * the new, never a torn one: a temporary file renamed into place. There
 * is no fsync: what this guards against is the supervisor dying, not the
 * machine (the runtime directory, $XDG_RUNTIME_DIR, is usually a tmpfs
 * that a reboot empties anyway), and an fsync a message would make every
 * mailbox put cost a disk flush.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "wire.h"

int
state_path(const char *dir, uint64_t id, const char *suffix, char *buf,
    size_t len)
{
	int	n;

	n = snprintf(buf, len, "%s/%016" PRIx64 "%s", dir, id, suffix);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

int
state_write(const char *path, const iso_msg *m)
{
	char	 tmp[4096], *json;
	int	 fd, n, saved;

	n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((json = iso_msg_to_json(m)) == NULL)
		return (-1);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		goto fail;
	if (frame_write_all(fd, json, strlen(json)) == -1 ||
	    frame_write_all(fd, "\n", 1) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		goto fail;
	}
	if (close(fd) == -1 && errno != EINTR)
		goto fail;
	if (rename(tmp, path) == -1)
		goto fail;
	free(json);
	return (0);
fail:
	saved = errno;
	(void)unlink(tmp);
	free(json);
	errno = saved;
	return (-1);
}

iso_msg *
state_read(const char *path)
{
	FILE	*f;
	char	*text = NULL;
	size_t	 cap = 0, len = 0, r;
	iso_msg	*m;
	int	 fd, saved;

	/* Never through a symlink planted in the state directory. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY)) ==
	    -1)
		return (NULL);
	if ((f = fdopen(fd, "r")) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return (NULL);
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char	*p;

			cap = cap == 0 ? 8192 : cap * 2;
			if ((p = realloc(text, cap)) == NULL)
				goto fail;
			text = p;
		}
		r = fread(text + len, 1, cap - len - 1, f);
		len += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		errno = EIO;
		goto fail;
	}
	fclose(f);
	text[len] = '\0';
	m = iso_msg_from_json(text);
	saved = errno;
	free(text);
	errno = saved;
	return (m);
fail:
	saved = errno;
	fclose(f);
	free(text);
	errno = saved;
	return (NULL);
}
