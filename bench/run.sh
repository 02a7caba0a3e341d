#!/bin/bash
# bench/run.sh: run every benchmark, side by side in one run, and report.
#
#   BUILD=build QUICK= bash bench/run.sh      (make bench does this)
#
# Runs each $BUILD/bench/bench_* (built by make), then the peers that are
# there (bench/peers/mp_bench.py with Debian's python3, node_bench.js with
# node), each printing one JSON object a measurement on stdout. Then
# bench/report.py checks the lines, prints a table a benchmark with the
# ratios to the baseline and the issue's targets, and writes
# bench/results/latest.json and latest.svg (quick.json and quick.svg for
# QUICK=1, so that a quick run never replaces the full figures kept in
# the repository). A program that fails, prints anything but the contract
# on stdout, or leaves a process behind is reported, and the run exits 1
# after writing what was measured.
set -u

cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
QUICK=${QUICK:-}
export QUICK
case $QUICK in ''|0) limit=300 ;; *) limit=120 ;; esac

PYTHON=/usr/bin/python3
NODE=/usr/bin/node

tmp=$(mktemp -d "${TMPDIR:-/tmp}/isobench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/failed"
: > "$tmp/order"

# run NAME CMD...: CMD's stdout to $tmp/NAME.out, its stderr through. In a
# session of its own, so that whatever it leaves behind can be found.
run() {
	local name=$1 sid rc left
	shift
	echo "bench: $name" >&2
	echo "$name" >> "$tmp/order"
	local secs=$limit
	# 10,000 isolates at once, where the descriptor limit allows
	[ "$name" = bench_scale ] && [ "$limit" -lt 900 ] && secs=900
	setsid timeout --kill-after=10 "$secs" "$@" > "$tmp/$name.out" &
	sid=$!
	wait "$sid"
	rc=$?
	# Children of a program that failed may take a moment to go.
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		left=$(pgrep -s "$sid" | tr '\n' ' ')
		[ -z "$left" ] && break
		sleep 0.25
	done
	if [ -n "$left" ]; then
		echo "bench: $name left processes behind: $left" >&2
		# shellcheck disable=SC2086
		kill -9 $left 2>/dev/null
		echo "$name: left processes behind" >> "$tmp/failed"
	fi
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "$name: timed out after ${secs}s" >> "$tmp/failed"
	elif [ "$rc" -ne 0 ]; then
		echo "$name: exit status $rc" >> "$tmp/failed"
	fi
}

found=
for b in "$BUILD"/bench/bench_*; do
	if [ ! -f "$b" ] || [ ! -x "$b" ]; then continue; fi
	found=1
	run "$(basename "$b")" "$b"
done
if [ -z "$found" ]; then
	echo "bench: no $BUILD/bench/bench_*: run make bench-build" >&2
	exit 1
fi

if [ -f bench/peers/mp_bench.py ]; then
	if [ -x "$PYTHON" ]; then
		run mp_bench.py "$PYTHON" bench/peers/mp_bench.py
	else
		echo "mp_bench.py: no $PYTHON (make bench-deps)" >> "$tmp/failed"
	fi
fi
if [ -f bench/peers/node_bench.js ]; then
	if [ -x "$NODE" ]; then
		run node_bench.js "$NODE" bench/peers/node_bench.js
	else
		echo "node_bench.js: no $NODE (make bench-deps)" >> "$tmp/failed"
	fi
fi

# What the figures were measured with: Node in particular differs between
# machines (Debian 12's is 18; a machine may carry another /usr/bin/node).
versions="libevent=$(pkg-config --modversion libevent 2>/dev/null)"
versions="$versions;libzmq=$(pkg-config --modversion libzmq 2>/dev/null)"
versions="$versions;python=$("$PYTHON" -c 'import platform; print(platform.python_version())' 2>/dev/null)"
versions="$versions;node=$("$NODE" --version 2>/dev/null)"
versions="$versions;cc=$(${CC:-cc} -dumpfullversion 2>/dev/null)"

case $QUICK in ''|0) base=latest quick=0 ;; *) base=quick quick=1 ;; esac
mkdir -p bench/results
"$PYTHON" bench/report.py --dir "$tmp" --quick "$quick" \
    --date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --host "$(uname -a)" \
    --cpus "$(nproc)" --versions "$versions" \
    --json "bench/results/$base.json" \
    --svg "bench/results/$base.svg"
