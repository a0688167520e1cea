"""Arrow batches against ``.batches()`` and the wire: the rows of issue 19 (BENCHMARKS.md, *Arrow batches*).

Every run of a row is a fresh client process against the loopback emitter (``emitter.py``):

- one WebSocket stream of ``--lines`` lines: the emitter ceiling (a raw socket reader that only
  counts bytes), ``.batches()``, ``.arrow()``, and ``.arrow()`` read by pyarrow as one C stream;
- ``--streams`` WebSocket streams of ``--per`` lines through ``tail_many``: the ceiling (raw asyncio
  readers), ``.batches()``, ``.arrow()``, and ``.arrow()`` pinned to one CPU (``taskset``);
- the same jobs into a Parquet file: ``.arrow().to_parquet()`` against the best Python way today,
  ``.batches()`` plus ``pa.array`` per batch into a ``ParquetWriter`` (default compression both).

Usage: ``python benches/arrow_bench.py [--lines N] [--streams N] [--per N] [--runs N]``; prints a
Markdown table (median, min-max) with the targets met or missed.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCHES = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHES))

import ceiling  # noqa: E402
import wire  # noqa: E402
from measure import Meter  # noqa: E402
from runner import EmitterProcess  # noqa: E402

TIMEOUT = 60.0


def _client(url: str) -> Any:
    from synapse_agent_rs.clients.agent import AgentClient
    from synapse_agent_rs.utils.network import StreamLimits

    client = AgentClient(url, wire.TOKEN)
    client.stream_limits = StreamLimits(max_messages=None, max_lines=None, max_bytes=None)
    return client


def _jobs(job: wire.Job) -> list[str]:
    return [f'{job.job_id}-{k}' for k in range(job.streams)]


def one_batches(job: wire.Job, meter: Meter) -> int:
    client, count = _client(job.url), 0
    with meter:
        for batch in client.tail_job_logs(job.job_id, TIMEOUT, protocol='websocket').batches():
            count += len(batch)
    return count


def one_arrow(job: wire.Job, meter: Meter) -> int:
    client, count = _client(job.url), 0
    with meter:
        for batch in client.tail_job_logs(job.job_id, TIMEOUT, protocol='websocket').arrow():
            count += batch.num_rows
    return count


def one_arrow_pyarrow(job: wire.Job, meter: Meter) -> int:
    import pyarrow as pa

    client, count = _client(job.url), 0
    with meter:
        reader = pa.RecordBatchReader.from_stream(
            client.tail_job_logs(job.job_id, TIMEOUT, protocol='websocket').arrow()
        )
        for batch in reader:
            count += batch.num_rows
    return count


def many_batches(job: wire.Job, meter: Meter) -> int:
    client, count = _client(job.url), 0
    with meter, client.tail_many(_jobs(job), timeout=TIMEOUT, protocol='websocket') as stream:
        for _job, batch in stream.batches():
            count += len(batch)
    return count


def many_arrow(job: wire.Job, meter: Meter) -> int:
    client, count = _client(job.url), 0
    with meter, client.tail_many(_jobs(job), timeout=TIMEOUT, protocol='websocket') as stream:
        for batch in stream.arrow():
            count += batch.num_rows
    return count


def parquet_batches(job: wire.Job, meter: Meter) -> int:
    """The best Python way today: ``.batches()``, ``pa.array`` per batch, one row group per batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    client, count = _client(job.url), 0
    schema = pa.schema([('job_id', pa.string()), ('seq', pa.uint64()), ('line', pa.string())])
    seqs: dict[str, int] = {}
    path = Path(tempfile.mkdtemp()) / 'lines.parquet'
    with meter, client.tail_many(_jobs(job), timeout=TIMEOUT, protocol='websocket') as stream:
        with pq.ParquetWriter(path, schema) as writer:
            for job_id, lines in stream.batches():
                first = seqs.get(job_id, 0)
                seqs[job_id] = first + len(lines)
                columns = [
                    pa.array([job_id] * len(lines), pa.string()),
                    pa.array(range(first, first + len(lines)), pa.uint64()),
                    pa.array(lines, pa.string()),
                ]
                writer.write_batch(pa.record_batch(columns, schema=schema))
                count += len(lines)
    rows = pq.ParquetFile(path).metadata.num_rows
    shutil.rmtree(path.parent)
    return min(count, rows)


def parquet_arrow(job: wire.Job, meter: Meter) -> int:
    import pyarrow.parquet as pq

    client = _client(job.url)
    path = Path(tempfile.mkdtemp()) / 'lines.parquet'
    with meter, client.tail_many(_jobs(job), timeout=TIMEOUT, protocol='websocket') as stream:
        count = stream.arrow().to_parquet(path)
    rows = pq.ParquetFile(path).metadata.num_rows
    shutil.rmtree(path.parent)
    return min(count, rows)


RUST_CONSUMER = BENCHES.parent / 'target/release/examples/rust_consumer'


def rust_consumer(job: wire.Job, meter: Meter) -> int:
    """Our core with no Python (``benches/rust/rust_consumer.rs``): the bound of every Python row."""
    with meter:
        done = subprocess.run(
            [str(RUST_CONSUMER), job.url, job.job_id, 'websocket'], capture_output=True, text=True, check=True
        )
    data = json.loads(done.stdout)
    # Its own clock (without the process start), and its own CPU time and peak RSS.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter.sample.seconds = float(data['seconds'])
    meter.sample.cpu_seconds = usage.ru_utime + usage.ru_stime
    meter.sample.peak_rss_mib = usage.ru_maxrss / 1024
    return int(data['lines'])


