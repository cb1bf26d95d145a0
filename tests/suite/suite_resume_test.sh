#!/usr/bin/env bash
# A tiny suite (2 methods x 1 split x 2 seeds) is killed (SIGKILL, whole
# process group) after its first finished run, resumed, and must end with
# every run done exactly once, no duplicated history lines, and a report whose
# CSV has each run once. Also: suite config errors name file:line.
# usage: suite_resume_test.sh LETHE_BINARY
set -euo pipefail
lethe=$1
work=$(mktemp -d /tmp/lethe_suite_XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/tiny.sh"
write_tiny_suite "$work" 10 10 10 24
out="$work/out"
setsid "$lethe" suite run "$work/suite.cfg" --out "$out" -j 1 --quiet > "$work/first.log" 2>&1 &
pgid=$!
for _ in $(seq 1 1200); do
  n=$( (find "$out/runs" -name DONE 2>/dev/null || true) | wc -l)
  [ "$n" -ge 1 ] && break
  sleep 0.1
done
kill -9 -- -"$pgid" 2>/dev/null || true
wait "$pgid" 2>/dev/null || true
done_first=$( (find "$out/runs" -name DONE 2>/dev/null || true) | wc -l)
echo "after the kill: $done_first of 4 runs done"
[ "$done_first" -ge 1 ] || { echo "FAIL: no run finished before the kill"; exit 1; }
[ "$done_first" -lt 4 ] || { echo "FAIL: the suite finished before it could be interrupted"; exit 1; }
"$lethe" suite status "$work/suite.cfg" --out "$out" | tail -1
"$lethe" suite run "$work/suite.cfg" --out "$out" -j 2 --quiet
status=$("$lethe" suite status "$work/suite.cfg" --out "$out" | tail -1)
echo "$status"
echo "$status" | grep -q "4 runs: 4 done, 0 running, 0 failed, 0 pending" || { echo "FAIL: $status"; exit 1; }
# suite.json lists each run's seed (seeds = 2), as the report reads it
[ "$(grep -c '"unlearn.seed": [01]' "$out/suite.json")" -eq 4 ] &&
  [ "$(grep -c '"seed": [01]' "$out/suite.json")" -eq 4 ] ||
  { echo "FAIL: suite.json lacks the runs' seeds"; exit 1; }
for h in "$out"/runs/*/history.jsonl; do
  steps=$(grep -o '"step":[0-9]*' "$h" | sort | uniq -d | wc -l)
  [ "$steps" -eq 0 ] || { echo "FAIL: duplicated evaluation steps in $h"; exit 1; }
done
if "$lethe" report --help > /dev/null 2>&1; then
  "$lethe" report "$out" > /dev/null
  rows=$(($(wc -l < "$out/results.csv") - 1))
  [ "$rows" -eq 4 ] || { echo "FAIL: results.csv has $rows rows, expected 4"; exit 1; }
  for r in "ga,seed=0" "ga,seed=1" "npo,seed=0" "npo,seed=1"; do
    c=$(grep -c "name=$r" "$out/results.csv" || true)
    [ "$c" -eq 1 ] || { echo "FAIL: run $r appears $c times in results.csv"; exit 1; }
  done
  grep -q "<svg" "$out/report.html" || { echo "FAIL: report.html has no figure"; exit 1; }
fi
# configuration errors name the file and line
expect_error() { # suite text, expected substring
  printf '%s\n' "$1" > "$work/bad.cfg"
  if msg=$("$lethe" suite run "$work/bad.cfg" --out "$work/bad" 2>&1); then
    echo "FAIL: bad suite accepted: $1"; exit 1
  fi
  echo "$msg" | grep -q -- "$2" || { echo "FAIL: expected '$2' in: $msg"; exit 1; }
}
expect_error 'base = "base.cfg"; grid = { method = { name = "ga"; }; };' 'bad.cfg:1: grid.method.name must be a list'
expect_error 'base = "base.cfg"; gird = { };' 'bad.cfg:1: unknown suite setting'
expect_error 'base = "base.cfg"; seeds = 2;
grid = { unlearn = { seed = [0, 1]; }; };' 'bad.cfg:2: unlearn.seed is set here, but seeds = 2 (.*bad.cfg:1)'
expect_error 'base = "base.cfg";
grid = { unlearn = { lrx = [1e-3]; }; };' 'bad.cfg:2'
expect_error 'base = "base.cfg";
grid = { method = { name = ["ga", "nosuch"]; }; };' 'bad.cfg:2'
printf 'base = "base.cfg";\ngrid = { unlearn = { epochs = ["ten"]; }; };\n' > "$work/bad.cfg"
msg=$("$lethe" suite run "$work/bad.cfg" --out "$work/bad2" 2>&1 || true)
echo "$msg" | grep -q "unlearn.epochs" || { echo "FAIL: wrong-type grid value not reported: $msg"; exit 1; }
echo "PASS"
