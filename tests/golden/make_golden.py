#!/usr/bin/python3
"""make_golden.py - reference vectors for lethe's Llama, from an independent
float64 PyTorch implementation (no transformers needed; torch >= 1.13).

Two commands:

  check SHARED_DIR [--out DIR]
      Recomputes every expected value of a golden directory (such as
      /work/shared/golden/llama-tiny, built with Hugging Face transformers)
      from that directory's own weights and batches, compares them with its
      golden.safetensors and summary.json, prints the largest differences and
      exits non-zero if any exceeds --tol (default 1e-5). This is what shows
      the reference below equals Hugging Face's LlamaForCausalLM.

  generate OUT_DIR [model and batch options]
      Builds a random model of the given shape, a reference model (policy +
      small noise) and forget/retain/idk batches, and writes a directory laid
      out exactly like the shared one (model/, ref_model/, *.jsonl,
      batches.json, golden.safetensors, summary.json).

Everything is computed in float64 from the float32 weights that are saved.
The tensors and losses are those of tests/golden/README.md.
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib",
                                "torch_reference"))
from lethe_torch import (Shape, forward, param_shapes, read_safetensors,  # noqa: E402,F401
                         token_logprobs)

BETA = 0.1
SIMNPO_BETA = 0.5
SIMNPO_DELTA = 4.0
ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
GREEDY_PROMPT, GREEDY_NEW = 6, 12
BATCH_NAMES = ("forget", "retain", "idk")
LOSS_NAMES = ("nll_forget", "ga", "grad_diff", "kl", "npo", "npo_rt", "npo_kl", "dpo", "idk",
              "simnpo")

# ---- safetensors writing (reading and the model: lethe_torch) ----------------

def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} as F32: names sorted, offsets contiguous, header
    padded with spaces to a multiple of 8 bytes."""
    header = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    chunks, offset = [], 0
    for name in sorted(tensors):
        raw = tensors[name].detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    write_bytes(path, struct.pack("<Q", len(text)) + text + b"".join(chunks))


def write_bytes(path, payload):
    tmp = path + ".tmp"
    with open(tmp, "wb") as fp:
        fp.write(payload)
    os.replace(tmp, path)


def write_json(path, obj, indent=2):
    write_bytes(path, (json.dumps(obj, indent=indent) + "\n").encode())


# ---- the model ------------------------------------------------------------------


def greedy(s, P, prompt, n_new):
    ids = torch.tensor([prompt])
    with torch.no_grad():
        for _ in range(n_new):
            logits = forward(s, P, ids, torch.ones_like(ids))
            ids = torch.cat((ids, logits[:, -1].argmax(-1, keepdim=True)), dim=1)
    return ids[0, len(prompt):].tolist()


# ---- losses (tests/golden/README.md) -----------------------------------------------


def kl_all_positions(policy_logits, ref_logits):
    """Mean over all B*T positions of KL(p_ref || p_policy)."""
    V = policy_logits.shape[-1]
    logp = torch.log_softmax(policy_logits.reshape(-1, V), dim=-1)
    logr = torch.log_softmax(ref_logits.reshape(-1, V), dim=-1)
    return (logr.exp() * (logr - logp)).sum() / logp.shape[0]


def all_losses(pol, ref):
    """pol[b] / ref[b]: dict with logits, lp (token logprobs), mask, nll (row
    sums). Returns {loss name: scalar}."""

    def nll_mean(*names):
        total = sum(-pol[b]["lp"].sum() for b in names)
        count = sum(int(pol[b]["mask"].sum()) for b in names)
        return total / count

    def npo():
        margin = BETA * (ref["forget"]["nll"] - pol["forget"]["nll"])
        return (2.0 / BETA) * F.softplus(margin).mean()

    def dpo():
        win = -pol["idk"]["nll"] + ref["idk"]["nll"]  # l(idk) - l_ref(idk)
        lose = -pol["forget"]["nll"] + ref["forget"]["nll"]
        return -(2.0 / BETA) * F.logsigmoid(BETA * (win - lose)).mean()

    def simnpo():
        n = pol["forget"]["mask"].sum(dim=1).to(torch.float64)
        x = SIMNPO_BETA * (pol["forget"]["nll"] / n - SIMNPO_DELTA)
        return -(2.0 / SIMNPO_BETA) * F.logsigmoid(x).mean()

    kl_retain = kl_all_positions(pol["retain"]["logits"], ref["retain"]["logits"])
    forget, retain = nll_mean("forget"), nll_mean("retain")
    npo_loss = npo()
    return {
        "nll_forget": forget,
        "ga": -forget,
        "grad_diff": -forget + retain,
        "kl": -forget + kl_retain,
        "npo": npo_loss,
        "npo_rt": npo_loss + retain,
        "npo_kl": npo_loss + kl_retain,
        "dpo": dpo(),
        "idk": nll_mean("idk", "retain"),
        "simnpo": simnpo(),
    }


