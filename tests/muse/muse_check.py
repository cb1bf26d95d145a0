#!/usr/bin/python3
"""muse_check — MUSE's evaluation (evaluate/eval_muse.c) checked from
outside on what muse_eval_dump writes (a tiny world's MUSE corpus, two random
tiny models):

- every VerbMem and KnowMem item's rougeL_f1 equals ROUGE-L F1 computed here
  from its definition (rouge_score's tokens without stemming: lower case,
  every run of characters other than [a-z0-9] a separator; F1 of LCS
  precision and recall, 0 when either side is empty) on the reference and
  generation eval.json holds, to 1e-12; each summary score is their mean;
- each KnowMem generation is its output cut at the first "\\n\\n",
  "\\nQuestion" or "Question:"; each VerbMem reference has the tokens of its
  ground truth (it is shorter than MUSE's 128-token cut);
- mia_min_k_auc equals sklearn's roc_auc_score on the per-document Min-K%
  scores (forget labelled 0, holdout 1, as open-unlearning) to 1e-9, and
  privleak = 100 * ((1 - A_target) - (1 - A_retain)) / (1 - A_retain);
- cases.json: ROUGE-L F1 of document pairs with real overlap, the cut of
  crafted outputs and one KnowMem prompt rebuilt from the ICL file.

`muse_check.py suite LETHE SUITE WORKDIR` runs a tiny MUSE suite
(tests/muse/tiny_suite.cfg on tiny.cfg: ga and npo) and checks the same on
every model of it: the target and retain models (their evaluations cached
once in the shared stages), each unlearned run's final evaluation, its
PrivLeak against the retain model's AUC, its history (step 0 equal to the
target's cached evaluation), that GA lowered VerbMem forget, that
results.json and results.csv hold each run's numbers, and that a run
reading the same corpus from muse.dir reuses every stage.

`muse_check.py mpi LETHE MPIEXEC CONFIG WORKDIR`: the run of CONFIG with one
process, then with 2 ranks on the same cache, each checked as above: the
same references, the final loss within 1e-5.

Usage: muse_check.py dump MUSE_EVAL_DUMP WORKDIR | suite LETHE SUITE WORKDIR |
       mpi LETHE MPIEXEC CONFIG WORKDIR.
Exit 77 (skip) without python3-sklearn.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys

try:
    from sklearn.metrics import roc_auc_score
except ImportError:
    print("SKIP: python3-sklearn is missing (apt-get install python3-sklearn)")
    sys.exit(77)


def tokens(text):
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def lcs(a, b):
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b):
            cur = row[j + 1]
            row[j + 1] = prev + 1 if x == y else max(row[j + 1], row[j])
            prev = cur
    return row[-1]


def rouge_l_f1(reference, prediction):
    r, p = tokens(reference), tokens(prediction)
    if not r or not p:
        return 0.0
    n = lcs(r, p)
    if n == 0:
        return 0.0
    precision, recall = n / len(p), n / len(r)
    return 2 * precision * recall / (precision + recall)


def cut(output):
    at = [output.find(s) for s in ("\n\n", "\nQuestion", "Question:")]
    at = [i for i in at if i >= 0]
    return output[:min(at)] if at else output


def close(a, b, tol, what):
    if not math.isclose(a, b, rel_tol=0, abs_tol=tol):
        sys.exit(f"{what}: lethe {a!r}, oracle {b!r}")


def check_model(work, name, corpus):
    ev = json.load(open(os.path.join(work, name, "eval.json")))
    summary = json.load(open(os.path.join(work, name, "summary.json")))
    summary = summary.get("final", summary)  # an unlearning run's: its last evaluation
    gts = json.load(open(os.path.join(corpus, "verbmem", "forget.json")))
    qa = {k: json.load(open(os.path.join(corpus, "knowmem", f"{k}_qa.json"))) for k in ("forget", "retain")}
    for key in ("verbmem_forget", "knowmem_forget", "knowmem_retain"):
        items = ev[key]
        if not items:
            sys.exit(f"{name}: {key} is empty")
        for i, item in enumerate(items):
            close(item["rougeL_f1"], rouge_l_f1(item["reference"], item["generation"]), 1e-12,
                  f"{name} {key}[{i}] rougeL_f1")
            if key == "verbmem_forget":
                if tokens(item["reference"]) != tokens(gts[i]["gt"]):
                    sys.exit(f"{name} verbmem[{i}]: reference {item['reference']!r} is not gt {gts[i]['gt']!r}")
                if item["generation"] != item["output"]:
                    sys.exit(f"{name} verbmem[{i}]: the generation is cut")
            else:
                if item["generation"] != cut(item["output"]):
                    sys.exit(f"{name} {key}[{i}]: generation {item['generation']!r} is not the cut of {item['output']!r}")
                if item["reference"] != qa[key.split("_")[1]][i]["answer"]:
                    sys.exit(f"{name} {key}[{i}]: reference is not the answer")
        mean = sum(item["rougeL_f1"] for item in items) / len(items)
        close(summary[key], mean, 1e-12, f"{name} summary {key}")
    forget, holdout = ev["mia_min_k"]["forget"], ev["mia_min_k"]["holdout"]
    if len(forget) != len(holdout) or not forget:
        sys.exit(f"{name}: {len(forget)} forget and {len(holdout)} holdout scores")
    auc = roc_auc_score([0] * len(forget) + [1] * len(holdout), forget + holdout)
    close(summary["mia_min_k_auc"], auc, 1e-9, f"{name} mia_min_k_auc")
    return summary


def check_models(root):
    """Both models under root (with root/corpus), and the target's PrivLeak."""
    corpus = os.path.join(root, "corpus")
    retain = check_model(root, "retain", corpus)
    target = check_model(root, "target", corpus)
    if retain["privleak"] is not None:
        sys.exit("the retain model has a PrivLeak without a reference")
    a_ret, a_unl = 1 - retain["mia_min_k_auc"], 1 - target["mia_min_k_auc"]
    close(target["privleak"], 100 * (a_unl - a_ret) / a_ret, 1e-9, "privleak")
    return retain, target


