"""Checks an installed synapse-agent-rs (run by wheel-test.sh in a fresh venv): the metadata PyPI
shows, the files a typed, aliased package needs, and the sdist's contents."""

from __future__ import annotations

import shutil
import sys
import tarfile
from importlib import metadata
from pathlib import Path

dist = metadata.distribution('synapse-agent-rs')
meta = dist.metadata
assert meta['Name'] == 'synapse-agent-rs', meta['Name']
assert meta['License-Expression'] == 'MIT', meta['License-Expression']
assert 'LICENSE' in (meta.get_all('License-File') or []), meta.get_all('License-File')
assert meta['Description-Content-Type'].startswith('text/markdown'), meta['Description-Content-Type']
assert '# synapse-agent-rs' in (meta.get_payload() or ''), 'the README is the long description'
urls = dict(entry.split(', ', 1) for entry in meta.get_all('Project-URL') or [])
assert {'Homepage', 'Documentation', 'Repository', 'Issues', 'Changelog'} <= set(urls), urls
classifiers = meta.get_all('Classifier') or []
for wanted in ('Typing :: Typed', 'Programming Language :: Rust', 'Framework :: AsyncIO'):
    assert wanted in classifiers, (wanted, classifiers)
assert meta['Requires-Python'] == '>=3.10', meta['Requires-Python']

files = {str(f) for f in dist.files or []}
for wanted in (
    'synapse_agent_rs/py.typed',
    'synapse_agent_rs/_core.pyi',
    'synapse_agent_rs/streams.py',
    'synapse_agent_rs_alias.pth',
):
    assert any(f.endswith(wanted) for f in files), f'{wanted} is not installed'
assert any('_core' in f and f.endswith(('.so', '.pyd')) for f in files), 'no extension module'
assert any(f.endswith('licenses/LICENSE') for f in files), 'the license file is not installed'

wheel = next(Path(sys.argv[1]).glob('*.whl'))
assert '-cp310-abi3-' in wheel.name, f'not an abi3 wheel: {wheel.name}'

sdist = next(Path(sys.argv[1]).glob('*.tar.gz'))
with tarfile.open(sdist) as tar:
    names = {name.split('/', 1)[1] for name in tar.getnames() if '/' in name}
for wanted in ('LICENSE', 'README.md', 'pyproject.toml', 'Cargo.toml', 'Cargo.lock', 'rust/src/lib.rs'):
    assert wanted in names, f'{wanted} is not in the sdist'

assert shutil.which('cargo') is None and shutil.which('rustc') is None, 'Rust is on PATH'
import synapse_agent_rs  # noqa: E402  (after the checks that need no import)
from synapse_agent_rs.streams import AsyncLineStream, LineStream  # noqa: E402

assert synapse_agent_rs.__version__ == dist.version
assert LineStream.__module__ and AsyncLineStream.__doc__
print(f'check_install: {wheel.name} and {sdist.name} OK ({len(files)} files installed)')
