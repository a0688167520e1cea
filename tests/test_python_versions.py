"""`async for` on every CPython the wheel supports: 3.10 and 3.11 await each line through the
step's `am_send`, 3.12+ through its `__next__`, so both paths are run, each in its own interpreter.

The built extension is abi3, so the source tree imports under any of them (`PYTHONPATH=python`).
Interpreters are found as ``python3.X`` on PATH or in pyenv; a missing one fails the test.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import synapse_agent_rs

VERSIONS = ('3.10', '3.11', '3.12', '3.13')

SCRIPT = r"""
import asyncio, gc, sys
from synapse_agent_rs.clients.agent import AsyncAgentClient
from synapse_agent_rs.testing import FakeAgent

LINES = [f'line {i}' for i in range(5000)]

async def main():
    with FakeAgent(agent_token=None) as agent:
        agent.add_job('job', LINES)
        agent.add_job('quiet', ['first'], fault='silence')
        async with AsyncAgentClient(agent.url, 'token') as client:
            assert [line async for line in client.tail_job_logs('job')] == LINES
            got = []
            async for batch in client.tail_job_logs('job').batches():
                got.extend(batch)
            assert got == LINES
            assert await anext(client.tail_job_logs('job')) == 'line 0'
            # asyncio's own wrapping of an awaitable (a generator's `yield from` before 3.12).
            stream = client.tail_job_logs('quiet')
            assert await asyncio.wait_for(stream.__anext__(), 5) == 'first'
            try:
                await asyncio.wait_for(stream.__anext__(), 0.05)
                raise AssertionError('a silent stream gave a line')
            except asyncio.TimeoutError:
                pass
            await stream.aclose()
            # A cancelled consumer frees its stream at once, with no garbage collection.
            gc.disable()
            started = asyncio.Event()
            async def consume():
                async for _ in client.tail_job_logs('quiet'):
                    started.set()
            task = asyncio.create_task(consume())
            await asyncio.wait_for(started.wait(), 5)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            del task
            for _ in range(100):
                if agent.stream_stats()['open'] == 0:
                    break
                await asyncio.sleep(0.01)
            assert agent.stream_stats()['open'] == 0, agent.stream_stats()
    print('ok', sys.version_info[:2])

asyncio.run(main())
"""


def interpreter(version: str) -> str:
    if sys.version_info[:2] == tuple(int(part) for part in version.split('.')):
        return sys.executable
    found = shutil.which(f'python{version}')
    pyenv_root = os.environ.get('PYENV_ROOT', os.path.expanduser('~/.pyenv'))
    candidates = sorted(glob.glob(f'{pyenv_root}/versions/{version}.*/bin/python'), reverse=True)
    for path in ([found] if found else []) + candidates:
        probe = subprocess.run([path, '-c', 'import sys; print(sys.version_info[:2])'], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == str(tuple(int(p) for p in version.split('.'))):
            return path
    pytest.fail(f'CPython {version} not found: put python{version} on PATH or `pyenv install {version}`')


@pytest.mark.parametrize('version', VERSIONS)
def test_async_iteration_on_each_supported_python(version: str) -> None:
    source_root = Path(synapse_agent_rs.__file__).resolve().parent.parent
    env = {**os.environ, 'PYTHONPATH': str(source_root)}
    done = subprocess.run([interpreter(version), '-c', SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.strip() == f'ok {tuple(int(p) for p in version.split("."))}'
