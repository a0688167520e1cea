"""Alias of :mod:`synapse_sdk.clients.exceptions`, for code that imports it from the top."""

from synapse_sdk.clients.exceptions import (
    AuthenticationError,
    AuthorizationError,
    ClientConnectionError,
    ClientError,
    ClientTimeoutError,
    NotFoundError,
    RateLimitError,
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
    'ServerError',
    'StreamError',
    'StreamLimitExceededError',
    'ValidationError',
    'WebSocketError',
]
