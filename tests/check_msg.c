/*
 * check_msg.c: the value tree: pack/unpack formats, accessors, equality,
 * copy, growing roots, limits.
 */
#include <check.h>
#include <pthread.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "isolate.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

static iso_sendport
port_of(uint64_t isolate, uint32_t pid, uint32_t port)
{
	iso_sendport	p = { isolate, pid, port };

	return (p);
}

START_TEST(pack_scalars)
{
	iso_msg		*m;
	int64_t		 i;
	uint64_t	 u;
	double		 f;
	int		 b;
	size_t		 len;
	iso_sendport	 p;

	m = iso_msg_pack("n");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_type(m), ISO_NIL);
	iso_msg_free(m);

	m = iso_msg_pack("b", 7);
	ck_assert_int_eq(iso_msg_type(m), ISO_BOOL);
	ck_assert_int_eq(iso_msg_bool(m, &b), 0);
	ck_assert_int_eq(b, 1);
	iso_msg_free(m);

	m = iso_msg_pack("i", -42);
	ck_assert_int_eq(iso_msg_int(m, &i), 0);
	ck_assert_int_eq(i, -42);
	ck_assert_int_eq(iso_msg_uint(m, &u), -1);
	ck_assert_int_eq(errno, ERANGE);
	iso_msg_free(m);

	m = iso_msg_pack("I", INT64_MIN);
	ck_assert_int_eq(iso_msg_int(m, &i), 0);
	ck_assert(i == INT64_MIN);
	iso_msg_free(m);

	m = iso_msg_pack("U", UINT64_MAX);
	ck_assert_int_eq(iso_msg_type(m), ISO_INT);
	ck_assert_int_eq(iso_msg_int(m, &i), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(iso_msg_uint(m, &u), 0);
	ck_assert(u == UINT64_MAX);
	iso_msg_free(m);

	m = iso_msg_pack("f", 2.5);
	ck_assert_int_eq(iso_msg_float(m, &f), 0);
	ck_assert(f == 2.5);
	ck_assert_int_eq(iso_msg_int(m, &i), -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_msg_free(m);

	m = iso_msg_pack("s", "héllo");
	ck_assert_str_eq(iso_msg_str(m, &len), "héllo");
	ck_assert_uint_eq(len, 6);
	ck_assert_uint_eq(iso_msg_len(m), 6);
	ck_assert_ptr_null(iso_msg_bytes(m, NULL));
	iso_msg_free(m);

	m = iso_msg_pack("s#", "a\0b", (size_t)3);
	ck_assert_int_eq(memcmp(iso_msg_str(m, &len), "a\0b", 4), 0);
	ck_assert_uint_eq(len, 3);
	iso_msg_free(m);

	m = iso_msg_pack("y#", "\x00\xff\x01", (size_t)3);
	ck_assert_int_eq(iso_msg_type(m), ISO_BYTES);
	ck_assert_int_eq(memcmp(iso_msg_bytes(m, &len), "\x00\xff\x01", 3),
	    0);
	ck_assert_uint_eq(len, 3);
	iso_msg_free(m);

	m = iso_msg_pack("y#", NULL, (size_t)0);
	ck_assert_int_eq(iso_msg_type(m), ISO_BYTES);
	ck_assert_uint_eq(iso_msg_len(m), 0);
	iso_msg_free(m);

	m = iso_msg_pack("P", port_of(0x1122334455667788ULL, 99, 3));
	ck_assert_int_eq(iso_msg_sendport(m, &p), 0);
	ck_assert(p.isolate == 0x1122334455667788ULL);
	ck_assert_uint_eq(p.pid, 99);
	ck_assert_uint_eq(p.port, 3);
	iso_msg_free(m);
}
END_TEST

START_TEST(pack_nullable)
{
	iso_msg	*m;

	m = iso_msg_pack("[s? O?]", (const char *)NULL, (const iso_msg *)NULL);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_type(iso_msg_at(m, 0)), ISO_NIL);
	ck_assert_int_eq(iso_msg_type(iso_msg_at(m, 1)), ISO_NIL);
	iso_msg_free(m);
}
END_TEST

START_TEST(pack_nested)
{
	iso_msg		*m;
	const iso_msg	*v;
	int		 n, a, b2;
	const char	*s;

	m = iso_msg_pack("{s:i, s:[i, i, {s:s}], s:{}, s:[]}", "msg", 5,
	    "list", 1, 2, "deep", "x", "empty", "none");
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_type(m), ISO_MAP);
	ck_assert_uint_eq(iso_msg_len(m), 4);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:i s:[i i {s:s}]}", "msg", &n,
	    "list", &a, &b2, "deep", &s), 0);
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(a, 1);
	ck_assert_int_eq(b2, 2);
	ck_assert_str_eq(s, "x");
	v = iso_msg_get(m, "empty");
	ck_assert_int_eq(iso_msg_type(v), ISO_MAP);
	ck_assert_uint_eq(iso_msg_len(v), 0);
	v = iso_msg_get(m, "none");
	ck_assert_int_eq(iso_msg_type(v), ISO_LIST);
	ck_assert_uint_eq(iso_msg_len(v), 0);
	iso_msg_free(m);
}
END_TEST

