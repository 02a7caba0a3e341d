/*
 * bench_cluster.c: isolates on two nodes of a cluster, against plain
 * nats.c on the same nats-server.
 *
 *   cluster_rt (us)       isolate: {"msg": n} from this program (node a)
 *                         to an echo isolate on node b and back: through
 *                         a's proxy for it, NATS, b's inbound delivery,
 *                         and the same way back, acknowledgements and
 *                         all. raw: natsConnection_Request of the same 7
 *                         bytes to a responder process (an asynchronous
 *                         subscription publishing the reply), both with
 *                         SendAsap, nats.c's setting for latency.
 *   cluster_oneway (msg/s) isolate: {"msg": n} from this program to a
 *                         counting isolate on b, CHUNK sends a callback
 *                         of its loop (written together when it returns,
 *                         as bench_oneway sends), from the first send to
 *                         the sink's report that it has them all. raw: the same
 *                         7 bytes published (nats.c's buffered writes)
 *                         to a subscriber process that counts them in an
 *                         asynchronous subscription and says when it has
 *                         them all.
 *
 * Everything is its own: a nats-server on a free loopback port (its log
 * read for the port), two supervisors (isolated --foreground --nats URL
 * --node a and --node b), each in a runtime directory of its own; the
 * isolate on b is this program again (--peer), spawned through a's
 * supervisor, and so are the raw peers (--raw-echo, --raw-sink). At
 * exit, failed or not, the supervisors are stopped (their isolates with
 * them), then the nats-server, and the directories removed. Rounds
 * alternate between raw and isolate. QUICK=1: 3 short rounds.
 * CLBENCH_ONLY=rt or oneway runs one of the two (for a profile).
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "benchutil.h"
#include "isolate.h"

#define WAIT_MS		60000
#define START_MS	10000		/* nats-server, supervisors, nodes */
#define SUBJ_ECHO	"clbench.echo"
#define SUBJ_SINK	"clbench.sink"
#define CHUNK		5000		/* sends a callback: ~55 KB */

/* {"msg": 1} as an isolate frame's payload: port 1, then the map. */
static const char	payload[] = { 0x01, (char)0x81, (char)0xa3, 'm', 's',
			    'g', 0x01 };

/* ---- processes of our own, ended at exit -------------------------------- */

static char	 workdir[64], rtdir[2][64];
static char	 nats_url[64];
static volatile pid_t nats_pid, sup_pid[2];
static int	 finished;	/* 0 at exit: failed, the logs shown */

static void	show_log(const char *, const char *);

static void
msleep(int ms)
{
	struct timespec	ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Wait for pid at most ms, then SIGKILL it: 0 if it ended by itself. */
static int
end_within(pid_t pid, int ms)
{
	int	status, waited;

	for (waited = 0; waited < ms; waited += 20) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return (0);
		msleep(20);
	}
	(void)kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return (-1);
}

/* The directories removed: fork and exec only, as a signal handler may
   call it. */
