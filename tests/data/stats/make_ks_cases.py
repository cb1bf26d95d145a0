#!/usr/bin/python3
"""Writes ks_cases.json: reference values for lethe's statistics tests.

Run with Debian's python3 (python3-scipy):  /usr/bin/python3 make_ks_cases.py
The values come from SciPy itself: scipy.stats.ks_2samp (two-sided, with
the method named in each case), scipy.stats.kstwo.sf, scipy.special.smirnov
and scipy.stats.hmean. Large samples are not stored: they are described by a
small integer generator (see lcg_sample) that tests/unit/test_stats.c
re-implements bit for bit.
"""
import json
import math
import os

import numpy as np
import scipy
from scipy import special, stats
from scipy.stats._stats_py import _attempt_exact_2kssamp

MASK64 = (1 << 64) - 1


def lcg_sample(spec):
    """n values offset + k / 1024, k = (state >> 33) % modulus, where
    state <- state * 6364136223846793005 + 1442695040888963407 (mod 2^64),
    starting from seed. Exactly representable, so C reproduces them."""
    state = spec["seed"] & MASK64
    out = []
    for _ in range(spec["n"]):
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK64
        k = (state >> 33) % spec["modulus"]
        out.append(spec["offset"] + k / 1024.0)
    return out


def used_exact(x, y, method):
    """Whether ks_2samp's p-value came from the exact computation (mirrors
    ks_2samp's choice, then asks SciPy's own exact routine)."""
    n1, n2 = len(x), len(y)
    if method == "asymp":
        return False
    if method == "auto" and max(n1, n2) > 10000:
        return False
    g = math.gcd(n1, n2)
    if method == "exact" and n1 // g >= np.iinfo(np.int32).max / (n2 // g):
        return False
    res = stats.ks_2samp(x, y, method="asymp")  # same D, any method
    ok, _, _ = _attempt_exact_2kssamp(n1, n2, g, res.statistic, "two-sided")
    return bool(ok)


rng = np.random.RandomState(20240531)
cases = []


def add(name, x, y, method="auto", store=True, xspec=None, yspec=None):
    xs = lcg_sample(xspec) if xspec else [float(v) for v in x]
    ys = lcg_sample(yspec) if yspec else [float(v) for v in y]
    r = stats.ks_2samp(xs, ys, method=method)
    p = float(r.pvalue)
    case = {"name": name, "method": method, "statistic": float(r.statistic),
            "pvalue": None if math.isnan(p) else p,  # null: NaN
            "exact": used_exact(xs, ys, method)}
    case["x"] = xspec if xspec else {"values": xs}
    case["y"] = yspec if yspec else {"values": ys}
    cases.append(case)


# small samples, equal and unequal sizes
for n1 in range(3, 11):
    for n2 in sorted({n1, n1 + 1, 3 + (n1 * 7) % 8}):
        add(f"small {n1}x{n2}", rng.normal(0, 1, n1).round(6),
            rng.normal(0.7, 1.3, n2).round(6))
# ties: integer-valued data, both within and across samples
for i, (n1, n2) in enumerate([(5, 5), (6, 9), (10, 4), (12, 12), (30, 45)]):
    add(f"ties {n1}x{n2}", rng.randint(0, 4, n1), rng.randint(1, 5, n2))
add("ties all equal", [2.0] * 6, [2.0] * 4)
add("ties one shared value", [1.0, 1.0, 2.0, 3.0], [1.0, 2.0, 2.0, 2.0, 5.0])
# identical samples: D = 0, p = 1
add("identical 7", [0.5, 1.5, -2.0, 3.25, 4.0, 7.0, 9.5], [0.5, 1.5, -2.0, 3.25, 4.0, 7.0, 9.5])
same = rng.normal(size=40).round(5)
add("identical 40", same, same.copy())
# fully separated samples: D = 1, smallest exact p
for n1, n2 in [(3, 3), (3, 5), (8, 10), (10, 10), (50, 70), (300, 300)]:
    add(f"separated {n1}x{n2}", rng.uniform(0, 1, n1).round(6), rng.uniform(2, 3, n2).round(6))
# D = 1/n for equal n: SciPy's exact sum comes out as 1 + 2^-52 and it falls
# back to the asymptotic p-value
add("fallback 5x5", [1, 2, 3, 4, 5], [1, 2, 3, 4, 6])
add("fallback 13x13", list(range(13)), list(range(12)) + [20])
# larger samples through the exact path
add("300x300 shifted", None, None, xspec={"seed": 1, "n": 300, "modulus": 4096, "offset": 0.0},
    yspec={"seed": 2, "n": 300, "modulus": 4096, "offset": 0.4})
add("300x300 same law", None, None, xspec={"seed": 3, "n": 300, "modulus": 4096, "offset": 0.0},
    yspec={"seed": 4, "n": 300, "modulus": 4096, "offset": 0.0})
add("40x400", None, None, xspec={"seed": 5, "n": 40, "modulus": 1000, "offset": 0.3},
    yspec={"seed": 6, "n": 400, "modulus": 1000, "offset": 0.0})
add("2000x1500", None, None, xspec={"seed": 7, "n": 2000, "modulus": 100000, "offset": 0.0},
    yspec={"seed": 8, "n": 1500, "modulus": 100000, "offset": 3.0})
add("2000x1500 ties", None, None, xspec={"seed": 9, "n": 2000, "modulus": 50, "offset": 0.0},
    yspec={"seed": 10, "n": 1500, "modulus": 50, "offset": 0.0})
