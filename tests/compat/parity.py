"""Parity of our agent-client surface with the real synapse-sdk's, by inspection.

Run in a venv where both are installed. For the SDK's ``AgentClient``, ``AsyncAgentClient``,
``RayClientMixin``, ``clients.exceptions`` and ``utils.network``, every public name must exist
here, and every callable must accept every call the SDK's accepts: the same positional
parameters in the same order, every keyword, every default, and a coroutine function where
the SDK has one. Exceptions must keep the SDK's subclass relations. What differs on purpose
is in ``ALLOWED`` with its reason (the same reasons as the README's "where we differ" table);
an allowed difference that no longer exists fails too, so the list stays true.

Prints every comparison made and every allowed difference; exits 1 on any other difference.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

ALLOWED: dict[str, str] = {
    # The same reasons as the README's "where we differ" table.
    'AgentClient.long_poll_handler': 'no Redis long-poll mode: requests go to the agent, on the Rust core',
    'AgentClient.__init__(long_poll_handler)': 'no Redis long-poll mode: requests go to the agent, on the Rust core',
    'AgentClient.requests_session': 'no requests.Session: requests go to the agent, on the Rust core',
    'AsyncAgentClient.timeout': "one timeout shape: {'connect': s, 'read': s} on both clients (a number is accepted)",
}

# The SDK's names whose objects we compare, and where ours are.
CLASSES = [
    ('synapse_sdk.clients.agent', 'AgentClient', 'synapse_agent_rs.clients.agent'),
    ('synapse_sdk.clients.agent', 'AsyncAgentClient', 'synapse_agent_rs.clients.agent'),
    ('synapse_sdk.clients.agent.ray', 'RayClientMixin', 'synapse_agent_rs.clients.agent.ray'),
]
MODULES = [
    ('synapse_sdk.clients.exceptions', 'synapse_agent_rs.clients.exceptions'),
    ('synapse_sdk.utils.network', 'synapse_agent_rs.utils.network'),
]

differences: list[str] = []
allowed_seen: set[str] = set()
compared = 0


def differ(key: str, what: str) -> None:
    if key in ALLOWED:
        allowed_seen.add(key)
        print(f'  allowed  {key}: {what}  [{ALLOWED[key]}]')
    else:
        differences.append(f'{key}: {what}')
        print(f'  DIFFERS  {key}: {what}')


def public(names: Any) -> list[str]:
    return sorted(n for n in names if not n.startswith('_'))


def compare_signatures(key: str, sdk: Any, ours: Any) -> None:
    """Every call the SDK's callable accepts must be accepted by ours."""
    global compared
    compared += 1
    if inspect.iscoroutinefunction(sdk) and not inspect.iscoroutinefunction(ours):
        differ(key, 'a coroutine function in the SDK, not here')
    try:
        theirs, mine = inspect.signature(sdk), inspect.signature(ours)
    except (TypeError, ValueError):
        return
    t_params = [p for p in theirs.parameters.values() if p.name not in ('self', 'cls')]
    m_params = [p for p in mine.parameters.values() if p.name not in ('self', 'cls')]
    m_by_name = {p.name: p for p in m_params}
    m_var_kw = any(p.kind is p.VAR_KEYWORD for p in m_params)
    m_positional = [p for p in m_params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    m_var_pos = any(p.kind is p.VAR_POSITIONAL for p in m_params)
    for index, p in enumerate(t for t in t_params if t.kind in (t.POSITIONAL_ONLY, t.POSITIONAL_OR_KEYWORD)):
        if index >= len(m_positional):
            if not m_var_pos:
                differ(f'{key}({p.name})', 'positional parameter missing')
            continue
        if m_positional[index].name != p.name:
            differ(f'{key}({p.name})', f'position {index} is {m_positional[index].name!r} here')
    for p in t_params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        mp = m_by_name.get(p.name)
        if mp is None:
            if p.kind is not p.POSITIONAL_ONLY and not m_var_kw:
                differ(f'{key}({p.name})', 'keyword missing')
            continue
        if mp.kind is mp.POSITIONAL_ONLY and p.kind is not p.POSITIONAL_ONLY:
            differ(f'{key}({p.name})', 'positional-only here')
        if p.default is not p.empty and mp.default is mp.empty:
            differ(f'{key}({p.name}) default', 'optional in the SDK, required here')
        elif p.default is not p.empty and mp.default != p.default:
            differ(f'{key}({p.name}) default', f'{p.default!r} in the SDK, {mp.default!r} here')
    t_names = {p.name for p in t_params}
    for mp in m_params:
        required = mp.default is mp.empty and mp.kind not in (mp.VAR_POSITIONAL, mp.VAR_KEYWORD)
        if mp.name not in t_names and required:
            differ(f'{key}({mp.name})', 'required here, unknown to the SDK')


def instance_attributes(cls: Any) -> set[str]:
    """Public attributes an instance made with a URL and a token has."""
    try:
        obj = cls('http://127.0.0.1:9', 'token')
    except TypeError:
        return set()
    return set(public(vars(obj)))


def compare_class(sdk_module: str, name: str, our_module: str) -> None:
    sdk_cls = getattr(importlib.import_module(sdk_module), name)
    our_cls = getattr(importlib.import_module(our_module), name)
    print(f'{sdk_module}.{name} vs {our_module}.{name}')
    names = set(public(dir(sdk_cls))) | instance_attributes(sdk_cls)
    our_instance = None
    try:
        our_instance = our_cls('http://127.0.0.1:9', 'token')
    except TypeError:
        pass
    for attr in sorted(names):
        key = f'{name}.{attr}'
        if not hasattr(our_cls, attr) and not (our_instance is not None and hasattr(our_instance, attr)):
            differ(key, 'missing')
            continue
        theirs = inspect.getattr_static(sdk_cls, attr, None)
        if callable(theirs) and not isinstance(theirs, type):
            compare_signatures(key, getattr(sdk_cls, attr), getattr(our_cls, attr))
    if not name.endswith('Mixin'):  # a mixin has no constructor of its own in the SDK
        compare_signatures(f'{name}.__init__', sdk_cls.__init__, our_cls.__init__)
    if our_instance is not None and 'timeout' in names:
        sdk_timeout = getattr(sdk_cls('http://127.0.0.1:9', 'token'), 'timeout', None)
        if type(sdk_timeout) is not type(our_instance.timeout):
            differ(
                f'{name}.timeout',
                f'{type(sdk_timeout).__name__} in the SDK, {type(our_instance.timeout).__name__} here',
            )


def compare_module(sdk_name: str, our_name: str) -> None:
    sdk, ours = importlib.import_module(sdk_name), importlib.import_module(our_name)
    print(f'{sdk_name} vs {our_name}')
    names = getattr(sdk, '__all__', None) or [
        n for n, v in vars(sdk).items() if getattr(v, '__module__', None) == sdk_name and not n.startswith('_')
    ]
    for attr in sorted(names):
        key = f'{sdk_name.rsplit(".", 1)[-1]}.{attr}'
        theirs, mine = getattr(sdk, attr), getattr(ours, attr, None)
        if mine is None:
            differ(key, 'missing')
            continue
        if isinstance(theirs, type):
            compare_signatures(f'{key}.__init__', theirs.__init__, mine.__init__)
            for base in theirs.__mro__[1:]:
                our_base = getattr(ours, base.__name__, None)
                if base.__module__.startswith('synapse_sdk') and not (our_base and issubclass(mine, our_base)):
                    differ(key, f'not a subclass of {base.__name__} here')
            for field in public(vars(theirs)):
                if not hasattr(mine, field):
                    differ(f'{key}.{field}', 'missing')
        elif callable(theirs):
            compare_signatures(key, theirs, mine)


def main() -> int:
    for sdk_module, name, our_module in CLASSES:
        compare_class(sdk_module, name, our_module)
    for sdk_name, our_name in MODULES:
        compare_module(sdk_name, our_name)
    stale = sorted(set(ALLOWED) - allowed_seen)
    for key in stale:
        print(f'  STALE    {key}: allowed, but no longer differs; remove it from ALLOWED')
    print(
        f'{compared} callables compared; {len(allowed_seen)} allowed differences; '
        f'{len(differences)} other differences; {len(stale)} stale allowances'
    )
    return 1 if differences or stale else 0


if __name__ == '__main__':
    sys.exit(main())
