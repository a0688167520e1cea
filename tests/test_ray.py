"""Fan-out over a local Ray cluster (2 CPUs, started once for this module) against the FakeAgent."""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import ray.cloudpickle

from synapse_agent_rs.clients.agent import AgentClient, ResumePolicy
from synapse_agent_rs.clients.exceptions import ClientError, LogReplayMismatchError, ServerError, ValidationError
from synapse_agent_rs.ray import (
    CapacityWarning,
    CollectingSink,
    FanOut,
    FanOutResult,
    JobCheckpoint,
    LogBatch,
    TokenFromFile,
    default_stream_limits,
)
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN

JOBS = 200
# Killed actors give their CPUs back a little later: a test's start may see fewer free CPUs than
# the cluster has; the warning is tested where it is meant to fire (pytest.warns records it anyway).
pytestmark = pytest.mark.filterwarnings('ignore::synapse_agent_rs.ray.CapacityWarning')
LONG = 30.0  # generous deadlines: the CI machine is slow and loaded

# The sink actors below are defined here: ship them by value (the workers need not import tests).
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope='module')
def cluster() -> Iterator[None]:
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=80 * 1024 * 1024,
        logging_level='ERROR',
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def free_cpus(request: pytest.FixtureRequest) -> None:
    """Each test starts with the cluster's 2 CPUs free (killed actors give them back a bit later)."""
    if 'cluster' in request.fixturenames:
        eventually('CPUs still held', lambda: ray.available_resources().get('CPU', 0) >= 2)


def job(i: int) -> str:
    return f'job-{i:03d}'


def plain_tail(agent: FakeAgent, jobs: list[str]) -> dict[str, list[str]]:
    client = AgentClient(agent.url, TOKEN)
    client.stream_limits = default_stream_limits()
    out: dict[str, list[str]] = {j: [] for j in jobs}
    for j, line in client.tail_many(jobs):
        out[j].append(line)
    return out


def eventually(what: str, condition: Callable[[], object], deadline: float = LONG) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, what
        time.sleep(0.05)


def dead(handle: Any) -> bool:
    try:
        ray.get(handle.report.remote(0.0), timeout=LONG)
    except ray.exceptions.RayActorError:
        return True
    return False


def every_job_ends_once(result: FanOutResult, jobs: list[str]) -> None:
    assert not set(result.completed) & set(result.failures)
    assert sorted([*result.completed, *result.failures]) == sorted(jobs)
    assert result.unfinished == []


def listing(*running: str) -> list[dict[str, str]]:
    return [{'submission_id': j, 'status': 'RUNNING'} for j in running]


def collector() -> Any:
    return ray.remote(CollectingSink).options(num_cpus=0).remote()


def test_two_actors_deliver_every_line_with_no_count_limit(cluster: None) -> None:
    ids = [job(i) for i in range(JOBS)]
    with FakeAgent(TOKEN) as agent:
        for j in ids:
            agent.add_job(j, firehose=50)
        agent.add_job('job-long', firehose=12_000)  # more than the SDK's 10,000-message default
        sink = collector()
        reports: list[FanOutResult] = []
        fan = FanOut(agent.url, TOKEN, sink=sink, actors=2, jobs_per_actor=30, on_progress=reports.append)
        assert TOKEN not in repr(fan)
        result = fan.run([*ids, 'job-long'])
        eventually('streams left open', lambda: agent.stream_stats()['open'] == 0)
        want = plain_tail(agent, [*ids, 'job-long'])
    got = ray.get(sink.lines.remote())
    assert got == want and len(got['job-long']) == 12_000
    assert result.completed == [*ids, 'job-long'] or sorted(result.completed) == sorted([*ids, 'job-long'])
    every_job_ends_once(result, [*ids, 'job-long'])
    assert result.lines == JOBS * 50 + 12_000 and result.reassignments == 0
    assert not result.running and result.startup_seconds is not None and result.seconds >= result.startup_seconds
    assert ray.get(sink.stats.remote())['repeats'] == 0
    assert reports and [a.slot for a in reports[-1].actors] == [0, 1]
    assert all(a.node for a in result.actors if a.started)


