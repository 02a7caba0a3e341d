#!/bin/bash
# isoctl, the command line: every command and every exit status,
# against a supervisor of its own in a temporary runtime directory.
# Prints one line per check and stops at the first failure with a line
# saying what was wrong. Needs only bash, grep, sed and coreutils; checks
# the JSON with python3 too when it is there.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl
MOD=$BUILD/tests/prog/mod_compute
HOLDER=$BUILD/tests/prog/sup_holder

for f in "$ISOCTL" "$BUILD/isolated" "$MOD" "$HOLDER"; do
	if [ ! -x "$f" ]; then
		echo "FAIL: $f is not built"
		exit 1
	fi
done

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"




# has TEXT...: stdout holds each TEXT (a fixed string).
has() {
	local s
	for s in "$@"; do
		grep -qF -- "$s" "$work/out" || die "stdout lacks '$s'"
	done
}

# until_ok SECONDS CMD...: run CMD until it succeeds, at most SECONDS.
until_ok() {
	local limit=$(($1 * 10)) i
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

is_id() { [[ $1 =~ ^[0-9a-f]{16}$ ]]; }

# ---- global options ---------------------------------------------------------

expect 0 --version
[[ $out =~ ^isoctl\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--version: '$out'"
expect 0 -V
expect 0 --help
has "usage: isoctl" spawn ps kill wait logs send recv names compute daemon
expect 0 -h
expect 2 bogus
[[ $err == *"unknown command bogus"* ]] || die "unknown command: '$err'"
expect 2 --bogus
x
[ "$rc" -eq 2 ] || die "isoctl with no command: exit $rc, want 2"
ok "isoctl -> 2"

for c in spawn ps kill wait logs send recv names compute daemon help; do
	expect 0 "$c" --help
	has "usage: isoctl $c"
	[ -z "$err" ] || die "$c --help wrote on stderr"
	expect 0 help "$c"
	has "usage: isoctl $c"
done
expect 2 help bogus

# The man page and the completion know every command of the table.
cmds=$("$ISOCTL" --help | sed -n 's/^  \([a-z]*\) .*/\1/p' | sort -u)
[ -n "$cmds" ] || die "isoctl --help lists no command"
for c in $cmds; do
	grep -q "^\.B isoctl $c\b\|^\.B $c\b" "$SRCDIR/docs/isoctl.1" ||
	    die "docs/isoctl.1 does not document $c"
	"$ISOCTL" __complete -- "${c:0:2}" | grep -q "^$c	" ||
	    die "completion does not know $c"
done
ok "man page and completion: every command ($(echo $cmds))"
"$ISOCTL" completion bash | bash -n ||
    die "isoctl completion bash: syntax"
if command -v man >/dev/null 2>&1; then
	w=$(man --warnings -l "$SRCDIR/docs/isoctl.1" 2>&1 >/dev/null)
	[ -z "$w" ] || die "man --warnings docs/isoctl.1: $w"
	ok "man --warnings -l docs/isoctl.1: clean"
fi

# ---- daemon ----------------------------------------------------------------

expect 1 daemon status
[[ $err == *"not running"* ]] || die "status: '$err'"
expect 1 daemon stop
expect 2 daemon
expect 2 daemon restart
expect 2 daemon start extra
expect 0 daemon start
expect 0 daemon start
expect 0 daemon status
pid=$(cat "$rt/supervisor.lock")
has "pid $pid" "version " "isolates 0"
expect 0 daemon status --json
has "\"pid\":$pid" '"version":' '"isolates":0'

# ---- spawn and ps ------------------------------------------------------------

expect 2 spawn
expect 2 spawn --name x
expect 2 spawn --restart sometimes -- true
expect 2 spawn --mailbox 0 -- true
expect 2 spawn --mailbox many -- true
expect 2 spawn --bogus -- true
# What is not UTF-8 is named, with what to do.
expect 2 spawn -- $'\xff'
[[ $err == *'argv[0] "\xff" is not UTF-8 (byte 0xff at offset 0)'*'pass it in UTF-8'* ]] ||
    die "spawn of a non-UTF-8 program: '$err'"
expect 2 spawn -- true $'caf\xe9'
[[ $err == *'argv[1] "caf\xe9" is not UTF-8 (byte 0xe9 at offset 3)'* ]] ||
    die "spawn of a non-UTF-8 argument: '$err'"
export ISOCTL_BAD_VAR=$'\xe9t\xe9'
expect 2 spawn -- true
unset ISOCTL_BAD_VAR
[[ $err == *'environment variable ISOCTL_BAD_VAR is not UTF-8 (byte 0xe9 at offset 0)'*'unset it'* ]] ||
    die "spawn with a non-UTF-8 variable: '$err'"

expect 0 spawn --name sl -- sleep 60
sl=$out
is_id "$sl" || die "spawn printed '$sl', not an id"
# spawn returns once the command runs: ps right after has its pid.
pid_of() { "$ISOCTL" ps --json | grep -oE "\"name\":\"$1\",\"pid\":[0-9]+" |
    grep -oE '[0-9]+$'; }
slpid=$(pid_of sl)
[ -n "$slpid" ] && [ "$slpid" -gt 0 ] &&
    [ "$(cat "/proc/$slpid/comm" 2>/dev/null)" = sleep ] ||
    die "ps right after spawn: no pid for sl ('$slpid')"
ok "spawn returns once the command runs: ps has its pid"
expect 1 spawn --name sl -- sleep 60
expect 0 spawn --name ex3 -- sh -c 'echo hello; echo oops >&2; exit 3'
ex3=$out
expect 0 spawn --name sig -- sh -c 'kill -9 $$'
expect 0 spawn --name nope -- "$work/no-such-program"

# The caller's environment and working directory.
mkdir "$work/dir with space"
(cd "$work/dir with space" &&
    ISOCTL_TEST_VAR=from-the-caller "$ISOCTL" spawn --name env -- \
    sh -c 'echo "$ISOCTL_TEST_VAR in $(pwd)"' >"$work/out") ||
    die "spawn from another directory"
expect 0 wait env
expect 0 logs env
has "from-the-caller in $work/dir with space"
ok "spawn passes the environment and the working directory"

expect 0 ps
header=$(head -n 1 "$work/out")
[[ $header =~ ^ID\ +NAME\ +PID\ +STATE\ +EXIT\ +RESTARTS\ +COMMAND$ ]] ||
    die "ps header: '$header'"
grep -qE "^$sl +sl +[0-9]+ +running +- +0 +sleep 60$" "$work/out" ||
    die "ps: no running row for sl"
# Aligned: every row has its STATE where the header has it.
col=$(awk 'NR == 1 { print index($0, "STATE") }' "$work/out")
awk -v c="$col" 'NR > 1 && substr($0, c) !~ /^(running|restarting|exited|failed) / { exit 1 }' \
    "$work/out" || die "ps: STATE column not aligned"
ok "ps: header, a row, aligned"

for t in ex3 sig nope; do
	"$ISOCTL" wait --timeout 10 "$t" >/dev/null
done
wait_rows() { "$ISOCTL" ps >"$work/out" 2>&1 &&
    grep -qE "^[0-9a-f]{16} +sig +[0-9]+ +exited +SIGKILL " "$work/out"; }
until_ok 5 wait_rows || die "ps: no 'exited SIGKILL' row for sig"
grep -qE "^$ex3 +ex3 +[0-9]+ +exited +3 +0 +sh -c echo hello" "$work/out" ||
    die "ps: no 'exited 3' row for ex3"
grep -qE "^[0-9a-f]{16} +nope +- +failed +127 " "$work/out" ||
    die "ps: no 'failed 127' row for nope"
ok "ps: exit codes, signal names, failed"

expect 0 ps --json
case $out in \[*\]) ;; *) die "ps --json is not a JSON array" ;; esac
[ "$(wc -l <"$work/out")" -eq 1 ] || die "ps --json: not one line"
has "\"id\":\"$sl\"" '"name":"sl"' '"state":"running"' '"exit_code":null' \
    '"signal":null' '"restarts":0' '"pid":' '"exit_code":3' '"signal":9'
if command -v python3 >/dev/null 2>&1; then
	python3 -c '
import json, sys
rows = json.load(sys.stdin)
for r in rows:
    for k in ("id", "name", "pid", "state", "exit_code", "signal", "restarts"):
        assert k in r, (k, r)
sl = [r for r in rows if r["name"] == "sl"][0]
assert sl["state"] == "running" and sl["pid"] > 0 and sl["restarts"] == 0
' <"$work/out" || die "ps --json does not parse or lacks a key"
	ok "ps --json parses (python3)"
fi
expect 2 ps extra
expect 2 ps --bogus

# On a terminal of 50 columns the COMMAND column is cut to fit.
if command -v script >/dev/null 2>&1; then
	"$ISOCTL" spawn --name long -- sleep 60 \
	    aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa \
	    >/dev/null || die "spawn long"
	script -qec "stty cols 100 rows 24; '$ISOCTL' ps" /dev/null \
	    >"$work/out" 2>&1 </dev/null || die "ps on a terminal"
	tr -d '\r' <"$work/out" >"$work/tty"
	grep -q "long" "$work/tty" || die "ps on a terminal: no row 'long'"
	awk 'length($0) > 100 { exit 1 }' "$work/tty" ||
	    die "ps on a terminal: a line wider than 100 columns"
	"$ISOCTL" ps | grep -q 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa$' ||
	    die "ps to a pipe: COMMAND was cut"
	ok "ps: cut to a terminal's width, not to a pipe's"
	"$ISOCTL" kill long >/dev/null 2>&1
else
	echo "skip: ps on a terminal (no script(1))"
fi

# A C program's isolates show up too (the library announces them).
S7=$BUILD/examples/s7_two_ports
if [ -x "$S7" ]; then
	"$S7" --period-ms 300 --no-in-place >"$work/s7.out" 2>&1 &
	s7=$!
	c_isolate() { "$ISOCTL" ps --json >"$work/out" &&
	    grep -qE '"parent":"[0-9a-f]{16}","kind":"isolate",[^}]*"state":"running"' \
	    "$work/out"; }
	until_ok 5 c_isolate || die "ps --json: no running isolate of s7_two_ports"
	"$ISOCTL" ps | grep -qE '^[0-9a-f]{16} +- +[0-9]+ +running ' ||
	    die "ps: no row for s7_two_ports' isolate"
	wait "$s7" || die "s7_two_ports failed: $(cat "$work/s7.out")"
	ok "ps: a C program's isolate (s7_two_ports) is listed"
else
	echo "skip: a C program's isolates (no $S7)"
fi

# ---- wait -------------------------------------------------------------------

expect 3 wait ex3
[ "$out" = "exited 3" ] || die "wait ex3 printed '$out'"
expect 137 wait sig
[ "$out" = "killed by SIGKILL" ] || die "wait sig printed '$out'"
expect 127 wait nope
[[ $out == "failed: "* ]] || die "wait nope printed '$out'"
expect 124 wait --timeout 0.3 sl
[ -z "$out" ] || die "wait timed out but printed '$out'"
expect 124 wait -t 0 "$sl"
expect 1 wait no-such-isolate
expect 2 wait
expect 2 wait a b
expect 2 wait --timeout soon sl
expect 2 wait --timeout

# ---- kill ---------------------------------------------------------------------

expect 0 kill "$sl"
expect 137 wait sl
[ "$out" = "killed by SIGKILL" ] || die "wait sl printed '$out'"
expect 1 kill sl
expect 0 spawn --name term -- sleep 60
expect 0 kill --graceful term
expect 143 wait term
[ "$out" = "killed by SIGTERM" ] || die "wait term printed '$out'"
expect 1 kill no-such-isolate
expect 2 kill
expect 2 kill --bogus x

# --restart always: a process killed behind the supervisor's back comes back.
expect 0 spawn --name rs --restart always -- sleep 60
rs_pid() { pid_of rs; }
p1=$(rs_pid)
[ -n "$p1" ] && [ "$p1" -gt 0 ] || die "no pid for rs"
kill -9 "$p1"
restarted() { "$ISOCTL" ps >"$work/out" &&
    grep -qE "^[0-9a-f]{16} +rs +[0-9]+ +running +- +1 " "$work/out"; }
until_ok 10 restarted || die "rs was not restarted (policy always)"
[ "$(rs_pid)" != "$p1" ] || die "rs restarted with the same pid"
ok "spawn --restart always: restarted once"
expect 0 kill rs
expect 137 wait rs

# ---- logs ------------------------------------------------------------------------

expect 0 logs ex3
has hello oops
expect 0 logs "$ex3"
has hello
expect 0 spawn --name tick -- sh -c 'for i in 1 2 3; do echo tick $i; sleep 0.2; done; echo done'
expect 0 logs --follow tick
[ "$out" = "tick 1
tick 2
tick 3
done" ] || die "logs --follow tick: '$out'"
expect 1 logs no-such-isolate
expect 1 logs --follow no-such-isolate
expect 2 logs
expect 2 logs --bogus tick

# ---- send, names ------------------------------------------------------------------

# sup_holder registers a port under "greet" and logs each message.
expect 0 spawn --name holder -- "$HOLDER" greet
registered() { "$ISOCTL" names >"$work/out" 2>/dev/null &&
    grep -q '^greet {"\$port":"[0-9a-f]*:[0-9]*:[0-9]*"}$' "$work/out"; }
until_ok 10 registered || die "names: no line for greet"
ok "names: greet {\"\$port\": ...}"
expect 0 names --json
grep -q '^{"greet":{"\$port":"[^"]*"}}$' "$work/out" ||
    die "names --json: '$out'"
expect 2 names extra

expect 0 send greet '{"n":[1,2,"three"]}'
printf '%s\n' '{"from": "stdin"}' >"$work/msg"
"$ISOCTL" send greet - <"$work/msg" || die "send greet - (stdin)"
ok "isoctl send greet - < file -> 0"
expect 0 send greet -5
got() { "$ISOCTL" logs holder >"$work/out" &&
    grep -qxF 'got -5' "$work/out"; }
until_ok 10 got || die "holder did not get the messages"
has 'got {"n":[1,2,"three"]}' 'got {"from":"stdin"}'
ok "send: the registered port got all three"

# A command's mailbox, by name and by id.
expect 0 spawn --name box --mailbox 2 -- sleep 60
box=$out
expect 0 send box 1
expect 0 send "$box" '"two"'
expect 1 send box 3
[[ $err == *"isoctl: send: box: "* ]] || die "full mailbox: '$err'"
expect 0 ps --json
grep -qE '"name":"box",[^}]*"mailbox":2' "$work/out" ||
    die "ps --json: box's mailbox does not hold 2"
ok "send: a command's mailbox, bounded"

# --mailbox-sync: a setting of the command, kept in its record.
expect 0 spawn --name synced --mailbox-sync -- sleep 60
synced=$out
expect 0 send synced 1
grep -q '"mailbox_sync":true' "$ISO_RUNTIME_DIR/supervisor/$synced.json" ||
    die "spawn --mailbox-sync: not in $synced.json"
grep -q '"mailbox_sync":false' "$ISO_RUNTIME_DIR/supervisor/$box.json" ||
    die "spawn without --mailbox-sync: not false in $box.json"
ok "spawn --mailbox-sync: kept in the record"

expect 2 send greet '{bad'
[[ $err == *"bad JSON"* ]] || die "bad JSON: '$err'"
echo 'nope{' >"$work/msg"
"$ISOCTL" send greet - <"$work/msg" 2>"$work/err"
[ $? -eq 2 ] || die "send bad JSON from stdin: want exit 2"
ok "isoctl send greet - < bad JSON -> 2"
expect 2 send greet '1 2'
expect 2 send greet
expect 2 send
expect 2 send greet 1 2
expect 1 send no-such-target 1
expect 1 send ex3 1

# ---- compute ------------------------------------------------------------------

expect 0 compute "$MOD:square" 7
[ "$out" = 49 ] || die "compute square 7 printed '$out'"
(cd "$BUILD/tests" && "$ISOCTL" compute prog/mod_compute:square 8 \
    >"$work/out") || die "compute with a relative module path"
[ "$(cat "$work/out")" = 64 ] || die "relative compute printed '$out'"
ok "compute: a module path relative to here"
echo '{"a":[1,{"b":null}]}' | "$ISOCTL" compute "$MOD:echo" - >"$work/out" ||
    die "compute with the argument on stdin"
[ "$(cat "$work/out")" = '{"a":[1,{"b":null}]}' ] || die "compute echo -"
ok "compute MODULE:echo - < JSON -> the JSON"
expect 1 compute "$MOD:crash" 1
[[ $err == *SIGSEGV* ]] || die "compute crash: '$err'"
expect 1 compute --timeout 0.5 "$MOD:spin" 1
[[ $err == *"timed out"* ]] || die "compute timeout: '$err'"
expect 1 compute "$MOD:no_such_function" 1
expect 1 compute "$work/no-such.so:square" 1
expect 0 compute --arg '[1,2]' -- sh -c 'read x; echo "{\"got\":$x}"'
[ "$out" = '{"got":[1,2]}' ] || die "compute -- sh printed '$out'"
expect 0 compute -- sh -c 'cat'
[ "$out" = null ] || die "compute -- cat without --arg printed '$out'"
expect 0 compute -- echo not json
[ "$out" = '"not json"' ] || die "compute -- echo printed '$out'"
expect 1 compute -- sh -c 'exit 4'
expect 1 compute --timeout 0.3 -- sleep 10
expect 2 compute "$MOD:square" '{bad'
# Warm by default: one worker answers call after call; --fresh is a new
# process each time.
expect 0 compute --workers 1 "$MOD:pid" null
warm=$out
expect 0 compute "$MOD:pid" null
[ "$out" = "$warm" ] || die "compute: warm pid $warm, then $out"
expect 0 compute --fresh "$MOD:pid" null
fresh=$out
expect 0 compute --fresh "$MOD:pid" null
[ "$out" != "$fresh" ] && [ "$fresh" != "$warm" ] ||
    die "compute --fresh: pids $fresh, $out (warm $warm)"
ok "compute: one warm worker; --fresh a new process each call"
expect 0 daemon status
grep -q '^compute_workers 1$' "$work/out" ||
    die "daemon status: no 'compute_workers 1'"
expect 2 compute --workers 0 "$MOD:pid" null
expect 2 compute --workers 2 -- cat
[[ $err == *"--workers is for warm workers"* ]] ||
    die "compute --workers --: '$err'"
expect 2 compute --fresh -- cat
expect 2 compute --warm "$MOD:pid" null
# --warm: the command is kept, here, a line in and a line out.
loop='while read x; do echo "[$x, $$, \"$(pwd)\"]"; done'
(cd "$work" && "$ISOCTL" compute --warm --arg 1 -- sh -c "$loop") \
    >"$work/out" 2>"$work/err" || die "compute --warm"
first=$(cat "$work/out")
(cd "$work" && "$ISOCTL" compute --warm --arg 2 -- sh -c "$loop") \
    >"$work/out" 2>"$work/err" || die "compute --warm, again"
second=$(cat "$work/out")
[ "${first#\[1,}" != "$first" ] && [ "${second#\[2,}" != "$second" ] &&
    [ "${first#\[1,}" = "${second#\[2,}" ] ||
    die "compute --warm: '$first' then '$second' (want one process)"
case $second in *"\"$work\"]") ;; *) die "compute --warm ran in '$second'" ;;
esac
ok "compute --warm -- CMD: one process, here, line by line"
expect 0 compute --warm --arg '"x"' -- awk '{ print "got " $0 }'
[ "$out" = '"got \"x\""' ] || die "compute --warm -- awk printed '$out'"
expect 1 compute --warm --timeout 0.3 -- sh -c 'read x; sleep 10'
[[ $err == *"timed out after 300 ms"* ]] || die "compute --warm timeout: '$err'"
expect 2 compute --arg '{bad' -- cat
expect 2 compute "$MOD:square"
expect 2 compute square 7
expect 2 compute
expect 2 compute --
expect 2 compute --timeout never "$MOD:square" 7
expect 2 compute --arg 1 "$MOD:square" 7