static void
rm_dirs(void)
{
	pid_t	pid;
	int	status;

	if (workdir[0] == '\0')
		return;
	if ((pid = fork()) == 0) {
		execl("/bin/rm", "rm", "-rf", "--", workdir, rtdir[0], rtdir[1],
		    (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
	workdir[0] = '\0';
}

/* The supervisors stopped (gracefully: they end their isolates), then
   the nats-server; async-signal-safe. 0, or -1 if one had to be killed. */
static int
stop_all(void)
{
	int	i, rc = 0;

	for (i = 0; i < 2; i++)
		if (sup_pid[i] > 0)
			(void)kill(sup_pid[i], SIGTERM);
	for (i = 0; i < 2; i++)
		if (sup_pid[i] > 0) {
			if (end_within(sup_pid[i], 10000) == -1)
				rc = -1;
			sup_pid[i] = 0;
		}
	if (nats_pid > 0) {
		(void)kill(nats_pid, SIGTERM);
		(void)end_within(nats_pid, 5000);
		nats_pid = 0;
	}
	return (rc);
}

/* At exit: what we started ended, the logs shown if we failed, the
   directories removed. */
static void
teardown(void)
{
	char	log[128];
	int	i;

	if (stop_all() == -1)
		fprintf(stderr, "bench_cluster: a supervisor did not stop; "
		    "killed\n");
	for (i = 0; !finished && workdir[0] != '\0' && i < 2; i++) {
		snprintf(log, sizeof log, "%s/%c.log", workdir, 'a' + i);
		if (access(log, F_OK) == 0)
			show_log(i == 0 ? "node a's log" : "node b's log", log);
	}
	rm_dirs();
}

/* The watchdog, or bench/run.sh's timeout: the same, then out. */
static void
on_alarm(int sig)
{
	static const char	alrm[] = "bench_cluster: FAILED: timed out\n",
				term[] = "bench_cluster: FAILED: terminated\n";

	if (sig == SIGALRM)
		(void)!write(2, alrm, sizeof alrm - 1);
	else
		(void)!write(2, term, sizeof term - 1);
	(void)stop_all();
	rm_dirs();
	_exit(1);
}

/* Print the tail of a log to stderr (on failure). */
static void
show_log(const char *what, const char *path)
{
	char	cmd[256];

	fprintf(stderr, "bench_cluster: %s (%s):\n", what, path);
	snprintf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", path);
	(void)!system(cmd);
}

/* The port nats-server logged it listens on, or 0. */
static int
nats_port(const char *log)
{
	static const char	 mark[] = "client connections on 127.0.0.1:";
	char			 line[512], *p;
	FILE			*f;
	int			 port = 0;

	if ((f = fopen(log, "re")) == NULL)
		return (0);
	while (fgets(line, sizeof line, f) != NULL)
		if ((p = strstr(line, mark)) != NULL)
			port = atoi(p + sizeof mark - 1);
	fclose(f);
	return (port);
}

static void
nats_start(void)
{
	char	log[128];
	pid_t	pid;
	int	port = 0, waited, status, fd;

	snprintf(log, sizeof log, "%s/nats.log", workdir);
	fflush(NULL);
	if ((pid = fork()) == -1)
		bench_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
		}
		execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p",
		    "-1", "-l", log, (char *)NULL);
		fprintf(stderr, "bench_cluster: nats-server: %s (make deps)\n",
		    strerror(errno));
		_exit(127);
	}
	nats_pid = pid;
	for (waited = 0; waited < START_MS; waited += 20) {
		if ((port = nats_port(log)) > 0)
			break;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			nats_pid = 0;
			show_log("nats-server's log", log);
			bench_fail("nats-server ended (status %#x)", status);
		}
		msleep(20);
	}
	if (port == 0) {
		show_log("nats-server's log", log);
		bench_fail("nats-server did not say its port");
	}
	snprintf(nats_url, sizeof nats_url, "nats://127.0.0.1:%d", port);
}

/* Supervisor i (node "a" + i) in the foreground, our child, its log in
   the work directory; returns once it serves. */
static void
sup_start(int i, const char *isolated)
{
	char	node[2] = { (char)('a' + i), '\0' }, log[128], ready[64];
	int	pfd[2], fd;
	ssize_t	n;
	pid_t	pid;

	snprintf(log, sizeof log, "%s/%s.log", workdir, node);
	if (pipe2(pfd, O_CLOEXEC) == -1)
		bench_fail("pipe: %s", strerror(errno));
	fflush(NULL);
	if ((pid = fork()) == -1)
		bench_fail("fork: %s", strerror(errno));
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDONLY)) != -1)
			dup2(fd, 0);
		if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600)) !=
		    -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (pfd[1] == 3)
			(void)fcntl(3, F_SETFD, 0);
		else
			dup2(pfd[1], 3);
		setenv("ISO_RUNTIME_DIR", rtdir[i], 1);
		unsetenv("ISO_NATS_URL");
		unsetenv("ISO_NODE");
		execl(isolated, isolated, "--foreground", "--ready-fd", "3",
		    "--grace-ms", "1000", "--nats", nats_url, "--node", node,
		    (char *)NULL);
		fprintf(stderr, "%s: %s\n", isolated, strerror(errno));
		_exit(127);
	}
	sup_pid[i] = pid;
	close(pfd[1]);
	while ((n = read(pfd[0], ready, sizeof ready - 1)) == -1 &&
	    errno == EINTR)
		;
	close(pfd[0]);
	if (n < 5 || strncmp(ready, "ready", 5) != 0) {
		show_log("its log", log);
		bench_fail("supervisor %s did not start", node);
	}
}