ROWS: dict[str, Any] = {
    'ceiling_one': ceiling.raw_reader,
    'rust_consumer': rust_consumer,
    'one_batches': one_batches,
    'one_arrow': one_arrow,
    'one_arrow_pyarrow': one_arrow_pyarrow,
    'ceiling_many': ceiling.raw_streams,
    'many_batches': many_batches,
    'many_arrow': many_arrow,
    'many_arrow_1cpu': many_arrow,
    'parquet_batches': parquet_batches,
    'parquet_arrow': parquet_arrow,
}

LABELS = {
    'ceiling_one': 'emitter ceiling (raw socket reader)',
    'rust_consumer': 'pure-Rust consumer of our core (no Python)',
    'one_batches': 'ours, sync .batches()',
    'one_arrow': 'ours, .arrow()',
    'one_arrow_pyarrow': 'ours, .arrow() as one C stream (pyarrow RecordBatchReader)',
    'ceiling_many': 'emitter ceiling (raw asyncio readers)',
    'many_batches': 'ours, tail_many .batches()',
    'many_arrow': 'ours, tail_many .arrow()',
    'many_arrow_1cpu': 'ours, tail_many .arrow(), pinned to 1 CPU (taskset)',
    'parquet_batches': '.batches() + pa.array per batch -> ParquetWriter',
    'parquet_arrow': '.arrow().to_parquet()',
}


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def child(row: str, url: str, lines: int, streams: int) -> None:
    raise_fd_limit()
    job = wire.Job(url, 'ws', lines, streams)
    meter = Meter()
    got = ROWS[row](job, meter)
    s = meter.sample
    print(json.dumps({'lines': got, 'seconds': s.seconds, 'cpu': s.cpu_seconds, 'rss': s.peak_rss_mib}))


def run(row: str, url: str, lines: int, streams: int) -> dict[str, float]:
    command = [sys.executable, __file__, '--child', row, url, str(lines), str(streams)]
    if row.endswith('_1cpu') and shutil.which('taskset'):
        command = ['taskset', '-c', '0', *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f'{row}: {done.stderr.strip()[-2000:]}')
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if result['lines'] != lines * streams:
        raise RuntimeError(f'{row}: {result["lines"]} lines, expected {lines * streams}')
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--lines', type=int, default=1_000_000)
    parser.add_argument('--streams', type=int, default=1_000)
    parser.add_argument('--per', type=int, default=1_000)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--child', nargs=4, metavar=('ROW', 'URL', 'LINES', 'STREAMS'))
    args = parser.parse_args()
    if args.child:
        row, url, lines, streams = args.child
        child(row, url, int(lines), int(streams))
        return
    raise_fd_limit()
    medians: dict[str, float] = {}

    def shape(row: str) -> tuple[int, int]:
        single = not row.startswith(('many', 'parquet', 'ceiling_many'))
        return (args.lines, 1) if single else (args.per, args.streams)

    if not RUST_CONSUMER.exists():  # cargo build --release --example rust_consumer
        del ROWS['rust_consumer']
    samples: dict[str, list[dict[str, float]]] = {row: [] for row in ROWS}
    with EmitterProcess() as emitter:
        # Round-robin: every row's runs are spread over the whole measurement, so a change in the
        # machine's load (it is shared) weighs on all rows alike and the ratios stay fair.
        for _ in range(args.runs):
            for row in ROWS:
                samples[row].append(run(row, emitter.url, *shape(row)))
    print('| row | workload | lines/s, median (min-max) | CPU µs/line | peak RSS MiB |')
    print('|---|---|---|---|---|')
    for row, got in samples.items():
        lines, streams = shape(row)
        rates = [s['lines'] / s['seconds'] for s in got]
        medians[row] = statistics.median(rates)
        cpu = statistics.median(s['cpu'] / s['lines'] * 1e6 for s in got)
        rss = statistics.median(s['rss'] for s in got)
        workload = f'{lines:,} lines' if streams == 1 else f'{streams:,} x {lines:,}'
        print(
            f'| {LABELS[row]} | {workload} | {medians[row]:,.0f} ({min(rates) / 1e6:.2f}M-{max(rates) / 1e6:.2f}M) '
            f'| {cpu:.3f} | {rss:.1f} |'
        )
    targets = [
        ('one stream: .arrow() vs .batches()', 'one_arrow', 'one_batches', 3.0),
        ('one stream: .arrow() vs the wire ceiling', 'one_arrow', 'ceiling_one', 0.5),
        ('1,000 streams: .arrow() vs .batches()', 'many_arrow', 'many_batches', 3.0),
        ('1,000 streams: .arrow() vs the wire ceiling', 'many_arrow', 'ceiling_many', 0.5),
        ('Parquet: .arrow().to_parquet() vs .batches() + pa.array', 'parquet_arrow', 'parquet_batches', 2.0),
    ]
    print('\n| target | wanted | measured | result |\n|---|---|---|---|')
    for name, a, b, want in targets:
        ratio = medians[a] / medians[b]
        print(f'| {name} | ≥ {want:g}x | {ratio:.2f}x | {"pass" if ratio >= want else "MISS"} |')
    if 'rust_consumer' in medians:
        core = medians['one_arrow'] / medians['rust_consumer']
        print(f'\none stream: .arrow() runs at {core:.0%} of the pure-Rust consumer of our core')
    scaling = medians['many_arrow_1cpu'] / medians['many_arrow']
    print(f'\n1 CPU vs {os.cpu_count()} CPUs (tail_many .arrow()): {scaling:.2f}x')


if __name__ == '__main__':
    main()
