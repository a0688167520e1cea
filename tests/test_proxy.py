"""Proxies: a real pproxy on loopback carries REST calls, HTTP streams and WebSockets (CONNECT),
with and without proxy authentication, and over SOCKS5; the environment is read as requests
reads it; refusing proxies give a clear error that names them without their credentials.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.exceptions import ClientConnectionError, ValidationError
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN
from tests.proxy_server import ProxyServer

LINES = ['one', 'two ✓', 'three']
PATHS = ['rest', 'websocket', 'http']
EXPECTED = {'rest': 'job-1', 'websocket': LINES, 'http': LINES}
PASSWORD = 'pr0xy-s3cret'


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ('SSL_CERT_FILE', 'SSL_CERT_DIR', 'HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY', 'NO_PROXY'):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope='module')
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """An open pproxy speaking HTTP (forwarding and CONNECT) and SOCKS5."""
    with ProxyServer(tmp_path_factory.mktemp('proxy')) as server:
        yield server


@pytest.fixture(scope='module')
def auth_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyServer]:
    """A pproxy that requires ``user:PASSWORD`` (HTTP Basic, and SOCKS5 user/password)."""
    with ProxyServer(tmp_path_factory.mktemp('auth-proxy'), auth=f'user:{PASSWORD}') as server:
        yield server


@pytest.fixture
def agent() -> Iterator[FakeAgent]:
    with FakeAgent(TOKEN) as agent:
        agent.add_job('job-1', LINES)
        yield agent


def use(client: AgentClient, path: str) -> object:
    if path == 'rest':
        return client.get_job('job-1')['job_id']
    return list(client.tail_job_logs('job-1', protocol=path))


def through(server: ProxyServer, agent: FakeAgent, client: AgentClient, path: str) -> None:
    """`path` works through `server`, which carried a new connection to the agent for it."""
    before = server.connections_to(agent.port)
    assert use(client, path) == EXPECTED[path]
    assert server.wait_for_connections(agent.port, before + 1) == before + 1, server.log()


@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('scheme', ['http', 'socks5', 'socks5h'])
def test_the_proxy_argument_carries_every_path(proxy: ProxyServer, agent: FakeAgent, scheme: str, path: str) -> None:
    through(proxy, agent, AgentClient(agent.url, TOKEN, proxy=proxy.url(scheme)), path)


@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('scheme', ['http', 'socks5h'])
def test_proxy_credentials_from_the_url_are_used(
    auth_proxy: ProxyServer, agent: FakeAgent, scheme: str, path: str
) -> None:
    client = AgentClient(agent.url, TOKEN, proxy=auth_proxy.url(scheme, f'user:{PASSWORD}'))
    through(auth_proxy, agent, client, path)


@pytest.mark.parametrize('path', PATHS)
def test_tls_to_the_agent_goes_through_the_tunnel(proxy: ProxyServer, tmp_path: Path, path: str) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert('127.0.0.1')
    ca_file = tmp_path / 'ca.pem'
    ca.cert_pem.write_to_path(str(ca_file))
    chain = b''.join(blob.bytes() for blob in leaf.cert_chain_pems)
    with FakeAgent(TOKEN, tls=(chain, leaf.private_key_pem.bytes())) as agent:
        agent.add_job('job-1', LINES)
        # The proxy sees only a tunnel; the certificate checked is the agent's.
        through(proxy, agent, AgentClient(agent.url, TOKEN, proxy=proxy.url(), verify=str(ca_file)), path)


@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('credentials', [None, 'user:wrong-password'])
def test_a_proxy_asking_for_credentials_gives_a_clear_error(
    auth_proxy: ProxyServer, agent: FakeAgent, credentials: str | None, path: str
) -> None:
    with pytest.raises(ClientConnectionError) as caught:
        use(AgentClient(agent.url, TOKEN, proxy=auth_proxy.url('http', credentials)), path)
    text = str(caught.value)
    assert caught.value.status_code == 503
    assert f'the proxy http://127.0.0.1:{auth_proxy.port} requires authentication (407' in text, text
    assert 'wrong-password' not in text and 'user' not in text.split('(407')[0]
    assert not agent.requests()


@pytest.mark.parametrize('path', PATHS)
def test_a_socks_proxy_refusing_credentials_gives_a_clear_error(
    auth_proxy: ProxyServer, agent: FakeAgent, path: str
) -> None:
    with pytest.raises(ClientConnectionError) as caught:
        use(AgentClient(agent.url, TOKEN, proxy=auth_proxy.url('socks5', 'user:wrong-password')), path)
    assert f'socks5://127.0.0.1:{auth_proxy.port}' in str(caught.value)
    assert 'wrong-password' not in str(caught.value)
    assert not agent.requests()


class RefusingProxy:
    """A proxy that answers every request with one fixed status (403 or 502), as a proxy that
    forbids the destination or cannot reach it does."""

    def __init__(self, status: str) -> None:
        self.status = status
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                data = b''
                while b'\r\n\r\n' not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                conn.sendall(f'HTTP/1.1 {self.status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'.encode())

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize('status', ['403 Forbidden', '502 Bad Gateway'])
@pytest.mark.parametrize('path', PATHS)
def test_a_proxy_refusing_the_tunnel_gives_a_clear_error(status: str, path: str) -> None:
    refusing = RefusingProxy(status)
    try:
        # An https agent: every path asks the proxy for a CONNECT tunnel.
        client = AgentClient(
            'https://agent.example.test:8443', TOKEN, proxy=f'http://user:{PASSWORD}@127.0.0.1:{refusing.port}'
        )
        with pytest.raises(ClientConnectionError) as caught:
            use(client, path)
        text = str(caught.value)
        assert f'the proxy http://127.0.0.1:{refusing.port} refused the tunnel' in text, text
        assert PASSWORD not in text
        assert refusing.requests and refusing.requests[0].startswith(b'CONNECT agent.example.test:8443 ')
    finally:
        refusing.close()


def test_an_unreachable_proxy_is_named(agent: FakeAgent) -> None:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        dead = s.getsockname()[1]
    for path in PATHS:
        with pytest.raises(ClientConnectionError, match=f'through the proxy http://127.0.0.1:{dead}'):
            use(AgentClient(agent.url, TOKEN, proxy=f'http://user:{PASSWORD}@127.0.0.1:{dead}'), path)


@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('variable', ['HTTP_PROXY', 'http_proxy', 'ALL_PROXY'])
def test_the_environment_names_the_proxy(
    proxy: ProxyServer, agent: FakeAgent, monkeypatch: pytest.MonkeyPatch, variable: str, path: str
) -> None:
    monkeypatch.setenv(variable, proxy.url('socks5h' if variable == 'ALL_PROXY' else 'http'))
    through(proxy, agent, AgentClient(agent.url, TOKEN), path)


@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('no_proxy', ['127.0.0.1', '127.0.0.0/8', '*'])
def test_no_proxy_bypasses_the_proxy(
    proxy: ProxyServer, agent: FakeAgent, monkeypatch: pytest.MonkeyPatch, no_proxy: str, path: str
) -> None:
    monkeypatch.setenv('HTTP_PROXY', proxy.url())
    monkeypatch.setenv('no_proxy', no_proxy)
    before = proxy.connections_to(agent.port)
    assert use(AgentClient(agent.url, TOKEN), path) == EXPECTED[path]
    assert proxy.connections_to(agent.port) == before
    assert agent.requests()


@pytest.mark.parametrize('path', PATHS)
def test_trust_env_false_ignores_the_proxy_variables(
    proxy: ProxyServer, agent: FakeAgent, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    monkeypatch.setenv('HTTP_PROXY', proxy.url())
    before = proxy.connections_to(agent.port)
    assert use(AgentClient(agent.url, TOKEN, trust_env=False), path) == EXPECTED[path]
    assert proxy.connections_to(agent.port) == before


def test_the_argument_wins_over_the_environment(
    proxy: ProxyServer, agent: FakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv('HTTP_PROXY', 'http://127.0.0.1:9')  # nothing listens there
    monkeypatch.setenv('NO_PROXY', '127.0.0.1')  # the argument ignores the environment altogether
    through(proxy, agent, AgentClient(agent.url, TOKEN, proxy=proxy.url()), 'websocket')


@pytest.mark.parametrize(
    'value', ['ftp://user:hunter2@proxy:21', 'http://user:hunter2@[bad', 'socks4://user:hunter2@proxy']
)
def test_a_bad_proxy_url_is_a_validation_error_without_its_password(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AgentClient('http://127.0.0.1:9', TOKEN, proxy=value)
    assert caught.value.status_code == 400
    assert 'hunter2' not in str(caught.value)


def test_the_async_client_goes_through_the_proxy(proxy: ProxyServer, agent: FakeAgent) -> None:
    async def run() -> tuple[object, list[str], list[str]]:
        async with AsyncAgentClient(agent.url, TOKEN, proxy=proxy.url('socks5h')) as client:
            job = await client.get_job('job-1')
            ws = [line async for line in client.tail_job_logs('job-1', protocol='websocket')]
            http = [line async for line in client.tail_job_logs('job-1', protocol='http')]
            return job['job_id'], ws, http

    before = proxy.connections_to(agent.port)
    assert asyncio.run(run()) == ('job-1', LINES, LINES)
    assert proxy.wait_for_connections(agent.port, before + 2) >= before + 2, proxy.log()


@pytest.mark.parametrize('path', PATHS)
def test_an_https_proxy_is_reached_over_tls(agent: FakeAgent, tmp_path: Path, path: str) -> None:
    # TLS to the proxy, verified with the client's trusted CAs; the agent's traffic inside.
    ca = trustme.CA()
    leaf = ca.issue_cert('127.0.0.1')
    cert, key, ca_file = tmp_path / 'proxy.pem', tmp_path / 'proxy.key', tmp_path / 'ca.pem'
    cert.write_bytes(b''.join(blob.bytes() for blob in leaf.cert_chain_pems))
    key.write_bytes(leaf.private_key_pem.bytes())
    ca.cert_pem.write_to_path(str(ca_file))
    with ProxyServer(tmp_path, protocols='http', tls=(str(cert), str(key))) as server:
        through(server, agent, AgentClient(agent.url, TOKEN, proxy=server.url('https'), verify=str(ca_file)), path)
        with pytest.raises(ClientConnectionError, match=r'certificate problem with 127\.0\.0\.1'):
            use(AgentClient(agent.url, TOKEN, proxy=server.url('https')), path)  # the proxy's CA is not trusted


@pytest.fixture(scope='module')
def tls_agent_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes, str]:
    """A certificate chain, key and CA file for an https FakeAgent on 127.0.0.1."""
    ca = trustme.CA()
    leaf = ca.issue_cert('127.0.0.1')
    ca_file = tmp_path_factory.mktemp('tls-agent') / 'ca.pem'
    ca.cert_pem.write_to_path(str(ca_file))
    return b''.join(blob.bytes() for blob in leaf.cert_chain_pems), leaf.private_key_pem.bytes(), str(ca_file)


@pytest.mark.parametrize('path', PATHS)
def test_an_authenticating_proxy_tunnels_every_path_to_an_https_agent(
    auth_proxy: ProxyServer, tls_agent_files: tuple[bytes, bytes, str], path: str
) -> None:
    # Issue 17 item 17: REST calls and HTTP streams got 407 here (pproxy matches
    # `Proxy-Authorization` case-sensitively; reqwest's own CONNECT wrote it in lower case).
    chain, key, ca_file = tls_agent_files
    with FakeAgent(TOKEN, tls=(chain, key)) as agent:
        agent.add_job('job-1', LINES)
        client = AgentClient(agent.url, TOKEN, proxy=auth_proxy.url('http', f'user:{PASSWORD}'), verify=ca_file)
        through(auth_proxy, agent, client, path)
        assert use(client, path) == EXPECTED[path]  # again, on a pooled or a new tunnel


class StrictProxy:
    """An HTTP proxy that only tunnels (CONNECT) and, like some real ones, reads header names
    case-sensitively: it wants exactly ``Proxy-Authorization: Basic <user:PASSWORD>``.

    It records every CONNECT request head it receives.
    """

    def __init__(self) -> None:
        import base64

        self.expected = 'Proxy-Authorization: Basic ' + base64.b64encode(f'user:{PASSWORD}'.encode()).decode()
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.port = self.listener.getsockname()[1]
        self.heads: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            data = b''
            while b'\r\n\r\n' not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            head, _, early = data.partition(b'\r\n\r\n')
            text = head.decode('latin-1')
            self.heads.append(text)
            lines = text.split('\r\n')
            method, authority, _ = lines[0].split(' ', 2)
            if method != 'CONNECT' or self.expected not in lines[1:]:
                conn.sendall(b'HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n')
                return
            host, _, port = authority.rpartition(':')
            with socket.create_connection((host.strip('[]'), int(port)), timeout=10) as upstream:
                conn.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
                upstream.sendall(early)
                self._pipe(conn, upstream)

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        def copy(src: socket.socket, dst: socket.socket) -> None:
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        other = threading.Thread(target=copy, args=(b, a), daemon=True)
        other.start()
        copy(a, b)
        other.join(timeout=30)

    def close(self) -> None:
        self.listener.close()


@pytest.mark.parametrize('path', PATHS)
def test_a_case_sensitive_proxy_gets_proxy_authorization_on_every_path(
    tls_agent_files: tuple[bytes, bytes, str], path: str
) -> None:
    chain, key, ca_file = tls_agent_files
    strict = StrictProxy()
    try:
        with FakeAgent(TOKEN, tls=(chain, key)) as agent:
            agent.add_job('job-1', LINES)
            client = AgentClient(
                agent.url, TOKEN, proxy=f'http://user:{PASSWORD}@127.0.0.1:{strict.port}', verify=ca_file
            )
            assert use(client, path) == EXPECTED[path]
        assert strict.heads, 'the proxy carried nothing'
        for head in strict.heads:
            assert head.startswith(f'CONNECT 127.0.0.1:{agent.port} HTTP/1.1\r\n'), head
            assert strict.expected in head.split('\r\n'), head
            assert any(line.startswith('User-Agent: synapse-agent-rs/') for line in head.split('\r\n')), head
    finally:
        strict.close()


def gone(path: Path) -> bool:
    """Whether `path` disappears within a generous wait: a stream just closed may still hold
    the client's connections for a moment (its task ends on the runtime)."""
    import time

    deadline = time.monotonic() + 10
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not path.exists()