/* Until node a sees both nodes up. */
static void
nodes_up(void)
{
	iso_msg		*nodes;
	char		*json, *p;
	int		 waited, up;

	for (waited = 0; waited < START_MS; waited += 50) {
		if (iso_sup_nodes(&nodes) == 0) {
			up = 0;
			if ((json = iso_msg_to_json(nodes)) != NULL)
				for (p = json; (p = strstr(p,
				    "\"state\":\"up\"")) != NULL; p++)
					up++;
			free(json);
			iso_msg_free(nodes);
			if (up == 2)
				return;
		}
		msleep(50);
	}
	bench_fail("node b never came up on node a");
}

/* ---- the isolate on node b (--peer) ------------------------------------- */

static iso_sendport	echo_to, report_to;
static int64_t		want, got;

/* {"reply": SendPort}: echo to it from now on (this one too). */
static void
peer_echo(iso_port *p, const iso_msg *m, void *arg)
{
	(void)p;
	(void)arg;
	(void)iso_msg_unpack(m, "{s:P}", "reply", &echo_to);
	if (iso_send(echo_to, m) == -1)
		bench_child_fail("echo");
}

/* {"reply": SendPort, "count": N}: report {"got": N} there once N more
   messages came. */
static void
peer_sink(iso_port *p, const iso_msg *m, void *arg)
{
	iso_msg	*r;

	(void)p;
	(void)arg;
	if (iso_msg_unpack(m, "{s:P s:I}", "reply", &report_to, "count",
	    &want) == 0) {
		got = 0;
		return;
	}
	if (++got != want)
		return;
	if ((r = iso_msg_pack("{s:I}", "got", got)) == NULL ||
	    iso_send(report_to, r) == -1)
		bench_child_fail("report");
	iso_msg_free(r);
}

static int
peer(void)
{
	iso_port	*e, *s;

	if ((e = iso_port_new()) == NULL || (s = iso_port_new()) == NULL ||
	    iso_port_listen(e, peer_echo, NULL) == -1 ||
	    iso_port_listen(s, peer_sink, NULL) == -1 ||
	    iso_sup_register("clbench-echo", iso_port_sendport(e)) == -1 ||
	    iso_sup_register("clbench-sink", iso_port_sendport(s)) == -1)
		bench_child_fail("peer");
	return (iso_run() == 0 ? 0 : 1);
}

/* ---- the raw peers (--raw-echo URL, --raw-sink URL N) ------------------- */

static natsConnection	*raw_nc;
static long		 raw_want, raw_got;

static void
raw_echo_cb(natsConnection *nc, natsSubscription *sub, natsMsg *m,
    void *arg)
{
	(void)sub;
	(void)arg;
	if (natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m),
	    natsMsg_GetDataLength(m)) != NATS_OK)
		_exit(1);
	natsMsg_Destroy(m);
}

static void
raw_sink_cb(natsConnection *nc, natsSubscription *sub, natsMsg *m,
    void *arg)
{
	(void)nc;
	(void)sub;
	(void)arg;
	natsMsg_Destroy(m);
	if (++raw_got == raw_want) {
		raw_got = 0;
		if (write(3, "d", 1) != 1)
			_exit(1);
	}
}

/* Serve until stdin ends (the benchmark closed it); fd 3 says "r" once
   subscribed, and the sink "d" a round. */
static int
raw_peer(const char *what, const char *url, const char *n)
{
	natsOptions		*o = NULL;
	natsSubscription	*sub = NULL;
	int			 sink = strcmp(what, "--raw-sink") == 0;
	char			 c;
	ssize_t			 r;

	raw_want = n != NULL ? strtol(n, NULL, 10) : 0;
	if (natsOptions_Create(&o) != NATS_OK ||
	    natsOptions_SetURL(o, url) != NATS_OK ||
	    (!sink && natsOptions_SetSendAsap(o, true) != NATS_OK) ||
	    natsConnection_Connect(&raw_nc, o) != NATS_OK ||
	    natsConnection_Subscribe(&sub, raw_nc, sink ? SUBJ_SINK :
	    SUBJ_ECHO, sink ? raw_sink_cb : raw_echo_cb, NULL) != NATS_OK ||
	    natsSubscription_SetPendingLimits(sub, -1, -1) != NATS_OK ||
	    natsConnection_Flush(raw_nc) != NATS_OK) {
		fprintf(stderr, "bench_cluster %s: %s\n", what,
		    nats_GetLastError(NULL));
		return (1);
	}
	if (write(3, "r", 1) != 1)
		return (1);
	while ((r = read(0, &c, 1)) == -1 && errno == EINTR)
		;
	natsSubscription_Unsubscribe(sub);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(raw_nc);
	natsOptions_Destroy(o);
	nats_Close();
	return (0);
}

