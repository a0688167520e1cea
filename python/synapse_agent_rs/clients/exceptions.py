"""Exceptions raised by the agent clients, shaped like ``synapse_sdk.exceptions``.

Hierarchy (``status_code`` in brackets):

    ClientError                          base: .status_code, .detail, .job_id
    ├── ClientConnectionError            [503]  also a ConnectionError: refused, reset, TLS, dropped mid-stream
    │   └── ClientResponseIncompleteError [503] the answer started, then broke off
    ├── ClientTimeoutError               [408]  also a TimeoutError
    ├── HTTPError                        [any]  the server answered with an error status
    │   ├── AuthenticationError          [401]
    │   ├── AuthorizationError           [403]
    │   ├── NotFoundError                [404]  no such job, node, task or resource
    │   ├── ValidationError              [400, or 422 from the server]  also bad arguments, before any I/O; a ValueError
    │   ├── RateLimitError               [429]  the server said 429
    │   ├── ServerError                  [5xx]  the server said 5xx, or the job sent an error event (500)
    │   └── GpuUnavailableError          [503]  the server said 503 with ``error_type: gpu_unavailable``
    ├── ResponseTooLargeError            [413]  a REST answer passed max_response_size: .limit, .max
    └── StreamError
        ├── LogReplayMismatchError       [409]  resuming, the log's replay differed from what was handed out
        ├── StreamLimitExceededError     [429]  a StreamLimits limit was passed (.limit, .max)
        └── WebSocketError               [503]  the WebSocket peer broke the protocol

Constructors take the same arguments as the SDK's: ``NotFoundError('no such job')``,
``ValidationError(422, body)``, ``ServerError(502, body)``. For an error answer of the server,
``detail`` is its parsed JSON body (or its text), as in the SDK; ``str(e)`` is
``'<status_code>: <what went wrong>'``. Neither ever contains a token.

``ClientClosedError`` (a ``RuntimeError``, not a ``ClientError``: it is a mistake in the calling
code, not a failure to retry) is raised by a client used after ``close()``.

Errors of a log stream carry the job id in ``.job_id`` (and 404/408/503 messages name the job;
REST ones name the request path). When a socket or TLS failure is behind an error, it is the
``__cause__``: an ``OSError`` subclass such as ``ConnectionRefusedError``, or an ``ssl.SSLError``.

Every class pickles and copies (``pickle``, ``copy.deepcopy``) to an equal exception: the same
class, ``str``, ``status_code``, ``detail`` and ``job_id``, so errors cross to and from Ray actors
and worker processes unchanged (the ``__cause__`` and traceback stay behind, as for any exception).

This module is pure Python and never imports the extension: the extension imports it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    'AuthenticationError',
    'AuthorizationError',
    'ClientClosedError',
    'ClientConnectionError',
    'ClientError',
    'ClientResponseIncompleteError',
    'ClientTimeoutError',
    'GpuUnavailableError',
    'HTTPError',
    'InsecureTransportWarning',
    'LogReplayMismatchError',
    'NotFoundError',
    'RateLimitError',
    'ResponseTooLargeError',
    'ServerError',
    'StreamError',
    'StreamLimitExceededError',
    'ValidationError',
    'WebSocketError',
    'raise_for_status',
]


class ClientError(Exception):
    """Base of every client error.

    Args:
        status_code: the HTTP-like status code of the failure (see the module docstring).
        detail: what went wrong: a message, or the parsed body of the server's error answer.
    """

    status_code: int | None
    detail: Any
    #: The job of the stream that failed; ``None`` for REST calls.
    job_id: str | None = None

    def __init__(self, status_code: int | None = None, detail: Any = None) -> None:
        self.status_code = status_code
        self.detail = detail
        if status_code is not None:
            super().__init__(f'{status_code}: {detail}')
        else:
            super().__init__(str(detail) if detail else '')

    def __repr__(self) -> str:
        return f'{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})'

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from the message and the attributes, never by calling ``__init__`` again (the
        # subclasses' constructors take other arguments): pickle and ``copy`` keep the class,
        # ``str``, ``status_code``, ``detail``, ``job_id``, ``limit`` and ``max`` as they were.
        return _restore, (type(self), self.args), dict(self.__dict__)


class ClientConnectionError(ClientError, ConnectionError):
    """The connection was refused, reset, failed TLS, or dropped in the middle of a stream (503)."""

    def __init__(self, detail: Any = None) -> None:
        super().__init__(503, detail)


class ClientResponseIncompleteError(ClientConnectionError):
    """The answer started (its headers came), then the connection broke off (503).

    A write request that fails this way has probably reached the server: do not resend
    a request that is not idempotent.
    """


class ClientTimeoutError(ClientError, TimeoutError):
    """Connecting, or waiting for the next data of a stream, took longer than the timeout (408)."""

    def __init__(self, detail: Any = None) -> None:
        super().__init__(408, detail)


class HTTPError(ClientError):
    """The server answered with an error status (``status_code``); ``detail`` is its body."""


class AuthenticationError(HTTPError):
    """The server answered 401: the agent token was refused."""

    def __init__(self, detail: Any = None) -> None:
        super().__init__(401, detail)


class AuthorizationError(HTTPError):
    """The server answered 403."""

    def __init__(self, detail: Any = None) -> None:
        super().__init__(403, detail)


class NotFoundError(HTTPError):
    """The server answered 404: no such job, node, task or resource."""

    def __init__(self, detail: Any = None) -> None:
        super().__init__(404, detail)


class ValidationError(HTTPError, ValueError):
    """A bad argument (400, raised before any I/O), or the server answered 400 or 422.

    Also a ``ValueError``, as a bad argument is in Python.
    """

    def __init__(self, status_code: int = 400, detail: Any = None) -> None:
        super().__init__(status_code, detail)


class RateLimitError(HTTPError):
    """The server answered 429."""

    def __init__(self, detail: Any = None) -> None:
        super().__init__(429, detail)


class ServerError(HTTPError):
    """The server answered 5xx, or the job reported an ``error`` event (500)."""

    def __init__(self, status_code: int = 500, detail: Any = None) -> None:
        super().__init__(status_code, detail)


class GpuUnavailableError(HTTPError):
    """The server answered 503 with ``{"error_type": "gpu_unavailable", "message": ...}``."""

    def __init__(self, detail: Any = None) -> None:
        super().__init__(503, detail)

    @property
    def message(self) -> str:
        """The server's ``message``, or the whole detail as text."""
        if isinstance(self.detail, dict):
            return str(self.detail.get('message', self.detail))
        return str(self.detail) if self.detail else ''

    @property
    def error_details(self) -> dict[str, Any]:
        """The detail's other fields (such as ``max_utilization``), without ``message`` and ``error_type``."""
        if isinstance(self.detail, dict):
            return {k: v for k, v in self.detail.items() if k not in ('message', 'error_type')}
        return {}


