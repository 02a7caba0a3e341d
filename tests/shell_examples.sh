#!/bin/bash
# The shell examples over isoctl: the tutorial's squares
# exchange (S7) and the worker pool, each against a supervisor of its own
# in a temporary runtime directory; checks what they print.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
export ISOCTL=$BUILD/isoctl
for f in "$ISOCTL" "$BUILD/isolated"; do
	[ -x "$f" ] || { echo "FAIL: $f is not built"; exit 1; }
done

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"

die() { echo "FAIL: $*"; exit 1; }

# S7: five answers, in order, and the worker ends on "bye".
PERIOD=0 timeout 60 sh "$SRCDIR/examples/s7_squares.sh" >"$work/s7" 2>&1 ||
    die "s7_squares.sh: exit $? ($(cat "$work/s7"))"
printf 'msg : %s\n' 1 4 9 16 25 | cmp -s - "$work/s7" ||
    die "s7_squares.sh printed: $(cat "$work/s7")"
"$ISOCTL" ps | grep -E '^[0-9a-f]{16} +squares .* exited +0 ' >/dev/null ||
    die "s7: the worker did not end cleanly: $("$ISOCTL" ps)"
echo "ok: s7_squares.sh"

# The pool: every line's square once, in order, although a worker was
# killed halfway and restarted.
seq 1 60 >"$work/in"
timeout 120 bash "$SRCDIR/examples/worker_pool.sh" "$work/in" 3 \
    >"$work/pool" 2>"$work/pool.err" ||
    die "worker_pool.sh: exit $? ($(cat "$work/pool.err"))"
awk '{ print $1, $1 * $1 }' "$work/in" | cmp -s - "$work/pool" ||
    die "worker_pool.sh printed: $(head -c 300 "$work/pool")"
"$ISOCTL" ps --json | grep -qE '"restarts":[1-9]' ||
    die "worker_pool.sh: no worker was restarted: $("$ISOCTL" ps)"
echo "ok: worker_pool.sh"
echo "shell_examples.sh: all passed"