def check_dump(dump, work):
    out = subprocess.run([dump, work], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"muse_eval_dump failed:\n{out.stderr}")
    retain, target = check_models(work)
    corpus = os.path.join(work, "corpus")
    cases = json.load(open(os.path.join(work, "cases.json")))
    partial = 0
    for i, c in enumerate(cases["rouge"]):
        want = rouge_l_f1(c["reference"], c["prediction"])
        close(c["f1"], want, 1e-12, f"rouge case {i}")
        partial += 0 < want < 1
    if partial < len(cases["rouge"]) // 2:
        sys.exit(f"only {partial} rouge cases have a partial overlap: the cases test little")
    for c in cases["cuts"]:
        if c["cut"] != len(cut(c["output"])):
            sys.exit(f"cut of {c['output']!r}: lethe {c['cut']}, oracle {len(cut(c['output']))}")
    icl = json.load(open(os.path.join(corpus, "knowmem", "forget_qa_icl.json")))
    want = "".join(f"Question: {r['question']}\nAnswer: {r['answer']}\n\n" for r in icl)
    want += f"Question: {cases['question']}\nAnswer: "
    if cases["prompt"] != want:
        sys.exit(f"knowmem prompt {cases['prompt']!r}, expected {want!r}")
    print(f"ok: {len(cases['rouge'])} rouge cases ({partial} partial), retain AUC "
          f"{retain['mia_min_k_auc']:.4f}, target AUC {target['mia_min_k_auc']:.4f}, "
          f"privleak {target['privleak']:.3f}, verbmem {target['verbmem_forget']:.4f}")


