#!/bin/sh
# method_grad_cli — `lethe grad` with needs resolved from the parameters
# (method ABI 1.2): rows a method does not take are refused, not ignored;
# with its coefficient set the same method takes them and gives the float64
# reference's loss; a hidden layer the model lacks is refused; RMU writes
# its gradients.
# usage: method_grad_cli.sh LETHE DATA_DIR
set -eu
lethe=$1 d=$2/llama-tiny
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
echo "method_grad_cli: ok"