add("10000x9999", None, None, xspec={"seed": 11, "n": 10000, "modulus": 1 << 20, "offset": 0.0},
    yspec={"seed": 12, "n": 9999, "modulus": 1 << 20, "offset": 10.0})
# tiny p-values (1e-20 and far below), exact
add("tiny p 120x130", None, None, xspec={"seed": 13, "n": 120, "modulus": 1024, "offset": 0.0},
    yspec={"seed": 14, "n": 130, "modulus": 1024, "offset": 0.6})
add("tiny p 300x280", None, None, xspec={"seed": 15, "n": 300, "modulus": 1024, "offset": 0.0},
    yspec={"seed": 16, "n": 280, "modulus": 1024, "offset": 0.5})
# TOFU-like truth ratios (forget10: 300 vs 300, forget01: 40 vs 40)
tr_a = np.exp(rng.normal(-0.6, 0.5, 300)).round(8)
tr_b = np.exp(rng.normal(-0.25, 0.45, 300)).round(8)
add("truth ratios 300x300", tr_a, tr_b)
add("truth ratios 40x40", tr_a[:40], tr_b[:40])
# 'auto' beyond 10000: the asymptotic path, small and large effective n
add("auto asymp 10001x40", None, None, xspec={"seed": 17, "n": 10001, "modulus": 1 << 20, "offset": 0.0},
    yspec={"seed": 18, "n": 40, "modulus": 1 << 20, "offset": 100.0})
add("auto asymp 12000x11000", None, None, xspec={"seed": 19, "n": 12000, "modulus": 1 << 20, "offset": 0.0},
    yspec={"seed": 20, "n": 11000, "modulus": 1 << 20, "offset": 9.0})
add("auto asymp 12000x11000 same", None, None, xspec={"seed": 21, "n": 12000, "modulus": 1 << 20, "offset": 0.0},
    yspec={"seed": 22, "n": 11000, "modulus": 1 << 20, "offset": 0.0})
# explicit methods
for n1, n2, shift in [(3, 4, 0.5), (9, 9, 0.8), (25, 31, 0.6), (60, 45, 0.3), (150, 200, 0.9),
                      (300, 300, 1.6), (500, 700, 0.05)]:
    x = rng.normal(0, 1, n1).round(6)
    y = rng.normal(shift, 1, n2).round(6)
    add(f"asymp {n1}x{n2}", x, y, method="asymp")
    add(f"exact {n1}x{n2}", x, y, method="exact")
add("asymp 1x1", [0.0], [1.0], method="asymp")  # effective n rounds to 0: NaN
add("asymp separated 300x300", None, None, method="asymp",
    xspec={"seed": 23, "n": 300, "modulus": 1024, "offset": 0.0},
    yspec={"seed": 24, "n": 300, "modulus": 1024, "offset": 1.0})

# kstwo.sf over every branch of its method choice
kstwo = []
for n in [1, 2, 3, 5, 10, 20, 50, 100, 139, 140, 141, 200, 500, 1000, 5000, 10000,
          100000, 100001, 250000, 2000000]:
    ds = {0.45 / n, 0.55 / n, 0.8 / n, 1.0 / n, 1.5 / n, 0.49, 0.5, 0.6, 0.75, 0.9,
          1 - 1.5 / n, 1 - 0.5 / n}
    for c in [0.1, 0.3, 0.5, 0.75, 0.76, 1.0, 1.5, 2.0, 2.19, 2.21, 3.0, 4.0, 4.1, 6.0,
              10.0, 17.9, 18.1, 30.0, 100.0, 300.0, 369.0, 371.0, 500.0]:
        ds.add(math.sqrt(c / n))
    for d in sorted(ds):
        if 0 < d < 1:
            kstwo.append({"n": n, "d": d, "sf": float(stats.kstwo.sf(d, n))})
smirnov = []
for n in [1, 2, 3, 7, 10, 50, 140, 1000, 1013, 5000, 100000, 1000000, 1000001]:
    for d in [0.0, 0.3 / n, 1.0 / n, 1.7 / n, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.95,
              1 - 0.5 / n, 1.0]:
        if 0 <= d <= 1:
            smirnov.append({"n": n, "d": d, "sf": float(special.smirnov(n, d))})

hmean = []
for vals in ([1.0, 2.0, 4.0], [0.5], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
             [0.99, 0.986, 0.475, 0.455, 0.933, 0.596, 0.419, 0.882, 0.539],
             [3.0, 0.0, 2.0], [1e-300, 1.0], [1e10, 1e-10, 5.0], list(rng.uniform(0.01, 1, 50))):
    hmean.append({"x": [float(v) for v in vals], "hmean": float(stats.hmean(vals))})

out = {"generator": "make_ks_cases.py", "scipy": scipy.__version__, "ks_2samp": cases,
       "kstwo_sf": kstwo, "smirnov": smirnov, "hmean": hmean}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ks_cases.json")
with open(path, "w") as f:
    f.write('{"generator": "make_ks_cases.py", "scipy": %s' % json.dumps(scipy.__version__))
    for key in ("ks_2samp", "kstwo_sf", "smirnov", "hmean"):  # one case per line
        f.write(',\n"%s": [\n' % key)
        f.write(",\n".join(json.dumps(c, allow_nan=False) for c in out[key]))
        f.write("]")
    f.write("}\n")
print(f"{len(cases)} ks_2samp, {len(kstwo)} kstwo, {len(smirnov)} smirnov, "
      f"{len(hmean)} hmean cases -> {path}")
