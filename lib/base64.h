/*
 * base64.h: strict standard base64 (RFC 4648 section 4, with padding), for
 * bytes in JSON. Internal.
 */
#ifndef ISO_LIB_BASE64_H
#define ISO_LIB_BASE64_H

#include <stddef.h>

/* Characters that encode n bytes, not counting the NUL. */
size_t	b64_encoded_len(size_t n);
/* Encode src[0..n) into dst, which holds b64_encoded_len(n) + 1. */
void	b64_encode(const void *src, size_t n, char *dst);
/*
 * Check s[0..n) and set *out to the bytes it decodes to. -1 (errno not
 * set) for a length not a multiple of 4, a character outside the
 * alphabet, misplaced padding or nonzero bits under the padding.
 */
int	b64_decoded_len(const char *s, size_t n, size_t *out);
/* Decode s[0..n), already checked by b64_decoded_len, into dst. */
void	b64_decode(const char *s, size_t n, void *dst);

#endif /* ISO_LIB_BASE64_H */