def run_batches(s, P, batches):
    out = {}
    for b in BATCH_NAMES:
        ids = torch.tensor(batches[b]["input_ids"])
        mask = torch.tensor(batches[b]["attention_mask"])
        labels = torch.tensor(batches[b]["labels"])
        logits = forward(s, P, ids, mask)
        lp, tmask = token_logprobs(logits, labels)
        out[b] = {"logits": logits, "lp": lp, "mask": tmask, "nll": -lp.sum(dim=1)}
    return out


def compute_golden(cfg, policy32, ref32, batches):
    """Returns (golden tensors, losses, greedy continuation)."""
    s = Shape(cfg)
    names = list(param_shapes(s))
    P = {n: policy32[n].to(torch.float64).requires_grad_(True) for n in names}
    R = {n: ref32[n].to(torch.float64) for n in names}
    with torch.no_grad():
        ref = run_batches(s, R, batches)
    pol = run_batches(s, P, batches)
    losses = all_losses(pol, ref)

    golden = {"forget.logits": pol["forget"]["logits"]}
    for b in BATCH_NAMES:
        golden[b + ".token_logprobs"] = pol[b]["lp"]
        golden[b + ".seq_nll"] = pol[b]["nll"]
        golden[b + ".ref_seq_nll"] = ref[b]["nll"]
    params = [P[n] for n in names]
    grads = {}
    for loss_name in LOSS_NAMES:
        g = torch.autograd.grad(losses[loss_name], params, retain_graph=True)
        grads[loss_name] = dict(zip(names, g))
        for n in names:
            golden["grad.%s.%s" % (loss_name, n)] = grads[loss_name][n]

    # Two AdamW steps, both with the nll_forget gradient at the start point.
    stepped = [policy32[n].to(torch.float64).clone().requires_grad_(True) for n in names]
    opt = torch.optim.AdamW(stepped, **ADAMW)
    for _ in range(2):
        for p, n in zip(stepped, names):
            p.grad = grads["nll_forget"][n].clone()
        opt.step()
    for p, n in zip(stepped, names):
        golden["adamw2." + n] = p

    prompt = batches["forget"]["input_ids"][0][:GREEDY_PROMPT]
    continuation = greedy(s, {n: t.detach() for n, t in P.items()}, prompt, GREEDY_NEW)
    golden = {k: v.detach() for k, v in golden.items()}
    return golden, {k: float(v) for k, v in losses.items()}, prompt, continuation


# ---- directories ---------------------------------------------------------------------


def read_jsonl(path):
    with open(path) as fp:
        rows = [json.loads(line) for line in fp if line.strip()]
    return {k: [r[k] for r in rows] for k in ("input_ids", "attention_mask", "labels")}


def read_golden_dir(d):
    with open(os.path.join(d, "model", "config.json")) as fp:
        cfg = json.load(fp)
    policy = read_safetensors(os.path.join(d, "model", "model.safetensors"))
    ref = read_safetensors(os.path.join(d, "ref_model", "model.safetensors"))
    batches = {b: read_jsonl(os.path.join(d, b + ".jsonl")) for b in BATCH_NAMES}
    return cfg, policy, ref, batches


def summary_config(cfg):
    s = Shape(cfg)
    return {
        "vocab_size": s.vocab, "hidden_size": s.hidden, "intermediate_size": s.ffn,
        "num_hidden_layers": s.layers, "num_attention_heads": s.heads,
        "num_key_value_heads": s.kv_heads, "head_dim": s.head_dim,
        "max_position_embeddings": cfg.get("max_position_embeddings", 2048),
        "rms_norm_eps": s.eps, "rope_theta": float(s.theta), "tie_word_embeddings": s.tied,
        "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
        "bos_token_id": cfg.get("bos_token_id"), "eos_token_id": cfg.get("eos_token_id"),
        "pad_token_id": cfg.get("pad_token_id"),
        "initializer_range": cfg.get("initializer_range", 0.02), "model_type": "llama",
        "architectures": ["LlamaForCausalLM"], "torch_dtype": "float32",
    }


