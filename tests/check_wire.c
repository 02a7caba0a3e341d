/*
 * check_wire.c: MessagePack round trips, hostile bytes, frames on sockets
 * and pipes.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "../fuzz/oracle.h"

/* Decode hand-written bytes. */
static iso_msg *
dec(const char *bytes, size_t len)
{
	return (iso_msg_decode(bytes, len));
}

#define DEC(lit)	dec(lit, sizeof(lit) - 1)

static iso_msg *
round_trip(const iso_msg *m)
{
	void	*buf;
	size_t	 len;
	iso_msg	*out;

	ck_assert_int_eq(iso_msg_encode(m, &buf, &len), 0);
	out = iso_msg_decode(buf, len);
	ck_assert_msg(out != NULL, "decode: %s", iso_error());
	free(buf);
	return (out);
}

static void
assert_round_trip(iso_msg *m)
{
	iso_msg	*out;

	ck_assert_ptr_nonnull(m);
	out = round_trip(m);
	ck_assert(iso_msg_equal(m, out));
	iso_msg_free(out);
	iso_msg_free(m);
}

START_TEST(exact_bytes)
{
	iso_msg	*m = iso_msg_pack("{s:i}", "msg", 5);
	void	*buf;
	size_t	 len;

	ck_assert_int_eq(iso_msg_encode(m, &buf, &len), 0);
	ck_assert_uint_eq(len, 6);
	ck_assert_int_eq(memcmp(buf, "\x81\xa3msg\x05", 6), 0);
	free(buf);
	iso_msg_free(m);

	m = iso_msg_pack("P", (iso_sendport){ 0x0102030405060708ULL, 9, 10 });
	ck_assert_int_eq(iso_msg_encode(m, &buf, &len), 0);
	ck_assert_uint_eq(len, 18);
	ck_assert_int_eq(memcmp(buf, "\xd8\x01\x01\x02\x03\x04\x05\x06\x07"
	    "\x08\x00\x00\x00\x09\x00\x00\x00\x0a", 18), 0);
	free(buf);
	iso_msg_free(m);
}
END_TEST

START_TEST(every_type)
{
	iso_sendport	p = { UINT64_MAX, 1, 2 };

	assert_round_trip(iso_msg_pack("n"));
	assert_round_trip(iso_msg_pack("b", 1));
	assert_round_trip(iso_msg_pack("b", 0));
	assert_round_trip(iso_msg_pack("I", (int64_t)0));
	assert_round_trip(iso_msg_pack("I", (int64_t)-1));
	assert_round_trip(iso_msg_pack("I", (int64_t)-32));
	assert_round_trip(iso_msg_pack("I", (int64_t)-33));
	assert_round_trip(iso_msg_pack("I", (int64_t)127));
	assert_round_trip(iso_msg_pack("I", (int64_t)128));
	assert_round_trip(iso_msg_pack("I", (int64_t)65536));
	assert_round_trip(iso_msg_pack("I", INT64_MIN));
	assert_round_trip(iso_msg_pack("I", INT64_MAX));
	assert_round_trip(iso_msg_pack("U", UINT64_MAX));
	assert_round_trip(iso_msg_pack("U", (uint64_t)INT64_MAX + 1));
	assert_round_trip(iso_msg_pack("f", 0.1));
	assert_round_trip(iso_msg_pack("f", -0.0));
	assert_round_trip(iso_msg_pack("f", NAN));
	assert_round_trip(iso_msg_pack("f", INFINITY));
	assert_round_trip(iso_msg_pack("f", 5e-324));
	assert_round_trip(iso_msg_pack("s", ""));
	assert_round_trip(iso_msg_pack("s", "日本語 ✓"));
	assert_round_trip(iso_msg_pack("s#", "a\0b", (size_t)3));
	assert_round_trip(iso_msg_pack("y#", "", (size_t)0));
	assert_round_trip(iso_msg_pack("y#", "\xff\x00\xc1", (size_t)3));
	assert_round_trip(iso_msg_pack("P", p));
	assert_round_trip(iso_msg_pack("[]"));
	assert_round_trip(iso_msg_pack("{}"));
	assert_round_trip(iso_msg_pack("{[i]:{n:b} f:y# P:s}", 1, 1, 1.5,
	    "x", (size_t)1, p, "port"));
}
END_TEST

