#!/usr/bin/env bash
# A run starts as soon as its own stages are done, not after every run's
# (suite_exec.c): the tiny suite over two forget splits with two slots. The
# forget10 runs need the target and retain90 models, which are ready while
# the forget05 split's retain model still trains, so some status line must
# show a run and a stage task side by side; and every run must end DONE.
# usage: overlap_test.sh LETHE_BINARY
set -euo pipefail
lethe=$1
work=$(mktemp -d /tmp/lethe_overlap_XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/tiny.sh"
write_tiny_suite "$work" 10 10 4 12
cat > "$work/suite.cfg" <<CFG
name = "overlap";
base = "base.cfg";
grid = { method = { name = ["ga", "npo"]; }; data = { forget_split = ["forget10", "forget05"]; }; };
CFG
"$lethe" suite run "$work/suite.cfg" --out "$work/out" -j 2 > /dev/null 2> "$work/err" ||
  { cat "$work/err"; echo "FAIL: the suite failed"; exit 1; }
done=$(find "$work/out/runs" -name DONE | wc -l)
[ "$done" -eq 4 ] || { cat "$work/err"; echo "FAIL: $done of 4 runs DONE"; exit 1; }
if ! grep -E '^stages [0-9]/[0-9], runs [0-9]/4 \|.*(fine-tune on retain|evaluating).*\| unlearn |^stages [0-9]/[0-9], runs [0-9]/4 \| unlearn .*\| (fine-tune on retain|evaluating)' "$work/err" > /dev/null; then
  cat "$work/err"
  echo "FAIL: no run started while a stage task was still running"
  exit 1
fi
grep -q '^stages 4/4 and runs 4/4 finished in ' "$work/err" ||
  { cat "$work/err"; echo "FAIL: no line for the end of the stages and runs"; exit 1; }
echo "PASS: a run ran beside a stage task"
