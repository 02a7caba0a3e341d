#!/bin/bash
# Names and compute across nodes: three supervisors (a, b, c) joined
# through a nats-server of the test's own. names lists NAME@NODE; a
# lookup finds a name on another node (and NAME@NODE), a node silent in
# time is skipped and logged; register of a name another node holds is
# refused naming it; a name registered on both sides while NATS is down
# is held by the older registration once it is back, the same on every
# node, and the loser's "unname" is in its events. compute --cluster and
# map --cluster run on the nodes serving the module (--serve-module),
# "no node serves" is ENOENT, a node paused or killed mid-request is
# EHOSTUNREACH, and a paused node's names are gone until it is back.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u
export LC_ALL=C

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl
HOLDER=$BUILD/tests/prog/sup_holder
LOOKUP=$BUILD/tests/prog/sup_lookup
MOD=$BUILD/tests/prog/mod_compute

for f in "$ISOCTL" "$BUILD/isolated" "$MOD" "$HOLDER" "$LOOKUP"; do
	if [ ! -x "$f" ] && [ ! -f "$f" ]; then
		echo "FAIL: $f is not built"
		exit 1
	fi
done

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"
# shellcheck source=tests/cluster.bash
. "$SRCDIR/tests/cluster.bash"

# until_true N CMD...: CMD succeeds within N tenths of a second.
until_true() {
	local n=$1 i
	shift
	for i in $(seq "$n"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# A module only b serves: the same code at a path of its own.
cp "$MOD" "$work/only_b.so" || die "cp"

node_start a
node_start b --serve-module "$MOD" --serve-module "$work/only_b.so"
node_start c --serve-module "$MOD"
nodes_up 3
ok "three nodes up, b and c serving $MOD"

expect 2 compute --cluster --fresh "$MOD:square" 3
expect 2 compute --cluster -- true
expect 2 map --cluster -- cat
on a "$BUILD/isolated" --nats "$NATS_URL" --serve-module /no/such.so \
    >"$work/out" 2>"$work/err" && die "--serve-module /no/such.so started"
grep -q 'serve-module /no/such.so' "$work/err" ||
    die "--serve-module /no/such.so: $(cat "$work/err")"
ok "--cluster with --fresh or a command, a module not there: refused"

# ---- names -----------------------------------------------------------------

# holder NODE NAME: sup_holder NAME on NODE, registered.
holder() {
	on "$1" "$ISOCTL" spawn --name "h-$2-$1" -- "$HOLDER" "$2" \
	    >/dev/null || die "spawn holder $2 on $1"
	until_true 100 sh -c "ISO_RUNTIME_DIR=${node_rt[$1]} '$ISOCTL' logs \
	    h-$2-$1 2>/dev/null | grep -q '^registered $2\$'" ||
	    die "holder $2 on $1 did not register: $(on "$1" "$ISOCTL" \
	    logs "h-$2-$1" 2>&1)"
}

# sees NODE KEY: NODE's names --json has KEY.
sees() { on "$1" "$ISOCTL" names --json 2>/dev/null | grep -q "\"$2\""; }

holder b hb
holder a ha
until_true 50 sees a hb@b || die "a does not list hb@b"
until_true 50 sees b ha@a || die "b does not list ha@a"
expect 0 names
grep -q '^hb@b {"\$port":"[0-9a-f]*:[0-9]*:[0-9]*"}$' "$work/out" ||
    die "names: no hb@b line"
grep -q '^ha@a {"\$port":' "$work/out" || die "names: no ha@a line"
bport=$(on b "$ISOCTL" names --json | sed 's/.*"hb@b":\({[^}]*}\).*/\1/')
ok "names lists name@node for every node"

got=$("$LOOKUP" hb) || die "lookup hb on a: $got"
[ "$got" = "$bport" ] || die "lookup hb on a: $got, want $bport"
got=$("$LOOKUP" hb@b) || die "lookup hb@b on a: $got"
[ "$got" = "$bport" ] || die "lookup hb@b on a: $got, want $bport"
got=$(on c "$LOOKUP" hb) || die "lookup hb on c: $got"
[ "$got" = "$bport" ] || die "lookup hb on c: $got"
got=$("$LOOKUP" ha) || die "lookup ha on a: $got"
case $got in '{"$port":'*) ;; *) die "lookup ha: $got" ;; esac
got=$("$LOOKUP" nosuch) && die "lookup nosuch found $got"
case $got in ENOENT:*'no name "nosuch"'*) ;; *) die "lookup nosuch: $got" ;; esac
got=$("$LOOKUP" ha@c) && die "lookup ha@c found $got"
case $got in ENOENT:*) ;; *) die "lookup ha@c: $got" ;; esac
got=$("$LOOKUP" hb@zz) && die "lookup hb@zz found $got"
case $got in ENOENT:*'no node "zz"'*) ;; *) die "lookup hb@zz: $got" ;; esac
ok "lookup: here first, then the node holding it; NAME@NODE; ENOENT"

