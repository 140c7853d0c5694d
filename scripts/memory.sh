#!/usr/bin/env bash
# Memory per connection, and what is returned after the clients leave: gridcast (two instances in
# one process) vs the bare peer (two processes), each cluster on its own Redis; N clients (default
# 2000) held by `gridcast bench` for 12 s at 10 msg/s in total.
# Usage: N=2000 scripts/memory.sh   (after `cargo build --release -p gridcast-server --example bare_peer`)
set -u
cd "$(dirname "$0")/.."
T="${CARGO_TARGET_DIR:-target}/release"
N=${N:-2000}
trap 'kill $(jobs -p) 2>/dev/null' EXIT
fp() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
rss() { local t=0; for p in "$@"; do t=$((t + $(awk '/VmRSS/{print $2}' /proc/$p/status))); done; echo $t; }
r1=$(fp); r2=$(fp); g1=$(fp); g2=$(fp); p1=$(fp); p2=$(fp)
redis-server --port $r1 --save "" --appendonly no --loglevel warning >/dev/null & R1=$!
redis-server --port $r2 --save "" --appendonly no --loglevel warning >/dev/null & R2=$!
sleep 0.5
RUST_LOG=warn $T/gridcast serve --ports $g1,$g2 --redis-url redis://127.0.0.1:$r1 --static-dir /nonexistent --max-connections-per-address 0 >/dev/null 2>&1 & G=$!
$T/examples/bare_peer $p1 redis://127.0.0.1:$r2 >/dev/null 2>&1 & P1=$!
$T/examples/bare_peer $p2 redis://127.0.0.1:$r2 >/dev/null 2>&1 & P2=$!
sleep 2
for label in gridcast peer; do
  if [ $label = gridcast ]; then pids="$G"; urls=http://127.0.0.1:$g1,http://127.0.0.1:$g2; else pids="$P1 $P2"; urls=http://127.0.0.1:$p1,http://127.0.0.1:$p2; fi
  before=$(rss $pids)
  $T/gridcast bench --urls $urls --clients $N --rate 10 --duration 12s --quiet >/dev/null 2>&1 & B=$!
  sleep 9; held=$(rss $pids)
  wait $B; sleep 10; after=$(rss $pids)
  # A second storm of the same size: what stayed is reused (tables keep their capacity) if RSS
  # after it is where it was after the first; a leak would add as much again.
  $T/gridcast bench --urls $urls --clients $N --rate 10 --duration 12s --quiet >/dev/null 2>&1
  sleep 10; again=$(rss $pids)
  echo "$label: RSS before ${before} KB, with $N clients ${held} KB ($(( (held-before)*1024/N )) B per connection), 10 s after they left ${after} KB ($(( (after-before)*100/before ))% over before), after a second storm ${again} KB"
done
