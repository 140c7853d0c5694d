#!/usr/bin/env bash
# Memory per connection, and what is returned after the clients leave: gridcast (two instances in
# one process) vs the bare peer (two processes), each cluster on its own Redis; N clients (default
# 2000) held by `gridcast bench` for 12 s at 10 msg/s in total.
# Usage: N=2000 scripts/memory.sh   (after `cargo build --release -p gridcast-server --example bare_peer`)
set -u
cd "$(dirname "$0")/.."
. scripts/common.sh
N=${N:-2000}
start_redis redis1; start_redis redis2
start_gridcast gridcast_urls "$redis1"; gridcast_pids=$PIDS
start_peer peer_urls "$redis2"; peer_pids=$PIDS
for label in gridcast peer; do
  if [ $label = gridcast ]; then pids=$gridcast_pids; urls=$gridcast_urls; else pids=$peer_pids; urls=$peer_urls; fi
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
