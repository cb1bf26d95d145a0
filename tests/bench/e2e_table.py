#!/usr/bin/python3
"""e2e_table — the tables of tests/bench/e2e.sh from its JSON lines.

  e2e_table.py stage|unlearn RESULTS.jsonl ISA
  e2e_table.py suite RESULTS.jsonl ISA
  e2e_table.py counts WORK
  e2e_table.py parts RESULTS.jsonl

stage:   part a, one epoch of a pipeline stage (bench_stage against
         torch_llama.py --mode stage)
unlearn: part b, one NPO+RT epoch and one evaluation (bench_unlearn_epoch
         against torch_llama.py --mode unlearn_epoch)
suite:   part c, the suite's wall time next to the twin's per-part seconds
         times the suite's count of each part (the results' suite_counts line)
counts:  that line (JSON), read from the suite run in WORK: the cache's
         train.json and eval-SPLIT-* directories, the runs' summary.json and
         history.jsonl
parts:   the kinds of part of the counted suite, one per line, for e2e.sh
         to time: "stage base", "stage finetune", and per forget split
         "unlearn SPLIT TARGET_DIR" (the split's target model, from a run's
         log)
Medians over the rounds; the ratio is PyTorch's seconds over lethe's.
"""
import glob
import json
import os
import re
import statistics
import sys


def median(rows, key):
    return statistics.median(r[key] for r in rows)


def stage_table(le, pt, peaks, isa):
    ls, ps = median(le, "seconds"), median(pt, "seconds")
    a = le[0]
    peak = peaks.get(a["compute"], {}).get("gflops")
    gf = a.get("flops_done", a["flops"]) / ls / 1e9  # the FLOPs lethe performs
    print("| stage | isa | lethe compute | steps | lethe s | PyTorch s (f32, %s thr) | ratio | "
          "lethe tok/s padded (real) | PyTorch tok/s padded | lethe GFLOP/s done | %% of %s peak | "
          "real tokens | NLL after (lethe / PyTorch) |" % (pt[0]["threads"], a["compute"]))
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("| %s | %s | %s | %d | %.2f | %.2f | **%.2fx** | %.0f (%.0f) | %.0f | %.0f | %s | %.0f %% | %.5f / %.5f |" % (
        a["stage"], isa, a["compute"], a["steps"], ls, ps, ps / ls,
        a["tokens_padded"] / ls, a["tokens_real"] / ls, a["tokens_padded"] / ps, gf,
        "%.0f %%" % (100 * gf / peak) if peak else "n/a", 100 * a["tokens_real"] / a["tokens_padded"],
        median(le, "nll_step0_after"), median(pt, "nll_step0_after")))
    print("lethe seconds:", [round(r["seconds"], 3) for r in le], " PyTorch seconds:",
          [round(r["seconds"], 3) for r in pt])


def unlearn_table(le, pt, peaks, isa):
    a, b = le[0], pt[0]
    peak = peaks.get(a["compute"], {}).get("gflops")
    print("| part | isa | lethe compute | lethe s | PyTorch s (f32, %s thr) | ratio | lethe tok/s | "
          "PyTorch tok/s | notes |" % b["threads"])
    print("|---|---|---|---|---|---|---|---|---|")
    ls, ps = median(le, "train_seconds"), median(pt, "train_seconds")
    gf = a.get("flops_done", a["flops"]) / ls / 1e9  # the FLOPs lethe performs
    print("| NPO+RT epoch (%d steps) | %s | %s | %.2f | %.2f | **%.2fx** | %.0f | %.0f | %.0f GFLOP/s, %s of peak; "
          "last loss %.5f / %.5f |" % (
              a["steps"], isa, a["compute"], ls, ps, ps / ls, a["tokens_padded"] / ls,
              a["tokens_padded"] / ps, gf, "%.0f %%" % (100 * gf / peak) if peak else "n/a",
              median(le, "final_loss"), median(pt, "final_loss")))
    ls, ps = median(le, "eval_seconds"), median(pt, "eval_seconds")
    print("| evaluation (%s rows) | %s | %s | %.2f | %.2f | **%.2fx** | %.0f | %.0f | PyTorch: scoring %.2f s, "
          "generation %.2f s, teacher-forced %.2f s; forget truth ratio %.5f / %.5f; greedy equal %s/%s |" % (
              "+".join(str(n) for n in a["eval_rows"]), isa, a["compute"], ls, ps, ps / ls,
              a["eval_tokens"] / ls, a["eval_tokens"] / ps, median(pt, "score_seconds"),
              median(pt, "generate_seconds"), median(pt, "teacher_forced_seconds"),
              median(le, "forget_truth_ratio"), median(pt, "forget_truth_ratio"),
              pt[-1].get("greedy_rows_equal", "?"), pt[-1].get("greedy_rows", "?")))
    lt = [r["train_seconds"] + r["eval_seconds"] for r in le]
    tt = [r["train_seconds"] + r["eval_seconds"] for r in pt]
    print("| both | %s | %s | %.2f | %.2f | **%.2fx** | | | |" % (
        isa, a["compute"], statistics.median(lt), statistics.median(tt),
        statistics.median(tt) / statistics.median(lt)))
    print("lethe seconds (train, eval):", [(round(r["train_seconds"], 3), round(r["eval_seconds"], 3)) for r in le],
          " PyTorch:", [(round(r["train_seconds"], 3), round(r["eval_seconds"], 3)) for r in pt])


