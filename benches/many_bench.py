"""Bulk tailing figures: ``tail_many`` over many streams, the older client's obvious loop, Ray fan-out.

Every measurement runs in a fresh process (so its peak RSS is its own) against a FakeAgent
started in another process by ``synapse-agent-rs fake-agent`` (firehose jobs of ~100-byte
lines), on the same machine: client and agent share its cores.

- ``ours``: ``client.tail_many(jobs).batches()`` in one process, all streams on the shared runtime.
- ``old``: the older client (``benches/.venv-old``) written the obvious way: one asyncio task
  per job, each ``async for line in client.tail_job_logs(job)``. Its async client misses a
  ``_get_url`` helper as shipped (AttributeError on every tail); the run supplies that one
  helper (``path -> path``, what its sync client does) and changes nothing else.
- ``ray``: ``synapse_agent_rs.ray.FanOut`` with 1 and 2 actors on a local cluster
  (``ray.init(num_cpus=2)``), a sink counting lines inside each actor.

Usage: ``python benches/many_bench.py [--streams 1,100,1000,5000] [--total 1000000]
[--markdown BENCHMARKS.md]``; the section between ``<!-- many:begin -->`` and
``<!-- many:end -->`` of the markdown file is replaced (appended if missing).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OURS_PY = ROOT / '.venv' / 'bin' / 'python'
OLD_PY = HERE / '.venv-old' / 'bin' / 'python'
CLI = ROOT / '.venv' / 'bin' / 'synapse-agent-rs'
BEGIN, END = '<!-- many:begin -->', '<!-- many:end -->'
TOKEN = 'bench-token'
COLUMNS = [
    'row',
    'streams × lines',  # noqa: RUF001
    'lines received',
    'aggregate lines/s',
    "last stream's first line, ms",
    'peak RSS MiB',
]
HEADER = '| ' + ' | '.join(COLUMNS) + ' |'


def job(i: int) -> str:
    return f'job-{i:05d}'


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# --- workers (each in its own process; print one JSON object) ---


def worker_ours(url: str, jobs: int, protocol: str) -> dict[str, Any]:
    from synapse_agent_rs.clients.agent import AgentClient
    from synapse_agent_rs.utils.network import StreamLimits

    client = AgentClient(url, TOKEN)
    client.stream_limits = StreamLimits.unlimited()
    ids = [job(i) for i in range(jobs)]
    first: dict[str, float] = {}
    lines = 0
    start = time.perf_counter()
    with client.tail_many(ids, protocol=protocol) as stream:
        for name, batch in stream.batches():
            if name not in first:
                first[name] = time.perf_counter() - start
            lines += len(batch)
        failed = len(stream.failures)
    seconds = time.perf_counter() - start
    return {'lines': lines, 'seconds': seconds, 'first_last': max(first.values()), 'rss': rss_mib(), 'failed': failed}


def worker_old(url: str, jobs: int, protocol: str) -> dict[str, Any]:
    import asyncio

    from synapse_sdk.clients.agent import AsyncAgentClient
    from synapse_sdk.utils.network import StreamLimits

    # The one helper its async client misses as shipped (its sync client returns the path as is).
    AsyncAgentClient._get_url = lambda self, path: path
    huge = 1 << 62
    first: dict[str, float] = {}
    counts = [0]
    failed = [0]
    reasons: dict[str, int] = {}

    async def tail(client: Any, name: str, start: float) -> None:
        n = 0
        try:
            async for _line in client.tail_job_logs(name, 30.0, protocol=protocol):
                if n == 0:
                    first[name] = time.perf_counter() - start
                n += 1
        except Exception as e:
            failed[0] += 1
            reason = f'{type(e).__name__}: {e}'[:80]
            reasons[reason] = reasons.get(reason, 0) + 1
        counts[0] += n

    async def main() -> float:
        client = AsyncAgentClient(url, TOKEN)
        client.stream_limits = StreamLimits(max_messages=huge, max_lines=huge, max_bytes=huge)
        start = time.perf_counter()
        await asyncio.gather(*(tail(client, job(i), start) for i in range(jobs)))
        return time.perf_counter() - start

    seconds = asyncio.run(main())
    return {
        'lines': counts[0],
        'seconds': seconds,
        'first_last': max(first.values()) if first else None,
        'rss': rss_mib(),
        'failed': failed[0],
        'reason': max(reasons, key=lambda r: reasons[r]) if reasons else None,
    }


class _Counter:
    """The Ray rows' sink: counts lines inside the actor (nothing leaves it)."""

    def __init__(self) -> None:
        self.lines = 0

    def __call__(self, batch: Any) -> None:
        self.lines += len(batch.lines)


