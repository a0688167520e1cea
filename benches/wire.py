"""What the emitter puts on the wire: log lines, their three encodings, and the exact byte counts.

A stream is named by its job id, ``bench-{format}-{lines}``:

- ``ws``: WebSocket text frames ``{"type":"log","message":"<line>"}``, then ``{"type":"complete"}``
  and a normal close frame;
- ``sse``: a chunked ``text/event-stream`` body of ``data: {json}`` events (each followed by the
  blank line that ends an SSE event), then a ``complete`` event;
- ``plain``: a chunked ``text/plain`` body of the lines themselves.

The body is cut into slabs of ``SLAB_LINES`` lines (about 1 MiB) that are encoded once and sent
again and again, so the emitter costs one ``sendall`` per MiB. Lines are a pure function of their
position in the slab, so any reader can compute the exact size of what it should receive.
Stdlib only: imported by the emitter and by clients running in either virtualenv.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import struct
from dataclasses import dataclass

FORMATS = ('ws', 'sse', 'plain')
SLAB_LINES = 8192
TOKEN = 'bench-token'
PACE_LINES = 1000  # the memory row's consumer sleeps PACE_SECONDS every PACE_LINES lines
PACE_SECONDS = 0.001
WS_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
COMPLETE_EVENT = b'{"type":"complete"}'
# An optional `-<n>` suffix names copies of one stream (distinct job ids for `tail_many`).
_JOB_RE = re.compile(r'bench-(ws|sse|plain)-([0-9]{1,12})(?:-[0-9]{1,6})?')


@dataclass(frozen=True)
class Job:
    """What one benchmark row fetches: ``streams`` streams of ``lines`` lines each, in ``fmt``."""

    url: str
    fmt: str
    lines: int
    streams: int = 1

    @property
    def job_id(self) -> str:
        return job_id(self.fmt, self.lines)

    @property
    def protocol(self) -> str:
        """Our client's ``protocol`` argument for this format."""
        return 'websocket' if self.fmt == 'ws' else 'http'

    @property
    def ws_url(self) -> str:
        return 'ws' + self.url.removeprefix('http') + f'/jobs/{self.job_id}/logs/'

    @property
    def http_url(self) -> str:
        return f'{self.url}/jobs/{self.job_id}/logs/stream/'

    @property
    def headers(self) -> dict[str, str]:
        return {'Authorization': TOKEN}


def job_id(fmt: str, lines: int) -> str:
    """The job id that makes the emitter send ``lines`` lines in ``fmt``."""
    return f'bench-{fmt}-{lines}'


def parse_job_id(value: str) -> tuple[str, int] | None:
    """``(format, lines)`` of a benchmark job id, or ``None``."""
    match = _JOB_RE.fullmatch(value)
    return (match[1], int(match[2])) if match else None


def log_line(seq: int) -> bytes:
    """Line ``seq`` of a slab: about 100 ASCII bytes, like a Ray worker's log, with no JSON escapes."""
    noise = _mix(seq)
    micros = (8 * 3600 + 30 * 60) * 1_000_000 + seq * 37
    level, status = ('WARN ', 'retry') if noise % 100 < 5 else ('DEBUG', 'ok') if noise % 100 < 20 else ('INFO ', 'ok')
    stamp = f'{micros // 3_600_000_000:02}:{micros // 60_000_000 % 60:02}:{micros // 1_000_000 % 60:02}'
    return (
        f'2025-01-15T{stamp}.{micros % 1_000_000:06}Z {level} worker-{noise >> 8 & 15:02} batch seq={seq:010} '
        f'rows={1 + (noise >> 16) % 1024:04} latency_ms={(noise >> 26) % 1000:03}.{(noise >> 36) % 1000:03} '
        f'status={status}'
    ).encode()


