"""The ``synapse-agent-rs`` command: tail, follow, REST tables, a fake agent, a benchmark.

Every failure is one line on stderr (what failed, which job or option, what to do) and an
exit status: 0 when everything completed, 1 when a stream, a request or the output failed,
2 for bad usage (a bad option value, no URL, no token, a bad job id), 130 after Ctrl-C. No
traceback is ever shown (``SYNAPSE_AGENT_RS_DEBUG=1`` shows one for an internal error).
The full reference is ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import ipaddress
import math
import os
import resource
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn
from urllib.parse import urlsplit

from synapse_agent_rs.cli import _bench, _checkpoint, _tail
from synapse_agent_rs.cli._output import plural, print_json, records_table, visible
from synapse_agent_rs.clients.agent import AgentClient, ResumePolicy
from synapse_agent_rs.clients.agent._many import (
    DEFAULT_MAX_BUFFERED_BYTES,
    DEFAULT_MAX_CONNECTING,
    DEFAULT_MAX_FOLLOWED,
    ProtocolName,
)
from synapse_agent_rs.clients.exceptions import ClientError, ValidationError
from synapse_agent_rs.utils.network import StreamLimits, validate_resource_id

__all__ = ['main']

PROG = _tail.PROG
EXIT_USAGE = 2
_OUTPUT_ERRORS = (errno.ENOSPC, errno.EBADF, errno.EIO, errno.EDQUOT, errno.EFBIG)
"""What writing to stdout fails with (no other OSError reaches ``main`` without a file name)."""

DESCRIPTION = """\
Tail Ray job logs from a Synapse agent, list its jobs, nodes, tasks and Serve
applications, run a fake agent, or benchmark bulk tailing.

The agent comes from --url or SYNAPSE_AGENT_URL; the agent token from
SYNAPSE_AGENT_TOKEN or --token-file, never from the command line (other users can read
command lines), and it is never printed. Logs are whole by default: no line or byte
count stops a stream unless --max-lines or --max-bytes says so.

Exit status: 0 everything completed; 1 a stream, a request or the output failed;
2 bad usage; 130 interrupted (Ctrl-C closes every stream and prints a summary)."""

LISTS = {
    'jobs': ('list_jobs', 'Ray jobs'),
    'nodes': ('list_nodes', 'cluster nodes'),
    'tasks': ('list_tasks', 'Ray tasks'),
    'serve': ('list_serve_applications', 'Ray Serve applications'),
}

PROTOCOLS = ('auto', 'websocket', 'http')
DEFAULT_LIMITS = StreamLimits()
"""The SDK's per-stream defaults; the command keeps only their memory bounds."""


class UsageError(Exception):
    """Bad usage: exit status 2."""


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows every option's default (when it has one) after its help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ''
        if (
            action.default not in (None, False, argparse.SUPPRESS)
            and '%(default)' not in text
            and action.option_strings
        ):
            text += ' (default: %(default)s)'
        return text


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f'{self.prog}: {visible(message)} (see {self.prog} --help)\n')
        sys.exit(EXIT_USAGE)


