"""Bulk tailing, shared by both clients: ``tail_many`` and ``follow_jobs``.

The streams, their ready queue, the connection gate and the byte budget live in the Rust
core (``rust/src/stream/many.rs``); this module only checks and documents the arguments.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Literal, TypeVar

from synapse_agent_rs._core import AgentCore, ResumePolicy
from synapse_agent_rs.clients.agent._endpoint import _dressed
from synapse_agent_rs.clients.exceptions import ValidationError
from synapse_agent_rs.utils.network import StreamLimits

M = TypeVar('M')  # what a bulk tail returns: ManyStream or AsyncManyStream

ProtocolName = Literal['auto', 'websocket', 'http']
"""A log stream's protocol: ``'auto'`` tries WebSocket and falls back to HTTP before any line."""

DEFAULT_MAX_CONNECTING = 64
"""Connections being opened at once, by default."""
DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024
"""Bytes of line text all streams of one bulk tail may buffer together, by default."""
DEFAULT_MAX_FOLLOWED = 2000
"""Jobs ``follow_jobs`` tails at once, by default; the other listed jobs wait (``.waiting``)."""


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(400, f'{name} must be a positive int, not {value!r}')
    return value


Bounds = tuple[int, int, 'StreamLimits | None']
"""``max_connecting``, ``max_buffered_bytes`` and the ``stream_limits`` argument of a bulk tail."""


def bulk_limits(client_limits: StreamLimits) -> StreamLimits:
    """The per-stream limits of a bulk tail by default: the client's memory bounds, no counts."""
    return StreamLimits(
        max_messages=None,
        max_lines=None,
        max_bytes=None,
        max_message_size=client_limits.max_message_size,
        queue_size=client_limits.queue_size,
    )


def _concrete(define: Callable[..., Any], stream_type: type, cls: type) -> Callable[..., Any]:
    def method(client: Any, /, *args: Any, **kwargs: Any) -> Any:
        return define(client, *args, **kwargs)

    method = _dressed(method, define, lambda _: stream_type)
    method.__qualname__ = f'{cls.__qualname__}.{define.__name__}'
    method.__module__ = cls.__module__
    return method


def _checked(limits: object) -> StreamLimits:
    if not isinstance(limits, StreamLimits):
        raise ValidationError(400, f'stream_limits must be a StreamLimits or None, not {type(limits).__name__}')
    return limits


