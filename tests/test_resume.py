"""Resuming log streams: every line handed out exactly once across drops, or a typed error.

Against the FakeAgent's per-connection faults (``connections=``) and, for a subset, the
independent aiohttp agent. The seeded property test over 1,000 schedules runs in Rust
(``rust/src/stream/resume_tests.rs``); here a smaller seeded run checks the Python surface
(sync and async) end to end.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import pytest

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient, ResumePolicy
from synapse_agent_rs.clients.exceptions import (
    ClientConnectionError,
    ClientError,
    LogReplayMismatchError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN
from tests.drivers import Driver
from tests.independent_agent import IndependentAgent

JOB = 'raysubmit_abc123'
LOG = [f'line {i} héllo ✓ 😀' if i % 7 else '' for i in range(60)]
TEXT = ''.join(f'{line}\n' for line in LOG if line)
FAST = ResumePolicy(backoff=0.001, max_backoff=0.01)


def text(lines: list[str]) -> str:
    """The text handed out: each line followed by a newline (what the cursor counts)."""
    return ''.join(f'{line}\n' for line in lines)


def test_a_dropped_stream_resumes_without_repeats_or_gaps(fake_agent: FakeAgent, driver: Driver) -> None:
    drops = [
        {'drop_after_bytes': 333},
        {'refuse': 503},
        {'drop_after_messages': 20, 'group': 3},
        {'drop_after_bytes': 7},
    ]
    fake_agent.add_job(JOB, LOG, connections=drops)
    out = driver.collect(fake_agent.url, TOKEN, JOB, resume=FAST)
    assert out.error is None
    assert text(out.lines) == TEXT


@pytest.mark.parametrize('protocol', ['websocket', 'http', 'auto'])
def test_without_resume_a_drop_still_ends_the_stream(fake_agent: FakeAgent, driver: Driver, protocol: str) -> None:
    fake_agent.add_job(JOB, LOG, connections=[{'drop_after_bytes': 200}])
    out = driver.collect(fake_agent.url, TOKEN, JOB, protocol=protocol)
    assert isinstance(out.error, ClientConnectionError)
    assert TEXT.startswith(text(out.lines)) and len(out.lines) < len(TEXT.splitlines())


def test_resumes_counts_and_logs_each_attempt(fake_agent: FakeAgent, caplog: pytest.LogCaptureFixture) -> None:
    fake_agent.add_job(JOB, LOG, connections=[{'drop_after_messages': 5}, {'refuse': 502}, {'drop_after_messages': 30}])
    with caplog.at_level(logging.INFO, logger='synapse_agent_rs'):
        stream = AgentClient(fake_agent.url, TOKEN).tail_job_logs(JOB, protocol='websocket', resume=FAST)
        assert text(list(stream)) == TEXT
    assert stream.resumes == 2
    attempts = [r for r in caplog.records if r.levelno == logging.WARNING and 'attempt' in r.getMessage()]
    assert len(attempts) == 3, [r.getMessage() for r in caplog.records]
    assert all(JOB in r.getMessage() for r in attempts)
    assert 'attempt 2 of 10' in attempts[1].getMessage() and '502' in attempts[1].getMessage()
    assert all(TOKEN not in r.getMessage() for r in caplog.records)


def test_exhausted_attempts_raise_the_last_error_with_their_count(fake_agent: FakeAgent, driver: Driver) -> None:
    fake_agent.add_job(JOB, LOG, fault='drop')
    out = driver.collect(fake_agent.url, TOKEN, JOB, resume=ResumePolicy(attempts=3, backoff=0.001))
    assert isinstance(out.error, ClientConnectionError)
    assert 'gave up resuming after 3 attempts' in str(out.error)
    assert text(out.lines) == TEXT  # every line once, though each connection replayed them all


@pytest.mark.parametrize(
    ('plan', 'error'),
    [({'refuse': 404}, NotFoundError), ({'refuse': 400}, ValidationError), ({'refuse': 500}, ServerError)],
)
def test_permanent_failures_are_not_retried(
    fake_agent: FakeAgent, driver: Driver, plan: dict[str, int], error: type[ClientError]
) -> None:
    fake_agent.add_job(JOB, LOG, connections=[{'drop_after_bytes': 100}, plan, plan, plan])
    out = driver.collect(fake_agent.url, TOKEN, JOB, protocol='http', resume=FAST)
    assert isinstance(out.error, error), out.error
    assert 'after 1 attempt' in str(out.error)
    assert fake_agent.stream_stats()['opened'] == 1  # the refusals never opened a stream


def test_an_error_event_is_not_retried(fake_agent: FakeAgent, driver: Driver) -> None:
    fake_agent.add_job(JOB, LOG, fault='error')
    out = driver.collect(fake_agent.url, TOKEN, JOB, resume=FAST)
    assert isinstance(out.error, ServerError) and out.error.status_code == 500
    assert fake_agent.stream_stats()['opened'] == 1


@pytest.mark.parametrize(('code', 'retried'), [(1001, True), (1011, True), (1012, True), (1013, True), (1008, False)])
def test_websocket_close_codes(fake_agent: FakeAgent, code: int, retried: bool) -> None:
    fake_agent.add_job(JOB, LOG, fault='close', close_code=code)
    stream = AgentClient(fake_agent.url, TOKEN).tail_job_logs(
        JOB, protocol='websocket', resume=ResumePolicy(attempts=2, backoff=0.001)
    )
    lines = []
    with pytest.raises(ClientConnectionError):
        for line in stream:
            lines.append(line)
    assert text(lines) == TEXT
    assert fake_agent.stream_stats()['opened'] == (3 if retried else 1)


@pytest.mark.parametrize('plan', [{'truncate': 10}, {'rewrite': 3}])
def test_a_replay_that_differs_raises_before_handing_out_anything(
    fake_agent: FakeAgent, driver: Driver, plan: dict[str, int]
) -> None:
    fake_agent.add_job(JOB, LOG, connections=[{'drop_after_messages': 30}, plan])
    out = driver.collect(fake_agent.url, TOKEN, JOB, resume=FAST)
    assert isinstance(out.error, LogReplayMismatchError), out.error
    handed = text(out.lines)
    assert TEXT.startswith(handed)
    assert out.error.status_code == 409 and out.error.job_id == JOB
    assert out.error.handed_out == len(handed.encode())
    assert JOB in str(out.error) and str(len(handed.encode())) in str(out.error)
    if 'truncate' in plan:
        assert out.error.diverged_at < out.error.handed_out
        assert 'truncated or rotated' in str(out.error)
    else:
        assert 'rewritten' in str(out.error)


def test_checkpoint_and_resume_from_in_a_new_stream(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG)
    client = AgentClient(fake_agent.url, TOKEN)
    stream = client.tail_job_logs(JOB, resume=True)
    first = [next(stream) for _ in range(11)]
    checkpoint = stream.checkpoint()
    assert isinstance(checkpoint, str) and len(checkpoint) <= 128 and JOB in checkpoint
    stream.close()
    assert stream.checkpoint() == checkpoint  # closing hands out nothing more
    # Another grouping and protocol on the next connection: the cursor does not care.
    fake_agent.add_job(JOB, LOG, connections=[{'group': 4}])
    rest = list(client.tail_job_logs(JOB, protocol='websocket', resume_from=checkpoint))
    assert text(first) + text(rest) == TEXT


def test_a_batch_counts_whole_once_handed_out(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG)
    client = AgentClient(fake_agent.url, TOKEN)
    stream = client.tail_job_logs(JOB, resume=True)
    assert stream.checkpoint() == client.tail_job_logs(JOB, resume=True).checkpoint()  # the start
    batch = next(iter(stream.batches()))
    checkpoint = stream.checkpoint()
    rest = list(client.tail_job_logs(JOB, resume_from=checkpoint))
    assert text(batch) + text(rest) == TEXT


def test_checkpoint_of_the_whole_log_resumes_to_nothing(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG)
    client = AgentClient(fake_agent.url, TOKEN)
    stream = client.tail_job_logs(JOB, resume=True)
    assert text(list(stream)) == TEXT
    assert list(client.tail_job_logs(JOB, resume_from=stream.checkpoint())) == []


def test_async_checkpoint_and_resume(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG, connections=[{'drop_after_bytes': 150}])

    async def main() -> tuple[list[str], list[str]]:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
            stream = client.tail_job_logs(JOB, resume=FAST)
            first = []
            async for line in stream:
                first.append(line)
                if len(first) == 20:
                    break
            assert stream.resumes == 1
            checkpoint = stream.checkpoint()
            await stream.aclose()
            rest = [line async for line in client.stream_tail_job_logs(JOB, resume_from=checkpoint)]
            return first, rest

    first, rest = asyncio.run(main())
    assert text(first) + text(rest) == TEXT


@pytest.mark.parametrize(
    'bad',
    [
        '',
        'nonsense',
        'c1.0.AAAAAAAAAAAAAAAAAAAAAA.' + JOB,
        'c1.1.AAAA.' + JOB,
        'c9.0.AAAAAAAAAAAAAAAAAAAAAA.' + JOB,
        'x' * 200,
        12,
    ],
)
def test_a_malformed_checkpoint_is_refused_before_any_io(fake_agent: FakeAgent, bad: Any) -> None:
    client = AgentClient(fake_agent.url, TOKEN)
    with pytest.raises(ValidationError) as caught:
        client.tail_job_logs(JOB, resume_from=bad)
    assert caught.value.status_code == 400
    assert fake_agent.requests() == []


def test_a_checkpoint_of_another_job_is_refused(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('other', LOG)
    client = AgentClient(fake_agent.url, TOKEN)
    stream = client.tail_job_logs('other', resume=True)
    next(stream)
    checkpoint = stream.checkpoint()
    stream.close()
    before = len(fake_agent.requests())
    with pytest.raises(ValidationError, match='other'):
        client.tail_job_logs(JOB, resume_from=checkpoint)
    assert len(fake_agent.requests()) == before


def test_checkpoint_needs_a_cursor(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG)
    stream = AgentClient(fake_agent.url, TOKEN).tail_job_logs(JOB)
    with pytest.raises(ValidationError, match='resume'):
        stream.checkpoint()
    assert stream.resumes == 0


@pytest.mark.parametrize(
    'kwargs',
    [{'attempts': -1}, {'deadline': 0}, {'backoff': -1}, {'jitter': 2}, {'backoff': 5, 'max_backoff': 1}],
)
def test_bad_policies_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises((ValidationError, OverflowError)):
        ResumePolicy(**kwargs)


def test_resume_must_be_a_bool_or_a_policy(fake_agent: FakeAgent) -> None:
    with pytest.raises(ValidationError, match='ResumePolicy'):
        AgentClient(fake_agent.url, TOKEN).tail_job_logs(JOB, resume='yes')  # type: ignore[arg-type]


def test_the_default_policy_is_documented() -> None:
    assert ResumePolicy() == ResumePolicy(attempts=10, deadline=300.0, backoff=0.2, max_backoff=10.0, jitter=0.5)
    assert 'attempts=10' in repr(ResumePolicy())


def test_an_agent_restart_is_survived(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG, pace=200)
    stream = AgentClient(fake_agent.url, TOKEN).tail_job_logs(JOB, resume=ResumePolicy(backoff=0.01))
    lines = [next(stream) for _ in range(10)]
    fake_agent.restart()
    lines += list(stream)
    assert text(lines) == TEXT
    assert stream.resumes >= 1


def random_plans(rng: random.Random, size: int) -> list[dict[str, int]]:
    plans: list[dict[str, int]] = []
    for n in range(rng.randrange(4)):
        if n and rng.random() < 0.15:  # the first connection starts the stream: never refused here
            plans.append({'refuse': rng.choice([502, 503, 504])})
            continue
        plan = {'group': rng.randrange(1, 4)}
        if rng.random() < 0.8:
            plan['drop_after_bytes'] = rng.randrange(size * 2 + 40)
        plans.append(plan)
    return plans


@pytest.mark.parametrize('seed', range(4))
def test_seeded_schedules_through_python(fake_agent: FakeAgent, driver: Driver, seed: int) -> None:
    """A few seeded schedules end to end (the 1,000-schedule run is the Rust test)."""
    rng = random.Random(seed)
    for n in range(10):
        log = [''.join(rng.choice('ab é€😀"{') for _ in range(rng.randrange(12))) for _ in range(rng.randrange(1, 30))]
        job = f'job{seed}_{n}'
        full = text([line for line in log if line])
        fake_agent.add_job(job, log, http_format=rng.choice(['plain', 'sse']), connections=random_plans(rng, len(full)))
        protocol = rng.choice(['auto', 'websocket', 'http'])
        out = driver.collect(fake_agent.url, TOKEN, job, protocol=protocol, resume=FAST)
        assert out.error is None, (seed, n, out.error)
        assert text(out.lines) == full, (seed, n, protocol)


def test_independent_agent_resumes_too(independent_agent: IndependentAgent, driver: Driver) -> None:
    rng = random.Random(7)
    for n in range(12):
        job = f'ind{n}'
        plans = [{'drop_after_messages': rng.randrange(len(LOG))} for _ in range(rng.randrange(1, 4))]
        independent_agent.add_job(job, LOG, http_format=rng.choice(['plain', 'sse']), connections=plans)
        protocol = rng.choice(['websocket', 'http', 'auto'])
        out = driver.collect(independent_agent.url, TOKEN, job, protocol=protocol, resume=FAST)
        assert out.error is None, (n, out.error)
        assert text(out.lines) == TEXT, (n, protocol, plans)


def test_independent_agent_rotated_log_is_a_mismatch(independent_agent: IndependentAgent, driver: Driver) -> None:
    independent_agent.add_job(JOB, LOG, connections=[{'drop_after_messages': 40}, {'truncate': 20}])
    out = driver.collect(independent_agent.url, TOKEN, JOB, resume=FAST)
    assert isinstance(out.error, LogReplayMismatchError)
    assert TEXT.startswith(text(out.lines))


# --- tail_many / follow_jobs ---


def many_logs(rng: random.Random, agent: Any, jobs: int, plans: bool = True) -> dict[str, list[str]]:
    logs = {}
    for j in range(jobs):
        log = [f'j{j} line {i} é€' if rng.random() > 0.05 else '' for i in range(rng.randrange(1, 60))]
        logs[f'job{j}'] = log
        connections = []
        if plans and rng.random() < 0.5:  # drops on random jobs
            size = len(text([line for line in log if line]))
            connections = [
                {'drop_after_bytes': rng.randrange(size * 2 + 30), 'group': rng.randrange(1, 4)}
                for _ in range(rng.randrange(1, 4))
            ]
        agent.add_job(f'job{j}', log, http_format=rng.choice(['plain', 'sse']), connections=connections)
    return logs


@pytest.mark.parametrize('seed', [1, 2])
def test_tail_many_over_100_jobs_with_drops_hands_out_every_line_once(fake_agent: FakeAgent, seed: int) -> None:
    rng = random.Random(seed)
    logs = many_logs(rng, fake_agent, 100)
    got: dict[str, list[str]] = {job: [] for job in logs}
    with AgentClient(fake_agent.url, TOKEN) as client:
        stream = client.tail_many(list(logs), protocol=rng.choice(['auto', 'http', 'websocket']), resume=FAST)
        for job, line in stream:
            got[job].append(line)
    assert stream.failures == {}
    for job, log in logs.items():
        assert text(got[job]) == text([line for line in log if line]), job


def test_tail_many_resumes_by_default(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG, connections=[{'drop_after_bytes': 100}])
    with AgentClient(fake_agent.url, TOKEN) as client:
        lines = [line for _, line in client.tail_many([JOB])]
    assert text(lines) == TEXT


def test_tail_many_checkpoints_survive_a_restart_of_the_caller(fake_agent: FakeAgent) -> None:
    rng = random.Random(3)
    logs = many_logs(rng, fake_agent, 20, plans=False)
    handed: dict[str, list[str]] = {job: [] for job in logs}
    with AgentClient(fake_agent.url, TOKEN) as client:
        stream = client.tail_many(list(logs))
        for n, (job, line) in enumerate(stream):
            handed[job].append(line)
            if n == 150:
                break
        one = next(iter(logs))
        checkpoints = stream.checkpoints()
        assert checkpoints[one] == stream.checkpoint(one)
        assert all(len(c) <= 128 for c in checkpoints.values())
        stream.close()
        # The "restarted" caller: half the jobs from the dict, the other half added one by one.
        jobs = sorted(logs)
        first, second = jobs[:10], jobs[10:]
        again = client.tail_many(first, resume_from={job: checkpoints[job] for job in first}, keep_open=True)
        for job in second:
            assert again.add(job, resume_from=checkpoints[job])
        ends = 0
        for job, event in again.events():
            if isinstance(event, list):
                handed[job].extend(event)
                continue
            assert event is None, event
            ends += 1
            if ends == len(logs):
                break
        again.close()
    for job, log in logs.items():
        assert text(handed[job]) == text([line for line in log if line]), job


def test_tail_many_checkpoint_errors(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG)
    with AgentClient(fake_agent.url, TOKEN) as client:
        stream = client.tail_many([JOB])
        with pytest.raises(ValidationError, match='not tailed'):
            stream.checkpoint('nobody')
        stream.close()
        with pytest.raises(ValidationError):
            client.tail_many([JOB], resume_from={JOB: 'garbage'})
        with pytest.raises(ValidationError):
            client.tail_many([JOB], resume_from={'other': stream.checkpoint(JOB)})
        off = client.tail_many([JOB], resume=False)
        with pytest.raises(ValidationError, match='resume'):
            off.checkpoint(JOB)
        off.close()


def test_tail_many_checkpoint_after_close_keeps_the_lines_handed_out(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG)
    with AgentClient(fake_agent.url, TOKEN) as client:
        stream = client.tail_many([JOB])
        first = [line for _, line in (next(stream) for _ in range(7))]
        stream.close()
        checkpoint = stream.checkpoint(JOB)
        rest = [line for _, line in client.tail_many([JOB], resume_from={JOB: checkpoint})]
    assert text(first) + text(rest) == TEXT


def test_tail_many_logs_each_attempt(fake_agent: FakeAgent, caplog: pytest.LogCaptureFixture) -> None:
    fake_agent.add_job(JOB, LOG, connections=[{'drop_after_messages': 5}, {'refuse': 503}])
    with caplog.at_level(logging.INFO, logger='synapse_agent_rs'), AgentClient(fake_agent.url, TOKEN) as client:
        lines = [line for _, line in client.tail_many([JOB], protocol='websocket', resume=FAST)]
    assert text(lines) == TEXT
    attempts = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and 'attempt' in r.getMessage()]
    assert len(attempts) == 2 and all(JOB in m for m in attempts), attempts
    assert any(r.levelno == logging.INFO and 'replay matched' in r.getMessage() for r in caplog.records)


def test_follow_jobs_starts_a_job_from_its_checkpoint(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG, connections=[{'drop_after_bytes': 250}])
    with AgentClient(fake_agent.url, TOKEN) as client:
        first = client.tail_job_logs(JOB, resume=True)
        head = [next(first) for _ in range(9)]
        checkpoint = first.checkpoint()
        first.close()
        rest: list[str] = []
        with client.follow_jobs(interval=0.05, resume=FAST, resume_from={JOB: checkpoint}) as stream:
            for job, item in stream.events():
                assert job == JOB
                if isinstance(item, list):
                    rest.extend(item)
                else:
                    assert item is None
                    break
            assert stream.checkpoint(JOB) == stream.checkpoints()[JOB]
    assert text(head) + text(rest) == TEXT


def test_async_tail_many_checkpoints(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG, connections=[{'drop_after_messages': 4}])

    async def main() -> tuple[list[str], list[str]]:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
            stream = client.tail_many([JOB], resume=FAST)
            head = []
            async for _, line in stream:
                head.append(line)
                if len(head) == 12:
                    break
            checkpoints = stream.checkpoints()
            await stream.aclose()
            rest = [line async for _, line in client.tail_many([JOB], resume_from=checkpoints)]
            return head, rest

    head, rest = asyncio.run(main())
    assert text(head) + text(rest) == TEXT


def test_tail_many_arrow_checkpoints_are_never_ahead(fake_agent: FakeAgent) -> None:
    """Under ``.arrow()`` a checkpoint may lag by the batch being converted, never run ahead."""
    pa = pytest.importorskip('pyarrow')
    fake_agent.add_job(JOB, LOG)
    with AgentClient(fake_agent.url, TOKEN) as client:
        stream = client.tail_many([JOB])
        arrow = iter(stream.arrow(max_rows=4))
        head = pa.record_batch(next(arrow)).column(2).to_pylist()
        checkpoint = stream.checkpoint(JOB)
        stream.close()
        rest = [line for _, line in client.tail_many([JOB], resume_from={JOB: checkpoint})]
    assert TEXT.endswith(text(rest))
    assert len(text(head)) + len(text(rest)) >= len(TEXT)  # nothing skipped


def test_a_first_connection_that_fails_is_not_resumed(fake_agent: FakeAgent, driver: Driver) -> None:
    """Resuming continues a stream: a wrong URL or a stopped agent raises at once."""
    fake_agent.add_job(JOB, LOG, connections=[{'refuse': 503}])
    out = driver.collect(fake_agent.url, TOKEN, JOB, protocol='websocket', resume=FAST)
    assert isinstance(out.error, ServerError) and out.error.status_code == 503
    assert 'gave up' not in str(out.error) and out.lines == []
    with AgentClient('http://127.0.0.1:9', TOKEN) as client, pytest.raises(ClientConnectionError) as caught:
        list(client.tail_job_logs(JOB, resume=True))
    assert 'gave up' not in str(caught.value)


def test_a_stream_from_a_checkpoint_retries_its_first_connection(fake_agent: FakeAgent) -> None:
    """It continues a stream that was established: an agent still restarting is waited for."""
    fake_agent.add_job(JOB, LOG)
    client = AgentClient(fake_agent.url, TOKEN)
    stream = client.tail_job_logs(JOB, resume=True)
    first = [next(stream) for _ in range(7)]
    checkpoint = stream.checkpoint()
    stream.close()
    fake_agent.add_job(JOB, LOG, connections=[{'refuse': 503}, {'refuse': 502}])
    rest = client.tail_job_logs(JOB, resume=FAST, resume_from=checkpoint)
    assert text(first) + text(list(rest)) == TEXT
    assert rest.resumes == 1


class _InterruptOnce(logging.Handler):
    """Ctrl-C arriving while the first resume record is written."""

    fired = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.fired:
            self.fired = True
            raise KeyboardInterrupt


def test_ctrl_c_while_a_resume_record_is_logged_is_raised_and_loses_nothing(fake_agent: FakeAgent) -> None:
    fake_agent.add_job(JOB, LOG, connections=[{'drop_after_messages': 5}])
    handler = _InterruptOnce()
    logger = logging.getLogger('synapse_agent_rs')
    logger.addHandler(handler)
    got: list[str] = []
    try:
        with AgentClient(fake_agent.url, TOKEN) as client, client.tail_many([JOB], resume=FAST) as stream:
            lines = iter(stream)
            with pytest.raises(KeyboardInterrupt):
                for _, line in lines:
                    got.append(line)
            got += [line for _, line in lines]
    finally:
        logger.removeHandler(handler)
    assert handler.fired
    assert text(got) == TEXT


def test_reconnects_wait_for_a_connection_slot(fake_agent: FakeAgent) -> None:
    """Reconnects go through the `max_connecting` gate too, and each frees its slot."""
    jobs = [f'gated-{i}' for i in range(6)]
    for job in jobs:
        fake_agent.add_job(job, LOG, connections=[{'drop_after_messages': 3}, {'drop_after_messages': 9}])
    with AgentClient(fake_agent.url, TOKEN) as client:
        stream = client.tail_many(jobs, max_connecting=1, resume=FAST)
        got: dict[str, list[str]] = {job: [] for job in jobs}
        for job, line in stream:
            got[job].append(line)
    assert stream.failures == {}
    assert all(text(lines) == TEXT for lines in got.values())