def write_golden_dir(out, case, cfg, policy, ref, batches, seed=None):
    golden, losses, prompt, continuation = compute_golden(cfg, policy, ref, batches)
    for sub, weights in (("model", policy), ("ref_model", ref)):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        write_json(os.path.join(out, sub, "config.json"), cfg)
        write_json(os.path.join(out, sub, "generation_config.json"), {
            "bos_token_id": cfg.get("bos_token_id"), "eos_token_id": cfg.get("eos_token_id"),
            "pad_token_id": cfg.get("pad_token_id")})
        write_safetensors(os.path.join(out, sub, "model.safetensors"), weights, {"format": "pt"})
    for b in BATCH_NAMES:
        rows = [dict(input_ids=i, attention_mask=m, labels=l) for i, m, l in
                zip(batches[b]["input_ids"], batches[b]["attention_mask"], batches[b]["labels"])]
        write_bytes(os.path.join(out, b + ".jsonl"),
                    "".join(json.dumps(r) + "\n" for r in rows).encode())
    write_bytes(os.path.join(out, "batches.json"), json.dumps(batches).encode())
    write_safetensors(os.path.join(out, "golden.safetensors"), golden)
    summary = {
        "case": case, "config": summary_config(cfg), "beta": BETA, "npo_coeff": 1.0,
        "retain_coeff": 1.0, "simnpo_beta": SIMNPO_BETA, "simnpo_delta": SIMNPO_DELTA,
        "hf_vs_local_max_abs": None, "transformers": False, "torch": torch.__version__,
        "generator": "tests/golden/make_golden.py (independent float64 reference)",
        "seed": seed, "losses": losses,
        "adamw": {"lr": ADAMW["lr"], "betas": list(ADAMW["betas"]), "eps": ADAMW["eps"],
                  "weight_decay": ADAMW["weight_decay"], "steps": 2,
                  "grad": "grad.nll_forget.* applied at both steps"},
        "greedy": {"prompt": prompt, "continuation": continuation},
    }
    write_json(os.path.join(out, "summary.json"), summary)
    return golden, losses, continuation


# ---- commands ------------------------------------------------------------------------


def cmd_check(args):
    cfg, policy, ref, batches = read_golden_dir(args.shared)
    golden, losses, prompt, continuation = compute_golden(cfg, policy, ref, batches)
    expected = read_safetensors(os.path.join(args.shared, "golden.safetensors"))
    with open(os.path.join(args.shared, "summary.json")) as fp:
        summary = json.load(fp)
    if args.out:  # also exercise the writer: compare what was written
        write_golden_dir(args.out, "check", cfg, policy, ref, batches)
        golden = read_safetensors(os.path.join(args.out, "golden.safetensors"))
    missing = sorted(set(expected) ^ set(golden))
    if missing:
        print("tensor names differ:", missing[:10])
        return 1
    groups, raw_worst = {}, 0.0
    for name, want in expected.items():
        want = want.to(torch.float64)
        # golden.safetensors stores float32: compare our values as they would be
        # stored, and report the raw float64 difference (float32 rounding) too.
        raw_worst = max(raw_worst, (golden[name].to(torch.float64) - want).abs().max().item())
        stored = golden[name].to(torch.float32).to(torch.float64)
        diff = (stored - want).abs().max().item()
        group = ".".join(name.split(".")[:2]) if name.startswith("grad.") else name.split(".")[0]
        groups[group] = max(groups.get(group, 0.0), diff)
    loss_diff = max(abs(losses[k] - summary["losses"][k]) for k in LOSS_NAMES)
    for group in sorted(groups):
        print("%-22s max |diff| %.3e" % (group, groups[group]))
    print("%-22s max |diff| %.3e" % ("summary losses", loss_diff))
    same_greedy = continuation == summary["greedy"]["continuation"]
    print("greedy continuation   ", "identical" if same_greedy else "DIFFERS")
    print("%-22s max |diff| %.3e (float64 values vs the stored float32 ones)" %
          ("unrounded", raw_worst))
    worst = max(max(groups.values()), loss_diff, raw_worst)
    print("overall max |diff| %.3e (tolerance %.0e): %s" %
          (worst, args.tol, "OK" if worst <= args.tol and same_greedy else "FAIL"))
    return 0 if worst <= args.tol and same_greedy else 1


