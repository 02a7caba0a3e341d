/*
 * memfd.c: sealed memory files for large bytes values (memfd.h).
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "memfd.h"
#include "msg.h"

#define MFD_SEALS	(F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW)

static int
mfd_create(size_t len)
{
	int	fd;

	if (len == 0 || len > (size_t)INT64_MAX)
		return (msg_fail(EINVAL, "bytes: a shared value of %zu bytes",
		    len));
	if ((fd = memfd_create("iso-bytes", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) == -1)
		return (msg_fail(errno, "bytes: memfd_create: %s",
		    strerror(errno)));
	if (ftruncate(fd, (off_t)len) == -1) {
		msg_fail(errno, "bytes: %zu bytes of shared memory: %s", len,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

static int
mfd_add_seals(int fd)
{
	if (fcntl(fd, F_ADD_SEALS, MFD_SEALS | F_SEAL_SEAL) == -1)
		return (msg_fail(errno, "bytes: sealing: %s", strerror(errno)));
	return (0);
}

int
mfd_from(const void *p, size_t len)
{
	const char	*q = p;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = mfd_create(len)) == -1)
		return (-1);
	/* One copy, by the kernel into the file's pages: no mapping, no
	   page faults here. */
	while (off < len) {
		n = pwrite(fd, q + off, len - off, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			msg_fail(n == 0 ? ENOSPC : errno, "bytes: writing %zu "
			    "bytes of shared memory: %s", len,
			    strerror(n == 0 ? ENOSPC : errno));
			close(fd);
			return (-1);
		}
		off += (size_t)n;
	}
	if (mfd_add_seals(fd) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

void *
mfd_new(size_t len, int *fd)
{
	void	*p;

	if ((*fd = mfd_create(len)) == -1)
		return (NULL);
	if ((p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd,
	    0)) == MAP_FAILED) {
		msg_fail(errno, "bytes: mapping %zu bytes: %s", len,
		    strerror(errno));
		close(*fd);
		*fd = -1;
		return (NULL);
	}
	(void)madvise(p, len, MADV_DONTFORK);
	return (p);
}

void *
mfd_seal(int fd, void *map, size_t len)
{
	void	*p;

	munmap(map, len);
	if (mfd_add_seals(fd) == -1)
		return (NULL);
	if ((p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)) ==
	    MAP_FAILED) {
		msg_fail(errno, "bytes: mapping %zu bytes: %s", len,
		    strerror(errno));
		return (NULL);
	}
	return (p);
}

const void *
mfd_map(int fd, size_t len)
{
	struct stat	 st;
	void		*p;
	int		 seals;

	if ((seals = fcntl(fd, F_GET_SEALS)) == -1) {
		msg_fail(EBADMSG, "bytes: a shared value that is not a sealed "
		    "memory file (%s)", strerror(errno));
		return (NULL);
	}
	if ((seals & MFD_SEALS) != MFD_SEALS) {
		msg_fail(EBADMSG, "bytes: a shared value its sender can still "
		    "change (seals %#x)", seals);
		return (NULL);
	}
	if (fstat(fd, &st) == -1) {
		msg_fail(EBADMSG, "bytes: a shared value: fstat: %s",
		    strerror(errno));
		return (NULL);
	}
	if (st.st_size < 0 || (uint64_t)st.st_size != (uint64_t)len) {
		msg_fail(EBADMSG, "bytes: a shared value of %lld bytes, "
		    "announced as %zu", (long long)st.st_size, len);
		return (NULL);
	}
	if ((p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)) ==
	    MAP_FAILED) {
		msg_fail(errno, "bytes: mapping %zu bytes: %s", len,
		    strerror(errno));
		return (NULL);
	}
	return (p);
}

void
mfd_unmap(const void *p, size_t len)
{
	if (p != NULL)
		munmap((void *)(uintptr_t)p, len);
}
