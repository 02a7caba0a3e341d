/*
 * check_zerocopy.c: large bytes values in sealed memfds: packed and made
 * in place (iso_bytes_new), sent through ports and back unchanged from
 * 1 KiB up, copied and forwarded without a copy of their bytes, freed
 * with their last message in both processes; hostile senders refused;
 * and as plain bytes wherever descriptors cannot go (encode, write to a
 * pipe, JSON, compute, pools).
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "testutil.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND	0
#endif

static const char	*self_path;

/* FNV-1a over p[0..n): what the sender and receiver compare. */
static uint64_t
sum(const void *p, size_t n)
{
	const unsigned char	*q = p;
	uint64_t		 h = 14695981039346656037ULL;
	size_t			 i;

	for (i = 0; i < n; i++)
		h = (h ^ q[i]) * 1099511628211ULL;
	return (h);
}

static void
fill(void *p, size_t n, unsigned seed)
{
	unsigned char	*q = p;
	size_t		 i;

	for (i = 0; i < n; i++)
		q[i] = (unsigned char)(i * 131 + seed + (i >> 12));
}

/* Lines of /proc/self/maps of a memfd ours ("memfd:iso-bytes"). */
static int
mfd_maps(void)
{
	FILE	*f = fopen("/proc/self/maps", "re");
	char	 line[512];
	int	 n = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, "memfd:iso-bytes") != NULL)
			n++;
	fclose(f);
	return (n);
}

/* The descriptors open now, once the loop has seen what it had to. */
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

/*
 * An isolate that answers each [bytes, reply port] with [checksum,
 * length, the maps it has of shared values, the same bytes] (forwarding
 * what it received), and each [nil, reply] with [the maps it has].
 */
static void
echo_cb(iso_port *in, const iso_msg *m, void *arg)
{
	iso_sendport	 reply;
	const iso_msg	*v;
	const void	*p;
	iso_msg		*r;
	size_t		 n;

	(void)in;
	(void)arg;
	if (iso_msg_unpack(m, "[O P]", &v, &reply) == -1)
		_exit(4);
	if (iso_msg_type(v) == ISO_NIL)
		r = iso_msg_pack("[i]", mfd_maps());
	else {
		p = iso_msg_bytes(v, &n);
		r = iso_msg_pack("[U U i O]", sum(p, n), (uint64_t)n,
		    mfd_maps(), v);
	}
	if (r == NULL || iso_send(reply, r) == -1)
		_exit(5);
	iso_msg_free(r);
}

static void
echo_entry(const iso_msg *arg)
{
	iso_sendport	 back;
	iso_port	*in = iso_port_new();
	iso_msg		*m;

	if (in == NULL || iso_msg_unpack(arg, "{s:P}", "to", &back) == -1 ||
	    iso_port_listen(in, echo_cb, NULL) == -1)
		_exit(3);
	m = iso_msg_pack("P", iso_port_sendport(in));
	iso_send(back, m);
	iso_msg_free(m);
}

static iso_sendport	echo_to;
static iso_port		*echo_ex;
static iso_isolate	*echo_iso;

static void
echo_start(void)
{
	iso_port	*r = iso_port_new();
	iso_msg		*arg, *m;

	arg = iso_msg_pack("{s:P}", "to", iso_port_sendport(r));
	ck_assert_int_eq(iso_spawn(echo_entry, arg, &echo_iso), 0);
	iso_msg_free(arg);
	echo_ex = iso_port_new();
	ck_assert_int_eq(iso_on_exit(echo_iso, iso_port_sendport(echo_ex),
	    NULL), 0);
	m = tu_take(r, 10000);
	ck_assert_int_eq(iso_msg_sendport(m, &echo_to), 0);
	iso_msg_free(m);		/* r went with its first message */
}

static void
echo_stop(void)
{
	iso_msg	*m;

	iso_kill(echo_iso, ISO_IMMEDIATE);
	iso_isolate_free(echo_iso);
	m = tu_take(echo_ex, 10000);
	iso_msg_free(m);
}

