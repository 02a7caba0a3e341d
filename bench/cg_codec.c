/*
 * cg_codec.c: the codec's hot paths at a fixed count, for instruction
 * counts under callgrind rather than time (repeatable on a busy machine).
 * Not one of the bench_* programs: it prints nothing but a checksum, and
 * make does not build it. One mode a run, its own count of iterations
 * unless a second argument gives one (for timing it natively):
 *
 *   small    bench_msg's codec_small: {"msg": k} pack, encode, decode
 *   mpsmall  the same with msgpack-c (bench_msg's baseline)
 *   big      bench_msg's codec_1mib: 1 MiB bytes pack (Y#), encode,
 *            decode (iso_msg_decode_borrow)
 *   bigcopy  the same copying (y#, iso_msg_decode)
 *   mpbig    the same with msgpack-c
 *   rt       one round trip's codec work, both sides: pack {"msg": n},
 *            encode, decode in place (wire_decode_in), unpack {s:i}
 *   nested   decode of a tree with every type and length form
 *   inplace  wire_decode_in of a list with no strings (nodes in the head)
 *   pack     the pack cache (scalars, strings, O) and the slow path
 *   unpack   iso_msg_unpack of scalars, strings, lists, optional keys
 *
 *   cc -O2 -g -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilib bench/cg_codec.c \
 *       build/libisolate.a \
 *       $(pkg-config --libs libevent msgpack jansson libseccomp) \
 *       -o build/cg_codec
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null \
 *       build/cg_codec small 2>&1 | grep refs
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "isolate.h"
#include "msg.h"
#include "wire.h"

static volatile uint64_t	sink;

static void
die(const char *what)
{
	fprintf(stderr, "cg_codec: %s: %s\n", what, iso_error());
	exit(1);
}

static void
small(long iters)
{
	static char	 buf[64];
	iso_msg		*m, *out;
	size_t		 bound, len;
	long		 k;

	for (k = 0; k < iters; k++) {
		m = iso_msg_pack("{s:i}", "msg", (int)k);
		if (wire_bound(m, &bound) == -1 || bound > sizeof buf)
			die("small");
		len = wire_encode_to(m, buf);
		if ((out = iso_msg_decode(buf, len)) == NULL)
			die("small");
		sink += iso_msg_len(out);
		iso_msg_free(out);
		iso_msg_free(m);
	}
}

static void
mpsmall(long iters)
{
	msgpack_sbuffer		sb;
	msgpack_packer		pk;
	msgpack_unpacked	up;
	long			k;
	size_t			off;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	for (k = 0; k < iters; k++) {
		msgpack_sbuffer_clear(&sb);
		msgpack_pack_map(&pk, 1);
		msgpack_pack_str_with_body(&pk, "msg", 3);
		msgpack_pack_int(&pk, (int)k);
		msgpack_unpacked_init(&up);
		off = 0;
		if (msgpack_unpack_next(&up, sb.data, sb.size, &off) !=
		    MSGPACK_UNPACK_SUCCESS)
			die("mpsmall");
		sink += up.data.via.map.size;
		msgpack_unpacked_destroy(&up);
	}
	msgpack_sbuffer_destroy(&sb);
}

static char	data[1 << 20];

static void
big_as(long iters, int borrow)
{
	iso_msg		*m, *out;
	void		*buf;
	size_t		 len;
	long		 k;

	memset(data, 0x5a, sizeof data);
	for (k = 0; k < iters; k++) {
		m = iso_msg_pack(borrow ? "Y#" : "y#", data, sizeof data);
		if (iso_msg_encode(m, &buf, &len) == -1 ||
		    (out = borrow ? iso_msg_decode_borrow(buf, len) :
		    iso_msg_decode(buf, len)) == NULL)
			die("big");
		sink += ((const unsigned char *)iso_msg_bytes(out, NULL))[k];
		iso_msg_free(out);
		free(buf);
		iso_msg_free(m);
	}
}

static void
big(long iters)
{
	big_as(iters, 1);
}

static void
bigcopy(long iters)
{
	big_as(iters, 0);
}

static void
mpbig(long iters)
{
	msgpack_sbuffer		sb;
	msgpack_packer		pk;
	msgpack_unpacked	up;
	long			k;
	size_t			off;

	memset(data, 0x5a, sizeof data);
	for (k = 0; k < iters; k++) {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_bin_with_body(&pk, data, sizeof data);
		msgpack_unpacked_init(&up);
		off = 0;
		if (msgpack_unpack_next(&up, sb.data, sb.size, &off) !=
		    MSGPACK_UNPACK_SUCCESS)
			die("mpbig");
		sink += ((const unsigned char *)up.data.via.bin.ptr)[k];
		msgpack_unpacked_destroy(&up);
		msgpack_sbuffer_destroy(&sb);
	}
}

#define HEAD	(8 * sizeof(iso_msg))	/* conn.c's IN_HEAD */

