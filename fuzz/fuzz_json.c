/*
 * fuzz_json.c: libFuzzer target for JSON reading. Whatever reads must be
 * written to a text that reads back as an equal message and is written
 * again the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "isolate.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	iso_msg	*m, *again;
	char	*text, *s, *s2;

	if ((text = malloc(size + 1)) == NULL)
		return (0);
	memcpy(text, data, size);
	text[size] = '\0';
	m = iso_msg_from_json(text);
	free(text);
	if (m == NULL)
		return (0);
	if ((s = iso_msg_to_json(m)) == NULL)
		abort();
	if ((again = iso_msg_from_json(s)) == NULL ||
	    !iso_msg_equal(m, again))
		abort();
	if ((s2 = iso_msg_to_json(again)) == NULL || strcmp(s, s2) != 0)
		abort();
	free(s2);
	free(s);
	iso_msg_free(again);
	iso_msg_free(m);
	return (0);
}
