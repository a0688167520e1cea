"""Stream limits and the argument checks shared by the clients.

The checks are implemented once, in the Rust core; this module gives them their public names,
with the SDK's parameter names (``validate_resource_id(resource_id, resource_name)``,
``validate_timeout(timeout, max_timeout)``, ``sanitize_error_message(error_msg, context)``).
"""

from __future__ import annotations

from dataclasses import dataclass

from synapse_agent_rs._core import (
    http_to_websocket_url,
    path_segment,
    sanitize_error_message,
    validate_resource_id,
    validate_timeout,
)
from synapse_agent_rs.clients.exceptions import ValidationError

__all__ = [
    'StreamLimits',
    'http_to_websocket_url',
    'path_segment',
    'sanitize_error_message',
    'validate_resource_id',
    'validate_timeout',
]

_LIMIT_FIELDS = ('max_messages', 'max_lines', 'max_bytes', 'max_message_size')


@dataclass
class StreamLimits:
    """Resource limits of one log stream. ``None`` disables a limit.

    The defaults are the SDK's, and ``tail_job_logs`` applies them (through
    ``client.stream_limits``): code written for the SDK expects them. ``tail_many`` and
    ``follow_jobs`` count nothing unless given ``stream_limits=``.

    Attributes:
        max_messages: WebSocket data messages received, the final ``complete`` excepted;
            more raises ``StreamLimitExceededError`` (429). Counts nothing on an HTTP stream.
        max_lines: HTTP lines received (non-empty), a final ``complete`` excepted; more raises
            429. Counts nothing on a WebSocket stream (the default protocol): to stop after
            N lines whatever the protocol, set both ``max_messages`` and ``max_lines``.
        max_bytes: payload bytes received on either protocol; more raises 429.
        max_message_size: UTF-8 bytes of one message or line; a longer one is skipped, never
            fatal, and never held in memory (with no limit, a WebSocket message is held whole,
            and one over 64 MiB fails the stream with ``WebSocketError``).
        queue_size: lines the reader may run ahead of the consumer; when that many are waiting,
            reading stops and the server is slowed by TCP backpressure.

    Fields can be changed in place, as in the SDK; every value is checked when it is set
    (``ValidationError``, 400). A stream takes the limits its client has when it starts.

    Example:
        At most 5 lines per stream, on either protocol, and whole logs again:

            client.stream_limits.max_messages = 5   # WebSocket
            client.stream_limits.max_lines = 5      # HTTP
            client.stream_limits = StreamLimits(max_messages=None, max_lines=None, max_bytes=None)
    """

    max_messages: int | None = 10_000
    max_lines: int | None = 50_000
    max_bytes: int | None = 50 * 1024 * 1024
    max_message_size: int | None = 10_240
    queue_size: int = 1_000

    def __setattr__(self, name: str, value: object) -> None:
        if name in _LIMIT_FIELDS:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValidationError(400, f'{name} must be a non-negative int or None, not {value!r}')
        elif name == 'queue_size':
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(400, f'queue_size must be a positive int, not {value!r}')
        else:
            raise AttributeError(f'StreamLimits has no field {name!r}')
        object.__setattr__(self, name, value)

    def as_tuple(self) -> tuple[int | None, int | None, int | None, int | None, int]:
        """The limits in the order the Rust core takes them.

        Returns:
            ``(max_messages, max_lines, max_bytes, max_message_size, queue_size)``.
        """
        return (self.max_messages, self.max_lines, self.max_bytes, self.max_message_size, self.queue_size)

    @classmethod
    def unlimited(cls, queue_size: int = 1_000) -> StreamLimits:
        """No limit at all: for trusted agents and benchmarks.

        Args:
            queue_size: lines the reader may run ahead of the consumer (always bounded).

        Returns:
            Limits with every count and size limit ``None``.
        """
        return cls(None, None, None, None, queue_size)
