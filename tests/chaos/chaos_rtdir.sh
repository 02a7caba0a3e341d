#!/bin/bash
# chaos_rtdir: symlinks and wrong modes in the runtime directory. Each
# case plants one fault, then runs isoctl, isolated and a library program
# against it: each must exit non-zero with one line that names what is
# wrong and what to do, follow nothing and write nothing outside the
# runtime directory (a tree of sentinels, compared before and after).
#
#   chaos rtdir: cases=N runs=N refused=N unclear=0 followed=0 written_outside=0
#
# env: SRCDIR, BUILD (absolute). CHAOS_LONG=1: each case run 5 times.

set -u
SRCDIR=${SRCDIR:?}
BUILD=${BUILD:?}
ISOCTL=$BUILD/isoctl
SPAWNER=$BUILD/tests/prog/sup_spawner
# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"

rounds=1
[ "${CHAOS_LONG:-0}" = 1 ] && rounds=5

outside=$work/outside
mkdir -p "$outside/dir"
echo sentinel >"$outside/file"
echo '{"x": [1, 1, 1]}' >"$outside/names"
snapshot() {
	(cd "$outside" && find . -printf '%p %y %s %m\n' | sort &&
	    find . -type f -exec md5sum {} + | sort)
}
before=$(snapshot)

cases=0 runs=0 refused=0 unclear=0 followed=0

# try HINT CMD...: CMD must exit non-zero, its last stderr line holding
# HINT (what to do).
try() {
	local hint=$1 rc err
	shift
	runs=$((runs + 1))
	err=$("$@" 2>&1 >/dev/null </dev/null)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "accepted: $* (want a refusal)"
		followed=$((followed + 1))
		return
	fi
	refused=$((refused + 1))
	if [[ $err != *"$hint"* ]] || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ]; then
		echo "unclear: $*: '$err' (want one line with '$hint')"
		unclear=$((unclear + 1))
	fi
}

# every HINT: isoctl, isolated and a library program all refuse.
every() {
	try "$1" "$ISOCTL" ps
	try "$1" "$ISOCTL" spawn -- true
	try "$1" "$BUILD/isolated" --foreground
	try "$1" "$SPAWNER" 1 exit
}

reset() {
	export ISO_RUNTIME_DIR=$rt
	"$ISOCTL" daemon stop >/dev/null 2>&1
	rm -rf "$rt"
	mkdir -m 700 "$rt"
	export ISO_RUNTIME_DIR=$rt
}

for ((round = 0; round < rounds; round++)); do
	# The runtime directory itself: too open, a symlink, not ours.
	reset; cases=$((cases + 1))
	chmod 755 "$rt"
	every "chmod 700 $rt"
	reset; cases=$((cases + 1))
	chmod 777 "$rt"
	every "must be 0700"
	reset; cases=$((cases + 1))
	export ISO_RUNTIME_DIR=$work/link
	rm -f "$work/link"
	ln -s "$outside/dir" "$work/link"
	every "is a symlink, not a directory"
	export ISO_RUNTIME_DIR=$rt
	rm -f "$work/link"
	reset; cases=$((cases + 1))
	export ISO_RUNTIME_DIR=$outside/file
	every "not a directory"
	if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
		reset; cases=$((cases + 1))
		chown nobody "$rt"
		every "must be owned by uid 0"
	fi

	# Inside it: the supervisor's socket, lock, state directory, log.
	reset; cases=$((cases + 1))
	ln -s "$outside/file" "$rt/supervisor.sock"
	try "supervisor.sock is a symlink, not a socket: refused; remove it" \
	    "$ISOCTL" ps
	try "remove it" "$ISOCTL" spawn -- true
	reset; cases=$((cases + 1))
	echo junk >"$rt/supervisor.sock"
	try "supervisor.sock is a regular file, not a socket" "$ISOCTL" ps
	reset; cases=$((cases + 1))
	ln -s "$outside/file" "$rt/supervisor.lock"
	try "supervisor.lock is a symlink: refused; remove it" \
	    "$BUILD/isolated" --foreground
	try "supervisor.lock is a symlink" "$ISOCTL" daemon start
	reset; cases=$((cases + 1))
	ln -s "$outside/dir" "$rt/supervisor"
	try "supervisor is a symlink or not a directory: refused; remove it" \
	    "$BUILD/isolated" --foreground
	try "remove it" "$ISOCTL" daemon start
	reset; cases=$((cases + 1))
	mkdir -m 755 "$rt/supervisor"
	try "chmod 700 it" "$BUILD/isolated" --foreground
	reset; cases=$((cases + 1))
	mkdir -m 700 "$rt/supervisor"
	ln -s "$outside/file" "$rt/supervisor/isolated.log"
	try "isolated.log" "$ISOCTL" daemon start
	reset; cases=$((cases + 1))
	# A supervisor's saved names planted: not read, replaced on save.
	mkdir -m 700 "$rt/supervisor"
	ln -s "$outside/names" "$rt/supervisor/names.json"
	if "$ISOCTL" daemon start >/dev/null 2>&1 &&
	    ! "$ISOCTL" names 2>/dev/null | grep -q x; then
		refused=$((refused + 1))
	else
		echo "followed: supervisor/names.json"
		followed=$((followed + 1))
	fi
	runs=$((runs + 1))
	# Sockets of isolates planted as symlinks and files: swept around,
	# never followed; the supervisor still serves.
	ln -s "$outside/file" "$rt/00000000000000f1.sock"
	echo junk >"$rt/00000000000000f2.sock"
	if "$ISOCTL" daemon stop >/dev/null 2>&1 &&
	    "$ISOCTL" daemon start >/dev/null 2>&1 &&
	    "$ISOCTL" ps >/dev/null 2>&1 &&
	    [ -L "$rt/00000000000000f1.sock" ]; then
		refused=$((refused + 1))
	else
		echo "the supervisor did not start around planted sockets"
		followed=$((followed + 1))
	fi
	runs=$((runs + 1))
	cases=$((cases + 1))
done
reset

written=0
after=$(snapshot)
if [ "$before" != "$after" ]; then
	echo "written outside the runtime directory:"
	diff <(echo "$before") <(echo "$after")
	written=1
fi
echo "chaos rtdir: cases=$cases runs=$runs refused=$refused" \
    "unclear=$unclear followed=$followed written_outside=$written"
[ "$unclear" -eq 0 ] && [ "$followed" -eq 0 ] && [ "$written" -eq 0 ]
