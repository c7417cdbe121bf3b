#!/usr/bin/env bash
# Throughput of Basalt next to real Redis, measured with redis-benchmark on loopback.
#
# Builds Basalt (release), then one server at a time, each on a free 127.0.0.1 port with its own
# temporary data directory:
#   Basalt                    its default durability (WAL fsync everysec)
#   Redis, no persistence     --save '' --appendonly no
#   Redis, AOF everysec       --appendonly yes --appendfsync everysec --save ''  (same durability as
#                             Basalt; RDB snapshots are off so no background save forks mid-run)
# and runs `redis-benchmark -q --csv -t <test> -n $BENCH_N -c $BENCH_C -P <p>` for each test of
# the list (BENCH_TESTS, or the BENCH_SET preset) and each pipeline depth in $BENCH_PIPELINES.
# Prints a markdown table on standard output, then the runs that failed and why; progress goes to
# standard error. Ratios are Basalt req/s divided by Redis req/s.
#
# Environment:
#   BENCH_SET        a preset list of tests (ignored when BENCH_TESTS is set):
#                      strings      set,get,incr,mset (the default)
#                      collections  lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100
#                      all          both of the above
#                      types        setbit,setbit_high,bitcount,pfadd,pfcount,geoadd,geosearch,
#                                   xadd,xrange,xreadgroup (command lines below)
#                      scripting    evalsha_short,evalsha_lock (command lines below)
#   BENCH_TESTS      redis-benchmark -t list, overriding BENCH_SET (e.g. sadd,hset,zadd); the
#                    names of the custom tests below are accepted too
#   BENCH_N          requests per test (default 200000; 20000 with BENCH_QUICK=1)
#   BENCH_C          parallel clients (default 50)
#   BENCH_PIPELINES  pipeline depths, space-separated (default "1 16")
#   BENCH_QUICK=1    smoke run: -n 20000 unless BENCH_N is set
#   BENCH_TIMEOUT    seconds one redis-benchmark invocation may take (default 900)
#
# Notes on the collection tests, which redis-benchmark runs against fixed keys (mylist, myset,
# myhash, myzset) and which this script runs one `-t` per invocation against the same server, in
# the order given:
#   - SADD, HSET and ZADD always write the same member (`element:__rand_int__` without -r), so they
#     measure an overwrite of a one-element collection; SPOP and ZPOPMIN then pop that member once
#     and mostly measure a pop from a missing key. The same on every server, so the ratios compare
#     like with like.
#   - lrange_100 (and lrange_300/500/600, or lrange for all four) first runs its own
#     "LPUSH (needed to benchmark LRANGE)" to fill mylist; both rows are reported.
#   - A server that answers a command with an error (an unknown command, say) makes redis-benchmark
#     stop at once, before its later tests: those rows are reported "failed" with ratio "n/a" and
#     the server's error is listed under the table, never a throughput of error replies.
#
# Custom tests are redis-benchmark command lines (see custom_test below), each preceded by its setup
# commands sent with redis-cli. redis-benchmark's __rand_int__ is a zero-padded 12-digit number,
# which Redis refuses as an integer argument (leading zeros), so integer arguments such as SETBIT
# offsets are fixed, while members and coordinates (`13.__rand_int__` is a valid float) vary.
# XREADGROUP reads the entries the XADD test before it added, one per call.
#
# Nothing but 127.0.0.1 is contacted: the build runs with cargo --offline, and every server binds
# and every client connects to loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}"
HOST=127.0.0.1

if [ "${BENCH_QUICK:-0}" = "1" ]; then
  N="${BENCH_N:-20000}"
else
  N="${BENCH_N:-200000}"
