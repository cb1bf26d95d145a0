#!/usr/bin/env bash
# Runs the paper suite (7 methods x forget01/05/10 on the embedded world:
# configs/suites/paper.cfg) and prints the path of its report. Builds lethe
# first, installing missing Debian packages when root. Extra arguments go to
# `lethe suite run` (e.g. --out DIR, -s unlearn.lr=1e-4).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
export LETHE_CACHE_DIR="${LETHE_CACHE_DIR:-$PWD/results/cache}"
start=$(date +%s)
build/framework/lethe suite run configs/suites/paper.cfg --out results/paper -j 2 "$@"
echo "paper suite: $(( $(date +%s) - start )) s; report: $PWD/results/paper/report.html"
