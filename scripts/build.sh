#!/usr/bin/env bash
# Installs the Debian packages lethe needs (when root; otherwise says which
# are missing; scripts/deps.sh) and builds it (Release) into build/. Run by
# the other scripts; extra packages can be passed as arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need_packages cmake make gcc pkg-config libdnnl-dev libconfig-dev check libsubunit-dev \
  libjansson-dev libstemmer-dev libpcre2-dev libutf8proc-dev zlib1g-dev "$@"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
