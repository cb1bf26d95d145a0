#!/bin/bash
# run.sh — lethe against a plain PyTorch Llama on this machine, in one run.
#
# For every size it saves lethe's random init and batch, runs the same
# training steps in both (the losses must agree: same weights, same batch,
# same AdamW), alternating lethe and PyTorch round by round so machine noise
# hits both alike; then scoring, KV-cache generation at several prompt
# lengths, one NPO step against one GA step, and the oneDNN matmul rate on
# the model's own shapes (the roofline). Once per run, first, it measures the
# CPU's fp32 peak at the widest ISA it has (LETHE_ISA caps it) and, where it
# has AVX512_BF16, its bf16 dot-product peak, on the run's threads (bench_llama
# peak): the ceiling the GFLOP/s columns are read against; LETHE_ISA also
# caps oneDNN (see below). The bf16 rows run only where oneDNN has a bf16
# matmul on this CPU (not below AVX-512, e.g. Zen 2). Every result is one JSON
# line in the results file; report.py turns them into the tables of
# docs/performance.md.
#
# usage: tests/bench/run.sh [--build DIR] [--threads N] [--rounds N] [--reps N]
#                           [--quick] [--only PARTS] [--size "H L T B"]... [--out FILE]
#   --build    build directory with tests/bench/bench_llama (default: build-perf, else build)
#   --threads  threads for both sides (default: all cores)
#   --rounds   alternating lethe/PyTorch rounds per measurement (default 3)
#   --reps     timed steps per round after one warm-up step (default 3)
#   --quick    two training sizes, one round (a few minutes)
#   --only     comma list of parts to run: train,score,generate,method (default all;
#              the peak is measured in every run, so --only peak measures just that)
#   --size     "HIDDEN LAYERS SEQ BATCH" training size to run (repeatable; default: the
#              five sizes of docs/performance.md)
#   --out      results file (default: BUILD/bench-results.jsonl)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=""
threads=$(getconf _NPROCESSORS_ONLN)
rounds=3
reps=3
quick=0
out=""
only=train,score,generate,method
sizes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --quick) quick=1; rounds=1; shift ;;
    --only) only=$2; shift 2 ;;
    --size) sizes+=("$2"); shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d' >&2; exit 2 ;;
  esac
done
if [ -z "$build" ]; then
  build=$root/build-perf
  [ -x "$build/tests/bench/bench_llama" ] || build=$root/build
fi
bench=$build/tests/bench/bench_llama
method=$build/tests/bench/bench_method
python=/usr/bin/python3
[ -x "$bench" ] || { echo "run.sh: $bench not found; build it first (cmake --build $build --target bench_llama)" >&2; exit 1; }
"$python" -c "import torch" 2>/dev/null || { echo "run.sh: $python cannot import torch (apt-get install python3-torch)" >&2; exit 1; }
. "$here/torch_blas.sh"
require_real_blas "$python" "$threads" run.sh
out=${out:-$build/bench-results.jsonl}
: > "$out"

# Both sides get the same cores. PyTorch runs one intra-op thread (its best
# setting here: its BLAS already uses every core); OpenBLAS gets all threads
# and its own CPU detection (a forced OPENBLAS_CORETYPE=Haswell halves it).
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
unset OPENBLAS_CORETYPE || true
torch_threads=${TORCH_THREADS:-1}

# LETHE_ISA (baseline, avx2, avx512) caps the peak and, unless
# ONEDNN_MAX_CPU_ISA is set, oneDNN's matmuls too, so a capped run on an
# AVX-512 machine measures what a smaller CPU would (lethe's element-wise
# kernels, picked by the loader, and PyTorch's BLAS keep the CPU's ISA).
case "${LETHE_ISA:-}" in
  "" | avx512) ;;
  avx2) export ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-AVX2} ;;
  baseline) export ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-SSE41} ;;
  *) echo "run.sh: LETHE_ISA=$LETHE_ISA: expected one of baseline, avx2, avx512" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Waits (up to ~20 s) until the CPUs are mostly idle, so a measurement does
# not start inside another program's burst.
wait_quiet() {
  local i a b busy
  for i in $(seq 1 10); do
    read -r _ a1 a2 a3 a4 a5 a6 a7 _ < /proc/stat
    sleep 1
    read -r _ b1 b2 b3 b4 b5 b6 b7 _ < /proc/stat
    a=$((a1 + a2 + a3 + a4 + a5 + a6 + a7)); b=$((b1 + b2 + b3 + b4 + b5 + b6 + b7))
    busy=$(( (b - a - (b4 - a4)) * 100 / (b - a > 0 ? b - a : 1) ))
    [ "$busy" -lt 15 ] && return 0
    sleep 1
  done
  echo "run.sh: the CPUs stayed busy (${busy}%); measuring anyway" >&2
}

