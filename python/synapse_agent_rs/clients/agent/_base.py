"""What the sync and async agent clients share: settings, and every endpoint, written once.

Each endpoint method describes its request and hands it to ``_send``, which the sync client
answers with the result and the async client with an awaitable of it. The requests
themselves are made by the Rust core.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from synapse_agent_rs import _core
from synapse_agent_rs.clients.exceptions import ValidationError
from synapse_agent_rs.utils.network import StreamLimits, path_segment, validate_resource_id

R = TypeVar('R')  # what a REST call returns: the value, or an awaitable of it
S = TypeVar('S')  # what a tail returns: a sync or an async line stream

DEFAULT_TIMEOUT = {'connect': 3.0, 'read': 10.0}


def _seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValidationError(400, f'{name} must be a positive number of seconds, not {value!r}')
    return float(value)


def parse_timeout(timeout: Mapping[str, float] | float | None) -> tuple[float, float]:
    """``{'connect': s, 'read': s}`` (missing keys default to 3 and 10), or one number for both."""
    if timeout is None:
        return DEFAULT_TIMEOUT['connect'], DEFAULT_TIMEOUT['read']
    if isinstance(timeout, Mapping):
        unknown = set(timeout) - set(DEFAULT_TIMEOUT)
        if unknown:
            raise ValidationError(400, f'unknown timeout keys: {sorted(unknown)}')
        merged = {**DEFAULT_TIMEOUT, **timeout}
        return _seconds(merged['connect'], 'timeout connect'), _seconds(merged['read'], 'timeout read')
    seconds = _seconds(timeout, 'timeout')
    return seconds, seconds


def query_pairs(params: Mapping[str, Any] | None) -> list[tuple[str, str]] | None:
    """Query parameters as pairs, the way ``requests`` sends them: ``None`` values are left
    out, lists and tuples repeat their key, booleans are ``true``/``false``."""
    if not params:
        return None
    pairs = []
    for key, value in params.items():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if item is not None:
                pairs.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    return pairs


def _body(**fields: Any) -> dict[str, Any]:
    """A request body without the fields left at ``None``."""
    return {k: v for k, v in fields.items() if v is not None}


class BaseAgentClient(Generic[R, S]):
    """Settings shared by both clients; subclasses say how a request is sent and a log tailed."""

    def __init__(
        self,
        base_url: str,
        agent_token: str,
        *,
        user_token: str | None = None,
        tenant: str | None = None,
        timeout: Mapping[str, float] | float | None = None,
    ) -> None:
        connect, read = parse_timeout(timeout)
        self._core = _core.AgentCore(base_url, agent_token, user_token, tenant, connect, read)
        self._stream_limits = StreamLimits()

    @property
    def base_url(self) -> str:
        """The agent's URL, without a trailing ``/``."""
        return self._core.base_url

    @property
    def stream_limits(self) -> StreamLimits:
        """The limits every new log stream of this client gets (see :class:`StreamLimits`)."""
        return self._stream_limits

    @stream_limits.setter
    def stream_limits(self, limits: StreamLimits) -> None:
        if not isinstance(limits, StreamLimits):
            raise ValidationError(400, 'stream_limits must be a StreamLimits')
        self._stream_limits = limits

    def __repr__(self) -> str:
        return f'{type(self).__name__}(base_url={self.base_url!r})'

    def _send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None) -> R:
        raise NotImplementedError

    def _tail(self, job_id: str, timeout: float, protocol: str) -> S:
        raise NotImplementedError


