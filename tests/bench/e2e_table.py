#!/usr/bin/python3
"""e2e_table — the tables of tests/bench/e2e.sh from its JSON lines.

  e2e_table.py stage|unlearn RESULTS.jsonl ISA

stage:   part a, one epoch of a pipeline stage (bench_stage against
         torch_llama.py --mode stage)
unlearn: part b, one NPO+RT epoch and one evaluation (bench_unlearn_epoch
         against torch_llama.py --mode unlearn_epoch)
Medians over the rounds; the ratio is PyTorch's seconds over lethe's.
"""
import json
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


def main():
    part, path, isa = sys.argv[1:4]
    mode = {"stage": "stage", "unlearn": "unlearn_epoch"}[part]
    rows = [json.loads(l) for l in open(path) if l.strip()]
    peaks = {r["compute"]: r for r in rows if r.get("mode") == "peak" and r.get("supported")}
    le = [r for r in rows if r.get("impl") == "lethe" and r.get("mode") == mode]
    pt = [r for r in rows if r.get("impl") == "torch" and r.get("mode") == mode]
    if not le or not pt:
        sys.exit("e2e: missing results")
    (stage_table if part == "stage" else unlearn_table)(le, pt, peaks, isa)


if __name__ == "__main__":
    main()
