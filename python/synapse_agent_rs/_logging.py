"""The one logger of the package, ``synapse_agent_rs``, and the helpers that keep it cheap.

Records: REST requests and stream opening/closing at DEBUG, ``protocol='auto'`` falling back
from WebSocket to HTTP at WARNING with its reason. Never a token, header or query value.
When the logger is disabled, a REST call costs one ``isEnabledFor`` check, and a stream
one check when it is opened and nothing per line (the Rust core is then given no logger).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

from synapse_agent_rs import _core

LOGGER = logging.getLogger('synapse_agent_rs')

T = TypeVar('T')


def stream_logger(job_id: str, protocol: str) -> logging.Logger | None:
    """The logger for a new stream when it would write anything (WARNING or below), else ``None``."""
    if not LOGGER.isEnabledFor(logging.WARNING):
        return None
    # The id is checked only after this record: an invalid one (a token pasted by mistake) is not shown.
    try:
        shown = _core.validate_resource_id(job_id, 'job_id')
    except Exception:
        shown = '(invalid id)'
    LOGGER.debug('log stream of job %s: connecting (protocol %s)', shown, protocol)
    return LOGGER


def origin(base_url: str) -> str:
    """``scheme://host:port`` of the agent, for records: no user info, path or query."""
    parts = urlsplit(base_url)
    host = parts.hostname or ''
    if ':' in host:
        host = f'[{host}]'
    return f'{parts.scheme}://{host}' + (f':{parts.port}' if parts.port else '')


def _failed(method: str, target: str, start: float, error: BaseException) -> None:
    code = getattr(error, 'status_code', None)
    LOGGER.debug(
        '%s %s failed after %.1f ms: %s%s',
        method,
        target,
        (time.perf_counter() - start) * 1000,
        type(error).__name__,
        f' ({code})' if code is not None else '',
    )


def logged_call(method: str, target: str, call: Callable[[], T]) -> T:
    """Runs a blocking REST call, with its record."""
    start = time.perf_counter()
    try:
        result = call()
    except BaseException as e:
        _failed(method, target, start, e)
        raise
    LOGGER.debug('%s %s answered in %.1f ms', method, target, (time.perf_counter() - start) * 1000)
    return result


async def logged_await(method: str, target: str, call: Awaitable[T]) -> T:
    """Awaits a REST call, with its record."""
    start = time.perf_counter()
    try:
        result = await call
    except BaseException as e:
        _failed(method, target, start, e)
        raise
    LOGGER.debug('%s %s answered in %.1f ms', method, target, (time.perf_counter() - start) * 1000)
    return result


__all__ = ['LOGGER', 'logged_await', 'logged_call', 'origin', 'stream_logger']
