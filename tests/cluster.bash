# cluster.bash: sourced, after supervised.bash, by the tests of clusters.
# Starts a nats-server of their own on a free loopback port ($NATS_URL)
# and makes this test's supervisor node "a" (its runtime directory $rt,
# started on demand with ISO_NATS_URL and ISO_NODE); node_start NAME
# starts another node's supervisor in a runtime directory of its own.
# At exit: every node's supervisor stopped, whatever carries one of
# their runtime directories killed, the nats-server ended.

if ! command -v nats-server >/dev/null 2>&1; then
	echo "FAIL: nats-server is not installed (make deps)"
	exit 1
fi

declare -A node_rt=([a]=$rt)
nats_pid=
nats_port=

# nats_start [PORT]: a nats-server on PORT (default: any free one).
nats_start() {
	local i from
	[ -f "$work/nats.log" ] || : > "$work/nats.log"
	# This server's lines only: an earlier one's said the same.
	from=$(($(wc -l <"$work/nats.log") + 1))
	# Not ours to sweep: cleanup kills what carries $rt.
	env -u ISO_RUNTIME_DIR nats-server -a 127.0.0.1 -p "${1:--1}" \
	    -l "$work/nats.log" &
	nats_pid=$!
	nats_port=
	for i in $(seq 100); do
		nats_port=$(tail -n "+$from" "$work/nats.log" | sed -n \
		    's/.*client connections on 127.0.0.1:\([0-9]*\).*/\1/p' |
		    tail -1)
		[ -n "$nats_port" ] && break
		sleep 0.05
	done
	[ -n "$nats_port" ] || die "nats-server did not start"
	NATS_URL=nats://127.0.0.1:$nats_port
}

nats_stop() {
	[ -n "$nats_pid" ] || return
	kill "$nats_pid" 2>/dev/null
	wait "$nats_pid" 2>/dev/null
	nats_pid=
}

nats_start
export ISO_NATS_URL=$NATS_URL ISO_NODE=a

# on NODE CMD...: CMD with NODE's runtime directory.
on() {
	local n=$1
	shift
	ISO_RUNTIME_DIR=${node_rt[$n]} ISO_NODE=$n "$@"
}

# node_start NAME [ARGS...]: NAME's supervisor, in a runtime directory
# of its own (a's is $rt), with isolated's options ARGS.
node_start() {
	local dir n=$1
	shift
	if [ -z "${node_rt[$n]:-}" ]; then
		dir=$(mktemp -d) || die "mktemp"
		chmod 700 "$dir"
		node_rt[$n]=$dir
	fi
	on "$n" "$BUILD/isolated" --nats "$NATS_URL" --node "$n" "$@" ||
	    die "node $n did not start"
}

# nodes_up N: wait (10 s at most) until node a sees N nodes up.
nodes_up() {
	local i
	for i in $(seq 100); do
		[ "$("$ISOCTL" nodes --json 2>/dev/null | grep -o '"state":"up"' |
		    wc -l)" -eq "$1" ] && return 0
		sleep 0.1
	done
	die "not $1 nodes up: $("$ISOCTL" nodes 2>&1)"
}

# connected NODE: wait (10 s at most) until NODE's supervisor is
# connected to NATS.
connected() {
	local i
	for i in $(seq 100); do
		on "$1" "$ISOCTL" daemon --json status 2>/dev/null |
		    grep -q '"connected":true' && return 0
		sleep 0.1
	done
	die "node $1 is not connected to NATS"
}

# stream_counts LINE: lost, dup and reordered of cl_client's LINE.
stream_counts() {
	lost=$(echo "$1" | sed -n 's/.*lost=\([0-9]*\).*/\1/p')
	dup=$(echo "$1" | sed -n 's/.*dup=\([0-9]*\).*/\1/p')
	reordered=$(echo "$1" | sed -n 's/.*reordered=\([0-9]*\).*/\1/p')
}

# hold_start NODE NAME: cl_client's "hold" form in the background
# ($holder), once its first echo came (its output in $work/hold).
hold_start() {
	"$P/cl_client" "$1" "$2" hold >"$work/hold" 2>&1 &
	holder=$!
	for _ in $(seq 100); do
		grep -q ready "$work/hold" && break
		sleep 0.1
	done
	grep -q ready "$work/hold" || die "hold: no echo: $(cat "$work/hold")"
}

# Whatever carries runtime directory $1 in its environment.
carrying() {
	local e pid
	for e in /proc/[0-9]*/environ; do
		pid=${e#/proc/}
		pid=${pid%/environ}
		[ "$pid" = $$ ] && continue
		grep -qzxF "ISO_RUNTIME_DIR=$1" "$e" 2>/dev/null && echo "$pid"
	done
}

cluster_cleanup() {
	local n left
	for n in "${!node_rt[@]}"; do
		[ "$n" = a ] && continue
		kill -CONT $(cat "${node_rt[$n]}/supervisor.lock" 2>/dev/null) \
		    2>/dev/null
		on "$n" "$ISOCTL" daemon stop >/dev/null 2>&1
		left=$(carrying "${node_rt[$n]}")
		# shellcheck disable=SC2086 # a list of pids
		[ -n "$left" ] && kill -9 $left 2>/dev/null
		rm -rf "${node_rt[$n]}"
	done
	cleanup
	nats_stop
}
trap cluster_cleanup EXIT
