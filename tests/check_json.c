/*
 * check_json.c: messages to and from JSON (lib/json.c, lib/base64.c).
 */
#include <check.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isolate.h"

/* Check that m (freed here) is written as want and reads back equal. */
static void
json_is(iso_msg *m, const char *want)
{
	iso_msg	*back;
	char	*s;

	ck_assert_ptr_nonnull(m);
	s = iso_msg_to_json(m);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, want);
	back = iso_msg_from_json(s);
	ck_assert_ptr_nonnull(back);
	ck_assert_msg(iso_msg_equal(m, back), "%s does not read back", want);
	iso_msg_free(back);
	iso_msg_free(m);
	free(s);
}

/* Check that text reads and is written back as want. */
static void
json_reads_as(const char *text, const char *want)
{
	iso_msg	*m;
	char	*s;

	m = iso_msg_from_json(text);
	ck_assert_msg(m != NULL, "%s: %s", text, iso_error());
	s = iso_msg_to_json(m);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, want);
	free(s);
	iso_msg_free(m);
}

/* Check that text is refused with err and an iso_error() naming what. */
static void
json_bad(const char *text, int err, const char *what)
{
	iso_msg	*m;

	errno = 0;
	m = iso_msg_from_json(text);
	ck_assert_msg(m == NULL, "%s was accepted", text);
	ck_assert_msg(errno == err, "%s: errno %d, want %d", text, errno, err);
	ck_assert_msg(strstr(iso_error(), what) != NULL,
	    "%s: iso_error() is \"%s\", want \"%s\"", text, iso_error(), what);
}

/* Message -> JSON -> message, for m (freed here). */
static void
round_trip(iso_msg *m)
{
	iso_msg	*back;
	char	*s;

	ck_assert_ptr_nonnull(m);
	s = iso_msg_to_json(m);
	ck_assert_ptr_nonnull(s);
	back = iso_msg_from_json(s);
	ck_assert_msg(back != NULL, "%s: %s", s, iso_error());
	ck_assert(iso_msg_equal(m, back));
	iso_msg_free(back);
	iso_msg_free(m);
	free(s);
}

/* "[[...[x]...]]" with n brackets, owned. */
static char *
nested(int n, const char *open, const char *x, const char *close)
{
	size_t	 lo = strlen(open), lc = strlen(close), lx = strlen(x);
	char	*s, *p;
	int	 i;

	s = p = malloc(n * (lo + lc) + lx + 1);
	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++, p += lo)
		memcpy(p, open, lo);
	memcpy(p, x, lx);
	p += lx;
	for (i = 0; i < n; i++, p += lc)
		memcpy(p, close, lc);
	*p = '\0';
	return (s);
}

START_TEST(test_scalars)
{
	json_is(iso_msg_pack("n"), "null");
	json_is(iso_msg_pack("b", 1), "true");
	json_is(iso_msg_pack("b", 0), "false");
	json_is(iso_msg_pack("i", 0), "0");
	json_is(iso_msg_pack("i", -5), "-5");
	json_is(iso_msg_pack("I", INT64_MAX), "9223372036854775807");
	json_is(iso_msg_pack("I", INT64_MIN), "-9223372036854775808");
	json_is(iso_msg_pack("U", (uint64_t)7), "7");
	json_is(iso_msg_pack("s", "x"), "\"x\"");
	json_is(iso_msg_pack("s", ""), "\"\"");
	json_is(iso_msg_pack("s", "a\"b\\c/\n"), "\"a\\\"b\\\\c/\\n\"");
}
END_TEST

START_TEST(test_containers)
{
	json_is(iso_msg_pack("{s:i}", "msg", 5), "{\"msg\":5}");
	json_is(iso_msg_pack("[i f s n b]", 1, 2.5, "x", 1),
	    "[1,2.5,\"x\",null,true]");
	json_is(iso_msg_pack("[]"), "[]");
	json_is(iso_msg_pack("{}"), "{}");
	/* Objects keep the map's order. */
	json_is(iso_msg_pack("{s:i s:i s:i}", "b", 1, "a", 2, "c", 3),
	    "{\"b\":1,\"a\":2,\"c\":3}");
	json_is(iso_msg_pack("{s:[i {s:n}] s:{}}", "l", 1, "m", "e"),
	    "{\"l\":[1,{\"m\":null}],\"e\":{}}");
}
END_TEST

