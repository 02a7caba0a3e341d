# libisolate: build, test, install.
#
#   make                 static and shared library in $(BUILD)
#   make check           deps, then every test (Check suites, valgrind,
#                        fuzz corpus replays, shell tests)
#   make check SAN=1     the same with ASan+UBSan in build-san, no valgrind
#   make chaos           the chaos suite at length (CHAOS_LONG=1), its
#                        figures written to docs/reliability.md
#   make fuzz            libFuzzer runs, FUZZ_SECONDS each (clang)
#   make bench           bench-deps, then bench/bench_*.c and the peers
#                        (ZeroMQ, Python, Node) side by side: tables,
#                        bench/results/latest.{json,svg} (QUICK=1: short)
#   make demo            deps, then the tutorial's squares exchange (S7)
#   make examples        examples/*.c, the tutorial's programs, in $(BUILD)
#   make install         PREFIX=/usr/local DESTDIR=: the library, header
#                        and .pc, isolated, its man page and systemd unit,
#                        isoctl, its man page and completions
#   make man             docs/isoctl.1's SYNOPSIS from isoctl's table
#   make help            this list, with the variables

VERSION_MAJOR	:= 0
VERSION_MINOR	:= 1
VERSION_PATCH	:= 0
VERSION		:= $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

SAN		?=
WERROR		?= 1
ifeq ($(SAN),1)
BUILD		?= build-san
else
BUILD		?= build
endif

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
INCLUDEDIR	?= $(PREFIX)/include
LIBDIR		?= $(PREFIX)/lib
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
MANDIR		?= $(PREFIX)/share/man
USERUNITDIR	?= $(PREFIX)/lib/systemd/user
BASHCOMPDIR	?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR	?= $(PREFIX)/share/zsh/site-functions
DESTDIR		?=

CC		?= cc
AR		?= ar
CLANG		?= clang
PKG_CONFIG	?= pkg-config
CFLAGS		?= -O2 -g
LDFLAGS		?=
LDLIBS		?=
FUZZ_SECONDS	?= 60
FUZZ_ARGS	?=
QUICK		?=

# Debian packages `make check` needs; `make bench` adds BENCH_PKGS.
DEPS_PKGS	:= pkg-config libevent-dev libmsgpack-dev libjansson-dev \
		   check valgrind procps binutils zsh libnats-dev nats-server \
		   libssl-dev zlib1g-dev libseccomp-dev python3
BENCH_PKGS	:= libzmq3-dev python3 nodejs gnuplot-nox

MAKEFLAGS	+= --no-builtin-rules
.SUFFIXES:
.DELETE_ON_ERROR:

# Debian 12 calls msgpack's module `msgpack`, newer upstream `msgpack-c`.
MSGPACK_PC	:= $(shell $(PKG_CONFIG) --exists msgpack-c 2>/dev/null && \
		     echo msgpack-c || echo msgpack)
PC_MODULES	:= libevent $(MSGPACK_PC) jansson libseccomp
DEPS_CFLAGS	:= $(shell $(PKG_CONFIG) --cflags $(PC_MODULES) 2>/dev/null)
DEPS_LIBS	:= $(shell $(PKG_CONFIG) --libs $(PC_MODULES) 2>/dev/null)
# The supervisor joins a cluster over NATS (nats.c, its libevent adapter).
DAEMON_PC	:= libnats libevent_pthreads libcrypto zlib
DAEMON_LIBS	:= $(shell $(PKG_CONFIG) --libs $(DAEMON_PC) 2>/dev/null)
CHECK_CFLAGS	:= $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS	:= $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

# Goals that must work before the libraries are there (or need none).
NODEPS_GOALS	:= deps bench-deps check bench clean demo help uninstall
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
ifneq ($(shell $(PKG_CONFIG) --exists $(PC_MODULES) $(DAEMON_PC) 2>/dev/null && echo y),y)
$(error pkg-config cannot find $(PC_MODULES) $(DAEMON_PC): run `make deps`)
endif
endif

WARNFLAGS	:= -Wall -Wextra -Wshadow -Wstrict-prototypes \
		   -Wmissing-prototypes -Wpointer-arith -Wformat=2 -Wvla \
		   -Wwrite-strings -Wundef -Wcast-align -Wnull-dereference
