#!/usr/bin/env bash
# The ceiling of one history stream: how fast Redis takes appends while K instances (separate
# processes, default 0 2 4 8) each read every entry, and what reading costs an instance when no
# local client wants the entry. redis-benchmark appends M (default 200,000) room messages, each
# to a random room of two billion (no member anywhere) with a random message id of two billion (so
# each is read as new, not skipped as a repeat), with CONNS connections (default 8), as fast as
# Redis takes them (entries copied from a real `gridcast publish --to room:…`); then the script
# waits until the instances stop using CPU (they have read everything). Per K: appends/s, Redis
# CPU per append, instances' CPU per entry read, how long the readers took after the last append,
# and how many entries the instances skipped as repeats (from /health; should be 0). Figures
# measured with it: docs/benchmarks.md.
# Usage: scripts/stream-ceiling.sh [K...]   (after `cargo build --release -p gridcast-server`)
set -u
cd "$(dirname "$0")/.."
. scripts/common.sh
M=${M:-200000}
CONNS=${CONNS:-8}
TCK=$(getconf CLK_TCK)

for k in ${*:-0 2 4 8}; do
    start_redis redis; redis_pid=$!
    port=${redis##*:}
    pids=""; ports=""
    for _ in $(seq 1 "$k"); do
        p=$(free_port)
        RUST_LOG=warn "$T/gridcast" serve --ports "$p" --redis-url "$redis" --static-dir /nonexistent \
            >/dev/null 2>&1 &
        pids="$pids $!"; ports="$ports $p"
        wait_port "$p"
    done
    sleep 1
    cpu0=$( [ -n "$pids" ] && cpu_ticks $pids || echo 0 ); redis0=$(cpu_ticks "$redis_pid")
    start=$(date +%s.%N)
    # A room message as gridcast writes it (fields e, t, p, o, m, x), from an instance that is
    # not one of these: each reader decodes it, checks it against its recent ids and its rooms,
    # and finds no local member.
    # redis-benchmark draws each __rand_int__ in [0, -r) anew (-r is a C int: at most 2^31 - 1).
    rps=$(redis-benchmark -p "$port" -n "$M" -c "$CONNS" -r 2000000000 -q \
        XADD gridcast:history MAXLEN '~' 10000 '*' e room_message t 'r:room-__rand_int__' \
        p '{"room":"room-1","from_name":"backend","text":"","meta":{"id":"x","origin":"elsewhere","origin_url":"http://localhost:1","sender":"api","received_at":1796646966850}}' \
        o elsewhere m 'm-__rand_int__' x 'hello room' 2>/dev/null \
        | tr '\r' '\n' | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
    appended=$(date +%s.%N)
    redis_cpu=$(( $(cpu_ticks "$redis_pid") - redis0 ))
    caught_up=0
    if [ -n "$pids" ]; then
        # Until the instances' CPU stands still for half a second: they read everything.
        last=$(cpu_ticks $pids)
        while sleep 0.5; do now=$(cpu_ticks $pids); [ $(( now - last )) -le 1 ] && break; last=$now; done
        caught_up=$(python3 -c "print(f'{max($(date +%s.%N) - 0.5 - $appended, 0):.1f}')")
    fi
    cpu=$(( $( [ -n "$pids" ] && cpu_ticks $pids || echo 0 ) - cpu0 ))
    repeats=0
    for p in $ports; do
        r=$(curl -s "http://127.0.0.1:$p/health" | python3 -c 'import json, sys; print(json.load(sys.stdin)["history"]["duplicates_skipped"])')
        repeats=$(( repeats + r ))
    done
    # Every append that succeeded made an entry: the stream's last id counts them (trimming aside).
    len=$(redis-cli -p "$port" XINFO STREAM gridcast:history | awk 'p {print; exit} /^entries-added$/ {p=1}')
    python3 - "$k" "$M" "$len" "$rps" "$redis_cpu" "$cpu" "$caught_up" "$TCK" "$start" "$appended" "$repeats" <<'EOF'
import sys
k, m, length, rps, redis_cpu, cpu, caught_up, tck, start, appended, repeats = sys.argv[1:]
k, m, tck = int(k), int(m), int(tck)
per_read = (int(cpu) / tck) / (m * k) * 1e6 if k else 0
print(f"{k} instances: {int(length)} entries appended at {float(rps):,.0f}/s "
      f"({float(appended) - float(start):.1f} s); Redis CPU {int(redis_cpu) / tck:.1f} s "
      f"({int(redis_cpu) / tck / m * 1e6:.1f} us per append, readers included); instances' CPU "
      f"{int(cpu) / tck:.1f} s ({per_read:.1f} us per entry per instance, nobody wanting it); "
      f"readers done {caught_up} s after the last append; skipped as repeats {repeats}")
EOF
    kill $pids "$redis_pid" 2>/dev/null; wait $pids "$redis_pid" 2>/dev/null
done
