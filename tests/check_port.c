/*
 * check_port.c: ports, sends, the loop and timers: order, first/listen/
 * close, SendPorts in messages, dead and closed peers, hostile bytes on an
 * isolate's socket, full queues, flushing at exit, the runtime directory.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isolate.h"
#include "loop.h"
#include "testutil.h"

static const char	*self_path;	/* argv[0]: under valgrind,
					   /proc/self/exe is valgrind */

static iso_msg *
num(int n)
{
	return (iso_msg_pack("{s:i}", "n", n));
}

static int
num_of(const iso_msg *m)
{
	int	n = -1;

	iso_msg_unpack(m, "{s:i}", "n", &n);
	return (n);
}

/* A message that borrows its bytes (Y#) is copied by the send: the
   caller may free them as soon as iso_send returns. */
START_TEST(a_send_copies_borrowed_bytes)
{
	enum { N = 100000 };
	iso_port	*p = iso_port_new();
	unsigned char	*buf = malloc(N);
	iso_msg		*m, *out;
	const unsigned char *got;
	size_t		 len, k;
	int		 fds;

	ck_assert_ptr_nonnull(p);
	fds = tu_fd_count();
	for (k = 0; k < N; k++)
		buf[k] = (unsigned char)(k % 251);
	m = iso_msg_pack("[Y#]", buf, (size_t)N);
	ck_assert_int_eq(iso_send(iso_port_sendport(p), m), 0);
	iso_msg_free(m);
	memset(buf, 0, N);
	free(buf);
	out = tu_take(p, 5000);
	got = iso_msg_bytes(iso_msg_at(out, 0), &len);
	ck_assert_uint_eq(len, N);
	for (k = 0; k < N; k++)
		ck_assert_uint_eq(got[k], k % 251);
	iso_msg_free(out);
	ck_assert_int_eq(tu_fd_count(), fds);
}
END_TEST

START_TEST(self_send_first)
{
	iso_port	*p = iso_port_new();
	iso_msg		*m, *out = NULL;
	int		 fds;

	ck_assert_ptr_nonnull(p);
	fds = tu_fd_count();
	errno = 0;
	ck_assert_int_eq(iso_port_first(p, &out, 30), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	m = num(7);
	ck_assert_int_eq(iso_send(iso_port_sendport(p), m), 0);
	out = tu_take(p, 1000);		/* the port stayed open */
	ck_assert_int_eq(num_of(out), 7);
	iso_msg_free(out);
	iso_msg_free(m);
	ck_assert_int_eq(tu_fd_count(), fds);
	ck_assert_int_eq(iso_run(), 0);		/* nothing open: returns */
}
END_TEST

static void
echo_entry(const iso_msg *arg)
{
	iso_sendport	 back;
	iso_msg		*m;
	int		 k, n;

	if (iso_msg_unpack(arg, "{s:P s:i}", "to", &back, "n", &n) == -1)
		_exit(3);
	for (k = 1; k <= n; k++) {
		m = num(k);
		if (iso_send(back, m) == -1)
			_exit(4);
		iso_msg_free(m);
	}
	/* returning ends the isolate: what is queued must be written */
}

/* A supervisor carrying another node's stream: frames numbered in it,
   some sent twice (as a supervisor started after a killed one does). */
static void
via_entry(const iso_msg *arg)
{
	static const int	sends[][3] = { { 77, 1, 1 }, { 77, 2, 2 },
				    { 77, 3, 3 }, { 77, 2, 20 }, { 77, 3, 30 },
				    { 77, 4, 4 }, { 0, 0, 100 }, { 78, 1, 5 } };
	iso_sendport		 back;
	iso_msg			*m;
	size_t			 i;
	int			 rc;

	if (iso_msg_unpack(arg, "P", &back) == -1)
		_exit(3);
	for (i = 0; i < sizeof sends / sizeof sends[0]; i++) {
		m = num(sends[i][2]);
		rc = sends[i][0] == 0 ? iso_send(back, m) :
		    conn_send_via(back, (uint64_t)sends[i][0],
		    (uint64_t)sends[i][1], m);
		if (rc == -1)
			_exit(4);
		iso_msg_free(m);
	}
}

struct got {
	int	v[8];
	int	n;
};

static void
got_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct got	*g = arg;

	g->v[g->n++] = num_of(m);
	if (g->n == 6)
		iso_port_close(p);	/* a dup would have come before 4 */
}

START_TEST(via_frames_had_are_dropped)
{
	static const int	 want[] = { 1, 2, 3, 4, 100, 5 };
	struct got		 g = { { 0 }, 0 };
	iso_port		*p = iso_port_new();
	iso_msg			*arg;
	int			 i;

	ck_assert_ptr_nonnull(p);
	arg = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_int_eq(iso_spawn(via_entry, arg, NULL), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_port_listen(p, got_cb, &g), 0);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(g.n, 6);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(g.v[i], want[i]);
}
END_TEST

struct counter {
	int	next;
	int	last;
	int	bad;
};

static void
count_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct counter	*c = arg;

	if (num_of(m) != c->next)
		c->bad++;
	c->next++;
	if (c->next > c->last)
		iso_port_close(p);	/* inside its own callback */
}

START_TEST(listen_in_order)
{
	struct counter	 c = { 1, 20000, 0 };
	iso_port	*p = iso_port_new();
	iso_msg		*arg;

	arg = iso_msg_pack("{s:P s:i}", "to", iso_port_sendport(p), "n",
	    c.last);
	ck_assert_int_eq(iso_spawn(echo_entry, arg, NULL), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_port_listen(p, count_cb, &c), 0);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(c.bad, 0);
	ck_assert_int_eq(c.next, c.last + 1);
}
END_TEST

static void
late_listen_cb(void *arg)
{
	iso_port	*p = ((void **)arg)[0];
	struct counter	*c = ((void **)arg)[1];
	iso_msg		*m;
	int		 k;

	ck_assert_int_eq(iso_port_listen(p, count_cb, c), 0);
	ck_assert_int_eq(iso_port_listen(p, count_cb, c), -1);
	ck_assert_int_eq(errno, EINVAL);
	for (k = 4; k <= 5; k++) {	/* these come after the waiting ones */
		m = num(k);
		iso_send(iso_port_sendport(p), m);
		iso_msg_free(m);
	}
}

START_TEST(waiting_before_listen)
{
	struct counter	 c = { 1, 5, 0 };
	iso_port	*p = iso_port_new();
	void		*ctx[2] = { p, &c };
	iso_msg		*m;
	int		 k;

	for (k = 1; k <= 3; k++) {
		m = num(k);
		iso_send(iso_port_sendport(p), m);
		iso_msg_free(m);
	}
	/* 1..3 arrive while nobody listens, and wait */
	ck_assert_ptr_nonnull(iso_timer_after(30, late_listen_cb, ctx));
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(c.next, 6);
	ck_assert_int_eq(c.bad, 0);
}
END_TEST

