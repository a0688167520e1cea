"""TLS against a FakeAgent serving HTTPS/WSS with certificates made at test time (trustme).

Every path (REST, WebSocket, chunked HTTP) must trust what the user said to trust, fail with
a certificate error otherwise, and never fall back to plain text.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.exceptions import (
    ClientConnectionError,
    InsecureTransportWarning,
    ValidationError,
)
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN

LINES = ['first', 'second ✓', 'third']
PATHS = ['rest', 'websocket', 'http']


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CA or proxy settings from the machine: each test sets what it tests."""
    for name in ('SSL_CERT_FILE', 'SSL_CERT_DIR', 'HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY', 'NO_PROXY'):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture(scope='module')
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / 'ca.pem'
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def serving(leaf: trustme.LeafCert) -> tuple[bytes, bytes]:
    """The ``tls=`` argument of FakeAgent for a leaf certificate: its chain and key."""
    return b''.join(blob.bytes() for blob in leaf.cert_chain_pems), leaf.private_key_pem.bytes()


@pytest.fixture
def agent(ca: trustme.CA) -> Iterator[FakeAgent]:
    """An HTTPS agent whose certificate, for 127.0.0.1, is issued by ``ca``."""
    with FakeAgent(TOKEN, tls=serving(ca.issue_cert('127.0.0.1', 'localhost'))) as agent:
        agent.add_job('job-1', LINES)
        yield agent


def use(client: AgentClient, path: str) -> object:
    """One request over `path`: a REST call, or a whole log tailed over WebSocket or HTTP."""
    if path == 'rest':
        return client.get_job('job-1')['job_id']
    return list(client.tail_job_logs('job-1', protocol=path))


EXPECTED = {'rest': 'job-1', 'websocket': LINES, 'http': LINES}


@pytest.mark.parametrize('path', PATHS)
def test_verify_path_trusts_that_ca_on_every_path(agent: FakeAgent, ca_file: str, path: str) -> None:
    assert agent.url.startswith('https://127.0.0.1:')
    client = AgentClient(agent.url, TOKEN, verify=ca_file)
    assert use(client, path) == EXPECTED[path]


def test_the_async_client_trusts_the_same_way(agent: FakeAgent, ca_file: str) -> None:
    async def run() -> tuple[object, list[str], list[str]]:
        async with AsyncAgentClient(agent.url, TOKEN, verify=Path(ca_file)) as client:
            job = await client.get_job('job-1')
            ws = [line async for line in client.tail_job_logs('job-1', protocol='websocket')]
            http = [line async for line in client.tail_job_logs('job-1', protocol='http')]
            return job['job_id'], ws, http

    assert asyncio.run(run()) == ('job-1', LINES, LINES)


