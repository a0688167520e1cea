"""Run inside a venv of the coexistence test: checks that what is installed there works.

``python probe.py sdk ours cli accelerate alias`` checks any of:

- ``sdk``: the real synapse-sdk imports, with every module the issue names;
- ``cli``: the ``synapse`` command answers ``--help``;
- ``ours``: synapse-agent-rs imports and tails a job of its FakeAgent;
- ``accelerate``: code written against ``synapse_sdk.clients.agent`` gets our core after
  ``synapse_agent_rs.install()`` (sync and async, errors as the SDK's classes), and gets its
  own methods back after ``uninstall()``; an int job id is accepted, a subclass's extra
  ``_get_headers()`` header reaches the agent, and the client still pickles and deep-copies
  after an accelerated tail and after ``uninstall()`` (issue 17, items 14-16);
- ``alias``: no real SDK: ``import synapse_sdk`` gives our package.

Prints one line per check and exits non-zero at the first failure.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import importlib.metadata
import inspect
import pickle
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

SDK_MODULES = [
    'synapse_sdk.clients.agent',
    'synapse_sdk.clients.backend',
    'synapse_sdk.clients.backend_v2',
    'synapse_sdk.clients.pipeline',
    'synapse_sdk.plugins',
    'synapse_sdk.cli',
    'synapse_sdk.mcp',
]


def check(what: str, ok: bool, detail: object = '') -> None:
    print(f'  {"ok  " if ok else "FAIL"} {what}{f": {detail}" if detail != "" else ""}', flush=True)
    if not ok:
        sys.exit(1)


def raised(call: Callable[[], object]) -> Any:
    """The exception ``call`` raised (a failed check if it raised none)."""
    try:
        call()
    except Exception as e:
        return e
    check('an exception was raised', False)


def sdk() -> None:
    version = importlib.metadata.version('synapse-sdk')
    for name in SDK_MODULES:
        module = importlib.import_module(name)
        check(f'import {name}', module.__name__ == name and '/synapse_sdk/' in (module.__file__ or ''))
    import synapse_sdk.exceptions as exc

    check(
        f'synapse-sdk {version}: its own ClientResponseIncompleteError',
        exc.__name__ == 'synapse_sdk.exceptions' and hasattr(exc, 'ClientResponseIncompleteError'),
    )
    from synapse_sdk.clients.backend import BackendClient  # what broke under --ignore-installed

    check('synapse_sdk.clients.backend.BackendClient', callable(BackendClient))


def cli() -> None:
    command = shutil.which('synapse', path=str(sys.prefix) + '/bin')
    started = time.monotonic()
    done = subprocess.run([command or 'synapse', '--help'], capture_output=True, text=True, timeout=120, check=False)
    seconds = time.monotonic() - started
    check(f'synapse --help ({seconds:.1f} s)', done.returncode == 0 and 'Usage' in done.stdout, done.stderr[-300:])


def ours() -> None:
    import synapse_agent_rs
    from synapse_agent_rs.clients.agent import AgentClient
    from synapse_agent_rs.testing import FakeAgent

    check(f'synapse-agent-rs {importlib.metadata.version("synapse-agent-rs")}', bool(synapse_agent_rs.__version__))
    with FakeAgent('token') as agent:
        agent.add_job('job-1', ['a', 'b'])
        check('our client tails FakeAgent', list(AgentClient(agent.url, 'token').tail_job_logs('job-1')) == ['a', 'b'])


def accelerate() -> None:
    import synapse_sdk.exceptions as sdk_errors
    from synapse_sdk.clients.agent import AgentClient, AsyncAgentClient
    from synapse_sdk.clients.agent.ray import RayClientMixin

    import synapse_agent_rs
    from synapse_agent_rs.testing import FakeAgent

    signature = inspect.signature(RayClientMixin.tail_job_logs)
    with FakeAgent('token') as agent:
        agent.add_job('job-1', ['first', 'second'])
        client = AgentClient(agent.url, 'token')  # written against the SDK, unchanged

        def user_agent_of_tail() -> str:
            lines = list(client.tail_job_logs('job-1', protocol='http'))
            check('  the lines', lines == ['first', 'second'], lines)
            return str(agent.requests()[-1]['headers'].get('user-agent'))

        check("SDK tail before install() is the SDK's (requests)", 'python-requests' in user_agent_of_tail())
        check('install() routes the SDK through our core', synapse_agent_rs.install() is True)
        check('install() is idempotent', synapse_agent_rs.install() is True and synapse_agent_rs.installed())
        check('SDK tail after install() is ours', user_agent_of_tail().startswith('synapse-agent-rs/'))
        check(
            'same signature, still a generator function',
            inspect.signature(RayClientMixin.tail_job_logs) == signature
            and inspect.isgeneratorfunction(RayClientMixin.tail_job_logs),
        )
        both = [list(client.websocket_tail_job_logs('job-1')), list(client.stream_tail_job_logs('job-1'))]
        check('websocket_ and stream_tail_job_logs', both == [['first', 'second']] * 2)
        e = raised(lambda: list(client.tail_job_logs('no-such-job')))
        check("errors are the SDK's classes", type(e) is sdk_errors.NotFoundError and e.status_code == 404, repr(e))
        client.stream_limits.max_lines = 1
        e = raised(lambda: list(client.tail_job_logs('job-1', protocol='http')))
        check("the SDK client's stream_limits apply", type(e) is sdk_errors.StreamLimitExceededError, repr(e))

        async def tail_async() -> list[str]:
            aclient = AsyncAgentClient(agent.url, 'token')
            return [line async for line in aclient.tail_job_logs('job-1')]

        check('async SDK client tails through our core', asyncio.run(tail_async()) == ['first', 'second'])
        check('still an async generator function', inspect.isasyncgenfunction(AsyncAgentClient.tail_job_logs))
        client.stream_limits.max_lines = 50_000
        picklable(client, 'after an accelerated tail')
        agent.add_job('7', ['int id'])
        check('an int job id is accepted, as str()', list(client.tail_job_logs(7)) == ['int id'])  # type: ignore[arg-type]

        class GatewayClient(AgentClient):  # type: ignore[misc]
            def _get_headers(self) -> dict[str, str]:
                return {**super()._get_headers(), 'X-Gateway-Key': 'gw-123'}

        gateway = GatewayClient(agent.url, 'token')
        for protocol in ('http', 'websocket'):
            check(
                f'  tail over {protocol}',
                list(gateway.tail_job_logs('job-1', protocol=protocol)) == ['first', 'second'],
            )
            sent = agent.requests()[-1]['headers']
            check(
                f"a subclass's _get_headers() header reaches the agent ({protocol})",
                sent.get('x-gateway-key') == 'gw-123' and sent.get('user-agent', '').startswith('synapse-agent-rs/'),
                sent.get('x-gateway-key'),
            )

        async def tail_async_gateway() -> list[str]:
            class AsyncGatewayClient(AsyncAgentClient):  # type: ignore[misc]
                def _get_headers(self) -> dict[str, str]:
                    return {**super()._get_headers(), 'X-Gateway-Key': 'gw-async'}

            return [line async for line in AsyncGatewayClient(agent.url, 'token').tail_job_logs(7)]

        check('async: int job id', asyncio.run(tail_async_gateway()) == ['int id'])
        check('async: the subclass header too', agent.requests()[-1]['headers'].get('x-gateway-key') == 'gw-async')
        synapse_agent_rs.uninstall()
        picklable(client, 'after uninstall()')
        check('uninstall() gives the SDK its own tail back', 'python-requests' in user_agent_of_tail())


def picklable(client: Any, when: str) -> None:
    """The SDK client pickles and deep-copies, to an equal client (no core of ours inside it)."""
    names = {name for name in vars(client) if 'synapse_agent_rs' in name or 'core' in name.lower()}
    check(f'nothing of ours in the client {when}', not names, names)
    for how, twin in (('pickle', lambda c: pickle.loads(pickle.dumps(c))), ('deepcopy', copy.deepcopy)):
        try:
            other = twin(client)
        except Exception as e:
            check(f'the client {how}s {when}', False, repr(e))
        check(
            f'the client {how}s {when}',
            (other.base_url, other.agent_token) == (client.base_url, client.agent_token),
        )


def alias() -> None:
    import synapse_sdk
    from synapse_sdk.clients.agent import AgentClient

    check('no real SDK: import synapse_sdk gives synapse_agent_rs', synapse_sdk.__name__ == 'synapse_agent_rs')
    check('install() has nothing to accelerate', importlib.import_module('synapse_agent_rs').install() is False)
    check('synapse_sdk.clients.agent.AgentClient is ours', AgentClient.__module__.startswith('synapse_agent_rs'))


if __name__ == '__main__':
    for name in sys.argv[1:]:
        globals()[name]()
