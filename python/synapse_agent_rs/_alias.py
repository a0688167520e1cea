"""Make ``import synapse_sdk`` give this package when no real ``synapse_sdk`` is importable.

Imported at interpreter start by ``synapse_agent_rs_alias.pth`` (unless
``SYNAPSE_AGENT_RS_NO_ALIAS`` is set), so it costs nothing measurable: it imports no module
(``sys`` and ``os`` are loaded before any ``.pth`` file is read) and only puts one finder first
on ``sys.meta_path``. Everything else (``importlib.util``, ``importlib.machinery``) is imported
only when something actually asks for ``synapse_sdk``. ``tests/test_startup.py`` holds this to
account with ``python -X importtime``.

The finder answers for ``synapse_sdk`` only when no other finder on ``sys.meta_path`` (the
ordinary path search, a PEP 660 editable-install finder, any import hook) finds a real
``synapse_sdk``: the full SDK always wins. It then answers for the submodules, so
``synapse_sdk.clients.agent.AgentClient`` *is* ``synapse_agent_rs.clients.agent.AgentClient``
(one module object, one set of classes). Finders are duck-typed (``find_spec``), so no base
class from ``importlib.abc`` is needed.
"""

import os
import sys

ALIAS = 'synapse_sdk'
TARGET = 'synapse_agent_rs'

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any


class _AliasLoader:
    """Hands out the already-imported module of ours under the alias name."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._spec: ModuleSpec | None = None

    def create_module(self, spec: 'ModuleSpec') -> 'ModuleType':
        import importlib

        module = importlib.import_module(self._target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: 'ModuleType') -> None:
        # The import system stamps the alias spec on the module; keep the real one.
        if self._spec is not None:
            module.__spec__ = self._spec


def _is_real(spec: 'ModuleSpec | None') -> bool:
    # A bare folder named synapse_sdk (a namespace package, no origin) is not the SDK.
    return spec is not None and spec.origin is not None and spec.origin != 'namespace'


class AliasFinder:
    """Resolves ``synapse_sdk[.x]`` to ``synapse_agent_rs[.x]`` when no real SDK is importable."""

    def __init__(self) -> None:
        self._asking = False

    def _real_sdk_importable(self) -> bool:
        """Whether any other finder on ``sys.meta_path`` finds a real ``synapse_sdk``."""
        self._asking = True  # a finder that re-enters the import system must not reach us again
        try:
            for finder in list(sys.meta_path):
                find_spec = getattr(finder, 'find_spec', None)
                if finder is self or find_spec is None:
                    continue
                try:
                    if _is_real(find_spec(ALIAS, None)):
                        return True
                except Exception:  # a broken third-party finder must not break every import
                    continue
            return False
        finally:
            self._asking = False

    def find_spec(
        self, fullname: str, path: 'Sequence[str] | None' = None, target: 'ModuleType | None' = None
    ) -> 'ModuleSpec | None':
        if self._asking:
            return None
        if fullname == ALIAS:
            if self._real_sdk_importable():
                return None  # the real synapse-sdk is installed (editable or not): leave it alone
        elif fullname.startswith(ALIAS + '.'):
            parent = sys.modules.get(ALIAS)
            if parent is None or getattr(parent, '__name__', None) != TARGET:
                return None
        else:
            return None
        from importlib.machinery import ModuleSpec
        from importlib.util import find_spec

        real = TARGET + fullname[len(ALIAS) :]
        if find_spec(real) is None:
            return None
        loader: Any = _AliasLoader(real)  # duck-typed: importlib.abc.Loader costs ~10 ms to import
        return ModuleSpec(fullname, loader, is_package=True)


def enable() -> None:
    """Adds the finder once (first in line, so submodules of the alias resolve to ours)."""
    if os.environ.get('SYNAPSE_AGENT_RS_NO_ALIAS') or any(isinstance(f, AliasFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, AliasFinder())


enable()
