#!/usr/bin/env bash
# Fuzzes the RDB reader (basalt-rdb import) and the DUMP payload reader (RESTORE) with cargo fuzz.
#
#   tools/fuzz.sh [SECONDS]      # default 300 seconds per target
#
# Seeds the corpora with real inputs first: an RDB file saved by redis-server holding every type
# in its compact and large encodings, and a DUMP payload of each of its keys, so the fuzzer
# starts from valid structure. Needs cargo-fuzz (`cargo install cargo-fuzz`) and redis-server
# (tools/setup.sh). The fuzz crate (fuzz/) compiles src/rdb on its own, without RocksDB; it
# needs nightly features, enabled on the stable toolchain with RUSTC_BOOTSTRAP=1. Crashes land
# in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-300}"
case "$SECS" in '' | *[!0-9]*) echo "fuzz: SECONDS must be a number" >&2; exit 1 ;; esac
command -v cargo-fuzz >/dev/null || { echo "fuzz: cargo-fuzz not found: cargo install cargo-fuzz" >&2; exit 1; }
export CARGO_TARGET_DIR="${BASALT_FUZZ_TARGET:-$HOME/.cache/basalt-fuzz-target}"
export RUSTC_BOOTSTRAP=1

seed() {
  command -v redis-server >/dev/null || { echo "fuzz: no redis-server, starting from empty corpora" >&2; return; }
  local work port pid
  work="$(mktemp -d)"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    --dbfilename seed.rdb --daemonize no --logfile "$work/log" &
  pid=$!
  for _ in $(seq 1 100); do [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
  local r=(redis-cli -p "$port")
  "${r[@]}" set s hello >/dev/null
  "${r[@]}" set n 12345 >/dev/null
  "${r[@]}" set big "$(head -c 3000 /dev/zero | tr '\0' a)" >/dev/null
  "${r[@]}" rpush l a b 1 2 >/dev/null
  "${r[@]}" sadd si 1 2 3 >/dev/null
  "${r[@]}" sadd ss a b c >/dev/null
  "${r[@]}" zadd z 1 a 2.5 b >/dev/null
  "${r[@]}" hset h f v g 7 >/dev/null
  "${r[@]}" pexpire h 100000000 >/dev/null
  "${r[@]}" xadd x 1-1 f v >/dev/null
  "${r[@]}" xadd x 2-1 f w g x >/dev/null
  "${r[@]}" xgroup create x grp 0 >/dev/null
  "${r[@]}" xreadgroup group grp alice count 1 streams x '>' >/dev/null
  "${r[@]}" pfadd hll a b c >/dev/null
  "${r[@]}" select 1 >/dev/null
  for i in $(seq 1 200); do echo "RPUSH lbig item$i"; echo "SADD sbig m$i"; echo "ZADD zbig $i m$i"; echo "HSET hbig f$i v$i"; done \
    | redis-cli -p "$port" -n 1 >/dev/null
  "${r[@]}" save >/dev/null
  mkdir -p fuzz/corpus/rdb_reader fuzz/corpus/rdb_payload
  cp "$work/seed.rdb" fuzz/corpus/rdb_reader/seed.rdb
  for key in s n big l si ss z h x hll; do
    # The payload target takes the RDB version in its first byte and frames the rest itself.
    python3 - "$port" "$key" fuzz/corpus/rdb_payload/"$key" <<'EOF'
import socket, sys
port, key, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"*2\r\n$4\r\nDUMP\r\n$%d\r\n%s\r\n" % (len(key), key))
buf = b""
while b"\r\n" not in buf:
    buf += s.recv(65536)
head, rest = buf.split(b"\r\n", 1)
n = int(head[1:])
while len(rest) < n + 2:
    rest += s.recv(65536)
payload = rest[:n]
body, version = payload[:-10], payload[-10]
open(out, "wb").write(bytes([version]) + body)
EOF
  done
  "${r[@]}" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}

seed
for target in rdb_reader rdb_payload; do
  echo "fuzz: $target for ${SECS}s" >&2
  cargo fuzz run -O "$target" -- -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=1048576
done
