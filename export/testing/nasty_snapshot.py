"""export/testing/nasty_snapshot.py: writes a snapshot whose strings and
values test every writer's escaping.

    python3 nasty_snapshot.py OUT.pb

Every string of the snapshot (command line, configuration, allocator and
detail names, labels, call-site and leak symbols, alerts) is NASTY: terminal
escape sequences (CSI colour, an OSC title with BEL), invalid UTF-8 bytes, a
C1 control (U+009B, CSI on some terminals), a right-to-left override, a quote,
a backslash and a newline. The values include -Inf, +Inf and NaN. The file is
a format-1 snapshot (one bare packed Snapshot, encoded here by hand: no
protobuf module needed), which readers still accept.
"""
import struct
import sys

NASTY = b'evil\x1b[31mRED\x1b]0;title\x07 \xff\xfe \xc2\x9b \xe2\x80\xaeq "quote" back\\slash\nnext'
# What a UTF-8 reader makes of it: each invalid byte one U+FFFD.
NASTY_TEXT = NASTY.decode("utf-8", errors="replace")
assert NASTY_TEXT.count("\ufffd") == 2


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field_varint(n, v):
    return varint(n << 3) + varint(v)


def field_double(n, v):
    return varint(n << 3 | 1) + struct.pack("<d", v)


def field_bytes(n, b):
    return varint(n << 3 | 2) + varint(len(b)) + b


def snapshot():
    inf, nan = float("inf"), float("nan")
    stats = field_varint(1, 1507) + field_varint(4, 4096) + field_double(11, -inf)
    details = [
        field_bytes(1, b"tier") + field_bytes(2, NASTY) + field_bytes(3, b"bytes_in_use") + field_double(5, inf),
        field_bytes(1, b"tier") + field_bytes(2, b"small") + field_bytes(3, b"bytes_in_use") + field_double(5, -inf),
        field_bytes(1, b"tier") + field_bytes(2, b"large") + field_bytes(3, b"bytes_in_use") + field_double(5, nan),
    ]
    alloc = (field_bytes(1, NASTY) + field_bytes(2, b"os") + field_bytes(3, NASTY) + field_varint(4, 1) +
             field_bytes(5, stats) + b"".join(field_bytes(6, d) for d in details))
    site = field_bytes(1, varint(0x401000) + varint(0x402000)) + field_bytes(2, NASTY) + field_varint(3, 3) + \
        field_varint(4, 96) + field_varint(5, 2) + field_varint(6, 64)
    leak = field_varint(1, 0x7F0000001000) + field_varint(2, 48) + field_bytes(4, NASTY) + field_varint(5, 1)
    alert = field_bytes(1, NASTY) + field_bytes(2, NASTY) + field_double(3, inf) + field_double(4, 1.0) + \
        field_varint(5, 1) + field_varint(6, 1) + field_bytes(7, NASTY)
    return (field_varint(1, 1_700_000_000_000_000_000) + field_varint(2, 5) + field_varint(3, 4242) +
            field_bytes(4, NASTY) + field_bytes(5, NASTY) + field_bytes(6, alloc) +
            field_bytes(8, NASTY) + field_bytes(11, site) + field_bytes(12, leak) + field_bytes(13, alert))


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        f.write(snapshot())
