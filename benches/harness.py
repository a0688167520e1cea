"""The benchmark harness: every row, each in its own client process, against the loopback emitter.

    python benches/harness.py                          # the full run (what `make bench` does)
    python benches/harness.py --lines 20000 --runs 1   # a quick check of the harness itself
    python benches/harness.py --from-json benches/results/latest.json --markdown BENCHMARKS.md
                                                       # the report of a saved run, again

Rows run round-robin (run 1 of every row, then run 2, ...) so that a burst of noise on the
machine hits every row alike. Exits with 1 if any row failed or got the wrong line count;
targets that are missed are reported, not fatal (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import document
import loops
import machine
import report
import targets
import wire
from catalogue import OURS, Row, memory_rows, scale_rows, throughput_rows
from measure import Sample
from results import MEMORY, SCALE, THROUGHPUT, RowResult
from runner import BENCHES, EmitterProcess, Interpreters, run_row

ROOT = BENCHES.parent


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--lines', type=int, default=1_000_000, help='lines per throughput run')
    parser.add_argument('--runs', type=int, default=3, help='runs per row (the median is reported)')
    parser.add_argument('--memory-mib', type=int, default=1024, help='body size of the memory rows')
    parser.add_argument('--streams', type=int, default=1000, help='concurrent streams of the scale rows')
    parser.add_argument('--per-stream', type=int, default=1000, help='lines per stream of the scale rows')
    parser.add_argument('--only', default='', help='run only the rows whose label or format contains this')
    parser.add_argument('--sections', default='throughput,memory,scale')
    parser.add_argument('--rust-consumer', default=str(ROOT / 'target/release/examples/rust_consumer'))
    parser.add_argument('--old-python', default=str(BENCHES / '.venv-old/bin/python'))
    parser.add_argument('--loop', choices=('uvloop', 'asyncio'), default='uvloop', help='event loop of async rows')
    parser.add_argument('--timeout', type=float, default=900, help='seconds before a client process is killed')
    parser.add_argument('--markdown', help='write the report to this file (e.g. BENCHMARKS.md)')
    parser.add_argument('--json', default=str(BENCHES / 'results/latest.json'), help='write every run here')
    parser.add_argument('--command', default='', help='how this run was started, for the report')
    parser.add_argument('--from-json', help='report a saved run (a --json file) instead of running')
    parser.add_argument('--note', default='', help='a remark on how this run was made, for the report')
    parser.add_argument('--commit', default='', help="the commit measured, when it is not the tree's HEAD")
    return parser.parse_args()


def _plan(args: argparse.Namespace) -> list[RowResult]:
    sections = set(args.sections.split(','))
    plan: list[RowResult] = []
    if THROUGHPUT in sections:
        plan += [RowResult(row, THROUGHPUT, args.lines) for row in throughput_rows()]
    if MEMORY in sections:
        memory_bytes = args.memory_mib * 2**20
        plan += [RowResult(row, MEMORY, wire.lines_for_bytes(row.fmt, memory_bytes)) for row in memory_rows()]
    if SCALE in sections:
        plan += [RowResult(row, SCALE, args.per_stream, args.streams) for row in scale_rows()]
    return [r for r in plan if args.only in r.row.label or args.only == r.row.fmt]


def _job(url: str, result: RowResult) -> wire.Job:
    return wire.Job(url, result.row.fmt, result.lines, result.streams)


def _progress(run: int, result: RowResult, seconds: float) -> str:
    sample = result.samples[-1]
    if sample.unavailable or sample.error:
        outcome = f'n/a: {sample.unavailable}' if sample.unavailable else f'ERROR: {sample.error}'
    else:
        outcome = f'{sample.lines / sample.seconds:>13,.0f} lines/s  cpu {sample.cpu_seconds:6.2f}s'
    row: Row = result.row
    return f'[run {run}] {result.section:<10} {row.fmt:<5} {row.label:<40} {outcome}  ({seconds:.1f}s)'


def _rounds(plan: list[RowResult], runs: int) -> Iterator[tuple[int, RowResult]]:
    for run in range(1, runs + 1):
        for result in plan:
            if run > 1 and result.unavailable:
                continue  # no point asking again
            yield run, result


def _extension_stamp() -> tuple[str, int, int] | None:
    """Path, mtime and size of the ``synapse_agent_rs._core`` extension our rows load (not imported here)."""
    spec = importlib.util.find_spec('synapse_agent_rs')
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for path in sorted(Path(folder).glob('_core*.so')):
            stat = path.stat()
            return str(path), stat.st_mtime_ns, stat.st_size
    return None


def _run(args: argparse.Namespace) -> tuple[list[RowResult], document.Settings]:
    plan = _plan(args)
    extension = _extension_stamp()
    interpreters = Interpreters(sys.executable, args.old_python, args.rust_consumer)
    env = {**os.environ, 'BENCH_LOOP': args.loop, 'PYTHONDONTWRITEBYTECODE': '1'}
    started = time.monotonic()
    with EmitterProcess() as emitter:
        for run, result in _rounds(plan, args.runs):
            t0 = time.monotonic()
            result.samples.append(run_row(result.row, _job(emitter.url, result), interpreters, args.timeout, env))
            print(_progress(run, result, time.monotonic() - t0), file=sys.stderr, flush=True)
    settings = document.Settings(
        lines=args.lines,
        runs=args.runs,
        memory_mib=args.memory_mib,
        streams=args.streams,
        per_stream=args.per_stream,
        loop=args.loop if loops.loop_name() == 'uvloop' else 'asyncio',
        command=args.command or ' '.join(['python benches/harness.py', *sys.argv[1:]]),
        minutes=(time.monotonic() - started) / 60,
    )
    if _extension_stamp() != extension:
        # NOTE: an editable install shares the extension with every build in the tree (`make test`
        # rebuilds it in dev mode): rows after the swap measured another build.
        message = f'our extension {extension and extension[0]} was rebuilt during the run: its figures are not valid'
        for result in plan:
            if result.row.kind == OURS:
                result.samples.append(Sample(error=message))
    return plan, settings


def main() -> int:
    args = _parse()
    if args.from_json:
        plan, settings, described = _load_json(Path(args.from_json))
    else:
        plan, settings = _run(args)
        described = machine.describe(args.old_python, args.commit) + ([f'- note: {args.note}'] if args.note else [])
        _save_json(Path(args.json), plan, settings, described)
    checks = targets.evaluate(plan)
    print('\n'.join(report.tables(plan, checks)))
    if args.markdown:
        Path(args.markdown).write_text(document.render(plan, checks, settings, described))
        print(f'wrote {args.markdown}', file=sys.stderr)
    failed = [r for r in plan if r.error]
    for r in failed:
        print(f'FAILED: {r.section} {r.row.fmt} {r.row.label}: {r.error}', file=sys.stderr)
    return 1 if failed else 0


def _save_json(path: Path, plan: list[RowResult], settings: document.Settings, described: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {'row': asdict(r.row), 'section': r.section, 'lines': r.lines, 'streams': r.streams,
         'samples': [s.to_json() for s in r.samples]}
        for r in plan
    ]  # fmt: skip
    data = {'settings': asdict(settings), 'machine': described, 'rows': rows}
    path.write_text(json.dumps(data, indent=1))


def _load_json(path: Path) -> tuple[list[RowResult], document.Settings, list[str]]:
    data = json.loads(path.read_text())
    plan = [
        RowResult(Row(**r['row']), r['section'], r['lines'], r['streams'], [Sample.from_json(s) for s in r['samples']])
        for r in data['rows']
    ]
    described = data.get('machine') or machine.describe(str(BENCHES / '.venv-old/bin/python'))
    return plan, document.Settings(**data['settings']), described


if __name__ == '__main__':
    sys.exit(main())
