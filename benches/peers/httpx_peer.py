"""httpx (sync and async): ``iter_lines`` / ``aiter_lines``."""

from __future__ import annotations

import loops
import wire
from measure import Meter, Unavailable

from peers.decode import acount_plain, acount_sse, count_plain, count_sse

try:
    import httpx
except ImportError as e:
    raise Unavailable(f'httpx is not installed ({e})') from e

TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def sync_http(job: wire.Job, meter: Meter) -> int:
    with httpx.Client(timeout=TIMEOUT) as client:
        with meter, client.stream('GET', job.http_url, headers=job.headers) as response:
            response.raise_for_status()
            lines = response.iter_lines()
            count = count_sse(lines, 'data: ')[0] if job.fmt == 'sse' else count_plain(lines)
    return count


def async_http(job: wire.Job, meter: Meter) -> int:
    async def main() -> int:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            with meter:
                async with client.stream('GET', job.http_url, headers=job.headers) as response:
                    response.raise_for_status()
                    lines = response.aiter_lines()
                    return await (acount_sse(lines, 'data: ') if job.fmt == 'sse' else acount_plain(lines))

    return loops.run(main())