ifeq ($(WERROR),1)
WARNFLAGS	+= -Werror
endif
ifeq ($(SAN),1)
SANFLAGS	:= -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=all
endif

BASE_CFLAGS	:= -std=gnu11 -D_GNU_SOURCE -fPIC -Iinclude -Ilib $(WARNFLAGS)
ALL_CFLAGS	= $(BASE_CFLAGS) $(CFLAGS) $(SANFLAGS) $(DEPS_CFLAGS) -MMD -MP
ALL_LDFLAGS	= $(LDFLAGS) $(SANFLAGS)

FUZZ_SANFLAGS	:= -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS	= -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilib $(WARNFLAGS) -g -O1 \
		  $(FUZZ_SANFLAGS) $(DEPS_CFLAGS) -MMD -MP

# ---- sources and outputs ----------------------------------------------

LIB_SRCS	:= $(wildcard lib/*.c)
LIB_OBJS	:= $(LIB_SRCS:lib/%.c=$(BUILD)/obj/lib/%.o)
LIB_A		:= $(BUILD)/libisolate.a
LIB_SONAME	:= libisolate.so.$(VERSION_MAJOR)
LIB_SO		:= $(BUILD)/libisolate.so.$(VERSION)
LIB_SO_LINKS	:= $(BUILD)/$(LIB_SONAME) $(BUILD)/libisolate.so

TEST_SRCS	:= $(wildcard tests/check_*.c)
TEST_BINS	:= $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
TESTUTIL_OBJS	:= $(patsubst tests/%.c,$(BUILD)/obj/tests/%.o,\
		     $(wildcard tests/testutil.c))

FUZZ_SRCS	:= $(wildcard fuzz/fuzz_*.c)
FUZZ_NAMES	:= $(FUZZ_SRCS:fuzz/fuzz_%.c=%)
REPLAY_BINS	:= $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
REPLAY_OBJ	:= $(BUILD)/obj/fuzz/replay.o
FUZZ_BINS	:= $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_LIB_OBJS	:= $(LIB_SRCS:lib/%.c=$(BUILD)/fuzzobj/lib/%.o)

# isolated: daemon/*.c; everything but its main() also goes into an
# archive that the Check suites link, so each module is tested alone.
DAEMON_SRCS	:= $(wildcard daemon/*.c)
DAEMON_OBJS	:= $(DAEMON_SRCS:daemon/%.c=$(BUILD)/obj/daemon/%.o)
DAEMON_MAIN	:= $(BUILD)/obj/daemon/isolated.o
DAEMON_A	:= $(BUILD)/libisolated.a
ISOLATED	:= $(BUILD)/isolated
# isoctl: cli/*.c over the library's client calls.
CLI_SRCS	:= $(wildcard cli/*.c)
CLI_OBJS	:= $(CLI_SRCS:cli/%.c=$(BUILD)/obj/cli/%.o)
ISOCTL		:= $(BUILD)/isoctl
# Its completion scripts, printed by isoctl from its command table.
BASH_COMPLETION	:= $(BUILD)/completion/isoctl.bash
ZSH_COMPLETION	:= $(BUILD)/completion/_isoctl
COMPLETIONS	:= $(BASH_COMPLETION) $(ZSH_COMPLETION)
# Test programs the supervisor's suites run (a compute module, helpers).
TESTPROG_SRCS	:= $(wildcard tests/prog/*.c)
TESTPROG_BINS	:= $(TESTPROG_SRCS:tests/prog/%.c=$(BUILD)/tests/prog/%)
# sup_spawner again as a fixed-address executable (ET_EXEC, not PIE), for
# the entry names of a program whose symbols are absolute addresses.
TESTPROG_NOPIE	:= $(BUILD)/tests/prog/sup_spawner_nopie
# The chaos suite's programs (tests/chaos/chaos_*.c, no Check): each
# injects a fault, counts, prints one summary line, exits 1 on any loss.
CHAOS_SRCS	:= $(wildcard tests/chaos/chaos_*.c)
CHAOS_BINS	:= $(CHAOS_SRCS:tests/chaos/%.c=$(BUILD)/tests/chaos/%)

BENCH_SRCS	:= $(wildcard bench/bench_*.c)
BENCH_BINS	:= $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

EXAMPLE_SRCS	:= $(wildcard examples/*.c)
EXAMPLE_BINS	:= $(EXAMPLE_SRCS:examples/%.c=$(BUILD)/examples/%)

OBJ_DIRS	:= $(BUILD)/obj/lib $(BUILD)/obj/tests $(BUILD)/obj/fuzz \
		   $(BUILD)/obj/bench $(BUILD)/fuzzobj/lib $(BUILD)/fuzzobj/fuzz \
		   $(BUILD)/obj/examples $(BUILD)/obj/daemon $(BUILD)/obj/cli
OUT_DIRS	:= $(BUILD)/tests $(BUILD)/fuzz $(BUILD)/bench $(BUILD)/examples \
		   $(BUILD)/tests/prog $(BUILD)/tests/chaos

.PHONY: all tests check check-build deps bench-deps fuzz bench demo \
	examples install uninstall clean help chaos man

all: $(LIB_A) $(LIB_SO) $(LIB_SO_LINKS) $(ISOLATED) $(ISOCTL) \
    $(COMPLETIONS)

$(BUILD) $(OBJ_DIRS) $(OUT_DIRS):
	mkdir -p $@

# ---- the library --------------------------------------------------------

$(BUILD)/obj/lib/%.o: lib/%.c | $(BUILD)/obj/lib
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJS) | $(BUILD)
	rm -f $@
	$(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJS) lib/libisolate.map | $(BUILD)
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) \
	    -Wl,--version-script=lib/libisolate.map -Wl,--no-undefined \
	    $(ALL_LDFLAGS) -o $@ $(LIB_OBJS) $(DEPS_LIBS) $(LDLIBS)

# The client calls start $(BINDIR)/isolated when no supervisor runs: the
# path is compiled into supclient.o (one object for the .a and the .so).
# A stamp holding the last BINDIR rebuilds it when BINDIR changes, since
# one build directory may be installed to several prefixes.
BINDIR_STAMP	:= $(BUILD)/bindir.stamp

$(BINDIR_STAMP): FORCE | $(BUILD)
	@echo '$(BINDIR)' | cmp -s - $@ || echo '$(BINDIR)' > $@

$(BUILD)/obj/lib/supclient.o: ALL_CFLAGS += \
    -DISO_ISOLATED_PATH='"$(BINDIR)/isolated"'
$(BUILD)/obj/lib/supclient.o: $(BINDIR_STAMP)

.PHONY: FORCE
FORCE:

$(BUILD)/$(LIB_SONAME): $(LIB_SO)
	ln -sf $(notdir $<) $@

$(BUILD)/libisolate.so: $(BUILD)/$(LIB_SONAME)
	ln -sf $(notdir $<) $@

# ---- the supervisor -------------------------------------------------------

$(BUILD)/obj/daemon/%.o: daemon/%.c | $(BUILD)/obj/daemon
	$(CC) $(ALL_CFLAGS) -Idaemon -c -o $@ $<

$(DAEMON_A): $(filter-out $(DAEMON_MAIN),$(DAEMON_OBJS)) | $(BUILD)
	rm -f $@
	$(AR) rcs $@ $^

# Compute modules are built without the library (-shared, no
# -lisolate): the supervisor exports the iso_* functions they call.
EXPORT_ISO	:= -Wl,--export-dynamic-symbol=iso_*

$(ISOLATED): $(DAEMON_MAIN) $(DAEMON_A) $(LIB_A) | $(BUILD)
	$(CC) $(ALL_LDFLAGS) $(EXPORT_ISO) -o $@ $< $(DAEMON_A) $(LIB_A) \
	    $(DEPS_LIBS) $(DAEMON_LIBS) -ldl $(LDLIBS)

# ---- the command line -------------------------------------------------------

$(BUILD)/obj/cli/%.o: cli/%.c | $(BUILD)/obj/cli
	$(CC) $(ALL_CFLAGS) -Icli -c -o $@ $<

# map loads modules too: isoctl has the whole library, and exports it.
$(ISOCTL): $(CLI_OBJS) $(LIB_A) | $(BUILD)
	$(CC) $(ALL_LDFLAGS) $(EXPORT_ISO) -o $@ $(CLI_OBJS) \
	    -Wl,--whole-archive $(LIB_A) -Wl,--no-whole-archive \
	    $(DEPS_LIBS) -ldl $(LDLIBS)

$(BUILD)/completion:
	mkdir -p $@

$(BASH_COMPLETION): $(ISOCTL) | $(BUILD)/completion
	$(ISOCTL) completion bash > $@

$(ZSH_COMPLETION): $(ISOCTL) | $(BUILD)/completion
	$(ISOCTL) completion zsh > $@

# The man page's SYNOPSIS, rewritten in place from the command table;
# make check fails while the committed page differs (tests/isoctl_cli.sh).
man: $(ISOCTL)
	sh scripts/man-synopsis.sh $(ISOCTL) docs/isoctl.1

# ---- tests ----------------------------------------------------------------

tests: $(TEST_BINS) $(REPLAY_BINS) $(TESTPROG_BINS) $(TESTPROG_NOPIE) \
    $(CHAOS_BINS)

check-build: all tests examples

$(BUILD)/obj/tests/%.o: tests/%.c | $(BUILD)/obj/tests
	$(CC) $(ALL_CFLAGS) -Itests -Idaemon $(CHECK_CFLAGS) -c -o $@ $<

$(TEST_BINS): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TESTUTIL_OBJS) \
    $(DAEMON_A) $(LIB_A) $(ISOLATED) | $(BUILD)/tests
	$(CC) $(ALL_LDFLAGS) $(EXPORT_ISO) -o $@ $< $(TESTUTIL_OBJS) \
	    $(DAEMON_A) $(LIB_A) $(DEPS_LIBS) $(DAEMON_LIBS) $(CHECK_LIBS) \
	    -ldl $(LDLIBS)

# A compute module is a shared object; other helpers are programs.
$(BUILD)/tests/prog/%: tests/prog/%.c $(LIB_A) | $(BUILD)/tests/prog
	$(if $(filter mod_%,$*),$(CC) $(ALL_CFLAGS) -shared -o $@ $<,$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< \
	    $(LIB_A) $(DEPS_LIBS) $(LDLIBS))

# A hostile cluster peer speaks NATS itself.
$(BUILD)/tests/prog/cl_forge: tests/prog/cl_forge.c $(LIB_A) | \
    $(BUILD)/tests/prog
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB_A) $(DEPS_LIBS) \
	    $(DAEMON_LIBS) $(LDLIBS)

$(TESTPROG_NOPIE): tests/prog/sup_spawner.c $(LIB_A) | $(BUILD)/tests/prog
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -no-pie -o $@ $< $(LIB_A) \
	    $(DEPS_LIBS) $(LDLIBS)

$(CHAOS_BINS): $(BUILD)/tests/chaos/%: tests/chaos/%.c $(TESTUTIL_OBJS) \
    $(LIB_A) | $(BUILD)/tests/chaos
	$(CC) $(ALL_CFLAGS) -Itests $(ALL_LDFLAGS) -o $@ $< $(TESTUTIL_OBJS) \
	    $(LIB_A) $(DEPS_LIBS) $(LDLIBS)

$(BUILD)/obj/fuzz/%.o: fuzz/%.c | $(BUILD)/obj/fuzz
	$(CC) $(ALL_CFLAGS) -Ifuzz -c -o $@ $<

$(REPLAY_BINS): $(BUILD)/fuzz/replay_%: $(BUILD)/obj/fuzz/fuzz_%.o \
    $(REPLAY_OBJ) $(LIB_A) | $(BUILD)/fuzz
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(REPLAY_OBJ) $(LIB_A) \
	    $(DEPS_LIBS) $(LDLIBS)

# Build first in a sub-make so that deps can install what the parse of
# this Makefile could not find. -k: one test that does not compile
# still lets the others run; the runner counts the missing binary.
check:
	@$(MAKE) --no-print-directory deps
	@status=0; \
	$(MAKE) --no-print-directory -k check-build || status=1; \
	BUILD='$(BUILD)' SAN='$(SAN)' BUILD_FAILED=$$status \
	    bash scripts/run-tests.sh '$(BUILD)'

# The chaos suite at length (CHAOS_LONG=1: more runs, more messages,
# more faults); its figures go to docs/reliability.md. make check runs
# the short form.
chaos:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory check-build
	@BUILD='$(BUILD)' CHAOS_LONG=1 bash tests/chaos/run.sh --report docs/reliability.md

deps:
	@sh scripts/deps.sh $(DEPS_PKGS)

bench-deps:
	@sh scripts/deps.sh $(DEPS_PKGS) $(BENCH_PKGS)

# ---- fuzzing (clang, libFuzzer) ---------------------------------------

$(BUILD)/fuzzobj/lib/%.o: lib/%.c | $(BUILD)/fuzzobj/lib
	$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<

$(BUILD)/fuzzobj/fuzz/%.o: fuzz/%.c | $(BUILD)/fuzzobj/fuzz
	$(CLANG) $(FUZZ_CFLAGS) -Ifuzz -c -o $@ $<

$(FUZZ_BINS): $(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzzobj/fuzz/fuzz_%.o \
    $(FUZZ_LIB_OBJS) | $(BUILD)/fuzz
	$(CLANG) $(FUZZ_SANFLAGS) $(LDFLAGS) -o $@ $< $(FUZZ_LIB_OBJS) \
	    $(DEPS_LIBS) $(LDLIBS)

# Each fuzzer grows a scratch corpus under $(BUILD), seeded from
# fuzz/corpus/X; the repo is never written. Crashes land in
# $(BUILD)/fuzz/artifacts/X/ and fail the target after all have run.
fuzz: $(FUZZ_BINS)
	@[ -n '$(FUZZ_NAMES)' ] || { echo 'fuzz: no fuzz/fuzz_*.c'; exit 0; }; \
	fail=; \
	for n in $(FUZZ_NAMES); do \
		work='$(BUILD)/fuzz/work'/$$n; \
		art='$(BUILD)/fuzz/artifacts'/$$n/; \
		mkdir -p "$$work" "$$art" || exit 1; \
		if [ -d fuzz/corpus/$$n ]; then \
			cp -R fuzz/corpus/$$n/. "$$work"/ || exit 1; \
		fi; \
		echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
		'$(BUILD)'/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) \
		    -artifact_prefix="$$art" $(FUZZ_ARGS) "$$work" || \
		    fail="$$fail $$n"; \
	done; \
	if [ -n "$$fail" ]; then \
		echo "fuzz: failed:$$fail (see $(BUILD)/fuzz/artifacts/)"; \
		exit 1; \
	fi; \
	echo "fuzz: no crash in$(FUZZ_NAMES:%= %)"

# ---- benchmarks --------------------------------------------------------

# Each bench/bench_*.c is one program printing one JSON line a
# measurement; bench/run.sh runs them all and the peers, then prints the
# tables, the targets and the chart (bench/results/). bench_zmq is the
# ZeroMQ peer: it links libzmq, not the library.
$(BUILD)/obj/bench/%.o: bench/%.c | $(BUILD)/obj/bench
	$(CC) $(ALL_CFLAGS) -Ibench -c -o $@ $<

BENCH_UTIL	:= $(BUILD)/obj/bench/benchutil.o
BENCH_ZMQ	:= $(BUILD)/bench/bench_zmq
BENCH_MBOX	:= $(BUILD)/bench/bench_mbox
BENCH_CLUSTER	:= $(BUILD)/bench/bench_cluster
ZMQ_CFLAGS	= $(shell $(PKG_CONFIG) --cflags libzmq)
ZMQ_LIBS	= $(shell $(PKG_CONFIG) --libs libzmq)

$(filter-out $(BENCH_ZMQ) $(BENCH_MBOX) $(BENCH_CLUSTER),$(BENCH_BINS)): \
    $(BUILD)/bench/%: \
    $(BUILD)/obj/bench/%.o $(BENCH_UTIL) $(LIB_A) | $(BUILD)/bench
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(BENCH_UTIL) $(LIB_A) $(DEPS_LIBS) \
	    -lm $(LDLIBS)

# bench_mbox calls the supervisor's mailbox module directly.
$(BUILD)/obj/bench/bench_mbox.o: ALL_CFLAGS += -Idaemon

$(BENCH_MBOX): $(BUILD)/obj/bench/bench_mbox.o $(BENCH_UTIL) $(DAEMON_A) \
    $(LIB_A) | $(BUILD)/bench
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(BENCH_UTIL) $(DAEMON_A) $(LIB_A) \
	    $(DEPS_LIBS) -ldl -lm $(LDLIBS)

# bench_cluster's raw rows speak NATS themselves (nats.c).
$(BENCH_CLUSTER): $(BUILD)/obj/bench/bench_cluster.o $(BENCH_UTIL) $(LIB_A) \
    | $(BUILD)/bench
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(BENCH_UTIL) $(LIB_A) $(DEPS_LIBS) \
	    $(DAEMON_LIBS) -lm $(LDLIBS)

$(BUILD)/obj/bench/bench_zmq.o: ALL_CFLAGS += $(ZMQ_CFLAGS)

$(BENCH_ZMQ): $(BUILD)/obj/bench/bench_zmq.o | $(BUILD)/bench
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(ZMQ_LIBS) $(LDLIBS)

# The compute module bench_supcompute has the supervisor run.
BENCH_MOD	:= $(BUILD)/bench/mod_bench.so

$(BENCH_MOD): bench/mod_bench.c | $(BUILD)/bench
	$(CC) $(ALL_CFLAGS) -shared -o $@ $<

# bench_pool's map_cli row runs isoctl map over a test module.
bench-build: $(BENCH_BINS) $(BENCH_MOD) $(BUILD)/isolated $(ISOCTL) \
    $(BUILD)/tests/prog/mod_compute

# QUICK=1: 3 short rounds of each, a few seconds to half a minute.
bench:
	@$(MAKE) --no-print-directory bench-deps
	@$(MAKE) --no-print-directory bench-build
	@BUILD='$(BUILD)' QUICK='$(QUICK)' bash bench/run.sh

.PHONY: bench-build

# ---- examples and the demo ----------------------------------------------

# One program per file, linked like the tests; tests/examples.sh runs them.
$(BUILD)/obj/examples/%.o: examples/%.c | $(BUILD)/obj/examples
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(EXAMPLE_BINS): $(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB_A) \
    | $(BUILD)/examples
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB_A) $(DEPS_LIBS) $(LDLIBS)

examples: $(EXAMPLE_BINS)

# The tutorial's Flutter app (S9): S7's squares exchange at the
# tutorial's pace, one message a second; on a terminal the latest result
# is rewritten in place, as setState does. Like check, it installs what
# is missing first, so it works on a fresh machine.
DEMO_BIN	:= $(BUILD)/examples/s7_two_ports

demo:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory -s $(DEMO_BIN)
	@echo 'demo: main sends 1..5 to an isolate, one a second; it answers with the squares'
	@'$(DEMO_BIN)'

# ---- install -------------------------------------------------------------

# The .pc is written straight to its destination: PREFIX may differ
# between installs from one build directory.
PC_SED		= -e 's|@PREFIX@|$(PREFIX)|' \
		  -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
		  -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
		  -e 's|@VERSION@|$(VERSION)|' \
		  -e 's|@MSGPACK@|$(MSGPACK_PC)|'

install: all
	install -d '$(DESTDIR)$(INCLUDEDIR)' '$(DESTDIR)$(LIBDIR)' \
	    '$(DESTDIR)$(PKGCONFIGDIR)' '$(DESTDIR)$(BINDIR)' \
	    '$(DESTDIR)$(MANDIR)/man8' '$(DESTDIR)$(USERUNITDIR)'
	install -m 644 include/isolate.h '$(DESTDIR)$(INCLUDEDIR)/isolate.h'
	install -m 644 $(LIB_A) '$(DESTDIR)$(LIBDIR)/libisolate.a'
	install -m 755 $(LIB_SO) '$(DESTDIR)$(LIBDIR)/libisolate.so.$(VERSION)'
	ln -sf libisolate.so.$(VERSION) '$(DESTDIR)$(LIBDIR)/$(LIB_SONAME)'
	ln -sf $(LIB_SONAME) '$(DESTDIR)$(LIBDIR)/libisolate.so'
	sed $(PC_SED) lib/isolate.pc.in > '$(DESTDIR)$(PKGCONFIGDIR)/isolate.pc'
	install -m 755 $(ISOLATED) '$(DESTDIR)$(BINDIR)/isolated'
	install -m 644 docs/isolated.8 '$(DESTDIR)$(MANDIR)/man8/isolated.8'
	sed -e 's|@BINDIR@|$(BINDIR)|g' contrib/isolated.service \
	    > '$(DESTDIR)$(USERUNITDIR)/isolated.service'
	install -d '$(DESTDIR)$(MANDIR)/man1' '$(DESTDIR)$(BASHCOMPDIR)' \
	    '$(DESTDIR)$(ZSHCOMPDIR)'
	install -m 755 $(ISOCTL) '$(DESTDIR)$(BINDIR)/isoctl'
	install -m 644 docs/isoctl.1 '$(DESTDIR)$(MANDIR)/man1/isoctl.1'
	install -m 644 $(BASH_COMPLETION) '$(DESTDIR)$(BASHCOMPDIR)/isoctl'
	install -m 644 $(ZSH_COMPLETION) '$(DESTDIR)$(ZSHCOMPDIR)/_isoctl'

uninstall:
	rm -f '$(DESTDIR)$(INCLUDEDIR)/isolate.h' \
	    '$(DESTDIR)$(LIBDIR)/libisolate.a' \
	    '$(DESTDIR)$(LIBDIR)/libisolate.so.$(VERSION)' \
	    '$(DESTDIR)$(LIBDIR)/$(LIB_SONAME)' \
	    '$(DESTDIR)$(LIBDIR)/libisolate.so' \
	    '$(DESTDIR)$(PKGCONFIGDIR)/isolate.pc' \
	    '$(DESTDIR)$(BINDIR)/isolated' \
	    '$(DESTDIR)$(MANDIR)/man8/isolated.8' \
	    '$(DESTDIR)$(USERUNITDIR)/isolated.service'
	rm -f '$(DESTDIR)$(BINDIR)/isoctl' \
	    '$(DESTDIR)$(MANDIR)/man1/isoctl.1' \
	    '$(DESTDIR)$(BASHCOMPDIR)/isoctl' \
	    '$(DESTDIR)$(ZSHCOMPDIR)/_isoctl'

# ---- misc ------------------------------------------------------------------

clean:
	rm -rf build build-san
	@case '$(BUILD)' in ''|.|./|/|..|../) ;; *) rm -rf -- '$(BUILD)' ;; esac

help:
	@echo 'targets: all check chaos fuzz bench bench-deps deps demo examples'
	@echo '         install uninstall clean tests check-build man'
	@echo 'vars:    BUILD=$(BUILD) SAN=$(SAN) WERROR=$(WERROR)'
	@echo '         PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) CC=$(CC) CFLAGS=$(CFLAGS)'
	@echo '         BINDIR=$(BINDIR) LIBDIR=$(LIBDIR) INCLUDEDIR=$(INCLUDEDIR)'
	@echo '         MANDIR=$(MANDIR) USERUNITDIR=$(USERUNITDIR)'
	@echo '         FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_ARGS=$(FUZZ_ARGS) QUICK=$(QUICK)'

-include $(LIB_OBJS:.o=.d) $(FUZZ_LIB_OBJS:.o=.d) \
	$(wildcard $(BUILD)/obj/tests/*.d $(BUILD)/obj/fuzz/*.d \
		   $(BUILD)/obj/bench/*.d $(BUILD)/fuzzobj/fuzz/*.d \
		   $(BUILD)/obj/examples/*.d $(BUILD)/obj/daemon/*.d \
		   $(BUILD)/obj/cli/*.d $(BUILD)/tests/chaos/*.d)