START_TEST(every_encoding)
{
	/* what other encoders may choose, msgpack-c's own included */
	static const struct {
		const char	*bytes;
		size_t		 len;
		int64_t		 v;
	} ints[] = {
		{ "\xcc\xff", 2, 255 },
		{ "\xcd\x01\x00", 3, 256 },
		{ "\xce\x00\x01\x00\x00", 5, 65536 },
		{ "\xcf\x00\x00\x00\x01\x00\x00\x00\x00", 9, 4294967296LL },
		{ "\xd0\x80", 2, -128 },
		{ "\xd1\x80\x00", 3, -32768 },
		{ "\xd2\x80\x00\x00\x00", 5, INT32_MIN },
		{ "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9, INT64_MIN },
		{ "\xd0\x05", 2, 5 },		/* non-minimal is fine */
	};
	iso_msg	*m;
	int64_t	 v;
	double	 f;
	size_t	 k, len;

	for (k = 0; k < sizeof ints / sizeof ints[0]; k++) {
		ck_assert(oracle_decode(ints[k].bytes, ints[k].len, &m));
		ck_assert_msg(m != NULL, "%zu: %s", k, iso_error());
		ck_assert_int_eq(iso_msg_int(m, &v), 0);
		ck_assert(v == ints[k].v);
		iso_msg_free(m);
	}
	m = DEC("\xca\x3f\xc0\x00\x00");		/* float32 1.5 */
	ck_assert_int_eq(iso_msg_float(m, &f), 0);
	ck_assert(f == 1.5);
	iso_msg_free(m);
	m = DEC("\xd9\x02hi");				/* str8 */
	ck_assert_str_eq(iso_msg_str(m, &len), "hi");
	iso_msg_free(m);
	m = DEC("\xdb\x00\x00\x00\x01z");		/* str32 */
	ck_assert_str_eq(iso_msg_str(m, &len), "z");
	iso_msg_free(m);
	m = DEC("\xc5\x00\x01\x07");			/* bin16 */
	ck_assert_uint_eq(iso_msg_len(m), 1);
	iso_msg_free(m);
	m = DEC("\xdc\x00\x02\xc0\xc3");		/* array16 */
	ck_assert_uint_eq(iso_msg_len(m), 2);
	iso_msg_free(m);
	m = DEC("\xdf\x00\x00\x00\x01\xa1k\xc2");	/* map32 */
	ck_assert_int_eq(iso_msg_type(iso_msg_get(m, "k")), ISO_BOOL);
	iso_msg_free(m);
	m = DEC("\xc7\x10\x01" "0123456789abcdef");	/* ext8 SendPort */
	ck_assert_int_eq(iso_msg_type(m), ISO_PORT);
	iso_msg_free(m);
}
END_TEST

static void *
nested(int n, size_t *len)
{
	char	*b = malloc((size_t)n + 1);

	memset(b, 0x91, (size_t)n);	/* [[[... */
	b[n] = (char)0xc0;		/* nil */
	*len = (size_t)n + 1;
	return (b);
}

START_TEST(deep_and_wide)
{
	iso_msg	*m, *list;
	void	*b;
	size_t	 len;
	int	 k;

	b = nested(32, &len);
	m = iso_msg_decode(b, len);
	ck_assert_msg(m != NULL, "%s", iso_error());
	free(b);
	assert_round_trip(m);

	b = nested(33, &len);
	errno = 0;
	ck_assert_ptr_null(iso_msg_decode(b, len));
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_ptr_nonnull(strstr(iso_error(), "nesting"));
	free(b);

	list = iso_msg_pack("[]");
	for (k = 0; k < 100000; k++)
		iso_msg_append(list, iso_msg_pack("{s:i}", "n", k));
	assert_round_trip(list);
}
END_TEST

START_TEST(big_bytes)
{
	size_t	 n = 64u << 20;
	char	*p = malloc(n);

	memset(p, 0xab, n);
	assert_round_trip(iso_msg_pack("y#", p, n));
	free(p);
}
END_TEST

/* Each must fail cleanly with the errno given. */
static const struct hostile {
	const char	*what;
	const char	*bytes;
	size_t		 len;
	int		 err;
} hostile[] = {
#define H(w, b, e)	{ w, b, sizeof(b) - 1, e }
	H("empty", "", EBADMSG),
	H("truncated uint16", "\xcd\x01", EBADMSG),
	H("truncated float64", "\xcb\x00\x00", EBADMSG),
	H("truncated str", "\xa5hi", EBADMSG),
	H("truncated array", "\x93\x01\x02", EBADMSG),
	H("truncated map value", "\x81\xa1k", EBADMSG),
	H("array32 claims 10^8", "\xdd\x05\xf5\xe1\x00\xc0", EBADMSG),
	H("array32 claims 2^32-1", "\xdd\xff\xff\xff\xff", EBADMSG),
	H("map32 claims 2^32-1", "\xdf\xff\xff\xff\xff\xc0\xc0", EBADMSG),
	H("map16 lies by one", "\xde\x00\x02\xc0\xc0\xc0", EBADMSG),
	H("str32 claims 4 GiB", "\xdb\xff\xff\xff\xff" "abc", EBADMSG),
	H("bin32 claims 2 GiB", "\xc6\x80\x00\x00\x00\x00", EBADMSG),
	H("str8 header cut", "\xd9", EBADMSG),
	H("invalid UTF-8", "\xa2\xc3\x28", EBADMSG),
	H("overlong UTF-8", "\xa2\xc0\xaf", EBADMSG),
	H("surrogate", "\xa3\xed\xa0\x80", EBADMSG),
	H("invalid UTF-8 key", "\x81\xa1\xff\xc0", EBADMSG),
	H("timestamp ext", "\xd6\xff\x00\x00\x00\x00", EBADMSG),
	H("unknown ext", "\xd4\x07\x00", EBADMSG),
	H("port ext of 8 bytes", "\xd7\x01\x00\x00\x00\x00\x00\x00\x00\x00",
	    EBADMSG),
	H("ext32 claims 4 GiB", "\xc9\xff\xff\xff\xff\x01", EBADMSG),
	H("port ext truncated", "\xd8\x01\x00\x00", EBADMSG),
	H("reserved 0xc1", "\xc1", EBADMSG),
	H("reserved nested", "\x92\xc0\xc1", EBADMSG),
	H("trailing bytes", "\xc0\xc0", EBADMSG),
#undef H
};

/* Flat maps and lists ({"msg": n}) take a shortcut through the decoder:
   every scalar encoding in one, and every way one can be wrong, decode
   as through the general walk (same values, same errors). */
START_TEST(flat_values)
{
	static const struct {
		const char	*bytes;
		size_t		 len;
		int		 err;		/* 0: accepted */
	} cases[] = {
#define C(lit, err)	{ lit, sizeof(lit) - 1, err }
		C("\x81\xa3msg\x05", 0),
		C("\x81\xa3m\xc3\xa9\xe0", 0),	/* "mé": -32 */
		C("\x9f\x00\x7f\xe0\xff\xc0\xc2\xc3\xcc\xff\xcd\xff\xff"
		    "\xd0\x80\xd1\x80\x00\xa0\xa1" "a\xca\x3f\x80\x00\x00"
		    "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", 0),
		C("\x92\xce\xff\xff\xff\xff\xcf\xff\xff\xff\xff\xff\xff\xff"
		    "\xff", 0),
		C("\x92\xd2\x80\x00\x00\x00\xd3\x80\x00\x00\x00\x00\x00\x00"
		    "\x00", 0),
		C("\x80", 0),
		C("\x90", 0),
		C("\x81\xa3m\xff\x05", EBADMSG),	/* not UTF-8 */
		C("\x81\xa3m\xc3\x05", EBADMSG),	/* cut UTF-8 */
		C("\x81\xa3ms", EBADMSG),		/* string cut */
		C("\x81\xa3msg", EBADMSG),		/* value missing */
		C("\x91\xcd\x01", EBADMSG),		/* uint16 cut */
		C("\x91\xcb\x00\x00", EBADMSG),	/* double cut */
		C("\x91\x01\x02", EBADMSG),		/* bytes after */
		C("\x91\xc1", EBADMSG),		/* reserved */
		C("\x92\x91\x01\xc4\x01x", 0),	/* not flat: general */
#undef C
	};
	iso_msg	*m, *again;
	void	*buf;
	size_t	 i, len;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		errno = 0;
		if (cases[i].err == 0)
			ck_assert_msg(oracle_decode(cases[i].bytes,
			    cases[i].len, NULL), "case %zu: not as msgpack-c",
			    i);
		m = dec(cases[i].bytes, cases[i].len);
		if (cases[i].err != 0) {
			ck_assert_msg(m == NULL, "case %zu accepted", i);
			ck_assert_int_eq(errno, cases[i].err);
			ck_assert_msg(strncmp(iso_error(), "frame: ", 7) == 0,
			    "case %zu: %s", i, iso_error());
			continue;
		}
		ck_assert_msg(m != NULL, "case %zu: %s", i, iso_error());
		ck_assert_int_eq(iso_msg_encode(m, &buf, &len), 0);
		again = iso_msg_decode(buf, len);
		ck_assert(iso_msg_equal(m, again));
		free(buf);
		iso_msg_free(again);
		iso_msg_free(m);
	}
	/* the limits hold on the shortcut too */
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, 2), 0);
	ck_assert_ptr_null(DEC("\x81\xa3msg\x05"));
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, 8u << 20), 0);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, 4), 0);
	ck_assert_ptr_null(DEC("\x81\xa3msg\x05"));
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, 256u << 20), 0);
}
END_TEST