START_TEST(pack_copies_O)
{
	iso_msg		*inner, *m;
	const char	*s;

	inner = iso_msg_pack("{s:s}", "k", "v");
	m = iso_msg_pack("[O O]", inner, inner);
	iso_msg_free(inner);
	ck_assert_int_eq(iso_msg_unpack(m, "[{s:s} {s:s}]", "k", &s, "k", &s),
	    0);
	ck_assert_str_eq(s, "v");
	iso_msg_free(m);
}
END_TEST

START_TEST(pack_errors)
{
	static const char *bad[] = { "x", "[i", "i]", "{s}", "[}", "", "i i",
	    "y", "{s:i", "]" };
	iso_msg	*m;
	size_t	 k;

	for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		errno = 0;
		m = iso_msg_pack(bad[k], "a", 1, 2, 3);
		ck_assert_msg(m == NULL, "format \"%s\" accepted", bad[k]);
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_str_ne(iso_error(), "");
	}
	errno = 0;
	ck_assert_ptr_null(iso_msg_pack("s", (const char *)NULL));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(iso_msg_pack("O", (const iso_msg *)NULL));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(iso_msg_pack(NULL));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(iso_msg_pack("s", "\xff"));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(iso_msg_pack("s", "\xc0\xaf"));	/* overlong */
	ck_assert_ptr_null(iso_msg_pack("s", "\xed\xa0\x80"));	/* surrogate */
	ck_assert_ptr_null(iso_msg_pack("s", "\xf4\x90\x80\x80")); /* >10FFFF */
	ck_assert_ptr_null(iso_msg_pack("s", "\xe2\x82"));	/* truncated */
	m = iso_msg_pack("s", "\xf4\x8f\xbf\xbf\xe2\x82\xac");
	ck_assert_ptr_nonnull(m);
	iso_msg_free(m);
}
END_TEST

static char *
brackets(int n)
{
	char	*f = malloc(2 * (size_t)n + 1);
	int	 k;

	for (k = 0; k < n; k++) {
		f[k] = '[';
		f[n + k] = ']';
	}
	f[2 * n] = '\0';
	return (f);
}

/* A format of more items than pack keeps on its stack (32). */
START_TEST(pack_long_format)
{
	iso_msg		*m;
	const char	*s;
	int64_t		 v;
	size_t		 k;

	m = iso_msg_pack("[nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	    "nnnnnnnnnnnnnnn {s:[i s]}]", "k", 7, "end");
	ck_assert_msg(m != NULL, "%s", iso_error());
	ck_assert_uint_eq(iso_msg_len(m), 73);
	for (k = 0; k < 72; k++)
		ck_assert_int_eq(iso_msg_type(iso_msg_at(m, k)), ISO_NIL);
	ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 72), "{s:[I s]}", "k",
	    &v, &s), 0);
	ck_assert(v == 7);
	ck_assert_str_eq(s, "end");
	iso_msg_free(m);
}
END_TEST

START_TEST(pack_depth)
{
	char	*f;
	iso_msg	*m, *outer;

	f = brackets(32);
	m = iso_msg_pack(f);
	ck_assert_ptr_nonnull(m);
	free(f);
	errno = 0;
	outer = iso_msg_pack("[O]", m);
	ck_assert_ptr_null(outer);
	ck_assert_int_eq(errno, EMSGSIZE);
	iso_msg_free(m);
	f = brackets(33);
	errno = 0;
	ck_assert_ptr_null(iso_msg_pack(f));
	ck_assert_int_eq(errno, EMSGSIZE);
	free(f);
}
END_TEST

/*
 * Pack's per-thread cache of compiled formats: a format used again packs
 * the same tree; a different format at the same address is not mistaken
 * for the cached one; what the slow path refuses, the cached path refuses
 * with the same errno and iso_error().
 */
