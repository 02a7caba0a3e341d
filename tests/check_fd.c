/*
 * check_fd.c: descriptors in messages: the value (pack h, unpack h,
 * iso_msg_fd, take, copy, equal, free), its ext type, descriptors of
 * every kind through ports, inside lists and maps, through spawn,
 * iso_exit and compute; refused where they cannot go; none leaked when a
 * message is dropped or its receiver dies; hostile peers.
 */
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

/* 1 if reading rfd meets end of file within ms: every write end closed. */
static int
eof_within(int rfd, int ms)
{
	struct pollfd	pfd = { rfd, POLLIN, 0 };
	char		b[64];
	ssize_t		n;

	for (;;) {
		if (poll(&pfd, 1, ms) <= 0)
			return (0);
		if ((n = read(rfd, b, sizeof b)) == 0)
			return (1);
		if (n == -1 && errno != EINTR && errno != EAGAIN)
			return (0);
	}
}

/* Run the loop for about ms. */
static void
loop_ms(int ms)
{
	iso_port	*p = iso_port_new();
	iso_msg		*m;

	ck_assert_ptr_nonnull(p);
	if (iso_port_first(p, &m, ms) == 0)
		iso_msg_free(m);
	else
		iso_port_close(p);
}

/* eof_within, running the loop meanwhile (what it must close is ours). */
static int
eof_within_loop(int rfd, int ms)
{
	int	waited;

	for (waited = 0; waited < ms; waited += 20) {
		if (eof_within(rfd, 0))
			return (1);
		loop_ms(20);
	}
	return (eof_within(rfd, 0));
}

/* The descriptors open now, once the loop has seen the ends it had to
   (a dead peer's pair goes once read to its end): running the loop
   until they are `want`, for at most 5 s. */
static int
fds_settle(int want)
{
	iso_port	*p;
	iso_msg		*m;
	int		 waited;

	for (waited = 0; waited < 5000 && tu_fd_count() != want;
	    waited += 10) {
		p = iso_port_new();
		ck_assert_ptr_nonnull(p);
		if (iso_port_first(p, &m, 10) == 0)
			iso_msg_free(m);
		else
			iso_port_close(p);
	}
	return (tu_fd_count());
}

