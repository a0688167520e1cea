"""The shared runtime after ``fork()``: a child (gunicorn, celery workers) gets a fresh one."""

from __future__ import annotations

import os
import warnings

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN


def test_a_forked_child_streams_and_calls_on_its_own_runtime(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job-1', ['a', 'b', 'c'])
    client = AgentClient(fake_agent.url, TOKEN)
    assert list(client.tail_job_logs('job-1')) == ['a', 'b', 'c']  # the parent's runtime is running
    assert list(client.tail_job_logs('job-1', protocol='http')) == ['a', 'b', 'c']  # pools a connection
    assert client.get_job('job-1')['job_id'] == 'job-1'  # and another

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)  # fork() with threads running warns on 3.12+
        pid = os.fork()
    if pid == 0:  # the child: the fake agent's server still runs in the parent, not here
        code = 1
        try:
            child = AgentClient(fake_agent.url, TOKEN)
            ok = list(child.tail_job_logs('job-1', protocol='http')) == ['a', 'b', 'c']
            ok = ok and list(client.tail_job_logs('job-1')) == ['a', 'b', 'c']
            ok = ok and child.get_job('job-1')['job_id'] == 'job-1'
            # The parent's client: its pooled connections belong to the parent's runtime.
            ok = ok and client.get_job('job-1')['job_id'] == 'job-1'
            ok = ok and list(client.tail_job_logs('job-1', protocol='http')) == ['a', 'b', 'c']
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert list(client.tail_job_logs('job-1', protocol='http')) == ['a', 'b', 'c']
