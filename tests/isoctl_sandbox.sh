#!/bin/bash
# isoctl spawn --sandbox and isoctl compute --sandbox, against a
# supervisor of its own in a temporary runtime directory: profiles
# refused at once (unknown, or one that would block the command's exec);
# a nonet command killed by SIGSYS when it opens an inet socket, another
# running as usual; readonly:PATH (Landlock; skipped where the kernel has
# none): no write anywhere, no read outside PATH; a sandboxed compute
# that opens a file fails naming the call, and the service goes on.
# Prints one line per check and stops at the first failure.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl
MOD=$BUILD/tests/prog/mod_compute

for f in "$ISOCTL" "$BUILD/isolated" "$MOD"; do
	if [ ! -e "$f" ]; then
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

# ended NAME: NAME's row is exited or failed.
ended() { "$ISOCTL" ps --all --state ended --name "$1" | grep -q " $1 "; }
# row NAME: its ps --json row.
row() { "$ISOCTL" ps --json --all --name "$1"; }

# ---- refused at once ---------------------------------------------------------

expect 2 spawn --sandbox bogus -- true
[[ $err == *'unknown "bogus"'* ]] || die "an unknown profile: '$err'"
expect 2 spawn --sandbox compute -- true
[[ $err == *"blocks the exec"* ]] || die "compute for a command: '$err'"
expect 2 spawn --sandbox nonet,noexec -- true
[[ $err == *"blocks the exec"* ]] || die "noexec for a command: '$err'"
[ -z "$("$ISOCTL" ps --all --json | grep -o '"kind":"command"')" ] ||
    die "a refused spawn left a row"
ok "spawn --sandbox: unknown profiles and exec-blocking ones refused, nothing run"

# ---- nonet --------------------------------------------------------------------

expect 0 spawn --name inet --sandbox nonet -- bash -c 'exec 3<>/dev/tcp/127.0.0.1/9'
expect 0 spawn --name plain --sandbox nonet -- sh -c 'echo unix-ok'
until_ok 10 ended inet || die "inet never ended"
until_ok 10 ended plain || die "plain never ended"
r=$(row inet)
[[ $r == *'"sandbox":"nonet"'* && $r == *'"signal":31'* ]] ||
    die "inet: not killed by SIGSYS under nonet: $r"
expect 0 ps --all --name inet
grep -qE " inet .* exited +SIGSYS " "$work/out" || die "ps: inet's SIGSYS"
r=$(row plain)
[[ $r == *'"exit_code":0'* ]] || die "plain: $r"
expect 0 logs plain
[ "$out" = unix-ok ] || die "plain's log: '$out'"
ok "spawn --sandbox nonet: an inet socket is SIGSYS, the rest runs"

# ---- readonly:PATH ---------------------------------------------------------------

x spawn --name ro-probe --sandbox readonly:/ -- true
if [ "$rc" -ne 0 ] && [[ $err == *Landlock* ]]; then
	echo "skip: readonly:PATH: this kernel has no Landlock ($err)"
else
	[ "$rc" -eq 0 ] || die "readonly:/ refused: $err"
	expect 0 spawn --name ro-write --sandbox readonly:/ -- sh -c "echo x > $work/made"
	expect 0 spawn --name ro-read --sandbox readonly:/usr -- sh -c 'cat /etc/hostname || echo cannot-read'
	until_ok 10 ended ro-write || die "ro-write never ended"
	until_ok 10 ended ro-read || die "ro-read never ended"
	[[ $(row ro-write) == *'"signal":31'* ]] || die "ro-write: $(row ro-write)"
	[ ! -e "$work/made" ] || die "readonly:/ let a file be made"
	expect 0 logs ro-read
	[[ $out == *"Permission denied"*cannot-read* ]] ||
	    die "ro-read read outside /usr: '$out'"
	ok "spawn --sandbox readonly:PATH: no write anywhere, no read outside PATH"
fi

# ---- compute --sandbox -----------------------------------------------------------

expect 1 compute --sandbox compute "$MOD:opens" '"/etc/hostname"'
[[ $err == *"blocked system call openat"* ]] || die "compute opening a file: '$err'"
expect 0 compute --sandbox compute "$MOD:square" 7
[ "$out" = 49 ] || die "sandboxed square: '$out'"
expect 0 compute "$MOD:opens" '"/etc/hostname"'
[ "$out" = 1 ] || die "unsandboxed opens: '$out'"
ok "compute --sandbox compute: open fails naming the call, results still come"

expect 1 compute --sandbox compute --warm -- cat
[[ $err == *'not with "warm"'* ]] || die "--sandbox --warm: '$err'"
expect 1 compute --sandbox compute -- cat
[[ $err == *"blocks the exec"* ]] || die "--sandbox compute -- CMD: '$err'"
expect 0 compute --sandbox nonet -- sh -c 'read x; echo "$x"'
[ "$out" = null ] || die "compute --sandbox nonet -- CMD: '$out'"
ok "compute --sandbox: not with --warm, compute not for a command, nonet is"

echo "isoctl_sandbox.sh: all passed"
