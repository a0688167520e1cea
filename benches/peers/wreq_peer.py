"""wreq (Rust, sync ``wreq.blocking`` and async): WebSocket messages, and HTTP body chunks split in Python."""

from __future__ import annotations

import json

import loops
import wire
from measure import Meter, Unavailable

from peers.decode import ChunkLines, failed

try:
    import wreq
    import wreq.blocking
except ImportError as e:
    raise Unavailable(f'wreq is not installed ({e})') from e


def sync_websocket(job: wire.Job, meter: Meter) -> int:
    client = wreq.blocking.Client()
    count = 0
    with meter:
        ws = client.websocket(job.ws_url, headers=job.headers)
        try:
            for _ in range(job.lines + 2):
                message = ws.recv()
                if message is None:
                    break
                if message.text is None:
                    continue  # ping, pong or close
                event = json.loads(message.text)
                kind = event.get('type')
                if kind == 'complete':
                    break
                if kind == 'error':
                    raise failed(event)
                if event.get('message'):
                    count += 1
        finally:
            ws.close()
    return count


def async_websocket(job: wire.Job, meter: Meter) -> int:
    async def main() -> int:
        client = wreq.Client()
        count = 0
        with meter:
            ws = await client.websocket(job.ws_url, headers=job.headers)
            try:
                for _ in range(job.lines + 2):
                    message = await ws.recv()
                    if message is None:
                        break
                    if message.text is None:
                        continue  # ping, pong or close
                    event = json.loads(message.text)
                    kind = event.get('type')
                    if kind == 'complete':
                        break
                    if kind == 'error':
                        raise failed(event)
                    if event.get('message'):
                        count += 1
            finally:
                await ws.close()
        return count

    return loops.run(main())


def sync_http(job: wire.Job, meter: Meter) -> int:
    client = wreq.blocking.Client()
    lines = ChunkLines(sse=job.fmt == 'sse')
    with meter:
        response = client.get(job.http_url, headers=job.headers)
        response.raise_for_status()
        with response.stream() as chunks:
            for chunk in chunks:
                if isinstance(chunk, memoryview) and lines.feed(chunk.tobytes()):
                    break
        response.close()
    return lines.finish()


def async_http(job: wire.Job, meter: Meter) -> int:
    async def main() -> int:
        client = wreq.Client()
        lines = ChunkLines(sse=job.fmt == 'sse')
        with meter:
            response = await client.get(job.http_url, headers=job.headers)
            response.raise_for_status()
            async with response.stream() as chunks:
                async for chunk in chunks:
                    if isinstance(chunk, memoryview) and lines.feed(chunk.tobytes()):
                        break
            await response.close()
        return lines.finish()

    return loops.run(main())
