"""Checked by mypy (``make lint-python``), never run: the README's and the docs' patterns are typed.

``mypy --strict`` warns about unused ``type: ignore`` comments, so the lines ending in
``# type: ignore[arg-type]`` prove that a mistake *is* an error for type checkers.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from synapse_agent_rs import AgentClient, AsyncAgentClient, ClientError, StreamLimits
from synapse_agent_rs._core import AsyncManyStream, ManyStream
from synapse_agent_rs.streams import AsyncLineStream, LineStream


def first_stream() -> None:
    client = AgentClient(base_url='https://agent.example.com', agent_token='your-agent-token')
    assert_type(client.health_check(), dict[str, Any])
    stream = client.tail_job_logs('raysubmit_abc123', protocol='websocket')
    assert_type(stream, LineStream)
    for line in stream:
        assert_type(line, str)
    for batch in client.tail_job_logs('raysubmit_abc123').batches():
        assert_type(batch, list[str])
    client.tail_job_logs('raysubmit_abc123', protocol='carrier-pigeon')  # type: ignore[arg-type]
    try:
        pass
    except ClientError as e:
        assert_type(e.status_code, int | None)


async def first_async_stream() -> None:
    async with AsyncAgentClient(base_url='https://agent.example.com', agent_token='your-agent-token') as client:
        assert_type(client, AsyncAgentClient)
        stream = client.tail_job_logs('raysubmit_abc123')
        assert_type(stream, AsyncLineStream)
        async for line in stream:
            assert_type(line, str)


def many_jobs(client: AgentClient) -> None:
    with client.tail_many(['raysubmit_abc123'], stream_limits=StreamLimits(max_messages=2)) as logs:
        assert_type(logs, ManyStream)
        for job_id, line in logs:
            assert_type(job_id, str)
            assert_type(line, str)
        for _job_id, batch in logs.batches():
            assert_type(batch, list[str])
    with client.follow_jobs(interval=2.0) as running:
        for _listed, item in running.events():
            assert_type(item, list[str] | ClientError | None)
    client.tail_many(['raysubmit_abc123'], protocol='smoke')  # type: ignore[arg-type]


async def many_jobs_async(client: AsyncAgentClient) -> None:
    async with client.tail_many(['raysubmit_abc123']) as logs:
        assert_type(logs, AsyncManyStream)
        async for _job_id, line in logs:
            assert_type(line, str)
        async for job_id, item in logs.events():
            assert_type(job_id, str | None)  # None: the job listing of follow_jobs
            assert_type(item, list[str] | ClientError | None)
        async for _job_id, batch in logs.batches():
            assert_type(batch, list[str])
    assert_type(logs.failures, dict[str, ClientError])
