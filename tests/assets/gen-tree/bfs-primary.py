#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Rewrite a composefs dump so each hard-linked inode's full line sits at the name that comes
# first in breadth-first, name-sorted order (the name mkcomposefs(1) documents as primary).
import sys
def unesc(s):
    out = bytearray(); i = 0; b = s.encode('utf-8', 'surrogateescape')
    while i < len(b):
        c = b[i]
        if c == 0x5c:
            n = b[i + 1]
            if n == ord('x'): out.append(int(b[i + 2:i + 4], 16)); i += 4; continue
            out.append({ord('n'): 10, ord('r'): 13, ord('t'): 9, ord('\\'): 92}.get(n, n)); i += 2; continue
        out.append(c); i += 1
    return bytes(out)
def key(p):
    comps = [c for c in unesc(p).split(b'/') if c]
    return (len(comps), comps)
lines = [l.rstrip('\n').split(' ') for l in open(sys.argv[1], encoding='utf-8', errors='surrogateescape')]
full = {f[0]: i for i, f in enumerate(lines) if not f[2].startswith('@')}
groups = {}
for i, f in enumerate(lines):
    if f[2].startswith('@'):
        groups.setdefault(f[8], []).append(i)
for tgt, links in groups.items():
    ti = full[tgt]
    names = [tgt] + [lines[i][0] for i in links]
    best = min(names, key=key)
    if best == tgt:
        continue
    tf = lines[ti]
    for i in [ti] + links:
        name = lines[i][0]
        if name == best:
            lines[i] = [best] + tf[1:]
        else:
            g = list(tf); g[0] = name; g[2] = '@' + tf[2]; g[8] = best
            lines[i] = g
sys.stdout.buffer.write(b''.join(' '.join(f).encode('utf-8', 'surrogateescape') + b'\n' for f in lines))
