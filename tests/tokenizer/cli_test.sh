#!/usr/bin/env bash
# cli_test.sh — `lethe tokenize` on tests/data/tokenizer/bpe-sp (ids from HF
# tokenizers' Rust core): encode with and without special tokens, decode with
# and without skipping them, a line with \r, and the errors for invalid
# UTF-8 and a missing directory.
#   cli_test.sh LETHE DATA_DIR
set -uo pipefail
lethe=$1 dir=$2/tokenizer/bpe-sp
fail=0
expect() { # name, got, want
  if [ "$2" != "$3" ]; then
    printf 'FAIL %s:\n  got:  %q\n  want: %q\n' "$1" "$2" "$3"
    fail=1
  fi
}
expect encode "$(printf 'ab ab\nxy\n\n' | "$lethe" tokenize --tokenizer "$dir")" \
  "$(printf '[1,10,10,2]\n[1,5,0,2]\n[1,2]')"
expect no-special "$(printf 'ab ab\n' | "$lethe" tokenize --tokenizer "$dir" --no-special)" '[10,10]'
expect carriage-return "$(printf 'ab\r\n' | "$lethe" tokenize --tokenizer "$dir" --no-special)" '[10,0]'
expect decode "$(printf '[1,10,10,2]\n[5,3,4]\n' | "$lethe" tokenize --tokenizer "$dir" --decode)" \
  "$(printf '<s> ab ab</s>\n\xc3\xa9')"
expect skip-special "$(printf '[1,10,10,2]\n' | "$lethe" tokenize --tokenizer "$dir" --decode --skip-special)" 'ab ab'
err=$(printf 'ab\xff\n' | "$lethe" tokenize --tokenizer "$dir" 2>&1 >/dev/null)
expect invalid-utf8 "$err" 'lethe tokenize: line 1: text is not valid UTF-8 (byte 2)'
err=$("$lethe" tokenize --tokenizer /nonexistent 2>&1 </dev/null)
case $err in *"/nonexistent/tokenizer.json"*) ;; *) expect missing-dir "$err" "an error naming /nonexistent/tokenizer.json" ;; esac
[ $fail = 0 ] && echo "tokenize CLI: ok"
exit $fail