def test_a_killed_actor_is_replaced_and_its_jobs_go_to_the_queue(cluster: None) -> None:
    ids = [job(i) for i in range(60)]
    with FakeAgent(TOKEN) as agent:
        for j in ids:
            agent.add_job(j, firehose=40, pace=20)  # 2 s per job: the kill lands mid-run
        # Its first connection refused (503): a stream that never started is not resumed (a drop
        # after it started would now be resumed for its policy's while).
        agent.add_job('job-broken', ['x'], connections=[{'refuse': 503}] * 20)
        sink = collector()
        fan = FanOut(
            agent.url,
            TOKEN,
            sink=sink,
            actors=2,
            jobs_per_actor=20,
            actor_options={'num_cpus': 1},
            resume=ResumePolicy(attempts=1, backoff=0.01),  # job-broken drops every connection: fail it fast
        )
        fan.start([*ids, 'job-broken'])
        eventually('no actor got jobs', lambda: any(a.jobs for a in fan.progress().actors))
        [victim] = [a for a in fan.progress().actors if a.jobs][:1]
        eventually('the victim delivered nothing', lambda: ray.get(sink.stats.remote())['lines'] > 0)
        ray.kill(fan.handles[victim.slot])
        result = fan.wait()
        want = plain_tail(agent, ids)
    got = ray.get(sink.lines.remote())
    for j in ids:
        assert got[j] == want[j], j
    assert result.reassignments >= 1 and result.replacements >= 1
    assert result.actors[victim.slot].attempt >= 2
    assert sorted(result.completed) == ids
    assert list(result.failures) == ['job-broken']
    failure = result.failures['job-broken']
    assert isinstance(failure, ClientError) and failure.status_code == 503
    every_job_ends_once(result, [*ids, 'job-broken'])


def test_follow_mode_tails_every_running_job(cluster: None) -> None:
    with FakeAgent(TOKEN) as agent:
        for i in range(10):
            agent.add_job(job(i), firehose=30)
        agent.add_job('not-running', ['x'], status='SUCCEEDED')
        sink = collector()
        fan = FanOut(agent.url, TOKEN, sink=sink, actors=2)
        fan.start(follow=True, interval=0.1)
        eventually('follow mode never delivered every line', lambda: ray.get(sink.stats.remote())['lines'] >= 300)
        eventually('the jobs never completed', lambda: len(fan.progress().completed) == 10)
        fan.stop()
        result = fan.wait(timeout=LONG)
        counts = {j: len(lines) for j, lines in ray.get(sink.lines.remote()).items()}
    assert not result.running
    assert counts == {job(i): 30 for i in range(10)}
    assert sorted(result.completed) == [job(i) for i in range(10)] and result.poll_error is None


def test_stop_before_the_actors_started_returns_and_extra_actors_are_said(cluster: None) -> None:
    """Regression (item 7): stop() before an actor started hung follow mode's wait()."""
    with FakeAgent(TOKEN) as agent:
        agent.add_job(job(1), firehose=5)
        fan = FanOut(agent.url, TOKEN, sink=collector(), actors=4)  # 4 CPUs asked, 2 on the cluster
        with pytest.warns(CapacityWarning, match='wait for room'):
            fan.start(follow=True)
        fan.stop()
        result = fan.wait(timeout=LONG)
        assert not result.running, 'wait() returned by its timeout: the fan-out hung'
        assert any('wait for room' in note for note in result.notes)
        # the README's own call, with more actors than free CPUs
        eventually('CPUs still held', lambda: ray.available_resources().get('CPU', 0) >= 2)
        with pytest.warns(CapacityWarning):
            readme = FanOut(agent.url, TOKEN, sink=collector(), actors=4).run(follow=True, duration=5)
        assert not readme.running and [*readme.completed, *readme.unfinished] == [job(1)]
        eventually('streams left open', lambda: agent.stream_stats()['open'] == 0)