/* Send v to the echo isolate: its answer. */
static iso_msg *
echo(const iso_msg *v, iso_port *unused)
{
	iso_port	*back = iso_port_new();
	iso_msg		*m;

	(void)unused;
	ck_assert_ptr_nonnull(back);
	m = iso_msg_pack("[O P]", v, iso_port_sendport(back));
	ck_assert_ptr_nonnull(m);
	ck_assert_msg(iso_send(echo_to, m) == 0, "%s", iso_error());
	iso_msg_free(m);
	return (tu_take(back, 60000));
}

/* The bytes of v are in a shared value (a memfd mapping). */
static int
is_shared(const iso_msg *v)
{
	const void	*p = iso_msg_bytes(v, NULL);
	FILE		*f = fopen("/proc/self/maps", "re");
	char		 line[512];
	uintptr_t	 a, b;
	int		 yes = 0;

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &a, &b) == 2 &&
		    (uintptr_t)p >= a && (uintptr_t)p < b)
			yes = strstr(line, "memfd:iso-bytes") != NULL;
	fclose(f);
	return (yes);
}

/* A shared bytes value holding a copy of p[0..n) (n >= the limit). */
static iso_msg *
shared_of(const void *p, size_t n)
{
	iso_msg	*v;
	void	*q;

	v = iso_bytes_new(n, &q);
	ck_assert_ptr_nonnull(v);
	memcpy(q, p, n);
	ck_assert(is_shared(v));
	return (v);
}

static const size_t sizes[] = {
	1024, 64 * 1024 - 1, 64 * 1024, 1 << 20, (1 << 20) + 4097, 64 << 20,
	1u << 30
};

START_TEST(sizes_through_a_port)
{
	iso_port	*back = iso_port_new();
	const iso_msg	*got;
	iso_msg		*m, *r, *c;
	uint64_t	 s, n;
	size_t		 len = sizes[_i];
	void		*buf;
	int		 maps, before;

	if (len >= (1u << 30) && RUNNING_ON_VALGRIND) {
		/* 1 GiB through memcheck's shadow memory takes minutes */
		fprintf(stderr, "skipped 1 GiB under valgrind\n");
		return;
	}
	before = tu_fd_count();
	maps = mfd_maps();
	echo_start();
	m = iso_bytes_new(len, &buf);
	ck_assert_ptr_nonnull(m);
	fill(buf, len, (unsigned)_i);
	ck_assert_int_eq(is_shared(m), len >= 64 * 1024);
	if (len <= (1u << 20) + 4097) {
		/* y# copies into the message, whatever the size: plain */
		r = iso_msg_pack("y#", buf, len);
		ck_assert_ptr_nonnull(r);
		ck_assert(!is_shared(r));
		c = echo(r, back);
		ck_assert_int_eq(iso_msg_unpack(c, "[U U i O]", &s, &n,
		    &maps, &got), 0);
		ck_assert_uint_eq(s, sum(buf, len));
		ck_assert_int_eq(maps, 0);
		ck_assert(!is_shared(got));
		ck_assert(iso_msg_equal(got, m));
		iso_msg_free(c);
		iso_msg_free(r);
	}
	s = sum(iso_msg_bytes(m, NULL), len);
	r = echo(m, back);
	ck_assert_int_eq(iso_msg_unpack(r, "[U U i O]", &s, &n, &maps, &got),
	    0);
	ck_assert_uint_eq(n, len);
	ck_assert_uint_eq(s, sum(iso_msg_bytes(m, NULL), len));
	/* back: the same bytes, shared again, never copied on the way */
	ck_assert_int_eq(iso_msg_len(got), len);
	ck_assert(iso_msg_equal(got, m));
	ck_assert_int_eq(is_shared(got), len >= 64 * 1024);
	/* the receiver mapped it while it held it */
	ck_assert_int_eq(maps, len >= 64 * 1024 ? 1 : 0);
	iso_msg_free(r);
	iso_msg_free(m);
	/* and let go of it: the memory is returned in both processes */
	ck_assert_int_eq(mfd_maps(), 0);
	m = iso_msg_pack("n");
	r = echo(m, back);
	iso_msg_free(m);
	ck_assert_int_eq(iso_msg_unpack(r, "[i]", &maps), 0);
	ck_assert_int_eq(maps, 0);
	iso_msg_free(r);
	echo_stop();
	iso_port_close(back);
	ck_assert_int_eq(fds_settle(before), before);
}
END_TEST

