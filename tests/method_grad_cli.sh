#!/bin/sh
# method_grad_cli — `lethe grad` with needs resolved from the parameters
# (method ABI 1.2): rows a method does not take are refused, not ignored
# (grad_diff, npo_kl and kl at retain_coeff = 0 take none);
# with its coefficient set the same method takes them and gives the float64
# reference's loss; a hidden layer the model lacks is refused; RMU writes
# its gradients. And `lethe check-method`: exit status 1 on a wrong gradient
# (every check still reported), 0 on a stop-gradient method that declares its
# objective, 1 on the same without; parameters given with -s; combine()
# (ABI 1.3) checked: 0 on gru, 1 on one that writes a NaN.
# usage: method_grad_cli.sh LETHE DATA_DIR TEST_PLUGIN_DIR
set -eu
lethe=$1 d=$2/llama-tiny bad=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "method_grad_cli: $*" >&2; exit 1; }
grad() { "$lethe" grad --model "$d/model" --ref "$d/ref_model" --forget "$d/forget.jsonl" "$@"; }
refused() { # refused MESSAGE ARGS...: grad fails with MESSAGE in its error
  want=$1
  shift
  if msg=$(grad "$@" 2>&1); then fail "accepted: $*"; fi
  echo "$msg" | grep -qF "$want" || fail "$*: expected '$want' in: $msg"
}

refused "method undial takes no retain rows with these parameters (its coefficient is 0): drop --retain" \
  --method undial --retain "$d/retain.jsonl"
refused "method ga takes no idk rows: drop --idk" --method ga --idk "$d/idk.jsonl"
refused "method grad_diff takes no retain rows with these parameters (its coefficient is 0): drop --retain" \
  --method grad_diff --retain "$d/retain.jsonl" -s method.retain_coeff=0
refused "method npo_kl takes no retain rows with these parameters" \
  --method npo_kl --retain "$d/retain.jsonl" -s method.retain_coeff=0
grad --method kl -s method.retain_coeff=0 >/dev/null || fail "kl at retain_coeff = 0 needs retain rows"
refused "method grad_diff needs --retain" --method grad_diff
refused "method undial needs --retain" --method undial -s method.retain_coeff=0.5
refused "reads the hidden states after layer 2, but the model has 2 layers (0..1)" \
  --method rmu --retain "$d/retain.jsonl" -s method.layer=2

out=$(grad --method undial --retain "$d/retain.jsonl" -s method.beta=3 -s method.retain_coeff=0.5)
want=$(sed -n 's/.*"undial": \([0-9][0-9.e+-]*\).*/\1/p' "$d/summary_abi.json")
echo "$out" | awk -v want="$want" '{ gsub(/[^0-9.e+-]/, "", $2); d = $2 - want; if (d < 0) d = -d;
  if (d > 1e-4 || want == "") { print "loss " $2 " vs " want; exit 1 } }' || fail "undial loss differs from the reference"

grad --method rmu --retain "$d/retain.jsonl" -s method.layer=0 --out "$tmp/g.safetensors" >/dev/null ||
  fail "rmu grad failed"
[ -s "$tmp/g.safetensors" ] || fail "no gradients written"
check() { # check STATUS FILE ARGS...: check-method exits with STATUS
  want=$1 file=$2
  shift 2
  status=0
  "$lethe" check-method "$file" "$@" >"$tmp/check.txt" 2>&1 || status=$?
  [ "$status" = "$want" ] || { cat "$tmp/check.txt" >&2; fail "check-method $file: exit $status, want $want"; }
}
check 1 "$bad/lethe_bad_wrong_grad.so"
grep -q "^ok    determinism" "$tmp/check.txt" || fail "check-method stopped at the first failure"
grep -q "^1 of 3 checks failed" "$tmp/check.txt" || fail "check-method did not count: $(cat "$tmp/check.txt")"
check 0 "$bad/lethe_bad_stopgrad.so"
check 1 "$bad/lethe_bad_stopgrad_bare.so"
check 0 "$(dirname "$lethe")/../plugins/lethe_rmu.so" -s layer=0 -s method.alpha=0.5
check 0 "$(dirname "$lethe")/../plugins/lethe_gru.so" -s npo=true -s retain_coeff=0.5
grep -q "^ok    combine() finite and deterministic" "$tmp/check.txt" || fail "gru: combine() not checked"
check 1 "$bad/lethe_bad_combine_nan.so"
grep -q "^FAIL  combine().*combined gradient of .*\[1\] is nan" "$tmp/check.txt" ||
  fail "check-method passed a NaN from combine(): $(cat "$tmp/check.txt")"
check 1 "$bad/lethe_bad_stopgrad.so" -s nope=1
grep -q "has no parameter 'nope'" "$tmp/check.txt" || fail "check-method -s nope: $(cat "$tmp/check.txt")"
echo "method_grad_cli: ok"
