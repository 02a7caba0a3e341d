#!/bin/bash
# make install / uninstall: a program builds against the installed header,
# pkg-config file, shared and static library; isolated, its man page and
# its systemd user unit are installed, and the library starts the
# installed isolated on demand; DESTDIR stages; uninstall removes what
# install put there.
#
# env: SRCDIR (repo root), BUILD (absolute build dir), SAN=1 for a
# sanitizer build (the program must then be built with the sanitizers).

set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
SAN=${SAN:-}

tmp=$(mktemp -d) || exit 1
rt=$tmp/rt
# The pid of the supervisor this test started, while it runs.
sup_pid() {
	local pid
	[ -f "$rt/supervisor.lock" ] || return 1
	pid=$(head -n 1 "$rt/supervisor.lock")
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = isolated ] &&
	    echo "$pid"
}
# A supervisor this test started must not outlive it.
cleanup() {
	local pid
	pid=$(sup_pid) && kill -9 "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

die() { echo "install.sh: $*" >&2; exit 1; }

# A make of our own: not the jobserver or goals of the make running us.
mk() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    make --no-print-directory -C "$SRCDIR" BUILD="$BUILD" SAN="$SAN" "$@"
}

sanflags=
[ "$SAN" = 1 ] && sanflags="-fsanitize=address,undefined -fno-sanitize-recover=all"

prefix=$tmp/prefix
pc() { PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config "$@" isolate; }

mk install PREFIX="$prefix" >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log"
	die "make install PREFIX=$prefix failed"
}

files=(include/isolate.h lib/libisolate.a lib/libisolate.so.0.1.0
    lib/libisolate.so.0 lib/libisolate.so lib/pkgconfig/isolate.pc
    bin/isolated share/man/man8/isolated.8 lib/systemd/user/isolated.service)
# isoctl, its man page and its bash and zsh completions.
files+=(bin/isoctl share/man/man1/isoctl.1
    share/bash-completion/completions/isoctl share/zsh/site-functions/_isoctl)
for f in "${files[@]}"; do
	[ -e "$prefix/$f" ] || die "install: $prefix/$f missing"
done
if [ ! -L "$prefix/lib/libisolate.so.0" ] || [ ! -L "$prefix/lib/libisolate.so" ]; then
	die "install: libisolate.so and libisolate.so.0 are not symlinks"
fi
"$prefix/bin/isoctl" --version | grep -qx 'isoctl 0\.1\.0' ||
	die "the installed isoctl does not say its version"
# The completions installed are what the installed isoctl prints.
"$prefix/bin/isoctl" completion bash |
    cmp -s - "$prefix/share/bash-completion/completions/isoctl" ||
	die "the bash completion installed is not isoctl completion bash"
"$prefix/bin/isoctl" completion zsh |
    cmp -s - "$prefix/share/zsh/site-functions/_isoctl" ||
	die "the zsh completion installed is not isoctl completion zsh"
readelf -d "$prefix/lib/libisolate.so.0.1.0" |
    grep -q 'SONAME.*\[libisolate\.so\.0\]' ||
	die "libisolate.so.0.1.0 has no soname libisolate.so.0"

cat >"$tmp/prog.c" <<'PROG'
#include <stdio.h>
#include <stdlib.h>
#include <isolate.h>

int
main(void)
{
	iso_msg	*m, *d;
	void	*buf;
	size_t	 len;

	if ((m = iso_msg_pack("{s:i}", "msg", 5)) == NULL)
		return 1;
	if (iso_msg_encode(m, &buf, &len) == -1)
		return 2;
	if ((d = iso_msg_decode(buf, len)) == NULL)
		return 3;
	if (!iso_msg_equal(m, d))
		return 4;
	free(buf);
	iso_msg_free(d);
	iso_msg_free(m);
	puts("ok");
	return 0;
}
PROG

# Shared: through the installed .pc, found at run time by rpath.
cflags=$(pc --cflags) || die "pkg-config --cflags isolate failed"
libs=$(pc --libs) || die "pkg-config --libs isolate failed"
# $sanflags, $cflags and $libs are flag lists: split them on purpose.
# shellcheck disable=SC2086
cc $sanflags -o "$tmp/prog" "$tmp/prog.c" $cflags $libs \
    -Wl,-rpath,"$prefix/lib" || die "cannot build against the installed .so"
readelf -d "$tmp/prog" | grep -q 'NEEDED.*\[libisolate\.so\.0\]' ||
	die "prog does not need libisolate.so.0"
out=$("$tmp/prog") || die "prog (shared) failed: exit $?"
[ "$out" = ok ] || die "prog (shared) printed '$out', not ok"

