#!/bin/bash
# e2e.sh — the real workload end to end, lethe against a PyTorch twin in one
# run (issue 19). Part a (--part stage, the default): one epoch of a pipeline stage of the paper config
# (the target's fine-tuning on `full` with replay, or the base model on the
# pre-training text), through the stage's own loop (bench_stage), and the same
# epoch in plain PyTorch (torch_llama.py --mode stage) on exactly the rows,
# order and padding lethe trained on, with the same AdamW schedule. Rounds
# alternate lethe and PyTorch so machine noise hits both alike. First, once,
# the CPU's fp32 (and bf16) peak at the run's ISA (bench_llama peak).
#
# Prints a table: median seconds per side, the ratio, padded and real tokens
# per second, lethe's GFLOP/s (model FLOPs of the padded batches, full T×T
# attention, ×3 for backward) and its share of the measured peak for its
# compute, the padding share, and both sides' mean NLL of step 0's batch after
# the epoch (they must agree to ~1e-3: same start, same rows, AdamW in float32
# on both sides, different summation orders).
#
# Part b (--part unlearn): one unlearning epoch of NPO+RT and one evaluation
# of the four sets, through the run's own code (bench_unlearn_epoch: the
# method's forget/retain batches, cached reference log-probs, the trainer;
# evaluate_model's shared-prompt scoring, greedy generation, forget KL and
# teacher-forced pass), and the same work in plain PyTorch
# (torch_llama.py --mode unlearn_epoch: the same micro-batches and schedule,
# each evaluated sequence scored on its own, greedy generation per batch of
# questions on a KV cache). The table: per part (the epoch's steps, the
# evaluation) median seconds, the ratio and tokens/s (padded training tokens;
# the evaluation's scored-sequence tokens), the twin's split of its
# evaluation, the last step's loss, the mean forget truth ratio on both sides
# (they must agree closely) and how many greedy answers are equal.
#
# Part c (--part suite): the whole suite (--suite, default the paper suite)
# run by `lethe suite run -j JOBS` from an empty cache, its wall time next to
# the sum of the twin's per-part times. The suite's own records count its
# parts: each trained stage's train.json (steps of the base model and of the
# fine-tuning stages), the stages' evaluations (eval-SPLIT-* in the cache),
# each run's summary.json (unlearning steps) and history.jsonl (evaluations).
# Each kind of part is then timed on both sides, --rounds times (medians), on
# the suite's own world: one epoch of the base and of the fine-tuning stage
# (as part a), and per forget split one NPO+RT epoch and one evaluation of the
# suite's target model (as part b, --model). Twin sum = Σ count × the twin's
# seconds per part; lethe's bench seconds per part give the same sum for
# lethe, next to its suite's wall time (which also pays process starts,
# loading, the world and the pool's idle slots). Approximations, printed
# with the table: every method's unlearning step is timed as NPO+RT's, and
# every evaluation as that of the target model (a run's later models answer
# at other lengths).
#
# usage: tests/bench/e2e.sh [--build DIR] [--part stage|unlearn|suite] [--isa native|avx2]
#                           [--compute auto|f32|bf16] [--stage finetune|base]
#                           [--threads N] [--rounds N] [--config FILE] [--out FILE]
#                           [--suite FILE] [--jobs N]
#                           [-s key=value]...   (part b: overrides for bench_unlearn_epoch)
#   --isa avx2   what an AVX2-only CPU (Zen 2) runs: lethe's kernels and GEMM
#                (LETHE_ISA=avx2), oneDNN (ONEDNN_MAX_CPU_ISA=AVX2), and PyTorch's
#                BLAS and ATen kernels (OPENBLAS_CORETYPE=Haswell,
#                ATEN_CPU_CAPABILITY=avx2) all capped
#   --compute    lethe's compute (default f32; auto = the config's: bf16 where the CPU
#                has AVX512_BF16). PyTorch runs float32.
#   --suite      part c's suite (default configs/suites/paper.cfg); --config must be its
#                base experiment (default configs/experiments/paper.cfg)
#   --jobs       part c: runs at a time (lethe suite run -j; default: the threads, so
#                one thread each)
#   --threads    threads for both sides (default: all cores): OpenBLAS gets N, PyTorch
#                one intra-op thread (its best setting here, as in run.sh; TORCH_THREADS
#                overrides). An automatic pick (torch_llama.py --threads auto) was tried
#                and dropped: two quick steps chose 2 intra-op threads in some rounds,
#                oversubscribing the cores and making PyTorch 2.5x slower than its best.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
isa=native
compute=f32
stage=finetune
part=stage
overrides=()
threads=$(getconf _NPROCESSORS_ONLN)
rounds=3
config=$root/configs/experiments/paper.cfg
suite=$root/configs/suites/paper.cfg
jobs=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --isa) isa=$2; shift 2 ;;
    --compute) compute=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --part) part=$2; shift 2 ;;
    -s) overrides+=(-s "$2"); shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --suite) suite=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    *) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d' >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3
stage_bench=$build/tests/bench/bench_stage
unlearn_bench=$build/tests/bench/bench_unlearn_epoch
peak=$build/tests/bench/bench_llama
lethe=$build/framework/lethe
case "$part" in
  stage) needed=("$stage_bench" "$peak") ;;
  unlearn) needed=("$unlearn_bench" "$peak") ;;
  suite) needed=("$stage_bench" "$unlearn_bench" "$peak" "$lethe") ;;
  *) echo "e2e.sh: --part stage, unlearn or suite" >&2; exit 2 ;;
