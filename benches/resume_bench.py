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
- checkpoint: the same job read whole, against a new stream from a checkpoint at line 900,000
  (the replayed 900,000 lines skipped and checked in Rust, 100,000 handed out);
- tail_many: 1,000 jobs of ``--many-lines`` lines each, every job's first connection dropped at
  half its log, against the same jobs undisturbed.

Usage: ``python benches/resume_bench.py [--lines 2000000] [--repeat 5] [--markdown BENCHMARKS.md]``
(a release build); the section between ``<!-- resume:begin -->`` and ``<!-- resume:end -->`` of
the markdown file is replaced (appended if missing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

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


Row = tuple[str, float, float, float, float]


def pair(name: str, a: Callable[[], float], b: Callable[[], float], repeat: int) -> Row:
    """Alternates the two sides; returns their medians and their minimums (the least disturbed
    runs, on a shared machine)."""
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(a())
        tb.append(b())
    return name, statistics.median(ta), statistics.median(tb), min(ta), min(tb)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--lines', type=int, default=2_000_000)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--drop-lines', type=int, default=1_000_000)
    parser.add_argument('--jobs', type=int, default=1000)
    parser.add_argument('--many-lines', type=int, default=1000)
    parser.add_argument('--markdown', type=Path)
    args = parser.parse_args()
    rows: list[Row] = []
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
            # Both sides' first connection is a planned one (the fake's planned output is slower
            # than its plain firehose): the ratio is the drop's cost, not the fake's.
            first = {'drop_after_messages': cut} if dropped else {'group': 1}
            agent.add_job('big', firehose=m, connections=[first])
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

        def from_checkpoint(skip: bool) -> float:
            # The replayed prefix alone: a new stream from a checkpoint taken at line `cut`.
            agent.add_job('big', firehose=m)
            if not skip:
                return timed(lambda: sum(1 for _ in client.tail_job_logs('big', protocol='websocket')), m)
            stream = client.tail_job_logs('big', protocol='websocket', resume=True)
            for _ in range(cut):
                next(stream)
            checkpoint = stream.checkpoint()
            stream.close()
            resumed = client.tail_job_logs('big', protocol='websocket', resume_from=checkpoint)
            return timed(lambda: sum(1 for _ in resumed), m - cut)

        rows.append(
            pair(
                f'{m:,}-line job: whole → only the last {m - cut:,} after a checkpoint (skips {cut:,} in Rust)',
                lambda: from_checkpoint(False),
                lambda: from_checkpoint(True),
                max(1, args.repeat // 2),
            )
        )
        jobs = [f'job{i}' for i in range(args.jobs)]
        k = args.many_lines

        def many_run(dropped: bool) -> float:
            for job in jobs:
                first = {'drop_after_messages': k // 2} if dropped else {'group': 1}
                agent.add_job(job, firehose=k, connections=[first])
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
    table = [
        '| row | first, s (median) | second, s (median) | ratio of medians | ratio of minimums |',
        '|---|---|---|---|---|',
    ]
    table += [
        f'| {name} | {a:.3f} | {b:.3f} | {b / a:.3f}× | {bmin / amin:.3f}× |'  # noqa: RUF001
        for name, a, b, amin, bmin in rows
    ]
    print('\n'.join(table))
    if args.markdown:
        write_section(args.markdown, table, args)


def write_section(path: Path, table: list[str], args: argparse.Namespace) -> None:
    """Replaces (or appends) the resume section of ``path``."""
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, check=False)
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    section = [
        BEGIN,
        "### Resume: the cursor's cost, and a drop's",
        '',
        f'`python benches/resume_bench.py --lines {args.lines} --repeat {args.repeat}` (release build, commit '
        f'`{commit.stdout.strip()}`, {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, load average {load} '
        'on 2 shared cores). Medians; the two sides of each ratio alternate in the same run. The FakeAgent '
        "runs in the same process and shares the two cores with the client; a drop costs the agent's replay "
        'of the log from its start (the protocol takes no offset), which the client skips without a crossing '
        'into Python (the checkpoint row: the skip of 900,000 replayed lines against handing them out).',
        '',
        *table,
        END,
    ]
    text = path.read_text() if path.exists() else ''
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + '\n'.join(section) + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip('\n') + '\n\n' + '\n'.join(section) + '\n'
    path.write_text(text)


BEGIN, END = '<!-- resume:begin -->', '<!-- resume:end -->'


if __name__ == '__main__':
    main()