START_TEST(filled_in_place)
{
	iso_port	*back = iso_port_new();
	const iso_msg	*got;
	iso_msg		*m, *r, *c;
	uint64_t	 s, n;
	size_t		 len = (4 << 20) + 5;
	void		*p;
	int		 maps, before;

	before = tu_fd_count();
	echo_start();
	m = iso_bytes_new(len, &p);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_eq(iso_msg_bytes(m, NULL), p);
	fill(p, len, 9);
	ck_assert(is_shared(m));
	c = iso_msg_copy(m);		/* seals it: the same pages */
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_eq(iso_msg_bytes(c, NULL), p);
	r = echo(m, back);
	ck_assert_int_eq(iso_msg_unpack(r, "[U U i O]", &s, &n, &maps, &got),
	    0);
	ck_assert_uint_eq(n, len);
	ck_assert_uint_eq(s, sum(p, len));
	ck_assert(iso_msg_equal(got, c));
	iso_msg_free(r);
	iso_msg_free(m);
	ck_assert_int_eq(mfd_maps(), 1);	/* the copy holds it */
	iso_msg_free(c);
	ck_assert_int_eq(mfd_maps(), 0);
	/* below the limit: plain bytes, filled in place all the same */
	m = iso_bytes_new(100, &p);
	ck_assert_ptr_nonnull(m);
	memset(p, 'x', 100);
	ck_assert(!is_shared(m));
	r = echo(m, back);
	ck_assert_int_eq(iso_msg_unpack(r, "[U U i O]", &s, &n, &maps, &got),
	    0);
	ck_assert_uint_eq(s, sum(p, 100));
	iso_msg_free(r);
	iso_msg_free(m);
	echo_stop();
	iso_port_close(back);
	ck_assert_int_eq(fds_settle(before), before);
}
END_TEST

/* The permissions of the mapping holding p ("rw-s"), from maps. */
static void
perms(const void *p, char out[5])
{
	FILE		*f = fopen("/proc/self/maps", "re");
	char		 line[512], pm[8];
	uintptr_t	 a, b;

	ck_assert_ptr_nonnull(f);
	strcpy(out, "none");
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s", &a, &b,
		    pm) == 3 && (uintptr_t)p >= a && (uintptr_t)p < b)
			memcpy(out, pm, 5);
	fclose(f);
}

/* Sealed once encoded (or sent, or copied): read-only at the same
   address, the memfd sealed, so a write faults. */
START_TEST(sealed_once_sent)
{
	iso_msg	*m;
	void	*p, *buf;
	size_t	 len;
	char	 pm[5];

	m = iso_bytes_new(1 << 20, &p);
	ck_assert_ptr_nonnull(m);
	memset(p, 1, 1 << 20);
	perms(p, pm);
	ck_assert_str_eq(pm, "rw-s");
	ck_assert_int_eq(iso_msg_encode(m, &buf, &len), 0);
	free(buf);
	perms(p, pm);
	ck_assert_str_eq(pm, "r--s");
	ck_assert_ptr_eq(iso_msg_bytes(m, NULL), p);
	ck_assert_int_eq(((unsigned char *)p)[12345], 1);
	iso_msg_free(m);
}
END_TEST

