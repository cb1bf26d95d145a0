#!/usr/bin/python3
"""report — the tables of a tests/bench/run.sh results file (JSON lines).

Medians are taken over every timed step of every round. Ratios are lethe
over PyTorch tokens/s (> 1 = lethe faster). GFLOP/s count model FLOPs
(bench_util.h: full T×T attention), and "% of matmul" divides them by the
best oneDNN fp32 matmul rate measured on the same model's shapes in the
same run. "2x PyTorch needs" is twice PyTorch's step GFLOP/s, the rate a
fp32 step at 2x PyTorch would have to sustain, and "% of fp32 peak" divides it
by the CPU's fp32 peak (bench_llama peak, measured once per run on the same
threads at the widest ISA the CPU has, or LETHE_ISA allows; the peak line
names it): at or above 100% the 2x is out of reach in fp32. Where a CPU has no
bf16 (run.sh then skips the bf16 rows), the bf16 columns say nan. "other load"
is the share of the CPUs other programs used while a row was measured (run.sh
records it): rounds above 20% are dropped when the same measurement has
quieter rounds, and rows still far above 0% were measured on a busy machine
and are noisy. usage: report.py RESULTS.jsonl
"""
import json
import math
import statistics
import sys

QUIET = 0.2  # rounds measured while others used more of the CPUs are dropped if quieter ones exist


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def key(d):
    return (d["hidden"], d["layers"], d["seq"], d["batch"])


