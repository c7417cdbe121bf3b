#!/usr/bin/env bash
# Installs what building and testing Basalt needs on a Debian/Ubuntu machine, skipping what is
# already there: libclang (rust-rocksdb's bindgen), a C++ compiler (RocksDB), and redis-server /
# redis-tools (the differential tests and the benchmark compare against real Redis), and
# redis-py from PyPI in a virtualenv outside the checkout (driven against Basalt by
# tests/it/redis_py.rs).
set -euo pipefail

need=()
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || need+=(redis-tools)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) and re-run" >&2
  exit 1
fi

venv="${BASALT_VENV:-$HOME/.cache/basalt-venv}"
if ! "$venv/bin/python" -c 'import redis' >/dev/null 2>&1; then
  echo "setup: creating $venv with redis-py from PyPI"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'redis>=5,<6'
fi