START_TEST(copies_share_and_nest)
{
	iso_msg		*m, *l, *c, *big;
	const iso_msg	*it;
	void		*p;
	char		*buf = malloc(1 << 20);
	int		 before = tu_fd_count();

	ck_assert_ptr_nonnull(buf);
	fill(buf, 1 << 20, 3);
	big = iso_bytes_new((size_t)1 << 20, &p);
	ck_assert_ptr_nonnull(big);
	memcpy(p, buf, 1 << 20);
	m = iso_msg_pack("{s:[O O] s:i}", "v", big, big, "n", 1);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(tu_fd_count(), before + 1);	/* one memfd */
	ck_assert_int_eq(mfd_maps(), 1);
	l = iso_msg_pack("[]");
	ck_assert_int_eq(iso_msg_append(l, iso_msg_copy(big)), 0);
	c = iso_msg_copy(m);
	ck_assert(iso_msg_equal(c, m));
	it = iso_msg_at(iso_msg_get(c, "v"), 1);
	ck_assert_ptr_eq(iso_msg_bytes(it, NULL), iso_msg_bytes(big, NULL));
	iso_msg_free(big);
	iso_msg_free(m);
	ck_assert_int_eq(mfd_maps(), 1);
	ck_assert_int_eq(memcmp(iso_msg_bytes(iso_msg_at(l, 0), NULL), buf,
	    1 << 20), 0);
	iso_msg_free(c);
	iso_msg_free(l);
	ck_assert_int_eq(mfd_maps(), 0);
	ck_assert_int_eq(tu_fd_count(), before);
	/* the limit moves the threshold */
	ck_assert_int_eq(iso_limit_get(ISO_LIMIT_ZEROCOPY), 64 * 1024);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_ZEROCOPY, 0), -1);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_ZEROCOPY, 4096), 0);
	m = iso_bytes_new(5000, &p);
	ck_assert(is_shared(m));
	iso_msg_free(m);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_ZEROCOPY, 64 * 1024), 0);
	m = iso_bytes_new(5000, &p);
	ck_assert(!is_shared(m));
	iso_msg_free(m);
	free(buf);
}
END_TEST

/* Where descriptors cannot go, the bytes go as plain bytes. */
START_TEST(plain_where_descriptors_cannot_go)
{
	iso_msg		*m, *d, *v;
	char		*buf = malloc(300000), *json;
	void		*enc;
	size_t		 len;
	int		 pfd[2], before = tu_fd_count();

	ck_assert_ptr_nonnull(buf);
	fill(buf, 300000, 5);
	v = shared_of(buf, 300000);
	m = iso_msg_pack("[s O]", "k", v);
	iso_msg_free(v);
	ck_assert_ptr_nonnull(m);
	/* encode: bin 32, the bytes inline */
	ck_assert_int_eq(iso_msg_encode(m, &enc, &len), 0);
	ck_assert_uint_eq(len, 1 + 2 + 5 + 300000);
	ck_assert_int_eq(((unsigned char *)enc)[3], 0xc6);
	d = iso_msg_decode(enc, len);
	ck_assert_ptr_nonnull(d);
	ck_assert(iso_msg_equal(d, m));
	iso_msg_free(d);
	free(enc);
	/* a pipe */
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	ck_assert_int_eq(fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20) > 0, 1);
	ck_assert_msg(iso_msg_write(pfd[1], m) == 0, "%s", iso_error());
	ck_assert_int_eq(iso_msg_read(pfd[0], &d), 1);
	ck_assert(iso_msg_equal(d, m));
	iso_msg_free(d);
	close(pfd[0]);
	close(pfd[1]);
	/* JSON */
	json = iso_msg_to_json(m);
	ck_assert_msg(json != NULL, "%s", iso_error());
	d = iso_msg_from_json(json);
	free(json);
	ck_assert_ptr_nonnull(d);
	iso_msg_free(d);
	iso_msg_free(m);
	free(buf);
	ck_assert_int_eq(tu_fd_count(), before);
}
END_TEST

static iso_msg *
sum_fn(const iso_msg *arg)
{
	const void	*p;
	size_t		 n;

	p = iso_msg_bytes(arg, &n);
	return (iso_msg_pack("[U O]", sum(p, n), arg));
}

