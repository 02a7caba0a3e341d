#!/bin/bash
# isoctl spawn's limits: bad values refused in one line, units taken; the
# note (descriptor 4) given only with limits; a limit the kernel refuses
# failing the run with the reason; a command ended
# by --cpu restarted by its policy with the reason in ps (table and
# JSON) and the mechanism in ps --json; a library program ended by
# --memory told "out of memory"; --max-memory restarting a command whose
# RSS passed it, with the reason in ps and in the event stream. Against a
# supervisor of its own in a temporary runtime directory.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u
export LC_ALL=C

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl
HOG=$BUILD/tests/prog/lim_hog

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"

# row NAME: NAME's row of ps --json, one line.
row() {
	"$ISOCTL" ps --json | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("name") == sys.argv[1]:
        print(json.dumps(r, sort_keys=True))' "$1"
}

# field NAME EXPR: a Python expression over NAME's row r.
field() {
	"$ISOCTL" ps --json | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r.get("name") == sys.argv[1]:
        print(eval(sys.argv[2]))' "$1" "$2"
}

# until_field NAME EXPR WANT: wait (at most 30 s) until field gives WANT.
until_field() {
	local i v
	for i in $(seq 300); do
		v=$(field "$1" "$2")
		[ "$v" = "$3" ] && return 0
		sleep 0.1
	done
	die "$1: $2 is \"$v\", want \"$3\"; row: $(row "$1")"
}

"$ISOCTL" daemon start >/dev/null || die "cannot start a supervisor"

# ---- bad values -----------------------------------------------------------

expect 2 spawn --memory 64Q -- true
case $err in *'--memory: "64Q" is not a size'*) ;; *) die "memory text" ;; esac
expect 2 spawn --memory 0 -- true
expect 2 spawn --max-memory lots -- true
expect 2 spawn --cpu 2x -- true
case $err in *'--cpu: "2x" is not a duration'*) ;; *) die "cpu text" ;; esac
expect 2 spawn --cpu 0s -- true
expect 2 spawn --nofile 0 -- true
expect 2 spawn --nproc -1 -- true
[ "$(field x 1)" = "" ] || die "a refused spawn left a row"

# Sizes and times with their units.
expect 0 spawn --name units --memory 1GiB --max-memory 512K --cpu 2m -- true
until_field units 'r["state"]' exited
[ "$(field units 'r["limits"]["memory"]["value"]')" = 1073741824 ] ||
    die "1GiB: $(row units)"
[ "$(field units 'r["limits"]["max_memory"]["value"]')" = 524288 ] ||
    die "512K: $(row units)"
[ "$(field units 'r["limits"]["cpu"]["value"]')" = 120 ] || die "2m"
[ "$(field units 'r["reason"]')" = None ] || die "units: a reason"
ok "sizes and times with units"

# Without limits a command gets no note; with one, descriptor 4.
expect 0 spawn --name plain -- "$HOG" fds
until_field plain 'r["state"]' exited
expect 0 logs plain
[ "$out" = "ISO_NOTE_FD=none" ] || die "plain: $out"
expect 0 spawn --name noted --nofile 64 -- "$HOG" fds
until_field noted 'r["state"]' exited
expect 0 logs noted
[ "$out" = "ISO_NOTE_FD=4"$'\n'"fd 4" ] || die "noted: $out"
ok "the note: descriptor 4 only with limits"

# A limit the kernel refuses (above fs.nr_open): failed, and why.
expect 0 spawn --name toomany --nofile 2000000000 -- true
until_field toomany 'r["state"]' failed
case $(field toomany 'r["error"]') in
"cannot set its open files limit: "*) ;;
*) die "toomany: $(row toomany)" ;;
esac
ok "a limit that cannot be set: failed, with the reason"

# ---- --cpu: SIGXCPU, restarted by policy ----------------------------------

expect 0 spawn --name spin --cpu 1s --restart on-failure -- "$HOG" spin
until_field spin 'r["restarts"] >= 1' True
until_field spin 'r["reason"]' "SIGXCPU: CPU limit of 1 s reached"
by=$(field spin 'r["limits"]["cpu"]["by"]')
case $by in setrlimit|setrlimit+cgroup) ;; *) die "cpu by: $by" ;; esac
[ "$(field spin 'r["limits"]["cpu"]["value"]')" = 1 ] || die "cpu value"
"$ISOCTL" ps --name spin >"$work/out"
grep -q ' SIGXCPU: CPU limit of 1 s reached ' "$work/out" ||
    die "ps does not show the reason: $(cat "$work/out")"
ok "--cpu: SIGXCPU, restarted, the reason in ps and ps --json"
expect 0 kill spin

# ---- --memory: a library program's allocation -----------------------------

if [ "${SAN:-}" = 1 ]; then
	echo "skipped: --memory: an ASan program reserves terabytes of" \
	    "address space, RLIMIT_AS cannot be tested with it"
else
expect 0 spawn --name mem --memory 64M -- "$HOG" alloc
until_field mem 'r["state"]' exited
[ "$(field mem 'r["reason"]')" = \
    "out of memory: memory limit of 64 MiB reached" ] ||
    die "mem reason: $(row mem)"
[ "$(field mem 'r["limits"]["memory"]["value"]')" = 67108864 ] ||
    die "memory value"
ok "--memory: out of memory, in words"

# A program that never enters the library dies of the bare signal.
expect 0 spawn --name memnolib --memory 64M -- "$HOG" alloc-nolib
until_field memnolib 'r["state"]' exited
[ "$(field memnolib 'r["reason"]')" = None ] || die "memnolib: $(row memnolib)"
[ "$(field memnolib 'r["signal"]')" = 11 ] || die "memnolib signal"
ok "--memory: a program without the library: SIGSEGV, no reason"
fi

# ---- --max-memory: restarted, said in ps and in the event stream ----------

( timeout 30 "$ISOCTL" events --json >"$work/ev" 2>&1 ) &
evpid=$!
for i in $(seq 200); do
	"$ISOCTL" daemon status --json 2>/dev/null |
	    grep -q '"subscribers":1[,}]' && break
	sleep 0.05
done
expect 0 spawn --name grow --max-memory 32M -- "$HOG" grow 64
until_field grow 'r["restarts"] >= 1' True
reason=$(field grow 'r["reason"]')
case $reason in
"max-memory: RSS of "*" MiB passed 32 MiB") ;;
*) die "grow reason: $reason" ;;
esac
[ "$(field grow 'r["limits"]["max_memory"]["by"]')" = supervisor ] ||
    die "max_memory by"
expect 0 kill grow
for i in $(seq 100); do
	grep -q '"type":"restart".*"reason":"max-memory: RSS of' "$work/ev" &&
	    break
	grep -q '"reason":"max-memory: RSS of.*"type":"restart"' "$work/ev" &&
	    break
	sleep 0.1
done
kill "$evpid" 2>/dev/null
wait "$evpid" 2>/dev/null
grep '"restart"' "$work/ev" | grep -q '"reason":"max-memory: RSS of' ||
    die "no restart event with the reason: $(cat "$work/ev")"
ok "--max-memory: restarted, the reason in ps and the event stream"

echo "isoctl_limits: all passed"
