/*
 * table.c: a small open-addressing hash map keyed by non-zero uint64.
 * Deletion shifts later entries back, so there are no tombstones.
 */
#include <errno.h>
#include <stdlib.h>

#include "hot.h"
#include "loop.h"
#include "table.h"

static size_t
table_hash(uint64_t key, size_t size)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return ((size_t)key & (size - 1));
}

ISO_HOT void *
table_get(const struct table *t, uint64_t key)
{
	size_t	i;

	if (t->size == 0)
		return (NULL);
	for (i = table_hash(key, t->size); t->slots[i].key != 0;
	    i = (i + 1) & (t->size - 1))
		if (t->slots[i].key == key)
			return (t->slots[i].value);
	return (NULL);
}

static void
table_insert(struct table_slot *slots, size_t size, uint64_t key,
    void *value)
{
	size_t	i;

	for (i = table_hash(key, size); slots[i].key != 0 &&
	    slots[i].key != key; i = (i + 1) & (size - 1))
		;
	slots[i].key = key;
	slots[i].value = value;
}

ISO_HOT int
table_put(struct table *t, uint64_t key, void *value)
{
	struct table_slot	*slots;
	size_t			 size, i;

	if (table_get(t, key) == NULL && (t->count + 1) * 2 > t->size) {
		size = t->size ? t->size * 2 : 16;
		if ((slots = evmem_calloc(size * sizeof *slots)) == NULL) {
			errno = ENOMEM;
			return (-1);
		}
		for (i = 0; i < t->size; i++)
			if (t->slots[i].key != 0)
				table_insert(slots, size, t->slots[i].key,
				    t->slots[i].value);
		evmem_free(t->slots);
		t->slots = slots;
		t->size = size;
	}
	if (table_get(t, key) == NULL)
		t->count++;
	table_insert(t->slots, t->size, key, value);
	return (0);
}

ISO_HOT void
table_del(struct table *t, uint64_t key)
{
	size_t	i, j, home, mask = t->size - 1;

	if (t->size == 0)
		return;
	for (i = table_hash(key, t->size); t->slots[i].key != key;
	    i = (i + 1) & mask)
		if (t->slots[i].key == 0)
			return;
	t->count--;
	/* Shift back every entry that probed past the hole. */
	for (j = (i + 1) & mask; t->slots[j].key != 0; j = (j + 1) & mask) {
		home = table_hash(t->slots[j].key, t->size);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i].key = 0;
	t->slots[i].value = NULL;
}

void
table_clear(struct table *t)
{
	evmem_free(t->slots);
	t->slots = NULL;
	t->size = t->count = 0;
}

void *
table_next(const struct table *t, size_t *i)
{
	for (; *i < t->size; (*i)++)
		if (t->slots[*i].key != 0)
			return (t->slots[(*i)++].value);
	return (NULL);
}