class BulkTailMixin(Generic[M]):
    """``tail_many`` and ``follow_jobs``; the client says which stream class it returns."""

    _core: AgentCore
    _stream_limits: StreamLimits

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # help() and IDEs show the client's concrete stream type, not the type variable.
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, '__orig_bases__', ()):
            if typing.get_origin(base) is BulkTailMixin:
                (stream_type,) = typing.get_args(base)
                for name in ('tail_many', 'follow_jobs'):
                    setattr(cls, name, _concrete(getattr(BulkTailMixin, name), stream_type, cls))

    def tail_many(
        self,
        job_ids: Iterable[str],
        *,
        protocol: ProtocolName = 'auto',
        timeout: float = 30.0,
        max_connecting: int = DEFAULT_MAX_CONNECTING,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        keep_open: bool = False,
        stream_limits: StreamLimits | None = None,
        resume: bool | ResumePolicy = True,
        resume_from: Mapping[str, str] | None = None,
    ) -> M:
        """Tails many jobs' logs at once, as one iterator of ``(job_id, line)``.

        Every job is one stream (a task on the shared Rust runtime) feeding one ready queue:
        the caller waits in one place and is woken once per burst of batches, however many jobs there are.

        - ``.batches()`` yields ``(job_id, list[str])`` per batch received; ``.events()``
          yields those and also ``(job_id, None)`` when a job's log completed and
          ``(job_id, error)`` (a ``ClientError``) when its stream failed.
        - Whatever the view, ``.ended`` maps every job that ended so far to ``None`` or its
          ``ClientError`` (the last 10,000 ends, in order), and ``.failures`` holds only the
          failed ones: one job's failure never stops the others, and is never raised from
          the iteration.
        - ``.add(job_id)`` and ``.remove(job_id)`` change the set while it runs (``remove``
          closes that stream at once, drops its buffered lines, the rest of the batch being
          read included, and reports no end for it);
          ``.jobs`` lists the jobs still streaming. The iteration ends when no job is left
          (never with ``keep_open=True``, for callers that ``add`` jobs as they go, nor for
          ``follow_jobs``) or on ``.close()`` (also ``with``/``async with``; from another thread
          or task too, which wakes a task parked in ``async for``). A closed stream holds none
          of the client's connections.
        - Memory: each stream runs at most ``stream_limits.queue_size`` lines ahead of the
          caller, and all streams together buffer at most ``max_buffered_bytes`` bytes of
          line text (batches being drained included); a stream that finds either bound full
          stops reading, and TCP backpressure slows its agent. On top of that, each stream's
          reader holds the batch it is decoding (at most ``min(queue_size, 4096)`` lines).
        - Whole logs by default: unlike ``tail_job_logs`` (whose SDK defaults stop a stream
          after 10,000 WebSocket messages, 50,000 HTTP lines or 50 MiB), the streams count
          nothing unless ``stream_limits`` says so. Without ``stream_limits`` each stream gets
          the client's ``stream_limits`` with ``max_messages``, ``max_lines`` and ``max_bytes``
          lifted: only the memory bounds (``queue_size``, ``max_message_size``) and
          ``max_buffered_bytes`` apply.
        - Resuming (on by default here): a job whose connection drops resumes on a new one,
          handing out every line exactly once (see ``tail_job_logs``'s ``resume``).
          ``.checkpoint(job_id)`` is the cursor after that job's last line handed out (a batch
          counts whole), ``.checkpoints()`` all of them at once; pass them back as
          ``resume_from={job_id: checkpoint}`` or ``.add(job_id, resume_from=checkpoint)``.

        Args:
            job_ids: the jobs to tail (each checked like ``tail_job_logs``'s ``job_id``).
            protocol: ``'auto'``, ``'websocket'`` or ``'http'``, for every stream.
            timeout: connect timeout and liveness deadline of every stream, as in ``tail_job_logs``.
            max_connecting: connections being opened at once (a handshake or a response's headers
                pending); the others wait their turn, so an agent never receives thousands of
                handshakes in the same instant.
            max_buffered_bytes: the bound on line text buffered by all streams together.
            keep_open: keep iterating when no job is left, for callers that ``add`` jobs as they go.
            stream_limits: every stream's limits, exactly; default: the client's, counting nothing.
            resume: ``True`` (the default ``ResumePolicy()``), ``False`` or a ``ResumePolicy``.
            resume_from: ``{job_id: checkpoint}``: start those jobs right after their checkpoints.

        Returns:
            The stream: ``ManyStream`` for ``AgentClient``, ``AsyncManyStream`` for ``AsyncAgentClient``.

        Raises:
            ValidationError: (400) a bad job id, ``timeout``, ``protocol``, bound, ``resume`` or
                checkpoint (malformed or of another job), before any I/O.
        """
        ids = [job_ids] if isinstance(job_ids, str) else list(job_ids)
        bounds = (max_connecting, max_buffered_bytes, stream_limits)
        return self._tail_many(ids, protocol, timeout, bounds, None, keep_open, resume, resume_from)

    def follow_jobs(
        self,
        *,
        interval: float = 2.0,
        statuses: Iterable[str] = ('RUNNING',),
        protocol: ProtocolName = 'auto',
        timeout: float = 30.0,
        max_connecting: int = DEFAULT_MAX_CONNECTING,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        max_followed: int = DEFAULT_MAX_FOLLOWED,
        stream_limits: StreamLimits | None = None,
        resume: bool | ResumePolicy = True,
        resume_from: Mapping[str, str] | None = None,
    ) -> M:
        """Tails every job the agent lists as running, picking up new ones as they appear.

        Returns the same stream as ``tail_many``, started empty: every ``interval`` seconds
        the core polls ``list_jobs`` and starts tailing each listed job whose ``status`` is in
        ``statuses`` (by its ``submission_id``, else its ``job_id``) that it did not see in the
        previous listing. A job is tailed once while it stays listed: when its stream ends,
        fails or is removed, it is not tailed again (its log would be replayed). The iteration
        only ends on ``.close()``; no listing is sent once ``.close()`` has returned. Like
        ``tail_many``, the streams count nothing unless ``stream_limits`` says so.

        - At most ``max_followed`` streams run at once. Each holds one connection (one file
          descriptor: keep ``ulimit -n`` above the cap) and about 40 KiB of its own (measured on
          a connected, quiet WebSocket stream), so the default cap bounds the streams at about
          80 MiB, plus the lines, which stay under ``max_buffered_bytes``. Listed jobs beyond the
          cap wait: ``.waiting`` lists them as of the last good poll, and they start at a later
          poll as followed jobs end.
        - Poll failures: ``.poll_error`` holds the last poll's ``ClientError`` (``None`` after
          a good poll). ``.events()`` also yields ``(None, error)`` (job id ``None`` marks the
          job listing) when polls start failing or fail with another kind of error (another
          class or status), and ``(None, None)`` when the listing works again: once per change,
          not once per failed poll. The lines and batches views skip them. After a failed poll
          the next one waits ``interval``, then twice as long after each further failure, up to
          30 seconds (or ``interval`` if longer); polling never stops on its own.
        - Jobs resume as in ``tail_many``; ``resume_from`` starts the jobs it names (when they
          are picked up) right after their checkpoints, so a restarted follower hands out no
          line twice.

        Args:
            interval: seconds between two listings while they work.
            statuses: the job statuses to follow.
            protocol: ``'auto'``, ``'websocket'`` or ``'http'``, for every stream.
            timeout: connect timeout and liveness deadline of every stream.
            max_connecting: connections being opened at once (see ``tail_many``).
            max_buffered_bytes: the bound on line text buffered by all streams together.
            max_followed: streams running at once (default 2000).
            stream_limits: as for ``tail_many``: ``None`` counts nothing.
            resume: as for ``tail_many`` (on by default).
            resume_from: ``{job_id: checkpoint}``, applied when each job is picked up.

        Returns:
            The stream, as ``tail_many`` returns it, started empty.

        Raises:
            ValidationError: (400) a bad ``interval``, ``timeout``, ``protocol``, bound or checkpoint.
        """
        if isinstance(statuses, str):
            statuses = (statuses,)
        wanted = [str(s) for s in statuses]
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
            raise ValidationError(400, f'interval must be a positive number of seconds, not {interval!r}')
        follow = (float(interval), wanted, _positive_int(max_followed, 'max_followed'))
        bounds = (max_connecting, max_buffered_bytes, stream_limits)
        return self._tail_many([], protocol, timeout, bounds, follow, True, resume, resume_from)

    def _tail_many(
        self,
        job_ids: list[str],
        protocol: str,
        timeout: float,
        bounds: Bounds,
        follow: tuple[float, list[str], int] | None,
        keep_open: bool,
        resume: bool | ResumePolicy = True,
        resume_from: Mapping[str, str] | None = None,
    ) -> M:
        raise NotImplementedError

    def _many_args(self, bounds: Bounds) -> tuple[tuple[int | None, int | None, int | None, int | None, int], int, int]:
        max_connecting, max_buffered_bytes, limits = bounds
        return (
            bulk_limits(self._stream_limits).as_tuple() if limits is None else _checked(limits).as_tuple(),
            _positive_int(max_connecting, 'max_connecting'),
            _positive_int(max_buffered_bytes, 'max_buffered_bytes'),
        )
