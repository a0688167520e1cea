"""The per-item work every peer does, written once: what our client does inside its Rust core.

SSE: skip blank lines; JSON-decode each ``data:`` payload, check its type (``complete`` ends the
stream, ``error`` fails it), take its ``message`` and count it. Plain: take each non-empty line
as ``str`` and count it. WebSocket peers do the SSE payload step on each text message, inline in
their receive loops (their loops differ too much to share one).

Peers that only hand out raw chunks split them with :class:`ChunkLines`; the per-line loops run
over whole lists, with one function call per chunk.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Callable, Iterable
from typing import Any

from measure import RowError

Loads = Callable[[Any], Any]


def failed(event: Any) -> RowError:
    """The error for an ``error`` event."""
    return RowError(f'the server sent an error event: {event.get("message")!r}')


def count_sse(lines: Iterable[Any], prefix: Any, loads: Loads = json.loads) -> tuple[int, bool]:
    """Counts the messages of SSE ``lines`` (all ``str`` or all ``bytes``, as ``prefix``).

    Returns:
        The count, and whether the ``complete`` event was seen (the lines after it are not read).
    """
    count = 0
    cut = len(prefix)
    for line in lines:
        if not line:
            continue
        if line.startswith(prefix):
            event = loads(line[cut:])
            kind = event.get('type')
            if kind == 'complete':
                return count, True
            if kind == 'error':
                raise failed(event)
            if event.get('message'):
                count += 1
        else:
            count += 1
    return count, False


def count_plain(lines: Iterable[Any]) -> int:
    """Counts the non-empty ``str`` lines."""
    count = 0
    for line in lines:
        if line:
            count += 1
    return count


async def acount_sse(lines: AsyncIterable[Any], prefix: Any, loads: Loads = json.loads) -> int:
    """:func:`count_sse` over an async iterator; returns the count at ``complete``."""
    count = 0
    cut = len(prefix)
    async for line in lines:
        if not line:
            continue
        if line.startswith(prefix):
            event = loads(line[cut:])
            kind = event.get('type')
            if kind == 'complete':
                return count
            if kind == 'error':
                raise failed(event)
            if event.get('message'):
                count += 1
        else:
            count += 1
    return count


async def acount_plain(lines: AsyncIterable[Any]) -> int:
    """:func:`count_plain` over an async iterator of ``str`` lines."""
    count = 0
    async for line in lines:
        if line:
            count += 1
    return count


class ChunkLines:
    """Splits raw body chunks into ``str`` lines and counts them as SSE or plain, chunk by chunk.

    Each chunk is decoded once, up to its last newline (a newline never falls inside a UTF-8
    character), then split; the bytes after the last newline wait for the next chunk.
    """

    def __init__(self, sse: bool, loads: Loads = json.loads) -> None:
        self.sse = sse
        self.loads = loads
        self.count = 0
        self.done = False
        self._rest = b''

    def feed(self, chunk: bytes) -> bool:
        """Counts the complete lines of ``chunk``; answers whether the stream is over."""
        data = self._rest + chunk if self._rest else chunk
        cut = data.rfind(b'\n') + 1
        self._rest = data[cut:]
        if not cut:
            return False
        lines = data[:cut].decode().split('\n')
        lines.pop()  # the empty string after the last newline
        self._count(lines)
        return self.done

    def finish(self) -> int:
        """The final count, once the body ended."""
        if self._rest and not self.done:
            self._count([self._rest.decode()])
            self._rest = b''
        return self.count

    def _count(self, lines: list[str]) -> None:
        if not self.sse:
            self.count += count_plain(lines)
            return
        count, self.done = count_sse(lines, 'data: ', self.loads)
        self.count += count
