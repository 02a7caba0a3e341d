/*
 * vfork_hold MS: over and over, vfork a child that sleeps MS milliseconds
 * and exits (in a process group of its own: a pause of ours leaves it;
 * killed when we end). The parent spends nearly all its time waiting in the kernel
 * for its child (not stoppable there), so a SIGSTOP sent to it takes
 * effect only up to MS ms later: the tests of pause use it to see that
 * the supervisor answers once the process has stopped, not once the
 * signal is sent.
 */
#include <sys/prctl.h>

#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct timespec	ts;
	long		ms;

	if (argc != 2 || (ms = strtol(argv[1], NULL, 10)) <= 0)
		return (2);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	for (;;) {
		if (vfork() == 0) {
			(void)setpgid(0, 0);
			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			(void)nanosleep(&ts, NULL);
			_exit(0);
		}
	}
}
