#!/bin/bash
# worker_pool.sh INPUT [WORKERS]: square every number in INPUT (one a line)
# with a pool of supervised workers, and print "NUMBER SQUARE" for each
# line, in the input's order, each exactly once.
#
# The workers are plain awk programs made isolates by `isoctl spawn
# --lines`, restarted by the supervisor when they fail (--restart
# on-failure). To show it, one worker is killed (SIGKILL, behind the
# supervisor's back) halfway through. Whatever that worker had taken but
# not answered is lost with it; the pool notices the missing answers and
# sends those lines again, and keeps the first answer for each line, so
# every line comes out once.
set -u
ISOCTL=${ISOCTL:-isoctl}
input=${1:?usage: worker_pool.sh INPUT [WORKERS]}
workers=${2:-3}
pool=pool$$

mapfile -t lines <"$input" || exit 1
total=${#lines[@]}

cleanup() {
	for ((w = 0; w < workers; w++)); do
		"$ISOCTL" kill "$pool-$w" >/dev/null 2>&1
	done
}
trap cleanup EXIT

# A worker: {"i":I,"x":X} in, {"i":I,"y":X*X} out.
for ((w = 0; w < workers; w++)); do
	"$ISOCTL" spawn --name "$pool-$w" --restart on-failure --lines -- \
	    awk '{
		i = $0; sub(/.*"i":/, "", i); sub(/[,}].*/, "", i)
		x = $0; sub(/.*"x":/, "", x); sub(/[,}].*/, "", x)
		printf "{\"i\": %d, \"y\": %d}\n", i, x * x; fflush()
	    }' >/dev/null || exit 1
done

send() {	# send LINE-INDEX WORKER
	"$ISOCTL" send "$pool-$2" "{\"i\": $1, \"x\": ${lines[$1]}}"
}

# The pid of a worker, from `isoctl ps --json`.
pid_of() {
	"$ISOCTL" ps --json | grep -oE "\"name\":\"$1\",\"pid\":[0-9]+" |
	    grep -oE '[0-9]+$'
}

declare -A result
for ((i = 0; i < total; i++)); do
	send "$i" $((i % workers)) || exit 1
	if [ "$i" -eq $((total / 2)) ]; then
		pid=$(pid_of "$pool-1") && kill -9 "$pid"
	fi
done

# Collect; lines still unanswered after a quiet second go out again.
collect() {
	local w line i y
	for ((w = 0; w < workers; w++)); do
		while read -r line; do
			i=${line#*\"i\":}; i=${i%%,*}
			y=${line#*\"y\":}; y=${y%%\}*}
			[ -n "${result[$i]+x}" ] || result[$i]=$y
		done < <("$ISOCTL" recv --count 100000 --timeout 1 "$pool-$w" \
		    2>/dev/null)
	done
}
for round in 1 2 3 4 5 6 7 8 9 10; do
	collect
	[ "${#result[@]}" -eq "$total" ] && break
	for ((i = 0; i < total; i++)); do
		[ -n "${result[$i]+x}" ] || send "$i" $((round % workers))
	done
done

for ((i = 0; i < total; i++)); do
	[ -n "${result[$i]+x}" ] || { echo "worker_pool: no result for line" \
	    "$((i + 1))" >&2; exit 1; }
	echo "${lines[$i]} ${result[$i]}"
done