/* S7: the isolate sends its own SendPort inside a map, then squares. */
static void
square_cb(iso_port *p, const iso_msg *m, void *arg)
{
	iso_sendport	*main_port = arg;
	iso_msg		*reply;
	int		 n;

	if (iso_msg_unpack(m, "{s:i}", "msg", &n) == 0) {
		reply = iso_msg_pack("{s:i}", "msg", n * n);
		iso_send(*main_port, reply);
		iso_msg_free(reply);
	} else
		iso_port_close(p);
}

static void
square_entry(const iso_msg *arg)
{
	static iso_sendport	 main_port;
	iso_port		*mine = iso_port_new();
	iso_msg			*hello;

	iso_msg_unpack(arg, "P", &main_port);
	hello = iso_msg_pack("{s:P}", "port", iso_port_sendport(mine));
	iso_send(main_port, hello);
	iso_msg_free(hello);
	iso_port_listen(mine, square_cb, &main_port);
}

struct s7 {
	iso_port	*port;
	iso_sendport	 theirs;
	int		 have, sent, got[6], n;
};

static void
s7_reply_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct s7	*st = arg;
	int		 n;

	(void)p;
	if (iso_msg_unpack(m, "{s:P}", "port", &st->theirs) == 0)
		st->have = 1;
	else if (iso_msg_unpack(m, "{s:i}", "msg", &n) == 0 && st->n < 5)
		st->got[st->n++] = n;
}

static void
s7_tick(iso_timer *t, void *arg)
{
	struct s7	*st = arg;
	iso_msg		*m;

	if (!st->have)
		return;
	/* "bye" closes our port: only once the five answers are in, which
	   a slow machine (valgrind) may take longer than a tick to bring. */
	if (st->sent == 5 && st->n < 5)
		return;
	if (++st->sent <= 5)
		m = iso_msg_pack("{s:i}", "msg", st->sent);
	else {
		m = iso_msg_pack("{s:s}", "msg", "bye");
		iso_timer_cancel(t);
		iso_port_close(st->port);
	}
	ck_assert_int_eq(iso_send(st->theirs, m), 0);
	iso_msg_free(m);
}

START_TEST(sendport_in_message)
{
	struct s7	 st;
	iso_msg		*arg;
	iso_isolate	*iso;
	pid_t		 pid;

	memset(&st, 0, sizeof st);
	st.port = iso_port_new();
	arg = iso_msg_pack("P", iso_port_sendport(st.port));
	ck_assert_int_eq(iso_spawn(square_entry, arg, &iso), 0);
	iso_msg_free(arg);
	pid = iso_pid(iso);
	ck_assert_int_eq(iso_port_listen(st.port, s7_reply_cb, &st), 0);
	ck_assert_ptr_nonnull(iso_timer_every(10, s7_tick, &st));
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(st.n, 5);
	ck_assert_int_eq(st.got[0], 1);
	ck_assert_int_eq(st.got[1], 4);
	ck_assert_int_eq(st.got[4], 25);
	/* "bye" closed the isolate's only port: it ends by itself */
	ck_assert(tu_gone_within(pid, 5000) || !tu_alive(pid));
	iso_isolate_free(iso);
}
END_TEST

