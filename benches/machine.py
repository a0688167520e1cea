"""What a benchmark ran on: the machine, the toolchains and the versions of every client measured."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

from runner import BENCHES

PEER_PACKAGES = (
    'picows',
    'orjson',
    'aiohttp',
    'websockets',
    'websocket-client',
    'requests',
    'httpx',
    'pyreqwest',
    'wreq',
    'uvloop',
)


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return ''
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else ''


def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float:
    try:
        with open('/proc/meminfo') as meminfo:
            return int(meminfo.readline().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        return float('nan')


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return 'not installed'


CALIBRATION_N = 10_000_000


def calibrate(runs: int = 3) -> float:
    """Seconds for a fixed CPU-bound loop in this interpreter (the median of ``runs``)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        total = 0
        for i in range(CALIBRATION_N):
            total += i * i
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def describe(old_python: str, commit: str = '') -> list[str]:
    """Markdown bullet lines describing the machine and the versions (``commit``: the tree's HEAD)."""
    root = BENCHES.parent
    dirty = False
    if not commit:
        commit = _first_line(['git', '-C', str(root), 'rev-parse', '--short', 'HEAD']) or 'unknown'
        dirty = _first_line(['git', '-C', str(root), 'status', '--porcelain']) != ''
    old_version = ''
    if Path(old_python).exists():
        old_version = _first_line(
            [old_python, '-c', 'from importlib import metadata; print(metadata.version("synapse-sdk"))']
        )
    peers = ', '.join(f'{name} {_version(name)}' for name in PEER_PACKAGES)
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    return [
        f'- date: {now}; our commit `{commit}`{" (with uncommitted changes)" if dirty else ""}',
        f'- CPU: {_cpu_model()}, {os.cpu_count()} cores; memory {_memory_gib():.0f} GiB; Linux {platform.release()}',
        f'- Python {platform.python_version()} ({platform.python_implementation()}); {_first_line(["rustc", "-V"])}',
        f'- calibration: `for i in range({CALIBRATION_N:_}): total += i * i` in this CPython took'
        f' {calibrate():.3f} s (median of 3, timed in this run)',
        f'- load average (1, 5, 15 min) when the run ended: {", ".join(f"{x:.1f}" for x in os.getloadavg())}'
        f' on {os.cpu_count()} cores (the machine is shared)',
        f'- peers: {peers}',
        f'- older client: synapse-sdk {old_version or "not installed"} (in `benches/.venv-old`)',
    ]
