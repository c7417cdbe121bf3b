#!/usr/bin/env bash
# The memory budget and the hot-key cache, measured with basalt-loadgen on loopback.
#
# 1. Basalt with `--maxmemory $BENCH_BUDGET_MB` is loaded with ten times that in values of
#    $BENCH_VALUE bytes (random text, so the data on disk is as large as written), then waits
#    for compactions to finish.
# 2. GET at $BENCH_C connections: all-hot (a key set that fits the hot-key cache), uniform over
#    the whole dataset, Zipf(0.99) over it. Reports throughput, latency percentiles, the cache
#    hit ratio over the run, the ratios to the all-hot run, and the server's peak RSS
#    (VmHWM, over the whole life of the server, loading included) against the budget.
# 3. Execution strategy: a hot/cold mix (90% of requests on 1% of the keys) with the SST files
#    read with O_DIRECT (so a cold read waits on the device, as when data outgrows RAM), run
#    with RocksDB reads inline on the tokio workers, under block_in_place, and inline with
#    4 workers instead of 2: throughput and the hot keys' latency.
# 4. The hot set against real Redis (no persistence): GET and SET over the same keys.
#
# Every figure of one table comes from one run of this script; compare ratios, not absolute
# numbers (the machine is shared). Progress goes to standard error, the tables to standard
# output.
#
# Environment: BENCH_BUDGET_MB (default 256), BENCH_FACTOR (dataset / budget, default 10),
# BENCH_VALUE (bytes, default 1024), BENCH_SECONDS (per run, default 10), BENCH_WARMUP (seconds
# before each run, default 3), BENCH_C (connections, default 50), BENCH_SKIP_STRATEGY=1,
# BENCH_SKIP_REDIS=1. Temporary data goes under ${TMPDIR:-/tmp} and is removed at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}"
HOST=127.0.0.1
BUDGET_MB="${BENCH_BUDGET_MB:-256}"
FACTOR="${BENCH_FACTOR:-10}"
VALUE="${BENCH_VALUE:-1024}"
SECONDS_RUN="${BENCH_SECONDS:-10}"
WARMUP="${BENCH_WARMUP:-3}"
C="${BENCH_C:-50}"

log() { echo "bench-cache: $*" >&2; }
die() { echo "bench-cache: error: $*" >&2; exit 1; }
for v in "$BUDGET_MB" "$FACTOR" "$VALUE" "$SECONDS_RUN" "$WARMUP" "$C"; do
  case "$v" in '' | *[!0-9]*) die "BENCH_* values must be positive integers" ;; esac
done

log "building (release)"
cargo build --release --offline --bins >&2 || cargo build --release --bins >&2
BIN="$CARGO_TARGET_DIR/release"
LOADGEN="$BIN/basalt-loadgen"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/basalt-bench-cache.XXXXXX")"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT_LO=20000
PORT_SPAN=30000
USED_PORTS=" "
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((PORT_LO + (RANDOM * 32768 + RANDOM) % PORT_SPAN))
    case "$USED_PORTS" in *" $port "*) continue ;; esac
    if ! (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then
      USED_PORTS="$USED_PORTS$port "
      FREE_PORT="$port"
      return 0
    fi
  done
  die "no free port found"
}

wait_up() {
  for _ in $(seq 1 200); do
    redis-cli -h "$HOST" -p "$1" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "server on port $1 did not start"
}

# start_basalt ENV... -- ARGS...: starts Basalt on the shared data dir; sets PORT and PID.
start_basalt() {
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  free_port
  PORT=$FREE_PORT
  env "${envs[@]}" "$BIN/basalt" --port "$PORT" --bind "$HOST" --dir "$WORK/basalt" \
    --maxmemory "${BUDGET_MB}mb" "$@" >>"$WORK/basalt.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  wait_up "$PORT"
}

stop_basalt() {
  redis-cli -h "$HOST" -p "$PORT" shutdown >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || return 0; sleep 0.1; done
  kill "$PID" 2>/dev/null || true
}

info() { redis-cli -h "$HOST" -p "$PORT" info "$1" | tr -d '\r' | awk -F: -v f="$2" '$1 == f { print $2 }'; }

