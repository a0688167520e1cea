"""``synapse_agent_rs.install()``: the real synapse-sdk's log tailing, on our Rust core.

In the spirit of ``uvloop.install()``: one call, opt-in, and nothing else changes. It replaces
the log-streaming methods of the SDK's agent client mixins (``tail_job_logs``,
``websocket_tail_job_logs`` and ``stream_tail_job_logs`` of ``RayClientMixin`` and
``AsyncRayClientMixin``, so ``AgentClient``, ``AsyncAgentClient`` and their subclasses) by
functions with the same signatures and kinds (a generator function, an async generator
function) that stream through the Rust core. Everything else of the SDK is left alone.

What callers get:

- the SDK client's own settings: ``base_url``, ``agent_token``, ``user_token``, ``tenant``,
  ``stream_limits`` (read at each call, so changes apply to the next stream);
- the SDK's exception classes: a failure raises the class of ``synapse_sdk.exceptions`` with
  the same name as ours (``NotFoundError``, ``ClientTimeoutError``, ``StreamLimitExceededError``,
  ``WebSocketError``, ...; ``ClientError`` for a class the SDK does not have), with *our*
  ``status_code`` (400, 404, 408, 429, 500, 503; connection failures 503 as the SDK's own tail
  reported them) and ``detail``, and our exception as ``__cause__``;
- our behaviour where it differs from the SDK's tail (see the README's "where we differ"):
  no replay on fallback, timeouts and truncation raise, limits count bytes.

A client in long-poll mode (no ``base_url``) keeps the SDK's own methods.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from synapse_agent_rs import _core
from synapse_agent_rs.clients import exceptions as ours
from synapse_agent_rs.utils.network import StreamLimits

__all__ = ['install', 'installed', 'uninstall']

_TAILS = {'tail_job_logs': None, 'websocket_tail_job_logs': 'websocket', 'stream_tail_job_logs': 'http'}
_MIXINS = (
    ('synapse_sdk.clients.agent.ray', 'RayClientMixin', False),
    ('synapse_sdk.clients.agent.async_ray', 'AsyncRayClientMixin', True),
)
_CACHE = '_synapse_agent_rs_core'

_lock = threading.Lock()
_originals: dict[tuple[type, str], Any] = {}


def _real_sdk() -> bool:
    """Whether ``synapse_sdk`` is the real SDK, not our alias of this package."""
    try:
        sdk = importlib.import_module('synapse_sdk')
    except ImportError:
        return False
    return getattr(sdk, '__name__', None) == 'synapse_sdk'


def install() -> bool:
    """Routes the installed synapse-sdk's log tailing through this package's Rust core.

    Idempotent. Returns ``True`` when the SDK's methods are (now) routed through our core,
    ``False`` when there is nothing to accelerate: no real synapse-sdk is installed (then
    ``synapse_sdk`` already *is* this package, through its import alias) or its agent clients
    do not have the expected tail methods.
    """
    if not _real_sdk():
        return False
    with _lock:
        if _originals:
            return True
        targets = []
        for module_name, class_name, asynchronous in _MIXINS:
            cls = getattr(importlib.import_module(module_name), class_name, None)
            if cls is None or not all(callable(cls.__dict__.get(name)) for name in _TAILS):
                return False
            targets.append((cls, asynchronous))
        for cls, asynchronous in targets:
            for name, protocol in _TAILS.items():
                original = cls.__dict__[name]
                _originals[cls, name] = original
                setattr(cls, name, _replacement(original, protocol, asynchronous))
    return True


def uninstall() -> None:
    """Puts the SDK's own methods back (for tests); does nothing when not installed."""
    with _lock:
        for (cls, name), original in _originals.items():
            setattr(cls, name, original)
        _originals.clear()


def installed() -> bool:
    """Whether ``install`` is in effect."""
    return bool(_originals)


def _replacement(original: Any, fixed: str | None, asynchronous: bool) -> Callable[..., Any]:
    if asynchronous:

        async def tail_async(
            self: Any, job_id: str, timeout: float = 30.0, *, protocol: str = 'auto'
        ) -> AsyncIterator[str]:
            core = _core_of(self)
            if core is None:
                async for line in _call(original, self, job_id, timeout, protocol, fixed):
                    yield line
                return
            try:
                stream = core.tail_async(job_id, timeout, fixed or protocol, _limits(self))
                try:
                    async for batch in stream.batches():
                        for line in batch:
                            yield line
                finally:
                    stream.close()
            except ours.ClientError as e:
                raise _sdk_error(e) from e

        return functools.wraps(original)(tail_async)

    def tail(self: Any, job_id: str, timeout: float = 30.0, *, protocol: str = 'auto') -> Iterator[str]:
        core = _core_of(self)
        if core is None:
            yield from _call(original, self, job_id, timeout, protocol, fixed)
            return
        try:
            stream = core.tail(job_id, timeout, fixed or protocol, _limits(self))
            try:
                yield from stream
            finally:
                stream.close()
        except ours.ClientError as e:
            raise _sdk_error(e) from e

    return functools.wraps(original)(tail)


def _call(original: Any, client: Any, job_id: str, timeout: float, protocol: str, fixed: str | None) -> Any:
    """The SDK's own method, called as the SDK would (the fixed-protocol ones take no protocol)."""
    if fixed is None:
        return original(client, job_id, timeout, protocol=protocol)
    return original(client, job_id, timeout)


def _core_of(client: Any) -> _core.AgentCore | None:
    """Our core for an SDK client, made once per set of connection settings."""
    base_url = getattr(client, 'base_url', '') or ''
    if not base_url or getattr(client, 'long_poll_handler', None):
        return None
    key = (base_url, client.agent_token, getattr(client, 'user_token', None), getattr(client, 'tenant', None))
    cached = client.__dict__.get(_CACHE)
    if cached is not None and cached[0] == key:
        return cached[1]  # type: ignore[no-any-return]
    try:
        core = _core.AgentCore(*key, _connect_timeout(client), 10.0)
    except ours.ClientError as e:
        raise _sdk_error(e) from e
    client.__dict__[_CACHE] = (key, core)
    return core


def _connect_timeout(client: Any) -> float:
    """The SDK client's connect timeout: ``{'connect': s}``, a number, or an ``httpx.Timeout``."""
    timeout = getattr(client, 'timeout', None)
    value = timeout.get('connect') if isinstance(timeout, dict) else getattr(timeout, 'connect', timeout)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else 3.0


def _limits(client: Any) -> tuple[int | None, int | None, int | None, int | None, int]:
    """The SDK client's ``stream_limits`` (its own ``StreamLimits``), checked by ours."""
    sdk = client.stream_limits
    names = ('max_messages', 'max_lines', 'max_bytes', 'max_message_size', 'queue_size')
    try:
        return StreamLimits(**{name: getattr(sdk, name) for name in names}).as_tuple()
    except ours.ClientError as e:
        raise _sdk_error(e) from e


def _sdk_error(error: ours.ClientError) -> Exception:
    """The exception of ``synapse_sdk.exceptions`` with our class's name, code and detail."""
    sdk = importlib.import_module('synapse_sdk.exceptions')
    cls: Any = getattr(sdk, type(error).__name__, None)
    if not (isinstance(cls, type) and issubclass(cls, sdk.ClientError)):
        cls = sdk.ClientError
    exc = cls.__new__(cls)
    sdk.ClientError.__init__(exc, error.status_code, error.detail)
    for name in ('job_id', 'limit', 'max'):
        if getattr(error, name, None) is not None:
            setattr(exc, name, getattr(error, name))
    return exc  # type: ignore[no-any-return]