START_TEST(test_doubles_text)
{
	json_is(iso_msg_pack("f", 1.0), "1.0");
	json_is(iso_msg_pack("f", -0.0), "-0.0");
	json_is(iso_msg_pack("f", 0.0), "0.0");
	json_is(iso_msg_pack("f", 2.5), "2.5");
	json_is(iso_msg_pack("f", 1e21), "1e21");
	json_is(iso_msg_pack("f", 1e308), "1e308");
	json_is(iso_msg_pack("f", 5e-324), "4.9406564584124654e-324");
	json_is(iso_msg_pack("f", 0.1), "0.10000000000000001");
}
END_TEST

START_TEST(test_doubles_exact)
{
	double		 d[] = { 0.1, 1e308, 5e-324, -0.0, 0.0, DBL_MAX,
			    -DBL_MAX, DBL_MIN, DBL_MIN / 3, 1.0 / 3, 1.0,
			    -2.5, 123456789.123456789, 1e-300,
			    9007199254740993.0, 4503599627370497.5 };
	iso_msg		*m, *back;
	uint64_t	 x = 0x9e3779b97f4a7c15ULL, bits;
	double		 f, g;
	char		*s;
	size_t		 i, n = sizeof d / sizeof d[0];

	for (i = 0; i < n + 5000; i++) {
		if (i < n)
			f = d[i];
		else {
			/* xorshift64: any bits that make a finite double */
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			bits = x;
			memcpy(&f, &bits, sizeof f);
			if (!isfinite(f))
				continue;
		}
		m = iso_msg_pack("f", f);
		ck_assert_ptr_nonnull(m);
		s = iso_msg_to_json(m);
		ck_assert_ptr_nonnull(s);
		back = iso_msg_from_json(s);
		ck_assert_ptr_nonnull(back);
		ck_assert_int_eq(iso_msg_type(back), ISO_FLOAT);
		ck_assert_int_eq(iso_msg_float(back, &g), 0);
		ck_assert_msg(memcmp(&f, &g, sizeof f) == 0,
		    "%a became %s became %a", f, s, g);
		iso_msg_free(back);
		iso_msg_free(m);
		free(s);
	}
}
END_TEST

START_TEST(test_bytes)
{
	json_is(iso_msg_pack("y#", "", (size_t)0), "{\"$bytes\":\"\"}");
	json_is(iso_msg_pack("y#", "f", (size_t)1), "{\"$bytes\":\"Zg==\"}");
	json_is(iso_msg_pack("y#", "fo", (size_t)2), "{\"$bytes\":\"Zm8=\"}");
	json_is(iso_msg_pack("y#", "foo", (size_t)3), "{\"$bytes\":\"Zm9v\"}");
	json_is(iso_msg_pack("y#", "foob", (size_t)4),
	    "{\"$bytes\":\"Zm9vYg==\"}");
	json_is(iso_msg_pack("y#", "foobar", (size_t)6),
	    "{\"$bytes\":\"Zm9vYmFy\"}");
	json_is(iso_msg_pack("y#", "\x00\x01\xff\xfb\xef\xbe", (size_t)6),
	    "{\"$bytes\":\"AAH/++++\"}");
}
END_TEST