def random_batch(gen, rows, T, vocab, lengths, question_lengths):
    """Right-padded rows (pad id 0); labels -100 on the question and padding."""
    batch = {"input_ids": [], "attention_mask": [], "labels": []}
    for r in range(rows):
        n, q = lengths[r], question_lengths[r]
        tokens = torch.randint(1, vocab, (n,), generator=gen).tolist()
        batch["input_ids"].append(tokens + [0] * (T - n))
        batch["attention_mask"].append([1] * n + [0] * (T - n))
        batch["labels"].append([-100] * q + tokens[q:] + [-100] * (T - n))
    return batch


def cmd_generate(args):
    if args.hidden % args.heads and not args.head_dim:
        sys.exit("hidden must be divisible by heads unless --head-dim is given")
    head_dim = args.head_dim or args.hidden // args.heads
    cfg = {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False,
        "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2, "head_dim": head_dim,
        "hidden_act": "silu", "hidden_size": args.hidden,
        "initializer_range": args.init_range, "intermediate_size": args.intermediate,
        "max_position_embeddings": args.max_pos, "mlp_bias": False, "model_type": "llama",
        "num_attention_heads": args.heads, "num_hidden_layers": args.layers,
        "num_key_value_heads": args.kv_heads or args.heads, "pad_token_id": 0,
        "pretraining_tp": 1, "rms_norm_eps": args.eps,
        "tie_word_embeddings": args.tie, "use_cache": True, "vocab_size": args.vocab,
    }
    if args.rope_style == "top-level":  # transformers <= 4 style
        cfg.update({"rope_scaling": None, "rope_theta": args.rope_theta,
                    "torch_dtype": "float32"})
    else:  # transformers 5 style
        cfg.update({"dtype": "float32",
                    "rope_parameters": {"rope_theta": args.rope_theta, "rope_type": "default"}})
    cfg = dict(sorted(cfg.items()))

    gen = torch.Generator().manual_seed(args.seed)
    s = Shape(cfg)
    policy, ref = {}, {}
    for name, shape in param_shapes(s).items():
        if name.endswith("norm.weight"):  # not all ones, so a missing weight shows
            w = 1.0 + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float64)
        else:
            w = args.init_range * torch.randn(shape, generator=gen, dtype=torch.float64)
        policy[name] = w.to(torch.float32)
        noise = args.ref_noise * torch.randn(shape, generator=gen, dtype=torch.float64)
        ref[name] = (w + noise).to(torch.float32)

    T, rows = args.seq, args.rows
    batches = {}
    for b in BATCH_NAMES:
        lengths = torch.randint(T // 2, T + 1, (rows,), generator=gen).tolist()
        lengths[BATCH_NAMES.index(b) % rows] = T  # one row per batch without padding
        questions = torch.randint(3, 8, (rows,), generator=gen).tolist()
        batches[b] = random_batch(gen, rows, T, args.vocab, lengths, questions)
    write_golden_dir(args.out, os.path.basename(os.path.normpath(args.out)), cfg, policy, ref,
                     batches, seed=args.seed)
    print("wrote", args.out)
    return 0


def main():
    torch.set_default_dtype(torch.float64)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="recompute a golden directory and compare")
    c.add_argument("shared")
    c.add_argument("--out", help="also write the regenerated directory here")
    c.add_argument("--tol", type=float, default=1e-5)
    g = sub.add_parser("generate", help="write a new golden directory")
    g.add_argument("out")
    g.add_argument("--vocab", type=int, required=True)
    g.add_argument("--hidden", type=int, required=True)
    g.add_argument("--intermediate", type=int, required=True)
    g.add_argument("--layers", type=int, required=True)
    g.add_argument("--heads", type=int, required=True)
    g.add_argument("--kv-heads", type=int, default=0, help="default: --heads")
    g.add_argument("--head-dim", type=int, default=0, help="default: hidden / heads")
    g.add_argument("--rope-theta", type=float, default=10000.0)
    g.add_argument("--rope-style", choices=("top-level", "parameters"), default="parameters")
    g.add_argument("--tie", action="store_true", help="tie lm_head to the embeddings")
    g.add_argument("--eps", type=float, default=1e-6, help="rms_norm_eps")
    g.add_argument("--init-range", type=float, default=0.02)
    g.add_argument("--ref-noise", type=float, default=0.02)
    g.add_argument("--max-pos", type=int, default=128)
    g.add_argument("--rows", type=int, default=3)
    g.add_argument("--seq", type=int, default=24)
    g.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    return cmd_check(args) if args.command == "check" else cmd_generate(args)


if __name__ == "__main__":
    sys.exit(main())
