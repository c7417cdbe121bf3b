#!/usr/bin/env bash
# EVALSHA against Basalt and redis-server in one run: a short script (GET + INCR + EXPIRE of a
# random key) and a lock acquire (SET NX PX), plus INCR for reference; prints requests per second
# and the Basalt/Redis ratios.
#
# Usage: tools/bench-scripting.sh [requests]   (default 200000; 50 clients, 100000 random keys)
# Needs redis-server and redis-benchmark; builds Basalt in release mode into $CARGO_TARGET_DIR
# (default ~/.cache/basalt-target).
set -euo pipefail
N=${1:-200000}
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}
cargo build --release --quiet --bin basalt
work=$(mktemp -d /tmp/basalt-bench-scripting.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bport=$(free_port); rport=$(free_port)
"$CARGO_TARGET_DIR/release/basalt" --port "$bport" --dir "$work/basalt" > "$work/basalt.log" 2>&1 &
bpid=$!
redis-server --port "$rport" --save '' --appendonly no --dir "$work" > "$work/redis.log" 2>&1 &
rpid=$!
trap 'kill $bpid $rpid 2>/dev/null; wait $bpid $rpid 2>/dev/null; rm -rf "$work"' EXIT
for p in $bport $rport; do
  for _ in $(seq 100); do redis-cli -p "$p" ping > /dev/null 2>&1 && break; sleep 0.1; done
done
short="local v = redis.call('GET', KEYS[1]) redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], 60) return v"
lock="if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end return 0"
sha_short=$(redis-cli -p "$bport" script load "$short"); redis-cli -p "$rport" script load "$short" > /dev/null
sha_lock=$(redis-cli -p "$bport" script load "$lock"); redis-cli -p "$rport" script load "$lock" > /dev/null
rps() {
  redis-benchmark -p "$1" -n "$N" -c 50 -r 100000 -q "${@:2}" 2>/dev/null | tr '\r' '\n' |
    grep 'requests per second' | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second.*/\1/'
}
printf '| test | Basalt req/s | Redis req/s | ratio |\n|---|---:|---:|---:|\n'
while IFS='|' read -r name args; do
  # shellcheck disable=SC2086
  b=$(rps "$bport" $args); r=$(rps "$rport" $args)
  printf '| %s | %.0f | %.0f | %.2f |\n' "$name" "$b" "$r" "$(python3 -c "print($b/$r)")"
done <<LIST
INCR (reference)|INCR k:__rand_int__
EVALSHA GET+INCR+EXPIRE|EVALSHA $sha_short 1 k:__rand_int__
EVALSHA lock acquire (SET NX PX)|EVALSHA $sha_lock 1 lock:__rand_int__ token 10000
LIST