def check_unlearned(run, target, retain):
    """An unlearning run's files: its final evaluation checked like a model's,
    its PrivLeak against the retain model's AUC, the history's first point
    (step 0, before any update) equal to the target's cached evaluation and
    its last one equal to summary.json's final point."""
    final = check_model(run, "", os.path.join(run, "corpus"))
    summary = json.load(open(os.path.join(run, "summary.json")))
    a_ret = 1 - retain["mia_min_k_auc"]
    close(final["privleak"], 100 * ((1 - final["mia_min_k_auc"]) - a_ret) / a_ret, 1e-9,
          f"{run} privleak")
    history = [json.loads(line) for line in open(os.path.join(run, "history.jsonl"))]
    steps = [json.loads(line) for line in open(os.path.join(run, "steps.jsonl"))]
    keys = ("verbmem_forget", "knowmem_forget", "knowmem_retain", "privleak", "mia_min_k_auc")
    if history[0]["step"] != 0 or history[-1]["step"] != summary["steps"] or len(steps) != summary["steps"]:
        sys.exit(f"{run}: history steps {[h['step'] for h in history]}, {len(steps)} step lines, "
                 f"{summary['steps']} steps")
    for k in keys:
        close(history[0][k], target[k], 1e-12, f"{run} step 0 {k} vs the target's")
        close(history[-1][k], final[k], 1e-12, f"{run} last history point {k} vs eval.json's")
        close(summary["final"][k], final[k], 1e-12, f"{run} summary final {k}")
    return summary


