"""Every Python code block of README.md and docs/ runs as written, against a FakeAgent.

The convention the documentation follows (and this test maps onto a FakeAgent):

- The agent is ``https://agent.example.com``: every occurrence of that URL in a block is
  replaced by the URL of a FakeAgent started for the block (plain HTTP on 127.0.0.1). The
  environment also has ``SYNAPSE_AGENT_URL`` (that URL) and ``SYNAPSE_AGENT_TOKEN``.
- The agent token is ``'your-agent-token'``: the FakeAgent accepts only that token.
- Job ids look like ``'raysubmit_abc123'``: every string literal of the form
  ``raysubmit_<letters, digits, _>`` in a block is a RUNNING job of the FakeAgent, whose log
  is a few short lines that end normally. Any other job id (``'invalid-job'``) does not exist
  (404), so blocks can show error handling.
- A block runs as a script of its own (``python -c``, in a fresh interpreter, in an empty
  temporary directory): it must import what it uses, define what it names, call what it
  defines (``asyncio.run(main())``) and end by itself. It passes when it exits with status 0.
- A block that cannot run like that (a shape to fill in, an excerpt, a block needing Ray or
  a real network) is a *fragment*: the line directly above its opening fence is
  ``<!-- fragment: why it cannot run -->`` (the reason is required). Fragments are listed in
  the test ids and skipped explicitly; every other ``python``, ``py`` or ``pycon`` block runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from synapse_agent_rs.testing import FakeAgent

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / 'README.md', *sorted((ROOT / 'docs').rglob('*.md'))]
URL = 'https://agent.example.com'
TOKEN = 'your-agent-token'
JOB_ID = re.compile(r"""['"](raysubmit_\w+)['"]""")
FENCE = re.compile(r'^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<info>[\w+-]*)')
FRAGMENT = re.compile(r'^\s*<!--\s*fragment:\s*(?P<reason>.*?)\s*-->\s*$')
PYTHON = {'python', 'py', 'python3', 'pycon'}


@dataclass
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    code: str
    fragment: str | None  # the reason, for a fragment

    @property
    def id(self) -> str:
        return f'{self.path.relative_to(ROOT)}:{self.line}' + (' (fragment)' if self.fragment is not None else '')


def blocks(path: Path) -> list[Block]:
    """The Python blocks of one Markdown file, with their fragment marks."""
    found: list[Block] = []
    lines = path.read_text(encoding='utf-8').splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening['fence'], len(opening['indent'])
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if opening['info'].lower() in PYTHON:
            above = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), '')
            mark = FRAGMENT.match(above)
            code = '\n'.join(line[indent:] for line in lines[i + 1 : end]) + '\n'
            found.append(Block(path, i + 1, code, mark['reason'] if mark else None))
        i = end + 1
    return found


ALL = [block for path in DOCUMENTS for block in blocks(path)]


def test_the_documentation_has_blocks_and_fragments_say_why() -> None:
    assert sum(block.fragment is None for block in ALL) >= 10
    for block in ALL:
        assert block.fragment != '', f'{block.id}: a fragment mark needs its reason'
        if block.fragment is None:
            assert not block.code.lstrip().startswith('>>>'), f'{block.id}: a pycon block must be a fragment'


SNIPPET = re.compile(r'^--8<--\s+"(?P<path>[^"]+)"\s*$')


@pytest.mark.parametrize('block', ALL, ids=[block.id for block in ALL])
def test_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    if block.fragment is not None:
        pytest.skip(f'fragment: {block.fragment}')
    included = [SNIPPET.match(line) for line in block.code.splitlines() if line.strip()]
    if included and all(included):
        # A file shown whole (pymdownx.snippets): it runs as itself, as a script of its folder;
        # the examples start their own FakeAgent when SYNAPSE_AGENT_URL is not set.
        for match in included:
            assert match is not None
            script = ROOT / match['path']
            env = {k: v for k, v in os.environ.items() if not k.startswith('SYNAPSE_AGENT_')}
            done = subprocess.run(
                [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, f'{block.id} ({script.name}) failed:\n{done.stderr}'
        return
    with FakeAgent(TOKEN) as agent:
        for job_id in sorted(set(JOB_ID.findall(block.code))):
            agent.add_job(job_id, [f'{job_id}: starting', f'{job_id}: epoch 1 loss=0.5', f'{job_id}: done'])
        code = block.code.replace(URL, agent.url)
        env = {k: v for k, v in os.environ.items() if not k.startswith('SYNAPSE_AGENT_')}
        env.update(SYNAPSE_AGENT_URL=agent.url, SYNAPSE_AGENT_TOKEN=TOKEN)
        done = subprocess.run(
            [sys.executable, '-c', code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, f'{block.id} failed:\n{block.code}\n--- stderr:\n{done.stderr}'