START_TEST(test_bytes_all)
{
	unsigned char	 buf[256 + 3];
	const void	*p;
	iso_msg		*m, *back;
	size_t		 i, n, len;
	char		*s;

	for (i = 0; i < sizeof buf; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	for (n = 0; n <= sizeof buf; n++) {
		m = iso_msg_pack("y#", buf, n);
		ck_assert_ptr_nonnull(m);
		s = iso_msg_to_json(m);
		ck_assert_ptr_nonnull(s);
		back = iso_msg_from_json(s);
		ck_assert_ptr_nonnull(back);
		p = iso_msg_bytes(back, &len);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq(len, n);
		ck_assert(n == 0 || memcmp(p, buf, n) == 0);
		iso_msg_free(back);
		iso_msg_free(m);
		free(s);
	}
}
END_TEST

START_TEST(test_port)
{
	iso_sendport	p = { 0x0123456789abcdefULL, 42, 7 };
	iso_sendport	q = { 1, UINT32_MAX, 0 };
	iso_sendport	r;
	iso_msg		*m;

	json_is(iso_msg_pack("P", p),
	    "{\"$port\":\"0123456789abcdef:42:7\"}");
	json_is(iso_msg_pack("P", q),
	    "{\"$port\":\"0000000000000001:4294967295:0\"}");
	json_reads_as("{\"$port\":\"ABC:1:2\"}",
	    "{\"$port\":\"0000000000000abc:1:2\"}");
	json_reads_as("{\"$port\":\"FFFFFFFFFFFFFFFF:0:4294967295\"}",
	    "{\"$port\":\"ffffffffffffffff:0:4294967295\"}");

	m = iso_msg_from_json("{\"$port\":\"00aB:0012:3\"}");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_sendport(m, &r), 0);
	ck_assert_uint_eq(r.isolate, 0xab);
	ck_assert_uint_eq(r.pid, 12);
	ck_assert_uint_eq(r.port, 3);
	iso_msg_free(m);
}
END_TEST

START_TEST(test_uint)
{
	iso_msg		*m, *want;
	uint64_t	 u;

	json_is(iso_msg_pack("U", UINT64_MAX),
	    "{\"$uint\":\"18446744073709551615\"}");
	json_is(iso_msg_pack("U", (uint64_t)INT64_MAX + 1),
	    "{\"$uint\":\"9223372036854775808\"}");

	/* What fits int64 reads as a plain int. */
	json_reads_as("{\"$uint\":\"5\"}", "5");
	json_reads_as("{\"$uint\":\"0\"}", "0");
	json_reads_as("{\"$uint\":\"007\"}", "7");
	json_reads_as("{\"$uint\":\"9223372036854775807\"}",
	    "9223372036854775807");
	m = iso_msg_from_json("{\"$uint\":\"5\"}");
	want = iso_msg_pack("i", 5);
	ck_assert(iso_msg_equal(m, want));
	iso_msg_free(m);
	iso_msg_free(want);

	m = iso_msg_from_json("{\"$uint\":\"18446744073709551614\"}");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_uint(m, &u), 0);
	ck_assert_uint_eq(u, UINT64_MAX - 1);
	iso_msg_free(m);
}
END_TEST

START_TEST(test_float_tags)
{
	iso_msg	*m;
	double	 f;

	json_is(iso_msg_pack("f", NAN), "{\"$float\":\"nan\"}");
	json_is(iso_msg_pack("f", -NAN), "{\"$float\":\"nan\"}");
	json_is(iso_msg_pack("f", INFINITY), "{\"$float\":\"inf\"}");
	json_is(iso_msg_pack("f", -INFINITY), "{\"$float\":\"-inf\"}");
	json_is(iso_msg_pack("[f f]", NAN, -INFINITY),
	    "[{\"$float\":\"nan\"},{\"$float\":\"-inf\"}]");

	m = iso_msg_from_json("{\"$float\":\"-inf\"}");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_float(m, &f), 0);
	ck_assert(isinf(f) && f < 0);
	iso_msg_free(m);
	m = iso_msg_from_json("{\"$float\":\"nan\"}");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_float(m, &f), 0);
	ck_assert(isnan(f));
	iso_msg_free(m);
}
END_TEST