START_TEST(hostile_bytes)
{
	const struct hostile	*h = &hostile[_i];
	iso_msg			*m;

	errno = 0;
	m = dec(h->bytes, h->len);
	ck_assert_msg(m == NULL, "%s: accepted", h->what);
	ck_assert_msg(errno == h->err, "%s: errno %d", h->what, errno);
	ck_assert_msg(strncmp(iso_error(), "frame: ", 7) == 0, "%s: %s",
	    h->what, iso_error());
}
END_TEST

/* iso_msg_decode_borrow: bytes values point into the input, strings are
   the message's own; what is made from the message borrows nothing; the
   same values and the same errors as iso_msg_decode. */
START_TEST(decode_borrows_bytes)
{
	enum { N = 300 };
	static char	 blob[N];
	const struct hostile *h;
	unsigned char	*buf;
	iso_msg		*m, *out, *c, *want;
	const char	*b0, *s;
	void		*enc, *re;
	size_t		 len, relen, k;

	memset(blob, 0x5a, sizeof blob);
	want = iso_msg_pack("{s:[y# y# s] s:i s:y# s:P}", "l", blob, (size_t)N,
	    "", (size_t)0, "text", "n", -7, "b", "\1\2", (size_t)2, "p",
	    (iso_sendport){ 1, 2, 3 });
	ck_assert_int_eq(iso_msg_encode(want, &enc, &len), 0);
	buf = enc;
	m = iso_msg_decode_borrow(buf, len);
	ck_assert_msg(m != NULL, "decode: %s", iso_error());
	ck_assert(iso_msg_equal(m, want));
	b0 = iso_msg_bytes(iso_msg_at(iso_msg_get(m, "l"), 0), NULL);
	ck_assert(b0 > (const char *)buf && b0 + N <= (const char *)buf + len);
	ck_assert_int_eq(memcmp(b0, blob, N), 0);
	s = iso_msg_str(iso_msg_at(iso_msg_get(m, "l"), 2), NULL);
	ck_assert(s < (const char *)buf || s >= (const char *)buf + len);
	ck_assert_str_eq(s, "text");
	c = iso_msg_copy(m);
	ck_assert_int_eq(iso_msg_encode(m, &re, &relen), 0);
	ck_assert_uint_eq(relen, len);
	iso_msg_free(m);	/* reads nothing of buf */
	memset(buf, 0, len);
	free(buf);		/* the copy and the encoding are their own */
	ck_assert(iso_msg_equal(c, want));
	out = iso_msg_decode(re, relen);
	ck_assert(iso_msg_equal(out, want));
	iso_msg_free(out);
	free(re);
	iso_msg_free(c);
	iso_msg_free(want);

	/* the flat shortcut: nothing to borrow, the same value */
	m = iso_msg_decode_borrow("\x81\xa3msg\x05", 6);
	want = iso_msg_pack("{s:i}", "msg", 5);
	ck_assert(iso_msg_equal(m, want));
	iso_msg_free(want);
	iso_msg_free(m);

	/* a frame that refers to descriptors: none came */
	errno = 0;
	ck_assert_ptr_null(iso_msg_decode_borrow("\xd4\x02\x00", 3));
	ck_assert_int_eq(errno, EBADMSG);
	for (k = 0; k < sizeof hostile / sizeof hostile[0]; k++) {
		h = &hostile[k];
		errno = 0;
		ck_assert_msg(iso_msg_decode_borrow(h->bytes, h->len) == NULL,
		    "%s: accepted", h->what);
		ck_assert_msg(errno == h->err, "%s: errno %d", h->what, errno);
	}
}
END_TEST

