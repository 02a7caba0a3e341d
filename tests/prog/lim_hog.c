/*
 * lim_hog: a program that hits a limit on purpose, for check_rlimit and
 * isoctl_limits.sh. argv[1] says how:
 *   alloc	enter the library (iso_initial_message), then malloc 1 MiB
 *		blocks until one fails and use the NULL it got (SIGSEGV)
 *   alloc-nolib  the same without ever entering the library
 *   spin	spin on the CPU forever
 *   grow SIZE_MB  touch SIZE_MB MiB, print "grown", then sleep
 *   fds	print "ISO_NOTE_FD=..." (or "none") and the descriptors
 *		open above 2, then exit 0
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"

static void
alloc(void)
{
	volatile char *volatile p;

	while ((p = malloc(1024 * 1024)) != NULL)
		memset((char *)p, 1, 1024 * 1024);
	p[0] = 1;			/* the NULL malloc gave */
}

static void
fds(void)
{
	const char	*e = getenv("ISO_NOTE_FD");
	struct dirent	*d;
	DIR		*dir;

	printf("ISO_NOTE_FD=%s\n", e != NULL ? e : "none");
	if ((dir = opendir("/proc/self/fd")) == NULL)
		return;
	while ((d = readdir(dir)) != NULL)
		if (atoi(d->d_name) > 2 && atoi(d->d_name) != dirfd(dir))
			printf("fd %s\n", d->d_name);
	closedir(dir);
}

int
main(int argc, char **argv)
{
	char		*p;
	size_t		 n, i;

	if (argc < 2)
		return (2);
	if (strcmp(argv[1], "alloc") == 0) {
		(void)iso_initial_message();
		alloc();
	} else if (strcmp(argv[1], "alloc-nolib") == 0)
		alloc();
	else if (strcmp(argv[1], "spin") == 0)
		for (;;)
			;
	else if (strcmp(argv[1], "grow") == 0 && argc == 3) {
		n = (size_t)atoi(argv[2]) * 1024 * 1024;
		if ((p = malloc(n)) == NULL)
			return (1);
		for (i = 0; i < n; i += 4096)
			p[i] = 1;
		printf("grown\n");
		fflush(stdout);
		for (;;)
			pause();
	} else if (strcmp(argv[1], "fds") == 0) {
		fds();
		return (0);
	}
	return (2);
}
