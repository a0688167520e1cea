"""``tail`` and ``follow``: many jobs' lines to stdout, like ``kubectl logs -f``."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from types import FrameType
from typing import TextIO

from synapse_agent_rs._core import ManyStream
from synapse_agent_rs.cli._checkpoint import CheckpointFileError, Keeper, Terminated
from synapse_agent_rs.cli._output import colour_wanted, is_terminal, plural, table, visible
from synapse_agent_rs.clients.exceptions import ClientConnectionError, ClientError

PROG = 'synapse-agent-rs'
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

FATAL_LISTING_STATUSES = frozenset({400, 401, 403, 404, 407})
"""Job-listing failures that retrying cannot fix: a refused token, or a URL that is no agent's."""

HINTS = {
    401: 'check the agent token (SYNAPSE_AGENT_TOKEN or --token-file)',
    403: 'the agent token is not allowed to do this (SYNAPSE_AGENT_TOKEN or --token-file)',
    404: "check the job id ('synapse-agent-rs jobs' lists the jobs)",
    408: 'the agent did not answer in time: raise --timeout, or check the network',
    409: "nothing was printed twice; to print the job's log again from its start, tail it without its checkpoint",
    429: 'a limit was reached (--max-lines, --max-bytes): raise it, or leave it unset',
}
"""What to do, by status code, after an error's message."""

_STATUS_PREFIX = re.compile(r'^\d{3}: ')
# Job-id prefixes on a terminal: cyan, green, yellow, magenta, blue, red, in order of appearance.
_PALETTE = ('36', '32', '33', '35', '34', '31')


def error_text(error: BaseException | None, job: str | None = None) -> str:
    """One line: what failed (naming the job once), the error class and status, what to do."""
    if error is None:
        return 'completed'
    message = _STATUS_PREFIX.sub('', str(error)) or type(error).__name__
    if job is not None and f'job {job}' not in message:
        message = f'job {job}: {message}'
    if not isinstance(error, ClientError):
        return visible(f'{message} ({type(error).__name__})')
    text = f'{message} ({error.status_code} {type(error).__name__})'
    hint = HINTS.get(error.status_code or 0)
    if isinstance(error, ClientConnectionError) and 'connect' in message:
        hint = 'is the agent running at that URL (--url or SYNAPSE_AGENT_URL)?'
    if hint and (error.status_code != 404 or job is not None):
        text += f'; {hint}'
    return visible(text)


def json_value(value: object) -> object:
    """`value` as it is when JSON can hold it (an error's parsed body), else its text."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


class Printer:
    """Writes what a bulk tail yields: lines (prefixed by job id when `prefix`), or JSON records.

    On a terminal, control characters of the lines are shown as visible escapes and the
    job-id prefixes are coloured (unless ``NO_COLOR``); piped and ``--json`` output is exact.
    """

    def __init__(self, out: TextIO, *, prefix: bool, as_json: bool) -> None:
        self.out = out
        self.prefix = prefix
        self.as_json = as_json
        self.lines: dict[str, int] = defaultdict(int)
        self.terminal = is_terminal(out) and not as_json
        self.colour = self.terminal and colour_wanted(out)
        self.prefixes: dict[str, str] = {}
        self.first_seq: Mapping[str, int] = {}
        """Lines of each job's log printed by an earlier run (``--checkpoint-file``)."""

    def _prefix(self, job: str) -> str:
        found = self.prefixes.get(job)
        if found is None:
            shown = visible(job) if self.terminal else job
            if self.colour:
                code = _PALETTE[len(self.prefixes) % len(_PALETTE)]
                found = f'\x1b[{code}m[{shown}]\x1b[0m '
            else:
                found = f'[{shown}] '
            self.prefixes[job] = found
        return found

    def batch(self, job: str, lines: list[str]) -> None:
        seq = self.first_seq.get(job, 0) + self.lines[job]
        self.lines[job] += len(lines)
        if self.as_json:
            text = ''.join(
                json.dumps({'job_id': job, 'seq': seq + i, 'line': line}, ensure_ascii=False) + '\n'
                for i, line in enumerate(lines)
            )
        else:
            prefix = self._prefix(job) if self.prefix else ''
            if self.terminal:
                lines = [visible(line) for line in lines]
            text = ''.join(f'{prefix}{line}\n' for line in lines)
        self.out.write(text)

    def end(self, job: str, error: BaseException | None) -> None:
        if self.as_json:
            record: dict[str, object] = {'job_id': job, 'end': 'completed' if error is None else 'failed'}
            if error is not None:
                record['error'] = type(error).__name__
                record['status_code'] = getattr(error, 'status_code', None)
                record['message'] = error_text(error, job)
                record['detail'] = json_value(getattr(error, 'detail', str(error)))
            self.out.write(json.dumps(record, ensure_ascii=False) + '\n')
        elif error is not None:
            self.out.flush()
            sys.stderr.write(f'{PROG}: {error_text(error, job)}\n')