fi
PRESET_STRINGS=set,get,incr,mset
PRESET_COLLECTIONS=lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100
PRESET_TYPES=setbit,setbit_high,bitcount,pfadd,pfcount,geoadd,geosearch,xadd,xrange,xreadgroup
PRESET_SCRIPTING=evalsha_short,evalsha_lock
case "${BENCH_SET:-strings}" in
  strings) PRESET="$PRESET_STRINGS" ;;
  collections) PRESET="$PRESET_COLLECTIONS" ;;
  all) PRESET="$PRESET_STRINGS,$PRESET_COLLECTIONS" ;;
  types) PRESET="$PRESET_TYPES" ;;
  scripting) PRESET="$PRESET_SCRIPTING" ;;
  *) echo "bench: error: BENCH_SET must be strings, collections, all, types or scripting, got '$BENCH_SET'" >&2; exit 1 ;;
esac

# Scripts of the scripting preset, loaded with SCRIPT LOAD; EVALSHA names them by SHA-1.
SCRIPT_SHORT="local v = redis.call('GET', KEYS[1]); redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], 60); return v"
SCRIPT_LOCK="if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end return 0"
sha1_of() { printf '%s' "$1" | sha1sum | cut -d' ' -f1; }

# custom_test NAME: sets CUSTOM_SETUP (redis-cli command lines, one per line), CUSTOM_R (the -r
# keyspace, empty for none) and CUSTOM_CMD (the command line, as an array); fails for a name
# redis-benchmark knows itself.
custom_test() {
  CUSTOM_SETUP="" CUSTOM_R=""
  case "$1" in
    setbit) CUSTOM_CMD=(SETBIT bitmap 1000000 1) ;;
    setbit_high) CUSTOM_CMD=(SETBIT bitmap:high 4294967295 1) ;;
    bitcount) CUSTOM_CMD=(BITCOUNT bitmap) ;;
    pfadd) CUSTOM_R=1000000 CUSTOM_CMD=(PFADD hll "e:__rand_int__") ;;
    pfcount) CUSTOM_CMD=(PFCOUNT hll) ;;
    geoadd) CUSTOM_R=100000000000 CUSTOM_CMD=(GEOADD geo "13.__rand_int__" "38.__rand_int__" "m:__rand_int__") ;;
    geosearch) CUSTOM_CMD=(GEOSEARCH geo FROMLONLAT 13.05 38.05 BYRADIUS 1 km ASC COUNT 10) ;;
    xadd) CUSTOM_R=1000000 CUSTOM_SETUP="XGROUP CREATE stream g 0 MKSTREAM"
      CUSTOM_CMD=(XADD stream '*' field "__rand_int__") ;;
    xrange) CUSTOM_CMD=(XRANGE stream - + COUNT 10) ;;
    xreadgroup) CUSTOM_CMD=(XREADGROUP GROUP g consumer COUNT 1 STREAMS stream '>') ;;
    evalsha_short) CUSTOM_R=100000 CUSTOM_SETUP="SCRIPT LOAD \"$SCRIPT_SHORT\""
      CUSTOM_CMD=(EVALSHA "$(sha1_of "$SCRIPT_SHORT")" 1 "counter:__rand_int__") ;;
    evalsha_lock) CUSTOM_R=100000 CUSTOM_SETUP="SCRIPT LOAD \"$SCRIPT_LOCK\""
      CUSTOM_CMD=(EVALSHA "$(sha1_of "$SCRIPT_LOCK")" 1 "lock:__rand_int__" token 30000) ;;
    *) return 1 ;;
  esac
}
TESTS="${BENCH_TESTS:-$PRESET}"
C="${BENCH_C:-50}"
PIPELINES="${BENCH_PIPELINES:-1 16}"
RUN_TIMEOUT="${BENCH_TIMEOUT:-900}"

log() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

for tool in redis-benchmark redis-server redis-cli; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool not found; run tools/setup.sh (it installs redis-server and redis-tools)"
done
command -v cargo >/dev/null 2>&1 || die "cargo not found; run tools/setup.sh"
case "$N$C" in *[!0-9]*) die "BENCH_N and BENCH_C must be positive integers" ;; esac
for p in $PIPELINES; do
  case "$p" in '' | *[!0-9]*) die "BENCH_PIPELINES must be integers, got '$p'" ;; esac
