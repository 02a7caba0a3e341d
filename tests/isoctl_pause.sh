#!/bin/bash
# isoctl pause, resume and ping, and spawn --paused: a supervised command
# started paused uses no CPU until resumed, ps shows it paused, ping
# answers only --immediate while it is; a graceful kill ends a paused
# command; a C program's named isolate is listed by its name, paused,
# pinged through its own loop and resumed. Against a supervisor of its
# own in a temporary runtime directory.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u
export LC_ALL=C

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl
SPAWNER=$BUILD/tests/prog/sup_spawner

for f in "$ISOCTL" "$BUILD/isolated" "$SPAWNER"; do
	[ -e "$f" ] || { echo "FAIL: $f is not built"; exit 1; }
done

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"

until_ok() {
	local limit=$(($1 * 10)) i
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# state_of PID: its state letter; cpu_of PID: utime + stime, in ticks.
state_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }
cpu_of() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
pid_of() { "$ISOCTL" ps --json --name "$1" | grep -oE '"pid":[0-9]+' |
    head -n1 | cut -d: -f2; }
row_of() { "$ISOCTL" ps --name "$1" | sed -n 2p; }

# still PID: stopped (pause answers once it is) and using no CPU over
# 0.3 s.
still() {
	local c0 c1
	[ "$(state_of "$1")" = T ] || die "pid $1 is not stopped: $(state_of "$1")"
	c0=$(cpu_of "$1")
	sleep 0.3
	c1=$(cpu_of "$1")
	[ "$(state_of "$1")" = T ] || die "pid $1 ran again"
	[ "$c0" = "$c1" ] || die "pid $1 used CPU while paused: $c0 -> $c1"
}

# ---- a command spawned paused ---------------------------------------------------

expect 0 spawn --name spin --paused -- sh -c 'while :; do :; done'
pid=$(pid_of spin)
[ -n "$pid" ] || die "spin has no pid"
still "$pid"
[[ $(row_of spin) =~ \ paused\  ]] || die "ps: spin is not paused: $(row_of spin)"
"$ISOCTL" ps --json --name spin | grep -q '"state":"running"' ||
    die "ps --json: a paused command is not running"
"$ISOCTL" ps --json --name spin | grep -q '"paused":true' ||
    die "ps --json: no paused: true"
expect 0 top --once
grep -qE " spin +$pid +paused " "$work/out" || die "top: spin is not paused"
ok "spawn --paused: stopped before exec, no CPU, ps and top say paused"

expect 124 ping --timeout 0.5 spin
expect 0 ping --immediate spin
[ "$out" = "spin: answered" ] || die "ping: '$out'"
ok "ping of a paused command: only --immediate answers"

expect 0 resume spin
c0=$(cpu_of "$pid")
runs() { [ "$(cpu_of "$pid")" -gt "$c0" ]; }
until_ok 10 runs || die "spin does not run once resumed"
[[ $(row_of spin) =~ \ running\  ]] || die "ps: spin is not running: $(row_of spin)"
expect 0 ping spin
ok "resume: it runs, ps says running, ping answers"

expect 0 pause spin
still "$pid"
expect 0 resume spin
ok "pause and resume of a running command"

expect 0 pause spin
expect 0 kill --graceful spin
expect 143 wait spin
ok "a graceful kill ends a paused command"

# A process that cannot stop at once (waiting in the kernel for a vfork
# child, 400 ms at a time): pause answers when it has stopped; one that
# cannot stop within 2 s (5 s at a time) is said to be not stopped yet.
expect 0 spawn --name held -- "$BUILD/tests/prog/vfork_hold" 400
hpid=$(pid_of held)
[ -n "$hpid" ] || die "held has no pid"
expect 0 pause held
[ "$(state_of "$hpid")" = T ] ||
    die "pause answered before held stopped: $(state_of "$hpid")"
expect 0 kill held
expect 0 spawn --name slow -- "$BUILD/tests/prog/vfork_hold" 5000
spid=$(pid_of slow)
sleep 0.2
expect 1 pause slow
[[ $err == *"has not stopped after 2000 ms"* ]] ||
    die "pause of a process that cannot stop: '$err'"
expect 0 kill slow
ok "pause answers once the process has stopped, or says it has not"

expect 1 pause spin
[[ $err == *"not running"* ]] || die "pause of an ended command: '$err'"
expect 1 resume no-such-isolate
expect 1 ping no-such-isolate
expect 2 pause
ok "pause, resume, ping of what does not run: exit 1"

# ---- a C program's named isolate -----------------------------------------------

"$SPAWNER" 1 wait kid-of-spawner >"$work/spawner" 2>&1 &
sp=$!
trap 'kill -9 $sp 2>/dev/null; cleanup' EXIT
until_ok 10 grep -qs '^ready ' "$work/spawner" || die "sup_spawner: $(cat "$work/spawner")"
listed() { [ -n "$(pid_of kid-of-spawner)" ]; }
until_ok 10 listed || die "ps does not show the isolate by its name"
kpid=$(pid_of kid-of-spawner)
[ "$(cat "/proc/$kpid/comm")" = "kid-of-spawner" ] ||
    die "comm of the named isolate: $(cat "/proc/$kpid/comm")"
ok "a program's named isolate: its name in ps and comm"

expect 0 ping kid-of-spawner
expect 0 pause kid-of-spawner
still "$kpid"
[[ $(row_of kid-of-spawner) =~ \ paused\  ]] || die "ps: not paused: $(row_of kid-of-spawner)"
expect 124 ping --timeout 0.5 kid-of-spawner
expect 0 ping --immediate kid-of-spawner
expect 0 resume kid-of-spawner
expect 0 ping kid-of-spawner
ok "a program's isolate: paused, pinged through its loop, resumed"

kill "$sp"
wait "$sp" 2>/dev/null
echo "isoctl_pause.sh: all passed"
