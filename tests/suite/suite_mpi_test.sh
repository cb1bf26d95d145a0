#!/usr/bin/env bash
# A tiny suite (2 methods x 2 seeds) under `mpirun -np 2`: the ranks train
# the shared stages together, then split the runs; every run must happen
# exactly once (one "[k/n] NAME:" line, one set of step lines, DONE), both
# ranks must have run some, a second `suite run` must find nothing to do,
# and rank 0 alone writes the report with each run once.
# usage: suite_mpi_test.sh LETHE_BINARY MPIEXEC
set -euo pipefail
lethe=$1
mpirun=$2
work=$(mktemp -d /tmp/lethe_suite_mpi_XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/tiny.sh"
write_tiny_suite "$work" 4 3 3 12
out="$work/out"
mpi() { OMP_NUM_THREADS=1 "$mpirun" --oversubscribe --allow-run-as-root -np 2 "$@"; }
mpi "$lethe" suite run "$work/suite.cfg" --out "$out" > "$work/first.log" 2>&1 ||
  { cat "$work/first.log"; echo "FAIL: the suite failed under 2 ranks"; exit 1; }
status=$("$lethe" suite status "$work/suite.cfg" --out "$out" | tail -1)
echo "$status"
echo "$status" | grep -q "4 runs: 4 done, 0 running, 0 failed, 0 pending" || { echo "FAIL: $status"; exit 1; }
for r in "ga,seed=0" "ga,seed=1" "npo,seed=0" "npo,seed=1"; do
  n=$(grep -c "\] name=$r: " "$work/first.log" || true)
  [ "$n" -eq 1 ] || { cat "$work/first.log"; echo "FAIL: run $r finished $n times"; exit 1; }
  steps=$(grep -c '"step"' "$out/runs/name=$r/steps.jsonl")
  unique=$(grep -o '"step":[0-9]*' "$out/runs/name=$r/steps.jsonl" | sort -u | wc -l)
  [ "$steps" -eq "$unique" ] || { echo "FAIL: run $r has repeated steps"; exit 1; }
  [ -f "$out/runs/name=$r/DONE" ] || { echo "FAIL: run $r has no DONE"; exit 1; }
done
for rank in 0 1; do
  grep -q "^rank $rank: \[" "$work/first.log" || { cat "$work/first.log"; echo "FAIL: rank $rank ran nothing"; exit 1; }
done
mpi "$lethe" suite run "$work/suite.cfg" --out "$out" > "$work/second.log" 2>&1
grep -q "4 done, 0 to run" "$work/second.log" || { cat "$work/second.log"; echo "FAIL: the rerun found work"; exit 1; }
if grep -q "^rank .: \[" "$work/second.log"; then echo "FAIL: the rerun ran a run again"; exit 1; fi
rows=$(($(wc -l < "$out/results.csv") - 1))
[ "$rows" -eq 4 ] || { echo "FAIL: results.csv has $rows rows, expected 4"; exit 1; }
echo "PASS"
