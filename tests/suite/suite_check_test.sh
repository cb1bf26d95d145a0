#!/usr/bin/env bash
# A suite checks every run before it starts any (suite_check.c), for every
# kind: a run naming method "npx" stops `lethe suite run` at once, naming the
# run and the method, with no stage built and no output written; the same for
# a synthetic suite and for a -s override. `lethe suite validate` checks a
# synthetic suite's settings for real; a MUSE suite refuses a method that
# needs idk rows and a muse.dir that is not a corpus. A marker the suite cannot write
# (RUNNING, FAILED) stops the suite with an error naming it, after the
# started runs finish. Suite files with an unknown kind or run names too long
# for a directory are refused.
# usage: suite_check_test.sh LETHE_BINARY
set -euo pipefail
lethe=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/lethe_suite_check_XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/tiny.sh"
limit_ms=$((1000 * ${CK_TIMEOUT_MULTIPLIER:-1})) # sanitizers: 10x
fail() { echo "FAIL: $*"; exit 1; }

# expect_refusal NAME EXPECTED... -- COMMAND...: fails fast, message has each EXPECTED
expect_refusal() {
  local name=$1; shift
  local want=()
  while [ "$1" != "--" ]; do want+=("$1"); shift; done
  shift
  local t0 t1 msg
  t0=$(date +%s%N)
  if msg=$("$@" 2>&1); then fail "$name: accepted"; fi
  t1=$(date +%s%N)
  local ms=$(( (t1 - t0) / 1000000 ))
  [ "$ms" -lt "$limit_ms" ] || fail "$name: refused after $ms ms (limit $limit_ms)"
  for w in "${want[@]}"; do
    echo "$msg" | grep -qF -- "$w" || fail "$name: expected '$w' in: $msg"
  done
  echo "$name: refused in $ms ms"
}

# ---- tofu: one bad run of four, nothing starts ------------------------------
write_tiny_suite "$work" 2 2 2 8
cat > "$work/npx.cfg" <<CFG
base = "base.cfg";
grid = { method = { name = ["ga", "npo", "npx"]; }; unlearn = { seed = [0, 1]; }; };
CFG
expect_refusal "tofu run with method npx" "npx.cfg:2: run name=npx,seed=0" "'npx'" -- \
  "$lethe" suite run "$work/npx.cfg" --out "$work/out_npx"
[ ! -e "$work/out_npx" ] || fail "the refused suite wrote $work/out_npx"
[ ! -e "$work/cache" ] || fail "the refused suite built stages in $work/cache"
expect_refusal "tofu -s method.name=npx" "-s method.name=npx" "'npx'" -- \
  "$lethe" suite run "$work/suite.cfg" --out "$work/out_s" -s method.name=npx
[ ! -e "$work/cache" ] || fail "the refused suite built stages in $work/cache"
"$lethe" suite validate "$work/suite.cfg" | grep -q "4 runs of kind tofu" || fail "tiny suite not valid"

# ---- synthetic: checked as `lethe synthetic` reads a run --------------------
synth_suite() { # FILE GRID_METHODS [SETTINGS, default pretrain_tol = 0.0;]
  cat > "$1" <<CFG
base = "$src/configs/experiments/synthetic.cfg";
set = { synthetic = { steps = 20; pretrain_steps = 200; cache = false;
                      n_eval_forget = 50; n_eval_retain = 50; ${3:-pretrain_tol = 0.0;} }; };
grid = { method = { name = [$2]; }; };
CFG
}
synth_suite "$work/synth_npx.cfg" '"ga", "npx"'
expect_refusal "synthetic validate with method npx" "synth_npx.cfg:4: run name=npx" "'npx'" -- \
  "$lethe" suite validate "$work/synth_npx.cfg"
expect_refusal "synthetic run with method npx" "run name=npx" "'npx'" -- \
  "$lethe" suite run "$work/synth_npx.cfg" --out "$work/out_synth_npx"
