"""``tail`` and ``follow``: many jobs' lines to stdout, like ``kubectl logs -f``."""

from __future__ import annotations

import json
import logging
import re
import signal
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TextIO

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

    The core writes these records from inside the stream's ``next()`` and reports an exception
    raised while it does as unraisable, so a Ctrl-C (or SIGTERM) landing in the logging code
    would be lost: the package logger's methods are wrapped to deliver it again a moment later,
    once the main thread is back waiting in the stream.
    """
    logger = logging.getLogger('synapse_agent_rs')
    if not logger.hasHandlers():
        logger.addHandler(_ResumeReport(logging.WARNING))
    for name in ('info', 'warning'):
        method = getattr(logger, name)
        if not getattr(method, '_redelivers', False):
            setattr(logger, name, _redelivering(method))


def _redelivering(method: Callable[..., None]) -> Callable[..., None]:
    def call(*args: object, **kwargs: Any) -> None:
        try:
            method(*args, **kwargs)
        except KeyboardInterrupt as e:
            signum = signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT
            main = threading.main_thread().ident or 0
            threading.Timer(0.05, signal.pthread_kill, args=(main, signum)).start()

    call._redelivers = True  # type: ignore[attr-defined]
    return call


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
