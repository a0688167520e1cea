"""The documented examples with only their import lines changed (``synapse_sdk`` -> ``synapse_agent_rs``),
run with the ``synapse_sdk`` alias turned off: a service that installs only this package needs nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ['test_seed_examples.py', 'test_seed_examples_async.py']
NO_SDK = """
import importlib.util


def test_synapse_sdk_is_not_importable_here() -> None:
    assert importlib.util.find_spec('synapse_sdk') is None
"""


def test_seed_examples_run_with_their_imports_changed(tmp_path: Path) -> None:
    changed = 0
    for name in EXAMPLES:
        source = (ROOT / 'tests' / name).read_text()
        imports = re.findall(r'^[ \t]*(?:from|import) synapse_sdk\b.*$', source, flags=re.M)
        changed += len(imports)
        rewritten = source.replace('synapse_sdk', 'synapse_agent_rs')
        assert 'synapse_sdk' not in rewritten
        # Only import lines named synapse_sdk: the rest of each example is untouched.
        assert [line for line in source.splitlines() if 'synapse_sdk' in line] == imports
        (tmp_path / name).write_text(rewritten)
    (tmp_path / 'conftest.py').write_text((ROOT / 'tests' / 'conftest.py').read_text())
    (tmp_path / 'test_no_sdk.py').write_text(NO_SDK)
    env = {**os.environ, 'SYNAPSE_AGENT_RS_NO_ALIAS': '1', 'PYTHONPATH': str(ROOT)}
    command = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-c', str(ROOT / 'pyproject.toml')]
    done = subprocess.run(
        [*command, '--rootdir', str(tmp_path), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    passed = int(re.search(r'(\d+) passed', done.stdout).group(1))  # type: ignore[union-attr]
    assert changed >= 5 and passed >= changed, done.stdout[-500:]
    assert 'failed' not in done.stdout and 'skipped' not in done.stdout
