"""Fan bulk tailing out over a Ray cluster (``pip install 'synapse-agent-rs[ray]'``).

A `FanOut` starts ``actors`` Ray actors (spread over the cluster's nodes) and deals the
jobs to them from a work queue held by the driver: each actor tails up to ``jobs_per_actor``
jobs at once with `AgentClient.tail_many` and hands every batch to your sink *inside the
actor*, so lines never travel through the driver. A job goes to the actor with the most room,
when it has room, so a slow actor or a late one never holds the run back. Actors push what
happens (batches delivered, jobs ended) to the driver as it happens; when an actor dies, the
jobs it had not finished go back to the queue and a new actor takes its place::

    import ray
    from synapse_agent_rs.ray import FanOut, LogBatch

    def sink(batch: LogBatch) -> None:      # runs in the actor: write to Kafka, a file, ...
        for job_id, seq, line in batch.records():
            ...

    ray.init()
    result = FanOut('https://agent.example.com', token, sink=sink, actors=4).run(job_ids)
    print(result.lines, result.completed, result.failures)   # failures: {job_id: exception}

See ``docs/ray.md`` for the whole contract; in short:

- **Every job ends once**: in ``completed`` (its stream completed *and* the sink acknowledged
  its last batch) or in ``failures`` (its stream failed, or the sink raised on one of its
  batches: the sink's exception), or, only when the fan-out was stopped first, ``unfinished``.
- **Every line once, numbered.** Every line carries its job id and its number within the
  job's log (``LogBatch.seq`` is the first line's), and every batch the job's checkpoint after
  its last line (``LogBatch.checkpoint``). The actors resume dropped connections (``resume=``,
  on by default), and report to the driver the checkpoint and line count the sink
  acknowledged; when an actor dies, the new actor starts each of its unfinished jobs right
  after the last acknowledged line, numbering on from there. The only lines a sink can be
  handed twice are those of batches it acknowledged (or was still processing) in the last
  moments before the actor died, before the report reached the driver: they come again with
  the same numbers, so a sink that keeps, per job, how many lines it stored drops them (see
  `CollectingSink`). A job whose log no longer matches its checkpoint fails with
  ``LogReplayMismatchError`` (409).
- **No count limits**: the actors' streams count nothing by default; memory is bounded by the
  queue, the message size and the shared byte budget (``max_buffered_bytes``).
- **Nothing leaks**: any exit from `FanOut.run`, an exception out of `FanOut.wait`
  (``on_progress`` raising included), `FanOut.close` and the garbage collection of the
  ``FanOut`` kill its actors, which closes their streams.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import threading
import time
import warnings
import weakref
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

try:
    import ray
    from ray.exceptions import RayActorError, RayTaskError
except ImportError as e:  # pragma: no cover - exercised in a venv without Ray
    raise ImportError("synapse_agent_rs.ray needs Ray: pip install 'synapse-agent-rs[ray]' (or pip install ray)") from e

from synapse_agent_rs.clients.agent import AgentClient, ResumePolicy
from synapse_agent_rs.clients.agent._many import ProtocolName
from synapse_agent_rs.clients.exceptions import ClientError
from synapse_agent_rs.utils.network import StreamLimits

__all__ = [
    'ActorDiedError',
    'ActorProgress',
    'CapacityWarning',
    'CollectingSink',
    'FanOut',
    'FanOutResult',
    'JobCheckpoint',
    'LogBatch',
    'TokenFromEnv',
    'TokenFromFile',
    'default_stream_limits',
    'shard_of',
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024
"""Bytes of line text one actor's streams may buffer together, by default."""


def default_stream_limits() -> StreamLimits:
    """The actors' stream limits by default: nothing counted, memory bounded by queue and message size."""
    return StreamLimits(max_messages=None, max_lines=None, max_bytes=None)


@dataclass(frozen=True)
class LogBatch:
    """Lines of one job: ``lines[i]`` is line number ``seq + i`` of the job's log (from 0)."""

    job_id: str
    seq: int
    lines: list[str]
    checkpoint: str | None = None
    """The job's checkpoint right after the last line of this batch (``None`` with ``resume=False``).

    Store it with the lines to resume the job yourself after them, for instance
    ``FanOut.start(resume_from={job_id: JobCheckpoint(batch.checkpoint, batch.end)})``.
    """

    @property
    def end(self) -> int:
        """The number of the line after this batch: ``seq + len(lines)``."""
        return self.seq + len(self.lines)

    def records(self) -> Iterator[tuple[str, int, str]]:
        """``(job_id, seq, line)`` for every line."""
        for i, line in enumerate(self.lines):
            yield self.job_id, self.seq + i, line


@dataclass(frozen=True)
class TokenFromEnv:
    """A token each process reads from its own environment variable `name` (never shipped by Ray)."""

    name: str

    def read(self) -> str:
        value = os.environ.get(self.name)
        if not value:
            raise ValueError(f'the environment variable {self.name} is not set in this process')
        return value


@dataclass(frozen=True)
class TokenFromFile:
    """A token each process reads from the file at `path` on its own node (never shipped by Ray)."""

    path: str

    def read(self) -> str:
        try:
            value = Path(self.path).read_text(encoding='utf-8').strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f'the token file {self.path} cannot be read: {type(e).__name__}') from None
        if not value:
            raise ValueError(f'the token file {self.path} is empty')
        return value


Token = str | TokenFromEnv | TokenFromFile


