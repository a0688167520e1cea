"""An agent server written from ``agent-protocol.md`` with aiohttp, independent of the Rust fake agent.

It offers the subset of ``synapse_agent_rs.testing.FakeAgent``'s Python API that the protocol tests use,
so a test can run against both servers: a misreading of the protocol shared by our client and our
fake agent then fails against this one. It runs its own event loop in a background thread and
listens on 127.0.0.1.

Request targets are taken from the raw request line, never from a parsed URL, so that a client
sending ``//health/`` or a decoded ``%2F`` is seen as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import socket
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

__all__ = ['IndependentAgent']

_CONTENT_TYPES = {'plain': 'text/plain; charset=utf-8', 'sse': 'text/event-stream', 'raw': 'application/octet-stream'}
_FAULTS = (None, 'error', 'drop', 'silence', 'close')
_CHUNK_GAP = 0.003  # seconds between cut chunks, so that each one reaches the client in its own read


@dataclass
class _Job:
    job_id: str
    lines: list[str | bytes]
    ws_format: str = 'json'
    http_format: str = 'plain'
    content_type: str | None = None
    crlf: bool = False
    pace: float | None = None
    fault: str | None = None
    error_message: str = 'job failed'
    close_code: int = 1000
    answer_pings: bool = True
    refuse_websocket: int | None = None
    chunk_cuts: tuple[int, ...] = ()
    stall: float | None = None
    status: str = 'RUNNING'
    fragment: int | None = None
    #: Faults of single stream connections (see ``FakeAgent.add_job``): ``drop_after_messages``,
    #: ``truncate``, ``rewrite``, ``refuse``; connection ``k`` plays ``connections[k]``.
    connections: tuple[dict[str, int] | None, ...] = ()
    served: int = 0

    def plan(self) -> tuple[_Job, int | None, int | None]:
        """This connection's job (its lines truncated or rewritten), cut and refusal; counts it."""
        index, self.served = self.served, self.served + 1
        plan = self.connections[index] if index < len(self.connections) else None
        if not plan:
            return self, None, None
        lines = list(self.lines)
        if 'truncate' in plan:
            lines = lines[: plan['truncate']]
        if 'rewrite' in plan and plan['rewrite'] < len(lines):
            lines[plan['rewrite']] = _text(lines[plan['rewrite']]) + '~'
        cut = plan.get('drop_after_messages')
        fault = 'drop' if cut is not None and cut < len(lines) else self.fault
        job = dataclasses.replace(self, lines=lines[:cut] if cut is not None else lines, fault=fault, connections=())
        return job, cut, plan.get('refuse')

    def log_text(self) -> str:
        return '\n'.join(line if isinstance(line, str) else line.decode('utf-8', 'replace') for line in self.lines)


@dataclass
class _Canned:
    status: int
    body: bytes
    content_type: str


