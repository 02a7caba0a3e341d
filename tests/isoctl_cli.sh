#!/bin/bash
# isoctl's command line as its table declares it: --help of every
# command, options before and after the operands, "--", unknown options,
# missing arguments, bad typed values, aliases, the man page's SYNOPSIS
# against the table, and bash and zsh completion (commands, options,
# their values, targets; never starting a supervisor). Against a
# supervisor of its own in a temporary runtime directory.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u
export LC_ALL=C

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl
BASHCOMP=$BUILD/completion/isoctl.bash
ZSHCOMP=$BUILD/completion/_isoctl

for f in "$ISOCTL" "$BUILD/isolated" "$BASHCOMP" "$ZSHCOMP"; do
	if [ ! -e "$f" ]; then
		echo "FAIL: $f is not built"
		exit 1
	fi
done

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"



# usage_error TEXT ARGS...: isoctl ARGS exits 2 with exactly the one
# line TEXT on stderr.
usage_error() {
	local want=$1
	shift
	x "$@"
	[ "$rc" -eq 2 ] || die "isoctl $*: exit $rc, want 2"
	[ "$err" = "$want" ] || die "isoctl $*: stderr '$err', want '$want'"
	ok "isoctl $* -> 2: $want"
}


no_supervisor() { [ ! -S "$rt/supervisor.sock" ] && ! "$ISOCTL" daemon status >/dev/null 2>&1; }

# ---- --help of every command in the table -----------------------------------

cmds=$("$ISOCTL" --help | sed -n 's/^  \([a-z]*\) .*/\1/p' | sort -u)
[ "$(echo "$cmds" | wc -w)" -ge 12 ] || die "isoctl --help lists: $cmds"
for c in $cmds; do
	expect 0 "$c" --help
	head -n 1 "$work/out" | grep -q "^usage: isoctl $c" ||
	    die "$c --help: no usage line"
	grep -q -- '-h, --help' "$work/out" || die "$c --help: no --help line"
	# Each option the help lists completes, and each that completes is
	# listed.
	help_opts=$(grep -oE '^ +(-[a-zA-Z], )?--[a-z-]+' "$work/out" |
	    sed 's/.*--/--/' | sort)
	comp_opts=$("$ISOCTL" __complete -- "$c" -- | sed -n 's/^\(--[a-z][a-z-]*\)\t.*/\1/p' | sort)
	[ "$help_opts" = "$comp_opts" ] ||
	    die "$c: --help lists '$help_opts', completion '$comp_opts'"
	x help "$c"
	head -n 1 "$work/out" | grep -q "^usage: isoctl $c" ||
	    die "help $c: no usage line"
done
ok "--help of every command: usage, options, the same options as completion"
expect 0 -h
grep -q "^aliases: .*ls (ps)" "$work/out" || die "isoctl -h: no aliases line"
# Hidden commands are not listed.
if "$ISOCTL" --help | grep -q __; then die "isoctl --help lists a hidden command"; fi

# ---- the man page's SYNOPSIS is the table's ----------------------------------

sh "$SRCDIR/scripts/man-synopsis.sh" "$ISOCTL" "$SRCDIR/docs/isoctl.1" --check ||
    die "docs/isoctl.1's SYNOPSIS differs from the command table (make man)"
cp "$SRCDIR/docs/isoctl.1" "$work/isoctl.1"
sed -i 's/^\.B isoctl kill$/.B isoctl kil/' "$work/isoctl.1"
if sh "$SRCDIR/scripts/man-synopsis.sh" "$ISOCTL" "$work/isoctl.1" --check 2>/dev/null; then
	die "man-synopsis.sh --check passes a page that differs"
fi
sh "$SRCDIR/scripts/man-synopsis.sh" "$ISOCTL" "$work/isoctl.1" &&
    cmp -s "$work/isoctl.1" "$SRCDIR/docs/isoctl.1" ||
    die "man-synopsis.sh did not rewrite the SYNOPSIS"
ok "docs/isoctl.1: SYNOPSIS generated from the table, drift detected"

# ---- usage errors: one line, the command, the option, exit 2 ----------------