def _read(token: Token | None) -> str | None:
    return token.read() if isinstance(token, (TokenFromEnv, TokenFromFile)) else token


class JobCheckpoint(NamedTuple):
    """Where a job stands at its sink: the cursor after the last line acknowledged, and their count."""

    checkpoint: str
    """The job's checkpoint after the last line the sink acknowledged (``tail_many``'s ``resume_from``)."""
    seq: int
    """Lines the sink acknowledged: the number of the job's next line."""


class CapacityWarning(UserWarning):
    """Warned by `FanOut.start` when the cluster has fewer free CPUs than the actors ask for."""


class ActorDiedError(RuntimeError):
    """A job's failure when the actors tailing it died more than ``max_reassignments`` times."""


@dataclass
class ActorProgress:
    """One actor slot of a fan-out, as last reported by its actor."""

    slot: int
    attempt: int = 1
    """1, plus how many times this slot's actor died and was replaced."""
    node: str | None = None
    """The Ray node id the actor runs on (``None`` until it started)."""
    started: bool = False
    alive: bool = True
    jobs: list[str] = field(default_factory=list)
    """The jobs it tails now."""
    lines: int = 0
    """Lines its actors handed to the sink (all attempts)."""


@dataclass
class FanOutResult:
    """What a fan-out did: the jobs' ends, the actors, the follow poll and the times."""

    completed: list[str]
    failures: dict[str, BaseException]
    """Per job: its stream's ``ClientError``, the sink's exception, or an `ActorDiedError`."""
    unfinished: list[str]
    """Jobs handed to the fan-out (or listed, in follow mode) that had not ended when it stopped."""
    lines: int
    """Lines handed to sinks (a batch handed again after its actor died counts again)."""
    actors: list[ActorProgress]
    reassignments: int
    """Jobs handed to a new actor after theirs died."""
    replacements: int
    """Actors started in place of one that died."""
    seconds: float
    """Wall time since ``start()``: actor start-up included."""
    startup_seconds: float | None
    """Time from ``start()`` until the first actor was ready (``None`` if none was)."""
    running: bool
    """Whether the fan-out was still running when this was taken."""
    poll_error: BaseException | None = None
    """Follow mode: the last poll's failure (``None`` after a good poll)."""
    poll_failures: int = 0
    """Follow mode: failed polls so far."""
    notes: list[str] = field(default_factory=list)
    """What the fan-out wants you to know (more actors than free CPUs, an internal error, ...)."""
    checkpoints: dict[str, JobCheckpoint] = field(default_factory=dict)
    """Per job that delivered lines: the checkpoint and count the sink acknowledged, as the
    driver last heard them (with ``resume=False``: none). A job dealt again starts there."""

    @property
    def waiting(self) -> int:
        """Jobs waiting in the driver's queue for an actor with room."""
        return len(self.unfinished) - sum(len(a.jobs) for a in self.actors if a.alive)

    @property
    def tail_seconds(self) -> float:
        """Wall time after the first actor was ready: what tailing itself took."""
        return self.seconds - (self.startup_seconds or 0.0)


def shard_of(job_id: str, shards: int) -> int:
    """A stable hash of a job id into ``range(shards)`` (the same in every process)."""
    return zlib.crc32(job_id.encode()) % shards


@dataclass(frozen=True)
class _Settings:
    base_url: str
    agent_token: Token = field(repr=False)
    user_token: Token | None = field(default=None, repr=False)
    tenant: Token | None = field(default=None, repr=False)
    protocol: ProtocolName = 'auto'
    timeout: float = 30.0
    max_connecting: int = 64
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES
    stream_limits: StreamLimits | None = None
    sink_method: str = 'write'
    max_in_flight: int = 16
    resume: bool | tuple[int, float, float, float, float] = True  # a ResumePolicy's fields (it does not pickle)

    def policy(self) -> bool | ResumePolicy:
        if isinstance(self.resume, bool):
            return self.resume
        attempts, deadline, backoff, max_backoff, jitter = self.resume
        return ResumePolicy(
            attempts=attempts, deadline=deadline, backoff=backoff, max_backoff=max_backoff, jitter=jitter
        )

    def client(self) -> AgentClient:
        agent_token = _read(self.agent_token)
        assert agent_token is not None
        client = AgentClient(self.base_url, agent_token, user_token=_read(self.user_token), tenant=_read(self.tenant))
        client.stream_limits = self.stream_limits if self.stream_limits is not None else default_stream_limits()
        return client


def _cause(error: BaseException) -> BaseException:
    """The sink's own exception behind a Ray task error."""
    if isinstance(error, RayTaskError) and isinstance(getattr(error, 'cause', None), BaseException):
        return error.cause  # type: ignore[no-any-return]
    return error


