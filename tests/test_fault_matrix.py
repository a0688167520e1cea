"""The fault matrix of issue 11: every way a loopback peer can fail or lie, on each protocol,
ends in the documented outcome (lines received first, then the error; or a skip), never a
panic, a hang or a silent end. Memory-heavy inputs run the client in a child interpreter
and bound its peak RSS by the limits plus the queue.

Refused connections, TLS failures and 500-then-silence are in test_errors/test_defects.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.exceptions import ClientError
from tests.conftest import TOKEN
from tests.hostile import (
    RawServer,
    accept_websocket,
    chunk,
    close_frame,
    frame,
    http_head,
    is_websocket,
    read_request,
    run_client,
    text_frame,
)
from tests.test_defects import finishes

MIB = 1024 * 1024
Handler = Callable[[socket.socket], None]


def reset(conn: socket.socket) -> None:
    """Closes with RST instead of FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    conn.close()


def hold(conn: socket.socket) -> None:
    """Keeps the connection open, reading and discarding, until the client leaves."""
    conn.settimeout(60)
    while conn.recv(65536):
        pass


def serve(ws: Callable[[socket.socket], None] | None, http: Callable[[socket.socket], None] | None) -> Handler:
    """A handler: after the request, ``ws`` runs (after a 101) for WebSocket requests, ``http`` for others.

    ``None`` for a protocol resets the connection right after its request.
    """

    def handle(conn: socket.socket) -> None:
        headers = read_request(conn)
        then = ws if is_websocket(headers) else http
        if then is None:
            reset(conn)
            return
        if is_websocket(headers):
            accept_websocket(conn, headers)
        then(conn)

    return handle


def ws_lines(*lines: str) -> bytes:
    return b''.join(text_frame(line) for line in lines)


def http_lines(*lines: str) -> bytes:
    return http_head() + chunk(''.join(f'{line}\n' for line in lines).encode())


def then(data: bytes, end: Callable[[socket.socket], None] | None = None) -> Callable[[socket.socket], None]:
    """Sends ``data``, then ends with ``end`` (FIN by default: the handler returns and the server closes)."""

    def run(conn: socket.socket) -> None:
        conn.sendall(data)
        if end is not None:
            end(conn)
        else:
            conn.shutdown(socket.SHUT_WR)
            time.sleep(0.2)

    return run