START_TEST(through_compute_and_pools)
{
	iso_pool	*pool;
	iso_msg		*m, *r;
	const iso_msg	*got;
	char		*buf = malloc(2 << 20);
	uint64_t	 s;
	int		 before = tu_fd_count();

	ck_assert_ptr_nonnull(buf);
	fill(buf, 2 << 20, 7);
	m = shared_of(buf, (size_t)2 << 20);
	ck_assert_msg(iso_compute(sum_fn, m, &r) == 0, "%s", iso_error());
	ck_assert_int_eq(iso_msg_unpack(r, "[U O]", &s, &got), 0);
	ck_assert_uint_eq(s, sum(buf, 2 << 20));
	ck_assert(iso_msg_equal(got, m));
	iso_msg_free(r);
	pool = iso_pool_new(1);
	ck_assert_ptr_nonnull(pool);
	ck_assert_msg(iso_pool_call(pool, sum_fn, m, 30000, &r) == 0, "%s",
	    iso_error());
	ck_assert_int_eq(iso_msg_unpack(r, "[U O]", &s, &got), 0);
	ck_assert_uint_eq(s, sum(buf, 2 << 20));
	ck_assert(iso_msg_equal(got, m));
	iso_msg_free(r);
	iso_pool_free(pool);
	iso_msg_free(m);
	free(buf);
	ck_assert_int_eq(fds_settle(before), before);
}
END_TEST

static iso_sendport	spawn_sum_to;

static void
spawn_sum_entry(const iso_msg *arg)
{
	const void	*p;
	size_t		 n;
	iso_msg		*r;

	p = iso_msg_bytes(arg, &n);
	r = iso_msg_pack("U", sum(p, n));
	(void)iso_send(spawn_sum_to, r);
	iso_msg_free(r);
}

/* A value still being filled in place is sealed by the spawn that takes
   it as its argument: the new isolate reads it in its copy of memory. */
START_TEST(spawn_argument_filled_in_place)
{
	iso_port	*back = iso_port_new();
	iso_msg		*v, *r;
	uint64_t	 s;
	void		*p;

	v = iso_bytes_new((size_t)1 << 20, &p);
	ck_assert_ptr_nonnull(v);
	fill(p, (size_t)1 << 20, 13);
	spawn_sum_to = iso_port_sendport(back);
	ck_assert_msg(iso_spawn(spawn_sum_entry, v, NULL) == 0, "%s",
	    iso_error());
	r = tu_take(back, 30000);
	ck_assert_int_eq(iso_msg_uint(r, &s), 0);
	ck_assert_uint_eq(s, sum(p, (size_t)1 << 20));
	iso_msg_free(r);
	iso_msg_free(v);
}
END_TEST

/* ---- hostile senders ---------------------------------------------------- */

static int
raw_connect(uint64_t id)
{
	int	fd = tu_iso_connect(id);

	ck_assert_msg(fd != -1, "connect: %s", strerror(errno));
	return (fd);
}

