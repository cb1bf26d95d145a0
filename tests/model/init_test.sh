#!/usr/bin/env bash
# `lethe init` for every family of tests/data: writes a directory that loads
# back (lethe generate decodes from it), refuses a config it cannot honour
# naming the field, and needs --config and --out.
# usage: init_test.sh LETHE_BINARY TEST_DATA_DIR
set -euo pipefail
lethe=$1
data=$2
work=$(mktemp -d /tmp/lethe_init_XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $1"
  exit 1
}
for case in llama3-rope-bias llama-linear mistral-tiny qwen2-tiny qwen3-tiny phi-tiny; do
  "$lethe" init --config "$data/$case/model/config.json" --out "$work/$case" --seed 7 > /dev/null
  out=$("$lethe" generate --model "$work/$case" --ids "3 4 5" --max-new-tokens 4)
  [ "$(wc -w <<< "$out")" -eq 4 ] || fail "$case: generated '$out'"
  type=$(sed -n 's/.*"model_type": "\(.*\)".*/\1/p' "$data/$case/model/config.json")
  grep -q "\"model_type\": \"$type\"" "$work/$case/config.json" || fail "$case: model_type"
done
# a real-looking checkpoint: bf16, sharded, with a tokenizer; it loads and decodes
"$lethe" world --out "$work/world" -s world.authors=4 > /dev/null
"$lethe" init --config "$data/qwen2-tiny/model/config.json" --out "$work/sharded" --dtype bf16 \
  --max-shard-size 20000 --tokenizer "$work/world" > /dev/null
[ -f "$work/sharded/model.safetensors.index.json" ] || fail "no index for a sharded init"
[ ! -e "$work/sharded/model.safetensors" ] || fail "a sharded init also wrote model.safetensors"
n=$(ls "$work/sharded" | grep -c '^model-[0-9]\{5\}-of-[0-9]\{5\}.safetensors$')
[ "$n" -ge 2 ] || fail "expected >= 2 shards, found $n"
grep -q '"torch_dtype": "bfloat16"' "$work/sharded/config.json" || fail "torch_dtype of a bf16 init"
cmp -s "$work/world/tokenizer.json" "$work/sharded/tokenizer.json" || fail "--tokenizer copy"
out=$("$lethe" generate --model "$work/sharded" --ids "3 4 5" --max-new-tokens 4)
[ "$(wc -w <<< "$out")" -eq 4 ] || fail "sharded bf16: generated '$out'"
if "$lethe" init --config "$data/qwen2-tiny/model/config.json" --out "$work/x" --dtype f8 2> "$work/err"; then
  fail "--dtype f8 was accepted"
fi
grep -q "dtype must be f32, bf16 or f16" "$work/err" || fail "message: $(cat "$work/err")"
# an eos_token_id list (Llama-3.1+) comes back as the same list
sed 's/"eos_token_id": 2,/"eos_token_id": [2, 1, 0],/' "$data/qwen2-tiny/model/config.json" > "$work/eos.json"
grep -q '"eos_token_id": \[2, 1, 0\]' "$work/eos.json" || fail "the test's sed no longer matches"
"$lethe" init --config "$work/eos.json" --out "$work/eos" > /dev/null
grep -q '"eos_token_id": \[2, 1, 0\]' "$work/eos/config.json" || fail "eos list: $(grep eos "$work/eos/config.json")"
sed 's/"model_type": "qwen2"/"model_type": "gemma2"/' "$data/qwen2-tiny/model/config.json" \
  > "$work/bad.json"
if "$lethe" init --config "$work/bad.json" --out "$work/bad" 2> "$work/err"; then
  fail "an unknown model_type was accepted"
fi
grep -q 'model_type "gemma2" is not supported' "$work/err" || fail "message: $(cat "$work/err")"
[ ! -e "$work/bad" ] || fail "a refused config wrote a directory"
if "$lethe" init --out "$work/x" 2> /dev/null; then fail "init without --config"; fi
echo "ok"
