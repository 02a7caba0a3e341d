#!/bin/bash
# SendPorts across nodes: a C program on node a looks up a port another
# node's isolate registered (an echo, tests/prog/cl_echo) and sends it
# messages carrying a SendPort of its own, which the echo sends back
# through: every message once, in order, both ways; a slow reader there
# (the senders wait, nothing lost); the nats-server stopped and started
# again mid-stream (what was accepted still arrives, once, in order); a
# forged key refused (EACCES) by the node it was sent to, also right
# after a frame with the true key on the same stream; a SendPort made up
# on the sending node (the sender told EACCES); a message carrying a
# descriptor (EXDEV); large bytes values (plain bytes over NATS, though
# they leave the sender as a memfd); a message over NATS's
# max_payload (EMSGSIZE); the isolate ending (the sender told
# ECONNREFUSED); its node killed (the same).
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u
export LC_ALL=C

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl
P=$BUILD/tests/prog

for f in "$ISOCTL" "$BUILD/isolated" "$P/cl_echo" "$P/cl_client" \
    "$P/cl_forge"; do
	if [ ! -x "$f" ]; then
		echo "FAIL: $f is not built"
		exit 1
	fi
done

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"
# shellcheck source=tests/cluster.bash
. "$SRCDIR/tests/cluster.bash"

# An idle proxy asks whether its isolate is still there after 0.5 s
# here (30 s by default).
export ISO_CLUSTER_PROBE_MS=500
"$ISOCTL" daemon start >/dev/null || die "node a did not start"
node_start b
nodes_up 2

# echo_on NODE NAME [DELAY_US]: an echo registered as NAME on NODE.
echo_on() {
	local i
	on "$1" "$ISOCTL" spawn --name "$2" -- "$P/cl_echo" "$2" ${3:+"$3"} \
	    >/dev/null || die "spawn $2 on $1"
	for i in $(seq 100); do
		on "$1" "$ISOCTL" logs "$2" 2>/dev/null | grep -q registered &&
		    return 0
		sleep 0.05
	done
	die "$2 on $1 did not register"
}

# client ARGS...: cl_client on node a; out is its line.
client() {
	out=$(timeout 120 "$P/cl_client" "$@" 2>"$work/err")
	rc=$?
}

echo_on b echo
client b echo 2000 100
[ "$rc" -eq 0 ] || die "2000 echoes: $out"
ok "2000 messages to b and back: $out"

# A reader slower than the sender: the window fills, the senders wait.
echo_on b slow 2000
client b slow 300 20000
[ "$rc" -eq 0 ] || die "a slow reader: $out"
ok "a slow reader on b: $out"

# NATS stopped and started again while messages are on their way.
"$P/cl_client" b echo 300000 100 >"$work/stream" 2>"$work/err" &
streamer=$!
sleep 0.3
kill -0 "$streamer" 2>/dev/null ||
    die "the stream ended before NATS was stopped (make it longer): \
$(cat "$work/stream")"
port=$nats_port
nats_stop
sleep 1
nats_start "$port"
wait "$streamer"
rc=$?
out=$(cat "$work/stream")
[ "$rc" -eq 0 ] || die "through a NATS restart: $out"
ok "through a NATS restart: $out"

# A made-up key is refused by the node, not delivered.
connected b
id=$(on b "$ISOCTL" names --json | sed -n 's/.*"echo@b":{"\$port":"\([0-9a-f]*\):.*/\1/p')
[ -n "$id" ] || die "no id for echo"
out=$(timeout 20 "$P/cl_forge" "$NATS_URL" b "$id")
rc=$?
[ "$rc" -eq 0 ] || die "a forged key: $out"
ok "a forged key is refused: $out"

# The true key (made from b's key file) is taken; a made-up one sent next
# on the same stream is still refused: a key found good once does not
# open the port to the next.
out=$(timeout 20 "$P/cl_forge" "$NATS_URL" b "$id" \
    "${node_rt[b]}/supervisor/cluster.key")
rc=$?
[ "$rc" -eq 0 ] || die "a forged key after a true one: $out"
ok "a forged key after a true one is refused: $(echo "$out" | tr '\n' ' ')"

# A SendPort made up here (a port of the echo whose key never came to
# this node): the sender is told, not silently dropped.
client b echo madeup
if [ "$rc" -ne 0 ]; then
	tail -20 "${node_rt[a]}/supervisor/isolated.log" 2>/dev/null |
	    sed 's/^/    a: /'
	die "a made-up SendPort: $out"
fi
ok "a made-up SendPort: $out"

# Large bytes (a memfd between isolates of one node) go as plain bytes.
client b echo shared
[ "$rc" -eq 0 ] || die "large bytes to another node: $out"
ok "large bytes to another node and back: $out"

# A message carrying a descriptor: it cannot go to another machine.
client b echo fd
[ "$rc" -eq 0 ] || die "a descriptor to another node: $out"
ok "a descriptor to another node: $out"

# A message NATS cannot carry (over max_payload): refused, told.
client b echo big
[ "$rc" -eq 0 ] || die "a message over max_payload: $out"
ok "a message over max_payload: $out"

# The isolate ends: the next sends are refused, with the reason.
echo_on b brief
client b brief gone
[ "$rc" -eq 0 ] || die "an isolate gone: $out"
ok "an isolate gone: $out"

# The clients above have ended, most while nothing was sent to them:
# b's proxies of them end too (an idle proxy asks a whether its isolate
# is still there), and a's proxy of the echo, which lives, stays.
b_proxies() { find "${node_rt[b]}/supervisor/proxies" -type f ! -name taking; }
for _ in $(seq 100); do
	[ -z "$(b_proxies)" ] && break
	sleep 0.1
done
[ -z "$(b_proxies)" ] || die "proxies of ended isolates stay: $(b_proxies)"
client b echo 100
[ "$rc" -eq 0 ] || die "the echo after the probes: $out"
on b "$ISOCTL" logs echo 2>&1 | grep -i "dropped" &&
    die "the echo complained of a probe"
ok "proxies of ended isolates end; the echo's stays: $out"

# Its node is killed: the same, once the node is lost.
echo_on b lasting
hold_start b lasting
kill -9 "$(cat "${node_rt[b]}/supervisor.lock")"
wait "$holder"
rc=$?
out=$(tail -n 1 "$work/hold")
[ "$rc" -eq 0 ] || die "a killed node: $out"
case $out in *lost*) ;; *) die "a killed node, no reason: $out" ;; esac
ok "a killed node: $out"

echo "cluster_ports: all passed"