START_TEST(test_map_forms)
{
	iso_msg	*m;

	json_is(iso_msg_pack("{i:s}", 1, "a"), "{\"$map\":[[1,\"a\"]]}");
	json_is(iso_msg_pack("{s:i [i]:n n:b}", "a", 1, 2, 1),
	    "{\"$map\":[[\"a\",1],[[2],null],[null,true]]}");
	json_is(iso_msg_pack("{y#:i}", "k", (size_t)1, 1),
	    "{\"$map\":[[{\"$bytes\":\"aw==\"},1]]}");
	/* Repeated string keys. */
	json_is(iso_msg_pack("{s:i s:i}", "a", 1, "a", 2),
	    "{\"$map\":[[\"a\",1],[\"a\",2]]}");
	json_is(iso_msg_pack("{s:i s:i s:i}", "a", 1, "b", 2, "a", 3),
	    "{\"$map\":[[\"a\",1],[\"b\",2],[\"a\",3]]}");
	/* A key with NUL, which jansson cannot read back in an object. */
	json_is(iso_msg_pack("{s#:i s:i}", "a\0b", (size_t)3, 1, "c", 2),
	    "{\"$map\":[[\"a\\u0000b\",1],[\"c\",2]]}");
	/* An inner map is judged on its own. */
	json_is(iso_msg_pack("{s:{i:i}}", "x", 1, 2),
	    "{\"x\":{\"$map\":[[1,2]]}}");

	/* Grown maps: iso_msg_put keeps order and replaces equal keys. */
	m = iso_msg_pack("{}");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_put(m, iso_msg_pack("s", "z"),
	    iso_msg_pack("i", 1)), 0);
	ck_assert_int_eq(iso_msg_put(m, iso_msg_pack("s", "a"),
	    iso_msg_pack("[]")), 0);
	ck_assert_int_eq(iso_msg_put(m, iso_msg_pack("s", "z"),
	    iso_msg_pack("i", 2)), 0);
	json_is(m, "{\"z\":2,\"a\":[]}");
	m = iso_msg_pack("{}");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_put(m, iso_msg_pack("i", 1),
	    iso_msg_pack("s", "one")), 0);
	ck_assert_int_eq(iso_msg_put(m, iso_msg_pack("s", "1"),
	    iso_msg_pack("s", "str")), 0);
	json_is(m, "{\"$map\":[[1,\"one\"],[\"1\",\"str\"]]}");
}
END_TEST

START_TEST(test_dollar_escape)
{
	const iso_msg	*v;
	iso_msg		*m;

	/* User maps that look like tags go out as $map. */
	json_is(iso_msg_pack("{s:s}", "$bytes", "x"),
	    "{\"$map\":[[\"$bytes\",\"x\"]]}");
	json_is(iso_msg_pack("{s:s}", "$map", "x"),
	    "{\"$map\":[[\"$map\",\"x\"]]}");
	json_is(iso_msg_pack("{s:i}", "$other", 1),
	    "{\"$map\":[[\"$other\",1]]}");
	json_is(iso_msg_pack("{s:i}", "$", 1), "{\"$map\":[[\"$\",1]]}");
	/* Only one-pair maps need it. */
	json_is(iso_msg_pack("{s:s s:i}", "$bytes", "x", "y", 1),
	    "{\"$bytes\":\"x\",\"y\":1}");
	json_is(iso_msg_pack("{s:i}", "a$", 1), "{\"a$\":1}");

	/* A one-key object with another $ key is a plain map. */
	m = iso_msg_from_json("{\"$other\":1}");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_type(m), ISO_MAP);
	v = iso_msg_get(m, "$other");
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(iso_msg_type(v), ISO_INT);
	iso_msg_free(m);
	json_reads_as("{\"$other\":1}", "{\"$map\":[[\"$other\",1]]}");
	json_reads_as("{\"$Bytes\":\"x\"}", "{\"$map\":[[\"$Bytes\",\"x\"]]}");
	json_reads_as("{\"$bytes\":5,\"a\":1}", "{\"$bytes\":5,\"a\":1}");
	json_reads_as("{\"$map\":[]}", "{}");
}
END_TEST

START_TEST(test_all_types_round_trip)
{
	iso_sendport	p = { 0xfeedfacecafebeefULL, 1234, 99 };

	round_trip(iso_msg_pack("{s:n s:b s:b s:i s:I s:U s:U s:f s:f s:f "
	    "s:f s:s s:s# s:y# s:y# s:P s:[] s:{} s:[i [s] {}] s:{i:s} "
	    "s:{s:i s:i} s:{s:s} s:{s:s}}",
	    "nil", "t", 1, "f", 0, "i", -3, "I", INT64_MIN, "u", (uint64_t)3,
	    "big", UINT64_MAX, "d", 0.1, "nan", NAN, "inf", INFINITY,
	    "-0", -0.0, "s", "h\xc3\xa9llo", "nul", "a\0b", (size_t)3,
	    "y", "\x00\xff", (size_t)2, "y0", "", (size_t)0, "port", p,
	    "l", "m", "nest", 1, "x", "ik", 1, "one", "dup", "a", 1, "a", 2,
	    "tag", "$port", "x", "$x", "$map", "y"));
	round_trip(iso_msg_pack("{[i]:{f:P}}", 1, 2.0, p));
	round_trip(iso_msg_pack("n"));
	round_trip(iso_msg_pack("y#", "\0\0\0", (size_t)3));
}
END_TEST

