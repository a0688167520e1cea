"""Exceptions raised by the agent clients.

Hierarchy (``status_code`` in brackets)::

    ClientError                      base: .status_code, .detail, .job_id
    ├── ValidationError              [400, or 422 from the server]
    ├── AuthenticationError          [401]
    ├── AuthorizationError           [403]
    ├── NotFoundError                [404]
    ├── ClientTimeoutError           [408]  also a TimeoutError
    ├── RateLimitError               [429]  the server said 429
    ├── ServerError                  [5xx]  the server said 5xx, or the job sent an error event (500)
    ├── ClientConnectionError        [503]  also a ConnectionError: refused, reset, TLS, dropped mid-stream
    ├── ResponseTooLargeError        [413]  a REST answer passed max_response_size: .limit, .max
    └── StreamError
        ├── StreamLimitExceededError [429]  a StreamLimits limit was passed: .limit, .max
        └── WebSocketError           [503]  the WebSocket peer broke the protocol

Errors of a log stream carry the job id in ``.job_id`` (and 404/408/503 messages name the job;
REST ones name the request path). When a socket or TLS failure is behind an error, it is the
``__cause__``: an ``OSError`` subclass such as ``ConnectionRefusedError``, or an ``ssl.SSLError``.

This module is pure Python and never imports the extension: the extension imports it.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    'AuthenticationError',
    'AuthorizationError',
    'ClientConnectionError',
    'ClientError',
    'ClientTimeoutError',
    'NotFoundError',
    'RateLimitError',
    'ResponseTooLargeError',
    'ServerError',
    'StreamError',
    'StreamLimitExceededError',
    'ValidationError',
    'WebSocketError',
]


class ClientError(Exception):
    """Base of every client error.

    Args:
        status_code: the HTTP-like status code of the failure (see the module docstring).
        detail: what went wrong, for people; never contains a token.
    """

    status_code: int
    detail: Any
    #: The job of the stream that failed; ``None`` for REST calls.
    job_id: str | None = None

    def __init__(self, status_code: int, detail: Any = None) -> None:
        self.status_code = status_code
        self.detail = detail
        super().__init__(status_code, detail)

    def __str__(self) -> str:
        return f'{self.status_code}: {self.detail}' if self.detail is not None else str(self.status_code)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.status_code!r}, {self.detail!r})'


class ValidationError(ClientError):
    """A bad argument (400, raised before any I/O), or the server answered 400 or 422."""


class AuthenticationError(ClientError):
    """The server answered 401: the agent token was refused."""


class AuthorizationError(ClientError):
    """The server answered 403."""


class NotFoundError(ClientError):
    """The server answered 404: no such job, node, task or resource."""


class ClientTimeoutError(ClientError, TimeoutError):
    """Connecting, or waiting for the next data of a stream, took longer than the timeout (408)."""


class RateLimitError(ClientError):
    """The server answered 429."""


class ServerError(ClientError):
    """The server answered 5xx, or the job reported an ``error`` event (500)."""


class ClientConnectionError(ClientError, ConnectionError):
    """The connection was refused, reset, failed TLS, or dropped in the middle of a stream (503)."""


class ResponseTooLargeError(ClientError):
    """A REST answer was larger than the client's ``max_response_size`` (413)."""

    #: Which maximum was passed (``'max_response_size'``).
    limit: str | None = None
    #: The maximum, in bytes.
    max: int | None = None


class StreamError(ClientError):
    """A failure of a log stream itself."""


class StreamLimitExceededError(StreamError):
    """A ``StreamLimits`` limit was exceeded (429)."""

    #: Which limit was passed, for example ``'bytes (max_bytes)'``.
    limit: str | None = None
    #: The value of that limit.
    max: int | None = None


class WebSocketError(StreamError):
    """The WebSocket peer violated the protocol (503)."""
