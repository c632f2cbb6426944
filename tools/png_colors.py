"""Counts pixels near given colours in a PNG (8-bit RGB/RGBA, no PIL needed).

usage: png_colors.py FILE.png RRGGBB[:MIN] ...   exit 1 when a colour has
fewer than MIN pixels (default 500) within a small distance.
"""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8 and ctype in (2, 6), "unsupported PNG type %d/%d" % (depth, ctype)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def main():
    w, h, bpp, rows = read_png(sys.argv[1])
    want = []
    for arg in sys.argv[2:]:
        hexc, _, mn = arg.partition(":")
        want.append((tuple(int(hexc[i:i + 2], 16) for i in (0, 2, 4)), int(mn or 500), hexc))
    counts = [0] * len(want)
    for line in rows:
        for x in range(0, w * bpp, bpp):
            px = line[x], line[x + 1], line[x + 2]
            for k, (c, _, _) in enumerate(want):
                if abs(px[0] - c[0]) + abs(px[1] - c[1]) + abs(px[2] - c[2]) < 24:
                    counts[k] += 1
    ok = True
    for (c, mn, name), n in zip(want, counts):
        print("#%s: %d pixels (want >= %d)" % (name, n, mn))
        ok &= n >= mn
    print("%dx%d" % (w, h))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