START_TEST(test_deep)
{
	iso_msg	*m, *outer;
	char	*s;
	int	 i;

	/* 32 levels of lists, then of maps, then mixed. */
	m = iso_msg_pack("[i]", 1);
	for (i = 1; i < 32; i++) {
		outer = iso_msg_pack("[]");
		ck_assert_int_eq(iso_msg_append(outer, m), 0);
		m = outer;
	}
	round_trip(m);

	m = iso_msg_pack("{s:i}", "k", 1);
	for (i = 1; i < 32; i++) {
		outer = iso_msg_pack("{}");
		ck_assert_int_eq(iso_msg_put(outer, iso_msg_pack("s", "k"), m),
		    0);
		m = outer;
	}
	round_trip(m);

	m = iso_msg_pack("{i:y#}", 1, "b", (size_t)1);
	for (i = 1; i < 32; i++) {
		outer = iso_msg_pack("{}");
		ck_assert_int_eq(iso_msg_put(outer, iso_msg_pack("[]"), m), 0);
		m = outer;
	}
	round_trip(m);

	/* Tagged scalars are not levels. */
	s = nested(32, "[", "{\"$bytes\":\"AA==\"}", "]");
	json_reads_as(s, s);
	free(s);
	s = nested(31, "[", "{\"$map\":[[{\"$uint\":\"1\"},2]]}", "]");
	m = iso_msg_from_json(s);
	ck_assert_ptr_nonnull(m);
	iso_msg_free(m);
	free(s);
	s = nested(32, "{\"a\":", "0", "}");
	json_reads_as(s, s);
	free(s);
}
END_TEST

START_TEST(test_too_deep)
{
	char	*s;

	s = nested(33, "[", "1", "]");
	json_bad(s, EMSGSIZE, "deeper than 32");
	free(s);
	s = nested(33, "{\"a\":", "1", "}");
	json_bad(s, EMSGSIZE, "deeper than 32");
	free(s);
	/* A $map is one level too. */
	s = nested(32, "[", "{\"$map\":[[1,2]]}", "]");
	json_bad(s, EMSGSIZE, "deeper");
	free(s);
	s = nested(32, "[", "{\"$map\":[]}", "]");
	json_bad(s, EMSGSIZE, "deeper");
	free(s);
	s = nested(32, "{\"$map\":[[", "[]", ",1]]}");
	json_bad(s, EMSGSIZE, "deeper");
	free(s);
	/* Far beyond the limit, and beyond jansson's own. */
	s = nested(5000, "[", "1", "]");
	json_bad(s, EINVAL, "line");
	free(s);
	s = nested(1000, "[", "1", "]");
	json_bad(s, EMSGSIZE, "deeper");
	free(s);
}
END_TEST

START_TEST(test_limits)
{
	size_t	depth = iso_limit_get(ISO_LIMIT_DEPTH);
	size_t	nodes = iso_limit_get(ISO_LIMIT_NODES);
	iso_msg	*m;

	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH, 2), 0);
	m = iso_msg_from_json("[[1]]");
	ck_assert_ptr_nonnull(m);
	iso_msg_free(m);
	json_bad("[[[1]]]", EMSGSIZE, "deeper than 2");
	json_bad("[{\"a\":[]}]", EMSGSIZE, "deeper than 2");
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH, depth), 0);

	/* [1,2,3] is four values. */
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, 4), 0);
	m = iso_msg_from_json("[1,2,3]");
	ck_assert_ptr_nonnull(m);
	iso_msg_free(m);
	json_bad("[1,2,3,4]", EMSGSIZE, "values");
	/* A map pair is two. */
	json_bad("{\"a\":1,\"b\":2}", EMSGSIZE, "values");
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, nodes), 0);
}
END_TEST

