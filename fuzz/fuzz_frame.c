/*
 * fuzz_frame.c: libFuzzer target for the frame decoder. Whatever decodes
 * must be what msgpack-c makes of the same bytes (oracle.h), and must
 * encode again to bytes that decode to an equal message. A frame that
 * refers to descriptors is decoded as if some came with it (oracle.h).
 */
#include <stdint.h>
#include <stdlib.h>

#include "isolate.h"
#include "oracle.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	iso_msg	*m, *again;
	void	*buf;
	size_t	 len;

	if (!oracle_decode(data, size, &m))
		abort();
	if (m == NULL)
		return (0);
	if (iso_msg_encode(m, &buf, &len) == -1)
		abort();
	if ((again = oracle_decode_with(buf, len)) == NULL ||
	    !iso_msg_equal(m, again))
		abort();
	free(buf);
	iso_msg_free(again);
	iso_msg_free(m);
	return (0);
}
