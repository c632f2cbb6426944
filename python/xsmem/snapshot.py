"""Reading xsmem snapshot files and streams (export/snapshot.h, format 2 and 1).

A file is a 16-byte file header ("\\x89XSMEM\\r\\n", version 2, CRC32C of the
12 bytes before) and records, each a 16-byte header ("\\xc7XSR", payload
length, CRC32C of the payload, CRC32C of the 12 bytes before) and a packed
xsmem.Snapshot. Version-1 files hold one bare Snapshot, or records each
preceded by its varint length. This reader follows the C reader
(export/snapshot.c, tools/snapshot_load.c): a damaged record is reported with
its byte offset and the next intact one is read; a stream cut short (its
writer was killed) is read up to the cut.
"""
import os
import struct

from . import xsmem_stats_pb2

FILE_MAGIC = b"\x89XSMEM\r\n"
RECORD_MARKER = b"\xc7XSR"
FORMAT_VERSION = 2
HEADER = 16  # bytes, the file header and each record header
MAX_RECORD = 64 << 20  # the C readers' caps (XSMEM_SNAPSHOT_MAX_RECORD, _FILE)
MAX_FILE = 1 << 30


class SnapshotError(ValueError):
    """A file that is not a readable snapshot; the message names the file."""

    def __init__(self, path, message, offset=None):
        self.path = path
        self.offset = offset
        where = "%s: byte %d: " % (path, offset) if offset is not None else "%s: " % path
        super().__init__(where + message)


class Issue:
    """A record left out of a stream: where, what, and whether it is the cut
    end of a stream whose writer stopped (not damage)."""

    def __init__(self, offset, message, cut):
        self.offset, self.message, self.cut = offset, message, cut

    def __repr__(self):
        return "Issue(offset=%d, message=%r, cut=%r)" % (self.offset, self.message, self.cut)


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc_table()


def crc32c(data, crc=0):
    """CRC32C (Castagnoli), as xsmem_crc32c: pure Python (snapshots are small)."""
    t = _CRC32C
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _u32(data, at):
    return struct.unpack_from("<I", data, at)[0]


def _file_header_at(data, at):
    """1: a valid file header of this version; 2: valid, another version; 0: none."""
    if len(data) - at < HEADER or data[at:at + 8] != FILE_MAGIC:
        return 0
    if _u32(data, at + 12) != crc32c(data[at:at + 12]):
        return 0
    return 1 if _u32(data, at + 8) == FORMAT_VERSION else 2


def _record_header_at(data, at):
    return (len(data) - at >= HEADER and data[at:at + 4] == RECORD_MARKER
            and _u32(data, at + 12) == crc32c(data[at:at + 12]))


def is_framed(data):
    """True when data is (the start of) a format-2 file."""
    if _file_header_at(data, 0):
        return True
    if 0 < len(data) < HEADER and FILE_MAGIC.startswith(bytes(data[:8])):
        return True
    if len(data) >= 8 and data[:8] == FILE_MAGIC:
        return True
    return len(data) > HEADER and _record_header_at(data, HEADER)


def parse(payload):
    """A packed Snapshot (what /api/snapshot serves) as an xsmem_stats_pb2.Snapshot.

    Raises ValueError when payload is not one."""
    s = xsmem_stats_pb2.Snapshot()
    try:
        s.ParseFromString(bytes(payload))
    except Exception as e:  # google.protobuf.message.DecodeError, or upb's RuntimeError
        raise ValueError("not a Snapshot (%s)" % e) from None
    return s


def _plausible(s):
    # As tools/snapshot_load.c: every collector stamps the wall clock and the
    # pid; a message without them that still parsed is some other protobuf.
    return s.time_unix_ns != 0 and s.pid > 0


def _resync(data, start):
    for q in range(start, len(data) - HEADER + 1):
        if data[q] not in (0xC7, 0x89):
            continue
        if _record_header_at(data, q) or _file_header_at(data, q) == 1:
            return q
    return len(data)


def _records_v2(data):
    """Yields (offset, Snapshot or None, Issue or None) for a format-2 stream."""
    pos = HEADER
    if len(data) < HEADER:
        yield 0, None, Issue(0, "file header cut short", True)
        return
    fh = _file_header_at(data, 0)
    if fh == 2:
        yield 0, None, Issue(0, "written in a newer format version", False)
        return
    if fh == 0:
        yield 0, None, Issue(0, "damaged file header (checksum mismatch)", False)
    while pos < len(data):
        left = len(data) - pos
        if left < HEADER:
            tail = bytes(data[pos:])
            prefix = RECORD_MARKER.startswith(tail[:4]) or FILE_MAGIC.startswith(tail[:8])
            yield pos, None, Issue(pos, "record header cut short" if prefix else "damaged bytes at the end", prefix)
            return
        fh = _file_header_at(data, pos)
        if fh == 1:  # another writer's file header (concatenated files, a pipe)
            pos += HEADER
            continue
        if fh == 2:
            yield pos, None, Issue(pos, "written in a newer format version", False)
            return
        if not _record_header_at(data, pos):
            yield pos, None, Issue(pos, "damaged record header (checksum mismatch)", False)
            pos = _resync(data, pos + 1)
            continue
        n = _u32(data, pos + 4)
        if n > MAX_RECORD:
            yield pos, None, Issue(pos, "record larger than 64 MiB", False)
            pos = pos + HEADER + n if n <= left - HEADER else len(data)
            continue
        if n > left - HEADER:
            yield pos, None, Issue(pos, "record cut short", True)
            return
        payload = data[pos + HEADER:pos + HEADER + n]
        at, pos = pos, pos + HEADER + n
        if _u32(data, at + 8) != crc32c(payload):
            yield at, None, Issue(at, "damaged record (checksum mismatch)", False)
            continue
        try:
            s = parse(payload)
        except ValueError:
            yield at, None, Issue(at, "record is not a Snapshot", False)
            continue
        if not _plausible(s):
            yield at, None, Issue(at, "a protobuf message that is not an xsmem snapshot", False)
            continue
        yield at, s, None


