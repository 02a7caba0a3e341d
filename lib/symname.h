/*
 * symname.h: the name of the function at an address, read from the ELF
 * symbol table of the object that holds it (.symtab when the file has
 * one, else .dynsym), for the supervisor's list of the isolates a
 * program forks: dladdr() sees only exported symbols, so a static entry
 * or any function of a program not linked with -rdynamic has no name
 * there. Internal.
 *
 * Files are hostile input: every offset, size, index and name is checked
 * against the file's size before it is read, and anything that does not
 * fit is "not found". Each object's file is opened (read-only, O_CLOEXEC)
 * and mapped once, on its first lookup; the mapping (or the fact that it
 * has no usable table) is kept for the life of the process and inherited
 * by forked isolates. A file whose ELF header is not the one mapped in
 * memory (replaced since it was loaded) is not read. Not async-signal-safe (open, mmap, malloc); called
 * from the loop's thread only, like every spawn.
 */
#ifndef ISO_LIB_SYMNAME_H
#define ISO_LIB_SYMNAME_H

#include <stddef.h>
#include <stdint.h>

/* The function holding addr into buf (truncated to len, NUL-terminated):
   0, or -1 with ENOENT (no object, no table, no function there). */
int	 sym_name(const void *addr, char *buf, size_t len);

/* The STT_FUNC symbol whose [st_value, st_value + st_size) holds value
   (an address as the object's symbol table counts it: absolute for
   ET_EXEC, from the load base for ET_DYN), in the ELF image at img of
   size bytes, or in the file at path. 0, or -1 with ENOENT; the file
   calls also fail with open's errno. Neither keeps anything. */
int	 sym_lookup_mem(const void *img, size_t size, uint64_t value,
	    char *buf, size_t len);
int	 sym_lookup_file(const char *path, uint64_t value, char *buf,
	    size_t len);

#endif
