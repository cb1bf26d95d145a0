#!/usr/bin/python3
"""realsize_report — the table of tests/bench/realsize.sh's results: per shape
and setting, lethe's and PyTorch's step peak RSS and tokens/s, their ratios,
and the first step's loss on both sides (they must agree: same weights, same
batch). A later line for the same (impl, shape, setting, extra) replaces an
earlier one.
usage: realsize_report.py RESULTS.jsonl"""
import json
import sys


def key(d):
    return (d.get("shape"), d.get("setting"))


def main():
    rows = {}
    for line in open(sys.argv[1]):
        line = line.strip()
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        rows.setdefault(key(d), {})[d["impl"]] = d
    print("| shape | setting | lethe peak MiB | PyTorch peak MiB | ratio | lethe tok/s | "
          "PyTorch tok/s | ratio | loss lethe / PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (shape, setting), pair in rows.items():
        le, to = pair.get("lethe"), pair.get("torch")

        def peak(d):
            if d is None:
                return None
            return d.get("step_peak_rss_mib") or d.get("process_peak_mib")

        def tps(d):
            if d is None or "seconds" not in d:
                return None
            s = sorted(d["seconds"])
            return d.get("tokens", d.get("batch", 0) * d.get("seq", 0)) / s[len(s) // 2]

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
                 "%s / %s" % (show(le["losses"][0], "%.5f") if le and "losses" in le else "—",
                              show(to["losses"][0], "%.5f") if to and "losses" in to else "—")]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