# ---- --lines and recv ---------------------------------------------------------------

# The README's own --lines example, with Debian's awk (mawk, which buffers a pipe).
expect 0 spawn --name sq --lines -- awk '{print $1*$1; fflush()}'
expect 0 send sq 5
expect 0 recv sq
[ "$out" = 25 ] || die "recv sq: '$out', want 25"
for n in 1 2 3; do expect 0 send sq $n; done
expect 0 recv --count 3 --timeout 10 sq
[ "$out" = "$(printf '1\n4\n9')" ] || die "recv --count 3: '$out'"
expect 124 recv --timeout 0.2 sq
# Lines that are not JSON come as strings; --count 0 reads to the end.
expect 0 spawn --name words --lines -- sh -c 'echo hello; echo "[1, 2]"'
expect 0 recv --count 0 --timeout 10 words
[ "$out" = "$(printf '"hello"\n[1,2]')" ] || die "recv --count 0: '$out'"
expect 1 recv nobody
expect 1 recv ex3
expect 2 recv
expect 2 recv a b
expect 2 recv --count -1 sq
expect 2 recv --timeout soon sq
expect 2 recv --bogus

# ---- isolates ended with their spawner ----------------------------------------

"$BUILD/tests/prog/sup_spawner" 2 exit >"$work/spawner" ||
    die "sup_spawner 2 exit failed"
