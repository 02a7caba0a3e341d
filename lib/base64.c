/*
 * base64.c: strict standard base64. Every byte string has exactly one
 * accepted encoding, so JSON text read back and written again is the same.
 */
#include <stdint.h>

#include "base64.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of c, or -1. */
static int
b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '+')
		return (62);
	if (c == '/')
		return (63);
	return (-1);
}

size_t
b64_encoded_len(size_t n)
{
	return (n / 3 * 4 + (n % 3 != 0 ? 4 : 0));
}

void
b64_encode(const void *src, size_t n, char *dst)
{
	const uint8_t	*p = src;
	uint32_t	 w;

	for (; n >= 3; n -= 3, p += 3) {
		w = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
		*dst++ = b64_alphabet[w >> 18];
		*dst++ = b64_alphabet[(w >> 12) & 0x3f];
		*dst++ = b64_alphabet[(w >> 6) & 0x3f];
		*dst++ = b64_alphabet[w & 0x3f];
	}
	if (n > 0) {
		w = (uint32_t)p[0] << 16;
		if (n == 2)
			w |= (uint32_t)p[1] << 8;
		*dst++ = b64_alphabet[w >> 18];
		*dst++ = b64_alphabet[(w >> 12) & 0x3f];
		*dst++ = n == 2 ? b64_alphabet[(w >> 6) & 0x3f] : '=';
		*dst++ = '=';
	}
	*dst = '\0';
}

int
b64_decoded_len(const char *s, size_t n, size_t *out)
{
	size_t	i, pad = 0;
	int	v;

	if (n % 4 != 0)
		return (-1);
	if (n > 0 && s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n - pad; i++) {
		if (b64_value(s[i]) == -1)
			return (-1);
	}
	if (pad > 0) {
		/* The bits the padding leaves over must be zero. */
		v = b64_value(s[n - pad - 1]);
		if ((pad == 1 && (v & 0x03) != 0) ||
		    (pad == 2 && (v & 0x0f) != 0))
			return (-1);
	}
	*out = n / 4 * 3 - pad;
	return (0);
}

void
b64_decode(const char *s, size_t n, void *dst)
{
	uint8_t		*d = dst;
	uint32_t	 w;
	size_t		 i;
	int		 j, k;

	for (i = 0; i < n; i += 4) {
		w = 0;
		for (j = 0, k = 0; j < 4; j++) {
			w <<= 6;
			if (s[i + j] != '=') {
				w |= (uint32_t)b64_value(s[i + j]);
				k++;
			}
		}
		/* k characters carry k - 1 whole bytes (4 carry 3). */
		*d++ = w >> 16;
		if (k > 2)
			*d++ = (w >> 8) & 0xff;
		if (k > 3)
			*d++ = w & 0xff;
	}
}
