"""Reference values for test_stats's exact paired tests (hard-coded there).

Sign test: scipy.stats.binomtest(k, n, 0.5, alternative='greater').
Wilcoxon signed-rank without ties: scipy.stats.wilcoxon(d, alternative=...,
method='exact'). With ties scipy 1.10 switches to the normal approximation,
so the exact values come from enumerating all 2^n sign patterns over
scipy.stats.rankdata's mid-ranks. Run: /usr/bin/python3 make_paired_cases.py (SciPy 1.10)"""
import itertools

import numpy as np
from scipy import stats

SIGN = [(0, 5), (5, 5), (4, 5), (3, 5), (9, 10), (7, 12), (20, 20), (1, 1), (13, 30)]
print("sign test {k, n, p}:")
for k, n in SIGN:
    print(f"  {{{k}, {n}, {stats.binomtest(k, n, 0.5, alternative='greater').pvalue!r}}},")


def exact_tied(d):
    d = np.asarray([x for x in d if x != 0], dtype=float)
    r = stats.rankdata(np.abs(d))
    w = r[d > 0].sum()
    ge = le = 0
    for signs in itertools.product([0, 1], repeat=len(d)):
        s = sum(ri for ri, si in zip(r, signs) if si)
        ge += s >= w - 1e-9
        le += s <= w + 1e-9
    return w, ge / 2 ** len(d), le / 2 ** len(d)


NO_TIES = [
    [1.5, 2.25, 3.0, -0.5, 4.0],
    [0.3, 0.1, 0.7, 0.2, 0.9, 1.1],
    [-2.0, 1.0, -3.0, 0.5, -4.0, -5.5, 0.25],
    [2.1, -0.4, 3.3, 1.7, -0.9, 2.8, 4.4, 0.6, 1.2, -1.3],
    [0.01, 0.02, 0.03, 0.04, 0.05],
]
TIES = [
    [1.0, 1.0, -1.0, 2.0, 3.0],
    [0.0, 2.0, -2.0, 2.0, 5.0, 0.0, 1.0],
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
]
print("wilcoxon {n, d[12], W+, p_greater, p_less}:")
for d in NO_TIES:
    g = stats.wilcoxon(d, alternative='greater', method='exact')
    l = stats.wilcoxon(d, alternative='less', method='exact')
    w, ge, le = exact_tied(d)
    assert abs(ge - g.pvalue) < 1e-12 and abs(le - l.pvalue) < 1e-12
    print(f"  {{{len(d)}, {{{', '.join(map(repr, d))}}}, {w!r}, {g.pvalue!r}, {l.pvalue!r}}},")
for d in TIES:
    w, ge, le = exact_tied(d)
    print(f"  {{{len(d)}, {{{', '.join(map(repr, d))}}}, {w!r}, {ge!r}, {le!r}}},")