def _records_v1(data):
    """Yields (offset, Snapshot or None, Issue or None) for a version-1 file."""
    try:
        one = parse(data)
        if _plausible(one):
            yield 0, one, None
            return
    except ValueError:
        pass
    pos = 0
    while pos < len(data):
        start, n, shift = pos, 0, 0
        while True:
            if pos >= len(data):
                yield start, None, Issue(start, "record length cut short", True)
                return
            if shift > 63:
                yield start, None, Issue(start, "record length is not a varint", False)
                return
            c = data[pos]
            pos += 1
            n |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                break
        if n > MAX_RECORD:
            yield start, None, Issue(start, "record larger than 64 MiB", False)
            return
        if n > len(data) - pos:
            yield start, None, Issue(start, "record cut short", True)
            return
        try:
            s = parse(data[pos:pos + n])
        except ValueError:
            s = None
        # Without checksums the framing after a bad record cannot be trusted.
        if s is None or not _plausible(s):
            yield start, None, Issue(start, "record is not a Snapshot", False)
            return
        pos += n
        yield start, s, None


def _read_bytes(path):
    path = os.fspath(path)
    if os.path.isdir(path):
        raise SnapshotError(path, "is a directory, not a snapshot")
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_FILE:
                raise SnapshotError(path, "not a snapshot: larger than %d MiB, the most xsmem reads" % (MAX_FILE >> 20))
            head = f.read(HEADER)
            if len(head) == HEADER and not _looks_like_snapshot(head):
                raise SnapshotError(path, "not an xsmem snapshot (its first bytes begin neither snapshot format)")
            data = head + f.read(MAX_FILE + 1 - len(head))
    except OSError as e:
        raise SnapshotError(path, "cannot read: %s" % (e.strerror or e)) from None
    if len(data) > MAX_FILE:
        raise SnapshotError(path, "not a snapshot: larger than %d MiB, the most xsmem reads" % (MAX_FILE >> 20))
    if not data:
        raise SnapshotError(path, "empty file, not a snapshot")
    return data


def _looks_like_snapshot(p):
    # As export/snapshot.c: the format-2 header, a Snapshot (field 1's tag,
    # 0x08, first) or a varint length followed by one. /dev/zero stops here.
    if is_framed(p) or p[0] == 0x08:
        return True
    for i in range(min(len(p), 10)):
        if not p[i] & 0x80:
            return i + 1 == len(p) or p[i + 1] == 0x08
    return len(p) < 10


def read_stream(path, strict=True):
    """Every intact snapshot of the file at path, in order, as
    xsmem_stats_pb2.Snapshot messages, and the list of Issues (records left out).

    strict: raise SnapshotError at the first damaged record (a stream cut short
    by its writer's end is not damage: its intact records are returned).
    Without strict, damaged records are left out and listed in the Issues.
    Raises SnapshotError, naming the file, when nothing intact is left."""
    path = os.fspath(path)
    data = memoryview(_read_bytes(path)).tobytes()
    framed = is_framed(data)
    snaps, issues = [], []
    for offset, s, issue in (_records_v2(data) if framed else _records_v1(data)):
        if issue is not None:
            if not framed and not snaps:
                # As the C reader: a version-1 file that is no stream at all.
                raise SnapshotError(path, "not an xsmem snapshot (corrupt or truncated protobuf)")
            if strict and not issue.cut:
                raise SnapshotError(path, issue.message + "; refused", offset)
            issues.append(issue)
        else:
            snaps.append(s)
    if not snaps:
        if issues and framed:
            raise SnapshotError(path, "no intact snapshot in the file (%s at byte %d)" %
                                (issues[0].message, issues[0].offset))
        raise SnapshotError(path, "not an xsmem snapshot (corrupt or truncated protobuf)")
    return snaps, issues


def write_file(path, snapshots):
    """Writes snapshots (messages) to path as a format-2 file: tests and tools
    that make snapshots of their own. Not atomic (xsmem's writers are)."""
    out = bytearray(FILE_MAGIC + struct.pack("<I", FORMAT_VERSION))
    out += struct.pack("<I", crc32c(out))
    for s in snapshots:
        payload = s.SerializeToString()
        h = RECORD_MARKER + struct.pack("<II", len(payload), crc32c(payload))
        out += h + struct.pack("<I", crc32c(h)) + payload
    with open(path, "wb") as f:
        f.write(out)
