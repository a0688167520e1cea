"""The ``synapse-agent-rs`` command, run as a subprocess against the FakeAgent."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN

COMMAND = Path(sys.executable).parent / 'synapse-agent-rs'
"""The console script the package installs."""


def env(url: str | None, token: str | None = TOKEN) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith('SYNAPSE_AGENT_')}
    if url is not None:
        out['SYNAPSE_AGENT_URL'] = url
    if token is not None:
        out['SYNAPSE_AGENT_TOKEN'] = token
    return out


def run(*args: str, url: str | None = None, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND), *args], env=env(url, token), capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def agent() -> Iterator[FakeAgent]:
    with FakeAgent(TOKEN) as agent:
        agent.add_job('job-a', ['a0', 'a1', 'a2'])
        agent.add_job('job-b', ['b0', 'b1'])
        agent.add_job('job-bad', ['x0'], fault='error', error_message='the job crashed')
        agent.add_job('job-old', ['o'], status='SUCCEEDED')
        yield agent


def test_console_script_is_installed() -> None:
    assert COMMAND.exists()
    out = run('--help')
    assert out.returncode == 0
    for command in ('tail', 'follow', 'jobs', 'nodes', 'tasks', 'serve', 'fake-agent', 'bench'):
        assert command in out.stdout


def test_tail_one_job_prints_its_lines(agent: FakeAgent) -> None:
    out = run('tail', 'job-a', url=agent.url)
    assert (out.returncode, out.stdout, out.stderr) == (0, 'a0\na1\na2\n', '')


def test_tail_many_jobs_prefixes_and_fails_if_one_fails(agent: FakeAgent) -> None:
    out = run('tail', 'job-a', 'job-b', 'job-bad', '--protocol', 'http', url=agent.url)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert sorted(lines) == ['[job-a] a0', '[job-a] a1', '[job-a] a2', '[job-b] b0', '[job-b] b1', '[job-bad] x0']
    assert [line for line in lines if line.startswith('[job-a]')] == ['[job-a] a0', '[job-a] a1', '[job-a] a2']
    assert 'job job-bad: ' in out.stderr and '(500 ServerError)' in out.stderr and 'the job crashed' in out.stderr
    assert out.stderr.count('job-bad') == 1 and len(out.stderr.splitlines()) == 1

    ok = run('tail', 'job-a', 'job-b', url=agent.url)
    assert ok.returncode == 0 and len(ok.stdout.splitlines()) == 5


def test_tail_json(agent: FakeAgent) -> None:
    out = run('tail', 'job-a', 'job-bad', '--json', url=agent.url)
    assert out.returncode == 1
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r for r in records if r['job_id'] == 'job-a'] == [
        {'job_id': 'job-a', 'seq': 0, 'line': 'a0'},
        {'job_id': 'job-a', 'seq': 1, 'line': 'a1'},
        {'job_id': 'job-a', 'seq': 2, 'line': 'a2'},
        {'job_id': 'job-a', 'end': 'completed'},
    ]
    end = [r for r in records if r['job_id'] == 'job-bad' and 'end' in r]
    assert end == [
        {
            'job_id': 'job-bad',
            'end': 'failed',
            'error': 'ServerError',
            'status_code': 500,
            'message': end[0]['message'],
            'detail': end[0]['detail'],
        }
    ]
    assert 'the job crashed' in end[0]['message'] and 'the job crashed' in json.dumps(end[0]['detail'])
    missing = run('tail', 'nope', '--json', url=agent.url)
    (record,) = [json.loads(line) for line in missing.stdout.splitlines()]
    assert record['detail'] == {'detail': 'Job not found'}  # the agent's JSON body, as JSON


def test_missing_settings_are_usage_errors(agent: FakeAgent) -> None:
    no_url = run('tail', 'job-a', url=None)
    assert no_url.returncode == 2 and 'SYNAPSE_AGENT_URL' in no_url.stderr
    no_token = run('jobs', url=agent.url, token=None)
    assert no_token.returncode == 2 and 'SYNAPSE_AGENT_TOKEN' in no_token.stderr
    bad = run('tail', 'job-a', '--protocol', 'smoke-signals', url=agent.url)
    assert bad.returncode == 2
    invalid = run('tail', '../../etc', url=agent.url)
    assert invalid.returncode == 2 and "(got '../../etc')" in invalid.stderr and 'ValidationError' not in invalid.stderr


def test_the_token_is_never_echoed(agent: FakeAgent, tmp_path: Path) -> None:
    secret = 'sekrit-token-4f9a'
    out = run('tail', 'job-a', url=agent.url, token=secret)
    assert out.returncode == 1 and '(401 AuthenticationError)' in out.stderr and 'SYNAPSE_AGENT_TOKEN' in out.stderr
    assert secret not in out.stdout + out.stderr
    listing = run('jobs', url=agent.url, token=secret)
    assert listing.returncode == 1 and secret not in listing.stdout + listing.stderr
    token_file = tmp_path / 'token'
    token_file.write_text(TOKEN + '\n')
    from_file = run('tail', 'job-b', '--token-file', str(token_file), url=agent.url, token=None)
    assert (from_file.returncode, from_file.stdout) == (0, 'b0\nb1\n')


@pytest.mark.parametrize('command', ['jobs', 'nodes', 'tasks', 'serve'])
def test_listings_as_table_and_json(agent: FakeAgent, command: str) -> None:
    method = {'jobs': 'list_jobs', 'nodes': 'list_nodes', 'tasks': 'list_tasks', 'serve': 'list_serve_applications'}
    expected = getattr(AgentClient(agent.url, TOKEN), method[command])()
    as_json = run(command, '--json', url=agent.url)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == expected
    as_table = run(command, url=agent.url)
    assert as_table.returncode == 0
    records = expected if isinstance(expected, list) else [expected]
    header = as_table.stdout.splitlines()[0].split()
    key = header[0]
    assert key in records[0]
    for record in records:
        assert str(record[key]) in as_table.stdout


def test_jobs_table_lists_every_job(agent: FakeAgent) -> None:
    out = run('jobs', url=agent.url)
    rows = out.stdout.splitlines()[1:]
    assert sorted(row.split()[0] for row in rows) == ['job-a', 'job-b', 'job-bad', 'job-old']
    assert any('SUCCEEDED' in row for row in rows if row.startswith('job-old'))


def read_until(proc: subprocess.Popen[str], wanted: str) -> list[str]:
    """Lines of the process's stdout up to the one containing `wanted` (the test timeout bounds it)."""
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line.rstrip('\n'))
        if wanted in line:
            return seen
    raise AssertionError(f'{wanted!r} never came; got {seen}')


