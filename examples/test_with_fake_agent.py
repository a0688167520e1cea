"""Testing your own code with FakeAgent: a real HTTP and WebSocket server on 127.0.0.1.

pytest examples/test_with_fake_agent.py
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.exceptions import ClientConnectionError, NotFoundError
from synapse_agent_rs.testing import FakeAgent


# --- the code under test: yours ---
def count_errors(client: AgentClient, job_id: str) -> int:
    """How many lines of a job's log mention an error."""
    return sum('ERROR' in line for line in client.tail_job_logs(job_id))


# --- its tests ---
@pytest.fixture
def agent() -> Iterator[FakeAgent]:
    with FakeAgent('test-token') as fake:
        yield fake


def test_counts_error_lines(agent: FakeAgent) -> None:
    agent.add_job('job-1', ['start', 'ERROR disk full', 'retry', 'ERROR again', 'done'])
    assert count_errors(AgentClient(agent.url, 'test-token'), 'job-1') == 2


def test_same_over_http_when_the_websocket_is_refused(agent: FakeAgent) -> None:
    agent.add_job('job-1', ['ERROR x'], refuse_websocket=404)
    assert count_errors(AgentClient(agent.url, 'test-token'), 'job-1') == 1


def test_a_dropped_connection_is_an_error_not_a_short_log(agent: FakeAgent) -> None:
    agent.add_job('job-1', ['ERROR 1', 'ERROR 2'], fault='drop')
    with pytest.raises(ClientConnectionError):
        count_errors(AgentClient(agent.url, 'test-token'), 'job-1')


def test_an_unknown_job(agent: FakeAgent) -> None:
    with pytest.raises(NotFoundError):
        count_errors(AgentClient(agent.url, 'test-token'), 'no-such-job')


def test_what_the_agent_received(agent: FakeAgent) -> None:
    agent.add_job('job-1', ['a'])
    AgentClient(agent.url, 'test-token', user_token='u').get_job('job-1')
    (request,) = [r for r in agent.requests() if r['path'] == '/jobs/job-1/']
    assert request['method'] == 'GET'