# register of a name b holds, on a: refused, naming b.
on a "$ISOCTL" spawn --name dupe -- "$HOLDER" hb >/dev/null ||
    die "spawn dupe"
x wait --timeout 10 dupe
[ "$rc" -eq 1 ] || die "holder of hb on a: exit $rc, want 1"
expect 0 logs dupe
case $out in *'register: name "hb" is taken on node b'*) ;;
*) die "register hb on a: $out" ;; esac
ok "register of a name b holds is refused with EEXIST naming b"

# The same name on both sides while NATS is down: the older wins.
"$ISOCTL" events >"$work/ev_a" 2>&1 &
ev_a=$!
on b "$ISOCTL" events >"$work/ev_b" 2>&1 &
ev_b=$!
port=$nats_port
nats_stop
holder a twice
holder b twice
nats_start "$port"
nodes_up 3
settled() {
	local n
	for n in a b c; do
		sees "$n" twice@a && ! sees "$n" twice@b || return 1
	done
}
until_true 100 settled || die "twice: not settled on twice@a: a: $(on a \
    "$ISOCTL" names 2>&1) b: $(on b "$ISOCTL" names 2>&1)"
until_true 50 grep -Eq 'unname +twice' "$work/ev_b" ||
    die "no unname event on b: $(cat "$work/ev_b")"
grep -Eq 'unname +twice' "$work/ev_a" && die "a dropped twice"
kill "$ev_a" "$ev_b"
wait "$ev_a" "$ev_b" 2>/dev/null
grep -q 'name "twice" dropped: node a registered it first' \
    "${node_rt[b]}/supervisor/isolated.log" || die "b did not log the drop"
[ "$(grep -c 'name "twice" dropped' "${node_rt[b]}/supervisor/isolated.log")" \
    -eq 1 ] || die "b logged the drop more than once"
got=$(on c "$LOOKUP" twice@a) || die "lookup twice@a on c: $got"
ok "a name on both sides of a partition: the older holds it, everywhere"

# ---- compute -----------------------------------------------------------------

x compute --cluster "$MOD:square" 12
[ "$rc" -eq 0 ] && [ "$out" = 144 ] || die "compute --cluster: rc $rc '$out'"
expect 0 compute -c "$MOD:node" null
case $out in '"b"'|'"c"') ;; *) die "compute --cluster node: $out" ;; esac
expect 0 compute --cluster "$work/only_b.so:node" null
[ "$out" = '"b"' ] || die "only_b.so ran on $out"
expect 1 compute --cluster "$BUILD/tests/prog/mod_compute2:which" null
case $err in *'no node serves'*mod_compute2*) ;;
*) die "compute mod_compute2: $err" ;; esac
expect 1 compute --cluster "$MOD:crash" null
case $err in *SIGSEGV*) ;; *) die "compute crash: $err" ;; esac
expect 1 compute --cluster "$MOD:no_such_fn" null
case $err in *'no function no_such_fn'*) ;; *) die "no_such_fn: $err" ;; esac
ok "compute --cluster: on a node serving it; ENOENT when none does"