class RayClientMixin(BaseAgentClient[R, S]):
    """Ray cluster operations: jobs and their logs, nodes, tasks, Serve applications."""

    def list_jobs(self) -> R:
        """All Ray jobs (list of dicts)."""
        return self._send('GET', 'jobs/')

    def get_job(self, job_id: str) -> R:
        """One job (dict). Raises ``ValidationError`` (400) for a bad id, ``NotFoundError`` (404)."""
        return self._send('GET', f'jobs/{validate_resource_id(job_id, "job_id")}/')

    def get_job_logs(self, job_id: str) -> R:
        """The whole log of a job so far, not streamed."""
        return self._send('GET', f'jobs/{validate_resource_id(job_id, "job_id")}/logs/')

    list_job_logs = get_job_logs

    def stop_job(self, job_id: str) -> R:
        """Asks the agent to stop a job (dict)."""
        return self._send('POST', f'jobs/{validate_resource_id(job_id, "job_id")}/stop/')

    def tail_job_logs(self, job_id: str, timeout: float = 30.0, *, protocol: str = 'auto') -> S:
        """Streams a job's log lines as they are written.

        Args:
            job_id: the Ray job id.
            timeout: seconds allowed to connect, and the liveness deadline while streaming
                (WebSocket: a ping after ``timeout`` quiet seconds, 408 if nothing comes back
                within another ``timeout``; HTTP: 408 after ``timeout`` seconds without a byte).
            protocol: ``'auto'`` (WebSocket, falling back to HTTP only when the WebSocket
                cannot be established), ``'websocket'`` or ``'http'``.

        Returns:
            An iterator of lines (``str``); ``.batches()`` iterates ``list[str]`` instead, and
            ``.close()`` closes the connection at once (as do ``break`` and garbage collection).

        Raises:
            ValidationError: (400) a bad ``job_id``, ``timeout`` or ``protocol``, before any I/O.
            NotFoundError: (404) no such job.
            ClientTimeoutError: (408) connecting or the liveness deadline timed out.
            StreamLimitExceededError: (429) a ``StreamLimits`` limit was passed.
            ServerError: (500) the job sent an error event, or (5xx) the agent failed.
            ClientConnectionError: (503) the agent is unreachable, or the connection dropped
                before the stream completed (after every line received before it).
            WebSocketError: (503) the agent broke the WebSocket protocol.
        """
        return self._tail(job_id, timeout, protocol)

    def websocket_tail_job_logs(self, job_id: str, timeout: float = 30.0) -> S:
        """``tail_job_logs`` over WebSocket only."""
        return self._tail(job_id, timeout, 'websocket')

    def stream_tail_job_logs(self, job_id: str, timeout: float = 30.0) -> S:
        """``tail_job_logs`` over chunked HTTP only."""
        return self._tail(job_id, timeout, 'http')

    def list_nodes(self) -> R:
        """The cluster's nodes (list)."""
        return self._send('GET', 'nodes/')

    def get_node(self, node_id: str) -> R:
        """One node (dict)."""
        return self._send('GET', f'nodes/{validate_resource_id(node_id, "node_id")}/')

    def list_tasks(self) -> R:
        """Ray tasks (list)."""
        return self._send('GET', 'tasks/')

    def get_task(self, task_id: str) -> R:
        """One task (dict)."""
        return self._send('GET', f'tasks/{validate_resource_id(task_id, "task_id")}/')

    def list_serve_applications(self) -> R:
        """Ray Serve applications (list)."""
        return self._send('GET', 'serve_applications/')

    def get_serve_application(self, name: str) -> R:
        """One Serve application (dict); the name is sent percent-encoded as one path segment."""
        return self._send('GET', f'serve_applications/{path_segment(name, "name")}/')

    def delete_serve_application(self, name: str) -> R:
        """Deletes a Serve application (``None``)."""
        return self._send('DELETE', f'serve_applications/{path_segment(name, "name")}/')


class AgentEndpointsMixin(RayClientMixin[R, S]):
    """Agent health, GPUs and plugin execution, on top of the Ray operations."""

    def health_check(self) -> R:
        """The agent's health (dict)."""
        return self._send('GET', 'health/')

    def get_gpu_status(self) -> R:
        """GPU status of the cluster (dict)."""
        return self._send('GET', 'gpu_status/')

    def list_plugin_releases(self, params: Mapping[str, Any] | None = None, **filters: Any) -> R:
        """Plugin releases (paginated dict); ``params`` and keyword filters become the query string."""
        return self._send('GET', 'plugin_releases/', params={**(params or {}), **filters})

    def get_plugin_release(self, lookup: str) -> R:
        """One plugin release by id or ``code@version`` (dict)."""
        return self._send('GET', f'plugin_releases/{path_segment(str(lookup), "lookup")}')

    def create_plugin_release(self, plugin: str | Mapping[str, Any], version: str | None = None) -> R:
        """Creates a release from ``plugin`` and ``version``, or from a whole body dict."""
        body = dict(plugin) if isinstance(plugin, Mapping) else _body(plugin=plugin, version=version)
        return self._send('POST', 'plugin_releases/', body=body)

    def delete_plugin_release(self, lookup: str) -> R:
        """Deletes a plugin release (``None``)."""
        return self._send('DELETE', f'plugin_releases/{path_segment(str(lookup), "lookup")}')

    def run_plugin_release(
        self,
        lookup: str,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        requirements: list[str] | None = None,
        job_id: str | None = None,
        language: str | None = None,
    ) -> R:
        """Runs an action of a plugin release; returns the agent's JSON answer."""
        body = _body(action=action, params=params, requirements=requirements, job_id=job_id, language=language)
        return self._send('POST', f'plugin_releases/{path_segment(str(lookup), "lookup")}/run/', body=body)

    def run_debug_plugin_release(
        self,
        action: str,
        params: Mapping[str, Any] | None = None,
        *,
        plugin_path: str | None = None,
        config: Mapping[str, Any] | None = None,
        modules: Mapping[str, Any] | None = None,
        requirements: list[str] | None = None,
        job_id: str | None = None,
        language: str | None = None,
    ) -> R:
        """Runs an action from plugin code that is not released yet; returns the agent's JSON answer."""
        body = _body(
            action=action,
            params=params,
            plugin_path=plugin_path,
            config=config,
            modules=modules,
            requirements=requirements,
            job_id=job_id,
            language=language,
        )
        return self._send('POST', 'plugin_releases/run_debug/', body=body)
