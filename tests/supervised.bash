# supervised.bash: sourced by the shell tests that need a supervisor of
# their own (isoctl*.sh, shell_examples.sh), with the helpers the isoctl
# tests share (ok, die, x, expect). Needs BUILD (absolute) and
# ISOCTL; makes a private runtime directory $rt and a scratch $work, and
# at exit stops that supervisor and kills anything still carrying $rt in
# its environment (its shepherds and their commands).

rt=$(mktemp -d) || exit 1
work=$(mktemp -d) || exit 1
chmod 700 "$rt"
export ISO_RUNTIME_DIR=$rt
export ISO_ISOLATED=$BUILD/isolated

# Processes, other than this script, that carry our runtime directory in
# their environment: the supervisor, its shepherds and their commands.
ours() {
	local e pid
	for e in /proc/[0-9]*/environ; do
		pid=${e#/proc/}
		pid=${pid%/environ}
		[ "$pid" = $$ ] && continue
		grep -qzxF "ISO_RUNTIME_DIR=$rt" "$e" 2>/dev/null && echo "$pid"
	done
}

cleanup() {
	local pid left i
	"$ISOCTL" daemon stop >/dev/null 2>&1
	pid=$(cat "$rt/supervisor.lock" 2>/dev/null)
	for i in $(seq 50); do
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	left=$(ours)
	if [ -n "$left" ]; then
		echo "cleanup: killing what was left: ${left//$'\n'/ }"
		# shellcheck disable=SC2086 # a list of pids
		kill -9 $left 2>/dev/null
	fi
	rm -rf "$rt" "$work"
}
trap cleanup EXIT

# ---- what the isoctl tests share ------------------------------------------

ok() { echo "ok: $*"; }

# die TEXT: the failure, with what the last x printed; exit 1.
die() {
	echo "FAIL: $*"
	[ -s "$work/out" ] && sed 's/^/    stdout: /' "$work/out"
	[ -s "$work/err" ] && sed 's/^/    stderr: /' "$work/err"
	exit 1
}

# x ARGS...: run isoctl; sets rc, out (stdout), err (stderr).
x() {
	"$ISOCTL" "$@" >"$work/out" 2>"$work/err"
	rc=$?
	out=$(cat "$work/out")
	err=$(cat "$work/err")
}

# expect STATUS ARGS...: isoctl ARGS exits STATUS; a failure (not a
# timeout, a signal, or wait's status of the command) says why on stderr
# in one line starting "isoctl: ".
expect() {
	local want=$1
	shift
	x "$@"
	[ "$rc" -eq "$want" ] || die "isoctl $*: exit $rc, want $want"
	if [ "$want" -ne 0 ] && [ "$want" -ne 124 ] && [ "$want" -lt 128 ] &&
	    [ "$1" != wait ]; then
		[ "$(wc -l <"$work/err")" -eq 1 ] ||
		    die "isoctl $*: want one line on stderr"
		case $err in
		"isoctl: "*) ;;
		*) die "isoctl $*: stderr does not start with 'isoctl: '" ;;
		esac
	fi
	ok "isoctl $* -> $want"
}