static void
raw_send(int sock, const void *bytes, size_t len, int fd)
{
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(sizeof(int))];
	}		ctl;
	struct iovec	iov = { (void *)(uintptr_t)bytes, len };
	struct msghdr	mh;

	memset(&mh, 0, sizeof mh);
	memset(&ctl, 0, sizeof ctl);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = CMSG_SPACE(sizeof(int));
	ctl.h.cmsg_level = SOL_SOCKET;
	ctl.h.cmsg_type = SCM_RIGHTS;
	ctl.h.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&ctl.h), &fd, sizeof(int));
	ck_assert_int_eq(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/* 1 if the peer closed sock within 5 s, the loop running meanwhile. */
static int
dropped(int sock)
{
	struct pollfd	pfd = { sock, POLLIN, 0 };
	iso_port	*p;
	iso_msg		*m;
	char		 b[64];
	int		 waited, eof = 0;

	for (waited = 0; waited < 5000 && !eof; waited += 20) {
		p = iso_port_new();
		if (iso_port_first(p, &m, 20) == 0)
			iso_msg_free(m);
		else
			iso_port_close(p);
		if (poll(&pfd, 1, 0) == 1 && read(sock, b, sizeof b) == 0)
			eof = 1;
	}
	close(sock);
	return (eof);
}

START_TEST(hostile_senders)
{
	/* port 1, [shared bytes of 65536] */
	static const unsigned char frame[] = {
		0, 0, 0, 12, 1, 0x91, 0xd7, 3, 0, 0, 0, 0, 0, 1, 0, 0
	};
	iso_port	*p = iso_port_new();
	iso_msg		*m;
	void		*w;
	int		 k, fd, sock, before;

	ck_assert_ptr_nonnull(p);
	before = tu_fd_count();
	for (k = 0; k < 5; k++) {
		fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		ck_assert_int_ge(fd, 0);
		w = NULL;
		switch (k) {
		case 0:		/* unsealed */
			ck_assert_int_eq(ftruncate(fd, 65536), 0);
			break;
		case 1:		/* sealed, shorter than announced */
			ck_assert_int_eq(ftruncate(fd, 4096), 0);
			ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE |
			    F_SEAL_SHRINK | F_SEAL_GROW), 0);
			break;
		case 2:		/* a writable mapping kept: cannot seal */
			ck_assert_int_eq(ftruncate(fd, 65536), 0);
			w = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
			    MAP_SHARED, fd, 0);
			ck_assert_ptr_ne(w, MAP_FAILED);
			ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE),
			    -1);
			ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK |
			    F_SEAL_GROW), 0);
			break;
		case 3:		/* not a memfd: a pipe */
			close(fd);
			{
				int pp[2];

				ck_assert_int_eq(pipe2(pp, O_CLOEXEC), 0);
				close(pp[0]);
				fd = pp[1];
			}
			break;
		case 4:		/* sealed but for growing */
			ck_assert_int_eq(ftruncate(fd, 65536), 0);
			ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE |
			    F_SEAL_SHRINK), 0);
			break;
		}
		sock = raw_connect(iso_port_sendport(p).isolate);
		raw_send(sock, frame, sizeof frame, fd);
		close(fd);
		ck_assert_msg(dropped(sock), "case %d", k);
		if (w != NULL)
			munmap(w, 65536);
		/* nothing delivered, still serving */
		ck_assert_int_eq(iso_port_first(p, &m, 0), -1);
		m = iso_msg_pack("i", k);
		ck_assert_int_eq(iso_send(iso_port_sendport(p), m), 0);
		iso_msg_free(m);
		m = tu_take(p, 5000);
		iso_msg_free(m);
		p = iso_port_new();
	}
	iso_port_close(p);
	ck_assert_int_eq(mfd_maps(), 0);
	ck_assert_int_eq(fds_settle(before), before);
}
END_TEST

/* The supervisor's mailbox keeps large bytes (they came as a memfd) as
   plain bytes, in its log; iso_sup_send carries them too. */
static void
sup_stop(void)
{
	(void)iso_sup_stop();
}

START_TEST(through_a_mailbox)
{
	char		 sleep_[] = "sleep", secs[] = "30";
	char		*argv[] = { sleep_, secs, NULL };
	iso_sup_spawn_opts o;
	iso_sendport	 box;
	const iso_msg	*it;
	iso_msg		*m, *got;
	char		*buf = malloc(1 << 20);
	int		 k, pfd[2];

	ck_assert_ptr_nonnull(buf);
	fill(buf, 1 << 20, 11);
	memset(&o, 0, sizeof o);
	o.argv = argv;
	o.name = "zcbox";
	ck_assert_msg(iso_sup_spawn(&o, NULL) == 0, "%s", iso_error());
	ck_assert_int_eq(iso_sup_lookup("zcbox", &box), 0);
	got = shared_of(buf, (size_t)1 << 20);
	m = iso_msg_pack("[s O]", "big", got);
	iso_msg_free(got);
	ck_assert_ptr_nonnull(m);
	ck_assert(is_shared(iso_msg_at(m, 1)));
	ck_assert_msg(iso_send(box, m) == 0, "%s", iso_error());
	ck_assert_msg(iso_sup_send("zcbox", m) == 0, "%s", iso_error());
	got = NULL;
	for (k = 0; k < 100; k++) {
		ck_assert_msg(iso_sup_take("zcbox", 10, 100, &got) == 0, "%s",
		    iso_error());
		if (iso_msg_len(got) == 2)
			break;
		iso_msg_free(got);
		got = NULL;
	}
	ck_assert_ptr_nonnull(got);
	ck_assert_int_eq(iso_msg_len(got), 2);
	for (k = 0; k < 2; k++) {
		it = iso_msg_at(got, (size_t)k);
		if (iso_msg_type(it) == ISO_MAP)	/* {seq, message} */
			it = iso_msg_get(it, "message");
		ck_assert_msg(iso_msg_equal(it, m), "message %d", k);
	}
	iso_msg_free(got);
	/* real descriptors are still refused there */
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	iso_msg_free(m);
	got = shared_of(buf, (size_t)1 << 20);
	m = iso_msg_pack("[O h]", got, pfd[1]);
	iso_msg_free(got);
	close(pfd[1]);
	(void)iso_send(box, m);
	iso_msg_free(m);
	for (k = 0; k < 500; k++) {
		char	 b[8];
		struct pollfd	pp = { pfd[0], POLLIN, 0 };

		if (poll(&pp, 1, 10) == 1 && read(pfd[0], b, sizeof b) == 0)
			break;
		m = iso_msg_pack("n");
		if (iso_send(box, m) == -1) {
			iso_msg_free(m);
			break;
		}
		iso_msg_free(m);
	}
	ck_assert_int_lt(k, 500);
	close(pfd[0]);
	ck_assert_int_eq(iso_sup_kill("zcbox", ISO_IMMEDIATE), 0);
	free(buf);
}
END_TEST

