#!/usr/bin/python3
"""lethe_torch - a self-contained float64 PyTorch reference of lethe's Llama, for
checking a method plugin's gradients (docs/writing-a-method.md, section 7).

Needs torch alone (Debian's python3-torch; no transformers, no safetensors
module): a safetensors reader, the Llama forward (RMSNorm, rotate-half
rotary, GQA, causal + padding mask, SwiGLU, tied or untied head) and
lethe's batch files. Installed with lethe's SDK (pkg-config variable
`torchreference`); lethe's own golden vectors are made with it
(tests/golden/make_golden.py).

    import lethe_torch as lt
    s, P = lt.load_model("model_dir")                 # float64, requires_grad
    ids, mask, labels = lt.read_rows("forget.jsonl")  # padded like `lethe grad`
    logits = lt.forward(s, P, ids, mask)
    lp, counted = lt.token_logprobs(logits, labels)   # (B, T-1)
    loss = -lp.sum() / counted.sum()
    loss.backward()
    mine = lt.read_safetensors("grads.safetensors")   # lethe grad --out
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

# ---- safetensors, by hand (torch 1.13 has no safetensors module) -------------

ST_DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "BF16": (torch.bfloat16, 2),
             "F16": (torch.float16, 2)}


def read_safetensors(path):
    """Returns {name: float32 tensor} for an F32/F64/BF16/F16 safetensors file (one file)."""
    with open(path, "rb") as fp:
        blob = fp.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + header_len])
    data = blob[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, size = ST_DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        flat = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype)
        tensors[name] = flat.reshape(info["shape"]).to(torch.float32)
    return tensors



# ---- the model ------------------------------------------------------------------


class Shape:
    """The config.json fields the math needs."""

    def __init__(self, cfg):
        self.vocab = cfg["vocab_size"]
        self.hidden = cfg["hidden_size"]
        self.layers = cfg["num_hidden_layers"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads") or self.heads
        self.head_dim = cfg.get("head_dim") or self.hidden // self.heads
        self.ffn = cfg["intermediate_size"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        rope = cfg.get("rope_parameters") or {}
        self.theta = rope.get("rope_theta", cfg.get("rope_theta", 10000.0))
        self.tied = bool(cfg.get("tie_word_embeddings", False))


def param_shapes(s):
    """HF parameter names and shapes, in a fixed order."""
    shapes = {"model.embed_tokens.weight": (s.vocab, s.hidden)}
    for i in range(s.layers):
        p = "model.layers.%d." % i
        shapes[p + "input_layernorm.weight"] = (s.hidden,)
        shapes[p + "self_attn.q_proj.weight"] = (s.heads * s.head_dim, s.hidden)
        shapes[p + "self_attn.k_proj.weight"] = (s.kv_heads * s.head_dim, s.hidden)
        shapes[p + "self_attn.v_proj.weight"] = (s.kv_heads * s.head_dim, s.hidden)
        shapes[p + "self_attn.o_proj.weight"] = (s.hidden, s.heads * s.head_dim)
        shapes[p + "post_attention_layernorm.weight"] = (s.hidden,)
        shapes[p + "mlp.gate_proj.weight"] = (s.ffn, s.hidden)
        shapes[p + "mlp.up_proj.weight"] = (s.ffn, s.hidden)
        shapes[p + "mlp.down_proj.weight"] = (s.hidden, s.ffn)
    shapes["model.norm.weight"] = (s.hidden,)
    if not s.tied:
        shapes["lm_head.weight"] = (s.vocab, s.hidden)
    return shapes


def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rotary_tables(s, T):
    """cos, sin of shape (T, head_dim) in the HF layout (angles repeated)."""
    exponents = torch.arange(0, s.head_dim, 2, dtype=torch.float64) / s.head_dim
    inv_freq = 1.0 / (float(s.theta) ** exponents)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def forward(s, P, input_ids, attention_mask, hidden=None):
    """Logits (B, T, V) for every position. Keys whose attention_mask is 0 are
    masked for every query; queries at pad positions are computed normally.
    A list `hidden` receives each decoder block's output (B, T, C), in order
    (HF hidden_states[1:] before the final norm)."""
    B, T = input_ids.shape
    x = P["model.embed_tokens.weight"][input_ids]  # (B, T, C)
    cos, sin = rotary_tables(s, T)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = causal[None, None, :, :] & attention_mask.bool()[:, None, None, :]  # (B,1,T,T)
    group = s.heads // s.kv_heads
    for i in range(s.layers):
        p = "model.layers.%d." % i
        h = rms_norm(x, P[p + "input_layernorm.weight"], s.eps)
        q = (h @ P[p + "self_attn.q_proj.weight"].T).view(B, T, s.heads, s.head_dim)
        k = (h @ P[p + "self_attn.k_proj.weight"].T).view(B, T, s.kv_heads, s.head_dim)
        v = (h @ P[p + "self_attn.v_proj.weight"].T).view(B, T, s.kv_heads, s.head_dim)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, HD)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(group, dim=1)  # query head j reads kv head j // group
        v = v.repeat_interleave(group, dim=1)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(s.head_dim)
        scores = scores.masked_fill(~allowed, float("-inf"))
        att = torch.softmax(scores, dim=-1) @ v  # (B, NH, T, HD)
        att = att.transpose(1, 2).reshape(B, T, s.heads * s.head_dim)
        x = x + att @ P[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, P[p + "post_attention_layernorm.weight"], s.eps)
        gate = h @ P[p + "mlp.gate_proj.weight"].T
        up = h @ P[p + "mlp.up_proj.weight"].T
        x = x + (F.silu(gate) * up) @ P[p + "mlp.down_proj.weight"].T
        if hidden is not None:
            hidden.append(x)
    x = rms_norm(x, P["model.norm.weight"], s.eps)
    head = P["model.embed_tokens.weight"] if s.tied else P["lm_head.weight"]
    return x @ head.T


def token_logprobs(logits, labels):
    """(B, T-1): log p(labels[:, t+1]) at position t, 0 where the label is -100."""
    targets = labels[:, 1:]
    mask = targets != -100
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return torch.where(mask, picked, torch.zeros_like(picked)), mask



# ---- lethe's files -----------------------------------------------------------------


def load_model(model_dir, requires_grad=True):
    """(Shape, {HF name: float64 tensor}) of DIR/config.json and DIR/model.safetensors."""
    with open(os.path.join(model_dir, "config.json")) as fp:
        s = Shape(json.load(fp))
    weights = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return s, {n: weights[n].to(torch.float64).requires_grad_(requires_grad) for n in param_shapes(s)}


def read_rows(path, pad_id=0):
    """input_ids, attention_mask, labels (B, T) of a JSON-lines batch, right-padded to
    its longest row (pad_id, mask 0, label -100) as `lethe grad` packs one file."""
    with open(path) as fp:
        rows = [json.loads(line) for line in fp if line.strip()]
    T = max(len(r["input_ids"]) for r in rows)

    def column(key, fill):
        return torch.tensor([r[key] + [fill] * (T - len(r[key])) for r in rows])
    return column("input_ids", pad_id), column("attention_mask", 0), column("labels", -100)
