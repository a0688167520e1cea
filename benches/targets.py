"""The figures the issue asks of our client, checked against one benchmark run: pass or miss."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from catalogue import FORMAT_NAMES, OURS, RUST
from results import MEMORY, SCALE, THROUGHPUT, RowResult, best_peer, find, ratio, rust_row

RSS_GROWTH_MAX_MIB = 16.0
SCALE_RATE_MIN = 2_000_000.0
SCALE_RSS_MAX_MIB = 128.0
CPU_PER_LINE_MAX_US = 0.25
RUST_BASELINE_LABEL = 'pure-Rust consumer, before our frame reader'
TIMES = '\N{MULTIPLICATION SIGN}'


@dataclass(frozen=True)
class Check:
    """One target: what was wanted, what was measured, and whether it was reached."""

    target: str
    wanted: str
    measured: str
    passed: bool | None  # None: could not be measured (a row failed or is missing)

    @property
    def verdict(self) -> str:
        return {True: 'pass', False: 'MISS', None: 'n/a'}[self.passed]


def _show(value: float, unit: str, digits: int = 2) -> str:
    if unit == TIMES:
        return f'{value:.{digits}f}{TIMES}'
    if unit == '%':
        return f'{value:.0f}%'
    if unit == 'lines/s':
        return f'{value:,.0f} lines/s'
    return f'{value:.3g} {unit}'


def _at_least(target: str, value: float, minimum: float, unit: str = TIMES) -> Check:
    wanted = f'≥ {_show(minimum, unit, digits=0 if minimum == int(minimum) else 2)}'
    if math.isnan(value):
        return Check(target, wanted, 'not measured', None)
    return Check(target, wanted, _show(value, unit), value >= minimum)


def _at_most(target: str, value: float, maximum: float, unit: str) -> Check:
    wanted = f'≤ {_show(maximum, unit)}'
    if math.isnan(value):
        return Check(target, wanted, 'not measured', None)
    return Check(target, wanted, _show(value, unit), value <= maximum)


def _ours(results: list[RowResult], fmt: str, label: str) -> RowResult | None:
    return find(results, THROUGHPUT, OURS, fmt, label)


def _vs_best_peer(results: list[RowResult], fmt: str, label: str, minimum: float) -> Iterator[Check]:
    """Against the best peer; also against the best of the issue's peers when an extra one is better."""
    ours = _ours(results, fmt, label)
    best, best_listed = best_peer(results, fmt), best_peer(results, fmt, listed=True)
    for peer, which in ((best, 'best peer'), (best_listed, "best of the issue's peers")):
        peer_name = peer.row.label if peer else 'no peer'
        value = ratio(ours, peer) if ours else math.nan
        yield _at_least(f'{FORMAT_NAMES[fmt]}, {label} vs {which} ({peer_name})', value, minimum)
        if best is best_listed:
            return


def _vs_own(results: list[RowResult], fmt: str, label: str, other: str, minimum: float) -> Check:
    ours, base = _ours(results, fmt, label), _ours(results, fmt, other)
    value = ratio(ours, base) if ours else math.nan
    return _at_least(f'{FORMAT_NAMES[fmt]}, {label} vs {other}', value, minimum)


def _cpu(results: list[RowResult], fmt: str) -> Check:
    ours = _ours(results, fmt, 'ours, sync per line')
    cpu = ours.cpu_us_per_line.median if ours and ours.ok else math.nan
    return _at_most(f'{FORMAT_NAMES[fmt]}, ours, sync per line: CPU per line', cpu, CPU_PER_LINE_MAX_US, 'µs')


def _throughput_checks(results: list[RowResult]) -> Iterator[Check]:
    yield from _vs_best_peer(results, 'ws', 'ours, sync per line', 10)
    yield _vs_own(results, 'ws', 'ours, async per line', 'ours, sync per line', 0.85)
    yield from _vs_best_peer(results, 'sse', 'ours, sync per line', 5)
    yield from _vs_best_peer(results, 'sse', 'ours, async per line', 5)
    ours, pyreqwest = _ours(results, 'plain', 'ours, sync per line'), best_peer(results, 'plain', 'pyreqwest')
    yield _at_least('HTTP plain, ours, sync per line vs pyreqwest', ratio(ours, pyreqwest) if ours else math.nan, 2)
    for fmt in FORMAT_NAMES:
        for label in ('ours, sync .batches()', 'ours, async .batches()'):
            ours = _ours(results, fmt, label)
            value = ratio(ours, rust_row(results, fmt)) * 100 if ours else math.nan
            yield _at_least(f'{FORMAT_NAMES[fmt]}, {label} vs the pure-Rust consumer', value, 70, '%')
    now, before = rust_row(results, 'ws'), find(results, THROUGHPUT, RUST, 'ws', RUST_BASELINE_LABEL)
    value = ratio(now, before) if now else math.nan
    yield _at_least('WebSocket, pure-Rust consumer vs itself before our frame reader', value, 2)
    yield _cpu(results, 'ws')
    yield _cpu(results, 'sse')


def _memory_checks(results: list[RowResult]) -> Iterator[Check]:
    for r in results:
        if r.section == MEMORY and r.row.kind == OURS:
            growth = r.rss_growth.median if r.ok else math.nan
            name = f'memory, {FORMAT_NAMES[r.row.fmt]}, {r.row.label}: RSS growth'
            yield _at_most(name, growth, RSS_GROWTH_MAX_MIB, 'MiB')


def _scale_checks(results: list[RowResult]) -> Iterator[Check]:
    for r in results:
        if r.section != SCALE or r.row.kind != OURS:
            continue
        name = f'scale, {FORMAT_NAMES[r.row.fmt]}, {r.row.label}'
        delivered = r.ok and all(s.lines == r.expected for s in r.samples)
        yield Check(
            f'{name}: all lines delivered', f'{r.expected:,}', 'yes' if delivered else r.error or 'no', delivered
        )
        yield _at_least(f'{name}: aggregate lines/s', r.rate.median if r.ok else math.nan, SCALE_RATE_MIN, 'lines/s')
        yield _at_most(f'{name}: peak RSS', r.peak_rss.median if r.ok else math.nan, SCALE_RSS_MAX_MIB, 'MiB')


def evaluate(results: list[RowResult]) -> list[Check]:
    """Every target of the sections that ran, in the order of the issue's table."""
    sections = {r.section for r in results}
    checks = list(_throughput_checks(results)) if THROUGHPUT in sections else []
    return [*checks, *_memory_checks(results), *_scale_checks(results)]
