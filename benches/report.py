"""The tables of a benchmark run, as Markdown: for the terminal and for ``BENCHMARKS.md``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import wire
from catalogue import FORMAT_NAMES, OURS, Row
from results import MEMORY, SCALE, THROUGHPUT, RowResult, Spread, best_peer, ratio, rust_row
from targets import TIMES, Check

DASH = '\N{EN DASH}'


def _si(value: float) -> str:
    for scale, suffix in ((1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
        if abs(value) >= scale:
            return f'{value / scale:.3g}{suffix}'
    return f'{value:.3g}'


def _rate(spread: Spread) -> str:
    if math.isnan(spread.median):
        return DASH
    return f'{spread.median:,.0f} ({_si(spread.low)}{DASH}{_si(spread.high)})'


def _num(value: float, pattern: str) -> str:
    return DASH if math.isnan(value) else format(value, pattern)


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join('---' for _ in header) + '|']
    lines += ['| ' + ' | '.join(cells) + ' |' for cells in rows]
    return lines


def _label(row: Row, note: str = '') -> str:
    label = f'**{row.label}**' if row.kind == OURS else row.label
    notes = ', '.join(n for n in (row.note, note) if n)
    return f'{label} ({notes})' if notes else label


def _failed_cells(r: RowResult, width: int) -> list[str] | None:
    if r.unavailable:
        return [f'n/a: {r.unavailable}'] + [''] * (width - 1)
    if r.error or not r.samples:
        return [f'**ERROR**: {r.error or "not run"}'] + [''] * (width - 1)
    return None


def throughput_table(results: list[RowResult], fmt: str) -> list[str]:
    """One format's rows: lines/s, MB/s, CPU per line, peak RSS, and our ratios."""
    header = ['row', f'lines/s, median (min{DASH}max)', 'MB/s', 'CPU µs/line', 'peak RSS MiB']
    header += [f'{TIMES} best peer', '% of Rust']
    best, rust = best_peer(results, fmt), rust_row(results, fmt)
    rows = []
    for r in results:
        if r.section != THROUGHPUT or r.row.fmt != fmt:
            continue
        label = _label(r.row, 'best peer' if r is best else '')
        failed = _failed_cells(r, len(header) - 1)
        if failed:
            rows.append([label, *failed])
            continue
        mine = r.row.kind == OURS
        rows.append([
            label,
            _rate(r.rate),
            _num(r.megabytes.median, ',.0f'),
            _num(r.cpu_us_per_line.median, '.3f'),
            _num(r.peak_rss.median, '.1f'),
            _num(ratio(r, best), '.2f') + TIMES if mine else '',
            _num(ratio(r, rust) * 100, '.0f') + '%' if mine else '',
        ])  # fmt: skip
    return _table(header, rows)


def memory_table(results: list[RowResult]) -> list[str]:
    header = ['row', 'format', 'lines (body MiB)', 'lines/s', 'peak RSS MiB', f'RSS growth MiB, median (min{DASH}max)']
    rows = []
    for r in results:
        if r.section != MEMORY:
            continue
        size = wire.body_size(r.row.fmt, r.lines) / 2**20
        head = [_label(r.row), FORMAT_NAMES[r.row.fmt], f'{r.lines:,} ({size:,.0f})']
        failed = _failed_cells(r, len(header) - 3)
        if failed:
            rows.append(head + failed)
            continue
        growth = r.rss_growth
        rows.append([
            *head,
            _num(r.rate.median, ',.0f'),
            _num(r.peak_rss.median, '.1f'),
            f'{growth.median:.1f} ({growth.low:.1f}{DASH}{growth.high:.1f})',
        ])  # fmt: skip
    return _table(header, rows)


def scale_table(results: list[RowResult]) -> list[str]:
    header = ['row', 'format', f'streams {TIMES} lines', 'aggregate lines/s', "last stream's first line, ms"]
    header += ['peak RSS MiB']
    rows = []
    for r in results:
        if r.section != SCALE:
            continue
        head = [_label(r.row), FORMAT_NAMES[r.row.fmt], f'{r.streams:,} {TIMES} {r.lines:,}']
        failed = _failed_cells(r, len(header) - 3)
        if failed:
            rows.append(head + failed)
            continue
        first = r.extra('last_first_line_s')
        rows.append([
            *head,
            _rate(r.rate),
            f'{first.median * 1e3:.0f} ({first.low * 1e3:.0f}{DASH}{first.high * 1e3:.0f})',
            _num(r.peak_rss.median, '.1f'),
        ])  # fmt: skip
    return _table(header, rows)


def checks_table(checks: list[Check]) -> list[str]:
    return _table(
        ['target', 'wanted', 'measured', 'result'], ([c.target, c.wanted, c.measured, c.verdict] for c in checks)
    )


def tables(results: list[RowResult], checks: list[Check]) -> list[str]:
    """Every table of a run, with headings."""
    out: list[str] = []
    for fmt, name in FORMAT_NAMES.items():
        if any(r.section == THROUGHPUT and r.row.fmt == fmt for r in results):
            out += [f'### Throughput, {name}', '', *throughput_table(results, fmt), '']
    if any(r.section == MEMORY for r in results):
        out += ['### Memory: a slow consumer (1 ms of sleep every 1,000 lines) under a flood', '']
        out += [*memory_table(results), '']
    if any(r.section == SCALE for r in results):
        out += ['### Scale: concurrent streams in one process', '', *scale_table(results), '']
    out += ['### Targets', '', *checks_table(checks), '']
    return out
