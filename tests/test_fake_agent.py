"""Tests of `synapse_agent_rs.testing.FakeAgent` itself, with third-party clients only.

REST and chunked HTTP go through the stdlib ``http.client``, WebSocket through ``websocket-client``,
so these tests hold whatever state our own client is in.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from synapse_agent_rs.testing import FakeAgent

TOKEN = 'fake-test-token'


@pytest.fixture
def fake() -> Iterator[FakeAgent]:
    with FakeAgent(TOKEN) as agent:
        yield agent


def call(
    agent: FakeAgent, method: str, path: str, body: bytes | None = None, token: str | None = TOKEN
) -> tuple[int, http.client.HTTPResponse, bytes]:
    """One request on a fresh connection: status, response (headers) and the whole body."""
    conn = http.client.HTTPConnection('127.0.0.1', agent.port, timeout=5)
    with contextlib.closing(conn):
        conn.request(method, '/' + path, body=body, headers={'Authorization': token} if token else {})
        response = conn.getresponse()
        return response.status, response, response.read()


def call_json(agent: FakeAgent, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, _, data = call(agent, method, path, None if body is None else json.dumps(body).encode())
    return status, json.loads(data) if data else None


@contextlib.contextmanager
def ws_connect(agent: FakeAgent, job_id: str, token: str | None = TOKEN) -> Iterator[websocket.WebSocket]:
    url = f'ws://127.0.0.1:{agent.port}/jobs/{job_id}/logs/'
    ws = websocket.create_connection(url, header={'Authorization': token} if token else {}, timeout=5)
    try:
        yield ws
    finally:
        ws.close(timeout=1)
        ws.shutdown()  # type: ignore[no-untyped-call]  # `close` leaves the socket open once a close frame was received


def ws_messages(ws: websocket.WebSocket) -> tuple[list[Any], int | None]:
    """Data messages (text as str, binary as bytes) up to the close frame, and its close code."""
    messages: list[Any] = []
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return messages, int.from_bytes(data[:2], 'big') if data else None
        if opcode == websocket.ABNF.OPCODE_TEXT:
            messages.append(data.decode())
        elif opcode == websocket.ABNF.OPCODE_BINARY:
            messages.append(data)


@contextlib.contextmanager
def open_stream(agent: FakeAgent, job_id: str) -> Iterator[http.client.HTTPResponse]:
    """The HTTP log stream of a job, headers read, closed on exit."""
    conn = http.client.HTTPConnection('127.0.0.1', agent.port, timeout=5)
    with contextlib.closing(conn):
        conn.request('GET', f'/jobs/{job_id}/logs/stream/', headers={'Authorization': TOKEN})
        with conn.getresponse() as response:
            yield response


def stream_chunks(agent: FakeAgent, job_id: str) -> tuple[http.client.HTTPResponse, list[bytes]]:
    """The HTTP log stream of a job, chunk by chunk (``read1`` stops at chunk boundaries)."""
    with open_stream(agent, job_id) as response:
        chunks = []
        while chunk := response.read1(1 << 20):
            chunks.append(chunk)
        return response, chunks


# --- lifecycle ---


def test_start_stop_are_idempotent_and_the_state_survives_a_restart() -> None:
    agent = FakeAgent(TOKEN)
    with pytest.raises(RuntimeError):
        _ = agent.url
    agent.add_job('job-1', ['a'])
    assert agent.start() is agent
    port = agent.port
    assert agent.url == f'http://127.0.0.1:{port}' and agent.running
    agent.start()
    assert agent.port == port
    agent.stop()
    agent.stop()
    assert not agent.running and agent.url == f'http://127.0.0.1:{port}'
    with pytest.raises(ConnectionRefusedError):
        call(agent, 'GET', 'health/')
    with agent:
        assert call_json(agent, 'GET', 'jobs/job-1/') == (
            200,
            {'job_id': 'job-1', 'status': 'RUNNING', 'entrypoint': 'python -m fake_job job-1'},
        )
    assert [r['path'] for r in agent.requests()] == ['/jobs/job-1/']


async def test_async_with_starts_and_stops() -> None:
    async with FakeAgent(None) as agent:
        assert agent.running and agent.agent_token is None
    assert not agent.running


def test_invalid_options_raise() -> None:
    agent = FakeAgent()
    with pytest.raises(ValueError, match='ws_format'):
        agent.add_job('j', ws_format='xml')  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='fault'):
        agent.add_job('j', fault='explode')  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='pace'):
        agent.add_job('j', pace=0)
    with pytest.raises(ValueError, match='refuse_websocket'):
        agent.add_job('j', refuse_websocket=101)
    with pytest.raises(TypeError):
        agent.add_job('j', [b'bytes'])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        agent.add_job('j', 'one line')
    with pytest.raises(ValueError, match='not both'):
        agent.add_job('j', ['a'], firehose=10)
    with pytest.raises(ValueError):
        agent.set_response('GET', 'health/', 42)


# --- REST ---


def test_rest_routes(fake: FakeAgent) -> None:
    fake.add_job('job-1', ['a', 'b'], status='SUCCEEDED')
    assert call_json(fake, 'GET', 'health/') == (200, {'status': 'healthy'})
    assert call_json(fake, 'GET', 'jobs/')[1][0]['job_id'] == 'job-1'
    assert call_json(fake, 'GET', 'jobs/job-1/')[1]['status'] == 'SUCCEEDED'
    assert call_json(fake, 'GET', 'jobs/nope/') == (404, {'detail': 'Job not found'})
    assert call_json(fake, 'GET', 'jobs/job-1/logs/') == (200, 'a\nb')
    assert call_json(fake, 'POST', 'jobs/job-1/stop/') == (200, {'job_id': 'job-1', 'status': 'STOPPED'})
    assert call_json(fake, 'GET', 'jobs/job-1/')[1]['status'] == 'STOPPED'
    assert call_json(fake, 'GET', 'nodes/n-7/')[1]['node_id'] == 'n-7'
    assert call_json(fake, 'GET', 'tasks/t-7/')[1]['task_id'] == 't-7'
    assert isinstance(call_json(fake, 'GET', 'gpu_status/')[1], dict)
    assert call_json(fake, 'GET', 'serve_applications/a%2F..%3Fb/')[1]['name'] == 'a/..?b'
    assert call_json(fake, 'DELETE', 'serve_applications/x/') == (204, None)
    assert call_json(fake, 'GET', 'plugin_releases/?page=2&q=a+b%26c') == (
        200,
        {
            'count': 0,
            'next': None,
            'previous': f'{fake.url}/plugin_releases/?q=a+b%26c&page=1',
            'results': [],
            'query': {'page': '2', 'q': 'a b&c'},
        },
    )
    assert call_json(fake, 'GET', 'plugin_releases/code%40v1') == (200, {'lookup': 'code@v1'})
    assert call_json(fake, 'DELETE', 'plugin_releases/12/') == (204, None)
    created = {'plugin': 'p', 'version': '1', 'code': 'p@1', 'id': 1}
    assert call_json(fake, 'POST', 'plugin_releases/', {'plugin': 'p', 'version': '1'}) == (200, created)
    assert call_json(fake, 'GET', 'plugin_releases/p%401') == (200, created)
    assert call_json(fake, 'GET', 'plugin_releases/?page_size=1')[1]['results'] == [created]
    assert call_json(fake, 'POST', 'plugin_releases/p%40v/run/', {'action': 'x'}) == (
        200,
        {'lookup': 'p@v', 'body': {'action': 'x'}},
    )
    assert call_json(fake, 'POST', 'plugin_releases/run_debug/', {'action': 'x'}) == (
        200,
        {'debug': True, 'body': {'action': 'x'}},
    )
    assert call_json(fake, 'GET', 'nowhere/') == (404, {'detail': 'Not found'})


@pytest.mark.parametrize('token', [None, 'wrong'])
@pytest.mark.parametrize('path', ['health/', 'jobs/job-1/', 'jobs/job-1/logs/stream/'])
def test_wrong_or_missing_token_is_401(fake: FakeAgent, token: str | None, path: str) -> None:
    fake.add_job('job-1', ['a'])
    status, _, data = call(fake, 'GET', path, token=token)
    assert (status, json.loads(data)) == (401, {'detail': 'Invalid agent token'})
    with pytest.raises(websocket.WebSocketBadStatusException) as info, ws_connect(fake, 'job-1', token=token):
        pass
    assert info.value.status_code == 401


def test_requests_are_recorded_as_sent(fake: FakeAgent) -> None:
    call(fake, 'POST', 'plugin_releases/a%2Fb/run/?x=1%202', body=b'{"k": 1}')
    [request] = fake.requests()
    assert request['method'] == 'POST'
    assert (request['path'], request['query'], request['body']) == (
        '/plugin_releases/a%2Fb/run/',
        'x=1%202',
        '{"k": 1}',
    )
    assert request['headers']['authorization'] == TOKEN
    assert request['headers']['content-length'] == '8'


def test_set_response_overrides_a_route(fake: FakeAgent) -> None:
    fake.set_response('GET', 'health/', 503, {'detail': 'down'})
    fake.set_response('get', '/jobs/', 200, text='not json')
    fake.set_response('POST', 'jobs/x/stop/', 204)
    assert call_json(fake, 'GET', 'health/') == (503, {'detail': 'down'})
    status, response, data = call(fake, 'GET', 'jobs/')
    assert (status, response.getheader('content-type'), data) == (200, 'text/plain; charset=utf-8', b'not json')
    assert call(fake, 'POST', 'jobs/x/stop/')[::2] == (204, b'')
    fake.add_job('job-1', ['a'], ws_format='raw')
    fake.set_response('GET', 'jobs/job-1/logs/', 200, 'canned log')
    assert call_json(fake, 'GET', 'jobs/job-1/logs/') == (200, 'canned log')
    with ws_connect(fake, 'job-1') as ws:  # the WebSocket stream on the same path is not a REST answer
        assert ws_messages(ws) == (['a', '{"type":"complete"}'], 1000)


# --- WebSocket ---


@pytest.mark.parametrize(
    ('ws_format', 'expected'),
    [
        (
            'json',
            [json.dumps({'type': 'log', 'message': 'a "q"'}, separators=(',', ':')), '{"type":"log","message":"é"}'],
        ),
        ('raw', ['a "q"', 'é']),
        ('binary', [b'a "q"', 'é'.encode()]),
    ],
)
def test_ws_stream_ends_with_complete_then_a_normal_close(fake: FakeAgent, ws_format: Any, expected: list[Any]) -> None:
    fake.add_job('job-1', ['a "q"', 'é'], ws_format=ws_format)
    with ws_connect(fake, 'job-1') as ws:
        assert ws_messages(ws) == ([*expected, '{"type":"complete"}'], 1000)


def test_ws_fragment_splits_each_message_into_continuation_frames(fake: FakeAgent) -> None:
    fake.add_job('job-1', ['hello world'], ws_format='raw', fragment=3)
    with ws_connect(fake, 'job-1') as ws:
        frames = [ws.recv_frame() for _ in range(3)]  # type: ignore[no-untyped-call]
        assert [(f.opcode, f.fin) for f in frames] == [(1, 0), (0, 0), (0, 1)]
        assert b''.join(f.data for f in frames) == b'hello world'


@pytest.mark.parametrize(
    ('fault', 'end', 'code'),
    [('error', ['{"type":"error","message":"boom"}'], 1000), ('close', [], 4001)],
)
def test_ws_error_and_close_faults(fake: FakeAgent, fault: Any, end: list[str], code: int) -> None:
    fake.add_job('job-1', ['a'], ws_format='raw', fault=fault, error_message='boom', close_code=4001)
    with ws_connect(fake, 'job-1') as ws:
        assert ws_messages(ws) == (['a', *end], code)


def test_ws_drop_closes_without_a_close_frame(fake: FakeAgent) -> None:
    fake.add_job('job-1', ['a'], ws_format='raw', fault='drop')
    with ws_connect(fake, 'job-1') as ws:
        assert ws.recv() == 'a'
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            ws.recv()


def test_ws_refused_while_http_still_streams(fake: FakeAgent) -> None:
    fake.add_job('job-1', ['a'], refuse_websocket=403)
    with pytest.raises(websocket.WebSocketBadStatusException) as info, ws_connect(fake, 'job-1'):
        pass
    assert info.value.status_code == 403
    with pytest.raises(websocket.WebSocketBadStatusException) as info, ws_connect(fake, 'nope'):
        pass
    assert (info.value.status_code, json.loads(info.value.resp_body or b'')) == (404, {'detail': 'Job not found'})
    assert b''.join(stream_chunks(fake, 'job-1')[1]) == b'a\n'


@pytest.mark.parametrize('answer_pings', [True, False])
def test_ws_silence_answers_pings_unless_told_not_to(fake: FakeAgent, answer_pings: bool) -> None:
    fake.add_job('job-1', ['a'], ws_format='raw', fault='silence', answer_pings=answer_pings)
    with ws_connect(fake, 'job-1') as ws:
        assert ws.recv() == 'a'
        ws.settimeout(0.5)
        ws.ping(b'hi')
        if answer_pings:
            assert ws.recv_data(control_frame=True) == (websocket.ABNF.OPCODE_PONG, b'hi')
        else:
            with pytest.raises(websocket.WebSocketTimeoutException):
                ws.recv_data(control_frame=True)
        assert fake.stream_stats() == {'opened': 1, 'open': 1, 'closed': 0}
        ws.shutdown()  # type: ignore[no-untyped-call]  # no closing handshake: a server that does not read would never answer it
    wait_for(lambda: fake.stream_stats()['open'] == 0)


# --- chunked HTTP ---


@pytest.mark.parametrize(
    ('options', 'content_type', 'body'),
    [
        ({}, 'text/plain; charset=utf-8', b'a\nb\n'),
        (
            {'crlf': True, 'fault': 'error'},
            'text/plain; charset=utf-8',
            b'a\r\nb\r\ndata: {"type":"error","message":"job failed"}\r\n',
        ),
        ({'http_format': 'raw', 'content_type': 'text/x-log'}, 'text/x-log', b'a\nb\n'),
        (
            {'http_format': 'sse'},
            'text/event-stream',
            b'data: {"type":"log","message":"a"}\n\n'
            b'data: {"type":"log","message":"b"}\n\n'
            b'data: {"type":"complete"}\n\n',
        ),
    ],
)
def test_http_bodies(fake: FakeAgent, options: dict[str, Any], content_type: str, body: bytes) -> None:
    fake.add_job('job-1', ['a', 'b'], **options)
    response, chunks = stream_chunks(fake, 'job-1')
    assert (response.status, response.getheader('content-type')) == (200, content_type)
    assert response.getheader('transfer-encoding') == 'chunked'
    assert b''.join(chunks) == body


def test_http_chunk_cuts_make_separate_chunks(fake: FakeAgent) -> None:
    fake.add_job('job-1', ['héllo', 'x'], chunk_cuts=[2, 3, 7])
    assert stream_chunks(fake, 'job-1')[1] == [b'h\xc3', b'\xa9', b'llo\n', b'x\n']


def test_http_drop_truncates_the_body(fake: FakeAgent) -> None:
    fake.add_job('job-1', ['a', 'b'], fault='drop')
    with open_stream(fake, 'job-1') as response, pytest.raises(http.client.IncompleteRead) as info:
        response.read()
    assert info.value.partial == b'a\nb\n'
    assert call_json(fake, 'GET', 'jobs/nope/logs/stream/') == (404, {'detail': 'Job not found'})


def test_stall_and_pace_delay_the_stream(fake: FakeAgent) -> None:
    fake.add_job('job-1', ['a', 'b', 'c'], stall=0.3, pace=10)
    started = time.monotonic()
    _, chunks = stream_chunks(fake, 'job-1')
    assert chunks == [b'a\n', b'b\n', b'c\n']
    assert time.monotonic() - started > 0.3 + 0.2


# --- firehose and stream accounting ---


def test_firehose_in_both_protocols(fake: FakeAgent) -> None:
    fake.add_job('fh', firehose=50_000, ws_format='raw')
    lines = b''.join(stream_chunks(fake, 'fh')[1]).decode().splitlines()
    assert len(lines) == 50_000 and 'seq=0000000000 ' in lines[0] and 'seq=0000049999 ' in lines[-1]
    assert all(90 <= len(line) <= 120 for line in lines)
    with ws_connect(fake, 'fh') as ws:
        messages, code = ws_messages(ws)
    assert messages[:-1] == lines and code == 1000
    wait_for(lambda: fake.stream_stats() == {'opened': 2, 'open': 0, 'closed': 2})


def test_stop_closes_open_streams(fake: FakeAgent) -> None:
    fake.add_job('job-1', ['a'], ws_format='raw', fault='silence')
    with ws_connect(fake, 'job-1') as ws:
        assert ws.recv() == 'a'
        assert fake.stream_stats()['open'] == 1
        fake.stop()
        assert fake.stream_stats() == {'opened': 1, 'open': 0, 'closed': 1}
        with pytest.raises(websocket.WebSocketConnectionClosedException):
            ws.recv()


def wait_for(condition: Any, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'condition not met in time'
        time.sleep(0.01)
    return True
