#!/usr/bin/env bash
# CI beyond scripts/test.sh (which also runs the crash test, suite_crash):
#   1. the whole ctest suite built with AddressSanitizer + UndefinedBehavior-
#      Sanitizer, leak detection on (build-asan/);
#   2. every libFuzzer harness of tests/fuzz for FUZZ_SECONDS each (default
#      45), built with clang (build-fuzz/); any crash, leak or report fails.
# Installs clang and its sanitizer runtimes first when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need_packages clang libclang-rt-14-dev
jobs=$(nproc)
t0=$(date +%s)
echo "== sanitizers: ASan + UBSan build and ctest"
cmake -S . -B build-asan -DLETHE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
(cd build-asan && ctest --output-on-failure -j2)
t1=$(date +%s)
echo "== fuzzing: ${FUZZ_SECONDS:-45} s per harness"
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DLETHE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  >/dev/null
cmake --build build-fuzz --target fuzzers -j"$jobs" >/dev/null
FUZZ_SECONDS=${FUZZ_SECONDS:-45} tests/fuzz/run_all.sh build-fuzz
t2=$(date +%s)
echo "ci-extra: sanitizers $((t1 - t0)) s, fuzzing $((t2 - t1)) s"