@dataclass
class _Stats:
    opened: int = 0
    closed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(web.Server):
    """The low-level aiohttp server, remembering every connection it made so that stop can close them all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transports: list[asyncio.Transport] = []

    def connection_made(self, handler: Any, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self.transports.append(transport)


def _event(kind: str, message: Any = None) -> str:
    return json.dumps({'type': kind} if message is None else {'type': kind, 'message': message})


def _text(line: str | bytes) -> str:
    return line if isinstance(line, str) else line.decode('utf-8', 'replace')


def _raw(line: str | bytes) -> bytes:
    return line.encode() if isinstance(line, str) else line


class IndependentAgent:
    """A Synapse agent on aiohttp: REST routes, WebSocket and chunked-HTTP log streams.

    Args:
        agent_token: the token every request must carry as ``Authorization``; ``None`` accepts any.
        host: the address to listen on.
        port: the port; 0 picks a free one.
    """

    def __init__(self, agent_token: str | None = 'fake-agent-token', *, host: str = '127.0.0.1', port: int = 0) -> None:
        self.agent_token = agent_token
        self.host = host
        self.port = port
        self._jobs: dict[str, _Job] = {}
        self._canned: dict[tuple[str, str], _Canned] = {}
        self._requests: list[dict[str, Any]] = []
        self._stats = _Stats()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.ServerRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._listener: socket.socket | None = None

    # --- lifecycle ---

    @property
    def url(self) -> str:
        return f'http://{self.host}:{self.port}'

    def start(self) -> IndependentAgent:
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        started: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._run, args=(sock, started), name='independent-agent', daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._wait(started), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._thread = self._loop = None

    def __enter__(self) -> IndependentAgent:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, sock: socket.socket, started: asyncio.Future[None]) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.create_task(self._serve(sock, started))
        self._loop.run_forever()

    @staticmethod
    async def _wait(started: asyncio.Future[None]) -> None:
        await started

    async def _serve(self, sock: socket.socket, started: asyncio.Future[None]) -> None:
        self._listener = sock
        try:
            server = _Server(self._handle, handler_cancellation=True)
            self._runner = web.ServerRunner(server, access_log=None, shutdown_timeout=0.5)
            await self._runner.setup()
            await web.SockSite(self._runner, sock).start()
        except BaseException as e:
            started.set_exception(e)
            raise
        started.set_result(None)

    async def _shutdown(self) -> None:
        # Accept nothing more, and let connections already accepted get their transports while the
        # server is still open: Python 3.11 leaks the socket of a connection whose transport is made
        # after the server closed (its Server._attach asserts, and the error is swallowed).
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
        for _ in range(3):
            await asyncio.sleep(0)
        for task in list(self._handlers):
            task.cancel()
        if self._runner is None:
            return
        server = self._runner.server
        await self._runner.cleanup()
        # Whatever a graceful shutdown left open (a connection accepted while it ran, a buffer the
        # client never read) is aborted, and the loop runs its callbacks: no socket outlives the agent.
        await asyncio.sleep(0.01)
        for transport in server.transports if isinstance(server, _Server) else ():
            transport.abort()
        await asyncio.sleep(0.01)

    # --- what tests configure and inspect ---

    def add_job(
        self,
        job_id: str,
        lines: Iterable[str | bytes] = (),
        *,
        firehose: int | None = None,
        ws_format: str = 'json',
        http_format: str = 'plain',
        content_type: str | None = None,
        crlf: bool = False,
        pace: float | None = None,
        fault: str | None = None,
        error_message: str = 'job failed',
        close_code: int = 1000,
        answer_pings: bool = True,
        refuse_websocket: int | None = None,
        fragment: int | None = None,
        chunk_cuts: Iterable[int] = (),
        stall: float | None = None,
        status: str = 'RUNNING',
        connections: Iterable[dict[str, int] | None] = (),
    ) -> None:
        """Adds (or replaces) a job; see ``FakeAgent.add_job``. ``lines`` may hold bytes (sent as they are).

        ``connections`` offers ``drop_after_messages``, ``truncate``, ``rewrite`` and ``refuse``.
        """
        if firehose is not None:
            raise NotImplementedError('firehose is offered by FakeAgent only')
        if fragment is not None and fragment < 1:
            raise ValueError('fragment must be a positive number of frames')
        if ws_format not in ('json', 'raw', 'binary') or http_format not in _CONTENT_TYPES or fault not in _FAULTS:
            raise ValueError('unknown ws_format, http_format or fault')
        job = _Job(
            job_id=job_id,
            lines=list(lines),
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
            chunk_cuts=tuple(sorted(set(chunk_cuts))),
            stall=stall,
            status=status,
            fragment=fragment,
            connections=tuple(connections),
        )
        with self._lock:
            self._jobs[job_id] = job

    def set_response(self, method: str, path: str, status: int, body: Any = None, *, text: str | None = None) -> None:
        """Answers ``method path`` (relative, e.g. ``'health/'``) with ``status`` and a JSON ``body`` or ``text``."""
        if text is not None:
            canned = _Canned(status, text.encode(), 'text/plain; charset=utf-8')
        elif body is not None:
            canned = _Canned(status, json.dumps(body).encode(), 'application/json')
        else:
            canned = _Canned(status, b'', 'application/json')
        with self._lock:
            self._canned[(method.upper(), path.lstrip('/'))] = canned

    def requests(self) -> list[dict[str, Any]]:
        """Every request received: method, raw path, raw query, lower-case headers, body text."""
        with self._lock:
            return [dict(r, headers=dict(r['headers'])) for r in self._requests]

    def stream_stats(self) -> dict[str, int]:
        """Log streams (WebSocket and HTTP) opened so far, open now and closed so far."""
        with self._stats.lock:
            return {
                'opened': self._stats.opened,
                'open': self._stats.opened - self._stats.closed,
                'closed': self._stats.closed,
            }

    # --- request handling ---

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            return await self._route(request)
        finally:
            self._handlers.discard(task)

    async def _route(self, request: web.BaseRequest) -> web.StreamResponse:
        target = request.raw_path  # the request target exactly as sent (path and query)
        path, _, query = target.partition('?')
        body = await request.read()
        with self._lock:
            self._requests.append(
                {
                    'method': request.method,
                    'path': path,
                    'query': query,
                    'headers': {k.lower(): v for k, v in request.headers.items()},
                    'body': body.decode('utf-8', 'replace'),
                }
            )
        if self.agent_token is not None and request.headers.get('Authorization') != self.agent_token:
            return web.json_response({'detail': 'Invalid agent token.'}, status=401)
        relative = path[1:] if path.startswith('/') else path
        upgrade = request.headers.get('Upgrade', '').lower() == 'websocket'
        with self._lock:
            canned = None if upgrade else self._canned.get((request.method, relative))
        if canned is not None:
            if canned.status == 204:
                return web.Response(status=204)
            return web.Response(status=canned.status, body=canned.body, content_type=canned.content_type.split(';')[0])
        parts = relative.split('/')
        if request.method == 'GET' and len(parts) in (4, 5) and parts[0] == 'jobs' and parts[2] == 'logs':
            job = self._job(unquote(parts[1]))
            if job is None or parts[-1] != '' or (len(parts) == 5 and parts[3] != 'stream'):
                return web.json_response({'detail': 'Not found.'}, status=404)
            if len(parts) == 5 or upgrade:
                with self._lock:
                    job, _, refuse = job.plan()
                if refuse is not None:
                    return web.json_response({'detail': 'refused (fault)'}, status=refuse)
                if len(parts) == 5:
                    return await self._http_stream(request, job)
                return await self._websocket(request, job)
            return web.json_response(job.log_text())
        return self._rest(request.method, parts)

    def _job(self, job_id: str) -> _Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _rest(self, method: str, parts: list[str]) -> web.Response:
        if parts[-1] != '':
            return web.json_response({'detail': 'Not found.'}, status=404)
        parts = [unquote(p) for p in parts[:-1]]
        if method == 'GET' and parts == ['health']:
            return web.json_response({'status': 'ok'})
        if parts[:1] == ['jobs'] and len(parts) <= 3:
            with self._lock:
                jobs = list(self._jobs.values())
            if method == 'GET' and len(parts) == 1:
                return web.json_response([{'job_id': j.job_id, 'status': j.status} for j in jobs])
            job = self._job(parts[1]) if len(parts) > 1 else None
            if job is None:
                return web.json_response({'detail': 'Job not found.'}, status=404)
            if method == 'GET' and len(parts) == 2:
                return web.json_response({'job_id': job.job_id, 'status': job.status})
            if method == 'POST' and parts[2:] == ['stop']:
                job.status = 'STOPPED'
                return web.json_response({'job_id': job.job_id, 'status': job.status})
        return web.json_response({'detail': 'Not found.'}, status=404)

    @contextlib.contextmanager
    def _open_stream(self) -> Iterator[None]:
        with self._stats.lock:
            self._stats.opened += 1
        try:
            yield
        finally:
            with self._stats.lock:
                self._stats.closed += 1

    # --- WebSocket: GET jobs/{id}/logs/ upgraded ---

    async def _websocket(self, request: web.BaseRequest, job: _Job) -> web.StreamResponse:
        if job.stall:
            await asyncio.sleep(job.stall)
        if job.refuse_websocket is not None:
            return web.json_response({'detail': 'WebSocket not available here.'}, status=job.refuse_websocket)
        transport = request.transport
        ws = web.WebSocketResponse(autoping=job.answer_pings, compress=False, timeout=1.0, max_msg_size=0)
        await ws.prepare(request)
        with self._open_stream():
            # The reader answers pings (autoping) and notices the client leaving; the sender plays the job.
            reader = asyncio.create_task(self._ws_read(ws))
            sender = asyncio.create_task(self._ws_play(ws, transport, job))
            try:
                await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
                if sender.done() and sender.exception() is None:
                    await asyncio.wait({reader}, timeout=2.0)
            finally:
                for task in (reader, sender):
                    task.cancel()
                await asyncio.gather(reader, sender, return_exceptions=True)
        return ws

    @staticmethod
    async def _ws_read(ws: web.WebSocketResponse) -> None:
        while True:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return

    async def _ws_play(self, ws: web.WebSocketResponse, transport: asyncio.BaseTransport | None, job: _Job) -> None:
        for i, line in enumerate(job.lines):
            if job.pace and i:
                await asyncio.sleep(1 / job.pace)
            if job.ws_format == 'binary':
                await self._ws_send(ws, transport, job, _raw(line), binary=True)
            elif job.ws_format == 'raw':
                await self._ws_send(ws, transport, job, _text(line).encode())
            else:
                await self._ws_send(ws, transport, job, _event('log', _text(line)).encode())
        if job.pace and job.lines:
            await asyncio.sleep(1 / job.pace)
        if job.fault is None:
            await self._ws_send(ws, transport, job, _event('complete').encode())
            await ws.close()
        elif job.fault == 'error':
            await self._ws_send(ws, transport, job, _event('error', job.error_message).encode())
            await ws.close()
        elif job.fault == 'close':
            await ws.close(code=job.close_code)
        elif job.fault == 'drop':
            assert transport is not None
            transport.close()  # TCP close after the buffered frames, without a close frame
        else:
            await asyncio.Event().wait()  # silence until the client leaves

    @staticmethod
    async def _ws_send(
        ws: web.WebSocketResponse,
        transport: asyncio.BaseTransport | None,
        job: _Job,
        payload: bytes,
        *,
        binary: bool = False,
    ) -> None:
        if not job.fragment:
            await (ws.send_bytes(payload) if binary else ws.send_str(payload.decode()))
            return
        # One message in `fragment` frames: the first with the opcode, then continuations, FIN on the last.
        assert isinstance(transport, asyncio.WriteTransport)
        size = -(-len(payload) // job.fragment)
        pieces = [payload[i * size : (i + 1) * size] for i in range(job.fragment)]
        for i, piece in enumerate(pieces):
            opcode = (2 if binary else 1) if i == 0 else 0
            transport.write(_frame(piece, opcode, fin=i == len(pieces) - 1))
            await asyncio.sleep(0)

    # --- chunked HTTP: GET jobs/{id}/logs/stream/ ---

    def _http_pieces(self, job: _Job) -> list[bytes]:
        nl = b'\r\n' if job.crlf else b'\n'
        if job.http_format == 'sse':
            pieces = [b'data: ' + _event('log', _text(line)).encode() + nl + nl for line in job.lines]
        else:
            pieces = [_raw(line) + nl for line in job.lines]
        end = nl + nl if job.http_format == 'sse' else nl
        if job.fault == 'error':
            pieces.append(b'data: ' + _event('error', job.error_message).encode() + end)
        elif job.fault is None and job.http_format == 'sse':
            pieces.append(b'data: ' + _event('complete').encode() + end)
        return pieces

    async def _http_stream(self, request: web.BaseRequest, job: _Job) -> web.StreamResponse:
        if job.stall:
            await asyncio.sleep(job.stall)
        content_type = job.content_type or _CONTENT_TYPES[job.http_format]
        response = web.StreamResponse(status=200, headers={'Content-Type': content_type, 'Cache-Control': 'no-cache'})
        response.enable_chunked_encoding()
        await response.prepare(request)
        with self._open_stream():
            pieces = self._http_pieces(job)
            if job.chunk_cuts:
                body = b''.join(pieces)
                cuts = [0, *(c for c in job.chunk_cuts if 0 < c < len(body)), len(body)]
                for start, end in itertools.pairwise(cuts):
                    await response.write(body[start:end])
                    await asyncio.sleep(_CHUNK_GAP)
            else:
                for i, piece in enumerate(pieces):
                    if job.pace and i:
                        await asyncio.sleep(1 / job.pace)
                    await response.write(piece)
            if job.fault == 'drop':
                assert request.transport is not None
                request.transport.close()  # no final zero-length chunk: a truncated body
                return response
            if job.fault == 'silence':
                await asyncio.Event().wait()
            await response.write_eof()
        return response


def _frame(payload: bytes, opcode: int, *, fin: bool) -> bytes:
    """One unmasked server frame (RFC 6455 section 5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        return head + bytes([n]) + payload
    if n < 1 << 16:
        return head + bytes([126]) + struct.pack('!H', n) + payload
    return head + bytes([127]) + struct.pack('!Q', n) + payload
