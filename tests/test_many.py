"""Bulk tailing: ``tail_many`` and ``follow_jobs`` on both clients, against the FakeAgent."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.exceptions import (
    ClientConnectionError,
    ClientError,
    NotFoundError,
    ServerError,
    StreamLimitExceededError,
    ValidationError,
)
from synapse_agent_rs.testing import FakeAgent
from synapse_agent_rs.utils.network import StreamLimits
from tests.conftest import TOKEN


def log_of(job: str, n: int) -> list[str]:
    return [f'{job} line {i}' for i in range(n)]


def wait_until(condition: Callable[[], bool], what: str, deadline: float = 20.0) -> None:
    """Polls `condition` until true; fails after `deadline` seconds (a bound, not a timing)."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f'gave up waiting for {what}'
        time.sleep(0.01)


def stream_requests(agent: FakeAgent) -> list[str]:
    return [r['path'] for r in agent.requests() if r['path'].endswith(('/logs/', '/logs/stream/'))]


@pytest.mark.parametrize('protocol', ['websocket', 'http', 'auto'])
def test_every_line_of_every_job_in_order(fake_agent: FakeAgent, protocol: str) -> None:
    jobs = {f'job-{i}': log_of(f'job-{i}', 50 + i) for i in range(40)}
    for job, lines in jobs.items():
        fake_agent.add_job(job, lines)
    client = AgentClient(fake_agent.url, TOKEN)
    got: dict[str, list[str]] = defaultdict(list)
    with client.tail_many(jobs, protocol=protocol) as stream:
        for job, line in stream:
            got[job].append(line)
        assert stream.ended == dict.fromkeys(jobs)
        assert stream.failures == {}
        assert stream.jobs == []
    assert got == jobs