def test_follow_picks_up_new_jobs_and_ends_on_ctrl_c(agent: FakeAgent) -> None:
    proc = subprocess.Popen(
        [str(COMMAND), 'follow', '--interval', '0.1'],
        env=env(agent.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = read_until(proc, '[job-b] b1')
        agent.add_job('job-new', ['fresh line'])
        seen += read_until(proc, '[job-new] fresh line')
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert '[job-a] a2' in seen and '[job-old] o' not in seen
    assert 'job-new' in err and 'lines in' in err
    assert 'Traceback' not in err


def test_fake_agent_serves_until_ctrl_c() -> None:
    proc = subprocess.Popen(
        [str(COMMAND), 'fake-agent', '--jobs', '3', '--lines', '5', '--rate', '1000'],
        env=env(None, token=None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = read_until(proc, 'export SYNAPSE_AGENT_URL=')[-1].split('=', 1)[1]
        client = AgentClient(url, 'any-token')
        assert sorted(j['job_id'] for j in client.list_jobs()) == ['job-00000', 'job-00001', 'job-00002']
        lines = list(client.tail_many(['job-00000', 'job-00002']))
        assert len(lines) == 10 and 'seq=0000000004' in lines[-1][1]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and '2 log streams served' in err


def test_bench_tails_every_line() -> None:
    out = run('bench', '--jobs', '30', '--lines', '200', url=None, token=None)
    assert out.returncode == 0, out.stderr
    assert '6,000 of 6,000' in out.stdout and 'lines/s' in out.stdout
    as_json = run('bench', '--jobs', '5', '--lines', '100', '--protocol', 'http', '--json', url=None, token=None)
    summary = json.loads(as_json.stdout)
    assert as_json.returncode == 0
    assert (summary['jobs'], summary['completed'], summary['failed'], summary['lines']) == (5, 5, 0, 500)
    assert summary['lines_per_second'] > 0 and summary['first_line_of_last_stream_seconds'] is not None


def test_bench_against_a_running_fake_agent() -> None:
    with FakeAgent(None) as agent:
        for i in range(4):
            agent.add_job(f'j{i}', firehose=50)
        agent.add_job('finished', firehose=50, status='SUCCEEDED')
        no_token = run('bench', '--url', agent.url, '--json', url=None, token=None)
        out = run('bench', '--url', agent.url, '--json', url=None, token='any-token')
    assert no_token.returncode == 2 and 'no agent token' in no_token.stderr and not no_token.stdout
    summary = json.loads(out.stdout)
    assert out.returncode == 0 and (summary['jobs'], summary['lines']) == (4, 200)


# --- issue 16: first contact -------------------------------------------------------------------

BAD_INPUT = [
    # (arguments, environment: url, token; expected exit status)
    (['tail', 'job-a', '--timeout', 'soon'], 'agent', TOKEN, 2),
    (['tail', 'job-a', '--timeout', '-1'], 'agent', TOKEN, 2),
    (['tail', 'job-a', '--timeout', 'nan'], 'agent', TOKEN, 2),
    (['tail', 'job a'], 'agent', TOKEN, 2),
    (['tail', 'job-a', '--url', 'agent.example.com'], None, TOKEN, 2),
    (['tail', 'job-a', '--url', 'ftp://agent.example.com'], None, TOKEN, 2),
    (['tail', 'job-a', '--url', 'http://'], None, TOKEN, 2),
    (['tail', 'job-a', '--max-lines', '0'], 'agent', TOKEN, 2),
    (['tail', 'job-a', '--protocol', 'carrier-pigeon'], 'agent', TOKEN, 2),
    (['tail', 'job-a'], 'agent', '', 2),
    (['tail', 'job-a', '--token-file', '/nonexistent/token'], 'agent', None, 2),
    (['tail', 'job-a', '--token-file', 'NOT_UTF8'], 'agent', None, 2),
    (['tail', 'job-a'], 'agent', 'wrong-token', 1),
    (['tail', 'job-a', '--no-resume'], 'http://127.0.0.1:9', TOKEN, 1),  # resuming retries a refused connection
    (['tail', 'no-such-job'], 'agent', TOKEN, 1),
    (['follow', '--interval', '0'], 'agent', TOKEN, 2),
    (['follow', '--interval', 'x'], 'agent', TOKEN, 2),
    (['follow'], None, TOKEN, 2),
    (['follow', '--url', 'agent.example.com'], None, TOKEN, 2),
    (['jobs', '--url', 'agent.example.com'], None, TOKEN, 2),
    (['jobs'], 'agent', 'wrong-token', 1),
    (['jobs'], 'http://127.0.0.1:9', TOKEN, 1),
    (['nodes'], None, TOKEN, 2),
    (['tasks', '--token-file', 'NOT_UTF8'], 'agent', None, 2),
    (['serve'], 'agent', None, 2),
    (['fake-agent', '--port', 'IN_USE'], None, None, 1),
    (['fake-agent', '--port', '70000'], None, None, 2),
    (['fake-agent', '--host', '256.1.1.1'], None, None, 2),
    (['fake-agent', '--rate', '-5'], None, None, 2),
    (['fake-agent', '--jobs', '-1'], None, None, 2),
    (['fake-agent', '--lines', 'many'], None, None, 2),
    (['bench', '--lines', '-5'], None, None, 2),
    (['bench', '--jobs', '-1'], None, None, 2),
    (['bench', '--url', 'http://127.0.0.1:9'], None, None, 2),
    (['bench', '--url', 'agent.example.com'], None, TOKEN, 2),
    (['bench', '--url', 'http://127.0.0.1:9'], None, TOKEN, 1),
    (['bench', '--url', 'http://127.0.0.1:9', '--token-file', 'NOT_UTF8'], None, None, 2),
    (['bench', '--token-file', '/dev/null'], None, None, 2),
    (['no-such-command'], None, None, 2),
    ([], None, None, 2),
]


@pytest.mark.parametrize(('args', 'url', 'token', 'status'), BAD_INPUT, ids=[' '.join(c[0]) for c in BAD_INPUT])
def test_every_failure_is_one_line_with_its_exit_status(
    agent: FakeAgent, tmp_path: Path, args: list[str], url: str | None, token: str | None, status: int
) -> None:
    not_utf8 = tmp_path / 'token'
    not_utf8.write_bytes(b'\xff\xfe secret \x80')
    port = agent.url.rsplit(':', 1)[1]
    args = [{'NOT_UTF8': str(not_utf8), 'IN_USE': port}.get(a, a) for a in args]
    out = run(*args, url=agent.url if url == 'agent' else url, token=token)
    assert 'Traceback' not in out.stderr
    assert out.returncode == status, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert out.stderr.startswith('synapse-agent-rs'), out.stderr
    assert "{'" not in out.stderr and 'base_url' not in out.stderr  # no Python repr of a body, our flag names
    if 'NOT_UTF8' in ' '.join(args) or str(not_utf8) in args:
        assert str(not_utf8) in out.stderr and 'secret' not in out.stderr and 'UTF-8' in out.stderr
    if 'IN_USE' in args or port in args:
        assert port in out.stderr and '--port' in out.stderr


def test_tail_gives_the_whole_log_by_default(agent: FakeAgent) -> None:
    """Defect 1: 60,000 lines, over the SDK's 10,000 messages and 50,000 HTTP lines."""
    agent.add_job('big', firehose=60_000)
    for protocol in ('websocket', 'http'):
        out = run('tail', 'big', '--protocol', protocol, url=agent.url)
        assert (out.returncode, out.stderr) == (0, '')
        assert out.stdout.count('\n') == 60_000
    limited = run('tail', 'big', '--max-lines', '100', url=agent.url)
    assert limited.returncode == 1 and limited.stdout.count('\n') == 100
    assert '(429 StreamLimitExceededError)' in limited.stderr and '--max-lines' in limited.stderr


def on_a_terminal(*args: str, url: str, extra: dict[str, str] | None = None) -> bytes:
    """What the command writes to a terminal (a pseudo-terminal as stdout)."""
    import pty

    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [str(COMMAND), *args],
            stdout=follower,
            stderr=subprocess.PIPE,
            env={**env(url), **(extra or {})},
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the writer side is closed and everything was read
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b''.join(chunks)
    finally:
        os.close(leader)


HOSTILE = [
    'title \x1b]0;pwned\x07',
    'clip \x1b]52;c;ZXZpbA==\x07',
    'clear \x1b[2J',
    'bell \x07',
    'c1 \x9b31m',
    'tab\tok',
]


def test_control_sequences_are_neutralised_on_a_terminal_only(agent: FakeAgent) -> None:
    agent.add_job('hostile', HOSTILE)
    shown = on_a_terminal('tail', 'hostile', url=agent.url).decode()
    assert '\x1b' not in shown and '\x07' not in shown and '\x9b' not in shown
    assert 'title \\x1b]0;pwned\\x07' in shown and 'clear \\x1b[2J' in shown and 'c1 \\x9b31m' in shown
    assert 'tab\tok' in shown
    piped = run('tail', 'hostile', url=agent.url)
    assert piped.stdout == ''.join(f'{line}\n' for line in HOSTILE)  # exact
    as_json = run('tail', 'hostile', '--json', url=agent.url)
    assert [json.loads(r)['line'] for r in as_json.stdout.splitlines()[:-1]] == HOSTILE


def test_job_prefixes_are_coloured_on_a_terminal_unless_no_color(agent: FakeAgent) -> None:
    coloured = on_a_terminal('tail', 'job-a', 'job-b', url=agent.url)
    assert b'\x1b[' in coloured and b'[job-a]\x1b[0m a0' in coloured
    plain = on_a_terminal('tail', 'job-a', 'job-b', url=agent.url, extra={'NO_COLOR': '1'})
    assert b'\x1b' not in plain and b'[job-a] a0' in plain


class Terminal(io.StringIO):
    """A text stream that says it is a terminal: what ``records_table`` prints there."""

    def isatty(self) -> bool:
        return True


def test_table_cells_are_text_never_markup() -> None:
    from synapse_agent_rs.cli._output import records_table

    rows = [{'job_id': 'j1', 'entrypoint': 'python x.py [/bold] --tags [prod]', 'note': 'bell\x07 [red]x[/red]'}]
    for stream in (io.StringIO(), Terminal()):
        records_table(rows, stream)
        text = stream.getvalue()
        assert '[/bold] --tags [prod]' in text and '[red]x[/red]' in text
    assert '\x07' not in text and '\\x07' in text


def test_conventions(agent: FakeAgent) -> None:
    version = run('--version')
    assert version.returncode == 0 and re.fullmatch(r'synapse-agent-rs \d+\.\d+\.\d+\S*\n', version.stdout)
    for command in ('tail', 'follow', 'jobs', 'fake-agent', 'bench'):
        text = run(command, '--help').stdout
        assert '``' not in text and ':class:' not in text and ':meth:' not in text
    tail_help = run('tail', '--help').stdout
    assert '(default: 30.0)' in tail_help and '(default: auto)' in tail_help and '(default: 64)' in tail_help
    proc = subprocess.Popen(
        [str(COMMAND), 'fake-agent', '--jobs', '1'], env=env(None, None), stdout=subprocess.PIPE, text=True
    )
    try:
        first = read_until(proc, 'export SYNAPSE_AGENT_URL=')[0]
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert first.endswith('with 1 running job')


def test_output_errors_are_one_line(agent: FakeAgent) -> None:
    full = subprocess.run(
        f'{COMMAND} jobs > /dev/full', shell=True, env=env(agent.url), capture_output=True, text=True, timeout=60
    )
    assert full.returncode == 1 and 'Traceback' not in full.stderr
    assert full.stderr.strip() == 'synapse-agent-rs jobs: cannot write to stdout: No space left on device'
    closed = subprocess.run(
        f'{COMMAND} tail job-a >&-', shell=True, env=env(agent.url), capture_output=True, text=True, timeout=60
    )
    assert closed.returncode == 1 and 'Traceback' not in closed.stderr and len(closed.stderr.splitlines()) == 1
    head = subprocess.run(
        f'{COMMAND} tail big | head -1', shell=True, env=env(agent.url), capture_output=True, text=True, timeout=60
    )
    assert 'Traceback' not in head.stderr and 'Exception ignored' not in head.stderr


# --- follow: the job listing fails (issue 16, defect 2) ---


@pytest.mark.parametrize(
    ('status', 'url_path', 'token', 'words'),
    [
        (401, '', 'wrong-token', 'token'),
        (403, '', TOKEN, 'token'),
        (404, 'not-an-agent/', TOKEN, 'URL'),
    ],
)
def test_follow_ends_at_once_when_the_listing_cannot_work(
    agent: FakeAgent, status: int, url_path: str, token: str, words: str
) -> None:
    if status == 403:
        agent.set_response('GET', 'jobs/', 403, {'detail': 'not allowed'})
    out = run('follow', '--interval', '0.1', url=agent.url.rstrip('/') + '/' + url_path, token=token)
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert f'({status} ' in lines[0] and words in lines[0]
    assert token not in out.stderr
    assert out.stdout == ''


def test_follow_reports_transient_listing_failures_once_and_retries(agent: FakeAgent) -> None:
    agent.set_response('GET', 'jobs/', 500, {'detail': 'agent is sick'})
    proc = subprocess.Popen(
        [str(COMMAND), 'follow', '--interval', '0.05'],
        env=env(agent.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert 'retrying' in first and '(500 ' in first
        calls = lambda: sum(1 for r in agent.requests() if r['path'].endswith('/jobs/'))  # noqa: E731
        deadline = time.monotonic() + 20
        while calls() < 4:
            assert time.monotonic() < deadline, 'polling stopped'
            time.sleep(0.05)
        # The built-in listing answers again (a 200 answer replaces the 500).
        agent.set_response('GET', 'jobs/', 200, [{'job_id': 'job-a', 'status': 'RUNNING'}])
        assert 'works again' in proc.stderr.readline()
        read_until(proc, '[job-a] a2')
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert 'agent is sick' not in err, 'reported once, not per failed poll'
    assert '1 job' in err and '3 lines' in err
    assert 'Traceback' not in err


def test_follow_max_followed_caps_the_streams_and_says_how_many_waited() -> None:
    with FakeAgent(TOKEN) as agent:
        agent.add_job('job-slow', [f's{i}' for i in range(1000)], pace=2.0)  # holds the one slot
        agent.add_job('job-other', ['o0', 'o1'])
        proc = subprocess.Popen(
            [str(COMMAND), 'follow', '--interval', '0.1', '--max-followed', '1'],
            env=env(agent.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            seen = read_until(proc, 's1')
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 130
        assert 'o0' not in '\n'.join(seen) + out
        assert '1 more listed job waited for a slot' in err and 'Traceback' not in err
        assert run('follow', '--max-followed', '0', url=agent.url).returncode == 2


# --- issue 19: tail/follow --parquet PATH ------------------------------------------------------


def parquet_rows(path: Path) -> list[dict[str, object]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    assert table.column_names == ['job_id', 'seq', 'line']
    rows: list[dict[str, object]] = table.to_pylist()
    return rows


def by_job(rows: list[dict[str, object]]) -> dict[object, list[tuple[object, object]]]:
    jobs: dict[object, list[tuple[object, object]]] = {}
    for row in rows:
        jobs.setdefault(row['job_id'], []).append((row['seq'], row['line']))
    return jobs


def test_tail_parquet_writes_the_json_rows_and_reports_failures(agent: FakeAgent, tmp_path: Path) -> None:
    path = tmp_path / 'logs.parquet'
    path.write_bytes(b'an older file, overwritten')
    out = run('tail', 'job-a', 'job-b', 'job-bad', '--parquet', str(path), url=agent.url)
    assert out.returncode == 1 and out.stdout == ''
    failure, summary = out.stderr.splitlines()
    assert failure.startswith('synapse-agent-rs: job job-bad: ') and '(500 ServerError)' in failure
    assert summary == f'synapse-agent-rs: wrote 6 rows of 3 jobs to {path} in {summary.split(" in ")[-1]}'
    assert summary.endswith(' s (1 failed)')
    # Row for row what --json prints for the same jobs.
    as_json = run('tail', 'job-a', 'job-b', 'job-bad', '--json', url=agent.url)
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    expected = by_job([r for r in records if 'line' in r])
    assert by_job(parquet_rows(path)) == expected
    assert expected['job-a'] == [(0, 'a0'), (1, 'a1'), (2, 'a2')]

    ok = run('tail', 'job-b', '--parquet', str(path), url=agent.url)
    assert ok.returncode == 0 and ok.stdout == ''
    assert ok.stderr.startswith(f'synapse-agent-rs: wrote 2 rows of 1 job to {path} in ')
    assert len(ok.stderr.splitlines()) == 1 and 'failed' not in ok.stderr
    assert parquet_rows(path) == [
        {'job_id': 'job-b', 'seq': 0, 'line': 'b0'},
        {'job_id': 'job-b', 'seq': 1, 'line': 'b1'},
    ]


def test_tail_parquet_keeps_every_line_of_a_big_log(agent: FakeAgent, tmp_path: Path) -> None:
    agent.add_job('big', firehose=60_000)
    path = tmp_path / 'big.parquet'
    out = run('tail', 'big', 'job-a', '--parquet', str(path), url=agent.url)
    assert out.returncode == 0, out.stderr
    jobs = by_job(parquet_rows(path))
    assert [seq for seq, _ in jobs['big']] == list(range(60_000))
    assert 'seq=0000059999' in str(jobs['big'][-1][1])


@pytest.mark.parametrize(
    ('where', 'words'),
    [
        ('missing-dir/logs.parquet', 'does not exist; create it first'),
        ('.', 'a directory; name a file'),
        ('out/', 'a directory; name a file'),
        ('', 'name a file'),
    ],
)
def test_parquet_bad_paths_are_usage_errors_before_any_request(
    agent: FakeAgent, tmp_path: Path, where: str, words: str
) -> None:
    (tmp_path / 'out').mkdir()
    path = f'{tmp_path}/{where}' if where else ''
    for command in (['tail', 'job-a'], ['follow']):
        out = run(*command, '--parquet', path, url=agent.url)
        assert out.returncode == 2, out.stderr
        assert out.stderr.count('\n') == 1 and words in out.stderr and 'Traceback' not in out.stderr
        assert out.stderr.startswith(f'synapse-agent-rs {command[0]}: --parquet')
    assert not (tmp_path / 'missing-dir').exists()
    assert not agent.requests(), 'nothing is asked of the agent before the usage is checked'


def test_parquet_without_pyarrow_says_what_to_install(agent: FakeAgent, tmp_path: Path) -> None:
    # A `pyarrow` module that cannot be imported shadows the installed one: pyarrow "not installed".
    (tmp_path / 'pyarrow.py').write_text('raise ImportError("No module named \'pyarrow\'")\n')
    out = subprocess.run(
        [str(COMMAND), 'tail', 'job-a', '--parquet', str(tmp_path / 'logs.parquet')],
        env={**env(agent.url), 'PYTHONPATH': str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr == "synapse-agent-rs tail: --parquet needs pyarrow: pip install 'synapse-agent-rs[arrow]'\n"
    assert not (tmp_path / 'logs.parquet').exists() and not agent.requests()
    both = run('tail', 'job-a', '--json', '--parquet', str(tmp_path / 'x.parquet'), url=agent.url)
    assert both.returncode == 2 and 'not allowed with argument --json' in both.stderr


@pytest.mark.skipif(not Path('/dev/full').exists(), reason='needs /dev/full (Linux)')
def test_parquet_write_failure_is_one_line(agent: FakeAgent) -> None:
    out = run('tail', 'job-a', '--parquet', '/dev/full', url=agent.url)
    assert out.returncode == 1 and 'Traceback' not in out.stderr
    assert out.stderr == 'synapse-agent-rs: cannot write the Parquet file /dev/full: No space left on device\n'


def test_follow_parquet_ctrl_c_leaves_a_readable_file_with_every_row_received(agent: FakeAgent, tmp_path: Path) -> None:
    agent.add_job('job-slow', [f's{i}' for i in range(1000)], pace=20.0)  # still streaming at Ctrl-C
    path = tmp_path / 'follow.parquet'
    proc = subprocess.Popen(
        [str(COMMAND), 'follow', '--interval', '0.1', '--parquet', str(path)],
        env=env(agent.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        # job-bad's failure is reported after its one line was received: that row must be in the file.
        failure = proc.stderr.readline()
        assert failure.startswith('synapse-agent-rs: job job-bad: ') and '(500 ServerError)' in failure
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and out == '' and 'Traceback' not in err
    (summary,) = err.splitlines()
    rows = parquet_rows(path)  # readable: the footer was written
    assert summary.startswith(f'synapse-agent-rs: wrote {len(rows)} rows of ') and f' to {path} in ' in summary
    assert summary.endswith('(1 failed)')
    jobs = by_job(rows)
    assert jobs['job-bad'] == [(0, 'x0')]
    assert 'job-old' not in jobs  # not running: not followed
    script = {'job-a': ['a0', 'a1', 'a2'], 'job-b': ['b0', 'b1'], 'job-slow': [f's{i}' for i in range(1000)]}
    for job, got in jobs.items():  # each job's rows: its log from the start, in order, none lost between
        assert got == list(enumerate(script.get(str(job), ['x0'])))[: len(got)]


def test_follow_parquet_ends_when_the_listing_cannot_work(agent: FakeAgent, tmp_path: Path) -> None:
    path = tmp_path / 'follow.parquet'
    out = run('follow', '--interval', '0.1', '--parquet', str(path), url=agent.url, token='wrong-token')
    assert out.returncode == 1 and out.stdout == '' and 'wrong-token' not in out.stderr
    fatal, summary = out.stderr.splitlines()
    assert 'cannot list the jobs' in fatal and '(401 AuthenticationError)' in fatal
    assert summary.startswith(f'synapse-agent-rs: wrote 0 rows of 0 jobs to {path}')
    assert parquet_rows(path) == []


def test_follow_parquet_a_second_ctrl_c_stops_at_once_and_the_file_is_readable(
    agent: FakeAgent, tmp_path: Path
) -> None:
    agent.add_job('job-slow', [f's{i}' for i in range(1000)], pace=20.0)
    path = tmp_path / 'follow.parquet'
    proc = subprocess.Popen(
        [str(COMMAND), 'follow', '--interval', '0.1', '--parquet', str(path)],
        env=env(agent.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert 'job-bad' in proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)  # whichever stop wins, the file is closed with its footer
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and 'Traceback' not in err
    rows = parquet_rows(path)
    assert by_job(rows)['job-bad'] == [(0, 'x0')]


# --- issue 18: tail/follow resume by default; --checkpoint-file survives the command's own restarts ---

JOB = 'raysubmit_abc123'


def test_tail_resumes_by_default_and_reports_each_attempt_on_one_line() -> None:
    log = [f'step {i} ✓' for i in range(200)]
    with FakeAgent(TOKEN) as agent:
        # Dropped inside a line (and a UTF-8 character), then refused once, then regrouped.
        agent.add_job(JOB, log, connections=[{'drop_after_bytes': 301}, {'refuse': 503}, {'group': 3}])
        out = run('tail', JOB, '--protocol', 'websocket', url=agent.url)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == log, 'every line exactly once'
        attempts = out.stderr.splitlines()
        assert len(attempts) == 2, out.stderr
        for number, line in enumerate(attempts, 1):
            assert line.startswith(f'synapse-agent-rs: log stream of job {JOB}: ')
            assert f'attempt {number} of ' in line and ('(503)' in line)
        assert 'dropped' in attempts[0] and TOKEN not in out.stderr

        agent.add_job(JOB, log, connections=[{'drop_after_bytes': 301}])
        off = run('tail', JOB, '--no-resume', url=agent.url)
        assert off.returncode == 1 and off.stdout.splitlines() == log[: len(off.stdout.splitlines())]
        assert len(off.stdout.splitlines()) < len(log) and 'attempt' not in off.stderr
        assert len(off.stderr.splitlines()) == 1 and '(503 ClientConnectionError)' in off.stderr


def test_a_replay_that_differs_is_one_line_naming_the_job_and_exit_1() -> None:
    log = [f'line {i}' for i in range(100)]
    with FakeAgent(TOKEN) as agent:
        agent.add_job(JOB, log, connections=[{'drop_after_messages': 50}, {'truncate': 10}])
        out = run('tail', JOB, url=agent.url)
    assert out.returncode == 1
    assert out.stdout.splitlines() == log[:50], 'nothing printed twice, nothing skipped'
    last = out.stderr.splitlines()[-1]
    assert last.startswith(f'synapse-agent-rs: job {JOB}: ') and '(409 LogReplayMismatchError)' in last
    assert len(out.stderr.splitlines()) == 2, 'the attempt, then the mismatch'
    assert 'Traceback' not in out.stderr


def handed_out(path: Path) -> int:
    """Bytes of the job's text the checkpoint file records as printed (`c1.<hex bytes>.<hash>.<job>`)."""
    try:
        entry = json.loads(path.read_text())['jobs'].get(JOB)
    except (FileNotFoundError, ValueError):
        return -1
    return int(entry['checkpoint'].split('.')[1], 16) if entry else 0


def spawn(*args: str, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(COMMAND), *args], env=env(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """The rest of stdout (what `readline` buffered included: `communicate` would lose it), stderr."""
    assert proc.stdout is not None and proc.stderr is not None
    with proc:  # closes the pipes
        out, err = proc.stdout.read(), proc.stderr.read()
    return out, err


def test_checkpoint_file_survives_sigkill_without_a_repeat(tmp_path: Path) -> None:
    """Killed (SIGKILL) three times mid-log, each time once the file holds what it printed."""
    log = [f'step {i} ✓' if i % 7 else '' for i in range(3000)]  # empty lines are never lines
    text = [line for line in log if line]
    path = tmp_path / 'state' / 'tail.json'
    path.parent.mkdir()
    printed: list[str] = []
    with FakeAgent(TOKEN) as agent:
        for round_ in range(3):
            grown = 600 * (round_ + 1)  # a running job: its log so far, then silence
            agent.add_job(JOB, log[:grown], pace=5000, fault='silence')
            want = [line for line in log[:grown] if line]
            proc = spawn('tail', JOB, '--checkpoint-file', str(path), '--checkpoint-interval', '0.1', url=agent.url)
            try:
                assert proc.stdout is not None
                while len(printed) < len(want):
                    printed.append(proc.stdout.readline().rstrip('\n'))
                size = len(''.join(f'{line}\n' for line in want).encode())
                deadline = time.monotonic() + 30
                while handed_out(path) != size:
                    assert time.monotonic() < deadline, 'the file never caught up with stdout'
                    time.sleep(0.02)
            finally:
                proc.send_signal(signal.SIGKILL)
                rest, _ = finish(proc)
            printed += rest.splitlines()
            assert printed == want, f'round {round_}: the restart printed exactly the lines not printed before'
        agent.add_job(JOB, log)  # the job completes now
        done = run('tail', JOB, '--checkpoint-file', str(path), url=agent.url)
    assert done.returncode == 0, done.stderr
    assert printed + done.stdout.splitlines() == text
    assert [p.name for p in path.parent.iterdir()] == ['tail.json'], 'no temporary file left'
    assert json.loads(path.read_text())['jobs'][JOB]['lines'] == len(text)


def test_checkpoint_file_without_a_quiet_moment_never_skips_a_line(tmp_path: Path) -> None:
    """SIGKILL while lines flow: the lines since the last save may come again, none is lost."""
    log = [f'line {i}' for i in range(4000)]
    path = tmp_path / 'tail.json'
    with FakeAgent(TOKEN) as agent:
        agent.add_job(JOB, log, pace=2000)
        proc = spawn('tail', JOB, '--checkpoint-file', str(path), '--checkpoint-interval', '0.05', url=agent.url)
        try:
            first = read_until(proc, 'line 700')
        finally:
            proc.send_signal(signal.SIGKILL)
            rest, _ = finish(proc)
        first += rest.splitlines()
        again = run('tail', JOB, '--checkpoint-file', str(path), url=agent.url).stdout.splitlines()
    assert first == log[: len(first)] and again == log[len(log) - len(again) :]
    assert len(first) + len(again) >= len(log), 'no line skipped'
    assert len(again) < len(log), 'the restart resumed from the file'


@pytest.mark.parametrize(('signum', 'status'), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_checkpoint_file_survives_ctrl_c_and_sigterm_exactly(tmp_path: Path, signum: int, status: int) -> None:
    """Interrupted while lines flow, twice: no line twice, none skipped, whatever the moment."""
    log = [f'{i} ünïcode line' for i in range(3000)]
    path = tmp_path / 'tail.json'
    printed: list[str] = []
    with FakeAgent(TOKEN) as agent:
        agent.add_job(JOB, log, pace=3000)
        for _round in range(2):
            proc = spawn('tail', JOB, '--json', '--checkpoint-file', str(path), url=agent.url)
            try:
                assert proc.stdout is not None
                for _ in range(300):
                    printed.append(proc.stdout.readline())
                proc.send_signal(signum)
                rest, err = finish(proc)
            finally:
                proc.kill()
            assert proc.returncode == status, err
            assert 'Traceback' not in err and 'lines in' in err, 'the summary, as on Ctrl-C'
            printed += rest.splitlines(keepends=True)
        done = run('tail', JOB, '--json', '--checkpoint-file', str(path), url=agent.url)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in printed + done.stdout.splitlines()]
    lines = [r for r in records if 'line' in r]
    assert [r['line'] for r in lines] == log
    assert [r['seq'] for r in lines] == list(range(len(log))), '--json seq goes on across restarts'


def test_follow_keeps_a_checkpoint_file_too(tmp_path: Path) -> None:
    path = tmp_path / 'follow.json'
    with FakeAgent(TOKEN) as agent:
        agent.add_job('job-f', [f'f{i}' for i in range(5)], fault='silence')
        proc = spawn('follow', '--interval', '0.1', '--checkpoint-file', str(path), url=agent.url)
        try:
            first = read_until(proc, 'f4')
            proc.send_signal(signal.SIGINT)
            first += finish(proc)[0].splitlines()
        finally:
            proc.kill()
        agent.add_job('job-f', [f'f{i}' for i in range(8)], fault='silence')
        proc = spawn('follow', '--interval', '0.1', '--checkpoint-file', str(path), url=agent.url)
        try:
            second = read_until(proc, 'f7')
            proc.send_signal(signal.SIGINT)
            second += finish(proc)[0].splitlines()
        finally:
            proc.kill()
    assert first + second == [f'[job-f] f{i}' for i in range(8)]


def test_bad_checkpoint_files_are_one_line_usage_errors(tmp_path: Path) -> None:
    path = tmp_path / 'tail.json'
    secretish = 'sk-live-not-for-stderr'
    with FakeAgent(TOKEN) as agent:
        agent.add_job(JOB, ['a', 'b'])
        agent.add_job('job-b', ['c'])
        assert run('tail', JOB, '--checkpoint-file', str(path), url=agent.url).stdout == 'a\nb\n'
        good = json.loads(path.read_text())
        requests = len(agent.requests())
        other = {'format': good['format'], 'jobs': {'job-b': good['jobs'][JOB]}}
        forged = {'format': good['format'], 'jobs': {JOB: {'checkpoint': f'c1.3.{secretish}.{JOB}', 'lines': 1}}}
        cases = {
            f'{secretish} is no JSON': 'not JSON',
            json.dumps({JOB: secretish}): 'not a checkpoint file',
            json.dumps({'format': good['format'], 'jobs': {JOB: secretish}}): 'an entry is not',
            json.dumps(other): "the entry of job 'job-b': it is a checkpoint of job",
            json.dumps(forged): f"the entry of job '{JOB}': it is not a checkpoint",
        }
        for content, words in cases.items():
            path.write_text(content)
            out = run('tail', JOB, '--checkpoint-file', str(path), url=agent.url)
            assert (out.returncode, out.stdout) == (2, ''), out.stderr
            assert len(out.stderr.splitlines()) == 1 and words in out.stderr, out.stderr
            assert out.stderr.startswith(f'synapse-agent-rs tail: --checkpoint-file {path}: ')
            assert secretish not in out.stderr and 'Traceback' not in out.stderr
            assert path.read_text() == content, 'a bad file is left as it is'
        assert len(agent.requests()) == requests, 'usage errors come before any I/O'
        unwritable = run('tail', JOB, '--checkpoint-file', str(tmp_path / 'no-such-dir' / 'f.json'), url=agent.url)
        assert unwritable.returncode == 2 and 'cannot write it (No such file or directory)' in unwritable.stderr
        path.write_text('')  # an empty file: no checkpoints yet
        assert run('tail', JOB, '--checkpoint-file', str(path), url=agent.url).stdout == 'a\nb\n'


def test_a_checkpoint_file_that_cannot_be_written_any_more_stops_with_one_line(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / 'state'
    folder.mkdir()
    with FakeAgent(TOKEN) as agent:
        agent.add_job(JOB, [f'line {i}' for i in range(100_000)], pace=200)
        proc = spawn(
            'tail', JOB, '--checkpoint-file', str(folder / 'f.json'), '--checkpoint-interval', '0.05', url=agent.url
        )
        try:
            read_until(proc, 'line 5')
            shutil.rmtree(folder)  # the next save cannot create its temporary file
            _, err = finish(proc)
        finally:
            proc.kill()
    assert proc.returncode == 1, err
    assert f'--checkpoint-file {folder / "f.json"}: cannot write it (No such file or directory)' in err
    assert 'Traceback' not in err and 'Exception ignored' not in err


def test_checkpoint_file_and_parquet_together_are_a_usage_error(agent: FakeAgent, tmp_path: Path) -> None:
    out = run(
        'tail',
        'job-a',
        '--parquet',
        str(tmp_path / 'a.parquet'),
        '--checkpoint-file',
        str(tmp_path / 'a.json'),
        url=agent.url,
    )
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and '--parquet' in out.stderr
    assert not any(r['path'].endswith('/logs/') or 'stream' in r['path'] for r in agent.requests())
