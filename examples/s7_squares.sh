#!/bin/sh
# s7_squares.sh: the tutorial's two-way exchange (S7), from the shell.
#
# A worker isolate (any program: here awk, made an isolate by
# `isoctl spawn --lines`) answers each {"msg": n} with {"msg": n*n}; the
# script sends 1..5, one a period, prints "msg : N" for each answer,
# then says {"msg": "bye"} and the worker ends.
#
#   sh examples/s7_squares.sh            (PERIOD=0 for no pause)
set -eu
ISOCTL=${ISOCTL:-isoctl}
PERIOD=${PERIOD:-1}

# Each message comes as a line of JSON such as {"msg":3}; each line
# printed goes back as a message.
"$ISOCTL" spawn --name squares --lines -- awk '
	/"msg":"bye"/	{ exit }
	{ n = $0; gsub(/[^0-9-]/, "", n); printf "{\"msg\": %d}\n", n * n;
	  fflush() }' >/dev/null
trap '"$ISOCTL" kill squares >/dev/null 2>&1 || :' EXIT

for n in 1 2 3 4 5; do
	"$ISOCTL" send squares "{\"msg\": $n}"
	answer=$("$ISOCTL" recv --timeout 10 squares)	# {"msg":N}
	echo "msg : $(echo "$answer" | tr -dc '0-9-')"
	[ "$n" -lt 5 ] && sleep "$PERIOD"
done
"$ISOCTL" send squares '{"msg": "bye"}'
"$ISOCTL" wait --timeout 10 squares >/dev/null
trap - EXIT
