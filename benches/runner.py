"""Processes of a benchmark: the emitter, and one client process per run of a row."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import wire
from catalogue import NATIVE, OLD_VENV, Row
from measure import Sample

BENCHES = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Interpreters:
    """Where each kind of row runs."""

    main: str
    old: str
    rust_consumer: str

    def binary(self, row: Row) -> str:
        """The executable of a native row: the consumer of this tree, or one built elsewhere."""
        return self.rust_consumer if row.target == 'rust' else str(BENCHES.parent / row.target)

    def command(self, row: Row, job: wire.Job) -> list[str]:
        if row.venv == NATIVE:
            return [self.binary(row), job.url, job.job_id, job.protocol]
        python = self.old if row.venv == OLD_VENV else self.main
        args = [row.target, job.url, job.fmt, str(job.lines), '--streams', str(job.streams)]
        return [python, str(BENCHES / 'row.py'), *args]


@dataclass
class Finished:
    """A child process that exited, with its resource usage from ``wait4``."""

    returncode: int
    stdout: str
    stderr: str
    usage: resource.struct_rusage


def launch(command: list[str], timeout: float, env: dict[str, str]) -> Finished:
    """Runs ``command`` to its end (killed after ``timeout`` seconds) and reaps it with ``wait4``."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env)
        assert proc.stdout is not None
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            out = proc.stdout.read()
        finally:
            timer.cancel()
            proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return Finished(proc.returncode, out.decode(errors='replace'), err.read().decode(errors='replace'), usage)


def _last_json(text: str) -> dict[str, object] | None:
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        return value if isinstance(value, dict) else None
    return None


def _failure(done: Finished) -> str:
    tail = done.stderr.strip().splitlines()[-1:] or ['no output']
    return f'exit code {done.returncode}: {tail[0][:300]}'


def run_row(row: Row, job: wire.Job, interpreters: Interpreters, timeout: float, env: dict[str, str]) -> Sample:
    """One run of ``row`` in a fresh process."""
    if row.venv == OLD_VENV and not Path(interpreters.old).exists():
        return Sample(unavailable=f'no interpreter at {interpreters.old}: run `make bench-setup`')
    if row.venv == NATIVE and not Path(interpreters.binary(row)).exists():
        return Sample(unavailable=f'{interpreters.binary(row)} is missing: `make bench` builds it')
    done = launch(interpreters.command(row, job), timeout, env)
    data = _last_json(done.stdout)
    if row.venv == NATIVE:
        return _native_sample(done, data, job)
    if data is None:
        return Sample(error=_failure(done))
    return Sample.from_json(data)


def _native_sample(done: Finished, data: dict[str, object] | None, job: wire.Job) -> Sample:
    """The Rust consumer times itself; its CPU time and peak RSS come from ``wait4``."""
    if done.returncode != 0 or data is None:
        return Sample(error=_failure(done))
    lines = int(str(data['lines']))
    sample = Sample(
        lines=lines,
        seconds=float(str(data['seconds'])),
        cpu_seconds=done.usage.ru_utime + done.usage.ru_stime,
        peak_rss_mib=done.usage.ru_maxrss / 1024,
        rss_growth_mib=float('nan'),
    )
    if lines != job.lines:
        sample.error = f'received {lines} lines, expected {job.lines}'
    return sample


class EmitterProcess:
    """The emitter in its own process, for the duration of a ``with`` block."""

    def __init__(self) -> None:
        self.url = ''
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> EmitterProcess:
        command = [sys.executable, str(BENCHES / 'emitter.py')]
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        if not self.url.startswith('http://127.0.0.1:'):
            self.__exit__()
            raise RuntimeError('the emitter did not start')
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is None:
            return
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