START_TEST(pack_cache_same_tree)
{
	static const char *fmt = "[n b i I U f s s# s? y# P {s:[i s?]} O O?]";
	iso_msg		*m, *o, *want;
	iso_sendport	 p, pp;
	const char	*s1, *s2, *s3, *y, *s4, *s5;
	const iso_msg	*ro, *rn;
	int64_t		 I;
	uint64_t	 U;
	double		 f;
	size_t		 l2, ly;
	int		 b, i, i2, round;

	o = iso_msg_pack("{s:i}", "o", 9);
	ck_assert_ptr_nonnull(o);
	for (round = 0; round < 3; round++) {
		p = port_of(1 + (uint64_t)round, 2, 3);
		m = iso_msg_pack(fmt, round, 10 + round, (int64_t)-1 - round,
		    (uint64_t)UINT64_MAX - (uint64_t)round, 0.5 + round,
		    round == 1 ? "\xc3\xa9t\xc3\xa9" : "abc", "xyz!", (size_t)3,
		    round == 2 ? "v" : (const char *)NULL, "\0\1\2", (size_t)3,
		    p, "k", 100 + round, round ? "w" : (const char *)NULL, o,
		    round == 1 ? o : (const iso_msg *)NULL);
		ck_assert_msg(m != NULL, "round %d: %s", round, iso_error());
		ck_assert_uint_eq(iso_msg_len(m), 14);
		ck_assert_int_eq(iso_msg_type(iso_msg_at(m, 0)), ISO_NIL);
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 1), "b", &b), 0);
		ck_assert_int_eq(b, round != 0);
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 2), "i", &i), 0);
		ck_assert_int_eq(i, 10 + round);
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 3), "I", &I), 0);
		ck_assert(I == (int64_t)-1 - round);
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 4), "U", &U), 0);
		ck_assert(U == UINT64_MAX - (uint64_t)round);
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 5), "f", &f), 0);
		ck_assert(f == 0.5 + round);
		ck_assert_int_eq(iso_msg_unpack(m, "[n b i I U f s s# !]", &b,
		    &i, &I, &U, &f, &s1, &s2, &l2), -1);	/* 14, not 8 */
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 6), "s", &s1), 0);
		ck_assert_str_eq(s1, round == 1 ? "\xc3\xa9t\xc3\xa9" : "abc");
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 7), "s#", &s2,
		    &l2), 0);
		ck_assert_uint_eq(l2, 3);
		ck_assert_str_eq(s2, "xyz");
		if (round == 2) {
			ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 8), "s",
			    &s3), 0);
			ck_assert_str_eq(s3, "v");
		} else
			ck_assert_int_eq(iso_msg_type(iso_msg_at(m, 8)),
			    ISO_NIL);
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 9), "y#", &y,
		    &ly), 0);
		ck_assert_uint_eq(ly, 3);
		ck_assert_int_eq(memcmp(y, "\0\1\2", 3), 0);
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 10), "P", &pp),
		    0);
		ck_assert(pp.isolate == p.isolate && pp.pid == 2 &&
		    pp.port == 3);
		s5 = NULL;
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 11),
		    "{s:[i s?]}", "k", &i2, &s4), -1);	/* s? is pack's */
		ck_assert_int_eq(iso_msg_unpack(iso_msg_at(m, 11), "{s:[i O]}",
		    "k", &i2, &rn), 0);
		ck_assert_int_eq(i2, 100 + round);
		if (round)
			ck_assert_int_eq(iso_msg_unpack(rn, "s", &s5), 0);
		else
			ck_assert_int_eq(iso_msg_type(rn), ISO_NIL);
		ck_assert(iso_msg_equal(iso_msg_at(m, 12), o));
		ro = iso_msg_at(m, 13);
		if (round == 1)
			ck_assert(iso_msg_equal(ro, o));
		else
			ck_assert_int_eq(iso_msg_type(ro), ISO_NIL);
		/* The same tree as the slow path's (a format too long for
		   the cache: 48 characters and more). */
		want = iso_msg_pack("[n b i I U f s s# s? y# P {s:[i s?]} O O?]"
		    "                                                  ",
		    round, 10 + round, (int64_t)-1 - round,
		    (uint64_t)UINT64_MAX - (uint64_t)round, 0.5 + round,
		    round == 1 ? "\xc3\xa9t\xc3\xa9" : "abc", "xyz!", (size_t)3,
		    round == 2 ? "v" : (const char *)NULL, "\0\1\2", (size_t)3,
		    p, "k", 100 + round, round ? "w" : (const char *)NULL, o,
		    round == 1 ? o : (const iso_msg *)NULL);
		ck_assert(iso_msg_equal(m, want));
		iso_msg_free(want);
		iso_msg_free(m);
		/* Without O, nodes are placed in one pass: nested both ways. */
		m = iso_msg_pack("[{s:[i s?] s:{}} n [b [I {s:y#}]] s# []]",
		    "a", round, round == 1 ? "q" : (const char *)NULL, "e",
		    round, (int64_t)round << 33, "y", "yy", (size_t)2,
		    "tail", (size_t)4);
		want = iso_msg_pack("[{s:[i s?] s:{}} n [b [I {s:y#}]] s# []]"
		    "                                                  ",
		    "a", round, round == 1 ? "q" : (const char *)NULL, "e",
		    round, (int64_t)round << 33, "y", "yy", (size_t)2,
		    "tail", (size_t)4);
		ck_assert_msg(m != NULL && want != NULL, "%s", iso_error());
		ck_assert(iso_msg_equal(m, want));
		ck_assert_int_eq(iso_msg_unpack(m, "[{s:[i O] s:{!}} n [b [I "
		    "{s:y#}]] s# [!] !]", "a", &i, &rn, "e", &b, &I, "y", &y,
		    &ly, &s4, &l2), 0);
		ck_assert_int_eq(i, round);
		ck_assert_int_eq(b, round != 0);
		ck_assert_int_eq(iso_msg_type(rn), round == 1 ? ISO_STR :
		    ISO_NIL);
		ck_assert(I == (int64_t)round << 33);
		ck_assert_uint_eq(ly, 2);
		ck_assert_uint_eq(l2, 4);
		ck_assert_int_eq(memcmp(s4, "tail", 4), 0);
		iso_msg_free(want);
		iso_msg_free(m);
	}
	iso_msg_free(o);
}
END_TEST

