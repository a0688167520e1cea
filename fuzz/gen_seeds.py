"""Writes the seed corpus of the ws_frames target: a 4-byte prefix (limit mode and chunk sizes), then server frames."""

import pathlib
import struct


def frame(payload: bytes, opcode: int, fin: bool = True, rsv: int = 0, mask: bool = False) -> bytes:
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = struct.pack('!BB', first, bit | n)
    elif n < 1 << 16:
        head = struct.pack('!BBH', first, bit | 126, n)
    else:
        head = struct.pack('!BBQ', first, bit | 127, n)
    return head + (b'abcd' if mask else b'') + payload


SEEDS = {
    'log-lines': frame(b'{"type":"log","message":"hello"}', 1) * 3 + frame(b'{"type":"complete"}', 1),
    'fragmented-with-ping': frame('caf'.encode(), 1, False) + frame(b'p', 9) + frame('\u00e9'.encode(), 0),
    'binary-and-pong': frame(b'\x00\xff', 2) + frame(b'', 10),
    'close-normal': frame(struct.pack('!H', 1000) + b'bye', 8),
    'close-bad-code': frame(struct.pack('!H', 1005), 8),
    'long-16bit': frame(b'x' * 300, 1),
    'long-64bit': frame(b'y' * 70000, 2),
    'over-limit-fragments': frame(b'a' * 200, 1, False) + frame(b'b' * 200, 0) + frame(b'ok', 1),
    'masked': frame(b'x', 1, mask=True),
    'rsv': frame(b'x', 1, rsv=4),
    'reserved-opcode': frame(b'', 0xB),
    'orphan-continuation': frame(b'x', 0),
    'bad-utf8-split': frame(b'\xe2\x82', 1, False) + frame(b'A', 0),
    'top-bit-length': struct.pack('!BBQ', 0x82, 127, 1 << 63),
}

out = pathlib.Path(__file__).parent / 'seeds' / 'ws_frames'
out.mkdir(parents=True, exist_ok=True)
for i, (name, body) in enumerate(SEEDS.items()):
    prefix = bytes([i % 4, 7 + i, 3 * i, i])
    (out / name).write_bytes(prefix + body)
