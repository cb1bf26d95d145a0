#!/usr/bin/env bash
# Installs the Debian packages lethe needs (when root; otherwise says which
# are missing) and builds it (Release) into build/. Sourced by the other
# scripts; extra packages can be passed as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
deps="cmake make gcc pkg-config libdnnl-dev libconfig-dev check libsubunit-dev libjansson-dev libstemmer-dev $*"
missing=""
for p in $deps; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
  else
    echo "missing packages:$missing (run: sudo apt-get install$missing)" >&2
    exit 1
  fi
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
