#!/usr/bin/env bash
# Presence after a connect storm: N clients (default 2000) connect at once through `gridcast bench`
# to gridcast (two instances, one process, its own Redis) while the official socket.io-client
# (interop/presence-count.mjs) reads the presence list page by page until all N (and itself) are
# listed; then from the other instance, and again after the clients left.
# Usage: N=10000 scripts/presence-storm.sh   (after `cargo build --release -p gridcast-server` and
#        `npm ci` in interop/)
set -u
cd "$(dirname "$0")/.."
. scripts/common.sh
N=${N:-2000}
count() { node interop/presence-count.mjs "$1"; }
members() { python3 -c 'import json,sys;print(json.load(sys.stdin)["members"])'; }
start_redis redis
start_gridcast urls "$redis"
first=${urls%%,*}; second=${urls#*,}
$T/gridcast bench --urls $urls --clients $N --rate 5 --duration 8s \
    --quiet > /tmp/presence-storm-bench.txt 2>&1 & B=$!
start=$(date +%s.%N)
listed=no
for _ in $(seq 100); do
    out=$(count $first)
    if [ "$(echo "$out" | members)" -ge $((N + 1)) ]; then
        echo "all $N listed $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s after the storm began: $out"
        listed=yes
        break
    fi
    sleep 0.2
done
[ $listed = yes ] || echo "not all $N listed within the polling window: $out"
echo "read through the other instance: $(count $second)"
wait $B
grep -E "welcomed|connected in|delivered /" /tmp/presence-storm-bench.txt
sleep 5
echo "after the clients left: $(count $first)"
