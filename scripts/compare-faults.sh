#!/usr/bin/env bash
# Fault results of two gridcast builds: three instances (each its own process) on one Redis, AFTER's
# `gridcast bench` with the same faults against each (a 30 s Redis outage; an instance SIGKILL).
# Usage: AFTER=path/to/gridcast BEFORE=path/to/old/gridcast scripts/compare-faults.sh
set -uo pipefail
# free_port, wait_port; the instances are stopped on exit.
. "$(dirname "$0")/common.sh"
AFTER=${AFTER:-$T/gridcast}
BEFORE=${BEFORE:?set BEFORE to the gridcast binary to compare with}
summary() { python3 - "$1" <<'PY'
import json,sys
for path in sys.argv[1:]:
    r=json.load(open(path))[0]
    moves=[c["moved_after_ms"] for c in r["connections_lost"] if c["moved_after_ms"] is not None]
    print(path)
    print("  sent %d reached %d expected %d live %d recovered %d lost %d dup %d conn_lost %d moved_after_ms max %s longest_gap_ms %.0f p50 %.2f p99 %.2f" % (
        r["sent"], r["reached"], r["expected"], r["live"], r["recovered"], r["lost"], r["duplicates"],
        len(r["connections_lost"]), ("%.0f" % max(moves)) if moves else None, max(r["longest_gap_ms"]), r["latency_ms"][0], r["latency_ms"][2]))
    for f in r["faults"]:
        print("  fault at %.0f ms %r: every client receiving again %s ms; everything sent before it everywhere %s ms" % (
            f["at_ms"], f["command"][:30], f["all_delivering_after_ms"], f["backlog_delivered_after_ms"]))
PY
}
for name in after before; do
  BIN=$AFTER; [ $name = before ] && BIN=$BEFORE
  for scenario in outage30 kill; do
    r=$(free_port); redis-server --port $r --save '' --appendonly no --loglevel warning --daemonize yes >/dev/null; wait_port $r
    p1=$(free_port); p2=$(free_port); p3=$(free_port); pids=()
    for p in $p1 $p2 $p3; do RUST_LOG=warn $BIN serve --ports $p --redis-url redis://127.0.0.1:$r --static-dir /x >/dev/null 2>&1 & pids+=($!); done
    for p in $p1 $p2 $p3; do wait_port $p; done; sleep 1
    U="http://127.0.0.1:$p1,http://127.0.0.1:$p2,http://127.0.0.1:$p3"
    if [ $scenario = outage30 ]; then
      $AFTER bench --quiet --json --urls $U --clients 30 --rate 100 --duration 40s \
        --fault "5s=redis-cli -p $r shutdown nosave" \
        --fault "35s=redis-server --port $r --save '' --appendonly no --loglevel warning --daemonize yes" > /tmp/f-$name-$scenario.json
    else
      $AFTER bench --quiet --json --urls $U --clients 30 --rate 100 --duration 10s --fault "5s=kill -9 ${pids[1]}" > /tmp/f-$name-$scenario.json
    fi
    echo "$name $scenario (exit $?):"; summary /tmp/f-$name-$scenario.json
    kill ${pids[@]} 2>/dev/null; redis-cli -p $r shutdown nosave >/dev/null 2>&1; sleep 0.5
  done
done
