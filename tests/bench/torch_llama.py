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
  stage     one epoch of a pipeline stage on the batches bench_stage wrote
            (twin/: batches.bin, stage.json): AdamW with the stage's learning
            rate per step and its decay rule; seconds and the mean NLL of step
            0's batch after the epoch
  unlearn_epoch  one NPO+RT epoch and one evaluation on what bench_unlearn_epoch
            wrote (torch_unlearn_epoch.py); seconds per part, losses, the
            evaluation's numbers
Not here: the comparison and the tables (run.sh reads these lines).
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import time

import torch
import torch.nn.functional as F
import torch.utils.checkpoint

ST_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def read_safetensors(path, out=None):
    """Every tensor of one safetensors file as float32, each read straight into
    its own tensor (no second copy of the file in memory)."""
    out = {} if out is None else out
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        base = 8 + hlen
        for name, info in header.items():
            if name == "__metadata__":
                continue
            lo, hi = info["data_offsets"]
            t = torch.empty(info["shape"], dtype=ST_DTYPES[info["dtype"]])
            f.seek(base + lo)
            f.readinto(memoryview(t.view(-1).view(torch.uint8).numpy()))
            out[name] = t if t.dtype == torch.float32 else t.float()
    return out


def read_model_weights(dirname):
    """model.safetensors, or the shards model.safetensors.index.json names."""
    index = os.path.join(dirname, "model.safetensors.index.json")
    if not os.path.exists(index):
        return read_safetensors(os.path.join(dirname, "model.safetensors"))
    with open(index) as f:
        shards = sorted(set(json.load(f)["weight_map"].values()))
    out = {}
    for shard in shards:
        read_safetensors(os.path.join(dirname, shard), out)
    return out


def llama3_rope(inv_freq, scaling):
    """Llama 3.1's frequency rule (rope_type "llama3"): long wavelengths divided
    by factor, short ones kept, a smooth blend between; other rules as given."""
    if scaling.get("rope_type", scaling.get("type")) != "llama3":
        return inv_freq
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    out = torch.where(wavelen > old / low, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low) / (high - low)
    blended = (1 - smooth) * out / factor + smooth * out
    medium = (wavelen >= old / high) & (wavelen <= old / low)
    return torch.where(medium, blended, out)


