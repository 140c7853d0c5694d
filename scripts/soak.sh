#!/usr/bin/env bash
# A soak: gridcast (two instances, one process, its own Redis) under a steady load for a while,
# its RSS sampled every 30 s. Defaults: 200 clients, 850 msg/s (170k deliveries/s, half of the
# saturation point `gridcast bench --ramp` found here), 10 minutes.
# Usage: CLIENTS=200 RATE=850 DURATION=600 scripts/soak.sh   (after `cargo build --release -p gridcast-server`)
#        PEER=1 …: the same against the bare peer (two processes, RSS summed; after
#        `cargo build --release -p gridcast-server --example bare_peer`)
set -u
cd "$(dirname "$0")/.."
T="${CARGO_TARGET_DIR:-target}/release"
CLIENTS=${CLIENTS:-200}; RATE=${RATE:-850}; DURATION=${DURATION:-600}
trap 'kill $(jobs -p) 2>/dev/null' EXIT
fp() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
rss() { local t=0 p; for p in $G; do t=$((t + $(awk '/VmRSS/{print $2}' /proc/$p/status))); done; echo $t; }
r=$(fp); g1=$(fp); g2=$(fp)
redis-server --port $r --save "" --appendonly no --loglevel warning >/dev/null & R=$!
sleep 0.5
if [ -n "${PEER:-}" ]; then
    $T/examples/bare_peer $g1 redis://127.0.0.1:$r >/dev/null 2>&1 & G=$!
    $T/examples/bare_peer $g2 redis://127.0.0.1:$r >/dev/null 2>&1 & G="$G $!"
else
    RUST_LOG=warn $T/gridcast serve --ports $g1,$g2 --redis-url redis://127.0.0.1:$r --static-dir /nonexistent \
        --max-connections-per-address 0 >/dev/null 2>&1 & G=$!
fi
sleep 2
echo "before: $(rss) KB"
$T/gridcast bench --urls http://127.0.0.1:$g1,http://127.0.0.1:$g2 --clients $CLIENTS --rate $RATE \
    --duration ${DURATION}s --quiet > /tmp/soak-report.txt 2>&1 & B=$!
start=$(date +%s)
while kill -0 $B 2>/dev/null; do
    sleep 30
    kill -0 $B 2>/dev/null && echo "$(( $(date +%s) - start )) s: $(rss) KB"
done
sleep 10
echo "10 s after the load: $(rss) KB"
grep -E "delivered /|lost  |duplicates|latency p50|latency p99 " /tmp/soak-report.txt
