#!/bin/bash
# chaos_cluster: messages between two nodes while the cluster is hurt.
# A program on node a streams numbered messages to an echo on node b,
# through a's and b's supervisors and a nats-server of the test's own,
# and counts the echoes; meanwhile the nats-server is stopped and
# started again several times, and b's supervisor is paused with SIGSTOP
# for less than the lost-node timeout. Every message accepted must come
# back once and in order.
#
#   chaos cluster: messages=N nats_restarts=N pauses=N lost=0 dup=0 reordered=0
#
# env: SRCDIR, BUILD (absolute). CHAOS_LONG=1: more messages, more faults.

set -u
SRCDIR=${SRCDIR:?}
BUILD=${BUILD:?}
ISOCTL=$BUILD/isoctl
P=$BUILD/tests/prog
# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"
# shellcheck source=tests/cluster.bash
. "$SRCDIR/tests/cluster.bash"

messages=600000 restarts=3 pauses=1
if [ "${CHAOS_LONG:-0}" = 1 ]; then
	messages=4000000 restarts=15 pauses=5
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

"$P/cl_client" b echo "$messages" 100 >"$work/client" 2>"$work/client.err" &
client=$!
done_restarts=0 done_pauses=0
port=$nats_port
while kill -0 "$client" 2>/dev/null &&
    [ $((done_restarts + done_pauses)) -lt $((restarts + pauses)) ]; do
	sleep "0.$((RANDOM % 9 + 1))"
	if [ "$done_pauses" -lt "$pauses" ] && [ $((RANDOM % 3)) -eq 0 ]; then
		bpid=$(cat "${node_rt[b]}/supervisor.lock")
		kill -STOP "$bpid"
		sleep 1
		kill -CONT "$bpid"
		done_pauses=$((done_pauses + 1))
	elif [ "$done_restarts" -lt "$restarts" ]; then
		nats_stop
		sleep "0.$((RANDOM % 9 + 1))"
		nats_start "$port"
		done_restarts=$((done_restarts + 1))
	else
		# Pauses left to do: do one.
		bpid=$(cat "${node_rt[b]}/supervisor.lock")
		kill -STOP "$bpid"
		sleep 1
		kill -CONT "$bpid"
		done_pauses=$((done_pauses + 1))
	fi
done
wait "$client"
rc=$?
line=$(cat "$work/client")
stream_counts "$line"
echo "chaos cluster: messages=$messages nats_restarts=$done_restarts" \
    "pauses=$done_pauses lost=${lost:-?} dup=${dup:-?}" \
    "reordered=${reordered:-?}"
if [ "$rc" -ne 0 ]; then
	echo "FAIL: $line"
	sed 's/^/    client: /' "$work/client.err" | head -5
	exit 1
fi
if [ "$done_restarts" -lt "$restarts" ] || [ "$done_pauses" -lt "$pauses" ]
then
	echo "FAIL: the stream ended before its faults were done (more" \
	    "messages needed)"
	exit 1
fi
exit 0
