#!/usr/bin/env bash
# Ghosts in presence after a connect-and-close flood (issue 20, part 5): two gridcast instances in
# separate processes on one Redis; N clients (default 20000) connect and close at once
# (interop/connect-close.mjs, half WebSocket, half long-polling, 200 at a time; MODE=official:
# socket.io-client closing in its `connect` callback, MODE=raw: hand-made clients that close as
# soon as they can; MODE=vanish: long-polling sessions that send their CONNECT and then nothing,
# closed by the server's heartbeat; FAIL_WRITES=1: Redis refuses presence writes during the flood,
# an ACL revoking HSET and HDEL, to count the warning lines) while bystanders talk through the cluster (`gridcast bench`, 20 clients, 5
# messages/s each); 5 s after the last one left, the presence hashes' sizes (HLEN) against the
# clients still connected (/health: the bystanders), and what the bystanders lost.
# Usage: N=20000 MODE=raw scripts/presence-ghosts.sh [path/to/gridcast]   (after `cargo build --release
#        -p gridcast-server` and `npm ci --prefix interop`)
set -u
cd "$(dirname "$0")/.."
. scripts/common.sh
BIN=${1:-$T/gridcast}
N=${N:-20000}
start_redis redis
rport=${redis##*:}
a=$(free_port); b=$(free_port)
for p in $a $b; do
    RUST_LOG=warn "$BIN" serve --ports "$p" --redis-url "$redis" --static-dir /nonexistent \
        --max-connections-per-address 0 2>>/tmp/presence-ghosts-$p.log >/dev/null &
done
wait_port "$a"; wait_port "$b"
urls="http://127.0.0.1:$a,http://127.0.0.1:$b"
# The bystanders talk for BENCH (default 90s): longer than the flood, which starts 3 s in.
"$BIN" bench --urls "$urls" --clients 20 --rate 100 --duration "${BENCH:-90s}" \
    > /tmp/presence-ghosts-bench.txt 2>&1 & bench=$!
sleep 3
[ "${FAIL_WRITES:-0}" = 1 ] && redis-cli -p "$rport" acl setuser default -hset -hdel >/dev/null
flood=$(node interop/connect-close.mjs "$urls" "$N" 200 "${MODE:-official}")
echo "flood: $flood"
[ "${FAIL_WRITES:-0}" = 1 ] && redis-cli -p "$rport" acl setuser default +hset +hdel >/dev/null
clients() { curl -s "http://127.0.0.1:$1/health" | python3 -c 'import json,sys;print(json.load(sys.stdin)["clients"])'; }
if [ "${MODE:-official}" = vanish ]; then # until the heartbeat closed them (at most 2 minutes)
    for _ in $(seq 240); do [ $(( $(clients $a) + $(clients $b) )) -le 20 ] && break; sleep 0.5; done
fi
sleep 5
listed=0
for key in $(redis-cli -p "$rport" --scan --pattern '*:presence:*'); do
    listed=$(( listed + $(redis-cli -p "$rport" hlen "$key") ))
done
live=$(( $(clients $a) + $(clients $b) ))
echo "5 s after the flood: presence lists $listed, $live clients connected: $(( listed - live )) ghosts"
echo "presence warning lines logged: $(cat /tmp/presence-ghosts-$a.log /tmp/presence-ghosts-$b.log | grep -c 'presence not')"
wait $bench
echo "bystanders (gridcast bench, 20 clients):"
grep -E "delivered|lost|duplicat|welcomed" /tmp/presence-ghosts-bench.txt | head -8
rm -f /tmp/presence-ghosts-$a.log /tmp/presence-ghosts-$b.log