struct raw_kid {
	pid_t	pid;
	int	in;		/* its stdin: closed, it ends */
	int	out;		/* its fd 3 */
};

static void
raw_kid_start(struct raw_kid *k, const char *self, const char *what,
    const char *n)
{
	int	in[2], out[2];
	char	c;

	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1)
		bench_fail("pipe: %s", strerror(errno));
	if ((k->pid = bench_fork()) == 0) {
		dup2(in[0], 0);
		dup2(out[1], 3);
		execl(self, self, what, nats_url, n, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	k->in = in[1];
	k->out = out[0];
	if (bench_read_all(k->out, &c, 1) != 1 || c != 'r')
		bench_fail("%s did not start", what);
}

static void
raw_kid_stop(struct raw_kid *k)
{
	close(k->in);
	close(k->out);
	bench_reap(k->pid);
}

/* ---- the rounds --------------------------------------------------------- */

static natsConnection	*nc_rt, *nc_pub;

static double
raw_rt(long iters)
{
	natsMsg	*r;
	long	 k;
	double	 t = bench_now();

	for (k = 0; k < iters; k++) {
		if (natsConnection_Request(&r, nc_rt, SUBJ_ECHO, payload,
		    sizeof payload, 10000) != NATS_OK)
			bench_fail("raw: request: %s", nats_GetLastError(NULL));
		if (natsMsg_GetDataLength(r) != sizeof payload)
			bench_fail("raw: a wrong reply");
		natsMsg_Destroy(r);
	}
	return ((bench_now() - t) / (double)iters * 1e6);
}

static double
raw_oneway(struct raw_kid *sink, long n)
{
	long	k;
	char	c;
	double	t = bench_now();

	for (k = 0; k < n; k++)
		if (natsConnection_Publish(nc_pub, SUBJ_SINK, payload,
		    sizeof payload) != NATS_OK)
			bench_fail("raw: publish: %s", nats_GetLastError(NULL));
	if (natsConnection_Flush(nc_pub) != NATS_OK)
		bench_fail("raw: flush: %s", nats_GetLastError(NULL));
	if (bench_read_all(sink->out, &c, 1) != 1 || c != 'd')
		bench_fail("raw: the sink did not say it had them all");
	return ((double)n / (bench_now() - t));
}

static iso_sendport	 echo_port, sink_port;
static iso_timer	*deadline;
static long		 rt_left;
static double		 rt_start;

static void
too_late(void *arg)
{
	(void)arg;
	bench_fail("isolate: no echo within %d ms", WAIT_MS);
}

static void
on_echo(iso_port *p, const iso_msg *m, void *arg)
{
	iso_msg	*next;

	(void)m;
	(void)arg;
	if (rt_start == 0)		/* the hello came back: go */
		rt_start = bench_now();
	else if (--rt_left == 0) {
		rt_start = bench_now() - rt_start;
		iso_timer_cancel(deadline);
		iso_port_close(p);
		return;
	}
	if ((next = iso_msg_pack("{s:i}", "msg", (int)(rt_left & 0x7f))) ==
	    NULL || iso_send(echo_port, next) == -1)
		bench_fail("isolate: send: %s", iso_error());
	iso_msg_free(next);
}

/* A port of our own for this round, told to the echo (whose answer to
   that starts the clock), then iters echoes one after the other. */
static double
iso_rt(long iters)
{
	iso_port	*p;
	iso_msg		*hello;

	rt_left = iters;
	rt_start = 0;
	if ((p = iso_port_new()) == NULL ||
	    iso_port_listen(p, on_echo, NULL) == -1 ||
	    (hello = iso_msg_pack("{s:P}", "reply", iso_port_sendport(p))) ==
	    NULL || (deadline = iso_timer_after(WAIT_MS, too_late, NULL)) ==
	    NULL)
		bench_fail("isolate: %s", iso_error());
	if (iso_send(echo_port, hello) == -1)
		bench_fail("isolate: hello: %s", iso_error());
	iso_msg_free(hello);
	if (iso_run() == -1)
		bench_fail("isolate: run: %s", iso_error());
	return (rt_start / (double)iters * 1e6);
}

/* The sender of iso_oneway: CHUNK sends a callback, written together
   when it returns (as nats.c buffers publishes), then the loop again. */
struct producer {
	iso_msg		*m;
	long		 left;
};

static void
produce_cb(void *arg)
{
	struct producer	*pr = arg;
	long		 k;

	for (k = 0; k < CHUNK && pr->left > 0; k++) {
		if (iso_send(sink_port, pr->m) == -1) {
			if (errno != ENOBUFS)
				bench_fail("isolate: send: %s", iso_error());
			break;		/* the queue is full: when it has room */
		}
		pr->left--;
	}
	if (pr->left > 0 && (k == CHUNK ? iso_timer_after(0, produce_cb, pr)
	    == NULL : iso_on_writable(sink_port, produce_cb, pr) == -1))
		bench_fail("isolate: send: %s", iso_error());
}

static void
got_cb(iso_port *p, const iso_msg *m, void *arg)
{
	int64_t	*had = arg;

	if (iso_msg_unpack(m, "{s:I}", "got", had) == -1)
		*had = -1;
	iso_port_close(p);
}

static double
iso_oneway(long n)
{
	struct producer	 pr = { NULL, n };
	iso_port	*p;
	iso_msg		*ctl;
	int64_t		 had = -1;
	double		 t;

	if ((p = iso_port_new()) == NULL ||
	    iso_port_listen(p, got_cb, &had) == -1 ||
	    (ctl = iso_msg_pack("{s:P s:I}", "reply", iso_port_sendport(p),
	    "count", (int64_t)n)) == NULL ||
	    (pr.m = iso_msg_pack("{s:i}", "msg", 1)) == NULL)
		bench_fail("isolate: %s", iso_error());
	t = bench_now();
	if (iso_send_wait(sink_port, ctl, WAIT_MS) == -1)
		bench_fail("isolate: count: %s", iso_error());
	if (iso_timer_after(0, produce_cb, &pr) == NULL || iso_run() == -1)
		bench_fail("isolate: %s", iso_error());
	t = bench_now() - t;
	if (had != n)
		bench_fail("isolate: the sink got a wrong count");
	iso_msg_free(pr.m);
	iso_msg_free(ctl);
	return ((double)n / t);
}

/* The peer spawned on b through a's supervisor; its two ports, found on
   b by name, usable here through a's proxy. */
static void
peer_start(const char *self)
{
	char *const		 argv[] = { (char *)self, (char *)"--peer",
				    NULL };
	iso_sup_spawn_opts	 o = { .argv = argv, .name = "clbench-peer" };
	int			 waited;

	if (iso_sup_set_node("b") == -1 || iso_sup_spawn(&o, NULL) == -1)
		bench_fail("spawn on node b: %s", iso_error());
	for (waited = 0; waited < START_MS; waited += 20) {
		if (iso_sup_lookup("clbench-echo", &echo_port) == 0 &&
		    iso_sup_lookup("clbench-sink", &sink_port) == 0)
			break;
		if (errno != ENOENT)
			bench_fail("lookup on node b: %s", iso_error());
		msleep(20);
	}
	if (waited >= START_MS)
		bench_fail("the peer on node b did not register");
	if (iso_sup_set_node(NULL) == -1)
		bench_fail("set_node: %s", iso_error());
}

static natsConnection *
raw_connect(int asap)
{
	natsOptions	*o = NULL;
	natsConnection	*nc = NULL;

	if (natsOptions_Create(&o) != NATS_OK ||
	    natsOptions_SetURL(o, nats_url) != NATS_OK ||
	    (asap && natsOptions_SetSendAsap(o, true) != NATS_OK) ||
	    natsConnection_Connect(&nc, o) != NATS_OK)
		bench_fail("raw: connect: %s", nats_GetLastError(NULL));
	natsOptions_Destroy(o);
	return (nc);
}

int
main(int argc, char **argv)
{
	double		 rr[BENCH_ROUNDS_MAX], ir[BENCH_ROUNDS_MAX],
			 ro[BENCH_ROUNDS_MAX], io[BENCH_ROUNDS_MAX];
	char		 self[PATH_MAX], isolated[PATH_MAX + 16], nstr[24];
	char		*slash;
	const char	*only;
	struct raw_kid	 echo_kid, sink_kid;
	int		 quick = bench_quick(), rounds = quick ? 3 : 9, r, i;
	long		 iters = quick ? 300 : 2000;
	long		 n = quick ? 20000 : 100000;

	if (argc == 2 && strcmp(argv[1], "--peer") == 0)
		return (peer());
	if ((argc == 3 || argc == 4) && strncmp(argv[1], "--raw-", 6) == 0)
		return (raw_peer(argv[1], argv[2], argc == 4 ? argv[3] : NULL));

	/* Inside bench/run.sh's limits (120 s, QUICK; 300 s). */
	bench_init("bench_cluster", quick ? 100 : 280);
	signal(SIGALRM, on_alarm);
	signal(SIGTERM, on_alarm);
	if (realpath(argv[0], self) == NULL)
		bench_fail("where am I: %s", strerror(errno));
	snprintf(isolated, sizeof isolated, "%s", self);
	/* BUILD/bench/bench_cluster: BUILD/isolated */
	for (i = 0; i < 2; i++)
		if ((slash = strrchr(isolated, '/')) != NULL)
			*slash = '\0';
	strncat(isolated, "/isolated", sizeof isolated - strlen(isolated) - 1);

	snprintf(workdir, sizeof workdir, "/tmp/iso-clbench-XXXXXX");
	for (i = 0; i < 2; i++)
		snprintf(rtdir[i], sizeof rtdir[i], "/tmp/iso-clbench-%c-XXXXXX",
		    'a' + i);
	if (mkdtemp(workdir) == NULL || mkdtemp(rtdir[0]) == NULL ||
	    mkdtemp(rtdir[1]) == NULL)
		bench_fail("mkdtemp: %s", strerror(errno));
	atexit(teardown);

	nats_start();
	sup_start(0, isolated);
	sup_start(1, isolated);
	setenv("ISO_RUNTIME_DIR", rtdir[0], 1);
	(void)iso_sup_autostart(0);	/* never one of ours outside the cluster */
	nodes_up();
	peer_start(self);

	snprintf(nstr, sizeof nstr, "%ld", n);
	raw_kid_start(&echo_kid, self, "--raw-echo", NULL);
	raw_kid_start(&sink_kid, self, "--raw-sink", nstr);
	nc_rt = raw_connect(1);
	nc_pub = raw_connect(0);

	/* Warm-up: every path once, the proxies made. */
	(void)raw_rt(iters / 10);
	(void)iso_rt(iters / 10);
	/* CLBENCH_ONLY=rt or oneway: the other rows 0 (to profile one). */
	only = getenv("CLBENCH_ONLY");
	for (r = 0; r < rounds; r++) {
		rr[r] = ir[r] = ro[r] = io[r] = 0;
		if (only == NULL || strcmp(only, "rt") == 0) {
			rr[r] = raw_rt(iters);
			ir[r] = iso_rt(iters);
		}
		if (only == NULL || strcmp(only, "oneway") == 0) {
			ro[r] = raw_oneway(&sink_kid, n);
			io[r] = iso_oneway(n);
		}
	}
	natsConnection_Destroy(nc_rt);
	natsConnection_Destroy(nc_pub);
	raw_kid_stop(&echo_kid);
	raw_kid_stop(&sink_kid);
	bench_emit("cluster_rt", "raw", "us", "lower", rr, rounds);
	bench_emit("cluster_rt", "isolate", "us", "lower", ir, rounds);
	bench_emit("cluster_oneway", "raw", "msg/s", "higher", ro, rounds);
	bench_emit("cluster_oneway", "isolate", "msg/s", "higher", io, rounds);
	finished = 1;
	return (0);
}
