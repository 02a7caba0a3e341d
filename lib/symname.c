/*
 * symname.c: the function at an address, by name, from the ELF symbol
 * table of the object that holds it (symname.h). The image is read
 * through memcpy only (no pointer into it is trusted to be aligned), and
 * every offset is checked against its size first.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symname.h"

#if __ELF_NATIVE_CLASS == 64
#define SYM_CLASS	ELFCLASS64
#else
#define SYM_CLASS	ELFCLASS32
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SYM_DATA	ELFDATA2LSB
#else
#define SYM_DATA	ELFDATA2MSB
#endif

/* One symbol table of an image and its string table, both inside it. */
struct symtab {
	const unsigned char	*img;
	size_t			 syms;		/* offset of the first symbol */
	size_t			 nsyms;
	size_t			 strs;		/* offset of the strings */
	size_t			 strsize;
};

/* An object looked at once: its file mapped and its table, or none. */
struct symobj {
	struct symobj	*next;
	uintptr_t	 base;		/* the load bias (l_addr) */
	char		*name;		/* l_name: "" for the program */
	void		*map;		/* NULL: no usable table */
	size_t		 mapsize;
	struct symtab	 tab;
};

static struct symobj	*objs;

/* Whether [off, off + len) lies within size bytes. */
static int
span_ok(size_t size, uint64_t off, uint64_t len)
{
	return (off <= size && len <= size - off);
}

/* The first section of type type in the checked header table and its
   string table: 0, or -1 when there is none or it does not fit. */
static int
table_of(const unsigned char *img, size_t size, const ElfW(Ehdr) *eh,
    uint32_t type, struct symtab *t)
{
	ElfW(Shdr)	sh, str;
	size_t		i;

	for (i = 0; i < eh->e_shnum; i++) {
		memcpy(&sh, img + eh->e_shoff + i * sizeof sh, sizeof sh);
		if (sh.sh_type == type)
			break;
	}
	if (i == eh->e_shnum || sh.sh_entsize != sizeof(ElfW(Sym)) ||
	    !span_ok(size, sh.sh_offset, sh.sh_size) ||
	    sh.sh_link >= eh->e_shnum)
		return (-1);
	memcpy(&str, img + eh->e_shoff + (size_t)sh.sh_link * sizeof str,
	    sizeof str);
	if (str.sh_type != SHT_STRTAB ||
	    !span_ok(size, str.sh_offset, str.sh_size))
		return (-1);
	t->img = img;
	t->syms = sh.sh_offset;
	t->nsyms = sh.sh_size / sizeof(ElfW(Sym));
	t->strs = str.sh_offset;
	t->strsize = str.sh_size;
	return (0);
}

/* Check img's ELF header and section header table, then find its table:
   .symtab (all functions, static ones too), else .dynsym. */
static int
table_open(struct symtab *t, const void *img, size_t size)
{
	ElfW(Ehdr)	eh;

	if (size < sizeof eh)
		return (-1);
	memcpy(&eh, img, sizeof eh);
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != SYM_CLASS ||
	    eh.e_ident[EI_DATA] != SYM_DATA ||
	    (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) ||
	    eh.e_shentsize != sizeof(ElfW(Shdr)) ||
	    !span_ok(size, eh.e_shoff, (uint64_t)eh.e_shnum *
	    sizeof(ElfW(Shdr))))
		return (-1);
	if (table_of(img, size, &eh, SHT_SYMTAB, t) == 0)
		return (0);
	return (table_of(img, size, &eh, SHT_DYNSYM, t));
}

/* The function holding value into buf. A sized symbol beats one of size
   0 at that very address, and a global one (of aliases) a local one. */
static int
table_find(const struct symtab *t, uint64_t value, char *buf, size_t len)
{
	const char	*strs = (const char *)t->img + t->strs;
	const char	*best = NULL;
	ElfW(Sym)	 s;
	size_t		 i;
	int		 rank, best_rank = -1;

	/* ELF64_ST_TYPE and _BIND are ELF32's as well. */
	for (i = 0; i < t->nsyms && best_rank < 3; i++) {
		memcpy(&s, t->img + t->syms + i * sizeof s, sizeof s);
		if (ELF64_ST_TYPE(s.st_info) != STT_FUNC ||
		    s.st_shndx == SHN_UNDEF || s.st_name == 0 ||
		    s.st_name >= t->strsize || value < s.st_value)
			continue;
		if (value - s.st_value < s.st_size)
			rank = 2;
		else if (s.st_size == 0 && value == s.st_value)
			rank = 0;
		else
			continue;
		if (ELF64_ST_BIND(s.st_info) != STB_LOCAL)
			rank++;
		if (rank <= best_rank || memchr(strs + s.st_name, '\0',
		    t->strsize - s.st_name) == NULL)
			continue;	/* no better, or runs off the table */
		best = strs + s.st_name;
		best_rank = rank;
	}
	if (best == NULL) {
		errno = ENOENT;
		return (-1);
	}
	if (len > 0) {
		strncpy(buf, best, len - 1);
		buf[len - 1] = '\0';
	}
	return (0);
}

