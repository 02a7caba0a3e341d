#!/bin/bash
# isoctl events: the supervisor's event stream, as lines and as JSON; a
# command's spawn, exit, restarts and failure in order; the stream ending
# (exit 1, one line) when the supervisor goes away. Against a supervisor
# of its own in a temporary runtime directory.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u
export LC_ALL=C

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"

die() {
	echo "FAIL: $*"
	for f in "$work"/ev.*; do
		[ -s "$f" ] && sed "s|^|    ${f##*/}: |" "$f"
	done
	exit 1
}

# subscribers N: wait (at most 10 s) until the supervisor has N events
# streams open.
subscribers() {
	local i
	for i in $(seq 200); do
		"$ISOCTL" daemon status --json 2>/dev/null |
		    grep -q "\"subscribers\":$1[,}]" && return 0
		sleep 0.05
	done
	die "the supervisor never had $1 subscribers"
}

# listen NAME ARGS...: isoctl events ARGS in the background, into
# $work/ev.NAME (stdout), ev.NAME.err, ev.NAME.rc once it ends.
listen() {
	local name=$1
	shift
	( timeout 30 "$ISOCTL" events "$@" >"$work/ev.$name" \
	    2>"$work/ev.$name.err"; echo $? >"$work/ev.$name.rc" ) &
}

# ended NAME: wait (at most 30 s) for listen NAME to end; its status.
ended() {
	local i
	for i in $(seq 600); do
		[ -s "$work/ev.$1.rc" ] && { cat "$work/ev.$1.rc"; return; }
		sleep 0.05
	done
	die "isoctl events ($1) did not end"
}

"$ISOCTL" daemon start || die "cannot start a supervisor"

# ---- a command's life, as lines ------------------------------------------

# ev1 exits 3 (spawn, exit); ev2 fails on every run, restarted by
# on-failure until the intensity limit (5 restarts) gives it up: spawn,
# exit, restart five times, then spawn, exit, failed.
listen text --count 20
subscribers 1
"$ISOCTL" spawn --name ev1 -- sh -c 'exit 3' >/dev/null || die "spawn ev1"
"$ISOCTL" wait ev1 >/dev/null
"$ISOCTL" spawn --name ev2 --restart on-failure -- sh -c 'exit 1' \
    >/dev/null || die "spawn ev2"
[ "$(ended text)" = 0 ] || die "events --count 20 did not exit 0"
f=$work/ev.text
[ "$(wc -l <"$f")" -eq 20 ] || die "want 20 lines"
ev1=$("$ISOCTL" ps --json | grep -o '"id":"[0-9a-f]*","name":"ev1"' |
    cut -d'"' -f4)
[ -n "$ev1" ] || die "no id for ev1 in ps"
grep -Eq "^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} spawn   $ev1 ev1 pid [0-9]+$" \
    <(sed -n 1p "$f") || die "line 1 is not ev1's spawn"
grep -Eq " exit    $ev1 ev1 pid [0-9]+ status 3$" <(sed -n 2p "$f") ||
    die "line 2 is not ev1's exit with status 3"
ok "spawn and exit of a command, with its id, name, pid and status"
types=$(sed -n '3,20p' "$f" | awk '{print $2}' | tr '\n' ' ')
want="spawn exit restart spawn exit restart spawn exit restart spawn exit \
restart spawn exit restart spawn exit failed "
[ "$types" = "$want" ] || die "ev2's events: '$types', want '$want'"
grep -Eq " restart [0-9a-f]{16} ev2 in [0-9]+ ms$" "$f" ||
    die "a restart line without its backoff"
grep -Eq " failed  [0-9a-f]{16} ev2: restarted 5 times within [0-9]+ ms: given up$" \
    <(sed -n 20p "$f") || die "the last line does not say why ev2 failed"
ok "restarts with their backoff, then failed with the reason"

# ---- JSON --------------------------------------------------------------------

listen json --json --count 2
subscribers 1
"$ISOCTL" spawn --name ev3 -- sh -c 'kill -9 $$' >/dev/null || die "spawn ev3"
[ "$(ended json)" = 0 ] || die "events --json --count 2 did not exit 0"
f=$work/ev.json
grep -q '^{"event":"spawn","time":[0-9.]*,"id":"[0-9a-f]\{16\}","name":"ev3","pid":[0-9]*,"kind":"command"' \
    <(sed -n 1p "$f") || die "JSON line 1 is not ev3's spawn"
grep -q '"event":"exit".*"name":"ev3".*"exit_code":null,"signal":9' \
    <(sed -n 2p "$f") || die "JSON line 2 is not ev3's exit by SIGKILL"
ok "--json: one object a line, as the supervisor sends it"

# Two subscribers each get every event.
listen a --count 2
listen b --count 2
subscribers 2
"$ISOCTL" spawn --name ev4 -- true >/dev/null || die "spawn ev4"
[ "$(ended a)" = 0 ] && [ "$(ended b)" = 0 ] || die "a subscriber failed"
cmp -s "$work/ev.a" "$work/ev.b" || die "two subscribers saw different events"
grep -q " exit    [0-9a-f]* ev4 pid [0-9]* status 0$" "$work/ev.a" ||
    die "ev4's exit is missing"
ok "every subscriber gets every event"

# ---- the end -----------------------------------------------------------------

listen gone
subscribers 1
"$ISOCTL" daemon stop >/dev/null || die "daemon stop"
[ "$(ended gone)" = 1 ] || die "events did not exit 1 when the supervisor went"
[ "$(wc -l <"$work/ev.gone.err")" -eq 1 ] &&
    grep -q '^isoctl: events: .*supervisor' "$work/ev.gone.err" ||
    die "not one line saying the supervisor went away"
ok "the stream ends with exit 1 and one line when the supervisor stops"

x=$("$ISOCTL" events --count 0 2>&1)
[ $? -eq 2 ] && [ "$(echo "$x" | wc -l)" -eq 1 ] ||
    die "events --count 0 is not a one-line usage error: $x"
ok "events --count 0 -> 2: $x"

echo "isoctl_events.sh: all passed"
