#!/usr/bin/env bash
# Builds lethe (installing missing Debian packages when root) and runs every
# test with ctest. chromium and python3 are for the report rendering test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh python3 chromium
cd build && ctest --output-on-failure -j2