int
sym_lookup_mem(const void *img, size_t size, uint64_t value, char *buf,
    size_t len)
{
	struct symtab	t;

	if (img == NULL || table_open(&t, img, size) == -1) {
		errno = ENOENT;
		return (-1);
	}
	return (table_find(&t, value, buf, len));
}

/* The regular file at path mapped read-only: 0, or -1 with errno
   (ENOENT for an empty file or one that is not a regular file). */
static int
map_file(const char *path, void **map, size_t *size)
{
	struct stat	 st;
	void		*p;
	int		 fd, saved;

	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	while (fd == -1 && errno == EINTR);
	if (fd == -1)
		return (-1);
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > SIZE_MAX) {
		errno = ENOENT;
		goto fail;
	}
	if ((p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd,
	    0)) == MAP_FAILED)
		goto fail;
	close(fd);
	*map = p;
	*size = (size_t)st.st_size;
	return (0);
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return (-1);
}

int
sym_lookup_file(const char *path, uint64_t value, char *buf, size_t len)
{
	void	*map;
	size_t	 size;
	int	 rc, saved;

	if (map_file(path, &map, &size) == -1)
		return (-1);
	rc = sym_lookup_mem(map, size, value, buf, len);
	saved = errno;
	munmap(map, size);
	errno = saved;
	return (rc);
}

/*
 * Map lm's file and find its table; keep both when the file is the one
 * loaded (its ELF header is the one mapped at fbase: a file rebuilt or
 * replaced since would name the wrong functions). NULL with errno when
 * it may work next time (out of memory or descriptors); otherwise a
 * record, with no table when there is none to read.
 */
static struct symobj *
obj_open(const struct link_map *lm, const void *fbase)
{
	struct symobj	*o;
	const char	*path;

	if ((o = calloc(1, sizeof *o)) == NULL ||
	    (o->name = strdup(lm->l_name)) == NULL) {
		free(o);
		errno = ENOMEM;
		return (NULL);
	}
	o->base = lm->l_addr;
	/* The program's own file even after a chdir or a rename; a name
	   with no slash (the vDSO) is no file. */
	path = lm->l_name[0] == '\0' ? "/proc/self/exe" : lm->l_name;
	if (strchr(path, '/') == NULL)
		goto keep;
	if (map_file(path, &o->map, &o->mapsize) == -1) {
		if (errno != EMFILE && errno != ENFILE && errno != ENOMEM &&
		    errno != EAGAIN)
			goto keep;
		free(o->name);
		free(o);
		return (NULL);
	}
	if (o->mapsize < sizeof(ElfW(Ehdr)) || fbase == NULL ||
	    memcmp(o->map, fbase, sizeof(ElfW(Ehdr))) != 0 ||
	    table_open(&o->tab, o->map, o->mapsize) == -1) {
		munmap(o->map, o->mapsize);
		o->map = NULL;
	}
keep:
	o->next = objs;
	objs = o;
	return (o);
}

int
sym_name(const void *addr, char *buf, size_t len)
{
	struct link_map	*lm = NULL;
	struct symobj	*o;
	Dl_info		 dli;

	if (dladdr1(addr, &dli, (void **)&lm, RTLD_DL_LINKMAP) == 0 ||
	    lm == NULL || lm->l_name == NULL) {
		errno = ENOENT;
		return (-1);
	}
	for (o = objs; o != NULL; o = o->next)
		if (o->base == lm->l_addr && strcmp(o->name, lm->l_name) == 0)
			break;
	if (o == NULL && (o = obj_open(lm, dli.dli_fbase)) == NULL)
		return (-1);
	if (o->map == NULL) {
		errno = ENOENT;
		return (-1);
	}
	return (table_find(&o->tab, (uintptr_t)addr - o->base, buf, len));
}