def test_batches_and_events_views(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('a', log_of('a', 300))
    fake_agent.add_job('b', log_of('b', 3), fault='error', error_message='boom')
    client = AgentClient(fake_agent.url, TOKEN)
    got: dict[str, list[str]] = defaultdict(list)
    for job, batch in client.tail_many(['a']).batches():
        assert isinstance(batch, list) and batch
        got[job].extend(batch)
    assert got == {'a': log_of('a', 300)}

    got.clear()
    ends: dict[str, Any] = {}
    for job, item in client.tail_many(['a', 'b']).events():
        assert job not in ends, 'nothing comes after a job has ended'
        if isinstance(item, list):
            got[job].extend(item)
        else:
            ends[job] = item
    assert got == {'a': log_of('a', 300), 'b': log_of('b', 3)}
    assert ends['a'] is None
    assert isinstance(ends['b'], ServerError) and ends['b'].status_code == 500 and 'boom' in str(ends['b'])


def test_one_failure_never_stops_the_others(fake_agent: FakeAgent) -> None:
    healthy = {f'ok-{i}': log_of(f'ok-{i}', 10) for i in range(10)}
    for job, lines in healthy.items():
        fake_agent.add_job(job, lines)
    fake_agent.add_job('errors', ['e1'], fault='error', error_message='job exploded')
    fake_agent.add_job('drops', ['d1', 'd2'], fault='drop')
    fake_agent.add_job('floods', log_of('floods', 50))
    client = AgentClient(fake_agent.url, TOKEN)
    limits = StreamLimits(max_messages=10, max_lines=10)
    got: dict[str, list[str]] = defaultdict(list)
    jobs = [*healthy, 'errors', 'drops', 'floods', 'missing']
    # resume=False: the drop must end its job (with resume, the job resumes until its policy gives up).
    stream = client.tail_many(jobs, protocol='websocket', stream_limits=limits, resume=False)
    limits.max_messages = None  # the streams keep the limits they started with
    for job, line in stream:
        got[job].append(line)
    failures = stream.failures
    assert set(failures) == {'errors', 'drops', 'floods', 'missing'}
    assert all(isinstance(e, ClientError) for e in failures.values())
    assert isinstance(failures['errors'], ServerError) and 'job exploded' in str(failures['errors'])
    assert isinstance(failures['drops'], ClientConnectionError) and failures['drops'].status_code == 503
    assert isinstance(failures['floods'], StreamLimitExceededError) and failures['floods'].status_code == 429
    assert isinstance(failures['missing'], NotFoundError) and failures['missing'].status_code == 404
    assert all(e.job_id == job for job, e in failures.items())
    for job, lines in healthy.items():
        assert got[job] == lines and stream.ended[job] is None
    # Lines received before a failure are delivered.
    assert got['errors'] == ['e1'] and got['drops'] == ['d1', 'd2'] and got['floods'] == log_of('floods', 10)


def test_add_and_remove_while_running(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('quiet', ['hello'], fault='silence')
    fake_agent.add_job('late', log_of('late', 100))
    client = AgentClient(fake_agent.url, TOKEN)
    got: dict[str, list[str]] = defaultdict(list)
    with client.tail_many(['quiet']) as stream:
        assert stream.add('quiet') is False, 'a job is tailed once'
        events = stream.events()
        assert next(events) == ('quiet', ['hello'])
        assert stream.add('late') is True
        assert stream.jobs == ['late', 'quiet']
        for job, item in events:
            if item is None:
                assert job == 'late'
                break
            got[job].extend(item)
        assert got == {'late': log_of('late', 100)}
        assert stream.jobs == ['quiet']
        assert stream.remove('quiet') is True
        assert stream.remove('quiet') is False
        # The removed silent stream was the last one: the iteration ends, with no end reported for it.
        assert list(stream) == []
        assert stream.ended == {'late': None}
        assert stream.jobs == []
        assert stream.add('late') is True, 'a job can be tailed again once it ended'
        assert list(stream) == [('late', line) for line in log_of('late', 100)]
    wait_until(lambda: fake_agent.stream_stats()['open'] == 0, 'the removed stream to close')


def test_bad_arguments_are_refused_before_any_io(fake_agent: FakeAgent) -> None:
    client = AgentClient(fake_agent.url, TOKEN)
    with pytest.raises(ValidationError):
        client.tail_many(['ok', '../etc'])
    with pytest.raises(ValidationError):
        client.tail_many(['ok'], protocol='carrier-pigeon')
    with pytest.raises(ValidationError):
        client.tail_many(['ok'], max_connecting=0)
    with pytest.raises(ValidationError):
        client.tail_many(['ok'], max_buffered_bytes=0)
    with pytest.raises(ValidationError):
        client.follow_jobs(interval=0)
    with client.tail_many([]) as stream, pytest.raises(ValidationError):
        stream.add('no spaces allowed')
    assert stream_requests(fake_agent) == []


def test_connection_cap(fake_agent: FakeAgent) -> None:
    # Stalled answers hold their slots: no more than two requests may ever be pending.
    jobs = [f'stalled-{i}' for i in range(6)]
    for job in jobs:
        fake_agent.add_job(job, ['s'], stall=60)
    client = AgentClient(fake_agent.url, TOKEN)
    with client.tail_many(jobs, max_connecting=2, protocol='http') as stream:
        for pending in (2, 4, 6):
            wait_until(lambda n=pending: len(stream_requests(fake_agent)) >= n, f'{pending} stream requests')
            time.sleep(0.3)  # room for a broken gate to let more through; a working one never does
            requested = stream_requests(fake_agent)
            assert len(requested) == pending
            # Removing the two pending streams frees their slots for the next two.
            for path in requested[pending - 2 :]:
                assert stream.remove(path.split('/')[2]) is True
        assert stream.jobs == []
    assert sorted(p.split('/')[2] for p in stream_requests(fake_agent)) == jobs


@pytest.mark.parametrize('protocol', ['websocket', 'http'])
def test_a_connected_stream_frees_its_slot(fake_agent: FakeAgent, protocol: str) -> None:
    # Silent streams never end: each must free its slot once connected, or the third never opens.
    for i in range(3):
        fake_agent.add_job(f'quiet-{i}', [f'hello {i}'], fault='silence')
    client = AgentClient(fake_agent.url, TOKEN)
    with client.tail_many([f'quiet-{i}' for i in range(3)], max_connecting=1, protocol=protocol) as stream:
        it = iter(stream)
        assert sorted(next(it) for _ in range(3)) == [(f'quiet-{i}', f'hello {i}') for i in range(3)]
        assert fake_agent.stream_stats()['open'] == 3


def test_buffered_bytes_stay_under_the_shared_budget(fake_agent: FakeAgent) -> None:
    for i in range(20):
        fake_agent.add_job(f'fire-{i}', firehose=20_000)
    client = AgentClient(fake_agent.url, TOKEN)
    client.stream_limits = StreamLimits.unlimited(queue_size=1000)
    budget = 256 * 1024
    counts: dict[str, int] = defaultdict(int)
    peak = 0
    with client.tail_many([f'fire-{i}' for i in range(20)], max_buffered_bytes=budget) as stream:
        for n, (job, batch) in enumerate(stream.batches()):
            counts[job] += len(batch)
            if n % 10 == 0:
                peak = max(peak, stream.buffered_bytes)
        assert stream.failures == {}
    assert counts == {f'fire-{i}': 20_000 for i in range(20)}
    assert 0 < peak <= budget


def test_follow_jobs_picks_up_new_jobs(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('first', log_of('first', 5))
    fake_agent.add_job('done-before', ['old'], status='SUCCEEDED')
    client = AgentClient(fake_agent.url, TOKEN)
    got: dict[str, list[str]] = defaultdict(list)
    with client.follow_jobs(interval=0.05) as stream:
        for job, item in stream.events():
            if isinstance(item, list):
                got[job].extend(item)
            elif job == 'first':
                assert item is None
                fake_agent.add_job('second', log_of('second', 7))
            elif job == 'second':
                break
        assert stream.poll_error is None
    assert got == {'first': log_of('first', 5), 'second': log_of('second', 7)}
    # A job that ended is not tailed again while the agent still lists it as running.
    assert stream_requests(fake_agent).count('/jobs/first/logs/') == 1


def test_follow_jobs_reports_a_failed_poll(fake_agent: FakeAgent) -> None:
    fake_agent.set_response('GET', 'jobs/', 500, {'detail': 'agent is sick'})
    client = AgentClient(fake_agent.url, TOKEN)
    with client.follow_jobs(interval=0.05) as stream:
        wait_until(lambda: stream.poll_error is not None, 'a failed poll')
        error = stream.poll_error
        assert isinstance(error, ServerError) and error.status_code == 500


# --- async ---


async def test_async_tail_many_all_views(fake_agent: FakeAgent) -> None:
    jobs = {f'job-{i}': log_of(f'job-{i}', 30) for i in range(30)}
    for job, lines in jobs.items():
        fake_agent.add_job(job, lines)
    fake_agent.add_job('bad', ['b'], fault='drop')
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        got: dict[str, list[str]] = defaultdict(list)
        async with client.tail_many([*jobs, 'bad'], resume=False) as stream:
            async for job, line in stream:
                got[job].append(line)
            assert isinstance(stream.failures['bad'], ClientConnectionError)
        assert got == {**jobs, 'bad': ['b']}

        got.clear()
        async for job, batch in client.tail_many(jobs).batches():
            got[job].extend(batch)
        assert got == jobs

        ends = {}
        async for job, item in client.tail_many(['job-0', 'bad'], resume=False).events():
            if not isinstance(item, list):
                ends[job] = item
        assert ends['job-0'] is None and isinstance(ends['bad'], ClientConnectionError)


async def test_async_add_remove_and_follow(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('quiet', ['hello'], fault='silence')
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        stream = client.tail_many(['quiet'])
        assert await stream.__anext__() == ('quiet', 'hello')

        async def later() -> None:
            await asyncio.sleep(0.05)
            fake_agent.add_job('late', ['x', 'y'])
            stream.add('late')

        task = asyncio.create_task(later())
        assert [await stream.__anext__(), await stream.__anext__()] == [('late', 'x'), ('late', 'y')]
        await task
        stream.remove('quiet')
        assert [item async for item in stream] == []
        assert list(stream.ended) == ['late']

        got: list[tuple[str, Any]] = []
        fake_agent.add_job('followed', ['f'])
        async with client.follow_jobs(interval=0.05) as followed:
            async for job, item in followed.events():
                got.append((job, item))
                if job == 'followed' and item is None:
                    break
        assert ('followed', ['f']) in got and got[-1] == ('followed', None)


async def test_async_close_wakes_nothing_and_releases_the_hub(fake_agent: FakeAgent) -> None:
    from synapse_agent_rs.clients.agent import _hub

    fake_agent.add_job('quiet', [], fault='silence')
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        stream = client.tail_many(['quiet'])
        waiter = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await stream.aclose()
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        assert _hub.current()[1].parked_count() == 0
    wait_until(lambda: fake_agent.stream_stats()['open'] == 0, 'the stream to close')


def test_keep_open_waits_for_jobs_added_later(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('a', ['1'])
    client = AgentClient(fake_agent.url, TOKEN)
    with client.tail_many([], keep_open=True) as stream:
        events = stream.events()
        stream.add('a')
        assert next(events) == ('a', ['1'])
        assert next(events) == ('a', None)
        # Nothing is left, yet the iteration waits; a close from another thread ends it.
        closer = threading.Timer(0.2, stream.close)
        closer.start()
        assert list(events) == []
        closer.join()
