"""One wake-up hub per asyncio event loop, shared by every stream and call on that loop.

The hub's socket is watched with ``loop.add_reader``: the Rust reader threads write one
byte when a parked consumer has something new, and the loop resolves all woken futures
in one callback. Works on any loop with ``add_reader`` (the default loop and uvloop).
"""

from __future__ import annotations

import asyncio
import weakref

from synapse_agent_rs._core import Hub

_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def current() -> tuple[asyncio.AbstractEventLoop, Hub]:
    """The running loop and its hub, created and registered on first use."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = Hub()
        try:
            loop.add_reader(hub.fileno(), hub.drain)
        except NotImplementedError:
            # Windows' default ProactorEventLoop watches no sockets.
            raise RuntimeError(
                f'{type(loop).__name__} cannot watch sockets (loop.add_reader); on Windows run the async '
                'client on a selector loop: asyncio.set_event_loop_policy(asyncio.WindowsSelectorEventLoopPolicy())'
            ) from None
        # Dropped with the loop: the loop holds the hub (through its reader), never the reverse.
        _hubs[loop] = hub
    return loop, hub