START_TEST(every_truncation)
{
	iso_msg	*m, *out;
	void	*buf;
	size_t	 len, k;

	m = iso_msg_pack("{s:[i I f s y# P] s:{i:n} s:U}", "a", 1,
	    (int64_t)1 << 40, 0.5, "héllo", "\1\2\3", (size_t)3,
	    (iso_sendport){ 1, 2, 3 }, "b", 4, "c", UINT64_MAX);
	ck_assert_int_eq(iso_msg_encode(m, &buf, &len), 0);
	for (k = 0; k < len; k++) {
		errno = 0;
		out = iso_msg_decode(buf, k);
		ck_assert_msg(out == NULL, "prefix %zu accepted", k);
		ck_assert_int_eq(errno, EBADMSG);
	}
	free(buf);
	iso_msg_free(m);
}
END_TEST

/* Mutations of a valid message never crash, leak or over-read (ASan,
   valgrind); whatever decodes must encode again. */
START_TEST(random_mutations)
{
	iso_msg		*m, *out;
	unsigned char	*buf, *copy;
	void		*re;
	size_t		 len, relen, k;
	unsigned	 seed = 12345;
	int		 it;

	m = iso_msg_pack("{s:[i I f s y# P] s:{i:n} s:[[[]]]}", "a", 1,
	    (int64_t)1 << 40, 0.5, "héllo", "\1\2\3", (size_t)3,
	    (iso_sendport){ 1, 2, 3 }, "b", 4, "c");
	ck_assert_int_eq(iso_msg_encode(m, (void **)&buf, &len), 0);
	copy = malloc(len);
	for (it = 0; it < 20000; it++) {
		memcpy(copy, buf, len);
		for (k = 0; k < 1 + (size_t)(rand_r(&seed) % 3); k++)
			copy[rand_r(&seed) % len] = (unsigned char)rand_r(&seed);
		ck_assert(oracle_decode(copy, 1 + (size_t)rand_r(&seed) % len,
		    &out));
		if (out == NULL)
			continue;
		ck_assert_int_eq(iso_msg_encode(out, &re, &relen), 0);
		free(re);
		iso_msg_free(out);
	}
	free(copy);
	free(buf);
	iso_msg_free(m);
}
END_TEST