def drip(data: bytes) -> Callable[[socket.socket], None]:
    """Sends ``data`` one byte per TCP segment."""

    def run(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            conn.sendall(data[i : i + 1])
            time.sleep(0.0005)
        hold(conn)

    return run


def answer_pings_then(data: bytes, after: float) -> Callable[[socket.socket], None]:
    """Quiet for ``after`` seconds while answering every client frame (its pings) with a pong; then ``data``."""

    def run(conn: socket.socket) -> None:
        deadline = time.monotonic() + after
        conn.settimeout(0.05)
        while time.monotonic() < deadline:
            try:
                if conn.recv(4096):
                    conn.sendall(frame(0xA))
            except TimeoutError:
                pass
        conn.sendall(data)
        hold(conn)

    return run


COMPLETE_WS = frame(0x1, b'{"type": "complete"}')
COMPLETE_HTTP = b'0\r\n\r\n'


@dataclass
class Case:
    """One hostile peer and what the client must make of it."""

    protocol: str
    handler: Handler
    lines: list[str]
    error: str | None  # the ClientError subclass, or None for a normal end
    timeout: float = 5.0
    #: Most seconds until the outcome (a timeout case: the deadline plus a margin).
    within: float = 30.0
    status: int | None = field(default=None)


def endless_head(conn: socket.socket) -> None:
    """Answers the upgrade with a 101 whose head never ends (at most 64 MiB, then FIN).

    tungstenite caps the head it parses, and `upgraded.rs` holds only what it hands tungstenite.
    """
    headers = read_request(conn)
    assert is_websocket(headers)
    conn.sendall(b'HTTP/1.1 101 Switching Protocols\r\nX-Pad: ')
    try:
        for _ in range(1024):
            conn.sendall(b'a' * 65536)
    except OSError:
        pass  # the client gave up on the head: what is wanted


NEVER = serve(hold, hold)  # accepts, reads the request, never answers

CASES: dict[str, Case] = {
    'reset in handshake, websocket': Case('websocket', serve(None, None), [], 'ClientConnectionError'),
    'reset in handshake, http': Case('http', serve(None, None), [], 'ClientConnectionError'),
    'reset in handshake, auto': Case('auto', serve(None, None), [], 'ClientConnectionError'),
    'reset mid-stream, websocket': Case(
        'websocket', serve(then(ws_lines('a', 'b'), reset), None), ['a', 'b'], 'ClientConnectionError'
    ),
    'reset mid-stream, http': Case(
        'http', serve(None, then(http_lines('a', 'b'), reset)), ['a', 'b'], 'ClientConnectionError'
    ),
    'FIN without complete, websocket': Case(
        'websocket', serve(then(ws_lines('a', 'b')), None), ['a', 'b'], 'ClientConnectionError'
    ),
    'FIN without complete, http': Case(
        'http', serve(None, then(http_lines('a', 'b'))), ['a', 'b'], 'ClientConnectionError'
    ),
    'FIN without complete, auto': Case('auto', serve(then(ws_lines('a')), None), ['a'], 'ClientConnectionError'),
    'endless 101 head, websocket': Case('websocket', endless_head, [], 'WebSocketError', within=5),
    'never answers, websocket': Case('websocket', NEVER, [], 'ClientTimeoutError', timeout=0.5, within=0.5 + 5),
    'never answers, http': Case('http', NEVER, [], 'ClientTimeoutError', timeout=0.5, within=0.5 + 5),
    'never answers, auto': Case('auto', NEVER, [], 'ClientTimeoutError', timeout=0.5, within=0.5 + 5),
    'headers then silence, http': Case(
        'http', serve(None, then(http_lines('a'), hold)), ['a'], 'ClientTimeoutError', timeout=0.5, within=0.5 + 5
    ),
    'pings unanswered, websocket': Case(
        'websocket',
        serve(then(ws_lines('a'), hold), None),
        ['a'],
        'ClientTimeoutError',
        timeout=0.5,
        within=2 * 0.5 + 5,
    ),
    'quiet job answering pings, websocket': Case(
        'websocket',
        serve(answer_pings_then(ws_lines('late') + COMPLETE_WS, after=2.0), None),
        ['late'],
        None,
        timeout=0.4,
    ),
    'drip, websocket': Case('websocket', serve(drip(ws_lines('one', 'two') + COMPLETE_WS), None), ['one', 'two'], None),
    'drip, http': Case('http', serve(None, drip(http_lines('one', 'two') + COMPLETE_HTTP)), ['one', 'two'], None),
    'invalid UTF-8 text frame': Case(
        'websocket', serve(then(ws_lines('a') + frame(0x1, b'x\xff\xfe'), hold), None), ['a'], 'WebSocketError'
    ),
    'invalid UTF-8 HTTP line': Case(
        'http',
        serve(None, then(http_head() + chunk(b'ok\nx\xff\xfey\n') + COMPLETE_HTTP)),
        ['ok', 'x\ufffd\ufffdy'],
        None,
    ),
    'reserved opcode': Case(
        'websocket', serve(then(ws_lines('a') + frame(0x3, b'x'), hold), None), ['a'], 'WebSocketError'
    ),
    'RSV bits': Case(
        'websocket', serve(then(ws_lines('a') + frame(0x1, b'x', rsv=4), hold), None), ['a'], 'WebSocketError'
    ),
    'masked server frame': Case(
        'websocket', serve(then(ws_lines('a') + frame(0x1, b'x', mask=True), hold), None), ['a'], 'WebSocketError'
    ),
    'frame length 2^63': Case(
        'websocket', serve(then(ws_lines('a') + frame(0x1, length=1 << 63), hold), None), ['a'], 'WebSocketError'
    ),
    'close with error code': Case(
        'websocket', serve(then(ws_lines('a') + close_frame(1011, 'oops'), hold), None), ['a'], 'ClientConnectionError'
    ),
    'deeply nested JSON message': Case(
        'websocket',
        serve(
            then(
                frame(0x1, b'{"type":"log","message":' + b'[' * 4000 + b']' * 4000 + b'}')
                + ws_lines('after')
                + COMPLETE_WS
            ),
            None,
        ),
        ['[' * 4000 + ']' * 4000, 'after'],  # a non-string message yields its JSON text
        None,
    ),
    'huge JSON message skipped': Case(
        'websocket',
        serve(
            then(frame(0x1, b'{"type":"log","message":"' + b'x' * (5 * MIB) + b'"}') + ws_lines('after') + COMPLETE_WS),
            None,
        ),
        ['after'],
        None,
    ),
    'malformed chunked encoding': Case(
        'http', serve(None, then(http_lines('a') + b'zz\r\nnot hex\r\n')), ['a'], 'ClientConnectionError'
    ),
    '200 with a non-stream content type': Case(
        'http',
        serve(None, then(http_head('200 OK', 'text/html', chunked=False) + b'<html>\n</html>\n')),
        ['<html>', '</html>'],
        None,
    ),
}


@pytest.mark.parametrize('name', list(CASES))
def test_fault(name: str) -> None:
    case = CASES[name]
    got: list[str] = []
    with RawServer(case.handler) as server:
        client = AgentClient(server.url, TOKEN)

        def tail() -> None:
            for line in client.tail_job_logs('j1', timeout=case.timeout, protocol=case.protocol):
                got.append(line)

        started = time.monotonic()
        error: ClientError | None = None
        try:
            finishes(tail, within=case.within + 30)
        except ClientError as e:
            error = e
        elapsed = time.monotonic() - started
        assert not server.errors, server.errors
    assert got == case.lines
    assert type(error).__name__ == (case.error or 'NoneType'), repr(error)
    if error is not None:
        assert error.job_id == 'j1'
        assert error.status_code in (408, 429, 500, 503)
    assert elapsed < case.within, f'took {elapsed:.1f} s'


def endless(block: bytes, times: int, head: bytes, tail: bytes = b'') -> Handler:
    """Sends ``head``, then ``block`` ``times`` times (unless the client leaves), then ``tail``."""

    def run(conn: socket.socket) -> None:
        conn.sendall(head)
        for _ in range(times):
            conn.sendall(block)
        conn.sendall(tail)
        hold(conn)

    return run


# Memory-heavy inputs, default limits: max_bytes 50 MiB, max_message_size 10 KiB, queue 1,000 lines.
# The bound: what the limits let the client hold (one line of 10 KiB, a batch of 1,000 small
# lines) plus socket buffers; 48 MiB of growth leaves room for allocator slack only.
HEAVY: dict[str, tuple[str, Handler, str, int]] = {
    '1 GiB line without newline, http': (
        'http',
        serve(None, endless(chunk(b'y' * MIB), 1024, http_lines('first'))),
        'StreamLimitExceededError',
        1,
    ),
    '1 GiB message in frames, websocket': (
        'websocket',
        serve(
            endless(frame(0x0, b'y' * MIB, fin=False), 1024, ws_lines('first') + frame(0x1, b'y' * MIB, fin=False)),
            None,
        ),
        'StreamLimitExceededError',
        1,
    ),
    '10 million empty lines, http': (
        'http',
        serve(None, endless(chunk(b'\n' * MIB), 10, http_head(), chunk(b'done\n') + COMPLETE_HTTP)),
        'ok',
        1,
    ),
}


@pytest.mark.parametrize('name', list(HEAVY))
def test_heavy_fault_bounded_memory(name: str) -> None:
    protocol, handler, end, lines = HEAVY[name]
    with RawServer(handler) as server:
        out = run_client(server.url, 'tail', protocol=protocol, timeout=120)
    assert (out['end'], out['lines']) == (end, lines), out
    if end == 'StreamLimitExceededError':
        assert out['limit'] == 'bytes (max_bytes)'
    assert out['grown_mib'] < 48, out
    assert 'panicked' not in out['stderr']
