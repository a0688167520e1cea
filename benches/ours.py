"""Rows of our client: sync and async, per line and ``.batches()``, over WebSocket and HTTP.

Every row runs at the default ``StreamLimits`` users get (``max_message_size=10_240``,
``queue_size=1_000``). Throughput and memory rows lift only the count and byte limits
(``max_messages``, ``max_lines``, ``max_bytes`` set to ``None``) so that a million lines or
1 GiB can flow; the scale rows (1,000 lines per stream) keep every default.
"""

from __future__ import annotations

import asyncio
import time

import loops
import wire
from measure import Meter

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.utils.network import StreamLimits

DEFAULTS_LIFTED = StreamLimits(max_messages=None, max_lines=None, max_bytes=None)
TIMEOUT = 30.0


def _sync_client(job: wire.Job, limits: StreamLimits) -> AgentClient:
    client = AgentClient(job.url, wire.TOKEN)
    client.stream_limits = limits
    return client


def _async_client(job: wire.Job, limits: StreamLimits) -> AsyncAgentClient:
    client = AsyncAgentClient(job.url, wire.TOKEN)
    client.stream_limits = limits
    return client


def sync_lines(job: wire.Job, meter: Meter) -> int:
    client = _sync_client(job, DEFAULTS_LIFTED)
    count = 0
    with meter:
        for _line in client.tail_job_logs(job.job_id, TIMEOUT, protocol=job.protocol):
            count += 1
    return count


def sync_batches(job: wire.Job, meter: Meter) -> int:
    client = _sync_client(job, DEFAULTS_LIFTED)
    count = 0
    with meter:
        for batch in client.tail_job_logs(job.job_id, TIMEOUT, protocol=job.protocol).batches():
            count += len(batch)
    return count


def async_lines(job: wire.Job, meter: Meter) -> int:
    async def main() -> int:
        async with _async_client(job, DEFAULTS_LIFTED) as client:
            count = 0
            with meter:
                async for _line in client.tail_job_logs(job.job_id, TIMEOUT, protocol=job.protocol):
                    count += 1
            return count

    return loops.run(main())


def async_batches(job: wire.Job, meter: Meter) -> int:
    async def main() -> int:
        async with _async_client(job, DEFAULTS_LIFTED) as client:
            count = 0
            with meter:
                async for batch in client.tail_job_logs(job.job_id, TIMEOUT, protocol=job.protocol).batches():
                    count += len(batch)
            return count

    return loops.run(main())


def sync_lines_paced(job: wire.Job, meter: Meter) -> int:
    """The memory row: a slow consumer (1 ms of sleep every 1,000 lines)."""
    client = _sync_client(job, DEFAULTS_LIFTED)
    count = 0
    with meter:
        for _line in client.tail_job_logs(job.job_id, TIMEOUT, protocol=job.protocol):
            count += 1
            if count % wire.PACE_LINES == 0:
                time.sleep(wire.PACE_SECONDS)
    return count


def async_lines_paced(job: wire.Job, meter: Meter) -> int:
    """The memory row, async."""

    async def main() -> int:
        async with _async_client(job, DEFAULTS_LIFTED) as client:
            count = 0
            with meter:
                async for _line in client.tail_job_logs(job.job_id, TIMEOUT, protocol=job.protocol):
                    count += 1
                    if count % wire.PACE_LINES == 0:
                        await asyncio.sleep(wire.PACE_SECONDS)
            return count

    return loops.run(main())


async def _scale(job: wire.Job, meter: Meter, batches: bool) -> int:
    """``job.streams`` concurrent streams; records when the last one saw its first line."""
    first_seen: list[float] = []

    async def one(client: AsyncAgentClient) -> int:
        stream = client.tail_job_logs(job.job_id, TIMEOUT, protocol=job.protocol)
        count = 0
        if batches:
            async for batch in stream.batches():
                if not count:
                    first_seen.append(meter.elapsed())
                count += len(batch)
        else:
            async for _line in stream:
                if not count:
                    first_seen.append(meter.elapsed())
                count += 1
        return count

    async with _async_client(job, StreamLimits()) as client:
        with meter:
            counts = await asyncio.gather(*(one(client) for _ in range(job.streams)))
    meter.sample.extra['last_first_line_s'] = max(first_seen, default=float('nan'))
    return sum(counts)


def scale_lines(job: wire.Job, meter: Meter) -> int:
    return loops.run(_scale(job, meter, batches=False))


def scale_batches(job: wire.Job, meter: Meter) -> int:
    return loops.run(_scale(job, meter, batches=True))
