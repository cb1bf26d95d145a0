#!/bin/bash
# realsize.sh — one NPO+RT step at real model shapes, lethe against the
# PyTorch twin (torch_llama.py --mode unlearn), in one run.
#
# For each shape it writes the model's config.json, makes random weights with
# `lethe init` (stored in bfloat16, as the real checkpoints are: lethe then
# holds the frozen matrices in bfloat16 with nothing lost, memory.frozen_weights
# = "auto"; PyTorch loads them into float32; --dtype f32 for float32 weights), and runs, each in its own process one after the other (peak
# RSS is per process): bench_unlearn and torch_llama.py on the same weights
# and the same batch (8 rows × 128 tokens, 4 forget + 4 retain), for full
# fine-tuning, a 4-layer subset (layers 4–7) and LoRA r=16 (alpha 32) on all
# seven linear modules. Both print one JSON line: seconds per step, losses (the
# first step's must agree), tokens/s, the resident set after loading and the
# peak of the steps. report lines: the ratios lethe/PyTorch.
#
# usage: tests/bench/realsize.sh [--build DIR] [--shapes "smollm-135m llama-3.2-1b"]
#          [--settings "full subset lora"] [--reps N] [--out FILE] [--work DIR]
#          [--lethe-args "..."] [--torch-args "..."] [--dtype bf16|f32]
#   --lethe-args  extra bench_unlearn options for every lethe run (e.g. "--compute bf16")
#   --torch-args  extra torch_llama.py options (e.g. "--checkpoint")
# A side that fails (e.g. runs out of memory) is recorded as failed with its
# exit status and peak, and the run goes on.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build"
shapes="smollm-135m llama-3.2-1b"
settings="full subset lora"
reps=2
out=""
work=""
lethe_args=""
torch_args=""
dtype=bf16
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --settings) settings=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --lethe-args) lethe_args=$2; shift 2 ;;
    --torch-args) torch_args=$2; shift 2 ;;
    --dtype) dtype=$2; shift 2 ;;
    *) echo "realsize.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
build=$(cd "$build" && pwd)
lethe="$build/framework/lethe"
bench="$build/tests/bench/bench_unlearn"
python=/usr/bin/python3
for f in "$lethe" "$bench"; do
  [ -x "$f" ] || { echo "realsize.sh: $f is not built" >&2; exit 2; }
done
[ -n "$out" ] || out="$build/realsize-results.jsonl"
[ -n "$work" ] || work=$(mktemp -d /tmp/lethe-realsize.XXXXXX)
mkdir -p "$work"
threads=$(getconf _NPROCESSORS_ONLN)
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
export LETHE_PLUGIN_PATH="$build/plugins"
torch_threads=${TORCH_THREADS:-$threads}
subset='model\.layers\.[4-7]\..*'

. "$here/torch_blas.sh"
require_real_blas "$python" "$threads" realsize.sh

# The shapes' config.json: Llama-3.2-1B's and SmolLM-135M's published configs
# (hidden, layers, heads, KV heads, intermediate, vocabulary, tied, rope).
config() {
  case "$1" in
    llama-3.2-1b) cat <<'EOF'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
 "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
 "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
 "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
 "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                  "original_max_position_embeddings": 8192, "rope_type": "llama3"},
 "tie_word_embeddings": true, "bos_token_id": 128000, "eos_token_id": 128001,
 "initializer_range": 0.02, "hidden_act": "silu", "torch_dtype": "bfloat16"}
EOF
    ;;
    smollm-135m) cat <<'EOF'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
 "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
 "num_key_value_heads": 3, "vocab_size": 49152, "max_position_embeddings": 2048,
 "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": true,
 "bos_token_id": 0, "eos_token_id": 0, "initializer_range": 0.02, "hidden_act": "silu",
 "torch_dtype": "bfloat16"}
EOF
    ;;
    *) echo "realsize.sh: unknown shape $1" >&2; exit 2 ;;
  esac
}

# Runs one side, appending its JSON line (or a failure line) to $out.
record() {
  local side=$1 shape=$2 setting=$3
  shift 3
  local log="$work/$side-$shape-$setting.log"
  /usr/bin/time -f '%M' -o "$work/time.txt" "$@" >"$log.out" 2>"$log"
  local rc=$?
  local maxrss_kib
  maxrss_kib=$(tail -1 "$work/time.txt" 2>/dev/null || echo 0)
  if [ $rc -eq 0 ] && tail -1 "$log.out" | grep -q '^{'; then
    tail -1 "$log.out" | "$python" -c "import json,sys; d=json.loads(sys.stdin.read()); d.update(shape='$shape', process_peak_mib=$maxrss_kib/1024); print(json.dumps(d))" >>"$out"
  else
    echo "{\"impl\": \"$side\", \"shape\": \"$shape\", \"setting\": \"$setting\", \"failed\": $rc, \"process_peak_mib\": $((maxrss_kib / 1024)), \"stderr\": $(tail -3 "$log" | "$python" -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}" >>"$out"
  fi
  tail -1 "$out"
}

for shape in $shapes; do
  dir="$work/$shape"
  if [ -f "$dir/config.json" ] && ! grep -q "\"torch_dtype\": \"$( [ "$dtype" = bf16 ] && echo bfloat16 || echo float32)\"" "$dir/config.json"; then
    rm -rf "$dir" # weights of another dtype
  fi
  if [ ! -f "$dir/config.json" ]; then
    config "$shape" >"$work/$shape.json"
    "$lethe" init --config "$work/$shape.json" --out "$dir" --seed 1 --dtype "$dtype" >/dev/null || exit 1
  fi
  for setting in $settings; do
    case "$setting" in
      full) largs=(--setting full); targs=(--setting full) ;;
      subset) largs=(--setting subset --params "$subset"); targs=(--setting subset --params "$subset") ;;
      lora) largs=(--setting lora --lora-rank 16 --lora-alpha 32)
            targs=(--setting lora --lora-rank 16 --lora-alpha 32) ;;
      *) echo "realsize.sh: unknown setting $setting" >&2; exit 2 ;;
    esac
    # shellcheck disable=SC2086
    record lethe "$shape" "$setting" "$bench" --model "$dir" --reps "$reps" --write-batch \
      "${largs[@]}" $lethe_args
    # shellcheck disable=SC2086
    record torch "$shape" "$setting" "$python" "$here/torch_llama.py" "$dir" --mode unlearn \
      --reps "$reps" --threads "$torch_threads" "${targs[@]}" $torch_args
  done
done
"$python" "$here/realsize_report.py" "$out"
