"""torch_unlearn_epoch — the PyTorch twin of bench_unlearn_epoch (issue 19,
part b; torch_llama.py --mode unlearn_epoch DIR/twin).

On what bench_unlearn_epoch wrote into DIR/twin it does the same work the
plain way a seed's research code does it:
  - one epoch of NPO+RT on the same micro-batches in the same order: the
    reference log-prob sums of the starting model computed once (no
    gradients), then per step L = c_f·(-(2/β)·mean_f logsigmoid(-β·(Σ logp −
    Σ ref))) + c_r·(retain token-mean NLL) (plugins/npo_rt), gradient
    accumulation, clipping where set, torch.optim.AdamW with the run's
    learning rate per step, decay on matrices only;
  - the evaluation of the four sets: every (prompt, answer) sequence scored
    on its own in right-padded batches (answer, paraphrase, perturbed
    answers), the forget answers' KL to the starting model, greedy answers
    per batch of questions (left-padded prompts, a KV cache, stop at the end
    token), and with "mia" the teacher-forced pass over the forget and retain
    answers (whole log-softmax, argmax, the distribution's mean and variance
    of log p, as Min-K%++ needs).
Returns the numbers bench_unlearn_epoch prints (the same keys), the seconds
of each part, and, where lethe_greedy.json is there, how many greedy answers
equal lethe's.
"""
import copy
import json
import math
import os
import struct
import time

import torch
import torch.nn.functional as F

from torch_llama import pick_threads, read_batches, target_logp

SET_KEYS = ["forget", "retain", "real_authors", "world_facts"]


def read_micro_batches(path):
    """unlearn_batches.bin: per micro-batch int32 B, T, forget row0, rows,
    retain row0, rows, then B·T tokens and B·T targets."""
    out = []
    for (_, _, f0, fn, r0, rn), tokens, targets in read_batches(path, 6):
        out.append({"tokens": tokens, "targets": targets,
                    "forget": slice(f0, f0 + fn), "retain": slice(r0, r0 + rn)})
    return out


