"""``synapse_agent_rs.install()``: the real synapse-sdk's log tailing, on our Rust core.

In the spirit of ``uvloop.install()``: one call, opt-in, and nothing else changes. It replaces
the log-streaming methods of the SDK's agent client mixins (``tail_job_logs``,
``websocket_tail_job_logs`` and ``stream_tail_job_logs`` of ``RayClientMixin`` and
``AsyncRayClientMixin``, so ``AgentClient``, ``AsyncAgentClient`` and their subclasses) by
functions with the same signatures and kinds (a generator function, an async generator
function) that stream through the Rust core. Everything else of the SDK is left alone.

What callers get:

- the SDK client's own settings: ``base_url``, the headers of its ``_get_headers()`` (the
  ``Authorization``, ``SYNAPSE-User`` and ``SYNAPSE-Tenant`` tokens and any header a subclass
  adds, such as a gateway key; ``Host``, ``Connection`` and the other framing headers are the
  transport's own and are not taken), its connect timeout and ``stream_limits`` (read at each
  call, so changes apply to the next stream);
- a job id that is not a ``str`` (an ``int``) is turned into one with ``str()``, as the SDK does;
- nothing stored on the client: our connection core is cached next to it, weakly keyed by the
  client, so an SDK client still pickles and deep-copies (to a Ray task, a worker process)
  after an accelerated tail, and after :func:`uninstall`;
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
import weakref
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
# The transport's own headers (as in ``rust/src/net/transport.rs``): never taken from ``_get_headers()``.
_FRAMING = frozenset(
    ('host', 'connection', 'upgrade', 'content-length', 'transfer-encoding', 'proxy-authorization', 'keep-alive', 'te')
)

_lock = threading.Lock()
_originals: dict[tuple[type, str], Any] = {}
# Our core per SDK client, outside the client (its ``__dict__`` stays picklable), dropped with it.
_cores: weakref.WeakKeyDictionary[Any, tuple[Any, _core.AgentCore]] = weakref.WeakKeyDictionary()


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
        _cores.clear()  # dropped, not closed: a stream still open keeps the transport it uses


def installed() -> bool:
    """Whether ``install`` is in effect."""
    return bool(_originals)


def _replacement(original: Any, fixed: str | None, asynchronous: bool) -> Callable[..., Any]:
    if asynchronous:

        async def tail_async(
            self: Any, job_id: str, timeout: float = 30.0, *, protocol: str = 'auto'
        ) -> AsyncIterator[str]:
            core = _core_of(self)
            job_id = _job_id(job_id)
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
        job_id = _job_id(job_id)
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


def _job_id(job_id: Any) -> Any:
    """The SDK's reading of a job id: ``str()`` of anything set (an ``int``), empty refused by us."""
    return job_id if isinstance(job_id, str) else (str(job_id) if job_id else '')


def _settings(client: Any) -> tuple[str, str | None, str | None, tuple[tuple[str, str], ...]]:
    """The tokens and extra headers the SDK's own tail would send: those of ``_get_headers()``."""
    agent_token: str = client.agent_token
    user_token: str | None = getattr(client, 'user_token', None) or None
    tenant: str | None = getattr(client, 'tenant', None) or None
    get_headers = getattr(client, '_get_headers', None)
    if not callable(get_headers):
        return agent_token, user_token, tenant, ()
    extra: list[tuple[str, str]] = []
    user_token = tenant = None
    for name, value in dict(get_headers()).items():
        lower, text = str(name).lower(), str(value)
        if lower == 'authorization':
            agent_token = text
        elif lower in ('synapse-user', 'synapse-tenant'):
            token = text[len('Token ') :] if text.startswith('Token ') else text
            if lower == 'synapse-user':
                user_token = token
            else:
                tenant = token
        elif lower not in _FRAMING and not lower.startswith('sec-websocket-'):
            extra.append((str(name), text))
    return agent_token, user_token, tenant, tuple(extra)


def _core_of(client: Any) -> _core.AgentCore | None:
    """Our core for an SDK client, made once per set of connection settings (kept outside the client)."""
    base_url = getattr(client, 'base_url', '') or ''
    if not base_url or getattr(client, 'long_poll_handler', None):
        return None
    agent_token, user_token, tenant, extra = _settings(client)
    connect = _connect_timeout(client)
    key = (base_url, agent_token, user_token, tenant, extra, connect)
    with _lock:
        try:
            cached = _cores.get(client)
        except TypeError:  # not weakly referable: a core per stream
            cached = None
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        core = _core.AgentCore(base_url, agent_token, user_token, tenant, connect, 10.0, headers=list(extra) or None)
    except ours.ClientError as e:
        raise _sdk_error(e) from e
    with _lock:
        try:
            _cores[client] = (key, core)
        except TypeError:
            pass
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
