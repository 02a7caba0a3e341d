#!/bin/bash
# isoctl's streams over a --lines command: recv --follow (served by the
# supervisor until the command has ended for good, across a restart,
# what a killed follower was handed going to the next one) and send
# --text (raw lines, without JSON quoting), against a supervisor of its
# own in a temporary runtime directory. One line per check; stops at
# the first failure with a line saying what was wrong.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl

for f in "$ISOCTL" "$BUILD/isolated"; do
	if [ ! -x "$f" ]; then
		echo "FAIL: $f is not built"
		exit 1
	fi
done

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"




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

# lines_are FILE TEXT: FILE holds exactly TEXT (lines).
lines_are() { [ "$(cat "$1")" = "$2" ]; }

# outbox TARGET: the count of its outbox in ps --json.
outbox() {
	"$ISOCTL" ps --json 2>/dev/null |
	    grep -o '"name":"[^"]*"\|"outbox":[0-9]*' |
	    sed -n "/^\"name\":\"$1\"\$/{n;s/^\"outbox\"://p;}"
}
outbox_is() { [ "$(outbox "$1")" = "$2" ]; }

# A follower in the background: its pid in $fpid, its output in FILE.
follow_bg() {
	local file=$1
	shift
	"$ISOCTL" recv --follow "$@" >"$file" 2>"$file.err" &
	fpid=$!
}

# finish_bg STATUS: the follower $fpid exits STATUS within 10 s.
finish_bg() {
	local i st
	for ((i = 0; i < 100; i++)); do
		kill -0 "$fpid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$fpid" 2>/dev/null; then
		kill -9 "$fpid"
		wait "$fpid" 2>/dev/null
		die "recv --follow still runs 10 s after its command ended"
	fi
	wait "$fpid"
	st=$?
	[ "$st" -eq "$1" ] || die "recv --follow: exit $st, want $1 ($(cat "$work/f.err" 2>/dev/null))"
}

# An awk that answers each line with its length and itself, and ends on
# "quit" (its input as --text sends it: no JSON quoting).
ECHO='$0 == "quit" { exit } { print length($0) ":" $0; fflush() }'

expect 0 daemon start

# ---- send --text ------------------------------------------------------------