def test_any_exit_and_garbage_collection_kill_the_actors(cluster: None) -> None:
    """Regression (item 8): an on_progress that raised left the actors and every stream open."""
    with FakeAgent(TOKEN) as agent:
        ids = [job(i) for i in range(6)]
        for j in ids:
            agent.add_job(j, firehose=10_000, pace=50)
        seen: list[Any] = []

        def boom(snapshot: FanOutResult) -> None:
            if agent.stream_stats()['open'] >= 2:
                seen.extend(fan.handles.values())
                raise RuntimeError('on_progress failed')

        fan = FanOut(agent.url, TOKEN, sink=lambda batch: None, actors=2, on_progress=boom)
        with pytest.raises(RuntimeError, match='on_progress failed'):
            fan.run(ids)
        assert seen and all(dead(h) for h in seen)
        eventually('streams left open after run raised', lambda: agent.stream_stats()['open'] == 0)

        dropped = FanOut(agent.url, TOKEN, sink=lambda batch: None, actors=2).start(ids)
        eventually('no stream opened', lambda: agent.stream_stats()['open'] >= 2)
        handles = list(dropped.handles.values())
        del dropped
        gc.collect()
        assert all(dead(h) for h in handles)
        eventually('streams left open after the FanOut was collected', lambda: agent.stream_stats()['open'] == 0)


class PickySink:
    """A sink actor refusing the batches of one job."""

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.collect = CollectingSink()

    def write(self, batch: LogBatch) -> int:
        if batch.job_id == self.refused:
            raise ValueError(f'sink refused {batch.job_id}')
        return self.collect.write(batch)

    def lines(self) -> dict[str, list[str]]:
        return self.collect.lines()


def test_a_raising_sink_fails_that_job_with_its_exception(cluster: None) -> None:
    """Regression (item 9): a raising sink left the rest of its shard's jobs in neither list."""
    ids = [job(i) for i in range(20)]
    with FakeAgent(TOKEN) as agent:
        for j in ids:
            agent.add_job(j, firehose=200)

        def sink(batch: LogBatch) -> None:
            if batch.job_id == job(3):
                raise ValueError('sink refused job-003')

        result = FanOut(agent.url, TOKEN, sink=sink, actors=2).run(ids)
        every_job_ends_once(result, ids)
        assert list(result.failures) == [job(3)]
        error = result.failures[job(3)]
        assert type(error) is ValueError and str(error) == 'sink refused job-003'

        eventually('CPUs still held', lambda: ray.available_resources().get('CPU', 0) >= 2)
        picky = ray.remote(PickySink).options(num_cpus=0).remote(job(5))
        result = FanOut(agent.url, TOKEN, sink=picky, actors=2).run(ids)
        every_job_ends_once(result, ids)
        assert list(result.failures) == [job(5)]
        refused = result.failures[job(5)]
        assert isinstance(refused, ValueError) and 'sink refused job-005' in str(refused)
        stored = ray.get(picky.lines.remote())
        assert sorted(stored) == [j for j in ids if j != job(5)] and all(len(v) == 200 for v in stored.values())


def test_a_job_back_in_follow_mode_resumes_after_its_acknowledged_lines(cluster: None) -> None:
    """Regression (issue 17 item 11, issue 18): a job back in the listing was stored twice
    (a,b,c,a,b,c), then tailed again from line 0; now it goes on after its last acknowledged line."""
    with FakeAgent(TOKEN) as agent:
        agent.add_job('job-r', ['a', 'b', 'c'])
        agent.set_response('GET', 'jobs/', 200, listing('job-r'))
        batches: list[LogBatch] = []
        sink = ray.remote(Recorder).options(num_cpus=0).remote()
        fan = FanOut(agent.url, TOKEN, sink=sink, actors=1).start(follow=True, interval=0.1)
        eventually('never completed', lambda: fan.progress().completed == ['job-r'])
        first = fan.progress().checkpoints['job-r']
        assert first.seq == 3 and first.checkpoint.startswith('c1.')
        agent.set_response('GET', 'jobs/', 200, [])
        polls = len(agent.requests())
        eventually('no poll saw the job leave', lambda: len(agent.requests()) >= polls + 3)
        agent.add_job('job-r', ['a', 'b', 'c', 'd'])  # it wrote one more line meanwhile
        agent.set_response('GET', 'jobs/', 200, listing('job-r'))
        eventually('never tailed again', lambda: fan.progress().checkpoints['job-r'].seq == 4)
        fan.stop()
        result = fan.wait(timeout=LONG)
        batches = ray.get(sink.batches.remote())
    assert [(b.seq, b.lines) for b in batches][-1] == (3, ['d'])
    assert [line for b in batches for line in b.lines] == ['a', 'b', 'c', 'd']
    assert batches[-1].checkpoint == result.checkpoints['job-r'].checkpoint
    assert result.completed == ['job-r'] and result.lines == 4