def suite_counts(work):
    """What the suite in WORK did, from its own records: steps per stage
    group, and per forget split the runs' unlearning steps, the runs'
    evaluations, the stages' evaluations, and lethe's own seconds."""
    c = {"steps": {}, "stage_seconds": {}, "splits": {}, "targets": {}}

    def split_of(name):
        return c["splits"].setdefault(name, {"steps": 0, "evals": 0, "stage_evals": 0,
                                             "train_s": 0.0, "eval_s": 0.0, "runs": 0})
    for path in sorted(glob.glob(os.path.join(work, "cache", "*", "train.json"))):
        r = json.load(open(path))
        g = r["group"]
        c["steps"][g] = c["steps"].get(g, 0) + r["steps"]
        c["stage_seconds"][g] = c["stage_seconds"].get(g, 0.0) + r["seconds"]
    for path in glob.glob(os.path.join(work, "cache", "*", "eval-*")):
        m = re.match(r"eval-(.+)-[0-9a-f]{16}$", os.path.basename(path))
        if m and os.path.isdir(path):
            split_of(m.group(1))["stage_evals"] += 1
    for path in sorted(glob.glob(os.path.join(work, "suite", "runs", "*", "summary.json"))):
        r = json.load(open(path))
        run = os.path.dirname(path)
        kind = re.search(r'^kind = "([^"]*)"', open(os.path.join(run, "config.cfg")).read(), re.M)
        if not kind or kind.group(1) != "tofu":
            sys.exit("e2e: part c times TOFU suites; %s is of kind %s" % (run, kind.group(1) if kind else "?"))
        sp = split_of(r["forget_split"])
        sp["runs"] += 1
        sp["steps"] += r["steps"]
        sp["evals"] += sum(1 for l in open(os.path.join(run, "history.jsonl")) if l.strip())
        sp["train_s"] += r["seconds"] - r["eval_seconds"]
        sp["eval_s"] += r["eval_seconds"]
        log = open(os.path.join(run, "log.txt")).read()
        m = re.search(r"^target: (.+)$", log, re.M)
        if m:
            c["targets"].setdefault(r["forget_split"], m.group(1).strip())
    return c


def counts_of(rows):
    counts = [r for r in rows if r.get("mode") == "suite_counts"]
    if not counts:
        sys.exit("e2e: no suite_counts line")
    return counts[-1]


def parts_list(rows):
    c = counts_of(rows)
    if not c["splits"]:
        sys.exit("e2e: the counted suite has no runs")
    for g in ("base", "finetune"):
        if c["steps"].get(g):
            print("stage", g)
    for split in sorted(c["splits"]):
        if split not in c["targets"]:
            sys.exit("e2e: no run of split %s names its target model in its log.txt" % split)
        print("unlearn", split, c["targets"][split])