expect 0 spawn --name raw --lines -- awk "$ECHO"
expect 0 send raw '"x"'
expect 0 send --text raw 'hello "world" \n'
expect 0 recv -n 2 --timeout 10 raw
[ "$out" = "$(printf '%s\n%s' '"3:\"x\""' '"16:hello \"world\" \\n"')" ] ||
    die "send then send --text: awk read '$out'"
# Each line of stdin one message, as it comes; an empty line; a last
# line without its newline; a line that ends the text with a newline.
printf 'a b\n"q" \x27s\n\nlast' | "$ISOCTL" send --text raw - ||
    die "send --text -: exit $?"
expect 0 recv -n 4 --timeout 10 raw
[ "$out" = "$(printf '%s\n' '"3:a b"' '"6:\"q\" '"'"'s"' '"0:"' '"4:last"' | head -c -1)" ] ||
    die "send --text -: awk read '$out'"
expect 0 send --text raw "$(printf 'two\nlines\n')"
expect 0 recv -n 2 --timeout 10 raw
[ "$out" = "$(printf '"3:two"\n"5:lines"')" ] ||
    die "send --text with a newline in it: '$out'"
# Not UTF-8, and a NUL: bytes all the same, the program reads them as
# they are (cat, into a file: mawk stops a terminal's line at a NUL).
printf 'a\0b\n\xff\nz' >"$work/raw.want"
printf '\n' >>"$work/raw.want"
expect 0 spawn --name cat --lines -- sh -c "exec cat >'$work/raw.got'"
"$ISOCTL" send -x cat - <"$work/raw.want" || die "send -x - (NUL, 0xff)"
until_ok 10 cmp -s "$work/raw.want" "$work/raw.got" ||
    die "send --text of a NUL and of 0xff: cat read $(od -c "$work/raw.got")"
ok "send --text: a NUL and a byte not UTF-8 reach the program as they are"
expect 0 kill cat
# Its line of output not UTF-8: bytes.
expect 0 send --text raw "$(printf '\xff')"
expect 0 recv --timeout 10 raw
[ "$out" = "{\"\$bytes\":\"$(printf '1:\xff' | base64)\"}" ] ||
    die "awk's answer to 0xff: '$out'"
# --text reads no JSON: a bad one is a line like another.
expect 0 send --text raw '{bad'
expect 0 recv --timeout 10 raw
[ "$out" = '"4:{bad"' ] || die "send --text '{bad': '$out'"
expect 2 send raw '{bad'
expect 2 send --text raw
expect 1 send --text nobody hello
expect 0 send --text raw quit
expect 0 wait --timeout 10 raw

# ---- recv --follow ----------------------------------------------------------

# Lines come as they are printed, and the stream ends with the command.
expect 0 spawn --name fw --lines -- awk "$ECHO"
follow_bg "$work/f" fw
expect 0 send --text fw one
until_ok 10 lines_are "$work/f" '"3:one"' ||
    die "recv --follow: '$(cat "$work/f")' while the command runs"
kill -0 "$fpid" || die "recv --follow ended while its command runs"
expect 0 send --text fw two
until_ok 10 lines_are "$work/f" "$(printf '"3:one"\n"3:two"')" ||
    die "recv --follow: '$(cat "$work/f")'"
ok "recv --follow streams as the command prints"
expect 0 send --text fw quit
finish_bg 0
lines_are "$work/f" "$(printf '"3:one"\n"3:two"')" ||
    die "recv --follow: '$(cat "$work/f")' at the end"
ok "recv --follow exits 0 when the command ends"
# Of an ended command: what is left, then the end at once.
expect 0 recv --follow --timeout 10 fw
[ -z "$out" ] || die "recv --follow of an ended command printed '$out'"
expect 0 spawn --name left --lines -- sh -c 'echo 1; echo 2; echo 3'
expect 0 wait --timeout 10 left
expect 0 recv --follow --count 1 left
[ "$out" = 1 ] || die "recv --follow --count 1: '$out'"
expect 0 recv -f left
[ "$out" = "$(printf '2\n3')" ] || die "recv -f after --count 1: '$out'"
expect 0 recv --count 0 left
[ -z "$out" ] || die "recv --count 0 of what is read: '$out'"
expect 0 spawn --name idle2 --lines -- awk "$ECHO"
expect 124 recv --follow --timeout 0.3 idle2
expect 0 send --text idle2 quit

# A command that restarts is followed into its next run.
mark=$work/ran-once
expect 0 spawn --name rs --lines --restart on-failure -- sh -c \
    "if [ -e '$mark' ]; then echo second; else : >'$mark'; echo first; read x; exit 1; fi"
follow_bg "$work/f" rs
until_ok 10 lines_are "$work/f" '"first"' ||
    die "recv --follow of rs: '$(cat "$work/f")'"
expect 0 send --text rs go
finish_bg 0
lines_are "$work/f" "$(printf '"first"\n"second"')" ||
    die "recv --follow across a restart: '$(cat "$work/f")'"
ok "recv --follow goes on across a restart, ends when it ended for good"

# What a killed follower was handed and had not acknowledged goes to the
# next one: stopped, it is handed x2 and x3 (a recv meanwhile finds
# them leased), then killed.
expect 0 spawn --name kf --lines -- awk "$ECHO"
follow_bg "$work/f" kf
expect 0 send --text kf x1
until_ok 10 lines_are "$work/f" '"2:x1"' || die "kf: '$(cat "$work/f")'"
until_ok 10 outbox_is kf 0 || die "kf: x1 is not acknowledged"
kill -STOP "$fpid"
expect 0 send --text kf x2
expect 0 send --text kf x3
until_ok 10 outbox_is kf 2 || die "kf: x2 and x3 are not in the outbox"
expect 124 recv --timeout 0.3 kf
kill -9 "$fpid"
wait "$fpid" 2>/dev/null
lines_are "$work/f" '"2:x1"' || die "the stopped follower printed '$(cat "$work/f")'"
follow_bg "$work/f" kf
until_ok 10 lines_are "$work/f" "$(printf '"2:x2"\n"2:x3"')" ||
    die "after a killed follower: '$(cat "$work/f")'"
expect 0 send --text kf quit
finish_bg 0
lines_are "$work/f" "$(printf '"2:x2"\n"2:x3"')" ||
    die "after a killed follower, at the end: '$(cat "$work/f")'"
ok "a killed follower's unacknowledged output goes to the next follower"

# A recv and a follower wait on one outbox, the recv first: the stopped
# follower is handed x1; killed, it gives it back, and the recv, which
# still waits, gets it.
conns() {
	"$ISOCTL" daemon status --json 2>/dev/null |
	    sed -n 's/.*"connections":\([0-9]*\).*/\1/p'
}
conns_are() { [ "$(conns)" = "$1" ]; }
expect 0 spawn --name two --lines -- awk "$ECHO"
base=$(conns)
"$ISOCTL" recv --timeout 20 two >"$work/r" 2>"$work/r.err" &
rpid=$!
until_ok 10 conns_are $((base + 1)) || die "the recv does not wait"
follow_bg "$work/f" two
until_ok 10 conns_are $((base + 2)) || die "the follower does not follow"
kill -STOP "$fpid"
expect 0 send --text two x1
until_ok 10 outbox_is two 1 || die "two: x1 is not in the outbox"
kill -0 "$rpid" || die "the recv ended: '$(cat "$work/r")'"
kill -9 "$fpid"
wait "$fpid" 2>/dev/null
wait "$rpid" || die "the recv: exit $? ($(cat "$work/r.err"))"
lines_are "$work/r" '"2:x1"' || die "the recv got '$(cat "$work/r")'"
ok "a waiting recv and a follower share an outbox; what the follower gives back goes to the recv"
expect 0 send --text two quit

# Errors: one line each.
expect 0 spawn --name plain -- sleep 100
expect 1 recv --follow plain
[[ $err == *"not spawned with --lines"* ]] || die "follow of plain: '$err'"
expect 1 recv --follow nobody
expect 1 recv --count 0 plain
expect 2 recv --follow
expect 2 recv --follow=yes fw
expect 0 kill plain

# A follower whose command ended with a stop ends with it (exit 0); one
# that was still sent what it had not acknowledged when the supervisor
# stopped is told so (exit 1), and starts no supervisor.
expect 0 spawn --name last --lines -- awk "$ECHO"
follow_bg "$work/f" last
until_ok 10 conns_are $((base + 1)) || die "the follower does not follow"
kill -STOP "$fpid"
expect 0 send --text last hi
until_ok 10 outbox_is last 1 || die "last: hi is not in the outbox"
expect 0 daemon stop
kill -CONT "$fpid"
finish_bg 1
[ "$(wc -l <"$work/f.err")" -eq 1 ] && grep -q "supervisor stopped" "$work/f.err" ||
    die "recv --follow at a stop said '$(cat "$work/f.err")'"
expect 1 daemon status
ok "daemon stop ends a follower, which starts no supervisor"

echo "isoctl_stream.sh: all passed"