START_TEST(limits)
{
	iso_msg	*m, *list;
	void	*buf;
	size_t	 len;

	ck_assert_ptr_null(iso_msg_decode("\xc0", (256u << 20) + 1));
	ck_assert_int_eq(errno, EMSGSIZE);

	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, 10), 0);
	ck_assert_ptr_null(DEC("\x9a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"));
	ck_assert_int_eq(errno, EMSGSIZE);
	m = DEC("\x99\x00\x00\x00\x00\x00\x00\x00\x00\x00");
	ck_assert_ptr_nonnull(m);
	iso_msg_free(m);
	/* the encoder counts as the decoder: the root and every item */
	ck_assert_int_eq(iso_msg_encode(m = iso_msg_pack("[nnnnnnnnn]"), &buf,
	    &len), 0);
	free(buf);
	iso_msg_free(m);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, 11), 0);
	m = iso_msg_pack("[nnnnn[nnnn]]");
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, 10), 0);
	ck_assert_int_eq(iso_msg_encode(m, &buf, &len), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	iso_msg_free(m);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, 8u << 20), 0);

	/* the sender refuses what the receiver would */
	list = iso_msg_pack("[[[[i]]]]", 1);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH, 3), 0);
	ck_assert_int_eq(iso_msg_encode(list, &buf, &len), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH, 32), 0);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, 8), 0);
	ck_assert_int_eq(iso_msg_encode(list, &buf, &len), 0);
	free(buf);
	m = iso_msg_pack("s", "0123456789");
	ck_assert_int_eq(iso_msg_encode(m, &buf, &len), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, 256u << 20), 0);
	iso_msg_free(m);
	iso_msg_free(list);
	ck_assert_int_eq(iso_msg_encode(NULL, &buf, &len), -1);
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* ---- random MessagePack, every header width, against msgpack-c --------- */

