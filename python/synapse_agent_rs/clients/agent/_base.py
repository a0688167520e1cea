"""What the sync and async agent clients share: settings, and every endpoint, written once.

Each endpoint is a function that checks its arguments and describes its request; the
``endpoint`` and ``stream`` decorators (``_endpoint.py``) make it a plain method of the sync
client and a coroutine of the async one. The requests themselves are made by the Rust core.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit, urlunsplit

from synapse_agent_rs import _core
from synapse_agent_rs._core import ResumePolicy
from synapse_agent_rs._logging import origin
from synapse_agent_rs.clients.agent._endpoint import Plan, Request, TailRequest, endpoint, stream
from synapse_agent_rs.clients.agent._many import ProtocolName
from synapse_agent_rs.clients.exceptions import (
    InsecureTransportWarning,
    ServerError,
    ValidationError,
)
from synapse_agent_rs.utils.network import StreamLimits, path_segment, validate_resource_id

JSONObject = dict[str, Any]
JSONList = list[dict[str, Any]]

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


def call_timeout(timeout: Any) -> float | None:
    """The read timeout of one call, from the SDK's ``(connect, read)`` tuple, a dict or a number.

    The connect part is checked, but the client's own connect timeout applies: connections
    are pooled per client.
    """
    if timeout is None:
        return None
    if isinstance(timeout, (tuple, list)) and len(timeout) == 2:
        timeout = {'connect': timeout[0], 'read': timeout[1]}
    return parse_timeout(timeout)[1]


def query_pairs(params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> list[tuple[str, str]] | None:
    """Query parameters as pairs, the way ``requests`` sends them: ``None`` values are left
    out, lists and tuples repeat their key, booleans are ``true``/``false``."""
    if not params:
        return None
    pairs = []
    for key, value in params.items() if isinstance(params, Mapping) else params:
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if item is not None:
                pairs.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
    return pairs


def _transport_options(
    verify: object, cert: object, proxy: object, trust_env: object, headers: object, user_agent: object
) -> dict[str, Any]:
    """Checks the connection keyword arguments and puts them in the core's shape."""
    if not isinstance(verify, bool):
        if not isinstance(verify, (str, os.PathLike)):
            raise ValidationError(400, f'verify must be True, False or a CA bundle path, not {type(verify).__name__}')
        verify = os.fspath(verify)
    if cert is not None:
        if isinstance(cert, (str, os.PathLike)):
            cert = (os.fspath(cert), None)
        elif isinstance(cert, tuple) and len(cert) == 2 and all(isinstance(c, (str, os.PathLike)) for c in cert):
            cert = (os.fspath(cert[0]), os.fspath(cert[1]))
        else:
            raise ValidationError(400, 'cert must be a PEM path (certificate and key) or a (cert, key) pair of paths')
    if proxy is not None and not isinstance(proxy, str):
        raise ValidationError(400, 'proxy must be a URL string such as "http://user:pass@host:3128"')
    if not isinstance(trust_env, bool):
        raise ValidationError(400, 'trust_env must be True or False')
    pairs = None
    if headers is not None:
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ValidationError(400, 'headers must be a mapping of str to str')
        pairs = list(headers.items())
    if user_agent is not None and not isinstance(user_agent, str):
        raise ValidationError(400, 'user_agent must be a str')
    return {
        'verify': verify,
        'cert': cert,
        'proxy': proxy,
        'trust_env': trust_env,
        'headers': pairs,
        'user_agent': user_agent,
    }


def _check_credentials(settings: Mapping[str, Any]) -> None:
    """The first-contact mistakes with ``base_url`` and the tokens, as ``ValidationError`` (400)
    naming the parameter (never a token's value), before any I/O; the URL itself is checked by
    the core (``add http:// or https://``)."""
    if not isinstance(settings['base_url'], str):
        kind = type(settings['base_url']).__name__
        raise ValidationError(
            400, f'base_url must be the agent\'s URL as a str, such as "https://agent.example.com", not {kind}'
        )
    for name, required in (('agent_token', True), ('user_token', False), ('tenant', False)):
        value = settings[name]
        if value is None:
            if required:
                raise ValidationError(400, f"{name} is None: pass the agent's token (a non-empty str)")
            continue
        if not isinstance(value, str):
            raise ValidationError(400, f'{name} must be a str, not {type(value).__name__}')
        if not value.strip():
            hint = "pass the agent's token" if required else 'pass None to send none'
            raise ValidationError(400, f'{name} is empty: {hint} (refused before anything is sent)')