def read_eval_inputs(path):
    """eval_inputs.bin: per set (rows, has_para, and per row the prompt and
    each variant's targets)."""
    with open(path, "rb") as f:
        raw = f.read()
    ints = struct.unpack("<%di" % (len(raw) // 4), raw)
    at = 0

    def take(n):
        nonlocal at
        at += n
        return list(ints[at - n:at])

    sets = []
    while at < len(ints):  # the four sets, then the holdout set when there is one
        n, has_para = take(2)
        rows = []
        for _ in range(n):
            (n_prompt,) = take(1)
            prompt = take(n_prompt)
            (nv,) = take(1)
            variants = []
            for _ in range(nv):
                (nt,) = take(1)
                variants.append(take(nt))
            rows.append({"prompt": prompt, "variants": variants})
        sets.append({"has_para": has_para, "rows": rows})
    return sets


def npo_rt_loss(lp, targets, mb, ref_sum, params):
    """plugins/npo_rt: c_f·NPO (sequence sums, 2/β, mean over forget rows) +
    c_r·token-mean NLL of the retain rows."""
    beta = params["beta"]
    ratio = lp[mb["forget"]].sum(-1) - ref_sum
    npo = -(2.0 / beta) * F.logsigmoid(-beta * ratio).mean()
    retain = lp[mb["retain"]]
    nll = -retain.sum() / (targets[mb["retain"]] >= 0).sum()
    return params["forget_coeff"] * npo + params["retain_coeff"] * nll


def train_epoch(model, micro, meta):
    """The epoch's steps; returns the per-step losses and the seconds of the
    reference pass and of the steps."""
    t0 = time.perf_counter()
    with torch.no_grad():
        ref = [target_logp(model(mb["tokens"]), mb["targets"])[mb["forget"]].sum(-1) for mb in micro]
    ref_secs = time.perf_counter() - t0
    decay = [p for p in model.parameters() if meta["decay_norms"] or p.dim() >= 2]
    rest = [p for p in model.parameters() if not (meta["decay_norms"] or p.dim() >= 2)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": meta["weight_decay"]},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=meta["lr"][0], betas=(meta["beta1"], meta["beta2"]), eps=meta["eps"])
    accum = meta["grad_accum"]
    losses = []
    t0 = time.perf_counter()
    for s in range(meta["steps"]):
        for g in opt.param_groups:
            g["lr"] = meta["lr"][s]
        opt.zero_grad(set_to_none=True)
        step_loss = 0.0
        for k in range(accum):
            i = s * accum + k
            mb = micro[i]
            lp = target_logp(model(mb["tokens"]), mb["targets"])
            loss = npo_rt_loss(lp, mb["targets"], mb, ref[i], meta["params"])
            (loss / accum).backward()
            step_loss += loss.item() / accum
        if meta["max_grad_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), meta["max_grad_norm"])
        opt.step()
        losses.append(step_loss)
    return losses, ref_secs, time.perf_counter() - t0


def right_padded(seqs, pad):
    """(B, T) inputs and next-token targets of sequences given as (prompt,
    targets): inputs prompt + targets[:-1], targets -1 on the prompt but its
    last position and on padding."""
    T = max(len(p) + len(t) - 1 for p, t in seqs)
    tokens = torch.full((len(seqs), T), pad, dtype=torch.long)
    targets = torch.full((len(seqs), T), -1, dtype=torch.long)
    for b, (p, t) in enumerate(seqs):
        ids = p + t[:-1]
        tokens[b, :len(ids)] = torch.tensor(ids)
        targets[b, len(p) - 1:len(p) - 1 + len(t)] = torch.tensor(t)
    return tokens, targets


def score_sets(model, sets, bs, pad):
    """Average NLL of every (prompt, variant) sequence, each scored on its
    own in batches of bs in the sets' order: per set, per row, a list."""
    out = []
    for st in sets:
        seqs = [(r["prompt"], v) for r in st["rows"] for v in r["variants"]]
        nll = []
        for i in range(0, len(seqs), bs):
            tokens, targets = right_padded(seqs[i:i + bs], pad)
            lp = target_logp(model(tokens), targets)
            nll += (-lp.sum(-1) / (targets >= 0).sum(-1)).tolist()
        rows, at = [], 0
        for r in st["rows"]:
            rows.append(nll[at:at + len(r["variants"])])
            at += len(r["variants"])
        out.append(rows)
    return out


def forget_kl(model, ref, rows, bs, pad):
    """Mean over the forget answers of the mean KL(ref‖model) over each
    answer's target positions, each sequence scored on its own."""
    seqs = [(r["prompt"], r["variants"][0]) for r in rows]
    total = 0.0
    for i in range(0, len(seqs), bs):
        tokens, targets = right_padded(seqs[i:i + bs], pad)
        lm = torch.log_softmax(model(tokens), -1)
        lr = torch.log_softmax(ref(tokens), -1)
        kl = (lr.exp() * (lr - lm)).sum(-1) * (targets >= 0)
        total += (kl.sum(-1) / (targets >= 0).sum(-1)).sum().item()
    return total / max(1, len(seqs))


def greedy(model, prompts, max_new, end, pad):
    """Greedy answers of a batch of prompts (left-padded, positions from 0
    in every row, a KV cache): per row the ids up to and with the end token."""
    B, P = len(prompts), max(len(p) for p in prompts)
    tokens = torch.full((B, P), pad, dtype=torch.long)
    padded = torch.ones(B, P + max_new, dtype=torch.bool)
    for b, p in enumerate(prompts):
        tokens[b, P - len(p):] = torch.tensor(p)
        padded[b, P - len(p):] = False
    shift = torch.tensor([P - len(p) for p in prompts])
    pos = (torch.arange(P)[None, :] - shift[:, None]).clamp(min=0)
    cache = [[torch.zeros(B, model.NKV, P + max_new, model.HD),
              torch.zeros(B, model.NKV, P + max_new, model.HD)] for _ in range(model.L)]
    nxt = model(tokens, cache, 0, pos, padded[:, :P])[:, -1].argmax(-1)
    out, done = [[] for _ in range(B)], torch.zeros(B, dtype=torch.bool)
    for i in range(max_new):
        for b in range(B):
            if not done[b]:
                out[b].append(int(nxt[b]))
        done |= nxt == end
        if bool(done.all()) or i == max_new - 1:
            break
        step_pos = (P + i - shift)[:, None]
        nxt = model(nxt.view(B, 1), cache, P + i, step_pos, padded[:, :P + i + 1])[:, -1].argmax(-1)
    return out


def teacher_forced(model, rows, bs, pad):
    """The teacher-forced pass over (prompt, answer) sequences: whole
    log-softmax, target log-probs, the argmax and the mean and variance of
    log p under the model's distribution at every target position."""
    seqs = [(r["prompt"], r["variants"][0]) for r in rows]
    checksum = 0.0
    for i in range(0, len(seqs), bs):
        tokens, targets = right_padded(seqs[i:i + bs], pad)
        lp = torch.log_softmax(model(tokens), -1)
        tl = lp.gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1)
        p = lp.exp()
        mu = (p * lp).sum(-1)
        var = (p * lp * lp).sum(-1) - mu * mu
        arg = lp.argmax(-1)
        keep = targets >= 0
        checksum += float(((tl - mu) / var.clamp(min=1e-12).sqrt())[keep].sum()) + float((arg == targets)[keep].sum())
    return checksum


def set_numbers(st, nll):
    """Mean answer probability (option-normalised without a paraphrase) and
    mean truth ratio of a set from its rows' NLLs."""
    prob = tr = 0.0
    for r, row in zip(st["rows"], nll):
        answer, per = row[0], 1 + st["has_para"]
        base, pert = row[per - 1], row[per:]
        if st["has_para"]:
            prob += math.exp(-answer)
        else:
            prob += 1.0 / (1.0 + sum(math.exp(answer - w) for w in pert))
        tr += math.exp(base - sum(pert) / len(pert))
    n = max(1, len(st["rows"]))
    return prob / n, tr / n


def evaluate(model, ref, all_sets, meta, pad):
    """The evaluation, timed in parts (scoring with the forget KL,
    generation, the teacher-forced pass); the numbers and the greedy ids.
    all_sets: the four sets, then the holdout set when there is one."""
    sets, holdout = all_sets[:len(SET_KEYS)], all_sets[len(SET_KEYS):]
    bs, max_new, end = meta["eval_batch_size"], meta["max_new_tokens"], meta["end_id"]
    special = set(meta["special_ids"])
    res = {}
    with torch.no_grad():
        t0 = time.perf_counter()
        nll = score_sets(model, sets, bs, pad)
        res["forget_kl"] = forget_kl(model, ref, sets[0]["rows"], bs, pad)
        t1 = time.perf_counter()
        gens = []
        for st in sets:
            rows = [r["prompt"] for r in st["rows"]]
            g = []
            for i in range(0, len(rows), bs):
                g += greedy(model, rows[i:i + bs], max_new, end, pad)
            gens.append(g)
        t2 = time.perf_counter()
        if meta["mia"]:
            # forget, retain and (membership inference) the holdout set, as lethe
            res["teacher_forced_checksum"] = sum(teacher_forced(model, st["rows"], bs, pad)
                                                 for st in [sets[0], sets[1]] + holdout)
        t3 = time.perf_counter()
    for key, st, rows in zip(SET_KEYS, sets, nll):
        res[key + "_prob"], res[key + "_truth_ratio"] = set_numbers(st, rows)
    res.update(eval_seconds=t3 - t0, score_seconds=t1 - t0, generate_seconds=t2 - t1,
               teacher_forced_seconds=t3 - t2)
    texts = []  # what a decoded answer keeps: no trailing end token, no special tokens
    for g in gens:
        texts.append([[t for t in (row[:-1] if row and row[-1] == end else row) if t not in special]
                      for row in g])
    res["generated_tokens"] = sum(len(r) for g in texts for r in g)
    return res, texts


def run(args, model):
    """--mode unlearn_epoch: the JSON fields (the caller adds impl, torch...)."""
    with open(os.path.join(args.dir, "unlearn_epoch.json")) as f:
        meta = json.load(f)
    if meta["method"] != "npo_rt":
        raise SystemExit("torch_unlearn_epoch: method %s; only npo_rt is known" % meta["method"])
    micro = read_micro_batches(os.path.join(args.dir, "unlearn_batches.bin"))
    sets = read_eval_inputs(os.path.join(args.dir, "eval_inputs.bin"))
    pad = meta["pad_id"]
    if args.threads == "auto":
        threads = pick_threads(model, micro[0]["tokens"], micro[0]["targets"],
                               sorted({1, os.cpu_count() or 1}))
    else:
        threads = int(args.threads)
        torch.set_num_threads(threads)
    ref = copy.deepcopy(model)
    for p in ref.parameters():
        p.requires_grad_(False)
    losses, ref_secs, train_secs = train_epoch(model, micro, meta)
    res, texts = evaluate(model, ref, sets, meta, pad)
    out = {"threads": threads, "steps": meta["steps"], "micro_batches": len(micro),
           "train_seconds": train_secs, "ref_seconds": ref_secs, "losses": losses,
           "final_loss": losses[-1], "tokens_padded": sum(mb["tokens"].numel() for mb in micro),
           "eval_rows": [len(s["rows"]) for s in sets]}
    out.update(res)
    lethe = os.path.join(args.dir, "lethe_greedy.json")
    if os.path.exists(lethe):
        with open(lethe) as f:
            theirs = json.load(f)
        pairs = [(a, b) for ga, gb in zip(texts, theirs) for a, b in zip(ga, gb)]
        out["greedy_rows_equal"] = sum(a == b for a, b in pairs)
        out["greedy_rows"] = len(pairs)
    return out
