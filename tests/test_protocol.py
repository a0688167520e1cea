"""One test per rule of ``agent-protocol.md``, against both agent servers and both client flavours.

Most tests run over ``agent`` (the Rust ``FakeAgent`` and the independent aiohttp agent) and
``driver`` (sync and async clients), so a rule passes only if the client, our fake agent and an
agent written separately from the protocol page all agree on it.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import gc
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, unquote

import pytest

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClientConnectionError,
    ClientError,
    ClientTimeoutError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamLimitExceededError,
    ValidationError,
)
from synapse_agent_rs.utils.network import StreamLimits
from tests.conftest import Rest
from tests.drivers import Driver, Outcome

USER_TOKEN = 'user-secret-42'
STREAMS = ['websocket', 'http']


# --- helpers ---


def headers(request: dict[str, Any]) -> dict[str, str]:
    """A recorded request's headers as a dict with lower-case names."""
    raw = request['headers']
    items = raw.items() if isinstance(raw, dict) else raw
    return {k.lower(): v for k, v in items}


def paths(agent: Any) -> list[str]:
    """The paths of every request the agent received, in order."""
    return [r['path'] for r in agent.requests()]


def stream_path(job_id: str, protocol: str) -> str:
    return f'/jobs/{job_id}/logs/' if protocol == 'websocket' else f'/jobs/{job_id}/logs/stream/'


