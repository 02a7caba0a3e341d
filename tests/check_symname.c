/*
 * check_symname.c: naming a function from its object's ELF symbol table
 * (lib/symname.c): static functions of this program and of a shared
 * object by name, a stripped copy down to .dynsym, one open per object,
 * a file replaced since it was loaded left unread, and hostile images
 * and files (truncated, offsets, sizes and indices out of range, names
 * running off their table, random damage) that are "not found", never a
 * crash. Each image is held in a heap block of its exact size, so that
 * the sanitizer build (build-san) sees any read past its end.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isolate.h"
#include "symname.h"
#include "testutil.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

static char	bindir[PATH_MAX - 64];	/* where this test binary is */
static char	tmp[64];		/* this test's scratch directory */

/* Static functions no dynamic table names (noinline: each is there). */
static __attribute__((noinline)) int
not_exported(int x)
{
	return (x * 3 + 1);
}

static __attribute__((noinline)) int
also_not_exported(int x)
{
	return (x * 5 + 2);
}

/* Their addresses, through a volatile so that no call is folded. */
static int	(*volatile fn_a)(int) = not_exported;
static int	(*volatile fn_b)(int) = also_not_exported;
static int	a_variable = 7;

static void
setup(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/iso-symname-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void
teardown(void)
{
	char	cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "check_symname: cannot remove %s\n", tmp);
}

/* addr as its object's symbol table counts it (less the load bias). */
static uint64_t
value_of(const void *addr)
{
	struct link_map	*lm = NULL;
	Dl_info		 dli;

	ck_assert_int_ne(dladdr1(addr, &dli, (void **)&lm,
	    RTLD_DL_LINKMAP), 0);
	return ((uintptr_t)addr - lm->l_addr);
}

