#!/bin/bash
# isoctl map: results in input order, --unordered (the same multiset), an
# item that crashes (null, one stderr line naming its line, exit 1, the
# others right), --timeout, a bad JSON line, a last line without its
# newline, a relative module path, 100,000 lines with memory flat (max
# RSS against 10,000 lines, and behind an item that holds output back),
# usage errors, and no process left behind. The command form (map --
# CMD): awk's squares in order and --unordered, a program that exits or
# is killed on one item (that item alone fails, with the reason),
# --timeout (what the program started goes too), a line that is not JSON
# becomes a string, a program that cannot run (one line), a closed
# stdout. No supervisor: map runs its pool, or the programs, in isoctl. Prints one line per check and stops at the first
# failure with a line saying what was wrong.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl

for f in "$ISOCTL" "$BUILD/tests/prog/mod_compute"; do
	if [ ! -e "$f" ]; then
		echo "FAIL: $f is not built"
		exit 1
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/isoctl_map.XXXXXX") || exit 1
export XDG_RUNTIME_DIR=$work/run
mkdir -m 700 "$work/run"
# a path of our own, so that what is left behind can be found
MOD=$work/mod.so
cp "$BUILD/tests/prog/mod_compute" "$MOD"

cleanup() {
	local left
	left=$(pgrep -f "$work" | tr '\n' ' ')
	# shellcheck disable=SC2086
	[ -n "$left" ] && kill -9 $left 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

ok() { echo "ok: $*"; }
die() {
	echo "FAIL: $*"
	[ -s "$work/out" ] && head -20 "$work/out" | sed 's/^/    stdout: /'
	[ -s "$work/err" ] && head -20 "$work/err" | sed 's/^/    stderr: /'
	exit 1
}

# m INPUTFILE ARGS...: isoctl map ARGS < INPUTFILE; sets rc.
m() {
	local in=$1
	shift
	"$ISOCTL" map "$@" < "$in" >"$work/out" 2>"$work/err"
	rc=$?
}

# no process of ours is left (workers and programs are reaped by isoctl;
# every program here has $work in its command line)
none_left() {
	local left
	left=$(pgrep -f "$work" | tr '\n' ' ')
	[ -z "$left" ] || die "$1: processes left behind: $left"
}

seq 1 2000 > "$work/in"
awk '{ printf "%d\n", $1 * $1 }' "$work/in" > "$work/want"

m "$work/in" "$MOD:square"
[ "$rc" -eq 0 ] || die "map square: exit $rc"
cmp -s "$work/out" "$work/want" || die "map square: not the squares in order"
[ -s "$work/err" ] && die "map square: something on stderr"
ok "2,000 squares, in input order"

m "$work/in" --jobs 3 --unordered "$MOD:square"
[ "$rc" -eq 0 ] || die "--unordered: exit $rc"
sort -n "$work/out" | cmp -s - "$work/want" ||
	die "--unordered: not the same results"
ok "--unordered: the same results"

m "$work/in" -j 1 "$MOD:square"
cmp -s "$work/out" "$work/want" || die "--jobs 1: wrong"
ok "--jobs 1"

# line 13 crashes; the rest are right
awk '{ print ($1 == 13 ? -1 : $1) }' "$work/in" > "$work/crash.in"
awk '{ if ($1 == 13) print "null"; else printf "%d\n", $1 * $1 }' \
    "$work/in" > "$work/crash.want"
m "$work/crash.in" "$MOD:square_or_die"
[ "$rc" -eq 1 ] || die "a crashing item: exit $rc, not 1"
cmp -s "$work/out" "$work/crash.want" ||
	die "a crashing item: the other results are not right"
[ "$(cat "$work/err")" = "isoctl: line 13: function killed by SIGSEGV" ] ||
	die "a crashing item: stderr is not one line naming line 13"
ok "a crashing item: null, one line on stderr, exit 1, the rest right"

printf '1\n-2\n3\n' > "$work/spin.in"
m "$work/spin.in" --timeout 0.3 "$MOD:square_or_die"
[ "$rc" -eq 1 ] || die "--timeout: exit $rc, not 1"
[ "$(tr '\n' ' ' < "$work/out")" = "1 null 9 " ] ||
	die "--timeout: wrong results"
[ "$(cat "$work/err")" = "isoctl: line 2: timed out after 300 ms" ] ||
	die "--timeout: stderr is not one line naming line 2"
ok "--timeout: the item that ran past it fails, the others do not"

printf '2\n{bad\n[1,\n4' > "$work/bad.in"
m "$work/bad.in" "$MOD:echo"
[ "$rc" -eq 1 ] || die "bad JSON: exit $rc, not 1"
[ "$(tr '\n' ' ' < "$work/out")" = "2 null null 4 " ] ||
	die "bad JSON: wrong results (the last line has no newline)"
[ "$(wc -l < "$work/err")" -eq 2 ] &&
    grep -q '^isoctl: line 2: bad JSON: ' "$work/err" &&
    grep -q '^isoctl: line 3: bad JSON: ' "$work/err" ||
	die "bad JSON: not one line each naming lines 2 and 3"
ok "bad JSON lines fail alone; a last line without newline is read"

: > "$work/empty"
m "$work/empty" "$MOD:square"
[ "$rc" -eq 0 ] && [ ! -s "$work/out" ] || die "empty input: exit $rc"
ok "empty input: nothing, exit 0"

(cd "$work" && "$ISOCTL" map mod.so:square < "$work/in" >"$work/out" \
    2>"$work/err")
rc=$?
[ "$rc" -eq 0 ] && cmp -s "$work/out" "$work/want" ||
	die "a relative module path: exit $rc"
ok "a relative module path is made absolute"

# Memory: the max RSS of 100,000 lines against 10,000; and behind an
# item that holds output back for a second (reading waits for it).
rss() {	# rss INPUTCMD ARGS...: max RSS of isoctl map in KiB
	local gen=$1
	shift
	eval "$gen" | /usr/bin/time -f '%M' -o "$work/rss" \
	    "$ISOCTL" map "$@" > /dev/null 2>"$work/err" ||
		die "rss: isoctl map $* failed"
	tail -1 "$work/rss"
}
if [ -x /usr/bin/time ]; then
	# under ASan, freed memory waits in a quarantine: keep it small
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1
	small=$(rss 'seq 1 10000' "$MOD:square")
	big=$(rss 'seq 1 100000' "$MOD:square")
	held=$( (echo -2; seq 1 100000) | /usr/bin/time -f '%M' \
	    -o "$work/rss" "$ISOCTL" map --timeout 1 "$MOD:square_or_die" \
	    > "$work/out" 2>"$work/err"; tail -1 "$work/rss")
	[ "$(wc -l < "$work/out")" -eq 100001 ] ||
		die "held back: not 100,001 lines out"
	[ "$(head -1 "$work/out")" = null ] || die "held back: line 1 not null"
	[ "$big" -le $((small * 3 / 2 + 1024)) ] ||
		die "memory: ${big} KiB for 100,000 lines, ${small} for 10,000"
	[ "$held" -le $((small * 3 / 2 + 4096)) ] ||
		die "memory: ${held} KiB behind a slow item, ${small} without"
	ok "memory flat: max RSS ${small} KiB (10,000 lines), ${big} KiB" \
	    "(100,000), ${held} KiB (100,000 behind a slow item)"
else
	echo "skip: /usr/bin/time is not there (memory)"
fi
none_left "after the runs"

# usage errors: exit 2, one line
m "$work/in"
[ "$rc" -eq 2 ] && [ "$(wc -l < "$work/err")" -eq 1 ] ||
	die "no function: exit $rc"
m "$work/in" square
[ "$rc" -eq 2 ] && grep -q 'MODULE.so:FUNCTION' "$work/err" ||
	die "not MODULE.so:FUNCTION: exit $rc"
m "$work/in" --jobs -1 "$MOD:square"
[ "$rc" -eq 2 ] || die "--jobs -1: exit $rc"
m "$work/in" --timeout soon "$MOD:square"
[ "$rc" -eq 2 ] || die "--timeout soon: exit $rc"
m "$work/in" "$work/nothere.so:square"
[ "$rc" -eq 1 ] && grep -q '^isoctl: map: cannot load ' "$work/err" &&
    [ "$(wc -l < "$work/err")" -eq 1 ] ||
	die "a module not there: exit $rc"
m "$work/in" "$MOD:nosuchfunction"
[ "$rc" -eq 1 ] && grep -q '^isoctl: map: no function nosuchfunction' \
    "$work/err" || die "a function not there: exit $rc"
ok "usage errors: exit 2; a module or function not there: exit 1"

# ---- map -- CMD: warm programs on a terminal ----

seq 1 1000 > "$work/in1k"
awk '{ printf "%d\n", $1 * $1 }' "$work/in1k" > "$work/want1k"
# mawk buffers a pipe: the answers come because it has a terminal
m "$work/in1k" --jobs 2 -- awk -v tag="$work" '{ print $1 * $1; fflush() }'
[ "$rc" -eq 0 ] || die "-- awk: exit $rc"
cmp -s "$work/out" "$work/want1k" || die "-- awk: not the squares in order"
[ -s "$work/err" ] && die "-- awk: something on stderr"
ok "-- awk: 1,000 squares in input order, 2 programs"

m "$work/in1k" -j 3 -u -- awk -v tag="$work" '{ print $1 * $1; fflush() }'
[ "$rc" -eq 0 ] || die "-- awk --unordered: exit $rc"
sort -n "$work/out" | cmp -s - "$work/want1k" ||
	die "-- awk --unordered: not the same results"
ok "-- awk --unordered: the same results"

seq 1 40 > "$work/in40"
awk '{ if ($1 == 13) print "null"; else printf "%d\n", $1 * $1 }' \
    "$work/in40" > "$work/want40"
cat > "$work/exit.sh" <<'SH'
while read -r x; do [ "$x" = 13 ] && exit 3; echo $((x * x)); done
SH
m "$work/in40" -j 2 -- sh "$work/exit.sh"
[ "$rc" -eq 1 ] || die "-- a program that exits: exit $rc, not 1"
cmp -s "$work/out" "$work/want40" ||
	die "-- a program that exits: the other results are not right"
[ "$(cat "$work/err")" = "isoctl: line 13: sh exited with status 3" ] ||
	die "-- a program that exits: stderr is not one line naming line 13"
ok "-- a program that exits on one item: that item fails, the rest right"

cat > "$work/segv.sh" <<'SH'
while read -r x; do [ "$x" = 13 ] && kill -SEGV $$; echo $((x * x)); done
SH
m "$work/in40" -j 2 -- sh "$work/segv.sh"
[ "$rc" -eq 1 ] && cmp -s "$work/out" "$work/want40" &&
    [ "$(cat "$work/err")" = "isoctl: line 13: sh killed by SIGSEGV" ] ||
	die "-- a program killed: exit $rc"
ok "-- a program killed by a signal: the reason names it"

# item 2 hangs in a child of the program: both go at the timeout
cat > "$work/spin.sh" <<'SH'
while :; do sleep 0.05; done
SH
cat > "$work/hang.sh" <<SH
while read -r x; do [ "\$x" = 2 ] && sh "$work/spin.sh"; echo "\$x"; done
SH
printf '1\n2\n3\n' > "$work/hang.in"
m "$work/hang.in" --timeout 0.3 -- sh "$work/hang.sh"
[ "$rc" -eq 1 ] || die "-- --timeout: exit $rc, not 1"
[ "$(tr '\n' ' ' < "$work/out")" = "1 null 3 " ] ||
	die "-- --timeout: wrong results"
[ "$(cat "$work/err")" = "isoctl: line 2: timed out after 300 ms" ] ||
	die "-- --timeout: stderr is not one line naming line 2"
none_left "-- --timeout"
ok "-- --timeout: that item fails, the program and its child are killed"

printf '1\n{bad\n"a b"\n' > "$work/str.in"
m "$work/str.in" -- awk -v tag="$work" '{ print "x" $0; fflush() }'
[ "$rc" -eq 1 ] || die "-- output not JSON: exit $rc, not 1"
[ "$(cat "$work/out")" = "$(printf '"x1"\nnull\n"x\\"a b\\""')" ] ||
	die "-- output not JSON: not strings (or bad JSON sent on)"
grep -q '^isoctl: line 2: bad JSON: ' "$work/err" ||
	die "-- a bad JSON line: no line naming line 2"
ok "-- a line out that is not JSON is a string; bad JSON in fails alone"

m "$work/in1k" -- "$work/nothere" arg
[ "$rc" -eq 1 ] && [ ! -s "$work/out" ] &&
    [ "$(wc -l < "$work/err")" -eq 1 ] &&
    grep -q "^isoctl: map: cannot run $work/nothere: " "$work/err" ||
	die "-- a program not there: exit $rc, not one line"
ok "-- a program that cannot run: one line, exit 1"

# a closed stdout ends map, with its programs
seq 1 100000 | "$ISOCTL" map -j 2 -- awk -v tag="$work" \
    '{ print $1 * $1; fflush() }' 2>"$work/err" | head -1 > "$work/out"
[ "$(cat "$work/out")" = 1 ] || die "-- into head: not 1"
[ -s "$work/err" ] && die "-- into head: something on stderr"
none_left "-- into head"
ok "-- into head: ends, its programs with it"

m "$work/in1k" --
[ "$rc" -eq 2 ] || die "-- without CMD: exit $rc, not 2"
ok "-- without CMD: a usage error"
none_left "at the end"
echo "isoctl_map: all passed"
