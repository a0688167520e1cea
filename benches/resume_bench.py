"""Resume figures: what the cursor costs when nothing breaks, and what a drop costs.

Each row is timed in this process against a FakeAgent on 127.0.0.1 (in-process: the agent's
tasks share the runtime with the client's readers, the same way for both sides of a ratio);
runs alternate between the two sides of a ratio and the median of ``--repeat`` is reported.

- cursor cost: the headline rows (sync per line and ``.batches()``, WebSocket and HTTP) over a
  firehose of ``--lines`` ~100-byte lines, with ``resume=False`` and with ``resume=True`` (the
  reader hashes every line, each batch carries its marks);
- drop: a 1,000,000-line job whose first connection is dropped at line 900,000, against the same
  job undisturbed (both with ``resume=True``, sync per line): the replayed 900,000 lines are
  skipped and checked in Rust;
- tail_many: 1,000 jobs of ``--many-lines`` lines each, every job's first connection dropped at
  half its log, against the same jobs undisturbed.

Usage: ``python benches/resume_bench.py [--lines 2000000] [--repeat 5]`` (a release build).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from synapse_agent_rs.clients.agent import AgentClient, ResumePolicy
from synapse_agent_rs.testing import FakeAgent
from synapse_agent_rs.utils.network import StreamLimits

UNLIMITED = StreamLimits(max_messages=None, max_lines=None, max_bytes=None)


def timed(run: Callable[[], int], expect: int) -> float:
    started = time.perf_counter()
    got = run()
    elapsed = time.perf_counter() - started
    assert got == expect, f'{got} lines, expected {expect}'
    return elapsed


def per_line(client: AgentClient, job: str, protocol: str, resume: bool) -> int:
    count = 0
    for _ in client.tail_job_logs(job, protocol=protocol, resume=resume):
        count += 1
    return count


def batches(client: AgentClient, job: str, protocol: str, resume: bool) -> int:
    return sum(len(b) for b in client.tail_job_logs(job, protocol=protocol, resume=resume).batches())


def pair(name: str, a: Callable[[], float], b: Callable[[], float], repeat: int) -> tuple[str, float, float]:
    """Alternates the two sides; returns the medians."""
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(a())
        tb.append(b())
    return name, statistics.median(ta), statistics.median(tb)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--lines', type=int, default=2_000_000)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--drop-lines', type=int, default=1_000_000)
    parser.add_argument('--jobs', type=int, default=1000)
    parser.add_argument('--many-lines', type=int, default=1000)
    args = parser.parse_args()
    rows: list[tuple[str, float, float]] = []
    n = args.lines
    with FakeAgent('bench') as agent:
        client = AgentClient(agent.url, 'bench')
        client.stream_limits = UNLIMITED
        agent.add_job('fire', firehose=n)
        for protocol in ('websocket', 'http'):
            for label, consume in (('sync per line', per_line), ('sync .batches()', batches)):
                rows.append(
                    pair(
                        f'{protocol}, {label}: resume off → on ({n:,} lines)',
                        lambda c=consume, p=protocol: timed(lambda: c(client, 'fire', p, False), n),
                        lambda c=consume, p=protocol: timed(lambda: c(client, 'fire', p, True), n),
                        args.repeat,
                    )
                )
        m = args.drop_lines
        cut = m * 9 // 10
        policy = ResumePolicy(backoff=0.0, max_backoff=0.0)

        def drop_run(dropped: bool) -> float:
            agent.add_job('big', firehose=m, connections=[{'drop_after_messages': cut}] if dropped else [])
            stream = client.tail_job_logs('big', protocol='websocket', resume=policy)
            elapsed = timed(lambda: sum(1 for _ in stream), m)
            assert stream.resumes == (1 if dropped else 0)
            return elapsed

        rows.append(
            pair(
                f'{m:,}-line job: undisturbed → dropped at line {cut:,}',
                lambda: drop_run(False),
                lambda: drop_run(True),
                max(1, args.repeat // 2),
            )
        )
        jobs = [f'job{i}' for i in range(args.jobs)]
        k = args.many_lines

        def many_run(dropped: bool) -> float:
            for job in jobs:
                agent.add_job(job, firehose=k, connections=[{'drop_after_messages': k // 2}] if dropped else [])
            stream = client.tail_many(jobs, protocol='websocket', resume=policy)
            elapsed = timed(lambda: sum(len(b) for _, b in stream.batches()), args.jobs * k)
            assert stream.failures == {}
            return elapsed

        rows.append(
            pair(
                f'tail_many, {args.jobs:,} jobs × {k:,} lines: undisturbed → each dropped once at half',  # noqa: RUF001
                lambda: many_run(False),
                lambda: many_run(True),
                max(1, args.repeat // 2),
            )
        )
    print('| row | first, s (median) | second, s (median) | ratio |')
    print('|---|---|---|---|')
    for name, a, b in rows:
        print(f'| {name} | {a:.3f} | {b:.3f} | {b / a:.3f}× |')  # noqa: RUF001


if __name__ == '__main__':
    main()
