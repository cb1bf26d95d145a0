#!/usr/bin/python3
"""The metrics of framework/metrics/mia.h and memorization.h against an
independent computation: sklearn's roc_auc_score, Python's zlib and NumPy,
written here from the definitions (docs/metrics.md), never from lethe's code.

Usage: mia_oracle.py MIA_ORACLE_DUMP OUT.json. Runs the dump program, which
writes random inputs and lethe's results to OUT.json, recomputes every number
from the inputs and fails (exit 1) on any difference above 1e-9 (relative
above 1 in magnitude, absolute below); integers (zlib lengths, Min-K% counts)
must match exactly. Exits 77 (CTest: skipped) when NumPy or sklearn is
missing (Debian: python3-numpy, python3-sklearn)."""
import json
import os
import subprocess
import sys
import zlib
from fractions import Fraction

try:
    import numpy as np
    from sklearn.metrics import roc_auc_score
except ImportError as missing:
    print(f'SKIP: Python module {missing.name} is missing '
          '(apt-get install python3-numpy python3-sklearn)')
    sys.exit(77)

TOL = 1e-9
ATTACKS = ('loss', 'zlib', 'min_k', 'min_k_plus_plus', 'reference')


class Checker:
    """Counts comparisons per kind, keeps the largest error and the failures."""

    def __init__(self):
        self.worst = {}
        self.count = {}
        self.failures = []

    def real(self, kind, where, got, want):
        err = abs(got - want) / max(1.0, abs(want))
        self.count[kind] = self.count.get(kind, 0) + 1
        self.worst[kind] = max(self.worst.get(kind, 0.0), err)
        if not err <= TOL:
            self.failures.append(f'{kind} {where}: lethe {got!r}, oracle {want!r}')

    def exact(self, kind, where, got, want):
        self.count[kind] = self.count.get(kind, 0) + 1
        self.worst.setdefault(kind, 0.0)
        if got != want:
            self.worst[kind] = float('inf')
            self.failures.append(f'{kind} {where}: lethe {got!r}, oracle {want!r}')


def min_k_count(n, k):
    """Open-unlearning's count: max(1, int(n * k)), the product in floats."""
    return max(1, int(n * k))


def minus_mean_of_lowest(values, count):
    return -float(np.mean(np.sort(values)[:count]))


def check_auc(cases, check):
    for i, case in enumerate(cases):
        a, b = case['a'], case['b']
        # mia_roc_auc(a, b): a is the positive class (label 1)
        check.real('roc_auc', i, case['roc_auc'],
                   roc_auc_score([1] * len(a) + [0] * len(b), a + b))
        # mia_auc(member = a, nonmember = b): OU labels the forget set 0
        check.real('mia_auc', i, case['mia_auc'],
                   roc_auc_score([0] * len(a) + [1] * len(b), a + b))


def check_examples(examples, attack_auc, check):
    for i, ex in enumerate(examples):
        lp = np.array(ex['logp'], dtype=np.float64)
        ref = np.array(ex['ref_logp'], dtype=np.float64)
        mu = np.array(ex['mu'], dtype=np.float64)
        var = np.array(ex['var'], dtype=np.float64)
        loss = -float(np.mean(lp))
        zlib_length = len(zlib.compress(ex['text'].encode('utf-8')))
        count = min_k_count(len(lp), ex['k'])
        standardised = (lp - mu) / np.sqrt(np.maximum(var, 1e-6))
        check.real('loss', i, ex['loss'], loss)
        check.exact('zlib_length', i, ex['zlib_length'], zlib_length)
        check.real('zlib', i, ex['zlib'], loss / zlib_length)
        check.exact('min_k_count', i, ex['min_k_count'], count)
        check.real('min_k', i, ex['min_k'], minus_mean_of_lowest(lp, count))
        check.real('min_k_plus_plus', i, ex['min_k_plus_plus'],
                   minus_mean_of_lowest(standardised, count))
        check.real('reference', i, ex['reference'], loss + float(np.mean(ref)))
    # n * k computed in floats lands below the integer the exact product is
    # (100 * 0.29 = 28.999999999999996): the cases must include some
    below = sum(1 for ex in examples
                if int(len(ex['logp']) * ex['k']) != int(len(ex['logp']) * Fraction(repr(ex['k']))))
    check.exact('min_k_count (product rounds down)', '', below > 0, True)
    print(f'{below} examples whose n * k rounds below an integer in floats')
    # the AUC of each attack on the per-example scores lethe wrote
    labels = [0 if ex['member'] else 1 for ex in examples]
    for attack in ATTACKS:
        scores = [ex[attack] for ex in examples]
        check.real('attack_auc', attack, attack_auc[attack], roc_auc_score(labels, scores))


def check_moments(cases, check):
    for i, case in enumerate(cases):
        z = np.array(case['logits'], dtype=np.float64)
        top = z.max()
        logp = z - (top + np.log(np.sum(np.exp(z - top))))
        p = np.exp(logp)
        mu = float(np.sum(p * logp))
        var = float(np.sum(p * logp * logp)) - mu * mu
        check.real('moments_mu', f'{i} (vocab {len(z)})', case['mu'], mu)
        check.real('moments_var', f'{i} (vocab {len(z)})', case['var'], var)


def extraction_strength(pred, label):
    """Open-unlearning's loop: the first k whose suffix is all right."""
    n = len(label)
    if n == 0:
        return 0.0
    for k in range(n):
        if pred[k:] == label[k:]:
            break
    return 1 - k / n


def check_memorization(cases, check):
    for i, case in enumerate(cases):
        pred, label = case['pred'], case['label']
        if label:
            check.real('em', i, case['em'],
                       float(np.mean(np.array(pred) == np.array(label))))
        else:
            check.exact('em', i, case['em'], None)
        check.real('es', i, case['es'], extraction_strength(pred, label))


def check_privleak(cases, check):
    for i, case in enumerate(cases):
        # MUSE: AUCs taken the other way round (1 - ours), relative gap in percent
        unlearned, retain = 1 - case['auc_unlearned'], 1 - case['auc_retain']
        check.real('privleak', i, case['privleak'], (unlearned - retain) / retain * 100)


def main():
    dump, out = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run([dump, out], check=True)
    with open(out, encoding='utf-8') as f:
        data = json.load(f)
    check = Checker()
    check_auc(data['auc'], check)
    check_examples(data['examples'], data['attack_auc'], check)
    check_moments(data['moments'], check)
    check_memorization(data['memorization'], check)
    check_privleak(data['privleak'], check)
    for kind in check.count:
        print(f'{kind:16s} {check.count[kind]:5d} values, largest error {check.worst[kind]:.3g}')
    for line in check.failures[:20]:
        print('MISMATCH', line)
    if check.failures:
        print(f'{len(check.failures)} mismatches')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
