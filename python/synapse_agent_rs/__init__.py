"""Fast, trustworthy client for the Synapse agent, on a Rust core.

Kept free of imports: ``synapse_agent_rs_alias.pth`` imports this package at interpreter start.
"""

from __future__ import annotations

from typing import Any

__all__ = ['__version__', 'install', 'installed', 'uninstall']


def install() -> bool:
    """Routes an installed synapse-sdk's log tailing (the ``tail_job_logs`` family of its sync
    and async agent clients) through this package's Rust core; one line, opt-in, idempotent.

    Returns ``False`` when there is nothing to accelerate (no real synapse-sdk is installed).
    See :mod:`synapse_agent_rs._accelerate` for what callers get, errors included.
    """
    from synapse_agent_rs._accelerate import install

    return install()


def uninstall() -> None:
    """Gives the SDK its own tail methods back (for tests); does nothing when not installed."""
    from synapse_agent_rs._accelerate import uninstall

    uninstall()


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    from synapse_agent_rs._accelerate import installed

    return installed()


def __getattr__(name: str) -> Any:
    if name == '__version__':
        from synapse_agent_rs._core import __version__

        return __version__
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
