/*
 * utf8.c: strict UTF-8 validation (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF.
 */
#include "hot.h"
#include "msg.h"

ISO_HOT int
msg_utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	const unsigned char	*end = p + len;
	unsigned char		 c, lo, hi;
	int			 n;

	while (p < end) {
		c = *p++;
		if (c < 0x80)
			continue;
		lo = 0x80;
		hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;	/* overlong */
			else if (c == 0xed)
				hi = 0x9f;	/* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;	/* overlong */
			else if (c == 0xf4)
				hi = 0x8f;	/* above U+10FFFF */
		} else
			return (0);
		if (end - p < n)
			return (0);
		if (*p < lo || *p > hi)
			return (0);
		p++;
		while (--n > 0) {
			if ((*p & 0xc0) != 0x80)
				return (0);
			p++;
		}
	}
	return (1);
}
