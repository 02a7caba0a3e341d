/*
 * chaos_half_frames: many peers each announce a huge frame (up to the
 * frame limit) and send only its first bytes, at the supervisor's
 * request socket, at a mailbox socket, and at an isolate's socket. Each
 * must spend about what came, not what was announced, and keep serving
 * meanwhile: a status, a send and take through the mailbox, a message
 * to the isolate on a good connection of its socket, answered in order.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

#include "chaos_sup.h"

#define MIB		(1024.0 * 1024.0)
#define ANSWERS		20

/* The isolate under attack: sends its port's SendPort, then answers
   each {"n": k, "back": P} with k. */
static void
echo_cb(iso_port *p, const iso_msg *m, void *arg)
{
	iso_sendport	 back;
	iso_msg		*r;
	int		 k;

	(void)p;
	(void)arg;
	if (iso_msg_unpack(m, "{s:i s:P}", "n", &k, "back", &back) == -1)
		return;
	if ((r = iso_msg_pack("i", k)) != NULL)
		(void)iso_send(back, r);
	iso_msg_free(r);
}

static void
echo_entry(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_port	*p = iso_port_new();
	iso_msg		*m;

	int		 null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	/* one line per dropped peer: hundreds, expected */
	if (null != -1) {
		dup2(null, 2);
		close(null);
	}
	if (p == NULL || iso_msg_unpack(arg, "P", &to) == -1)
		return;
	m = iso_msg_pack("P", iso_port_sendport(p));
	(void)iso_send(to, m);
	iso_msg_free(m);
	(void)iso_port_listen(p, echo_cb, NULL);
}

/* The isolate's answers, in the order they came. */
struct answers {
	iso_port	*p;
	iso_timer	*t;
	int		 n, next, dup, reordered;
};

static void
answer_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct answers	*a = arg;
	int64_t		 v = -1;

	(void)iso_msg_int(m, &v);
	if (v < a->next)
		a->dup++;
	else if (v > a->next)
		a->reordered++;
	a->next = (int)v + 1;
	if (++a->n == ANSWERS) {
		iso_timer_cancel(a->t);
		iso_port_close(p);
	}
}

static void
answers_late(void *arg)
{
	struct answers	*a = arg;

	iso_port_close(a->p);	/* iso_run returns; what is missing is lost */
}

/* Where to connect: a path, or an isolate's abstract name. */
struct addr {
	struct sockaddr_un	sun;
	socklen_t		len;
	char			what[64];
};

static void
addr_path(struct addr *a, const char *path)
{
	memset(&a->sun, 0, sizeof a->sun);
	a->sun.sun_family = AF_UNIX;
	memcpy(a->sun.sun_path, path, strnlen(path, sizeof a->sun.sun_path -
	    1));
	a->len = sizeof a->sun;
	snprintf(a->what, sizeof a->what, "the supervisor's socket");
}

static void
addr_id(struct addr *a, uint64_t id)
{
	a->len = tu_iso_addr(id, &a->sun);
	snprintf(a->what, sizeof a->what, "isolate %016" PRIx64, id);
}

static int
dial(const struct addr *a)
{
	int	fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (const struct sockaddr *)&a->sun, a->len) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/*
 * Start a frame that announces len payload bytes and send `sent` of
 * them: the port (port > 0; none for the supervisor's requests), then a
 * bin 32 that would fill the rest. 0, or -1.
 */
static int
half_frame(int fd, uint32_t len, uint32_t port, size_t sent)
{
	unsigned char	 buf[16 + 4096];
	size_t		 n = 4, bin;

	buf[0] = (unsigned char)(len >> 24);
	buf[1] = (unsigned char)(len >> 16);
	buf[2] = (unsigned char)(len >> 8);
	buf[3] = (unsigned char)len;
	if (port > 0) {
		buf[n++] = 0xce;
		buf[n++] = (unsigned char)(port >> 24);
		buf[n++] = (unsigned char)(port >> 16);
		buf[n++] = (unsigned char)(port >> 8);
		buf[n++] = (unsigned char)port;
	}
	bin = len - (n - 4) - 5;
	buf[n++] = 0xc6;
	buf[n++] = (unsigned char)(bin >> 24);
	buf[n++] = (unsigned char)(bin >> 16);
	buf[n++] = (unsigned char)(bin >> 8);
	buf[n++] = (unsigned char)bin;
	if (sent > 4096)
		sent = 4096;
	memset(buf + n, 'h', sent);
	n += sent;
	return (send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1);
}