def wait_until(condition: Callable[[], bool], within: float = 1.0) -> bool:
    """Polls ``condition`` until it holds or ``within`` seconds pass (for rules that are about time)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def tail(driver: Driver, agent: Any, job_id: str, **kw: Any) -> Outcome:
    return driver.collect(agent.url, agent.agent_token, job_id, **kw)


def timed_tail(driver: Driver, agent: Any, job_id: str, **kw: Any) -> tuple[Outcome, float]:
    start = time.monotonic()
    out = tail(driver, agent, job_id, **kw)
    return out, time.monotonic() - start


def expect_error(out: Outcome, cls: type[ClientError], status: int) -> ClientError:
    assert isinstance(out.error, cls), f'expected {cls.__name__}, got {out.error!r}'
    assert out.error.status_code == status
    return out.error


def sync_client(agent: Any, **kw: Any) -> AgentClient:
    return AgentClient(agent.url, agent.agent_token, **kw)


# --- addressing and authentication ---


def test_rest_url_joins_base_with_trailing_slash_using_one_slash(agent: Any, rest: Rest) -> None:
    assert rest.call(agent.url + '/', 'health_check') is not None
    assert paths(agent) == ['/health/']


@pytest.mark.parametrize('protocol', STREAMS)
def test_stream_url_joins_base_with_trailing_slash_using_one_slash(agent: Any, driver: Driver, protocol: str) -> None:
    agent.add_job('job-1', ['a'])
    out = driver.collect(agent.url + '/', agent.agent_token, 'job-1', protocol=protocol)
    assert (out.lines, out.error) == (['a'], None)
    assert paths(agent) == [stream_path('job-1', protocol)]


IDENTITIES = [
    pytest.param({}, id='agent-only'),
    pytest.param({'user_token': USER_TOKEN, 'tenant': 'acme'}, id='user-and-tenant'),
]


def check_identity_headers(request: dict[str, Any], token: str, identity: dict[str, str]) -> None:
    got = headers(request)
    assert got['authorization'] == token  # the raw token, no scheme
    if identity:
        assert got['synapse-user'] == f'Token {USER_TOKEN}'
        assert got['synapse-tenant'] == 'Token acme'
    else:
        assert 'synapse-user' not in got
        assert 'synapse-tenant' not in got


@pytest.mark.parametrize('identity', IDENTITIES)
def test_rest_requests_carry_the_identity_headers(agent: Any, rest: Rest, identity: dict[str, str]) -> None:
    rest.call(agent.url, 'list_jobs', client_kwargs=identity)
    [request] = agent.requests()
    check_identity_headers(request, agent.agent_token, identity)


@pytest.mark.parametrize('protocol', STREAMS)
@pytest.mark.parametrize('identity', IDENTITIES)
def test_stream_requests_carry_the_identity_headers(
    agent: Any, driver: Driver, protocol: str, identity: dict[str, str]
) -> None:
    agent.add_job('job-1', ['a'])
    out = tail(driver, agent, 'job-1', protocol=protocol, client_kwargs=identity)
    assert (out.lines, out.error) == (['a'], None)
    [request] = agent.requests()
    assert request['path'] == stream_path('job-1', protocol)
    check_identity_headers(request, agent.agent_token, identity)


def secrets_shown(error: BaseException, secrets: list[str]) -> list[str]:
    texts = [str(error), repr(error), str(getattr(error, 'detail', '')), repr(error.args)]
    return [s for s in secrets if any(s in t for t in texts)]


def test_rest_error_detail_never_shows_tokens(agent: Any, rest: Rest) -> None:
    token = agent.agent_token
    agent.set_response('GET', 'health/', 401, {'detail': f'rejected token {token} of user {USER_TOKEN}'})
    with pytest.raises(AuthenticationError) as info:
        rest.call(agent.url, 'health_check', client_kwargs={'user_token': USER_TOKEN})
    assert 'rejected token' in str(info.value)  # the detail is kept, only the secrets go
    assert secrets_shown(info.value, [token, USER_TOKEN]) == []


def test_rest_error_detail_never_shows_a_token_cut_by_truncation(agent: Any, rest: Rest) -> None:
    """A long detail is shortened; the cut must not leave the first half of a token behind."""
    token = agent.agent_token
    for pad in range(985, 1000):
        agent.set_response('GET', 'health/', 401, {'detail': '.' * pad + token + ' rest'})
        with pytest.raises(AuthenticationError) as info:
            rest.call(agent.url, 'health_check')
        shown = secrets_shown(info.value, [token[: len(token) // 2]])
        assert shown == [], f'with {pad} characters before the token, {shown} was shown'


@pytest.mark.parametrize('protocol', STREAMS)
def test_error_event_never_shows_tokens(
    agent: Any, driver: Driver, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level('DEBUG')
    token = agent.agent_token
    agent.add_job('job-1', ['a'], http_format='sse', fault='error', error_message=f'bad {token} and {USER_TOKEN}')
    out = tail(driver, agent, 'job-1', protocol=protocol, client_kwargs={'user_token': USER_TOKEN})
    error = expect_error(out, ServerError, 500)
    assert 'bad' in str(error)
    assert secrets_shown(error, [token, USER_TOKEN]) == []
    assert token not in caplog.text and USER_TOKEN not in caplog.text


def test_client_and_stream_reprs_never_show_tokens(agent: Any) -> None:
    agent.add_job('job-1', ['a'])
    client = sync_client(agent, user_token=USER_TOKEN, tenant='acme')
    with client.tail_job_logs('job-1', protocol='http') as stream:
        shown = repr(client) + repr(stream) + repr(client.stream_limits)
    assert agent.url in shown
    assert agent.agent_token not in shown and USER_TOKEN not in shown


@pytest.mark.parametrize('protocol', STREAMS)
def test_tokens_never_appear_in_urls(agent: Any, driver: Driver, protocol: str) -> None:
    agent.add_job('job-1', ['a'])
    tail(driver, agent, 'job-1', protocol=protocol, client_kwargs={'user_token': USER_TOKEN})
    sync_client(agent, user_token=USER_TOKEN).health_check()
    requests = agent.requests()
    assert len(requests) == 2
    for r in requests:
        assert agent.agent_token not in r['path'] + r['query'] and USER_TOKEN not in r['path'] + r['query']


# --- WebSocket messages ---


def test_ws_log_events_are_yielded_until_complete(agent: Any, driver: Driver) -> None:
    lines = ['first', 'second line', 'ünïcödé ✓', '  padded  ']
    agent.add_job('job-1', lines)
    out = tail(driver, agent, 'job-1', protocol='websocket')
    assert (out.lines, out.error) == (lines, None)


def test_ws_complete_ends_the_stream(agent: Any, driver: Driver) -> None:
    # Raw messages: a log event, complete, then more that must never be read.
    script = ['{"type": "log", "message": "a"}', '{"type": "complete"}', 'after complete']
    agent.add_job('job-1', script, ws_format='raw', fault='silence', answer_pings=False)
    out = tail(driver, agent, 'job-1', protocol='websocket', timeout=0.5)
    assert (out.lines, out.error) == (['a'], None)


def test_ws_error_event_raises_server_error_after_earlier_lines(agent: Any, driver: Driver) -> None:
    agent.add_job('job-1', ['a', 'b'], fault='error', error_message='the job crashed')
    out = tail(driver, agent, 'job-1', protocol='websocket')
    assert out.lines == ['a', 'b']
    error = expect_error(out, ServerError, 500)
    assert 'the job crashed' in str(error)


@pytest.mark.parametrize('protocol', STREAMS)
def test_error_event_without_message_still_raises_server_error(agent: Any, driver: Driver, protocol: str) -> None:
    event = '{"type": "error"}'
    script = ['a', event if protocol == 'websocket' else f'data: {event}', 'b']
    agent.add_job('job-1', script, ws_format='raw', http_format='raw')
    out = tail(driver, agent, 'job-1', protocol=protocol)
    assert out.lines == ['a']
    expect_error(out, ServerError, 500)


def test_ws_non_string_messages_are_yielded_as_json_text(agent: Any, driver: Driver) -> None:
    values: list[Any] = [{'a': 1, 'b': [True, None]}, 42, 3.5, [1, 'x'], True]
    agent.add_job('job-1', [json.dumps({'type': 'log', 'message': v}) for v in values], ws_format='raw')
    out = tail(driver, agent, 'job-1', protocol='websocket')
    assert out.error is None
    assert [json.loads(line) for line in out.lines] == values


def test_ws_empty_or_missing_messages_are_skipped(agent: Any, driver: Driver) -> None:
    script = ['{"type": "log", "message": ""}', '{"type": "log"}', 'kept', '{"type": "progress", "message": ""}']
    agent.add_job('raw', script, ws_format='raw')
    agent.add_job('json', ['a', '', 'b'])
    assert tail(driver, agent, 'raw', protocol='websocket').lines == ['kept']
    assert tail(driver, agent, 'json', protocol='websocket').lines == ['a', 'b']


def test_ws_events_of_any_other_type_yield_their_message(agent: Any, driver: Driver) -> None:
    script = ['{"type": "stdout", "message": "one"}', '{"message": "two"}', '{"type": 7, "message": "three"}']
    agent.add_job('job-1', script, ws_format='raw')
    out = tail(driver, agent, 'job-1', protocol='websocket')
    assert (out.lines, out.error) == (['one', 'two', 'three'], None)


def test_ws_text_that_is_not_a_json_object_is_the_line(agent: Any, driver: Driver) -> None:
    lines = ['plain text', '{not json', '[1, 2]', '"quoted"', '42', 'null', '{"type": "log"} trailing']
    agent.add_job('job-1', lines, ws_format='raw')
    out = tail(driver, agent, 'job-1', protocol='websocket')
    assert (out.lines, out.error) == (lines, None)


@pytest.mark.parametrize('fragment', [2, 3, 7])
def test_ws_fragmented_messages_are_reassembled(agent: Any, driver: Driver, fragment: int) -> None:
    lines = ['abcdefghij', 'é' * 7 + '✓', 'x']
    agent.add_job('job-1', lines, fragment=fragment)
    out = tail(driver, agent, 'job-1', protocol='websocket')
    assert (out.lines, out.error) == (lines, None)


def test_ws_binary_messages_are_decoded_and_treated_like_text(agent: Any, driver: Driver) -> None:
    agent.add_job('job-1', ['héllo ✓', '{"type": "log", "message": "inner"}', 'last'], ws_format='binary')
    out = tail(driver, agent, 'job-1', protocol='websocket')
    assert (out.lines, out.error) == (['héllo ✓', 'inner', 'last'], None)


def test_ws_binary_messages_replace_invalid_utf8(independent_agent: Any, driver: Driver) -> None:
    raw = [b'ok\xff', b'\xe2\x82x', b'fine \xc3\xa9']
    independent_agent.add_job('job-1', raw, ws_format='binary')
    out = tail(driver, independent_agent, 'job-1', protocol='websocket')
    assert (out.lines, out.error) == ([b.decode('utf-8', 'replace') for b in raw], None)


def test_ws_normal_close_frame_ends_like_complete(agent: Any, driver: Driver) -> None:
    agent.add_job('job-1', ['a', 'b'], fault='close', close_code=1000)
    out = tail(driver, agent, 'job-1', protocol='websocket')
    assert (out.lines, out.error) == (['a', 'b'], None)


@pytest.mark.parametrize('code', [1011, 4000])
def test_ws_abnormal_close_code_raises_after_the_lines(agent: Any, driver: Driver, code: int) -> None:
    agent.add_job('job-1', ['a', 'b'], fault='close', close_code=code)
    out = tail(driver, agent, 'job-1', protocol='websocket')
    assert out.lines == ['a', 'b']
    assert isinstance(out.error, ClientError), f'a close with code {code} ended silently'


# --- liveness ---


def test_ws_quiet_job_answering_pings_is_tailed_past_the_timeout(agent: Any, driver: Driver) -> None:
    # 0.5 s between lines is more than twice the timeout: only answered pings keep the stream alive.
    agent.add_job('job-1', ['a', 'b', 'c'], pace=2)
    out, elapsed = timed_tail(driver, agent, 'job-1', protocol='websocket', timeout=0.2)
    assert (out.lines, out.error) == (['a', 'b', 'c'], None)
    assert elapsed > 0.9


def test_ws_quiet_job_not_answering_pings_times_out(independent_agent: Any, driver: Driver) -> None:
    # The counterpart of the test above (FakeAgent answers pings while it paces lines, so aiohttp only).
    independent_agent.add_job('job-1', ['a', 'b', 'c'], pace=2, answer_pings=False)
    out, elapsed = timed_tail(driver, independent_agent, 'job-1', protocol='websocket', timeout=0.2)
    assert out.lines == ['a']
    expect_error(out, ClientTimeoutError, 408)
    assert elapsed < 0.5 + 0.4


def test_ws_silence_without_pong_raises_408_within_about_twice_the_timeout(agent: Any, driver: Driver) -> None:
    agent.add_job('job-1', ['a'], fault='silence', answer_pings=False)
    out, elapsed = timed_tail(driver, agent, 'job-1', protocol='websocket', timeout=0.3)
    assert out.lines == ['a']
    expect_error(out, ClientTimeoutError, 408)
    assert 0.45 < elapsed < 0.6 + 0.5


def test_http_silence_raises_408_within_about_the_timeout(agent: Any, driver: Driver) -> None:
    agent.add_job('job-1', ['a'], fault='silence')
    out, elapsed = timed_tail(driver, agent, 'job-1', protocol='http', timeout=0.3)
    assert out.lines == ['a']
    expect_error(out, ClientTimeoutError, 408)
    assert 0.25 < elapsed < 0.3 + 0.5


@pytest.mark.parametrize('protocol', ['websocket', 'http', 'auto'])
def test_connect_timeout_raises_408_within_about_the_timeout(agent: Any, driver: Driver, protocol: str) -> None:
    agent.add_job('job-1', ['a'], stall=3.0)
    out, elapsed = timed_tail(driver, agent, 'job-1', protocol=protocol, timeout=0.3)
    assert out.lines == []
    expect_error(out, ClientTimeoutError, 408)
    assert elapsed < 0.3 + 0.5


@pytest.fixture
def mute_server() -> Iterator[str]:
    """A TCP server that accepts connections (the kernel does) and never answers."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen(8)
        yield f'http://127.0.0.1:{sock.getsockname()[1]}'