# run LABEL ARGS...: one loadgen run against $PORT; sets R_* from its RESULT line.
run() {
  local label="$1"; shift
  log "$label"
  local line
  line=$("$LOADGEN" --host "$HOST" --port "$PORT" --connections "$C" --seconds "$SECONDS_RUN" \
    --warmup "$WARMUP" --value-size "$VALUE" --server-pid "${PID:-0}" "$@" | grep '^RESULT')
  for kv in ${line#RESULT }; do
    eval "R_${kv%%=*}='${kv#*=}'"
  done
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }

KEYS=$(( BUDGET_MB * FACTOR * 1048576 / VALUE ))
start_basalt --
HOT_CAP=$(info memory hot_cache_capacity)
# A hot set that fits the cache comfortably: a quarter of what its capacity would hold.
HOT_KEYS=$(( HOT_CAP / (VALUE + 160) / 4 ))
log "loading $KEYS keys x $VALUE bytes ($(( KEYS * VALUE >> 20 )) MB) into a ${BUDGET_MB} MB budget"
"$LOADGEN" --host "$HOST" --port "$PORT" --keys "$KEYS" --value-size "$VALUE" --connections 8 --load >&2
for _ in $(seq 1 600); do
  [ "$(info rocksdb rocksdb_num_running_compactions)" = 0 ] &&
    [ "$(info rocksdb rocksdb_estimate_pending_compaction_bytes)" = 0 ] && break
  sleep 1
done

run "GET all-hot ($HOT_KEYS keys)" --keys "$HOT_KEYS" --dist uniform
HOT_RPS=$R_rps; HOT_LINE="| all-hot ($HOT_KEYS keys) | $R_rps | 1.00 | $R_p50_us | $R_p99_us | $R_p999_us | $R_hit_ratio | $(mb "$R_rss_run_peak") |"
run "GET uniform over $KEYS keys" --keys "$KEYS" --dist uniform
UNI_LINE="| uniform | $R_rps | $(ratio "$R_rps" "$HOT_RPS") | $R_p50_us | $R_p99_us | $R_p999_us | $R_hit_ratio | $(mb "$R_rss_run_peak") |"
run "GET zipf(0.99) over $KEYS keys" --keys "$KEYS" --dist zipf:0.99
ZIPF_LINE="| Zipf(0.99) | $R_rps | $(ratio "$R_rps" "$HOT_RPS") | $R_p50_us | $R_p99_us | $R_p999_us | $R_hit_ratio | $(mb "$R_rss_run_peak") |"
RSS=$(grep VmHWM "/proc/$PID/status" | awk '{ print $2 * 1024 }')
BUDGET=$(( BUDGET_MB << 20 ))
stop_basalt

echo "### Dataset ${FACTOR}x the budget (maxmemory ${BUDGET_MB}mb, $(( KEYS * VALUE >> 20 )) MB of ${VALUE}-byte values, $C connections, GET)"
echo
echo "| key choice | req/s | vs all-hot | p50 us | p99 us | p99.9 us | cache hit ratio | RSS during run, MB |"
echo "|---|---|---|---|---|---|---|---|"
echo "$HOT_LINE"
echo "$UNI_LINE"
echo "$ZIPF_LINE"
echo
echo "Peak RSS (VmHWM over the server's life, loading included): $(mb "$RSS") MB for a $BUDGET_MB MB budget ($(ratio "$RSS" "$BUDGET")x)."
echo

if [ "${BENCH_SKIP_STRATEGY:-0}" != 1 ]; then
  echo "### Execution strategy: 90% of GETs on 1% of the keys, SST reads with O_DIRECT"
  echo
  echo "| RocksDB reads | req/s | p99 us | hot keys p50 us | hot keys p99 us | hot keys p99.9 us |"
  echo "|---|---|---|---|---|---|"
  for strategy in inline block_in_place workers4; do
    case $strategy in
      inline) start_basalt X=1 -- --rocksdb-direct-reads yes ;;
      block_in_place) start_basalt BASALT_COLD_READS=block_in_place -- --rocksdb-direct-reads yes ;;
      workers4) start_basalt TOKIO_WORKER_THREADS=4 -- --rocksdb-direct-reads yes ;;
    esac
    run "hot/cold mix, $strategy" --keys "$KEYS" --dist hotcold:0.9:0.01
    echo "| $strategy | $R_rps | $R_p99_us | $R_hot_p50_us | $R_hot_p99_us | $R_hot_p999_us |"
    stop_basalt
  done
  echo
fi

if [ "${BENCH_SKIP_REDIS:-0}" != 1 ] && command -v redis-server >/dev/null; then
  echo "### Hot set against Redis ($HOT_KEYS keys, all in memory)"
  echo
  echo "| op | Basalt req/s | Redis req/s | ratio | Basalt p99 us | Redis p99 us |"
  echo "|---|---|---|---|---|---|"
  start_basalt --
  run "Basalt GET hot" --keys "$HOT_KEYS" --dist uniform --op get
  B_GET=$R_rps; B_GET99=$R_p99_us
  run "Basalt SET hot" --keys "$HOT_KEYS" --dist uniform --op set
  B_SET=$R_rps; B_SET99=$R_p99_us
  stop_basalt
  free_port
  PORT=$FREE_PORT
  redis-server --port "$PORT" --bind "$HOST" --save '' --appendonly no --dir "$WORK" \
    >"$WORK/redis.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  wait_up "$PORT"
  "$LOADGEN" --host "$HOST" --port "$PORT" --keys "$HOT_KEYS" --value-size "$VALUE" --load >&2
  run "Redis GET hot" --keys "$HOT_KEYS" --dist uniform --op get
  R_GET=$R_rps; R_GET99=$R_p99_us
  run "Redis SET hot" --keys "$HOT_KEYS" --dist uniform --op set
  R_SET=$R_rps; R_SET99=$R_p99_us
  redis-cli -h "$HOST" -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  echo "| GET | $B_GET | $R_GET | $(ratio "$B_GET" "$R_GET") | $B_GET99 | $R_GET99 |"
  echo "| SET | $B_SET | $R_SET | $(ratio "$B_SET" "$R_SET") | $B_SET99 | $R_SET99 |"
fi