seq 1 200 | "$ISOCTL" map --cluster "$MOD:square" >"$work/out" 2>"$work/err" ||
    die "map --cluster square: $(cat "$work/err")"
seq 1 200 | awk '{print $1*$1}' >"$work/want"
cmp -s "$work/out" "$work/want" || die "map --cluster: not the squares in order"
seq 1 60 | sed 's/.*/null/' | "$ISOCTL" map --cluster -u -j 8 "$MOD:node" \
    >"$work/out" 2>"$work/err" || die "map --cluster node: $(cat "$work/err")"
[ "$(wc -l <"$work/out")" -eq 60 ] || die "map --cluster -u: not 60 lines"
grep -qx '"b"' "$work/out" && grep -qx '"c"' "$work/out" ||
    die "map --cluster: not spread over b and c: $(sort "$work/out" | uniq -c)"
printf '2\nnot json\n-1\n4\n' |
    "$ISOCTL" map --cluster "$MOD:square_or_die" >"$work/out" 2>"$work/err"
[ $? -eq 1 ] || die "map --cluster with failures: exit 0"
[ "$(cat "$work/out")" = "4
null
null
16" ] || die "map --cluster with failures: $(cat "$work/out")"
grep -q '^isoctl: line 2: bad JSON' "$work/err" &&
    grep -q '^isoctl: line 3: crashed: SIGSEGV' "$work/err" ||
    die "map --cluster failures: $(cat "$work/err")"
echo 1 | "$ISOCTL" map --cluster "$BUILD/tests/prog/mod_compute2:which" \
    >"$work/out" 2>"$work/err"
[ $? -eq 1 ] && grep -q 'line 1: .*no node serves' "$work/err" ||
    die "map --cluster, none serving: $(cat "$work/err")"
ok "map --cluster: in order, spread over b and c, failures told"

# ---- b paused: a lookup skips it, its names go, a request on it fails -------

"$ISOCTL" compute --cluster "$work/only_b.so:nap" 20000 \
    >"$work/cout" 2>"$work/cerr" &
cpid=$!
bpid=$(cat "${node_rt[b]}/supervisor.lock")
sleep 0.3
kill -STOP "$bpid"
got=$("$LOOKUP" nobody) && die "lookup nobody found $got"
grep -q 'lookup of "nobody": node b .*; skipped' \
    "$rt/supervisor/isolated.log" || die "a did not log b's silence"
until_true 100 sh -c "! kill -0 $cpid 2>/dev/null" ||
    { kill "$cpid"; die "compute on a paused node: no answer"; }
wait "$cpid"
[ $? -eq 1 ] && grep -q 'node "b" was lost before it answered' "$work/cerr" ||
    die "compute on a paused node: $(cat "$work/cerr")"
sees a hb@b && die "a still lists hb@b of a lost node"
got=$("$LOOKUP" hb) && die "lookup hb with b lost: $got"
x compute --cluster "$work/only_b.so:node" null
[ "$rc" -eq 1 ] && case $err in *'no node serves'*) true ;; *) false ;; esac ||
    die "only_b.so with b lost: rc $rc $err"
kill -CONT "$bpid"
nodes_up 3
until_true 50 sees a hb@b || die "hb@b not back"
got=$("$LOOKUP" hb) || die "lookup hb with b back: $got"
ok "b paused: skipped by lookups, its names gone, its request EHOSTUNREACH; back"

# ---- b killed mid-request ----------------------------------------------------

"$ISOCTL" compute --cluster "$work/only_b.so:nap" 20000 \
    >"$work/cout" 2>"$work/cerr" &
cpid=$!
sleep 0.3
kill -9 "$bpid"
until_true 100 sh -c "! kill -0 $cpid 2>/dev/null" ||
    { kill "$cpid"; die "compute on a killed node: no answer"; }
wait "$cpid"
[ $? -eq 1 ] && grep -q 'node "b" was lost' "$work/cerr" ||
    die "compute on a killed node: $(cat "$work/cerr")"
ok "b killed mid-request: EHOSTUNREACH"

echo "isoctl_cnames: all passed"