def _body(**fields: Any) -> dict[str, Any]:
    """A request body without the fields left at ``None``."""
    return {k: v for k, v in fields.items() if v is not None}


class BaseAgentClient:
    """Settings shared by both clients; subclasses say how a request is sent and a log tailed.

    ``agent_token``, ``user_token``, ``tenant`` and ``timeout`` can be changed after
    construction, as in the SDK: the next request uses the new value (open streams keep theirs).
    """

    name: str | None = 'Agent'
    """Names the client in messages, as in the SDK."""
    page_size: int = 100
    """The page size ``list_all=True`` asks for when the parameters do not say."""

    def __init__(
        self,
        base_url: str,
        agent_token: str,
        *,
        user_token: str | None = None,
        tenant: str | None = None,
        timeout: Mapping[str, float] | float | None = None,
        max_response_size: int = 64 * 1024 * 1024,
        verify: bool | str | os.PathLike[str] = True,
        cert: str | os.PathLike[str] | tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        headers: Mapping[str, str] | None = None,
        user_agent: str | None = None,
    ) -> None:
        self._settings: dict[str, Any] = {
            'base_url': base_url,
            'agent_token': agent_token,
            'user_token': user_token,
            'tenant': tenant,
            'timeout': timeout,
            'max_response_size': max_response_size,
            'transport': _transport_options(verify, cert, proxy, trust_env, headers, user_agent),
        }
        self._core = self._build_core()
        self._stream_limits = StreamLimits()
        #: Query parameters sent with every request; a call's own parameters win.
        self.default_params: dict[str, Any] = {}
        self._origin = origin(self._core.base_url)  # for log records: no user info, no path
        if verify is False:
            warnings.warn(
                f'verify=False: TLS certificates of {self.base_url} are not checked, so anyone on the network '
                "path can read the agent token and the logs; trust the agent's CA with verify=path or "
                'SSL_CERT_FILE instead',
                InsecureTransportWarning,
                stacklevel=2,
            )

    def _build_core(self) -> _core.AgentCore:
        s = self._settings
        _check_credentials(s)
        connect, read = parse_timeout(s['timeout'])
        core = _core.AgentCore(
            s['base_url'], s['agent_token'], s['user_token'], s['tenant'], connect, read, **s['transport']
        )
        # Bounds every REST answer held in memory; past it: ResponseTooLargeError (413).
        core.max_response_size = s['max_response_size']
        return core

    def _change(self, name: str, value: Any) -> None:
        """Applies a changed setting to a new core; a refused value leaves the client as it was."""
        previous, closed = self._settings[name], self._core.closed
        self._settings[name] = value
        try:
            self._core = self._build_core()
        except BaseException:
            self._settings[name] = previous
            raise
        if closed:  # a closed client stays closed
            self._core.close()

    @property
    def base_url(self) -> str:
        """The agent's URL, without a trailing ``/``."""
        return self._core.base_url

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (then every call raises ``ClientClosedError``)."""
        return self._core.closed

    @property
    def agent_token(self) -> str:
        """Sent as the ``Authorization`` header; never shown in errors or reprs."""
        return str(self._settings['agent_token'])

    @agent_token.setter
    def agent_token(self, value: str) -> None:
        self._change('agent_token', value)

    @property
    def user_token(self) -> str | None:
        """Sent as ``SYNAPSE-User: Token <user_token>`` when set."""
        return self._settings['user_token']  # type: ignore[no-any-return]

    @user_token.setter
    def user_token(self, value: str | None) -> None:
        self._change('user_token', value)

    @property
    def tenant(self) -> str | None:
        """Sent as ``SYNAPSE-Tenant: Token <tenant>`` when set."""
        return self._settings['tenant']  # type: ignore[no-any-return]

    @tenant.setter
    def tenant(self, value: str | None) -> None:
        self._change('tenant', value)

    @property
    def timeout(self) -> dict[str, float]:
        """The REST timeouts in seconds, ``{'connect': s, 'read': s}``."""
        connect, read = parse_timeout(self._settings['timeout'])
        return {'connect': connect, 'read': read}

    @timeout.setter
    def timeout(self, value: Mapping[str, float] | float | None) -> None:
        self._change('timeout', value)

    def _query(self, params: Mapping[str, Any] | None) -> list[tuple[str, str]] | None:
        """``default_params`` under the call's own parameters, as pairs."""
        own = query_pairs(params)
        if not self.default_params:
            return own
        keys = {key for key, _ in own or []}
        return [*(p for p in query_pairs(self.default_params) or [] if p[0] not in keys), *(own or [])]

    def _page(self, next_url: str) -> Request[Any]:
        """The request of a pagination ``next`` link. A link under the base URL becomes a path;
        any other goes whole to the core, which follows it only on the agent's origin (the one
        rule for redirects and links, in Rust) and otherwise raises ``ClientConnectionError``
        (503) naming that origin, before anything is sent there."""
        link = urlsplit(urljoin(self.base_url + '/', next_url))
        params = parse_qs(link.query, keep_blank_values=True)
        # Never user info in a URL we pass on (it would reach messages and log records).
        where = urlunsplit((link.scheme, link.netloc.rpartition('@')[2], link.path, '', ''))
        base = self.base_url.rstrip('/') + '/'
        if where.startswith(base):
            return Request('GET', where[len(base) :], params=params)
        return Request('GET', where, params=params)

    @staticmethod
    def _results(page: Any) -> tuple[list[Any], str | None]:
        """The items and the ``next`` link of one page of a paginated answer."""
        if not (isinstance(page, dict) and isinstance(page.get('results'), list)):
            raise ServerError(502, 'a paginated answer should be a JSON object with a "results" list')
        next_url = page.get('next')
        return page['results'], next_url if isinstance(next_url, str) and next_url else None

    def _list(self, path: str, params: Mapping[str, Any] | None, list_all: bool) -> Plan[Any]:
        """One page, or with ``list_all`` ``(iterator over every item of every page, count)``."""
        if not list_all:
            return (yield Request('GET', path, params=params))
        first_params = dict(params or {})
        first_params.setdefault('page_size', self.page_size)
        first = yield Request('GET', path, params=first_params)
        results, next_url = self._results(first)
        return self._pages(results, next_url), first.get('count', 0)

    def _pages(self, results: list[Any], next_url: str | None) -> Iterator[Any]:
        """The items of the first page, then of the pages the ``next`` links lead to."""
        raise NotImplementedError

    @property
    def stream_limits(self) -> StreamLimits:
        """The limits every new log stream of this client gets (see ``StreamLimits``)."""
        return self._stream_limits

    @stream_limits.setter
    def stream_limits(self, limits: StreamLimits) -> None:
        if not isinstance(limits, StreamLimits):
            raise ValidationError(400, 'stream_limits must be a StreamLimits')
        self._stream_limits = limits

    def __repr__(self) -> str:
        return f'{type(self).__name__}(base_url={self.base_url!r})'