struct gen {
	unsigned char	*p;
	size_t		 len, cap;
	unsigned	 seed;
	int		 f32;	/* a float32 was written */
};

static void
gen_put(struct gen *g, const void *b, size_t n)
{
	if (g->len + n > g->cap) {
		g->cap = 2 * (g->len + n);
		g->p = realloc(g->p, g->cap);
		ck_assert_ptr_nonnull(g->p);
	}
	memcpy(g->p + g->len, b, n);
	g->len += n;
}

static void
gen_byte(struct gen *g, unsigned c)
{
	unsigned char	b = (unsigned char)c;

	gen_put(g, &b, 1);
}

static void
gen_be(struct gen *g, uint64_t v, int n)
{
	while (n-- > 0)
		gen_byte(g, (unsigned)(v >> (8 * n)) & 0xff);
}

static unsigned
gen_rand(struct gen *g, unsigned n)
{
	return ((unsigned)rand_r(&g->seed) % n);
}

/* A length or count n: the fix form when fix != 0 and n fits (at random),
   else code8 (when code8 != 0) / code16 / code32, any that holds n. */
static void
gen_hdr(struct gen *g, unsigned fix, unsigned fixmax, unsigned code8,
    unsigned code16, unsigned code32, uint32_t n)
{
	unsigned	w;

	for (;;) {
		w = gen_rand(g, 4);
		if (w == 0 && fix != 0 && n <= fixmax) {
			gen_byte(g, fix | n);
			return;
		}
		if (w == 1 && code8 != 0 && n <= 0xff) {
			gen_byte(g, code8);
			gen_be(g, n, 1);
			return;
		}
		if (w == 2 && n <= 0xffff) {
			gen_byte(g, code16);
			gen_be(g, n, 2);
			return;
		}
		if (w == 3) {
			gen_byte(g, code32);
			gen_be(g, n, 4);
			return;
		}
	}
}

