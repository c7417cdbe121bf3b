#!/usr/bin/env bash
# Builds Basalt (release) and starts it on 127.0.0.1:6379 with data in ./basalt-data.
# Extra arguments go to the server, e.g. tools/run.sh --port 7000 --fsync always
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/basalt-target}"
exec cargo run --release --bin basalt -- "$@"