usage_error "isoctl: kill: unknown option --foo (see isoctl kill --help)" kill --foo
usage_error "isoctl: kill: unknown option --foo (see isoctl kill --help)" kill w1 --foo
usage_error "isoctl: kill: unknown option -x (see isoctl kill --help)" kill -x w1
usage_error "isoctl: unknown option --foo (see isoctl --help)" --foo ps
usage_error "isoctl: kill: missing TARGET (see isoctl kill --help)" kill
usage_error "isoctl: kill: missing TARGET (see isoctl kill --help)" kill --graceful
usage_error "isoctl: kill: unexpected argument b (see isoctl kill --help)" kill a b
usage_error "isoctl: send: missing JSON (or - for standard input) (see isoctl send --help)" send t
usage_error "isoctl: compute: missing CMD after -- (see isoctl compute --help)" compute --
usage_error "isoctl: wait: --timeout 'soon' is not a number of seconds (a decimal >= 0, such as 1.5) (see isoctl wait --help)" wait --timeout soon t
usage_error "isoctl: wait: --timeout '-1' is not a number of seconds (a decimal >= 0, such as 1.5) (see isoctl wait --help)" wait t --timeout=-1
usage_error "isoctl: wait: option --timeout needs a value (SEC) (see isoctl wait --help)" wait t --timeout
usage_error "isoctl: wait: option -t needs a value (SEC) (see isoctl wait --help)" wait t -t
usage_error "isoctl: recv: --count 'x' is not an integer from 0 to 2147483647 (see isoctl recv --help)" recv --count x t
usage_error "isoctl: spawn: --mailbox '0' is not an integer from 1 to 2147483647 (see isoctl spawn --help)" spawn -m0 true
usage_error "isoctl: spawn: --restart 'sometimes' is not one of never, on-failure, always (see isoctl spawn --help)" spawn --restart sometimes true
usage_error "isoctl: spawn: --name is empty: give a value (see isoctl spawn --help)" spawn --name= true
usage_error "isoctl: ps: option --json takes no value (see isoctl ps --help)" ps --json=yes
usage_error "isoctl: daemon: ACTION 'restart' is not one of start, stop, status (see isoctl daemon --help)" daemon restart
usage_error "isoctl: completion: SHELL 'fish' is not one of bash, zsh (see isoctl completion --help)" completion fish
usage_error "isoctl: compute: --arg is for the form with -- (isoctl compute [--arg JSON] -- ...) (see isoctl compute --help)" compute --arg 1 m.so:f 1
usage_error "isoctl: compute: f is not MODULE.so:FUNCTION (see isoctl compute --help)" compute f 1
# Nothing above needed a supervisor, and none was started.
no_supervisor || die "a usage error started a supervisor"
ok "usage errors start no supervisor"

# ---- options before and after the operands, "--", aliases ---------------------

expect 0 run --name w1 -- sleep 60
w1=$out
expect 124 wait w1 --timeout 0.1
expect 124 wait w1 -t0.1
expect 124 wait --time=0.1 -- w1
expect 0 kill w1 --graceful
expect 143 wait w1
[ "$out" = "killed by SIGTERM" ] || die "kill w1 --graceful: wait says '$out'"
ok "kill TARGET --graceful is kill --graceful TARGET"
# "--" ends the options: a target named like one is a target.
expect 1 kill -- --graceful
[[ $err == "isoctl: kill: --graceful: "* ]] || die "kill -- --graceful: '$err'"
# spawn's options stop at the command: what follows is its own.
expect 0 spawn --name own sh -c 'echo "$*"' sh --name other -x
expect 0 wait own
expect 0 logs own
[ "$out" = "--name other -x" ] || die "spawn: the command's options: '$out'"
expect 1 wait other
ok "spawn: options stop at the command"
# compute: "--" selects the command form; its options after it are the
# command's.
expect 0 compute --timeout 5 -- echo --timeout
[ "$out" = '"--timeout"' ] || die "compute -- echo --timeout: '$out'"
# A negative number is an operand, not an option.
expect 0 spawn --name box -- sleep 60
expect 0 send box -5
expect 0 send box -1.5 
expect 0 ls
grep -qE "^$w1 +w1 " "$work/out" || die "ls: no row for w1"
ok "ls is ps"

# ---- bash completion -------------------------------------------------------------

# comp WORD...: complete the last WORD of "isoctl WORD..." as bash would,
# in a non-interactive bash with the built script; the candidates, one a
# line, in $work/comp.
comp() {
	bash --norc --noprofile -c '
		. "$1"; shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_isoctl
		printf "%s\n" "${COMPREPLY[@]}"
	' bash "$BASHCOMP" "$ISOCTL" "$@" >"$work/comp" 2>"$work/err" ||
	    die "completing '$*' failed: $(cat "$work/err")"
	[ -s "$work/err" ] && die "completing '$*' wrote on stderr: $(cat "$work/err")"
	return 0
}
# comp_is WANT WORD...: the candidates, sorted, are WANT.
comp_is() {
	local want=$1
	shift
	comp "$@"
	[ "$(sort "$work/comp" | paste -sd ' ')" = "$want" ] ||
	    die "completing '$*': '$(paste -sd ' ' "$work/comp")', want '$want'"
	ok "complete '$*' -> $want"
}
# comp_has WORD... :: CANDIDATE...: each CANDIDATE is offered.
comp_has() {
	local args=() w
	while [ "$1" != :: ]; do args+=("$1"); shift; done
	shift
	comp "${args[@]}"
	for w in "$@"; do
		grep -qxF -- "$w" "$work/comp" ||
		    die "completing '${args[*]}': no '$w' in '$(paste -sd ' ' "$work/comp")'"
	done
	ok "complete '${args[*]}' offers $*"
}

