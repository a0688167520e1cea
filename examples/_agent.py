"""Where the examples find an agent: ``SYNAPSE_AGENT_URL`` and ``SYNAPSE_AGENT_TOKEN`` for a real
one, otherwise a FakeAgent on 127.0.0.1 with the jobs the example asks for."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from synapse_agent_rs.testing import FakeAgent


@contextlib.contextmanager
def agent(jobs: dict[str, list[str]]) -> Iterator[tuple[str, str]]:
    """``(url, token)`` of the agent to use; the fake one serves ``jobs``."""
    url = os.environ.get('SYNAPSE_AGENT_URL')
    if url:
        yield url, os.environ['SYNAPSE_AGENT_TOKEN']
        return
    with FakeAgent('example-token') as fake:
        for job_id, lines in jobs.items():
            fake.add_job(job_id, lines)
        yield fake.url, 'example-token'
