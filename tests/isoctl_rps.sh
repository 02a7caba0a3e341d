#!/bin/bash
# isoctl restart, rm and ps's filters, against a supervisor of its own in
# a temporary runtime directory: a graceful restart and one --now (a
# command that traps SIGTERM tells which it got), the restart of an ended
# command (its mailbox takes messages again), of a C program's isolate
# (refused); rm of an ended isolate (its row and files gone) and of a
# live one (refused); ps --name, --state and --all. Prints one line per
# check and stops at the first failure with a line saying what was wrong.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl
SPAWNER=$BUILD/tests/prog/sup_spawner

for f in "$ISOCTL" "$BUILD/isolated" "$SPAWNER"; do
	if [ ! -x "$f" ]; then
		echo "FAIL: $f is not built"
		exit 1
	fi
done

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"

sp=
stop_spawner() {
	if [ -n "$sp" ]; then
		kill "$sp" 2>/dev/null
		wait "$sp" 2>/dev/null
		sp=
	fi
}
trap 'stop_spawner; cleanup' EXIT




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

# lines_in TARGET TEXT: how many lines of TARGET's log are TEXT.
lines_in() { "$ISOCTL" logs "$1" 2>/dev/null | grep -cxF -- "$2"; }
# at_least N TARGET TEXT: TARGET's log has TEXT N times or more.
at_least() { [ "$(lines_in "$2" "$3")" -ge "$1" ]; }
# The pid and restarts of the row named $1 (ps --json, keys in order).
pid_of() { "$ISOCTL" ps --json | grep -oE "\"name\":\"$1\",\"pid\":[0-9]+" |
    grep -oE '[0-9]+$'; }
restarts_of() { "$ISOCTL" ps --json --name "$1" |
    grep -oE '"restarts":[0-9]+' | grep -oE '[0-9]+$'; }
# The ids ps gives with options $@, one a line.
ids() { "$ISOCTL" ps --json "$@" | grep -oE '"id":"[0-9a-f]{16}"' |
    cut -d'"' -f4; }

# ---- usage -----------------------------------------------------------------------

expect 0 restart --help
grep -q "^usage: isoctl restart \[--now\] TARGET" "$work/out" ||
    die "restart --help: no usage line"
expect 0 rm --help
grep -q "^usage: isoctl rm TARGET" "$work/out" || die "rm --help: no usage line"
expect 2 restart
expect 2 restart a b
expect 2 restart --bogus a
expect 2 rm
expect 2 rm a b
expect 2 rm --now a
expect 2 ps --state sleeping
[[ $err == *"--state"*"sleeping"* ]] || die "ps --state sleeping: '$err'"
expect 2 ps --name
expect 1 restart no-such-isolate
expect 1 rm no-such-isolate

# ---- restart: graceful, then --now -----------------------------------------------

# It says "got TERM" on SIGTERM; SIGKILL leaves no word.
expect 0 spawn --name trap -- sh -c \
    'trap "echo got TERM; exit 0" TERM; echo started; while :; do sleep 0.05; done'
trap_id=$out
until_ok 10 at_least 1 trap started || die "trap never started"
p1=$(pid_of trap)
expect 0 restart trap
[ "$out" = "$trap_id" ] || die "restart printed '$out', not $trap_id"
[ "$(lines_in trap "got TERM")" -eq 1 ] ||
    die "a graceful restart sent no SIGTERM: $(lines_in trap "got TERM")"
# It answers once the new run runs: ps has its new pid at once.
p2=$(pid_of trap)
[ -n "$p2" ] && [ "$p2" -gt 0 ] && [ "$p2" != "$p1" ] ||
    die "after restart: pid '$p2' (was $p1)"
[ "$(restarts_of trap)" = 1 ] || die "restarts after one restart: $(restarts_of trap)"
until_ok 10 at_least 2 trap started || die "trap did not start again"
ok "restart: SIGTERM first, run again at once, counted"
# Options after the target too.
expect 0 restart trap --now
until_ok 10 at_least 3 trap started || die "trap did not start a third time"
[ "$(lines_in trap "got TERM")" -eq 1 ] ||
    die "restart --now sent SIGTERM: $(lines_in trap "got TERM") 'got TERM'"
[ "$(restarts_of trap)" = 2 ] || die "restarts after --now: $(restarts_of trap)"
ok "restart --now: SIGKILL, no SIGTERM"

# ---- restart of an ended command -------------------------------------------------

expect 0 spawn --name once -- sh -c 'echo ran'
expect 0 wait once
expect 0 restart once
expect 0 wait once
[ "$(lines_in once ran)" -eq 2 ] || die "once ran $(lines_in once ran) times"
[ "$(restarts_of once)" = 1 ] || die "once: restarts $(restarts_of once)"
ok "restart: an ended command is run again"

# A killed command: its mailbox takes messages again, its policy holds
# again (killed behind the supervisor's back, it comes back).
expect 0 spawn --name box --restart always -- sleep 60
expect 0 kill box
expect 137 wait box
expect 1 send box 1
expect 0 restart box
expect 0 send box 1
pb=$(pid_of box)
kill -9 "$pb"
back() { p=$(pid_of box) && [ -n "$p" ] && [ "$p" != "$pb" ] &&
    "$ISOCTL" ps --name box --state running | grep -q box; }
until_ok 10 back || die "box was not restarted by its policy after a restart"
ok "restart of a killed command: mailbox open, policy back"

# ---- a C program's isolate ------------------------------------------------------------

