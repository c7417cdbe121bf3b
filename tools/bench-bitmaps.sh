#!/usr/bin/env bash
# Bitmap throughput of Basalt next to real Redis, on loopback.
#
# redis-benchmark replaces __rand_int__ with a zero-padded 12-digit number, which SETBIT and
# GETBIT refuse as an offset ("000000123456" is not an integer to Redis), so the random-offset
# tests use examples/bitload.rs (the same idea, unpadded random integers); BITCOUNT, which takes
# no random argument, uses redis-benchmark itself. Tests, in this order (so BITCOUNT and GETBIT
# read the bitmap SETBIT built):
#   setbit <1M     SETBIT bm1 <random below 1,000,000> 1        a 125 KB bitmap
#   setbit <2^32   SETBIT bm2 <random below 4,294,967,296> 1    a 512 MB sparse bitmap
#   bitcount       BITCOUNT bm1                                 (redis-benchmark)
#   getbit <1M     GETBIT bm1 <random below 1,000,000>
# Servers, all started at once, each on a free 127.0.0.1 port with its own temporary directory;
# every test runs BENCH_REPS times on each server in turn and the median is reported (so a burst
# of load on a shared machine hits all alike and one outlier does not decide a ratio):
#   Basalt (default durability, WAL fsync everysec), Redis without persistence, Redis with AOF
#   everysec. Prints a markdown table; ratios are Basalt req/s over Redis req/s.
#
# Environment: BENCH_N requests per test (default 100000; BITCOUNT runs N/10), BENCH_C clients
# (default 50), BENCH_PIPELINES (default "1 16"), BENCH_REPS repetitions (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}"
HOST=127.0.0.1
N="${BENCH_N:-100000}"
C="${BENCH_C:-50}"
PIPELINES="${BENCH_PIPELINES:-1 16}"
REPS="${BENCH_REPS:-3}"
log() { echo "bench-bitmaps: $*" >&2; }
die() { echo "bench-bitmaps: error: $*" >&2; exit 1; }
for tool in redis-benchmark redis-server redis-cli cargo; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found; run tools/setup.sh"
done
case "$N$C$REPS${PIPELINES// /}" in
  *[!0-9]*) die "BENCH_N, BENCH_C, BENCH_REPS and BENCH_PIPELINES must be integers" ;;
esac

WORK="$(mktemp -d "${TMPDIR:-/tmp}/basalt-bench-bitmaps.XXXXXX")"
PIDS=()
cleanup() {
  local pid
  trap - EXIT INT TERM HUP
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

log "building basalt and examples/bitload (release, offline) in $CARGO_TARGET_DIR"
cargo build --release --offline --bin basalt --example bitload >&2 || die "build failed"
BASALT="$CARGO_TARGET_DIR/release/basalt"
BITLOAD="$CARGO_TARGET_DIR/release/examples/bitload"

# free_port: sets FREE_PORT to a loopback port below the ephemeral range that nothing listens on.
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((10000 + (RANDOM * 32768 + RANDOM) % 20000))
    if ! (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then
      FREE_PORT="$port"
      return 0
    fi
  done
  die "no free port found"
}

# start NAME CMD... (PORT in the command is replaced): sets PORT[NAME] once the server answers.
# Not run in a subshell, so the server's pid reaches PIDS and the cleanup stops it.
start() {
  local name="$1" a i argv=()
  shift
  free_port
  for a in "$@"; do
    if [ "$a" = PORT ]; then argv+=("$FREE_PORT"); else argv+=("$a"); fi
  done
  "${argv[@]}" >"$WORK/$name.log" 2>&1 </dev/null &
  PIDS+=("$!")
  for i in $(seq 1 300); do
    if [ "$(redis-cli -h "$HOST" -p "$FREE_PORT" ping 2>/dev/null)" = PONG ]; then
      PORT[$name]="$FREE_PORT"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$WORK/$name.log" >&2
  die "$name did not come up"
}

mkdir -p "$WORK/basalt" "$WORK/redis" "$WORK/redis-aof"
SERVERS=(basalt redis redis-aof)
declare -A PORT
start basalt "$BASALT" --bind "$HOST" --port PORT --dir "$WORK/basalt"
start redis redis-server --bind "$HOST" --port PORT --dir "$WORK/redis" \
  --daemonize no --save '' --appendonly no
start redis-aof redis-server --bind "$HOST" --port PORT --dir "$WORK/redis-aof" \
  --daemonize no --save '' --appendonly yes --appendfsync everysec
log "Basalt on ${PORT[basalt]}, Redis on ${PORT[redis]}, Redis AOF on ${PORT[redis-aof]}"

# bitload_rps PORT P N RANGE CMD...: req/s, or "failed" (the reason goes to the log).
bitload_rps() {
  local port="$1" p="$2" n="$3" range="$4" out
  shift 4
  if out="$("$BITLOAD" --host "$HOST" -p "$port" -c "$C" -n "$n" -P "$p" -r "$range" "$@" 2>&1)"; then
    echo "$out" | awk '{ print $1 }'
  else
    log "bitload on port $port: $out"
    echo failed
  fi
}

# bench_rps PORT P N CMD...: redis-benchmark's req/s for a fixed command line.
bench_rps() {
  local port="$1" p="$2" n="$3" out
  shift 3
  out="$(redis-benchmark -h "$HOST" -p "$port" -q --csv -c "$C" -n "$n" -P "$p" "$@" 2>/dev/null |
    awk -F'","' 'NR > 1 { print $2; exit }')"
  echo "${out:-failed}"
}

