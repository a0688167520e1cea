"""Bulk tailing under faults (issue 17, items 1-6; issue 16, defect 2): give back, wake, release, stop.

Real sockets on 127.0.0.1 against the FakeAgent; socket counts from ``/proc/self/fd``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable

import pytest

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.agent._many import DEFAULT_MAX_FOLLOWED
from synapse_agent_rs.clients.exceptions import AuthenticationError, ClientError, ServerError
from synapse_agent_rs.testing import FakeAgent
from synapse_agent_rs.utils.network import StreamLimits
from tests.conftest import TOKEN


def wait_until(condition: Callable[[], bool], what: str, deadline: float = 20.0) -> None:
    """Polls `condition` until true; fails after `deadline` seconds (a bound, not a timing)."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f'gave up waiting for {what}'
        time.sleep(0.01)


def sockets() -> int:
    """Sockets this process holds (client and in-process FakeAgent sides together)."""
    count = 0
    for fd in os.listdir('/proc/self/fd'):
        try:
            count += os.readlink(f'/proc/self/fd/{fd}').startswith('socket:')
        except OSError:
            pass  # closed meanwhile
    return count


def list_calls(agent: FakeAgent) -> int:
    return sum(1 for r in agent.requests() if r['method'] == 'GET' and r['path'].endswith('/jobs/'))


# --- item 1: the shared byte budget ---


def test_remove_gives_back_the_bytes_of_readers_waiting_for_room() -> None:
    with FakeAgent(agent_token=TOKEN) as agent:
        for i in range(10):
            agent.add_job(f'full-{i}', ['x' * 100] * 2000)
        agent.add_job('big', ['y' * 19_000] * 3)
        client = AgentClient(agent.url, TOKEN)
        # Five lines of queue: every reader soon has a full queue and one more batch reserved.
        client.stream_limits = StreamLimits.unlimited(queue_size=5)
        with client.tail_many([f'full-{i}' for i in range(10)], max_buffered_bytes=20_000, keep_open=True) as stream:
            # Each stream holds 5 lines queued and at least one line reserved: 10 x 600 bytes.
            wait_until(lambda: stream.buffered_bytes >= 6_000, 'every reader to wait for room')
            for i in range(10):
                assert stream.remove(f'full-{i}')
            assert stream.jobs == []
            wait_until(lambda: stream.buffered_bytes == 0, 'every byte given back', deadline=5)
            # A line nearly as large as the whole budget still gets through.
            stream.add('big')
            watchdog = threading.Timer(15, stream.close)
            watchdog.start()
            try:
                assert next(iter(stream)) == ('big', 'y' * 19_000)
            finally:
                watchdog.cancel()


# --- item 2: close from another task wakes the parked one ---


@pytest.mark.parametrize('how', ['close', 'aclose'])
async def test_async_close_from_another_task_ends_the_parked_iteration(fake_agent: FakeAgent, how: str) -> None:
    fake_agent.add_job('quiet', ['hello'], fault='silence')
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        for stream in (client.tail_many(['quiet'], keep_open=True), client.follow_jobs(interval=0.05)):
            got: list[object] = []

            async def consume(stream: object = stream, got: list[object] = got) -> None:
                async for item in stream:  # type: ignore[attr-defined]
                    got.append(item)

            task = asyncio.create_task(consume())
            deadline = time.monotonic() + 20
            while not got:
                assert time.monotonic() < deadline, 'the first line never came'
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # parked: nothing more comes
            assert not task.done()
            if how == 'close':
                stream.close()
            else:
                await stream.aclose()
            await asyncio.wait_for(task, 10)
            assert got == [('quiet', 'hello')]


# --- item 3: pooled sockets ---


def test_a_closed_bulk_stream_and_client_hold_no_socket() -> None:
    with FakeAgent(agent_token=TOKEN) as agent:
        jobs = [f'h-{i}' for i in range(200)]
        for job in jobs:
            agent.add_job(job, [f'{job} line'])
        before = sockets()
        client = AgentClient(agent.url, TOKEN)
        stream = client.tail_many(jobs, protocol='http')
        assert sum(1 for _ in stream) == 200
        assert stream.failures == {}
        # Ended streams leave at most the pool's idle cap (client and agent side: twice that).
        wait_until(lambda: sockets() <= before + 40, 'idle pooled sockets to be capped')
        stream.close()
        client.close()
        # The stream object is still referenced: it must not keep the pool alive.
        wait_until(lambda: sockets() <= before, 'every socket to be released')
        assert stream.jobs == []


# --- item 4: nothing after close ---