done
case "$TESTS" in
  '' | *[!A-Za-z0-9_,]*) die "BENCH_TESTS must be comma-separated redis-benchmark test names, got '$TESTS'" ;;
esac

# --- cleanup: every server we started is stopped and the temporary directory removed, whatever
# --- way the script ends (normal exit, error, Ctrl-C, kill).
WORK="$(mktemp -d "${TMPDIR:-/tmp}/basalt-bench.XXXXXX")"
PIDS=()

stop_pid() {
  local pid="$1" i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  trap - EXIT INT TERM HUP
  for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
    stop_pid "$pid"
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- build
log "building basalt (release, offline) in $CARGO_TARGET_DIR"
cargo build --release --offline --bin basalt >&2 ||
  die "build failed (if dependencies are missing: run tools/setup.sh, then 'cargo fetch' once)"
BASALT="$CARGO_TARGET_DIR/release/basalt"
[ -x "$BASALT" ] || die "$BASALT not found after the build"

# --- servers
USED_PORTS=" "
# Listening ports are drawn from outside the kernel's ephemeral range, where the clients' own
# connections (50 per redis-benchmark run, many then in TIME_WAIT) take their local ports.
read -r EPH_LO EPH_HI </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { EPH_LO=32768; EPH_HI=60999; }
if [ "$EPH_LO" -gt 12000 ]; then
  PORT_LO=10000 PORT_SPAN=$((EPH_LO - 10000))
else
  PORT_LO=$((EPH_HI + 1)) PORT_SPAN=$((65535 - EPH_HI))
fi
[ "$PORT_SPAN" -gt 100 ] || { PORT_LO=20000 PORT_SPAN=10000; }
# free_port: sets FREE_PORT to a loopback port nothing listens on (and that this run has not used).
free_port() {
  local port tries
  for tries in $(seq 1 200); do
    port=$((PORT_LO + (RANDOM * 32768 + RANDOM) % PORT_SPAN))
    case "$USED_PORTS" in *" $port "*) continue ;; esac
    # A refused connection means nothing listens there.
    if ! (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then
      USED_PORTS="$USED_PORTS$port "
      FREE_PORT="$port"
      return 0
    fi
  done
  die "no free port found on $HOST"
}

# start_server NAME LOGFILE CMD... (the command line contains the literal word PORT, replaced by the
# chosen port). Sets SERVER_PID and SERVER_PORT. Retries on another port if the first is taken.
start_server() {
  local name="$1" logfile="$2" attempt i port pid a
  shift 2
  for attempt in 1 2 3; do
    free_port
    port="$FREE_PORT"
    local argv=()
    for a in "$@"; do
      if [ "$a" = PORT ]; then argv+=("$port"); else argv+=("$a"); fi
    done
    "${argv[@]}" >"$logfile" 2>&1 </dev/null &
    pid=$!
    PIDS+=("$pid")
    for i in $(seq 1 300); do
      if ! kill -0 "$pid" 2>/dev/null; then
        break
      fi
      if [ "$(timeout 2 redis-cli -h "$HOST" -p "$port" ping 2>/dev/null)" = "PONG" ]; then
        SERVER_PID="$pid"
        SERVER_PORT="$port"
        log "$name listening on $HOST:$port (pid $pid)"
        return 0
      fi
      sleep 0.1
    done
    stop_pid "$pid"
    log "$name did not come up on port $port (attempt $attempt); its log:"
    tail -n 20 "$logfile" >&2 || true
  done
  die "could not start $name"
}

# run_benchmarks KEY PORT: one redis-benchmark per test and pipeline depth (so a command a server
# rejects costs only its own rows: redis-benchmark stops at the first error reply); the CSV rows of
# each depth are collected in $WORK/KEY.P<p>.csv, and each run that failed or produced no row is
# recorded in $WORK/failures as KEY, depth, test and reason, tab-separated.
run_benchmarks() {
  local key="$1" port="$2" p t out one pid rc why
  for p in $PIPELINES; do
    out="$WORK/$key.P$p.csv"
    echo '"test","rps"' >"$out"
    for t in ${TESTS//,/ }; do
      one="$WORK/$key.P$p.$t"
      log "$key: $t -n $N -c $C -P $p"
      # In the background and waited for, so Ctrl-C or a TERM reaches the traps at once (a
      # foreground child would delay them until it finished); cleanup stops it.
      if custom_test "$t"; then
        if [ -n "$CUSTOM_SETUP" ]; then
          printf '%s\n' "$CUSTOM_SETUP" | redis-cli -h "$HOST" -p "$port" >"$one.setup" 2>&1 || true
        fi
        timeout "$RUN_TIMEOUT" redis-benchmark -h "$HOST" -p "$port" -q --csv \
          -n "$N" -c "$C" -P "$p" ${CUSTOM_R:+-r "$CUSTOM_R"} "${CUSTOM_CMD[@]}" \
          >"$one.csv" 2>"$one.err" </dev/null &
      else
        timeout "$RUN_TIMEOUT" redis-benchmark -h "$HOST" -p "$port" -q --csv \
          -t "$t" -n "$N" -c "$C" -P "$p" >"$one.csv" 2>"$one.err" </dev/null &
      fi
      pid=$!
      PIDS+=("$pid")
      rc=0
      wait "$pid" || rc=$?
      # Result rows only: a test's row is printed when it completes, so a run stopped by an error
      # reply or the timeout has no row for the test it was in, nor for the tests after it. A
      # custom test's row is named by the command line; the table names it by the test.
      if custom_test "$t"; then
        grep '^"' "$one.csv" | grep -v '^"test",' | sed "s/^\"[^\"]*\"/\"$t: ${CUSTOM_CMD[*]//\//\\/}\"/" >>"$out" || true
      else
        grep '^"' "$one.csv" | grep -v '^"test",' >>"$out" || true
      fi
      why=""
      if [ "$rc" -eq 124 ]; then
        why="timed out after ${RUN_TIMEOUT}s (BENCH_TIMEOUT)"
      elif [ "$rc" -ne 0 ]; then
        why="$(grep -m1 -v 'Could not fetch server CONFIG' "$one.err" | tr -d '\r' | sed 's/[[:space:]]*$//' || true)"
        why="${why:-redis-benchmark exited with status $rc}"
      elif ! grep -v '^"test",' "$one.csv" | grep -q '^"'; then
        why="no result (is '$t' a redis-benchmark test name?)"
      fi
      if [ -n "$why" ]; then
        log "$key -t $t -P $p: $why; its missing results are marked failed"
        printf '%s\t%s\t%s\t%s\n' "$key" "$p" "$t" "$why" >>"$WORK/failures"
      fi
      # CONFIG GET is only used for redis-benchmark's banner; its absence changes nothing.
      if grep -qv 'Could not fetch server CONFIG' "$one.err"; then
        log "$key -t $t -P $p: redis-benchmark reported on stderr:"
        { sort "$one.err" | uniq -c | head -n 10 >&2; } || true
      fi
    done
  done
}

SERVERS=(basalt redis redis-aof)

mkdir -p "$WORK/basalt"
start_server Basalt "$WORK/basalt.log" \
  "$BASALT" --bind "$HOST" --port PORT --dir "$WORK/basalt"
run_benchmarks basalt "$SERVER_PORT"
stop_pid "$SERVER_PID"

mkdir -p "$WORK/redis"
start_server "redis-server (no persistence)" "$WORK/redis.log" \
  redis-server --bind "$HOST" --port PORT --dir "$WORK/redis" --daemonize no \
  --save '' --appendonly no
run_benchmarks redis "$SERVER_PORT"
stop_pid "$SERVER_PID"

mkdir -p "$WORK/redis-aof"
start_server "redis-server (AOF everysec)" "$WORK/redis-aof.log" \
  redis-server --bind "$HOST" --port PORT --dir "$WORK/redis-aof" --daemonize no \
  --save '' --appendonly yes --appendfsync everysec
run_benchmarks redis-aof "$SERVER_PORT"
stop_pid "$SERVER_PID"

# --- report
# rps FILE TEST: the req/s of TEST in a redis-benchmark CSV file, or nothing.
rps() {
  [ -f "$1" ] || return 0
  awk -v t="$2" -F'","' 'NR > 1 { sub(/^"/, "", $1); if ($1 == t) { print $2; exit } }' "$1"
}
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}
fmt() {
  if [ -z "$1" ]; then echo "failed"; else awk -v x="$1" 'BEGIN { printf "%.0f\n", x }'; fi
}

cpu="$(grep -m1 -E '^(model name|Model|cpu model)' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
echo "# Basalt vs Redis: redis-benchmark"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "- nproc: $(nproc)"
echo "- cpu: ${cpu:-unknown}"
echo "- redis-server: $(redis-server --version)"
echo "- basalt: $("$BASALT" --version 2>/dev/null || echo unknown) ($BASALT)"
echo "- command: redis-benchmark -h $HOST -q --csv -t <test> (or a custom command line) -n $N -c $C -P <p>, for test in $TESTS, p in ${PIPELINES// /,}"
echo "- servers: Basalt default (fsync everysec); Redis --save '' --appendonly no;" \
  "Redis --save '' --appendonly yes --appendfsync everysec"
echo "- ratio = Basalt req/s / Redis req/s; failed = no result from that server (redis-benchmark stopped on an error reply or the timeout: see the failed runs below the table), and its ratios are n/a"
echo
echo "| test | pipeline | Basalt req/s | Redis (no persistence) req/s | ratio | Redis (AOF everysec) req/s | ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for p in $PIPELINES; do
  # Test names in the order they ran: the most complete server's list first (a server that
  # rejected a command has no row for it), then anything only another server reported.
  names="$(
    for s in "${SERVERS[@]}"; do
      f="$WORK/$s.P$p.csv"
      [ -f "$f" ] || continue
      awk -F'","' -v s="$s" 'NR > 1 { sub(/^"/, "", $1); n++; rows[n] = $1 }
        END { for (i = 1; i <= n; i++) print n "\t" s "\t" i "\t" rows[i] }' "$f"
    done | sort -t "$(printf '\t')" -k1,1nr -k2,2 -k3,3n | cut -f4- | awk '!seen[$0]++'
  )"
  if [ -n "$names" ]; then
    while IFS= read -r t; do
      b="$(rps "$WORK/basalt.P$p.csv" "$t")"
      r="$(rps "$WORK/redis.P$p.csv" "$t")"
      a="$(rps "$WORK/redis-aof.P$p.csv" "$t")"
      echo "| $t | $p | $(fmt "$b") | $(fmt "$r") | $(ratio "$b" "$r") | $(fmt "$a") | $(ratio "$b" "$a") |"
    done <<<"$names"
  fi
  # A test no server produced a row for (every server rejected it, or no such test name) still
  # gets its row, under the name it was asked for.
  for t in ${TESTS//,/ }; do
    any=""
    for s in "${SERVERS[@]}"; do
      f="$WORK/$s.P$p.$t.csv"
      if [ -f "$f" ] && grep -v '^"test",' "$f" | grep -q '^"'; then any=1; fi
    done
    [ -n "$any" ] || echo "| $t | $p | failed | failed | n/a | failed | n/a |"
  done
done

if [ -s "$WORK/failures" ]; then
  echo
  echo "Failed runs (redis-benchmark stops at a server's first error reply: the rest of that run," \
    "such as the LRANGE after the LPUSH that fills its list, has no result either):"
  echo
  while IFS=$'\t' read -r s p t why; do
    case "$s" in
      basalt) s=Basalt ;;
      redis) s="Redis (no persistence)" ;;
      redis-aof) s="Redis (AOF everysec)" ;;
    esac
    echo "- $s, \`-t $t -P $p\`: ${why//|/\\|}"
  done <"$WORK/failures"
fi