def _mix(seq: int) -> int:
    """splitmix64's finaliser: a cheap, well-spread hash of the sequence number."""
    mask = (1 << 64) - 1
    z = (seq + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """An unmasked (server-to-client) WebSocket frame with FIN set."""
    size = len(payload)
    if size < 126:
        head = struct.pack('!BB', 0x80 | opcode, size)
    elif size < 1 << 16:
        head = struct.pack('!BBH', 0x80 | opcode, 126, size)
    else:
        head = struct.pack('!BBQ', 0x80 | opcode, 127, size)
    return head + payload


def encode_line(fmt: str, line: bytes) -> bytes:
    """One line as the body bytes of ``fmt`` (before HTTP chunking)."""
    if fmt == 'ws':
        return ws_frame(b'{"type":"log","message":"' + line + b'"}')
    if fmt == 'sse':
        return b'data: {"type":"log","message":"' + line + b'"}\n\n'
    return line + b'\n'


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b'%x\r\n%b\r\n' % (len(data), data)


@functools.cache
def _encoded(fmt: str) -> tuple[bytes, tuple[int, ...]]:
    """The slab of ``fmt`` unchunked, and the offset at which each of its lines ends."""
    parts = [encode_line(fmt, log_line(seq)) for seq in range(SLAB_LINES)]
    ends, total = [], 0
    for part in parts:
        total += len(part)
        ends.append(total)
    return b''.join(parts), tuple(ends)


@functools.cache
def full_slab(fmt: str) -> bytes:
    """``SLAB_LINES`` lines, ready to send (one chunk for HTTP)."""
    body, _ = _encoded(fmt)
    return body if fmt == 'ws' else chunk(body)


def _end(fmt: str) -> bytes:
    if fmt == 'ws':
        return ws_frame(COMPLETE_EVENT) + ws_frame(struct.pack('!H', 1000), opcode=0x8)
    if fmt == 'sse':
        return chunk(b'data: ' + COMPLETE_EVENT + b'\n\n') + b'0\r\n\r\n'
    return b'0\r\n\r\n'


@functools.lru_cache(maxsize=256)
def tail(fmt: str, lines: int) -> bytes:
    """The last ``lines`` (< ``SLAB_LINES``) lines of a stream, then its end, ready to send."""
    body, ends = _encoded(fmt)
    part = body[: ends[lines - 1]] if lines else b''
    if fmt != 'ws' and part:
        part = chunk(part)
    return part + _end(fmt)


def split(lines: int) -> tuple[int, int]:
    """How a stream of ``lines`` lines is sent: full slabs, then the lines of the tail."""
    return divmod(lines, SLAB_LINES)


def body_size(fmt: str, lines: int) -> int:
    """Exact bytes of a stream's body (after the response head), end included."""
    slabs, rest = split(lines)
    return slabs * len(full_slab(fmt)) + len(tail(fmt, rest))


def payload_size(fmt: str, lines: int) -> int:
    """Bytes of the log lines themselves (what a client yields), without framing."""
    _, ends = _encoded('plain')
    slabs, rest = split(lines)
    per_slab = ends[-1] - SLAB_LINES  # minus the newlines
    return slabs * per_slab + ((ends[rest - 1] - rest) if rest else 0)


def lines_for_bytes(fmt: str, size: int) -> int:
    """The fewest lines whose body is at least ``size`` bytes."""
    per_line = len(full_slab(fmt)) / SLAB_LINES
    lines = int(size / per_line)
    while body_size(fmt, lines) < size:
        lines += 1
    return lines


def websocket_accept(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` answer to a ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


def response_head(fmt: str, ws_key: str = '') -> bytes:
    """The status line and headers of a stream's response."""
    if fmt == 'ws':
        return (
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
            f'Sec-WebSocket-Accept: {websocket_accept(ws_key)}\r\n\r\n'
        ).encode()
    content_type = 'text/event-stream' if fmt == 'sse' else 'text/plain; charset=utf-8'
    return (
        f'HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nCache-Control: no-cache\r\n'
        'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
    ).encode()