def _portable(error: BaseException) -> BaseException:
    """`error` if it pickles, else a ``RuntimeError`` with its class name and text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f'{type(error).__name__}: {error}')


_Ack = tuple[str, str | None, int]
"""``(job, checkpoint, end)``: the sink acknowledged the lines of `job` before line `end`."""


@dataclass
class _Call:
    """A batch handed to a sink actor, not yet acknowledged."""

    ref: Any
    checkpoint: str | None
    end: int
    done: bool = False


class _Sink:
    """Delivers batches to a callable, or to an actor with a bounded number of calls in flight.

    A batch is acknowledged when the callable returned, or when the actor's call for it (and
    for every earlier batch of its job) returned: each acknowledgement is answered as an
    `_Ack`. `settle` waits until a job's batches were all acknowledged, and answers the sink's
    exception if any. Thread-safe: the consuming thread sends, the report thread polls.
    """

    def __init__(self, sink: Any, settings: _Settings) -> None:
        self._call: Callable[[LogBatch], Any] | None = None
        self._method: Any = None
        if isinstance(sink, ray.actor.ActorHandle):
            self._method = getattr(sink, settings.sink_method)
        elif callable(sink):
            self._call = sink
        else:
            raise TypeError('the sink must be a callable or a Ray actor handle')
        self._max = max(1, settings.max_in_flight)
        self._lock = threading.Lock()
        self._job_of: dict[Any, str] = {}
        self._by_job: dict[str, deque[_Call]] = {}
        self._errors: dict[str, BaseException] = {}  # a job's first failed call, until settled or forgotten

    def send(self, batch: LogBatch) -> tuple[list[_Ack], list[tuple[str, BaseException]]]:
        """Hands `batch` over; answers the acknowledgements and the ``(job, exception)`` seen meanwhile."""
        if self._call is not None:
            self._call(batch)
            return [(batch.job_id, batch.checkpoint, batch.end)], []
        ref = self._method.remote(batch)
        with self._lock:
            self._job_of[ref] = batch.job_id
            self._by_job.setdefault(batch.job_id, deque()).append(_Call(ref, batch.checkpoint, batch.end))
            full = len(self._job_of) >= self._max
        return self.poll(wait=full)

    def poll(self, wait: bool = False) -> tuple[list[_Ack], list[tuple[str, BaseException]]]:
        """Reaps the calls that returned (with `wait`, until half of those in flight did)."""
        with self._lock:
            refs = list(self._job_of)
        if not refs:
            return [], []
        if wait:
            done, _ = ray.wait(refs, num_returns=max(1, len(refs) // 2))
        else:
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        return self._reap(done)

    def _reap(self, done: list[Any]) -> tuple[list[_Ack], list[tuple[str, BaseException]]]:
        acks: list[_Ack] = []
        failed: list[tuple[str, BaseException]] = []
        with self._lock:
            touched: set[str] = set()
            for ref in done:
                job = self._job_of.pop(ref, None)
                if job is None:
                    continue
                for call in self._by_job.get(job, ()):
                    if call.ref == ref:
                        call.done = True
                try:
                    ray.get(ref)
                except Exception as e:
                    if job not in self._errors:
                        self._errors[job] = _cause(e)
                        failed.append((job, self._errors[job]))
                touched.add(job)
            for job in touched:
                calls = self._by_job.get(job)
                last: _Call | None = None
                while calls and calls[0].done:
                    last = calls.popleft()
                if last is not None and job not in self._errors:
                    acks.append((job, last.checkpoint, last.end))
        return acks, failed

    def settle(self, job: str) -> tuple[list[_Ack], BaseException | None]:
        """Waits until every batch of `job` was acknowledged; the sink's exception, if one raised."""
        with self._lock:
            refs = [call.ref for call in self._by_job.get(job, ())]
        if refs:
            ray.wait(refs, num_returns=len(refs))
        acks, _ = self._reap(refs)
        with self._lock:
            self._by_job.pop(job, None)
            return acks, self._errors.pop(job, None)

    def forget(self, job: str) -> None:
        with self._lock:
            for call in self._by_job.pop(job, ()):
                self._job_of.pop(call.ref, None)
            self._errors.pop(job, None)


