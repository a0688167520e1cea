"""The scripts of ``examples/`` run as users run them, against a FakeAgent, and say what they should."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / 'examples'


def run(*args: str, cwd: Path = EXAMPLES, env: dict[str, str] | None = None) -> str:
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith('SYNAPSE_AGENT_')}
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_sync_tail() -> None:
    out = run(str(EXAMPLES / 'sync_tail.py'), 'job-42')
    assert 'epoch 4: loss=0.200' in out
    assert "<LineStream job_id='job-42' protocol='websocket' (auto) state='ended' lines=5" in out
    assert 'log stream of job job-42 opened over websocket' in out  # the DEBUG record it enabled


def test_async_many_jobs() -> None:
    out = run(str(EXAMPLES / 'async_many_jobs.py'))
    assert "agent: {'status': 'healthy'}" in out and '50 jobs, 5000 lines' in out
    given = run(str(EXAMPLES / 'async_many_jobs.py'), 'raysubmit_a', 'raysubmit_b')
    assert '2 jobs, 200 lines' in given


def test_examples_take_the_jobs_of_a_real_agent() -> None:
    """With SYNAPSE_AGENT_URL, the examples tail the given job ids, or every job the agent lists."""
    from synapse_agent_rs.testing import FakeAgent

    with FakeAgent('real-token') as real:
        real.add_job('raysubmit_one', ['one 1', 'one 2'])
        real.add_job('raysubmit_two', ['two 1'])
        env = {**os.environ, 'SYNAPSE_AGENT_URL': real.url, 'SYNAPSE_AGENT_TOKEN': 'real-token'}
        listed = run(str(EXAMPLES / 'async_many_jobs.py'), env=env)
        one = run(str(EXAMPLES / 'sync_tail.py'), 'raysubmit_two', env=env)
    assert '2 jobs, 3 lines' in listed
    assert 'two 1' in one and 'one 1' not in one


def test_ingest_to_file(tmp_path: Path) -> None:
    sink = tmp_path / 'logs.jsonl'
    out = run(str(EXAMPLES / 'ingest_to_file.py'), str(sink))
    assert 'wrote 60000 lines of 3 jobs' in out
    records = [json.loads(line) for line in sink.read_text().splitlines()]
    assert len(records) == 60000
    assert records[0] == {'job': 'train-0', 'line': 'step 0 of train-0'}
    assert records[-1] == {'job': 'train-2', 'line': 'step 19999 of train-2'}


def test_testing_your_own_code_with_fake_agent() -> None:
    out = run('-m', 'pytest', '-q', '-p', 'no:cacheprovider', str(EXAMPLES / 'test_with_fake_agent.py'))
    assert '5 passed' in out


def test_ingest_to_sqlite_stores_every_line_once_across_kills(tmp_path: Path) -> None:
    import os
    import signal
    import sqlite3
    import time

    from synapse_agent_rs.testing import FakeAgent

    log = [f'step {i} ✓' for i in range(6000)]
    database = tmp_path / 'logs.db'
    with FakeAgent('example-token') as fake:
        env = {**os.environ, 'SYNAPSE_AGENT_URL': fake.url, 'SYNAPSE_AGENT_TOKEN': 'example-token'}
        command = [sys.executable, str(EXAMPLES / 'ingest_to_sqlite.py'), str(database), 'raysubmit_abc123']

        def stored() -> int:
            if not database.exists():
                return 0
            with contextlib.closing(sqlite3.connect(database, timeout=10)) as db:
                try:
                    return int(db.execute('SELECT count(*) FROM lines').fetchone()[0])
                except sqlite3.OperationalError:  # the table is not there yet
                    return 0

        kills, mid_way = 0, 0
        for round_ in range(3):
            # A running job: its log so far, then silence (the ingester never ends by itself);
            # the kill comes 150 lines into the round, or once the ingester has it all.
            grown = 1500 * (round_ + 1)
            fake.add_job('raysubmit_abc123', log[:grown], pace=3000, fault='silence')
            child = subprocess.Popen(command, cwd=EXAMPLES, env=env)
            try:
                before = stored()
                deadline = time.monotonic() + 30
                while before + 150 >= stored() < grown and time.monotonic() < deadline and child.poll() is None:
                    time.sleep(0.02)
            finally:
                if child.poll() is None:
                    child.send_signal(signal.SIGKILL)
                    kills += 1
                child.wait(timeout=30)
            mid_way += stored() < len(log)
        fake.add_job('raysubmit_abc123', log)  # the job completes now
        done = subprocess.run(command, cwd=EXAMPLES, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    assert kills == 3, 'the ingester was killed (SIGKILL) three times'
    assert mid_way == 3, 'every kill fell in the middle of the log'
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute('SELECT seq, line FROM lines ORDER BY seq').fetchall()
    assert [line for _, line in rows] == log, 'every line stored exactly once, in order'
    assert [seq for seq, _ in rows] == list(range(len(log)))
