#!/usr/bin/env python3
"""The framework's shape, checked: each room includes only rooms it depends on
(build/rooms.txt, written by CMake from framework/CMakeLists.txt), no source
file over MAX_FILE lines, no function over MAX_FUNCTION lines, and no cycle
between the object files of a room (one file defines a symbol another uses,
and back). Usage: check_architecture.py SOURCE_DIR BUILD_DIR. Prints every
finding and exits 1 if there is any."""
import os
import re
import subprocess
import sys

MAX_FILE = 700
MAX_FUNCTION = 120
INCLUDE = re.compile(r'^#include "([a-z_]+)/')
# a definition starts at column 0 with a name and "(", and its body opens with
# "{" at the end of that line or of a continuation line
DEF_START = re.compile(r'^[A-Za-z_][\w \*]*\b(\w+)\(')


def sources(root):
    for dirpath, _, names in os.walk(root):
        for n in sorted(names):
            if n.endswith(('.c', '.h')):
                yield os.path.join(dirpath, n)


def read_rooms(build):
    rooms = {}
    with open(os.path.join(build, 'rooms.txt')) as f:
        for line in f:
            name, deps = line.split(':', 1)
            rooms[name.strip()] = set(deps.split(';')) | {name.strip()}
    return {k: {d.strip() for d in v} for k, v in rooms.items()}


def check_includes(src, rooms, findings):
    rooms = dict(rooms)
    rooms['cli'] = set(rooms) | {'cli'}
    framework = os.path.join(src, 'framework')
    for room in sorted(os.listdir(framework)):
        path = os.path.join(framework, room)
        if not os.path.isdir(path):
            continue
        if room not in rooms:
            findings.append(f'framework/{room}/: a room missing from framework/CMakeLists.txt')
            continue
        for f in sources(path):
            for i, line in enumerate(open(f, encoding='utf-8'), 1):
                m = INCLUDE.match(line)
                if m and m.group(1) != 'lethe' and m.group(1) not in rooms[room]:
                    findings.append(f'{os.path.relpath(f, src)}:{i}: includes {m.group(1)}/, '
                                    f'which room {room} does not depend on')


def function_lengths(path):
    """(name, first line, lines) of every function defined in a C file."""
    lines = open(path, encoding='utf-8').read().split('\n')
    out = []
    i = 0
    while i < len(lines):
        m = DEF_START.match(lines[i])
        if m and not lines[i].rstrip().endswith(';') and not lines[i].startswith(('typedef', 'struct', 'static const', 'const char *const')):
            j = i
            while j < len(lines) and not lines[j].rstrip().endswith('{') and not lines[j].rstrip().endswith(';'):
                j += 1
            if j < len(lines) and lines[j].rstrip().endswith('{') and '=' not in lines[i].split('(')[0]:
                k = j + 1
                while k < len(lines) and lines[k] != '}':
                    k += 1
                out.append((m.group(1), i + 1, k - i + 1))
                i = k + 1
                continue
        i += 1
    return out


def check_sizes(src, findings):
    for f in sources(os.path.join(src, 'framework')):
        rel = os.path.relpath(f, src)
        n = sum(1 for _ in open(f, encoding='utf-8'))
        if n > MAX_FILE:
            findings.append(f'{rel}: {n} lines (at most {MAX_FILE})')
        if f.endswith('.c'):
            for name, line, length in function_lengths(f):
                if length > MAX_FUNCTION:
                    findings.append(f'{rel}:{line}: {name} is {length} lines (at most {MAX_FUNCTION})')


def nm(lib, *flags):
    out = subprocess.run(['nm', '-A', *flags, lib], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        # "lib.a:member.o:  U name" or "lib.a:member.o:0000 T name"
        head, _, rest = line.rpartition(':')
        member = head.split(':')[-1]
        parts = rest.split()
        if len(parts) >= 2:
            yield member, parts[-2], parts[-1]


def check_cycles(build, rooms, findings):
    for room in rooms:
        name = f'liblethe_{room}.a'
        lib = os.path.join(build, 'framework', name)
        defined, used = {}, {}
        for member, kind, sym in nm(lib):
            if kind == 'U':
                used.setdefault(member, set()).add(sym)
            elif kind in 'TDBRVW':
                defined[sym] = member
        edges = {m: {defined[s] for s in syms if s in defined and defined[s] != m}
                 for m, syms in used.items()}
        for cycle in strongly_connected(edges):
            findings.append(f'{name}: a cycle between {", ".join(sorted(cycle))} '
                            '(each uses a symbol the other defines)')


def strongly_connected(edges):
    """Components of more than one node (Tarjan, iterative over small graphs)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, build = sys.argv[1], sys.argv[2]
    findings = []
    rooms = read_rooms(build)
    check_includes(src, rooms, findings)
    check_sizes(src, findings)
    check_cycles(build, rooms, findings)
    for f in findings:
        print(f)
    print(f'architecture: {len(findings)} finding(s)')
    return 1 if findings else 0


if __name__ == '__main__':
    sys.exit(main())
