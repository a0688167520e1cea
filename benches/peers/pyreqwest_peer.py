"""pyreqwest (Rust reqwest under Python, sync and async): body chunks split into lines in Python."""

from __future__ import annotations

import loops
import wire
from measure import Meter, Unavailable

from peers.decode import ChunkLines

try:
    from pyreqwest.client import ClientBuilder, SyncClientBuilder
except ImportError as e:
    raise Unavailable(f'pyreqwest is not installed ({e})') from e


def sync_http(job: wire.Job, meter: Meter) -> int:
    lines = ChunkLines(sse=job.fmt == 'sse')
    with SyncClientBuilder().error_for_status(True).build() as client:
        request = client.get(job.http_url).headers(job.headers).build_streamed()
        with meter, request as response:
            reader = response.body_reader
            for _ in range(job.lines + 1):  # at least one line per chunk, but the last
                chunk = reader.read_chunk()
                if chunk is None or lines.feed(chunk.to_bytes()):
                    break
    return lines.finish()


def async_http(job: wire.Job, meter: Meter) -> int:
    async def main() -> int:
        lines = ChunkLines(sse=job.fmt == 'sse')
        async with ClientBuilder().error_for_status(True).build() as client:
            request = client.get(job.http_url).headers(job.headers).build_streamed()
            with meter:
                async with request as response:
                    reader = response.body_reader
                    for _ in range(job.lines + 1):
                        chunk = await reader.read_chunk()
                        if chunk is None or lines.feed(chunk.to_bytes()):
                            break
        return lines.finish()

    return loops.run(main())