/* Encode m into a block with HEAD bytes free before it, then decode it
   there as conn.c does. */
static iso_msg *
through(const iso_msg *m)
{
	size_t	 bound, len;
	char	*block;
	iso_msg	*out;
	int	 taken;

	if (wire_bound(m, &bound) == -1 ||
	    (block = malloc(HEAD + bound)) == NULL)
		die("through");
	len = wire_encode_to(m, block + HEAD);
	if ((out = wire_decode_in(block, HEAD, block + HEAD, len, &taken,
	    NULL)) == NULL)
		die("through");
	if (!taken)
		free(block);
	return (out);
}

static void
rt(long iters)
{
	iso_msg	*m, *out;
	long	 k;
	int	 n, side;

	for (k = 0; k < iters; k++) {
		for (side = 0; side < 2; side++) {
			if ((m = iso_msg_pack("{s:i}", "msg",
			    (int)(k & 0x7f))) == NULL)
				die("rt");
			out = through(m);
			if (iso_msg_unpack(out, "{s:i}", "msg", &n) == -1)
				die("rt");
			sink += (uint64_t)n;
			iso_msg_free(out);
			iso_msg_free(m);
		}
	}
}

static void
nested(long iters)
{
	static char	 blob[300], text[70000];
	iso_sendport	 sp = { 0x0102030405060708ULL, 4242, 7 };
	iso_msg		*m, *inner, *out;
	void		*buf;
	size_t		 len;
	long		 k;
	int		 i;

	memset(blob, 1, sizeof blob);
	memset(text, 'x', sizeof text - 1);
	if ((inner = iso_msg_pack("[]")) == NULL)
		die("nested");
	for (i = 0; i < 20; i++)
		if (iso_msg_append(inner, iso_msg_pack("{s:I s:f s:b s:n}",
		    "v", (int64_t)i * -1000003, "f", i / 3.0, "b", i & 1,
		    "z")) == -1)
			die("nested");
	m = iso_msg_pack("{s:[i i i I I U] s:{s:s s:s s:y#} s:[P P] s:O "
	    "s:f}", "ints", -1, -200, 40000, (int64_t)-5000000000LL,
	    (int64_t)70000, (uint64_t)UINT64_MAX, "strs", "a", "short",
	    "b", text + sizeof text - 1 - 40, "c", blob, sizeof blob,
	    "ports", sp, sp, "items", inner, "g", 2.5);
	if (m == NULL || iso_msg_encode(m, &buf, &len) == -1)
		die("nested");
	for (k = 0; k < iters; k++) {
		if ((out = iso_msg_decode(buf, len)) == NULL)
			die("nested");
		sink += iso_msg_len(out);
		iso_msg_free(out);
	}
	free(buf);
	iso_msg_free(inner);
	iso_msg_free(m);
}

static void
inplace(long iters)
{
	iso_sendport	 sp = { 1, 2, 3 };
	iso_msg		*m, *out;
	long		 k;

	for (k = 0; k < iters; k++) {
		if ((m = iso_msg_pack("[I P f b]", (int64_t)k * 1000, sp,
		    1.5, 1)) == NULL)
			die("inplace");
		out = through(m);
		sink += iso_msg_len(out);
		iso_msg_free(out);
		iso_msg_free(m);
	}
}

