/*
 * ibpos.c: where each stream from another node is (supervisor/inbound):
 * the last frame of it written to its isolate, saved before it is
 * acknowledged, so that a supervisor started after a killed one neither
 * delivers a frame twice nor waits for one it had. The file is a table
 * of slots mapped shared: saving a position is one 8-byte store, which is
 * in the page cache at once and outlives the process (no system call on
 * the message path; no fsync: a machine that crashes loses its isolates
 * too). A slot is filled before it is marked used, so a supervisor killed
 * while taking one leaves it unused.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"

#define IBP_FILE	"inbound.pos"
#define IBP_FIRST	64		/* slots in a new file */

struct ibp_slot {
	uint64_t	written;
	char		from[65];
	char		stream[17];
	uint8_t		used;
	uint8_t		pad[5];
};

static int		 ibp_fd = -1;
static struct ibp_slot	*ibp_map;
static size_t		 ibp_n;		/* slots mapped */

/* Room for n slots: 0, or -1 with errno. */
static int
ibp_grow(size_t n)
{
	struct ibp_slot	*m;

	if (n <= ibp_n)
		return (0);
	if (ftruncate(ibp_fd, (off_t)(n * sizeof *m)) == -1)
		return (-1);
	if (ibp_map == NULL)
		m = mmap(NULL, n * sizeof *m, PROT_READ | PROT_WRITE,
		    MAP_SHARED, ibp_fd, 0);
	else
		m = mremap(ibp_map, ibp_n * sizeof *m, n * sizeof *m,
		    MREMAP_MAYMOVE);
	if (m == MAP_FAILED)
		return (-1);
	ibp_map = m;
	ibp_n = n;
	return (0);
}

int
ibp_open(const char *sdir, void (*fn)(const char *, const char *, uint64_t,
    int, void *), void *arg)
{
	struct stat	st;
	char		path[4096];
	size_t		i, n;

	if (snprintf(path, sizeof path, "%s/%s", sdir, IBP_FILE) >=
	    (int)sizeof path) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	if ((ibp_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1)
		return (-1);
	if (fstat(ibp_fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		ibp_close();
		errno = EINVAL;
		return (-1);
	}
	n = (size_t)st.st_size / sizeof *ibp_map;
	if (ibp_grow(n > IBP_FIRST ? n : IBP_FIRST) == -1) {
		ibp_close();
		return (-1);
	}
	for (i = 0; i < n; i++) {
		if (!ibp_map[i].used)
			continue;
		ibp_map[i].from[sizeof ibp_map[i].from - 1] = '\0';
		ibp_map[i].stream[sizeof ibp_map[i].stream - 1] = '\0';
		fn(ibp_map[i].from, ibp_map[i].stream, ibp_map[i].written,
		    (int)i, arg);
	}
	return (0);
}

int
ibp_take(const char *from, const char *stream, uint64_t written)
{
	struct ibp_slot	*s;
	size_t		 i;

	if (ibp_map == NULL)
		return (-1);
	for (i = 0; i < ibp_n && ibp_map[i].used; i++)
		;
	if (i == ibp_n && ibp_grow(ibp_n * 2) == -1)
		return (-1);
	s = &ibp_map[i];
	s->written = written;
	snprintf(s->from, sizeof s->from, "%s", from);
	snprintf(s->stream, sizeof s->stream, "%s", stream);
	s->used = 1;
	return ((int)i);
}

void
ibp_set(int slot, uint64_t written)
{
	if (slot >= 0 && (size_t)slot < ibp_n)
		ibp_map[slot].written = written;
}

void
ibp_drop(int slot)
{
	if (slot >= 0 && (size_t)slot < ibp_n)
		ibp_map[slot].used = 0;
}

void
ibp_close(void)
{
	if (ibp_map != NULL)
		munmap(ibp_map, ibp_n * sizeof *ibp_map);
	ibp_map = NULL;
	ibp_n = 0;
	if (ibp_fd != -1)
		close(ibp_fd);
	ibp_fd = -1;
}