static void
nop_entry(const iso_msg *arg)
{
	(void)arg;
}

static void
warm_up(void)
{
	iso_port	*ex = iso_port_new();
	iso_isolate	*iso;
	iso_msg		*m;

	ck_assert_int_eq(iso_spawn(nop_entry, NULL, &iso), 0);
	ck_assert_int_eq(iso_on_exit(iso, iso_port_sendport(ex), NULL), 0);
	iso_isolate_free(iso);
	m = tu_take(ex, 10000);
	iso_msg_free(m);
}

/*
 * Descriptors in flight (sent, not yet received) are limited per user to
 * RLIMIT_NOFILE; beyond, sendmsg fails with ETOOMANYREFS. A sender whose
 * receiver stalls must keep what it accepted until the receiver reads.
 * Root is not limited: the probe runs as nobody, in a program of its own.
 */
#define REFS_SENT	100
#define REFS_NOFILE	64
#define REFS_BYTES	(64 * 1024)	/* shared: ISO_LIMIT_ZEROCOPY */

static int		refs_gate[2];
static iso_sendport	refs_res;
static int		refs_n, refs_in_order = 1;

static void
refs_take(iso_port *p, const iso_msg *m, void *ud)
{
	const void	*bp;
	size_t		 bl;
	int64_t		 k;
	iso_msg		*r;

	(void)ud;
	if (iso_msg_unpack(m, "[Iy#]", &k, &bp, &bl) == -1 || k != refs_n ||
	    bl != REFS_BYTES || ((const unsigned char *)bp)[bl - 1] !=
	    (unsigned char)refs_n)
		refs_in_order = 0;
	if (++refs_n < REFS_SENT)
		return;
	r = iso_msg_pack("[ib]", refs_n, refs_in_order);
	(void)iso_send(refs_res, r);
	iso_msg_free(r);
	iso_port_close(p);
}

static void
refs_receiver(const iso_msg *arg)
{
	iso_sendport	 to;
	iso_port	*p = iso_port_new();
	iso_msg		*m;
	char		 c;

	if (iso_msg_unpack(arg, "[PP]", &to, &refs_res) == -1 || p == NULL ||
	    iso_port_listen(p, refs_take, NULL) == -1)
		_exit(2);
	m = iso_msg_pack("P", iso_port_sendport(p));
	(void)iso_send(to, m);
	iso_msg_free(m);
	/* Stall, reading nothing, until the sender has sent everything. */
	while (read(refs_gate[0], &c, 1) == -1 && errno == EINTR)
		;
}

/* In the probe: 0 when every value sent while the receiver stalled
   arrived, in order. */