static void
pack(long iters)
{
	iso_sendport	 sp = { 1, 2, 3 };
	iso_msg		*o, *m;
	long		 k;

	if ((o = iso_msg_pack("[i i]", 1, 2)) == NULL)
		die("pack");
	for (k = 0; k < iters; k++) {
		m = iso_msg_pack("{s:i s:I s:U s:f s:b s:n}", "a", (int)k,
		    "b", (int64_t)k, "c", (uint64_t)k, "d", 0.5, "e", 1, "f");
		sink += iso_msg_len(m);
		iso_msg_free(m);
		m = iso_msg_pack("[s s# s? y# P [i [i]]]", "héllo", "abcdef",
		    (size_t)3, NULL, "xy", (size_t)2, sp, 1, 2);
		sink += iso_msg_len(m);
		iso_msg_free(m);
		m = iso_msg_pack("{s:O s:O? s:i}", "o", o, "p", NULL, "n", 3);
		sink += iso_msg_len(m);
		iso_msg_free(m);
		/* Over the cache's text limit: the slow path every time. */
		m = iso_msg_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
		    "s:i}", "a", 1, "b", 2, "c", 3, "d", 4, "e", 5, "f", 6,
		    "g", 7, "h", 8, "i", (int)k);
		sink += iso_msg_len(m);
		iso_msg_free(m);
	}
	iso_msg_free(o);
}

static void
unpack(long iters)
{
	iso_sendport	 sp = { 1, 2, 3 }, psp;
	iso_msg		*m, *l;
	const iso_msg	*o;
	const char	*s, *y, *z;
	size_t		 ylen;
	int64_t		 I;
	uint64_t	 U;
	double		 f, F;
	long		 k;
	int		 i, b, i1, i2;

	m = iso_msg_pack("{s:i s:I s:U s:f s:b s:n s:s s:y# s:P s:[i i] "
	    "s:O}", "i", 7, "I", (int64_t)-9, "U", (uint64_t)9, "f", 0.25,
	    "b", 1, "n", "s", "str", "y", "by", (size_t)2, "P", sp, "l", 1, 2,
	    "o", l = iso_msg_pack("[]"));
	if (m == NULL)
		die("unpack");
	for (k = 0; k < iters; k++) {
		if (iso_msg_unpack(m, "{s:i s:I s:U s:f s:F s:b s:n s:s s:y# "
		    "s:P s:[i i!] s:O s?s}", "i", &i, "I", &I, "U", &U, "f",
		    &f, "I", &F, "b", &b, "n", "s", &s, "y", &y, &ylen, "P",
		    &psp, "l", &i1, &i2, "o", &o, "absent", &z) == -1)
			die("unpack");
		sink += (uint64_t)i + (uint64_t)b + ylen;
		if (iso_msg_unpack(m, "{s:s}", "i", &s) == 0 ||
		    iso_msg_unpack(m, "{s:s !}", "s", &s) == 0)
			die("unpack: no error");
	}
	iso_msg_free(l);
	iso_msg_free(m);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char	*name;
		void		(*fn)(long);
		long		 iters;
	} modes[] = {
		{ "small", small, 200000 },
		{ "mpsmall", mpsmall, 200000 },
		{ "big", big, 20 },
		{ "bigcopy", bigcopy, 20 },
		{ "mpbig", mpbig, 20 },
		{ "rt", rt, 100000 },
		{ "nested", nested, 20000 },
		{ "inplace", inplace, 200000 },
		{ "pack", pack, 50000 },
		{ "unpack", unpack, 50000 },
	};
	size_t	i;

	for (i = 0; (argc == 2 || argc == 3) &&
	    i < sizeof modes / sizeof modes[0]; i++) {
		if (strcmp(argv[1], modes[i].name) == 0) {
			modes[i].fn(argc == 3 ? atol(argv[2]) : modes[i].iters);
			printf("%llu\n", (unsigned long long)sink);
			return (0);
		}
	}
	fprintf(stderr, "usage: cg_codec small|mpsmall|big|bigcopy|mpbig|rt|"
	    "nested|inplace|pack|unpack [iterations]\n");
	return (2);
}