[ ! -e "$work/out_synth_npx" ] || fail "the refused synthetic suite wrote its output"
synth_suite "$work/synth_alpha.cfg" '"ga"' 'alpha = 1000.0;'
expect_refusal "synthetic alpha out of range" "run name=ga" "synthetic.alpha" -- \
  "$lethe" suite validate "$work/synth_alpha.cfg"
"$lethe" suite validate "$src/configs/suites/synthetic.cfg" | grep -q "90 runs of kind synthetic" ||
  fail "configs/suites/synthetic.cfg not valid"
# groups that choose a method and set its own parameters (npo_l2's l2, rmu's layer)
"$lethe" suite validate "$src/configs/suites/paper-extended.cfg" | grep -q "33 runs of kind tofu" ||
  fail "configs/suites/paper-extended.cfg not valid"

# ---- muse: the method must fit documents; muse.dir must be a corpus ----------
"$lethe" suite validate "$src/configs/suites/muse.cfg" | grep -q "7 runs of kind muse" ||
  fail "configs/suites/muse.cfg not valid"
cat > "$work/muse_idk.cfg" <<CFG
base = "$src/configs/experiments/muse.cfg";
grid = { method = { name = ["npo", "idk"]; }; };
CFG
expect_refusal "muse run with method idk" "run name=idk" "method idk" "documents, not questions" -- \
  "$lethe" suite run "$work/muse_idk.cfg" --out "$work/out_muse_idk"
[ ! -e "$work/out_muse_idk" ] || fail "the refused MUSE suite wrote its output"
expect_refusal "muse.dir missing" "muse.dir: $work/none is not a directory" -- \
  "$lethe" suite validate "$src/configs/suites/muse.cfg" -s "muse.dir=\"$work/none\""
mkdir -p "$work/empty_corpus/raw"
expect_refusal "muse.dir without files" "has no raw/forget.json" -- \
  "$lethe" suite validate "$src/configs/suites/muse.cfg" -s "muse.dir=\"$work/empty_corpus\""
expect_refusal "muse.dir not a string" "muse.dir must be a string" -- \
  "$lethe" suite validate "$src/configs/suites/muse.cfg" -s muse.dir=3

# ---- markers the suite cannot write -----------------------------------------
synth_suite "$work/synth.cfg" '"ga", "npo"'
mkdir -p "$work/out_running/runs/name=ga/RUNNING/blocked" # a directory: the marker cannot replace it
if msg=$("$lethe" suite run "$work/synth.cfg" --out "$work/out_running" -j 1 2>&1); then
  fail "a suite that cannot write a RUNNING marker succeeded"
fi
echo "$msg" | grep -q "run name=ga: cannot write its RUNNING marker" || fail "RUNNING error not named: $msg"
[ -e "$work/out_running/runs/name=ga/DONE" ] || fail "the started run did not finish"
[ ! -e "$work/out_running/runs/name=npo" ] || fail "a run started after the marker error"
synth_suite "$work/synth_fail.cfg" '"ga"' 'pretrain_tol = 1e-12;' # pre-training cannot reach it
mkdir -p "$work/out_failed/runs/name=ga/FAILED/blocked"
if msg=$("$lethe" suite run "$work/synth_fail.cfg" --out "$work/out_failed" 2>&1); then
  fail "a failing run succeeded"
fi
echo "$msg" | grep -q "run name=ga: cannot write its FAILED marker" || fail "FAILED error not named: $msg"
echo "markers: refused with the run and the marker named"

# ---- suite files refused when read ------------------------------------------
printf 'kind = "tofux";\n' > "$work/kindx.cfg"
printf 'base = "kindx.cfg";\n' > "$work/kind.cfg"
expect_refusal "unknown kind" 'unknown kind "tofux"' "known: tofu, synthetic, muse" -- \
  "$lethe" suite validate "$work/kind.cfg"
long=$(printf 'x%.0s' $(seq 1 300))
printf 'base = "base.cfg";\ngroups = ( { name = "%s"; set = { unlearn = { seed = 1; }; }; } );\n' "$long" \
  > "$work/long.cfg"
expect_refusal "run name too long" "is 300 bytes, more than a directory name holds (255)" -- \
  "$lethe" suite validate "$work/long.cfg"
echo "PASS"
