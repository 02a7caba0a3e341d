#!/bin/bash
# The chaos suite: every tests/chaos/chaos_*.c program (built into
# $BUILD/tests/chaos/) and every tests/chaos/chaos_*.sh script. Each
# injects its faults, prints one or more summary lines that start with
# "chaos NAME:" (messages, faults, lost, duplicated, reordered...) and
# exits non-zero when a promise was broken.
#
# usage: run.sh [--report FILE]   (FILE: the figures, as a Markdown table)
# env:   BUILD (absolute build dir), SRCDIR, CHAOS_LONG=1 (the long form),
#        CHAOS_TIMEOUT (seconds per item; 240, or 1800 when long)

set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
BUILD=$(cd "$BUILD" && pwd) || exit 1
export SRCDIR BUILD
report=
case ${1:-} in
--report) report=${2:?--report needs a file} ;;
'') ;;
*) echo "usage: $0 [--report FILE]" >&2; exit 2 ;;
esac
if [ "${CHAOS_LONG:-0}" = 1 ]; then
	limit=${CHAOS_TIMEOUT:-1800}
else
	limit=${CHAOS_TIMEOUT:-240}
fi

passed=0
failed=0
figures=$(mktemp) || exit 1
log=$(mktemp) || exit 1
trap 'rm -f "$figures" "$log"' EXIT

items=()
for src in "$SRCDIR"/tests/chaos/chaos_*.c; do
	[ -e "$src" ] && items+=("$BUILD/tests/chaos/$(basename "$src" .c)")
done
for src in "$SRCDIR"/tests/chaos/chaos_*.sh; do
	[ -e "$src" ] && items+=("$src")
done

for item in "${items[@]}"; do
	name=$(basename "$item")
	name=${name%.sh}
	if [ ! -e "$item" ]; then
		echo "FAIL: chaos/$name: not built"
		failed=$((failed + 1))
		continue
	fi
	start=$(date +%s)
	case $item in
	*.sh) timeout -k 10 "$limit" bash "$item" >"$log" 2>&1 ;;
	*) timeout -k 10 "$limit" "$item" >"$log" 2>&1 ;;
	esac
	rc=$?
	secs=$(($(date +%s) - start))
	grep '^chaos ' "$log" | sed "s/\$/ (${secs} s)/" | tee -a "$figures"
	if [ "$rc" -eq 0 ] && grep -q '^chaos ' "$log"; then
		echo "PASS: chaos/$name"
		passed=$((passed + 1))
	else
		cat "$log"
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL: chaos/$name (timed out after ${limit}s)"
		elif [ "$rc" -eq 0 ]; then
			echo "FAIL: chaos/$name (printed no \"chaos\" line)"
		else
			echo "FAIL: chaos/$name (exit $rc)"
		fi
		failed=$((failed + 1))
	fi
done

if [ -n "$report" ]; then
	tmp=$(mktemp) || exit 1
	{
		sed '/^<!-- chaos figures -->$/,$d' "$SRCDIR/$report" 2>/dev/null
		echo '<!-- chaos figures -->'
		echo
		echo "The last \`make chaos\` ($(date -u +%Y-%m-%d), $(nproc) CPUs," \
		    "$(uname -r)):"
		echo
		echo '```'
		cat "$figures"
		echo '```'
	} >"$tmp" && mv "$tmp" "$SRCDIR/$report"
	echo "chaos: figures written to $report"
fi
echo "chaos: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
