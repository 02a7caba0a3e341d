#!/bin/bash
# The tutorial's programs (examples/, the scenarios S1-S8 of docs/tutorial.md), each run with a
# short period under a timeout and its own runtime directory. For every
# run: the exit status, stdout line by line against the expected lines
# (sorted where the scenario leaves the order open), an empty stderr, no
# process of the run left behind, no socket left in the runtime directory.
# One line per sub-check; exits non-zero if any failed.
#
# env: SRCDIR (repo root), BUILD (absolute build dir),
#      EXAMPLES_PERIOD_MS (the --period-ms given to every example, 50).

set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
P=${EXAMPLES_PERIOD_MS:-50}
LIMIT=30			# seconds per run; the slowest takes ~12 periods

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

nfail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; nfail=$((nfail + 1)); }

# Processes of the run that used runtime directory $1 and run binary $2:
# matched by command line (isolates are forks, so they carry main's) and
# then by environment, so that someone else's run of the same binary is
# not counted.
leftovers() {
	local rt=$1 bin=$2 pid re
	re=$(printf '%s' "$bin" | sed 's/[][\.*^$+?(){}|]/\\&/g')
	for pid in $(pgrep -f -- "$re"); do
		grep -qzxF "ISO_RUNTIME_DIR=$rt" "/proc/$pid/environ" \
		    2>/dev/null && echo "$pid"
	done
}

# run NAME [ARGS...]: run the example; sets rt, out, err, rc, bin.
run() {
	local name=$1
	shift
	bin=$BUILD/examples/$name
	rt=$(mktemp -d "$tmp/rt.XXXXXX") || exit 1
	chmod 700 "$rt"
	out=$tmp/$name.out
	err=$tmp/$name.err
	ISO_RUNTIME_DIR=$rt timeout -k 5 "$LIMIT" "$bin" "$@" >"$out" 2>"$err"
	rc=$?
}

# after LABEL: the checks every run gets, once its output was compared.
after() {
	local label=$1 left i

	if [ "$rc" -eq 0 ]; then
		ok "$label: exit status 0"
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		bad "$label: timed out after ${LIMIT}s"
	else
		bad "$label: exit status $rc"
	fi
	if [ -s "$err" ]; then
		bad "$label: stderr not empty:"
		sed 's/^/    /' "$err"
	else
		ok "$label: stderr empty"
	fi
	# An isolate dies with its spawner; give the kernel a moment to
	# deliver that death before calling it an orphan.
	for i in $(seq 20); do
		left=$(leftovers "$rt" "$bin")
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -z "$left" ]; then
		ok "$label: no process left"
	else
		bad "$label: processes left: ${left//$'\n'/ }"
		ps -o pid,ppid,stat,args -p "${left//$'\n'/,}"
		# shellcheck disable=SC2086
		kill -9 $left 2>/dev/null
	fi
	left=$(find "$rt" -type s 2>/dev/null)
	if [ -z "$left" ]; then
		ok "$label: no socket left in the runtime directory"
	else
		bad "$label: sockets left: ${left//$'\n'/ }"
	fi
}

# expect LABEL SORTED_FROM: compare $out with the lines on stdin; lines
# from number SORTED_FROM on are compared as sorted sets (0: none). Not
# in a pipeline: it must run in this shell to count failures.
expect() {
	local label=$1 from=$2 want=$tmp/want got=$tmp/got
	cat >"$want"
	cp "$out" "$got"
	if [ "$from" -gt 0 ]; then
		{ head -n $((from - 1)) "$want"; tail -n +"$from" "$want" |
		    LC_ALL=C sort; } >"$want.s"
		{ head -n $((from - 1)) "$out"; tail -n +"$from" "$out" |
		    LC_ALL=C sort; } >"$got"
		mv "$want.s" "$want"
	fi
	if cmp -s "$want" "$got"; then
		ok "$label: output"
	else
		bad "$label: output differs (- expected, + seen):"
		diff -u "$want" "$got" | tail -n +3 | sed 's/^/    /'
	fi
}