out=$(bash --norc -c ". '$BASHCOMP'; complete -p isoctl")
[ "$out" = "complete -F _isoctl isoctl" ] || die "complete -p isoctl: '$out'"
ok "complete -p isoctl: $out"
comp_is "kill" k
comp_is "completion compute" co
comp_has "" :: spawn ps kill wait logs send recv names compute daemon completion help
comp_is "--restart" spawn --re
comp_is "--graceful --help" kill --
comp_is "--graceful" kill w1 --g
comp_is "always never on-failure" spawn --restart ""
# bash splits --restart=o into three words; the script joins them.
comp_is "on-failure" spawn --restart = o
comp_is "=always =never =on-failure" spawn --restart =
comp_is "start status stop" daemon st
comp_is "bash zsh" completion ""
comp_is "pause ping ps" help p
comp_has spawn --name x sle :: sleep
comp_has compute -- ech :: echo
# After the command: its own arguments (files, without bash-completion).
mkdir "$work/files" && touch "$work/files/alpha.txt"
(cd "$work/files" && comp spawn sleep al) || exit 1
grep -qx alpha.txt "$work/comp" || die "spawn sleep al: '$(cat "$work/comp")'"
ok "complete 'spawn sleep al' -> a file"
comp compute "$work/files/al"
grep -qx "$work/files/alpha.txt" "$work/comp" || die "compute MODULE: no file"
ok "complete 'compute MODULE' -> a file"
# Targets: the running supervisor's ids and names.
comp_has kill "" :: w1 "$w1" box own
comp_is "w1" wait w
comp_has send "" :: box w1
comp_is "" kill w1 ""
# With no supervisor running, nothing, and none is started.
expect 0 daemon stop
until_gone() { local i; for i in $(seq 50); do no_supervisor && return 0; sleep 0.1; done; return 1; }
until_gone || die "the supervisor did not stop"
comp_is "" kill ""
comp_is "" send w
no_supervisor || die "completing a target started a supervisor"
ok "completing targets starts no supervisor"

# ---- zsh completion ----------------------------------------------------------------

if ! command -v zsh >/dev/null 2>&1; then
	echo "skip: zsh completion (zsh is not installed; make deps installs it)"
else
	zsh -n "$ZSHCOMP" || die "zsh -n $ZSHCOMP: syntax"
	# compinit finds it by its #compdef line.
	mkdir "$work/fpath" && cp "$ZSHCOMP" "$work/fpath/"
	out=$(zsh -f -c 'fpath=("$1" $fpath); autoload -Uz compinit;
	    compinit -u -d "$2/zcompdump"; print -r -- $_comps[isoctl]' \
	    zsh "$work/fpath" "$work")
	[ "$out" = _isoctl ] || die "zsh compinit: _comps[isoctl] is '$out'"
	ok "zsh: compinit binds isoctl to _isoctl"
	# zcomp WORD...: the script's answer for "isoctl WORD...", with the
	# completion system's functions standing in as printers.
	zcomp() {
		zsh -f -c '
			_describe() { local a=$4; print -rl -- "${(@P)a}"; }
			_command_names() { print commands; }
			_files() { print files; }
			_normal() { print "normal $words[1] $CURRENT"; }
			words=("$@"); CURRENT=$#
			. "$ZSHCOMP"
		' zsh "$ISOCTL" "$@" >"$work/comp" 2>"$work/err" ||
		    die "zsh: completing '$*' failed: $(cat "$work/err")"
	}
	export ZSHCOMP
	zcomp kill --g
	grep -qx -- '--graceful:SIGTERM first, SIGKILL 5 s later' "$work/comp" ||
	    die "zsh: kill --g: '$(cat "$work/comp")'"
	zcomp spawn --restart ""
	[ "$(sort "$work/comp" | paste -sd ' ')" = "always: never: on-failure:" ] ||
	    die "zsh: spawn --restart: '$(cat "$work/comp")'"
	zcomp spawn sl
	[ "$(cat "$work/comp")" = commands ] || die "zsh: spawn sl: '$(cat "$work/comp")'"
	zcomp spawn --name x sleep ""
	[ "$(cat "$work/comp")" = "normal sleep 2" ] ||
	    die "zsh: spawn --name x sleep: '$(cat "$work/comp")'"
	zcomp compute ""
	[ "$(cat "$work/comp")" = files ] || die "zsh: compute: '$(cat "$work/comp")'"
	ok "zsh: options, values, a command and its arguments, a module"
	no_supervisor || die "zsh completion started a supervisor"
fi

echo "isoctl_cli.sh: all passed"
