"""The sync examples of the user documentation (``seed/agent-client.txt``), run as written against FakeAgent.

Each example is copied unchanged except for the agent's URL; the agent accepts the documented
token ``"your-agent-token"`` and knows the jobs the examples name.
"""

from __future__ import annotations

import pytest

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import SEED_LOG as LOG


@pytest.fixture
def client(seed_agent: FakeAgent) -> AgentClient:
    return AgentClient(base_url=seed_agent.url, agent_token='your-agent-token')


def test_usage(seed_agent: FakeAgent, capsys: pytest.CaptureFixture[str]) -> None:
    from synapse_sdk.clients.agent import AgentClient

    client = AgentClient(
        base_url=seed_agent.url,
        agent_token='your-agent-token',
    )
    # Health check
    status = client.health_check()
    print(f'Agent status: {status}')
    # List Ray jobs
    jobs = client.list_jobs()
    # Stream job logs
    for line in client.tail_job_logs('raysubmit_abc123'):
        print(line)

    assert capsys.readouterr().out.splitlines() == [f'Agent status: {status}', *LOG]
    assert isinstance(status, dict) and status
    assert [job['job_id'] for job in jobs] == ['raysubmit_abc123', 'job-id']


def test_unified_method(client: AgentClient, capsys: pytest.CaptureFixture[str]) -> None:
    for line in client.tail_job_logs('job-id', protocol='auto'):
        print(line)

    assert capsys.readouterr().out == 'auto line 1\nauto line 2\n'


def test_stream_limits(client: AgentClient, capsys: pytest.CaptureFixture[str]) -> None:
    from synapse_sdk.utils.network import StreamLimits

    client.stream_limits = StreamLimits(
        max_messages=10_000,  # Max WebSocket messages
        max_lines=50_000,  # Max HTTP lines
        max_bytes=50 * 1024 * 1024,  # 50MB total
        max_message_size=10_240,  # 10KB per message
    )

    limits = client.stream_limits
    assert (limits.max_messages, limits.max_lines, limits.max_bytes, limits.max_message_size) == (
        10_000,
        50_000,
        50 * 1024 * 1024,
        10_240,
    )
    for line in client.tail_job_logs('raysubmit_abc123'):
        print(line)
    assert capsys.readouterr().out.splitlines() == LOG


def test_job_operations(client: AgentClient) -> None:
    # List all jobs
    jobs = client.list_jobs()
    # Get job details
    job = client.get_job('raysubmit_abc123')
    # Get job logs (non-streaming)
    logs = client.get_job_logs('raysubmit_abc123')
    # Stop a running job
    result = client.stop_job('raysubmit_abc123')

    assert 'raysubmit_abc123' in [j['job_id'] for j in jobs]
    assert job['job_id'] == 'raysubmit_abc123' and job['status'] == 'RUNNING'
    assert all(line in logs for line in LOG)
    assert result['status'] == 'STOPPED'
    assert client.get_job('raysubmit_abc123')['status'] == 'STOPPED'


def test_node_operations(client: AgentClient) -> None:
    # List cluster nodes
    nodes = client.list_nodes()
    # Get node details
    node = client.get_node('node-abc123')

    assert isinstance(nodes, list) and nodes
    assert node['node_id'] == 'node-abc123'


def test_task_operations(client: AgentClient) -> None:
    # List all tasks
    tasks = client.list_tasks()
    # Get task details
    task = client.get_task('task-xyz789')

    assert isinstance(tasks, list) and tasks
    assert task['task_id'] == 'task-xyz789'


def test_ray_serve_operations(client: AgentClient, seed_agent: FakeAgent) -> None:
    # List serve applications
    apps = client.list_serve_applications()
    # Get application details
    app = client.get_serve_application('my-app')
    # Delete application
    client.delete_serve_application('my-app')

    assert isinstance(apps, list)
    assert app['name'] == 'my-app'
    assert seed_agent.requests()[-1]['method'] == 'DELETE'
    assert seed_agent.requests()[-1]['path'] == '/serve_applications/my-app/'


@pytest.mark.parametrize(
    ('agent_running', 'printed'),
    [(True, 'Job not found\n'), (False, 'Connection to agent failed\n')],
    ids=['no-such-job', 'agent-down'],
)
def test_error_handling(
    client: AgentClient, seed_agent: FakeAgent, capsys: pytest.CaptureFixture[str], agent_running: bool, printed: str
) -> None:
    if not agent_running:
        seed_agent.stop()

    from synapse_sdk.clients.exceptions import ClientError

    try:
        for line in client.tail_job_logs('invalid-job'):
            print(line)
    except ClientError as e:
        if e.status_code == 400:
            print('Invalid job ID or parameters')
        elif e.status_code == 404:
            print('Job not found')
        elif e.status_code == 503:
            print('Connection to agent failed')
        else:
            print(f'Error: {e}')

    assert capsys.readouterr().out == printed
