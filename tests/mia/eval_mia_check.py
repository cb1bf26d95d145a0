#!/usr/bin/python3
"""eval_mia_check — membership inference as `lethe eval` runs it, checked
from outside: a tiny embedded world (forget10 and its holdout10), a random
tiny model, one evaluation; then

- summary.json has the AUC of every attack, and each equals
  sklearn.metrics.roc_auc_score recomputed from the per-example scores of
  eval.json (forget labelled 0, holdout 1, as open-unlearning) to 1e-9;
- every forget and holdout example has every score;
- LOSS, ZLib and Min-K% (k = 0.4) equal a recomputation from the token
  log-probs `lethe score` gives for rows built here by hand (`lethe
  tokenize`): LOSS and ZLib over every target (answer and end token), Min-K%
  without the last, ZLib's text the targets decoded without special tokens;
- LOSS equals the forget examples' avg_nll (the two model passes agree).

Usage: eval_mia_check.py LETHE WORKDIR. Exit 77 (skip) without
python3-sklearn.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import zlib

try:
    from sklearn.metrics import roc_auc_score
except ImportError:
    print("SKIP: python3-sklearn is missing (apt-get install python3-sklearn)")
    sys.exit(77)

ATTACKS = ["loss", "zlib", "min_k", "min_k_plus_plus"]
K = 0.4


def run(*args, stdin=None):
    out = subprocess.run(args, input=stdin, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{out.stderr}")
    return out.stdout


def lines_of_ids(lethe, tok_dir, texts, special):
    flags = [] if special else ["--no-special"]
    out = run(lethe, "tokenize", "--tokenizer", tok_dir, *flags, stdin="".join(t + "\n" for t in texts))
    return [json.loads(line) for line in out.splitlines()]


def make_model(lethe, work, world):
    vocab = json.load(open(os.path.join(world, "world.json")))["counts"]["vocab"]
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
              "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
              "num_key_value_heads": 1, "head_dim": 16, "num_hidden_layers": 2,
              "vocab_size": vocab, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
              "initializer_range": 0.2, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
              "tie_word_embeddings": False, "rope_theta": 10000.0}
    path = os.path.join(work, "config.json")
    json.dump(config, open(path, "w"))
    model = os.path.join(work, "model")
    run(lethe, "init", "--config", path, "--out", model, "--tokenizer", world, "--seed", "3")
    return model


def hand_scores(lethe, work, world, model, rows):
    """LOSS, ZLib, Min-K% of each (question, answer) from `lethe score`."""
    prompts = lines_of_ids(lethe, world, ["[INST] " + r["question"] + " [/INST]" for r in rows], True)
    answers = lines_of_ids(lethe, world, [r["answer"] for r in rows], False)
    eos = 2
    data = os.path.join(work, "rows.jsonl")
    with open(data, "w") as f:
        for p, a in zip(prompts, answers):
            ids = p + a + [eos]
            f.write(json.dumps({"input_ids": ids, "labels": [-100] * len(p) + a + [eos]}) + "\n")
    scored = [json.loads(line) for line in run(lethe, "score", "--model", model, "--data", data).splitlines()]
    decoded = run(lethe, "tokenize", "--tokenizer", world, "--decode", "--skip-special",
                  stdin="".join(json.dumps(a + [eos]) + "\n" for a in answers)).splitlines()
    out = []
    for p, a, s, text in zip(prompts, answers, scored, decoded):
        lp = s["token_logp"][len(p) - 1:len(p) + len(a)]  # position t predicts token t + 1
        assert len(lp) == len(a) + 1
        loss = -sum(lp) / len(lp)
        rest = sorted(lp[:-1])
        m = max(1, int(len(rest) * K))
        out.append({"loss": loss, "zlib": loss / len(zlib.compress(text.encode("utf-8"))),
                    "min_k": -sum(rest[:m]) / m})
    return out


def main():
    lethe, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    world = os.path.join(work, "world")
    run(lethe, "world", "--out", world, "--seed", "5", "-s", "world.authors=10",
        "-s", "world.general_qa=12", "-s", "world.idk=10")
    model = make_model(lethe, work, world)
    out = os.path.join(work, "eval")
    run(lethe, "eval", "--model", model, "--data", world, "--split", "forget10", "--out", out,
        "--max-new-tokens", "2", "--compute", "f32")
    summary = json.load(open(os.path.join(out, "summary.json")))
    ev = json.load(open(os.path.join(out, "eval.json")))
    forget, holdout = ev["forget"], ev["holdout"]
    failures = []
    if summary.get("holdout_split") != "holdout10" or summary.get("n_holdout") != len(holdout):
        failures.append(f"holdout_split {summary.get('holdout_split')}, n_holdout {summary.get('n_holdout')}")
    if len(forget) != 20 or len(holdout) != 20:
        failures.append(f"{len(forget)} forget and {len(holdout)} holdout examples, not 20 and 20")
    for a in ATTACKS:
        key = "mia_" + a
        member = [x.get(key) for x in forget]
        nonmember = [x.get(key) for x in holdout]
        if any(not isinstance(v, float) for v in member + nonmember):
            failures.append(f"{key}: an example has no score")
            continue
        want = roc_auc_score([0] * len(member) + [1] * len(nonmember), member + nonmember)
        got = summary.get(key + "_auc")
        print(f"{key}_auc {got} sklearn {want}")
        if not isinstance(got, float) or abs(got - want) > 1e-9:
            failures.append(f"{key}_auc {got} vs sklearn {want}")
    for name, examples in (("forget", forget), ("holdout", holdout)):
        for x, h in zip(examples, hand_scores(lethe, work, world, model, examples)):
            for a in h:
                if abs(x["mia_" + a] - h[a]) > 1e-5 * max(1.0, abs(h[a])):
                    failures.append(f"{name} '{x['question']}': mia_{a} {x['mia_' + a]} vs {h[a]} by hand")
    for x in forget:
        if abs(x["mia_loss"] - x["avg_nll"]) > 1e-4:
            failures.append(f"forget '{x['question']}': mia_loss {x['mia_loss']} vs avg_nll {x['avg_nll']}")
    for f in failures[:20]:
        print("FAIL:", f)
    if failures:
        sys.exit(1)
    print("membership inference: AUCs equal sklearn's, scores equal the hand computation")


if __name__ == "__main__":
    main()