class _Tailer:
    """The actor: tails the jobs the driver hands it into the sink, and reports every end."""

    def __init__(self, settings: _Settings, sink: Any) -> None:
        self._sink = _Sink(sink, settings)
        client = settings.client()
        self._resume = settings.policy()
        self._stream = client.tail_many(
            [],
            protocol=settings.protocol,
            timeout=settings.timeout,
            max_connecting=settings.max_connecting,
            max_buffered_bytes=settings.max_buffered_bytes,
            stream_limits=client.stream_limits,
            keep_open=True,
            resume=self._resume,
        )
        self._cond = threading.Condition()
        self._ends: list[tuple[str, BaseException | None]] = []
        self._seq: dict[str, int] = {}  # the jobs tailed now: the number of each one's next line
        self._acks: dict[str, tuple[str | None, int]] = {}  # acknowledged since the last report
        self._lines = 0
        self._stopped = False
        self._finished = False
        self._error: str | None = None
        self._node = ray.get_runtime_context().get_node_id()
        threading.Thread(target=self._consume, name='synapse-fanout-consume', daemon=True).start()

    def add(self, jobs: list[tuple[str, str | None, int]]) -> None:
        """Starts tailing each ``(job, checkpoint, seq)``: right after `checkpoint` (or from the
        start), its lines numbered from `seq`."""
        with self._cond:
            for job, checkpoint, seq in jobs:
                if self._stopped:
                    return
                self._seq[job] = seq
                try:
                    added = self._stream.add(job, resume_from=checkpoint)
                except ClientError as e:
                    self._end(job, e)
                    continue
                if not added:
                    self._end(job, RuntimeError(f'job {job} could not be added to the stream'))

    def _end(self, job: str, error: BaseException | None) -> None:
        """Reports `job`'s end once (caller holds the lock); what still comes for it is dropped."""
        if self._seq.pop(job, None) is None:
            return
        self._ends.append((job, error))
        self._cond.notify_all()

    def _fail(self, job: str, error: BaseException) -> None:
        """A sink failure: the job stops here, with the sink's exception."""
        with self._cond:
            if job not in self._seq:
                return
            self._stream.remove(job)
            self._sink.forget(job)
            self._end(job, error)

    def _acknowledged(self, acks: list[_Ack], failed: list[tuple[str, BaseException]]) -> None:
        with self._cond:
            for job, checkpoint, end in acks:
                if job in self._seq:
                    self._acks[job] = (checkpoint, end)
        for job, error in failed:
            self._fail(job, error)

    def _checkpoint(self, job: str) -> str | None:
        """The job's cursor after the batch just taken (nothing without resume)."""
        if self._resume is False:
            return None
        try:
            return self._stream.checkpoint(job)
        except ClientError:
            return None

    def _consume(self) -> None:
        try:
            for job, item in self._stream.events():
                if job is None:  # only follow mode reports the job listing; this stream never polls
                    continue
                if isinstance(item, list):
                    with self._cond:
                        if job not in self._seq:  # ended or removed: the rest of its batch is dropped
                            continue
                        first = self._seq[job]
                        self._seq[job] = first + len(item)
                    batch = LogBatch(job, first, item, self._checkpoint(job))
                    try:
                        acks, failed = self._sink.send(batch)
                    except Exception as e:
                        acks, failed = [], [(job, e)]
                    with self._cond:
                        self._lines += len(item)
                    self._acknowledged(acks, failed)
                    continue
                if item is None:
                    acks, sink_error = self._sink.settle(job)  # complete only once the sink acknowledged
                    self._acknowledged(acks, [])
                    if sink_error is not None:
                        self._fail(job, sink_error)
                        continue
                else:
                    self._sink.forget(job)
                with self._cond:
                    self._end(job, item)
        except Exception as e:
            self._error = f'{type(e).__name__}: {e}'
        finally:
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    def report(self, wait: float) -> dict[str, Any]:
        """What happened since the last report: blocks up to `wait` seconds for news."""
        with self._cond:
            if not self._ends and not self._finished:
                self._cond.wait(wait)
        self._acknowledged(*self._sink.poll())  # a sink actor's calls that returned meanwhile
        with self._cond:
            # acknowledgements before ends: a job's last checkpoint reaches the driver with its end
            acks, self._acks = self._acks, {}
            ends, self._ends = self._ends, []
            return {
                'acks': [(job, checkpoint, end) for job, (checkpoint, end) in acks.items()],
                'ends': [(job, None if error is None else _portable(error)) for job, error in ends],
                'lines': self._lines,
                'finished': self._finished,
                'error': self._error,
                'node': self._node,
            }

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
        self._stream.close()


@dataclass
class _Slot:
    index: int
    handle: Any
    attempt: int = 1
    started: bool = False
    alive: bool = True
    finished: bool = False
    report: Any = None
    node: str | None = None
    jobs: set[str] = field(default_factory=set)
    lines_before: int = 0  # lines of this slot's earlier actors
    lines: int = 0  # lines of its current actor


