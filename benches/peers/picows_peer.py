"""picows (async WebSocket, Cython): frames arrive in a callback; JSON by the stdlib or orjson."""

from __future__ import annotations

import json
from typing import Any

import loops
import wire
from measure import Meter, Unavailable

from peers.decode import Loads, failed

try:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect
except ImportError as e:
    raise Unavailable(f'picows is not installed ({e})') from e


class _Counter(WSListener):
    def __init__(self, loads: Loads, as_text: bool) -> None:
        super().__init__()
        self.loads = loads
        self.as_text = as_text
        self.count = 0
        self.error: Exception | None = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            payload = frame.get_payload_as_utf8_text() if self.as_text else frame.get_payload_as_memoryview()
            event = self.loads(payload)
            kind = event.get('type')
            if kind == 'complete':
                transport.send_close()
                transport.disconnect()
            elif kind == 'error':
                self.error = failed(event)
                transport.disconnect()
            elif event.get('message'):
                self.count += 1
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


def _run(job: wire.Job, meter: Meter, loads: Loads, as_text: bool) -> int:
    async def main() -> int:
        with meter:
            transport, listener = await ws_connect(
                lambda: _Counter(loads, as_text), job.ws_url, extra_headers=job.headers
            )
            await transport.wait_disconnected()
        assert isinstance(listener, _Counter)
        if listener.error:
            raise listener.error
        count: int = listener.count
        return count

    return loops.run(main())


def stdlib_json(job: wire.Job, meter: Meter) -> int:
    return _run(job, meter, json.loads, as_text=True)


def orjson_json(job: wire.Job, meter: Meter) -> int:
    try:
        import orjson
    except ImportError as e:
        raise Unavailable(f'orjson is not installed ({e})') from e
    loads: Any = orjson.loads
    return _run(job, meter, loads, as_text=False)