START_TEST(closed_port_and_dead_isolate)
{
	iso_port	*p = iso_port_new(), *p2;
	iso_sendport	 old = iso_port_sendport(p), gone;
	iso_msg		*m = num(1), *out;

	iso_port_close(p);
	ck_assert_int_eq(iso_send(old, m), 0);	/* dropped, as Dart does */
	p2 = iso_port_new();
	ck_assert_uint_ne(iso_port_sendport(p2).port, old.port);
	errno = 0;
	ck_assert_int_eq(iso_port_first(p2, &out, 50), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);	/* nothing reached p2 */
	iso_port_close(p2);

	gone = old;
	gone.isolate ^= 0x5a5a5a5a5a5a5a5aULL;	/* no such isolate */
	errno = 0;
	ck_assert_int_eq(iso_send(gone, m), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	gone.isolate = 0;
	ck_assert_int_eq(iso_send(gone, m), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_send(old, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_msg_free(m);
}
END_TEST

static void
hold_entry(const iso_msg *arg)
{
	iso_port	*p = iso_port_new();
	iso_sendport	 back;
	iso_msg		*hello;

	iso_msg_unpack(arg, "P", &back);
	hello = iso_msg_pack("{s:P}", "port", iso_port_sendport(p));
	iso_send(back, hello);
	iso_msg_free(hello);
	iso_port_listen(p, square_cb, NULL);
}

START_TEST(dead_isolate_refuses)
{
	iso_port	*p = iso_port_new();
	iso_isolate	*iso;
	iso_msg		*arg, *m;
	iso_sendport	 theirs;

	arg = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_int_eq(iso_spawn(hold_entry, arg, &iso), 0);
	iso_msg_free(arg);
	m = tu_take(p, 5000);
	iso_msg_unpack(m, "{s:P}", "port", &theirs);
	iso_msg_free(m);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	m = num(1);
	errno = 0;
	ck_assert_int_eq(iso_send(theirs, m), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	iso_msg_free(m);
	iso_isolate_free(iso);
}
END_TEST

/* Large frames of changing sizes arrive whole and intact (the receiver
   reuses its reassembly buffer between them). */
static void
big_entry(const iso_msg *arg)
{
	static const size_t	 sizes[] = { 200000, 100000, 300000, 70000 };
	iso_sendport		 back;
	iso_msg			*m;
	char			*p;
	size_t			 k, i;

	iso_msg_unpack(arg, "P", &back);
	for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		p = malloc(sizes[k]);
		for (i = 0; i < sizes[k]; i++)
			p[i] = (char)(i * 7 + k);
		m = iso_msg_pack("y#", p, sizes[k]);
		iso_send(back, m);
		iso_msg_free(m);
		free(p);
	}
}

struct bigs {
	int	n;
	int	bad;
};

static void
big_cb(iso_port *p, const iso_msg *m, void *arg)
{
	static const size_t	 sizes[] = { 200000, 100000, 300000, 70000 };
	struct bigs		*b = arg;
	const unsigned char	*d;
	size_t			 len, i;

	d = iso_msg_bytes(m, &len);
	if (d == NULL || len != sizes[b->n])
		b->bad++;
	else
		for (i = 0; i < len; i++)
			if (d[i] != (unsigned char)(i * 7 + (size_t)b->n)) {
				b->bad++;
				break;
			}
	if (++b->n == 4)
		iso_port_close(p);
}

START_TEST(large_frames_in_a_row)
{
	struct bigs	 b = { 0, 0 };
	iso_port	*p = iso_port_new();
	iso_msg		*arg = iso_msg_pack("P", iso_port_sendport(p));

	ck_assert_int_eq(iso_spawn(big_entry, arg, NULL), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_port_listen(p, big_cb, &b), 0);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(b.n, 4);
	ck_assert_int_eq(b.bad, 0);
}
END_TEST

/* Large frames of other shapes: bytes values the receiver leaves in the
   frame it read (root, in a list) and those it copies (beside a string,
   among many values), queued before a listener takes them. */
#define SHAPES	5

static iso_msg *
shape(int k)
{
	static char	 d[150000];
	size_t		 i;

	for (i = 0; i < sizeof d; i++)
		d[i] = (char)(i * 13 + (size_t)k);
	switch (k) {
	case 0:
		return (iso_msg_pack("y#", d, (size_t)150000));
	case 1:
		return (iso_msg_pack("[y# i y#]", d, (size_t)120000, 5,
		    d + 7, (size_t)80000));
	case 2:
		return (iso_msg_pack("{s:y#}", "k", d, (size_t)90000));
	case 3:
		return (iso_msg_pack("[y#y#y#y#y#y#y#y#y#y#]", d,
		    (size_t)10000, d + 1, (size_t)10000, d + 2, (size_t)10000,
		    d + 3, (size_t)10000, d + 4, (size_t)10000, d + 5,
		    (size_t)10000, d + 6, (size_t)10000, d + 7, (size_t)10000,
		    d + 8, (size_t)10000, d + 9, (size_t)10000));
	}
	return (iso_msg_pack("y#", d, (size_t)70000));
}

static void
shapes_entry(const iso_msg *arg)
{
	iso_sendport	 back;
	iso_msg		*m;
	int		 k;

	iso_msg_unpack(arg, "P", &back);
	for (k = 0; k < SHAPES; k++) {
		m = shape(k);
		iso_send(back, m);
		iso_msg_free(m);
	}
}

struct shapes {
	iso_port	*p;
	int		 n;
	int		 bad;
};

static void
shapes_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct shapes	*s = arg;
	iso_msg		*want = shape(s->n);

	if (!iso_msg_equal(m, want))
		s->bad++;
	iso_msg_free(want);
	if (++s->n == SHAPES)
		iso_port_close(p);
}

static void
shapes_listen_cb(void *arg)
{
	struct shapes	*s = arg;

	ck_assert_int_eq(iso_port_listen(s->p, shapes_cb, s), 0);
}

START_TEST(large_frames_of_every_shape)
{
	struct shapes	 s = { iso_port_new(), 0, 0 };
	iso_msg		*arg = iso_msg_pack("P", iso_port_sendport(s.p));

	ck_assert_int_eq(iso_spawn(shapes_entry, arg, NULL), 0);
	iso_msg_free(arg);
	ck_assert_ptr_nonnull(iso_timer_after(300, shapes_listen_cb, &s));
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(s.n, SHAPES);
	ck_assert_int_eq(s.bad, 0);
}
END_TEST

/* Isolates spawned by an isolate and by its spawner after it get ids of
   their own (the spawner draws them in batches: a child must not draw
   from its copy of the batch). */
static void
id_entry(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_port	*p = iso_port_new();
	iso_isolate	*iso;
	iso_msg		*m;
	int		 nested = 0;

	iso_msg_unpack(arg, "[P b]", &to, &nested);
	m = iso_msg_pack("U", iso_port_sendport(p).isolate);
	iso_send(to, m);
	iso_msg_free(m);
	if (nested) {
		/* wait for it to end: our end would take it with us */
		m = iso_msg_pack("[P b]", to, 0);
		if (iso_spawn(id_entry, m, &iso) == 0 &&
		    iso_on_exit(iso, iso_port_sendport(p), NULL) == 0) {
			iso_msg_free(m);
			m = NULL;
			if (iso_port_first(p, &m, 5000) == 0)
				p = NULL;
			iso_isolate_free(iso);
		}
		iso_msg_free(m);
	}
	iso_port_close(p);
}

struct ids {
	uint64_t	id[3];
	int		n;
};

static void
id_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct ids	*ids = arg;

	ck_assert_int_eq(iso_msg_uint(m, &ids->id[ids->n]), 0);
	if (++ids->n == 3)
		iso_port_close(p);
}

START_TEST(spawned_ids_differ)
{
	struct ids	 ids = { { 0, 0, 0 }, 0 };
	iso_port	*p = iso_port_new();
	iso_msg		*arg;

	arg = iso_msg_pack("[P b]", iso_port_sendport(p), 1);
	ck_assert_int_eq(iso_spawn(id_entry, arg, NULL), 0);
	iso_msg_free(arg);
	usleep(100 * 1000);	/* its own spawn first, then ours */
	arg = iso_msg_pack("[P b]", iso_port_sendport(p), 0);
	ck_assert_int_eq(iso_spawn(id_entry, arg, NULL), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(iso_port_listen(p, id_cb, &ids), 0);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(ids.n, 3);
	ck_assert(ids.id[0] != ids.id[1] && ids.id[1] != ids.id[2] &&
	    ids.id[0] != ids.id[2]);
}
END_TEST

/* A port made in a plain fork() of the program names that process. */
START_TEST(plain_fork_port_pid)
{
	iso_port	*p = iso_port_new(), *q;
	pid_t		 pid;
	int		 status;

	ck_assert_uint_eq(iso_port_sendport(p).pid, (uint32_t)getpid());
	if ((pid = fork()) == 0) {
		q = iso_port_new();
		_exit(q != NULL &&
		    iso_port_sendport(q).pid == (uint32_t)getpid() ? 0 : 1);
	}
	ck_assert_int_ne(pid, -1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	iso_port_close(p);
}
END_TEST

/* An isolate that sends its port and then never reads. */
static void
deaf_entry(const iso_msg *arg)
{
	iso_port	*p = iso_port_new();
	iso_sendport	 back;
	iso_msg		*hello;

	iso_msg_unpack(arg, "P", &back);
	hello = iso_msg_pack("{s:P}", "port", iso_port_sendport(p));
	iso_send(back, hello);
	iso_msg_free(hello);
	for (;;)
		pause();
}

/* conn.c's count of sendmsg calls (the tests link the static library). */
extern unsigned long	conn_writes;

struct burst {
	iso_sendport	 to;
	unsigned long	 writes;
};

static void
burst_cb(void *arg)
{
	struct burst	*b = arg;
	iso_msg		*m;
	int		 k;

	b->writes = conn_writes;
	for (k = 1; k <= 100; k++) {
		m = num(k);
		ck_assert_int_eq(iso_send(b->to, m), 0);
		iso_msg_free(m);
	}
	/* nothing is written inside the callback ... */
	ck_assert_uint_eq(conn_writes, b->writes);
}

static void
burst_after_cb(void *arg)
{
	struct burst	*b = arg;

	/* ... and the burst was one write before the loop waited again */
	ck_assert_uint_eq(conn_writes, b->writes + 1);
	b->writes = 0;
}

START_TEST(sends_of_a_callback_are_one_write)
{
	iso_port	*p = iso_port_new();
	iso_isolate	*iso;
	iso_msg		*arg, *m;
	struct burst	 b;
	unsigned long	 before;
	int		 k;

	arg = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_int_eq(iso_spawn(deaf_entry, arg, &iso), 0);
	iso_msg_free(arg);
	m = tu_take(p, 5000);
	iso_msg_unpack(m, "{s:P}", "port", &b.to);
	iso_msg_free(m);
	ck_assert_ptr_nonnull(iso_timer_after(0, burst_cb, &b));
	ck_assert_ptr_nonnull(iso_timer_after(50, burst_after_cb, &b));
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_uint_eq(b.writes, 0);
	/* outside a callback, each send is written at once */
	before = conn_writes;
	for (k = 0; k < 3; k++) {
		m = num(k);
		ck_assert_int_eq(iso_send(b.to, m), 0);
		iso_msg_free(m);
	}
	ck_assert_uint_eq(conn_writes, before + 3);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
}
END_TEST

START_TEST(full_queue)
{
	iso_port	*p = iso_port_new();
	iso_isolate	*iso;
	iso_msg		*arg, *m, *big;
	iso_sendport	 theirs;
	char		*blob;
	size_t		 n = 256 * 1024;
	int		 k, rc = 0;

	arg = iso_msg_pack("P", iso_port_sendport(p));
	ck_assert_int_eq(iso_spawn(deaf_entry, arg, &iso), 0);
	iso_msg_free(arg);
	m = tu_take(p, 5000);
	iso_msg_unpack(m, "{s:P}", "port", &theirs);
	iso_msg_free(m);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 1u << 20), 0);
	blob = calloc(1, 4 * n);
	big = iso_msg_pack("y#", blob, 4 * n);	/* 1 MiB: over the bound */
	m = iso_msg_pack("y#", blob, n);
	/* the first one is larger than the bound: accepted, nothing waits */
	ck_assert_int_eq(iso_send(theirs, big), 0);
	for (k = 0; k < 200 && rc == 0; k++)
		rc = iso_send(theirs, m);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(errno, ENOBUFS);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 16u << 20), 0);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	iso_msg_free(m);
	iso_msg_free(big);
	free(blob);
}
END_TEST

