#!/usr/bin/env bash
# Runs the whole test suite: unit tests, integration tests against the real binary, and the
# differential tests against a real redis-server (installed by setup.sh).
# Everything builds with --release so RocksDB is compiled once for tests, benchmarks and the server.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}"
exec cargo test --release "$@"