def peak_text(best, lines):
    """The peak line's words for one compute: the best measured line, or why none."""
    if best:
        cap = (" under LETHE_ISA=%s (the CPU has %s)" % (best["isa_cap"], best["cpu_isa"])
               if best.get("isa_cap") else "")
        return ("peak (%s, %s)%s %.0f GFLOP/s (%d threads; %.0f per thread, %.0f on one thread)"
                % (best.get("isa", "?"), best.get("step", "?"), cap, best["gflops"],
                   best["threads"], best["gflops_per_thread"], best["gflops_one_thread"]))
    if lines:
        return "peak not measured (%s)" % lines[-1].get("reason", "not supported")
    return "peak not measured (no peak line in the results)"


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    by = {}
    for d in rows:
        if d["mode"] == "peak":
            k = ("peak", d["compute"])
        elif d["mode"] == "method":
            k = ("method", d["hidden"], d["layers"], d["seq"], d["batch"], d["compute"])
        elif d["mode"] == "matmul":
            k = ("matmul", d["impl"], d["compute"]) + key(d)
        elif d["mode"] == "generate":
            k = ("generate", d["impl"], d["compute"], d["prompt"])
        else:
            k = (d["mode"], d["impl"], d["compute"]) + key(d)
        by.setdefault(k, []).append(d)
    for k, runs in by.items():  # keep the quiet rounds when there are any
        quiet = [d for d in runs if d.get("other_load", 0.0) <= QUIET]
        by[k] = quiet or runs
    verdicts = []

    def load(*ks):
        """Median share of the CPUs other programs used during these runs."""
        return median([d["other_load"] for k in ks for d in by.get(k, []) if "other_load" in d])

    def seconds(k, field="seconds"):
        return [s for d in by.get(k, []) for s in d[field]]

    def matmul_best(size, compute):
        v = by.get(("matmul", "lethe", compute) + size, [])
        if not v:
            return float("nan"), float("nan")
        return max(d["best_gflops"] for d in v), max(d["step_weighted_gflops"] for d in v)

    def torch_matmul(size):
        v = by.get(("matmul", "torch", "f32") + size, [])
        return max((d["best_gflops"] for d in v), default=float("nan"))

    def peak(compute):
        """The best peak line of the run for this compute (None if not measured or supported)."""
        v = [d for d in by.get(("peak", compute), []) if d["supported"]]
        return max(v, key=lambda d: d["gflops"]) if v else None

    threads = next((d["threads"] for d in rows if d["impl"] in ("lethe", "cpu")), "?")
    tt = next((d for d in rows if d["impl"] == "torch"), {})
    print("lethe: %s threads | PyTorch %s: %s intra-op thread(s), OPENBLAS_NUM_THREADS=%s"
          % (threads, tt.get("torch", "?"), tt.get("threads", "?"), tt.get("blas_threads", "?")))
    p32, p16 = peak("f32"), peak("bf16")
    fp32_peak = p32["gflops"] if p32 else float("nan")
    line = "fp32 " + peak_text(p32, by.get(("peak", "f32")))
    line += ", bf16 " + peak_text(p16, by.get(("peak", "bf16")))
    if p32 or p16:
        line += " | other load %.0f%%" % (100 * load(("peak", "f32"), ("peak", "bf16")))
    print(line)

    print("\n## Training step (forward + backward + AdamW), tokens/s")
    print("| hidden | layers | seq | batch | params | lethe fp32 | PyTorch fp32 | ratio | lethe bf16 "
          "| bf16 ratio | lethe fp32 GFLOP/s | PyTorch GFLOP/s | 2x PyTorch needs (GFLOP/s) "
          "| % of fp32 peak | best fp32 matmul | % of matmul | bf16 gain "
          "| loss step 1 lethe / torch | max loss diff | other load |")
    print("|" + "---|" * 20)
    train_keys = sorted({key(d) for d in rows if d["mode"] == "train" and d["impl"] == "lethe"})
    for size in train_keys:
        C, L, T, B = size
        lt = [d for d in by.get(("train", "lethe", "f32") + size, [])]
        tt_ = by.get(("train", "torch", "f32") + size, [])
        ls = median(seconds(("train", "lethe", "f32") + size))
        bs = median(seconds(("train", "lethe", "bf16") + size))
        ts = median(seconds(("train", "torch", "f32") + size))
        tok = T * B
        flops = lt[0]["flops"] if lt else float("nan")
        best, _ = matmul_best(size, "f32")
        gf, tgf = flops / ls / 1e9, flops / ts / 1e9
        l_losses = lt[0]["losses"] if lt else []
        t_losses = tt_[0]["losses"] if tt_ else []
        n = min(len(l_losses), len(t_losses))
        diff = max((abs(a - b) for a, b in zip(l_losses[:n], t_losses[:n])), default=float("nan"))
        busy = load(("train", "lethe", "f32") + size, ("train", "torch", "f32") + size,
                    ("train", "lethe", "bf16") + size)
        print("| %d | %d | %d | %d | %.1fM | %.0f | %.0f | %.2f | %.0f | %.2f | %.0f | %.0f | %.0f "
              "| %.0f%% | %.0f | %.0f%% | %.2fx | %.6f / %.6f | %.1e | %.0f%% |"
              % (C, L, T, B, lt[0]["params"] / 1e6 if lt else 0, tok / ls, tok / ts, ts / ls,
                 tok / bs, ts / bs, gf, tgf, 2 * tgf, 100 * 2 * tgf / fp32_peak, best,
                 100 * gf / best, ls / bs,
                 l_losses[0] if l_losses else float("nan"),
                 t_losses[0] if t_losses else float("nan"), diff, 100 * busy))
        verdicts.append(("training fp32 >= 2x PyTorch at %d/%d/%d/%d" % size, ts / ls >= 2.0,
                         "%.2fx (2x needs %.0f GFLOP/s, %.0f%% of the fp32 peak)"
                         % (ts / ls, 2 * tgf, 100 * 2 * tgf / fp32_peak)))
        if not math.isnan(bs):  # bf16 measured
            verdicts.append(("training bf16 >= 2x PyTorch fp32 at %d/%d/%d/%d" % size,
                             ts / bs >= 2.0, "%.2fx" % (ts / bs)))
        if C >= 512:
            verdicts.append(("fp32 step >= 50%% of the fp32 matmul rate at %d/%d/%d/%d" % size,
                             gf >= 0.5 * best, "%.0f%%" % (100 * gf / best)))
        verdicts.append(("losses match PyTorch (|diff| < 1e-3) at %d/%d/%d/%d" % size, diff < 1e-3,
                         "%.1e" % diff))

    print("\n## Matmul rates on each model's shapes (GFLOP/s, oneDNN, same run)")
    print("| tokens (M) | hidden, layers | fp32 best | fp32 step-weighted | bf16 best | bf16 step-weighted "
          "| PyTorch fp32 best (its BLAS) |")
    print("|---|---|---|---|---|---|---|")
    for size in train_keys:
        C, L, T, B = size
        b32, w32 = matmul_best(size, "f32")
        b16, w16 = matmul_best(size, "bf16")
        print("| %d | %d, %d | %.0f | %.0f | %.0f | %.0f | %.0f |"
              % (T * B, C, L, b32, w32, b16, w16, torch_matmul(size)))

    print("\n## Scoring (forward + per-token log-probs), tokens/s")
    print("| hidden | layers | seq | batch | lethe fp32 | PyTorch fp32 | ratio | lethe bf16 | bf16 ratio "
          "| loss lethe / torch | other load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size in sorted({key(d) for d in rows if d["mode"] == "score" and d["impl"] == "lethe"}):
        C, L, T, B = size
        ls = median(seconds(("score", "lethe", "f32") + size))
        bs = median(seconds(("score", "lethe", "bf16") + size))
        ts = median(seconds(("score", "torch", "f32") + size))
        ll = by[("score", "lethe", "f32") + size][0]["loss"]
        tl = by.get(("score", "torch", "f32") + size, [{"loss": float("nan")}])[0]["loss"]
        busy = load(("score", "lethe", "f32") + size, ("score", "torch", "f32") + size)
        print("| %d | %d | %d | %d | %.0f | %.0f | %.2f | %.0f | %.2f | %.6f / %.6f | %.0f%% |"
              % (C, L, T, B, T * B / ls, T * B / ts, ts / ls, T * B / bs, ts / bs, ll, tl,
                 100 * busy))

    gen = sorted({k[3] for k in by if k[0] == "generate"})
    if gen:
        g0 = by[("generate", "lethe", "f32", gen[0])][0]
        print("\n## Greedy generation with the KV cache (hidden %d, %d layers, batch %d, 32 new tokens)"
              % (g0["hidden"], g0["layers"], g0["batch"]))
        print("| prompt | lethe prefill s | lethe ms/token | lethe tokens/s | PyTorch ms/token "
              "| ratio | PyTorch prefill s | same greedy tokens | lethe bf16 prefill s "
              "| lethe bf16 ms/token | bf16 ratio | other load |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        per = []
        for p in gen:
            lk, tk = ("generate", "lethe", "f32", p), ("generate", "torch", "f32", p)
            lpre, lper = median(seconds(lk, "prefill_seconds")), median(seconds(lk, "token_seconds"))
            tpre, tper = median(seconds(tk, "prefill_seconds")), median(seconds(tk, "token_seconds"))
            lg = by[lk][0]["generated"]
            tg = by[tk][0]["generated"] if tk in by else []
            same = sum(a == b for a, b in zip(lg, tg))
            hk = ("generate", "lethe", "bf16", p)
            hpre, hper = median(seconds(hk, "prefill_seconds")), median(seconds(hk, "token_seconds"))
            per.append(lper)
            print("| %d | %.3f | %.1f | %.0f | %.1f | %.2f | %.3f | %d/%d | %.3f | %.1f | %.2f "
                  "| %.0f%% |"
                  % (p, lpre, 1e3 * lper, g0["batch"] / lper, 1e3 * tper, tper / lper, tpre, same,
                     len(lg), hpre, 1e3 * hper, tper / hper, 100 * load(lk, tk, hk)))
        growth = per[-1] / per[0]
        recompute = median(seconds(("generate", "lethe", "f32", gen[-1]), "prefill_seconds"))
        print("per-token cost grows %.2fx from prompt %d to %d (KV-cache reads grow with the "
              "context); recomputing the prompt instead would cost ~%.2f s per token at %d"
              % (growth, gen[0], gen[-1], recompute, gen[-1]))
        verdicts.append(("generation per-token cost nearly flat (KV cache): %d -> %d tokens"
                         % (gen[0], gen[-1]), per[-1] < 0.1 * recompute,
                         "%.2fx per-token growth vs %.0fx for recomputation"
                         % (growth, recompute / per[0])))

    meth = [k for k in by if k[0] == "method"]
    if meth:
        print("\n## One NPO step vs one GA step (same batch; forward, plugin, backward, AdamW)")
        print("| hidden | layers | seq | batch | compute | GA s | NPO s | NPO/GA "
              "| reference log-probs (once) s | other load |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for k in sorted(meth):
            ga = median([s for d in by[k] for s in d["ga_seconds"]])
            npo = median([s for d in by[k] for s in d["npo_seconds"]])
            ref = median([d["ref_logp_seconds"] for d in by[k]])
            print("| %d | %d | %d | %d | %s | %.3f | %.3f | %.3f | %.3f | %.0f%% |"
                  % (k[1], k[2], k[3], k[4], k[5], ga, npo, npo / ga, ref, 100 * load(k)))
            verdicts.append(("NPO step <= 1.05x GA step at %d/%d/%d/%d" % k[1:5], npo <= 1.05 * ga,
                             "%.3fx" % (npo / ga)))

    print("\n## Where the time goes (lethe, ms per training step, median over rounds)")
    for size in train_keys:
        if size != (512, 8, 256, 8) and len(train_keys) > 1 and size != train_keys[-1]:
            continue
        for compute in ("f32", "bf16"):
            runs = by.get(("train", "lethe", compute) + size, [])
            if not runs:
                continue
            parts = list(runs[0]["profile"]["fwd"].keys())
            print("\nhidden %d, layers %d, seq %d, batch %d, %s:" % (size + (compute,)))
            print("| part | forward | backward | total | per layer | share |")
            print("|---|---|---|---|---|---|")
            total = median([s for d in runs for s in d["seconds"]])
            for p in parts:
                f = median([d["profile"]["fwd"][p] for d in runs])
                b = median([d["profile"]["bwd"][p] for d in runs])
                if f + b < 1e-5:
                    continue
                per_layer = "" if p in ("embedding", "head") else "%.2f" % (1e3 * (f + b) / size[1])
                print("| %s | %.1f | %.1f | %.1f | %s | %.1f%% |"
                      % (p, 1e3 * f, 1e3 * b, 1e3 * (f + b), per_layer, 100 * (f + b) / total))
            for p in ("loss", "adamw"):
                v = median([d["profile"][p] for d in runs])
                print("| %s | | | %.1f | | %.1f%% |" % (p, 1e3 * v, 100 * v / total))
            print("| step (median) | | | %.1f | | 100%% |" % (1e3 * total))

    print("\n## Targets")
    for name, ok, value in verdicts:
        print("- %s %s: %s" % ("MET " if ok else "MISS", name, value))


if __name__ == "__main__":
    main(sys.argv[1])