esac
for exe in "${needed[@]}"; do
  [ -x "$exe" ] || { echo "e2e.sh: $exe not found; build it first" >&2; exit 1; }
done
"$python" -c "import torch" 2>/dev/null || { echo "e2e.sh: $python cannot import torch (apt-get install python3-torch)" >&2; exit 1; }
. "$here/torch_blas.sh"
require_real_blas "$python" "$threads" e2e.sh
case "$compute" in auto | f32 | bf16) ;; *) echo "e2e.sh: --compute auto, f32 or bf16" >&2; exit 2 ;; esac
case "$stage" in finetune | base) ;; *) echo "e2e.sh: --stage finetune or base" >&2; exit 2 ;; esac

export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
unset OPENBLAS_CORETYPE ATEN_CPU_CAPABILITY LETHE_ISA ONEDNN_MAX_CPU_ISA || true
case "$isa" in
  native) ;;
  avx2) export LETHE_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 ;;
  *) echo "e2e.sh: --isa native or avx2" >&2; exit 2 ;;
esac

work=$(mktemp -d /tmp/lethe-e2e.XXXXXX)
trap 'rm -rf "$work"' EXIT
out=${out:-$build/e2e-results.jsonl}
: > "$out"
# record CMD...: CMD's JSON lines into the results, shortened on stderr;
# record_part PART CMD...: the same, each line tagged "part": PART (part c)
show() { tee -a "$out" | cut -c1-200 >&2; }
record() { "$@" | show; }
record_part() { local p=$1; shift; "$@" | sed "s/^{/{\"part\": \"$p\", /" | show; }

set_compute=()
[ "$compute" = auto ] || set_compute=(-s "compute=\"$compute\"")
echo "e2e: peak, $threads threads, isa $isa" >&2
"$peak" peak --reps 3 2>/dev/null | tee -a "$out" | cut -c1-160 >&2
if [ "$part" = suite ]; then
  [ -f "$suite" ] || { echo "e2e.sh: no suite file $suite" >&2; exit 2; }
  jobs=${jobs:-$threads}
  # the suite's children get threads/jobs threads each (suite_pool); the
  # parts below run on all $threads
  export LETHE_CACHE_DIR=$work/cache
  echo "e2e: the suite $(basename "$suite"), $jobs at a time, compute $compute, empty cache" >&2
  t0=$(date +%s.%N)
  if ! "$lethe" suite run "$suite" --out "$work/suite" -j "$jobs" --threads "$threads" \
      "${set_compute[@]}" > "$work/suite.log" 2>&1; then
    tail -20 "$work/suite.log" >&2
    echo "e2e.sh: the suite failed (its log above)" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  "$python" -c 'import json, sys; print(json.dumps({"impl": "lethe", "mode": "suite", "suite": sys.argv[1],
    "jobs": int(sys.argv[2]), "threads": int(sys.argv[3]), "compute": sys.argv[4],
    "seconds": float(sys.argv[6]) - float(sys.argv[5])}))' \
    "$suite" "$jobs" "$threads" "$compute" "$t0" "$t1" | tee -a "$out" >&2
  # what the suite did (its count of each part), then the parts to time: "stage
  # base", "stage finetune", and "unlearn SPLIT TARGET_DIR" per forget split
  "$python" "$here/e2e_table.py" counts "$work" >> "$out"
  "$python" "$here/e2e_table.py" parts "$out" > "$work/parts.txt"
  for r in $(seq "$rounds"); do
    while read -r kind what target; do
      echo "e2e: round $r/$rounds: $kind $what, lethe then PyTorch" >&2
      if [ "$kind" = stage ]; then
        record_part "$what" "$stage_bench" --config "$config" --stage "$what" --out "$work" "${set_compute[@]}"
        record_part "$what" "$python" "$here/torch_llama.py" "$work/twin" --mode stage --threads "${TORCH_THREADS:-1}"
      else
        record_part "$what" "$unlearn_bench" --config "$config" --out "$work" --model "$target" \
          -s "data.forget_split=\"$what\"" "${set_compute[@]}" "${overrides[@]}"
        record_part "$what" "$python" "$here/torch_llama.py" "$work/twin" --mode unlearn_epoch --threads "${TORCH_THREADS:-1}"
      fi
    done < "$work/parts.txt"
  done
  "$python" "$here/e2e_table.py" suite "$out" "$isa"
  exit 0
fi
if [ "$part" = unlearn ]; then
  for r in $(seq "$rounds"); do
    echo "e2e: round $r/$rounds: lethe (unlearning epoch + evaluation, compute $compute)" >&2
    record "$unlearn_bench" --config "$config" --out "$work" "${set_compute[@]}" "${overrides[@]}"
    echo "e2e: round $r/$rounds: PyTorch twin" >&2
    record "$python" "$here/torch_llama.py" "$work/twin" --mode unlearn_epoch --threads "${TORCH_THREADS:-1}"
  done
  "$python" "$here/e2e_table.py" unlearn "$out" "$isa"
  exit 0
fi
for r in $(seq "$rounds"); do
  echo "e2e: round $r/$rounds: lethe (stage $stage, compute $compute)" >&2
  record "$stage_bench" --config "$config" --stage "$stage" --out "$work" "${set_compute[@]}"
  echo "e2e: round $r/$rounds: PyTorch twin" >&2
  record "$python" "$here/torch_llama.py" "$work/twin" --mode stage --threads "${TORCH_THREADS:-1}"
done
"$python" "$here/e2e_table.py" stage "$out" "$isa"
