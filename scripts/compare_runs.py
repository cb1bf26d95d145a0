#!/usr/bin/env python3
"""Compares two result trees file by file, for refactors that must not change
behaviour: every file under A must exist under B with the same bytes, except
that in JSON and JSON-lines files the wall-clock fields (any key ending in
"seconds", and "eta") are blanked first, as are CSV columns so named.
HTML pages show the clock too: compare reports by re-running `lethe report`
on one result tree with both builds. Files only in B are listed too.
Usage: compare_runs.py A B [--skip GLOB ...]   (exit 1 on any difference)."""
import fnmatch
import json
import os
import sys

CLOCK = ('seconds', 'eta')


def blank(v):
    if isinstance(v, dict):
        return {k: (None if k.endswith(CLOCK) else blank(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [blank(x) for x in v]
    return v


def canonical(path, data):
    """Bytes with the clock fields blanked (key order and formatting kept)."""
    if path.endswith('.json'):
        try:
            return json.dumps(blank(json.loads(data)), sort_keys=False).encode()
        except ValueError:
            return data
    if path.endswith('.csv'):
        rows = data.decode().split('\n')
        head = rows[0].split(',')
        clock = {i for i, h in enumerate(head) if h.strip('"').endswith(CLOCK)}
        if not clock:
            return data
        import csv
        out = []
        for r in csv.reader(rows):
            out.append(','.join('' if i in clock else v for i, v in enumerate(r)))
        return '\n'.join(out).encode()
    if path.endswith('.jsonl'):
        out = []
        for line in data.splitlines():
            try:
                out.append(json.dumps(blank(json.loads(line))).encode())
            except ValueError:
                out.append(line)
        return b'\n'.join(out)
    return data


def files(root, skip):
    for d, _, names in os.walk(root):
        for n in names:
            rel = os.path.relpath(os.path.join(d, n), root)
            if not any(fnmatch.fnmatch(rel, g) for g in skip):
                yield rel


def main():
    args = sys.argv[1:]
    skip = []
    if '--skip' in args:
        i = args.index('--skip')
        skip, args = args[i + 1:], args[:i]
    if len(args) != 2:
        sys.exit(__doc__)
    a, b = args
    fa, fb = set(files(a, skip)), set(files(b, skip))
    bad = 0
    for rel in sorted(fa - fb):
        print(f'only in {a}: {rel}'); bad += 1
    for rel in sorted(fb - fa):
        print(f'only in {b}: {rel}'); bad += 1
    same = 0
    for rel in sorted(fa & fb):
        x = open(os.path.join(a, rel), 'rb').read()
        y = open(os.path.join(b, rel), 'rb').read()
        if x == y or canonical(rel, x) == canonical(rel, y):
            same += 1
        else:
            print(f'differs: {rel}'); bad += 1
    print(f'{same} files identical (clock fields blanked), {bad} difference(s)')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
