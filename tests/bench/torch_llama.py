#!/usr/bin/python3
"""torch_llama — the PyTorch baseline of lethe's benchmark (tests/bench/run.sh).

A plain fp32 PyTorch Llama (RMSNorm, rotate-half rotary, GQA, SwiGLU, tied or
untied head), written the way a seed's research code would write it: explicit
attention with a causal mask, torch.optim.AdamW, no compilation. It loads the
model directory lethe wrote (config.json + model.safetensors, read with
struct+json because torch 1.13 has no safetensors package) and the batch lethe
used (batch.bin), so losses can be compared value for value.

Modes (one JSON line on stdout):
  train     forward + backward + AdamW; per-step seconds and losses
  score     no-grad forward + per-token log-probs; per-batch seconds
  generate  greedy decoding with a KV cache: prefill seconds, per-token seconds
  matmul    torch's fp32 GEMM rate on the model's linear shapes (its BLAS)
Not here: the comparison and the tables (run.sh reads these lines).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

ST_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        t = torch.frombuffer(bytearray(raw[base + lo:base + hi]), dtype=ST_DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).float()
    return out


class Llama(torch.nn.Module):
    def __init__(self, cfg, weights):
        super().__init__()
        self.cfg = cfg
        self.C = cfg["hidden_size"]
        self.NH = cfg["num_attention_heads"]
        self.NKV = cfg.get("num_key_value_heads", self.NH)
        self.HD = cfg.get("head_dim", self.C // self.NH)
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        theta = cfg.get("rope_theta", 10000.0)
        P = torch.nn.Parameter
        self.embed = P(weights["model.embed_tokens.weight"].clone())
        self.layers = torch.nn.ModuleList()
        for l in range(self.L):
            pre = "model.layers.%d." % l
            layer = torch.nn.Module()
            for short, name in [("attn_norm", "input_layernorm.weight"),
                                ("wq", "self_attn.q_proj.weight"),
                                ("wk", "self_attn.k_proj.weight"),
                                ("wv", "self_attn.v_proj.weight"),
                                ("wo", "self_attn.o_proj.weight"),
                                ("mlp_norm", "post_attention_layernorm.weight"),
                                ("w_gate", "mlp.gate_proj.weight"),
                                ("w_up", "mlp.up_proj.weight"),
                                ("w_down", "mlp.down_proj.weight")]:
                setattr(layer, short, P(weights[pre + name].clone()))
            self.layers.append(layer)
        self.final_norm = P(weights["model.norm.weight"].clone())
        self.tied = cfg.get("tie_word_embeddings", False)
        if not self.tied:
            self.lm_head = P(weights["lm_head.weight"].clone())
        inv_freq = 1.0 / (theta ** (torch.arange(0, self.HD, 2, dtype=torch.int64).float() / self.HD))
        self.inv_freq = inv_freq

    def rms(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope(self, x, pos):
        # x (B, H, T, HD); pos (T,) positions
        freqs = pos.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat([freqs, freqs], dim=-1)
        cos, sin = emb.cos(), emb.sin()
        h = self.HD // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
        return x * cos + rot * sin

    def forward(self, tokens, cache=None, start=0):
        """tokens (B, T). cache: list of [k, v] (B, NKV, S, HD) tensors filled
        up to `start`; the new keys/values are written after it."""
        B, T = tokens.shape
        x = F.embedding(tokens, self.embed)
        pos = torch.arange(start, start + T)
        group = self.NH // self.NKV
        if cache is None or T > 1:
            mask = torch.full((T, start + T), float("-inf")).triu(start + 1)
        else:
            mask = None
        for l, ly in enumerate(self.layers):
            h = self.rms(x, ly.attn_norm)
            q = (h @ ly.wq.t()).view(B, T, self.NH, self.HD).transpose(1, 2)
            k = (h @ ly.wk.t()).view(B, T, self.NKV, self.HD).transpose(1, 2)
            v = (h @ ly.wv.t()).view(B, T, self.NKV, self.HD).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if cache is not None:
                cache[l][0][:, :, start:start + T] = k
                cache[l][1][:, :, start:start + T] = v
                k = cache[l][0][:, :, :start + T]
                v = cache[l][1][:, :, :start + T]
            if group > 1:
                k = k.repeat_interleave(group, dim=1)
                v = v.repeat_interleave(group, dim=1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.HD)
            if mask is not None:
                s = s + mask
            a = torch.softmax(s, dim=-1) @ v
            x = x + a.transpose(1, 2).reshape(B, T, self.NH * self.HD) @ ly.wo.t()
            h = self.rms(x, ly.mlp_norm)
            x = x + (F.silu(h @ ly.w_gate.t()) * (h @ ly.w_up.t())) @ ly.w_down.t()
        x = self.rms(x, self.final_norm)
        return x @ (self.embed if self.tied else self.lm_head).t()


def target_logp(logits, targets):
    lp = torch.log_softmax(logits, dim=-1)
    return lp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (targets >= 0)


def mean_nll(logits, targets):
    lp = target_logp(logits, targets)
    return -lp.sum() / (targets >= 0).sum()


def load(dirname):
    with open(os.path.join(dirname, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(dirname, "bench.json")) as f:
        meta = json.load(f)
    weights = read_safetensors(os.path.join(dirname, "model.safetensors"))
    B, T = meta["batch"], meta["seq"]
    with open(os.path.join(dirname, "batch.bin"), "rb") as f:
        raw = f.read()
    ints = torch.tensor(struct.unpack("<%di" % (2 * B * T), raw[:8 * B * T]), dtype=torch.int64)
    return cfg, meta, weights, ints[:B * T].view(B, T), ints[B * T:].view(B, T)


def pick_threads(model, tokens, targets, candidates):
    """The fastest intra-op thread count for forward+backward (weights unchanged)."""
    best = None
    for n in candidates:
        torch.set_num_threads(n)
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            mean_nll(model(tokens), targets).backward()
            times.append(time.perf_counter() - t0)
            model.zero_grad(set_to_none=True)
        if best is None or min(times) < best[1]:
            best = (n, min(times))
    torch.set_num_threads(best[0])
    return best[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--mode", choices=["train", "score", "generate", "matmul"], default="train")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", default="1", help="intra-op threads, or 'auto' (try 1 and cores)")
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new", type=int, default=32)
    args = ap.parse_args()
    torch.manual_seed(0)
    cfg, meta, weights, tokens, targets = load(args.dir)
    model = Llama(cfg, weights)
    cores = os.cpu_count() or 1
    out = {"impl": "torch", "mode": args.mode, "torch": torch.__version__,
           "hidden": cfg["hidden_size"], "layers": cfg["num_hidden_layers"],
           "seq": meta["seq"], "batch": meta["batch"], "compute": "f32"}
    if args.threads == "auto":
        out["threads"] = pick_threads(model, tokens, targets, sorted({1, cores}))
    else:
        torch.set_num_threads(int(args.threads))
        out["threads"] = int(args.threads)
    out["blas_threads"] = os.environ.get("OPENBLAS_NUM_THREADS", "")
    if args.mode == "train":
        opt = torch.optim.AdamW(model.parameters(), lr=meta["lr"], betas=(0.9, 0.999), eps=1e-8,
                                weight_decay=meta["weight_decay"])
        times, losses = [], []
        for r in range(args.warmup + args.reps):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = mean_nll(model(tokens), targets)
            loss.backward()
            opt.step()
            dt = time.perf_counter() - t0
            losses.append(loss.item())
            if r >= args.warmup:
                times.append(dt)
        out.update(seconds=times, losses=losses)
    elif args.mode == "score":
        times = []
        with torch.no_grad():
            for r in range(args.warmup + args.reps):
                t0 = time.perf_counter()
                lp = target_logp(model(tokens), targets)
                dt = time.perf_counter() - t0
                if r >= args.warmup:
                    times.append(dt)
            out["loss"] = (-lp.sum() / (targets >= 0).sum()).item()
        out["seconds"] = times
    elif args.mode == "matmul":
        M, C = tokens.numel(), model.C
        F = cfg["intermediate_size"]
        rates = []
        for k, n in [(C, C), (C, F), (F, C)]:
            x, w = torch.randn(M, k), torch.randn(n, k)
            for _ in range(2):
                x @ w.t()
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                x @ w.t()
                times.append(time.perf_counter() - t0)
            times.sort()
            rates.append(2.0 * M * k * n / times[len(times) // 2] / 1e9)
        out.update(M=M, gflops=rates, best_gflops=max(rates))
    else:
        B = tokens.shape[0]
        prompt = tokens[:, :args.prompt]
        S = args.prompt + args.new
        pre, per_tok, gen = [], [], None
        with torch.no_grad():
            for r in range(args.warmup + args.reps):
                cache = [[torch.zeros(B, model.NKV, S, model.HD), torch.zeros(B, model.NKV, S, model.HD)]
                         for _ in range(model.L)]
                t0 = time.perf_counter()
                nxt = model(prompt, cache, 0)[:, -1].argmax(-1)
                t1 = time.perf_counter()
                seq = [nxt]
                for s in range(args.new - 1):
                    nxt = model(nxt.view(B, 1), cache, args.prompt + s)[:, -1].argmax(-1)
                    seq.append(nxt)
                t2 = time.perf_counter()
                if r >= args.warmup:
                    pre.append(t1 - t0)
                    per_tok.append((t2 - t1) / max(1, args.new - 1))
                gen = torch.stack(seq, 1)
        out.update(prompt=args.prompt, new=args.new, prefill_seconds=pre, token_seconds=per_tok,
                   generated=gen[0].tolist())
    print(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