def test_polls_back_off_on_failures_and_survive_a_hostile_listing(cluster: None) -> None:
    """Regression (item 12): a failing poll looped thousands of times a second; a listing of
    another shape killed the follow thread silently."""
    with FakeAgent(TOKEN) as agent:
        agent.add_job(job(1), ['x', 'y'])
        agent.set_response('GET', 'jobs/', 200, {'jobs': 'not a list'})
        fan = FanOut(agent.url, TOKEN, sink=collector(), actors=1).start(follow=True, interval=0.2)
        eventually('the hostile listing was not reported', lambda: fan.progress().poll_failures >= 1)
        error = fan.progress().poll_error
        assert isinstance(error, ClientError) and 'list' in str(error)
        agent.set_response('GET', 'jobs/', 200, listing(job(1)))
        eventually('the follow thread died', lambda: fan.progress().completed == [job(1)])
        assert fan.progress().poll_error is None

        agent.set_response('GET', 'jobs/', 500, {'detail': 'boom'})
        before = sum(r['path'].endswith('/jobs/') for r in agent.requests())
        eventually('the 500 was not reported', lambda: isinstance(fan.progress().poll_error, ServerError))
        time.sleep(3)
        polls = sum(r['path'].endswith('/jobs/') for r in agent.requests()) - before
        progress = fan.progress()
        fan.stop()
        fan.wait(timeout=LONG)
    assert 1 <= polls <= 12, f'{polls} polls in about 3 s at interval 0.2 with backoff'
    assert progress.poll_failures >= 2 and progress.poll_error is not None and progress.poll_error.status_code == 500


