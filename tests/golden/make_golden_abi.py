#!/usr/bin/python3
"""make_golden_abi.py - reference losses and parameter gradients of the
methods that use method ABI 1.2 (UNDIAL on logits, NPO+L2 on parameters,
RMU on hidden states) and 1.3 (GRU on the forget and retain gradients),
from make_golden.py's independent float64 Llama.

  make_golden_abi.py CASE_DIR [CASE_DIR ...]

reads CASE_DIR/model, ref_model and the forget/retain jsonl batches (the
golden directories tests/data/llama-tiny and llama-mha-tied) and writes
CASE_DIR/golden_abi.safetensors (grad.<method>.<HF name> of every
parameter) and CASE_DIR/summary_abi.json (each method's parameters, as
`-s method.K=V` overrides, and its loss). The losses, written out in each
plugin's README.md:

  undial  beta (β), forget_coeff (γ), retain_coeff (α):
          γ·mean over forget answer targets of H(softmax(z_ref − β·e_y), softmax(z))
          + α·NLL_mean(retain)
  npo_l2  NPO (make_golden.py's) + (l2/2)·Σ‖θ − θ_ref‖² + retain_coeff·NLL_mean(retain),
          θ_ref = the reference model's weights
  rmu     mean over forget rows of the answer-position mean of (1/C)‖h − c·u‖²
          + α·(the same on retain rows against the reference's h), h the output
          of decoder block `layer`, u = r/‖r‖ with r_j = splitmix64(seed, j) in [0, 1)
  gru     loss forget_coeff·L_f + retain_coeff·NLL_mean(retain), L_f = NPO (npo = 1)
          or −NLL_mean(forget); its "gradient" is the update
          g_f − min(0, <g_f, g_r>)/‖g_r‖²·g_r + retain_coeff·g_r, g_f = ∇(forget_coeff·L_f),
          g_r = ∇NLL_mean(retain), inner products over all parameters as one vector
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import (Shape, forward, param_shapes, read_golden_dir, token_logprobs,  # noqa: E402
                         write_json, write_safetensors, BETA)

M64 = (1 << 64) - 1


def uniform_at(seed, j):
    """The plugin's r_j: splitmix64 of (seed, j), top 53 bits, in [0, 1)."""
    z = (seed * 0x9E3779B97F4A7C15 + (j + 1) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return (z >> 11) * 2.0 ** -53


def tensors(batch):
    return (torch.tensor(batch["input_ids"]), torch.tensor(batch["attention_mask"]),
            torch.tensor(batch["labels"]))


def nll_mean(s, P, batch):
    ids, mask, labels = tensors(batch)
    lp, tmask = token_logprobs(forward(s, P, ids, mask), labels)
    return -lp.sum() / tmask.sum()


def undial(s, P, R, batches, beta, forget_coeff, retain_coeff):
    ids, mask, labels = tensors(batches["forget"])
    z = forward(s, P, ids, mask)[:, :-1]
    with torch.no_grad():
        zr = forward(s, R, ids, mask)[:, :-1]
    y = labels[:, 1:]
    counted = y != -100
    onehot = torch.nn.functional.one_hot(y.clamp(min=0), z.shape[-1]).to(z.dtype)
    q = torch.softmax(zr - beta * onehot, dim=-1)
    h = -(q * torch.log_softmax(z, dim=-1)).sum(-1)
    loss = forget_coeff * h[counted].sum() / counted.sum()
    return loss + retain_coeff * nll_mean(s, P, batches["retain"])


def npo_loss(s, P, R, batches, beta):
    def seq_nll(W, batch):
        ids, mask, labels = tensors(batch)
        return -token_logprobs(forward(s, W, ids, mask), labels)[0].sum(dim=1)
    with torch.no_grad():
        ref_nll = seq_nll(R, batches["forget"])
    margin = beta * (ref_nll - seq_nll(P, batches["forget"]))
    return (2.0 / beta) * torch.nn.functional.softplus(margin).mean()


def npo_l2(s, P, R, batches, beta, forget_coeff, l2, retain_coeff):
    npo = npo_loss(s, P, R, batches, beta)
    pull = sum(((P[n] - R[n]) ** 2).sum() for n in P)
    return forget_coeff * npo + 0.5 * l2 * pull + retain_coeff * nll_mean(s, P, batches["retain"])


def block_output(s, W, batch, layer):
    ids, mask, labels = tensors(batch)
    hidden = []
    forward(s, W, ids, mask, hidden)
    counted = torch.zeros_like(labels, dtype=torch.bool)
    counted[:, 1:] = labels[:, 1:] != -100  # positions holding an answer token
    return hidden[layer], counted


def masked_mse(h, target, counted):
    per_pos = ((h - target) ** 2).mean(-1)
    n = counted.sum(1)
    rows = n > 0
    per_row = (per_pos * counted).sum(1)[rows] / n[rows]
    return per_row.mean()


def rmu(s, P, R, batches, layer, steering_coeff, alpha, seed):
    h, counted = block_output(s, P, batches["forget"], layer)
    r = torch.tensor([uniform_at(seed, j) for j in range(s.hidden)], dtype=torch.float64)
    loss = masked_mse(h, steering_coeff * r / r.norm(), counted)
    hr, counted_r = block_output(s, P, batches["retain"], layer)
    with torch.no_grad():
        href, _ = block_output(s, R, batches["retain"], layer)
    return loss + alpha * masked_mse(hr, href, counted_r)


def gru(s, P, R, batches, npo, beta, forget_coeff, retain_coeff, project):
    """(loss, {name: update}): each part's gradient by its own autograd pass."""
    names = list(P)
    forget = npo_loss(s, P, R, batches, beta) if npo else -nll_mean(s, P, batches["forget"])
    retain = nll_mean(s, P, batches["retain"])

    def grad(x):
        gs = torch.autograd.grad(x, [P[n] for n in names], allow_unused=True)
        return [torch.zeros_like(P[n]) if g is None else g for n, g in zip(names, gs)]
    gf, gr = grad(forget_coeff * forget), grad(retain)
    dot = sum((a * b).sum() for a, b in zip(gf, gr))
    rr = sum((b * b).sum() for b in gr)
    shift = -dot / rr if project and dot < 0 and rr > 0 else 0.0
    print("  gru: <g_f, g_r> = %.6g, |g_r|^2 = %.6g, projected: %s" % (dot, rr, shift != 0.0))
    update = {n: a + (retain_coeff + shift) * b for n, a, b in zip(names, gf, gr)}
    return forget_coeff * forget + retain_coeff * retain, update


def cases_for(s):
    """Each method's parameters on this model (RMU at its next-to-last block)."""
    return {
        "undial": dict(beta=3.0, forget_coeff=1.0, retain_coeff=0.5),
        "npo_l2": dict(beta=BETA, forget_coeff=1.0, l2=0.7, retain_coeff=0.5),
        "rmu": dict(layer=s.layers - 2, steering_coeff=3.0, alpha=1.5, seed=7),
        "gru": dict(npo=1, beta=BETA, forget_coeff=1.0, retain_coeff=0.5, project=1),
    }


def make(case_dir):
    cfg, policy, ref, batches = read_golden_dir(case_dir)
    s = Shape(cfg)
    names = list(param_shapes(s))
    P = {n: policy[n].to(torch.float64).requires_grad_(True) for n in names}
    R = {n: ref[n].to(torch.float64) for n in names}
    losses, golden, params = {}, {}, cases_for(s)
    fns = {"undial": undial, "npo_l2": npo_l2, "rmu": rmu}
    for method, kw in params.items():
        if method == "gru":  # an update, not the gradient of its loss
            loss, update = gru(s, P, R, batches, **kw)
            for n in names:
                golden["grad.%s.%s" % (method, n)] = update[n]
            losses[method] = float(loss)
            continue
        loss = fns[method](s, P, R, batches, **kw)
        grads = torch.autograd.grad(loss, [P[n] for n in names], allow_unused=True)
        for n, g in zip(names, grads):
            golden["grad.%s.%s" % (method, n)] = torch.zeros_like(P[n]) if g is None else g
        losses[method] = float(loss)
    write_safetensors(os.path.join(case_dir, "golden_abi.safetensors"), golden)
    write_json(os.path.join(case_dir, "summary_abi.json"), {
        "generator": "tests/golden/make_golden_abi.py (independent float64 reference)",
        "torch": torch.__version__, "params": params, "losses": losses})
    print(case_dir, losses)


if __name__ == "__main__":
    for d in sys.argv[1:]:
        make(d)