/* Run argv (a program on PATH) to its end: 1 if it exited 0. */
static int
run(char *const argv[])
{
	pid_t	pid;
	int	status;

	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return (WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* path's bytes in a heap block of their exact size; owned. */
static unsigned char *
slurp(const char *path, size_t *size)
{
	unsigned char	*buf;
	struct stat	 st;
	size_t		 got = 0;
	ssize_t		 n;
	int		 fd;

	ck_assert_int_ge(fd = open(path, O_RDONLY | O_CLOEXEC), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	*size = (size_t)st.st_size;
	ck_assert_ptr_nonnull(buf = malloc(*size));
	while (got < *size && (n = read(fd, buf + got, *size - got)) > 0)
		got += (size_t)n;
	ck_assert_uint_eq(got, *size);
	close(fd);
	return (buf);
}

static void
write_file(const char *path, const void *buf, size_t len)
{
	int	fd;

	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0755), 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

START_TEST(static_functions_of_the_program_by_name)
{
	char	name[64];

	ck_assert_int_eq(sym_name((const void *)fn_a, name, sizeof name), 0);
	ck_assert_str_eq(name, "not_exported");
	/* Anywhere inside it, not only its first byte. */
	ck_assert_int_eq(sym_name((const char *)fn_b + 1, name, sizeof name),
	    0);
	ck_assert_str_eq(name, "also_not_exported");
	ck_assert_int_eq(sym_lookup_file("/proc/self/exe",
	    value_of((const void *)fn_a), name, sizeof name), 0);
	ck_assert_str_eq(name, "not_exported");
	/* Cut to the room given. */
	ck_assert_int_eq(sym_name((const void *)fn_a, name, 4), 0);
	ck_assert_str_eq(name, "not");
	/* Data is no function; no object holds NULL. */
	errno = 0;
	ck_assert_int_eq(sym_name(&a_variable, name, sizeof name), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(sym_name(NULL, name, sizeof name), -1);
	ck_assert_int_eq(fn_a(1) + fn_b(1), 11);
}
END_TEST

START_TEST(functions_of_shared_objects_by_name)
{
	char	 path[PATH_MAX], name[64];
	void	(*(*get)(void))(const iso_msg *);
	void	*so;

	/* A static function of a shared object (its .symtab). */
	snprintf(path, sizeof path, "%s/prog/mod_entries", bindir);
	ck_assert_msg((so = dlopen(path, RTLD_NOW | RTLD_LOCAL)) != NULL,
	    "%s", dlerror());
	ck_assert_ptr_nonnull(get = (void (*(*)(void))(const iso_msg *))
	    dlsym(so, "mod_entry"));
	ck_assert_int_eq(sym_name((const void *)get(), name, sizeof name), 0);
	ck_assert_str_eq(name, "entry_in_a_module");
	dlclose(so);
	/* The C library, whose file carries .dynsym at least. */
	ck_assert_int_eq(sym_name((const void *)getpid, name, sizeof name),
	    0);
	ck_assert_msg(strstr(name, "getpid") != NULL, "%s", name);
}
END_TEST

START_TEST(a_stripped_copy_has_only_its_dynamic_symbols)
{
	char	copy[PATH_MAX], exe[PATH_MAX], name[64], strip[] = "strip";
	char	o[] = "-o", *argv[] = { strip, o, copy, exe, NULL };
	ssize_t	n;

	/* strip is binutils', which make deps installs. Our file by its
	   name: strip's /proc/self/exe would be strip. */
	ck_assert_int_gt(n = readlink("/proc/self/exe", exe, sizeof exe - 1),
	    0);
	exe[n] = '\0';
	snprintf(copy, sizeof copy, "%s/stripped", tmp);
	ck_assert(run(argv));
	errno = 0;
	ck_assert_int_eq(sym_lookup_file(copy, value_of((const void *)fn_a),
	    name, sizeof name), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* This program exports iso_*: .dynsym still names those. */
	ck_assert_int_eq(sym_lookup_file(copy, value_of((const void *)
	    iso_error), name, sizeof name), 0);
	ck_assert_str_eq(name, "iso_error");
}
END_TEST

START_TEST(an_object_is_opened_once)
{
	struct rlimit	old, none;
	char		name[64];
	int		fd, saved;

	ck_assert_int_eq(sym_name((const void *)fn_a, name, sizeof name), 0);
	/* No descriptor can be opened now: the lookup runs on the map. */
	ck_assert_int_ge(fd = open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
	close(fd);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	none = old;
	none.rlim_cur = (rlim_t)fd;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &none), 0);
	errno = 0;
	fd = sym_lookup_file("/proc/self/exe", value_of((const void *)fn_b),
	    name, sizeof name);
	saved = errno;
	name[0] = '\0';
	if (fd == -1 && saved == EMFILE)
		fd = sym_name((const void *)fn_b, name, sizeof name);
	else
		fd = -2;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_int_eq(saved, EMFILE);	/* the limit holds */
	ck_assert_int_eq(fd, 0);
	ck_assert_str_eq(name, "also_not_exported");
}
END_TEST

START_TEST(a_file_replaced_since_it_was_loaded_is_not_read)
{
	char	 src[PATH_MAX], path[PATH_MAX], other[PATH_MAX], name[64];
	void	(*(*get)(void))(const iso_msg *);
	unsigned char	*buf;
	size_t	 len;
	void	*so;

	snprintf(src, sizeof src, "%s/prog/mod_entries", bindir);
	snprintf(path, sizeof path, "%s/entries.so", tmp);
	buf = slurp(src, &len);
	write_file(path, buf, len);
	free(buf);
	ck_assert_msg((so = dlopen(path, RTLD_NOW | RTLD_LOCAL)) != NULL,
	    "%s", dlerror());
	ck_assert_ptr_nonnull(get = (void (*(*)(void))(const iso_msg *))
	    dlsym(so, "mod_entry"));
	/* Another shared object takes its path before any lookup. */
	snprintf(src, sizeof src, "%s/prog/mod_compute", bindir);
	snprintf(other, sizeof other, "%s/other.so", tmp);
	buf = slurp(src, &len);
	write_file(other, buf, len);
	free(buf);
	ck_assert_int_eq(rename(other, path), 0);
	errno = 0;
	ck_assert_int_eq(sym_name((const void *)get(), name, sizeof name),
	    -1);
	ck_assert_int_eq(errno, ENOENT);
	dlclose(so);
}
END_TEST

/* ---- hostile images ----------------------------------------------- */

static unsigned char	*img;		/* this program's file */
static size_t		 img_len;
static ElfW(Ehdr)	 eh;
static size_t		 symtab_at;	/* offset of .symtab's header */
static size_t		 strtab_at;	/* offset of its strings' header */
static size_t		 sym_at;	/* offset of not_exported's symbol */
static uint64_t		 value;		/* not_exported, as its table counts */

/* Read this program and find, trusting it, what the cases damage. */
static void
load_self(void)
{
	ElfW(Shdr)	sh, str;
	ElfW(Sym)	s;
	size_t		i;

	img = slurp("/proc/self/exe", &img_len);
	memcpy(&eh, img, sizeof eh);
	value = value_of((const void *)fn_a);
	for (i = 0; i < eh.e_shnum; i++) {
		symtab_at = eh.e_shoff + i * sizeof sh;
		memcpy(&sh, img + symtab_at, sizeof sh);
		if (sh.sh_type == SHT_SYMTAB)
			break;
	}
	ck_assert_uint_lt(i, eh.e_shnum);
	strtab_at = eh.e_shoff + sh.sh_link * sizeof str;
	memcpy(&str, img + strtab_at, sizeof str);
	for (i = 0; i < sh.sh_size / sizeof s; i++) {
		sym_at = sh.sh_offset + i * sizeof s;
		memcpy(&s, img + sym_at, sizeof s);
		if (s.st_value == value && strcmp((char *)img + str.sh_offset +
		    s.st_name, "not_exported") == 0)
			break;
	}
	ck_assert_uint_lt(i, sh.sh_size / sizeof s);
}

/* The lookup of not_exported in the first len bytes of the image,
   damaged by at (an offset) taking the n bytes of what. */
static int
try(size_t len, size_t at, const void *what, size_t n)
{
	unsigned char	*copy;
	char		 name[64];
	int		 rc;

	ck_assert_uint_le(len, img_len);
	ck_assert_ptr_nonnull(copy = malloc(len > 0 ? len : 1));
	memcpy(copy, img, len);
	if (what != NULL && at + n <= len)
		memcpy(copy + at, what, n);
	rc = sym_lookup_mem(copy, len, value, name, sizeof name);
	if (rc == 0)
		ck_assert_uint_lt(strlen(name), sizeof name);
	free(copy);
	return (rc);
}

/* Damage one field of a structure at base: off its offset in it. */
#define FIELD(base, type, f, v) do {					\
	__typeof__(((type *)0)->f) v_ = (v);				\
	ck_assert_int_eq(try(img_len, (base) + offsetof(type, f), &v_,	\
	    sizeof v_), -1);						\
} while (0)

START_TEST(hostile_images_are_not_found)
{
	ElfW(Shdr)	sh, str;
	ElfW(Sym)	s;
	size_t		cuts[12], shend, i;

	load_self();
	memcpy(&sh, img + symtab_at, sizeof sh);
	memcpy(&str, img + strtab_at, sizeof str);
	memcpy(&s, img + sym_at, sizeof s);
	ck_assert_int_eq(try(img_len, 0, NULL, 0), 0);	/* as it is */

	/* Truncated anywhere before the end of the section headers. */
	shend = eh.e_shoff + (size_t)eh.e_shnum * eh.e_shentsize;
	cuts[0] = 0, cuts[1] = 1, cuts[2] = 4, cuts[3] = 16;
	cuts[4] = sizeof eh - 1, cuts[5] = sizeof eh, cuts[6] = eh.e_shoff;
	cuts[7] = eh.e_shoff + 1, cuts[8] = shend - 1;
	cuts[9] = sh.sh_offset + 1, cuts[10] = img_len / 2;
	cuts[11] = img_len - 1;
	for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
		if (cuts[i] < shend)
			ck_assert_msg(try(cuts[i], 0, NULL, 0) == -1,
			    "cut at %zu of %zu", cuts[i], img_len);

	/* The ELF header. */
	FIELD(0, ElfW(Ehdr), e_shoff, img_len);
	FIELD(0, ElfW(Ehdr), e_shoff, img_len - sizeof sh);
	FIELD(0, ElfW(Ehdr), e_shoff, UINT64_MAX - 8);
	FIELD(0, ElfW(Ehdr), e_shnum, 0xffff);
	FIELD(0, ElfW(Ehdr), e_shentsize, sizeof sh - 4);
	FIELD(0, ElfW(Ehdr), e_shentsize, 0);
	FIELD(0, ElfW(Ehdr), e_type, ET_REL);
	FIELD(0, ElfW(Ehdr), e_ident[EI_CLASS], ELFCLASS32);
	FIELD(0, ElfW(Ehdr), e_ident[EI_DATA], ELFDATA2MSB);
	FIELD(0, ElfW(Ehdr), e_ident[EI_MAG1], 'X');

	/* .symtab's header (then only .dynsym, which lacks it). */
	FIELD(symtab_at, ElfW(Shdr), sh_offset, img_len);
	FIELD(symtab_at, ElfW(Shdr), sh_offset, img_len - 8);
	FIELD(symtab_at, ElfW(Shdr), sh_offset, UINT64_MAX - 8);
	FIELD(symtab_at, ElfW(Shdr), sh_size, UINT64_MAX);
	FIELD(symtab_at, ElfW(Shdr), sh_size, img_len);
	FIELD(symtab_at, ElfW(Shdr), sh_entsize, 0);
	FIELD(symtab_at, ElfW(Shdr), sh_entsize, sizeof s + 1);
	FIELD(symtab_at, ElfW(Shdr), sh_link, eh.e_shnum);
	FIELD(symtab_at, ElfW(Shdr), sh_link, UINT32_MAX);
	FIELD(symtab_at, ElfW(Shdr), sh_link, 0);	/* SHT_NULL */

	/* Its string table's header. */
	FIELD(strtab_at, ElfW(Shdr), sh_type, SHT_PROGBITS);
	FIELD(strtab_at, ElfW(Shdr), sh_offset, img_len);
	FIELD(strtab_at, ElfW(Shdr), sh_offset, UINT64_MAX);
	FIELD(strtab_at, ElfW(Shdr), sh_size, img_len);
	FIELD(strtab_at, ElfW(Shdr), sh_size, 0);
	/* Ending inside the name: it would run off its table. */
	FIELD(strtab_at, ElfW(Shdr), sh_size, s.st_name + 3);

	/* The symbol itself. */
	FIELD(sym_at, ElfW(Sym), st_name, str.sh_size);
	FIELD(sym_at, ElfW(Sym), st_name, UINT32_MAX);
	FIELD(sym_at, ElfW(Sym), st_info, ELF64_ST_INFO(STB_LOCAL,
	    STT_OBJECT));
	FIELD(sym_at, ElfW(Sym), st_shndx, SHN_UNDEF);
	FIELD(sym_at, ElfW(Sym), st_value, value + 1);
	free(img);
}
END_TEST

START_TEST(randomly_damaged_images_do_not_hurt)
{
	unsigned char	*copy, junk[16];
	size_t		 regions[4][2], at, n, r;
	char		 name[64];
	int		 round, k;

	load_self();
	/* Where damage matters: the ELF header, the section headers,
	   symbols around not_exported's, and its name. */
	regions[0][0] = 0, regions[0][1] = sizeof eh;
	regions[1][0] = eh.e_shoff;
	regions[1][1] = (size_t)eh.e_shnum * sizeof(ElfW(Shdr));
	regions[2][0] = sym_at > 64 * sizeof(ElfW(Sym)) ? sym_at - 64 *
	    sizeof(ElfW(Sym)) : 0;
	regions[2][1] = 128 * sizeof(ElfW(Sym));
	regions[3][0] = regions[0][0];
	regions[3][1] = img_len;
	ck_assert_ptr_nonnull(copy = malloc(img_len));
	srandom(13);
	for (round = 0; round < 400; round++) {
		memcpy(copy, img, img_len);
		for (k = 0; k < 1 + round % 8; k++) {
			r = (size_t)random() % 4;
			n = 1 + (size_t)random() % sizeof junk;
			at = regions[r][0] + (size_t)random() % regions[r][1];
			for (size_t j = 0; j < n; j++)
				junk[j] = (unsigned char)random();
			if (at + n <= img_len)
				memcpy(copy + at, junk, n);
		}
		if (sym_lookup_mem(copy, img_len, value, name,
		    sizeof name) == 0)
			ck_assert_uint_lt(strlen(name), sizeof name);
	}
	free(copy);
	free(img);
}
END_TEST

START_TEST(hostile_files_are_not_found)
{
	char		 path[PATH_MAX], name[64];
	unsigned char	*buf;
	size_t		 len;
	int		 fds;

	fds = tu_fd_count();
	buf = slurp("/proc/self/exe", &len);
	snprintf(path, sizeof path, "%s/half", tmp);
	write_file(path, buf, len / 2);
	free(buf);
	ck_assert_int_eq(sym_lookup_file(path, value_of((const void *)fn_a),
	    name, sizeof name), -1);
	snprintf(path, sizeof path, "%s/empty", tmp);
	write_file(path, "", 0);
	errno = 0;
	ck_assert_int_eq(sym_lookup_file(path, 0, name, sizeof name), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(sym_lookup_file(tmp, 0, name, sizeof name), -1);
	/* A FIFO is no file to map, and opening it does not wait. */
	snprintf(path, sizeof path, "%s/fifo", tmp);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	alarm(10);
	ck_assert_int_eq(sym_lookup_file(path, 0, name, sizeof name), -1);
	alarm(0);
	snprintf(path, sizeof path, "%s/none", tmp);
	errno = 0;
	ck_assert_int_eq(sym_lookup_file(path, 0, name, sizeof name), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(sym_lookup_mem(NULL, 0, 0, name, sizeof name), -1);
	ck_assert_int_eq(tu_fd_count(), fds);
}
END_TEST

static Suite *
symname_suite(void)
{
	Suite	*s = suite_create("symname");
	TCase	*tc = tcase_create("symname");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, static_functions_of_the_program_by_name);
	tcase_add_test(tc, functions_of_shared_objects_by_name);
	tcase_add_test(tc, a_stripped_copy_has_only_its_dynamic_symbols);
	tcase_add_test(tc, an_object_is_opened_once);
	tcase_add_test(tc, a_file_replaced_since_it_was_loaded_is_not_read);
	tcase_add_test(tc, hostile_images_are_not_found);
	tcase_add_test(tc, randomly_damaged_images_do_not_hurt);
	tcase_add_test(tc, hostile_files_are_not_found);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(int argc, char **argv)
{
	SRunner	*sr;
	char	*slash, self[PATH_MAX];
	int	 failed;

	(void)argc;
	if (realpath(argv[0], self) == NULL || strlen(self) >= sizeof bindir)
		return (2);
	strcpy(bindir, self);
	if ((slash = strrchr(bindir, '/')) != NULL)
		*slash = '\0';
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(symname_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}
