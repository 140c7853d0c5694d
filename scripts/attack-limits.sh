#!/usr/bin/env bash
# The per-address limits under attack (issue 20, parts 3 and 4), measured as the issue did: two
# gridcast processes on one Redis, hostile clients from 127.0.0.2 / 127.0.0.3
# (server/examples/flood.rs), and a bystander `gridcast bench` (20 clients, 100 msg/s, 20 s, from
# 127.0.0.1) without an attack and during each:
#   1. the polling flood: handshakes + `40` POSTs over 50 keep-alive connections for 25 s (the
#      issue's 100,000 attempts took about 12 s);
#   2. reconnect after every burst: 8 clients sending 50 messages, reconnecting as new ones, 25 s.
# Prints one JSON line per phase. The servers run with their defaults (whatever build is given).
#
# Usage: scripts/attack-limits.sh [gridcast binary to attack]   (default: this build's)
#        SERVE_FLAGS="--address-rate-limit 50,500" scripts/attack-limits.sh   (other limits)
# Needs: cargo build --release -p gridcast-server --bin gridcast --example flood
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
SERVER=${1:-$T/gridcast}
BENCH=${BENCH:-$T/gridcast}
FLOOD=${FLOOD:-$T/examples/flood}
OUT=$(mktemp -d)

start_servers() { # fresh processes (and Redis) for each phase: one attack's aftermath stays out of the next
    [ -n "${p1:-}" ] && { kill "$p1" "$p2" "$pr" 2>/dev/null || true; wait "$p1" "$p2" 2>/dev/null || true; }
    local r g1 g2
    r=$(free_port); g1=$(free_port); g2=$(free_port)
    redis-server --port "$r" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >/dev/null &
    pr=$!
    wait_port "$r"
    : >"$OUT/g1.log"; : >"$OUT/g2.log"
    # shellcheck disable=SC2086 # the flags are words
    RUST_LOG=warn "$SERVER" serve --ports "$g1" --redis-url "redis://127.0.0.1:$r" \
        --static-dir /nonexistent ${SERVE_FLAGS:-} 2>"$OUT/g1.log" &
    p1=$!
    # shellcheck disable=SC2086
    RUST_LOG=warn "$SERVER" serve --ports "$g2" --redis-url "redis://127.0.0.1:$r" \
        --static-dir /nonexistent ${SERVE_FLAGS:-} 2>"$OUT/g2.log" &
    p2=$!
    wait_port "$g1"; wait_port "$g2"
    URLS="http://127.0.0.1:$g1,http://127.0.0.1:$g2"
}

bench() { # the bystander: 20 s of load, one JSON report (bench exits 1 when it lost something)
    "$BENCH" bench --urls "$URLS" --clients 20 --rate 100 --duration 20s --json --quiet \
        >"$OUT/bench.json" 2>"$OUT/bench.err" || true
    python3 <"$OUT/bench.json" -c '
import json, sys
r = json.load(sys.stdin)[0]
print(json.dumps({"p50_ms": r["latency_ms"][0], "p99_ms": r["latency_ms"][2], "lost": r["lost"],
                  "refused": r["refused"], "duplicates": r["duplicates"], "welcomed": r["welcomed"],
                  "connect_failed": r["connect_failed"], "expected": r["expected"]}))' \
        || echo "{\"error\": \"no bench report: $(head -c 300 "$OUT/bench.err" | tr -d '"\\\n')\"}"
}

cpu_ticks() { # CPU time (user + system) both server processes have used so far, in clock ticks
    echo $(( $(awk '{print $14+$15}' "/proc/$p1/stat") + $(awk '{print $14+$15}' "/proc/$p2/stat") ))
}
seconds() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'; }

peak_rss() { # until $OUT/stop exists: the highest RSS of both processes together, in MB
    local peak=0 now
    while [ ! -e "$OUT/stop" ]; do
        now=$(rss "$p1" "$p2"); [ "$now" -gt "$peak" ] && peak=$now
        sleep 0.5
    done
    echo $(( peak / 1024 ))
}

log_lines() { cat "$OUT"/g*.log | wc -l; }
link_lost() { cat "$OUT"/g*.log | grep -c "redis link lost" || true; }

phase() { # NAME FLOOD-ARGS...: the bystander bench while the attack runs, on fresh servers
    local name=$1; shift
    start_servers
    rm -f "$OUT/stop"
    local cpu0
    cpu0=$(cpu_ticks)
    peak_rss >"$OUT/rss" &
    local sampler=$!
    # The attacker would run on its own machine: niced here, so that on a small box its own CPU
    # does not compete with the servers' and the bystander's (what it sends is in its report).
    nice -n 19 "$FLOOD" "$@" ${URLS//,/ } >"$OUT/attack.json" 2>"$OUT/attack.err" &
    local attack=$!
    local bystander
    bystander=$(bench)
    wait "$attack" || echo '{"error": "the attack failed"}' >"$OUT/attack.json"
    touch "$OUT/stop"; wait "$sampler"
    echo "{\"phase\": \"$name\", \"bystander\": $bystander, \"attack\": $(cat "$OUT/attack.json"), \
\"peak_rss_mb\": $(cat "$OUT/rss"), \"server_cpu_s\": $(seconds $(( $(cpu_ticks) - cpu0 ))), \"log_lines\": $(log_lines), \
\"redis_link_lost\": $(link_lost)}"
}

start_servers
cpu0=$(cpu_ticks)
bystander=$(bench)
echo "{\"phase\": \"no attack\", \"bystander\": $bystander, \"rss_mb\": $(( $(rss "$p1" "$p2") / 1024 )), \
\"server_cpu_s\": $(seconds $(( $(cpu_ticks) - cpu0 )))}"
phase "polling flood" polling 127.0.0.2 25 50
phase "reconnect after every burst" reconnect 127.0.0.3 25 8
echo "{\"logs\": \"$OUT\"}"