class RayClientMixin(BaseAgentClient):
    """Ray cluster operations: jobs and their logs, nodes, tasks, Serve applications."""

    @endpoint
    def list_jobs(self) -> Request[JSONList]:
        """All Ray jobs (list of dicts)."""
        return Request('GET', 'jobs/')

    @endpoint
    def get_job(self, job_id: str) -> Request[JSONObject]:
        """One job (dict). Raises ``ValidationError`` (400) for a bad id, ``NotFoundError`` (404)."""
        return Request('GET', f'jobs/{validate_resource_id(job_id, "job_id")}/')

    @endpoint
    def get_job_logs(self, job_id: str) -> Request[Any]:
        """The whole log of a job so far, not streamed."""
        return Request('GET', f'jobs/{validate_resource_id(job_id, "job_id")}/logs/')

    list_job_logs = get_job_logs

    @endpoint
    def stop_job(self, job_id: str) -> Request[JSONObject]:
        """Asks the agent to stop a job (dict)."""
        return Request('POST', f'jobs/{validate_resource_id(job_id, "job_id")}/stop/')

    @stream
    def tail_job_logs(
        self,
        job_id: str,
        timeout: float = 30.0,
        *,
        protocol: ProtocolName = 'auto',
        resume: bool | ResumePolicy = False,
        resume_from: str | None = None,
    ) -> TailRequest:
        """Streams a job's log lines as they are written.

        Args:
            job_id: the Ray job id.
            timeout: seconds allowed to connect, and the liveness deadline while streaming
                (WebSocket: a ping after ``timeout`` quiet seconds, 408 if nothing comes back
                within another ``timeout``; HTTP: 408 after ``timeout`` seconds without a byte).
            protocol: ``'auto'`` (WebSocket, falling back to HTTP only when the WebSocket
                cannot be established), ``'websocket'`` or ``'http'``.
            resume: ``False`` (the default, as in the SDK: a dropped connection ends the stream
                with its error), ``True`` (resume with the default ``ResumePolicy()``) or a
                ``ResumePolicy``. A resumed stream hands out every line exactly once: the new
                connection's replay is skipped up to the last line handed out and checked.
            resume_from: a ``stream.checkpoint()`` of this job (from any process): start right
                after the line it was taken at, once the replay up to it checked out.

        Returns:
            ``AgentClient``: a ``LineStream``, an iterator of lines (``str``, ``for line in ...``).
            ``AsyncAgentClient``: an ``AsyncLineStream``, an async iterator of lines, returned at
            once (``async for line in client.tail_job_logs(...)``, no ``await``). Either way
            ``.batches()`` iterates ``list[str]`` instead, and ``.close()`` closes the connection
            at once (as do ``break`` and garbage collection). The stream stops with a 429 at the
            client's ``stream_limits`` (the SDK's defaults: 10,000 WebSocket messages, 50,000
            HTTP lines, 50 MiB); ``tail_many`` counts nothing by default. Awaiting the async
            stream raises ``TypeError`` saying to use ``async for``. ``.checkpoint()`` and
            ``.resumes`` tell where it is and how often it resumed.

        Raises:
            ValidationError: (400) a bad ``job_id``, ``timeout``, ``protocol``, ``resume``, or a
                ``resume_from`` that is malformed or of another job, before any I/O.
            NotFoundError: (404) no such job.
            ClientTimeoutError: (408) connecting or the liveness deadline timed out.
            LogReplayMismatchError: (409) resuming, the agent's replay of the log differed from
                the lines already handed out, or was shorter (truncated, rotated, rewritten).
            StreamLimitExceededError: (429) a ``StreamLimits`` limit was passed.
            ServerError: (500) the job sent an error event, or (5xx) the agent failed.
            ClientConnectionError: (503) the agent is unreachable, an ``https://`` base URL
                reached a plain-HTTP agent (the message says so), the agent redirected to
                another origin, or the connection dropped before the stream completed (after
                every line received before it); with ``resume``, once the policy gave up (its
                message says after how many attempts).
            WebSocketError: (503) the agent broke the WebSocket protocol.
        """
        return TailRequest(job_id, timeout, protocol, resume, resume_from)

    @stream
    def websocket_tail_job_logs(
        self,
        job_id: str,
        timeout: float = 30.0,
        *,
        resume: bool | ResumePolicy = False,
        resume_from: str | None = None,
    ) -> TailRequest:
        """``tail_job_logs`` over WebSocket only."""
        return TailRequest(job_id, timeout, 'websocket', resume, resume_from)

    @stream
    def stream_tail_job_logs(
        self,
        job_id: str,
        timeout: float = 30.0,
        *,
        resume: bool | ResumePolicy = False,
        resume_from: str | None = None,
    ) -> TailRequest:
        """``tail_job_logs`` over chunked HTTP only."""
        return TailRequest(job_id, timeout, 'http', resume, resume_from)

    @endpoint
    def get_gpu_status(self) -> Request[JSONObject]:
        """GPU status of the cluster (dict)."""
        return Request('GET', 'gpu_status/')

    @endpoint
    def list_nodes(self) -> Request[JSONList]:
        """The cluster's nodes (list)."""
        return Request('GET', 'nodes/')

    @endpoint
    def get_node(self, node_id: str) -> Request[JSONObject]:
        """One node (dict)."""
        return Request('GET', f'nodes/{validate_resource_id(node_id, "node_id")}/')

    @endpoint
    def list_tasks(self) -> Request[JSONList]:
        """Ray tasks (list)."""
        return Request('GET', 'tasks/')

    @endpoint
    def get_task(self, task_id: str) -> Request[JSONObject]:
        """One task (dict)."""
        return Request('GET', f'tasks/{validate_resource_id(task_id, "task_id")}/')

    @endpoint
    def list_serve_applications(self) -> Request[JSONList]:
        """Ray Serve applications (list)."""
        return Request('GET', 'serve_applications/')

    @endpoint
    def get_serve_application(self, name: str) -> Request[JSONObject]:
        """One Serve application (dict); the name is sent percent-encoded as one path segment."""
        return Request('GET', f'serve_applications/{path_segment(name, "name")}/')

    @endpoint
    def delete_serve_application(self, name: str) -> Request[None]:
        """Deletes a Serve application (``None``)."""
        return Request('DELETE', f'serve_applications/{path_segment(name, "name")}/')


