/*
 * mod_entries.c: a shared object whose isolate entry is static, for the
 * test that the supervisor's list names it by its symbol all the same.
 * Built -shared without the library; the entry calls nothing of it and
 * waits to be killed.
 */
#include <unistd.h>

#include "isolate.h"

void	(*mod_entry(void))(const iso_msg *);

static void
entry_in_a_module(const iso_msg *arg)
{
	(void)arg;
	for (;;)
		pause();
}

/* The entry, which no symbol of the dynamic table names. */
void
(*mod_entry(void))(const iso_msg *)
{
	return (entry_in_a_module);
}
