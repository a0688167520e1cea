"""The headers every request carries: User-Agent (default and override), ``headers=``, checked;
and tokens that cannot be header values are refused on every path (400), as REST refuses them."""

from __future__ import annotations

import pytest

from synapse_agent_rs import _core
from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.exceptions import ValidationError
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN

PATHS = ['rest', 'websocket', 'http']


def use(client: AgentClient, path: str) -> None:
    if path == 'rest':
        client.get_job('job-1')
    else:
        assert list(client.tail_job_logs('job-1', protocol=path)) == ['a']


def last_headers(agent: FakeAgent) -> dict[str, str]:
    headers: dict[str, str] = agent.requests()[-1]['headers']
    return headers


@pytest.mark.parametrize('path', PATHS)
def test_the_user_agent_names_this_package(fake_agent: FakeAgent, path: str) -> None:
    fake_agent.add_job('job-1', ['a'])
    use(AgentClient(fake_agent.url, TOKEN), path)
    assert last_headers(fake_agent)['user-agent'] == f'synapse-agent-rs/{_core.__version__}'


@pytest.mark.parametrize('path', PATHS)
def test_user_agent_and_extra_headers_go_on_every_path(fake_agent: FakeAgent, path: str) -> None:
    fake_agent.add_job('job-1', ['a'])
    client = AgentClient(fake_agent.url, TOKEN, user_agent='ingest/2.1', headers={'X-Team': 'ml', 'X-Trace': '7'})
    use(client, path)
    headers = last_headers(fake_agent)
    assert headers['user-agent'] == 'ingest/2.1'
    assert headers['x-team'] == 'ml' and headers['x-trace'] == '7'
    assert headers['authorization'] == TOKEN


def test_a_user_agent_in_headers_counts_too(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job-1', ['a'])
    use(AgentClient(fake_agent.url, TOKEN, headers={'User-Agent': 'mine/1'}), 'websocket')
    assert last_headers(fake_agent)['user-agent'] == 'mine/1'


@pytest.mark.parametrize(
    ('headers', 'user_agent', 'fragment'),
    [
        ({'X-A': 'ok\r\nInjected: yes'}, None, 'X-A header contains characters not allowed'),
        ({'X-A': 'ok\nInjected: yes'}, None, 'not allowed'),
        ({'Bad Name': 'x'}, None, 'invalid header name'),
        ({'Authorization': 'x'}, None, 'may not set authorization'),
        ({'SYNAPSE-Tenant': 'x'}, None, 'may not set synapse-tenant'),
        ({'Sec-WebSocket-Key': 'x'}, None, 'may not set sec-websocket-key'),
        (None, 'ua\r\nInjected: yes', 'User-Agent header contains characters not allowed'),
        ({'X-A': 1}, None, 'headers must be a mapping of str to str'),
    ],
)
def test_bad_headers_are_refused_before_any_io(headers: object, user_agent: str | None, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AgentClient('http://127.0.0.1:9', TOKEN, headers=headers, user_agent=user_agent)  # type: ignore[arg-type]
    assert caught.value.status_code == 400
    assert fragment in str(caught.value)
    assert 'Injected' not in str(caught.value)


@pytest.mark.parametrize('path', [*PATHS, 'auto'])
@pytest.mark.parametrize('field', ['agent_token', 'user_token', 'tenant'])
def test_a_token_with_cr_or_lf_is_refused_on_every_path(fake_agent: FakeAgent, path: str, field: str) -> None:
    # Leaving it out of the WebSocket handshake would send an unauthenticated request.
    fake_agent.add_job('job-1', ['a'])
    secret = 'tok\r\nX-Injected: 1'
    tokens = {'agent_token': TOKEN, field: secret}
    client = AgentClient(fake_agent.url, **tokens)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as caught:
        if path == 'rest':
            client.get_job('job-1')
        else:
            list(client.tail_job_logs('job-1', protocol=path))
    assert caught.value.status_code == 400
    assert 'X-Injected' not in str(caught.value)
    assert fake_agent.requests() == []
