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

/* fd is a sealed memfd of exactly len bytes: 0, or -1 (EBADMSG). */
static int
mfd_check(int fd, size_t len)
{
	struct stat	 st;
	int		 seals;

	if ((seals = fcntl(fd, F_GET_SEALS)) == -1) {
		msg_fail(EBADMSG, "bytes: a shared value that is not a sealed "
		    "memory file (%s)", strerror(errno));
		return (-1);
	}
	if ((seals & MFD_SEALS) != MFD_SEALS) {
		msg_fail(EBADMSG, "bytes: a shared value its sender can still "
		    "change (seals %#x)", seals);
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		msg_fail(EBADMSG, "bytes: a shared value: fstat: %s",
		    strerror(errno));
		return (-1);
	}
	if (st.st_size < 0 || (uint64_t)st.st_size != (uint64_t)len) {
		msg_fail(EBADMSG, "bytes: a shared value of %lld bytes, "
		    "announced as %zu", (long long)st.st_size, len);
		return (-1);
	}
	return (0);
}

const void *
mfd_map(int fd, size_t len)
{
	void	*p;

	if (mfd_check(fd, len) == -1)
		return (NULL);
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

/* ---- shared values ------------------------------------------------------ */

struct mfd_head {
	int		fd;
	int		sealed;
	size_t		len;
	unsigned long	refs;
};

static size_t
mfd_page(void)
{
	static size_t	page;

	if (page == 0)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return (page);
}

static struct mfd_head *
mfd_head(const char *p)
{
	return ((struct mfd_head *)(uintptr_t)(p - mfd_page()));
}

/* Map fd's len bytes (prot) after a header page: the bytes, or NULL. */
static char *
mfd_place(int fd, size_t len, int prot, int sealed)
{
	struct mfd_head	*h;
	size_t		 page = mfd_page();
	char		*base;

	if (len > SIZE_MAX - page) {
		msg_fail(ENOMEM, "bytes: %zu bytes", len);
		return (NULL);
	}
	if ((base = mmap(NULL, page + len, PROT_NONE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)) == MAP_FAILED)
		goto fail;
	if (mmap(base + page, len, prot, MAP_SHARED | MAP_FIXED, fd, 0) ==
	    MAP_FAILED || mprotect(base, page, PROT_READ | PROT_WRITE) == -1) {
		munmap(base, page + len);
		goto fail;
	}
	h = (struct mfd_head *)base;
	h->fd = fd;
	h->sealed = sealed;
	h->len = len;
	h->refs = 1;
	return (base + page);
fail:
	msg_fail(errno, "bytes: mapping %zu bytes: %s", len, strerror(errno));
	return (NULL);
}

const char *
mfd_attach(int fd, size_t len)
{
	if (mfd_check(fd, len) == -1)
		return (NULL);
	return (mfd_place(fd, len, PROT_READ, 1));
}

char *
mfd_alloc(size_t len)
{
	char	*q;
	int	 fd;

	if ((fd = mfd_create(len)) == -1)
		return (NULL);
	if ((q = mfd_place(fd, len, PROT_READ | PROT_WRITE, 0)) == NULL) {
		close(fd);
		return (NULL);
	}
	(void)madvise(q, len, MADV_DONTFORK);
	return (q);
}

int
mfd_freeze(const char *p)
{
	struct mfd_head	*h = mfd_head(p);

	if (h->sealed)
		return (0);
	/* A file mapped shared (even read-only) from a writable descriptor
	   cannot be sealed: a placeholder takes the mapping's place (no gap
	   another thread's mmap could take), then the sealed file takes the
	   placeholder's, read-only at the same address. */
	if (mmap((void *)(uintptr_t)p, h->len, PROT_NONE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
		return (msg_fail(errno, "bytes: mapping %zu bytes: %s", h->len,
		    strerror(errno)));
	if (mfd_add_seals(h->fd) == -1)
		return (-1);
	if (mmap((void *)(uintptr_t)p, h->len, PROT_READ, MAP_SHARED |
	    MAP_FIXED, h->fd, 0) == MAP_FAILED)
		return (msg_fail(errno, "bytes: mapping %zu bytes: %s", h->len,
		    strerror(errno)));
	h->sealed = 1;
	return (0);
}

int
mfd_fd(const char *p)
{
	return (mfd_head(p)->fd);
}

void
mfd_ref(const char *p)
{
	__atomic_add_fetch(&mfd_head(p)->refs, 1, __ATOMIC_RELAXED);
}

static void
mfd_drop(const char *p, int close_fd)
{
	struct mfd_head	*h = mfd_head(p);
	int		 fd = h->fd;

	munmap(h, mfd_page() + h->len);
	if (close_fd)
		(void)close(fd);
}

void
mfd_unref(const char *p)
{
	if (__atomic_sub_fetch(&mfd_head(p)->refs, 1, __ATOMIC_ACQ_REL) == 0)
		mfd_drop(p, 1);
}

void
mfd_abandon(const char *p)
{
	mfd_drop(p, 0);
}