def worker_ray(url: str, jobs: int, protocol: str, actors: int) -> dict[str, Any]:
    import ray

    from synapse_agent_rs.ray import FanOut
    from synapse_agent_rs.utils.network import StreamLimits

    ray.init(num_cpus=2, include_dashboard=False, logging_level='ERROR', log_to_driver=False)
    try:
        fan = FanOut(
            url,
            TOKEN,
            sink=_Counter(),
            actors=actors,
            protocol=protocol,
            stream_limits=StreamLimits.unlimited(),
            actor_options={'num_cpus': 2 / actors},
        )
        start = time.perf_counter()
        result = fan.run([job(i) for i in range(jobs)])
        wall = time.perf_counter() - start
    finally:
        ray.shutdown()
    # Both figures: the wall time of `FanOut.run` (actor start-up included: what a user waits)
    # and the tailing alone (from the first actor ready to the last job acknowledged).
    return {
        'lines': result.lines,
        'seconds': result.tail_seconds,
        'wall': wall,
        'startup': result.startup_seconds,
        'first_last': None,
        'rss': None,
        'failed': len(result.failures),
    }


# --- driver ---


class Agent:
    """``synapse-agent-rs fake-agent`` in its own process."""

    def __init__(self, jobs: int, lines: int) -> None:
        self.proc = subprocess.Popen(
            [str(CLI), 'fake-agent', '--jobs', str(jobs), '--lines', str(lines)],
            stdout=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if k != 'SYNAPSE_AGENT_TOKEN'},
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith('export SYNAPSE_AGENT_URL='):
                self.url = line.strip().split('=', 1)[1]
                break
        else:
            raise RuntimeError('the fake agent did not start')

    def stop(self) -> None:
        self.proc.send_signal(2)
        self.proc.wait(timeout=30)


