#!/usr/bin/env bash
# Presence after a connect storm: N clients (default 2000) connect at once through `gridcast bench`
# to gridcast (two instances, one process, its own Redis) while the official socket.io-client
# (interop/presence-count.mjs) reads the presence list page by page until all N (and itself) are
# listed; then from the other instance, and again after the clients left.
# Usage: N=10000 scripts/presence-storm.sh   (after `cargo build --release -p gridcast-server` and
#        `npm ci` in interop/)
set -u
cd "$(dirname "$0")/.."
trap 'kill $(jobs -p) 2>/dev/null' EXIT
T="${CARGO_TARGET_DIR:-target}/release"
N=${N:-2000}
fp() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
count() { node interop/presence-count.mjs "$1"; }
members() { python3 -c 'import json,sys;print(json.load(sys.stdin)["members"])'; }
r=$(fp); g1=$(fp); g2=$(fp)
redis-server --port $r --save "" --appendonly no --loglevel warning >/dev/null &
sleep 0.5
RUST_LOG=warn $T/gridcast serve --ports $g1,$g2 --redis-url redis://127.0.0.1:$r --static-dir /nonexistent \
    --max-connections-per-address 0 >/dev/null 2>&1 &
sleep 2
$T/gridcast bench --urls http://127.0.0.1:$g1,http://127.0.0.1:$g2 --clients $N --rate 5 --duration 8s \
    --quiet > /tmp/presence-storm-bench.txt 2>&1 & B=$!
start=$(date +%s.%N)
listed=no
for _ in $(seq 100); do
    out=$(count http://127.0.0.1:$g1)
    if [ "$(echo "$out" | members)" -ge $((N + 1)) ]; then
        echo "all $N listed $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s after the storm began: $out"
        listed=yes
        break
    fi
    sleep 0.2
done
[ $listed = yes ] || echo "not all $N listed within the polling window: $out"
echo "read through the other instance: $(count http://127.0.0.1:$g2)"
wait $B
grep -E "welcomed|connected in|delivered /" /tmp/presence-storm-bench.txt
sleep 5
echo "after the clients left: $(count http://127.0.0.1:$g1)"
