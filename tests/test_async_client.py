"""What only the asyncio client has: many streams on one loop, cancellation, leaks, loops and threads."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from typing import Any

import pytest
import uvloop

from synapse_agent_rs.clients.agent import AsyncAgentClient, _hub
from synapse_agent_rs.clients.exceptions import ClientConnectionError
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN


def open_fds() -> int:
    return len(os.listdir('/proc/self/fd'))


def fd_names() -> list[str]:
    names = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            names.append(os.readlink(f'/proc/self/fd/{fd}'))
        except OSError:
            pass
    return sorted(names)


async def wait_until(predicate: object, seconds: float, why: object = None) -> float:
    """Polls ``predicate`` until true; returns the seconds it took (fails the test past ``seconds``)."""
    start = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - start < seconds, f'condition not reached in time {why() if why else ""}'
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def test_a_thousand_concurrent_tails_each_get_their_own_lines_in_order(fake_agent: FakeAgent) -> None:
    jobs = 1000
    for i in range(jobs):
        fake_agent.add_job(f'job-{i}', [f'job {i} line {j}' for j in range(20)])

    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:

        async def tail(i: int) -> list[str]:
            protocol = 'websocket' if i % 2 else 'http'
            return [line async for line in client.tail_job_logs(f'job-{i}', protocol=protocol)]

        results = await asyncio.gather(*(tail(i) for i in range(jobs)))
    for i, lines in enumerate(results):
        assert lines == [f'job {i} line {j}' for j in range(20)]


async def test_abandoned_streams_leak_no_socket_task_or_parked_future(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('quiet', ['first'], fault='silence')
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        # Warm up: the loop's hub and the runtime's threads exist before counting.
        _hub.current()
        warm = client.tail_job_logs('quiet')
        assert await warm.__anext__() == 'first'
        await warm.aclose()
        await wait_until(lambda: fake_agent.stream_stats()['open'] == 0, 2)
        fds, threads, names = open_fds(), threading.active_count(), fd_names()

        for _ in range(1000):
            stream = client.tail_job_logs('quiet')
            assert await stream.__anext__() == 'first'
            # Park once, then abandon it: the pending await is cancelled, the stream dropped.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(stream.__anext__(), 0.001)
            del stream
        gc.collect()
        await wait_until(lambda: fake_agent.stream_stats()['open'] == 0, 5)
        assert fake_agent.stream_stats()['opened'] >= 1001
        _, hub = _hub.current()
        assert hub.parked_count() == 0
        await wait_until(
            lambda: open_fds() <= fds, 5, lambda: (set(fd_names()) - set(names), set(names) - set(fd_names()))
        )
        assert threading.active_count() == threads


async def test_cancelled_tail_closes_its_connection_within_a_second(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('quiet', ['first'], fault='silence')
    first_line = asyncio.Event()

    async def consume(client: AsyncAgentClient) -> None:
        async for _ in client.tail_job_logs('quiet'):
            first_line.set()

    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        task = asyncio.create_task(consume(client))
        await asyncio.wait_for(first_line.wait(), 5)
        assert fake_agent.stream_stats()['open'] == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        del task
        gc.collect()
        assert await wait_until(lambda: fake_agent.stream_stats()['open'] == 0, 1.0) < 1.0


async def test_a_cancelled_tail_closes_without_waiting_for_garbage_collection(fake_agent: FakeAgent) -> None:
    # The awaitable `__anext__` hands out and the stream never form a reference cycle, so the
    # stream is freed (and its connection closed) as soon as the cancelled task lets it go.
    fake_agent.add_job('quiet', ['first'], fault='silence')
    first_line = asyncio.Event()

    async def consume(client: AsyncAgentClient) -> None:
        async for _ in client.tail_job_logs('quiet'):
            first_line.set()

    gc.disable()
    try:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
            task = asyncio.create_task(consume(client))
            await asyncio.wait_for(first_line.wait(), 5)
            assert fake_agent.stream_stats()['open'] == 1
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            del task
            assert await wait_until(lambda: fake_agent.stream_stats()['open'] == 0, 1.0) < 1.0
    finally:
        gc.enable()


async def test_each_awaitable_of_anext_is_awaited_once(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job', ['a', 'b', 'c'])
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        # The stream lives as long as the awaitable of its first item, even when nothing else holds it.
        assert await anext(client.tail_job_logs('job')) == 'a'

        stream = client.tail_job_logs('job')
        step = stream.__anext__()
        assert await step == 'a'
        with pytest.raises(RuntimeError, match='already awaited'):
            await step
        # A kept awaitable is never handed out again: the next one is new, the stream goes on.
        following = stream.__anext__()
        assert following is not step
        assert await following == 'b'
        assert [line async for line in stream] == ['c']
        assert await anext(stream, 'end') == 'end'


async def test_results_raised_by_next_are_never_changed_under_their_holder(fake_agent: FakeAgent) -> None:
    # `await` on Python 3.12+ takes each line from the iterator's `__next__` as the value of a
    # StopIteration that the iterator reuses: one still held by someone is never reused.
    fake_agent.add_job('job', ['a', 'b', 'c'])

    async def next_result(iterator: Any) -> StopIteration:
        while True:
            try:
                future = iterator.__next__()
            except StopIteration as done:
                return done
            # A step yields its future to the task as `yield` would (marked blocking); to
            # `await` it here instead, the mark is taken off first.
            future._asyncio_future_blocking = False
            await future

    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        iterator = aiter(client.tail_job_logs('job'))
        first = await next_result(iterator)
        second = await next_result(iterator)
        assert (first.value, second.value) == ('a', 'b')
        assert second is not first
        del second
        third = await next_result(iterator)
        assert (first.value, third.value) == ('a', 'c')
        assert third is not first
        with pytest.raises(StopAsyncIteration):
            await next_result(iterator)


async def test_aclose_and_break_close_the_connection(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('quiet', ['a', 'b'], fault='silence')
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        stream = client.tail_job_logs('quiet')
        assert await stream.__anext__() == 'a'
        await stream.aclose()
        assert not stream.open
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        await wait_until(lambda: fake_agent.stream_stats()['open'] == 0, 1.0)

        async for line in client.tail_job_logs('quiet'):
            assert line == 'a'
            break
        gc.collect()
        await wait_until(lambda: fake_agent.stream_stats()['open'] == 0, 1.0)


async def test_connecting_does_not_block_the_event_loop(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('slow-start', ['late'], stall=0.5)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        lines = [line async for line in client.tail_job_logs('slow-start')]
        health = await client.health_check()
    tick_task.cancel()
    assert lines == ['late'] and health == {'status': 'healthy'}
    assert ticks >= 20, f'the loop ticked only {ticks} times during a 0.5 s connect'


async def test_errors_end_the_async_stream_after_the_lines(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('dropped', ['x', 'y'], fault='drop')
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        seen = []
        with pytest.raises(ClientConnectionError) as info:
            async for line in client.tail_job_logs('dropped', protocol='websocket'):
                seen.append(line)
    assert seen == ['x', 'y'] and info.value.status_code == 503


def _tail_in_new_loop(url: str, job: str, use_uvloop: bool) -> tuple[list[str], object]:
    async def run() -> tuple[list[str], object]:
        async with AsyncAgentClient(url, TOKEN) as client:
            lines = [line async for line in client.tail_job_logs(job)]
            return lines, await client.get_job(job)

    if use_uvloop:
        return uvloop.run(run())
    return asyncio.run(run())


def test_works_on_uvloop(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job-uv', [f'line {i}' for i in range(500)])
    lines, job = _tail_in_new_loop(fake_agent.url, 'job-uv', use_uvloop=True)
    assert lines == [f'line {i}' for i in range(500)]
    assert isinstance(job, dict) and job['job_id'] == 'job-uv'


def test_event_loops_in_several_threads_at_once(fake_agent: FakeAgent) -> None:
    for i in range(4):
        fake_agent.add_job(f'job-{i}', [f'{i}:{j}' for j in range(2000)], pace=20_000)
    results: dict[int, list[str]] = {}

    def worker(i: int) -> None:
        results[i] = _tail_in_new_loop(fake_agent.url, f'job-{i}', use_uvloop=i % 2 == 1)[0]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert {i: len(lines) for i, lines in results.items()} == {i: 2000 for i in range(4)}
    for i, lines in results.items():
        assert lines == [f'{i}:{j}' for j in range(2000)]


def test_a_stream_can_be_awaited_from_one_loop_then_another(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('paced', ['a', 'b', 'c'], pace=20)  # slow enough that every await parks
    client = AsyncAgentClient(fake_agent.url, TOKEN)
    stream = client.tail_job_logs('paced')

    async def first() -> str:
        return await stream.__anext__()

    async def rest() -> list[str]:
        return [line async for line in stream]

    assert asyncio.run(first()) == 'a'
    assert uvloop.run(rest()) == ['b', 'c']
