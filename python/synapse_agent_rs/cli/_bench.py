"""``bench``: bulk-tails many firehose jobs of a FakeAgent (embedded, or one at ``--url``).

A live progress bar with lines/s goes to stderr on a terminal; the summary table goes to
stdout. Every line of the embedded agent's jobs is counted, so the exit status says whether
every job delivered every line.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from synapse_agent_rs.cli._output import console, plural, table
from synapse_agent_rs.cli._tail import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, error_text
from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.agent._many import ProtocolName
from synapse_agent_rs.testing import FakeAgent
from synapse_agent_rs.utils.network import StreamLimits

TOKEN = 'bench-agent-token'


def job_name(i: int) -> str:
    return f'job-{i:05d}'


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Result:
    jobs: int
    expected: int | None
    lines: int = 0
    bytes: int = 0
    seconds: float = 0.0
    first_line_of_last: float | None = None
    completed: int = 0
    failures: dict[str, BaseException] = field(default_factory=dict)
    interrupted: bool = False

    def rows(self) -> list[tuple[str, str]]:
        rate = self.lines / self.seconds if self.seconds else 0.0
        rows = [
            ('jobs', f'{self.jobs:,}'),
            ('completed', f'{self.completed:,}'),
            ('failed', f'{len(self.failures):,}'),
            ('lines', f'{self.lines:,}' + (f' of {self.expected:,}' if self.expected is not None else '')),
            ('seconds', f'{self.seconds:.2f}'),
            ('lines/s', f'{rate:,.0f}'),
            ('MiB/s', f'{self.bytes / self.seconds / 2**20:,.1f}' if self.seconds else '0'),
            (
                'first line of the last stream',
                f'{self.first_line_of_last * 1000:,.0f} ms' if self.first_line_of_last is not None else 'never',
            ),
            ('peak RSS (this process)', f'{peak_rss_mib():,.0f} MiB'),
        ]
        return rows

    def as_json(self) -> dict[str, Any]:
        return {
            'jobs': self.jobs,
            'completed': self.completed,
            'failed': len(self.failures),
            'lines': self.lines,
            'expected_lines': self.expected,
            'bytes': self.bytes,
            'seconds': self.seconds,
            'lines_per_second': self.lines / self.seconds if self.seconds else 0.0,
            'first_line_of_last_stream_seconds': self.first_line_of_last,
            'peak_rss_mib': peak_rss_mib(),
            'interrupted': self.interrupted,
        }

    @property
    def ok(self) -> bool:
        complete = self.expected is None or self.lines == self.expected
        return not self.failures and not self.interrupted and self.completed == self.jobs and complete


def show_progress(progress: Progress, task: TaskID, result: Result, seconds: float) -> None:
    rate = result.lines / seconds if seconds > 0 else 0.0
    done = result.completed + len(result.failures)
    jobs = f'{done:,}/{result.jobs:,} jobs'
    progress.update(task, completed=result.lines, rate=f'{rate:,.0f} lines/s', jobs=jobs)


def tail_all(
    client: AgentClient, jobs: list[str], expected: int | None, protocol: ProtocolName, max_connecting: int, show: bool
) -> Result:
    """Bulk-tails `jobs`, with a live progress bar on stderr when `show`."""
    result = Result(jobs=len(jobs), expected=expected)
    first: dict[str, float] = {}
    counts: dict[str, int] = defaultdict(int)
    progress = Progress(
        TextColumn('[bold]bench'),
        BarColumn(),
        TextColumn('{task.completed:,.0f}/{task.total:,.0f} lines'),
        TextColumn('{task.fields[rate]}'),
        TextColumn('{task.fields[jobs]}'),
        TimeElapsedColumn(),
        console=console(sys.stderr),
        disable=not show,
        transient=False,
    )
    total = expected if expected is not None else None
    start = time.perf_counter()
    next_update = start
    with progress:
        task = progress.add_task('bench', total=total, rate='', jobs='')
        stream = client.tail_many(jobs, protocol=protocol, max_connecting=max_connecting)
        try:
            with stream:
                for job, item in stream.events():
                    if job is None:  # the job listing (follow mode only)
                        continue
                    now = time.perf_counter()
                    if isinstance(item, list):
                        if job not in first:
                            first[job] = now - start
                        counts[job] += len(item)
                        result.lines += len(item)
                        result.bytes += sum(map(len, item))
                    elif item is None:
                        result.completed += 1
                    else:
                        result.failures[job] = item
                    if show and now >= next_update:
                        next_update = now + 0.1
                        rate = result.lines / (now - start) if now > start else 0.0
                        done = result.completed + len(result.failures)
                        progress.update(
                            task,
                            completed=result.lines,
                            rate=f'{rate:,.0f} lines/s',
                            jobs=f'{done:,}/{len(jobs):,} jobs',
                        )
        except KeyboardInterrupt:
            result.interrupted = True
        result.seconds = time.perf_counter() - start
        show_progress(progress, task, result, result.seconds)
    if first and len(first) == len(jobs):
        result.first_line_of_last = max(first.values())
    if expected is not None and result.lines != expected and not result.failures and not result.interrupted:
        short = [job for job in jobs if counts[job] != expected // max(len(jobs), 1)]
        for job in short[:5]:
            sys.stderr.write(f'synapse-agent-rs bench: job {job}: {plural(counts[job], "line")} received\n')
    return result


def run(
    *,
    jobs: int,
    lines: int,
    protocol: ProtocolName,
    max_connecting: int,
    queue_size: int,
    url: str | None,
    token: str | None,
    as_json: bool,
) -> int:
    """Runs the bench; answers the exit status."""
    show = sys.stderr.isatty() and not as_json
    if url is None:
        agent = FakeAgent(TOKEN)
        names = [job_name(i) for i in range(jobs)]
        for name in names:
            agent.add_job(name, firehose=lines)
        agent.start()
        client = AgentClient(agent.url, TOKEN)
        expected: int | None = jobs * lines
        where = f'embedded FakeAgent at {agent.url}'
    else:
        agent = None
        client = AgentClient(url, token or '')
        names = [j.get('submission_id') or j['job_id'] for j in client.list_jobs() if j.get('status') == 'RUNNING']
        names = names[:jobs] if jobs else names
        expected = None
        where = f'agent at {client.base_url}'
    client.stream_limits = StreamLimits.unlimited(queue_size=queue_size)
    if show:
        sys.stderr.write(f'tailing {plural(len(names), "job")} from the {where} ({protocol})\n')
    try:
        result = tail_all(client, names, expected, protocol, max_connecting, show)
    finally:
        if agent is not None:
            agent.stop()
    if as_json:
        sys.stdout.write(json.dumps(result.as_json()) + '\n')
    else:
        title = f'synapse-agent-rs bench: {plural(len(names), "job")}, protocol {protocol}'
        table(title, ['', 'value'], result.rows(), sys.stdout)
    for job, error in list(result.failures.items())[:10]:
        sys.stderr.write(f'synapse-agent-rs bench: {error_text(error, job)}\n')
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok else EXIT_FAILED