def measure(kind: str, python: Path, url: str, jobs: int, protocol: str, extra: list[str]) -> dict[str, Any]:
    cmd = [str(python), __file__, '--worker', kind, '--url', url, '--jobs', str(jobs), '--protocol', protocol, *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ['no output'])[-1]
        return {'error': tail[:160]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f'{one:.2f} / {five:.2f} / {fifteen:.2f}'


def row(label: str, streams: int, per: int, r: dict[str, Any]) -> str:
    shape = f'{streams:,} × {per:,}'  # noqa: RUF001
    if 'error' in r:
        return f'| {label} | {shape} | unavailable: {r["error"]} | | | |'
    rate = r['lines'] / r['seconds'] if r['seconds'] else 0
    rates = f'{rate:,.0f}'
    if r.get('wall'):
        rates = f'{r["lines"] / r["wall"]:,.0f} with start-up; {rate:,.0f} tail-only'
    first = f'{r["first_last"] * 1000:,.0f}' if r.get('first_last') is not None else 'n/a'
    rss = f'{r["rss"]:,.0f}' if r.get('rss') is not None else 'n/a'
    lines = f'{r["lines"]:,}' + (f' ({r["failed"]:,} failed)' if r.get('failed') else '')
    if r.get('reason'):
        lines += f', mostly `{r["reason"]}`'
    if r.get('wall') is not None:
        lines += f' in {r["wall"]:.1f} s wall'
        if r.get('startup') is not None:
            lines += f' ({r["startup"]:.1f} s until the first actor was ready)'
    return f'| {label} | {shape} | {lines} | {rates} | {first} | {rss} |'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--worker', choices=['ours', 'old', 'ray'])
    parser.add_argument('--url')
    parser.add_argument('--jobs', type=int, default=1)
    parser.add_argument('--actors', type=int, default=1)
    parser.add_argument('--protocol', default='websocket')
    parser.add_argument('--streams', default='1,100,1000,5000')
    parser.add_argument('--total', type=int, default=1_000_000, help='lines per row, spread over its streams')
    parser.add_argument(
        '--old-streams', default=None, help='stream counts of the older client rows (default: --streams)'
    )
    parser.add_argument('--ray-actors', default='1,2', help="actor counts of the Ray rows ('' for none)")
    parser.add_argument('--ray-streams', type=int, default=1000)
    parser.add_argument('--markdown', help='replace the many-streams section of this file')
    args = parser.parse_args()
    raise_fd_limit()
    if args.worker == 'ours':
        print(json.dumps(worker_ours(args.url, args.jobs, args.protocol)))
        return
    if args.worker == 'old':
        print(json.dumps(worker_old(args.url, args.jobs, args.protocol)))
        return
    if args.worker == 'ray':
        print(json.dumps(worker_ray(args.url, args.jobs, args.protocol, args.actors)))
        return

    streams = [int(s) for s in args.streams.split(',') if s]
    old_streams = [int(s) for s in (args.old_streams or args.streams).split(',') if s]
    actors = [int(a) for a in args.ray_actors.split(',') if a]
    rows: list[str] = []
    broken: list[str] = []
    load_before = loadavg()
    for n in sorted(set(streams) | set(old_streams)):
        per = max(1, args.total // n)
        agent = Agent(n, per)
        try:
            if n in streams:
                r = measure('ours', OURS_PY, agent.url, n, args.protocol, [])
                if r.get('lines') != n * per:
                    broken.append(f'ours, {n} streams: {r}')
                rows.append(row('**ours, `tail_many(...).batches()`**', n, per, r))
                print(rows[-1], flush=True)
            if n in old_streams:
                if OLD_PY.exists():
                    r = measure('old', OLD_PY, agent.url, n, args.protocol, [])
                else:
                    r = {'error': 'benches/.venv-old missing; run `make bench-setup`'}
                rows.append(row('older client, one asyncio task per job', n, per, r))
                print(rows[-1], flush=True)
        finally:
            agent.stop()
    for a in actors:
        n = args.ray_streams
        per = max(1, args.total // n)
        agent = Agent(n, per)
        try:
            r = measure('ray', OURS_PY, agent.url, n, args.protocol, ['--actors', str(a)])
            rows.append(row(f'Ray fan-out, {a} actor{"s" if a > 1 else ""} (`FanOut`)', n, per, r))
            print(rows[-1], flush=True)
        finally:
            agent.stop()
    load_after = loadavg()
    section = '\n'.join(
        [
            BEGIN,
            '### Bulk tailing: many streams in one process, and over Ray',
            '',
            f'`python benches/many_bench.py --protocol {args.protocol} --total {args.total}` '
            f'({args.protocol}; each row in a fresh process against `synapse-agent-rs fake-agent` in another '
            f'process on the same {os.cpu_count()}-core machine; one run per row; load average '
            f'(1/5/15 min) {load_before} before and {load_after} after).',
            '',
            HEADER,
            '|---|---|---|---|---|---|',
            *rows,
            '',
            '- The older client cannot run this loop as shipped (its async client has no `_get_url`); the row',
            '  supplies that one helper. Ray rows: a local cluster of 2 CPUs (`ray.init` not timed); two',
            '  rates: over the wall time of `FanOut.run` (actor start-up included: what a user waits), and',
            '  over the tailing alone (first actor ready to last job acknowledged by the sink); the sink',
            '  counts lines inside the actors; RSS is spread over the actor processes and not reported.',
            END,
        ]
    )
    print(section)
    if args.markdown:
        path = Path(args.markdown)
        text = path.read_text() if path.exists() else ''
        if BEGIN in text and END in text:
            text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip('\n') + '\n\n' + section + '\n'
        path.write_text(text)


if __name__ == '__main__':
    sys.exit(main())
