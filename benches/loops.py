"""The event loop of the async rows: uvloop (the faster loop, for every async row alike) unless
``BENCH_LOOP=asyncio`` asks for the default one."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar('T')


def loop_name() -> str:
    """``'uvloop'`` or ``'asyncio'``: the loop :func:`run` uses in this process."""
    if os.environ.get('BENCH_LOOP', 'uvloop') == 'asyncio':
        return 'asyncio'
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return 'asyncio'
    return 'uvloop'


def run(main: Coroutine[Any, Any, T]) -> T:
    """Runs ``main`` to completion on a new loop."""
    if loop_name() == 'uvloop':
        import uvloop

        return uvloop.run(main)
    return asyncio.run(main)
