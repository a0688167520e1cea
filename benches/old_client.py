"""Rows of the older pure-Python client (``synapse-sdk==2026.2.17`` from PyPI, in ``benches/.venv-old``).

Its ``StreamLimits`` fields cannot be ``None``: the count and byte limits are lifted with a huge
number instead, and ``max_message_size`` keeps its default (10,240) in every row.
"""

from __future__ import annotations

import time

import loops
import wire
from measure import Meter, Unavailable

try:
    from synapse_sdk.clients.agent import AgentClient, AsyncAgentClient
    from synapse_sdk.utils.network import StreamLimits
except ImportError as e:
    raise Unavailable(f'the older client is not installed here ({e}); run `make bench-setup`') from e

HUGE = 1 << 62
LIFTED = StreamLimits(max_messages=HUGE, max_lines=HUGE, max_bytes=HUGE)
TIMEOUT = 30.0


def _client(job: wire.Job) -> AgentClient:
    client = AgentClient(job.url, wire.TOKEN)
    client.stream_limits = LIFTED
    return client


def sync_lines(job: wire.Job, meter: Meter) -> int:
    client = _client(job)
    count = 0
    with meter:
        for _line in client.tail_job_logs(job.job_id, TIMEOUT, protocol=job.protocol):
            count += 1
    return count


def sync_lines_paced(job: wire.Job, meter: Meter) -> int:
    """The memory row: 1 ms of sleep every 1,000 lines."""
    client = _client(job)
    count = 0
    with meter:
        for _line in client.tail_job_logs(job.job_id, TIMEOUT, protocol=job.protocol):
            count += 1
            if count % wire.PACE_LINES == 0:
                time.sleep(wire.PACE_SECONDS)
    return count


def async_lines(job: wire.Job, meter: Meter) -> int:
    """Its async tail, which raises ``AttributeError`` as shipped (reported as unavailable)."""

    async def main() -> int:
        client = AsyncAgentClient(job.url, wire.TOKEN)
        client.stream_limits = LIFTED
        count = 0
        with meter:
            async for _line in client.tail_job_logs(job.job_id, TIMEOUT, protocol=job.protocol):
                count += 1
        return count

    try:
        return loops.run(main())
    except AttributeError as e:
        raise Unavailable(f'raises AttributeError as shipped: {e}') from e
