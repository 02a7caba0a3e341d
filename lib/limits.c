/*
 * limits.c: the process-wide caps that keep hostile input from exhausting
 * a process (docs/protocol.md lists them).
 */
#include <errno.h>
#include <stdint.h>

#include "msg.h"

/* msgpack-c's unpacker keeps a fixed stack of 32 containers. */
#define DEPTH_MAX	32

size_t	msg_limit_frame = 256u << 20;
size_t	msg_limit_depth = DEPTH_MAX;
size_t	msg_limit_nodes = 8u << 20;
size_t	msg_limit_queue = 16u << 20;
size_t	msg_limit_stall = 2000;
size_t	msg_limit_conns = 4096;
size_t	msg_limit_zerocopy = 64u << 10;

int
iso_limit_set(enum iso_limit which, size_t value)
{
	switch (which) {
	case ISO_LIMIT_FRAME:
		if (value == 0 || value > UINT32_MAX)
			break;
		msg_limit_frame = value;
		return (0);
	case ISO_LIMIT_DEPTH:
		if (value == 0 || value > DEPTH_MAX)
			break;
		msg_limit_depth = value;
		return (0);
	case ISO_LIMIT_NODES:
		if (value == 0 || value > UINT32_MAX)
			break;
		msg_limit_nodes = value;
		return (0);
	case ISO_LIMIT_QUEUE:
		if (value == 0)
			break;
		msg_limit_queue = value;
		return (0);
	case ISO_LIMIT_STALL:
		if (value == 0 || value > INT32_MAX / 2)
			break;
		msg_limit_stall = value;
		return (0);
	case ISO_LIMIT_CONNS:
		if (value == 0)
			break;
		msg_limit_conns = value;
		return (0);
	case ISO_LIMIT_ZEROCOPY:
		if (value == 0)
			break;
		msg_limit_zerocopy = value;
		return (0);
	}
	errno = EINVAL;
	return (-1);
}

size_t
iso_limit_get(enum iso_limit which)
{
	switch (which) {
	case ISO_LIMIT_FRAME:
		return (msg_limit_frame);
	case ISO_LIMIT_DEPTH:
		return (msg_limit_depth);
	case ISO_LIMIT_NODES:
		return (msg_limit_nodes);
	case ISO_LIMIT_QUEUE:
		return (msg_limit_queue);
	case ISO_LIMIT_STALL:
		return (msg_limit_stall);
	case ISO_LIMIT_CONNS:
		return (msg_limit_conns);
	case ISO_LIMIT_ZEROCOPY:
		return (msg_limit_zerocopy);
	}
	errno = EINVAL;
	return (0);
}
