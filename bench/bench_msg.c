/*
 * bench_msg.c: message encode/decode against msgpack-c's own pack/unpack
 * of the same value, in the same run, rounds alternating between the two
 * (impls "isolate" and "msgpack-c"); one JSON line a measurement
 * (benchutil.h):
 *
 *   codec_small  {"msg": n} pack + encode + decode + free, ns a message
 *   codec_1mib   1 MiB bytes pack + encode + decode + free, MB/s: impl
 *                "isolate" the path for speed, the bytes borrowed at pack
 *                (Y#) and at decode (iso_msg_decode_borrow), so copied
 *                once, by the encode, as msgpack-c copies them once into
 *                its sbuffer; impl "copy" the copying path (y#,
 *                iso_msg_decode), three copies
 *
 * QUICK=1 in the environment runs a few rounds of fewer iterations.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "benchutil.h"
#include "isolate.h"
#include "wire.h"

static volatile uint64_t	sink;

/* isolate: the connection's path, encoding into a reused buffer. */
static void
iso_small(long iters)
{
	static char	 buf[64];
	iso_msg		*m, *out;
	size_t		 bound, len;
	long		 k;

	for (k = 0; k < iters; k++) {
		m = iso_msg_pack("{s:i}", "msg", (int)k);
		if (wire_bound(m, &bound) == -1 || bound > sizeof buf)
			bench_fail("codec_small: %s", iso_error());
		len = wire_encode_to(m, buf);
		if ((out = iso_msg_decode(buf, len)) == NULL)
			bench_fail("codec_small: %s", iso_error());
		sink += iso_msg_len(out);
		iso_msg_free(out);
		iso_msg_free(m);
	}
}

static void
mp_small(long iters)
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
			bench_fail("msgpack-c: unpack failed");
		sink += up.data.via.map.size;
		msgpack_unpacked_destroy(&up);
	}
	msgpack_sbuffer_destroy(&sb);
}

static char	*big;
static size_t	 big_len = 1u << 20;

/* The caller's bytes borrowed at pack, the input's at decode. */
static void
iso_big(long iters)
{
	iso_msg	*m, *out;
	void	*buf;
	size_t	 len;
	long	 k;

	for (k = 0; k < iters; k++) {
		m = iso_msg_pack("Y#", big, big_len);
		if (iso_msg_encode(m, &buf, &len) == -1 ||
		    (out = iso_msg_decode_borrow(buf, len)) == NULL)
			bench_fail("codec_1mib: %s", iso_error());
		sink += ((const unsigned char *)iso_msg_bytes(out, NULL))[k %
		    (long)big_len];
		iso_msg_free(out);
		free(buf);
		iso_msg_free(m);
	}
}

/* Every step copies: pack, encode, decode. */
static void
iso_big_copy(long iters)
{
	iso_msg	*m, *out;
	void	*buf;
	size_t	 len;
	long	 k;

	for (k = 0; k < iters; k++) {
		m = iso_msg_pack("y#", big, big_len);
		if (iso_msg_encode(m, &buf, &len) == -1 ||
		    (out = iso_msg_decode(buf, len)) == NULL)
			bench_fail("codec_1mib: %s", iso_error());
		sink += ((const unsigned char *)iso_msg_bytes(out, NULL))[k %
		    (long)big_len];
		iso_msg_free(out);
		free(buf);
		iso_msg_free(m);
	}
}

static void
mp_big(long iters)
{
	msgpack_sbuffer		sb;
	msgpack_packer		pk;
	msgpack_unpacked	up;
	long			k;
	size_t			off;

	for (k = 0; k < iters; k++) {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_bin_with_body(&pk, big, big_len);
		msgpack_unpacked_init(&up);
		off = 0;
		if (msgpack_unpack_next(&up, sb.data, sb.size, &off) !=
		    MSGPACK_UNPACK_SUCCESS)
			bench_fail("msgpack-c: unpack failed");
		sink += ((const unsigned char *)up.data.via.bin.ptr)[k %
		    (long)big_len];
		msgpack_unpacked_destroy(&up);
		msgpack_sbuffer_destroy(&sb);
	}
}

/* Seconds per iteration over rounds of each of n contenders fn[i] into
   t[i], the contenders interleaved in every round. */
static void
measure(void (*const *fn)(long), int n, long iters, int rounds,
    double (*t)[BENCH_ROUNDS_MAX])
{
	double	t0;
	int	i, r;

	for (i = 0; i < n; i++)
		fn[i](iters / 10 + 1);
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < n; i++) {
			t0 = bench_now();
			fn[i](iters);
			t[i][r] = (bench_now() - t0) / (double)iters;
		}
	}
}

/* Seconds per iteration to a unit: x scale, or scale / x (a rate). */
static void
convert(double *v, int n, double scale, int rate)
{
	int	r;

	for (r = 0; r < n; r++)
		v[r] = rate ? scale / v[r] : v[r] * scale;
}

int
main(void)
{
	static void (*const small[])(long) = { iso_small, mp_small };
	static void (*const large[])(long) = { iso_big, mp_big, iso_big_copy };
	double	t[3][BENCH_ROUNDS_MAX];
	int	quick = bench_quick(), rounds = quick ? 3 : 9;
	double	mb = (double)big_len / 1e6;

	bench_init("bench_msg", 300);
	if ((big = malloc(big_len)) == NULL)
		bench_fail("out of memory");
	memset(big, 0x5a, big_len);

	measure(small, 2, quick ? 200000 : 2000000, rounds, t);
	convert(t[0], rounds, 1e9, 0);
	convert(t[1], rounds, 1e9, 0);
	bench_emit("codec_small", "msgpack-c", "ns", "lower", t[1], rounds);
	bench_emit("codec_small", "isolate", "ns", "lower", t[0], rounds);

	measure(large, 3, quick ? 100 : 1000, rounds, t);
	convert(t[0], rounds, mb, 1);
	convert(t[1], rounds, mb, 1);
	convert(t[2], rounds, mb, 1);
	bench_emit("codec_1mib", "msgpack-c", "MB/s", "higher", t[1], rounds);
	bench_emit("codec_1mib", "isolate", "MB/s", "higher", t[0], rounds);
	bench_emit("codec_1mib", "copy", "MB/s", "higher", t[2], rounds);
	free(big);
	return (0);
}
