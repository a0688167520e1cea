"""The size of the shared tokio runtime: ``SYNAPSE_AGENT_RS_WORKER_THREADS`` (docs/defaults.md)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COUNT_WORKERS = """
import os
import time
from synapse_agent_rs.testing import FakeAgent


def names():
    found = []
    for task in os.listdir('/proc/self/task'):
        with open(f'/proc/self/task/{task}/comm') as f:
            found.append(f.read().strip())
    return found


with open('/proc/self/comm') as f:
    main = f.read().strip()
with FakeAgent(None):  # starts the runtime, and its workers with it
    # A thread names itself once it runs: wait until every thread but this one has its name.
    deadline = time.monotonic() + 30
    while names().count(main) > 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    print(names().count('synapse-io'))
"""


def workers(value: str | None) -> tuple[int, str]:
    """The runtime's worker threads in a fresh process with the variable set to `value`, and its stderr."""
    env = {k: v for k, v in os.environ.items() if k != 'SYNAPSE_AGENT_RS_WORKER_THREADS'}
    if value is not None:
        env['SYNAPSE_AGENT_RS_WORKER_THREADS'] = value
    done = subprocess.run(
        [sys.executable, '-c', COUNT_WORKERS], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return int(done.stdout), done.stderr


DEFAULT = min(max(len(os.sched_getaffinity(0)), 2), 8) if hasattr(os, 'sched_getaffinity') else 2


@pytest.mark.skipif(not os.path.isdir('/proc/self/task'), reason='counts threads through /proc (Linux)')
def test_worker_threads_come_from_the_environment() -> None:
    assert workers(None) == (DEFAULT, '')
    assert workers('1') == (1, '')
    assert workers(' 3 ') == (3, '')


@pytest.mark.skipif(not os.path.isdir('/proc/self/task'), reason='counts threads through /proc (Linux)')
@pytest.mark.parametrize('value', ['0', 'four', '-2', '1025', ''])
def test_a_bad_worker_threads_value_is_one_warning_and_the_default(value: str) -> None:
    count, err = workers(value)
    assert count == DEFAULT
    assert err == (
        f'synapse-agent-rs: warning: SYNAPSE_AGENT_RS_WORKER_THREADS="{value}" is not a whole number '
        f'from 1 to 1024; using the default, {DEFAULT} worker threads\n'
    )
