/*
 * oracle.h: msgpack-c as the test oracle of iso_msg_decode, for the fuzz
 * targets and check_wire. Whatever iso_msg_decode accepts, msgpack_unpack
 * must parse whole from the same bytes to the same tree, and
 * iso_msg_decode_borrow must decode to the same message (and refuse what
 * it refuses). Only bytes that
 * iso_msg_decode accepted are given to msgpack-c: on hostile bytes it
 * allocates what a count claims before it looks for the items.
 */
#ifndef ISO_FUZZ_ORACLE_H
#define ISO_FUZZ_ORACLE_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "isolate.h"
#include "msg.h"
#include "wire.h"

static uint64_t
oracle_be(const unsigned char *p, int n)
{
	uint64_t	v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return (v);
}

/* 1 if message m is what msgpack-c made of the same bytes. */
static int
oracle_same(const msgpack_object *o, const iso_msg *m)
{
	const unsigned char	*p;
	const char		*s;
	iso_sendport		 port;
	uint64_t		 u;
	int64_t			 i;
	double			 f;
	size_t			 len;
	uint32_t		 k;
	int			 b;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return (iso_msg_type(m) == ISO_NIL);
	case MSGPACK_OBJECT_BOOLEAN:
		return (iso_msg_bool(m, &b) == 0 && b == o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return (iso_msg_uint(m, &u) == 0 && u == o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return (iso_msg_int(m, &i) == 0 && i == o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return (iso_msg_float(m, &f) == 0 &&
		    memcmp(&f, &o->via.f64, sizeof f) == 0);
	case MSGPACK_OBJECT_STR:
		s = iso_msg_str(m, &len);
		return (s != NULL && len == o->via.str.size &&
		    (len == 0 || memcmp(s, o->via.str.ptr, len) == 0) &&
		    s[len] == '\0');
	case MSGPACK_OBJECT_BIN:
		s = iso_msg_bytes(m, &len);
		return (iso_msg_type(m) == ISO_BYTES &&
		    len == o->via.bin.size &&
		    (len == 0 || memcmp(s, o->via.bin.ptr, len) == 0));
	case MSGPACK_OBJECT_ARRAY:
		if (iso_msg_type(m) != ISO_LIST ||
		    iso_msg_len(m) != o->via.array.size)
			return (0);
		for (k = 0; k < o->via.array.size; k++)
			if (!oracle_same(&o->via.array.ptr[k], iso_msg_at(m, k)))
				return (0);
		return (1);
	case MSGPACK_OBJECT_MAP:
		if (iso_msg_type(m) != ISO_MAP ||
		    iso_msg_len(m) != o->via.map.size)
			return (0);
		for (k = 0; k < o->via.map.size; k++)
			if (!oracle_same(&o->via.map.ptr[k].key,
			    iso_msg_key_at(m, k)) ||
			    !oracle_same(&o->via.map.ptr[k].val,
			    iso_msg_value_at(m, k)))
				return (0);
		return (1);
	case MSGPACK_OBJECT_EXT:
		if (o->via.ext.type == 2)	/* a descriptor */
			return (o->via.ext.size == 1 &&
			    o->via.ext.ptr[0] == 0 &&
			    iso_msg_type(m) == ISO_FD);
		if (o->via.ext.type != 1 || o->via.ext.size != 16 ||
		    iso_msg_sendport(m, &port) == -1)
			return (0);
		p = (const unsigned char *)o->via.ext.ptr;
		return (port.isolate == oracle_be(p, 8) &&
		    port.pid == (uint32_t)oracle_be(p + 8, 4) &&
		    port.port == (uint32_t)oracle_be(p + 12, 4));
	}
	return (0);
}

/*
 * Decode buf with iso_msg_decode and, when it accepts, with msgpack-c:
 * 1 when they agree (or iso_msg_decode refused with EBADMSG or EMSGSIZE),
 * 0 when they differ. *out (may be NULL) gets the message.
 */
/*
 * Decode buf as a frame that came with ORACLE_FDS descriptors (duplicates
 * of /dev/null): the decoder without any must refuse a frame that refers
 * to one (EBADMSG), and with them it takes one per reference, in order;
 * the rest are closed here.
 */
#define ORACLE_FDS	8

/* iso_msg_decode_borrow of buf must give what iso_msg_decode gave (m),
   or refuse it with the same errno; errno is kept. */
static void
oracle_borrow_agrees(const void *buf, size_t len, const iso_msg *m)
{
	iso_msg	*b;
	int	 saved = errno;

	b = iso_msg_decode_borrow(buf, len);
	if (m != NULL ? b == NULL || !iso_msg_equal(b, m) :
	    b != NULL || errno != saved)
		abort();
	iso_msg_free(b);
	errno = saved;
}

static iso_msg *
oracle_decode_with(const void *buf, size_t len)
{
	static int	 null = -1;
	int		 fdv[ORACLE_FDS];
	struct wire_fds	 fds = { fdv, 0, 0 };
	iso_msg		*m;
	size_t		 i;
	int		 saved;

	if ((m = iso_msg_decode(buf, len)) != NULL) {
		if (msg_fds_list(m, NULL, 0) != 0)
			abort();	/* accepted what it cannot satisfy */
		oracle_borrow_agrees(buf, len, m);
		return (m);
	}
	oracle_borrow_agrees(buf, len, NULL);
	if (errno != EBADMSG)
		return (NULL);
	if (null == -1 && (null = open("/dev/null", O_RDONLY | O_CLOEXEC)) ==
	    -1)
		abort();
	for (fds.n = 0; fds.n < ORACLE_FDS; fds.n++)
		if ((fdv[fds.n] = fcntl(null, F_DUPFD_CLOEXEC, 0)) == -1)
			abort();
	m = wire_decode_fds(buf, len, &fds);
	saved = errno;
	for (i = fds.used; i < fds.n; i++)
		close(fdv[i]);
	errno = saved;
	return (m);
}

static int
oracle_decode(const void *buf, size_t len, iso_msg **out)
{
	msgpack_zone	 z;
	msgpack_object	 obj;
	iso_msg		*m;
	size_t		 off = 0;
	int		 rc, ok;

	if (out != NULL)
		*out = NULL;
	if ((m = oracle_decode_with(buf, len)) == NULL)
		return (errno == EBADMSG || errno == EMSGSIZE);
	msgpack_zone_init(&z, 4096);
	rc = msgpack_unpack(buf, len, &off, &z, &obj);
	ok = rc == MSGPACK_UNPACK_SUCCESS && off == len &&
	    oracle_same(&obj, m);
	msgpack_zone_destroy(&z);
	if (out != NULL && ok)
		*out = m;
	else
		iso_msg_free(m);
	return (ok);
}

#endif /* ISO_FUZZ_ORACLE_H */
