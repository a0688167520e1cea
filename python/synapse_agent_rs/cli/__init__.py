"""``synapse-agent-rs``: the command-line tool (tail, follow, REST tables, fake agent, bench).

Configuration: ``--url`` or ``SYNAPSE_AGENT_URL``; the agent token comes from
``SYNAPSE_AGENT_TOKEN`` or ``--token-file`` and is never taken on the command line (other
users can read command lines) nor printed. Exit status: 0 when everything completed, 1 when
a stream or a request failed, 2 for bad usage, 130 after Ctrl-C (with a summary).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from synapse_agent_rs.cli import _bench, _tail
from synapse_agent_rs.cli._output import print_json, records_table
from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.exceptions import ClientError
from synapse_agent_rs.testing import FakeAgent

__all__ = ['main']

PROG = 'synapse-agent-rs'
EXIT_USAGE = 2

LISTS = {
    'jobs': ('list_jobs', 'Ray jobs'),
    'nodes': ('list_nodes', 'cluster nodes'),
    'tasks': ('list_tasks', 'Ray tasks'),
    'serve': ('list_serve_applications', 'Ray Serve applications'),
}


class UsageError(Exception):
    """A missing setting: exit status 2."""


def _add_agent_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--url', help='the agent URL (default: $SYNAPSE_AGENT_URL)')
    parser.add_argument(
        '--token-file',
        help='a file holding the agent token (default: $SYNAPSE_AGENT_TOKEN)',
    )


def _add_stream_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--protocol', choices=['auto', 'websocket', 'http'], default='auto')
    parser.add_argument('--timeout', type=float, default=30.0, help='connect timeout and liveness deadline, seconds')
    parser.add_argument('--max-connecting', type=int, default=64, help='connections being opened at once')
    parser.add_argument('--json', action='store_true', help='JSON lines: {"job_id", "seq", "line"} and end records')


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest='command', required=True, metavar='COMMAND')

    tail = sub.add_parser('tail', help="stream jobs' logs until they end")
    tail.add_argument('jobs', nargs='+', metavar='JOB')
    _add_agent_options(tail)
    _add_stream_options(tail)

    follow = sub.add_parser('follow', help='stream every running job, picking up new ones, until Ctrl-C')
    follow.add_argument('--interval', type=float, default=2.0, help='seconds between two job listings')
    _add_agent_options(follow)
    _add_stream_options(follow)

    for name, (_, what) in LISTS.items():
        listing = sub.add_parser(name, help=f'list the {what}')
        _add_agent_options(listing)
        listing.add_argument('--json', action='store_true', help='the JSON answer instead of a table')

    fake = sub.add_parser('fake-agent', help='run a FakeAgent with firehose jobs until Ctrl-C')
    fake.add_argument('--host', default='127.0.0.1')
    fake.add_argument('--port', type=int, default=0, help='0 picks a free port')
    fake.add_argument('--jobs', type=int, default=10, help='running jobs (job-00000, job-00001, ...)')
    fake.add_argument('--lines', type=int, default=1000, help='lines per job stream; 0 for endless')
    fake.add_argument('--rate', type=float, default=None, help='lines per second per job (default: as fast as read)')
    fake.add_argument('--token-file', help='accept only this token (default: $SYNAPSE_AGENT_TOKEN, else any token)')

    bench = sub.add_parser('bench', help='bulk-tail an embedded FakeAgent and report lines/s')
    bench.add_argument('--jobs', type=int, default=1000, help='jobs tailed at once')
    bench.add_argument('--lines', type=int, default=1000, help='lines per job (about 100 bytes each)')
    bench.add_argument('--protocol', choices=['auto', 'websocket', 'http'], default='websocket')
    bench.add_argument('--max-connecting', type=int, default=64, help='connections being opened at once')
    bench.add_argument('--queue-size', type=int, default=1000, help='lines each stream may run ahead')
    bench.add_argument('--url', help='bench an agent already running (every RUNNING job) instead of an embedded one')
    bench.add_argument('--token-file', help='with --url: a file holding the agent token')
    bench.add_argument('--json', action='store_true', help='the summary as one JSON object')
    return top


def _token(token_file: str | None, *, required: bool) -> str | None:
    if token_file:
        try:
            with open(token_file, encoding='utf-8') as f:
                return f.read().strip()
        except OSError as e:
            raise UsageError(f'cannot read the token file: {e.strerror}') from None
    token = os.environ.get('SYNAPSE_AGENT_TOKEN')
    if token is None and required:
        raise UsageError('no agent token: set SYNAPSE_AGENT_TOKEN or pass --token-file')
    return token


def _client(args: argparse.Namespace) -> AgentClient:
    url = args.url or os.environ.get('SYNAPSE_AGENT_URL')
    if not url:
        raise UsageError('no agent URL: pass --url or set SYNAPSE_AGENT_URL')
    token = _token(args.token_file, required=True)
    return AgentClient(url, token or '')


def _stream_command(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.command == 'tail':
        stream = client.tail_many(
            args.jobs, protocol=args.protocol, timeout=args.timeout, max_connecting=args.max_connecting
        )
        printer = _tail.Printer(sys.stdout, prefix=len(set(args.jobs)) > 1, as_json=args.json)
        return _tail.run(stream, printer, follow=False)
    stream = client.follow_jobs(
        interval=args.interval, protocol=args.protocol, timeout=args.timeout, max_connecting=args.max_connecting
    )
    return _tail.run(stream, _tail.Printer(sys.stdout, prefix=True, as_json=args.json), follow=True)


def _list_command(args: argparse.Namespace) -> int:
    method, _ = LISTS[args.command]
    answer = getattr(_client(args), method)()
    if args.json:
        print_json(answer)
    else:
        records_table(answer, sys.stdout)
    return 0


def _fake_agent(args: argparse.Namespace) -> int:
    token = _token(args.token_file, required=False)
    agent = FakeAgent(token, host=args.host, port=args.port)
    endless = 10**15
    for i in range(args.jobs):
        agent.add_job(_bench.job_name(i), firehose=args.lines or endless, pace=args.rate)
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    with agent:
        print(f'fake agent at {agent.url} with {args.jobs} running jobs', flush=True)
        print(f'export SYNAPSE_AGENT_URL={agent.url}', flush=True)
        if token is None:
            print('any agent token is accepted', flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        stats = agent.stream_stats()
    print(f'stopped; {stats["opened"]} log streams served', file=sys.stderr)
    return 0


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


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command; returns its exit status."""
    args = parser().parse_args(argv)
    raise_fd_limit()
    try:
        if args.command in ('tail', 'follow'):
            return _stream_command(args)
        if args.command in LISTS:
            return _list_command(args)
        if args.command == 'fake-agent':
            return _fake_agent(args)
        token = _token(args.token_file, required=False) if args.url else None
        return _bench.run(
            jobs=args.jobs,
            lines=args.lines,
            protocol=args.protocol,
            max_connecting=args.max_connecting,
            queue_size=args.queue_size,
            url=args.url,
            token=token,
            as_json=args.json,
        )
    except UsageError as e:
        sys.stderr.write(f'{PROG}: {e}\n')
        return EXIT_USAGE
    except ClientError as e:
        sys.stderr.write(f'{PROG}: {_tail.error_text(e)}\n')
        return 1
    except KeyboardInterrupt:
        return _tail.EXIT_INTERRUPTED


def entry() -> None:
    """The console script."""
    sys.exit(main())
