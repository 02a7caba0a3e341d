/*
 * cells.c: what isoctl's tables (ps, top, events) share: reading a row
 * the supervisor sent, and cells measured and cut in characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

size_t
cli_width(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return (n);
}

void
cli_cut(char *s, size_t w)
{
	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80 && w-- == 0) {
			*s = '\0';
			return;
		}
	}
}

const char *
cli_row_str(const iso_msg *row, const char *key)
{
	const iso_msg	*v = iso_msg_get(row, key);

	return (v != NULL && iso_msg_type(v) == ISO_STR ?
	    iso_msg_str(v, NULL) : NULL);
}

int
cli_row_int(const iso_msg *row, const char *key, int64_t *out)
{
	const iso_msg	*v = iso_msg_get(row, key);

	return (v != NULL && iso_msg_int(v, out) == 0);
}

int
cli_cell_add(char **cell, const char *s)
{
	size_t	 old = *cell != NULL ? strlen(*cell) : 0, n = strlen(s), i;
	char	*p;

	if ((p = realloc(*cell, old + n + 2)) == NULL)
		return (-1);
	*cell = p;
	p += old;
	if (old > 0)
		*p++ = ' ';
	for (i = 0; i < n; i++)
		p[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	p[n] = '\0';
	return (0);
}