/*
 * A program that sends and then ends through exit() or by returning from
 * main, never running its loop: everything it queued must arrive.
 */
static int
flood_main(void)
{
	const iso_msg	*arg = iso_initial_message();
	iso_sendport	 to;
	const char	*how;
	iso_msg		*m;
	int		 k, n;

	if (arg == NULL || iso_msg_unpack(arg, "{s:P s:i s:s}", "to", &to,
	    "n", &n, "how", &how) == -1)
		return (3);
	for (k = 1; k <= n; k++) {
		m = num(k);
		if (iso_send(to, m) == -1)
			return (4);
		iso_msg_free(m);
	}
	if (strcmp(how, "exit") == 0)
		exit(0);
	return (0);
}

START_TEST(flushed_at_exit)
{
	static const char *const hows[] = { "exit", "return" };
	struct counter	 c = { 1, 50000, 0 };
	char		*argv[] = { (char *)self_path, (char *)"--flood", NULL };
	iso_port	*p = iso_port_new();
	iso_msg		*arg;

	arg = iso_msg_pack("{s:P s:i s:s}", "to", iso_port_sendport(p), "n",
	    c.last, "how", hows[_i]);
	ck_assert_int_eq(iso_spawn_exec(argv, arg, NULL), 0);
	iso_msg_free(arg);
	/* Read nothing for a while: 600 KB do not fit the socket, so the
	   sender ends with most of them still queued. */
	tu_sleep_ms(300);
	ck_assert_int_eq(iso_port_listen(p, count_cb, &c), 0);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(c.bad, 0);
	ck_assert_int_eq(c.next, c.last + 1);
}
END_TEST

/*
 * A peer whose listen backlog is full: connect would block, so the send is
 * queued, the connect is retried from the loop, and the message arrives
 * once the peer accepts. iso_send itself never waits.
 */
struct backlog {
	int	lfd;
	int	filler;
	int	room;
	int	got;
};

static void
backlog_accept_cb(void *arg)
{
	struct backlog	*b = arg;
	int		 fd;

	/* make room: take the connection that filled the backlog */
	fd = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ne(fd, -1);
	close(fd);
	b->room = 1;
}

