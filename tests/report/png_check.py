#!/usr/bin/env python3
"""png_check — is a screenshot a page with content, not a blank one?

Decodes an 8-bit RGB/RGBA PNG with the standard library (zlib) and checks
the share of non-white pixels, the number of distinct colours, and that each
colour named on the command line (#rrggbb, e.g. a method's plot colour)
appears. Prints the numbers; exit status 1 when a check fails.
usage: png_check.py FILE.png [--min-ink F] [--min-colours N] [#rrggbb ...]
"""
import struct
import sys
import zlib


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, head = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour_type, _, _, interlace = head
    if depth != 8 or colour_type not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit RGB/RGBA, non-interlaced PNGs are checked")
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        filt = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        if filt == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif filt == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif filt == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif filt == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main(argv):
    args, min_ink, min_colours, wanted = argv[1:], 0.02, 16, []
    path = args.pop(0)
    while args:
        a = args.pop(0)
        if a == "--min-ink":
            min_ink = float(args.pop(0))
        elif a == "--min-colours":
            min_colours = int(args.pop(0))
        else:
            wanted.append(tuple(int(a.lstrip("#")[k:k + 2], 16) for k in (0, 2, 4)))
    width, height, bpp, rows = decode(path)
    ink, colours = 0, {}
    for row in rows:
        for x in range(0, len(row), bpp):
            px = row[x:x + 3]
            if px[0] < 235 or px[1] < 235 or px[2] < 235:
                ink += 1
            colours[px] = colours.get(px, 0) + 1
    share = ink / (width * height)
    ok = True
    print(f"{path}: {width}x{height}, {share:.1%} non-white, {len(colours)} colours")
    if share < min_ink:
        print(f"FAIL: less than {min_ink:.0%} of the pixels are not white (a blank page?)")
        ok = False
    if len(colours) < min_colours:
        print(f"FAIL: fewer than {min_colours} distinct colours")
        ok = False
    for want in wanted:
        near = sum(n for c, n in colours.items() if max(abs(c[k] - want[k]) for k in range(3)) <= 8)
        print(f"  #{bytes(want).hex()}: {near} pixels")
        if near < 20:
            print(f"FAIL: colour #{bytes(want).hex()} is (almost) absent")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
