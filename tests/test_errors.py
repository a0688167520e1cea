"""Structured errors: the class, `__cause__`, `.job_id`/`.limit`/`.max`, what the message names,
and the scrubber that cleans every text from the network (issue 11)."""

from __future__ import annotations

import socket
import ssl

import pytest

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.exceptions import (
    AuthenticationError,
    ClientConnectionError,
    ClientError,
    NotFoundError,
    StreamLimitExceededError,
    ValidationError,
    WebSocketError,
)
from synapse_agent_rs.testing import FakeAgent
from synapse_agent_rs.utils.network import StreamLimits, sanitize_error_message
from tests.conftest import TOKEN
from tests.hostile import RawServer, accept_websocket, close_frame, read_request, text_frame


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def test_refused_rest_call_has_the_os_error_as_cause_and_names_the_request() -> None:
    client = AgentClient(f'http://127.0.0.1:{closed_port()}', TOKEN)
    with pytest.raises(ClientConnectionError) as info:
        client.get_job('j1')
    assert info.value.status_code == 503
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert 'GET /jobs/j1/' in str(info.value)
    assert info.value.job_id is None


@pytest.mark.parametrize('protocol', ['http', 'websocket', 'auto'])
def test_refused_stream_has_cause_and_job_id(protocol: str) -> None:
    client = AgentClient(f'http://127.0.0.1:{closed_port()}', TOKEN)
    with pytest.raises(ClientConnectionError) as info:
        list(client.tail_job_logs('job-7', protocol=protocol))
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert info.value.job_id == 'job-7'
    assert 'job job-7' in str(info.value)


def test_tls_failure_has_an_ssl_cause() -> None:
    """A plain-HTTP server behind an https URL: the handshake fails, `__cause__` says TLS."""

    def answer_garbage(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b'HTTP/1.1 400 Bad Request\r\n\r\n')

    with RawServer(answer_garbage) as server:
        client = AgentClient(f'https://127.0.0.1:{server.port}', TOKEN)
        with pytest.raises(ClientConnectionError) as info:
            list(client.tail_job_logs('j1', protocol='websocket'))
    assert isinstance(info.value.__cause__, ssl.SSLError), repr(info.value.__cause__)


def test_not_found_names_the_job_and_the_path(fake_agent: FakeAgent) -> None:
    client = AgentClient(fake_agent.url, TOKEN)
    with pytest.raises(NotFoundError) as stream_info:
        list(client.tail_job_logs('nope', protocol='http'))
    assert stream_info.value.job_id == 'nope'
    assert 'job nope' in str(stream_info.value)
    with pytest.raises(NotFoundError) as rest_info:
        client.get_job('nope')
    assert 'GET /jobs/nope/' in str(rest_info.value)


