#!/usr/bin/env bash
# A soak: gridcast (two instances, one process, its own Redis) under a steady load for a while,
# its RSS sampled every 30 s. Defaults: 200 clients, 850 msg/s, 10 minutes. The generator keeps
# 16 bytes per delivery in memory for its report: a long run at a high rate needs gigabytes.
# Which RATE is half saturation on this machine, and what the soaks measured: docs/benchmarks.md#soak.
# Usage: CLIENTS=200 RATE=850 DURATION=600 scripts/soak.sh   (after `cargo build --release -p gridcast-server`)
#        PEER=1 …: the same against the bare peer (two processes, RSS summed; after
#        `cargo build --release -p gridcast-server --example bare_peer`)
set -u
cd "$(dirname "$0")/.."
. scripts/common.sh
CLIENTS=${CLIENTS:-200}; RATE=${RATE:-850}; DURATION=${DURATION:-600}
start_redis redis
if [ -n "${PEER:-}" ]; then start_peer urls "$redis"; else start_gridcast urls "$redis"; fi
echo "before: $(rss $PIDS) KB"
$T/gridcast bench --urls $urls --clients $CLIENTS --rate $RATE \
    --duration ${DURATION}s --quiet > /tmp/soak-report.txt 2>&1 & B=$!
start=$(date +%s)
while kill -0 $B 2>/dev/null; do
    sleep 30
    kill -0 $B 2>/dev/null && echo "$(( $(date +%s) - start )) s: $(rss $PIDS) KB"
done
sleep 10
echo "10 s after the load: $(rss $PIDS) KB"
grep -E "delivered /|lost  |duplicates|latency p50|latency p99 " /tmp/soak-report.txt
