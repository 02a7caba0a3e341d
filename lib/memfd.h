/*
 * memfd.h: large bytes values in sealed memory files. A bytes value at or
 * above ISO_LIMIT_ZEROCOPY bytes travels as a memfd sealed against
 * writing, shrinking and growing, passed with its frame: the receiver
 * maps it read-only, so nothing is copied after the sender's one write,
 * and no side can change the bytes once they are sent.
 *
 * Descriptors are O_CLOEXEC. Writable mappings are MADV_DONTFORK: a
 * child forked meanwhile would hold one, and a file with a writable
 * mapping cannot be sealed. Functions return as the rest of the library
 * does: -1 or NULL with errno and iso_error() set.
 */
#ifndef ISO_LIB_MEMFD_H
#define ISO_LIB_MEMFD_H

#include <stddef.h>

/* A sealed memfd holding a copy of p[0..len): its descriptor (the
   caller's), or -1. */
int	 mfd_from(const void *p, size_t len);

/* A new memfd of len bytes, mapped writable for the caller to fill: the
   mapping, and *fd its descriptor (both the caller's: mfd_seal, or
   munmap and close); NULL on failure. */
void	*mfd_new(size_t len, int *fd);

/* Seal fd, whose writable mapping map (from mfd_new, len bytes) is
   unmapped first, and map it again read-only: the new mapping, or NULL
   (map is gone either way). */
void	*mfd_seal(int fd, void *map, size_t len);

/* Map a memfd that came from a peer, read-only, after checking that it
   is sealed against writing, shrinking and growing and holds exactly len
   bytes: the mapping, or NULL with EBADMSG and why (a hostile or broken
   sender). fd stays the caller's. */
const void *mfd_map(int fd, size_t len);

/* Unmap a mapping of len bytes from mfd_map or mfd_seal. */
void	 mfd_unmap(const void *p, size_t len);

/*
 * Shared values: the bytes of a bytes value (MSG_MFD in msg.h), a memfd
 * mapped after a header page of this process's own that holds its
 * descriptor, its length and a count of the messages referring to it.
 * The pointer p is the bytes; the mapping and the descriptor go with the
 * last reference (mfd_unref). A copy is a reference: no bytes are copied.
 *
 * mfd_attach: a peer's memfd fd of len bytes, checked as mfd_map does,
 * one reference; it then owns fd (on failure fd stays the caller's).
 * mfd_alloc: len writable bytes,
 * not sealed until mfd_freeze (which maps them read-only at the same
 * address and seals them; 0 or -1; nothing when already sealed).
 * mfd_abandon: unmap, leaving the descriptor open (a decode that failed:
 * the descriptors are still the connection's).
 */
const char *mfd_attach(int fd, size_t len);
char	*mfd_alloc(size_t len);
int	 mfd_freeze(const char *p);
int	 mfd_fd(const char *p);
void	 mfd_ref(const char *p);
void	 mfd_unref(const char *p);
void	 mfd_abandon(const char *p);

#endif /* ISO_LIB_MEMFD_H */
