"""Tail many jobs at once with the asyncio client: one task per job, all on one event loop.

python examples/async_many_jobs.py [JOB_ID ...]

Without job ids: every job the agent lists (a FakeAgent: 50 jobs of 100 lines).
"""

from __future__ import annotations

import asyncio
import sys

from _agent import agent

from synapse_agent_rs.clients.agent import AsyncAgentClient


async def tail(client: AsyncAgentClient, job_id: str) -> int:
    """Lines of one job; `async with` closes the stream even if this task is cancelled."""
    async with client.tail_job_logs(job_id) as stream:
        return sum([1 async for _ in stream])


async def main(given: list[str]) -> None:
    names = given or [f'job-{i}' for i in range(50)]
    jobs = {job_id: [f'{job_id} line {j}' for j in range(100)] for job_id in names}
    with agent(jobs, given=bool(given)) as (url, token, job_ids):
        async with AsyncAgentClient(url, token) as client:
            # REST methods are coroutines: create_task, gather and TaskGroup take them.
            health = asyncio.create_task(client.health_check())
            counts = await asyncio.gather(*(tail(client, job_id) for job_id in job_ids))
            print(f'agent: {await health}')
    print(f'{len(counts)} jobs, {sum(counts)} lines')


if __name__ == '__main__':
    asyncio.run(main(sys.argv[1:]))