class _Supervisor:
    """The driver's side, in its own thread: deals jobs, hears the actors, replaces dead ones.

    Holds no reference to the ``FanOut``, so the ``FanOut`` can be garbage collected (which
    closes this).
    """

    def __init__(self, fan: FanOut) -> None:
        self.settings = fan._settings
        self.sink = fan._sink
        self.options = fan._options
        self.actors = fan._actors
        self.jobs_per_actor = fan._jobs_per_actor
        self.max_reassignments = fan._max_reassignments
        self.grace = fan._grace
        self.lock = threading.Lock()
        self.slots: list[_Slot] = []
        self.pending: deque[str] = deque()
        self.known: dict[str, None] = {}  # every job handed to the fan-out, in order
        self.completed: dict[str, None] = {}
        self.failures: dict[str, BaseException] = {}
        self.attempts: dict[str, int] = {}
        self.acked: dict[str, JobCheckpoint] = {}  # per job: where its sink stands, as last reported
        self.reassignments = 0
        self.replacements = 0
        self.max_replacements = self.actors * max(1, self.max_reassignments)
        self.notes: list[str] = []
        self.poll_error: BaseException | None = None
        self.poll_failures = 0
        self.follow = False
        self.started_at = time.monotonic()
        self.ready_at: float | None = None
        self.ended_at: float | None = None
        self.stopping = threading.Event()
        self.closed = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None

    # driver thread ------------------------------------------------------------------------
    def start(
        self, job_ids: list[str], follow: tuple[float, list[str]] | None, resume_from: dict[str, JobCheckpoint]
    ) -> None:
        self.follow = follow is not None
        self.acked.update(resume_from)
        for job in job_ids:
            self.known[job] = None
            self.pending.append(job)
        self._check_resources()
        for index in range(self.actors):
            self.slots.append(self._launch(index, 1))
        threading.Thread(target=self._run, name='synapse-fanout-supervise', daemon=True).start()
        if follow is not None:
            threading.Thread(target=self._poll, args=follow, name='synapse-fanout-follow', daemon=True).start()

    def _check_resources(self) -> None:
        cpus = float(self.options.get('num_cpus') or 0)
        free = float(ray.available_resources().get('CPU', 0.0))  # type: ignore[no-untyped-call]
        if cpus > 0 and self.actors * cpus > free:
            note = (
                f'{self.actors} actors of {cpus:g} CPU each but {free:g} CPUs free: '
                f'{max(0, self.actors - int(free // cpus))} wait for room and get jobs only once started'
            )
            self.notes.append(note)
            warnings.warn(f'FanOut: {note}', CapacityWarning, stacklevel=4)

    def _launch(self, index: int, attempt: int) -> _Slot:
        worker = ray.remote(_Tailer).options(**self.options)
        handle: Any = worker.remote(self.settings, self.sink)
        slot = _Slot(index, handle, attempt)
        slot.report = handle.report.remote(0.0)  # answers once the actor started
        return slot

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        """Kills every actor now (their streams close with them) and ends the supervision."""
        self.stopping.set()
        self.closed.set()
        with self.lock:
            slots = list(self.slots)
        for slot in slots:
            with contextlib.suppress(Exception):
                ray.kill(slot.handle)
        self.done.wait(10)

    # supervisor thread --------------------------------------------------------------------
    def _run(self) -> None:
        stop_sent: float | None = None
        try:
            while not self.closed.is_set():
                if self.stopping.is_set() and stop_sent is None:
                    stop_sent = time.monotonic()
                    self._send_stop()
                with self.lock:
                    alive = [s for s in self.slots if s.alive and not s.finished]
                    idle = not self.pending and not any(s.jobs for s in self.slots)
                if stop_sent is not None and (not alive or time.monotonic() - stop_sent > self.grace):
                    break
                if stop_sent is None and not self.follow and idle:
                    break
                if not alive:
                    self._no_actor_left()
                    break
                self._deal()
                refs = [s.report for s in alive]
                ready, _ = ray.wait(refs, num_returns=1, timeout=0.5)
                if ready:
                    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                for slot in alive:
                    if slot.report in ready:
                        self._hear(slot)
        except Exception as e:
            self.error = e
            self.notes.append(f'the supervision failed: {type(e).__name__}: {e}')
        finally:
            self.ended_at = time.monotonic()
            self._kill_all()
            self.done.set()

    def _send_stop(self) -> None:
        with self.lock:
            slots = [s for s in self.slots if s.alive]
        for slot in slots:
            if slot.started:
                slot.handle.stop.remote()
            else:  # never started (no room on the cluster): nothing to stop gracefully
                slot.alive = False
                ray.kill(slot.handle)

    def _kill_all(self) -> None:
        """Kills every actor and waits (10 s at most) until Ray knows them dead: their CPUs are free again."""
        with self.lock:
            slots = list(self.slots)
            for slot in slots:
                slot.alive = False
        probes = []
        for slot in slots:
            with contextlib.suppress(Exception):
                ray.kill(slot.handle)
                probes.append(slot.handle.report.remote(0.0))
        with contextlib.suppress(Exception):
            ray.wait(probes, num_returns=len(probes), timeout=10)

    def _deal(self) -> None:
        """Hands waiting jobs to the started actors with the most room."""
        if self.stopping.is_set():
            return
        with self.lock:
            ready = [s for s in self.slots if s.alive and s.started and not s.finished]
            given: dict[int, list[tuple[str, str | None, int]]] = {}
            while self.pending and ready:
                slot = min(ready, key=lambda s: len(s.jobs))
                if len(slot.jobs) >= self.jobs_per_actor:
                    break
                job = self.pending.popleft()
                slot.jobs.add(job)
                at = self.acked.get(job)  # after the last line its sink acknowledged, numbering on
                given.setdefault(slot.index, []).append((job, None, 0) if at is None else (job, *at))
        for slot in ready:
            if slot.index in given:
                slot.handle.add.remote(given[slot.index])

    def _hear(self, slot: _Slot) -> None:
        try:
            news = ray.get(slot.report)
        except RayActorError as e:
            self._died(slot, e)
            return
        with self.lock:
            if not slot.started:
                slot.started = True
                if self.ready_at is None:
                    self.ready_at = time.monotonic()
            slot.node = news['node']
            slot.lines = news['lines']
            for job, checkpoint, end in news['acks']:
                if job in slot.jobs and checkpoint is not None:
                    self.acked[job] = JobCheckpoint(checkpoint, end)
            for job, error in news['ends']:
                if job not in slot.jobs:
                    continue
                slot.jobs.discard(job)
                self._ended(job, error)
            if news['error']:
                self.notes.append(f'actor {slot.index}: {news["error"]}')
            finished = news['finished']
            if finished and self.stopping.is_set():
                slot.finished = True
                self.pending.extendleft(reversed(sorted(slot.jobs)))  # a stopped actor's jobs are unfinished
                slot.jobs.clear()
                return
        if finished:  # ended by itself (its stream failed): as good as dead
            with contextlib.suppress(Exception):
                ray.kill(slot.handle)
            self._died(slot)
            return
        slot.report = slot.handle.report.remote(0.5)

    def _ended(self, job: str, error: BaseException | None) -> None:
        """Records the (latest) end of `job`: exactly one of completed or failures (lock held)."""
        self.completed.pop(job, None)
        self.failures.pop(job, None)
        if error is None:
            self.completed[job] = None
        else:
            self.failures[job] = error

    def _died(self, slot: _Slot, error: BaseException | None = None) -> None:
        """The actor died: its unfinished jobs go back to the queue, and a new actor takes its slot."""
        with self.lock:
            slot.alive = False
            if error is not None and not self.stopping.is_set():
                why = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
                self.notes.append(f'actor {slot.index} (attempt {slot.attempt}) died: {why[:300]}')
            lost = sorted(slot.jobs)
            slot.jobs.clear()
            requeue: list[str] = []
            for job in lost:
                self.attempts[job] = self.attempts.get(job, 0) + 1
                if self.attempts[job] > self.max_reassignments:
                    self._ended(job, ActorDiedError(f'the actors tailing job {job} died {self.attempts[job]} times'))
                else:
                    requeue.append(job)
            if self.stopping.is_set():
                self.pending.extendleft(reversed(requeue))
                return
            self.reassignments += len(requeue)
            self.pending.extendleft(reversed(requeue))
            if self.replacements >= self.max_replacements:
                self.notes.append(f'actor {slot.index} died; not replaced ({self.replacements} replacements so far)')
                return
            self.replacements += 1
            new = self._launch(slot.index, slot.attempt + 1)
            new.lines_before = slot.lines_before + slot.lines
            self.slots[self.slots.index(slot)] = new

    def _no_actor_left(self) -> None:
        with self.lock:
            if self.stopping.is_set():
                return
            error = ActorDiedError('no tailing actor is left')
            while self.pending:
                self._ended(self.pending.popleft(), error)

    def _poll(self, interval: float, statuses: list[str]) -> None:
        """Follow mode: lists the jobs every `interval` (backing off on failures) and queues new ones.

        Any exception of a round (not only a ``ClientError``) is a failed poll: reported,
        logged once per change, and retried later; the thread only ends with the fan-out.
        """
        previous: set[str] = set()
        delay = 0.0
        client: AgentClient | None = None
        try:
            while not self.stopping.wait(delay):
                try:
                    if client is None:
                        client = self.settings.client()
                    running = set(_running(client.list_jobs(), statuses))
                    if self.stopping.is_set():
                        break
                    self._queue_listed(running, previous)
                except Exception as e:
                    with self.lock:
                        if self.poll_error is None or type(self.poll_error) is not type(e):
                            logger.warning('FanOut: polling list_jobs failed: %s', e)
                        self.poll_error = e
                        self.poll_failures += 1
                        streak = self.poll_failures
                    delay = min(interval * 2 ** min(streak, 16), max(interval, 60.0))
                    continue
                previous = running
                delay = interval
        finally:
            if client is not None:
                client.close()

    def _queue_listed(self, running: set[str], previous: set[str]) -> None:
        """Queues the jobs that appeared in the listing; drops waiting ones no longer listed."""
        with self.lock:
            if self.poll_error is not None:
                logger.warning('FanOut: polling list_jobs works again')
            self.poll_error = None
            self.poll_failures = 0
            active = {job for s in self.slots if s.alive for job in s.jobs}
            waiting = set(self.pending)
            for job in sorted(running - previous - active - waiting):
                self.known[job] = None
                self.pending.append(job)
            kept = [job for job in self.pending if job in running]
            self.pending.clear()
            self.pending.extend(kept)

    # snapshots ----------------------------------------------------------------------------
    def snapshot(self) -> FanOutResult:
        with self.lock:
            ended = set(self.completed) | set(self.failures)
            actors = [
                ActorProgress(s.index, s.attempt, s.node, s.started, s.alive, sorted(s.jobs), s.lines_before + s.lines)
                for s in self.slots
            ]
            end = self.ended_at if self.ended_at is not None else time.monotonic()
            return FanOutResult(
                completed=list(self.completed),
                failures=dict(self.failures),
                unfinished=[job for job in self.known if job not in ended],
                lines=sum(a.lines for a in actors),
                actors=actors,
                reassignments=self.reassignments,
                replacements=self.replacements,
                seconds=end - self.started_at,
                startup_seconds=None if self.ready_at is None else self.ready_at - self.started_at,
                running=not self.done.is_set(),
                poll_error=self.poll_error,
                poll_failures=self.poll_failures,
                notes=list(self.notes),
                checkpoints=dict(self.acked),
            )