START_TEST(pack_cache_stale)
{
	char		*fmt;
	iso_msg		*m;
	int64_t		 I;
	int		 a, b, k;
	const char	*s;

	/* One buffer, rewritten: the same address, another format. */
	fmt = malloc(16);
	ck_assert_ptr_nonnull(fmt);
	strcpy(fmt, "[i]");
	for (k = 0; k < 3; k++) {
		m = iso_msg_pack(fmt, 5 + k);
		ck_assert_int_eq(iso_msg_unpack(m, "[i]", &a), 0);
		ck_assert_int_eq(a, 5 + k);
		iso_msg_free(m);
	}
	strcpy(fmt, "[I]");	/* same length, int64_t now */
	m = iso_msg_pack(fmt, (int64_t)1 << 40);
	ck_assert_msg(m != NULL, "%s", iso_error());
	ck_assert_int_eq(iso_msg_unpack(m, "[I]", &I), 0);
	ck_assert(I == (int64_t)1 << 40);
	iso_msg_free(m);
	strcpy(fmt, "{s:i}");
	m = iso_msg_pack(fmt, "a", 1);
	iso_msg_free(m);
	m = iso_msg_pack(fmt, "a", 1);
	iso_msg_free(m);
	strcpy(fmt, "[s,i,i]");
	m = iso_msg_pack(fmt, "x", 2, 3);
	ck_assert_msg(m != NULL, "%s", iso_error());
	ck_assert_int_eq(iso_msg_unpack(m, "[s i i !]", &s, &a, &b), 0);
	ck_assert_str_eq(s, "x");
	ck_assert_int_eq(a, 2);
	ck_assert_int_eq(b, 3);
	iso_msg_free(m);
	/* Now invalid at that address: the error, not the old tree. */
	strcpy(fmt, "[s,i,x]");
	errno = 0;
	ck_assert_ptr_null(iso_msg_pack(fmt, "x", 2, 3));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_str_eq(iso_error(), "pack: unexpected character at format "
	    "offset 5 of \"[s,i,x]\"");
	free(fmt);
}
END_TEST

/* Pack with fmt (args by case), expecting failure: errno, iso_error(). */
static iso_msg *
pack_case(int c, const char *fmt, const iso_msg *deep, int bad)
{
	switch (c) {
	case 0:
		return (iso_msg_pack(fmt, "k", bad ? (const char *)NULL : "v"));
	case 1:
		return (iso_msg_pack(fmt, 1, bad ? "\xff" : "ok"));
	case 2:
		return (iso_msg_pack(fmt, bad ? (const iso_msg *)NULL : deep));
	case 3:
		return (iso_msg_pack(fmt, bad ? (const char *)NULL : "abc",
		    (size_t)3));
	case 4:
		return (iso_msg_pack(fmt, bad ? (const char *)NULL : "a",
		    (size_t)1));
	case 5:
		return (iso_msg_pack(fmt, 7));	/* depth, by the limit */
	case 6:
		return (iso_msg_pack(fmt, deep));	/* O too deep */
	}
	return (NULL);
}

/* Strings through the compiled format: short and long (past the inline
   scan's 32 bytes), ASCII or not, valid or not, each as the slow path
   packs it. */
START_TEST(pack_cache_strings)
{
	static const char *ok[] = { "", "msg", "h\xc3\xa9llo",
	    "0123456789012345678901234567890123456789",
	    "01234567890123456789012345678901234567\xc3\xa9" };
	static const char *bad[] = { "\xff", "ab\xc3",
	    "0123456789012345678901234567890123456789\xff" };
	const char	*got;
	iso_msg		*m;
	size_t		 i, len;
	int		 round;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
			m = iso_msg_pack("[s]", ok[i]);
			ck_assert_msg(m != NULL, "%zu: %s", i, iso_error());
			got = iso_msg_str(iso_msg_at(m, 0), &len);
			ck_assert_uint_eq(len, strlen(ok[i]));
			ck_assert_str_eq(got, ok[i]);
			iso_msg_free(m);
		}
		for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			errno = 0;
			ck_assert_ptr_null(iso_msg_pack("[s]", bad[i]));
			ck_assert_int_eq(errno, EINVAL);
		}
	}
}
END_TEST

