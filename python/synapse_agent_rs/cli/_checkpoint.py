"""``--checkpoint-file``: where ``tail`` and ``follow`` got to, kept across their own restarts.

The file is JSON, ``{"format": "synapse-agent-rs checkpoints 1", "jobs": {job_id: {"checkpoint":
str, "lines": int}}}``: per job, the checkpoint after the last line printed and how many lines
of its log that is (``--json``'s ``seq`` goes on from there). It is only ever replaced whole
(a temporary file in the same directory, fsync, ``os.replace``, fsync of the directory), and
only with the checkpoints of lines already flushed to stdout, so a crash never records a line
that did not reach stdout.

Saving runs on the main thread, between two writes to stdout: a ticker thread sends
``SIGUSR1`` to the main thread every ``interval`` seconds while something changed (a signal
handler is the one thing that runs while the main thread waits in the stream). Ctrl-C and
SIGTERM are held while a batch is printed and its checkpoint noted, so an interruption never
falls between the two.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, TextIO

FORMAT = 'synapse-agent-rs checkpoints 1'
MAX_FILE_BYTES = 64 * 1024 * 1024
_TICK = signal.SIGUSR1


class CheckpointFileError(Exception):
    """The checkpoint file cannot be read, used or written: one line, never the file's content."""


class Terminated(KeyboardInterrupt):
    """SIGTERM while a checkpoint file is kept: handled as Ctrl-C is (exit status 143)."""


@dataclass(frozen=True)
class Entry:
    checkpoint: str
    lines: int


def load(path: str) -> dict[str, Entry]:
    """The file's checkpoints; a missing (or empty) file has none.

    Raises:
        CheckpointFileError: unreadable, too large, not JSON or not of this format.
    """
    try:
        with open(path, 'rb') as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise CheckpointFileError(f'cannot read it ({e.strerror})') from None
    if len(raw) > MAX_FILE_BYTES:
        raise CheckpointFileError('larger than 64 MiB: not a checkpoint file')
    if not raw.strip():
        return {}
    bad = 'not a checkpoint file of synapse-agent-rs'
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CheckpointFileError(f'{bad} (not JSON: line {e.lineno} column {e.colno})') from None
    except (ValueError, UnicodeDecodeError):
        raise CheckpointFileError(f'{bad} (not JSON text)') from None
    if not isinstance(data, dict) or data.get('format') != FORMAT or not isinstance(data.get('jobs'), dict):
        raise CheckpointFileError(f'{bad} (expected {{"format": "{FORMAT}", "jobs": {{...}}}})')
    entries: dict[str, Entry] = {}
    for job, value in data['jobs'].items():
        checkpoint = value.get('checkpoint') if isinstance(value, dict) else None
        lines = value.get('lines') if isinstance(value, dict) else None
        if not isinstance(checkpoint, str) or isinstance(lines, bool) or not isinstance(lines, int) or lines < 0:
            raise CheckpointFileError(f'{bad} (an entry is not {{"checkpoint": str, "lines": int}})')
        entries[job] = Entry(checkpoint, lines)
    return entries


def write(path: str, entries: dict[str, Entry]) -> None:
    """Replaces the file atomically with `entries` (durable once this returns).

    Raises:
        CheckpointFileError: the file or its directory cannot be written.
    """
    jobs = {job: {'checkpoint': e.checkpoint, 'lines': e.lines} for job, e in sorted(entries.items())}
    text = json.dumps({'format': FORMAT, 'jobs': jobs}, indent=1, ensure_ascii=False) + '\n'
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f'.{os.path.basename(path)}.{os.getpid()}.tmp')
    try:
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, text.encode())  # a regular file: written whole or an error
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as e:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise CheckpointFileError(f'cannot write it ({e.strerror})') from None
    try:  # the rename itself durable
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