static void
gen_value(struct gen *g, int depth)
{
	static const char *const pieces[] = { "a", "Z", "é", "日", "😀", "\0",
	    " ", "~" };
	const char	*pc;
	uint64_t	 u;
	uint32_t	 n, k;
	float		 f;
	double		 d;

	switch (gen_rand(g, depth < 4 ? 12 : 10)) {
	case 0:
		gen_byte(g, 0xc0 + (gen_rand(g, 3) == 0 ? 0 : 2 +
		    gen_rand(g, 2)));			/* nil, false, true */
		break;
	case 1:
		gen_byte(g, gen_rand(g, 2) ? gen_rand(g, 128) :
		    0xe0 + gen_rand(g, 32));		/* fixints */
		break;
	case 2:						/* uint 8..64 */
		k = gen_rand(g, 4);
		u = (uint64_t)rand_r(&g->seed) << 33 ^
		    (uint64_t)rand_r(&g->seed) << 11 ^
		    (uint64_t)rand_r(&g->seed);
		if (gen_rand(g, 2))
			u = ~u;
		gen_byte(g, 0xcc + k);
		gen_be(g, u, 1 << k);
		break;
	case 3:						/* int 8..64 */
		k = gen_rand(g, 4);
		u = (uint64_t)rand_r(&g->seed) << 33 ^
		    (uint64_t)rand_r(&g->seed) << 11 ^
		    (uint64_t)rand_r(&g->seed);
		if (gen_rand(g, 2))
			u = ~u;
		gen_byte(g, 0xd0 + k);
		gen_be(g, u, 1 << k);
		break;
	case 4:
		if (gen_rand(g, 2)) {
			f = (float)rand_r(&g->seed) / 7.0f - 1e6f;
			memcpy(&n, &f, 4);
			gen_byte(g, 0xca);
			gen_be(g, n, 4);
			g->f32 = 1;
		} else {
			d = (double)rand_r(&g->seed) / 3.0 - 1e9;
			memcpy(&u, &d, 8);
			gen_byte(g, 0xcb);
			gen_be(g, u, 8);
		}
		break;
	case 5: {					/* str */
		char	buf[64];
		size_t	len = 0;

		for (k = gen_rand(g, 12); k > 0; k--) {
			pc = pieces[gen_rand(g, 8)];
			n = pc[0] == '\0' ? 1 : (uint32_t)strlen(pc);
			memcpy(buf + len, pc, n);
			len += n;
		}
		gen_hdr(g, 0xa0, 31, 0xd9, 0xda, 0xdb, (uint32_t)len);
		gen_put(g, buf, len);
		break;
	}
	case 6:						/* bin */
		n = gen_rand(g, 300);
		gen_hdr(g, 0, 0, 0xc4, 0xc5, 0xc6, n);
		for (k = 0; k < n; k++)
			gen_byte(g, gen_rand(g, 256));
		break;
	case 7:						/* SendPort */
		switch (gen_rand(g, 4)) {
		case 0:
			gen_byte(g, 0xd8);
			break;
		case 1:
			gen_byte(g, 0xc7);
			gen_be(g, 16, 1);
			break;
		case 2:
			gen_byte(g, 0xc8);
			gen_be(g, 16, 2);
			break;
		default:
			gen_byte(g, 0xc9);
			gen_be(g, 16, 4);
			break;
		}
		gen_byte(g, 1);
		for (k = 0; k < 16; k++)
			gen_byte(g, gen_rand(g, 256));
		break;
	case 8:
	case 9:
		gen_byte(g, 0xc0);
		break;
	case 10:
		n = gen_rand(g, 6);
		gen_hdr(g, 0x90, 15, 0, 0xdc, 0xdd, n);
		for (k = 0; k < n; k++)
			gen_value(g, depth + 1);
		break;
	default:
		n = gen_rand(g, 5);
		gen_hdr(g, 0x80, 15, 0, 0xde, 0xdf, n);
		for (k = 0; k < 2 * n; k++)
			gen_value(g, depth + 1);
		break;
	}
}

/* Random trees in every encoding: decoded as msgpack-c decodes them, and
   encoded again as msgpack-c's msgpack_pack_object encodes its tree. */
START_TEST(random_trees_vs_msgpack_c)
{
	struct gen		 g = { NULL, 0, 0, 777, 0 };
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	msgpack_unpacked	 up;
	iso_msg			*m;
	void			*buf;
	size_t			 len, off;
	int			 it;

	for (it = 0; it < 20000; it++) {
		g.len = 0;
		g.f32 = 0;
		gen_value(&g, 0);
		ck_assert_msg(oracle_decode(g.p, g.len, &m), "tree %d", it);
		ck_assert_msg(m != NULL, "tree %d: %s", it, iso_error());
		ck_assert_int_eq(iso_msg_encode(m, &buf, &len), 0);
		if (!g.f32) {
			msgpack_sbuffer_init(&sb);
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			msgpack_unpacked_init(&up);
			off = 0;
			ck_assert_int_eq(msgpack_unpack_next(&up, (char *)g.p,
			    g.len, &off), MSGPACK_UNPACK_SUCCESS);
			msgpack_pack_object(&pk, up.data);
			ck_assert_msg(sb.size == len &&
			    memcmp(sb.data, buf, len) == 0,
			    "tree %d: not msgpack-c's bytes", it);
			msgpack_unpacked_destroy(&up);
			msgpack_sbuffer_destroy(&sb);
		}
		free(buf);
		iso_msg_free(m);
	}
	free(g.p);
}
END_TEST

static void
pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
}

START_TEST(frames_on_socket)
{
	iso_msg	*m, *out;
	int	 sv[2], k;

	pair(sv);
	m = iso_msg_pack("{s:i}", "msg", 5);
	for (k = 0; k < 3; k++)
		ck_assert_int_eq(iso_msg_write(sv[0], m), 0);
	close(sv[0]);
	for (k = 0; k < 3; k++) {
		ck_assert_int_eq(iso_msg_read(sv[1], &out), 1);
		ck_assert(iso_msg_equal(m, out));
		iso_msg_free(out);
	}
	ck_assert_int_eq(iso_msg_read(sv[1], &out), 0);
	ck_assert_ptr_null(out);
	close(sv[1]);
	iso_msg_free(m);
}
END_TEST