START_TEST(test_wide)
{
	iso_msg	*m;
	char	*s, *p;
	size_t	 cap = 10000 * 24 + 16;
	int	 i;

	m = iso_msg_pack("[]");
	ck_assert_ptr_nonnull(m);
	for (i = 0; i < 10000; i++) {
		switch (i % 4) {
		case 0:
			ck_assert_int_eq(iso_msg_append(m,
			    iso_msg_pack("i", i)), 0);
			break;
		case 1:
			ck_assert_int_eq(iso_msg_append(m,
			    iso_msg_pack("s", "item")), 0);
			break;
		case 2:
			ck_assert_int_eq(iso_msg_append(m,
			    iso_msg_pack("[f]", i / 3.0)), 0);
			break;
		case 3:
			ck_assert_int_eq(iso_msg_append(m,
			    iso_msg_pack("{i:y#}", i, "ab", (size_t)2)), 0);
			break;
		}
	}
	ck_assert_uint_eq(iso_msg_len(m), 10000);
	round_trip(m);

	/* A map of 10000 pairs, in order. */
	s = p = malloc(cap);
	ck_assert_ptr_nonnull(s);
	*p++ = '{';
	for (i = 0; i < 10000; i++)
		p += snprintf(p, cap - (p - s), "%s\"k%d\":%d", i ? "," : "",
		    9999 - i, i);
	*p++ = '}';
	*p = '\0';
	m = iso_msg_from_json(s);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(iso_msg_len(m), 10000);
	iso_msg_free(m);
	json_reads_as(s, s);
	free(s);
}
END_TEST

START_TEST(test_canonical_texts)
{
	const char	*texts[] = {
		"null", "true", "false", "0", "-1", "9223372036854775807",
		"-9223372036854775808", "1.0", "-0.0", "0.5", "1e308",
		"4.9406564584124654e-324", "1.7976931348623157e308",
		"\"\"", "\"a\\u0000b\"", "\"h\\\"i\\\\\"",
		"\"\\n\\t\\r\\b\\f\\u0001\\u001F\"",
		"\"h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80\"",
		"[]", "{}", "[[]]", "[1,2.5,\"x\",null,true]", "{\"msg\":5}",
		"{\"b\":1,\"a\":2}", "{\"\":0}", "{\"$bytes\":\"\"}",
		"{\"$bytes\":\"AAH/\"}",
		"{\"$port\":\"0123456789abcdef:4294967295:0\"}",
		"{\"$uint\":\"18446744073709551615\"}",
		"{\"$uint\":\"9223372036854775808\"}",
		"{\"$float\":\"nan\"}", "{\"$float\":\"inf\"}",
		"{\"$float\":\"-inf\"}",
		"{\"$map\":[[1,2],[null,[]]]}",
		"{\"$map\":[[\"a\",1],[\"a\",2]]}",
		"{\"$map\":[[\"$bytes\",\"x\"]]}",
		"{\"$map\":[[\"$x\",1]]}",
		"{\"$map\":[[\"a\\u0000\",1]]}",
		"{\"$map\":[[{\"$map\":[[1,2]]},{\"$map\":[[3,4]]}]]}",
		"{\"$bytes\":\"x\",\"y\":1}",
		"{\"a\":{\"$map\":[[{\"$bytes\":\"Zg==\"},[1]]]}}",
		"[{\"$port\":\"0000000000000000:0:0\"},{\"$bytes\":\"AA==\"}]",
	};
	size_t		 i;

	for (i = 0; i < sizeof texts / sizeof texts[0]; i++)
		json_reads_as(texts[i], texts[i]);
}
END_TEST

START_TEST(test_other_texts)
{
	/* Accepted, but not how they are written. */
	json_reads_as(" [ 1 , 2 ]\n", "[1,2]");
	json_reads_as("1E2", "100.0");
	json_reads_as("1.50", "1.5");
	json_reads_as("-0", "0");
	json_reads_as("\"\\u00e9\\u2603\\ud83d\\ude00\\/\"",
	    "\"\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80/\"");
}
END_TEST

START_TEST(test_invalid_json)
{
	json_bad("", EINVAL, "line");
	json_bad("[1,", EINVAL, "line 1");
	json_bad("[1,]", EINVAL, "column 4");
	json_bad("{", EINVAL, "line");
	json_bad("nul", EINVAL, "line");
	json_bad("[1]\n[2]", EINVAL, "line 2");
	json_bad("'x'", EINVAL, "line");
	json_bad("NaN", EINVAL, "line");
	json_bad("01", EINVAL, "line");
	json_bad("\"\xff\"", EINVAL, "line");
	json_bad("\"\\ud800\"", EINVAL, "line");
	json_bad("{1:2}", EINVAL, "line");
	/* Outside int64 and double: use $uint. */
	json_bad("18446744073709551615", EINVAL, "line");
	json_bad("1e400", EINVAL, "line");
	/* jansson cannot hold a NUL in a key; $map can. */
	json_bad("{\"a\\u0000\":1}", EINVAL, "line");
}
END_TEST

