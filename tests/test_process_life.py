"""Concurrency and process life (issue 11): one client shared by 64 threads; fork() with a
stream open; Ctrl-C while blocked in iteration; interpreter exit with streams open."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN
from tests.hostile import RawServer, accept_websocket, chunk, http_head, is_websocket, read_request, text_frame


def test_64_threads_share_one_client(fake_agent: FakeAgent) -> None:
    lines = [f'line {i} of a shared client' for i in range(300)]
    for j in range(8):
        fake_agent.add_job(f'job-{j}', lines)
    client = AgentClient(fake_agent.url, TOKEN)

    def work(i: int) -> int:
        job = f'job-{i % 8}'
        assert client.get_job(job)['job_id'] == job
        got = list(client.tail_job_logs(job, protocol=('auto', 'websocket', 'http')[i % 3]))
        assert got == lines
        assert client.health_check() == {'status': 'healthy'}
        with client.tail_job_logs(job) as stream:  # left early: closed at once
            assert next(stream) == lines[0]
        return len(got)

    with ThreadPoolExecutor(64) as pool:
        assert list(pool.map(work, range(64))) == [300] * 64
    deadline = time.monotonic() + 10
    while fake_agent.stream_stats()['open'] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake_agent.stream_stats()['open'] == 0  # every connection closed


def test_fork_with_a_stream_open_then_both_stream(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job-1', ['a', 'b', 'c'])
    fake_agent.add_job('slow', [f's{i}' for i in range(50)], pace=200.0)
    client = AgentClient(fake_agent.url, TOKEN)
    assert list(client.tail_job_logs('job-1')) == ['a', 'b', 'c']
    open_stream = client.tail_job_logs('slow', protocol='http')
    assert next(open_stream) == 's0'  # mid-stream at the fork
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)  # fork() with threads running warns on 3.12+
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            ok = list(client.tail_job_logs('job-1', protocol='http')) == ['a', 'b', 'c']
            ok = ok and list(client.tail_job_logs('job-1', protocol='websocket')) == ['a', 'b', 'c']
            ok = ok and client.get_job('job-1')['job_id'] == 'job-1'
            code = 0 if ok else 1
        finally:
            os._exit(code)
    # The parent's open stream goes on, and new ones work, while the child streams too.
    assert list(open_stream) == [f's{i}' for i in range(1, 50)]
    assert list(client.tail_job_logs('job-1')) == ['a', 'b', 'c']
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def one_line_then_hold(conn: socket.socket) -> None:
    """Streams one line on either protocol, then stays silent until the client leaves."""
    headers = read_request(conn)
    if is_websocket(headers):
        accept_websocket(conn, headers)
        conn.sendall(text_frame('first'))
    else:
        conn.sendall(http_head() + chunk(b'first\n'))
    conn.settimeout(60)
    while conn.recv(4096):
        pass


BLOCKED_CHILD = """
import sys, time
from synapse_agent_rs.clients.agent import AgentClient
stream = AgentClient(sys.argv[1], 'tok').tail_job_logs('j1', timeout=60, protocol=sys.argv[2])
for line in stream:
    print('ready', flush=True)
    try:
        for more in stream:
            pass
    except KeyboardInterrupt:
        print('interrupted', time.monotonic(), flush=True)
        time.sleep(10)  # `stream` is still referenced: its socket must be closed already
        break
"""


def test_sigint_while_blocked_in_iteration_interrupts_within_200ms_and_closes() -> None:
    delays = []
    for protocol in ('websocket', 'http', 'auto'):
        with (
            RawServer(one_line_then_hold) as server,
            subprocess.Popen(
                [sys.executable, '-c', BLOCKED_CHILD, server.url, protocol], stdout=subprocess.PIPE, text=True
            ) as child,
        ):
            assert child.stdout is not None
            assert child.stdout.readline().strip() == 'ready'
            time.sleep(0.3)  # blocked in next() by now
            sent = time.monotonic()
            child.send_signal(signal.SIGINT)
            word, at = child.stdout.readline().split()
            assert word == 'interrupted'
            delays.append(float(at) - sent)
            # The socket is closed by the interrupted stream, while the process still runs.
            assert server.wait_closed(len(server.connections) - 1, within=5)
            assert child.poll() is None
            child.kill()
    assert sorted(delays)[1] < 0.2, delays  # the median of three; each waits at most one 100 ms slice
    assert max(delays) < 2, delays


EXIT_CHILD = """
import asyncio, sys
from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
url = sys.argv[1]
client = AgentClient(url, 'tok')
streams = [client.tail_job_logs('j1', timeout=60, protocol=p) for p in ('websocket', 'http', 'auto')]
assert [next(s) for s in streams] == ['first'] * 3
never_started = client.tail_job_logs('j1', timeout=60)

async def main():
    stream = AsyncAgentClient(url, 'tok').tail_job_logs('j1', timeout=60)
    assert await stream.__anext__() == 'first'
    return stream

kept = asyncio.run(main())
print('exiting', flush=True)
"""


def test_interpreter_exit_with_open_streams_neither_hangs_nor_crashes() -> None:
    with RawServer(one_line_then_hold) as server:
        done = subprocess.run(
            [sys.executable, '-c', EXIT_CHILD, server.url], capture_output=True, text=True, timeout=60, check=False
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'exiting'
    assert 'panicked' not in done.stderr and 'Fatal Python error' not in done.stderr, done.stderr
