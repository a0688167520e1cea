"""Make ``import synapse_sdk`` give this package when no other ``synapse_sdk`` is installed.

Imported at interpreter start by ``synapse_agent_rs_alias.pth``, so it must stay cheap: it
imports nothing heavy and only adds one finder to :data:`sys.meta_path`. The finder answers for
``synapse_sdk`` only when the ordinary path search finds no real ``synapse_sdk`` (the full SDK
always wins), and then for its submodules, so ``synapse_sdk.clients.agent.AgentClient`` *is*
``synapse_agent_rs.clients.agent.AgentClient`` (one module object, one set of classes).
Set ``SYNAPSE_AGENT_RS_NO_ALIAS=1`` to turn it off.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

ALIAS = 'synapse_sdk'
TARGET = 'synapse_agent_rs'


class _AliasLoader(importlib.abc.Loader):
    """Hands out the already-imported module of ours under the alias name."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self._target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamps the alias spec on the module; keep the real one.
        if self._spec is not None:
            module.__spec__ = self._spec


class AliasFinder(importlib.abc.MetaPathFinder):
    """Resolves ``synapse_sdk[.x]`` to ``synapse_agent_rs[.x]`` when no real SDK is installed."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == ALIAS:
            real_sdk = importlib.machinery.PathFinder.find_spec(ALIAS)
            # A bare folder named synapse_sdk (a namespace package) is not the SDK.
            if real_sdk is not None and real_sdk.origin is not None:
                return None  # the real synapse-sdk is installed: leave it alone
        elif fullname.startswith(ALIAS + '.'):
            parent = sys.modules.get(ALIAS)
            if parent is None or getattr(parent, '__name__', None) != TARGET:
                return None
        else:
            return None
        real = TARGET + fullname[len(ALIAS) :]
        if importlib.util.find_spec(real) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real), is_package=True)


def enable() -> None:
    """Adds the finder once (first in line, so submodules of the alias resolve to ours)."""
    if os.environ.get('SYNAPSE_AGENT_RS_NO_ALIAS') or any(isinstance(f, AliasFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, AliasFinder())


enable()
