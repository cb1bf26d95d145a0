#!/usr/bin/env bash
# Builds lethe (Release) into build/ and runs every test with ctest.
# Installs missing Debian build dependencies first when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
deps="cmake make gcc pkg-config libdnnl-dev libconfig-dev check libsubunit-dev libjansson-dev libstemmer-dev python3 chromium"
missing=""
for p in $deps; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
  else echo "missing packages:$missing (run: sudo apt-get install$missing)" >&2; exit 1; fi
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
cd build && ctest --output-on-failure -j2
