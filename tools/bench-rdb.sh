#!/usr/bin/env bash
# RDB import/export throughput of basalt-rdb next to the time redis-server takes to load the
# same file.
#
# Generates an RDB file of BENCH_RDB_KEYS mixed keys (examples/gen_rdb.rs: 60% strings, 10% each
# of small hashes, lists, sets and sorted sets, a TTL on one key in ten), then:
#   1. redis-server loads it at startup: the load time from its log ("DB loaded from disk") and
#      its RSS once loaded;
#   2. basalt-rdb import into an empty data directory: wall time, keys/s, MB/s, peak RSS;
#   3. basalt-rdb export of that directory back to an RDB file: the same figures.
# Prints a markdown table on standard output; ratios are keys/s against Redis's load.
#
# Environment: BENCH_RDB_KEYS (default 1000000), CARGO_TARGET_DIR (default ~/.cache/basalt-target).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}"
KEYS="${BENCH_RDB_KEYS:-1000000}"
case "$KEYS" in '' | *[!0-9]*) echo "bench-rdb: BENCH_RDB_KEYS must be a number" >&2; exit 1 ;; esac
for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "bench-rdb: $tool not found; run tools/setup.sh" >&2; exit 1; }
done
log() { echo "bench-rdb: $*" >&2; }

log "building (release)"
cargo build --release --offline --bin basalt-rdb --example gen_rdb >&2
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/basalt-bench-rdb.XXXXXX")"
REDIS_PID=""
cleanup() {
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "generating $KEYS keys"
"$BIN/examples/gen_rdb" "$WORK/in.rdb" "$KEYS"
BYTES=$(stat -c %s "$WORK/in.rdb")

log "redis-server loading the file"
mkdir "$WORK/redis"
cp "$WORK/in.rdb" "$WORK/redis/dump.rdb"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/redis" \
  --dbfilename dump.rdb --logfile "$WORK/redis/log" &
REDIS_PID=$!
for _ in $(seq 1 600); do
  [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] && break
  sleep 0.1
done
REDIS_SECS=$(grep -o 'DB loaded from disk: [0-9.]* seconds' "$WORK/redis/log" | grep -o '[0-9.]*' | head -1)
REDIS_RSS=$(awk '/VmHWM/ {print $2 * 1024}' "/proc/$REDIS_PID/status")
redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
wait "$REDIS_PID" 2>/dev/null || true
REDIS_PID=""

# Runs basalt-rdb; prints "wall-seconds peak-rss-bytes" (the RSS from the tool's summary).
measure() {
  local start end out rss
  start=$(date +%s%N)
  out=$("$BIN/basalt-rdb" "$@")
  end=$(date +%s%N)
  echo "$out" >&2
  rss=$(echo "$out" | grep -o 'peak RSS: [0-9.]* MB' | grep -o '[0-9.]*' | head -1)
  awk -v s="$start" -v e="$end" -v r="${rss:-0}" 'BEGIN { printf "%.3f %.0f\n", (e - s) / 1e9, r * 1e6 }'
}

log "basalt-rdb import"
read -r IMPORT_SECS IMPORT_RSS < <(measure import --dir "$WORK/data" "$WORK/in.rdb")
log "basalt-rdb export"
read -r EXPORT_SECS EXPORT_RSS < <(measure export --dir "$WORK/data" "$WORK/out.rdb")

row() { # name seconds rss
  awk -v n="$1" -v s="$2" -v r="$3" -v k="$KEYS" -v b="$BYTES" -v rs="$REDIS_SECS" 'BEGIN {
    printf "| %s | %.2f | %.0f | %.1f | %.0f | %.2f |\n", n, s, k / s, b / s / 1e6, r / 1e6, (k / s) / (k / rs) }'
}
echo "RDB file: $KEYS keys, $(awk -v b="$BYTES" 'BEGIN {printf "%.1f", b / 1e6}') MB"
echo
echo "| run | seconds | keys/s | MB/s | peak RSS (MB) | keys/s vs Redis load |"
echo "|---|---:|---:|---:|---:|---:|"
row "redis-server load" "$REDIS_SECS" "$REDIS_RSS"
row "basalt-rdb import" "$IMPORT_SECS" "$IMPORT_RSS"
row "basalt-rdb export" "$EXPORT_SECS" "$EXPORT_RSS"