START_TEST(pack_cache_errors)
{
	static const char *fmts[] = { "{s:s}", "[i s]", "[O]", "[y#]",
	    "{s:s#}", "[[[i]]]", "[[O]]" };
	char		 first[256];
	iso_msg		*m, *deep;
	size_t		 depth = iso_limit_get(ISO_LIMIT_DEPTH);
	int		 c, e1;

	deep = iso_msg_pack("[[i]]", 1);
	ck_assert_ptr_nonnull(deep);
	for (c = 0; c < 7; c++) {
		/* Uncached (a format pack has not yet packed): the slow
		   path's answer. Cases 5 and 6 fail only under a limit. */
		if (c >= 5)
			ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH,
			    c == 5 ? 2 : 3), 0);
		errno = 0;
		m = pack_case(c, fmts[c], deep, 1);
		ck_assert_msg(m == NULL, "case %d packed", c);
		e1 = errno;
		ck_assert_int_ne(e1, 0);
		snprintf(first, sizeof first, "%s", iso_error());
		ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH, depth), 0);
		/* Packed twice: cached. */
		m = pack_case(c, fmts[c], deep, 0);
		ck_assert_msg(m != NULL, "case %d: %s", c, iso_error());
		iso_msg_free(m);
		m = pack_case(c, fmts[c], deep, 0);
		ck_assert_msg(m != NULL, "case %d: %s", c, iso_error());
		iso_msg_free(m);
		if (c >= 5)
			ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH,
			    c == 5 ? 2 : 3), 0);
		errno = 0;
		m = pack_case(c, fmts[c], deep, 1);
		ck_assert_msg(m == NULL, "case %d packed from the cache", c);
		ck_assert_int_eq(errno, e1);
		ck_assert_str_eq(iso_error(), first);
		ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH, depth), 0);
	}
	iso_msg_free(deep);
}
END_TEST

START_TEST(unpack_mismatch)
{
	iso_msg		*m;
	const char	*s;
	int		 n = 77;
	double		 f;
	uint64_t	 u;
	int64_t		 i;

	m = iso_msg_pack("{s:s s:I s:i s:f}", "name", "bob", "big",
	    (int64_t)1 << 40, "neg", -1, "pi", 3.25);
	errno = 0;
	ck_assert_int_eq(iso_msg_unpack(m, "{s:i}", "name", &n), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(strstr(iso_error(), "expected int"));
	ck_assert_int_eq(iso_msg_unpack(m, "{s:i}", "missing", &n), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(strstr(iso_error(), "missing"));
	n = 77;
	ck_assert_int_eq(iso_msg_unpack(m, "{s?i s:s}", "missing", &n, "name",
	    &s), 0);
	ck_assert_int_eq(n, 77);
	ck_assert_str_eq(s, "bob");
	ck_assert_int_eq(iso_msg_unpack(m, "{s?:[i i] s:s}", "missing", &n, &n,
	    "name", &s), 0);
	errno = 0;
	ck_assert_int_eq(iso_msg_unpack(m, "{s:i}", "big", &n), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:I}", "big", &i), 0);
	ck_assert(i == (int64_t)1 << 40);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:U}", "neg", &u), -1);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:F}", "big", &f), 0);
	ck_assert(f == (double)((int64_t)1 << 40));
	ck_assert_int_eq(iso_msg_unpack(m, "{s:f}", "big", &f), -1);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:s !}", "name", &s), -1);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:s s:I s:i s:f !}", "name", &s,
	    "big", &i, "neg", &n, "pi", &f), 0);
	ck_assert_int_eq(iso_msg_unpack(m, "[i]", &n), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:i", "neg", &n), -1);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:i} i", "neg", &n, &n), -1);
	ck_assert_int_eq(iso_msg_unpack(m, "{i:i}", 1, &n), -1);
	ck_assert_int_eq(iso_msg_unpack(m, "{s:q}", "neg", &n), -1);
	ck_assert_int_eq(iso_msg_unpack(NULL, "n"), -1);
	ck_assert_int_eq(iso_msg_unpack(m, NULL), -1);
	iso_msg_free(m);

	m = iso_msg_pack("[i i]", 1, 2);
	ck_assert_int_eq(iso_msg_unpack(m, "[i]", &n), 0);
	ck_assert_int_eq(iso_msg_unpack(m, "[i !]", &n), -1);
	ck_assert_int_eq(iso_msg_unpack(m, "[i i i]", &n, &n, &n), -1);
	ck_assert_int_eq(iso_msg_unpack(m, "[i i !]", &n, &n), 0);
	ck_assert_int_eq(n, 2);
	iso_msg_free(m);
}
END_TEST

START_TEST(unpack_all_types)
{
	iso_msg		*m;
	const iso_msg	*o;
	const char	*s;
	const void	*y;
	size_t		 sl, yl;
	int		 b;
	iso_sendport	 p;

	o = NULL;
	m = iso_msg_pack("[n b s# y# P [i]]", 0, "ab", (size_t)2, "\x01",
	    (size_t)1, port_of(1, 2, 3), 9);
	ck_assert_int_eq(iso_msg_unpack(m, "[n b s# y# P O]", &b, &s, &sl, &y,
	    &yl, &p, &o), 0);
	ck_assert_int_eq(b, 0);
	ck_assert_uint_eq(sl, 2);
	ck_assert_int_eq(memcmp(s, "ab", 2), 0);
	ck_assert_uint_eq(yl, 1);
	ck_assert_uint_eq(p.port, 3);
	ck_assert_ptr_eq(o, iso_msg_at(m, 5));
	iso_msg_free(m);
}
END_TEST

