/*
 * units.c: sizes and durations as isoctl's options take them: "64M",
 * "2s" (the limits of spawn).
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

#include "cli.h"

/* text's digits into *n, *end after them: 0, or -1 (none, overflow). */
static int
units_num(const char *text, uint64_t *n, const char **end)
{
	char			*e;
	unsigned long long	 v;

	if (!isdigit((unsigned char)text[0]))
		return (-1);
	errno = 0;
	v = strtoull(text, &e, 10);
	if (errno != 0)
		return (-1);
	*n = v;
	*end = e;
	return (0);
}

int
cli_size(const char *text, uint64_t *bytes)
{
	static const char	 units[] = "KMGT";
	const char		*end;
	uint64_t		 n, mult = 1;
	int			 i;

	if (units_num(text, &n, &end) == -1)
		return (-1);
	if (*end != '\0') {
		for (i = 0; units[i] != '\0'; i++) {
			mult *= 1024;
			if (toupper((unsigned char)*end) == units[i])
				break;
		}
		if (units[i] == '\0')
			return (-1);
		end++;
		/* K, KB, KiB: all binary */
		if (strcasecmp(end, "") != 0 && strcasecmp(end, "b") != 0 &&
		    strcasecmp(end, "ib") != 0)
			return (-1);
	}
	if (n == 0 || n > UINT64_MAX / 2 / mult)
		return (-1);
	*bytes = n * mult;
	return (0);
}

int
cli_duration(const char *text, uint64_t *seconds)
{
	const char	*end;
	uint64_t	 n, mult = 1;

	if (units_num(text, &n, &end) == -1)
		return (-1);
	if (*end == 'm')
		mult = 60;
	else if (*end == 'h')
		mult = 3600;
	else if (*end != 's' && *end != '\0')
		return (-1);
	if (*end != '\0' && end[1] != '\0')
		return (-1);
	if (n == 0 || n > UINT32_MAX / mult)
		return (-1);
	*seconds = n * mult;
	return (0);
}
