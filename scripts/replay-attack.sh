#!/usr/bin/env bash
# Replays under attack (issue: zero loss that holds), against one build: two gridcast instances,
# each its own process, on one fresh Redis, without rate limits (the attacker needs none).
#   1. gaps of 3,000 and 20,000 messages, each replayed to a client that comes back;
#   2. a full history (--history-length, default 10,000, of 4 KB messages of control
#      characters), then a bystander load (`gridcast bench`, 20 clients, 100 msg/s) alone, then
#      the same load while 12 clients replay the whole history every 1.5 s for 25 s, then while
#      40 clients replay it and stop reading: per phase, the bystander's loss and p99, the peak
#      RSS of the instances, the Redis connections opened again and the "link lost" log lines.
# Usage: scripts/replay-attack.sh [gridcast binary]   (default: $CARGO_TARGET_DIR/release/gridcast)
set -u
cd "$(dirname "$0")/.."
. scripts/common.sh
BIN=${1:-$T/gridcast}
LENGTH=${LENGTH:-10000}
LOG=$(mktemp)
start_redis redis
port=${redis##*:}
a=$(free_port); b=$(free_port)
for p in $a $b; do
    RUST_LOG=warn "$BIN" serve --ports "$p" --redis-url "$redis" --static-dir /nonexistent \
        --max-connections-per-address 0 --new-sessions-per-address off --rate-limit off \
        --address-rate-limit off --history-length "$LENGTH" 2>>"$LOG" &
done
wait_port "$a"; wait_port "$b"
A=http://127.0.0.1:$a; B=http://127.0.0.1:$b
PIDS=$(pgrep -f -- "--redis-url $redis" | tr '\n' ' ')
attack=scripts/replay-attack.mjs

for gap in 3000 20000; do
    echo "gap $gap: $(node $attack gap "$A" $gap)"
done

node $attack fill "$B" "$LENGTH" 4000
echo "history: $(redis-cli -p "$port" xlen gridcast:history) entries, $(redis-cli -p "$port" memory usage gridcast:history samples 0) bytes in Redis"

# phase NAME COMMAND...: the bystander load while COMMAND runs (nothing: alone).
phase() {
    local name=$1; shift
    local conns peak=0 r lost0 report
    conns=$(redis-cli -p "$port" info stats | awk -F: '/total_connections_received/{print $2+0}')
    lost0=$(grep -c "link lost" "$LOG")
    "$BIN" bench --urls "$A,$B" --clients 20 --rate 100 --duration 30s --json --quiet > /tmp/bystander.json 2>/dev/null &
    local bench=$!
    [ $# -gt 0 ] && "$@" &
    local attacker=$!
    while kill -0 $bench 2>/dev/null; do
        r=$(rss $PIDS); [ "$r" -gt "$peak" ] && peak=$r
        sleep 0.2
    done
    kill $attacker 2>/dev/null; wait $attacker 2>/dev/null
    report=$(python3 -c 'import json; r=json.load(open("/tmp/bystander.json"))[0]; print("bystander lost %d of %d expected, duplicates %d, p50 %.2f ms, p99 %.2f ms" % (r["lost"], r["expected"], r["duplicates"], r["latency_ms"][0], r["latency_ms"][2]))' 2>/dev/null || echo "bystander report unreadable")
    echo "$name: $report; peak RSS $((peak/1024)) MB; Redis connections opened again $(( $(redis-cli -p "$port" info stats | awk -F: '/total_connections_received/{print $2+0}') - conns - 1 )); link-lost lines $(( $(grep -c "link lost" "$LOG") - lost0 ))"
}

storm() { # 12 clients replaying everything every 1.5 s, for 25 s
    for _ in $(seq 1 17); do
        node $attack replay0 "$A" 12 read 1 >> /tmp/storm.jsonl &
        sleep 1.5
    done
    wait
}

phase "alone"
: > /tmp/storm.jsonl
phase "12 full replays every 1.5 s" storm
echo "  the storm's replays: $(python3 -c 'import json; rows=[json.loads(l) for l in open("/tmp/storm.jsonl")]; print(sum(r["welcomed"] for r in rows), "welcomed of", sum(r["clients"] for r in rows), "outcomes", [r["outcomes"] for r in rows][:3], "...")')"
phase "40 full replays that stop reading" node $attack replay0 "$A" 40 stall 28
echo "after: RSS $(( $(rss $PIDS) / 1024 )) MB"
rm -f "$LOG"
