#!/bin/bash
# e2e.sh — the real workload end to end, lethe against a PyTorch twin in one
# run (issue 19, part a): one epoch of a pipeline stage of the paper config
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
# usage: tests/bench/e2e.sh [--build DIR] [--isa native|avx2] [--compute auto|f32|bf16]
#                           [--stage finetune|base] [--threads N] [--rounds N]
#                           [--config FILE] [--out FILE]
#   --isa avx2   what an AVX2-only CPU (Zen 2) runs: lethe's kernels and GEMM
#                (LETHE_ISA=avx2), oneDNN (ONEDNN_MAX_CPU_ISA=AVX2), and PyTorch's
#                BLAS and ATen kernels (OPENBLAS_CORETYPE=Haswell,
#                ATEN_CPU_CAPABILITY=avx2) all capped
#   --compute    lethe's compute (default f32; auto = the config's: bf16 where the CPU
#                has AVX512_BF16). PyTorch runs float32.
#   --threads    threads for both sides (default: all cores); PyTorch picks 1 or N
#                intra-op threads, whichever is faster, its BLAS gets N
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
isa=native
compute=f32
stage=finetune
threads=$(getconf _NPROCESSORS_ONLN)
rounds=3
config=$root/configs/experiments/paper.cfg
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --isa) isa=$2; shift 2 ;;
    --compute) compute=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//; /^set -e/d' >&2; exit 2 ;;
  esac
done
python=/usr/bin/python3
bench=$build/tests/bench/bench_stage
peak=$build/tests/bench/bench_llama
for exe in "$bench" "$peak"; do
  [ -x "$exe" ] || { echo "e2e.sh: $exe not found; build it first" >&2; exit 1; }
done
"$python" -c "import torch" 2>/dev/null || { echo "e2e.sh: $python cannot import torch (apt-get install python3-torch)" >&2; exit 1; }
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
record() { "$@" | tee -a "$out" | cut -c1-200 >&2; }

set_compute=()
[ "$compute" = auto ] || set_compute=(-s "compute=\"$compute\"")
echo "e2e: peak, $threads threads, isa $isa" >&2
"$peak" peak --reps 3 2>/dev/null | tee -a "$out" | cut -c1-160 >&2
for r in $(seq "$rounds"); do
  echo "e2e: round $r/$rounds: lethe (stage $stage, compute $compute)" >&2
  record "$bench" --config "$config" --stage "$stage" --out "$work" "${set_compute[@]}"
  echo "e2e: round $r/$rounds: PyTorch twin" >&2
  record "$python" "$here/torch_llama.py" "$work/twin" --mode stage --threads auto
done

"$python" - "$out" "$isa" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peaks = {r["compute"]: r for r in rows if r.get("mode") == "peak" and r.get("supported")}
le = [r for r in rows if r.get("impl") == "lethe" and r.get("mode") == "stage"]
pt = [r for r in rows if r.get("impl") == "torch" and r.get("mode") == "stage"]
if not le or not pt:
    sys.exit("e2e: missing results")
ls, ps = statistics.median(r["seconds"] for r in le), statistics.median(r["seconds"] for r in pt)
a = le[0]
peak = peaks.get(a["compute"], {}).get("gflops")
gf = a["flops"] / ls / 1e9
print("| stage | isa | lethe compute | steps | lethe s | PyTorch s (f32, %s thr) | ratio | "
      "lethe tok/s padded (real) | PyTorch tok/s padded | lethe GFLOP/s | %% of %s peak | "
      "real tokens | NLL after (lethe / PyTorch) |" % (pt[0]["threads"], a["compute"]))
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
print("| %s | %s | %s | %d | %.2f | %.2f | **%.2fx** | %.0f (%.0f) | %.0f | %.0f | %s | %.0f %% | %.5f / %.5f |" % (
    a["stage"], sys.argv[2], a["compute"], a["steps"], ls, ps, ps / ls,
    a["tokens_padded"] / ls, a["tokens_real"] / ls, a["tokens_padded"] / ps, gf,
    "%.0f %%" % (100 * gf / peak) if peak else "n/a", 100 * a["tokens_real"] / a["tokens_padded"],
    statistics.median(r["nll_step0_after"] for r in le), statistics.median(r["nll_step0_after"] for r in pt)))
print("lethe seconds:", [round(r["seconds"], 3) for r in le], " PyTorch seconds:",
      [round(r["seconds"], 3) for r in pt])
EOF
