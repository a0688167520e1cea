"""Installing us costs nothing at interpreter start, and the ``import synapse_sdk`` alias still works.

``synapse_agent_rs_alias.pth`` runs at every interpreter start of the environment. What it may
cost is measured with ``python -X importtime`` (the interpreter's own tally of every import, its
self and cumulative microseconds), never with a wall clock around the process:

- the modules it imports are exactly ``synapse_agent_rs`` and ``synapse_agent_rs._alias``, and
  neither imports anything (the old alias pulled in ``typing`` and ``importlib.abc``, whose
  ``importlib.resources`` brings ``tempfile``, ``shutil``, ``random``, ``pathlib``: ~20 ms);
- with ``SYNAPSE_AGENT_RS_NO_ALIAS=1`` it imports nothing at all;
- their cumulative import time, the best of 9 starts with bytecode cached, stays within 1 ms.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

PTH = Path(sysconfig.get_paths()['purelib']) / 'synapse_agent_rs_alias.pth'
pytestmark = pytest.mark.skipif(not PTH.exists(), reason='synapse_agent_rs_alias.pth is not installed here')

LINE = re.compile(r'import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)')


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ('PYTHONDONTWRITEBYTECODE', 'SYNAPSE_AGENT_RS_NO_ALIAS')}
    out.update(extra)
    return out


def start(code: str = 'pass', **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, '-X', 'importtime', '-c', code], capture_output=True, text=True, env=env(**extra), timeout=60
    )


def test_the_pth_file_imports_only_our_two_small_modules() -> None:
    start()  # writes the bytecode if it is missing
    done = start()
    assert done.returncode == 0, done.stderr
    rows = [m for m in map(LINE.match, done.stderr.splitlines()) if m]
    names = [m[4] for m in rows]
    first = next(i for i, name in enumerate(names) if name.startswith('synapse_agent_rs'))
    # Children are printed before their parent: the block of ours ends at ``synapse_agent_rs._alias``.
    last = names.index('synapse_agent_rs._alias')
    assert names[first : last + 1] == ['synapse_agent_rs', 'synapse_agent_rs._alias'], names[first - 3 : last + 1]
    assert sum(name.startswith('synapse_agent_rs') for name in names) == 2
    for heavy in ('typing', 'importlib.abc', 'importlib.util', 'tempfile', 'pathlib', '__future__'):
        assert heavy not in names, f'{heavy} imported at interpreter start'


def test_no_alias_imports_nothing() -> None:
    done = start(SYNAPSE_AGENT_RS_NO_ALIAS='1')
    assert done.returncode == 0, done.stderr
    assert 'synapse_agent_rs' not in done.stderr


def test_start_up_cost_is_within_one_millisecond() -> None:
    start()  # bytecode cached, as an installed wheel has it
    best = min(
        int(m[2])
        for m in (LINE.match(line) for _ in range(9) for line in start().stderr.splitlines())
        if m and m[4] == 'synapse_agent_rs._alias'
    )
    print(f'synapse_agent_rs_alias.pth: {best} µs (best of 9 starts, cumulative)')
    assert best <= 1000


def test_the_alias_still_works() -> None:
    code = textwrap.dedent("""
        import synapse_sdk, synapse_agent_rs
        from synapse_sdk.clients.agent import AgentClient
        import synapse_agent_rs.clients.agent as ours
        assert synapse_sdk is synapse_agent_rs and AgentClient is ours.AgentClient
        print('ok')
    """)
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env(), timeout=60)
    assert done.stdout.strip() == 'ok', done.stderr


def test_an_editable_real_sdk_wins_over_the_alias(tmp_path: Path) -> None:
    """A PEP 660 editable install (setuptools appends its finder to ``sys.meta_path``, the
    package is nowhere on ``sys.path``) is a real SDK: the alias must step aside."""
    pkg = tmp_path / 'src' / 'synapse_sdk'
    (pkg / 'clients').mkdir(parents=True)
    (pkg / '__init__.py').write_text("REAL = 'editable'\n")
    (pkg / 'clients' / '__init__.py').write_text('')
    code = textwrap.dedent(f"""
        import importlib.util, sys
        ROOT = {str(pkg)!r}

        class EditableFinder:  # what setuptools' __editable___*_finder.py does
            def find_spec(self, fullname, path=None, target=None):
                if fullname == 'synapse_sdk':
                    return importlib.util.spec_from_file_location(
                        fullname, ROOT + '/__init__.py', submodule_search_locations=[ROOT])
                return None

        sys.meta_path.append(EditableFinder())
        import synapse_sdk
        import synapse_sdk.clients
        print(synapse_sdk.REAL, synapse_sdk.clients.__file__.startswith(ROOT))
    """)
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env(), timeout=60)
    assert done.stdout.split() == ['editable', 'True'], done.stdout + done.stderr