"$SPAWNER" 1 wait >"$work/spawner" 2>&1 &
sp=$!
until_ok 10 grep -qs '^ready ' "$work/spawner" || die "sup_spawner: $(cat "$work/spawner")"
parent=$(sed -n 's/^ready //p' "$work/spawner")
kid_of() { "$ISOCTL" ps --json "$@" |
    grep -oE '"id":"[0-9a-f]{16}","name":null,"pid":[0-9]+,"parent":"'"$parent"'"' |
    cut -d'"' -f4; }
listed() { kid=$(kid_of) && [ -n "$kid" ]; }
until_ok 10 listed || die "ps: no isolate of sup_spawner"
expect 1 restart "$kid"
[[ $err == *"forked by a program"*"restart that program"* ]] ||
    die "restart of a library isolate: '$err'"
ok "restart of a C program's isolate: refused"
expect 1 rm "$kid"
[[ $err == *"is running: kill it first"* ]] || die "rm of a live isolate: '$err'"
# ps by default shows live isolates of programs.
[ "$(kid_of)" = "$kid" ] || die "ps does not show the live isolate $kid"
stop_spawner
ended() { "$ISOCTL" ps --json --all --state ended | grep -q "\"id\":\"$kid\""; }
until_ok 10 ended || die "$kid did not end with its spawner"
[ -z "$(kid_of)" ] || die "ps shows the ended isolate $kid without --all"
[ -z "$(kid_of --state ended)" ] || die "ps --state ended shows $kid without --all"
[ "$(kid_of --all)" = "$kid" ] || die "ps --all does not show $kid"
"$ISOCTL" ps --all | grep -qE "^$kid +- +[0-9]+ +exited " ||
    die "ps --all (table): no row for $kid"
"$ISOCTL" ps | grep -q "^$kid " && die "ps (table) shows the ended $kid"
ok "ps: ended isolates of programs only with --all"
expect 0 rm "$kid"
[ -z "$(kid_of --all)" ] || die "rm $kid: still listed"
[ ! -e "$rt/supervisor/$kid.json" ] || die "rm $kid: $kid.json is left"
ok "rm: an ended isolate of a program is forgotten"

# ---- ps filters ------------------------------------------------------------------------

expect 0 spawn --name bx-fail -- sh -c 'exit 3'
expect 3 wait bx-fail
expect 0 spawn --name nope -- "$work/no-such-program"
x wait nope
trap_run=$(ids --name trap)
[ "$trap_run" = "$trap_id" ] || die "ps --name trap: '$trap_run'"
[ "$(ids --name 'b*' | wc -l)" -eq 2 ] || die "ps --name 'b*': $(ids --name 'b*')"
[ -z "$(ids --name 'zz*')" ] || die "ps --name 'zz*' is not empty"
expect 0 ps --name 'b?-*'
grep -qE "^[0-9a-f]{16} +bx-fail " "$work/out" || die "ps --name 'b?-*': no bx-fail"
[ "$(wc -l <"$work/out")" -eq 2 ] || die "ps --name 'b?-*': not header + one row"
running=$("$ISOCTL" ps --json --state running | grep -oE '"state":"[a-z]+"' | sort -u)
[ "$running" = '"state":"running"' ] || die "ps --state running: $running"
[ -n "$(ids --state running --name trap)" ] || die "ps --state running: no trap"
[ -z "$(ids --state exited --name trap)" ] || die "ps --state exited: trap"
[ "$(ids --state exited --name once)" != "" ] || die "ps --state exited: no once"
[ -z "$(ids --state exited --name nope)" ] || die "ps --state exited: nope (failed)"
[ -n "$(ids --state failed --name nope)" ] || die "ps --state failed: no nope"
[ -z "$(ids --state failed --name once)" ] || die "ps --state failed: once"
ended_names=$("$ISOCTL" ps --json --state ended | grep -oE '"name":"[a-z-]+"' | sort | paste -sd ' ')
[ "$ended_names" = '"name":"bx-fail" "name":"nope" "name":"once"' ] ||
    die "ps --state ended: $ended_names"
expect 0 ps -s ended -n 'on*'
grep -qE "^[0-9a-f]{16} +once +[0-9]+ +exited " "$work/out" || die "ps -s ended -n 'on*': no once"
ok "ps --name, --state (running, exited, failed, ended), short forms"

# ---- rm -----------------------------------------------------------------------------------

expect 1 rm trap
[[ $err == *"is running: kill it first"* ]] || die "rm of a running command: '$err'"
expect 0 ps --name trap --state running
grep -q trap "$work/out" || die "rm of a running command touched it"
expect 0 kill trap
x wait trap
ls "$rt/supervisor/$trap_id".* >/dev/null 2>&1 || die "no files of trap before rm"
[ -e "$rt/supervisor/$trap_id.log" ] || die "no log of trap before rm"
expect 0 rm trap
left=$(ls "$rt/supervisor/" | grep -F "$trap_id")
[ -z "$left" ] || die "rm trap left: $left"
[ -z "$(ids --all --name trap)" ] || die "rm trap: still listed"
expect 1 rm trap
expect 1 logs "$trap_id"
ok "rm: the row and every file gone (ID.json, logs, mailbox)"
# One that waits out a backoff is live too.
expect 0 spawn --name flap --restart always -- sh -c 'exit 1'
restarting() { "$ISOCTL" ps --name flap --state restarting | grep -q flap; }
until_ok 10 restarting || die "flap never showed restarting"
x rm flap
if [ "$rc" -eq 1 ]; then
	[[ $err == *"is restarting: kill it first"* || $err == *"is running: kill it first"* ]] ||
	    die "rm of a restarting command: '$err'"
else
	die "rm of a restarting command: exit $rc"
fi
ok "rm of a restarting command: refused"
x kill flap

echo "isoctl_rps.sh: all passed"