START_TEST(accessors)
{
	iso_msg		*m, *k;
	const iso_msg	*v;
	int64_t		 n;

	m = iso_msg_pack("{i:s s:b [i]:n}", 1, "one", "t", 1, 2);
	ck_assert_uint_eq(iso_msg_len(m), 3);
	k = iso_msg_pack("i", 1);
	v = iso_msg_lookup(m, k);
	ck_assert_str_eq(iso_msg_str(v, NULL), "one");
	iso_msg_free(k);
	k = iso_msg_pack("[i]", 2);
	ck_assert_int_eq(iso_msg_type(iso_msg_lookup(m, k)), ISO_NIL);
	iso_msg_free(k);
	ck_assert_int_eq(iso_msg_type(iso_msg_key_at(m, 1)), ISO_STR);
	ck_assert_int_eq(iso_msg_type(iso_msg_value_at(m, 1)), ISO_BOOL);
	errno = 0;
	ck_assert_ptr_null(iso_msg_key_at(m, 3));
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_ptr_null(iso_msg_at(m, 0));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(iso_msg_get(m, "nope"));
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_ptr_null(iso_msg_get(NULL, "x"));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(iso_msg_len(NULL), 0);
	iso_msg_free(m);
	iso_msg_free(NULL);

	/* Keys that are prefixes of each other, or hold a NUL: only the
	   whole key matches. */
	m = iso_msg_pack("{s#:i s:i s:i s:i}", "a\0b", (size_t)3, 1, "ab", 2,
	    "a", 3, "", 4);
	ck_assert_int_eq(iso_msg_int(iso_msg_get(m, "a"), &n), 0);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(iso_msg_int(iso_msg_get(m, "ab"), &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(iso_msg_int(iso_msg_get(m, ""), &n), 0);
	ck_assert_int_eq(n, 4);
	ck_assert_ptr_null(iso_msg_get(m, "abc"));
	ck_assert_ptr_null(iso_msg_get(m, "b"));
	iso_msg_free(m);
}
END_TEST

START_TEST(equality)
{
	iso_msg	*a, *b;

	a = iso_msg_pack("{s:[i f s] s:n}", "a", 1, 2.0, "x", "b");
	b = iso_msg_pack("{s:[i f s] s:n}", "a", 1, 2.0, "x", "b");
	ck_assert(iso_msg_equal(a, b));
	iso_msg_free(b);
	b = iso_msg_pack("{s:n s:[i f s]}", "b", "a", 1, 2.0, "x");
	ck_assert(!iso_msg_equal(a, b));	/* order matters */
	iso_msg_free(b);
	b = iso_msg_pack("{s:[i i s] s:n}", "a", 1, 2, "x", "b");
	ck_assert(!iso_msg_equal(a, b));	/* 2.0 is not 2 */
	iso_msg_free(b);
	iso_msg_free(a);

	a = iso_msg_pack("f", NAN);
	b = iso_msg_pack("f", NAN);
	ck_assert(iso_msg_equal(a, b));
	iso_msg_free(b);
	b = iso_msg_pack("f", 0.0);
	iso_msg_free(a);
	a = iso_msg_pack("f", -0.0);
	ck_assert(!iso_msg_equal(a, b));
	iso_msg_free(a);
	iso_msg_free(b);
	a = iso_msg_pack("U", (uint64_t)5);
	b = iso_msg_pack("i", 5);
	ck_assert(iso_msg_equal(a, b));
	iso_msg_free(a);
	iso_msg_free(b);
	a = iso_msg_pack("P", port_of(1, 2, 3));
	b = iso_msg_pack("P", port_of(1, 2, 4));
	ck_assert(!iso_msg_equal(a, b));
	iso_msg_free(a);
	iso_msg_free(b);
}
END_TEST

START_TEST(copy)
{
	iso_msg	*a, *b;

	a = iso_msg_pack("{s:[i f s y#] s:P}", "a", 1, 2.0, "x", "\0\1",
	    (size_t)2, "p", port_of(5, 6, 7));
	b = iso_msg_copy(a);
	ck_assert_ptr_nonnull(b);
	ck_assert(iso_msg_equal(a, b));
	iso_msg_free(a);
	ck_assert_uint_eq(iso_msg_len(iso_msg_at(iso_msg_get(b, "a"), 3)), 2);
	iso_msg_free(b);
	ck_assert_ptr_null(iso_msg_copy(NULL));
}
END_TEST

/* Y# borrows the caller's bytes, through the slow path and the compiled
   format alike; what is made from the message copies them. */
START_TEST(pack_borrows_Y)
{
	enum { N = 1000 };
	unsigned char	*buf = malloc(N), *keep;
	iso_msg		*m, *c, *o, *out;
	const void	*p;
	void		*enc;
	size_t		 len, k;
	int		 round;

	ck_assert_ptr_nonnull(buf);
	for (k = 0; k < N; k++)
		buf[k] = (unsigned char)(k * 7);
	keep = malloc(N);
	memcpy(keep, buf, N);
	for (round = 0; round < 3; round++) {	/* slow, then cached */
		m = iso_msg_pack("{s:Y# s:y#}", "b", buf, (size_t)N, "c", buf,
		    (size_t)N);
		ck_assert_msg(m != NULL, "pack: %s", iso_error());
		p = iso_msg_bytes(iso_msg_get(m, "b"), &len);
		ck_assert_ptr_eq(p, buf);
		ck_assert_uint_eq(len, N);
		ck_assert_ptr_ne(iso_msg_bytes(iso_msg_get(m, "c"), NULL), buf);
		iso_msg_free(m);
	}
	m = iso_msg_pack("[Y#]", buf, (size_t)N);
	ck_assert_ptr_eq(iso_msg_bytes(iso_msg_at(m, 0), NULL), buf);
	c = iso_msg_copy(m);
	o = iso_msg_pack("[O]", m);
	ck_assert_int_eq(iso_msg_encode(m, &enc, &len), 0);
	iso_msg_free(m);	/* must not touch buf */
	memset(buf, 0, N);	/* nor may what was made from m see this */
	free(buf);
	ck_assert_int_eq(memcmp(iso_msg_bytes(iso_msg_at(c, 0), NULL), keep,
	    N), 0);
	ck_assert_int_eq(memcmp(iso_msg_bytes(iso_msg_at(iso_msg_at(o, 0), 0),
	    NULL), keep, N), 0);
	out = iso_msg_decode(enc, len);
	ck_assert(iso_msg_equal(out, c));
	free(enc);
	iso_msg_free(out);
	iso_msg_free(o);
	iso_msg_free(c);
	free(keep);

	/* empty, and the errors y# has */
	m = iso_msg_pack("Y#", NULL, (size_t)0);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(iso_msg_type(m), ISO_BYTES);
	ck_assert_ptr_nonnull(iso_msg_bytes(m, &len));
	ck_assert_uint_eq(len, 0);
	iso_msg_free(m);
	errno = 0;
	ck_assert_ptr_null(iso_msg_pack("Y#", NULL, (size_t)1));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(iso_msg_pack("[Y]", "x"));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(strstr(iso_error(), "Y without #"));
	errno = 0;
	ck_assert_ptr_null(iso_msg_pack("Y#", "x", (size_t)UINT32_MAX + 1));
	ck_assert_int_eq(errno, EMSGSIZE);
}
END_TEST

static void *
spares_thread(void *arg)
{
	iso_msg	*m[8];
	int	 i;

	(void)arg;
	for (i = 0; i < 8; i++)
		m[i] = iso_msg_pack("{s:i}", "msg", i);
	for (i = 0; i < 8; i++)
		iso_msg_free(m[i]);	/* some kept as the thread's spares */
	return (NULL);
}

/* The blocks a thread keeps for its next messages are freed when it
   ends: LeakSanitizer (make SAN=1) finds nothing left behind. */
START_TEST(spares_freed_at_thread_end)
{
	pthread_t	t;
	int		i;

	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(pthread_create(&t, NULL, spares_thread, NULL),
		    0);
		ck_assert_int_eq(pthread_join(t, NULL), 0);
	}
#if defined(__SANITIZE_ADDRESS__)
	ck_assert_int_eq(__lsan_do_recoverable_leak_check(), 0);
#endif
}
END_TEST

static pthread_key_t	late_key;
static int		late_packed;	/* what late_free packed read back */

/* A destructor that runs after the library's: frees what it held, and
   packs a format the thread had not (its cache of formats let go). */
static void
late_free(void *arg)
{
	iso_msg		**m = arg;
	iso_msg		 *p;
	const char	 *s = NULL;
	int		  i, n = 0;

	for (i = 0; i < 6; i++)
		iso_msg_free(m[i]);
	free(m);
	p = iso_msg_pack("[s i]", "late", 7);
	late_packed = p != NULL && iso_msg_unpack(p, "[s i]", &s, &n) == 0 &&
	    strcmp(s, "late") == 0 && n == 7;
	iso_msg_free(p);
}

static void *
late_thread(void *arg)
{
	iso_msg	**m = malloc(6 * sizeof *m);
	int	  i;

	(void)arg;
	for (i = 0; i < 6; i++)
		m[i] = iso_msg_pack("{s:i}", "late", i);
	iso_msg_free(iso_msg_pack("i", 1));	/* the thread's spares begin */
	pthread_setspecific(late_key, m);
	return (NULL);
}

/* Messages freed by a thread-specific destructor that runs after the
   library let go of the thread's spares are freed, not kept; a message
   packed there is whole. */
START_TEST(spares_after_thread_end)
{
	pthread_t	t;

	iso_msg_free(iso_msg_pack("i", 1));	/* the library's key first */
	ck_assert_int_eq(pthread_key_create(&late_key, late_free), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, late_thread, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert(late_packed);
	ck_assert_int_eq(pthread_key_delete(late_key), 0);
#if defined(__SANITIZE_ADDRESS__)
	ck_assert_int_eq(__lsan_do_recoverable_leak_check(), 0);
#endif
}
END_TEST

START_TEST(grow_list)
{
	iso_msg	*list, *inner, *expect;
	int64_t	 v;
	int	 k;

	list = iso_msg_pack("[i]", -1);
	for (k = 0; k < 1000; k++)
		ck_assert_int_eq(iso_msg_append(list, iso_msg_pack("i", k)), 0);
	ck_assert_uint_eq(iso_msg_len(list), 1001);
	for (k = 0; k < 1000; k++) {
		ck_assert_int_eq(iso_msg_int(iso_msg_at(list, (size_t)k + 1),
		    &v), 0);
		ck_assert_int_eq(v, k);
	}
	/* an inner list that itself grew, then moved */
	inner = iso_msg_pack("[]");
	ck_assert_int_eq(iso_msg_append(inner, iso_msg_pack("s", "a")), 0);
	ck_assert_int_eq(iso_msg_append(inner, iso_msg_pack("s", "b")), 0);
	ck_assert_int_eq(iso_msg_append(list, inner), 0);
	expect = iso_msg_pack("[s s]", "a", "b");
	ck_assert(iso_msg_equal(iso_msg_at(list, 1001), expect));
	iso_msg_free(expect);
	errno = 0;
	ck_assert_int_eq(iso_msg_append(list, list), -1);
	ck_assert_int_eq(errno, EINVAL);
	inner = iso_msg_pack("{}");
	ck_assert_int_eq(iso_msg_append(inner, iso_msg_pack("n")), -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_msg_free(inner);
	iso_msg_free(list);
}
END_TEST

START_TEST(grow_map)
{
	iso_msg		*map, *expect;
	int		 n;

	map = iso_msg_pack("{s:i}", "a", 1);
	ck_assert_int_eq(iso_msg_put(map, iso_msg_pack("s", "b"),
	    iso_msg_pack("i", 2)), 0);
	ck_assert_int_eq(iso_msg_put(map, iso_msg_pack("s", "a"),
	    iso_msg_pack("[i]", 3)), 0);
	ck_assert_int_eq(iso_msg_put(map, iso_msg_pack("i", 7),
	    iso_msg_pack("n")), 0);
	ck_assert_int_eq(iso_msg_put(map, iso_msg_pack("s", "a"),
	    iso_msg_pack("s", "last")), 0);
	expect = iso_msg_pack("{s:s s:i i:n}", "a", "last", "b", 2, 7);
	ck_assert(iso_msg_equal(map, expect));
	iso_msg_free(expect);
	ck_assert_int_eq(iso_msg_unpack(map, "{s:i}", "b", &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(iso_msg_put(map, NULL, iso_msg_pack("n")), -1);
	ck_assert_int_eq(errno, EINVAL);
	iso_msg_free(map);
}
END_TEST

START_TEST(grow_depth)
{
	iso_msg	*m;
	char	*f;

	f = brackets(31);
	m = iso_msg_pack("[]");
	ck_assert_int_eq(iso_msg_append(m, iso_msg_pack(f)), 0);
	ck_assert_int_eq(iso_msg_append(m, iso_msg_pack("[O]",
	    iso_msg_at(m, 0))), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	free(f);
	iso_msg_free(m);
}
END_TEST

START_TEST(limits)
{
	ck_assert_uint_eq(iso_limit_get(ISO_LIMIT_FRAME), 256u << 20);
	ck_assert_uint_eq(iso_limit_get(ISO_LIMIT_DEPTH), 32);
	ck_assert_uint_eq(iso_limit_get(ISO_LIMIT_NODES), 8u << 20);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH, 33), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, 0), -1);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_FRAME, (size_t)1 << 33), -1);
	ck_assert_int_eq(iso_limit_set((enum iso_limit)42, 1), -1);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH, 2), 0);
	ck_assert_ptr_null(iso_msg_pack("[[[]]]"));
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_DEPTH, 32), 0);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, 3), 0);
	ck_assert_ptr_null(iso_msg_pack("[i i i]", 1, 2, 3));
	ck_assert_int_eq(errno, EMSGSIZE);
	ck_assert_int_eq(iso_limit_set(ISO_LIMIT_NODES, 8u << 20), 0);
}
END_TEST

static Suite *
msg_suite(void)
{
	Suite	*s = suite_create("msg");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, pack_scalars);
	tcase_add_test(tc, pack_nullable);
	tcase_add_test(tc, pack_nested);
	tcase_add_test(tc, pack_copies_O);
	tcase_add_test(tc, pack_errors);
	tcase_add_test(tc, pack_depth);
	tcase_add_test(tc, pack_long_format);
	tcase_add_test(tc, pack_cache_same_tree);
	tcase_add_test(tc, pack_cache_stale);
	tcase_add_test(tc, pack_cache_errors);
	tcase_add_test(tc, pack_cache_strings);
	tcase_add_test(tc, unpack_mismatch);
	tcase_add_test(tc, unpack_all_types);
	tcase_add_test(tc, accessors);
	tcase_add_test(tc, equality);
	tcase_add_test(tc, copy);
	tcase_add_test(tc, pack_borrows_Y);
	tcase_add_test(tc, spares_freed_at_thread_end);
	tcase_add_test(tc, spares_after_thread_end);
	tcase_add_test(tc, grow_list);
	tcase_add_test(tc, grow_map);
	tcase_add_test(tc, grow_depth);
	tcase_add_test(tc, limits);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(msg_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
