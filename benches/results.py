"""The runs of each row, and the figures the tables show: medians with min and max."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import wire
from catalogue import PEER, RUST, Row
from measure import Sample

THROUGHPUT, MEMORY, SCALE = 'throughput', 'memory', 'scale'


@dataclass(frozen=True)
class Spread:
    """Median, min and max of one figure over the runs."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        values = [v for v in values if not math.isnan(v)]
        if not values:
            return cls(math.nan, math.nan, math.nan)
        return cls(statistics.median(values), min(values), max(values))


@dataclass
class RowResult:
    """Every run of one row, in one section of the benchmark."""

    row: Row
    section: str
    lines: int  # per stream
    streams: int = 1
    samples: list[Sample] = field(default_factory=list)

    @property
    def expected(self) -> int:
        return self.lines * self.streams

    @property
    def error(self) -> str:
        return next((s.error for s in self.samples if s.error), '')

    @property
    def unavailable(self) -> str:
        return next((s.unavailable for s in self.samples if s.unavailable), '')

    @property
    def ok(self) -> bool:
        return bool(self.samples) and not self.error and not self.unavailable

    def _spread(self, figure: Callable[[Sample], float]) -> Spread:
        return Spread.of([figure(s) for s in self.samples if not s.error and not s.unavailable and s.seconds > 0])

    @property
    def rate(self) -> Spread:
        """Lines per second."""
        return self._spread(lambda s: s.lines / s.seconds)

    @property
    def megabytes(self) -> Spread:
        """MB/s of the body as sent (frames or chunked body), 1 MB = 10^6 bytes."""
        size = wire.body_size(self.row.fmt, self.lines) * self.streams
        return self._spread(lambda s: size / s.seconds / 1e6)

    @property
    def cpu_us_per_line(self) -> Spread:
        return self._spread(lambda s: s.cpu_seconds / max(s.lines, 1) * 1e6)

    @property
    def peak_rss(self) -> Spread:
        return self._spread(lambda s: s.peak_rss_mib)

    @property
    def rss_growth(self) -> Spread:
        return self._spread(lambda s: s.rss_growth_mib)

    def extra(self, name: str) -> Spread:
        return self._spread(lambda s: s.extra.get(name, math.nan))


def best_peer(results: list[RowResult], fmt: str, label_prefix: str = '', listed: bool = False) -> RowResult | None:
    """The fastest peer row of ``fmt`` in the throughput section (by median lines/s).

    ``listed``: among the issue's peers only; ``label_prefix``: among one library's rows only.
    """
    peers = [
        r
        for r in results
        if r.section == THROUGHPUT and r.row.kind == PEER and r.row.fmt == fmt and r.ok
        if r.row.label.startswith(label_prefix) and (r.row.listed or not listed)
    ]
    return max(peers, key=lambda r: r.rate.median, default=None)


def find(results: list[RowResult], section: str, kind: str, fmt: str, label: str = '') -> RowResult | None:
    """The first row of ``section`` with this kind, format and label (any label when empty)."""
    for r in results:
        if r.section == section and r.row.kind == kind and r.row.fmt == fmt and (not label or r.row.label == label):
            return r
    return None


def ratio(ours: RowResult, other: RowResult | None) -> float:
    """Median lines/s of ``ours`` over ``other``'s (NaN when either is missing)."""
    if other is None or not ours.ok or not other.ok or not other.rate.median:
        return math.nan
    return ours.rate.median / other.rate.median


def rust_row(results: list[RowResult], fmt: str) -> RowResult | None:
    return find(results, THROUGHPUT, RUST, fmt, 'pure-Rust consumer of our core')