def check_suite(lethe, suite_cfg, work):
    """`lethe suite run` of a tiny MUSE suite (ga, npo; stages shared), each
    run checked, the report's rows equal to the runs' numbers, and a run on
    muse.dir = the first run's corpus reusing the cached stages."""
    base = os.path.join(work, "base.cfg")
    with open(os.path.join(os.path.dirname(os.path.abspath(suite_cfg)), "tiny.cfg")) as src, \
            open(base, "w") as f:
        f.write(src.read() + f'cache_dir = "{os.path.join(work, "cache")}";\n')
    suite = os.path.join(work, "suite.cfg")
    with open(suite_cfg) as src, open(suite, "w") as f:
        f.write(src.read().replace("@BASE@", base))
    out_dir = os.path.join(work, "out")
    out = subprocess.run([lethe, "suite", "run", suite, "--out", out_dir, "-j", "2", "--quiet"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"lethe suite run failed:\n{out.stdout}\n{out.stderr}")
    cache = sorted(os.listdir(os.path.join(work, "cache")))
    for stage in ("muse-target-", "muse-retain-"):
        dirs = [d for d in cache if d.startswith(stage) and not d.endswith((".lock", ".partial"))]
        if len(dirs) != 1:
            sys.exit(f"the runs did not share one {stage} stage: {cache}")
        evals = [d for d in os.listdir(os.path.join(work, "cache", dirs[0])) if d.startswith("muse-eval-")
                 and not d.endswith(".lock")]
        if len(evals) != 1:
            sys.exit(f"{dirs[0]}: {evals}: not one cached MUSE evaluation")
    report = json.load(open(os.path.join(out_dir, "results.json")))
    csv = open(os.path.join(out_dir, "results.csv")).read().splitlines()
    html = open(os.path.join(out_dir, "report.html")).read()
    if report["kind"] != "muse" or len(report["runs"]) != 2 or len(csv) != 3 or "(MUSE)" not in html:
        sys.exit(f"the report: kind {report['kind']}, {len(report['runs'])} runs, {len(csv)} csv lines")
    header = csv[0].split(",")
    finals = {}
    for row, line in zip(report["runs"], csv[1:]):
        run = os.path.join(out_dir, "runs", row["name"])
        retain, target = check_models(run)
        summary = check_unlearned(run, target, retain)
        cells = dict(zip(header, line.split(",")))
        for k in ("verbmem_forget", "knowmem_forget", "knowmem_retain", "privleak", "mia_min_k_auc"):
            for which, want in (("final", summary["final"][k]), ("target", target[k]), ("retain", retain[k])):
                got = row[which][k]
                if (want is None) != (got is None) or (want is not None and got != want):
                    sys.exit(f"results.json {row['name']} {which} {k}: {got}, the run {want}")
                if want is not None:
                    close(float(cells[f"{which}_{k}"]), want, 0, f"results.csv {row['name']} {which}_{k}")
        if len(row["history"]) != summary["steps"] + 1 or row["method"] != summary["method"]:
            sys.exit(f"results.json {row['name']}: {len(row['history'])} history points, method {row['method']}")
        finals[summary["method"]] = summary["final"]
        if summary["method"] == "ga" and not summary["final"]["verbmem_forget"] < target["verbmem_forget"]:
            sys.exit(f"ga did not lower VerbMem forget: {summary['final']['verbmem_forget']} vs the "
                     f"target's {target['verbmem_forget']}")
    # muse.dir: the same corpus read from a directory; the same stages and references
    first = os.path.join(out_dir, "runs", report["runs"][0]["name"])
    again = os.path.join(work, "dir-run")
    out = subprocess.run([lethe, "muse", base, "--out", again, "--quiet", "-s", "unlearn.epochs=1",
                          "-s", f'muse.dir="{os.path.join(first, "corpus")}"'], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"lethe muse with muse.dir failed:\n{out.stderr}")
    if sorted(os.listdir(os.path.join(work, "cache"))) != cache:
        sys.exit("a run on muse.dir with the same corpus trained new stages")
    if os.path.exists(os.path.join(again, "corpus")):
        sys.exit("a run on muse.dir wrote a corpus of its own")
    s_again = json.load(open(os.path.join(again, "summary.json")))
    s_first = json.load(open(os.path.join(first, "summary.json")))
    if s_again["target"] != s_first["target"] or s_again["retain"] != s_first["retain"]:
        sys.exit("muse.dir: the references differ from the embedded corpus's")
    print("ok: " + "; ".join(f"{m}: VerbMem {f['verbmem_forget']:.4f} KnowMem forget "
                             f"{f['knowmem_forget']:.4f} retain {f['knowmem_retain']:.4f} PrivLeak "
                             f"{f['privleak']:.2f}" for m, f in finals.items())
          + f"; target VerbMem {target['verbmem_forget']:.4f} PrivLeak {target['privleak']:.2f}")


def check_mpi(lethe, mpiexec, config, work):
    """`lethe muse` under mpirun with 2 ranks after one process on the same
    stage cache: it finishes (ranks agree on every collective), reuses the
    references, and unlearns as one process does up to rounding."""
    runs = {}
    for name, launcher in (("one", []), ("two", [mpiexec, "--oversubscribe", "--allow-run-as-root",
                                                 "-np", "2"])):
        run = os.path.join(work, name)
        out = subprocess.run(launcher + [lethe, "muse", config, "--out", run, "--quiet",
                                         "-s", f"cache_dir={os.path.join(work, 'cache')}"],
                             capture_output=True, text=True, timeout=240)
        if out.returncode != 0:
            sys.exit(f"lethe muse ({name}) failed:\n{out.stderr}")
        runs[name] = json.load(open(os.path.join(run, "summary.json")))
        check_unlearned(run, runs[name]["target"], runs[name]["retain"])
    one, two = runs["one"], runs["two"]
    if one["target"] != two["target"] or one["retain"] != two["retain"]:
        sys.exit("2 ranks evaluated the cached references differently")
    close(two["final"]["loss"], one["final"]["loss"], 1e-5 * abs(one["final"]["loss"]), "final loss")
    print(f"ok: final loss {one['final']['loss']:.7f} (1 process) vs {two['final']['loss']:.7f} (2 ranks)")


def main():
    mode, work = sys.argv[1], sys.argv[-1]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    if mode == "dump":
        check_dump(sys.argv[2], work)
    elif mode == "mpi":
        check_mpi(sys.argv[2], sys.argv[3], sys.argv[4], work)
    else:
        check_suite(sys.argv[2], sys.argv[3], work)


main()
