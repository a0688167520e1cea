"""Issue 16, defect 1: our own bulk APIs give whole logs by default; the drop-in keeps the SDK's limits.

``tail_job_logs`` is the SDK's API: code written for the SDK expects its per-stream defaults
(10,000 WebSocket messages, 50,000 HTTP lines, 50 MiB), so it keeps them. ``tail_many`` and
``follow_jobs`` are ours: they count nothing unless ``stream_limits`` says so, and bound memory
only (queue, message size, the shared byte budget).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.exceptions import StreamLimitExceededError, ValidationError
from synapse_agent_rs.testing import FakeAgent
from synapse_agent_rs.utils.network import StreamLimits
from tests.conftest import TOKEN

LINES = 60_000  # over max_messages (10,000, WebSocket) and max_lines (50,000, HTTP)


@pytest.mark.parametrize('protocol', ['websocket', 'http'])
def test_tail_many_gives_the_whole_log_by_default(fake_agent: FakeAgent, protocol: str) -> None:
    fake_agent.add_job('big', firehose=LINES)
    client = AgentClient(fake_agent.url, TOKEN)
    with client.tail_many(['big'], protocol=protocol) as stream:  # type: ignore[arg-type]
        count = sum(len(batch) for _, batch in stream.batches())
    assert count == LINES and stream.failures == {} and stream.ended == {'big': None}


def test_tail_job_logs_keeps_the_sdk_defaults(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('big', firehose=LINES)
    client = AgentClient(fake_agent.url, TOKEN)
    count = 0
    with pytest.raises(StreamLimitExceededError) as failed:
        for batch in client.tail_job_logs('big', protocol='websocket').batches():
            count += len(batch)
    assert count == 10_000 and failed.value.status_code == 429 and 'max_messages' in failed.value.limit


def test_tail_many_limits_when_asked(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('big', firehose=LINES)
    client = AgentClient(fake_agent.url, TOKEN)
    with client.tail_many(['big'], stream_limits=StreamLimits(max_messages=100)) as stream:
        count = sum(1 for _ in stream)
    assert count == 100 and isinstance(stream.failures['big'], StreamLimitExceededError)
    with pytest.raises(ValidationError, match='stream_limits must be a StreamLimits'):
        client.tail_many(['big'], stream_limits={'max_lines': 5})  # type: ignore[arg-type]


def test_tail_many_keeps_the_clients_memory_bounds(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('wide', ['x' * 50, 'y' * 5, 'z' * 60])
    client = AgentClient(fake_agent.url, TOKEN)
    client.stream_limits = StreamLimits(max_messages=1, max_message_size=45)  # the count is not applied
    with client.tail_many(['wide']) as stream:
        assert list(stream) == [('wide', 'y' * 5)]
    assert stream.failures == {}


def test_follow_jobs_gives_the_whole_log_by_default(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('big', firehose=LINES)

    async def follow() -> int:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
            async with client.follow_jobs(interval=0.05) as stream:
                count = 0
                deadline = time.monotonic() + 60
                async for job, item in stream.events():
                    assert job == 'big' and not isinstance(item, BaseException), item
                    if item is None:
                        return count
                    count += len(item)
                    assert time.monotonic() < deadline
        return -1

    assert asyncio.run(follow()) == LINES
