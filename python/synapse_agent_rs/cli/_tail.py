"""``tail`` and ``follow``: many jobs' lines to stdout, like ``kubectl logs -f``."""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import TextIO

from synapse_agent_rs._core import ManyStream
from synapse_agent_rs.cli._output import table
from synapse_agent_rs.clients.exceptions import ClientError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

FATAL_LISTING_STATUSES = frozenset({400, 401, 403, 404, 407})
"""Job-listing failures that retrying cannot fix: a refused token, or a URL that is no agent's."""


def error_text(error: BaseException | None) -> str:
    if isinstance(error, ClientError):
        return f'{type(error).__name__} ({error.status_code}): {error.detail}'
    return 'completed' if error is None else f'{type(error).__name__}: {error}'


class Printer:
    """Writes what a bulk tail yields: lines (prefixed by job id when `prefix`), or JSON records."""

    def __init__(self, out: TextIO, *, prefix: bool, as_json: bool) -> None:
        self.out = out
        self.prefix = prefix
        self.as_json = as_json
        self.lines: dict[str, int] = defaultdict(int)

    def batch(self, job: str, lines: list[str]) -> None:
        seq = self.lines[job]
        self.lines[job] = seq + len(lines)
        if self.as_json:
            text = ''.join(
                json.dumps({'job_id': job, 'seq': seq + i, 'line': line}, ensure_ascii=False) + '\n'
                for i, line in enumerate(lines)
            )
        elif self.prefix:
            text = ''.join(f'[{job}] {line}\n' for line in lines)
        else:
            text = ''.join(f'{line}\n' for line in lines)
        self.out.write(text)

    def end(self, job: str, error: BaseException | None) -> None:
        if self.as_json:
            record: dict[str, object] = {'job_id': job, 'end': 'completed' if error is None else 'failed'}
            if error is not None:
                record['error'] = type(error).__name__
                record['status_code'] = getattr(error, 'status_code', None)
                record['detail'] = str(getattr(error, 'detail', error))
            self.out.write(json.dumps(record) + '\n')
        elif error is not None:
            self.out.flush()
            sys.stderr.write(f'{job}: {error_text(error)}\n')


def listing_change(error: ClientError | None) -> tuple[str, bool]:
    """`follow`: the stderr line for a change of the job listing's state, and whether it is fatal."""
    prefix = 'synapse-agent-rs: follow:'
    if error is None:
        return f'{prefix} the job listing works again', False
    if error.status_code not in FATAL_LISTING_STATUSES:
        return f'{prefix} listing the jobs failed, retrying with backoff: {error_text(error)}', False
    if error.status_code in (401, 403, 407):
        hint = 'check the token (SYNAPSE_AGENT_TOKEN or --token-file)'
        if error.status_code == 407:
            hint = "check the proxy's credentials"
    else:
        hint = "check the agent's URL (--url or SYNAPSE_AGENT_URL)"
    return f'{prefix} cannot list the jobs: {error_text(error)}; {hint}', True


def run(stream: ManyStream, printer: Printer, *, follow: bool) -> int:
    """Prints everything `stream` yields; Ctrl-C closes it and prints a summary on stderr.

    With `follow`, each change of the job listing's state is one line on stderr; a failure
    that retrying cannot fix (401, 403, 404, 407, 400) ends the command with exit 1.
    """
    start = time.monotonic()
    interrupted = False
    try:
        with stream:
            for job, item in stream.events():
                if job is None:  # the job listing (follow): failing, or working again
                    line, fatal = listing_change(item)
                    printer.out.flush()
                    sys.stderr.write(line + '\n')
                    if fatal:
                        return EXIT_FAILED
                elif isinstance(item, list):
                    printer.batch(job, item)
                else:
                    printer.end(job, item)
    except KeyboardInterrupt:
        interrupted = True
    except BrokenPipeError:
        # The reader of stdout left (`| head`): stop quietly, as Unix tools do.
        sys.stderr.close()
        return EXIT_OK
    finally:
        try:
            printer.out.flush()
        except BrokenPipeError:
            pass
    ended = stream.ended
    failed = {job: e for job, e in ended.items() if e is not None}
    if interrupted or follow:
        summary(printer, ended, time.monotonic() - start, sys.stderr)
    if follow:
        if stream.poll_error is not None:
            sys.stderr.write(f'the job listing was failing: {error_text(stream.poll_error)}\n')
        if waiting := len(stream.waiting):
            sys.stderr.write(f'{waiting:,} more listed jobs were waiting for a slot (max_followed)\n')
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK


def summary(printer: Printer, ended: Mapping[str, BaseException | None], seconds: float, out: TextIO) -> None:
    jobs = sorted(set(printer.lines) | set(ended))
    rows = [
        [job, f'{printer.lines.get(job, 0):,}', error_text(ended[job]) if job in ended else 'running'] for job in jobs
    ]
    total = sum(printer.lines.values())
    title = f'{len(jobs)} jobs, {total:,} lines in {seconds:.1f} s'
    table(title, ['job', 'lines', 'end'], rows, out)
    if not out.isatty():
        out.write(title + '\n')
