"""Our WebSocket frame reader against a raw server: bytes in the handshake's packet, control frames
inside fragmented messages, the close handshake, RFC 6455 violations and huge messages in bounded memory.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from synapse_agent_rs.clients.exceptions import ClientConnectionError, StreamLimitExceededError, WebSocketError
from synapse_agent_rs.utils.network import StreamLimits
from tests.drivers import DRIVERS, Driver, _run_sync
from tests.raw_websocket import Conn, close, frame, header, raw_websocket, text

TOKEN = 'raw-token'
MIB = 1 << 20


def collect(driver: Driver, url: str, limits: StreamLimits | None = None) -> Any:
    return driver.collect(url, TOKEN, 'job-1', protocol='websocket', limits=limits, timeout=10)


@pytest.fixture(params=DRIVERS, ids=[d.name for d in DRIVERS])
def driver(request: pytest.FixtureRequest) -> Driver:
    return request.param


def test_frames_sent_with_the_101_answer_are_read(driver: Driver) -> None:
    first = text('a') + text('b') + close(1000)
    with raw_websocket(Conn.read_close, first=first) as server:
        out = collect(driver, server.url)
    assert (out.lines, out.error) == (['a', 'b'], None)
    assert server.results == [1000]  # the close handshake completed


def test_a_ping_inside_a_fragmented_message_is_answered_before_it_ends(driver: Driver) -> None:
    def play(conn: Conn) -> Any:
        conn.sock.settimeout(10)
        conn.send(frame(b'hel', 0x1, fin=False) + frame(b'p1', 0x9))
        answer = conn.read_frame()  # the message is not over: only the ping can be answered
        conn.send(frame(b'', 0x0, fin=False) + frame(b'lo', 0x0) + text('next') + close(1000))
        return answer, conn.read_close()

    with raw_websocket(play) as server:
        out = collect(driver, server.url)
    assert (out.lines, out.error) == (['hello', 'next'], None)
    assert server.results == [((0xA, b'p1'), 1000)]


def test_a_close_with_another_code_is_echoed_and_raises_503(driver: Driver) -> None:
    with raw_websocket(Conn.read_close, first=text('a') + close(1001, b'going away')) as server:
        out = collect(driver, server.url)
    assert out.lines == ['a']
    assert isinstance(out.error, ClientConnectionError) and out.error.status_code == 503
    assert '1001' in str(out.error) and 'going away' in str(out.error)
    assert server.results == [1001]


VIOLATIONS = {
    'masked': (frame(b'x', 0x1, mask=b'abcd'), 1002),
    'rsv-bits': (frame(b'x', 0x1, rsv=4), 1002),
    'reserved-data-opcode': (frame(b'x', 0x3), 1002),
    'reserved-control-opcode': (frame(b'', 0xB), 1002),
    'control-over-125': (frame(b'p' * 126, 0x9), 1002),
    'fragmented-control': (frame(b'', 0x9, fin=False), 1002),
    'length-top-bit': (struct.pack('!BBQ', 0x82, 127, 1 << 63), 1002),
    'continuation-without-start': (frame(b'x', 0x0), 1002),
    'new-message-inside-fragmented': (frame(b'a', 0x1, fin=False) + text('b'), 1002),
    'close-code-1005': (close(1005), 1002),
    'invalid-utf8': (frame(b'caf\xc3', 0x1, fin=False) + frame(b'(', 0x0), 1007),
}


@pytest.mark.parametrize('case', list(VIOLATIONS))
def test_protocol_violations_close_with_their_code_and_raise_websocket_error(driver: Driver, case: str) -> None:
    bad, code = VIOLATIONS[case]
    with raw_websocket(Conn.read_close, first=text('before') + bad) as server:
        out = collect(driver, server.url)
    assert out.lines == ['before']
    assert isinstance(out.error, WebSocketError) and out.error.status_code == 503
    assert server.results == [code]


# --- memory: huge messages are discarded as they stream ---


def _status(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise AssertionError(f'{field} missing from /proc/self/status')


def _huge(conn: Conn) -> None:
    """A 256 MiB text message in 1 MiB frames, then a single 1 GiB binary frame, generated as sent."""
    zeros = b'0' * MIB
    conn.send(text('before'))
    for i in range(256):
        conn.send(header(MIB, 0x1 if i == 0 else 0x0, fin=i == 255) + zeros)
    conn.send(header(1024 * MIB, 0x2))
    for _ in range(1024):
        conn.send(zeros)
    conn.send(text('after') + text('{"type": "complete"}'))


def test_a_256_mib_message_and_a_1_gib_frame_are_skipped_in_bounded_memory() -> None:
    # Warm up: the runtime, its threads and a first stream's buffers exist before measuring.
    with raw_websocket(lambda conn: conn.send(text('warm') + close(1000))) as server:
        assert _run_sync(server.url, TOKEN, 'job-1', None, {}, False, {'protocol': 'websocket'}).lines == ['warm']
    before = _status('VmRSS')
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # resets VmHWM, the peak resident size, to the current one
    with raw_websocket(_huge) as server:
        out = collect(DRIVERS[0], server.url, StreamLimits(max_bytes=None))
    growth = _status('VmHWM') - before
    assert (out.lines, out.error) == (['before', 'after'], None)
    assert growth <= 16 * MIB, f'peak RSS grew by {growth / MIB:.1f} MiB'


def test_with_the_default_limits_the_huge_message_passes_max_bytes() -> None:
    with raw_websocket(_huge) as server:
        out = collect(DRIVERS[0], server.url)
    assert out.lines == ['before']
    assert isinstance(out.error, StreamLimitExceededError) and out.error.status_code == 429