class _ResumeReport(logging.Handler):
    """Each resume attempt (the package logger's warnings) as one line on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f'{PROG}: {visible(record.getMessage())}\n')
        except Exception:
            self.handleError(record)


def report_resumes() -> None:
    """Shows resume attempts (job, attempt, reason) on stderr, one line each, unless logging
    is configured already (then the package logger's records go where it says).

    The core writes these records from inside the stream's ``next()``; a Ctrl-C (or SIGTERM)
    landing in the logging code is raised from ``next()`` once the item is kept, so it is
    handled like any other.
    """
    logger = logging.getLogger('synapse_agent_rs')
    if not logger.hasHandlers():
        logger.addHandler(_ResumeReport(logging.WARNING))


def listing_change(error: ClientError | None) -> tuple[str, bool]:
    """`follow`: the stderr line for a change of the job listing's state, and whether it is fatal."""
    prefix = 'synapse-agent-rs: follow:'
    if error is None:
        return f'{prefix} the job listing works again', False
    if error.status_code not in FATAL_LISTING_STATUSES:
        return f'{prefix} listing the jobs failed, retrying with backoff: {error_text(error)}', False
    hint = ''  # error_text names what to do for 401/403
    if error.status_code == 407:
        hint = "; check the proxy's credentials"
    elif error.status_code in (400, 404):
        hint = "; check the agent's URL (--url or SYNAPSE_AGENT_URL)"
    return f'{prefix} cannot list the jobs: {error_text(error)}{hint}', True


def run(stream: ManyStream, printer: Printer, *, follow: bool, keeper: Keeper | None = None) -> int:
    """Prints everything `stream` yields; Ctrl-C closes it and prints a summary on stderr.

    With `follow`, each change of the job listing's state is one line on stderr; a failure
    that retrying cannot fix (401, 403, 404, 407, 400) ends the command with exit 1. With a
    `keeper` (``--checkpoint-file``), each job's checkpoint is noted right after its lines are
    printed, and saved periodically and at the end, after stdout was flushed.
    """
    start = time.monotonic()
    interrupted: KeyboardInterrupt | None = None
    section: Callable[[], AbstractContextManager[None]] = keeper.section if keeper is not None else nullcontext
    if keeper is not None:
        printer.first_seq = {job: keeper.lines(job) for job in keeper.entries}
    flushed = False
    try:
        with stream:
            if keeper is not None:
                keeper.start(printer.out)
            for job, item in stream.events():
                with section():
                    if job is None:  # the job listing (follow): failing, or working again
                        line, fatal = listing_change(item if isinstance(item, ClientError) else None)
                        printer.out.flush()
                        sys.stderr.write(line + '\n')
                        if fatal:
                            return EXIT_FAILED
                    elif isinstance(item, list):
                        printer.batch(job, item)
                        if keeper is not None:
                            keeper.note(job, stream.checkpoint(job), printer.first_seq.get(job, 0) + printer.lines[job])
                    else:
                        printer.end(job, item)
    except KeyboardInterrupt as e:
        interrupted = e
    except CheckpointFileError as e:
        assert keeper is not None
        keeper.failure = str(e)
    except BrokenPipeError:
        # The reader of stdout left (`| head`): stop quietly, as Unix tools do.
        sys.stderr.close()
        return EXIT_OK
    finally:
        if keeper is not None:
            keeper.stop()
        try:
            printer.out.flush()
            flushed = True
        except BrokenPipeError:
            pass
        finally:
            if keeper is not None:
                keeper.close(flushed=flushed)
    ended = stream.ended
    failed = {job: e for job, e in ended.items() if e is not None}
    if interrupted or follow:
        summary(printer, ended, time.monotonic() - start, sys.stderr)
    if follow:
        if stream.poll_error is not None:
            sys.stderr.write(f'{PROG}: the job listing was failing: {error_text(stream.poll_error)}\n')
        if waiting := len(stream.waiting):
            more = plural(waiting, 'more listed job')
            sys.stderr.write(f'{PROG}: {more} waited for a slot (--max-followed)\n')
    if keeper is not None and keeper.failure is not None:
        sys.stderr.write(f'{PROG}: --checkpoint-file {visible(keeper.path)}: {keeper.failure}\n')
        return EXIT_FAILED
    if interrupted:
        return EXIT_TERMINATED if isinstance(interrupted, Terminated) else EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK


def summary(printer: Printer, ended: Mapping[str, BaseException | None], seconds: float, out: TextIO) -> None:
    jobs = sorted(set(printer.lines) | set(ended))
    rows = [
        [job, f'{printer.lines.get(job, 0):,}', error_text(ended[job]) if job in ended else 'running'] for job in jobs
    ]
    total = sum(printer.lines.values())
    title = f'{plural(len(jobs), "job")}, {plural(total, "line")} in {seconds:.1f} s'
    table(title, ['job', 'lines', 'end'], rows, out)
    if not out.isatty():
        out.write(title + '\n')


PARQUET_MAX_DELAY = 10.0
"""``--parquet``: the longest a row waits for its row group. The file is readable only once it is
closed (Parquet writes its index last), so a short delay would buy nothing but tiny row groups;
a row group still closes at 32,768 rows or 4 MiB of text (``.arrow()``'s defaults)."""

WATCH_INTERVAL = 0.1
"""``--parquet``: seconds between two looks at the stream's failures and job listing."""


class Watch(threading.Thread):
    """``--parquet``: reports on stderr what the Arrow view leaves out, while ``to_parquet`` writes.

    Every ``WATCH_INTERVAL`` it reports each new job failure (one line each) and, with ``follow``,
    each change of the job listing's state; a listing failure that retrying cannot fix, or the
    first Ctrl-C, closes the stream, so that ``to_parquet`` writes the rows received and closes the
    file. A second Ctrl-C raises ``KeyboardInterrupt`` at once (the file is still closed readable).
    """

    def __init__(self, stream: ManyStream, *, follow: bool) -> None:
        super().__init__(name='synapse-agent-rs-watch', daemon=True)
        self.stream = stream
        self.follow = follow
        self.interrupts = 0
        self.fatal = False
        self.closed = False
        self.reported: set[str] = set()
        self.jobs: set[str] = set()
        self.listing: tuple[int | None, str] | None = None
        self.wake = threading.Event()
        self.done = threading.Event()

    def on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        """The SIGINT handler: the first stops the stream cleanly, the second at once."""
        self.interrupts += 1
        if self.interrupts > 1:
            raise KeyboardInterrupt
        self.wake.set()

    def run(self) -> None:
        while not self.done.is_set():
            self.wake.wait(WATCH_INTERVAL)
            self.wake.clear()
            self.check()
            if (self.interrupts or self.fatal) and not self.closed:
                self.closed = True
                self.stream.close()

    def stop(self) -> None:
        self.done.set()
        self.wake.set()
        self.join()
        self.check()  # what ended after the last look (the failures are complete now)

    def check(self) -> None:
        stream = self.stream
        self.jobs.update(stream.jobs)
        for job, failure in stream.failures.items():
            if job not in self.reported:
                self.reported.add(job)
                sys.stderr.write(f'{PROG}: {error_text(failure, job)}\n')
        if not self.follow or self.fatal:
            return
        error = stream.poll_error
        key = None if error is None else (error.status_code, str(error))
        if key != self.listing:
            if error is not None or self.listing is not None:
                line, self.fatal = listing_change(error)
                sys.stderr.write(line + '\n')
            self.listing = key


def write_parquet(stream: ManyStream, path: str, *, follow: bool) -> int:
    """``--parquet PATH``: writes the rows through ``stream.arrow().to_parquet(path)``.

    Job failures and listing changes go to stderr as they happen (``Watch``), then one summary
    line: the rows, the jobs and the file. Exit status as for printed lines: 1 if a job failed, the
    job listing could not work, or the file could not be written; 130 after Ctrl-C, with the file
    closed and readable (holding every row received before it).
    """
    start = time.monotonic()
    watch = Watch(stream, follow=follow)
    handler = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if handler else None
    if handler:
        signal.signal(signal.SIGINT, watch.on_interrupt)
    watch.start()
    rows: int | None = None
    failed_write: OSError | None = None
    try:
        with stream:
            rows = stream.arrow(max_delay=PARQUET_MAX_DELAY).to_parquet(path)
    except KeyboardInterrupt:  # the second Ctrl-C: `to_parquet` closed the file on its way out
        watch.interrupts = max(watch.interrupts, 1)
    except OSError as e:  # the file: a full disk, an I/O error, a permission denied on open
        failed_write = e
    finally:
        if handler and previous is not None:
            signal.signal(signal.SIGINT, previous)
        watch.stop()
    if failed_write is not None:
        what = os.strerror(failed_write.errno) if failed_write.errno else str(failed_write)
        sys.stderr.write(f'{PROG}: cannot write the Parquet file {visible(path)}: {visible(what)}\n')
        return EXIT_FAILED
    if rows is None:
        rows = parquet_rows(path)
    ended = stream.ended
    jobs = watch.jobs | set(ended)
    failed = sum(1 for error in ended.values() if error is not None)
    written = 'an unknown number of rows' if rows is None else plural(rows, 'row')
    seconds = time.monotonic() - start
    line = f'{PROG}: wrote {written} of {plural(len(jobs), "job")} to {visible(path)} in {seconds:.1f} s'
    sys.stderr.write(line + (f' ({failed} failed)\n' if failed else '\n'))
    if follow and not watch.fatal:
        if stream.poll_error is not None:
            sys.stderr.write(f'{PROG}: the job listing was failing: {error_text(stream.poll_error)}\n')
        if waiting := len(stream.waiting):
            sys.stderr.write(f'{PROG}: {plural(waiting, "more listed job")} waited for a slot (--max-followed)\n')
    if watch.interrupts:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed or watch.fatal else EXIT_OK


def parquet_rows(path: str) -> int | None:
    """The rows of the Parquet file at ``path`` as its footer says, or ``None`` if it cannot be read."""
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

        rows: int = pq.ParquetFile(path).metadata.num_rows
    except Exception:  # the file is not readable: the summary says the rows are unknown
        return None
    return rows
