"""Regression tests of the numbered defects of issue 11, each against a hostile loopback server.

Each failed on the main of the issue: it hung, grew the client's memory, panicked or
answered the wrong error. Memory is measured in a child interpreter (`run_client`).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.exceptions import ResponseTooLargeError, ServerError, ValidationError
from tests.conftest import TOKEN
from tests.hostile import RawServer, chunk, http_head, read_request, refuse_websocket, run_client

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
