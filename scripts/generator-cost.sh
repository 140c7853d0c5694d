#!/usr/bin/env bash
# What a load generator costs: `gridcast bench` against a Node.js generator on the official
# socket.io-client (interop/generator.mjs), the same load against the same gridcast cluster (two
# instances, its own Redis), CPU seconds of each generator process per delivery received.
# Usage: CLIENTS=100 RATE=400 DURATION=10 scripts/generator-cost.sh
#   (after `cargo build --release -p gridcast-server` and `npm ci` in interop/)
set -u
cd "$(dirname "$0")/.."
. scripts/common.sh
CLIENTS=${CLIENTS:-100}; RATE=${RATE:-400}; DURATION=${DURATION:-10}
start_redis redis
start_gridcast urls "$redis"
# gridcast bench: CPU of the whole process (connects and the final report included).
/usr/bin/time -f "%U %S" -o /tmp/bench-cpu.txt $T/gridcast bench --urls $urls --clients $CLIENTS \
    --rate $RATE --duration ${DURATION}s --json --quiet > /tmp/bench-gen.json
read -r user sys < /tmp/bench-cpu.txt
python3 - "$user" "$sys" <<'PY'
import json, sys
r = json.load(open("/tmp/bench-gen.json"))[0]
cpu = float(sys.argv[1]) + float(sys.argv[2])
print(f"gridcast bench: {r['received']} of {r['expected']} deliveries, {cpu:.2f} s CPU, "
      f"{cpu * 1e6 / max(r['received'], 1):.2f} us per delivery")
PY
# The Node.js generator: CPU during the send window and the 2 s after it.
node interop/generator.mjs $urls $CLIENTS $RATE $DURATION > /tmp/node-gen.json
python3 - <<'PY'
import json
r = json.loads(open("/tmp/node-gen.json").readline())
print(f"node socket.io-client generator: {r['received']} of {r['expected']} deliveries, "
      f"{r['cpu_seconds']:.2f} s CPU, {r['cpu_us_per_delivery']:.2f} us per delivery")
PY
