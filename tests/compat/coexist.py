"""Coexistence with the real synapse-sdk, installed from PyPI with its dependencies (``make test-compat``).

Builds our wheel, then in fresh CPython 3.12 venvs (the SDK requires Python >= 3.12):

A. ours first (pip), then synapse-sdk 2026.2.17 with every dependency; ``pip check``; every
   SDK module and the ``synapse`` command work, ours works, ``synapse_agent_rs.install()``
   routes the SDK's own clients through our core; the parity check (``parity.py``) runs here.
B. synapse-sdk 2026.2.16 with its dependencies first, then ours (pip); then a real upgrade of
   the SDK to 2026.2.17 (pip, from PyPI); then ours reinstalled over itself; then the SDK
   reinstalled over itself; both keep working after each step. Last, the SDK is uninstalled:
   ours still works, and ``import synapse_sdk`` now gives ours (the alias).

The dependency sets are installed with ``uv`` (pip needs 70-120 s for them on this machine, uv
about 10 s); every step that installs, upgrades or reinstalls one of the two packages is
pip's. Downloads are cached in ``.cache/`` (reused by the next run on the same machine).
Python 3.12 is ``$PYTHON312``, ``python3.12`` on PATH, or pyenv's; missing, the test fails
and says how to get it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / 'target' / 'compat'
CACHE = ROOT / '.cache'
HERE = Path(__file__).resolve().parent
SDK = 'synapse-sdk==2026.2.17'
OLDER_SDK = 'synapse-sdk==2026.2.16'
# The SDK's mcp module needs the mcp package (its "all" extra asks for mcp>=1.25.0); mcp 2
# renamed what the SDK imports, so the SDK works with mcp 1 only.
MCP = 'mcp>=1.25.0,<2'

started = time.monotonic()
# The two scenarios run side by side; each keeps its own log, printed when it ends.
log = threading.local()


def say(text: str) -> None:
    line = f'[{time.monotonic() - started:6.1f} s] {text}'
    if getattr(log, 'lines', None) is None:
        print(line, flush=True)
    else:
        log.lines.append(line)


def run(*command: str | Path) -> None:
    say('$ ' + ' '.join(str(c) for c in command))
    env = {**os.environ, 'PIP_CACHE_DIR': str(CACHE / 'pip'), 'UV_CACHE_DIR': str(CACHE / 'uv')}
    env.pop('VIRTUAL_ENV', None)
    env.pop('PYTHONPATH', None)
    done = subprocess.run([str(c) for c in command], env=env, capture_output=True, text=True, check=False)
    for line in (done.stdout + done.stderr).splitlines():
        say('  ' + line)
    if done.returncode != 0:
        raise RuntimeError(f'exit status {done.returncode}: {" ".join(str(c) for c in command)}')


def python312() -> str:
    candidates = [os.environ.get('PYTHON312', ''), shutil.which('python3.12') or '']
    pyenv_root = os.environ.get('PYENV_ROOT') or str(Path.home() / '.pyenv')
    candidates += sorted(glob.glob(f'{pyenv_root}/versions/3.12*/bin/python'), reverse=True)
    for candidate in filter(None, candidates):
        version = subprocess.run(
            [candidate, '-c', 'import sys; print(sys.version_info[:2] == (3, 12))'],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if version == 'True':
            return candidate
    sys.exit(
        'test-compat: CPython 3.12 not found (synapse-sdk 2026.2.17 requires Python >= 3.12). '
        'Set PYTHON312=/path/to/python3.12, put python3.12 on PATH, or `pyenv install 3.12`.'
    )


def our_wheel() -> Path:
    out = WORK / 'wheel'
    shutil.rmtree(out, ignore_errors=True)
    run(Path(sys.executable).parent / 'maturin', 'build', '-q', '-o', out, '-m', ROOT / 'Cargo.toml')
    [wheel] = out.glob('synapse_agent_rs-*.whl')
    return wheel


def venv(name: str, py312: str) -> Path:
    path = WORK / name
    shutil.rmtree(path, ignore_errors=True)
    run(Path(sys.executable).parent / 'uv', 'venv', '-q', '--seed', '-p', py312, path)  # --seed: with pip
    return path


def uv_install(env: Path, *requirements: str) -> None:
    run(Path(sys.executable).parent / 'uv', 'pip', 'install', '-q', '-p', env / 'bin' / 'python', *requirements)


def pip(env: Path, *args: str | Path) -> None:
    run(env / 'bin' / 'python', '-m', 'pip', '-q', '--disable-pip-version-check', *args)


def probe(env: Path, *checks: str) -> None:
    run(env / 'bin' / 'python', '-W', 'ignore', HERE / 'probe.py', *checks)


def versions(env: Path) -> None:
    run(
        env / 'bin' / 'python',
        '-c',
        'import importlib.metadata as m; '
        'print("  installed:", *(f"{d}=={m.version(d)}" for d in ("synapse-sdk", "synapse-agent-rs")))',
    )


def ours_then_sdk(py312: str, wheel: Path) -> None:
    say('A. ours first, then synapse-sdk with its dependencies')
    a = venv('ours-then-sdk', py312)
    pip(a, 'install', wheel)
    uv_install(a, SDK, MCP)
    pip(a, 'check')
    versions(a)
    probe(a, 'sdk', 'cli', 'ours', 'accelerate')
    say('A. parity of the agent-client surface')
    run(a / 'bin' / 'python', '-W', 'ignore', HERE / 'parity.py')


def sdk_then_ours(py312: str, wheel: Path) -> None:
    say('B. an older synapse-sdk first, then ours, then the SDK upgraded, then each reinstalled')
    b = venv('sdk-then-ours', py312)
    uv_install(b, OLDER_SDK, MCP)
    pip(b, 'install', wheel)
    versions(b)
    probe(b, 'sdk', 'ours')
    pip(b, 'install', '--upgrade', SDK)
    pip(b, 'check')
    versions(b)
    probe(b, 'sdk', 'ours', 'accelerate')
    pip(b, 'install', '--force-reinstall', '--no-deps', wheel)
    probe(b, 'sdk', 'cli', 'ours')
    pip(b, 'install', '--force-reinstall', '--no-deps', SDK)
    probe(b, 'sdk', 'ours', 'accelerate')
    pip(b, 'uninstall', '-y', 'synapse-sdk')
    probe(b, 'ours', 'alias')


def scenario(body: Callable[[str, Path], None], py312: str, wheel: Path) -> tuple[bool, list[str]]:
    log.lines = []
    try:
        body(py312, wheel)
        return True, log.lines
    except Exception as e:  # the failed step's output is in the log
        log.lines.append(f'FAILED: {e}')
        return False, log.lines


def main() -> None:
    py312 = python312()
    say(f'CPython 3.12: {py312}')
    wheel = our_wheel()
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(scenario, body, py312, wheel) for body in (ours_then_sdk, sdk_then_ours)]
        results = [r.result() for r in runs]
    for _, lines in results:
        print('\n'.join(lines), flush=True)
    if not all(ok for ok, _ in results):
        sys.exit('coexistence: FAILED (see above)')
    say('coexistence: all checks passed')


if __name__ == '__main__':
    main()