/* A whole frame for port: the message m. */
static int
whole_frame(int fd, uint32_t port, const iso_msg *m)
{
	unsigned char	 buf[512];
	void		*p;
	size_t		 len;
	int		 r;

	if (iso_msg_encode(m, &p, &len) == -1 || len + 9 > sizeof buf)
		return (-1);
	buf[4] = 0xce;
	buf[5] = (unsigned char)(port >> 24);
	buf[6] = (unsigned char)(port >> 16);
	buf[7] = (unsigned char)(port >> 8);
	buf[8] = (unsigned char)port;
	memcpy(buf + 9, p, len);
	free(p);
	len += 5;
	buf[0] = buf[1] = 0;
	buf[2] = (unsigned char)(len >> 8);
	buf[3] = (unsigned char)len;
	r = send(fd, buf, len + 4, MSG_NOSIGNAL) == (ssize_t)(len + 4) ? 0 :
	    -1;
	return (r);
}

/* A process's memory: its address space and resident part at the
   start, and the most each has grown by since. */
struct growth {
	pid_t	 pid;
	size_t	 vm0, rss0, vm, rss;
};

static void
growth_start(struct growth *g, pid_t pid)
{
	memset(g, 0, sizeof *g);
	g->pid = pid;
	g->vm0 = chaos_vm(pid, &g->rss0);
}

static void
growth_take(struct growth *g)
{
	size_t	rss, vm = chaos_vm(g->pid, &rss);

	if (vm > g->vm0 && vm - g->vm0 > g->vm)
		g->vm = vm - g->vm0;
	if (rss > g->rss0 && rss - g->rss0 > g->rss)
		g->rss = rss - g->rss0;
}