# Static: --static must list the private requirements the .a needs.
slibs=$(pc --static --libs) || die "pkg-config --static --libs isolate failed"
slibs=" $slibs "
slibs=${slibs/ -lisolate / -l:libisolate.a }
# shellcheck disable=SC2086
cc $sanflags -o "$tmp/prog-static" "$tmp/prog.c" $cflags $slibs ||
	die "cannot link statically with pkg-config --static --libs isolate"
if readelf -d "$tmp/prog-static" | grep -q 'NEEDED.*libisolate'; then
	die "prog-static still needs libisolate.so"
fi
out=$("$tmp/prog-static") || die "prog (static) failed: exit $?"
[ "$out" = ok ] || die "prog (static) printed '$out', not ok"

# isolated: the installed copy runs, and its unit and man page name it.
out=$("$prefix/bin/isolated" --version) || die "isolated --version failed: exit $?"
[ "$out" = "isolated 0.1.0" ] || die "isolated --version printed '$out'"
grep -qx "ExecStart=$prefix/bin/isolated --foreground" \
    "$prefix/lib/systemd/user/isolated.service" ||
	die "isolated.service does not run $prefix/bin/isolated"
if grep -q @ "$prefix/lib/systemd/user/isolated.service"; then
	die "isolated.service still has an @VARIABLE@"
fi
if command -v man >/dev/null 2>&1; then
	warn=$(man --warnings -l "$prefix/share/man/man8/isolated.8" 2>&1 >/dev/null) ||
		die "man cannot render isolated.8"
	[ -z "$warn" ] || die "man warns about isolated.8: $warn"
fi

# The library starts the isolated installed with it (not one from
# $PATH or the build) when a client call finds none running.
cat >"$tmp/sup.c" <<'PROG'
#include <stdio.h>
#include <isolate.h>

int
main(void)
{
	iso_msg	*st;
	int	 pid;

	if (iso_sup_start() == -1) {
		printf("start: %s\n", iso_error());
		return 1;
	}
	if (iso_sup_status(&st) == -1 ||
	    iso_msg_unpack(st, "{s:i}", "pid", &pid) == -1)
		return 2;
	iso_msg_free(st);
	if (iso_sup_stop() == -1)
		return 3;
	printf("ok %d\n", pid);
	return 0;
}
PROG
# shellcheck disable=SC2086
cc $sanflags -o "$tmp/sup" "$tmp/sup.c" $cflags $libs \
    -Wl,-rpath,"$prefix/lib" || die "cannot build the supervisor client"
mkdir -m 700 "$rt" || exit 1
out=$(env -u ISO_ISOLATED ISO_RUNTIME_DIR="$rt" PATH=/usr/bin:/bin "$tmp/sup") ||
	die "starting the installed isolated failed: $out"
case $out in
"ok "*) ;;
*) die "the supervisor client printed '$out'" ;;
esac
grep -q "serving on $rt/supervisor.sock" "$rt/supervisor/isolated.log" ||
	die "isolated.log does not show the installed isolated serving"
for _ in $(seq 100); do
	sup_pid >/dev/null || break
	sleep 0.05
done
if sup_pid >/dev/null; then
	die "the installed isolated did not exit after stop"
fi

# DESTDIR: staged under $tmp/dest, the .pc naming the final prefix.
dest=$tmp/dest
mk install DESTDIR="$dest" PREFIX=/opt/iso >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log"
	die "make install DESTDIR=$dest PREFIX=/opt/iso failed"
}
for f in "${files[@]}"; do
	[ -e "$dest/opt/iso/$f" ] || die "DESTDIR install: $dest/opt/iso/$f missing"
done
grep -qx 'prefix=/opt/iso' "$dest/opt/iso/lib/pkgconfig/isolate.pc" ||
	die "DESTDIR install: isolate.pc does not say prefix=/opt/iso"
out=$("$dest/opt/iso/bin/isolated" --version) ||
	die "DESTDIR install: isolated --version failed: exit $?"
[ "$out" = "isolated 0.1.0" ] || die "DESTDIR install: isolated --version printed '$out'"
grep -qx 'ExecStart=/opt/iso/bin/isolated --foreground' \
    "$dest/opt/iso/lib/systemd/user/isolated.service" ||
	die "DESTDIR install: isolated.service does not run /opt/iso/bin/isolated"
# The library starts isolated from the final BINDIR, not from DESTDIR.
grep -q '/opt/iso/bin/isolated' "$dest/opt/iso/lib/libisolate.so.0.1.0" ||
	die "DESTDIR install: libisolate.so does not start /opt/iso/bin/isolated"

# Uninstall removes every file install put under the first prefix.
mk uninstall PREFIX="$prefix" >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log"
	die "make uninstall PREFIX=$prefix failed"
}
for f in "${files[@]}"; do
	if [ -e "$prefix/$f" ] || [ -L "$prefix/$f" ]; then
		die "uninstall left $prefix/$f"
	fi
done

echo "install.sh: ok"