static void
backlog_read_cb(iso_timer *t, void *arg)
{
	struct backlog	*b = arg;
	unsigned char	 buf[64];
	iso_msg		*m;
	ssize_t		 n;
	int		 fd;

	if (!b->room ||
	    (fd = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return;		/* the retry has not connected yet */
	/* the retry wrote as soon as it connected: a blocking read is safe */
	n = read(fd, buf, sizeof buf);
	close(fd);
	/* header, port 5, {"n": 42} */
	ck_assert_int_ge(n, 6);
	ck_assert_int_eq(buf[4], 5);
	m = iso_msg_decode(buf + 5, (size_t)n - 5);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(num_of(m), 42);
	iso_msg_free(m);
	b->got = 1;
	iso_timer_cancel(t);
}

/* The peer's backlog stays full for 30 ms, or for 6 s: a peer that is
   there but busy is waited for as long as it takes, never given up. */
START_TEST(connect_retried_when_backlog_full)
{
	static const int	 busy_ms[] = { 30, 6000 };
	struct sockaddr_un	 sun;
	struct backlog		 b = { -1, -1, 0, 0 };
	iso_sendport		 to = { 0x0123456789abcdefULL, 1, 5 };
	iso_msg			*m;
	double			 t0;
	socklen_t		 len;

	/* a peer of its own each time (one process under valgrind) */
	to.isolate += (uint64_t)_i;
	struct timespec		 ts;

	len = tu_iso_addr(to.isolate, &sun);
	b.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	ck_assert_int_eq(bind(b.lfd, (struct sockaddr *)&sun, len), 0);
	ck_assert_int_eq(listen(b.lfd, 0), 0);
	b.filler = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	ck_assert_int_eq(connect(b.filler, (struct sockaddr *)&sun, len), 0);

	m = num(42);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	ck_assert_int_eq(iso_send(to, m), 0);		/* queued, not refused */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ck_assert((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0 < 0.5);
	iso_msg_free(m);
	ck_assert_ptr_nonnull(iso_timer_after(busy_ms[_i], backlog_accept_cb,
	    &b));
	ck_assert_ptr_nonnull(iso_timer_every(20, backlog_read_cb, &b));
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(b.got, 1);
	close(b.filler);
	close(b.lfd);
}
END_TEST

static int
raw_connect(iso_sendport to)
{
	int	fd = tu_iso_connect(to.isolate);

	ck_assert_msg(fd != -1, "connect %016" PRIx64 ": %s", to.isolate,
	    strerror(errno));
	return (fd);
}

/* The peer closes a connection that sent a bad frame: read sees EOF. */
static void
assert_dropped(int fd)
{
	char	buf[8];

	ck_assert_int_eq(recv(fd, buf, sizeof buf, MSG_DONTWAIT), 0);
	close(fd);
}

START_TEST(hostile_frames_on_socket)
{
	static const struct {
		const char	*bytes;
		size_t		 len;
	} bad[] = {
		{ "\xff\xff\xff\xff", 4 },		/* 4 GiB frame */
		{ "\x00\x00\x00\x00", 4 },		/* empty frame */
		{ "\x00\x00\x00\x02\x01\xc1", 6 },	/* reserved byte */
		{ "\x00\x00\x00\x06\x01\xdd\xff\xff\xff\xff", 10 },
		{ "\x00\x00\x00\x02\xc0\xc0", 6 },	/* port is not a uint */
		{ "\x00\x00\x00\x01\x01", 5 },		/* port, no message */
		{ "\x00\x00\x00\x03\x01\xa1\xff", 7 },	/* bad UTF-8 */
	};
	iso_port	*p = iso_port_new();
	iso_sendport	 sp = iso_port_sendport(p);
	iso_msg		*m, *out;
	unsigned char	 gf[10] = { 0, 0, 0, 6, 0, 0, 0, 0, 0, 0xc3 };
	size_t		 k;
	int		 fd, good;

	for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		fd = raw_connect(sp);
		/* a good frame first: it is delivered before the bad one */
		good = raw_connect(sp);
		gf[4] = 0xce;
		gf[5] = (unsigned char)(sp.port >> 24);
		gf[6] = (unsigned char)(sp.port >> 16);
		gf[7] = (unsigned char)(sp.port >> 8);
		gf[8] = (unsigned char)sp.port;
		ck_assert_int_eq(write(good, gf, sizeof gf), sizeof gf);
		ck_assert_int_eq(write(fd, bad[k].bytes, bad[k].len),
		    (ssize_t)bad[k].len);
		out = tu_take(p, 5000);
		ck_assert_int_eq(iso_msg_type(out), ISO_BOOL);
		iso_msg_free(out);
		p = iso_port_new();
		/* the isolate is alive and serves its other peers */
		m = num((int)k);
		ck_assert_int_eq(iso_send(iso_port_sendport(p), m), 0);
		iso_msg_free(m);
		out = tu_take(p, 5000);
		ck_assert_int_eq(num_of(out), (int)k);
		iso_msg_free(out);
		/* an idle wait lets the loop read the bad frame */
		p = iso_port_new();
		errno = 0;
		ck_assert_int_eq(iso_port_first(p, &out, 100), -1);
		ck_assert_int_eq(errno, ETIMEDOUT);
		sp = iso_port_sendport(p);
		close(good);
		assert_dropped(fd);
	}
	iso_port_close(p);
}
END_TEST

/* Address space of this process, in bytes. */
static size_t
vm_size(void)
{
	unsigned long	 pages = 0;
	FILE		*f = fopen("/proc/self/statm", "r");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%lu", &pages), 1);
	fclose(f);
	return ((size_t)pages * (size_t)sysconf(_SC_PAGESIZE));
}

/* A frame header announcing `len` payload bytes for port `port`, whose
   message is bytes (bin 32) filling the rest: 14 bytes at p. */
static void
big_frame_head(unsigned char *p, size_t len, uint32_t port)
{
	size_t	bin = len - 10;

	p[0] = (unsigned char)(len >> 24);
	p[1] = (unsigned char)(len >> 16);
	p[2] = (unsigned char)(len >> 8);
	p[3] = (unsigned char)len;
	p[4] = 0xce;
	p[5] = (unsigned char)(port >> 24);
	p[6] = (unsigned char)(port >> 16);
	p[7] = (unsigned char)(port >> 8);
	p[8] = (unsigned char)port;
	p[9] = 0xc6;
	p[10] = (unsigned char)(bin >> 24);
	p[11] = (unsigned char)(bin >> 16);
	p[12] = (unsigned char)(bin >> 8);
	p[13] = (unsigned char)bin;
}

/* Let the loop read what peers wrote: an idle wait on a fresh port. */
static void
idle(int ms)
{
	iso_port	*q = iso_port_new();
	iso_msg		*out = NULL;

	ck_assert_int_eq(iso_port_first(q, &out, ms), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	iso_port_close(q);
}

START_TEST(half_sent_huge_frames_cost_what_came)
{
	enum { PEERS = 50, BIG = 3 << 20, PIECE = 37 * 1024 };
	iso_port	*p = iso_port_new();
	iso_sendport	 sp = iso_port_sendport(p);
	unsigned char	 head[14 + 100], *frame;
	size_t		 before, grown, off, n;
	ssize_t		 w;
	iso_msg		*out;
	const char	*b;
	int		 fd[PEERS], one, k;

	/* Each announces 200 MiB and sends 100 bytes of it. */
	big_frame_head(head, 200u << 20, sp.port);
	memset(head + 14, 'x', 100);
	idle(10);
	before = vm_size();
	for (k = 0; k < PEERS; k++) {
		fd[k] = raw_connect(sp);
		ck_assert_int_eq(write(fd[k], head, sizeof head),
		    (ssize_t)sizeof head);
	}
	idle(200);
	grown = vm_size() - before;
	ck_assert_msg(grown < 32u << 20, "%zu MiB more address space for "
	    "%d frames of 114 bytes", grown >> 20, PEERS);
	for (k = 0; k < PEERS; k++)
		close(fd[k]);

	/* A large frame that comes a piece at a time is whole at the end. */
	frame = malloc(14 + BIG);
	big_frame_head(frame, 10 + BIG, sp.port);
	for (n = 0; n < BIG; n++)
		frame[14 + n] = (unsigned char)(n * 7);
	one = raw_connect(sp);
	for (off = 0; off < 14 + BIG; off += (size_t)w) {
		n = 14 + BIG - off < PIECE ? 14 + BIG - off : PIECE;
		/* the loop reads between pieces: one at a time */
		while ((w = send(one, frame + off, n, MSG_DONTWAIT)) == -1 &&
		    errno == EAGAIN)
			idle(1);
		ck_assert_int_gt(w, 0);
		idle(1);
	}
	out = tu_take(p, 5000);
	b = iso_msg_bytes(out, &n);
	ck_assert_uint_eq(n, BIG);
	ck_assert(memcmp(b, frame + 14, BIG) == 0);
	iso_msg_free(out);
	free(frame);
	close(one);
}
END_TEST

/* What a refused peer reads: a port-0 control frame, then the end. */
static iso_msg *
read_refusal(int fd)
{
	unsigned char	 buf[512];
	ssize_t		 n;
	char		 c;
	iso_msg		*m;

	n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	ck_assert_int_gt(n, 5);
	ck_assert_int_eq((size_t)n, 4 + ((size_t)buf[2] << 8 | buf[3]));
	ck_assert_int_eq(buf[4], 0);
	m = iso_msg_decode(buf + 5, (size_t)n - 5);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(recv(fd, &c, 1, MSG_DONTWAIT), 0);
	return (m);
}

START_TEST(connections_beyond_the_cap_are_told)
{
	iso_port	*p = iso_port_new();
	iso_sendport	 sp = iso_port_sendport(p);
	unsigned char	 frame[10] = { 0, 0, 0, 6, 0xce, 0, 0, 0, 0, 0xc3 };
	const char	*op, *en, *why;
	iso_msg		*m;
	int		 fd[3], k;

	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_CONNS, 0), -1);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_CONNS, 2), 0);
	for (k = 0; k < 3; k++)
		fd[k] = raw_connect(sp);
	idle(100);
	m = read_refusal(fd[2]);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:s s:s s:s}", "op", &op,
	    "errno", &en, "error", &why), 0);
	ck_assert_str_eq(op, "refused");
	ck_assert_str_eq(en, "EAGAIN");
	ck_assert_msg(strstr(why, "2 connections open") != NULL, "%s", why);
	iso_msg_free(m);
	/* the two within the cap are served: a frame of port, true */
	frame[5] = (unsigned char)(sp.port >> 24);
	frame[6] = (unsigned char)(sp.port >> 16);
	frame[7] = (unsigned char)(sp.port >> 8);
	frame[8] = (unsigned char)sp.port;
	ck_assert_int_eq(write(fd[1], frame, sizeof frame), sizeof frame);
	m = tu_take(p, 5000);
	ck_assert_int_eq(iso_msg_type(m), ISO_BOOL);
	iso_msg_free(m);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_CONNS, 4096), 0);
	for (k = 0; k < 3; k++)
		close(fd[k]);
}
END_TEST

