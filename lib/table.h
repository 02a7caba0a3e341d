/*
 * table.h: a map from 64-bit keys to pointers (open addressing, linear
 * probing), for ports by number and peers by isolate id. Internal.
 */
#ifndef ISO_LIB_TABLE_H
#define ISO_LIB_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct table_slot {
	uint64_t	 key;	/* 0: empty */
	void		*value;
};

struct table {
	struct table_slot	*slots;
	size_t			 size;	/* a power of two, or 0 */
	size_t			 count;
};

/* NULL when absent. Keys are never 0. */
void	*table_get(const struct table *t, uint64_t key);
/* Insert or replace: 0, or -1/ENOMEM. */
int	 table_put(struct table *t, uint64_t key, void *value);
/* Remove key if present. */
void	 table_del(struct table *t, uint64_t key);
/* Free the slots (not the values) and empty t. */
void	 table_clear(struct table *t);

/* Visit every value: for (i = 0; (v = table_next(t, &i)) != NULL;) */
void	*table_next(const struct table *t, size_t *i);

#endif /* ISO_LIB_TABLE_H */
