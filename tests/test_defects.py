"""Regression tests of the numbered defects of issue 11, each against a hostile loopback server.

Each failed on the main of the issue: it hung, grew the client's memory, panicked or
answered the wrong error. Memory is measured in a child interpreter (`run_client`).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.exceptions import (
    AuthorizationError,
    ResponseTooLargeError,
    ServerError,
    ValidationError,
    WebSocketError,
)
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN
from tests.hostile import RawServer, chunk, http_head, is_websocket, read_request, refuse_websocket, run_client

MIB = 1024 * 1024


def finishes(fn: Callable[[], Any], within: float = 60.0) -> Any:
    """Runs ``fn`` in a thread; fails the test if it is still running after ``within`` seconds (a hang)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box['value'] = fn()
        except BaseException as e:  # handed to the test
            box['error'] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert not thread.is_alive(), f'still running after {within} s: a hang'
    if 'error' in box:
        raise box['error']
    return box.get('value')


def silent_error_answer(conn: socket.socket) -> None:
    """500 headers and the start of a body, then nothing, connection held open."""
    headers = read_request(conn)
    if refuse_websocket(conn, headers):
        return
    conn.sendall(http_head('500 Internal Server Error', 'application/json') + chunk(b'{"detail": "bo'))
    conn.recv(1)  # until the client leaves


@pytest.mark.parametrize('protocol', ['http', 'auto'])
def test_defect2_error_answer_then_silence_does_not_hang(protocol: str) -> None:
    with RawServer(silent_error_answer) as server:
        client = AgentClient(server.url, TOKEN)

        def tail() -> None:
            list(client.tail_job_logs('j1', timeout=0.5, protocol=protocol))

        with pytest.raises(ServerError) as info:
            finishes(tail)
    assert info.value.status_code == 500
    assert info.value.job_id == 'j1'