@pytest.mark.parametrize('path', PATHS)
def test_ssl_cert_file_is_honoured(agent: FakeAgent, ca_file: str, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    monkeypatch.setenv('SSL_CERT_FILE', ca_file)
    assert use(AgentClient(agent.url, TOKEN), path) == EXPECTED[path]


def test_ssl_cert_dir_is_honoured(agent: FakeAgent, ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('SSL_CERT_DIR', str(Path(ca_file).parent))
    assert use(AgentClient(agent.url, TOKEN), 'websocket') == LINES


def test_trust_env_false_ignores_ssl_cert_file(agent: FakeAgent, ca_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('SSL_CERT_FILE', ca_file)
    with pytest.raises(ClientConnectionError, match='certificate problem'):
        use(AgentClient(agent.url, TOKEN, trust_env=False), 'rest')


def assert_certificate_error(error: ClientConnectionError, reason: str) -> None:
    text = str(error)
    assert error.status_code == 503
    assert 'certificate problem with 127.0.0.1' in text, text
    assert 'verify=' in text and 'SSL_CERT_FILE' in text, text
    assert reason in text, text


@pytest.mark.parametrize('path', PATHS)
def test_an_untrusted_ca_fails_with_the_certificate_error(agent: FakeAgent, path: str) -> None:
    # The system store does not hold the test CA.
    with pytest.raises(ClientConnectionError) as caught:
        use(AgentClient(agent.url, TOKEN), path)
    assert_certificate_error(caught.value, 'UnknownIssuer')
    assert not agent.requests(), 'nothing may reach the agent over a connection that failed verification'


@pytest.mark.parametrize('path', PATHS)
def test_a_wrong_host_name_fails_with_the_certificate_error(ca: trustme.CA, ca_file: str, path: str) -> None:
    with FakeAgent(TOKEN, tls=serving(ca.issue_cert('agent.example.test'))) as agent:
        agent.add_job('job-1', LINES)
        with pytest.raises(ClientConnectionError) as caught:
            use(AgentClient(agent.url, TOKEN, verify=ca_file), path)
        assert_certificate_error(caught.value, 'not valid for name')
        assert not agent.requests()


@pytest.mark.parametrize('path', PATHS)
def test_an_expired_certificate_fails_with_the_certificate_error(ca: trustme.CA, ca_file: str, path: str) -> None:
    now = datetime.datetime.now(datetime.timezone.utc)
    leaf = ca.issue_cert(
        '127.0.0.1', not_before=now - datetime.timedelta(days=30), not_after=now - datetime.timedelta(days=1)
    )
    with FakeAgent(TOKEN, tls=serving(leaf)) as agent:
        agent.add_job('job-1', LINES)
        with pytest.raises(ClientConnectionError) as caught:
            use(AgentClient(agent.url, TOKEN, verify=ca_file), path)
        assert_certificate_error(caught.value, 'expired')


@pytest.mark.parametrize('path', PATHS)
def test_verify_false_works_and_warns_once_per_client(agent: FakeAgent, path: str) -> None:
    with pytest.warns(InsecureTransportWarning, match='verify=False') as warned:
        client = AgentClient(agent.url, TOKEN, verify=False)
    assert len(warned) == 1
    assert use(client, path) == EXPECTED[path]
    assert use(client, path) == EXPECTED[path]  # no second warning: filterwarnings=error would raise


def test_the_async_client_warns_for_verify_false_too(agent: FakeAgent) -> None:
    with pytest.warns(InsecureTransportWarning):
        client = AsyncAgentClient(agent.url, TOKEN, verify=False)

    async def run() -> list[str]:
        return [line async for line in client.tail_job_logs('job-1')]

    assert asyncio.run(run()) == LINES


@pytest.fixture
def mtls(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[FakeAgent, str, str, str]]:
    """An agent requiring client certificates of its own client CA; yields it, the server CA
    file, and a client certificate and key issued by the client CA."""
    client_ca = trustme.CA()
    with FakeAgent(TOKEN, tls=serving(ca.issue_cert('127.0.0.1')), client_ca=client_ca.cert_pem.bytes()) as agent:
        agent.add_job('job-1', LINES)
        client_leaf = client_ca.issue_cert('ingest@example.test')
        cert, key, server_ca = tmp_path / 'client.pem', tmp_path / 'client.key', tmp_path / 'server-ca.pem'
        cert.write_bytes(b''.join(blob.bytes() for blob in client_leaf.cert_chain_pems))
        key.write_bytes(client_leaf.private_key_pem.bytes())
        ca.cert_pem.write_to_path(str(server_ca))
        yield agent, str(server_ca), str(cert), str(key)


@pytest.mark.parametrize('path', PATHS)
def test_mutual_tls_works_with_the_client_certificate(mtls: tuple[FakeAgent, str, str, str], path: str) -> None:
    agent, server_ca, cert, key = mtls
    client = AgentClient(agent.url, TOKEN, verify=server_ca, cert=(cert, key))
    assert use(client, path) == EXPECTED[path]


def test_mutual_tls_takes_one_file_with_certificate_and_key(
    mtls: tuple[FakeAgent, str, str, str], tmp_path: Path
) -> None:
    agent, server_ca, cert, key = mtls
    both = tmp_path / 'both.pem'
    both.write_text(Path(cert).read_text() + Path(key).read_text())
    assert use(AgentClient(agent.url, TOKEN, verify=server_ca, cert=str(both)), 'rest') == 'job-1'


@pytest.mark.parametrize('path', PATHS)
def test_mutual_tls_without_a_client_certificate_fails(mtls: tuple[FakeAgent, str, str, str], path: str) -> None:
    agent, server_ca, _, _ = mtls
    with pytest.raises(ClientConnectionError, match='certificate problem') as caught:
        use(AgentClient(agent.url, TOKEN, verify=server_ca), path)
    assert 'cert=' in str(caught.value)
    assert not agent.requests()


@pytest.mark.parametrize('path', PATHS)
def test_plain_http_is_never_spoken_to_a_tls_url(path: str, ca_file: str) -> None:
    # A plain agent behind an https URL: the TLS handshake fails, nothing is sent in clear.
    with FakeAgent(TOKEN) as plain:
        plain.add_job('job-1', LINES)
        url = plain.url.replace('http://', 'https://')
        with pytest.raises(ClientConnectionError):
            use(AgentClient(url, TOKEN, verify=ca_file), path)
        assert not plain.requests()


@pytest.mark.parametrize(
    ('kwargs', 'fragment'),
    [
        ({'verify': '/nonexistent/ca.pem'}, '/nonexistent/ca.pem'),
        ({'verify': 3}, 'verify must be'),
        ({'cert': ('/nonexistent/c.pem', '/nonexistent/k.pem')}, '/nonexistent/c.pem'),
        ({'cert': ('only-one',)}, 'cert must be'),
    ],
)
def test_bad_tls_arguments_are_validation_errors(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AgentClient('https://127.0.0.1:9', TOKEN, **kwargs)  # type: ignore[arg-type]
    assert caught.value.status_code == 400
    assert fragment in str(caught.value)
