/*
 * bench_msg.c: message encode/decode against msgpack-c's own pack/unpack
 * of the same value, in the same run. Prints a table of medians with the
 * spread over rounds and the ratio isolate / msgpack-c.
 *
 *   {"msg": n}  pack + encode + decode + free, ns per message
 *   1 MiB bytes pack + encode + decode + free, MB/s
 *
 * QUICK=1 in the environment runs a few rounds of fewer iterations.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "isolate.h"
#include "wire.h"

#define ROUNDS_MAX	15

static volatile uint64_t	sink;

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

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
			abort();
		len = wire_encode_to(m, buf);
		if ((out = iso_msg_decode(buf, len)) == NULL)
			abort();
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
			abort();
		sink += up.data.via.map.size;
		msgpack_unpacked_destroy(&up);
	}
	msgpack_sbuffer_destroy(&sb);
}

static char	*big;
static size_t	 big_len = 1u << 20;

static void
iso_big(long iters)
{
	iso_msg	*m, *out;
	void	*buf;
	size_t	 len;
	long	 k;

	for (k = 0; k < iters; k++) {
		m = iso_msg_pack("y#", big, big_len);
		if (iso_msg_encode(m, &buf, &len) == -1 ||
		    (out = iso_msg_decode(buf, len)) == NULL)
			abort();
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
			abort();
		sink += ((const unsigned char *)up.data.via.bin.ptr)[k %
		    (long)big_len];
		msgpack_unpacked_destroy(&up);
		msgpack_sbuffer_destroy(&sb);
	}
}

struct result {
	double	med, lo, hi;
};

/* Seconds per iteration over rounds, interleaving the two contenders. */
static void
measure(void (*a)(long), void (*b)(long), long iters, int rounds,
    struct result *ra, struct result *rb)
{
	double	ta[ROUNDS_MAX], tb[ROUNDS_MAX], t;
	int	r;

	a(iters / 10 + 1);
	b(iters / 10 + 1);
	for (r = 0; r < rounds; r++) {
		t = now();
		a(iters);
		ta[r] = (now() - t) / (double)iters;
		t = now();
		b(iters);
		tb[r] = (now() - t) / (double)iters;
	}
	qsort(ta, (size_t)rounds, sizeof ta[0], cmp_double);
	qsort(tb, (size_t)rounds, sizeof tb[0], cmp_double);
	ra->med = ta[rounds / 2];
	ra->lo = ta[0];
	ra->hi = ta[rounds - 1];
	rb->med = tb[rounds / 2];
	rb->lo = tb[0];
	rb->hi = tb[rounds - 1];
}

int
main(void)
{
	struct result	ri, rm;
	int		quick = getenv("QUICK") != NULL &&
			    strcmp(getenv("QUICK"), "0") != 0;
	int		rounds = quick ? 3 : 9;
	double		mb = (double)big_len / 1e6;

	if ((big = malloc(big_len)) == NULL)
		return (1);
	memset(big, 0x5a, big_len);

	printf("bench_msg: %d rounds, median [min-max]\n", rounds);
	printf("%-34s %22s %22s %8s\n", "benchmark", "isolate", "msgpack-c",
	    "ratio");

	measure(iso_small, mp_small, quick ? 200000 : 2000000, rounds, &ri,
	    &rm);
	printf("%-34s %8.0f ns [%4.0f-%4.0f] %8.0f ns [%4.0f-%4.0f] %7.2fx\n",
	    "{\"msg\": n} pack+encode+decode", ri.med * 1e9, ri.lo * 1e9,
	    ri.hi * 1e9, rm.med * 1e9, rm.lo * 1e9, rm.hi * 1e9,
	    ri.med / rm.med);

	measure(iso_big, mp_big, quick ? 100 : 1000, rounds, &ri, &rm);
	printf("%-34s %6.0f MB/s [%4.0f-%4.0f] %6.0f MB/s [%4.0f-%4.0f] "
	    "%7.2fx\n", "1 MiB bytes pack+encode+decode", mb / ri.med,
	    mb / ri.hi, mb / ri.lo, mb / rm.med, mb / rm.hi, mb / rm.lo,
	    rm.med / ri.med);
	printf("ratio: isolate time / msgpack-c time for {\"msg\": n}, "
	    "isolate MB/s / msgpack-c MB/s for 1 MiB\n");
	free(big);
	return (0);
}
