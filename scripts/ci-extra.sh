#!/usr/bin/env bash
# CI beyond scripts/test.sh (which also runs the crash test, suite_crash):
#   0. the whole ctest suite again as an AVX2-only CPU runs it (oneDNN capped
#      with ONEDNN_MAX_CPU_ISA=AVX2, lethe's kernels and GEMM with
#      LETHE_ISA=avx2: no bf16, lethe's own f32 GEMM), and the model tests
#      with lethe's baseline (x86-64) kernels — whatever this machine's CPU;
#   1. the whole ctest suite built with AddressSanitizer + UndefinedBehavior-
#      Sanitizer, leak detection on (build-asan/);
#   2. every libFuzzer harness of tests/fuzz for FUZZ_SECONDS each (default
#      30), built with clang (build-fuzz/); any crash, leak or report fails.
# Installs clang and its sanitizer runtimes first when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
need_packages clang libclang-rt-14-dev
jobs=$(nproc)
t0=$(date +%s)
echo "== AVX2 paths: ctest with ONEDNN_MAX_CPU_ISA=AVX2 LETHE_ISA=avx2 ($(build/framework/lethe --version | tail -1))"
(cd build && ONEDNN_MAX_CPU_ISA=AVX2 LETHE_ISA=avx2 ctest --output-on-failure -j2 \
  -E 'tokenizer_oracle|own_model') # the tokenizer has no ISA paths (its oracle ran in
# scripts/test.sh); own_model's model code is that of test_arch_golden and test_pipeline
echo "== baseline kernels: model tests with LETHE_ISA=baseline"
(cd build && ONEDNN_MAX_CPU_ISA=AVX2 LETHE_ISA=baseline ctest --output-on-failure -j2 \
  -R 'test_tensor|test_llama|test_gradcheck|test_objective_golden|test_trainer')
ta=$(date +%s)
echo "== sanitizers: ASan + UBSan build and ctest"
cmake -S . -B build-asan -DLETHE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-asan -j"$jobs" >/dev/null
# the tokenizer's 100k-line oracle and the own-model run are the two longest
# tests and add nothing here the tokenizer's unit, CLI and prompt-mask tests
# (real tokenizers), test_pipeline and the fuzzers do not already cover
(cd build-asan && ctest --output-on-failure -j2 -E 'tokenizer_oracle|own_model')
t1=$(date +%s)
echo "== fuzzing: ${FUZZ_SECONDS:-30} s per harness, one per core"
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DLETHE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  >/dev/null
cmake --build build-fuzz --target fuzzers -j"$jobs" >/dev/null
FUZZ_SECONDS=${FUZZ_SECONDS:-30} tests/fuzz/run_all.sh build-fuzz
t2=$(date +%s)
echo "ci-extra: AVX2 and baseline paths $((ta - t0)) s, sanitizers $((t1 - ta)) s, fuzzing $((t2 - t1)) s"
