"""Fan-out over a local Ray cluster (2 CPUs, started here) against the FakeAgent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import ray

from synapse_agent_rs.ray import CollectingSink, FanOut, LogBatch, ShardProgress, shard_of
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN

JOBS = 200


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


def job(i: int) -> str:
    return f'job-{i:03d}'


def plain_tail(agent: FakeAgent, jobs: list[str]) -> dict[str, list[str]]:
    from synapse_agent_rs.clients.agent import AgentClient

    client = AgentClient(agent.url, TOKEN)
    out: dict[str, list[str]] = {j: [] for j in jobs}
    for j, line in client.tail_many(jobs):
        out[j].append(line)
    return out


def test_two_actors_deliver_every_line(cluster: None) -> None:
    ids = [job(i) for i in range(JOBS)]
    with FakeAgent(TOKEN) as agent:
        for j in ids:
            agent.add_job(j, firehose=50)
        collector = ray.remote(CollectingSink).options(num_cpus=0).remote()
        reports: list[list[ShardProgress]] = []
        fan = FanOut(
            agent.url, TOKEN, sink=collector, actors=2, actor_options={'num_cpus': 1}, on_progress=reports.append
        )
        assert TOKEN not in repr(fan)
        result = fan.run(ids)
        want = plain_tail(agent, ids)
    got = ray.get(collector.lines.remote())
    assert got == want and sum(map(len, got.values())) == JOBS * 50
    assert result.completed == ids and result.failures == {} and result.reassignments == 0
    assert result.lines == JOBS * 50
    assert sorted(j for s in result.shards for j in s.jobs) == ids
    assert ray.get(collector.stats.remote())['repeats'] == 0
    assert reports and [s.shard for s in reports[-1]] == [0, 1]


def test_a_killed_actor_is_replaced_and_every_job_completes(cluster: None) -> None:
    ids = [job(i) for i in range(JOBS)]
    with FakeAgent(TOKEN) as agent:
        for j in ids:
            agent.add_job(j, firehose=40, pace=20)  # 2 s per job: the kill lands mid-run
        agent.add_job('job-broken', ['x'], fault='drop')
        collector = ray.remote(CollectingSink).options(num_cpus=0).remote()
        fan = FanOut(agent.url, TOKEN, sink=collector, actors=2, actor_options={'num_cpus': 1})
        fan.start([*ids, 'job-broken'])
        victim_jobs = [*ids, 'job-broken'][0::2]
        deadline = time.monotonic() + 60
        while not any(ray.get(collector.lines.remote()).get(j) for j in victim_jobs[:20]):
            assert time.monotonic() < deadline, 'shard 0 never delivered'
            time.sleep(0.05)
        ray.kill(fan.handles[0])
        result = fan.wait()
        want = plain_tail(agent, ids)
    got = ray.get(collector.lines.remote())
    for j in ids:
        assert got[j] == want[j], j
    assert result.reassignments >= 1
    assert result.shards[0].attempt >= 2
    assert result.completed == ids
    assert list(result.failures) == ['job-broken'] and result.failures['job-broken'].status_code == 503
    assert ray.get(collector.stats.remote())['repeats'] > 0, 'the re-tailed jobs replayed their lines'


def test_follow_mode_shards_running_jobs(cluster: None) -> None:
    counts: dict[str, Any] = {}
    with FakeAgent(TOKEN) as agent:
        for i in range(10):
            agent.add_job(job(i), firehose=30)
        agent.add_job('not-running', ['x'], status='SUCCEEDED')
        collector = ray.remote(CollectingSink).options(num_cpus=0).remote()
        fan = FanOut(agent.url, TOKEN, sink=collector, actors=2, actor_options={'num_cpus': 1})
        fan.start(follow=True, interval=0.1)
        deadline = time.monotonic() + 60
        while ray.get(collector.stats.remote())['lines'] < 300:
            assert time.monotonic() < deadline, 'follow mode never delivered every line'
            time.sleep(0.05)
        fan.stop()
        result = fan.wait()
        counts = {j: len(lines) for j, lines in ray.get(collector.lines.remote()).items()}
    assert counts == {job(i): 30 for i in range(10)}
    for shard in result.shards:
        assert all(shard_of(j, 2) == shard.shard for j in shard.jobs)


def test_log_batch_records() -> None:
    batch = LogBatch('j', 5, ['a', 'b'])
    assert list(batch.records()) == [('j', 5, 'a'), ('j', 6, 'b')]
    sink = CollectingSink()
    assert sink.write(LogBatch('j', 0, ['a', 'b'])) == 0
    assert sink.write(LogBatch('j', 0, ['a', 'b', 'c'])) == 2
    assert sink.lines() == {'j': ['a', 'b', 'c']}
    with pytest.raises(ValueError):
        sink.write(LogBatch('j', 7, ['z']))
