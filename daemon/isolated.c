/*
 * isolated.c: the supervisor's main: options, the lock, the socket, the
 * loop.
 */
#include <stdio.h>

int
main(void)
{
	fputs("isolated: not yet\n", stderr);
	return (1);
}
