"""websocket-client (sync), with its pure-Python UTF-8 check off: ``recv()`` decodes (and so
validates) the text anyway, and the check would only make it slower."""

from __future__ import annotations

import json

import wire
from measure import Meter, Unavailable

from peers.decode import failed

try:
    import websocket as websocket_client
except ImportError as e:
    raise Unavailable(f'websocket-client is not installed ({e})') from e


def websocket(job: wire.Job, meter: Meter) -> int:
    count = 0
    headers = [f'{k}: {v}' for k, v in job.headers.items()]
    with meter:
        ws = websocket_client.create_connection(job.ws_url, header=headers, timeout=30, skip_utf8_validation=True)
        try:
            for _ in range(job.lines + 2):  # the lines, complete, and one spare
                event = json.loads(ws.recv())
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
