# Shared by the measurement scripts (sourced, after `cd` to the repository): free loopback ports,
# a fresh Redis, gridcast and the bare peer started on them, all stopped when the script ends.
T="${CARGO_TARGET_DIR:-target}/release"
trap 'kill $(jobs -p) 2>/dev/null' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # until something listens on 127.0.0.1:$1
    for _ in $(seq 1 200); do
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

# start_gridcast VAR REDIS_URL: two instances in one process, without the per-address limits
# (the load comes from one address); VAR gets their URLs, comma-separated, PIDS the process.
start_gridcast() {
    local a b
    a=$(free_port); b=$(free_port)
    RUST_LOG=warn "$T/gridcast" serve --ports "$a,$b" --redis-url "$2" --static-dir /nonexistent \
        --max-connections-per-address 0 --new-sessions-per-address off --address-rate-limit off \
        >/dev/null 2>&1 &
    PIDS=$!
    wait_port "$a"; wait_port "$b"
    printf -v "$1" 'http://127.0.0.1:%s,http://127.0.0.1:%s' "$a" "$b"
}

# start_peer VAR REDIS_URL: the bare peer (server/examples/bare_peer.rs), two processes; VAR gets
# their URLs, comma-separated, PIDS the processes.
start_peer() {
    local a b
    a=$(free_port); b=$(free_port)
    "$T/examples/bare_peer" "$a" "$2" >/dev/null 2>&1 &
    PIDS=$!
    "$T/examples/bare_peer" "$b" "$2" >/dev/null 2>&1 &
    PIDS="$PIDS $!"
    wait_port "$a"; wait_port "$b"
    printf -v "$1" 'http://127.0.0.1:%s,http://127.0.0.1:%s' "$a" "$b"
}

# rss PID...: resident memory of the processes together, in KB.
rss() {
    local total=0 pid
    for pid in "$@"; do
        total=$(( total + $(awk '/VmRSS/{print $2}' "/proc/$pid/status") ))
    done
    echo "$total"
}