static int
read_raw(const void *bytes, size_t len, iso_msg **out)
{
	int	sv[2], rc;

	pair(sv);
	ck_assert_int_eq(write(sv[0], bytes, len), (ssize_t)len);
	close(sv[0]);
	rc = iso_msg_read(sv[1], out);
	close(sv[1]);
	return (rc);
}

START_TEST(hostile_frames)
{
	iso_msg	*out;
	int	 sv[2];

	errno = 0;
	ck_assert_int_eq(read_raw("\xff\xff\xff\xff", 4, &out), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(read_raw("\x10\x00\x00\x01", 4, &out), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(read_raw("\x00\x00\x00\x00", 4, &out), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(read_raw("\x00\x00", 2, &out), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(read_raw("\x00\x00\x00\x05\xc0", 5, &out), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(read_raw("\x00\x00\x00\x05\xdd\xff\xff\xff\xff", 9,
	    &out), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_ptr_null(out);

	/* a bad frame is consumed whole: the next one reads */
	pair(sv);
	ck_assert_int_eq(write(sv[0], "\x00\x00\x00\x01\xc1", 5), 5);
	ck_assert_int_eq(write(sv[0], "\x00\x00\x00\x01\xc3", 5), 5);
	close(sv[0]);
	ck_assert_int_eq(iso_msg_read(sv[1], &out), -1);
	ck_assert_int_eq(errno, EBADMSG);
	ck_assert_int_eq(iso_msg_read(sv[1], &out), 1);
	ck_assert_int_eq(iso_msg_type(out), ISO_BOOL);
	iso_msg_free(out);
	close(sv[1]);
}
END_TEST

START_TEST(no_sigpipe)
{
	iso_msg	*m = iso_msg_pack("s", "x");
	int	 sv[2], p[2];

	pair(sv);
	close(sv[1]);
	errno = 0;
	ck_assert_int_eq(iso_msg_write(sv[0], m), -1);
	ck_assert_int_eq(errno, EPIPE);
	close(sv[0]);

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	errno = 0;
	ck_assert_int_eq(iso_msg_write(p[1], m), -1);
	ck_assert_int_eq(errno, EPIPE);
	close(p[1]);
	iso_msg_free(m);
}
END_TEST

/* A 10 MiB message through a socket, a reader process on the other end. */
START_TEST(large_frame_across_processes)
{
	size_t	 n = 10u << 20;
	char	*p = malloc(n);
	iso_msg	*m, *out;
	pid_t	 pid;
	int	 sv[2], status;

	memset(p, 'q', n);
	m = iso_msg_pack("{s:y#}", "data", p, n);
	free(p);
	pair(sv);
	if ((pid = fork()) == 0) {
		close(sv[1]);
		_exit(iso_msg_write(sv[0], m) == 0 ? 0 : 1);
	}
	close(sv[0]);
	ck_assert_int_eq(iso_msg_read(sv[1], &out), 1);
	ck_assert(iso_msg_equal(m, out));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(sv[1]);
	iso_msg_free(out);
	iso_msg_free(m);
}
END_TEST

static Suite *
wire_suite(void)
{
	Suite	*s = suite_create("wire");
	TCase	*tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, exact_bytes);
	tcase_add_test(tc, every_type);
	tcase_add_test(tc, every_encoding);
	tcase_add_test(tc, deep_and_wide);
	tcase_add_test(tc, big_bytes);
	tcase_add_loop_test(tc, hostile_bytes, 0,
	    sizeof hostile / sizeof hostile[0]);
	tcase_add_test(tc, every_truncation);
	tcase_add_test(tc, decode_borrows_bytes);
	tcase_add_test(tc, flat_values);
	tcase_add_test(tc, random_mutations);
	tcase_add_test(tc, random_trees_vs_msgpack_c);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, frames_on_socket);
	tcase_add_test(tc, hostile_frames);
	tcase_add_test(tc, no_sigpipe);
	tcase_add_test(tc, large_frame_across_processes);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(wire_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
