/*
 * mod_compute.c: a compute module for check_dcompute, loaded by the
 * supervisor's compute service. Built -shared without the library: the
 * process that loads it exports the iso_* functions.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"

#define BIG	(4 * 1024 * 1024)

iso_msg	*square(const iso_msg *);
iso_msg	*echo(const iso_msg *);
iso_msg	*crash(const iso_msg *);
iso_msg	*spin(const iso_msg *);
iso_msg	*quit(const iso_msg *);
iso_msg	*null_result(const iso_msg *);
iso_msg	*big(const iso_msg *);

/* int n: n * n. */
iso_msg *
square(const iso_msg *arg)
{
	int64_t	n;

	if (iso_msg_int(arg, &n) == -1)
		return (NULL);
	return (iso_msg_pack("I", n * n));
}

/* The argument itself. */
iso_msg *
echo(const iso_msg *arg)
{
	return (iso_msg_copy(arg));
}

/* Dies of SIGSEGV. */
iso_msg *
crash(const iso_msg *arg)
{
	(void)arg;
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV);
	return (NULL);
}

/* Never returns. */
iso_msg *
spin(const iso_msg *arg)
{
	volatile unsigned long	n = 0;

	(void)arg;
	for (;;)
		n++;
}

/* Exits with status 3 and no result. */
iso_msg *
quit(const iso_msg *arg)
{
	(void)arg;
	_exit(3);
}

/* Fails. */
iso_msg *
null_result(const iso_msg *arg)
{
	(void)arg;
	return (NULL);
}

/* 4 MiB of bytes, each its offset's low byte: more than a pipe holds. */
iso_msg *
big(const iso_msg *arg)
{
	unsigned char	*p;
	iso_msg		*m;
	size_t		 i;

	(void)arg;
	if ((p = malloc(BIG)) == NULL)
		return (NULL);
	for (i = 0; i < BIG; i++)
		p[i] = (unsigned char)i;
	m = iso_msg_pack("y#", p, (size_t)BIG);
	free(p);
	return (m);
}

iso_msg	*big_unbounded(const iso_msg *);

/* big, having raised this process's frame limit: the reader's own
   limit is what stops it. */
iso_msg *
big_unbounded(const iso_msg *arg)
{
	iso_limit_set(ISO_LIMIT_FRAME, 64 * 1024 * 1024);
	return (big(arg));
}

iso_msg	*square_or_die(const iso_msg *);

/* For isoctl map: -1 crashes (SIGSEGV), -2 spins for ever, else n * n. */
iso_msg *
square_or_die(const iso_msg *arg)
{
	int64_t	n;

	if (iso_msg_int(arg, &n) == 0 && n == -1)
		return (crash(arg));
	if (iso_msg_int(arg, &n) == 0 && n == -2)
		return (spin(arg));
	return (square(arg));
}

iso_msg	*pid(const iso_msg *);
iso_msg	*which(const iso_msg *);
iso_msg	*nap(const iso_msg *);

/* The pid of the process that runs it: a warm worker's stays. */
iso_msg *
pid(const iso_msg *arg)
{
	(void)arg;
	return (iso_msg_pack("i", (int)getpid()));
}

/* Which module this is (mod_compute2 says 2). */
iso_msg *
which(const iso_msg *arg)
{
	(void)arg;
	return (iso_msg_pack("i", 1));
}

/* Sleeps arg milliseconds, then says its pid. */
iso_msg *
nap(const iso_msg *arg)
{
	int64_t	ms = 0;

	(void)iso_msg_int(arg, &ms);
	usleep((useconds_t)ms * 1000);
	return (iso_msg_pack("i", (int)getpid()));
}

iso_msg	*node(const iso_msg *);

/* The node whose supervisor runs it (its ISO_NODE, inherited). */
iso_msg *
node(const iso_msg *arg)
{
	const char	*n = getenv("ISO_NODE");

	(void)arg;
	return (iso_msg_pack("s", n != NULL ? n : ""));
}

iso_msg	*opens(const iso_msg *);

/* string path: opens it (a sandbox's compute profile forbids it), 1. */
iso_msg *
opens(const iso_msg *arg)
{
	const char	*path = iso_msg_str(arg, NULL);
	int		 fd;

	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (NULL);
	close(fd);
	return (iso_msg_pack("i", 1));
}