def big_answer(status: str, size: int, *, declare: bool) -> Callable[[socket.socket], None]:
    """Answers every request with ``size`` bytes of JSON-ish body, declared or chunked."""

    def handle(conn: socket.socket) -> None:
        headers = read_request(conn)
        if refuse_websocket(conn, headers):
            return
        block = b'x' * MIB
        if declare:
            conn.sendall(f'HTTP/1.1 {status}\r\nContent-Length: {size}\r\n\r\n'.encode())
            for _ in range(size // MIB):
                conn.sendall(block)
        else:
            conn.sendall(http_head(status, 'application/json'))
            for _ in range(size // MIB):
                conn.sendall(chunk(block))
            conn.sendall(b'0\r\n\r\n')

    return handle


@pytest.mark.parametrize('declare', [True, False], ids=['content-length', 'chunked'])
def test_defect3_rest_answer_is_bounded(declare: bool) -> None:
    with RawServer(big_answer('200 OK', 256 * MIB, declare=declare)) as server:
        out = run_client(server.url, 'health_check', client={'max_response_size': 4 * MIB})
    assert (out['end'], out['status'], out['limit']) == ('ResponseTooLargeError', 413, 'max_response_size')
    assert out['grown_mib'] < 48, out  # was +514 MiB for this answer


@pytest.mark.parametrize('protocol', ['http', 'auto'])
def test_defect3_error_body_is_read_up_to_a_cap(protocol: str) -> None:
    with RawServer(big_answer('500 Internal Server Error', 256 * MIB, declare=False)) as server:
        rest = run_client(server.url, 'health_check')
        stream = run_client(server.url, 'tail', protocol=protocol)
    for out in (rest, stream):
        assert (out['end'], out['status']) == ('ServerError', 500), out
        assert out['grown_mib'] < 48, out


def test_defect3_max_response_size_is_checked() -> None:
    with pytest.raises(ValidationError):
        AgentClient('http://127.0.0.1:1', TOKEN, max_response_size=0)
    client = AgentClient('http://127.0.0.1:1', TOKEN, max_response_size=5)
    assert client._core.max_response_size == 5
    assert issubclass(ResponseTooLargeError, Exception)


def endless_line(conn: socket.socket) -> None:
    """A 200 log stream whose first line never ends: 1 MiB chunks without a newline."""
    headers = read_request(conn)
    if refuse_websocket(conn, headers):
        return
    conn.sendall(http_head() + chunk(b'first line\n'))
    block = chunk(b'y' * MIB)
    for _ in range(1024):  # up to 1 GiB, unless the client leaves first
        conn.sendall(block)
    conn.sendall(b'0\r\n\r\n')


def test_defect5_max_bytes_counts_a_line_while_it_grows() -> None:
    limits = {'max_message_size': None, 'max_bytes': 8 * MIB}
    with RawServer(endless_line) as server:
        out = run_client(server.url, 'tail', limits=limits)
    assert (out['end'], out['status'], out['limit'], out['lines']) == (
        'StreamLimitExceededError',
        429,
        'bytes (max_bytes)',
        1,
    )
    assert out['grown_mib'] < 48, out  # was +400 MiB: the line was held whole


def test_defect5_unlimited_line_stops_at_the_hard_cap() -> None:
    limits = {'max_message_size': None, 'max_bytes': None, 'max_lines': None, 'max_messages': None}
    with RawServer(endless_line) as server:
        out = run_client(server.url, 'tail', limits=limits)
    assert (out['end'], out['status']) == ('StreamLimitExceededError', 429), out
    assert 'hard cap' in str(out['limit'])
    assert out['grown_mib'] < 64 + 64, out  # the 64 MiB cap, plus its last doubling's slack


def test_defect7_upper_case_scheme_streams_over_websocket(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('j1', ['a', 'b'])
    port = fake_agent.url.rsplit(':', 1)[1]
    client = AgentClient(f'HTTP://127.0.0.1:{port}', TOKEN)
    assert list(client.tail_job_logs('j1', protocol='websocket')) == ['a', 'b']
    assert list(client.tail_job_logs('j1')) == ['a', 'b']
    paths = [r['path'] for r in fake_agent.requests()]
    assert paths == ['/jobs/j1/logs/', '/jobs/j1/logs/'], paths  # auto did not fall back to HTTP


@pytest.mark.parametrize('base', ['http://127.0.0.1:1/?x=1', 'http://127.0.0.1:1/api#frag', 'http://127.0.0.1:1?'])
def test_defect7_base_url_with_query_or_fragment_is_refused(base: str) -> None:
    with pytest.raises(ValidationError) as info:
        AgentClient(base, TOKEN)
    assert info.value.status_code == 400


def upgrade_answered(status: str, body: bytes, *, chunked: bool) -> Callable[[socket.socket], None]:
    """Answers the WebSocket request with ``status`` and ``body``; the HTTP stream with one line."""

    def handle(conn: socket.socket) -> None:
        headers = read_request(conn)
        if not is_websocket(headers):
            conn.sendall(http_head() + chunk(b'over http\n') + b'0\r\n\r\n')
            return
        if chunked:
            conn.sendall(http_head(status, 'application/json') + chunk(body[:5]) + chunk(body[5:]) + b'0\r\n\r\n')
        else:
            conn.sendall(f'HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n'.encode() + body)
        conn.recv(1)

    return handle


def test_defect7_upgrade_answered_200_is_a_websocket_refusal() -> None:
    with RawServer(upgrade_answered('200 OK', b'hello', chunked=False)) as server:
        client = AgentClient(server.url, TOKEN)
        with pytest.raises(WebSocketError) as info:
            list(client.tail_job_logs('j1', protocol='websocket'))
        assert 'instead of 101' in str(info.value) and '200' in str(info.value)
        assert info.value.status_code == 503
        assert list(client.tail_job_logs('j1')) == ['over http']  # auto falls back


def test_defect7_refusal_detail_is_dechunked() -> None:
    with RawServer(upgrade_answered('403 Forbidden', b'{"detail": "no streams for you"}', chunked=True)) as server:
        client = AgentClient(server.url, TOKEN)
        with pytest.raises(AuthorizationError) as info:
            list(client.tail_job_logs('j1', protocol='websocket'))
    assert 'no streams for you' in str(info.value)
    assert info.value.detail == {'detail': 'no streams for you'}  # was the raw '5\r\n{"det...' framing


@pytest.mark.parametrize('protocol', ['websocket', 'http'])
def test_defect6_close_from_another_thread_wakes_a_blocked_next(fake_agent: FakeAgent, protocol: str) -> None:
    fake_agent.add_job('j1', ['first'], fault='silence')
    stream = AgentClient(fake_agent.url, TOKEN).tail_job_logs('j1', timeout=120, protocol=protocol)
    assert next(stream) == 'first'
    got: list[object] = []
    blocked = threading.Thread(target=lambda: got.append(list(stream)))  # blocks: the job is silent
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()
    stream.close()  # from this thread: was `RuntimeError: Already borrowed`, and the reader kept waiting
    blocked.join(30)
    assert not blocked.is_alive(), 'close() did not wake the blocked next()'
    assert got == [[]]
    assert not stream.open


def test_defect6_aclose_from_another_task_wakes_a_waiting_anext(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('j1', ['first'], fault='silence')

    async def main() -> list[str]:
        client = AsyncAgentClient(fake_agent.url, TOKEN)
        stream = client.tail_job_logs('j1', timeout=120)
        lines = [await stream.__anext__()]

        async def consume() -> None:
            async for line in stream:
                lines.append(line)

        task = asyncio.create_task(consume())
        await asyncio.sleep(0.3)
        assert not task.done()
        await stream.aclose()
        await asyncio.wait_for(task, 30)  # was: waits forever on a future nobody resolves
        return lines

    assert asyncio.run(main()) == ['first']
