#!/bin/bash
# isoctl top: the figures of a busy command, a sleeping one, a mailbox
# and a restarting command (--once --json); the table (--once); a table
# every interval on a pipe, ended by SIGINT and SIGTERM; the screen on a
# pseudo-terminal, redrawn in place and left with q, the terminal as it
# was; usage errors. Against a supervisor of its own in a temporary
# runtime directory. Needs python3 (JSON, the pseudo-terminal).
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u
export LC_ALL=C

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl

for f in "$ISOCTL" "$BUILD/isolated"; do
	if [ ! -x "$f" ]; then
		echo "FAIL: $f is not built"
		exit 1
	fi
done
if ! command -v python3 >/dev/null 2>&1; then
	echo "FAIL: python3 is needed (JSON, pseudo-terminal)"
	exit 1
fi

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"

die() {
	echo "FAIL: $*"
	[ -s "$work/out" ] && sed 's/^/    stdout: /' "$work/out" | cat -v
	[ -s "$work/err" ] && sed 's/^/    stderr: /' "$work/err"
	exit 1
}


# usage ARGS...: isoctl ARGS exits 2 with one line on stderr.
usage() {
	x "$@"
	[ "$rc" -eq 2 ] || die "isoctl $*: exit $rc, want 2"
	[ "$(wc -l <"$work/err")" -eq 1 ] || die "isoctl $*: want one line"
	case $err in
	"isoctl: top: "*) ;;
	*) die "isoctl $*: stderr '$err'" ;;
	esac
	ok "isoctl $* -> 2: $err"
}

# field NAME KEY: KEY of the row named NAME in $work/out (a JSON array);
# "None" for nil, "missing" when there is no such row.
field() {
	python3 - "$work/out" "$1" "$2" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
for r in rows:
    if r.get("name") == sys.argv[2]:
        print(r.get(sys.argv[3]))
        break
else:
    print("missing")
EOF
}

# ---- usage ----------------------------------------------------------------

x top --help
[ "$rc" -eq 0 ] || die "top --help: exit $rc"
grep -q "usage: isoctl top" "$work/out" || die "top --help: no usage"
grep -q "0.2 s" "$work/out" || die "top --help does not say --once samples"
ok "isoctl top --help"
usage top --interval abc
usage top --interval 0
usage top --interval -1
usage top --sort bogus
usage top extra

# ---- the figures ----------------------------------------------------------

"$ISOCTL" spawn --name busy sh -c 'while :; do :; done' >/dev/null ||
    die "spawn busy"
"$ISOCTL" spawn --name idle sleep 1000 >/dev/null || die "spawn idle"
# The CPU is the wrapper's child's: the group counts.
"$ISOCTL" spawn --name wrap sh -c 'sh -c "while :; do :; done" & wait' \
    >/dev/null || die "spawn wrap"
"$ISOCTL" spawn --name flap --restart always sh -c 'sleep 0.2; exit 3' \
    >/dev/null || die "spawn flap"
for i in 1 2 3; do
	"$ISOCTL" send idle "$i" || die "send idle $i"
done

x top --once --json
[ "$rc" -eq 0 ] || die "top --once --json: exit $rc"
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$work/out" ||
    die "top --once --json: not JSON"
for k in id name pid state cpu cpu_ms pss_kb rss_kb mailbox outbox \
    restarts procs; do
	[ "$(field idle "$k")" != missing ] || die "no row for idle"
	python3 -c 'import json,sys
rows = json.load(open(sys.argv[1]))
sys.exit(0 if all(sys.argv[2] in r for r in rows) else 1)' \
	    "$work/out" "$k" || die "a row without \"$k\""
done
ok "top --once --json: rows with every field"

cpu=$(field busy cpu)
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' \
    "$cpu" || die "busy: cpu $cpu, want > 0"
cpu=$(field idle cpu)
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 5 else 1)' \
    "$cpu" || die "idle: cpu $cpu, want about 0"
[ "$(field idle mailbox)" = 3 ] || die "idle: mailbox $(field idle mailbox)"
[ "$(field busy mailbox)" = 0 ] || die "busy: mailbox $(field busy mailbox)"
python3 -c 'import sys; sys.exit(0 if int(sys.argv[1]) > 0 else 1)' \
    "$(field idle pss_kb)" || die "idle: pss_kb $(field idle pss_kb)"
[ "$(field idle procs)" = 1 ] || die "idle: procs $(field idle procs)"
ok "busy cpu > 0, idle cpu ~ 0 ($cpu), mailbox 3, pss > 0"

cpu=$(field wrap cpu)
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)' \
    "$cpu" || die "wrap: cpu $cpu, want > 0 (its child is busy)"
[ "$(field wrap procs)" -ge 2 ] || die "wrap: procs $(field wrap procs)"
ok "a command counts its process group: wrap cpu $cpu"

# Sorted by CPU: the busy ones before the idle one.
order=$(python3 -c 'import json,sys
print(" ".join(r["name"] for r in json.load(open(sys.argv[1]))))' "$work/out")
case $order in
*idle*busy* | *idle*wrap*) die "not sorted by cpu: $order" ;;
esac
ok "sorted by cpu: $order"

# A process gone behind the supervisor's back: top still answers.
pid=$(field busy pid)
kill -9 "$pid" 2>/dev/null
x top --once --json
[ "$rc" -eq 0 ] || die "top after a kill behind its back: exit $rc"
x top --once
[ "$rc" -eq 0 ] || die "top --once after a kill: exit $rc"
ok "a command killed behind the supervisor's back: top still answers"
"$ISOCTL" kill wrap >/dev/null || die "kill wrap"