START_TEST(test_duplicate_keys)
{
	json_bad("{\"a\":1,\"a\":2}", EINVAL, "duplicate");
	json_bad("{\"a\":1,\"b\":{\"c\":1,\"c\":1}}", EINVAL, "line 1");
	json_bad("{\"$bytes\":\"\",\"$bytes\":\"\"}", EINVAL, "duplicate");
}
END_TEST

START_TEST(test_bad_bytes)
{
	const char	*bad[] = {
		"5", "null", "[]", "\"A\"", "\"AB\"", "\"ABC\"", "\"A===\"",
		"\"AB=C\"", "\"=AAA\"", "\"@@@@\"", "\"AA==AA==\"",
		"\"AA= \"", "\" AA=\"", "\"QR==\"", "\"QUJ=\"", "\"====\"",
		"\"AA\\u0000=\"", "\"Zm9v\\n\"", "\"Zm-_\"", "\"AAAAA===\"",
	};
	char		 buf[64];
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(buf, sizeof buf, "{\"$bytes\":%s}", bad[i]);
		json_bad(buf, EINVAL, "json: $bytes is not valid base64");
	}
}
END_TEST

START_TEST(test_bad_port)
{
	const char	*bad[] = {
		"5", "null", "\"\"", "\"1:2\"", "\"1:2:3x\"", "\"1:2:3:4\"",
		"\"x:1:2\"", "\":1:2\"", "\"1::2\"", "\"1:2:\"",
		"\"12345678901234567:1:2\"",
		"\"00000000000000001:1:2\"", "\"1:4294967296:1\"",
		"\"1:1:4294967296\"", "\"1:-1:1\"", "\"1:+1:1\"", "\"-1:1:1\"",
		"\" 1:1:1\"", "\"1:1:1 \"", "\"0x1:1:1\"", "\"1:1:1\\u0000\"",
		"\"1:0x1:1\"", "\"g:1:1\"", "[\"1:1:1\"]",
	};
	char		 buf[64];
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(buf, sizeof buf, "{\"$port\":%s}", bad[i]);
		json_bad(buf, EINVAL, "$port");
	}
}
END_TEST

START_TEST(test_bad_uint)
{
	const char	*bad[] = {
		"1", "-1", "null", "\"\"", "\"-1\"", "\"+1\"", "\" 1\"",
		"\"1 \"", "\"1.0\"", "\"1e3\"", "\"0x10\"", "\"abc\"",
		"\"18446744073709551616\"", "\"99999999999999999999\"",
		"\"184467440737095516150\"", "\"1\\u0000\"",
	};
	char		 buf[64];
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(buf, sizeof buf, "{\"$uint\":%s}", bad[i]);
		json_bad(buf, EINVAL, "$uint");
	}
}
END_TEST

START_TEST(test_bad_float)
{
	const char	*bad[] = {
		"1.0", "null", "\"foo\"", "\"\"", "\"NaN\"", "\"+inf\"",
		"\"Infinity\"", "\"inf \"", "\"nan\\u0000\"", "\"-nan\"",
	};
	char		 buf[64];
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(buf, sizeof buf, "{\"$float\":%s}", bad[i]);
		json_bad(buf, EINVAL, "$float");
	}
}
END_TEST

START_TEST(test_bad_map)
{
	const char	*bad[] = {
		"5", "null", "\"x\"", "{}", "{\"a\":1}", "[1]", "[[1]]",
		"[[1,2,3]]", "[[]]", "[[1,2],3]", "[[1,2],[3]]",
	};
	char		 buf[64];
	size_t		 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(buf, sizeof buf, "{\"$map\":%s}", bad[i]);
		json_bad(buf, EINVAL, "$map");
	}
	/* A bad tag anywhere fails the whole text. */
	json_bad("[1,{\"a\":[{\"$map\":[[1,{\"$uint\":\"-1\"}]]}]}]", EINVAL,
	    "$uint");
}
END_TEST

