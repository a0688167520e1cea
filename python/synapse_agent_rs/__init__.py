"""Fast, trustworthy client for the Synapse agent, on a Rust core.

Kept free of imports: ``synapse_agent_rs_alias.pth`` imports this package at interpreter start.
"""

from __future__ import annotations

from typing import Any

__all__ = ['__version__']


def __getattr__(name: str) -> Any:
    if name == '__version__':
        from synapse_agent_rs._core import __version__

        return __version__
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
