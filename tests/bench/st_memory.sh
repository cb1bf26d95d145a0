#!/usr/bin/env bash
# Peak memory of loading and saving a ~490 MB sharded bf16 checkpoint
# (hidden 1024, 14 layers, vocab 32000: 245M parameters, 982 MB as float32).
# usage: tests/bench/st_memory.sh [BUILD_DIR] [DTYPE]   (default build, BF16)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
dtype=${2:-BF16}
work=$(mktemp -d /tmp/lethe_st_memory_XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/config.json" <<JSON
{"model_type": "llama", "vocab_size": 32000, "hidden_size": 1024, "intermediate_size": 2816,
 "num_hidden_layers": 14, "num_attention_heads": 16, "num_key_value_heads": 16,
 "max_position_embeddings": 2048, "tie_word_embeddings": false}
JSON
/usr/bin/python3 "$here/st_memory.py" "$work/in" "$work/config.json" "$dtype" 200000000
du -sh "$work/in"
"$build/tests/bench/bench_st_memory" "$work/in" "$work/out"
for f in "$work/in"/model*; do cmp "$f" "$work/out/$(basename "$f")"; done
echo "saved files are byte-identical to the input"