spawner=$(sed -n 's/^ready //p' "$work/spawner")
is_id "$spawner" || die "sup_spawner printed '$(cat "$work/spawner")'"
# Its two isolates: their ids from ps --json (keys in the order the
# supervisor writes them), each shown as ended with its spawner.
kids() {
	"$ISOCTL" ps --json --all 2>/dev/null |
	    grep -o '"id":"[0-9a-f]*","name":null,"pid":[0-9]*,"parent":"'"$spawner"'"' |
	    sed 's/^"id":"\([0-9a-f]*\)".*/\1/'
}
ended_with_spawner() {
	local k n=0
	"$ISOCTL" ps --all >"$work/out" 2>/dev/null || return 1
	for k in $(kids); do
		grep -q "^$k .* exited  *spawner " "$work/out" || return 1
		n=$((n + 1))
	done
	[ "$n" -eq 2 ]
}
until_ok 10 ended_with_spawner || die "ps: the two isolates of $spawner did not end with it"
ok "ps: isolates ended with their spawner show EXIT spawner"
expect 0 ps --json --all
grep -q '"ended_with_spawner":true' "$work/out" ||
    die "ps --json: no ended_with_spawner"
child=$(kids | head -1)
is_id "$child" || die "ps --json: no child of $spawner"
x wait "$child"
[ "$out" = "ended with its spawner" ] || die "wait $child: '$out'"
ok "wait: ended with its spawner"

# ---- stop --------------------------------------------------------------------------

expect 0 daemon stop
for i in $(seq 50); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && die "the supervisor $pid still runs after stop"
expect 1 daemon status
left=$(ours)
[ -z "$left" ] || die "processes left after daemon stop: ${left//$'\n'/ }"
ok "daemon stop: nothing of ours left running"

# ---- an unsafe runtime directory ---------------------------------------------

mkdir -m 755 "$work/loose"
ln -s "$work/loose" "$work/link"
ISO_RUNTIME_DIR=$work/loose
expect 1 ps
[[ $err == *"runtime directory $work/loose has mode 0755"*"must be 0700"*"chmod 700 $work/loose"* ]] ||
    die "ps in a 0755 directory: '$err'"
ISO_RUNTIME_DIR=$work/link
expect 1 spawn -- true
[[ $err == *"runtime directory $work/link is a symlink, not a directory"* ]] ||
    die "spawn in a symlinked directory: '$err'"
ISO_RUNTIME_DIR=$rt
[ -z "$(ls -A "$work/loose")" ] || die "something was made in $work/loose"
ok "an unsafe runtime directory: nothing made in it"
echo "isoctl.sh: all passed"