def test_the_tunnel_under_rest_calls_leaves_nothing_behind(
    auth_proxy: ProxyServer, tls_agent_files: tuple[bytes, bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # REST calls and HTTP streams reach an https agent through a private Unix socket of the
    # client (the relay to our tunnel): only its user may enter it, and closing removes it.
    import os
    import stat
    import tempfile

    base = Path(tempfile.mkdtemp(prefix='relay-', dir='/tmp'))
    monkeypatch.setenv('TMPDIR', str(base))
    chain, key, ca_file = tls_agent_files
    with FakeAgent(TOKEN, tls=(chain, key)) as agent:
        agent.add_job('job-1', LINES)
        client = AgentClient(agent.url, TOKEN, proxy=auth_proxy.url('http', f'user:{PASSWORD}'), verify=ca_file)
        assert use(client, 'rest') == 'job-1'
        made = list(base.iterdir())
        assert len(made) == 1 and stat.S_IMODE(made[0].stat().st_mode) == 0o700, made
        assert made[0].stat().st_uid == os.getuid()
        client.close()
    assert gone(made[0])
    base.rmdir()


def test_a_forked_child_tunnels_on_its_own_and_leaves_the_parents_relay_alone(
    auth_proxy: ProxyServer, tls_agent_files: tuple[bytes, bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import shutil
    import tempfile
    import warnings

    base = Path(tempfile.mkdtemp(prefix='relay-fork-', dir='/tmp'))
    monkeypatch.setenv('TMPDIR', str(base))
    chain, key, ca_file = tls_agent_files
    try:
        with FakeAgent(TOKEN, tls=(chain, key)) as agent:
            agent.add_job('job-1', LINES)
            client = AgentClient(agent.url, TOKEN, proxy=auth_proxy.url('http', f'user:{PASSWORD}'), verify=ca_file)
            assert use(client, 'rest') == 'job-1'
            (parents,) = list(base.iterdir())
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', DeprecationWarning)  # fork() with threads running warns on 3.12+
                pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    ok = use(client, 'rest') == 'job-1' and use(client, 'http') == LINES
                    code = 0 if ok else 2
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
            assert (parents / 's').exists()  # the child made its own relay and left this one alone
            assert use(client, 'http') == LINES  # a new connection through the parent's relay
            client.close()
            assert gone(parents)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_relay_socket_comes_back_when_a_temp_cleaner_removes_it(
    auth_proxy: ProxyServer, tls_agent_files: tuple[bytes, bytes, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # systemd-tmpfiles and the like delete old entries of /tmp under a client that runs for weeks.
    import shutil
    import stat
    import tempfile

    base = Path(tempfile.mkdtemp(prefix='relay-clean-', dir='/tmp'))
    monkeypatch.setenv('TMPDIR', str(base))
    chain, key, ca_file = tls_agent_files
    try:
        with FakeAgent(TOKEN, tls=(chain, key)) as agent:
            agent.add_job('job-1', LINES)
            agent.add_job('slow', [f'line {i}' for i in range(30)], pace=0.1)
            client = AgentClient(agent.url, TOKEN, proxy=auth_proxy.url('http', f'user:{PASSWORD}'), verify=ca_file)
            assert use(client, 'rest') == 'job-1'
            (relay,) = list(base.iterdir())
            shutil.rmtree(relay)
            stream = client.tail_job_logs('slow', protocol='http')
            assert next(stream) == 'line 0'  # holds one connection...
            assert use(client, 'rest') == 'job-1'  # ...so this one is new, through the socket made again
            stream.close()
            assert (relay / 's').exists() and stat.S_IMODE(relay.stat().st_mode) == 0o700
            client.close()
            assert gone(relay)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_async_client_tunnels_to_an_https_agent_through_an_authenticating_proxy(
    auth_proxy: ProxyServer, tls_agent_files: tuple[bytes, bytes, str]
) -> None:
    chain, key, ca_file = tls_agent_files

    async def run(url: str) -> tuple[object, list[str], list[str]]:
        proxy = auth_proxy.url('http', f'user:{PASSWORD}')
        async with AsyncAgentClient(url, TOKEN, proxy=proxy, verify=ca_file) as client:
            job = await client.get_job('job-1')
            http = [line async for line in client.tail_job_logs('job-1', protocol='http')]
            ws = [line async for line in client.tail_job_logs('job-1', protocol='websocket')]
            return job['job_id'], http, ws

    with FakeAgent(TOKEN, tls=(chain, key)) as agent:
        agent.add_job('job-1', LINES)
        before = auth_proxy.connections_to(agent.port)
        assert asyncio.run(run(agent.url)) == ('job-1', LINES, LINES)
        assert auth_proxy.wait_for_connections(agent.port, before + 2) >= before + 2, auth_proxy.log()
