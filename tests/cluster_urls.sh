#!/bin/bash
# --nats with a list of servers: a node given an unreachable server
# first and the test's nats-server second joins the cluster through the
# second; a list with no server in it is refused at start, saying why.
#
# env: SRCDIR (repo root), BUILD (absolute build dir).

set -u
export LC_ALL=C

SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRCDIR/build}
ISOCTL=$BUILD/isoctl

for f in "$ISOCTL" "$BUILD/isolated"; do
	if [ ! -x "$f" ]; then
		echo "FAIL: $f is not built"
		exit 1
	fi
done

# shellcheck source=tests/supervised.bash
. "$SRCDIR/tests/supervised.bash"
# shellcheck source=tests/cluster.bash
. "$SRCDIR/tests/cluster.bash"

"$ISOCTL" daemon start >/dev/null || die "node a did not start"
# Port 1 on loopback: nothing listens there (only root could).
node_start b --nats "nats://127.0.0.1:1, $NATS_URL"
nodes_up 2
ok "a node listing a dead server first joined through the next one"

dir=$(mktemp -d) || die "mktemp"
chmod 700 "$dir"
out=$(ISO_RUNTIME_DIR=$dir "$BUILD/isolated" --foreground --nats " , " \
    --node c 2>&1)
rc=$?
rm -rf "$dir"
[ "$rc" -ne 0 ] || die "a list of no server was taken"
case $out in
*'no server in'*) ok "a list of no server is refused: ${out##*: }" ;;
*) die "a list of no server: $out" ;;
esac

echo "cluster_urls: all passed"
