#!/bin/bash
# chaos_cluster_kill: messages between two nodes while their supervisors
# are killed with SIGKILL and started again. A program on node a streams
# numbered messages to an echo on node b (through a's proxy of the echo,
# NATS, b's supervisor; the echoes back through b's proxy of the
# program's port); meanwhile a's and b's supervisors are each killed
# several times, at random moments, and started again at once (within
# the time after which a node counts as lost). Every message accepted
# must come back once and in order: the proxies' sockets outlive their
# supervisor (the keeper), what they had read is in their logs, and each
# node's positions in the streams it receives are saved.
#
# First, the worst moments, each once: a's supervisor killed (by itself,
# ISO_FAULT_KILL) halfway through writing the frames of a read to its log
# (a write cut short: whole records of it stay); right after it logged
# frames it read and before it took their bytes out of the sender's
# socket; halfway through taking them (one read of two: the next
# supervisor takes the rest); right after it took them and
# before it published them; and right after it wrote echoes to the
# program and before it saved its place in their stream (the next
# supervisor delivers them again; the program's library drops them).
#
#   chaos cluster kill: messages=N kills_a=N kills_b=N lost=0 dup=0 reordered=0
#
# env: SRCDIR, BUILD (absolute). CHAOS_LONG=1: more messages, more kills.

set -u
SRCDIR=${SRCDIR:?}
BUILD=${BUILD:?}
ISOCTL=$BUILD/isoctl
P=$BUILD/tests/prog
# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"
# shellcheck source=tests/cluster.bash
. "$SRCDIR/tests/cluster.bash"

messages=1000000 kills=3
if [ "${CHAOS_LONG:-0}" = 1 ]; then
	messages=3000000 kills=15
fi

"$ISOCTL" daemon start >/dev/null || die "node a did not start"
node_start b
nodes_up 2
on b "$ISOCTL" spawn --name echo -- "$P/cl_echo" echo >/dev/null ||
    die "spawn echo"
for _ in $(seq 100); do
	on b "$ISOCTL" logs echo 2>/dev/null | grep -q registered && break
	sleep 0.05
done

# kill_node NODE: SIGKILL NODE's supervisor, wait for it to be gone, and
# start it again.
kill_node() {
	local pid
	pid=$(cat "${node_rt[$1]}/supervisor.lock")
	kill -9 "$pid"
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	if [ "$1" = a ]; then
		"$ISOCTL" daemon start >/dev/null || die "node a did not start again"
	else
		node_start b
	fi
}

# A stream of n messages while a dies at point and is started again;
# with "twice", the next supervisor dies at point too (as it takes back
# what the first left), and a third goes on.
at_point() {
	local point=$1 twice=${2:-} n=20000 pid line i
	pid=$(cat "$rt/supervisor.lock")
	"$ISOCTL" daemon stop >/dev/null 2>&1
	for i in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	ISO_FAULT_KILL=$point "$ISOCTL" daemon start >/dev/null ||
	    die "$point: node a did not start"
	nodes_up 2
	pid=$(cat "$rt/supervisor.lock")
	"$P/cl_client" b echo "$n" 100 >"$work/point" 2>"$work/point.err" &
	local cl=$!
	for i in $(seq 500); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	kill -0 "$pid" 2>/dev/null && die "$point: a never got there"
	if [ -n "$twice" ]; then
		ISO_FAULT_KILL=$point "$ISOCTL" daemon start >/dev/null 2>&1
		for i in $(seq 500); do
			pid=$(cat "$rt/supervisor.lock" 2>/dev/null)
			[ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && break
			sleep 0.01
		done
		kill -0 "$pid" 2>/dev/null && die "$point: a did not die again"
	fi
	"$ISOCTL" daemon start >/dev/null || die "$point: a did not start again"
	wait "$cl"
	line=$(cat "$work/point")
	case $line in
	*"lost=0 dup=0 reordered=0"*) ;;
	*) die "killed at $point: $line $(head -3 "$work/point.err")" ;;
	esac
	echo "ok: killed at $point${twice:+ twice}: $line"
}
at_point gateway-half-logged
at_point gateway-logged
at_point gateway-half-taken
at_point gateway-half-taken twice
at_point gateway-taken
at_point inbound-written

"$P/cl_client" b echo "$messages" 100 >"$work/client" 2>"$work/client.err" &
client=$!
started=$SECONDS
killed_a=0 killed_b=0
while kill -0 "$client" 2>/dev/null &&
    [ $((killed_a + killed_b)) -lt $((2 * kills)) ]; do
	sleep "0.$((RANDOM % 9 + 1))"
	if [ "$killed_b" -ge "$kills" ] ||
	    { [ "$killed_a" -lt "$kills" ] && [ $((RANDOM % 2)) -eq 0 ]; }; then
		kill_node a
		killed_a=$((killed_a + 1))
	else
		kill_node b
		killed_b=$((killed_b + 1))
	fi
done
stream_alive=0
kill -0 "$client" 2>/dev/null && stream_alive=1
wait "$client"
rc=$?
line=$(cat "$work/client")
stream_counts "$line"
echo "chaos cluster kill: messages=$messages kills_a=$killed_a" \
    "kills_b=$killed_b lost=${lost:-?} dup=${dup:-?}" \
    "reordered=${reordered:-?}"
if [ "$rc" -ne 0 ]; then
	# The supervisors' last words first: the reason goes last, where a
	# log cut to its tail still shows it.
	for n in a b; do
		grep -h "cluster:" "${node_rt[$n]}"/supervisor/*.log 2>/dev/null |
		    tail -8 | sed "s/^/    $n: /"
	done
	sed 's/^/    client: /' "$work/client.err" | tail -5
	echo "FAIL: after $((SECONDS - started)) s: $line"
	exit 1
fi
if [ "$stream_alive" -ne 1 ]; then
	echo "FAIL: the stream ended before its kills were done (more" \
	    "messages needed)"
	exit 1
fi

# b's supervisor killed for good, then a's: the supervisor a takes its
# proxy of the echo back, never hears of b, and tells the sender.
hold_start b echo
kill -9 "$(cat "${node_rt[b]}/supervisor.lock")"
kill_node a
wait "$holder"
rc=$?
out=$(tail -n 1 "$work/hold")
[ "$rc" -eq 0 ] || die "b gone while a was killed: $out"
case $out in *"not heard"*) ;; *) die "b gone while a was killed, no reason: $out" ;; esac
echo "ok: b gone while a was killed: $out"
exit 0
