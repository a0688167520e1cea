"""The emitter's ceiling: raw socket readers that send the request and discard every byte.

They decode nothing, so their rate is what the emitter and the loopback can deliver. They check
the byte count against ``wire.body_size`` instead of counting lines.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from urllib.parse import urlsplit

import loops
import wire
from measure import Meter, RowError

BUFFER = 1 << 20


def _request(job: wire.Job) -> tuple[bytes, str]:
    """The request bytes and the WebSocket key they carry ('' for HTTP)."""
    host = urlsplit(job.url).netloc
    if job.fmt == 'ws':
        key = base64.b64encode(os.urandom(16)).decode()
        head = (
            f'GET /jobs/{job.job_id}/logs/ HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
            f'Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAuthorization: {wire.TOKEN}\r\n\r\n'
        )
        return head.encode(), key
    head = f'GET /jobs/{job.job_id}/logs/stream/ HTTP/1.1\r\nHost: {host}\r\nAuthorization: {wire.TOKEN}\r\n\r\n'
    return head.encode(), ''


def _expected(job: wire.Job, key: str) -> int:
    return len(wire.response_head(job.fmt, key)) + wire.body_size(job.fmt, job.lines)


def raw_reader(job: wire.Job, meter: Meter) -> int:
    """Reads the whole response into one reused buffer; returns the lines its size accounts for."""
    parts = urlsplit(job.url)
    request, key = _request(job)
    expected = _expected(job, key)
    buffer = bytearray(BUFFER)
    received = 0
    with meter, socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        for _ in range(expected + 1):  # each recv_into returns at least one byte until EOF
            got = sock.recv_into(buffer)
            if not got:
                break
            received += got
    if received != expected:
        raise RowError(f'received {received} bytes, expected {expected}')
    return job.lines


def raw_streams(job: wire.Job, meter: Meter) -> int:
    """``job.streams`` concurrent raw readers on one event loop (the scale rows' ceiling)."""
    parts = urlsplit(job.url)
    first_seen: list[float] = []

    async def one() -> int:
        request, key = _request(job)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        writer.write(request)
        received = 0
        for _ in range(_expected(job, key) + 1):
            data = await reader.read(BUFFER)
            if not data:
                break
            if not received:
                first_seen.append(meter.elapsed())
            received += len(data)
        writer.close()
        if received != _expected(job, key):
            raise RowError(f'received {received} bytes, expected {_expected(job, key)}')
        return job.lines

    async def main() -> int:
        with meter:
            counts = await asyncio.gather(*(one() for _ in range(job.streams)))
        meter.sample.extra['last_first_line_s'] = max(first_seen, default=float('nan'))
        return sum(counts)

    return loops.run(main())
