#!/usr/bin/python3
"""eval_mia_check — membership inference, PrivLeak and memorisation as
`lethe eval` computes them, checked from outside: a tiny embedded world
(forget10 and its holdout10), two random tiny models (one plays the retain
model), the retain model evaluated, then the other one against it
(--retain-eval); then

- summary.json has the AUC of every attack, and each equals
  sklearn.metrics.roc_auc_score recomputed from the per-example scores of
  eval.json (forget labelled 0, holdout 1, as open-unlearning) to 1e-9;
- the reference attack of every forget and holdout example equals its LOSS
  minus the retain model's LOSS of that example (the retain eval.json) to
  1e-9; the retain model's own evaluation has no reference scores and no
  PrivLeak;
- PrivLeak of every attack equals 100 · ((1 − A) − (1 − R)) / (1 − R) with
  A and R sklearn's AUCs of the two evaluations' scores (R = 0.5 for the
  reference attack: the retain model against itself scores 0 everywhere),
  to 1e-9;
- exact memorisation and extraction strength of every forget, retain and
  holdout example equal open-unlearning's loops on argmax predictions a
  PyTorch forward of the same model gives (tests/bench/torch_llama.py),
  positions where PyTorch's top two logits are within 1e-4 left out; the
  summary's forget_es, forget_em, retain_es, retain_em equal the means of
  eval.json's values to 1e-9;
- with --no-mia, none of these keys appears;
- every forget and holdout example has every score;
- LOSS, ZLib and Min-K% (k = 0.4) equal a recomputation from the token
  log-probs `lethe score` gives for rows built here by hand (`lethe
  tokenize`): LOSS and ZLib over every target (answer and end token), Min-K%
  without the last, ZLib's text the targets decoded without special tokens;
- LOSS equals the forget examples' avg_nll (the two model passes agree).

Usage: eval_mia_check.py LETHE WORKDIR. Exit 77 (skip) without
python3-sklearn or python3-torch.
"""
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import zlib

try:
    from sklearn.metrics import roc_auc_score
except ImportError:
    print("SKIP: python3-sklearn is missing (apt-get install python3-sklearn)")
    sys.exit(77)
try:
    import torch
except ImportError:
    print("SKIP: python3-torch is missing (apt-get install python3-torch)")
    sys.exit(77)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from torch_llama import Llama, read_model_weights  # noqa: E402

ATTACKS = ["loss", "zlib", "min_k", "min_k_plus_plus", "reference"]
SCORED = ATTACKS[:4]  # the attacks `lethe score` can recompute by hand
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


def make_model(lethe, work, world, name, seed):
    vocab = json.load(open(os.path.join(world, "world.json")))["counts"]["vocab"]
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
              "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
              "num_key_value_heads": 1, "head_dim": 16, "num_hidden_layers": 2,
              "vocab_size": vocab, "max_position_embeddings": 256, "rms_norm_eps": 1e-5,
              "initializer_range": 0.2, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
              "tie_word_embeddings": False, "rope_theta": 10000.0}
    path = os.path.join(work, "config.json")
    json.dump(config, open(path, "w"))
    model = os.path.join(work, name)
    run(lethe, "init", "--config", path, "--out", model, "--tokenizer", world, "--seed", str(seed))
    return model


def encode_rows(lethe, world, rows):
    """(prompt ids, answer ids) of each (question, answer), as evaluation builds them."""
    prompts = lines_of_ids(lethe, world, ["[INST] " + r["question"] + " [/INST]" for r in rows], True)
    answers = lines_of_ids(lethe, world, [r["answer"] for r in rows], False)
    return list(zip(prompts, answers))


def ou_memorization(pred, label):
    """open-unlearning's exact_memorization and extraction_strength loops."""
    n = len(label)
    em = sum(p == t for p, t in zip(pred, label)) / n if n else None
    if n == 0:
        return em, 0.0
    k = 0
    for k in range(n):
        if pred[k:] == label[k:]:
            break
    return em, 1 - k / n