START_TEST(value_ownership)
{
	iso_msg	*m, *c;
	int	 pfd[2], fd, got = -1, before, t;

	before = tu_fd_count();
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	m = iso_msg_pack("h", pfd[1]);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_type(m), ISO_FD);
	fd = iso_msg_fd(m);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ne(fd, pfd[1]);			/* its own dup */
	ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(iso_msg_unpack(m, "h", &got), 0);
	ck_assert_int_eq(got, fd);			/* borrowed */
	ck_assert_int_eq(tu_fd_count(), before + 3);
	/* the caller's own is the caller's */
	close(pfd[1]);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	/* a copy duplicates, and is equal (same open file description) */
	c = iso_msg_copy(m);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_ne(iso_msg_fd(c), fd);
	ck_assert(iso_msg_equal(m, c));
	ck_assert_int_eq(tu_fd_count(), before + 3);
	iso_msg_free(c);
	ck_assert_int_eq(tu_fd_count(), before + 2);
	/* take: the caller's from then on; a second take fails */
	t = iso_msg_fd_take(m);
	ck_assert_int_eq(t, fd);
	errno = 0;
	ck_assert_int_eq(iso_msg_fd_take(m), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(iso_msg_fd(m), -1);
	ck_assert_int_eq(errno, EBADF);
	errno = 0;
	ck_assert_int_eq(iso_msg_unpack(m, "h", &got), -1);
	ck_assert_int_eq(errno, EBADF);
	errno = 0;
	ck_assert_ptr_null(iso_msg_copy(m));
	ck_assert_int_eq(errno, EBADF);
	iso_msg_free(m);				/* does not close t */
	ck_assert_int_eq(fcntl(t, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	ck_assert_int_eq(tu_fd_count(), before + 2);
	close(t);
	ck_assert(eof_within(pfd[0], 1000));
	close(pfd[0]);
	/* not a descriptor */
	m = iso_msg_pack("i", 3);
	errno = 0;
	ck_assert_int_eq(iso_msg_fd(m), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_msg_fd_take(m), -1);
	ck_assert_int_eq(iso_msg_unpack(m, "h", &got), -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_msg_free(m);
	/* a descriptor that is not open */
	errno = 0;
	ck_assert_ptr_null(iso_msg_pack("[i h]", 1, -1));
	ck_assert_int_eq(errno, EBADF);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(fd);
	errno = 0;
	ck_assert_ptr_null(iso_msg_pack("{s:h s:h}", "a", fd, "b", 0));
	ck_assert_int_eq(errno, EBADF);
	ck_assert_str_ne(iso_error(), "");
	ck_assert_int_eq(tu_fd_count(), before);
}
END_TEST

START_TEST(equality)
{
	iso_msg	*a, *b, *c, *d;
	int	 p1[2], p2[2], before = tu_fd_count();

	ck_assert_int_eq(pipe2(p1, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(p2, O_CLOEXEC), 0);
	a = iso_msg_pack("[h h]", p1[0], p1[1]);
	b = iso_msg_pack("[h h]", p1[0], p1[1]);
	c = iso_msg_pack("[h h]", p1[1], p1[0]);	/* ends swapped */
	d = iso_msg_pack("[h h]", p2[0], p2[1]);	/* another pipe */
	ck_assert(iso_msg_equal(a, b));
	ck_assert(!iso_msg_equal(a, c));
	ck_assert(!iso_msg_equal(a, d));
	/* taken equals taken only */
	close(iso_msg_fd_take(iso_msg_at(a, 0)));
	ck_assert(!iso_msg_equal(a, b));
	close(iso_msg_fd_take(iso_msg_at(b, 0)));
	ck_assert(iso_msg_equal(a, b));
	/* a map keyed by a descriptor finds it */
	iso_msg_free(c);
	c = iso_msg_pack("{h:s}", p2[1], "w");
	d = (iso_msg_free(d), iso_msg_pack("h", p2[1]));
	ck_assert_str_eq(iso_msg_str(iso_msg_lookup(c, d), NULL), "w");
	iso_msg_free(a);
	iso_msg_free(b);
	iso_msg_free(c);
	iso_msg_free(d);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
	ck_assert_int_eq(tu_fd_count(), before);
}
END_TEST

START_TEST(grown_and_nested)
{
	iso_msg	*list, *map, *c;
	int	 pfd[2], before = tu_fd_count();

	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	list = iso_msg_pack("[]");
	ck_assert_int_eq(iso_msg_append(list, iso_msg_pack("h", pfd[1])), 0);
	ck_assert_int_eq(iso_msg_append(list, iso_msg_pack("[i {s:h}]", 1,
	    "w", pfd[1])), 0);
	map = iso_msg_pack("{}");
	ck_assert_int_eq(iso_msg_put(map, iso_msg_pack("s", "l"), list), 0);
	ck_assert_int_eq(iso_msg_put(map, iso_msg_pack("s", "x"),
	    iso_msg_pack("h", pfd[1])), 0);
	/* replaced: the old value's descriptor closed */
	ck_assert_int_eq(iso_msg_put(map, iso_msg_pack("s", "x"),
	    iso_msg_pack("n")), 0);
	ck_assert_int_eq(tu_fd_count(), before + 4);
	c = iso_msg_copy(map);
	ck_assert(iso_msg_equal(c, map));
	ck_assert_int_eq(tu_fd_count(), before + 6);
	errno = 0;
	ck_assert_ptr_null(iso_msg_to_json(c));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(iso_msg_to_json(iso_msg_get(c, "l")));
	iso_msg_free(c);
	close(pfd[1]);
	iso_msg_free(map);
	ck_assert(eof_within(pfd[0], 1000));
	close(pfd[0]);
	ck_assert_int_eq(tu_fd_count(), before);
}
END_TEST

/* The ext type on the wire, and a decoder without descriptors. */
START_TEST(wire_form)
{
	iso_msg		*m;
	void		*buf;
	size_t		 len;
	int		 pfd[2];

	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	m = iso_msg_pack("[h]", pfd[0]);
	ck_assert_int_eq(iso_msg_encode(m, &buf, &len), 0);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(buf, "\x91\xd4\x02\x00", 4);
	errno = 0;
	ck_assert_ptr_null(iso_msg_decode(buf, len));
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_msg(strstr(iso_error(), "descriptor") != NULL, "%s",
	    iso_error());
	free(buf);
	iso_msg_free(m);
	/* a reserved kind byte; ext 8 with the same body is read too */
	ck_assert_ptr_null(iso_msg_decode("\xd4\x02\x01", 3));
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_ptr_null(iso_msg_decode("\xc7\x01\x02\x00", 4));
	ck_assert_int_eq(errno, EBADMSG);
	close(pfd[0]);
	close(pfd[1]);
}
END_TEST

/*
 * An echo isolate: sends back a port, takes one message there, does to
 * each descriptor what its key says, and sends back [what it saw, the
 * message].
 */
static void
kinds_entry(const iso_msg *arg)
{
	iso_sendport	 back;
	iso_port	*p = iso_port_new();
	iso_msg		*m, *r;
	char		 seen[256] = "", buf[32];
	const iso_msg	*v;
	uint64_t	 one = 1;
	ssize_t		 n;
	int		 fd;

	if (p == NULL || iso_msg_unpack(arg, "{s:P}", "to", &back) == -1)
		_exit(3);
	m = iso_msg_pack("P", iso_port_sendport(p));
	iso_send(back, m);
	iso_msg_free(m);
	if (iso_port_first(p, &m, 10000) == -1) {
		fprintf(stderr, "kinds: %s\n", iso_error());
		_exit(4);
	}
	if ((v = iso_msg_get(m, "pipe")) != NULL &&
	    write(iso_msg_fd(v), "p", 1) == 1)
		strcat(seen, "pipe ");
	if ((v = iso_msg_get(m, "sock")) != NULL &&
	    send(iso_msg_fd(v), "s", 1, MSG_NOSIGNAL) == 1)
		strcat(seen, "sock ");
	if ((v = iso_msg_get(m, "file")) != NULL &&
	    pwrite(iso_msg_fd(v), "f", 1, 0) == 1)
		strcat(seen, "file ");
	if ((v = iso_msg_get(m, "memfd")) != NULL &&
	    (n = pread(iso_msg_fd(v), buf, sizeof buf - 1, 0)) > 0) {
		buf[n] = '\0';
		strcat(seen, buf);
		strcat(seen, " ");
	}
	if ((v = iso_msg_get(m, "event")) != NULL &&
	    write(iso_msg_fd(v), &one, sizeof one) == sizeof one)
		strcat(seen, "event ");
	if ((v = iso_msg_get(m, "pidfd")) != NULL &&
	    syscall(SYS_pidfd_send_signal, iso_msg_fd(v), 0, NULL, 0) == 0)
		strcat(seen, "pidfd ");
	/* a descriptor taken here is this isolate's to close */
	if ((v = iso_msg_get(m, "take")) != NULL &&
	    (fd = iso_msg_fd_take(v)) >= 0) {
		if (write(fd, "t", 1) == 1)
			strcat(seen, "take ");
		close(fd);
	}
	/* (m itself cannot be sent or copied now: one of it was taken) */
	r = iso_msg_pack("[s {s:O s:O?}]", seen, "pipe", iso_msg_get(m, "pipe"),
	    "pidfd", iso_msg_get(m, "pidfd"));
	if (iso_msg_unpack(m, "{s:[P]}", "reply", &back) == -1 ||
	    r == NULL || iso_send(back, r) == -1) {
		fprintf(stderr, "kinds: %s\n", iso_error());
		_exit(5);
	}
	iso_msg_free(r);
	iso_msg_free(m);
}

/* Spawn kinds_entry; its port in *to, the handle's exit notice to *ex. */
static void
spawn_echo(void (*entry)(const iso_msg *), iso_sendport *to,
    iso_port **ex)
{
	iso_port	*r = iso_port_new();
	iso_isolate	*iso;
	iso_msg		*arg, *m;

	arg = iso_msg_pack("{s:P}", "to", iso_port_sendport(r));
	ck_assert_int_eq(iso_spawn(entry, arg, &iso), 0);
	iso_msg_free(arg);
	*ex = iso_port_new();
	ck_assert_int_eq(iso_on_exit(iso, iso_port_sendport(*ex), NULL), 0);
	iso_isolate_free(iso);
	m = tu_take(r, 10000);
	if (iso_msg_sendport(m, to) == -1)
		ck_assert_int_eq(iso_msg_unpack(m, "[P!]", to), 0);
	iso_msg_free(m);
}

START_TEST(kinds_through_a_port)
{
	iso_sendport	 to;
	iso_port	*ex, *back = iso_port_new();
	iso_msg		*m, *r;
	const char	*seen;
	const iso_msg	*echo;
	uint64_t	 ev = 0;
	char		 c = 0, tmpl[] = "/tmp/check_fd.XXXXXX";
	int		 pfd[2], sv[2], tfd[2], file, mfd, efd, pidfd, before;

	ck_assert_ptr_nonnull(back);
	before = tu_fd_count();
	spawn_echo(kinds_entry, &to, &ex);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(tfd, O_CLOEXEC), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_ge(file = mkostemp(tmpl, O_CLOEXEC), 0);
	unlink(tmpl);
	ck_assert_int_ge(mfd = memfd_create("check_fd", MFD_CLOEXEC), 0);
	ck_assert_int_eq(write(mfd, "memfd", 5), 5);
	ck_assert_int_ge(efd = eventfd(0, EFD_CLOEXEC), 0);
	/* valgrind knows no pidfd_open: the other kinds then */
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	ck_assert(pidfd >= 0 || errno == ENOSYS);
	m = iso_msg_pack("{s:h s:h s:h s:h s:h s:h s:[P]}", "pipe",
	    pfd[1], "sock", sv[1], "file", file, "memfd", mfd, "event", efd,
	    "take", tfd[1], "reply", iso_port_sendport(back));
	ck_assert_ptr_nonnull(m);
	if (pidfd >= 0)
		ck_assert_int_eq(iso_msg_put(m, iso_msg_pack("s", "pidfd"),
		    iso_msg_pack("h", pidfd)), 0);
	ck_assert_int_eq(iso_send(to, m), 0);
	close(tfd[1]);
	r = tu_take(back, 10000);
	ck_assert_int_eq(iso_msg_unpack(r, "[s O!]", &seen, &echo), 0);
	ck_assert_str_eq(seen, pidfd >= 0 ?
	    "pipe sock file memfd event pidfd take " :
	    "pipe sock file memfd event take ");
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	ck_assert_int_eq(c, 'p');
	ck_assert_int_eq(read(sv[0], &c, 1), 1);
	ck_assert_int_eq(c, 's');
	ck_assert_int_eq(pread(file, &c, 1, 0), 1);
	ck_assert_int_eq(c, 'f');
	ck_assert_int_eq(read(efd, &ev, sizeof ev), sizeof ev);
	ck_assert_int_eq(ev, 1);
	ck_assert_int_eq(read(tfd[0], &c, 1), 1);
	ck_assert_int_eq(c, 't');
	/* back here: the same open files */
	ck_assert(iso_msg_equal(iso_msg_get(echo, "pipe"),
	    iso_msg_get(m, "pipe")));
	if (pidfd >= 0)
		ck_assert(iso_msg_equal(iso_msg_get(echo, "pidfd"),
		    iso_msg_get(m, "pidfd")));
	iso_msg_free(r);
	iso_msg_free(m);
	m = tu_take(ex, 10000);
	iso_msg_free(m);
	/* every copy of the take pipe's write end is closed, there too */
	ck_assert(eof_within(tfd[0], 5000));
	close(pfd[0]);
	close(pfd[1]);
	close(tfd[0]);
	close(sv[0]);
	close(sv[1]);
	close(file);
	close(mfd);
	close(efd);
	if (pidfd >= 0)
		close(pidfd);
	ck_assert_int_eq(fds_settle(before), before);
}
END_TEST

/* An isolate that sends back [A, B], closes A at once, and waits on B. */
static void
closed_port_entry(const iso_msg *arg)
{
	iso_sendport	 back;
	iso_port	*a = iso_port_new(), *b = iso_port_new();
	iso_msg		*m;

	if (a == NULL || b == NULL ||
	    iso_msg_unpack(arg, "{s:P}", "to", &back) == -1)
		_exit(3);
	m = iso_msg_pack("[P P]", iso_port_sendport(a), iso_port_sendport(b));
	iso_send(back, m);
	iso_msg_free(m);
	iso_port_close(a);
	if (iso_port_first(b, &m, 20000) == 0)
		iso_msg_free(m);
}

static void
two_ports(void (*entry)(const iso_msg *), iso_sendport *a, iso_sendport *b,
    iso_isolate **iso)
{
	iso_port	*r = iso_port_new();
	iso_msg		*arg, *m;

	arg = iso_msg_pack("{s:P}", "to", iso_port_sendport(r));
	ck_assert_int_eq(iso_spawn(entry, arg, iso), 0);
	iso_msg_free(arg);
	m = tu_take(r, 10000);
	ck_assert_int_eq(iso_msg_unpack(m, "[P P!]", a, b), 0);
	iso_msg_free(m);
}

/* A message to a closed port is dropped there: its descriptors closed. */
START_TEST(dropped_at_a_closed_port)
{
	iso_sendport	 a, b;
	iso_isolate	*iso;
	iso_msg		*m;
	int		 pfd[2], before = tu_fd_count();

	two_ports(closed_port_entry, &a, &b, &iso);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	m = iso_msg_pack("[s {s:h}]", "to a closed port", "w", pfd[1]);
	close(pfd[1]);
	ck_assert_int_eq(iso_send(a, m), 0);
	iso_msg_free(m);
	/* it still runs (waiting on b), and holds no copy */
	ck_assert(eof_within_loop(pfd[0], 5000));
	ck_assert(tu_alive(iso_pid(iso)));
	close(pfd[0]);
	m = iso_msg_pack("n");
	ck_assert_int_eq(iso_send(b, m), 0);
	iso_msg_free(m);
	(void)iso_kill(iso, ISO_IMMEDIATE);	/* ended by now, or ends */
	iso_isolate_free(iso);
	ck_assert_int_eq(fds_settle(before), before);
}
END_TEST

/* An isolate that sends back [A, B] and then never runs its loop. */
static void
stuck_entry(const iso_msg *arg)
{
	iso_sendport	 back;
	iso_port	*a = iso_port_new();
	iso_msg		*m;

	if (a == NULL || iso_msg_unpack(arg, "{s:P}", "to", &back) == -1)
		_exit(3);
	m = iso_msg_pack("[P P]", iso_port_sendport(a), iso_port_sendport(a));
	iso_send(back, m);
	iso_msg_free(m);
	for (;;)
		pause();
}

/*
 * A receiver killed before it read its message, and one killed with half
 * of a large message read (the rest still queued here): nothing of
 * either is left open, here or anywhere.
 */
START_TEST(receiver_dies_mid_message)
{
	iso_sendport	 a, b;
	iso_isolate	*iso;
	iso_msg		*m;
	size_t		 big = _i == 0 ? 0 : 8 << 20;
	char		*bytes = calloc(1, big + 1);
	int		 pfd[2], before = tu_fd_count();

	two_ports(stuck_entry, &a, &b, &iso);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	m = iso_msg_pack("[h y# h]", pfd[1], bytes, big, pfd[1]);
	close(pfd[1]);
	ck_assert_int_eq(iso_send(a, m), 0);
	iso_msg_free(m);
	free(bytes);
	ck_assert_int_eq(iso_kill(iso, ISO_IMMEDIATE), 0);
	iso_isolate_free(iso);
	ck_assert(eof_within_loop(pfd[0], 5000));
	close(pfd[0]);
	ck_assert_int_eq(fds_settle(before), before);
}
END_TEST

/* iso_exit's final message carries a descriptor opened in the isolate. */
static void
exit_entry(const iso_msg *arg)
{
	iso_sendport	 back;
	iso_msg		*m;
	int		 fd;

	if (iso_msg_unpack(arg, "{s:P}", "to", &back) == -1 ||
	    (fd = memfd_create("exit", MFD_CLOEXEC)) == -1 ||
	    write(fd, "from exit", 9) != 9)
		_exit(3);
	m = iso_msg_pack("{s:h}", "memfd", fd);
	close(fd);
	iso_exit(back, m);
}

START_TEST(through_iso_exit)
{
	iso_port	*r = iso_port_new();
	iso_msg		*arg, *m;
	char		 buf[16] = "";
	int		 fd = -1, before = tu_fd_count();

	arg = iso_msg_pack("{s:P}", "to", iso_port_sendport(r));
	ck_assert_int_eq(iso_spawn(exit_entry, arg, NULL), 0);
	iso_msg_free(arg);
	m = tu_take(r, 10000);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:h}", "memfd", &fd), 0);
	ck_assert_int_eq(pread(fd, buf, sizeof buf, 0), 9);
	ck_assert_str_eq(buf, "from exit");
	iso_msg_free(m);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);	/* closed with m */
	(void)before;
}
END_TEST

/* A spawned isolate's argument carries a descriptor (it is a fork). */
static void
arg_entry(const iso_msg *arg)
{
	int	fd;

	if (iso_msg_unpack(arg, "{s:h}", "w", &fd) == -1 ||
	    write(fd, "a", 1) != 1)
		_exit(3);
}

START_TEST(in_a_spawn_argument)
{
	iso_msg	*arg;
	char	 c = 0;
	int	 pfd[2];

	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	arg = iso_msg_pack("{s:h}", "w", pfd[1]);
	close(pfd[1]);
	ck_assert_int_eq(iso_spawn(arg_entry, arg, NULL), 0);
	iso_msg_free(arg);
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	ck_assert_int_eq(c, 'a');
	ck_assert(eof_within(pfd[0], 5000));
	close(pfd[0]);
}
END_TEST

/* Many descriptors in one message: SCM_MAX_FD is the bound. Replies to
   [P, fd, fd, ...] with how many came; [] ends it. */
static void
count_cb(iso_port *p, const iso_msg *m, void *arg)
{
	iso_sendport	 back;
	iso_msg		*r;
	size_t		 i, n = 0;

	(void)arg;
	if (iso_msg_len(m) == 0) {
		iso_port_close(p);
		return;
	}
	if (iso_msg_sendport(iso_msg_at(m, 0), &back) == -1)
		_exit(6);
	for (i = 1; i < iso_msg_len(m); i++)
		n += iso_msg_fd(iso_msg_at(m, i)) >= 0;
	r = iso_msg_pack("i", (int)n);
	iso_send(back, r);
	iso_msg_free(r);
}

static void
count_entry(const iso_msg *arg)
{
	iso_sendport	 back;
	iso_port	*p = iso_port_new();
	iso_msg		*m;

	if (p == NULL || iso_msg_unpack(arg, "{s:P}", "to", &back) == -1)
		_exit(3);
	m = iso_msg_pack("P", iso_port_sendport(p));
	iso_send(back, m);
	iso_msg_free(m);
	iso_port_listen(p, count_cb, NULL);
}

/* [P, fd x n] */
static iso_msg *
fd_list(iso_port *reply, int fd, int n)
{
	iso_msg	*list = iso_msg_pack("[P]", iso_port_sendport(reply));
	int	 k;

	for (k = 0; k < n; k++)
		ck_assert_int_eq(iso_msg_append(list, iso_msg_pack("h", fd)),
		    0);
	return (list);
}

START_TEST(many_in_one_message)
{
	iso_sendport	 to;
	iso_port	*ex, *rp[3];
	iso_msg		*list, *m;
	int		 pfd[2], k, n, before = tu_fd_count();

	spawn_echo(count_entry, &to, &ex);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	rp[0] = iso_port_new();
	list = fd_list(rp[0], pfd[1], 254);
	errno = 0;
	ck_assert_int_eq(iso_send(to, list), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_msg(strstr(iso_error(), "253") != NULL, "%s", iso_error());
	iso_msg_free(list);
	iso_port_close(rp[0]);
	/* 253 go; frames in a row, written together, keep their own */
	for (k = 0; k < 3; k++) {
		rp[k] = iso_port_new();
		list = fd_list(rp[k], pfd[1], k == 1 ? 1 : 253);
		ck_assert_int_eq(iso_send(to, list), 0);
		iso_msg_free(list);
	}
	for (k = 0; k < 3; k++) {
		m = tu_take(rp[k], 10000);
		ck_assert_int_eq(iso_msg_unpack(m, "i", &n), 0);
		ck_assert_int_eq(n, k == 1 ? 1 : 253);
		iso_msg_free(m);
	}
	m = iso_msg_pack("[]");
	ck_assert_int_eq(iso_send(to, m), 0);
	iso_msg_free(m);
	m = tu_take(ex, 10000);
	iso_msg_free(m);
	close(pfd[1]);
	ck_assert(eof_within_loop(pfd[0], 5000));
	close(pfd[0]);
	ck_assert_int_eq(fds_settle(before), before);
}
END_TEST

/* compute's result carries a descriptor opened in the computing isolate. */
static iso_msg *
memfd_fn(const iso_msg *arg)
{
	iso_msg	*r;
	int	 fd;

	(void)arg;
	if ((fd = memfd_create("compute", MFD_CLOEXEC)) == -1 ||
	    write(fd, "computed", 8) != 8)
		return (NULL);
	r = iso_msg_pack("[h s]", fd, "memfd");
	close(fd);
	return (r);
}

START_TEST(through_compute)
{
	iso_msg	*r = NULL;
	char	 buf[16] = "";
	int	 fd = -1, before = tu_fd_count();

	ck_assert_msg(iso_compute(memfd_fn, NULL, &r) == 0, "%s",
	    iso_error());
	ck_assert_int_eq(iso_msg_unpack(r, "[h s]", &fd, &(const char *){0}),
	    0);
	ck_assert_int_eq(pread(fd, buf, sizeof buf, 0), 8);
	ck_assert_str_eq(buf, "computed");
	ck_assert_int_eq(tu_fd_count(), before + 1);
	iso_msg_free(r);
	ck_assert_int_eq(fds_settle(before), before);
}
END_TEST

/* The blocking frame helpers carry them on a Unix socket, not a pipe. */
START_TEST(blocking_frames)
{
	iso_msg	*m, *r = NULL;
	char	 c = 0;
	int	 sv[2], pfd[2], fd, before = tu_fd_count();

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	m = iso_msg_pack("{s:i s:[h h]}", "n", 1, "w", pfd[1], pfd[1]);
	ck_assert_int_eq(iso_msg_write(sv[0], m), 0);
	ck_assert_int_eq(iso_msg_write(sv[0], m), 0);
	ck_assert_int_eq(iso_msg_read(sv[1], &r), 1);
	ck_assert(iso_msg_equal(m, r));
	fd = iso_msg_fd(iso_msg_at(iso_msg_get(r, "w"), 1));
	ck_assert_int_eq(write(fd, "b", 1), 1);
	ck_assert_int_eq(read(pfd[0], &c, 1), 1);
	iso_msg_free(r);
	ck_assert_int_eq(iso_msg_read(sv[1], &r), 1);
	iso_msg_free(r);
	close(sv[0]);
	close(sv[1]);
	/* a pipe cannot carry them */
	errno = 0;
	ck_assert_int_eq(iso_msg_write(pfd[1], m), -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_msg_free(m);
	close(pfd[1]);
	ck_assert(eof_within(pfd[0], 1000));
	close(pfd[0]);
	ck_assert_int_eq(tu_fd_count(), before);
}
END_TEST

static iso_msg *
echo_fn(const iso_msg *arg)
{
	return (iso_msg_copy(arg));
}

/* Where a descriptor cannot go, the call fails, saying why. */
START_TEST(refused_where_they_cannot_go)
{
	char		 tru[] = "true", *argv[] = { tru, NULL };
	iso_pool	*pool;
	iso_msg		*m, *r = NULL, *list;
	int		 before = tu_fd_count(), auto_was;

	m = iso_msg_pack("{s:h}", "fd", 0);
	/* JSON */
	errno = 0;
	ck_assert_ptr_null(iso_msg_to_json(m));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(iso_error(), "descriptor") != NULL, "%s",
	    iso_error());
	/* the supervisor: refused before anything is written (it is not
	   even started: that would fail with ESRCH) */
	auto_was = iso_sup_autostart(0);
	errno = 0;
	ck_assert_int_eq(iso_sup_send("mbox", m), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(iso_error(), "descriptor") != NULL, "%s",
	    iso_error());
	ck_assert_int_eq(iso_sup_compute("x.so:f", m, 0, &r), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_sup_compute_exec(argv, m, 0, &r), -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_sup_autostart(auto_was);
	/* exec */
	errno = 0;
	ck_assert_int_eq(iso_spawn_exec(argv, m, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* a pool's shared memory: arguments and results */
	pool = iso_pool_new(1);
	ck_assert_ptr_nonnull(pool);
	errno = 0;
	ck_assert_int_eq(iso_pool_call(pool, echo_fn, m, 0, &r), -1);
	ck_assert_int_eq(errno, EINVAL);
	list = iso_msg_pack("[O]", m);
	ck_assert_int_eq(iso_pool_map(pool, echo_fn, list, 0, &r, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_msg_free(list);
	ck_assert_int_eq(iso_pool_call(pool, memfd_fn, NULL, 0, &r), -1);
	ck_assert_msg(strstr(iso_error(), "descriptor") != NULL, "%s",
	    iso_error());
	iso_pool_free(pool);
	iso_msg_free(m);
	ck_assert_int_eq(fds_settle(before), before);
}
END_TEST

static int
raw_connect(const char *name)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/%s",
	    tu_runtime_dir(), name);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "connect %s: %s", sun.sun_path, strerror(errno));
	return (fd);
}

/* bytes with fd attached (SCM_RIGHTS), n of it (0: none). */
static void
raw_send(int sock, const void *bytes, size_t len, int fd, int n)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(4 * sizeof(int))];
	}		ctl;
	struct iovec	iov = { (void *)bytes, len };
	struct msghdr	mh;
	int		fds[4] = { fd, fd, fd, fd };

	memset(&mh, 0, sizeof mh);
	memset(&ctl, 0, sizeof ctl);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (n > 0) {
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		ctl.h.cmsg_level = SOL_SOCKET;
		ctl.h.cmsg_type = SCM_RIGHTS;
		ctl.h.cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(&ctl.h), fds, n * sizeof(int));
	}
	ck_assert_int_eq(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* The peer (this process's loop) closes the connection within 5 s,
   saying nothing: read sees EOF. */
static int
dropped(int sock)
{
	int	eof = eof_within_loop(sock, 5000);

	close(sock);
	return (eof);
}

/*
 * Hostile peers on our socket: a frame that refers to descriptors that
 * did not come, descriptors with no frame, more than the frame takes:
 * each connection dropped with its descriptors closed; we go on.
 */
START_TEST(hostile_peers)
{
	static const struct {
		const char	*bytes;
		size_t		 len;
		int		 nfds;
	} bad[] = {
		/* port 1, [fd]: none came */
		{ "\x00\x00\x00\x05\x01\x91\xd4\x02\x00", 9, 0 },
		/* port 1, [fd, fd]: one came */
		{ "\x00\x00\x00\x08\x01\x92\xd4\x02\x00\xd4\x02\x00", 12, 1 },
		/* port 1, nil, with one: it belongs to no frame */
		{ "\x00\x00\x00\x02\x01\xc0", 6, 1 },
		/* port 1, [fd], with three: two belong to no frame */
		{ "\x00\x00\x00\x05\x01\x91\xd4\x02\x00", 9, 3 },
		/* a reserved kind byte */
		{ "\x00\x00\x00\x05\x01\x91\xd4\x02\x07", 9, 1 },
	};
	iso_port	*p = iso_port_new();
	iso_msg		*m;
	size_t		 k;
	int		 sock, pfd[2], before;

	ck_assert_ptr_nonnull(p);
	before = tu_fd_count();
	for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
		sock = tu_iso_connect(iso_port_sendport(p).isolate);
		ck_assert_int_ne(sock, -1);
		raw_send(sock, bad[k].bytes, bad[k].len, pfd[1], bad[k].nfds);
		close(pfd[1]);
		ck_assert_msg(eof_within_loop(pfd[0], 5000), "case %zu", k);
		ck_assert_msg(dropped(sock), "case %zu", k);
		close(pfd[0]);
		/* still serving */
		m = iso_msg_pack("i", (int)k);
		ck_assert_int_eq(iso_send(iso_port_sendport(p), m), 0);
		iso_msg_free(m);
		ck_assert_int_eq(iso_port_first(p, &m, 5000), 0);
		iso_msg_free(m);
		p = iso_port_new();
	}
	iso_port_close(p);
	ck_assert_int_eq(fds_settle(before), before);
}
END_TEST

/* The supervisor: a mailbox refuses a message with descriptors (the
   sender is told, its next send fails), and a request with some is
   closed; none kept there. */
static void
sup_stop(void)
{
	(void)iso_sup_stop();
}

START_TEST(supervisor_refuses)
{
	char		 sleep_[] = "sleep", secs[] = "30";
	char		*argv[] = { sleep_, secs, NULL };
	iso_sup_spawn_opts o;
	iso_sendport	 box;
	iso_msg		*m;
	char		 name[32], buf[256];
	ssize_t		 n;
	int		 pfd[2], sock, rc, k;

	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "fdbox";
	ck_assert_msg(iso_sup_spawn(&o, NULL) == 0, "%s", iso_error());
	ck_assert_int_eq(iso_sup_lookup("fdbox", &box), 0);
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	m = iso_msg_pack("[s h]", "keep this", pfd[1]);
	close(pfd[1]);
	rc = iso_send(box, m);
	iso_msg_free(m);
	/* the supervisor holds no copy, and says why: the next send fails */
	ck_assert(eof_within_loop(pfd[0], 5000));
	close(pfd[0]);
	m = iso_msg_pack("s", "after");
	for (k = 0; rc == 0 && k < 500; k++)
		if ((rc = iso_send(box, m)) == 0)
			loop_ms(10);
	iso_msg_free(m);
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(strstr(iso_error(), "descriptor") != NULL, "%s",
	    iso_error());
	/* nothing was kept */
	ck_assert_int_eq(iso_sup_take("fdbox", 10, 0, &m), 0);
	ck_assert_int_eq(iso_msg_len(m), 0);
	iso_msg_free(m);
	/* a request with one: that connection closed, the fd too */
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	snprintf(name, sizeof name, "supervisor.sock");
	sock = raw_connect(name);
	raw_send(sock, "\x00\x00\x00\x09\x82\xa2op\xa4list\xc0", 13, pfd[1],
	    1);
	close(pfd[1]);
	ck_assert(eof_within(pfd[0], 5000));
	while ((n = read(sock, buf, sizeof buf)) > 0)
		;
	ck_assert_int_eq(n, 0);
	close(sock);
	close(pfd[0]);
	ck_assert_int_eq(iso_sup_kill("fdbox", ISO_IMMEDIATE), 0);
}
END_TEST

static void
nop_entry(const iso_msg *arg)
{
	(void)arg;
}

/* What the library keeps open once used (its loop, its socket, the
   spawner's epoll), so that counts taken in a test compare like with
   like. */
static void
warm_up(void)
{
	iso_port	*p = iso_port_new(), *ex = iso_port_new();
	iso_isolate	*iso;
	iso_msg		*m;

	ck_assert_int_eq(iso_spawn(nop_entry, NULL, &iso), 0);
	ck_assert_int_eq(iso_on_exit(iso, iso_port_sendport(ex), NULL), 0);
	iso_isolate_free(iso);
	m = tu_take(ex, 10000);
	iso_msg_free(m);
	iso_port_close(p);
	ck_assert_int_eq(iso_run(), 0);
}

static Suite *
fd_suite(void)
{
	Suite	*s = suite_create("fd");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, warm_up, NULL);
	tcase_add_test(tc, value_ownership);
	tcase_add_test(tc, equality);
	tcase_add_test(tc, grown_and_nested);
	tcase_add_test(tc, wire_form);
	tcase_add_test(tc, kinds_through_a_port);
	tcase_add_test(tc, dropped_at_a_closed_port);
	tcase_add_loop_test(tc, receiver_dies_mid_message, 0, 2);
	tcase_add_test(tc, through_iso_exit);
	tcase_add_test(tc, in_a_spawn_argument);
	tcase_add_test(tc, many_in_one_message);
	tcase_add_test(tc, through_compute);
	tcase_add_test(tc, blocking_frames);
	tcase_add_test(tc, refused_where_they_cannot_go);
	tcase_add_test(tc, hostile_peers);
	suite_add_tcase(s, tc);
	tc = tcase_create("sup");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, sup_stop);
	tcase_add_test(tc, supervisor_refuses);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(int argc, char **argv)
{
	SRunner	*sr;
	int	 failed;

	(void)argc;
	/* the supervisor the sup case starts: the one built here */
	tu_use_built_isolated(argv[0]);
	tu_runtime_dir();
	sr = srunner_create(fd_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
