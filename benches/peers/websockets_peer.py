"""websockets (async, the asyncio implementation)."""

from __future__ import annotations

import json

import loops
import wire
from measure import Meter, Unavailable

from peers.decode import failed

try:
    from websockets.asyncio.client import connect
except ImportError as e:
    raise Unavailable(f'websockets is not installed ({e})') from e


def websocket(job: wire.Job, meter: Meter) -> int:
    async def main() -> int:
        count = 0
        with meter:
            async with connect(job.ws_url, additional_headers=job.headers, compression=None, max_size=None) as ws:
                async for message in ws:
                    event = json.loads(message)
                    kind = event.get('type')
                    if kind == 'complete':
                        break
                    if kind == 'error':
                        raise failed(event)
                    if event.get('message'):
                        count += 1
        return count

    return loops.run(main())