class Llama(torch.nn.Module):
    def __init__(self, cfg, weights):
        super().__init__()
        self.cfg = cfg
        self.C = cfg["hidden_size"]
        self.NH = cfg["num_attention_heads"]
        self.NKV = cfg.get("num_key_value_heads", self.NH)
        self.HD = cfg.get("head_dim") or self.C // self.NH
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        theta = cfg.get("rope_theta", 10000.0)
        P = torch.nn.Parameter
        self.embed = P(weights["model.embed_tokens.weight"])
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
                setattr(layer, short, P(weights[pre + name]))
            self.layers.append(layer)
        self.final_norm = P(weights["model.norm.weight"])
        self.tied = cfg.get("tie_word_embeddings", False)
        if not self.tied:
            self.lm_head = P(weights["lm_head.weight"])
        self.lora, self.checkpoint = {}, False
        inv_freq = 1.0 / (theta ** (torch.arange(0, self.HD, 2, dtype=torch.int64).float() / self.HD))
        self.inv_freq = llama3_rope(inv_freq, cfg.get("rope_scaling") or {})

    def rms(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope(self, x, pos):
        # x (B, H, T, HD); pos (T,) positions, or (B, T) per row
        freqs = pos.float()[..., None] * self.inv_freq
        emb = torch.cat([freqs, freqs], dim=-1)
        cos, sin = emb.cos(), emb.sin()
        if pos.dim() == 2:
            cos, sin = cos[:, None], sin[:, None]
        h = self.HD // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
        return x * cos + rot * sin

    def lin(self, l, ly, short, x):
        """x·Wᵀ, plus the LoRA path (scale·x·Aᵀ·Bᵀ) where the layer has one."""
        y = x @ getattr(ly, short).t()
        ab = self.lora.get((l, short))
        if ab is not None:
            y = y + self.lora_scale * ((x @ ab[0].t()) @ ab[1].t())
        return y

    def add_lora(self, rank, alpha, targets, seed=0, init=None):
        """PEFT's LoRA on the named modules (q_proj ... down_proj): A ~ kaiming-
        uniform(a=√5), i.e. U(±1/√in), B = 0; scale alpha/rank. init: a PEFT
        adapter_model.safetensors whose A (and B) to start from instead."""
        start = read_safetensors(init) if init else {}
        group = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn",
                 "o_proj": "self_attn", "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}
        short = {"q_proj": "wq", "k_proj": "wk", "v_proj": "wv", "o_proj": "wo",
                 "gate_proj": "w_gate", "up_proj": "w_up", "down_proj": "w_down"}
        g = torch.Generator().manual_seed(seed)
        self.lora_scale = alpha / rank
        self.lora_params = torch.nn.ParameterList()
        for l, ly in enumerate(self.layers):
            for t in targets:
                w = getattr(ly, short[t])
                bound = 1.0 / math.sqrt(w.shape[1])
                A = torch.nn.Parameter(torch.empty(rank, w.shape[1]).uniform_(-bound, bound, generator=g))
                B = torch.nn.Parameter(torch.zeros(w.shape[0], rank))
                name = "base_model.model.model.layers.%d.%s.%s.lora_%%s.weight" % (l, group[t], t)
                if start:
                    A.data.copy_(start[name % "A"])
                    B.data.copy_(start[name % "B"])
                self.lora[(l, short[t])] = (A, B)
                self.lora_params.extend([A, B])

    def layer(self, l, ly, x, pos, mask, cache, start):
        B, T = x.shape[0], x.shape[1]
        group = self.NH // self.NKV
        h = self.rms(x, ly.attn_norm)
        q = self.lin(l, ly, "wq", h).view(B, T, self.NH, self.HD).transpose(1, 2)
        k = self.lin(l, ly, "wk", h).view(B, T, self.NKV, self.HD).transpose(1, 2)
        v = self.lin(l, ly, "wv", h).view(B, T, self.NKV, self.HD).transpose(1, 2)
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
        x = x + self.lin(l, ly, "wo", a.transpose(1, 2).reshape(B, T, self.NH * self.HD))
        h = self.rms(x, ly.mlp_norm)
        mlp = F.silu(self.lin(l, ly, "w_gate", h)) * self.lin(l, ly, "w_up", h)
        return x + self.lin(l, ly, "w_down", mlp)

    def hidden(self, tokens, cache=None, start=0, pos=None, pad=None):
        """The final-norm output (B, T, C). pos: (B, T) positions (default
        start..start+T for every row); pad: (B, start+T) True at padding keys
        (left-padded prompts), masked with a large finite negative so that
        the padding rows' own attention stays finite."""
        B, T = tokens.shape
        x = F.embedding(tokens, self.embed)
        if pos is None:
            pos = torch.arange(start, start + T)
        if cache is None or T > 1:
            mask = torch.full((T, start + T), float("-inf")).triu(start + 1)
        else:
            mask = None
        if pad is not None:
            keys = torch.zeros(pad.shape).masked_fill(pad, -1e30)[:, None, None, :]
            mask = keys if mask is None else mask + keys
        for l, ly in enumerate(self.layers):
            if self.checkpoint and cache is None and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(self.layer, l, ly, x, pos, mask, None, 0,
                                                      use_reentrant=False)
            else:
                x = self.layer(l, ly, x, pos, mask, cache, start)
        return self.rms(x, self.final_norm)

    def forward(self, tokens, cache=None, start=0, pos=None, pad=None):
        """tokens (B, T). cache: list of [k, v] (B, NKV, S, HD) tensors filled
        up to `start`; the new keys/values are written after it. pos, pad:
        as hidden()."""
        return self.hidden(tokens, cache, start, pos, pad) @ (self.embed if self.tied else self.lm_head).t()


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
    weights = read_model_weights(dirname)
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


def rss_mib(field="VmHWM"):
    """This process's peak (VmHWM) or current (VmRSS) resident set, MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak_rss():
    """Restarts VmHWM from the current RSS (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def unlearn(args, cfg, model):
    """One NPO+RT step per rep (tests/bench/realsize.sh): rows [0, forget_rows)
    are forget rows, the rest retain rows. L = -(2/beta)·mean_f logsigmoid(
    -beta·(Σ logp - Σ ref_logp)) + retain token-mean NLL (plugins/npo_rt). The
    reference log-probs are the policy's before the first step, computed once
    without gradients (as lethe caches them). Trainable: everything, the
    tensors whose HF names fully match one of --params, or LoRA adapters."""
    with open(os.path.join(args.dir, "unlearn.json")) as f:
        meta = json.load(f)
    B, T, nf = meta["batch"], meta["seq"], meta["forget_rows"]
    with open(os.path.join(args.dir, "unlearn_batch.bin"), "rb") as f:
        raw = f.read()
    ints = torch.tensor(struct.unpack("<%di" % (2 * B * T), raw[:8 * B * T]), dtype=torch.int64)
    tokens, targets = ints[:B * T].view(B, T), ints[B * T:].view(B, T)
    names = hf_names(model)
    if args.setting == "lora":
        for p in model.parameters():
            p.requires_grad_(False)
        init = os.path.join(args.dir, "bench_adapter", "adapter_model.safetensors")
        model.add_lora(args.lora_rank, args.lora_alpha, args.lora_targets.split(","),
                       init=init if os.path.exists(init) else None)
        trainable = list(model.lora_params)
    elif args.setting == "subset":
        pats = [re.compile(p) for p in args.params]
        trainable = []
        for name, p in names.items():
            keep = any(r.fullmatch(name) for r in pats)
            p.requires_grad_(keep)
            if keep:
                trainable.append(p)
    else:
        trainable = [p for p in model.parameters()]
    model.checkpoint = args.checkpoint
    beta = meta.get("beta", 0.1)
    with torch.no_grad():
        ref = target_logp(model(tokens), targets).sum(-1)
    decay = [p for p in trainable if p.dim() >= 2]
    nodecay = [p for p in trainable if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": meta.get("weight_decay", 0.01)},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=meta.get("lr", 1e-5), betas=(0.9, 0.999), eps=1e-8)
    load_rss = rss_mib("VmRSS")
    reset = reset_peak_rss()
    times, losses = [], []
    for r in range(args.warmup + args.reps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        lp = target_logp(model(tokens), targets)
        ratio = lp[:nf].sum(-1) - ref[:nf]
        npo = -(2.0 / beta) * F.logsigmoid(-beta * ratio).mean()
        rt = targets[nf:] >= 0
        nll = -lp[nf:].sum() / rt.sum()
        loss = npo + nll
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        losses.append(loss.item())
        if r >= args.warmup:
            times.append(dt)
    return {"setting": args.setting, "checkpoint": args.checkpoint,
            "trainable_parameters": sum(p.numel() for p in trainable),
            "tokens": int(B * T), "forget_rows": nf, "seconds": times, "losses": losses,
            "load_rss_mib": load_rss, "step_peak_rss_mib": rss_mib() if reset else None,
            "peak_rss_mib": rss_mib() if not reset else None}


def read_batches(path, n_head=2):
    """The batches of a file of records: n_head int32 (B, T first), then B·T
    tokens and B·T targets; (head, tokens, targets) per record."""
    out = []
    with open(path, "rb") as f:
        while True:
            raw = f.read(4 * n_head)
            if not raw:
                return out
            head = struct.unpack("<%di" % n_head, raw)
            B, T = head[0], head[1]
            ints = torch.frombuffer(bytearray(f.read(8 * B * T)), dtype=torch.int32).long()
            out.append((head, ints[:B * T].view(B, T), ints[B * T:].view(B, T)))


def read_stage_batches(path):
    """The steps of batches.bin: per step int32 B, T, B·T tokens, B·T targets."""
    return [(tokens, targets) for _, tokens, targets in read_batches(path)]


def stage(args, cfg, model):
    """One epoch of a stage (tests/bench/e2e.sh part a): the rows, order and
    padding lethe's stage trains on, mean NLL over labelled positions,
    torch.optim.AdamW with the stage's per-step learning rate; weight decay on
    matrices only unless decay_norms (the HF Trainer's rule lethe follows)."""
    with open(os.path.join(args.dir, "stage.json")) as f:
        meta = json.load(f)
    steps = read_stage_batches(os.path.join(args.dir, "batches.bin"))
    if args.threads == "auto":
        threads = pick_threads(model, steps[0][0], steps[0][1], sorted({1, os.cpu_count() or 1}))
    else:
        threads = int(args.threads)
        torch.set_num_threads(threads)
    decay = [p for p in model.parameters() if meta["decay_norms"] or p.dim() >= 2]
    rest = [p for p in model.parameters() if not (meta["decay_norms"] or p.dim() >= 2)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": meta["weight_decay"]},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=meta["lr"][0], betas=(meta["beta1"], meta["beta2"]), eps=meta["eps"])
    t0 = time.perf_counter()
    for s, (tokens, targets) in enumerate(steps):
        for g in opt.param_groups:
            g["lr"] = meta["lr"][s]
        opt.zero_grad(set_to_none=True)
        loss = mean_nll(model(tokens), targets)
        loss.backward()
        if meta["max_grad_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), meta["max_grad_norm"])
        opt.step()
    secs = time.perf_counter() - t0
    with torch.no_grad():
        nll0 = mean_nll(model(steps[0][0]), steps[0][1]).item()
    return {"threads": threads, "steps": len(steps), "seconds": secs, "nll_step0_after": nll0,
            "tokens_padded": sum(t.numel() for t, _ in steps)}


def hf_names(model):
    """HF tensor name -> parameter."""
    out = {"model.embed_tokens.weight": model.embed, "model.norm.weight": model.final_norm}
    if not model.tied:
        out["lm_head.weight"] = model.lm_head
    parts = [("attn_norm", "input_layernorm.weight"), ("wq", "self_attn.q_proj.weight"),
             ("wk", "self_attn.k_proj.weight"), ("wv", "self_attn.v_proj.weight"),
             ("wo", "self_attn.o_proj.weight"), ("mlp_norm", "post_attention_layernorm.weight"),
             ("w_gate", "mlp.gate_proj.weight"), ("w_up", "mlp.up_proj.weight"),
             ("w_down", "mlp.down_proj.weight")]
    for l, ly in enumerate(model.layers):
        for short, name in parts:
            out["model.layers.%d.%s" % (l, name)] = getattr(ly, short)
    return out


def run_on_model_dir(args):
    """The modes that read DIR/config.json and the weights, run, and print one
    JSON line: the common fields, then what the mode returns."""
    with open(os.path.join(args.dir, "config.json")) as f:
        cfg = json.load(f)
    out = {"impl": "torch", "mode": args.mode, "torch": torch.__version__, "compute": "f32"}
    if args.mode == "unlearn":
        torch.set_num_threads(int(args.threads))
        out.update(hidden=cfg["hidden_size"], layers=cfg["num_hidden_layers"],
                   vocab=cfg["vocab_size"], threads=int(args.threads))
    else:
        out["blas_threads"] = os.environ.get("OPENBLAS_NUM_THREADS", "")
    model = Llama(cfg, read_model_weights(args.dir))
    if args.mode == "unlearn":
        out.update(unlearn(args, cfg, model))
    elif args.mode == "unlearn_epoch":
        import torch_unlearn_epoch
        out.update(torch_unlearn_epoch.run(args, model))
    else:
        out.update(stage(args, cfg, model))
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--mode", choices=["train", "score", "generate", "matmul", "unlearn", "stage",
                                           "unlearn_epoch"],
                    default="train")
    ap.add_argument("--setting", choices=["full", "subset", "lora"], default="full")
    ap.add_argument("--params", action="append", default=[], help="subset: HF-name regex")
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32.0)
    ap.add_argument("--lora-targets", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    ap.add_argument("--checkpoint", action="store_true", help="recompute each layer in backward")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", default="1", help="intra-op threads, or 'auto' (try 1 and cores)")
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new", type=int, default=32)
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.mode in ("unlearn", "unlearn_epoch", "stage"):
        run_on_model_dir(args)
        return
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