static int
refs_probe(void)
{
	struct rlimit	 rl = { REFS_NOFILE, REFS_NOFILE };
	iso_port	*ex = iso_port_new(), *res = iso_port_new();
	iso_msg		*m, *v;
	iso_sendport	 rx;
	void		*b;
	int		 n, got = -1, in_order = 0;

	if (setrlimit(RLIMIT_NOFILE, &rl) == -1 || pipe2(refs_gate,
	    O_CLOEXEC) == -1)
		return (10);
	m = iso_msg_pack("[PP]", iso_port_sendport(ex),
	    iso_port_sendport(res));
	if (iso_spawn(refs_receiver, m, NULL) == -1) {
		fprintf(stderr, "refs probe: spawn: %s\n", iso_error());
		return (11);
	}
	iso_msg_free(m);
	if (iso_port_first(ex, &m, 20000) == -1 ||
	    iso_msg_unpack(m, "P", &rx) == -1) {
		fprintf(stderr, "refs probe: the receiver's port: %s\n",
		    iso_error());
		return (12);
	}
	iso_msg_free(m);
	for (n = 0; n < REFS_SENT; n++) {
		if ((v = iso_bytes_new(REFS_BYTES, &b)) == NULL)
			return (13);
		memset(b, n, REFS_BYTES);
		m = iso_msg_pack("[iO]", n, v);
		iso_msg_free(v);
		if (m == NULL || iso_send(rx, m) == -1) {
			fprintf(stderr, "refs probe: send %d: %s\n", n,
			    iso_error());
			return (14);
		}
		iso_msg_free(m);
	}
	(void)!write(refs_gate[1], "g", 1);
	if (iso_port_first(res, &m, 30000) == -1 ||
	    iso_msg_unpack(m, "[ib]", &got, &in_order) == -1) {
		fprintf(stderr, "refs probe: no count: %s\n", iso_error());
		return (15);
	}
	iso_msg_free(m);
	if (got != REFS_SENT || !in_order) {
		fprintf(stderr, "refs probe: %d of %d arrived%s\n", got,
		    REFS_SENT, in_order ? "" : ", out of order");
		return (16);
	}
	return (0);
}

START_TEST(stalled_receiver_in_flight_limit)
{
	struct passwd	*pw;
	char		 dir[64], cmd[96];
	pid_t		 pid;
	int		 status;

	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		fprintf(stderr, "stalled_receiver_in_flight_limit: skipped, "
		    "needs root and a user nobody\n");
		return;
	}
	/* not under ours: its 0700 keeps nobody out */
	snprintf(dir, sizeof dir, "/tmp/iso-refs-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chown(dir, pw->pw_uid, pw->pw_gid), 0);
	if ((pid = fork()) == 0) {
		setenv("ISO_RUNTIME_DIR", dir, 1);
		if (setgid(pw->pw_gid) == -1 || setuid(pw->pw_uid) == -1)
			_exit(3);
		execl(self_path, self_path, "--refs-probe", (char *)NULL);
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the probe ended with status %d", WIFEXITED(status) ?
	    WEXITSTATUS(status) : 128 + WTERMSIG(status));
}
END_TEST

static Suite *
zerocopy_suite(void)
{
	Suite	*s = suite_create("zerocopy");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, warm_up, NULL);
	tcase_add_loop_test(tc, sizes_through_a_port, 0,
	    (int)(sizeof sizes / sizeof sizes[0]));
	tcase_add_test(tc, filled_in_place);
	tcase_add_test(tc, sealed_once_sent);
	tcase_add_test(tc, copies_share_and_nest);
	tcase_add_test(tc, plain_where_descriptors_cannot_go);
	tcase_add_test(tc, through_compute_and_pools);
	tcase_add_test(tc, spawn_argument_filled_in_place);
	tcase_add_test(tc, hostile_senders);
	suite_add_tcase(s, tc);
	tc = tcase_create("sup");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, sup_stop);
	tcase_add_test(tc, through_a_mailbox);
	suite_add_tcase(s, tc);
	tc = tcase_create("user");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, stalled_receiver_in_flight_limit);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(int argc, char **argv)
{
	SRunner	*sr;
	int	 failed;

	if (argc == 2 && strcmp(argv[1], "--refs-probe") == 0)
		return (refs_probe());
	self_path = argv[0];
	/* the supervisor the sup case starts: the one built here */
	tu_use_built_isolated(argv[0]);
	tu_runtime_dir();
	sr = srunner_create(zerocopy_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