def test_follow_jobs_sends_no_listing_after_close(fake_agent: FakeAgent) -> None:
    client = AgentClient(fake_agent.url, TOKEN)
    stream = client.follow_jobs(interval=0.5)
    wait_until(lambda: list_calls(fake_agent) >= 1, 'the first listing')
    stream.close()
    after_close = list_calls(fake_agent)
    time.sleep(1.5)  # three intervals: a poll left running would have listed again
    assert list_calls(fake_agent) == after_close


# --- item 5: a cap on followed jobs ---


def test_follow_jobs_caps_the_jobs_it_follows(fake_agent: FakeAgent) -> None:
    assert 1000 <= DEFAULT_MAX_FOLLOWED <= 10_000
    for i in range(12):
        fake_agent.add_job(f'run-{i:02}', [f'line {i}'], fault='silence')
    client = AgentClient(fake_agent.url, TOKEN)
    with client.follow_jobs(interval=0.05, max_followed=5) as stream:
        wait_until(lambda: len(stream.waiting) == 7, 'the jobs over the cap to wait')
        assert len(stream.jobs) == 5
        assert sorted(stream.jobs + stream.waiting) == [f'run-{i:02}' for i in range(12)]
        wait_until(lambda: fake_agent.stream_stats()['open'] == 5, 'five streams')
        time.sleep(0.3)  # several polls: the cap holds
        assert fake_agent.stream_stats()['opened'] == 5
        # A followed job that goes frees its slot for one that waits.
        first = stream.jobs[0]
        stream.remove(first)
        wait_until(lambda: len(stream.waiting) == 6 and len(stream.jobs) == 5, 'a waiting job to start')
        assert first not in stream.jobs and first not in stream.waiting


def test_follow_jobs_cap_is_checked(fake_agent: FakeAgent) -> None:
    client = AgentClient(fake_agent.url, TOKEN)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ClientError) as info:
            client.follow_jobs(max_followed=bad)  # type: ignore[arg-type]
        assert info.value.status_code == 400


# --- item 6: remove drops the rest of the batch ---


def test_remove_drops_the_rest_of_the_batch_being_read(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('a', [f'a {i}' for i in range(5000)])
    fake_agent.add_job('b', ['b'], fault='silence')
    client = AgentClient(fake_agent.url, TOKEN)
    with client.tail_many(['a', 'b'], keep_open=True) as stream:
        wait_until(lambda: stream.buffered_bytes > 5000, "a's queue to fill")
        it = iter(stream)
        first = next(it)
        while first[0] != 'a':
            first = next(it)
        assert first == ('a', 'a 0')
        assert stream.remove('a')
        threading.Timer(1.0, stream.close).start()
        assert [job for job, _ in it if job == 'a'] == []


# --- issue 16, defect 2: poll failures in .events() ---


def test_events_yield_poll_failures_once_per_change(fake_agent: FakeAgent) -> None:
    fake_agent.set_response('GET', 'jobs/', 500, {'detail': 'agent is sick'})
    client = AgentClient(fake_agent.url, TOKEN)
    with client.follow_jobs(interval=0.05) as stream:
        events = stream.events()
        job, error = next(events)
        assert job is None and isinstance(error, ServerError) and error.status_code == 500
        calls = list_calls(fake_agent)
        # Many failed polls later, with backoff (no busy loop), still nothing new to report.
        wait_until(lambda: list_calls(fake_agent) >= calls + 3, 'polling to go on')
        assert list_calls(fake_agent) < calls + 200
        fake_agent.set_response('GET', 'jobs/', 401, {'detail': 'bad token'})
        job, error = next(events)
        assert job is None and isinstance(error, AuthenticationError) and error.status_code == 401
        assert stream.poll_error is not None and stream.poll_error.status_code == 401
        fake_agent.set_response('GET', 'jobs/', 200, [{'job_id': 'x', 'status': 'SUCCEEDED'}])
        assert next(events) == (None, None)  # the listing works again
        assert stream.poll_error is None
        assert stream.ended == {}


async def test_async_events_yield_poll_failures(fake_agent: FakeAgent) -> None:
    fake_agent.set_response('GET', 'jobs/', 403, {'detail': 'forbidden'})
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        async with client.follow_jobs(interval=0.05) as stream:
            async for job, item in stream.events():
                assert job is None and isinstance(item, ClientError) and item.status_code == 403
                break


def test_failed_polls_back_off(fake_agent: FakeAgent) -> None:
    fake_agent.set_response('GET', 'jobs/', 500, {'detail': 'agent is sick'})
    client = AgentClient(fake_agent.url, TOKEN)
    with client.follow_jobs(interval=0.05):
        time.sleep(2.0)
    # 40 polls at a steady interval; backing off from 0.05 s doubles: 0.05+0.1+0.2+0.4+0.8 > 1.5 s.
    assert 2 <= list_calls(fake_agent) <= 8
