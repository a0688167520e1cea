"""The scripts of ``examples/`` run as users run them, against a FakeAgent, and say what they should."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / 'examples'


def run(*args: str, cwd: Path = EXAMPLES) -> str:
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_sync_tail() -> None:
    out = run(str(EXAMPLES / 'sync_tail.py'), 'job-42')
    assert 'epoch 4: loss=0.200' in out
    assert "<LineStream job_id='job-42' protocol='websocket' (auto) state='ended' lines=5" in out
    assert 'log stream of job job-42 opened over websocket' in out  # the DEBUG record it enabled


def test_async_many_jobs() -> None:
    out = run(str(EXAMPLES / 'async_many_jobs.py'), '20')
    assert "agent: {'status': 'healthy'}" in out and '20 jobs, 2000 lines' in out


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
