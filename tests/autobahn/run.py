"""Runs the Autobahn|Testsuite fuzzing server against our echo client and checks every case.

``python tests/autobahn/run.py WSTEST CLIENT [--cases 1,2,...]`` starts ``WSTEST -m fuzzingserver``
on a free loopback port, runs ``CLIENT ws://127.0.0.1:PORT synapse-agent-rs`` (the
``autobahn_client`` example), then reads the server's report index. It prints the summary
table (per case group, how many cases ended with each behavior) and fails when a case of
groups 1-7, 9 or 10 ended other than OK, NON-STRICT or INFORMATIONAL; compression cases (12,
13) may be UNIMPLEMENTED.
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import socket
import subprocess
import sys
import time

AGENT = 'synapse-agent-rs'
PASSING = {'OK', 'NON-STRICT', 'INFORMATIONAL'}
MAY_BE_UNIMPLEMENTED = {'12', '13'}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return int(s.getsockname()[1])


def wait_for(port: int, server: subprocess.Popen[bytes], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f'the fuzzing server exited with {server.returncode}')
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f'the fuzzing server did not listen on port {port} within {within} s')


def case_key(case: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case.split('.'))


def summary(results: dict[str, dict[str, str]]) -> tuple[str, list[str]]:
    """The markdown table, and the cases that failed."""
    groups: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    failed = []
    for case in sorted(results, key=case_key):
        behavior = results[case]['behavior']
        group = case.split('.')[0]
        groups[group][behavior] += 1
        allowed = PASSING | ({'UNIMPLEMENTED'} if group in MAY_BE_UNIMPLEMENTED else set())
        if behavior not in allowed:
            failed.append(f'{case}: {behavior}')
    names = sorted({b for c in groups.values() for b in c})
    lines = ['| cases | ' + ' | '.join(names) + ' |', '|---|' + '---|' * len(names)]
    for group in sorted(groups, key=int):
        lines.append(f'| {group}.* | ' + ' | '.join(str(groups[group][n] or '') for n in names) + ' |')
    return '\n'.join(lines), failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('wstest', help='the wstest command of the Autobahn|Testsuite virtualenv')
    parser.add_argument('client', help='the autobahn_client example binary')
    parser.add_argument('--cases', default='*', help='comma-separated case groups, e.g. 1,2,3 (default: all)')
    parser.add_argument('--outdir', default='target/autobahn', help='where the spec and reports go')
    args = parser.parse_args()

    outdir = pathlib.Path(args.outdir).resolve()
    reports = outdir / 'reports'
    outdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cases = ['*'] if args.cases == '*' else [f'{g.strip()}.*' for g in args.cases.split(',')]
    spec = {'url': f'ws://127.0.0.1:{port}', 'outdir': str(reports), 'cases': cases, 'exclude-cases': []}
    (outdir / 'fuzzingserver.json').write_text(json.dumps(spec, indent=2))

    log = open(outdir / 'wstest.log', 'wb')  # closed below, after the server stops
    server = subprocess.Popen(
        [str(pathlib.Path(args.wstest).absolute()), '-m', 'fuzzingserver', '-s', str(outdir / 'fuzzingserver.json')],
        cwd=outdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(port, server)
        client = subprocess.run([args.client, f'ws://127.0.0.1:{port}', AGENT], timeout=3600, check=False)
        if client.returncode != 0:
            print(f'autobahn: the echo client failed ({client.returncode})', file=sys.stderr)
            return 1
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()

    index = json.loads((reports / 'index.json').read_text())
    table, failed = summary(index[AGENT])
    print(f'Autobahn|Testsuite fuzzing server, cases {args.cases}, agent {AGENT}:\n')
    print(table)
    (outdir / 'summary.md').write_text(table + '\n')
    if failed:
        print(f'\n{len(failed)} cases failed:\n  ' + '\n  '.join(failed), file=sys.stderr)
        print(f'reports: {reports}/index.html', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
