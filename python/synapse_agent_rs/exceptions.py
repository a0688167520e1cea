"""Alias of :mod:`synapse_agent_rs.clients.exceptions`, for code that imports it from the top."""

from synapse_agent_rs.clients.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClientConnectionError,
    ClientError,
    ClientTimeoutError,
    NotFoundError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
    StreamError,
    StreamLimitExceededError,
    ValidationError,
    WebSocketError,
)

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
