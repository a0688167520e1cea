"""Bulk tailing, shared by both clients: ``tail_many`` and ``follow_jobs``.

The streams, their ready queue, the connection gate and the byte budget live in the Rust
core (``rust/src/stream/many.rs``); this module only checks and documents the arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

from synapse_agent_rs._core import AgentCore, ResumePolicy
from synapse_agent_rs.clients.exceptions import ValidationError
from synapse_agent_rs.utils.network import StreamLimits

M = TypeVar('M')  # what a bulk tail returns: ManyStream or AsyncManyStream

DEFAULT_MAX_CONNECTING = 64
"""Connections being opened at once, by default."""
DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024
"""Bytes of line text all streams of one bulk tail may buffer together, by default."""


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(400, f'{name} must be a positive int, not {value!r}')
    return value


class BulkTailMixin(Generic[M]):
    """``tail_many`` and ``follow_jobs``; the client says which stream class it returns."""

    _core: AgentCore
    _stream_limits: StreamLimits

    def tail_many(
        self,
        job_ids: Iterable[str],
        *,
        protocol: str = 'auto',
        timeout: float = 30.0,
        max_connecting: int = DEFAULT_MAX_CONNECTING,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        keep_open: bool = False,
        resume: bool | ResumePolicy = True,
        resume_from: Mapping[str, str] | None = None,
    ) -> M:
        """Tails many jobs' logs at once, as one iterator of ``(job_id, line)``.

        Every job is one stream (a task on the shared Rust runtime, with the client's
        ``stream_limits``) feeding one ready queue: the caller waits in one place and is woken
        once per burst of batches, however many jobs there are.

        - ``.batches()`` yields ``(job_id, list[str])`` per batch received; ``.events()``
          yields those and also ``(job_id, None)`` when a job's log completed and
          ``(job_id, error)`` (a ``ClientError``) when its stream failed.
        - Whatever the view, ``.ended`` maps every job that ended so far to ``None`` or its
          ``ClientError`` (the last 10,000 ends, in order), and ``.failures`` holds only the
          failed ones: one job's failure never stops the others, and is never raised from
          the iteration.
        - ``.add(job_id)`` and ``.remove(job_id)`` change the set while it runs (``remove``
          closes that stream at once, drops its buffered lines and reports no end for it);
          ``.jobs`` lists the jobs still streaming. The iteration ends when no job is left
          (never with ``keep_open=True``, for callers that ``add`` jobs as they go, nor for
          ``follow_jobs``) or on ``.close()`` (also ``with``/``async with``).
        - Memory: each stream runs at most ``stream_limits.queue_size`` lines ahead of the
          caller, and all streams together buffer at most ``max_buffered_bytes`` bytes of
          line text (batches being drained included); a stream that finds either bound full
          stops reading, and TCP backpressure slows its agent. On top of that, each stream's
          reader holds the batch it is decoding (at most ``min(queue_size, 4096)`` lines).
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
            keep_open: never end the iteration when no job is left (for callers that ``add``).
            resume: ``True`` (the default ``ResumePolicy()``), ``False`` or a ``ResumePolicy``.
            resume_from: ``{job_id: checkpoint}``: start those jobs right after their checkpoints.

        Raises:
            ValidationError: (400) a bad job id, ``timeout``, ``protocol``, bound, ``resume`` or
                checkpoint (malformed or of another job), before any I/O.
        """
        ids = [job_ids] if isinstance(job_ids, str) else list(job_ids)
        return self._tail_many(
            ids, protocol, timeout, max_connecting, max_buffered_bytes, None, keep_open, resume, resume_from
        )

    def follow_jobs(
        self,
        *,
        interval: float = 2.0,
        statuses: Iterable[str] = ('RUNNING',),
        protocol: str = 'auto',
        timeout: float = 30.0,
        max_connecting: int = DEFAULT_MAX_CONNECTING,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        resume: bool | ResumePolicy = True,
        resume_from: Mapping[str, str] | None = None,
    ) -> M:
        """Tails every job the agent lists as running, picking up new ones as they appear.

        Returns the same stream as :meth:`tail_many`, started empty: every ``interval`` seconds
        the core polls ``list_jobs`` and starts tailing each listed job whose ``status`` is in
        ``statuses`` (by its ``submission_id``, else its ``job_id``) that it did not see in the
        previous listing. A job is tailed once while it stays listed: when its stream ends,
        fails or is removed, it is not tailed again (its log would be replayed). The iteration
        only ends on ``.close()``. A failed poll is kept in ``.poll_error`` (``None`` after
        a good one) and polling goes on. Jobs resume as in :meth:`tail_many`; ``resume_from``
        starts the jobs it names (when they are picked up) right after their checkpoints, so a
        restarted follower hands out no line twice.

        Raises:
            ValidationError: (400) a bad ``interval``, ``timeout``, ``protocol``, bound or checkpoint.
        """
        if isinstance(statuses, str):
            statuses = (statuses,)
        wanted = [str(s) for s in statuses]
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not interval > 0:
            raise ValidationError(400, f'interval must be a positive number of seconds, not {interval!r}')
        follow = (float(interval), wanted)
        return self._tail_many(
            [], protocol, timeout, max_connecting, max_buffered_bytes, follow, True, resume, resume_from
        )

    def _tail_many(
        self,
        job_ids: list[str],
        protocol: str,
        timeout: float,
        max_connecting: int,
        max_buffered_bytes: int,
        follow: tuple[float, list[str]] | None,
        keep_open: bool,
        resume: bool | ResumePolicy = True,
        resume_from: Mapping[str, str] | None = None,
    ) -> M:
        raise NotImplementedError

    def _many_args(
        self, max_connecting: int, max_buffered_bytes: int
    ) -> tuple[tuple[int | None, int | None, int | None, int | None, int], int, int]:
        return (
            self._stream_limits.as_tuple(),
            _positive_int(max_connecting, 'max_connecting'),
            _positive_int(max_buffered_bytes, 'max_buffered_bytes'),
        )
