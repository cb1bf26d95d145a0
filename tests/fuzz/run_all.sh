#!/usr/bin/env bash
# Runs every libFuzzer harness of tests/fuzz for a bounded time, starting from
# a copy of its seed corpus (the committed corpus is never modified), and
# fails on any crash, leak, timeout or sanitizer report.
# usage: tests/fuzz/run_all.sh [BUILD_DIR]   (default: build-fuzz)
#   FUZZ_SECONDS  seconds per fuzzer (default 60)
#   FUZZ_JOBS     fuzzers run at once, each on one core (default: nproc)
#   FUZZ_ONLY     space-separated subset, e.g. "safetensors tofu"
#   FUZZ_OUT      where logs, grown corpora and crash inputs go (default: a
#                 temporary directory, removed when everything passed)
# Prints one line per fuzzer: executions, corpus size, result. An input that
# takes over 30 s (a 100000-run suite takes ~5 s under ASan) is a failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
fuzzers=${FUZZ_ONLY:-"safetensors st_index model_config lora_config tokenizer tofu token_rows retain_eval experiment override suite muse"}
out=${FUZZ_OUT:-$(mktemp -d /tmp/lethe_fuzz_run_XXXXXX)}
keep_out=${FUZZ_OUT:+1}
mkdir -p "$out"

dict_of() {
  case $1 in
    experiment|override|suite) echo "$here/dict/libconfig.dict" ;;
    safetensors|st_index|model_config|lora_config|tokenizer|tofu|token_rows|retain_eval|muse) echo "$here/dict/json.dict" ;;
  esac
}

# One fuzzer: its result line in $out/NAME.line, its status in $out/NAME.rc.
run_one() {
  local name=$1 bin="$build/tests/fuzz/fuzz_$1" work="$out/$1" rc execs size result
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/tmp"
  if [ ! -x "$bin" ]; then
    printf '%-14s %12s %8s  %s\n' "$name" - - "MISSING ($bin; build the 'fuzzers' target)" > "$out/$name.line"
    echo "0 1" > "$out/$name.rc"
    return
  fi
  cp "$here/corpus/$name"/* "$work/corpus/"
  # leaks are errors; the harnesses clean their own temporary files (TMPDIR)
  TMPDIR="$work/tmp" \
  ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:print_stacktrace=1:allocator_may_return_null=1" \
  LSAN_OPTIONS="suppressions=$here/../sanitize/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -max_len=8192 \
      -dict="$(dict_of "$name")" -print_final_stats=1 -artifact_prefix="$work/" \
      "$work/corpus" > "$work/log" 2>&1 < /dev/null
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  size=$(find "$work/corpus" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc): $(ls "$work" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | tr '\n' ' ')"
  fi
  {
    printf '%-14s %12s %8s  %s\n' "$name" "${execs:-0}" "$size" "$result"
    if [ "$rc" -ne 0 ]; then
      grep -E 'ERROR|SUMMARY|fuzz check failed|runtime error|==[0-9]+==' "$work/log" | head -20 | sed 's/^/    /'
      echo "    log: $work/log"
    fi
  } > "$out/$name.line"
  echo "${execs:-0} $rc" > "$out/$name.rc"
  rm -rf "$work/tmp"
}

jobs=${FUZZ_JOBS:-$(nproc)}
for name in $fuzzers; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  run_one "$name" &
done
wait
failed=0
total_execs=0
printf '%-14s %12s %8s  %s\n' fuzzer executions corpus result
for name in $fuzzers; do
  cat "$out/$name.line"
  read -r execs rc < "$out/$name.rc" || { execs=0 rc=1; }
  total_execs=$((total_execs + execs))
  [ "$rc" -eq 0 ] || failed=1
done
echo "total executions: $total_execs (${seconds} s per fuzzer, $jobs at a time)"
if [ "$failed" -ne 0 ]; then
  echo "FAIL: see $out"
  exit 1
fi
[ -n "$keep_out" ] || rm -rf "$out"
exit 0
