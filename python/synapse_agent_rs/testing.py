"""A fake Synapse agent, to test code that talks to the agent without a cluster.

`FakeAgent` is a real HTTP/1.1 and WebSocket server, written in Rust, listening on
127.0.0.1 on a free port. It answers the agent's REST routes from jobs you add, streams
their logs over WebSocket (``jobs/{id}/logs/``) and chunked HTTP (``jobs/{id}/logs/stream/``),
and misbehaves on request: errors, dropped connections, silences, refusals, stalls,
fragmented frames, cut chunks, and a firehose of generated lines for load tests:

    from synapse_agent_rs.clients.agent import AgentClient
    from synapse_agent_rs.testing import FakeAgent

    def test_ingest() -> None:
        with FakeAgent() as agent:
            agent.add_job('job-1', ['first line', 'second line'])
            client = AgentClient(agent.url, agent.agent_token)
            assert list(client.tail_job_logs('job-1')) == ['first line', 'second line']

    async def test_truncated_stream() -> None:
        async with FakeAgent() as agent:
            agent.add_job('job-2', ['only line'], fault='drop')
            ...  # the client must raise ClientConnectionError (503) after 'only line'

Every request must carry ``Authorization: <agent_token>`` (the raw token), else the
answer is 401 ``{"detail": "Invalid agent token"}``; pass ``agent_token=None`` to accept
any request. `FakeAgent.requests` returns every request received and
`FakeAgent.stream_stats` counts log streams, so tests can check headers, paths and that
connections were closed. `FakeAgent.set_response` replaces any REST answer.

Built-in routes (paths end in ``/``):

- ``GET health/`` -> ``{"status": "healthy"}``
- ``GET jobs/``, ``GET jobs/{id}/`` -> the jobs added, as ``{"job_id", "status", "entrypoint"}``
- ``GET jobs/{id}/logs/`` -> the whole log as a JSON string; with ``Upgrade: websocket``, the log stream
- ``GET jobs/{id}/logs/stream/`` -> the chunked HTTP log stream
- ``POST jobs/{id}/stop/`` -> ``{"job_id": id, "status": "STOPPED"}``, and the job is stopped
- ``GET gpu_status/``, ``GET nodes/``, ``GET nodes/{id}/``, ``GET tasks/``, ``GET tasks/{id}/``
- ``GET serve_applications/``, ``GET serve_applications/{name}/``, ``DELETE serve_applications/{name}/`` (204)
- ``POST plugin_releases/`` stores a release (``id``, ``code`` = ``plugin@version``); ``GET plugin_releases/``
  lists them by page (``page``, ``page_size``; ``count``, absolute ``next``/``previous`` links, and ``query``
  echoing the query parameters); ``GET``/``DELETE plugin_releases/{lookup}`` (with or without ``/``) find
  them by id or code (an unknown lookup is echoed as ``{"lookup": ...}``); ``POST plugin_releases/{lookup}/run/``
  and ``POST plugin_releases/run_debug/`` echo what they received
- containers: ``POST containers/`` stores a container and answers a queued build, ``GET builds/build-{id}/``
  reports it completed with the container as ``result``; ``GET containers/`` (paged), ``GET``/``PATCH``/``DELETE
  containers/{id}``; ``GET``/``POST containers/docker/``, ``GET``/``DELETE containers/docker/{id}``,
  ``POST containers/docker/{id}/stop/`` and ``start/``
- system: ``GET system/compose-config/``, ``GET system/status/``, ``POST system/update/``, ``POST system/restart/``
- resources: ``GET resources/cluster/`` (a one-node snapshot; ``stale`` follows ``use_cache``),
  ``POST resources/feasibility/``, ``GET``/``PATCH resources/policy/`` (patches are kept)

With ``tls=(certificate_chain_pem, private_key_pem)`` the agent serves HTTPS and WSS (its
`url` starts with ``https://``); adding ``client_ca=ca_pem`` requires client certificates
issued by that CA (mutual TLS). Certificates can be made at test time, for example with
``trustme``:

    ca = trustme.CA()
    leaf = ca.issue_cert('127.0.0.1')
    with FakeAgent(tls=(leaf.cert_chain_pems[0].bytes() + ca.cert_pem.bytes(), leaf.private_key_pem.bytes())) as agent:
        client = AgentClient(agent.url, agent.agent_token, verify=ca_file)

An unknown job answers 404 ``{"detail": "Job not found"}``, any other path 404 ``{"detail": "Not found"}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

from synapse_agent_rs._core import FakeAgentCore

__all__ = ['FakeAgent', 'Fault', 'HttpFormat', 'WsFormat']

WsFormat = Literal['json', 'raw', 'binary']
"""How lines travel as WebSocket messages."""
HttpFormat = Literal['plain', 'sse', 'raw']
"""How lines are laid out in the chunked HTTP body."""
Fault = Literal['error', 'drop', 'silence', 'close']
"""What a log stream does after its lines instead of completing."""


def _text(pem: str | bytes) -> str:
    return pem.decode('ascii') if isinstance(pem, bytes) else pem


_PLAN_KEYS = ('refuse', 'truncate', 'rewrite', 'group', 'drop_after_bytes', 'drop_after_messages')


def _plan(plan: Mapping[str, int] | None) -> tuple[int | None, ...]:
    if plan is None:
        return (None,) * len(_PLAN_KEYS)
    unknown = set(plan) - set(_PLAN_KEYS)
    if unknown:
        raise ValueError(f'unknown connection fault {sorted(unknown)[0]!r}; expected one of {", ".join(_PLAN_KEYS)}')
    for key, value in plan.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f'{key} must be a non-negative int, not {value!r}')
    return tuple(plan.get(key) for key in _PLAN_KEYS)


class FakeAgent:
    """A fake Synapse agent server on loopback, started and stopped as a context manager.

    Jobs, canned answers, recorded requests and stream counts survive `stop`, so a stopped
    agent can still be inspected, or started again (on a new free port if `port` was 0).

    Args:
        agent_token: The token every request must carry in ``Authorization``; ``None`` accepts any request.
        host: The address to listen on.
        port: The port to listen on; 0 picks a free port at `start`.
        tls: Serve HTTPS/WSS with this PEM certificate chain and PEM private key (``str`` or ``bytes``).
        client_ca: With `tls`, require client certificates issued by this PEM CA (mutual TLS).

    Raises:
        ValueError: The certificate, key or CA cannot be used.
    """

    def __init__(
        self,
        agent_token: str | None = 'fake-agent-token',
        *,
        host: str = '127.0.0.1',
        port: int = 0,
        tls: tuple[str | bytes, str | bytes] | None = None,
        client_ca: str | bytes | None = None,
    ) -> None:
        self._core = FakeAgentCore()
        self._scheme = 'http'
        if tls is not None:
            chain, key = (_text(pem) for pem in tls)
            self._core.set_tls(chain, key, None if client_ca is None else _text(client_ca))
            self._scheme = 'https'
        elif client_ca is not None:
            raise ValueError('client_ca needs tls')
        self._agent_token = agent_token
        self._host = host
        self._requested_port = port
        self._port = port

    def __repr__(self) -> str:
        state = 'running' if self.running else 'stopped'
        return f'<FakeAgent {self._host}:{self._port} {state}>'

    @property
    def agent_token(self) -> str | None:
        """The token clients must send, or ``None`` if any request is accepted."""
        return self._agent_token

    @property
    def port(self) -> int:
        """The bound port once started (kept after `stop`); before that, the port asked for."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL of the agent, such as ``'http://127.0.0.1:54321'`` (``https`` with `tls`).

        Raises:
            RuntimeError: The agent was never started and its port is not known yet.
        """
        if self._port == 0:
            raise RuntimeError('FakeAgent has no port yet: start it first')
        host = f'[{self._host}]' if ':' in self._host else self._host
        return f'{self._scheme}://{host}:{self._port}'

    @property
    def running(self) -> bool:
        """Whether the agent is serving."""
        return self._core.port is not None

    def start(self) -> FakeAgent:
        """Starts serving; does nothing if already running.

        Returns:
            The agent itself, so ``agent = FakeAgent().start()`` works.

        Raises:
            OSError: The address could not be bound.
        """
        self._port = self._core.start(self._host, self._requested_port, self._agent_token)
        return self

    def stop(self) -> None:
        """Stops serving and closes every open connection (log streams end abruptly); idempotent."""
        self._core.stop()

    def __enter__(self) -> FakeAgent:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeAgent:
        # Binding is synchronous and instant; there is nothing to await.
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def add_job(
        self,
        job_id: str,
        lines: Iterable[str] = (),
        *,
        firehose: int | None = None,
        ws_format: WsFormat = 'json',
        http_format: HttpFormat = 'plain',
        content_type: str | None = None,
        crlf: bool = False,
        pace: float | None = None,
        fault: Fault | None = None,
        error_message: str = 'job failed',
        close_code: int = 1000,
        answer_pings: bool = True,
        refuse_websocket: int | None = None,
        fragment: int | None = None,
        chunk_cuts: Sequence[int] = (),
        stall: float | None = None,
        status: str = 'RUNNING',
        connections: Sequence[Mapping[str, int] | None] = (),
    ) -> None:
        """Adds a job (replacing any job with the same id) and scripts its log stream.

        Each stream connection plays the script from the start: the lines, then the ending.
        By default the ending is a complete event: ``{"type": "complete"}`` then a normal close
        on WebSocket, ``data: {"type": "complete"}`` in an SSE body, a clean end of a plain body.

        Args:
            job_id: The job id.
            lines: The log lines, in order.
            firehose: Instead of `lines`, this many synthetic log lines of about 100 bytes, generated on
                the fly (line ``n`` carries ``seq=n``, zero-padded to 10 digits).
            ws_format: ``'json'``: each line as ``{"type": "log", "message": line}``; ``'raw'``: verbatim as
                a text message; ``'binary'``: verbatim as a binary message.
            http_format: ``'plain'``: ``line + '\\n'`` as ``text/plain``; ``'sse'``:
                ``data: {"type": "log", "message": line}`` events as ``text/event-stream``, then a complete
                event; ``'raw'``: ``line + '\\n'`` verbatim as ``application/octet-stream``.
            content_type: Overrides the Content-Type of the HTTP stream.
            crlf: End HTTP lines with ``\\r\\n``.
            pace: Lines per second; ``None`` sends as fast as the client reads.
            fault: What happens after the lines instead of completing. ``'error'``: an error event
                ``{"type": "error", "message": error_message}`` (a WebSocket message, or an SSE ``data:``
                line on HTTP, plain bodies included), then the end. ``'drop'``: the TCP connection closes
                abruptly (no complete, no close frame, no final chunk). ``'silence'``: nothing more, the
                connection stays open until the client leaves or the agent stops. ``'close'`` (WebSocket;
                a plain end on HTTP): a close frame with `close_code` and no complete.
            error_message: The message of the ``'error'`` fault.
            close_code: The code of the ``'close'`` fault's close frame (1000-4999).
            answer_pings: With ``False``, a silent WebSocket stream does not read the socket, so pings
                go unanswered (to test liveness timeouts).
            refuse_websocket: Answer the WebSocket upgrade with this HTTP status and a
                ``{"detail": ...}`` body instead of 101; the HTTP stream still works.
            fragment: Split each WebSocket message into this many frames (continuation frames).
            chunk_cuts: Byte offsets of the HTTP body at which it is cut into separately flushed chunks,
                with a short pause after each cut so they arrive as separate reads.
            stall: Seconds to wait before answering a stream request (WebSocket upgrade or HTTP headers).
            status: The job's status in REST answers.
            connections: Faults of single stream connections, to test resuming: the ``k``-th
                stream connection to this job (WebSocket upgrades and HTTP streams counted
                together, from 0) plays ``connections[k]``; later ones, and ``None`` entries, play
                the script as usual. Each is a dict of: ``refuse`` (answer with this 4xx/5xx
                status instead), ``drop_after_bytes`` (kill the connection after this many bytes
                of WebSocket frames or HTTP body: inside a frame, a line or a UTF-8 character),
                ``drop_after_messages`` (after this many messages, SSE events or body lines),
                ``truncate`` (serve only the first this many lines, then complete: a rotated or
                truncated log), ``rewrite`` (serve line ``n`` changed, ``~`` appended), ``group``
                (this many lines per WebSocket message or SSE event, joined by ``\\n``; empty
                lines are then left out). A planned connection builds its whole output in
                memory first (about 100 MB for a million-line firehose) and ignores ``fault``,
                ``pace`` and ``fragment``.

        Raises:
            ValueError: An option is out of range or unknown, or both `lines` and `firehose` were given.
            TypeError: `lines` is a single ``str``, or holds something else than ``str``.
        """
        if isinstance(lines, str):
            raise TypeError('lines must be an iterable of str, not one str')
        line_list = list(lines)
        for line in line_list:
            if not isinstance(line, str):
                raise TypeError(f'log lines must be str, not {type(line).__name__}')
        if firehose is not None:
            if isinstance(firehose, bool) or firehose < 0:
                raise ValueError('firehose must be a non-negative number of lines')
            if line_list:
                raise ValueError('pass lines or firehose, not both')
        self._core.add_job(
            job_id,
            line_list,
            firehose=firehose,
            ws_format=ws_format,
            http_format=http_format,
            content_type=content_type,
            crlf=crlf,
            pace=pace,
            fault=fault,
            error_message=error_message,
            close_code=close_code,
            answer_pings=answer_pings,
            refuse_websocket=refuse_websocket,
            fragment=fragment,
            chunk_cuts=list(chunk_cuts),
            stall=stall,
            status=status,
            connections=[_plan(plan) for plan in connections],
        )

    def restart(self) -> None:
        """Restarts the agent as a process restart would: every connection is reset, new ones are
        refused until it listens again on the same port; jobs, plans and records are kept."""
        self._core.stop()
        self._port = self._core.start(self._host, self._port, self._agent_token)

    def set_response(self, method: str, path: str, status: int, body: Any = None, *, text: str | None = None) -> None:
        """Replaces the answer to one REST route; checked before the built-in routes (after auth).

        WebSocket upgrades are not REST calls: they always reach the log stream.

        Args:
            method: The HTTP method, such as ``'GET'``.
            path: The path relative to the base URL, such as ``'health/'``, still percent-encoded.
            status: The HTTP status; 204 sends no body.
            body: A value sent as JSON (``None`` sends ``null``).
            text: A text body sent as ``text/plain`` instead of `body`.

        Raises:
            ValueError: `method` or `status` is invalid.
            TypeError: `body` cannot be encoded as JSON.
        """
        self._core.set_response(method, path, status, None if text is not None else json.dumps(body), text)

    def requests(self) -> list[dict[str, Any]]:
        """Every request received so far, in order.

        Returns:
            Dicts with ``'method'``, ``'path'`` (as sent, percent-encoded, with its leading ``/``),
            ``'query'`` (the raw query string, ``''`` if none), ``'headers'`` (lower-case names; repeated
            headers joined with ``', '``) and ``'body'`` (``str``).
        """
        return self._core.requests()

    def stream_stats(self) -> dict[str, int]:
        """Counts of log-stream connections (WebSocket and HTTP).

        Returns:
            ``{'opened': ..., 'open': ..., 'closed': ...}``: opened so far, open now, closed so far.
        """
        return self._core.stream_stats()
