"""aiohttp (async): WebSocket messages, and chunked HTTP bodies read as raw chunks split into lines."""

from __future__ import annotations

import json

import loops
import wire
from measure import Meter, Unavailable

from peers.decode import ChunkLines, Loads, failed

try:
    import aiohttp
except ImportError as e:
    raise Unavailable(f'aiohttp is not installed ({e})') from e

TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=30)


def websocket(job: wire.Job, meter: Meter) -> int:
    async def main() -> int:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            count = 0
            with meter:
                async with session.ws_connect(job.ws_url, headers=job.headers, max_msg_size=0) as ws:
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            continue
                        event = json.loads(msg.data)
                        kind = event.get('type')
                        if kind == 'complete':
                            break
                        if kind == 'error':
                            raise failed(event)
                        if event.get('message'):
                            count += 1
            return count

    return loops.run(main())


def http(job: wire.Job, meter: Meter) -> int:
    """``iter_any()`` (every chunk as it arrives) split into lines: faster than ``async for line in content``."""
    return _http(job, meter, json.loads)


def http_orjson(job: wire.Job, meter: Meter) -> int:
    """:func:`http` with orjson decoding the SSE payloads: the strongest SSE peer we could build."""
    try:
        import orjson
    except ImportError as e:
        raise Unavailable(f'orjson is not installed ({e})') from e
    return _http(job, meter, orjson.loads)


def _http(job: wire.Job, meter: Meter, loads: Loads) -> int:
    async def main() -> int:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            lines = ChunkLines(sse=job.fmt == 'sse', loads=loads)
            with meter:
                async with session.get(job.http_url, headers=job.headers) as response:
                    response.raise_for_status()
                    async for chunk in response.content.iter_any():
                        if lines.feed(chunk):
                            break
            return lines.finish()

    return loops.run(main())
