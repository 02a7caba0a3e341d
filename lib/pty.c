/*
 * pty.c: a raw pseudo-terminal for a line-per-item program (pty.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "pty.h"

int
pty_open(int *child, int *own)
{
	struct termios	 t;
	const char	*name;
	int		 m;

	if ((m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1)
		return (-1);
	if (grantpt(m) == -1 || unlockpt(m) == -1 ||
	    (name = ptsname(m)) == NULL ||
	    (*child = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
		close(m);
		return (-1);
	}
	if (own != NULL && (*own = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC |
	    O_NONBLOCK)) == -1) {
		close(*child);
		close(m);
		return (-1);
	}
	/* No echo, no line editing, no CR/LF translation either way. */
	if (tcgetattr(*child, &t) == 0) {
		cfmakeraw(&t);
		(void)tcsetattr(*child, TCSANOW, &t);
	}
	(void)fcntl(m, F_SETFL, O_NONBLOCK);
	return (m);
}
