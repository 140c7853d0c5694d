# Shared by ./dev and the measurement scripts (sourced, after `cd` to the repository): free
# loopback ports, waiting for a port, a fresh Redis, gridcast, the bare peer and the Node.js
# reference started on them, all stopped when the sourcing script ends; RSS and CPU of processes.
# Figures measured with these scripts: docs/benchmarks.md.
T="${CARGO_TARGET_DIR:-target}/release"
# `|| true`: with no job left, `kill` fails, and under `set -e` that would become the exit status.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # until something listens on 127.0.0.1:$1 (20 s at most, then the script exits)
    for _ in $(seq 1 400); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on port $1" >&2
    exit 1
}

# start_redis VAR: a fresh Redis (no persistence) on a free port; VAR gets its URL.
start_redis() {
    local port
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning >/dev/null &
    wait_port "$port"
    printf -v "$1" 'redis://127.0.0.1:%s' "$port"
}

# start_gridcast VAR REDIS_URL [BINARY]: two instances in one process (BINARY, default
# $T/gridcast), without the per-address limits (the load comes from one address); VAR gets their
# URLs, comma-separated, PIDS the process.
start_gridcast() {
    local a b
    a=$(free_port); b=$(free_port)
    RUST_LOG=warn "${3:-$T/gridcast}" serve --ports "$a,$b" --redis-url "$2" --static-dir /nonexistent \
        --max-connections-per-address 0 --new-sessions-per-address off --address-rate-limit off \
        >/dev/null 2>&1 &
    PIDS=$!
    wait_port "$a"; wait_port "$b"
    printf -v "$1" 'http://127.0.0.1:%s,http://127.0.0.1:%s' "$a" "$b"
}

# start_pair VAR REDIS_URL COMMAND...: two processes of `COMMAND... <port> <redis url>`, each on
# a free port; VAR gets their URLs, comma-separated, PIDS the processes.
start_pair() {
    local var=$1 redis=$2 a b
    shift 2
    a=$(free_port); b=$(free_port)
    "$@" "$a" "$redis" >/dev/null 2>&1 &
    PIDS=$!
    "$@" "$b" "$redis" >/dev/null 2>&1 &
    PIDS="$PIDS $!"
    wait_port "$a"; wait_port "$b"
    printf -v "$var" 'http://127.0.0.1:%s,http://127.0.0.1:%s' "$a" "$b"
}

# start_peer VAR REDIS_URL: the bare peer (server/examples/bare_peer.rs), two processes.
start_peer() {
    start_pair "$1" "$2" "$T/examples/bare_peer"
}

# start_node_reference VAR REDIS_URL: the reference Node.js cluster (socket.io +
# @socket.io/redis-adapter, interop/reference-server.mjs), two processes.
start_node_reference() {
    start_pair "$1" "$2" node interop/reference-server.mjs
}

# rss PID...: resident memory of the processes together, in KB.
rss() {
    local total=0 pid
    for pid in "$@"; do
        total=$(( total + $(awk '/VmRSS/{print $2}' "/proc/$pid/status") ))
    done
    echo "$total"
}

# cpu_ticks PID...: clock ticks of CPU (user + system) the processes used so far together
# (`getconf CLK_TCK` per second).
cpu_ticks() {
    local total=0 pid
    for pid in "$@"; do
        total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat") ))
    done
    echo "$total"
}
