/*
 * chaos_kill_stream: a receiver SIGKILLed (iso_kill, ISO_IMMEDIATE) in
 * the middle of a stream. Its sender must learn it (iso_send fails with
 * ECONNREFUSED, whether the stream was flowing or its queue was full and
 * it waited with iso_send_wait), and the spawner must be left with no
 * zombie and no descriptor more than it had before.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

static void
die(const char *what)
{
	fprintf(stderr, "chaos_kill_stream: %s: %s\n", what, iso_error());
	exit(2);
}

/* The receiver: tells its port, then reads (slowly when asked). */
static void
count_cb(iso_port *p, const iso_msg *m, void *arg)
{
	(void)p;
	(void)m;
	if (*(int *)arg)
		tu_sleep_ms(1);
}

static void
receiver(const iso_msg *arg)
{
	iso_sendport	 back;
	iso_port	*p;
	iso_msg		*m;
	int		 slow;

	if (iso_msg_unpack(arg, "[Pb]", &back, &slow) == -1 ||
	    (p = iso_port_new()) == NULL)
		_exit(3);
	m = iso_msg_pack("P", iso_port_sendport(p));
	iso_send(back, m);
	iso_msg_free(m);
	iso_port_listen(p, count_cb, &slow);
	iso_run();
}

/* The sender: sends until refused, then answers [sent, errno]. */
static void
sender(const iso_msg *arg)
{
	iso_sendport	 to, back;
	iso_msg		*m;
	int64_t		 sent = 0;
	int		 e = 0;
	char		 pad[512];

	memset(pad, 'x', sizeof pad);
	if (iso_msg_unpack(arg, "[PP]", &to, &back) == -1)
		_exit(3);
	for (;;) {
		if ((m = iso_msg_pack("[Is#]", sent, pad, sizeof pad)) ==
		    NULL)
			_exit(4);
		if (iso_send(to, m) == -1 && (errno != ENOBUFS ||
		    iso_send_wait(to, m, 20000) == -1)) {
			e = errno;
			iso_msg_free(m);
			break;
		}
		iso_msg_free(m);
		sent++;
	}
	m = iso_msg_pack("[Ii]", sent, e);
	iso_send(back, m);
	iso_msg_free(m);
}

/* Zombie children of ours, from /proc. */
static int
zombies(void)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[300], buf[512], *p;
	FILE		*f;
	int		 n = 0, ppid;
	char		 state;

	if ((d = opendir("/proc")) == NULL)
		return (-1);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof buf, f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2, "%c %d", &state, &ppid) == 2 &&
		    ppid == (int)getpid() && state == 'Z')
			n++;
		fclose(f);
	}
	closedir(d);
	return (n);
}

static void
ended_cb(iso_port *p, const iso_msg *m, void *arg)
{
	(void)m;
	if (--*(int *)arg == 0)
		iso_port_close(p);
}

int
main(void)
{
	const char	*env = getenv("CHAOS_LONG");
	int		 runs = env != NULL && strcmp(env, "1") == 0 ? 500 : 60;
	int		 i, fds, refused = 0, other = 0, unreported = 0, z;
	int64_t		 sent_total = 0, sent, e;
	iso_port	*hello, *answer, *ended;
	iso_isolate	*r, *s;
	iso_sendport	 rport;
	iso_msg		*arg, *m;

	tu_runtime_dir();
	srand((unsigned)getpid());
	/* exit notices of the senders: they are reaped when these come;
	   also opens what the library keeps open for good (its socket) */
	if ((ended = iso_port_new()) == NULL)
		die("port");
	/* and the epoll instance of its children's pidfds: one spawn */
	if (iso_spawn(receiver, NULL, &r) == 0) {
		iso_kill(r, ISO_IMMEDIATE);
		iso_isolate_free(r);
	}
	fds = tu_fd_count();
	for (i = 0; i < runs; i++) {
		if ((hello = iso_port_new()) == NULL ||
		    (answer = iso_port_new()) == NULL ||
		    (arg = iso_msg_pack("[Pb]", iso_port_sendport(hello),
		    i % 2)) == NULL || iso_spawn(receiver, arg, &r) == -1)
			die("receiver");
		iso_msg_free(arg);
		if (iso_port_first(hello, &m, 10000) == -1 ||
		    iso_msg_sendport(m, &rport) == -1)
			die("receiver's port");
		iso_msg_free(m);
		if ((arg = iso_msg_pack("[PP]", rport,
		    iso_port_sendport(answer))) == NULL ||
		    iso_spawn(sender, arg, &s) == -1 ||
		    iso_on_exit(s, iso_port_sendport(ended), NULL) == -1)
			die("sender");
		iso_msg_free(arg);
		tu_sleep_ms(1 + rand() % 30);
		if (iso_kill(r, ISO_IMMEDIATE) == -1)
			die("kill");
		iso_isolate_free(r);
		if (iso_port_first(answer, &m, 30000) == -1) {
			unreported++;
			iso_kill(s, ISO_IMMEDIATE);
		} else {
			if (iso_msg_unpack(m, "[II]", &sent, &e) == -1)
				die("answer");
			iso_msg_free(m);
			sent_total += sent;
			if (e == ECONNREFUSED)
				refused++;
			else
				other++;
		}
		iso_isolate_free(s);
	}
	/* the senders end on their own: the loop reaps them, then tells */
	iso_port_listen(ended, ended_cb, &runs);
	if (iso_run() == -1)
		die("run");
	z = zombies();
	runs = i;
	printf("chaos kill_stream: kills=%d sent=%lld refused=%d "
	    "other_errors=%d unreported=%d zombies=%d leaked_fds=%d\n", runs,
	    (long long)sent_total, refused, other, unreported, z,
	    tu_fd_count() - fds);
	return (refused == runs && z == 0 && tu_fd_count() == fds ? 0 : 1);
}