# Runs a benchmark command and appends its JSON lines to the results, each
# with "other_load": the CPU time other programs used during the command, as
# a fraction of all cores (0 = the machine was ours alone).
record() {
  wait_quiet
  local a b t real user sys busy other
  read -r _ a1 a2 a3 a4 a5 a6 a7 _ < /proc/stat
  { TIMEFORMAT='%R %U %S'; time "$@" > "$tmp/lines" 2>> "$tmp/stderr"; } 2> "$tmp/time"
  read -r _ b1 b2 b3 b4 b5 b6 b7 _ < /proc/stat
  read -r real user sys < "$tmp/time"
  busy=$(( (b1 + b2 + b3 + b5 + b6 + b7) - (a1 + a2 + a3 + a5 + a6 + a7) ))
  other=$("$python" -c "import os; print(max(0.0, round(($busy / os.sysconf('SC_CLK_TCK') - $user - $sys) / ($real * os.cpu_count()), 3)))")
  sed "s/}\$/, \"other_load\": $other}/" "$tmp/lines" >> "$out"
}

# record with --bf16 appended, where the bf16 rows run.
record_bf16() {
  [ "$bf16" = 1 ] || return 0
  record "$@" --bf16
}

# Whether a tiny bf16 matmul runs (oneDNN 2.6 has none below AVX-512 and
# aborts); quietly, without a core file.
bf16_matmul() {
  (ulimit -c 0; "$bench" matmul --hidden 64 --layers 1 --seq 8 --batch 1 --reps 1 --bf16 || exit 1) \
    > /dev/null 2>&1
}

say() { echo "[$(date +%H:%M:%S)] $*" >&2; }
part() { [[ ",$only," == *",$1,"* ]]; }

if [ ${#sizes[@]} -gt 0 ]; then
  :
elif [ $quick = 1 ]; then
  sizes=("256 4 128 8" "512 8 256 8")
else
  sizes=("256 4 128 8" "256 4 512 4" "512 8 256 8" "768 6 128 16" "768 12 512 4")
fi

say "CPU peak: fp32, and bf16 where the CPU has it, $threads threads"
record "$bench" peak
if bf16_matmul; then
  bf16=1
else
  bf16=0
  say "oneDNN has no bf16 matmul on this CPU: the bf16 rows are skipped"
fi

for size in "${sizes[@]}"; do
  part train || break
  read -r C L T B <<< "$size"
  dir=$tmp/train-$C-$L-$T-$B
  args=(--hidden "$C" --layers "$L" --seq "$T" --batch "$B")
  say "training step: hidden $C, layers $L, seq $T, batch $B"
  for r in $(seq 1 "$rounds"); do
    save=(); [ "$r" = 1 ] && save=(--save "$dir")
    record "$bench" train "${args[@]}" --reps "$reps" "${save[@]}"
    record "$python" "$here/torch_llama.py" "$dir" --mode train --reps "$reps" --threads "$torch_threads"
    record_bf16 "$bench" train "${args[@]}" --reps "$reps"
  done
  record "$bench" matmul "${args[@]}" --reps 5
  record_bf16 "$bench" matmul "${args[@]}" --reps 5
  record "$python" "$here/torch_llama.py" "$dir" --mode matmul --reps 5 --threads "$torch_threads"
done

part score && say "scoring"
for size in "256 4 128 8" "512 8 256 8"; do
  part score || break
  read -r C L T B <<< "$size"
  dir=$tmp/score-$C-$L-$T-$B
  args=(--hidden "$C" --layers "$L" --seq "$T" --batch "$B")
  for r in $(seq 1 "$rounds"); do
    save=(); [ "$r" = 1 ] && save=(--save "$dir")
    record "$bench" score "${args[@]}" --reps "$((reps + 2))" "${save[@]}"
    record "$python" "$here/torch_llama.py" "$dir" --mode score --reps "$((reps + 2))" --threads "$torch_threads"
    record_bf16 "$bench" score "${args[@]}" --reps "$((reps + 2))"
  done
done

part generate && say "greedy generation with the KV cache"
prompts="16 64 256 512"
dir=$tmp/generate
gargs=(--hidden 512 --layers 8 --seq 512 --batch 8)
part generate && "$bench" score "${gargs[@]}" --reps 1 --save "$dir" > /dev/null
for r in $(seq 1 "$rounds"); do
  part generate || break
  record "$bench" generate "${gargs[@]}" --prompt "${prompts// /,}" --new 32 --reps "$reps"
  record_bf16 "$bench" generate "${gargs[@]}" --prompt "${prompts// /,}" --new 32 --reps "$reps"
  for p in $prompts; do
    record "$python" "$here/torch_llama.py" "$dir" --mode generate --prompt "$p" --new 32 --reps "$reps" --threads "$torch_threads"
  done
done

if ! part method; then
  :
elif [ -x "$method" ]; then
  say "NPO step vs GA step"
  for size in "256 4 128 8" "512 8 256 8"; do
    read -r C L T B <<< "$size"
    record "$method" --hidden "$C" --layers "$L" --seq "$T" --batch "$B" --reps "$((reps * rounds + 2))"
  done
else
  say "no $method (the method host is not built): NPO vs GA skipped"
fi

say "results: $out"
"$python" "$here/report.py" "$out"