int
main(void)
{
	const char	*build = getenv("BUILD");
	int		 longrun = getenv("CHAOS_LONG") != NULL &&
			    strcmp(getenv("CHAOS_LONG"), "1") == 0;
	int		 rounds = longrun ? 6 : 2, peers = longrun ? 1000 : 200;
	char *const	 argv[] = { (char *)"sleep", (char *)"3600", NULL };
	char		 supsock[4200];
	struct addr	 to[3];
	iso_sup_spawn_opts o;
	iso_sendport	 box, echo;
	iso_isolate	*iso;
	iso_port	*mine;
	iso_msg		*m, *l, *info;
	uint64_t	 id;
	pid_t		 sup, ipid;
	struct growth	 sg, ig;	/* the supervisor's, the isolate's */
	size_t		 bound, sup_bound;
	double		 announced = 0, sent = 0;
	long		 served = 0, lost = 0, dup = 0, reordered = 0;
	struct answers	 ans;
	int		*fds, nfd, round, k, failed = 0, good;
	int64_t		 v;

	if (build == NULL) {
		fprintf(stderr, "chaos half_frames: BUILD is not set\n");
		return (2);
	}
	chaos_sup_init(build);
	srandom(7);
	if ((fds = calloc((size_t)peers * 3, sizeof *fds)) == NULL)
		return (2);

	/* The supervisor, a command's mailbox, and an isolate of ours. */
	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "mb";
	o.mailbox = 16;
	if (iso_sup_spawn(&o, &id) == -1 || iso_sup_list(&l) == -1 ||
	    iso_msg_sendport(iso_msg_get(iso_msg_at(l, 0), "port"),
	    &box) == -1) {
		fprintf(stderr, "chaos half_frames: spawn: %s\n", iso_error());
		return (1);
	}
	iso_msg_free(l);
	sup = chaos_sup_pid();
	mine = iso_port_new();
	m = iso_msg_pack("P", iso_port_sendport(mine));
	if (iso_spawn(echo_entry, m, &iso) == -1 ||
	    iso_port_first(mine, &l, 5000) == -1 ||
	    iso_msg_sendport(l, &echo) == -1) {
		fprintf(stderr, "chaos half_frames: isolate: %s\n", iso_error());
		return (1);
	}
	iso_msg_free(m);
	iso_msg_free(l);
	ipid = iso_pid(iso);
	snprintf(supsock, sizeof supsock, "%s/supervisor.sock", rt);
	addr_path(&to[0], supsock);
	addr_id(&to[1], box.isolate);
	addr_id(&to[2], echo.isolate);
	growth_start(&sg, sup);
	growth_start(&ig, ipid);

	for (round = 0; round < rounds; round++) {
		nfd = 0;
		for (k = 0; k < peers; k++) {
			uint32_t	 port[3] = { 0, 1, echo.port };
			int		 t;

			for (t = 0; t < 3; t++) {
				uint32_t len = (uint32_t)(1 << 20) + (uint32_t)
				    (random() % ((256 << 20) - (1 << 20) - 16));
				size_t	 n = 1 + (size_t)(random() % 4000);

				if ((fds[nfd] = dial(&to[t])) == -1 ||
				    half_frame(fds[nfd], len, port[t], n) ==
				    -1) {
					fprintf(stderr, "chaos half_frames: "
					    "cannot reach %s: %s\n", to[t].what,
					    strerror(errno));
					return (1);
				}
				nfd++;
				announced += len;
				sent += (double)n;
			}
		}
		/* Still serving: the supervisor, its mailbox, the isolate
		   through a good connection of its socket, in order. */
		memset(&ans, 0, sizeof ans);
		ans.p = iso_port_new();
		good = dial(&to[2]);
		for (k = 0; k < ANSWERS; k++) {
			if (iso_sup_status(&info) == -1) {
				fprintf(stderr, "chaos half_frames: status: "
				    "%s\n", iso_error());
				failed++;
			} else
				iso_msg_free(info);
			m = iso_msg_pack("i", k);
			l = NULL;
			if (iso_sup_send("mb", m) == -1 ||
			    iso_sup_take("mb", 10, 5000, &l) == -1 ||
			    iso_msg_len(l) != 1 ||
			    iso_msg_int(iso_msg_at(l, 0), &v) == -1 || v != k)
				lost++;
			else
				served++;
			iso_msg_free(m);
			iso_msg_free(l);
			m = iso_msg_pack("{s:i s:P}", "n", k, "back",
			    iso_port_sendport(ans.p));
			if (whole_frame(good, echo.port, m) == -1)
				failed++;
			iso_msg_free(m);
		}
		ans.t = iso_timer_after(10000, answers_late, &ans);
		(void)iso_port_listen(ans.p, answer_cb, &ans);
		(void)iso_run();
		served += ans.n;
		lost += ANSWERS - ans.n;
		dup += ans.dup;
		reordered += ans.reordered;
		close(good);
		growth_take(&sg);
		growth_take(&ig);
		for (k = 0; k < nfd; k++)
			close(fds[k]);
	}

	/* What came was at most 4000 bytes a peer; a buffer a peer is
	   allowed (the library gives a frame up to 256 KiB its whole size
	   at once), plus the process's own noise. The supervisor reads
	   into room for what its socket holds: 16 KiB a connection (two a
	   peer) is four times what came. */
	bound = (size_t)peers * (512u << 10) + (64u << 20);
	sup_bound = (size_t)peers * 2 * (16u << 10) + (32u << 20);
	printf("chaos half_frames: peers=%d rounds=%d announced_gib=%.0f "
	    "sent_mib=%.1f sup_grown_mib=%.1f (resident %.1f) "
	    "sup_bound_mib=%.0f iso_grown_mib=%.1f (resident %.1f) "
	    "bound_mib=%.0f served=%ld lost=%ld dup=%ld reordered=%ld\n",
	    3 * peers, rounds, announced / MIB / 1024, sent / MIB,
	    (double)sg.vm / MIB, (double)sg.rss / MIB,
	    (double)sup_bound / MIB, (double)ig.vm / MIB,
	    (double)ig.rss / MIB, (double)bound / MIB, served, lost, dup,
	    reordered);
	if (sg.vm > sup_bound || ig.vm > bound)
		failed++;
	(void)iso_kill(iso, ISO_IMMEDIATE);
	iso_isolate_free(iso);
	free(fds);
	return (failed == 0 && lost == 0 && dup == 0 && reordered == 0 ? 0 :
	    1);
}
