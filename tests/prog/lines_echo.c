/*
 * lines_echo DIR [USEC]: a --lines command for the tests that prints
 * each line it reads (then sleeps USEC microseconds, so that input
 * waits on its terminal), and leaves a record of what it read that a
 * SIGKILL cannot cut short. It reads its stdin one byte at a time straight into a file
 * of its own, DIR/run.PID.K, mapped shared: a byte the read returned is
 * in the file even if the process dies the next instant. After echoing
 * a line it writes '+' after that line's newline in the file. So, once
 * it is dead, its file tells which lines it read ("...\n"), which it
 * answered ("...\n+") and which it read only part of (no newline).
 * Exits 0 at end of input, 2 on bad usage, 3 when its file is full.
 */
#include <sys/mman.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define LOG_SIZE	(8 * 1024 * 1024)

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += w;
		n -= (size_t)w;
	}
	return (0);
}

int
main(int argc, char **argv)
{
	char	 path[PATH_MAX], *log;
	size_t	 off = 0, start = 0;
	ssize_t	 n;
	int	 fd = -1, k, usec = 0;

	if (argc < 2 || argc > 3)
		return (2);
	if (argc == 3)
		usec = atoi(argv[2]);
	for (k = 0; fd == -1 && k < 1000; k++) {
		snprintf(path, sizeof path, "%s/run.%d.%d", argv[1],
		    (int)getpid(), k);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd == -1 || ftruncate(fd, LOG_SIZE) == -1 ||
	    (log = mmap(NULL, LOG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0)) == MAP_FAILED)
		return (2);
	close(fd);
	for (;;) {
		if (off + 2 >= LOG_SIZE)
			return (3);
		n = read(STDIN_FILENO, log + off, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (0);
		if (log[off++] != '\n')
			continue;
		if (write_all(STDOUT_FILENO, log + start, off - start) == -1)
			return (1);
		log[off++] = '+';
		start = off;
		if (usec > 0)
			usleep((useconds_t)usec);
	}
}