/*
 * A peer that refuses our connection: its words come back as the next
 * iso_send's failure, whether the loop read them (_i 0) or the send met
 * the closed socket first (_i 1); the send after that tries again.
 */
START_TEST(a_refused_send_fails_with_the_peers_reason)
{
	static const unsigned char refusal[] = {
	    0, 0, 0, 0x2a, 0,
	    0x83, 0xa2, 'o', 'p', 0xa7, 'r', 'e', 'f', 'u', 's', 'e', 'd',
	    0xa5, 'e', 'r', 'r', 'n', 'o', 0xa6, 'E', 'A', 'G', 'A', 'I', 'N',
	    0xa5, 'e', 'r', 'r', 'o', 'r', 0xa9, 'b', 'u', 's', 'y', ' ', 'h',
	    'e', 'r', 'e'
	};
	struct sockaddr_un	 sun;
	iso_sendport		 to = { 0x00c0ffee00c0ffeeULL, 1, 5 };
	iso_msg			*m = num(1);
	int			 lfd, fd;

	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun,
	    tu_iso_addr(to.isolate, &sun)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
	ck_assert_uint_eq(sizeof refusal, 4 + 0x2a);

	ck_assert_int_eq(iso_send(to, m), 0);
	ck_assert_int_ge(fd = accept(lfd, NULL, NULL), 0);
	ck_assert_int_eq(write(fd, refusal, sizeof refusal),
	    (ssize_t)sizeof refusal);
	close(fd);
	if (_i == 0)
		idle(100);
	errno = 0;
	ck_assert_int_eq(iso_send(to, m), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_msg(strstr(iso_error(), "refused the connection: busy here")
	    != NULL, "%s", iso_error());
	/* that was told once: the next send connects again */
	ck_assert_int_eq(iso_send(to, m), 0);
	ck_assert_int_ge(fd = accept(lfd, NULL, NULL), 0);
	close(fd);
	close(lfd);
	iso_msg_free(m);
	idle(50);
}
END_TEST

START_TEST(runtime_dir_checks)
{
	char	dir[64], link[80];
	pid_t	pid;
	int	status, rc;

	snprintf(dir, sizeof dir, "%s/loose", tu_runtime_dir());
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(link, sizeof link, "%s/link", tu_runtime_dir());
	ck_assert_int_eq(symlink("loose", link), 0);
	/* each check in a fresh program: the directory is found once */
	for (rc = 0; rc < 3; rc++) {
		if ((pid = fork()) == 0) {
			if (rc == 0)
				setenv("ISO_RUNTIME_DIR", dir, 1);
			else if (rc == 1) {
				chmod(dir, 0700);
				setenv("ISO_RUNTIME_DIR", link, 1);
			} else {
				if (chown(dir, 65534, 65534) == -1)
					_exit(0);	/* not root: skip */
				setenv("ISO_RUNTIME_DIR", dir, 1);
			}
			execl(self_path, self_path, "--rtdir-probe",
			    (char *)NULL);
			_exit(2);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "case %d accepted", rc);
	}
	ck_assert_str_eq(iso_runtime_dir(), tu_runtime_dir());
}
END_TEST

static void
tick_cb(iso_timer *t, void *arg)
{
	int	*n = arg;

	if (++*n == 3)
		iso_timer_cancel(t);
}

static void
once_cb(void *arg)
{
	(*(int *)arg)++;
}

START_TEST(timers)
{
	iso_timer	*t;
	int		 ticks = 0, once = 0, never = 0;

	ck_assert_ptr_nonnull(iso_timer_every(5, tick_cb, &ticks));
	ck_assert_ptr_nonnull(iso_timer_after(10, once_cb, &once));
	t = iso_timer_after(10, once_cb, &never);
	iso_timer_cancel(t);
	ck_assert_ptr_null(iso_timer_after(-1, once_cb, &never));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(ticks, 3);
	ck_assert_int_eq(once, 1);
	ck_assert_int_eq(never, 0);
}
END_TEST

static void
close_cb(void *arg)
{
	iso_port_close(arg);
}

START_TEST(close_while_first_waits)
{
	iso_port	*p = iso_port_new();
	iso_msg		*out = NULL;

	ck_assert_ptr_nonnull(iso_timer_after(10, close_cb, p));
	errno = 0;
	ck_assert_int_eq(iso_port_first(p, &out, 5000), -1);
	ck_assert_int_eq(errno, ECANCELED);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(iso_run(), 0);		/* nothing is left open */
}
END_TEST

static int	deadlock_errno;

static void
deadlock_cb(void *arg)
{
	iso_port	*p = arg;
	iso_msg		*m;

	if (iso_run() == -1 && errno == EDEADLK &&
	    iso_port_first(p, &m, 10) == -1 && errno == EDEADLK)
		deadlock_errno = EDEADLK;
	iso_port_close(p);
}

START_TEST(no_loop_inside_callback)
{
	iso_port	*p = iso_port_new();

	iso_timer_after(0, deadlock_cb, p);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(deadlock_errno, EDEADLK);
}
END_TEST


/*
 * An isolate that reads nothing for `delay` ms, then counts the bytes
 * values it gets; given a SendPort, it answers how many there and ends.
 */
static void
slow_count_cb(iso_port *p, const iso_msg *m, void *arg)
{
	int		*n = arg;
	iso_sendport	 back;
	iso_msg		*a;

	if (iso_msg_type(m) == ISO_BYTES) {
		(*n)++;
		return;
	}
	iso_msg_sendport(m, &back);
	a = iso_msg_pack("i", *n);
	iso_send(back, a);
	iso_msg_free(a);
	iso_port_close(p);
}

static void
slow_entry(const iso_msg *arg)
{
	iso_port	*p = iso_port_new();
	iso_sendport	 first;
	iso_msg		*hello;
	int		 delay, n = 0;

	iso_msg_unpack(arg, "[Pi]", &first, &delay);
	hello = iso_msg_pack("{s:P}", "port", iso_port_sendport(p));
	iso_send(first, hello);
	iso_msg_free(hello);
	tu_sleep_ms(delay);
	iso_port_listen(p, slow_count_cb, &n);
	iso_run();
}

/* Spawn slow_entry (or deaf_entry when delay < 0); its port in *to. */
static iso_isolate *
spawn_reader(int delay, iso_sendport *to)
{
	iso_isolate	*iso;
	iso_msg		*arg, *m;
	iso_port	*hello = iso_port_new();

	if (delay < 0) {
		arg = iso_msg_pack("P", iso_port_sendport(hello));
		ck_assert_int_eq(iso_spawn(deaf_entry, arg, &iso), 0);
	} else {
		arg = iso_msg_pack("[Pi]", iso_port_sendport(hello), delay);
		ck_assert_int_eq(iso_spawn(slow_entry, arg, &iso), 0);
	}
	iso_msg_free(arg);
	m = tu_take(hello, 5000);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:P}", "port", to), 0);
	iso_msg_free(m);
	return (iso);
}

