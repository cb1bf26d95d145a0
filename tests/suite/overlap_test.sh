#!/usr/bin/env bash
# A run starts as soon as its own stages are done, not after every run's
# (suite_exec.c), and a failed stage task stops only its own runs: the tiny
# suite over two forget splits with two slots. The forget10 runs need the
# target and retain90 models, ready while the forget05 split's stage task
# still trains: some status line must show a run and a stage task side by
# side. Then that stage task is killed: the forget10 runs end DONE, the forget05 runs never start, the suite says the
# stages failed and exits 1, and running it again finishes every run.
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
fail() {
  cat "$work/err"
  echo "FAIL: $1"
  exit 1
}
"$lethe" suite run "$work/suite.cfg" --out "$work/out" -j 2 > /dev/null 2> "$work/err" &
suite_pid=$!
side_by_side='^stages [0-9]/[0-9], runs [0-9]/4 \|.*(fine-tune on retain|evaluating|waiting).*\| unlearn |^stages [0-9]/[0-9], runs [0-9]/4 \| unlearn .*\| (fine-tune on retain|evaluating|waiting)'
killed=""
for _ in $(seq 3000); do # up to ~5 minutes (sanitizers)
  if grep -Eq "$side_by_side" "$work/err"; then
    for pid in $(cat /proc/"$suite_pid"/task/*/children 2> /dev/null); do # this suite's children
      line=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null) || continue
      case "$line" in
      *" train "*"--stages all"*forget05*) kill -9 "$pid" 2> /dev/null && killed=1 ;;
      esac
    done
  fi
  [ -z "$killed" ] && kill -0 "$suite_pid" 2> /dev/null || break
  sleep 0.1
done
status=0
wait "$suite_pid" || status=$?
grep -Eq "$side_by_side" "$work/err" || fail "no status line with a run beside a stage task"
[ -n "$killed" ] || fail "the forget05 stage task had ended before it could be killed"
[ "$status" -eq 1 ] || fail "exit $status after a stage task was killed"
grep -q 'preparing the shared stages failed' "$work/err" || fail "the failed stages were not reported"
done=$(find "$work/out/runs" -name DONE | grep -c forget10 || true)
started=$(find "$work/out/runs" -path '*forget05*' \( -name RUNNING -o -name DONE -o -name FAILED \) | wc -l)
[ "$done" -eq 2 ] && [ "$started" -eq 0 ] ||
  fail "$done forget10 runs DONE (want 2), $started forget05 runs started (want 0)"
"$lethe" suite run "$work/suite.cfg" --out "$work/out" -j 2 > /dev/null 2> "$work/err" ||
  fail "the suite run again failed"
done=$(find "$work/out/runs" -name DONE | wc -l)
[ "$done" -eq 4 ] || fail "$done of 4 runs DONE after running again"
grep -q '^stages 3/3 and runs 4/4 finished in ' "$work/err" || fail "no line for the end of the stages and runs"
echo "PASS: a run ran beside a stage task; a killed stage task stopped only its own runs"