seq_lines() {	# seq_lines PREFIX FIRST LAST: "PREFIXFIRST" ... "PREFIXLAST"
	local i
	for i in $(seq "$2" "$3"); do echo "$1$i"; done
}

for name in s1_memory s2_first s3_s4_listen s5_close s6_kill \
    s7_two_ports s8_compute; do
	if [ ! -x "$BUILD/examples/$name" ]; then
		bad "$name: not built ($BUILD/examples/$name)"
	fi
done
[ "$nfail" -eq 0 ] || exit 1

# S1: both isolates see "hello" although main changed both to "world"
# right after spawning them; which isolate prints first is not defined.
run s1_memory --period-ms "$P"
expect "S1 s1_memory" 3 <<'OUT'
onPress... before run isolate.. topData: hello, classData: hello
onPress... after run isolate.. topData: world, classData: world
in myIsolate1... 10, hello
in myIsolate2... 20, hello, hello
OUT
after "S1 s1_memory"

# S2: `first` gets the isolate's one message.
run s2_first --period-ms "$P"
expect "S2 s2_first" 0 <<'OUT'
main isolate... data read : hello world
OUT
after "S2 s2_first"

# S3 + S4: the isolate sends 1, 2, 3 ... forever; main listens, prints,
# and stops after --count (5 by default).
run s3_s4_listen --period-ms "$P"
expect "S3+S4 s3_s4_listen" 0 < <(seq_lines 'receive : ' 1 5)
after "S3+S4 s3_s4_listen"

run s3_s4_listen --period-ms "$P" --count 8
expect "S3+S4 s3_s4_listen --count 8" 0 < <(seq_lines 'receive : ' 1 8)
after "S3+S4 s3_s4_listen --count 8"

# S5: the port closes on a value above 5; nothing is printed after 5.
run s5_close --period-ms "$P"
expect "S5 s5_close" 0 < <(seq_lines 'receive : ' 1 5)
after "S5 s5_close"

# S6: killed after 3 messages, nothing more arrives, no zombie.
run s6_kill --period-ms "$P"
expect "S6 s6_kill" 0 < <(seq_lines 'receive : ' 1 3
    echo 'kill : immediate'
    echo 'isolate gone : no process, no zombie')
after "S6 s6_kill"

# S7: the squares, one line each when stdout is not a terminal ...
run s7_two_ports --period-ms "$P"
expect "S7 s7_two_ports" 0 < <(printf 'msg : %d\n' 1 4 9 16 25)
after "S7 s7_two_ports"

# ... and rewritten in place with --in-place (the demo on a terminal).
run s7_two_ports --period-ms "$P" --in-place
printf '\r\033[Kmsg : %d' 1 4 9 16 25 >"$tmp/want.bytes"
printf '\n' >>"$tmp/want.bytes"
if cmp -s "$tmp/want.bytes" "$out"; then
	ok "S7 s7_two_ports --in-place: output"
else
	bad "S7 s7_two_ports --in-place: output differs:"
	echo "    expected: $(od -c "$tmp/want.bytes" | head -n 5)"
	echo "    seen:     $(od -c "$out" | head -n 5)"
fi
after "S7 s7_two_ports --in-place"

# S8: compute hands back the one final result.
run s8_compute --period-ms "$P"
expect "S8 s8_compute" 0 <<'OUT'
result : 55
OUT
after "S8 s8_compute"

# A bad option is a usage error (exit 2), nothing spawned.
for name in s1_memory s2_first s3_s4_listen s5_close s6_kill \
    s7_two_ports s8_compute; do
	"$BUILD/examples/$name" --period-ms x >"$tmp/usage.out" 2>&1
	rc=$?
	if [ "$rc" -eq 2 ] && grep -q '^usage: ' "$tmp/usage.out"; then
		ok "$name --period-ms x: usage, exit 2"
	else
		bad "$name --period-ms x: exit $rc, not a usage error"
	fi
done

if [ "$nfail" -eq 0 ]; then
	echo "examples.sh: ok"
	exit 0
fi
echo "examples.sh: $nfail failed"
exit 1