class Keeper:
    """Notes each job's checkpoint after its lines are printed; saves them every `interval`
    seconds (when they changed) and at the end, each time right after flushing stdout."""

    def __init__(self, path: str, entries: dict[str, Entry], interval: float) -> None:
        self.path = path
        self.entries = dict(entries)
        self.saved = dict(entries)
        self._version = 0  # of `entries`: the ticker compares numbers, never the dicts being changed
        self._saved_version = 0
        self.interval = interval
        self.out: TextIO | None = None
        self.failure: str | None = None
        self._critical = False
        self._due = False
        self._held: KeyboardInterrupt | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._previous: dict[int, Any] = {}

    def lines(self, job: str) -> int:
        """Lines of `job`'s log printed before this run (``--json``'s first ``seq``)."""
        entry = self.entries.get(job)
        return entry.lines if entry else 0

    def note(self, job: str, checkpoint: str, lines: int) -> None:
        self.entries[job] = Entry(checkpoint, lines)
        self._version += 1

    def start(self, out: TextIO) -> None:
        """Starts saving periodically (and holding signals in sections): main thread only."""
        self.out = out
        if threading.current_thread() is not threading.main_thread():
            return  # signals cannot be handled here: saved at the end only
        handlers: dict[int, Callable[[int, FrameType | None], None]] = {
            signal.SIGINT: self._on_interrupt,
            signal.SIGTERM: self._on_interrupt,
            _TICK: self._on_tick,
        }
        for signum, handler in handlers.items():
            self._previous[signum] = signal.signal(signum, handler)
        main = threading.main_thread().ident
        assert main is not None

        def tick() -> None:
            while not self._stop.wait(self.interval):
                if self._version != self._saved_version:
                    signal.pthread_kill(main, _TICK)

        self._ticker = threading.Thread(target=tick, name='checkpoint-ticker', daemon=True)
        self._ticker.start()

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        error = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if self._critical and self._held is None:
            self._held = error  # raised once the batch and its checkpoint are both done
            return
        raise error  # a second Ctrl-C stops at once

    def _on_tick(self, signum: int, frame: FrameType | None) -> None:
        if self._critical:
            self._due = True
        elif self._ticker is not None and not self._stop.is_set() and self.failure is None:
            # This may run inside code the core calls (its log records), which reports an
            # exception as unraisable: only a KeyboardInterrupt gets through (see _tail).
            try:
                self.save()
            except OSError:
                pass  # stdout cannot be flushed: the next write to it fails and says so
            except CheckpointFileError as e:
                self.failure = str(e)
                raise KeyboardInterrupt from None  # stops the run, which reports the failure

    @contextmanager
    def section(self) -> Iterator[None]:
        """Writing to stdout and noting checkpoints: no save and no interruption in between."""
        self._critical = True
        try:
            yield
        finally:
            self._critical = False
        if self._held is not None:
            held, self._held = self._held, None
            raise held
        if self._due:
            self._due = False
            self.save()

    def save(self) -> None:
        """Flushes stdout, then writes the checkpoints if they changed.

        Raises:
            CheckpointFileError: the file cannot be written. OSError: stdout cannot be flushed.
        """
        if self.out is not None:
            self.out.flush()
        version, snapshot = self._version, dict(self.entries)
        if snapshot != self.saved:
            write(self.path, snapshot)
            self.saved = snapshot
        self._saved_version = version

    def stop(self) -> None:
        """Stops saving periodically (before the last flush of stdout: no tick may flush it
        from inside that flush) and gives SIGINT and SIGTERM back their handlers."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        for signum, previous in self._previous.items():
            # A tick sent before the ticker stopped may still come: never let it kill us.
            signal.signal(signum, (lambda s, f: None) if signum == _TICK else previous)
        self._previous.clear()

    def close(self, *, flushed: bool) -> None:
        """Saves a last time if stdout was flushed (else the last saved checkpoints stand:
        what was in stdout's buffer may not have reached it)."""
        self.stop()
        if flushed and self.failure is None:
            try:
                self.out = None  # flushed already
                self.save()
            except CheckpointFileError as e:
                self.failure = str(e)