def test_limit_error_declares_limit_and_max(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('j1', [f'line {i}' for i in range(10)])
    client = AgentClient(fake_agent.url, TOKEN)
    client.stream_limits = StreamLimits(max_messages=3, max_lines=3)
    with pytest.raises(StreamLimitExceededError) as info:
        list(client.tail_job_logs('j1'))
    assert (info.value.status_code, info.value.max, info.value.job_id) == (429, 3, 'j1')
    assert 'max_' in str(info.value.limit)


def test_scrubber_does_not_panic_on_non_ascii() -> None:
    """Regression (defect 4): the scrubber sliced in the middle of a character and panicked."""
    assert sanitize_error_message('café token=abc') == 'café token=***'
    assert sanitize_error_message('é') == 'é'
    scrubbed = sanitize_error_message('naïve SYNAPSE-User: Token ü1 end', secrets=['ü1'])
    assert scrubbed == 'naïve SYNAPSE-User: Token *** end'


def test_short_token_does_not_mangle_words() -> None:
    """Regression (defect 7): the token `tok` turned `Invalid agent token` into `Invalid agent ***en`."""
    with FakeAgent(agent_token='the-real-token') as agent:
        client = AgentClient(agent.url, 'tok')
        with pytest.raises(AuthenticationError) as info:
            client.health_check()
    assert info.value.detail == {'detail': 'Invalid agent token'}, info.value.detail
    assert str(info.value) == '401: Invalid agent token'
    assert sanitize_error_message('got tok from tokens', secrets=['tok']) == 'got *** from tokens'


def test_websocket_close_reason_is_scrubbed() -> None:
    """Regression (defect 7): the close reason went into the exception as the server sent it."""
    secret = 'close-reason-secret-42'

    def close_with_secret(conn: socket.socket) -> None:
        accept_websocket(conn, read_request(conn))
        conn.sendall(text_frame('one'))
        conn.sendall(close_frame(1011, f'bad token {secret} and Token zz9'))
        conn.recv(1024)

    with RawServer(close_with_secret) as server:
        client = AgentClient(server.url, secret, user_token='zz9')
        stream = client.tail_job_logs('j1', protocol='websocket')
        assert next(stream) == 'one'
        with pytest.raises(ClientError) as info:
            next(stream)
    text = f'{info.value} {info.value!r} {info.value.detail} {info.value.args}'
    assert secret not in text and 'zz9' not in text
    assert '1011' in text
    assert not isinstance(info.value, WebSocketError)  # a close with an error code is a drop (503)
    assert info.value.status_code == 503


# --- first contact (issue 16, "Python API first contact"): one clear error per common mistake,
# the same from both clients (one implementation), before any I/O.

CLIENTS = [AgentClient, AsyncAgentClient]


@pytest.mark.parametrize('client_class', CLIENTS)
@pytest.mark.parametrize('base_url', ['agent.example.com', 'localhost:8000', '127.0.0.1:8000/api', 'user:pw@host'])
def test_a_base_url_without_scheme_says_to_add_one(client_class: type[AgentClient], base_url: str) -> None:
    with pytest.raises(ValidationError) as info:
        client_class(base_url, TOKEN)
    assert info.value.status_code == 400
    assert 'base_url has no scheme: add http:// or https://' in str(info.value)
    assert 'pw' not in str(info.value)


@pytest.mark.parametrize('client_class', CLIENTS)
@pytest.mark.parametrize(
    ('kwargs', 'expected'),
    [
        ({'agent_token': None}, 'agent_token is None'),
        ({'agent_token': ''}, 'agent_token is empty'),
        ({'agent_token': '  '}, 'agent_token is empty'),
        ({'agent_token': 42}, 'agent_token must be a str, not int'),
        ({'user_token': ''}, 'user_token is empty: pass None to send none'),
        ({'tenant': ''}, 'tenant is empty: pass None to send none'),
    ],
)
def test_a_missing_or_empty_token_names_the_parameter_before_any_io(
    client_class: type[AgentClient], kwargs: dict[str, object], expected: str
) -> None:
    def listen(conn: socket.socket) -> None:
        conn.recv(4096)

    with RawServer(listen) as server:
        arguments: dict[str, object] = {'agent_token': TOKEN, **kwargs}
        with pytest.raises(ValidationError) as info:
            client_class(f'http://127.0.0.1:{server.port}', **arguments)  # type: ignore[arg-type]
        assert info.value.status_code == 400
        assert expected in str(info.value), str(info.value)
        assert server.connections == []


def test_setting_an_empty_token_later_is_refused_and_keeps_the_old_one(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('j1', ['a'])
    client = AgentClient(fake_agent.url, TOKEN)
    with pytest.raises(ValidationError, match='agent_token is empty'):
        client.agent_token = ''
    assert client.agent_token == TOKEN
    assert client.get_job('j1')['job_id'] == 'j1'


@pytest.mark.parametrize('path', ['rest', 'websocket', 'http'])
def test_https_against_a_plain_http_agent_says_so(fake_agent: FakeAgent, path: str) -> None:
    fake_agent.add_job('j1', ['a'])
    client = AgentClient(fake_agent.url.replace('http://', 'https://'), TOKEN)
    with pytest.raises(ClientConnectionError) as info:
        client.get_job('j1') if path == 'rest' else list(client.tail_job_logs('j1', protocol=path))
    text = str(info.value)
    assert 'answered the TLS handshake with something that is not TLS, most likely plain HTTP' in text, text
    assert 'use an http:// base_url' in text, text


async def test_awaiting_the_async_tail_says_to_use_async_for(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('j1', ['a', 'b'])
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        stream = client.tail_job_logs('j1')
        with pytest.raises(TypeError, match=r'async iterator, not an awaitable: drop the `await` and use `async for'):
            await stream  # type: ignore[misc]
        assert [line async for line in stream] == ['a', 'b']  # the mistake did not spoil the stream
