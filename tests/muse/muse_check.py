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

`muse_check.py run LETHE CONFIG WORKDIR` checks the same on a whole
`lethe muse` run (tests/muse/tiny.cfg: target and retain models trained on
the corpus), and that the target, trained on the forget documents, has the
higher VerbMem and Min-K% AUC.

Usage: muse_check.py dump MUSE_EVAL_DUMP WORKDIR | run LETHE CONFIG WORKDIR.
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


def check_run(lethe, config, work):
    run = os.path.join(work, "run")
    out = subprocess.run([lethe, "muse", config, "--out", run, "--quiet",
                          "-s", f"cache_dir={os.path.join(work, 'cache')}"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"lethe muse failed:\n{out.stderr}")
    retain, target = check_models(run)
    summary = json.load(open(os.path.join(run, "summary.json")))
    if summary["target"] != target or summary["retain"] != retain or summary["kind"] != "muse":
        sys.exit("summary.json does not hold the two models' summaries")
    # the target was trained on the forget documents, the retain model not
    if not target["verbmem_forget"] > retain["verbmem_forget"]:
        sys.exit(f"VerbMem: target {target['verbmem_forget']} <= retain {retain['verbmem_forget']}")
    if not target["mia_min_k_auc"] > retain["mia_min_k_auc"]:
        sys.exit(f"Min-K% AUC: target {target['mia_min_k_auc']} <= retain {retain['mia_min_k_auc']}")
    print(f"ok: target VerbMem {target['verbmem_forget']:.4f} AUC {target['mia_min_k_auc']:.4f} "
          f"PrivLeak {target['privleak']:.2f}; retain VerbMem {retain['verbmem_forget']:.4f} "
          f"AUC {retain['mia_min_k_auc']:.4f}")


def main():
    mode, work = sys.argv[1], sys.argv[-1]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    if mode == "dump":
        check_dump(sys.argv[2], work)
    else:
        check_run(sys.argv[2], sys.argv[3], work)


main()
