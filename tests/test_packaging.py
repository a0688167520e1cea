"""The release workflow and the package metadata (the wheel itself is built, installed without
Rust and run by ``make test-wheel``, .ci/wheel-test.sh)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def workflow() -> dict[str, Any]:
    text = (ROOT / '.github/workflows/release.yml').read_text()
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def builds(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in job['steps'] if str(step.get('uses', '')).startswith('PyO3/maturin-action')]


def test_release_workflow_builds_abi3_wheels_for_every_platform_and_the_sdist() -> None:
    flow = workflow()
    jobs = flow['jobs']
    # `on:` parses as True in YAML 1.1.
    trigger = flow.get('on', flow.get(True))
    assert trigger['push']['tags'] == ['v*']

    linux = jobs['linux']['strategy']['matrix']
    assert set(linux['target']) == {'x86_64', 'aarch64'} and set(linux['libc']) == {'manylinux', 'musllinux'}
    (linux_build,) = builds(jobs['linux'])
    assert 'musllinux_1_2' in linux_build['with']['manylinux'] and "'auto'" in linux_build['with']['manylinux']
    macos = {entry['target'] for entry in jobs['macos']['strategy']['matrix']['include']}
    assert macos == {'x86_64', 'aarch64'}
    (windows_build,) = builds(jobs['windows'])
    assert windows_build['with']['target'] == 'x64'
    for name in ('linux', 'macos', 'windows'):
        for step in builds(jobs[name]):
            assert '--release' in step['with']['args'], name
        smoke = [s for s in jobs[name]['steps'] if 'synapse_agent_rs.demo' in str(s.get('run', s.get('with', '')))]
        assert smoke, f'{name}: no smoke test runs the demo from the wheel'
    (sdist_build,) = builds(jobs['sdist'])
    assert sdist_build['with']['command'] == 'sdist'
    publish = jobs['publish']
    assert set(publish['needs']) == {'linux', 'macos', 'windows', 'sdist'}
    assert publish['permissions']['id-token'] == 'write'  # trusted publishing, no stored token


def test_the_wheels_are_abi3_and_the_metadata_is_complete() -> None:
    pyproject = tomllib.loads((ROOT / 'pyproject.toml').read_text())
    assert 'pyo3/abi3-py310' in pyproject['tool']['maturin']['features']
    project = pyproject['project']
    assert project['readme'] == 'README.md' and (ROOT / 'README.md').is_file()
    assert project['license'] == 'MIT' and project['license-files'] == ['LICENSE']
    assert 'MIT License' in (ROOT / 'LICENSE').read_text()
    assert {'Homepage', 'Documentation', 'Repository', 'Issues', 'Changelog'} <= set(project['urls'])
    assert 'Typing :: Typed' in project['classifiers']
    assert (ROOT / 'python/synapse_agent_rs/py.typed').is_file()
    cargo = tomllib.loads((ROOT / 'Cargo.toml').read_text())
    assert 'abi3-py310' in cargo['dependencies']['pyo3']['features']
