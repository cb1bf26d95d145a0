#!/usr/bin/env bash
# Crash safety of suites: a tiny suite is killed with SIGKILL (its whole
# process group: the suite and every lethe it started) at random moments,
# several times, then resumed to the end. After every kill, every JSON file
# lethe wrote (results, stage caches, checkpoints' headers) must parse: no file
# is ever truncated or half-written. At the end, every run's summary.json
# (wall-clock fields aside), history.jsonl, steps.jsonl, eval.json and
# best/eval.json must equal those of the same suite run without interruption.
# The interrupted suite alternates 1 and 2 threads and resumes with 1, the
# reference uses 2: results must not depend on the thread count.
# usage: crash_test.sh LETHE_BINARY [KILLS]   (CRASH_SEED fixes the delays)
set -euo pipefail
lethe=$1
kills=${2:-5}
seed=${CRASH_SEED:-$$}
RANDOM=$seed
work=$(mktemp -d /tmp/lethe_crash_XXXXXX)
pgid=
cleanup() {
  [ -n "$pgid" ] && kill -9 -- -"$pgid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cat > "$work/base.cfg" <<CFG
world = { authors = 10; general_qa = 20; idk = 20; };
data = { forget_split = "forget10"; };
model = { hidden_size = 32; intermediate_size = 64; num_hidden_layers = 1;
          num_attention_heads = 2; num_key_value_heads = 2; };
base = { epochs = 6; batch_size = 16; lr = 3e-3; };
finetune = { epochs = 6; batch_size = 16; lr = 3e-3; };
unlearn = { epochs = 10; batch_size = 4; lr = 1e-3; checkpoint_every = 2; };
eval = { max_new_tokens = 8; every = 2; };
CFG
cat > "$work/suite.cfg" <<CFG
name = "crash";
base = "base.cfg";
grid = { method = { name = ["ga", "npo", "idk"]; }; };
CFG
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive

# Every .json must parse (as one value, or as JSON lines for TOFU data
# files); steps.jsonl and history.jsonl may only end in a torn line (they are
# appended, one write per line, so SIGKILL should not even leave that; resume
# drops it); a .safetensors file's header must parse and its data section be
# as long as the header says. Temporary files of atomic writes are skipped.
check_files() {
  python3 - "$1" <<'PY'
import json, os, struct, sys
bad, torn, n = [], [], 0
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        p = os.path.join(root, f)
        if ".tmp." in f:
            continue
        try:
            if f.endswith(".json"):  # one JSON value, or JSON lines (TOFU data files)
                n += 1
                text = open(p).read()
                try:
                    json.loads(text)
                except ValueError:
                    for line in text.splitlines():
                        if line.strip():
                            json.loads(line)
            elif f in ("steps.jsonl", "history.jsonl"):  # appended, one line per step
                n += 1
                data = open(p).read()
                lines = data.split("\n")
                for i, line in enumerate(lines):
                    if not line.strip():
                        continue
                    try:
                        json.loads(line)
                    except ValueError:
                        if i == len(lines) - 1:
                            torn.append(p)
                        else:
                            raise
            elif f.endswith(".safetensors"):
                n += 1
                b = open(p, "rb").read()
                (hl,) = struct.unpack("<Q", b[:8])
                h = json.loads(b[8:8 + hl])
                end = max([v["data_offsets"][1] for k, v in h.items() if k != "__metadata__"] + [0])
                if len(b) != 8 + hl + end:
                    raise ValueError("data section is %d bytes, header says %d" % (len(b) - 8 - hl, end))
        except Exception as e:
            bad.append("%s: %s" % (p, e))
for p in torn:
    print("  note: torn last line in", p)
if bad:
    print("FAIL: half-written files:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("  %d result/cache files parse" % n)
PY
}

echo "reference: the suite without interruption"
t0=$(date +%s)
LETHE_CACHE_DIR="$work/cache-ref" "$lethe" suite run "$work/suite.cfg" --out "$work/ref" -j 1 --threads 2 --quiet \
  > "$work/ref.log" 2>&1 || { cat "$work/ref.log"; echo "FAIL: the reference suite failed"; exit 1; }
ref_seconds=$(( $(date +%s) - t0 ))
echo "  took ${ref_seconds} s; now $kills kills at random moments (CRASH_SEED=$seed)"
# Odd kills come after a random delay (sum about the suite's length, so they
# spread over stage building and runs); even kills wait for a run to hold a
# checkpoint and come up to 1.5 s later, so some land mid-run for sure.
max_ds=$(( ref_seconds * 20 / kills > 10 ? ref_seconds * 20 / kills : 10 ))
for i in $(seq 1 "$kills"); do
  setsid env LETHE_CACHE_DIR="$work/cache" "$lethe" suite run "$work/suite.cfg" --out "$work/out" \
    -j 1 --threads $((i % 2 + 1)) --quiet >> "$work/crash.log" 2>&1 &
  pgid=$!
  t_start=$(date +%s%N)
  if [ $((i % 2)) -eq 0 ]; then
    for _ in $(seq 1 600); do
      [ -n "$(find "$work/out/runs" -name checkpoint.safetensors 2>/dev/null)" ] && break
      kill -0 "$pgid" 2>/dev/null || break
      sleep 0.1
    done
    delay_ds=$((RANDOM % 15))
  else
    delay_ds=$((2 + RANDOM % max_ds))
  fi
  sleep "$(printf '%d.%d' $((delay_ds / 10)) $((delay_ds % 10)))"
  elapsed=$(( ($(date +%s%N) - t_start) / 100000000 ))
  # what the kill interrupts: stages built, runs done, runs holding a checkpoint
  stages=$( (ls -d "$work"/cache/*-* 2>/dev/null || true) | grep -vc -e '\.lock$' -e '\.partial$' || true)
  done_runs=$( (find "$work/out/runs" -name DONE 2>/dev/null || true) | wc -l)
  ckpts=$( (find "$work/out/runs" -name checkpoint.safetensors 2>/dev/null || true) | wc -l)
  alive=$(kill -0 "$pgid" 2>/dev/null && echo running || echo finished)
  kill -9 -- -"$pgid" 2>/dev/null || true
  wait "$pgid" 2>/dev/null || true
  pgid=
  echo "kill $i after $(printf '%d.%d' $((elapsed / 10)) $((elapsed % 10))) s ($alive): $stages stages cached, $done_runs runs done, $ckpts runs with a checkpoint"
  check_files "$work/out" || exit 1
  check_files "$work/cache" || exit 1
done
echo "resume to the end"
LETHE_CACHE_DIR="$work/cache" "$lethe" suite run "$work/suite.cfg" --out "$work/out" -j 1 --threads 1 \
  --quiet >> "$work/crash.log" 2>&1 || { tail -20 "$work/crash.log"; echo "FAIL: the resumed suite failed"; exit 1; }
check_files "$work/out"

python3 - "$work/ref" "$work/out" <<'PY'
import json, os, sys
ref, out = sys.argv[1], sys.argv[2]

def strip(o):
    """Drops wall-clock fields (any key with 'seconds' in it)."""
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if "seconds" not in k}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o

def lines(p):
    return [strip(json.loads(l)) for l in open(p).read().splitlines() if l.strip()]

fails, compared = [], 0
runs = sorted(os.listdir(os.path.join(ref, "runs")))
for run in runs:
    a, b = os.path.join(ref, "runs", run), os.path.join(out, "runs", run)
    if not os.path.exists(os.path.join(b, "DONE")):
        fails.append("%s: not done after resuming" % run)
        continue
    for f in ["summary.json", "best/summary.json"]:
        compared += 1
        if strip(json.load(open(os.path.join(a, f)))) != strip(json.load(open(os.path.join(b, f)))):
            fails.append("%s/%s differs" % (run, f))
    for f in ["history.jsonl", "steps.jsonl"]:
        compared += 1
        la, lb = lines(os.path.join(a, f)), lines(os.path.join(b, f))
        if la != lb:
            first = next((i for i in range(min(len(la), len(lb))) if la[i] != lb[i]), min(len(la), len(lb)))
            fails.append("%s/%s differs (%d vs %d lines, first difference at line %d)" % (run, f, len(la), len(lb), first + 1))
    for f in ["eval.json", "best/eval.json"]:
        compared += 1
        if open(os.path.join(a, f), "rb").read() != open(os.path.join(b, f), "rb").read():
            fails.append("%s/%s differs byte for byte" % (run, f))
if fails:
    print("FAIL: the resumed suite differs from the uninterrupted one:\n  " + "\n  ".join(fails))
    sys.exit(1)
print("%d runs, %d files identical to the uninterrupted suite" % (len(runs), compared))
PY
echo "PASS"