def _running(listed: Any, statuses: list[str]) -> list[str]:
    """The ids of the listed jobs in `statuses`; a listing of another shape is an error."""
    if not isinstance(listed, list):
        raise ClientError(502, f'list_jobs answered a {type(listed).__name__}, not a list')
    out: list[str] = []
    for job in listed:
        if isinstance(job, dict) and job.get('status') in statuses:
            job_id = job.get('submission_id') or job.get('job_id')
            if isinstance(job_id, str) and job_id:
                out.append(job_id)
    return out


class FanOut:
    """Tails jobs over `actors` Ray actors, each handing batches to `sink` inside the actor.

    Args:
        base_url: The agent, as for `AgentClient`.
        agent_token: The agent token: a ``str`` (it then travels to the actors as a pickled
            actor argument, held by Ray's GCS), or `TokenFromEnv` /
            `TokenFromFile` to have every process read it where it runs.
        sink: A callable taking a `LogBatch`, or a Ray actor handle (``sink_method``).
        actors: How many tailing actors.
        user_token: As `agent_token`, for ``SYNAPSE-User``.
        tenant: As `agent_token`, for ``SYNAPSE-Tenant``.
        protocol: As for `AgentClient.tail_many`.
        timeout: As for `AgentClient.tail_many`.
        max_connecting: As for `AgentClient.tail_many` (per actor).
        max_buffered_bytes: Bytes of line text one actor's streams buffer together at most.
        stream_limits: The actors' ``StreamLimits``; by default none is counted
            (`default_stream_limits`): memory is bounded by ``queue_size``,
            ``max_message_size`` and `max_buffered_bytes`.
        sink_method: The method of a sink actor that takes the batches.
        max_in_flight: Calls to a sink actor outstanding per tailing actor.
        jobs_per_actor: Jobs one actor tails at once (default 1000: about 40 KiB per quiet
            stream plus the shared ``max_buffered_bytes``; a smaller value dealt jobs in small
            steps and halved the rate of 1,000 short jobs); the others wait in the driver's queue
            and go to the first actor with room (in follow mode too: running jobs beyond
            ``actors * jobs_per_actor`` wait, counted in ``FanOutResult.waiting``).
        actor_options: Passed to ``.options()`` of every tailing actor; the defaults are
            ``num_cpus=1``, ``max_concurrency=4`` (at least 3 is kept) and
            ``scheduling_strategy='SPREAD'`` (actors spread over the nodes).
        max_reassignments: How many times a job goes to a new actor after its actor died;
            after that it fails with `ActorDiedError`. Dead actors are replaced up to
            ``actors * max_reassignments`` times in all.
        progress_interval: Seconds between two calls of `on_progress` in `wait`.
        on_progress: Called in `wait`'s thread with a `FanOutResult` snapshot; an
            exception it raises ends the fan-out (actors killed) and comes out of `wait`.
        stop_grace: Seconds stopped actors get to report before they are killed.
        resume: The actors' streams resume dropped connections (``True``, the default
            ``ResumePolicy()``; or a ``ResumePolicy``), handing every line to the sink once, and
            a job whose actor died resumes after the last line its sink acknowledged. ``False``:
            a drop fails the job (503), batches carry no checkpoint, and a job dealt again is
            tailed from line 0 (or its ``resume_from`` checkpoint), its numbers starting there
            again (the sink drops the repeats by number).

    Raises:
        ValueError: `actors` or `jobs_per_actor` is below 1.
        TypeError: `sink` is neither a callable nor a Ray actor handle.
        ValidationError: (400) a bad `base_url` or `agent_token`, before any actor starts.
    """

    def __init__(
        self,
        base_url: str,
        agent_token: Token,
        *,
        sink: Any,
        actors: int = 2,
        user_token: Token | None = None,
        tenant: Token | None = None,
        protocol: ProtocolName = 'auto',
        timeout: float = 30.0,
        max_connecting: int = 64,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        stream_limits: StreamLimits | None = None,
        sink_method: str = 'write',
        max_in_flight: int = 16,
        jobs_per_actor: int = 1000,
        actor_options: Mapping[str, Any] | None = None,
        max_reassignments: int = 3,
        progress_interval: float = 0.5,
        on_progress: Callable[[FanOutResult], None] | None = None,
        stop_grace: float = 10.0,
        resume: bool | ResumePolicy = True,
    ) -> None:
        if actors < 1:
            raise ValueError('actors must be at least 1')
        if jobs_per_actor < 1:
            raise ValueError('jobs_per_actor must be at least 1')
        if not (isinstance(sink, ray.actor.ActorHandle) or callable(sink)):
            raise TypeError('the sink must be a callable or a Ray actor handle')
        # A bad URL or token is refused here, before any actor starts (no I/O; a token read
        # from the environment or a file is checked where it is read).
        AgentClient(base_url, agent_token if isinstance(agent_token, str) else 'unread').close()
        if isinstance(resume, ResumePolicy):
            policy: bool | tuple[int, float, float, float, float] = (
                resume.attempts,
                resume.deadline,
                resume.backoff,
                resume.max_backoff,
                resume.jitter,
            )
        elif isinstance(resume, bool):
            policy = resume
        else:
            raise TypeError('resume must be True, False or a ResumePolicy')
        self._settings = _Settings(
            base_url,
            agent_token,
            user_token,
            tenant,
            protocol,
            timeout,
            max_connecting,
            max_buffered_bytes,
            stream_limits,
            sink_method,
            max_in_flight,
            policy,
        )
        self._sink = sink
        self._actors = actors
        self._jobs_per_actor = jobs_per_actor
        options = {'num_cpus': 1, 'max_concurrency': 4, 'scheduling_strategy': 'SPREAD', **(actor_options or {})}
        options['max_concurrency'] = max(3, int(options['max_concurrency']))  # report, add and stop side by side
        self._options = options
        self._max_reassignments = max_reassignments
        self._interval = progress_interval
        self._on_progress = on_progress
        self._grace = stop_grace
        self._supervisor: _Supervisor | None = None
        self._finalizer: Any = None

    def __repr__(self) -> str:
        return f'FanOut(base_url={self._settings.base_url!r}, actors={self._actors})'

    @property
    def handles(self) -> dict[int, Any]:
        """The live tailing actor of each slot."""
        sup = self._supervisor
        if sup is None:
            return {}
        with sup.lock:
            return {s.index: s.handle for s in sup.slots if s.alive}

    def start(
        self,
        job_ids: Iterable[str] = (),
        *,
        follow: bool = False,
        interval: float = 2.0,
        statuses: Iterable[str] = ('RUNNING',),
        resume_from: Mapping[str, JobCheckpoint | tuple[str, int]] | None = None,
    ) -> FanOut:
        """Starts the actors and the driver's supervision; returns at once.

        Args:
            job_ids: The jobs to tail (ignored with `follow`).
            follow: Follow every job the agent lists with a status in `statuses` instead: the
                driver polls ``list_jobs`` every `interval` seconds (doubling the wait after
                each failed poll, up to a minute; every failure is in ``poll_error`` and
                logged once per change) and queues the jobs that appear, until `stop`.
                A job that leaves the listing and comes back resumes after the last line
                its sink acknowledged (from line 0 with ``resume=False``).
            interval: Seconds between two polls.
            statuses: The statuses followed.
            resume_from: ``{job_id: JobCheckpoint(checkpoint, seq)}``: start those jobs right
                after `checkpoint`, numbering their lines from `seq` (what an earlier run's
                ``result.checkpoints`` or your sink's stored ``LogBatch.checkpoint`` and
                ``LogBatch.end`` say). A malformed checkpoint, or one of another job, fails
                that job with a ``ValidationError`` (400).

        Raises:
            RuntimeError: Already started.
        """
        if self._supervisor is not None:
            raise RuntimeError('this FanOut was started already')
        sup = _Supervisor(self)
        self._supervisor = sup
        self._finalizer = weakref.finalize(self, sup.close)
        self._finalizer.atexit = False  # at exit, Ray ends the driver's actors itself
        ids = [] if follow else list(dict.fromkeys(str(job) for job in job_ids))
        wanted = [statuses] if isinstance(statuses, str) else [str(s) for s in statuses]
        origins = {str(job): JobCheckpoint(str(at[0]), int(at[1])) for job, at in (resume_from or {}).items()}
        sup.start(ids, (float(interval), wanted) if follow else None, origins)
        return self

    def stop(self) -> None:
        """Asks every actor to stop (follow mode's way out): `wait` then returns.

        Actors that never started are killed at once; started ones report what they finished
        and are killed after ``stop_grace`` seconds at most. Jobs not ended are ``unfinished``.
        """
        if self._supervisor is not None:
            self._supervisor.stop()

    def close(self) -> None:
        """Kills every actor now (closing their streams); what they did not report is ``unfinished``."""
        if self._finalizer is not None:
            self._finalizer()

    def progress(self) -> FanOutResult:
        """A snapshot of the fan-out now (kept current by the actors' reports)."""
        if self._supervisor is None:
            raise RuntimeError('this FanOut was not started')
        return self._supervisor.snapshot()

    def wait(self, timeout: float | None = None, *, duration: float | None = None) -> FanOutResult:
        """Waits until every job ended (or the fan-out was stopped), calling `on_progress`.

        Args:
            timeout: Return a snapshot after this many seconds even if it still runs (then
                ``result.running`` is ``True`` and the actors go on: call `stop` or
                `close`).
            duration: Call `stop` after this many seconds (follow mode's end).

        Returns:
            The final `FanOutResult` (``running`` is ``False``).

        Raises:
            BaseException: Whatever `on_progress` raised, Ctrl-C, or an internal failure of the
                supervision: the fan-out is closed (actors killed) before it propagates.
        """
        sup = self._supervisor
        if sup is None:
            raise RuntimeError('this FanOut was not started')
        start = time.monotonic()
        try:
            while True:
                elapsed = time.monotonic() - start
                if duration is not None and elapsed >= duration:
                    sup.stop()
                if timeout is not None and elapsed >= timeout:
                    return sup.snapshot()
                step = self._interval
                for limit in (duration, timeout):
                    if limit is not None and limit > elapsed:
                        step = min(step, limit - elapsed)
                ended = sup.done.wait(max(step, 0.01))
                if self._on_progress is not None:
                    self._on_progress(sup.snapshot())
                if ended:
                    break
            if sup.error is not None:
                raise sup.error
            return sup.snapshot()
        except BaseException:
            self.close()
            raise

    def run(
        self,
        job_ids: Iterable[str] = (),
        *,
        follow: bool = False,
        interval: float = 2.0,
        duration: float | None = None,
        resume_from: Mapping[str, JobCheckpoint | tuple[str, int]] | None = None,
    ) -> FanOutResult:
        """``start`` then ``wait``; every way out kills the actors.

        Ctrl-C stops the actors and returns what was done; any other exception (from
        `on_progress`, say) propagates after the actors were killed.
        """
        self.start(job_ids, follow=follow, interval=interval, resume_from=resume_from)
        try:
            try:
                return self.wait(duration=duration)
            except KeyboardInterrupt:
                return self.progress()
        finally:
            self.close()

    def __enter__(self) -> FanOut:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CollectingSink:
    """A sink actor's body that keeps every line once: repeats of a re-tailed job are dropped.

    Use as ``ray.remote(CollectingSink).remote()``; for tests and small pipelines (it holds
    every line in memory). ``lines()`` answers ``{job_id: [line, ...]}`` in log order.
    """

    def __init__(self) -> None:
        self._lines: dict[str, list[str]] = {}
        self.repeats = 0

    def write(self, batch: LogBatch) -> int:
        """Stores the new lines of `batch`; answers how many were repeats."""
        stored = self._lines.setdefault(batch.job_id, [])
        repeats = 0
        for _, seq, line in batch.records():
            if seq < len(stored):
                repeats += 1
            elif seq == len(stored):
                stored.append(line)
            else:
                raise ValueError(f'{batch.job_id}: line {seq} arrived before line {len(stored)}')
        self.repeats += repeats
        return repeats

    def lines(self) -> dict[str, list[str]]:
        return self._lines

    def stats(self) -> dict[str, int]:
        return {'jobs': len(self._lines), 'lines': sum(map(len, self._lines.values())), 'repeats': self.repeats}
