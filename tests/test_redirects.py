"""Redirects and links never carry the tokens, the body or our URL to another origin (issue 11,
defect 1; issue 17 item 18: one rule, ``ClientConnectionError`` (503) naming that origin,
for a redirect of a REST call, an HTTP stream or a WebSocket upgrade, and ``list_all``'s
``next`` link alike).

Real servers on loopback: a redirector that answers every request (WebSocket upgrades
included) with a 3xx, and a target that records whatever reaches it.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.exceptions import ClientConnectionError, ClientError
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN

USER_TOKEN = 'user-secret-0123456789'
TENANT = 'tenant-secret-0123456789'


class Recorder(http.server.ThreadingHTTPServer):
    """Records every request; answers JSON, or a redirect to `location` when set."""

    daemon_threads = True

    def __init__(self, status: int = 200, location: str | None = None) -> None:
        self.status, self.location = status, location
        self.seen: list[dict[str, Any]] = []
        super().__init__(('127.0.0.1', 0), _Handler)
        threading.Thread(target=self.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()

    @property
    def origin(self) -> str:
        scheme = 'https' if isinstance(self.socket, ssl.SSLSocket) else 'http'
        return f'{scheme}://127.0.0.1:{self.server_address[1]}'


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Recorder
    protocol_version = 'HTTP/1.1'

    def _answer(self) -> None:
        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        self.server.seen.append({'path': self.path, 'headers': dict(self.headers), 'body': body})
        if self.server.location is not None and not self.path.startswith('/followed/'):
            self.send_response(self.server.status)
            self.send_header('Location', self.server.location)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        payload = b'{"job_id": "job-1", "followed": true}'
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def target() -> Iterator[Recorder]:
    """Another origin (another port) that must never hear from us."""
    server = Recorder()
    yield server
    server.shutdown()
    server.server_close()


def redirector(status: int, location: str) -> Recorder:
    return Recorder(status, location)


def client_of(server: Recorder) -> AgentClient:
    return AgentClient(server.origin, TOKEN, user_token=USER_TOKEN, tenant=TENANT)


def assert_refused(error: ClientError, how: str, target_origin: str) -> None:
    """The one refusal: 503, naming the other origin and how the agent pointed there."""
    text = str(error)
    assert isinstance(error, ClientConnectionError), repr(error)
    assert error.status_code == 503
    assert f'the agent pointed us at another origin, {target_origin} ({how})' in text, text
    assert 'nothing (no token, header or body) was sent there' in text, text
    for secret in (TOKEN, USER_TOKEN, TENANT, 'user:pw'):
        assert secret not in text


@pytest.mark.parametrize('status', [301, 302, 303, 307, 308])
def test_rest_calls_are_not_redirected_to_another_origin(target: Recorder, status: int) -> None:
    source = redirector(status, f'{target.origin}/steal/')
    try:
        with pytest.raises(ClientError) as caught:
            client_of(source).get_job('job-1')
        assert_refused(caught.value, f'a {status} redirect', target.origin)
        with pytest.raises(ClientConnectionError):  # a POST with a body: not re-sent elsewhere either
            client_of(source).run_plugin_release('plugin@1', 'train', {'secret_param': 'value'})
        assert target.seen == []
    finally:
        source.shutdown()
        source.server_close()


@pytest.mark.parametrize('protocol', ['http', 'auto', 'websocket'])
def test_log_streams_are_not_redirected_to_another_origin(target: Recorder, protocol: str) -> None:
    # `auto`: the upgrade is answered 302; falling back to HTTP must not stream the other body.
    source = redirector(302, f'{target.origin}/logs/')
    try:
        with pytest.raises(ClientError) as caught:
            list(client_of(source).tail_job_logs('job-1', protocol=protocol))
        assert_refused(caught.value, 'a 302 redirect', target.origin)
        assert target.seen == []
    finally:
        source.shutdown()
        source.server_close()


def test_same_origin_redirects_are_followed_without_referer() -> None:
    server = Recorder(307, '/followed/')
    try:
        assert client_of(server).get_job('job-1') == {'job_id': 'job-1', 'followed': True}
        _first, followed = server.seen
        assert followed['path'] == '/followed/'
        assert 'Referer' not in followed['headers']
        assert followed['headers']['Authorization'] == TOKEN  # same origin: the token is expected there
    finally:
        server.shutdown()
        server.server_close()


def test_https_is_never_downgraded_to_http(target: Recorder, tmp_path: Path) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / 'ca.pem'
    ca.cert_pem.write_to_path(str(ca_file))
    server = Recorder(302, f'{target.origin}/plain/')
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert('127.0.0.1').configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    try:
        client = AgentClient(server.origin, TOKEN, verify=str(ca_file))
        with pytest.raises(ClientError) as caught:
            client.get_job('job-1')
        assert_refused(caught.value, 'a 302 redirect', target.origin)
        with pytest.raises(ClientError) as caught:
            list(client.tail_job_logs('job-1', protocol='auto'))
        assert_refused(caught.value, 'a 302 redirect', target.origin)
        assert target.seen == []
    finally:
        server.shutdown()
        server.server_close()


def next_link_page(fake: FakeAgent, link: str) -> None:
    fake.set_response('GET', 'plugin_releases/', 200, {'count': 2, 'next': link, 'results': [{'id': 1}]})


@pytest.mark.parametrize('where', ['other-port', 'downgrade', 'user-info'])
def test_next_links_to_another_origin_are_refused_like_redirects(target: Recorder, where: str) -> None:
    with FakeAgent(TOKEN) as fake:
        port = target.server_address[1]
        link, origin = {
            'other-port': (f'{target.origin}/plugin_releases/?page=2', target.origin),
            'downgrade': (f'https://127.0.0.1:{fake.port}/plugin_releases/?page=2', f'https://127.0.0.1:{fake.port}'),
            'user-info': (f'http://user:pw@127.0.0.1:{port}/x/?page=2', target.origin),
        }[where]
        next_link_page(fake, link)
        items, count = AgentClient(fake.url, TOKEN, user_token=USER_TOKEN).list_plugin_releases(list_all=True)
        assert (next(items), count) == ({'id': 1}, 2)
        with pytest.raises(ClientError) as caught:
            next(items)
        assert_refused(caught.value, 'a link in its answer', origin)
        assert len(fake.requests()) == 1
    assert target.seen == []


async def test_the_async_client_refuses_next_links_to_another_origin(target: Recorder) -> None:
    with FakeAgent(TOKEN) as fake:
        next_link_page(fake, f'{target.origin}/plugin_releases/?page=2')
        async with AsyncAgentClient(fake.url, TOKEN) as client:
            items, _count = await client.list_plugin_releases(list_all=True)
            assert await items.__anext__() == {'id': 1}
            with pytest.raises(ClientError) as caught:
                await items.__anext__()
        assert_refused(caught.value, 'a link in its answer', target.origin)
    assert target.seen == []


def test_a_same_origin_next_link_is_followed_wherever_it_points() -> None:
    # Same origin (scheme and host compared case-insensitively), so the token may go there, as a
    # same-origin redirect would take it.
    with FakeAgent(TOKEN) as fake:
        fake.set_response('GET', 'containers/', 200, {'count': 2, 'next': None, 'results': [{'id': 2}]})
        next_link_page(fake, f'HTTP://127.0.0.1:{fake.port}/containers/?page=2')
        items, _ = AgentClient(fake.url, TOKEN).list_plugin_releases(list_all=True)
        assert list(items) == [{'id': 1}, {'id': 2}]
        assert [(r['path'], r['query']) for r in fake.requests()][-1] == ('/containers/', 'page=2')