/* Send 256 KiB values to `to` until the queue (1 MiB) is full; how many
   were taken. */
static int
fill_queue(iso_sendport to, iso_msg *m)
{
	int	k = 0;

	while (iso_send(to, m) == 0)
		ck_assert_int_lt(++k, 1000);
	ck_assert_int_eq(errno, ENOBUFS);
	return (k);
}

/* How many values a slow_entry reader got (it ends then). */
static int
reader_count(iso_sendport to)
{
	iso_port *p = iso_port_new();
	iso_msg	*m = iso_msg_pack("P", iso_port_sendport(p));
	int	 n = -1;

	ck_assert_int_eq(iso_send_wait(to, m, 10000), 0);
	iso_msg_free(m);
	m = tu_take(p, 10000);
	ck_assert_int_eq(iso_msg_unpack(m, "i", &n), 0);
	iso_msg_free(m);
	return (n);
}

START_TEST(send_wait_waits_for_room)
{
	iso_isolate	*deaf, *slow;
	iso_sendport	 to;
	iso_msg		*m;
	char		*blob = calloc(1, 256 * 1024);
	int		 k;

	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 1u << 20), 0);
	m = iso_msg_pack("y#", blob, (size_t)256 * 1024);
	/* A reader that never reads: the wait times out, nothing queued. */
	deaf = spawn_reader(-1, &to);
	fill_queue(to, m);
	ck_assert_int_eq(iso_send_wait(to, m, 100), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_eq(iso_kill(deaf, ISO_IMMEDIATE), 0);
	iso_isolate_free(deaf);
	/* A reader that starts late: every wait ends with m queued. */
	slow = spawn_reader(300, &to);
	k = fill_queue(to, m);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(iso_send_wait(to, m, -1), 0);
	ck_assert_int_eq(reader_count(to), k + 20);
	iso_isolate_free(slow);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 16u << 20), 0);
	iso_msg_free(m);
	free(blob);
}
END_TEST

struct wtest {
	iso_sendport	 to;
	iso_msg		*m;
	int		 calls;
	int		 in_call;	/* set while iso_on_writable runs */
	int		 bad;
	int		 deadlock;
	iso_port	*p;
};

static void
writable_cb(void *ud)
{
	struct wtest	*w = ud;

	if (w->in_call)
		w->bad++;	/* never from inside iso_on_writable */
	w->calls++;
	/* room again: a send goes in */
	if (iso_send(w->to, w->m) == -1)
		w->bad++;
	iso_port_close(w->p);
}

START_TEST(on_writable_once_when_room)
{
	iso_isolate	*slow;
	struct wtest	 w;
	char		*blob = calloc(1, 256 * 1024);
	int		 k;

	memset(&w, 0, sizeof w);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 1u << 20), 0);
	w.m = iso_msg_pack("y#", blob, (size_t)256 * 1024);
	slow = spawn_reader(300, &w.to);
	k = fill_queue(w.to, w.m);
	w.p = iso_port_new();	/* keeps the loop running until the call */
	w.in_call = 1;
	ck_assert_int_eq(iso_on_writable(w.to, writable_cb, &w), 0);
	w.in_call = 0;
	ck_assert_int_eq(w.calls, 0);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(w.calls, 1);
	ck_assert_int_eq(w.bad, 0);
	ck_assert_int_eq(reader_count(w.to), k + 1);
	/* with room now: called all the same, from the loop */
	w.p = iso_port_new();
	w.in_call = 1;
	ck_assert_int_eq(iso_on_writable(w.to, writable_cb, &w), 0);
	w.in_call = 0;
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(w.calls, 2);
	ck_assert_int_eq(w.bad, 0);
	ck_assert_int_eq(iso_on_writable(w.to, NULL, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_isolate_free(slow);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 16u << 20), 0);
	iso_msg_free(w.m);
	free(blob);
}
END_TEST