class AgentEndpointsMixin(RayClientMixin):
    """Agent health and plugin releases, on top of the Ray operations."""

    @endpoint
    def health_check(self) -> Request[JSONObject]:
        """The agent's health (dict)."""
        return Request('GET', 'health/')

    @endpoint
    def list_plugin_releases(
        self, /, params: Mapping[str, Any] | None = None, *, list_all: bool = False, **filters: Any
    ) -> Plan[Any]:
        """Plugin releases: one page (dict), or with ``list_all=True`` the tuple
        ``(iterator over every release of every page, count)``.

        ``params`` and keyword filters become the query string; ``list_all`` asks for
        ``page_size`` (default ``page_size``) and follows the ``next`` links, which must
        stay on the agent's origin (scheme, host and port): a link to another origin raises
        ``ClientConnectionError`` (503) naming it, before anything is sent there, as a redirect
        to another origin does. The async client's iterator is an async one.
        """
        return self._list('plugin_releases/', {**(params or {}), **filters}, list_all)

    @endpoint
    def get_plugin_release(self, lookup: str) -> Request[JSONObject]:
        """One plugin release by id or ``code@version`` (dict)."""
        return Request('GET', f'plugin_releases/{path_segment(str(lookup), "lookup")}')

    @endpoint
    def create_plugin_release(self, plugin: str | Mapping[str, Any], version: str | None = None) -> Request[JSONObject]:
        """Creates a release from ``plugin`` and ``version``, or from a whole body dict."""
        body = dict(plugin) if isinstance(plugin, Mapping) else _body(plugin=plugin, version=version)
        return Request('POST', 'plugin_releases/', body=body)

    @endpoint
    def delete_plugin_release(self, lookup: str) -> Request[None]:
        """Deletes a plugin release (``None``)."""
        return Request('DELETE', f'plugin_releases/{path_segment(str(lookup), "lookup")}')

    @endpoint
    def run_plugin_release(
        self,
        lookup: str,
        action: str | None = None,
        params: Mapping[str, Any] | None = None,
        *,
        data: Mapping[str, Any] | None = None,
        requirements: list[str] | None = None,
        job_id: str | None = None,
        language: str | None = None,
        timeout: tuple[float, float] | Mapping[str, float] | float | None = None,
    ) -> Request[Any]:
        """Runs an action of a plugin release; returns the agent's JSON answer.

        Args:
            lookup: the release's id or ``code@version``.
            action: the action to run.
            params: the action's parameters.
            data: the whole request body instead (the other fields are then ignored), as in the SDK.
            requirements: extra pip requirements.
            job_id: a job id to track the run by.
            language: language of the run's log messages (``'en'``, ``'ko'``).
            timeout: this call's ``(connect, read)`` seconds; the read part replaces the client's.
        """
        if data is not None:
            body = dict(data)
        else:
            body = {
                'action': action,
                **_body(params=params, requirements=requirements, job_id=job_id, language=language),
            }
        path = f'plugin_releases/{path_segment(str(lookup), "lookup")}/run/'
        return Request('POST', path, body=body, timeout=call_timeout(timeout))

    @endpoint
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
        timeout: tuple[float, float] | Mapping[str, float] | float | None = None,
    ) -> Request[Any]:
        """Runs an action from plugin code that is not released yet; returns the agent's JSON answer.

        ``timeout`` is this call's ``(connect, read)`` seconds, as for ``run_plugin_release``.
        """
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
        return Request('POST', 'plugin_releases/run_debug/', body=body, timeout=call_timeout(timeout))
