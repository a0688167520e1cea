"""Where the examples find an agent and their jobs.

With ``SYNAPSE_AGENT_URL`` and ``SYNAPSE_AGENT_TOKEN`` set, a real agent: the examples tail
the job ids given on their command line, or else every job the agent lists (``list_jobs``).
Otherwise a FakeAgent on 127.0.0.1 serving the jobs the example asks for.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.testing import FakeAgent


@contextlib.contextmanager
def agent(jobs: dict[str, list[str]], *, given: bool) -> Iterator[tuple[str, str, list[str]]]:
    """``(url, token, job_ids)`` of the agent to use.

    Args:
        jobs: what a FakeAgent serves: each job id and its log lines.
        given: whether the job ids of `jobs` came from the command line (a real agent then
            tails those; otherwise every job it lists).
    """
    url = os.environ.get('SYNAPSE_AGENT_URL')
    if url:
        token = os.environ.get('SYNAPSE_AGENT_TOKEN', '')
        if given:
            yield url, token, list(jobs)
        else:
            with AgentClient(url, token) as client:
                listed = [job.get('submission_id') or job['job_id'] for job in client.list_jobs()]
            yield url, token, listed
        return
    with FakeAgent('example-token') as fake:
        for job_id, lines in jobs.items():
            fake.add_job(job_id, lines)
        yield fake.url, 'example-token', list(jobs)
