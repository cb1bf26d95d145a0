#!/bin/sh
# method_out_of_tree — the SDK works outside the tree: install lethe to a
# temporary prefix, build contrib/example_method/example.c with nothing but
# `pkg-config --cflags --libs lethe`, then load it through the installed
# `lethe methods`, check it with the installed `lethe check-method`, and
# compare its gradients on a model with the installed PyTorch reference.
# usage: method_out_of_tree.sh BUILD_DIR SOURCE_DIR CC TEST_METHOD_PLUGINS
set -eu
build=$1 src=$2 cc=$3 checks=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "method_out_of_tree: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }
pc=$(find "$tmp/prefix" -name lethe.pc | head -n 1)
[ -n "$pc" ] || fail "no lethe.pc installed"
ls "$tmp"/prefix/lib*/lethe/plugins/lethe_npo.so >/dev/null 2>&1 ||
  ls "$tmp"/prefix/lib/*/lethe/plugins/lethe_npo.so >/dev/null 2>&1 ||
  fail "the method plugins were not installed under the prefix"

# --define-prefix: the .pc was configured for the default prefix; derive the
# real one from where the file now lives.
flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-prefix --cflags --libs lethe)
case "$flags" in *"$tmp/prefix"*) ;; *) fail "pkg-config flags do not point into the prefix: $flags" ;; esac

mkdir "$tmp/plugins"
# shellcheck disable=SC2086  # flags are meant to split
"$cc" -std=c11 -Wall -Wextra -Werror -O2 -fPIC -shared -fvisibility=hidden -Wl,--no-undefined \
  -o "$tmp/plugins/lethe_example.so" "$src/contrib/example_method/example.c" $flags ||
  fail "the example method does not build against the installed SDK"

if command -v nm >/dev/null 2>&1; then
  exported=$(nm -D --defined-only "$tmp/plugins/lethe_example.so" | awk '$2 == "T" { print $3 }')
  [ "$exported" = "lethe_method_entry" ] || fail "exports '$exported', expected only lethe_method_entry"
fi

lethe="$tmp/prefix/bin/lethe"
LETHE_PLUGIN_PATH="$tmp/plugins" "$lethe" methods >"$tmp/list.txt" || fail "lethe methods failed"
grep -q "^example  *0.1.0  *fading gradient ascent" "$tmp/list.txt" ||
  { cat "$tmp/list.txt" >&2; fail "lethe methods does not list the example"; }
LETHE_PLUGIN_PATH="$tmp/plugins" "$lethe" methods example >"$tmp/describe.txt" ||
  fail "lethe methods example failed"
grep -q "fade .*double .*0.5 .*\[0, 1\]" "$tmp/describe.txt" ||
  { cat "$tmp/describe.txt" >&2; fail "lethe methods example does not show its parameters"; }

# run it: finite-difference gradient check, determinism, zero-mask invariance,
# by the installed `lethe check-method` (any parameter values) and by the tests
"$lethe" check-method "$tmp/plugins/lethe_example.so" -s fade=0.2 -s retain_coeff=3 \
  >"$tmp/check.txt" || { cat "$tmp/check.txt" >&2; fail "lethe check-method failed the example"; }
grep -q "^0 of 3 checks failed" "$tmp/check.txt" ||
  { cat "$tmp/check.txt" >&2; fail "lethe check-method did not report its three checks"; }
LETHE_METHOD_EXTERNAL="$tmp/plugins/lethe_example.so" CK_RUN_CASE=external "$checks" ||
  fail "the example method failed the plugin checks"
# and on a model against the installed float64 PyTorch reference (lethe_torch.py,
# torch only), as docs/writing-a-method.md §7 shows: lethe grad at step 0 of 1,
# so w = 1 and L = −NLL_mean(forget) + 2·NLL_mean(retain)
ref=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-prefix --variable=torchreference lethe)
[ -f "$ref/lethe_torch.py" ] || fail "the PyTorch reference is not installed at $ref"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  d="$src/tests/data/llama-tiny"
  LETHE_PLUGIN_PATH="$tmp/plugins" "$lethe" grad --method example --model "$d/model" \
    --forget "$d/forget.jsonl" --retain "$d/retain.jsonl" -s method.retain_coeff=2 \
    --out "$tmp/grads.safetensors" >"$tmp/loss.json" || fail "lethe grad --method example failed"
  PYTHONPATH="$ref" /usr/bin/python3 - "$d" "$tmp/grads.safetensors" <<'PY' || fail "the example's gradients differ from the PyTorch reference"
import sys
import lethe_torch as lt
d, grads = sys.argv[1], sys.argv[2]
s, P = lt.load_model(d + "/model")
def nll_mean(path):
    ids, mask, labels = lt.read_rows(path)
    lp, counted = lt.token_logprobs(lt.forward(s, P, ids, mask), labels)
    return -lp.sum() / counted.sum()
loss = -nll_mean(d + "/forget.jsonl") + 2.0 * nll_mean(d + "/retain.jsonl")
loss.backward()
mine = lt.read_safetensors(grads)
worst = max(float((P[n].grad - mine[n].double()).abs().max()) for n in P)
print("example vs lethe_torch: largest gradient difference %.2e" % worst)
sys.exit(0 if worst < 1e-4 else 1)
PY
else
  echo "method_out_of_tree: no torch for /usr/bin/python3: reference comparison skipped"
fi
echo "method_out_of_tree: ok"
