#!/bin/bash
# isoctl across nodes: three supervisors (a, b, c), each with a runtime
# directory of its own, joined through a nats-server of the test's own on
# loopback. nodes; isoctl --node and NAME@NODE for spawn, send, recv, ps,
# kill, wait, logs and compute; ps --cluster; what cannot go to another
# node; a node paused with SIGSTOP (lost, answered, not hung) and
# resumed; a node killed with SIGKILL while a wait on it is pending; the
# nats-server stopped and started again (the nodes reconnect).
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u
export LC_ALL=C

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl

for f in "$ISOCTL" "$BUILD/isolated" "$BUILD/tests/prog/mod_compute"; do
	if [ ! -x "$f" ] && [ ! -f "$f" ]; then
		echo "FAIL: $f is not built"
		exit 1
	fi
done

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"
# shellcheck source=tests/cluster.bash
. "$SRCDIR/tests/cluster.bash"

"$ISOCTL" daemon start >/dev/null || die "node a did not start"
node_start b
node_start c
nodes_up 3
ok "three nodes up"

expect 0 nodes --json
case $out in
*'"node":"a","self":true'*) ;;
*) die "nodes --json: node a is not marked self" ;;
esac
expect 0 nodes
[ "$(echo "$out" | grep -c ' up ')" -eq 3 ] || die "nodes: not 3 rows up"
ok "nodes lists them, this one marked"

# A command on b, reached from a by --node and by NAME@NODE.
expect 0 --node b spawn --name sq --lines -- awk '{print $1*$1; fflush()}'
sqid=$out
expect 0 send sq@b 7
expect 0 recv --timeout 5 sq@b
[ "$out" = 49 ] || die "recv sq@b: '$out', want 49"
expect 0 --node b send sq 8
expect 0 --node b recv --timeout 5 sq
[ "$out" = 64 ] || die "recv --node b sq: '$out', want 64"
# ... and from c, through c's supervisor.
on c "$ISOCTL" send sq@b 9 >"$work/out" 2>"$work/err" || die "send from c"
got=$(on c "$ISOCTL" recv --timeout 5 sq@b 2>"$work/err")
[ "$got" = 81 ] || die "recv from c: '$got', want 81"
# Not on a: a has no sq.
expect 1 send sq 1
ok "spawn, send and recv on another node by --node and NAME@NODE"

expect 0 --node b ps
case $out in *"$sqid"*sq*running*) ;; *) die "ps on b: no sq" ;; esac
expect 0 spawn --name here sleep 60
expect 0 ps --cluster
case $out in *here@a*) ;; *) die "ps --cluster: no here@a" ;; esac
case $out in *sq@b*) ;; *) die "ps --cluster: no sq@b" ;; esac
expect 0 ps --cluster --json
case $out in *'"node":"b"'*) ;; *) die "ps --cluster --json: no node" ;; esac
ok "ps --node b, ps --cluster"

expect 0 --node b logs sq
x --node b compute "$BUILD/tests/prog/mod_compute:square" 12
[ "$rc" -eq 0 ] && [ "$out" = 144 ] ||
    die "compute on b: rc $rc, '$out', want 144"
ok "logs and compute on b"

expect 0 kill sq@b
x --node b wait --timeout 5 sq
[ "$rc" -ne 124 ] || die "wait sq on b: still running after kill"
ok "kill and wait on b"

# What cannot go elsewhere, and names that are not nodes.
expect 1 --node zz ps
case $err in *'no node "zz" in the cluster'*) ;; *) die "--node zz" ;; esac
expect 1 kill here@zz
expect 2 --node 'b.c' ps
expect 1 --node b events --count 1
case $err in *'cannot go to another node'*) ;; *) die "events --node" ;; esac
ok "unknown nodes, bad names and streams refused in one line"

# A paused node is lost within seconds: the request is answered.
bpid=$(cat "${node_rt[b]}/supervisor.lock")
kill -STOP "$bpid"
start=$(date +%s)
expect 1 --node b ps
case $err in *'lost'*|*'no node'*) ;; *) die "ps on a paused node" ;; esac
[ $(($(date +%s) - start)) -le 8 ] || die "ps on a paused node took too long"
kill -CONT "$bpid"
nodes_up 3
expect 0 --node b ps
# Its own pause is not the others' silence: b lost nobody.
if grep 'cluster: node [ac] lost' "${node_rt[b]}/supervisor/isolated.log"
then
	die "the paused node took its own pause for the others' silence"
fi
ok "a node paused: lost and told in seconds; resumed: up again, and it" \
    "lost nobody"

# A node killed while a wait on it is pending: the wait is answered.
expect 0 --node c spawn --name long sleep 60
"$ISOCTL" --node c wait long >"$work/wout" 2>"$work/werr" &
waiter=$!
sleep 0.5
kill -9 "$(cat "${node_rt[c]}/supervisor.lock")"
for _ in $(seq 100); do
	kill -0 "$waiter" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$waiter" 2>/dev/null; then
	kill "$waiter"
	die "wait on a killed node did not end"
fi
wait "$waiter"
wrc=$?
[ "$wrc" -eq 1 ] || die "wait on a killed node: exit $wrc"
grep -q 'lost' "$work/werr" || die "wait on a killed node: $(cat "$work/werr")"
ok "a node killed: a pending wait there fails with the reason"

# The nats-server stopped and started again on its port: they reconnect.
port=$nats_port
nats_stop
sleep 1
nats_start "$port"
connected a
connected b
nodes_up 2
expect 0 --node b ps
ok "NATS restarted: the nodes found each other again"

# Bad options: a clear line and a non-zero exit, before anything runs.
bad=$(mktemp -d)
chmod 700 "$bad"
out=$(ISO_RUNTIME_DIR=$bad timeout 10 "$BUILD/isolated" --foreground \
    --nats "$NATS_URL" --node 'a.b' 2>&1)
rc=$?
[ "$rc" -eq 2 ] || die "--node a.b: exit $rc"
case $out in *"--node: want 1 to 64 letters"*) ;; *) die "--node a.b: $out" ;; esac
out=$(ISO_RUNTIME_DIR=$bad timeout 10 "$BUILD/isolated" --foreground \
    --nats "$NATS_URL" --node z --nats-creds "$bad/none.creds" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || die "--nats-creds missing: exit $rc"
case $out in *"--nats-creds $bad/none.creds: No such file"*) ;;
*) die "--nats-creds missing: $out" ;; esac
rm -rf "$bad"
ok "bad cluster options refused with the reason"

echo "isoctl_cluster: all passed"
