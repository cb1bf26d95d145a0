#!/usr/bin/python3
"""make_golden_arch.py - reference vectors for lethe's model families (llama
variants with rope scaling and biases, mistral, qwen2, qwen3, phi), from an
independent float64 PyTorch implementation written from the published
architecture definitions (shared notes, real-checkpoints.md sections 3-4; no
transformers).

  make_golden_arch.py OUT_ROOT [--case NAME ...]

writes OUT_ROOT/<case>/ for every case (or the named ones): model/
(config.json as Hugging Face writes it for the family, model.safetensors),
forget.jsonl, retain.jsonl, golden.safetensors (forget.logits,
<batch>.token_logprobs, grad.nll_forget.<tensor> for every parameter) and
summary.json (config, greedy prompt and continuation). The safetensors and
batch helpers are make_golden.py's.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import random_batch, token_logprobs, write_bytes, write_json, write_safetensors  # noqa: E402

GREEDY_PROMPT, GREEDY_NEW = 6, 12
BATCHES = ("forget", "retain")


def base_config(model_type, arch, **extra):
    cfg = {"architectures": [arch], "model_type": model_type, "vocab_size": 97,
           "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512,
           "initializer_range": 0.2, "bos_token_id": 1, "eos_token_id": 2,
           "tie_word_embeddings": False, "torch_dtype": "float32", "use_cache": True,
           "attention_dropout": 0.0}
    if model_type != "phi":
        cfg.update({"hidden_act": "silu", "rms_norm_eps": 1e-6, "rope_theta": 10000.0})
    cfg.update(extra)
    return dict(sorted(cfg.items()))


CASES = {
    # llama3 scaling: wavelengths 6.3 (kept), 19.9 and 62.8 (interpolated), rest divided
    "llama3-rope-bias": base_config(
        "llama", "LlamaForCausalLM", attention_bias=True, mlp_bias=True, head_dim=24,
        pretraining_tp=1, rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                        "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                        "original_max_position_embeddings": 64}),
    "llama-linear": base_config(
        "llama", "LlamaForCausalLM", attention_bias=False, mlp_bias=False, head_dim=16,
        tie_word_embeddings=True, rope_theta=None,
        rope_parameters={"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0}),
    # a window of 8 keys: it binds in the 24-token batches and in greedy decoding
    "mistral-tiny": base_config("mistral", "MistralForCausalLM", head_dim=16,
                                sliding_window=8),
    "qwen2-tiny": base_config("qwen2", "Qwen2ForCausalLM", tie_word_embeddings=True,
                              use_sliding_window=False, sliding_window=32768,
                              max_window_layers=2, rope_theta=1000000.0),
    "qwen3-tiny": base_config("qwen3", "Qwen3ForCausalLM", tie_word_embeddings=True,
                              head_dim=32, attention_bias=False, use_sliding_window=False,
                              sliding_window=None, max_window_layers=2,
                              rope_theta=1000000.0),
    "phi-tiny": base_config("phi", "PhiForCausalLM", hidden_act="gelu_new",
                            layer_norm_eps=1e-5, partial_rotary_factor=0.5, qk_layernorm=False,
                            rope_theta=10000.0, rope_scaling=None, resid_pdrop=0.0,
                            embd_pdrop=0.0),
}


class Arch:
    """What the math needs from a config.json (families of notes section 4)."""

    def __init__(self, cfg):
        self.family = cfg["model_type"]
        self.V, self.C = cfg["vocab_size"], cfg["hidden_size"]
        self.F, self.L = cfg["intermediate_size"], cfg["num_hidden_layers"]
        self.NH = cfg["num_attention_heads"]
        self.NKV = cfg.get("num_key_value_heads") or self.NH
        self.HD = cfg.get("head_dim") or self.C // self.NH
        self.tied = bool(cfg.get("tie_word_embeddings"))
        self.phi = self.family == "phi"
        self.eps = cfg["layer_norm_eps"] if self.phi else cfg.get("rms_norm_eps", 1e-6)
        rope = dict(cfg.get("rope_scaling") or {})
        rope.update(cfg.get("rope_parameters") or {})
        self.rope = rope
        self.theta = rope.get("rope_theta", cfg.get("rope_theta") or 10000.0)
        self.rot = int(self.HD * cfg.get("partial_rotary_factor", 1.0))
        self.qkv_bias = self.phi or self.family == "qwen2" or bool(cfg.get("attention_bias"))
        self.o_bias = self.phi or (self.family == "llama" and bool(cfg.get("attention_bias")))
        self.mlp_bias = self.phi or (self.family == "llama" and bool(cfg.get("mlp_bias")))
        self.qk_norm = self.family == "qwen3"
        self.window = (cfg.get("sliding_window") or 0) if self.family == "mistral" else 0


def param_shapes(a):
    """HF names and shapes of every parameter of the family."""
    QD, KVD, C = a.NH * a.HD, a.NKV * a.HD, a.C
    s = {"model.embed_tokens.weight": (a.V, C)}
    for i in range(a.L):
        p = "model.layers.%d." % i
        s[p + "input_layernorm.weight"] = (C,)
        if a.phi:
            s[p + "input_layernorm.bias"] = (C,)
        for proj, rows in (("q_proj", QD), ("k_proj", KVD), ("v_proj", KVD)):
            s[p + "self_attn.%s.weight" % proj] = (rows, C)
            if a.qkv_bias:
                s[p + "self_attn.%s.bias" % proj] = (rows,)
        o = "self_attn.dense" if a.phi else "self_attn.o_proj"
        s[p + o + ".weight"] = (C, QD)
        if a.o_bias:
            s[p + o + ".bias"] = (C,)
        if a.qk_norm:
            s[p + "self_attn.q_norm.weight"] = (a.HD,)
            s[p + "self_attn.k_norm.weight"] = (a.HD,)
        if a.phi:
            for name, shape in (("fc1", (a.F, C)), ("fc2", (C, a.F))):
                s[p + "mlp.%s.weight" % name] = shape
                s[p + "mlp.%s.bias" % name] = (shape[0],)
        else:
            s[p + "post_attention_layernorm.weight"] = (C,)
            for name, shape in (("gate_proj", (a.F, C)), ("up_proj", (a.F, C)),
                                ("down_proj", (C, a.F))):
                s[p + "mlp.%s.weight" % name] = shape
                if a.mlp_bias:
                    s[p + "mlp.%s.bias" % name] = (shape[0],)
    if a.phi:
        s["model.final_layernorm.weight"] = (C,)
        s["model.final_layernorm.bias"] = (C,)
    else:
        s["model.norm.weight"] = (C,)
    if not a.tied:
        s["lm_head.weight"] = (a.V, C)
    if a.phi:
        s["lm_head.bias"] = (a.V,)
    return s


def inv_freq(a):
    """Notes 3.5: default, linear and llama3 frequencies over the rotated dims."""
    f = 1.0 / (float(a.theta) ** (torch.arange(0, a.rot, 2, dtype=torch.float64) / a.rot))
    kind = a.rope.get("rope_type", a.rope.get("type", "default"))
    if kind == "linear":
        return f / a.rope["factor"]
    if kind == "llama3":
        factor, lo, hi = a.rope["factor"], a.rope["low_freq_factor"], a.rope["high_freq_factor"]
        N = a.rope["original_max_position_embeddings"]
        out = []
        for x in f.tolist():
            wl = 2 * math.pi / x
            if wl < N / hi:
                out.append(x)
            elif wl > N / lo:
                out.append(x / factor)
            else:
                s = (N / wl - lo) / (hi - lo)
                out.append((1 - s) * x / factor + s * x)
        return torch.tensor(out, dtype=torch.float64)
    assert kind == "default", kind
    return f


def rope(x, cos, sin, rot):
    """Rotate-half on the first rot dims of the last axis; the rest passes."""
    r, rest = x[..., :rot], x[..., rot:]
    h = rot // 2
    rotated = torch.cat((-r[..., h:], r[..., :h]), dim=-1)
    return torch.cat((r * cos + rotated * sin, rest), dim=-1)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = (x - mu).pow(2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


def linear(P, name, x):
    y = x @ P[name + ".weight"].T
    return y + P[name + ".bias"] if name + ".bias" in P else y


def attention(a, P, p, h, cos, sin, allowed):
    B, T, _ = h.shape
    q = linear(P, p + "q_proj", h).view(B, T, a.NH, a.HD)
    k = linear(P, p + "k_proj", h).view(B, T, a.NKV, a.HD)
    v = linear(P, p + "v_proj", h).view(B, T, a.NKV, a.HD)
    if a.qk_norm:
        q = rms_norm(q, P[p + "q_norm.weight"], a.eps)
        k = rms_norm(k, P[p + "k_norm.weight"], a.eps)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, HD)
    q, k = rope(q, cos, sin, a.rot), rope(k, cos, sin, a.rot)
    g = a.NH // a.NKV
    k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(a.HD)
    scores = scores.masked_fill(~allowed, float("-inf"))
    # a query with no visible key (a padding query whose whole window is
    # padding) attends to nothing: zeros, as lethe does (HF's finfo.min mask
    # spreads it over every key; such positions carry no loss)
    probs = torch.nan_to_num(torch.softmax(scores, -1), nan=0.0)
    out = (probs @ v).transpose(1, 2).reshape(B, T, a.NH * a.HD)
    return linear(P, p + ("dense" if a.phi else "o_proj"), out)


def forward(a, P, ids, mask):
    B, T = ids.shape
    x = P["model.embed_tokens.weight"][ids]
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq(a)[None, :]
    ang = torch.cat((ang, ang), -1)
    cos, sin = ang.cos(), ang.sin()
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    if a.window:  # notes 3.6: key k visible from query q iff q - window < k <= q
        causal &= ~torch.ones(T, T, dtype=torch.bool).tril(-a.window)
    allowed = causal[None, None] & mask.bool()[:, None, None, :]
    for i in range(a.L):
        p = "model.layers.%d." % i
        if a.phi:  # one LayerNorm, attention and MLP in parallel
            h = layer_norm(x, P[p + "input_layernorm.weight"], P[p + "input_layernorm.bias"],
                           a.eps)
            mlp = linear(P, p + "mlp.fc2", gelu_new(linear(P, p + "mlp.fc1", h)))
            x = x + attention(a, P, p + "self_attn.", h, cos, sin, allowed) + mlp
            continue
        h = rms_norm(x, P[p + "input_layernorm.weight"], a.eps)
        x = x + attention(a, P, p + "self_attn.", h, cos, sin, allowed)
        h = rms_norm(x, P[p + "post_attention_layernorm.weight"], a.eps)
        gated = F.silu(linear(P, p + "mlp.gate_proj", h)) * linear(P, p + "mlp.up_proj", h)
        x = x + linear(P, p + "mlp.down_proj", gated)
    if a.phi:
        x = layer_norm(x, P["model.final_layernorm.weight"], P["model.final_layernorm.bias"],
                       a.eps)
    else:
        x = rms_norm(x, P["model.norm.weight"], a.eps)
    head = P["model.embed_tokens.weight"] if a.tied else P["lm_head.weight"]
    logits = x @ head.T
    return logits + P["lm_head.bias"] if "lm_head.bias" in P else logits


def greedy(a, P, prompt, n):
    ids = torch.tensor([prompt])
    with torch.no_grad():
        for _ in range(n):
            nxt = forward(a, P, ids, torch.ones_like(ids))[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat((ids, nxt), 1)
    return ids[0, len(prompt):].tolist()


def random_weights(a, gen, init):
    """Norm weights around 1, biases and LayerNorm biases small but non-zero
    (so a missing term shows), matrices N(0, init)."""
    out = {}
    for name, shape in param_shapes(a).items():
        z = torch.randn(shape, generator=gen, dtype=torch.float64)
        if "norm" in name and name.endswith(".weight"):
            w = 1.0 + 0.1 * z
        elif name.endswith(".bias"):
            w = 0.1 * z
        else:
            w = init * z
        out[name] = w.to(torch.float32)
    return out


def make_case(root, case, seed):
    cfg = {k: v for k, v in CASES[case].items() if v is not None or k == "sliding_window"}
    a = Arch(cfg)
    gen = torch.Generator().manual_seed(seed)
    weights = random_weights(a, gen, cfg["initializer_range"])
    T, rows = 24, 3
    batches = {}
    for i, b in enumerate(BATCHES):
        lengths = torch.randint(T // 2, T + 1, (rows,), generator=gen).tolist()
        lengths[i % rows] = T
        questions = torch.randint(3, 8, (rows,), generator=gen).tolist()
        batches[b] = random_batch(gen, rows, T, a.V, lengths, questions)
    names = list(param_shapes(a))
    P = {n: weights[n].to(torch.float64).requires_grad_(True) for n in names}
    golden, total, count = {}, 0.0, 0
    for b in BATCHES:
        logits = forward(a, P, torch.tensor(batches[b]["input_ids"]),
                         torch.tensor(batches[b]["attention_mask"]))
        lp, tmask = token_logprobs(logits, torch.tensor(batches[b]["labels"]))
        golden[b + ".token_logprobs"] = lp
        if b == "forget":
            golden["forget.logits"] = logits
            total, count = -lp.sum(), int(tmask.sum())
    nll = total / count
    for n, g in zip(names, torch.autograd.grad(nll, [P[n] for n in names])):
        golden["grad.nll_forget." + n] = g
    prompt = batches["forget"]["input_ids"][0][:GREEDY_PROMPT]
    cont = greedy(a, {n: t.detach() for n, t in P.items()}, prompt, GREEDY_NEW)

    out = os.path.join(root, case)
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    write_json(os.path.join(out, "model", "config.json"), cfg)
    write_safetensors(os.path.join(out, "model", "model.safetensors"), weights, {"format": "pt"})
    for b in BATCHES:
        rows_ = [dict(input_ids=i, attention_mask=m, labels=l) for i, m, l in
                 zip(batches[b]["input_ids"], batches[b]["attention_mask"], batches[b]["labels"])]
        write_bytes(os.path.join(out, b + ".jsonl"),
                    "".join(json.dumps(r) + "\n" for r in rows_).encode())
    write_safetensors(os.path.join(out, "golden.safetensors"),
                      {k: v.detach() for k, v in golden.items()})
    write_json(os.path.join(out, "summary.json"), {
        "case": case, "config": cfg, "seed": seed, "torch": torch.__version__,
        "generator": "tests/golden/make_golden_arch.py (independent float64 reference)",
        "nll_forget": float(nll), "greedy": {"prompt": prompt, "continuation": cont}})
    print("wrote %s (nll %.6f, %d tensors)" % (out, float(nll), len(names)))


def main():
    torch.set_default_dtype(torch.float64)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root")
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    ap.add_argument("--seed", type=int, default=4321)
    args = ap.parse_args()
    for case in args.case or sorted(CASES):
        make_case(args.root, case, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
