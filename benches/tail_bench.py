"""Tail throughput of the sync and async clients against the FakeAgent firehose.

Each row runs in its own client process against a FakeAgent in a separate server process,
so the figures are the client's own: lines/s, CPU seconds (user+sys) and peak RSS.

    python benches/tail_bench.py                 # 1,000,000 lines per row
    python benches/tail_bench.py --lines 20000   # quick check (CI)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

ROWS = [
    ('sync', 'line', 'websocket'),
    ('sync', 'batches', 'websocket'),
    ('sync', 'line', 'http'),
    ('sync', 'batches', 'http'),
    ('async', 'line', 'websocket'),
    ('async', 'batches', 'websocket'),
    ('async', 'line', 'http'),
    ('async', 'batches', 'http'),
]


def serve(lines: int, streams: int, per_stream: int) -> None:
    """Server process: a FakeAgent with the firehose jobs; prints its URL, stops on stdin EOF."""
    from synapse_agent_rs.testing import FakeAgent

    with FakeAgent('bench-token') as agent:
        agent.add_job('firehose', firehose=lines)
        for i in range(streams):
            agent.add_job(f'small-{i}', firehose=per_stream)
        print(agent.url, flush=True)
        sys.stdin.read()


def _usage() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


async def _drain_async(client: Any, job: str, mode: str, protocol: str) -> int:
    count = 0
    stream = client.tail_job_logs(job, protocol=protocol)
    if mode == 'batches':
        async for batch in stream.batches():
            count += len(batch)
    else:
        async for _line in stream:
            count += 1
    return count


def client_row(url: str, kind: str, mode: str, protocol: str) -> dict[str, Any]:
    """Client process: tails the firehose job once and measures itself."""
    from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
    from synapse_agent_rs.utils.network import StreamLimits

    limits = StreamLimits.unlimited()
    cpu0, _ = _usage()
    t0 = time.perf_counter()
    if kind == 'sync':
        client = AgentClient(url, 'bench-token')
        client.stream_limits = limits
        count = 0
        stream = client.tail_job_logs('firehose', protocol=protocol)
        if mode == 'batches':
            for batch in stream.batches():
                count += len(batch)
        else:
            for _line in stream:
                count += 1
    else:

        async def run() -> int:
            async with AsyncAgentClient(url, 'bench-token') as client:
                client.stream_limits = limits
                return await _drain_async(client, 'firehose', mode, protocol)

        count = asyncio.run(run())
    elapsed = time.perf_counter() - t0
    cpu1, rss = _usage()
    return {'row': f'{kind} {mode} {protocol}', 'lines': count, 'seconds': elapsed, 'cpu': cpu1 - cpu0, 'rss_mib': rss}


def client_scale(url: str, streams: int, mode: str) -> dict[str, Any]:
    """Client process: tails `streams` small jobs at once in one event loop."""
    from synapse_agent_rs.clients.agent import AsyncAgentClient
    from synapse_agent_rs.utils.network import StreamLimits

    async def run() -> int:
        async with AsyncAgentClient(url, 'bench-token') as client:
            client.stream_limits = StreamLimits.unlimited()
            counts = await asyncio.gather(
                *(_drain_async(client, f'small-{i}', mode, 'websocket') for i in range(streams))
            )
            return sum(counts)

    cpu0, _ = _usage()
    t0 = time.perf_counter()
    count = asyncio.run(run())
    elapsed = time.perf_counter() - t0
    cpu1, rss = _usage()
    row = f'async {mode} {streams} streams'
    return {'row': row, 'lines': count, 'seconds': elapsed, 'cpu': cpu1 - cpu0, 'rss_mib': rss}


def _run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, '--child', *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--lines', type=int, default=1_000_000)
    parser.add_argument('--streams', type=int, default=1_000)
    parser.add_argument('--per-stream', type=int, default=1_000)
    parser.add_argument('--child', nargs='+', help=argparse.SUPPRESS)
    parser.add_argument('--serve', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        serve(args.lines, args.streams, args.per_stream)
        return
    if args.child:
        url, what, *rest = args.child
        result = client_scale(url, int(rest[0]), rest[1]) if what == 'scale' else client_row(url, what, *rest)
        print(json.dumps(result))
        return

    server = subprocess.Popen(
        [sys.executable, __file__, '--serve', '--lines', str(args.lines), '--streams', str(args.streams),
         '--per-stream', str(args.per_stream)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None and server.stdin is not None
    url = server.stdout.readline().strip()
    results = []
    try:
        for kind, mode, protocol in ROWS:
            results.append(_run_child(url, kind, mode, protocol))
        for mode in ('line', 'batches'):
            results.append(_run_child(url, 'scale', str(args.streams), mode))
    finally:
        server.stdin.close()
        server.wait(timeout=30)

    print(f'{"row":<34} {"lines":>10} {"lines/s":>12} {"CPU s":>8} {"CPU µs/line":>12} {"peak RSS MiB":>13}')
    failed = False
    for r in results:
        expected = args.streams * args.per_stream if 'streams' in r['row'] else args.lines
        ok = r['lines'] == expected
        failed |= not ok
        rate = r['lines'] / r['seconds'] if r['seconds'] else 0.0
        per_line = r['cpu'] / max(r['lines'], 1) * 1e6
        mark = '' if ok else f'  MISSING LINES (expected {expected})'
        cells = f'{r["lines"]:>10} {rate:>12,.0f} {r["cpu"]:>8.2f} {per_line:>12.3f} {r["rss_mib"]:>13.1f}'
        print(f'{r["row"]:<34} {cells}{mark}')
    print(f'machine: {os.cpu_count()} cores, python {sys.version.split()[0]}')
    if failed:
        sys.exit(1)


if __name__ == '__main__':
    main()