def suite_table(rows, isa):
    c = counts_of(rows)
    wall = [r for r in rows if r.get("impl") == "lethe" and r.get("mode") == "suite"]
    if not wall:
        sys.exit("e2e: no suite time")
    wall = wall[-1]

    def per(impl, part, mode, key, per_key=None):
        """Median over the rounds of key (divided by per_key: seconds per step)."""
        rs = [r for r in rows if r.get("impl") == impl and r.get("mode") == mode and r.get("part") == part]
        if not rs:
            sys.exit("e2e: no %s %s result for %s" % (impl, mode, part))
        return statistics.median(r[key] / (r[per_key] if per_key else 1) for r in rs)

    lines, lsum, psum = [], 0.0, 0.0
    for g, name in (("base", "base model: training steps"), ("finetune", "fine-tuning stages: training steps")):
        n = c["steps"].get(g, 0)
        if not n:
            continue
        le, pt = per("lethe", g, "stage", "seconds", "steps"), per("torch", g, "stage", "seconds", "steps")
        lines.append((name, str(n), le, pt, n * le, n * pt, "%.0f s" % c["stage_seconds"][g]))
    for split in sorted(c["splits"]):
        sp = c["splits"][split]
        le = per("lethe", split, "unlearn_epoch", "train_seconds", "steps")
        pt = per("torch", split, "unlearn_epoch", "train_seconds", "steps")
        lines.append(("%s: unlearning steps (%d runs)" % (split, sp["runs"]), str(sp["steps"]), le, pt,
                      sp["steps"] * le, sp["steps"] * pt, "%.0f s" % sp["train_s"]))
        le = per("lethe", split, "unlearn_epoch", "eval_seconds")
        pt = per("torch", split, "unlearn_epoch", "eval_seconds")
        n = sp["evals"] + sp["stage_evals"]
        lines.append(("%s: evaluations (runs + stage models)" % split, "%d + %d" % (sp["evals"], sp["stage_evals"]),
                      le, pt, n * le, n * pt, "%.0f s (runs only)" % sp["eval_s"]))
    threads = wall["threads"]
    computes = sorted({r["compute"] for r in rows if r.get("impl") == "lethe" and r.get("part")})
    if wall["compute"] == "auto" and computes:
        wall["compute"] = "auto = " + "/".join(computes)
    print("| part | count | lethe s each (%d thr) | PyTorch s each | lethe s | PyTorch s | ratio | "
          "lethe s inside the suite (%d at a time, %d thr each) |" % (threads, wall["jobs"],
                                                                       max(1, threads // wall["jobs"])))
    print("|---|---|---|---|---|---|---|---|")
    for name, count, le, pt, lt, ptt, inside in lines:
        lsum += lt
        psum += ptt
        print("| %s | %s | %.4f | %.4f | %.1f | %.1f | %.2fx | %s |" % (name, count, le, pt, lt, ptt, ptt / lt, inside))
    print("| **sum of the parts** | | | | %.1f | %.1f | **%.2fx** | |" % (lsum, psum, psum / lsum))
    print("| **the suite's wall time** (lethe, compute %s, isa %s) | | | | %.1f | %.1f (the sum) | **%.2fx** | "
          "%d min %02d s |" % (wall["compute"], isa, wall["seconds"], psum, psum / wall["seconds"],
                              int(wall["seconds"]) // 60, int(wall["seconds"]) % 60))
    print("Approximations: every method's unlearning step timed as NPO+RT's; every evaluation as one of the "
          "target model (later models answer at other lengths). lethe's suite also pays process starts, "
          "loading, the world and idle slots; the twin's sum pays none of them.")


def main():
    if sys.argv[1] == "counts":
        print(json.dumps(dict(suite_counts(sys.argv[2]), mode="suite_counts")))
        return
    part, path = sys.argv[1:3]
    rows = [json.loads(l) for l in open(path) if l.strip()]
    if part == "parts":
        parts_list(rows)
        return
    isa = sys.argv[3]
    peaks = {r["compute"]: r for r in rows if r.get("mode") == "peak" and r.get("supported")}
    if part == "suite":
        suite_table(rows, isa)
        return
    mode = {"stage": "stage", "unlearn": "unlearn_epoch"}[part]
    le = [r for r in rows if r.get("impl") == "lethe" and r.get("mode") == mode]
    pt = [r for r in rows if r.get("impl") == "torch" and r.get("mode") == mode]
    if not le or not pt:
        sys.exit("e2e: missing results")
    (stage_table if part == "stage" else unlearn_table)(le, pt, peaks, isa)


if __name__ == "__main__":
    main()
