#!/usr/bin/env bash
# What a suite shows while it trains (run/suite_watch.h). The tiny suite three
# times, each with its own stage cache: with --quiet, nothing on stderr; with
# stderr in a file, plain lines naming the stages and their steps, epochs and
# ETA, no terminal control characters, a modest number of lines, no progress
# record left behind, and results byte-identical to the quiet suite's; on a
# terminal (util-linux `script`, skipped without it), one line rewritten in
# place, ended by its "finished" line (the stages and the runs share one:
# a run starts as soon as its stages are done).
# usage: progress_test.sh LETHE_BINARY
set -euo pipefail
lethe=$1
work=$(mktemp -d /tmp/lethe_progress_XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(dirname "$0")/tiny.sh"
fail() {
  echo "FAIL: $1"
  [ -z "${2:-}" ] || cat -v "$2"
  exit 1
}
for v in quiet plain tty; do
  mkdir "$work/$v"
  write_tiny_suite "$work/$v" 10 10 4 12
done

"$lethe" suite run "$work/quiet/suite.cfg" --out "$work/quiet/out" -j 2 --quiet > /dev/null 2> "$work/quiet.err"
[ ! -s "$work/quiet.err" ] || fail "--quiet printed on stderr" "$work/quiet.err"

"$lethe" suite run "$work/plain/suite.cfg" --out "$work/plain/out" -j 2 > /dev/null 2> "$work/plain.err"
expect() { # extended regular expression, what it means
  grep -Eq "$1" "$work/plain.err" || fail "no line for $2" "$work/plain.err"
}
expect '^stages [0-9]/3, runs 0/4 \| base model [0-9]+/[0-9]+ epoch [0-9]+/10 ETA ' "the base model"
expect '^stages [0-9]/3, runs [0-9]/4 \| .*fine-tune on full [0-9]+/[0-9]+ epoch [0-9]+/10 ETA ' "the target model"
expect '^runs [0-9]/4.* \| unlearn (ga|npo) on forget10 [0-9]+/[0-9]+ epoch [0-9]+/4 ETA ' "a run"
expect '^\[4/4\] name=' "the last run"
expect '^stages 3/3 and runs 4/4 finished in [0-9][0-9]:[0-9][0-9]$' "the end of the stages and runs"
if grep -q $'[\r\033]' "$work/plain.err"; then fail "terminal control characters in a file" "$work/plain.err"; fi
lines=$(grep -Ec '^(stages|runs) ' "$work/plain.err")
[ "$lines" -le 30 ] || fail "$lines progress lines for a tiny suite" "$work/plain.err"
left=$(find "$work/plain/out" -name 'progress.*' | wc -l)
[ "$left" -eq 0 ] || fail "$left progress records left in the runs' directories"
for f in eval.json summary.json history.jsonl steps.jsonl; do
  for d in "$work/quiet/out/runs"/*/; do
    run=$(basename "$d")
    if [ "$f" = summary.json ]; then # wall-clock fields aside
      a=$(sed -E 's/"(eval_)?seconds": [0-9.e+-]+//g' "$d/$f")
      b=$(sed -E 's/"(eval_)?seconds": [0-9.e+-]+//g' "$work/plain/out/runs/$run/$f")
      [ "$a" = "$b" ] || { diff <(echo "$a") <(echo "$b") | head; fail "$run/$f differs from the quiet suite's"; }
    else
      cmp -s "$d/$f" "$work/plain/out/runs/$run/$f" || fail "$run/$f differs from the quiet suite's"
    fi
  done
done
echo "plain: $lines progress lines; results identical to the quiet suite's"

if ! command -v script > /dev/null; then
  echo "PASS (no util-linux script: the terminal is covered by test_progress alone)"
  exit 0
fi
script -q -e -c "'$lethe' suite run '$work/tty/suite.cfg' --out '$work/tty/out' -j 2" \
  "$work/tty.typescript" > /dev/null || fail "the suite failed on a terminal" "$work/tty.typescript"
# what stays on the screen: each line's last carriage-return frame
python3 - "$work/tty.typescript" <<'PY' || fail "the terminal's lines" "$work/tty.typescript"
import re, sys
text = open(sys.argv[1], "rb").read().decode()
frames = [line.rstrip("\r").split("\r") for line in text.split("\n")]  # the tty ends lines \r\n
shown = [re.sub("\x1b\\[K", "", f[-1]) for f in frames if f[-1].strip()]
status = [s for s in shown if re.match(r"(stages|runs) \d", s)]
drawn = sum(1 for f in frames for x in f if re.match(r"stages \d/3, runs 0/4 \| base model", x))
assert status == [s for s in status if "finished in" in s], "status lines left on the screen: %r" % status
assert [s.split(" finished")[0] for s in status] == ["stages 3/3 and runs 4/4"], "one finished line: %r" % status
assert drawn >= 1, "the base model was never drawn"
print("terminal: %d frames drawn in place, %d lines left: %s" % (sum(len(f) for f in frames), len(status), status))
PY
echo "PASS"
