#!/bin/bash
# The code a new isolate runs (functions marked ISO_HOT in lib/*.c) is
# gathered in one part of the library's text: each function so marked is
# compiled into .text.hot, and in the shared library they lie together,
# within one 64 KiB window (a new process maps its code a window at a
# time). Sanitized code is larger: there only the grouping is checked.
#
# env: SRCDIR (repo root), BUILD (absolute build dir), SAN=1 for a
# sanitizer build.

set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
SAN=${SAN:-}
WINDOW=65536

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
bad=0

# file function, for each function marked ISO_HOT (the mark is on the
# line of its return type, the name begins the next line)
awk '/^(static )?ISO_HOT /{ hot = 1; next }
    hot && match($0, /^[a-z_0-9]+\(/) {
	f = FILENAME; sub(".*/", "", f); sub("\\.c$", "", f)
	print f, substr($0, 1, RLENGTH - 1)
    }
    { hot = 0 }' "$SRCDIR"/lib/*.c >"$tmp/marked"
n=$(wc -l <"$tmp/marked")
if [ "$n" -lt 20 ]; then
	echo "FAIL: only $n functions marked ISO_HOT in lib/*.c"
	exit 1
fi

# Each in its object's .text.hot (a clone, name.isra.0, counts as it;
# a part the compiler split off as cold, name.cold, does not; one this
# build compiles out, or inlines everywhere, has no symbol to check).
while read -r obj fn; do
	o=$BUILD/obj/lib/$obj.o
	if [ ! -f "$o" ]; then
		echo "FAIL: no $o to look for $fn in"
		bad=1
		continue
	fi
	if ! objdump -t "$o" | awk -v fn="$fn" '
	    $NF ~ /\.cold/ { next }	# cold parts go to .text.unlikely
	    ($NF == fn || index($NF, fn ".") == 1) &&
		$(NF - 2) !~ /^\.text\.hot/ { bad = 1 }
	    END { exit bad }'; then
		echo "FAIL: $fn ($obj.c) is marked ISO_HOT but not in .text.hot:"
		objdump -t "$o" | awk -v fn="$fn" '$NF == fn || index($NF, fn ".") == 1'
		bad=1
	fi
done <"$tmp/marked"

# In the shared library: the marked functions' span holds nothing else,
# and fits a window.
so=$BUILD/libisolate.so
nm -t d -S --defined-only "$so" | awk '$3 ~ /^[tT]$/' >"$tmp/syms"
awk 'NR == FNR { hot[$2] = 1; next }
    $4 ~ /\.cold/ { next }	# cold parts are kept apart on purpose
    { name = $4; sub("\\..*", "", name) }
    { addr = $1 + 0; end = addr + $2 }
    name in hot { if (lo == "" || addr < lo) lo = addr; if (end > hi) hi = end }
    { all[NR] = addr; names[NR] = $4; ishot[NR] = (name in hot) }
    END {
	if (lo == "") { print "FAIL: no marked function in the library"; exit 1 }
	for (i in all)
		if (!ishot[i] && all[i] >= lo && all[i] < hi) {
			if (++among <= 10)
				printf "FAIL: %s lies among the ISO_HOT " \
				    "functions\n", names[i]
			bad = 1
		}
	if (among > 10)
		printf "FAIL: and %d more\n", among - 10
	printf "ISO_HOT span: %d bytes\n", hi - lo
	print hi - lo >"/dev/stderr"
	exit bad
    }' "$tmp/marked" "$tmp/syms" 2>"$tmp/span" || bad=1
span=$(cat "$tmp/span")
if [ -z "$SAN" ] && [ -n "$span" ] && [ "$span" -gt "$WINDOW" ]; then
	echo "FAIL: the ISO_HOT functions span $span bytes, more than $WINDOW"
	bad=1
fi

[ "$bad" = 0 ] && echo "PASS: $n ISO_HOT functions gathered (span $span bytes)"
exit "$bad"