START_TEST(test_null_args)
{
	errno = 0;
	ck_assert_ptr_null(iso_msg_to_json(NULL));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(iso_msg_from_json(NULL));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_nul_strings)
{
	const char	*p;
	iso_msg		*m;
	size_t		 len;

	json_is(iso_msg_pack("s#", "a\0b", (size_t)3), "\"a\\u0000b\"");
	json_is(iso_msg_pack("s#", "\0", (size_t)1), "\"\\u0000\"");

	m = iso_msg_from_json("[\"x\\u0000y\\u0000\"]");
	ck_assert_ptr_nonnull(m);
	p = iso_msg_str(iso_msg_at(m, 0), &len);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, 4);
	ck_assert_mem_eq(p, "x\0y\0", 5);
	iso_msg_free(m);
}
END_TEST

START_TEST(test_unicode)
{
	const char	*u = "h\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80 "
			    "\xe4\xb8\xad";
	const char	*p;
	iso_msg		*m;
	char		 want[64];
	size_t		 len;

	snprintf(want, sizeof want, "\"%s\"", u);
	json_is(iso_msg_pack("s", u), want);
	snprintf(want, sizeof want, "{\"%s\":\"%s\"}", u, u);
	json_is(iso_msg_pack("{s:s}", u, u), want);

	m = iso_msg_from_json("\"\\u00e9\\ud83d\\ude00\"");
	ck_assert_ptr_nonnull(m);
	p = iso_msg_str(m, &len);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(len, 6);
	ck_assert_str_eq(p, "\xc3\xa9\xf0\x9f\x98\x80");
	iso_msg_free(m);
}
END_TEST

START_TEST(test_result_is_one_block)
{
	iso_msg	*m, *c;

	/* Reading a text and copying it give the same message; freeing
	   both is checked under valgrind. */
	m = iso_msg_from_json("{\"a\":[1,\"s\",{\"$bytes\":\"AAE=\"}],"
	    "\"b\":{\"$map\":[[1,2]]}}");
	ck_assert_ptr_nonnull(m);
	c = iso_msg_copy(m);
	ck_assert_ptr_nonnull(c);
	ck_assert(iso_msg_equal(m, c));
	/* A read message can grow like any other root. */
	ck_assert_int_eq(iso_msg_put(m, iso_msg_pack("s", "c"),
	    iso_msg_pack("i", 3)), 0);
	ck_assert_int_eq(iso_msg_len(m), 3);
	json_is(m, "{\"a\":[1,\"s\",{\"$bytes\":\"AAE=\"}],"
	    "\"b\":{\"$map\":[[1,2]]},\"c\":3}");
	iso_msg_free(c);
}
END_TEST

static Suite *
json_suite(void)
{
	Suite	*s = suite_create("json");
	TCase	*tc;

	tc = tcase_create("write");
	tcase_add_test(tc, test_scalars);
	tcase_add_test(tc, test_containers);
	tcase_add_test(tc, test_doubles_text);
	tcase_add_test(tc, test_bytes);
	tcase_add_test(tc, test_port);
	tcase_add_test(tc, test_uint);
	tcase_add_test(tc, test_float_tags);
	tcase_add_test(tc, test_map_forms);
	tcase_add_test(tc, test_dollar_escape);
	tcase_add_test(tc, test_nul_strings);
	tcase_add_test(tc, test_unicode);
	suite_add_tcase(s, tc);

	tc = tcase_create("round trip");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_doubles_exact);
	tcase_add_test(tc, test_bytes_all);
	tcase_add_test(tc, test_all_types_round_trip);
	tcase_add_test(tc, test_deep);
	tcase_add_test(tc, test_wide);
	tcase_add_test(tc, test_canonical_texts);
	tcase_add_test(tc, test_other_texts);
	tcase_add_test(tc, test_result_is_one_block);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_too_deep);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_invalid_json);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_bad_bytes);
	tcase_add_test(tc, test_bad_port);
	tcase_add_test(tc, test_bad_uint);
	tcase_add_test(tc, test_bad_float);
	tcase_add_test(tc, test_bad_map);
	tcase_add_test(tc, test_null_args);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(json_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
