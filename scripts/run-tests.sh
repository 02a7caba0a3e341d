#!/bin/bash
# Test runner for `make check`: Check suites (then again under valgrind),
# fuzz corpus replays and shell tests. Counts each and ends, always, with
# the line "N passed, N failed"; exits non-zero iff something failed.
#
# usage: run-tests.sh [BUILD] [--san]
# env:   BUILD (default build), SAN=1 (sanitizer build: no valgrind),
#        BUILD_FAILED=1 (make could not build everything: one failure),
#        TEST_TIMEOUT (seconds per binary, default 300)

set -u

SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
san=${SAN:-}
for arg in "$@"; do
	case $arg in
	--san) san=1 ;;
	-*) echo "usage: $0 [BUILD] [--san]" >&2; exit 2 ;;
	*) build=$arg ;;
	esac
done
[ "$san" = 1 ] || san=
limit=${TEST_TIMEOUT:-300}

passed=0
failed=0
trap 'echo "$passed passed, $failed failed"' EXIT

pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }

cd "$SRCDIR" || exit 1
if [ "${BUILD_FAILED:-0}" != 0 ]; then
	fail "build: make check-build failed (errors above)"
fi
if ! BUILD=$(cd "$build" 2>/dev/null && pwd); then
	fail "build: no build directory $build"
	exit 1
fi
export BUILD SRCDIR SAN="$san"

log=$(mktemp) || exit 1
trap 'rm -f "$log"; echo "$passed passed, $failed failed"' EXIT

# Sanitized code is slower: give Check's per-test timeouts more room.
if [ -n "$san" ]; then
	export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-4}
fi

# run LOG CMD...: run CMD under the timeout, output to the terminal and
# to LOG; returns CMD's status (124 on timeout).
run() {
	local out=$1
	shift
	timeout -k 10 "$limit" "$@" 2>&1 | tee "$out"
	return "${PIPESTATUS[0]}"
}

# run_quiet LOG CMD...: the same, output only to LOG.
run_quiet() {
	local out=$1
	shift
	timeout -k 10 "$limit" "$@" >"$out" 2>&1
}

timed_out() { [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; }

# ---- Check suites -----------------------------------------------------------

suites=()
for src in tests/check_*.c; do
	[ -e "$src" ] || continue
	suites+=("$(basename "$src" .c)")
done

for name in "${suites[@]}"; do
	bin=$BUILD/tests/$name
	echo "== $name"
	if [ ! -x "$bin" ]; then
		fail "$name: not built"
		continue
	fi
	run "$log" "$bin"
	rc=$?
	summary=$(grep -E '^[0-9]+%: Checks: [0-9]+, Failures: [0-9]+, Errors: [0-9]+' \
	    "$log" | tail -n 1)
	if [ -z "$summary" ]; then
		if timed_out "$rc"; then
			fail "$name: timed out after ${limit}s"
		else
			fail "$name: no Check summary (exit $rc)"
		fi
		continue
	fi
	read -r n f e <<<"$(sed -E 's/^[0-9]+%: Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/' <<<"$summary")"
	bad=$((f + e))
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
		echo "$name: exit $rc with no failure reported"
	fi
	good=$((n - f - e))
	[ "$good" -ge 0 ] || good=0
	passed=$((passed + good))
	failed=$((failed + bad))
	echo "$name: $good passed, $bad failed"
done

# ---- the same suites under valgrind ---------------------------------------

if [ -n "$san" ]; then
	echo "== valgrind: skipped (sanitizer build)"
elif ! command -v valgrind >/dev/null 2>&1; then
	echo "== valgrind: skipped (valgrind is not installed; run make deps)"
else
	for name in "${suites[@]}"; do
		bin=$BUILD/tests/$name
		[ -x "$bin" ] || continue	# already counted as not built
		echo "== valgrind: $name"
		if CK_FORK=no run_quiet "$log" valgrind --quiet \
		    --error-exitcode=99 --leak-check=full \
		    --errors-for-leak-kinds=definite --track-fds=no "$bin"; then
			pass "valgrind: $name"
		else
			rc=$?
			cat "$log"
			if timed_out "$rc"; then
				fail "valgrind: $name (timed out after ${limit}s)"
			else
				fail "valgrind: $name (exit $rc)"
			fi
		fi
	done
fi

# ---- fuzz corpus replays ------------------------------------------------------

for src in fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	name=${name#fuzz_}
	bin=$BUILD/fuzz/replay_$name
	echo "== replay_$name"
	if [ ! -x "$bin" ]; then
		fail "replay_$name: not built"
		continue
	fi
	dirs=()
	for d in "fuzz/corpus/$name" "fuzz/regress/$name"; do
		[ -d "$d" ] && dirs+=("$SRCDIR/$d")
	done
	if [ "${#dirs[@]}" -eq 0 ]; then
		fail "replay_$name: no corpus in fuzz/corpus/$name"
		continue
	fi
	if run_quiet "$log" "$bin" "${dirs[@]}"; then
		pass "replay_$name"
	else
		rc=$?
		cat "$log"
		fail "replay_$name (exit $rc)"
	fi
done

# ---- shell tests --------------------------------------------------------------

for t in tests/*.sh; do
	[ -e "$t" ] || continue
	name=$(basename "$t")
	echo "== $name"
	if run_quiet "$log" bash "$SRCDIR/$t"; then
		pass "$name"
	else
		rc=$?
		cat "$log"
		if timed_out "$rc"; then
			fail "$name (timed out after ${limit}s)"
		else
			fail "$name (exit $rc)"
		fi
	fi
done

# ---- the chaos suite (short form) -----------------------------------------

echo "== chaos"
chaos_limit=$((limit * 4))
timeout -k 10 "$chaos_limit" bash "$SRCDIR/tests/chaos/run.sh" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
read -r cp cf <<<"$(sed -nE 's/^chaos: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$log" | tail -n 1)"
if [ -z "${cp:-}" ]; then
	fail "chaos: no summary (exit $rc)"
else
	passed=$((passed + cp))
	failed=$((failed + cf))
	if [ "$rc" -ne 0 ] && [ "$cf" -eq 0 ]; then
		fail "chaos: exit $rc with no failure reported"
	fi
fi

# ---- nothing left behind ----------------------------------------------------

# Every test cleans up after itself; an isolate, helper or example still
# running from this build now is a leak (an orphan, or a zombie's parent).
echo "== leftovers"
# (A supervisor that has answered "stop" may take a moment to exit.)
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
	sleep 0.2
	left=$(pgrep -f -- "$BUILD/((tests|examples|fuzz|bench)/|isolated|isoctl)" | grep -vx "$$" || true)
	[ -z "$left" ] && break
done
if [ -z "$left" ]; then
	pass "leftovers: no process of $BUILD left running"
else
	ps -o pid=,ppid=,stat=,etime=,args= -p "$(echo "$left" | paste -sd,)" || true
	# Whose they were: the runtime directory each was started for.
	for pid in $left; do
		echo "$pid: $(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null |
		    grep '^ISO_RUNTIME_DIR=')"
	done
	# shellcheck disable=SC2086 # a list of pids, split on purpose
	kill -9 $left 2>/dev/null
	fail "leftovers: processes of $BUILD still running (killed)"
fi

if [ "$failed" -eq 0 ]; then exit 0; else exit 1; fi
