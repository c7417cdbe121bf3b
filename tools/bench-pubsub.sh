#!/usr/bin/env bash
# Pub/Sub throughput, Basalt vs redis-server, side by side in one run: for each
# publishers x subscribers shape, examples/pubsub_bench.rs publishes MESSAGES per publisher to one
# channel and counts deliveries; prints messages delivered per second and the ratio.
#
#   tools/bench-pubsub.sh                      # shapes "1x1 4x4 1x16", 100000 messages, 32 bytes
#   PUBSUB_SHAPES="2x8" PUBSUB_MESSAGES=50000 PUBSUB_SIZE=256 tools/bench-pubsub.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}"
cargo build --release --quiet --bin basalt --example pubsub_bench
bin="$CARGO_TARGET_DIR/release"
shapes="${PUBSUB_SHAPES:-1x1 4x4 1x16}"
messages="${PUBSUB_MESSAGES:-100000}"
size="${PUBSUB_SIZE:-32}"

tmp="$(mktemp -d)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bport="$(free_port)"; rport="$(free_port)"
"$bin/basalt" --port "$bport" --dir "$tmp/basalt" >"$tmp/basalt.log" 2>&1 &
bpid=$!
redis-server --port "$rport" --save '' --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
rpid=$!
trap 'kill $bpid $rpid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for p in "$bport" "$rport"; do
  for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

rate() { "$bin/examples/pubsub_bench" "$1" "$2" "$3" "$messages" "$size" | sed 's/.*delivered_per_sec=\([0-9]*\).*/\1/'; }
echo "# Pub/Sub: messages delivered per second ($messages messages per publisher, $size-byte payloads, $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "| publishers x subscribers | Basalt | Redis | ratio |"
echo "|---|---:|---:|---:|"
for shape in $shapes; do
  pubs="${shape%x*}"; subs="${shape#*x}"
  b="$(rate "$bport" "$pubs" "$subs")"
  r="$(rate "$rport" "$pubs" "$subs")"
  echo "| $pubs x $subs | $b | $r | $(python3 -c "print(f'{$b/$r:.2f}')") |"
done