def write_safetensors(path, tensors):
    """float32 tensors as a safetensors file (header, then the raw bytes)."""
    header, at, blobs = {}, 0, []
    for name in sorted(tensors):
        data = tensors[name].detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [at, at + len(data)]}
        at += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def teach(model_dir, encoded, epochs=12, eos=2):
    """Fits the model (PyTorch, Adam) to the answers of `encoded` so that it
    reproduces many of their tokens, and writes it back: a model whose EM
    and ES are far from a random model's 0 and 1/L."""
    torch.manual_seed(0)
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    weights = read_model_weights(model_dir)
    model = Llama(cfg, weights)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(epochs):
        for prompt, answer in encoded:
            ids = torch.tensor([prompt + answer + [eos]])
            logits = model(ids[:, :-1])[0, len(prompt) - 1:]
            loss = torch.nn.functional.cross_entropy(logits, ids[0, len(prompt):])
            opt.zero_grad()
            loss.backward()
            opt.step()
    write_safetensors(os.path.join(model_dir, "model.safetensors"), weights)


def torch_memorization(model_dir, encoded, eos=2):
    """EM and ES of each row from a PyTorch forward: the argmax at every
    position that predicts a target but the last (OU's token choice), and
    how many positions had a near tie (top two logits within 1e-4)."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    model = Llama(cfg, read_model_weights(model_dir))
    out = []
    with torch.no_grad():
        for prompt, answer in encoded:
            ids = prompt + answer + [eos]
            logits = model(torch.tensor([ids]))[0].double()
            rows = logits[len(prompt) - 1:len(prompt) + len(answer) - 1]  # predict answer tokens
            top = rows.topk(2, dim=-1).values
            near = int(((top[:, 0] - top[:, 1]) < 1e-4).sum())
            em, es = ou_memorization(rows.argmax(-1).tolist(), answer)
            out.append({"em": em, "es": es, "near_ties": near})
    return out


def hand_scores(lethe, work, world, model, rows):
    """LOSS, ZLib, Min-K% of each (question, answer) from `lethe score`."""
    prompts, answers = zip(*encode_rows(lethe, world, rows))
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


def auc(member, nonmember):
    return roc_auc_score([0] * len(member) + [1] * len(nonmember), member + nonmember)


def check_attacks(summary, forget, holdout, attacks, failures):
    """Every attack's AUC in summary.json against sklearn on eval.json's scores."""
    aucs = {}
    for a in attacks:
        key = "mia_" + a
        member = [x.get(key) for x in forget]
        nonmember = [x.get(key) for x in holdout]
        if any(not isinstance(v, float) for v in member + nonmember):
            failures.append(f"{key}: an example has no score")
            continue
        aucs[a] = want = auc(member, nonmember)
        got = summary.get(key + "_auc")
        print(f"{key}_auc {got} sklearn {want}")
        if not isinstance(got, float) or abs(got - want) > 1e-9:
            failures.append(f"{key}_auc {got} vs sklearn {want}")
    return aucs


def check_reference_and_privleak(ev, summary, retain_ev, retain_summary, aucs, failures):
    for name in ("forget", "holdout"):
        for x, r in zip(ev[name], retain_ev[name]):
            want = x["mia_loss"] - r["mia_loss"]
            if abs(x.get("mia_reference", math.inf) - want) > 1e-9:
                failures.append(f"{name} '{x['question']}': mia_reference {x.get('mia_reference')} vs {want}")
            if "mia_reference" in r:
                failures.append(f"the retain model's {name} example has a reference score")
    if retain_summary.get("mia_reference_auc") is not None or any(k.startswith("privleak") for k in retain_summary):
        failures.append("the retain model's summary has a reference AUC or a PrivLeak")
    for a in ATTACKS:
        retain_auc = 0.5 if a == "reference" else auc([x["mia_" + a] for x in retain_ev["forget"]],
                                                       [x["mia_" + a] for x in retain_ev["holdout"]])
        want = 100 * ((1 - aucs[a]) - (1 - retain_auc)) / (1 - retain_auc)
        got = summary.get("privleak_" + a)
        print(f"privleak_{a} {got} recomputed {want} (AUC {aucs[a]:.4f}, retain {retain_auc:.4f})")
        if not isinstance(got, float) or abs(got - want) > 1e-9 * max(1.0, abs(want)):
            failures.append(f"privleak_{a} {got} vs {want}")


def check_memorization(lethe, world, model, ev, summary, failures):
    near = 0
    for name in ("forget", "retain", "holdout"):
        examples = ev[name]
        mine = torch_memorization(model, encode_rows(lethe, world, examples))
        for x, m in zip(examples, mine):
            near += m["near_ties"]
            if m["near_ties"]:
                continue
            if m["em"] is None and "em" in x or m["em"] is not None and x.get("em") != m["em"]:
                failures.append(f"{name} '{x['question']}': em {x.get('em')} vs {m['em']} (PyTorch)")
            if abs(x.get("es", math.inf) - m["es"]) > 1e-12:
                failures.append(f"{name} '{x['question']}': es {x.get('es')} vs {m['es']} (PyTorch)")
        if name == "holdout":
            continue
        for k in ("es", "em"):
            values = [x[k] for x in examples if k in x]
            want = sum(values) / len(values)
            got = summary.get(f"{name}_{k}")
            print(f"{name}_{k} {got} mean of eval.json {want}")
            if not isinstance(got, float) or abs(got - want) > 1e-9:
                failures.append(f"{name}_{k} {got} vs the mean {want}")
    print(f"memorisation: {near} near-tie positions left out")


def evaluate(lethe, model, world, out, *extra):
    run(lethe, "eval", "--model", model, "--data", world, "--split", "forget10", "--out", out,
        "--max-new-tokens", "2", "--compute", "f32", *extra)
    return (json.load(open(os.path.join(out, "eval.json"))),
            json.load(open(os.path.join(out, "summary.json"))))


def main():
    lethe, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    world = os.path.join(work, "world")
    run(lethe, "world", "--out", world, "--seed", "5", "-s", "world.authors=10",
        "-s", "world.general_qa=12", "-s", "world.idk=10")
    model = make_model(lethe, work, world, "model", 3)
    retain = make_model(lethe, work, world, "retain", 4)
    # the evaluated model learns half the forget answers and half the retain ones
    def rows(name):
        return [json.loads(line) for line in open(os.path.join(world, name + ".json"))]
    teach(model, encode_rows(lethe, world, rows("forget10_perturbed")[:10] + rows("retain_perturbed")[:10]))
    retain_out = os.path.join(work, "retain-eval")
    retain_ev, retain_summary = evaluate(lethe, retain, world, retain_out)
    out = os.path.join(work, "eval")
    ev, summary = evaluate(lethe, model, world, out, "--retain-eval", os.path.join(retain_out, "eval.json"))
    forget, holdout = ev["forget"], ev["holdout"]
    failures = []
    if summary.get("holdout_split") != "holdout10" or summary.get("n_holdout") != len(holdout):
        failures.append(f"holdout_split {summary.get('holdout_split')}, n_holdout {summary.get('n_holdout')}")
    if len(forget) != 20 or len(holdout) != 20:
        failures.append(f"{len(forget)} forget and {len(holdout)} holdout examples, not 20 and 20")
    aucs = check_attacks(summary, forget, holdout, ATTACKS, failures)
    check_attacks(retain_summary, retain_ev["forget"], retain_ev["holdout"], SCORED, failures)
    if len(aucs) == len(ATTACKS):
        check_reference_and_privleak(ev, summary, retain_ev, retain_summary, aucs, failures)
    for name, examples in (("forget", forget), ("holdout", holdout)):
        for x, h in zip(examples, hand_scores(lethe, work, world, model, examples)):
            for a in h:
                if abs(x["mia_" + a] - h[a]) > 1e-5 * max(1.0, abs(h[a])):
                    failures.append(f"{name} '{x['question']}': mia_{a} {x['mia_' + a]} vs {h[a]} by hand")
    for x in forget:
        if abs(x["mia_loss"] - x["avg_nll"]) > 1e-4:
            failures.append(f"forget '{x['question']}': mia_loss {x['mia_loss']} vs avg_nll {x['avg_nll']}")
    check_memorization(lethe, world, model, ev, summary, failures)
    off_ev, off_summary = evaluate(lethe, model, world, os.path.join(work, "no-mia"), "--no-mia",
                                   "--retain-eval", os.path.join(retain_out, "eval.json"))
    keys = [k for k in off_summary if k.startswith(("mia_", "privleak_")) or k.endswith(("_es", "_em"))]
    keys += [k for s in ("forget", "retain") for x in off_ev[s] for k in x
             if k.startswith("mia_") or k in ("es", "em")]
    if keys or "holdout" in off_ev:
        failures.append(f"--no-mia still wrote {sorted(set(keys))[:6]} (holdout array: {'holdout' in off_ev})")
    for f in failures[:20]:
        print("FAIL:", f)
    if failures:
        sys.exit(1)
    print("membership inference, PrivLeak and memorisation equal the independent computations")


if __name__ == "__main__":
    main()