class GateSink:
    """A sink actor whose writes wait until the gate opens (acknowledged only then)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.received = 0
        self.collect = CollectingSink()

    def write(self, batch: LogBatch) -> int:
        self.received += len(batch.lines)
        self.gate.wait()
        return self.collect.write(batch)

    def open(self) -> None:
        self.gate.set()

    def count(self) -> int:
        return self.received

    def lines(self) -> dict[str, list[str]]:
        return self.collect.lines()


def test_a_job_is_completed_only_once_the_sink_acknowledged_it(cluster: None) -> None:
    """Regression (item 13): a job counted as completed while its batches were in flight was not
    re-tailed when its actor died, and its lines were lost."""
    with FakeAgent(TOKEN) as agent:
        agent.add_job('job-slow', [f'line {i}' for i in range(30)])
        sink = ray.remote(GateSink).options(num_cpus=0, max_concurrency=8).remote()
        fan = FanOut(agent.url, TOKEN, sink=sink, actors=1).start(['job-slow'])
        eventually('the sink never got the lines', lambda: ray.get(sink.count.remote()) == 30)
        eventually('the stream never ended', lambda: agent.stream_stats()['closed'] >= 1)
        time.sleep(0.5)  # time for a wrong "completed" to reach the driver
        assert fan.progress().completed == [], 'completed before the sink acknowledged its batches'
        assert fan.progress().checkpoints == {}, 'a checkpoint reported before the sink acknowledged it'
        ray.kill(fan.handles[0])
        eventually('the job was not handed to a new actor', lambda: fan.progress().reassignments == 1)
        ray.get(sink.open.remote())
        result = fan.wait(timeout=LONG)
    assert result.completed == ['job-slow'] and not result.running
    assert result.checkpoints['job-slow'].seq == 30
    assert ray.get(sink.lines.remote()) == {'job-slow': [f'line {i}' for i in range(30)]}


class Recorder:
    """A sink actor keeping every batch as it came."""

    def __init__(self) -> None:
        self.seen: list[LogBatch] = []

    def write(self, batch: LogBatch) -> None:
        self.seen.append(batch)

    def batches(self) -> list[LogBatch]:
        return self.seen


class ParkingStore:
    """Stores lines once (`CollectingSink`, which refuses a gap and counts repeats) and parks the
    first batch that comes once every job of `watched` has `hold` lines stored."""

    def __init__(self, watched: list[str], hold: int) -> None:
        self.collect = CollectingSink()
        self.watched = watched
        self.hold = hold
        self.parked = False

    def admit(self, job_id: str) -> bool:
        stored = self.collect.lines()
        if not self.parked and all(len(stored.get(j, ())) >= self.hold for j in self.watched):
            self.parked = True
            return False
        return True

    def write(self, batch: LogBatch) -> int:
        return self.collect.write(batch)

    def is_parked(self) -> bool:
        return self.parked

    def lines(self) -> dict[str, list[str]]:
        return self.collect.lines()

    def stats(self) -> dict[str, int]:
        return self.collect.stats()


def parking_sink(store: Any) -> Callable[[LogBatch], None]:
    """A callable sink (it runs in the tailing actor): acknowledged once the store wrote the
    batch; the batch the store parks never returns, so the actor hangs until it is killed."""

    def sink(batch: LogBatch) -> None:
        if not ray.get(store.admit.remote(batch.job_id)):
            threading.Event().wait()
        ray.get(store.write.remote(batch))

    return sink


def test_a_killed_actors_jobs_resume_after_the_acknowledged_lines(cluster: None) -> None:
    """Issue 18: the new actor starts each unfinished job right after the last line its sink
    acknowledged, numbering on, so the sink gets every line exactly once; a job whose log
    changed meanwhile fails with LogReplayMismatchError."""
    ids = [job(i) for i in range(6)]
    logs = {j: [f'{j} line {i} ✓' for i in range(60)] for j in ids}
    with FakeAgent(TOKEN) as agent:
        for j in ids:
            agent.add_job(j, logs[j], pace=30)  # 2 s per job: the kill lands mid-job
        store = ray.remote(ParkingStore).options(num_cpus=0).remote(ids[:2], 10)
        fan = FanOut(agent.url, TOKEN, sink=parking_sink(store), actors=1).start(ids)
        eventually('the store never parked a batch', lambda: ray.get(store.is_parked.remote()))
        stored = {j: len(lines) for j, lines in ray.get(store.lines.remote()).items()}
        acked = lambda: {j: at.seq for j, at in fan.progress().checkpoints.items()}  # noqa: E731
        eventually('the driver never heard the acknowledgements', lambda: acked() == stored)
        assert 10 <= stored[ids[0]] < 60 and fan.progress().completed == []
        agent.add_job(ids[1], ['rewritten', *logs[ids[1]][1:]], pace=30)  # its replay no longer matches
        ray.kill(fan.handles[0])
        result = fan.wait(timeout=2 * LONG)
    got = ray.get(store.lines.remote())
    assert ray.get(store.stats.remote())['repeats'] == 0
    for j in [ids[0], *ids[2:]]:
        assert got[j] == logs[j], j
    assert got[ids[1]] == logs[ids[1]][: stored[ids[1]]]
    assert list(result.failures) == [ids[1]]
    mismatch = result.failures[ids[1]]
    assert isinstance(mismatch, LogReplayMismatchError) and mismatch.status_code == 409
    assert sorted(result.completed) == [ids[0], *ids[2:]] and not result.unfinished
    assert result.replacements == 1 and result.reassignments == len(ids)
    assert result.lines == sum(map(len, got.values())), 'a line was handed to the sink twice'
    assert all(result.checkpoints[j].seq == 60 for j in result.completed)


def test_dropped_connections_resume_and_the_sink_gets_each_line_once(cluster: None) -> None:
    ids = [job(i) for i in range(8)]
    log = [f'step {i} ✓ ünï' for i in range(80)]
    drops = [{'drop_after_bytes': 301}, {'refuse': 503}, {'group': 3, 'drop_after_messages': 9}]
    with FakeAgent(TOKEN) as agent:
        for j in ids:
            agent.add_job(j, log, connections=[*drops, {'drop_after_messages': 40}])
        agent.add_job('job-rotated', log, connections=[{'drop_after_messages': 30}, {'truncate': 10}])
        store = collector()
        fan = FanOut(agent.url, TOKEN, sink=store, actors=2, resume=ResumePolicy(backoff=0.01, max_backoff=0.1))
        result = fan.run([*ids, 'job-rotated'])
    got = ray.get(store.lines.remote())
    assert ray.get(store.stats.remote())['repeats'] == 0
    assert {j: got[j] for j in ids} == {j: log for j in ids}
    assert sorted(result.completed) == ids
    assert list(result.failures) == ['job-rotated']
    assert isinstance(result.failures['job-rotated'], LogReplayMismatchError)
    rotated = got.get('job-rotated', [])
    assert rotated == log[: len(rotated)] and len(rotated) <= 30
    assert result.lines == 8 * 80 + len(rotated)
    assert {j: result.checkpoints[j].seq for j in ids} == dict.fromkeys(ids, 80)


def test_a_run_resumes_from_checkpoints_given_to_start(cluster: None) -> None:
    """A restarted driver goes on from what its sink stored: ``resume_from`` of ``JobCheckpoint``s."""
    log = [f'line {i}' for i in range(20)]
    with FakeAgent(TOKEN) as agent:
        agent.add_job(job(1), log)
        agent.add_job(job(2), log)
        stream = AgentClient(agent.url, TOKEN).tail_job_logs(job(1), resume=True)
        assert [next(stream) for _ in range(7)] == log[:7]
        checkpoint = stream.checkpoint()
        stream.close()
        sink = ray.remote(Recorder).options(num_cpus=0).remote()
        origins = {job(1): JobCheckpoint(checkpoint, 7), job(2): ('c1.0.not-a-checkpoint', 0)}
        result = FanOut(agent.url, TOKEN, sink=sink, actors=1).run([job(1), job(2)], resume_from=origins)
        batches: list[LogBatch] = ray.get(sink.batches.remote())
    assert [line for b in batches for line in b.lines] == log[7:]
    assert batches[0].seq == 7 and batches[-1].end == 20
    assert result.completed == [job(1)] and result.checkpoints[job(1)].seq == 20
    assert isinstance(result.failures[job(2)], ValidationError)


def test_the_token_can_stay_out_of_ray(cluster: None, tmp_path: Path) -> None:
    token_file = tmp_path / 'token'
    token_file.write_text(TOKEN + '\n')
    with FakeAgent(TOKEN) as agent:
        agent.add_job(job(1), ['a', 'b'])
        sink = collector()
        fan = FanOut(agent.url, TokenFromFile(str(token_file)), sink=sink, actors=1)
        assert TOKEN.encode() not in ray.cloudpickle.dumps(fan._settings)
        result = fan.run([job(1)])
    assert result.completed == [job(1)] and ray.get(sink.lines.remote()) == {job(1): ['a', 'b']}


def test_log_batch_records() -> None:
    batch = LogBatch('j', 5, ['a', 'b'], 'c1.4.x.j')
    assert list(batch.records()) == [('j', 5, 'a'), ('j', 6, 'b')]
    assert batch.end == 7 and batch.checkpoint == 'c1.4.x.j' and LogBatch('j', 0, []).checkpoint is None
    sink = CollectingSink()
    assert sink.write(LogBatch('j', 0, ['a', 'b'])) == 0
    assert sink.write(LogBatch('j', 0, ['a', 'b', 'c'])) == 2
    assert sink.lines() == {'j': ['a', 'b', 'c']}
    with pytest.raises(ValueError):
        sink.write(LogBatch('j', 7, ['z']))
    assert pickle.loads(pickle.dumps(batch)) == batch


def test_import_without_ray_says_what_to_install() -> None:
    code = 'import sys; sys.modules["ray"] = None\nimport synapse_agent_rs.ray'
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "ImportError: synapse_agent_rs.ray needs Ray: pip install 'synapse-agent-rs[ray]'" in done.stderr


def test_bad_arguments_are_refused_before_any_actor_starts() -> None:
    with pytest.raises(ValidationError, match='base_url'):
        FanOut('agent.example.com', TOKEN, sink=print)
    with pytest.raises(TypeError, match='sink'):
        FanOut('https://agent.example.com', TOKEN, sink='not a sink')
    with pytest.raises(ValueError, match='actors'):
        FanOut('https://agent.example.com', TOKEN, sink=print, actors=0)
    with pytest.raises(TypeError, match='resume'):
        FanOut('https://agent.example.com', TOKEN, sink=print, resume='yes')  # type: ignore[arg-type]
