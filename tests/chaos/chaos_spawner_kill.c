/*
 * chaos_spawner_kill: spawners SIGKILLed at random moments, with a
 * supervisor running. Each spawner (this program run again as
 * "--spawner") makes a port, spawns three isolates that make ports of
 * their own and tell it so, and waits; it is SIGKILLed anywhere from
 * before its first port to long after. Their sockets are abstract and
 * go with them; at the end the runtime directory holds at most a handful
 * of stale entries (temporary binds, an older library's sockets) and no
 * process is left.
 *
 *   chaos spawner_kill: spawners=N kills=N stale=K orphans=0 zombies=0
 *
 * CHAOS_LONG=1: 1000 spawners (else 150). env BUILD: where isolated is.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

#define CHILDREN	3
#define STALE_MAX	5	/* "a handful" */
#define SETTLE_MS	15000	/* how long the sweeping may take at most */

static const char	*rt;

static void
child(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_port	*p;
	iso_msg		*m;

	if (iso_msg_unpack(arg, "P", &to) == -1 || (p = iso_port_new()) ==
	    NULL || (m = iso_msg_pack("P", iso_port_sendport(p))) == NULL ||
	    iso_send(to, m) == -1)
		exit(2);
	iso_msg_free(m);
	(void)iso_run();
}

static void
heard(iso_port *p, const iso_msg *m, void *arg)
{
	(void)p;
	(void)m;
	(void)arg;
}

/* The spawner: runs until killed. */
static int
spawner(void)
{
	iso_port	*p;
	iso_msg		*arg;
	int		 i;

	if ((p = iso_port_new()) == NULL ||
	    iso_port_listen(p, heard, NULL) == -1 ||
	    (arg = iso_msg_pack("P", iso_port_sendport(p))) == NULL)
		return (1);
	for (i = 0; i < CHILDREN; i++)
		if (iso_spawn(child, arg, NULL) == -1)
			return (1);
	iso_msg_free(arg);
	for (;;)
		(void)iso_run();
}

/* Entries a dead isolate can leave: "<16 hex>.sock" and "*.new"; show:
   name each on stderr. */
static int
stale_entries_shown(int show)
{
	struct dirent	*e;
	DIR		*d;
	size_t		 len;
	int		 n = 0;

	if ((d = opendir(rt)) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL) {
		len = strlen(e->d_name);
		if ((len == 21 && strcmp(e->d_name + 16, ".sock") == 0) ||
		    (len > 4 && strcmp(e->d_name + len - 4, ".new") == 0)) {
			if (show)
				fprintf(stderr, "left: %s\n", e->d_name);
			n++;
		}
	}
	closedir(d);
	return (n);
}

static int
stale_entries(void)
{
	return (stale_entries_shown(0));
}

/*
 * Processes other than us and the supervisor (sup) that carry our
 * runtime directory in their environment: orphans; SIGKILLed when kill.
 * Zombies: our own children not reaped.
 */
static int
survivors(pid_t sup, int kill_them, int *zombies)
{
	char		 want[128], path[64], *env, buf[512], *p;
	struct dirent	*e;
	DIR		*d;
	FILE		*f;
	size_t		 n, cap = 1 << 16, i;
	pid_t		 pid;
	int		 count = 0, ppid;

	*zombies = 0;
	snprintf(want, sizeof want, "ISO_RUNTIME_DIR=%s", rt);
	if ((d = opendir("/proc")) == NULL || (env = malloc(cap)) == NULL) {
		if (d != NULL)
			closedir(d);
		return (-1);
	}
	while ((e = readdir(d)) != NULL) {
		if ((pid = (pid_t)atoi(e->d_name)) <= 0 || pid == getpid() ||
		    pid == sup)
			continue;
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(buf, sizeof buf, f) != NULL &&
			    (p = strrchr(buf, ')')) != NULL &&
			    sscanf(p + 2, "%*c %d", &ppid) == 1 &&
			    ppid == getpid() && p[2] == 'Z')
				(*zombies)++;
			fclose(f);
		}
		snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		n = fread(env, 1, cap - 1, f);
		fclose(f);
		env[n] = '\0';
		for (i = 0; i < n; i += strlen(env + i) + 1)
			if (strcmp(env + i, want) == 0 && tu_alive(pid)) {
				count++;
				if (kill_them)
					kill(pid, SIGKILL);
				break;
			}
	}
	free(env);
	closedir(d);
	return (count);
}

int
main(int argc, char **argv)
{
	char		 self[PATH_MAX], isolated[PATH_MAX];
	const char	*build, *lng = getenv("CHAOS_LONG");
	iso_msg		*st;
	int64_t		 sup = 0;
	int		 n, i, kills = 0, status, stale, orphans, zombies, ms;
	int		 left, z;
	pid_t		 pid;

	if (argc == 2 && strcmp(argv[1], "--spawner") == 0)
		return (spawner());
	n = lng != NULL && strcmp(lng, "1") == 0 ? 1000 : 150;
	if (realpath("/proc/self/exe", self) == NULL)
		return (2);
	if ((build = getenv("BUILD")) == NULL) {
		/* build/tests/chaos/chaos_spawner_kill: BUILD is ../.. */
		snprintf(isolated, sizeof isolated, "%s", self);
		for (i = 0; i < 3; i++)
			*strrchr(isolated, '/') = '\0';
		strcat(isolated, "/isolated");
	} else
		snprintf(isolated, sizeof isolated, "%s/isolated", build);
	setenv("ISO_ISOLATED", isolated, 1);
	signal(SIGPIPE, SIG_IGN);
	rt = tu_runtime_dir();
	if (iso_sup_start() == -1 || iso_sup_status(&st) == -1) {
		fprintf(stderr, "chaos spawner_kill: no supervisor: %s\n",
		    iso_error());
		return (1);
	}
	(void)iso_msg_unpack(st, "{s:I}", "pid", &sup);
	iso_msg_free(st);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());

	for (i = 0; i < n; i++) {
		if ((pid = fork()) == -1) {
			perror("chaos spawner_kill: fork");
			break;
		}
		if (pid == 0) {
			execl(self, self, "--spawner", (char *)NULL);
			_exit(127);
		}
		/* Anywhere from at once to well after its isolates listen. */
		ms = (int)(random() % 40);
		if (ms > 0)
			tu_sleep_ms(ms);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
			kills++;
	}

	/* The spawners' isolates die with them; the supervisor sweeps
	   their sockets as it sees each end. Wait for both. */
	for (left = SETTLE_MS; left > 0; left -= 50) {
		if (survivors((pid_t)sup, 0, &z) == 0 &&
		    stale_entries() <= STALE_MAX)
			break;
		tu_sleep_ms(50);
	}
	orphans = survivors((pid_t)sup, 1, &zombies);
	stale = stale_entries_shown(1);
	printf("chaos spawner_kill: spawners=%d kills=%d stale=%d "
	    "orphans=%d zombies=%d\n", i, kills, stale, orphans, zombies);
	if (iso_sup_stop() == -1 && sup > 0)
		kill((pid_t)sup, SIGKILL);
	return (stale <= STALE_MAX && stale >= 0 && orphans == 0 &&
	    zombies == 0 && kills == n ? 0 : 1);
}