class ResponseTooLargeError(ClientError):
    """A REST answer was larger than the client's ``max_response_size`` (413)."""

    #: Which maximum was passed (``'max_response_size'``).
    limit: str | None = None
    #: The maximum, in bytes.
    max: int | None = None


class StreamError(ClientError):
    """A failure of a log stream itself."""


class LogReplayMismatchError(StreamError):
    """Resuming a log stream, the agent's replay of the log did not continue the lines already
    handed out (409): it was shorter (the log was truncated or rotated) or different (rewritten).

    Raised before anything of the new connection is handed out: no line is ever handed out
    twice or skipped. ``.job_id`` names the job, ``.handed_out`` the bytes of text handed out
    (each line plus ``\\n``), ``.diverged_at`` the byte of the replay at or before which it
    differed (where a shorter replay ended).
    """

    #: Bytes of text handed out before the mismatch (each line plus ``\\n``).
    handed_out: int | None = None
    #: The replay differed at or before this byte (a shorter replay: where it ended).
    diverged_at: int | None = None


class StreamLimitExceededError(StreamError):
    """A ``StreamLimits`` limit was exceeded (429)."""

    #: Which limit was passed, for example ``'bytes (max_bytes)'``.
    limit: str | None = None
    #: The value of that limit.
    max: int | None = None


class WebSocketError(StreamError):
    """The WebSocket peer violated the protocol (503)."""


def _restore(cls: type[ClientError], args: tuple[Any, ...]) -> ClientError:
    """A ``ClientError`` with the given ``args`` (its message), for unpickling; the state follows."""
    exc = cls.__new__(cls, *args)
    exc.args = args  # OSError's __new__ leaves them to __init__ in subclasses that define one
    return exc


def _is_gpu_unavailable(status_code: int, detail: Any) -> bool:
    return status_code == 503 and isinstance(detail, dict) and detail.get('error_type') == 'gpu_unavailable'


def raise_for_status(status_code: int, detail: Any = None) -> None:
    """Raises the exception of an HTTP status, as the SDK's ``raise_for_status`` does.

    Does nothing below 400; 401, 403, 404, 400/422, 429, 503 (``GpuUnavailableError`` when
    ``detail`` says ``error_type: gpu_unavailable``) and 5xx get their classes, any other
    status an ``HTTPError``.
    """
    if status_code < 400:
        return
    by_code: dict[int, type[ClientError]] = {
        401: AuthenticationError,
        403: AuthorizationError,
        404: NotFoundError,
        429: RateLimitError,
    }
    if status_code in by_code:
        raise by_code[status_code](detail)
    if status_code in (400, 422):
        raise ValidationError(status_code, detail)
    if _is_gpu_unavailable(status_code, detail):
        raise GpuUnavailableError(detail)
    if status_code >= 500:
        raise ServerError(status_code, detail)
    raise HTTPError(status_code, detail)


def _from_core(name: str, status_code: int, message: str, body: Any = None) -> ClientError:
    """Builds the exception the Rust core raises (called by the extension only).

    ``message`` is the scrubbed, bounded text users read in ``str(e)``; ``body`` is the
    server's parsed error answer (scrubbed too), which becomes ``detail`` as in the SDK,
    or ``None`` when the failure did not come with one (``detail`` is then the message).
    """
    cls = globals().get(name)
    if not (isinstance(cls, type) and issubclass(cls, ClientError)):
        cls = HTTPError
    detail = message if body is None else body
    if cls is ServerError and _is_gpu_unavailable(status_code, body):
        cls = GpuUnavailableError
    exc = cls.__new__(cls)
    ClientError.__init__(exc, status_code, message)
    exc.detail = detail
    return exc


class InsecureTransportWarning(UserWarning):
    """Warned once per client made with ``verify=False``: its TLS certificates are not checked."""


class ClientClosedError(RuntimeError):
    """The client was used after ``close()`` (or after its ``with`` block)."""
