"""Measuring one client process over one stream: wall time, CPU time (user+sys) and memory.

Stdlib only: used by client processes in both virtualenvs.

Memory: entering a :class:`Meter` resets the kernel's peak-RSS mark (``/proc/self/clear_refs``),
so ``peak_rss_mib`` is the peak reached while the stream ran (interpreter and imports included)
and ``rss_growth_mib`` is that peak minus the RSS just before the stream started.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any


class RowError(Exception):
    """A row ran but did something wrong (for instance, a wrong line count)."""


class Unavailable(Exception):
    """A row cannot run here: its library is not installed, or it fails as shipped."""


@dataclass
class Sample:
    """What one run of one row measured."""

    lines: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mib: float = 0.0
    rss_growth_mib: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
    error: str = ''
    unavailable: str = ''

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sample:
        return cls(**data)


def _status_kib(field_name: str) -> float | None:
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith(field_name + ':'):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')
    except OSError:
        return False
    return True


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Context manager around the streaming part of a row (not the client's construction)."""

    def __init__(self) -> None:
        self.sample = Sample()
        self._t0 = self._cpu0 = self._rss0 = 0.0
        self._peak_reset = False

    def __enter__(self) -> Meter:
        self._peak_reset = _reset_peak_rss()
        self._rss0 = _status_kib('VmRSS') or 0.0
        self._cpu0 = _cpu_seconds()
        self._t0 = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        s = self.sample
        s.seconds = time.perf_counter() - self._t0
        s.cpu_seconds = _cpu_seconds() - self._cpu0
        peak_kib = _status_kib('VmHWM') if self._peak_reset else None
        if peak_kib is None:  # no /proc: the process's lifetime peak
            peak_kib = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        s.peak_rss_mib = peak_kib / 1024
        s.rss_growth_mib = max(0.0, peak_kib - self._rss0) / 1024

    def elapsed(self) -> float:
        """Seconds since the meter was entered."""
        return time.perf_counter() - self._t0