# median VALUES...: the median of the numeric values, or "failed" if any run failed.
median() {
  local v
  for v in "$@"; do
    case "$v" in *[!0-9.]* | '') echo failed; return 0 ;; esac
  done
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}
fmt() {
  case "$1" in *[!0-9.]* | '') echo "$1" ;; *) awk -v x="$1" 'BEGIN { printf "%.0f\n", x }' ;; esac
}

ROWS=()
row() { # label pipeline results-by-server...
  local label="$1" p="$2" b="$3" r="$4" a="$5"
  ROWS+=("| $label | $p | $(fmt "$b") | $(fmt "$r") | $(ratio "$b" "$r") | $(fmt "$a") | $(ratio "$b" "$a") |")
}

for p in $PIPELINES; do
  declare -A got=()
  for test in setbit1m setbit4g bitcount getbit1m; do
    declare -A runs=()
    for rep in $(seq 1 "$REPS"); do
      for s in "${SERVERS[@]}"; do
        log "$s: $test -P $p (run $rep of $REPS)"
        case "$test" in
          setbit1m) r="$(bitload_rps "${PORT[$s]}" "$p" "$N" 1000000 SETBIT bm1 __rand_int__ 1)" ;;
          setbit4g) r="$(bitload_rps "${PORT[$s]}" "$p" "$N" 4294967296 SETBIT bm2 __rand_int__ 1)" ;;
          bitcount) r="$(bench_rps "${PORT[$s]}" "$p" $((N / 10)) BITCOUNT bm1)" ;;
          getbit1m) r="$(bitload_rps "${PORT[$s]}" "$p" "$N" 1000000 GETBIT bm1 __rand_int__)" ;;
        esac
        runs[$s]="${runs[$s]:-} $r"
      done
    done
    for s in "${SERVERS[@]}"; do
      # shellcheck disable=SC2086 # the runs are space-separated numbers
      got[$s.$test]="$(median ${runs[$s]})"
    done
    unset runs
  done
  row "SETBIT bm1 <random below 1M> 1" "$p" "${got[basalt.setbit1m]}" "${got[redis.setbit1m]}" "${got[redis-aof.setbit1m]}"
  row "SETBIT bm2 <random below 2^32> 1" "$p" "${got[basalt.setbit4g]}" "${got[redis.setbit4g]}" "${got[redis-aof.setbit4g]}"
  row "BITCOUNT bm1 (1M-bit bitmap)" "$p" "${got[basalt.bitcount]}" "${got[redis.bitcount]}" "${got[redis-aof.bitcount]}"
  row "GETBIT bm1 <random below 1M>" "$p" "${got[basalt.getbit1m]}" "${got[redis.getbit1m]}" "${got[redis-aof.getbit1m]}"
  unset got
done

cpu="$(grep -m1 -E '^(model name|Model|cpu model)' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
echo "# Basalt vs Redis: bitmaps"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), nproc $(nproc), cpu ${cpu:-unknown}"
echo "- redis-server: $(redis-server --version)"
echo "- clients: $C; requests: $N per test (BITCOUNT $((N / 10))), median of $REPS runs per server, servers interleaved; random offsets by examples/bitload.rs, BITCOUNT by redis-benchmark"
echo "- Basalt data directory after the run: $(du -sm "$WORK/basalt" | cut -f1) MB"
echo
echo "| test | pipeline | Basalt req/s | Redis (no persistence) req/s | ratio | Redis (AOF everysec) req/s | ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