def test_rest_read_timeout_raises_408(mute_server: str, rest: Rest) -> None:
    start = time.monotonic()
    with pytest.raises(ClientTimeoutError) as info:
        rest.call(mute_server, 'health_check', client_kwargs={'timeout': {'connect': 1, 'read': 0.3}})
    assert info.value.status_code == 408
    assert time.monotonic() - start < 0.3 + 0.6


@pytest.fixture
def refusing_url() -> str:
    """The URL of a port nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}'


def test_rest_connection_refused_raises_503(refusing_url: str, rest: Rest) -> None:
    with pytest.raises(ClientConnectionError) as info:
        rest.call(refusing_url, 'health_check')
    assert info.value.status_code == 503


@pytest.mark.parametrize('protocol', ['websocket', 'http', 'auto'])
def test_stream_connection_refused_raises_503(refusing_url: str, driver: Driver, protocol: str) -> None:
    out = driver.collect(refusing_url, 'any-token', 'job-1', protocol=protocol, timeout=2)
    assert out.lines == []
    expect_error(out, ClientConnectionError, 503)


# --- chunked HTTP ---


def test_http_plain_lines(agent: Any, driver: Driver) -> None:
    lines = ['first', 'second line', 'ünïcödé ✓', '  padded  ', '{"type": "log"}']
    agent.add_job('job-1', lines)
    out = tail(driver, agent, 'job-1', protocol='http')
    assert (out.lines, out.error) == (lines, None)


@pytest.mark.parametrize('crlf', [False, True], ids=['lf', 'crlf'])
def test_http_strips_cr_and_skips_empty_lines(agent: Any, driver: Driver, crlf: bool) -> None:
    agent.add_job('job-1', ['a', '', 'b', '', '', 'c'], crlf=crlf)
    out = tail(driver, agent, 'job-1', protocol='http')
    assert (out.lines, out.error) == (['a', 'b', 'c'], None)


def test_http_chunk_cuts_at_every_byte_offset_give_the_same_lines(agent: Any, driver: Driver) -> None:
    # Among the cuts: 2 falls inside 'é', 16 and 17 inside '✓', 7 and 19 between '\r' and '\n'.
    lines = ['héllo', 'wörld ✓', 'end']
    body = ''.join(line + '\r\n' for line in lines).encode()
    assert body[1:3] == 'é'.encode() and body[15:18] == '✓'.encode() and body[6:8] == body[18:20] == b'\r\n'
    agent.add_job('every', lines, crlf=True, chunk_cuts=range(1, len(body)))
    outcomes = {'every': tail(driver, agent, 'every', protocol='http')}
    for cut in range(1, len(body)):
        agent.add_job(f'cut-{cut}', lines, crlf=True, chunk_cuts=[cut])
        outcomes[f'cut-{cut}'] = tail(driver, agent, f'cut-{cut}', protocol='http')
    wrong = {job: (o.lines, o.error) for job, o in outcomes.items() if (o.lines, o.error) != (lines, None)}
    assert wrong == {}


def test_sse_data_lines_are_yielded_until_complete(agent: Any, driver: Driver) -> None:
    lines = ['a', 'b c', 'ünï ✓']
    agent.add_job('job-1', lines, http_format='sse')
    out = tail(driver, agent, 'job-1', protocol='http')
    assert (out.lines, out.error) == (lines, None)


@pytest.mark.parametrize('content_type', ['text/event-stream', 'text/plain'])
def test_sse_complete_ends_the_stream(agent: Any, driver: Driver, content_type: str) -> None:
    script = ['data: {"type": "log", "message": "a"}', 'data:{"type":"complete"}', 'after complete']
    agent.add_job('job-1', script, http_format='raw', content_type=content_type, fault='silence')
    out = tail(driver, agent, 'job-1', protocol='http', timeout=0.5)
    assert (out.lines, out.error) == (['a'], None)


@pytest.mark.parametrize('http_format', ['sse', 'plain'])
def test_sse_error_event_raises_server_error_after_earlier_lines(agent: Any, driver: Driver, http_format: str) -> None:
    agent.add_job('job-1', ['a', 'b'], http_format=http_format, fault='error', error_message='the job crashed')
    out = tail(driver, agent, 'job-1', protocol='http')
    assert out.lines == ['a', 'b']
    assert 'the job crashed' in str(expect_error(out, ServerError, 500))


def test_sse_data_payload_is_parsed_like_a_websocket_message(agent: Any, driver: Driver) -> None:
    script = [
        'data: {"type": "log", "message": "one"}',
        'data:{"type": "log", "message": "two"}',
        'data: plain payload',
        'data: {"type": "log", "message": ""}',
        'data: {"type": "log", "message": {"k": 1}}',
        'data:  two spaces',
    ]
    agent.add_job('job-1', script, http_format='raw', content_type='text/event-stream')
    out = tail(driver, agent, 'job-1', protocol='http')
    assert out.error is None
    assert out.lines[:3] == ['one', 'two', 'plain payload']
    assert json.loads(out.lines[3]) == {'k': 1}
    assert out.lines[4:] == [' two spaces']


SSE_FIELDS = ['event: log', 'id: 7', 'retry: 100', ': a comment', ':']


@pytest.mark.parametrize('content_type', ['text/event-stream', 'text/event-stream; charset=utf-8'])
def test_sse_fields_and_comments_are_skipped_in_an_event_stream(agent: Any, driver: Driver, content_type: str) -> None:
    script = [*SSE_FIELDS, 'data: {"type": "log", "message": "m"}', 'plain line']
    agent.add_job('job-1', script, http_format='raw', content_type=content_type)
    out = tail(driver, agent, 'job-1', protocol='http')
    assert (out.lines, out.error) == (['m', 'plain line'], None)


@pytest.mark.parametrize('content_type', ['text/plain', 'application/octet-stream'])
def test_sse_fields_are_ordinary_lines_in_other_content_types(agent: Any, driver: Driver, content_type: str) -> None:
    script = [*SSE_FIELDS, 'data: {"type": "log", "message": "m"}', 'plain line']
    agent.add_job('job-1', script, http_format='raw', content_type=content_type)
    out = tail(driver, agent, 'job-1', protocol='http')
    assert (out.lines, out.error) == ([*SSE_FIELDS, 'm', 'plain line'], None)


@pytest.mark.parametrize('protocol', ['websocket', 'http', 'auto'])
def test_unknown_job_raises_404_before_any_line(agent: Any, driver: Driver, protocol: str) -> None:
    agent.add_job('job-1', ['a'])
    out = tail(driver, agent, 'no-such-job', protocol=protocol)
    assert out.lines == []
    expect_error(out, NotFoundError, 404)


@pytest.mark.parametrize('protocol', ['websocket', 'http', 'auto'])
def test_wrong_token_raises_401_before_any_line(agent: Any, driver: Driver, protocol: str) -> None:
    agent.add_job('job-1', ['a'])
    out = driver.collect(agent.url, 'wrong-token', 'job-1', protocol=protocol)
    assert out.lines == []
    expect_error(out, AuthenticationError, 401)


# --- protocol choice ---


@pytest.mark.parametrize('status', [200, 400, 503])
def test_auto_falls_back_to_http_when_the_upgrade_is_refused(agent: Any, driver: Driver, status: int) -> None:
    agent.add_job('job-1', ['a', 'b'], refuse_websocket=status)
    out = tail(driver, agent, 'job-1', protocol='auto')
    assert (out.lines, out.error) == (['a', 'b'], None)
    requests = agent.requests()
    assert [r['path'] for r in requests] == ['/jobs/job-1/logs/', '/jobs/job-1/logs/stream/']
    assert headers(requests[0]).get('upgrade', '').lower() == 'websocket'


def test_auto_never_falls_back_after_lines_were_yielded(agent: Any, driver: Driver) -> None:
    agent.add_job('job-1', ['a', 'b'], fault='drop')
    out = tail(driver, agent, 'job-1', protocol='auto')
    assert out.lines == ['a', 'b']
    expect_error(out, ClientConnectionError, 503)
    assert paths(agent) == ['/jobs/job-1/logs/']


@pytest.mark.parametrize('protocol', STREAMS)
def test_explicit_protocol_never_uses_the_other_one(agent: Any, driver: Driver, protocol: str) -> None:
    agent.add_job('job-1', ['a'], refuse_websocket=400)
    out = tail(driver, agent, 'job-1', protocol=protocol)
    if protocol == 'websocket':
        assert out.lines == [] and isinstance(out.error, ClientError)
    else:
        assert (out.lines, out.error) == (['a'], None)
    assert paths(agent) == [stream_path('job-1', protocol)]


# --- validation ---

BAD_TAIL_ARGUMENTS = [
    pytest.param({'job_id': ''}, id='empty-id'),
    pytest.param({'job_id': '../x'}, id='dots-id'),
    pytest.param({'job_id': 'a/b'}, id='slash-id'),
    pytest.param({'job_id': 'a b'}, id='space-id'),
    pytest.param({'job_id': 'job?x=1'}, id='query-id'),
    pytest.param({'job_id': 'é'}, id='non-ascii-id'),
    pytest.param({'job_id': 'x' * 101}, id='long-id'),
    pytest.param({'protocol': 'ftp'}, id='protocol-ftp'),
    pytest.param({'protocol': 'WebSocket'}, id='protocol-case'),
    pytest.param({'timeout': 0}, id='timeout-0'),
    pytest.param({'timeout': -1}, id='timeout-negative'),
    pytest.param({'timeout': 300.5}, id='timeout-over-300'),
    pytest.param({'timeout': True}, id='timeout-bool'),
    pytest.param({'timeout': '5'}, id='timeout-str'),
    pytest.param({'timeout': None}, id='timeout-none'),
    pytest.param({'timeout': float('nan')}, id='timeout-nan'),
]


@pytest.mark.parametrize('arguments', BAD_TAIL_ARGUMENTS)
def test_bad_tail_arguments_raise_400_before_any_io(agent: Any, driver: Driver, arguments: dict[str, Any]) -> None:
    kw = {'job_id': 'job-1', **arguments}
    agent.add_job('job-1', ['a'])
    out = tail(driver, agent, kw.pop('job_id'), **kw)
    assert out.lines == []
    expect_error(out, ValidationError, 400)
    assert agent.requests() == []


def test_boundary_tail_arguments_are_accepted(agent: Any, driver: Driver) -> None:
    job_id = ('Az09-_' * 17)[:100]
    agent.add_job(job_id, ['a'])
    for timeout in (300, 2.5, 1):
        out = tail(driver, agent, job_id, timeout=timeout, protocol='http')
        assert (out.lines, out.error) == (['a'], None)


# --- stream limits ---


def test_max_messages_raises_429_after_exactly_max_lines(agent: Any, driver: Driver) -> None:
    agent.add_job('job-1', [f'line {i}' for i in range(6)])
    out = tail(driver, agent, 'job-1', protocol='websocket', limits=StreamLimits(max_messages=3))
    assert out.lines == ['line 0', 'line 1', 'line 2']
    expect_error(out, StreamLimitExceededError, 429)


def test_max_messages_does_not_count_the_final_complete(agent: Any, driver: Driver) -> None:
    agent.add_job('job-1', ['a', 'b', 'c'])
    out = tail(driver, agent, 'job-1', protocol='websocket', limits=StreamLimits(max_messages=3))
    assert (out.lines, out.error) == (['a', 'b', 'c'], None)


@pytest.mark.parametrize('http_format', ['plain', 'sse'])
def test_max_lines_raises_429_after_exactly_max_lines(agent: Any, driver: Driver, http_format: str) -> None:
    agent.add_job('job-1', [f'line {i}' for i in range(6)], http_format=http_format)
    out = tail(driver, agent, 'job-1', protocol='http', limits=StreamLimits(max_lines=3))
    assert out.lines == ['line 0', 'line 1', 'line 2']
    expect_error(out, StreamLimitExceededError, 429)


@pytest.mark.parametrize('http_format', ['plain', 'sse'])
def test_max_lines_does_not_count_the_final_complete(agent: Any, driver: Driver, http_format: str) -> None:
    agent.add_job('job-1', ['a', 'b', 'c'], http_format=http_format)
    out = tail(driver, agent, 'job-1', protocol='http', limits=StreamLimits(max_lines=3))
    assert (out.lines, out.error) == (['a', 'b', 'c'], None)


@pytest.mark.parametrize('protocol', STREAMS)
def test_max_bytes_raises_429(agent: Any, driver: Driver, protocol: str) -> None:
    lines = [f'{i}' * 10 for i in range(5)]  # 10 bytes each, sent verbatim on both protocols
    agent.add_job('job-1', lines, ws_format='raw')
    out = tail(driver, agent, 'job-1', protocol=protocol, limits=StreamLimits(max_bytes=49))
    assert out.lines == lines[:4]
    expect_error(out, StreamLimitExceededError, 429)


def test_max_bytes_is_inclusive(agent: Any, driver: Driver) -> None:
    lines = [f'{i}' * 10 for i in range(5)]
    agent.add_job('job-1', lines)
    out = tail(driver, agent, 'job-1', protocol='http', limits=StreamLimits(max_bytes=50))
    assert (out.lines, out.error) == (lines, None)


@pytest.mark.parametrize('protocol', STREAMS)
def test_max_message_size_skips_by_bytes_and_is_never_fatal(agent: Any, driver: Driver, protocol: str) -> None:
    # 'é' is 2 bytes: 'é' * 6 is 6 characters but 12 bytes, over a 10-byte limit.
    lines = ['short', 'é' * 5, 'é' * 6, 'x' * 11, 'x' * 10, *(['y' * 50] * 20), 'end']
    agent.add_job('job-1', lines, ws_format='raw')
    out = tail(driver, agent, 'job-1', protocol=protocol, limits=StreamLimits(max_message_size=10))
    assert (out.lines, out.error) == (['short', 'é' * 5, 'x' * 10, 'end'], None)


NONE_DISABLES = [
    # (field, protocol, lines, line size): the lines pass the field's default limit and no other.
    pytest.param('max_messages', 'websocket', 10_001, 1, id='max_messages'),
    pytest.param('max_lines', 'http', 50_001, 1, id='max_lines'),
    pytest.param('max_bytes', 'http', 6, 9 << 20, id='max_bytes'),
    pytest.param('max_message_size', 'websocket', 1, 20_000, id='max_message_size'),
]


@pytest.mark.parametrize(('field', 'protocol', 'count', 'size'), NONE_DISABLES)
def test_none_disables_a_limit(agent: Any, driver: Driver, field: str, protocol: str, count: int, size: int) -> None:
    lines = ['x' * size] * count + ['end']
    agent.add_job('job-1', lines, ws_format='raw')
    unlimited: dict[str, Any] = dict.fromkeys(('max_messages', 'max_lines', 'max_bytes', 'max_message_size'))
    defaults = StreamLimits(**{**unlimited, field: getattr(StreamLimits(), field)})
    limited = tail(driver, agent, 'job-1', protocol=protocol, limits=defaults)
    assert (limited.lines, limited.error) != (lines, None), f'the default {field} did not apply'
    out = tail(driver, agent, 'job-1', protocol=protocol, limits=StreamLimits(**unlimited))
    assert out.error is None
    assert len(out.lines) == len(lines) and out.lines == lines


def rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


@pytest.mark.parametrize('protocol', STREAMS)
def test_queue_size_makes_a_slow_consumer_slow_the_server(fake_agent: Any, protocol: str) -> None:
    lines = 2_000_000  # about 200 MB
    fake_agent.add_job('firehose', firehose=lines)
    client = sync_client(fake_agent)
    client.stream_limits = StreamLimits.unlimited(queue_size=100)
    stream = client.tail_job_logs('firehose', protocol=protocol)
    first = [next(stream) for _ in range(5)]
    job_size = lines * len(first[0])
    before = rss_bytes()
    time.sleep(1.0)  # a consumer that does not read: the reader must wait for it
    grown = rss_bytes() - before
    assert grown < job_size / 20, f'RSS grew by {grown / 1e6:.1f} MB while the consumer slept'
    assert fake_agent.stream_stats()['open'] == 1  # the server is still sending: nothing was drained
    assert 'seq=0000000005' in next(stream)  # and nothing was lost while waiting
    stream.close()


# --- REST ---

STATUS_ERRORS = [
    (400, ValidationError),
    (401, AuthenticationError),
    (403, AuthorizationError),
    (404, NotFoundError),
    (422, ValidationError),
    (429, RateLimitError),
    (500, ServerError),
    (502, ServerError),
    (503, ServerError),
]


@pytest.mark.parametrize(('status', 'cls'), STATUS_ERRORS, ids=[str(s) for s, _ in STATUS_ERRORS])
def test_rest_status_maps_to_its_error(agent: Any, rest: Rest, status: int, cls: type[ClientError]) -> None:
    agent.set_response('GET', 'health/', status, {'detail': f'answer {status}'})
    with pytest.raises(ClientError) as info:
        rest.call(agent.url, 'health_check')
    assert type(info.value) is cls
    assert info.value.status_code == status
    assert f'answer {status}' in str(info.value)


def test_rest_no_content_and_empty_body_give_none(agent: Any, rest: Rest) -> None:
    agent.set_response('GET', 'health/', 204)
    agent.set_response('GET', 'gpu_status/', 200, text='')
    assert rest.call(agent.url, 'health_check') is None
    assert rest.call(agent.url, 'get_gpu_status') is None


def test_rest_body_that_is_not_json_gives_its_text(agent: Any, rest: Rest) -> None:
    agent.set_response('GET', 'jobs/job-1/logs/', 200, text='line one\nline two {')
    agent.set_response('GET', 'health/', 200, 'a json string')
    assert rest.call(agent.url, 'get_job_logs', 'job-1') == 'line one\nline two {'
    assert rest.call(agent.url, 'health_check') == 'a json string'


ENDPOINTS: list[Any] = [
    # (method name, args, kwargs, HTTP method, path, JSON body sent, query sent)
    ('health_check', (), {}, 'GET', 'health/', None, {}),
    ('list_jobs', (), {}, 'GET', 'jobs/', None, {}),
    ('get_job', ('job-1',), {}, 'GET', 'jobs/job-1/', None, {}),
    ('get_job_logs', ('job-1',), {}, 'GET', 'jobs/job-1/logs/', None, {}),
    ('stop_job', ('job-1',), {}, 'POST', 'jobs/job-1/stop/', None, {}),
    ('get_gpu_status', (), {}, 'GET', 'gpu_status/', None, {}),
    ('list_nodes', (), {}, 'GET', 'nodes/', None, {}),
    ('get_node', ('node-1',), {}, 'GET', 'nodes/node-1/', None, {}),
    ('list_tasks', (), {}, 'GET', 'tasks/', None, {}),
    ('get_task', ('task-1',), {}, 'GET', 'tasks/task-1/', None, {}),
    ('list_serve_applications', (), {}, 'GET', 'serve_applications/', None, {}),
    ('get_serve_application', ('my-app',), {}, 'GET', 'serve_applications/my-app/', None, {}),
    ('delete_serve_application', ('my-app',), {}, 'DELETE', 'serve_applications/my-app/', None, {}),
    (
        'list_plugin_releases',
        ({'page': 2, 'search': 'a b&c=d'},),
        {'plugin': 'ocr'},
        'GET',
        'plugin_releases/',
        None,
        {'page': ['2'], 'search': ['a b&c=d'], 'plugin': ['ocr']},
    ),
    (
        # As requests sends them: None left out, lists repeat their key, booleans in lower case.
        'list_plugin_releases',
        ({'skip': None, 'tag': ['a', 'b'], 'active': True},),
        {},
        'GET',
        'plugin_releases/',
        None,
        {'tag': ['a', 'b'], 'active': ['true']},
    ),
    ('get_plugin_release', ('code@1.2.0',), {}, 'GET', 'plugin_releases/code@1.2.0', None, {}),
    ('get_plugin_release', (17,), {}, 'GET', 'plugin_releases/17', None, {}),
    ('delete_plugin_release', ('code@1.2.0',), {}, 'DELETE', 'plugin_releases/code@1.2.0', None, {}),
    (
        'create_plugin_release',
        ('my-plugin', '1.2.0'),
        {},
        'POST',
        'plugin_releases/',
        {'plugin': 'my-plugin', 'version': '1.2.0'},
        {},
    ),
    ('run_plugin_release', ('code@1.2.0', 'go'), {}, 'POST', 'plugin_releases/code@1.2.0/run/', {'action': 'go'}, {}),
    (
        'run_plugin_release',
        ('code@1.2.0', 'train', {'epochs': 3}),
        {'requirements': ['numpy'], 'job_id': 'job-9', 'language': 'ko'},
        'POST',
        'plugin_releases/code@1.2.0/run/',
        {'action': 'train', 'params': {'epochs': 3}, 'requirements': ['numpy'], 'job_id': 'job-9', 'language': 'ko'},
        {},
    ),
    ('run_debug_plugin_release', ('test',), {}, 'POST', 'plugin_releases/run_debug/', {'action': 'test'}, {}),
    # The SDK's run_plugin_release: action optional (sent as null), data= sent as the whole body.
    ('run_plugin_release', ('p@1',), {}, 'POST', 'plugin_releases/p@1/run/', {'action': None}, {}),
    (
        'run_plugin_release',
        ('p@1', 'ignored'),
        {'data': {'action': 'infer', 'extra': 1}, 'timeout': (3, 60)},
        'POST',
        'plugin_releases/p@1/run/',
        {'action': 'infer', 'extra': 1},
        {},
    ),
    # Containers, builds, system and resources, as the SDK's mixins send them.
    ('get_build_status', ('build-7',), {}, 'GET', 'builds/build-7/', None, {}),
    ('list_docker_containers', (), {}, 'GET', 'containers/docker/', None, {}),
    ('get_docker_container', ('abc',), {}, 'GET', 'containers/docker/abc', None, {}),
    (
        'create_docker_container',
        ('p@1',),
        {'params': {'a': 1}, 'envs': {'E': 'v'}, 'labels': ['x']},
        'POST',
        'containers/docker/',
        {'plugin_release': 'p@1', 'params': {'a': 1}, 'envs': {'E': 'v'}, 'labels': ['x']},
        {},
    ),
    ('delete_docker_container', ('abc',), {}, 'DELETE', 'containers/docker/abc', None, {}),
    ('stop_docker_container', ('abc',), {}, 'POST', 'containers/docker/abc/stop/', None, {}),
    ('start_docker_container', ('abc',), {}, 'POST', 'containers/docker/abc/start/', None, {}),
    ('list_containers', ({'status': 'running'},), {}, 'GET', 'containers/', None, {'status': ['running']}),
    ('get_container', (5,), {}, 'GET', 'containers/5', None, {}),
    ('update_container', (5,), {'status': 'stopped'}, 'PATCH', 'containers/5', {'status': 'stopped'}, {}),
    ('delete_container', (5,), {}, 'DELETE', 'containers/5', None, {}),
    (
        'create_container',
        ('p@1',),
        {'model': 3, 'labels': ('a',), 'kind': 'code_server', 'wait': False},
        'POST',
        'containers/',
        {'plugin_release': 'p@1', 'plugin': 'p', 'version': '1', 'model': 3, 'labels': ['a'], 'kind': 'code_server'},
        {},
    ),
    ('get_compose_config', (), {}, 'GET', 'system/compose-config/', None, {}),
    ('get_system_status', (), {}, 'GET', 'system/status/', None, {}),
    ('update_system', (), {'api_tag': 'v2'}, 'POST', 'system/update/', {'api_tag': 'v2'}, {}),
    ('restart_system', (), {}, 'POST', 'system/restart/', None, {}),
    (
        'check_feasibility',
        ('job', 2.0),
        {'num_gpus': 1.0},
        'POST',
        'resources/feasibility/',
        {'kind': 'job', 'num_cpus': 2.0, 'num_gpus': 1.0, 'memory_bytes': None, 'replicas': 1, 'metadata': {}},
        {},
    ),
    ('get_gatekeeping_policy', (), {}, 'GET', 'resources/policy/', None, {}),
    (
        'update_gatekeeping_policy',
        ({'gatekeeping_enabled': False},),
        {},
        'PATCH',
        'resources/policy/',
        {'gatekeeping_enabled': False},
        {},
    ),
    (
        'run_debug_plugin_release',
        ('test', {'x': 1}),
        {
            'plugin_path': '/src/plugin',
            'config': {'name': 'p'},
            'modules': {'main': 'print(1)'},
            'requirements': ['r'],
            'job_id': 'job-9',
            'language': 'en',
        },
        'POST',
        'plugin_releases/run_debug/',
        {
            'action': 'test',
            'params': {'x': 1},
            'plugin_path': '/src/plugin',
            'config': {'name': 'p'},
            'modules': {'main': 'print(1)'},
            'requirements': ['r'],
            'job_id': 'job-9',
            'language': 'en',
        },
        {},
    ),
]


@pytest.mark.parametrize(
    ('name', 'args', 'kwargs', 'method', 'path', 'body', 'query'),
    ENDPOINTS,
    ids=[f'{e[0]}-{i}' for i, e in enumerate(ENDPOINTS)],
)
def test_rest_endpoint_sends_its_method_path_query_and_body(
    agent: Any, rest: Rest, name: str, args: Any, kwargs: Any, method: str, path: str, body: Any, query: Any
) -> None:
    answer = {'answered': name}
    for variant in {path, path.replace('@', '%40')}:  # '@' may be sent either way
        agent.set_response(method, variant, 200, answer)
    assert rest.call(agent.url, name, *args, **kwargs) == answer
    [request] = agent.requests()
    assert request['method'] == method
    assert unquote(request['path']) == '/' + path and request['path'].count('/') == path.count('/') + 1
    assert parse_qs(request['query'], keep_blank_values=True) == query
    if body is None:
        assert request['body'] in ('', 'null')
    else:
        assert json.loads(request['body']) == body
        assert headers(request)['content-type'].startswith('application/json')


NAMES = ['../x?y', 'a/b', '../../health', 'x#frag', 'a b%20', '..x', 'app?delete=1', 'ünï']
NAMED_CALLS = [
    ('get_serve_application', 'serve_applications/{}/'),
    ('delete_serve_application', 'serve_applications/{}/'),
    ('get_plugin_release', 'plugin_releases/{}'),
    ('delete_plugin_release', 'plugin_releases/{}'),
]


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize(('call', 'template'), NAMED_CALLS, ids=[c for c, _ in NAMED_CALLS])
def test_free_form_names_are_sent_as_one_encoded_segment(
    agent: Any, rest: Rest, call: str, template: str, name: str
) -> None:
    with contextlib.suppress(NotFoundError):  # only the request matters, not whether a route answers it
        rest.call(agent.url, call, name)
    [request] = agent.requests()
    prefix, suffix = template.split('{}')
    raw = request['path']
    assert raw.startswith('/' + prefix) and raw.endswith(suffix)
    segment = raw[len(prefix) + 1 : len(raw) - len(suffix)]
    assert '/' not in segment and '?' not in segment and '#' not in segment
    assert unquote(segment) == name
    assert request['query'] == ''


@pytest.mark.parametrize('name', ['', '.', '..'])
def test_dot_names_cannot_leave_their_segment(agent: Any, rest: Rest, name: str) -> None:
    try:
        rest.call(agent.url, 'get_serve_application', name)
    except ValidationError as e:
        assert e.status_code == 400
        assert agent.requests() == []
    except NotFoundError:
        [request] = agent.requests()
        assert request['path'].startswith('/serve_applications/') and request['path'] != '/serve_applications/'


BAD_IDS = [
    ('get_job', '../x'),
    ('get_job', 'job?x=1'),
    ('get_job', 123),
    ('get_job_logs', 'a b'),
    ('stop_job', 'x' * 101),
    ('stop_job', ''),
    ('get_node', 'a/b'),
    ('get_node', 'é'),
    ('get_task', ''),
    ('get_task', 'task#1'),
]


@pytest.mark.parametrize(('call', 'bad_id'), BAD_IDS, ids=[f'{c}-{i}' for i, (c, _) in enumerate(BAD_IDS)])
def test_bad_ids_raise_400_without_io(agent: Any, rest: Rest, call: str, bad_id: Any) -> None:
    with pytest.raises(ValidationError) as info:
        rest.call(agent.url, call, bad_id)
    assert info.value.status_code == 400
    assert agent.requests() == []


# --- truncation is never silent ---


@pytest.mark.parametrize('protocol', STREAMS)
def test_connection_dropped_mid_stream_raises_503_after_the_lines(agent: Any, driver: Driver, protocol: str) -> None:
    agent.add_job('job-1', ['a', 'b', 'c'], fault='drop')
    out = tail(driver, agent, 'job-1', protocol=protocol)
    assert out.lines == ['a', 'b', 'c']
    expect_error(out, ClientConnectionError, 503)


# --- closing ---


def open_streams(agent: Any) -> int:
    return agent.stream_stats()['open']


@pytest.mark.parametrize('protocol', STREAMS)
def test_break_closes_the_connection(agent: Any, protocol: str) -> None:
    agent.add_job('job-1', ['a', 'b'], fault='silence')
    for line in sync_client(agent).tail_job_logs('job-1', protocol=protocol):
        assert line == 'a'
        assert open_streams(agent) == 1
        break
    assert wait_until(lambda: open_streams(agent) == 0), agent.stream_stats()


@pytest.mark.parametrize('protocol', STREAMS)
def test_close_closes_the_connection(agent: Any, protocol: str) -> None:
    agent.add_job('job-1', ['a', 'b'], fault='silence')
    stream = sync_client(agent).tail_job_logs('job-1', protocol=protocol)
    assert next(stream) == 'a'
    assert open_streams(agent) == 1
    stream.close()
    assert wait_until(lambda: open_streams(agent) == 0), agent.stream_stats()
    assert list(stream) == []


@pytest.mark.parametrize('protocol', STREAMS)
def test_garbage_collection_closes_the_connection(agent: Any, protocol: str) -> None:
    agent.add_job('job-1', ['a', 'b'], fault='silence')
    stream = sync_client(agent).tail_job_logs('job-1', protocol=protocol)
    assert next(stream) == 'a'
    assert open_streams(agent) == 1
    del stream
    gc.collect()
    assert wait_until(lambda: open_streams(agent) == 0), agent.stream_stats()


@pytest.mark.parametrize('protocol', STREAMS)
def test_async_aclose_closes_the_connection(agent: Any, protocol: str) -> None:
    agent.add_job('job-1', ['a', 'b'], fault='silence')

    async def main() -> None:
        async with AsyncAgentClient(agent.url, agent.agent_token) as client:
            stream = client.tail_job_logs('job-1', protocol=protocol)
            assert await stream.__anext__() == 'a'
            assert open_streams(agent) == 1
            await stream.aclose()
            assert await asyncio.to_thread(wait_until, lambda: open_streams(agent) == 0), agent.stream_stats()

    asyncio.run(main())


@pytest.mark.parametrize('protocol', STREAMS)
def test_async_task_cancellation_closes_the_connection(agent: Any, protocol: str) -> None:
    agent.add_job('job-1', ['a'], fault='silence')
    seen: list[str] = []

    async def consume(client: AsyncAgentClient) -> None:
        async for line in client.tail_job_logs('job-1', protocol=protocol):
            seen.append(line)

    async def main() -> None:
        async with AsyncAgentClient(agent.url, agent.agent_token) as client:
            task = asyncio.ensure_future(consume(client))
            assert await asyncio.to_thread(wait_until, lambda: seen == ['a'])
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await asyncio.to_thread(wait_until, lambda: open_streams(agent) == 0), agent.stream_stats()

    asyncio.run(main())


@pytest.mark.parametrize('protocol', STREAMS)
def test_ctrl_c_interrupts_a_sync_iterator_waiting_on_a_silent_stream(agent: Any, protocol: str) -> None:
    agent.add_job('job-1', ['a'], fault='silence')
    stream = sync_client(agent).tail_job_logs('job-1', timeout=10, protocol=protocol)
    assert next(stream) == 'a'
    fired: list[float] = []

    def interrupt() -> None:
        fired.append(time.monotonic())
        _thread.interrupt_main()

    timer = threading.Timer(0.3, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            next(stream)
        latency = time.monotonic() - fired[0]
    finally:
        timer.cancel()
        stream.close()
    assert latency < 1.0


# --- batches ---


@pytest.mark.parametrize('protocol', STREAMS)
def test_batches_concatenate_to_the_lines(agent: Any, driver: Driver, protocol: str) -> None:
    lines = [f'line {i}' for i in range(2_500)]
    agent.add_job('job-1', lines)
    out = tail(driver, agent, 'job-1', protocol=protocol, batches=True)
    assert (out.lines, out.error) == (lines, None)


def test_batches_are_non_empty_lists_of_lines(agent: Any) -> None:
    lines = [f'line {i}' for i in range(2_500)]
    agent.add_job('job-1', lines)
    batches = list(sync_client(agent).tail_job_logs('job-1').batches())
    assert all(isinstance(b, list) and b and all(isinstance(x, str) for x in b) for b in batches)
    assert [x for b in batches for x in b] == lines
