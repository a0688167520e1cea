"""The async examples of the user documentation (``seed/agent-client.txt``), run as written against FakeAgent.

Each example is copied unchanged except for the agent's URL (``base_url``); ``agent_token`` is
the documented ``"your-agent-token"``, which the fake agent accepts.
"""

from __future__ import annotations

import pytest

from synapse_agent_rs.testing import FakeAgent
from tests.conftest import SEED_LOG as LOG


async def test_usage_with_context_manager(seed_agent: FakeAgent, capsys: pytest.CaptureFixture[str]) -> None:
    from synapse_sdk.clients.agent import AsyncAgentClient

    async with AsyncAgentClient(base_url=seed_agent.url, agent_token='your-agent-token') as client:
        # Health check
        status = await client.health_check()

        # List Ray jobs
        jobs = await client.list_jobs()

        # Stream job logs asynchronously
        async for line in client.tail_job_logs('raysubmit_abc123'):
            print(line)

    assert status == {'status': 'healthy'}
    assert [job['job_id'] for job in jobs] == ['raysubmit_abc123', 'job-id']
    assert capsys.readouterr().out.splitlines() == LOG


async def test_usage_without_context_manager(seed_agent: FakeAgent) -> None:
    from synapse_sdk.clients.agent import AsyncAgentClient

    base_url, agent_token = seed_agent.url, 'your-agent-token'
    client = AsyncAgentClient(base_url, agent_token)
    try:
        jobs = await client.list_jobs()
    finally:
        await client.close()

    assert [job['job_id'] for job in jobs] == ['raysubmit_abc123', 'job-id']


async def test_unified_method_async(seed_agent: FakeAgent, capsys: pytest.CaptureFixture[str]) -> None:
    from synapse_sdk.clients.agent import AsyncAgentClient

    client = AsyncAgentClient(seed_agent.url, 'your-agent-token')
    # Async
    async for line in client.tail_job_logs('job-id', protocol='auto'):
        print(line)

    assert capsys.readouterr().out == 'auto line 1\nauto line 2\n'


async def test_async_error_handling(seed_agent: FakeAgent, capsys: pytest.CaptureFixture[str]) -> None:
    from synapse_sdk.clients.agent import AsyncAgentClient
    from synapse_sdk.clients.exceptions import ClientError

    client = AsyncAgentClient(seed_agent.url, 'your-agent-token')
    for job in ('invalid-job', 'bad id!'):
        try:
            async for line in client.tail_job_logs(job):
                print(line)
        except ClientError as e:
            if e.status_code == 400:
                print('Invalid job ID or parameters')
            elif e.status_code == 404:
                print('Job not found')

    assert capsys.readouterr().out == 'Job not found\nInvalid job ID or parameters\n'
