#!/usr/bin/env bash
# A run starts as soon as its own stages are done, not after every run's
# (suite_exec.c): the tiny suite over two forget splits with two slots. The
# forget10 runs need the target and retain90 models, which are ready while
# the forget05 split's retain model still trains, so some status line must
# show a run and a stage task side by side; and every run must end DONE.
# Then the same suite with the forget05 split's stage task killed: the
# forget10 runs still end DONE, the forget05 runs never start, the suite
# says the stages failed and exits 1, and running it again finishes them.
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

# the stage task of forget05 (`lethe train ... --stages all ... forget05`) killed
mkdir "$work/k"
write_tiny_suite "$work/k" 10 30 4 12
cp "$work/suite.cfg" "$work/k/suite.cfg"
"$lethe" suite run "$work/k/suite.cfg" --out "$work/k/out" -j 2 > /dev/null 2> "$work/k/err" &
suite_pid=$!
killed=""
for _ in $(seq 600); do
  for c in /proc/[0-9]*/cmdline; do # this suite's children only (ctest runs others)
    pid=${c#/proc/}
    pid=${pid%/cmdline}
    grep -qx "PPid:[[:space:]]*$suite_pid" "/proc/$pid/status" 2> /dev/null || continue
    line=$(tr '\0' ' ' < "$c" 2> /dev/null) || continue
    case "$line" in
    *" train "*"--stages all"*forget05*) kill -9 "$pid" 2> /dev/null && killed=1 ;;
    esac
  done
  [ -z "$killed" ] || break
  sleep 0.1
done
status=0
wait "$suite_pid" || status=$?
[ -n "$killed" ] || { cat "$work/k/err"; echo "FAIL: never saw the forget05 stage task"; exit 1; }
[ "$status" -eq 1 ] || { cat "$work/k/err"; echo "FAIL: exit $status after a stage task was killed"; exit 1; }
grep -q 'preparing the shared stages failed' "$work/k/err" ||
  { cat "$work/k/err"; echo "FAIL: the failed stages were not reported"; exit 1; }
done=$(find "$work/k/out/runs" -name DONE | grep -c forget10 || true)
started=$(find "$work/k/out/runs" -maxdepth 1 -name '*forget05' -exec test -e {}/RUNNING -o -e {}/DONE -o -e {}/FAILED \; -print | wc -l)
[ "$done" -eq 2 ] && [ "$started" -eq 0 ] ||
  { cat "$work/k/err"; echo "FAIL: $done forget10 runs DONE (want 2), $started forget05 runs started (want 0)"; exit 1; }
"$lethe" suite run "$work/k/suite.cfg" --out "$work/k/out" -j 2 --quiet > /dev/null 2>&1 ||
  { echo "FAIL: the suite run again failed"; exit 1; }
done=$(find "$work/k/out/runs" -name DONE | wc -l)
[ "$done" -eq 4 ] || { echo "FAIL: $done of 4 runs DONE after running again"; exit 1; }
echo "PASS: a run ran beside a stage task; a killed stage task stopped only its own runs"
