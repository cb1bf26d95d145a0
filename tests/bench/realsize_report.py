#!/usr/bin/python3
"""realsize_report — the table of tests/bench/realsize.sh's results: per shape
and setting, lethe's and PyTorch's step peak RSS and tokens/s, their ratios,
lethe's memory plan against its measured peak, and the largest relative
difference of the two sides' losses over every step (same weights, same
batch, same start: they must agree). A later line for the same (impl, shape,
setting) replaces an earlier one.
usage: realsize_report.py RESULTS.jsonl"""
import json
import statistics
import sys


def key(d):
    return (d.get("shape"), d.get("setting"))


def loss_gap(a, b):
    """The largest relative difference of the two sides' per-step losses."""
    if not a or not b or "losses" not in a or "losses" not in b:
        return "—"
    gaps = [abs(x - y) / max(abs(y), 1e-12) for x, y in zip(a["losses"], b["losses"])]
    return "%.1e (%d steps)" % (max(gaps), len(gaps))


def main():
    rows = {}
    for line in open(sys.argv[1]):
        line = line.strip()
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        rows.setdefault(key(d), {})[d["impl"]] = d
    print("| shape | setting | lethe peak MiB | plan MiB (plan/peak) | PyTorch peak MiB | ratio | "
          "lethe tok/s | PyTorch tok/s | ratio | first loss | losses differ by |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (shape, setting), pair in rows.items():
        le, to = pair.get("lethe"), pair.get("torch")

        def peak(d):
            if d is None:
                return None
            return d.get("step_peak_rss_mib") or d.get("process_peak_mib")

        def tps(d):
            if d is None or "seconds" not in d:
                return None
            return d.get("tokens", d.get("batch", 0) * d.get("seq", 0)) / statistics.median(d["seconds"])

        def show(x, fmt="%.0f"):
            return fmt % x if isinstance(x, (int, float)) else "—"

        def failed(d):
            return d is not None and "failed" in d

        lp, tp = peak(le), peak(to)
        lt, tt = tps(le), tps(to)
        cells = [shape, setting,
                 "failed (%s)" % show(lp) if failed(le) else show(lp),
                 "failed (%s)" % show(tp) if failed(to) else show(tp),
                 show(lp / tp, "%.2f×") if lp and tp and not failed(le) and not failed(to) else "—",
                 show(lt, "%.0f"), show(tt, "%.0f"),
                 show(lt / tt, "%.2f×") if lt and tt else "—",
                 show(le["losses"][0], "%.4f") if le and "losses" in le else "—",
                 loss_gap(le, to)]
        plan = le.get("plan_mib") if le else None
        cells.insert(3, "%s (%s)" % (show(plan), show(plan / lp, "%.3f")) if plan and lp else "—")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