# flap restarts: the count goes up (with --all: it may have failed).
restarts=0
for _ in $(seq 150); do
	x top --once --json --all
	restarts=$(field flap restarts)
	[ "$restarts" != missing ] && [ "$restarts" -ge 2 ] && break
	sleep 0.1
done
[ "$restarts" -ge 2 ] || die "flap: restarts $restarts, want >= 2"
ok "flap: $restarts restarts"

# ---- the table -------------------------------------------------------------

x top --once
[ "$rc" -eq 0 ] || die "top --once: exit $rc"
head -n 1 "$work/out" | grep -q "^top - .*isolates: .*cpu: .*pss: " ||
    die "top --once: no line of totals"
grep -q "^ID  *NAME  *PID  *STATE  *CPU%  *PSS  *MBOX  *OUT  *RESTARTS  *COMMAND$" \
    "$work/out" || die "top --once: no heading"
grep -q "^[0-9a-f]\{16\}  *idle  *[0-9][0-9]*  *running .* 3 " "$work/out" ||
    die "top --once: no row for idle with its mailbox"
grep -q $'\033' "$work/out" && die "top --once: escape codes on a pipe"
ok "top --once: totals, heading, rows, no escape codes"

# ---- every interval on a pipe ------------------------------------------------

# top_until SIG: top --interval 0.2 on a pipe until two tables have come,
# then SIG; it must end at once with status 0.
top_until() {
	local sig=$1 pid n=0 i st
	# The last run's tables must not be counted as this one's: the
	# redirection below happens in the background job, later.
	rm -f "$work/out" "$work/err"
	"$ISOCTL" top --interval 0.2 >"$work/out" 2>"$work/err" &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		n=$(cat "$work/out" 2>/dev/null | grep -c "^ID  *NAME")
		[ "$n" -ge 2 ] && break
		sleep 0.1
	done
	[ "$n" -ge 2 ] || { kill -9 "$pid"; die "top on a pipe: $n tables"; }
	kill -"$sig" "$pid"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid"
		die "top on a pipe: still running 5 s after SIG$sig"
	fi
	wait "$pid"
	st=$?
	[ "$st" -eq 0 ] || die "top on a pipe: exit $st after SIG$sig"
	grep -q $'\033' "$work/out" && die "top on a pipe: escape codes"
	[ -s "$work/err" ] && die "top on a pipe: wrote on stderr"
	ok "top on a pipe: $n tables, SIG$sig ends it with 0"
}
top_until INT
top_until TERM

# ---- on a terminal -------------------------------------------------------------

# On a pseudo-terminal of 80x24: the alternate screen, a frame drawn in
# place twice (home, lines cleared to their end, the rest cleared; never
# the whole screen), q quits with status 0, and the terminal is as it was
# (stty after it: canonical, echo).
python3 - "$ISOCTL" >"$work/out" 2>&1 <<'EOF' || die "top on a terminal"
import fcntl, os, pty, re, select, signal, struct, sys, termios, time

isoctl = sys.argv[1]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", '"$0" top --interval 0.3; st=$?; '
                     'stty -a; echo "status=$st"', isoctl])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
out = b""

def read_until(cond, secs):
    global out
    end = time.time() + secs
    while not cond() and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                b = os.read(fd, 65536)
            except OSError:
                return
            if not b:
                return
            out += b

def fail(why):
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    print("FAIL:", why)
    print(repr(out[-2000:]))
    sys.exit(1)

read_until(lambda: out.count(b"\033[H") >= 3 and b"CPU%" in out, 15)
if out.count(b"\033[H") < 3:
    fail("no second frame")
if b"\033[?1049h" not in out:
    fail("not on the alternate screen")
if b"\033[2J" in out:
    fail("clears the whole screen")
if b"\033[K" not in out or b"\033[J" not in out:
    fail("does not clear to the end of lines and screen")
frame = out[out.rfind(b"\033[H"):]
for line in frame.split(b"\n"):
    vis = re.sub(rb"\033\[[0-9;?]*[A-Za-z]|\r", b"", line)
    if len(vis.decode("utf-8", "replace")) > 80:
        fail("a line wider than the terminal: %r" % line)
if frame.count(b"\n") > 23:
    fail("more lines than the terminal has")
os.write(fd, b"q")
read_until(lambda: b"status=" in out, 10)
try:
    while True:
        r, _, _ = select.select([fd], [], [], 1)
        if not r:
            break
        b = os.read(fd, 65536)
        if not b:
            break
        out += b
except OSError:
    pass
_, st = os.waitpid(pid, 0)
tail = out[out.rfind(b"\033[?1049h"):]
if b"\033[?25h" not in tail or b"\033[?1049l" not in tail:
    fail("the screen and cursor are not given back")
text = out.decode("utf-8", "replace")
if "status=0" not in text:
    fail("q did not end it with status 0")
if " -icanon" in text or " -echo " in text or " icanon" not in text:
    fail("the terminal is not as it was")
print("ok: on a terminal: drawn in place, q quits, terminal restored")
EOF
cat "$work/out"

# ---- no supervisor: one line ---------------------------------------------------

"$ISOCTL" daemon stop >/dev/null 2>&1
ISO_ISOLATED=/nonexistent x top --once
[ "$rc" -eq 1 ] || die "top without a supervisor: exit $rc, want 1"
[ "$(wc -l <"$work/err")" -eq 1 ] || die "top without a supervisor: lines"
ok "top without a supervisor that can start: $err"