static void
send_wait_in_cb(void *ud)
{
	struct wtest	*w = ud;

	if (iso_send_wait(w->to, w->m, 100) == -1 && errno == EDEADLK)
		w->deadlock = 1;
	iso_port_close(w->p);
}

START_TEST(send_wait_inside_callback)
{
	iso_isolate	*deaf;
	struct wtest	 w;
	char		*blob = calloc(1, 256 * 1024);

	memset(&w, 0, sizeof w);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 1u << 20), 0);
	w.m = iso_msg_pack("y#", blob, (size_t)256 * 1024);
	deaf = spawn_reader(-1, &w.to);
	fill_queue(w.to, w.m);
	w.p = iso_port_new();
	iso_timer_after(0, send_wait_in_cb, &w);
	ck_assert_int_eq(iso_run(), 0);
	ck_assert_int_eq(w.deadlock, 1);
	ck_assert_int_eq(iso_kill(deaf, ISO_IMMEDIATE), 0);
	iso_isolate_free(deaf);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_QUEUE, 16u << 20), 0);
	iso_msg_free(w.m);
	free(blob);
}
END_TEST

/* Flood `to` with 50,000 numbers (about 600 KB) under a stall limit of
   `stall` ms, then end. */
static void
stall_entry(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_msg		*m;
	int		 stall, k;

	iso_msg_unpack(arg, "[Pi]", &to, &stall);
	iso_limit_set(ISO_LIMIT_STALL, (size_t)stall);
	for (k = 1; k <= 50000; k++) {
		m = num(k);
		iso_send(to, m);
		iso_msg_free(m);
	}
}

/*
 * A reader that reads nothing for longer than the stall limit loses what
 * waited for it, and the writer ends; one that starts reading within the
 * limit (here later than the old fixed 2 s) gets everything.
 */
static void
stall_count_cb(iso_port *p, const iso_msg *m, void *arg)
{
	struct counter	*c = arg;

	if (num_of(m) == -1) {	/* the exit notice */
		iso_port_close(p);
		return;
	}
	if (num_of(m) != c->next)
		c->bad++;
	c->next++;
}

START_TEST(stall_limit_at_exit)
{
	int		 stalls[2] = { 300, 20000 };
	struct counter	 c;
	iso_port	*p;
	iso_isolate	*iso;
	iso_msg		*arg, *bye;
	pid_t		 pid;
	int		 k, ms;

	ck_assert_int_eq(iso_limit_get(ISO_LIMIT_STALL), 2000);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_STALL, 0), -1);
	for (k = 0; k < 2; k++) {
		c.next = 1;
		c.bad = 0;
		p = iso_port_new();
		arg = iso_msg_pack("[Pi]", iso_port_sendport(p), stalls[k]);
		ck_assert_int_eq(iso_spawn(stall_entry, arg, &iso), 0);
		iso_msg_free(arg);
		pid = iso_pid(iso);
		if (k == 0) {
			/* it gives up on us and ends while we do not read */
			for (ms = 0; ms < 30000 && tu_alive(pid); ms += 10)
				tu_sleep_ms(10);
			ck_assert_msg(!tu_alive(pid), "the writer waits on");
		} else
			tu_sleep_ms(2500);
		bye = iso_msg_pack("{s:i}", "n", -1);
		ck_assert_int_eq(iso_on_exit(iso, iso_port_sendport(p), bye),
		    0);
		iso_msg_free(bye);
		iso_isolate_free(iso);
		ck_assert_int_eq(iso_port_listen(p, stall_count_cb, &c), 0);
		ck_assert_int_eq(iso_run(), 0);
		ck_assert_int_eq(c.bad, 0);
		if (k == 0)
			ck_assert_int_lt(c.next - 1, 50000);
		else
			ck_assert_int_eq(c.next - 1, 50000);
	}
}
END_TEST

static Suite *
port_suite(void)
{
	Suite	*s = suite_create("port");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, self_send_first);
	tcase_add_test(tc, a_send_copies_borrowed_bytes);
	tcase_add_test(tc, listen_in_order);
	tcase_add_test(tc, waiting_before_listen);
	tcase_add_test(tc, sendport_in_message);
	tcase_add_test(tc, closed_port_and_dead_isolate);
	tcase_add_test(tc, dead_isolate_refuses);
	tcase_add_test(tc, full_queue);
	tcase_add_test(tc, large_frames_in_a_row);
	tcase_add_test(tc, large_frames_of_every_shape);
	tcase_add_test(tc, spawned_ids_differ);
	tcase_add_test(tc, plain_fork_port_pid);
	tcase_add_test(tc, sends_of_a_callback_are_one_write);
	tcase_add_loop_test(tc, flushed_at_exit, 0, 2);
	tcase_add_test(tc, hostile_frames_on_socket);
	tcase_add_test(tc, half_sent_huge_frames_cost_what_came);
	tcase_add_test(tc, connections_beyond_the_cap_are_told);
	tcase_add_loop_test(tc, a_refused_send_fails_with_the_peers_reason,
	    0, 2);
	tcase_add_loop_test(tc, connect_retried_when_backlog_full, 0, 2);
	tcase_add_test(tc, runtime_dir_checks);
	tcase_add_test(tc, timers);
	tcase_add_test(tc, no_loop_inside_callback);
	tcase_add_test(tc, close_while_first_waits);
	tcase_add_test(tc, send_wait_waits_for_room);
	tcase_add_test(tc, on_writable_once_when_room);
	tcase_add_test(tc, send_wait_inside_callback);
	tcase_add_test(tc, stall_limit_at_exit);
	tcase_add_test(tc, via_frames_had_are_dropped);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(int argc, char **argv)
{
	SRunner	*sr;
	int	 failed;

	/* runtime_dir_checks: is ISO_RUNTIME_DIR refused? */
	if (argc == 2 && strcmp(argv[1], "--rtdir-probe") == 0)
		return (iso_port_new() == NULL && errno == EACCES ? 0 : 1);
	if (argc == 2 && strcmp(argv[1], "--flood") == 0)
		return (flood_main());
	self_path = argv[0];
	tu_runtime_dir();
	/* The queue's bound is on the bytes of frames: a large bytes value
	   shared as a memfd queues ten of them. The cases here fill queues
	   with large values, so they go as plain bytes (shared ones are
	   check_zerocopy's). */
	if (iso_limit_set(ISO_LIMIT_ZEROCOPY, SIZE_MAX) == -1)
		return (1);
	sr = srunner_create(port_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