def _number(kind: Callable[[str], Any], test: Callable[[Any], bool], wanted: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{text!r} is not {wanted}') from None
        if not test(value):
            raise argparse.ArgumentTypeError(f'{text!r} is not {wanted}')
        return value

    parse.__name__ = wanted  # argparse names the type in its message
    return parse


seconds = _number(float, lambda v: math.isfinite(v) and v > 0, 'a positive number of seconds')
rate = _number(float, lambda v: math.isfinite(v) and v > 0, 'a positive number of lines per second')
positive = _number(int, lambda v: v >= 1, 'a positive integer')
count = _number(int, lambda v: v >= 0, 'a non-negative integer')
port = _number(int, lambda v: 0 <= v <= 65535, 'a port number (0 to 65535)')


def host(text: str) -> str:
    """An IP address or a host name (a dotted quad must be a valid IPv4 address)."""
    if text.replace('.', '').isdigit():
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{text!r} is not an IPv4 address') from None
    elif not text or any(c.isspace() or ord(c) < 32 for c in text):
        raise argparse.ArgumentTypeError(f'{text!r} is not a host name or IP address')
    return text


def _add_agent_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--url', help='the agent URL, http:// or https:// (default: $SYNAPSE_AGENT_URL)')
    parser.add_argument('--token-file', help='a file holding the agent token (default: $SYNAPSE_AGENT_TOKEN)')


def _add_resume_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group('resuming (see docs/cli.md)')
    group.add_argument(
        '--no-resume',
        action='store_true',
        help='a dropped connection fails its job (default: resume on a new connection, no line printed twice)',
    )
    group.add_argument(
        '--checkpoint-file',
        metavar='PATH',
        help="keep each job's checkpoint in PATH: restarted with it, print only the lines not printed yet",
    )
    group.add_argument(
        '--checkpoint-interval',
        type=seconds,
        metavar='S',
        default=1.0,
        help='with --checkpoint-file: seconds between two saves while lines are printed (also saved at exit)',
    )


def _add_stream_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--protocol', choices=PROTOCOLS, default='auto', help='log stream protocol')
    parser.add_argument('--timeout', type=seconds, default=30.0, help='connect timeout and liveness deadline, seconds')
    output = parser.add_mutually_exclusive_group()
    output.add_argument('--json', action='store_true', help='JSON lines: {"job_id", "seq", "line"} and end records')
    output.add_argument(
        '--parquet',
        metavar='PATH',
        help='write the lines to a Parquet file (columns job_id, seq, line) instead of printing them; '
        "needs pyarrow: pip install 'synapse-agent-rs[arrow]'",
    )
    limits = parser.add_argument_group('limits (logs are whole by default)')
    limits.add_argument(
        '--max-lines', type=positive, metavar='N', help="end a job's stream with an error after N lines (default: none)"
    )
    limits.add_argument(
        '--max-bytes', type=positive, metavar='N', help="end a job's stream with an error after N bytes (default: none)"
    )
    limits.add_argument(
        '--max-line-bytes',
        type=positive,
        metavar='N',
        default=DEFAULT_LIMITS.max_message_size,
        help='skip a line (WebSocket message) longer than N bytes',
    )
    limits.add_argument(
        '--queue-size',
        type=positive,
        metavar='N',
        default=DEFAULT_LIMITS.queue_size,
        help='lines a stream may run ahead',
    )
    limits.add_argument(
        '--max-buffered-bytes',
        type=positive,
        metavar='N',
        default=DEFAULT_MAX_BUFFERED_BYTES,
        help='line bytes all streams together may buffer',
    )
    limits.add_argument(
        '--max-connecting',
        type=positive,
        metavar='N',
        default=DEFAULT_MAX_CONNECTING,
        help='connections opened at once',
    )


def parser() -> argparse.ArgumentParser:
    from synapse_agent_rs._core import __version__

    top = Parser(prog=PROG, description=DESCRIPTION, formatter_class=Formatter)
    top.add_argument('--version', action='version', version=f'{PROG} {__version__}')
    sub = top.add_subparsers(dest='command', required=True, metavar='COMMAND', parser_class=Parser)

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        made: argparse.ArgumentParser = sub.add_parser(
            name, help=help, description=description, formatter_class=Formatter
        )
        return made

    tail = command(
        'tail',
        "stream jobs' logs until they end",
        "Stream jobs' whole logs (from the start) until they end. Several jobs are prefixed [job_id].",
    )
    tail.add_argument('jobs', nargs='+', metavar='JOB', help='Ray job ids (submission ids)')
    _add_agent_options(tail)
    _add_stream_options(tail)
    _add_resume_options(tail)

    follow = command(
        'follow',
        'stream every running job, picking up new ones, until Ctrl-C',
        'Stream the log of every running job, and of every job that starts, until Ctrl-C.',
    )
    follow.add_argument('--interval', type=seconds, default=2.0, help='seconds between two job listings')
    follow.add_argument(
        '--max-followed',
        type=positive,
        metavar='N',
        default=DEFAULT_MAX_FOLLOWED,
        help='jobs streamed at once; other running jobs wait for a slot',
    )
    _add_agent_options(follow)
    _add_stream_options(follow)
    _add_resume_options(follow)

    for name, (_, what) in LISTS.items():
        listing = command(name, f'list the {what}', f'List the {what} as a table (or JSON).')
        _add_agent_options(listing)
        listing.add_argument('--json', action='store_true', help="the agent's JSON answer instead of a table")

    fake = command(
        'fake-agent',
        'run a FakeAgent with firehose jobs until Ctrl-C',
        'Run a fake agent (a real HTTP/WebSocket server) with running jobs job-00000, job-00001, ...',
    )
    fake.add_argument('--host', type=host, default='127.0.0.1', help='address to listen on')
    fake.add_argument('--port', type=port, default=0, help='port to listen on; 0 picks a free one')
    fake.add_argument('--jobs', type=count, default=10, help='running jobs')
    fake.add_argument('--lines', type=count, default=1000, help='lines per job stream; 0 for endless')
    fake.add_argument('--rate', type=rate, help='lines per second per job (default: as fast as read)')
    fake.add_argument('--token-file', help='accept only this token (default: $SYNAPSE_AGENT_TOKEN, else any token)')

    bench = command(
        'bench',
        'bulk-tail an embedded FakeAgent and report lines/s',
        'Bulk-tail every job of an embedded fake agent (or of the agent at --url) and report lines/s.',
    )
    bench.add_argument('--jobs', type=positive, default=1000, help='jobs tailed at once')
    bench.add_argument('--lines', type=positive, default=1000, help='lines per job (about 100 bytes each)')
    bench.add_argument('--protocol', choices=PROTOCOLS, default='websocket', help='log stream protocol')
    bench.add_argument(
        '--max-connecting', type=positive, default=DEFAULT_MAX_CONNECTING, help='connections opened at once'
    )
    bench.add_argument('--queue-size', type=positive, default=1000, help='lines each stream may run ahead')
    bench.add_argument('--url', help='bench the agent at this URL (its RUNNING jobs) instead of an embedded one')
    bench.add_argument(
        '--token-file', help='with --url: a file holding the agent token (default: $SYNAPSE_AGENT_TOKEN)'
    )
    bench.add_argument('--json', action='store_true', help='the summary as one JSON object')
    return top


def _token(token_file: str | None, *, required: bool) -> str | None:
    if token_file:
        try:
            with open(token_file, 'rb') as f:
                raw = f.read(64 * 1024)
        except OSError as e:
            raise UsageError(f'--token-file {visible(token_file)}: cannot read it ({e.strerror})') from None
        try:
            token = raw.decode('utf-8').strip()
        except UnicodeDecodeError:
            raise UsageError(f'--token-file {visible(token_file)}: not UTF-8 text; an agent token is text') from None
        where = f'--token-file {visible(token_file)}'
    else:
        env = os.environ.get('SYNAPSE_AGENT_TOKEN')
        if env is None:
            if required:
                raise UsageError('no agent token: set SYNAPSE_AGENT_TOKEN or pass --token-file FILE')
            return None
        token, where = env.strip(), 'SYNAPSE_AGENT_TOKEN'
    if not token:
        raise UsageError(f'{where}: the agent token is empty')
    if any(ord(c) < 32 or ord(c) == 127 for c in token):
        raise UsageError(f'{where}: the agent token holds a control character (a line break?); it must be one line')
    return token


def _url(given: str | None) -> tuple[str, str]:
    """The agent URL and where it came from, checked before any I/O."""
    url, where = (given, '--url') if given else (os.environ.get('SYNAPSE_AGENT_URL'), 'SYNAPSE_AGENT_URL')
    if not url:
        raise UsageError('no agent URL: pass --url URL or set SYNAPSE_AGENT_URL')
    parts = urlsplit(url)
    shown = visible(url.replace(f'{parts.username}:{parts.password}@', '') if parts.password else url)
    if parts.scheme not in ('http', 'https'):
        raise UsageError(f'{where} {shown!r}: add http:// or https:// (e.g. https://agent.example.com)')
    if not parts.hostname:
        raise UsageError(f'{where} {shown!r}: no host name')
    return url, where


def _client(url_option: str | None, token_file: str | None) -> AgentClient:
    url, where = _url(url_option)
    token = _token(token_file, required=True)
    try:
        return AgentClient(url, token or '')
    except ValidationError as e:
        raise UsageError(f'{where}: {_detail(e)}'.replace('base_url', 'the agent URL')) from None


def _detail(error: ValidationError) -> str:
    """What a ``ValidationError`` raised before any I/O says, without its class and status."""
    detail = error.detail if isinstance(error.detail, str) else str(error)
    return visible(detail)


def _limits(args: argparse.Namespace) -> StreamLimits:
    return StreamLimits(
        max_messages=args.max_lines,
        max_lines=args.max_lines,
        max_bytes=args.max_bytes,
        max_message_size=args.max_line_bytes,
        queue_size=args.queue_size,
    )


def _parquet_path(text: str) -> str:
    """``--parquet PATH``, checked before any I/O: a file that can be written, and pyarrow installed."""
    where = f'--parquet {visible(text)!r}'
    path = os.path.abspath(text) if text else ''
    directory = os.path.dirname(path)
    if not text:
        raise UsageError('--parquet: name a file')
    if os.path.isdir(path) or text.endswith(os.sep):
        raise UsageError(f'{where}: a directory; name a file')
    if not os.path.isdir(directory):
        raise UsageError(f'{where}: the directory {visible(directory)!r} does not exist; create it first')
    writable = os.access(path, os.W_OK) if os.path.lexists(path) else os.access(directory, os.W_OK | os.X_OK)
    if not writable:
        raise UsageError(f'{where}: cannot write there (permission denied)')
    try:
        importlib.import_module('pyarrow.parquet')
    except ImportError:
        raise UsageError("--parquet needs pyarrow: pip install 'synapse-agent-rs[arrow]'") from None
    return text


def _stream_command(args: argparse.Namespace) -> int:
    for job in args.jobs if args.command == 'tail' else ():
        try:
            validate_resource_id(job, 'job id')
        except ValidationError as e:
            raise UsageError(f'{_detail(e)} (got {visible(repr(job))})') from None
    if args.parquet is not None and args.checkpoint_file is not None:
        # The Arrow view's checkpoints may lag by the batch being converted: not promised yet.
        raise UsageError('--checkpoint-file does not go with --parquet (yet): pick one')
    parquet = _parquet_path(args.parquet) if args.parquet is not None else None
    client = _client(args.url, args.token_file)
    keeper = _keeper(client, args.checkpoint_file, args.checkpoint_interval)
    protocol: ProtocolName = args.protocol
    resume: bool | ResumePolicy = not args.no_resume
    if args.no_resume and keeper is not None:
        resume = ResumePolicy(attempts=0)  # no retries, but the cursors the checkpoints need
    common: dict[str, Any] = {
        'protocol': protocol,
        'timeout': args.timeout,
        'max_connecting': args.max_connecting,
        'max_buffered_bytes': args.max_buffered_bytes,
        'stream_limits': _limits(args),
        'resume': resume,
        'resume_from': {job: e.checkpoint for job, e in keeper.entries.items()} if keeper else None,
    }
    try:
        if args.command == 'tail':
            stream = client.tail_many(args.jobs, **common)
        else:
            stream = client.follow_jobs(interval=args.interval, max_followed=args.max_followed, **common)
    except ValidationError as e:  # raised before any I/O: the arguments
        raise UsageError(_detail(e)) from None
    _tail.report_resumes()
    if parquet is not None:
        return _tail.write_parquet(stream, parquet, follow=args.command == 'follow')
    if args.command == 'tail':
        printer = _tail.Printer(sys.stdout, prefix=len(set(args.jobs)) > 1, as_json=args.json)
        return _tail.run(stream, printer, follow=False, keeper=keeper)
    printer = _tail.Printer(sys.stdout, prefix=True, as_json=args.json)
    return _tail.run(stream, printer, follow=True, keeper=keeper)


def _valid_job_id(job: str) -> bool:
    try:
        validate_resource_id(job, 'job id')
    except ValidationError:
        return False
    return True


def _keeper(client: AgentClient, path: str | None, interval: float) -> _checkpoint.Keeper | None:
    """``--checkpoint-file``: its checkpoints, each checked (without I/O), and the file
    written once, so that a path that cannot be written is a usage error."""
    if path is None:
        return None
    where = f'--checkpoint-file {visible(path)}'
    try:
        entries = _checkpoint.load(path)
    except _checkpoint.CheckpointFileError as e:
        raise UsageError(f'{where}: {e}; delete it to print every job from its start') from None
    checked = {job: entry.checkpoint for job, entry in entries.items()}
    try:
        client.tail_many([], resume_from=checked).close()  # checks them all; no job, no I/O
        suspects = {job: checkpoint for job, checkpoint in checked.items() if not _valid_job_id(job)}
    except ValidationError:
        suspects = checked  # which entry: one by one
    for job, checkpoint in suspects.items():
        try:
            validate_resource_id(job, 'job id')
            client.tail_many([], resume_from={job: checkpoint}).close()
        except ValidationError as e:
            shown = visible(repr(job[:80]))
            detail = (
                _detail(e).replace('resume_from is', 'it is').replace('; pass what stream.checkpoint() returned', '')
            )
            raise UsageError(f'{where}: the entry of job {shown}: {detail}') from None
    try:
        _checkpoint.write(path, entries)
    except _checkpoint.CheckpointFileError as e:
        raise UsageError(f'{where}: {e}') from None
    return _checkpoint.Keeper(path, entries, interval)


def _list_command(args: argparse.Namespace) -> int:
    method, _ = LISTS[args.command]
    answer = getattr(_client(args.url, args.token_file), method)()
    if args.json:
        print_json(answer)
    else:
        records_table(answer, sys.stdout)
    return 0


def _fake_agent(args: argparse.Namespace) -> int:
    from synapse_agent_rs.testing import FakeAgent

    token = _token(args.token_file, required=False)
    agent = FakeAgent(token, host=args.host, port=args.port)
    endless = 10**15
    for i in range(args.jobs):
        agent.add_job(_bench.job_name(i), firehose=args.lines or endless, pace=args.rate)
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    try:
        agent.start()
    except OSError as e:
        what = 'address already in use' if 'in use' in str(e) else str(e)
        sys.stderr.write(f'{PROG}: fake-agent: cannot listen on {args.host}:{args.port}: {what}')
        sys.stderr.write('; pick another --port (0 picks a free one)\n' if 'in use' in str(e) else '\n')
        return _tail.EXIT_FAILED
    with agent:
        jobs = plural(args.jobs, 'running job')
        print(f'fake agent at {agent.url} with {jobs}', flush=True)
        print(f'export SYNAPSE_AGENT_URL={agent.url}', flush=True)
        if token is None:
            print('any agent token is accepted', flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        stats = agent.stream_stats()
    print(f'stopped; {plural(stats["opened"], "log stream")} served', file=sys.stderr)
    return 0


def _bench_command(args: argparse.Namespace) -> int:
    url = token = None
    if args.url:
        url, _ = _url(args.url)
        token = _token(args.token_file, required=True)
    elif args.token_file:
        raise UsageError('--token-file goes with --url (the embedded agent needs no token)')
    return _bench.run(
        jobs=args.jobs,
        lines=args.lines,
        protocol=args.protocol,
        max_connecting=args.max_connecting,
        queue_size=args.queue_size,
        url=url,
        token=token,
        as_json=args.json,
    )


def raise_fd_limit(wanted: int = 65_536) -> int:
    """Raises the soft limit of open files toward the hard one: every stream is a socket (two
    with the embedded agent), and many systems start processes at 1,024. Returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft


def _run(args: argparse.Namespace) -> int:
    if args.command in ('tail', 'follow'):
        return _stream_command(args)
    if args.command in LISTS:
        return _list_command(args)
    if args.command == 'fake-agent':
        return _fake_agent(args)
    return _bench_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command; returns its exit status (argument errors exit 2 from the parser)."""
    args = parser().parse_args(argv)
    raise_fd_limit()
    try:
        return _run(args)
    except UsageError as e:
        sys.stderr.write(f'{PROG} {args.command}: {e}\n')
        return EXIT_USAGE
    except ClientError as e:
        sys.stderr.write(f'{PROG} {args.command}: {_tail.error_text(e)}\n')
        return _tail.EXIT_FAILED
    except KeyboardInterrupt:
        return _tail.EXIT_INTERRUPTED
    except BrokenPipeError:
        return _quiet_stdout(_tail.EXIT_OK)  # the reader left (`| head`): stop quietly, as Unix tools do
    except OSError as e:
        if e.errno == errno.EPIPE:
            return _quiet_stdout(_tail.EXIT_OK)
        what = f'{e.filename}: ' if e.filename else 'cannot write to stdout: ' if e.errno in _OUTPUT_ERRORS else ''
        sys.stderr.write(f'{PROG} {args.command}: {visible(what + (e.strerror or str(e)))}\n')
        return _quiet_stdout(_tail.EXIT_FAILED)
    except Exception as e:  # a bug of ours: still one line, unless asked for the traceback
        if os.environ.get('SYNAPSE_AGENT_RS_DEBUG'):
            traceback.print_exc()
        sys.stderr.write(
            f'{PROG} {args.command}: internal error: {type(e).__name__}: {visible(str(e))} '
            '(please report it; SYNAPSE_AGENT_RS_DEBUG=1 shows the traceback)\n'
        )
        return _tail.EXIT_FAILED


def _quiet_stdout(status: int) -> int:
    """Points stdout at /dev/null, so that the interpreter's last flush cannot fail loudly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
    return status


def entry() -> None:
    """The console script."""
    if sys.stdout is None or sys.stderr is None:  # started with stdout or stderr closed (`>&-`)
        if sys.stderr is not None:
            sys.stderr.write(f'{PROG}: stdout is closed; nothing can be written\n')
        sys.exit(_tail.EXIT_FAILED)
    status = main()
    try:
        sys.stdout.flush()
    except OSError as e:
        if e.errno != errno.EPIPE:
            sys.stderr.write(f'{PROG}: cannot write to stdout: {e.strerror or e}\n')
            status = status or _tail.EXIT_FAILED
        status = _quiet_stdout(status)
    sys.exit(status)
