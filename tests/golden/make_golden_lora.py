#!/usr/bin/python3
"""make_golden_lora.py - reference vectors for LoRA adapters (PEFT's LoRA,
shared notes real-checkpoints.md section 8) on three of make_golden_arch.py's
models, from an independent float64 PyTorch computation (no peft).

  make_golden_lora.py DATA_ROOT [--case NAME ...]

reads DATA_ROOT/<base>/model and DATA_ROOT/<base>/forget.jsonl (the arch
golden cases: llama3-rope-bias, qwen2-tiny, phi-tiny) and writes DATA_ROOT/lora-<base>/: adapter/ (adapter_config.json
and adapter_model.safetensors as PEFT saves them; A and B both random so that
every gradient is non-zero), golden.safetensors (forget.logits of the adapted
model, grad.nll_forget.<adapter tensor> for every lora_A/lora_B) and
summary.json. The forward is make_golden_arch.py's with every targeted linear
layer replaced by y = x.W^T + b + s.(x.A^T).B^T (dropout 0).
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden_arch as arch  # noqa: E402
from make_golden import read_safetensors, token_logprobs, write_json, write_safetensors  # noqa: E402

CASES = {
    # every projection; q (96 rows) and o differ in shape from k, v (head_dim 24, GQA)
    "llama3-rope-bias": dict(r=4, lora_alpha=8.0, use_rslora=False,
                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                             "gate_proj", "up_proj", "down_proj"]),
    # a subset, rsLoRA scaling, tied embeddings, q/k/v biases
    "qwen2-tiny": dict(r=3, lora_alpha=5.0, use_rslora=True,
                       target_modules=["v_proj", "q_proj", "down_proj"]),
    # phi's names (dense, fc1, fc2), parallel attention and MLP on one norm
    "phi-tiny": dict(r=2, lora_alpha=3.0, use_rslora=False,
                     target_modules=["q_proj", "dense", "fc1", "fc2"]),
}
MLP_MODULES = ("gate_proj", "up_proj", "down_proj", "fc1", "fc2")


def adapter_config(base, spec):
    return {"alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base,
            "bias": "none", "fan_in_fan_out": False, "inference_mode": True,
            "init_lora_weights": True, "layers_pattern": None, "layers_to_transform": None,
            "lora_alpha": spec["lora_alpha"], "lora_dropout": 0.0, "modules_to_save": None,
            "peft_type": "LORA", "r": spec["r"], "rank_pattern": {}, "revision": None,
            "target_modules": spec["target_modules"], "task_type": "CAUSAL_LM",
            "use_dora": False, "use_rslora": spec["use_rslora"]}


def make_case(root, base, seed):
    spec = CASES[base]
    with open(os.path.join(root, base, "model", "config.json")) as fp:
        cfg = json.load(fp)
    a = arch.Arch(cfg)
    weights = read_safetensors(os.path.join(root, base, "model", "model.safetensors"))
    rows = [json.loads(line) for line in open(os.path.join(root, base, "forget.jsonl"))]
    ids = torch.tensor([r["input_ids"] for r in rows])
    mask = torch.tensor([r["attention_mask"] for r in rows])
    labels = torch.tensor([r["labels"] for r in rows])
    r = spec["r"]
    scale = spec["lora_alpha"] / (math.sqrt(r) if spec["use_rslora"] else r)
    gen = torch.Generator().manual_seed(seed)
    adapter = {}
    for i in range(a.L):
        for mod in spec["target_modules"]:
            where = "mlp" if mod in MLP_MODULES else "self_attn"
            out_dim, in_dim = weights["model.layers.%d.%s.%s.weight" % (i, where, mod)].shape
            key = "base_model.model.model.layers.%d.%s.%s." % (i, where, mod)
            bound = 1.0 / math.sqrt(in_dim)  # PEFT's kaiming_uniform(a=sqrt(5))
            adapter[key + "lora_A.weight"] = (
                (torch.rand((r, in_dim), generator=gen, dtype=torch.float64) * 2 - 1) * bound
            ).to(torch.float32)
            adapter[key + "lora_B.weight"] = (
                0.05 * torch.randn((out_dim, r), generator=gen, dtype=torch.float64)
            ).to(torch.float32)
    names = sorted(adapter)
    LP = {n: adapter[n].to(torch.float64).requires_grad_(True) for n in names}
    base_linear = arch.linear

    def lora_linear(P, name, x):
        y = base_linear(P, name, x)
        key = "base_model.model." + name + ".lora_A.weight"
        if key not in LP:
            return y
        B = LP[key.replace("lora_A", "lora_B")]
        return y + scale * ((x @ LP[key].T) @ B.T)

    arch.linear = lora_linear
    P = {n: t.to(torch.float64) for n, t in weights.items()}
    logits = arch.forward(a, P, ids, mask)
    lp, tmask = token_logprobs(logits, labels)
    nll = -lp.sum() / int(tmask.sum())
    golden = {"forget.logits": logits.detach()}
    for n, g in zip(names, torch.autograd.grad(nll, [LP[n] for n in names])):
        golden["grad.nll_forget." + n] = g
    arch.linear = base_linear

    out = os.path.join(root, "lora-" + base)
    os.makedirs(os.path.join(out, "adapter"), exist_ok=True)
    write_json(os.path.join(out, "adapter", "adapter_config.json"),
               adapter_config("../../%s/model" % base, spec))
    write_safetensors(os.path.join(out, "adapter", "adapter_model.safetensors"), adapter,
                      {"format": "pt"})
    write_safetensors(os.path.join(out, "golden.safetensors"), golden)
    write_json(os.path.join(out, "summary.json"), {
        "case": "lora-" + base, "base": base, "adapter": spec, "scale": scale, "seed": seed,
        "torch": torch.__version__,
        "generator": "tests/golden/make_golden_lora.py (independent float64 reference)",
        "nll_forget": float(nll)})
    print("wrote %s (nll %.6f, %d adapter tensors)" % (out, float(nll), len(names)))


def main():
    torch.set_default_dtype(torch.float64)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root")
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    ap.add_argument("--seed", type=int, default=2718)
    args = ap.parse_args()
    for base in args.case or sorted(CASES):
        make_case(args.root, base, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
