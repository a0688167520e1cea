"""Fan bulk tailing out over a Ray cluster (``pip install 'synapse-agent-rs[ray]'``).

The job ids are split into shards, one per Ray actor; each actor runs
:meth:`AgentClient.tail_many` on its shard and hands every batch to your sink *inside the
actor*, so lines never travel through the driver. The driver only supervises: it collects
each shard's progress and failures, and when an actor dies it starts a new one for the jobs
of that shard that had not ended yet::

    import ray
    from synapse_agent_rs.ray import FanOut, LogBatch

    def sink(batch: LogBatch) -> None:      # runs in the actor: write to Kafka, a file, ...
        for job_id, seq, line in batch.records():
            ...

    ray.init()
    result = FanOut('https://agent.example.com', token, sink=sink, actors=4).run(job_ids)
    print(result.lines, result.failures)   # {job_id: ClientError}

The sink is a callable taking a :class:`LogBatch`, or a Ray actor handle whose ``write``
method (``sink_method``) is called with one (at most ``max_in_flight`` calls outstanding per
tailing actor, so a slow sink slows the tailing instead of filling the object store).

**Lines may repeat.** A job whose actor died before the driver saw its end is tailed again
from the start by the replacement actor, and the agent replays its log: its lines reach the
sink again. Every line carries its job id and its sequence number within the job's log
(``LogBatch.seq`` is the first line's), the same on every replay, so a sink drops repeats by
keeping, per job, the highest sequence number it has stored (see :class:`CollectingSink`).

``run(follow=True)`` follows every running job instead (each actor polls ``list_jobs`` and
takes the jobs whose id hashes to its shard) until :meth:`FanOut.stop` or ``duration``.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.exceptions import RayActorError

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.agent._many import ProtocolName
from synapse_agent_rs.clients.exceptions import ClientError
from synapse_agent_rs.utils.network import StreamLimits

__all__ = ['CollectingSink', 'FanOut', 'FanOutResult', 'LogBatch', 'ShardProgress', 'shard_of']


@dataclass(frozen=True)
class LogBatch:
    """Lines of one job: ``lines[i]`` is line number ``seq + i`` of the job's log (from 0)."""

    job_id: str
    seq: int
    lines: list[str]

    def records(self) -> Iterator[tuple[str, int, str]]:
        """``(job_id, seq, line)`` for every line."""
        for i, line in enumerate(self.lines):
            yield self.job_id, self.seq + i, line


@dataclass
class ShardProgress:
    """What one shard's actor reported last."""

    shard: int
    attempt: int = 1
    jobs: list[str] = field(default_factory=list)
    lines: int = 0
    completed: list[str] = field(default_factory=list)
    failures: dict[str, ClientError] = field(default_factory=dict)
    running: bool = True
    error: str | None = None
    """Why the shard stopped short: its sink raised, or its actor died too often."""
    seconds: float = 0.0
    """Time this attempt spent tailing, in its actor."""

    def ended(self) -> set[str]:
        return set(self.completed) | set(self.failures)


@dataclass
class FanOutResult:
    """The outcome of a fan-out: per-shard progress and the totals."""

    shards: list[ShardProgress]
    reassignments: int
    seconds: float

    @property
    def lines(self) -> int:
        """Lines handed to sinks, repeats of re-tailed jobs included."""
        return sum(s.lines for s in self.shards)

    @property
    def completed(self) -> list[str]:
        return sorted({j for s in self.shards for j in s.completed})

    @property
    def failures(self) -> dict[str, ClientError]:
        return {j: e for s in self.shards for j, e in s.failures.items()}

    @property
    def errors(self) -> dict[int, str]:
        return {s.shard: s.error for s in self.shards if s.error}


def shard_of(job_id: str, shards: int) -> int:
    """The shard of a job in follow mode: a stable hash of its id (the same in every process)."""
    return zlib.crc32(job_id.encode()) % shards


@dataclass(frozen=True)
class _Settings:
    base_url: str
    agent_token: str = field(repr=False)
    user_token: str | None = field(default=None, repr=False)
    tenant: str | None = field(default=None, repr=False)
    protocol: ProtocolName = 'auto'
    timeout: float = 30.0
    max_connecting: int = 64
    stream_limits: StreamLimits | None = None
    sink_method: str = 'write'
    max_in_flight: int = 16

    def client(self) -> AgentClient:
        client = AgentClient(self.base_url, self.agent_token, user_token=self.user_token, tenant=self.tenant)
        if self.stream_limits is not None:
            client.stream_limits = self.stream_limits
        return client


class _Sink:
    """Delivers batches to a callable, or to an actor with a bounded number of calls in flight."""

    def __init__(self, sink: Any, settings: _Settings) -> None:
        self._call: Callable[[LogBatch], Any] | None = None
        self._method: Any = None
        if isinstance(sink, ray.actor.ActorHandle):
            self._method = getattr(sink, settings.sink_method)
        elif callable(sink):
            self._call = sink
        else:
            raise TypeError('the sink must be a callable or a Ray actor handle')
        self._in_flight: list[Any] = []
        self._max = max(1, settings.max_in_flight)

    def __call__(self, batch: LogBatch) -> None:
        if self._call is not None:
            self._call(batch)
            return
        self._in_flight.append(self._method.remote(batch))
        if len(self._in_flight) >= self._max:
            done, self._in_flight = ray.wait(self._in_flight, num_returns=len(self._in_flight) // 2)
            ray.get(done)  # a sink that raised stops the shard

    def flush(self) -> None:
        ray.get(self._in_flight)
        self._in_flight = []


class _ShardWorker:
    """One shard: tails its jobs (or follows its share of the running jobs) into the sink."""

    def __init__(self, settings: _Settings, progress: ShardProgress, sink: Any, follow: tuple[float, int] | None):
        self._settings = settings
        self._sink = _Sink(sink, settings)
        self._progress = progress
        self._follow = follow
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stream: Any = None

    def run(self) -> ShardProgress:
        client = self._settings.client()
        s = self._settings
        stream = client.tail_many(
            self._progress.jobs,
            protocol=s.protocol,
            timeout=s.timeout,
            max_connecting=s.max_connecting,
            keep_open=self._follow is not None,
        )
        self._stream = stream
        if self._follow is not None:
            threading.Thread(target=self._poll, args=(client, stream), daemon=True).start()
        seq: dict[str, int] = {}
        start = time.perf_counter()
        try:
            with stream:
                for job, item in stream.events():
                    if isinstance(item, list):
                        first = seq.get(job, 0)
                        seq[job] = first + len(item)
                        self._sink(LogBatch(job, first, item))
                        with self._lock:
                            self._progress.lines += len(item)
                    else:
                        with self._lock:
                            if item is None:
                                self._progress.completed.append(job)
                            else:
                                self._progress.failures[job] = item
                    if self._stop.is_set():
                        break
            self._sink.flush()
        except Exception as e:
            with self._lock:
                self._progress.error = f'{type(e).__name__}: {e}'
        with self._lock:
            self._progress.running = False
            self._progress.seconds = time.perf_counter() - start
        return self.progress()

    def _poll(self, client: AgentClient, stream: Any) -> None:
        """Follow mode: adds the running jobs of this shard as they appear."""
        assert self._follow is not None
        interval, shards = self._follow
        seen: set[str] = set()
        while not self._stop.wait(0 if not seen else interval):
            try:
                listed = client.list_jobs()
            except ClientError:
                continue
            running = {str(j.get('submission_id') or j.get('job_id')) for j in listed if j.get('status') == 'RUNNING'}
            for job in sorted(running - seen):
                if shard_of(job, shards) == self._progress.shard and stream.add(job):
                    with self._lock:
                        self._progress.jobs.append(job)
            seen = running | {'\0'}  # never empty after the first poll

    def progress(self) -> ShardProgress:
        with self._lock:
            p = self._progress
            return ShardProgress(
                p.shard,
                p.attempt,
                list(p.jobs),
                p.lines,
                list(p.completed),
                dict(p.failures),
                p.running,
                p.error,
                p.seconds,
            )

    def stop(self) -> None:
        self._stop.set()
        if self._stream is not None:
            self._stream.close()


class FanOut:
    """Tails jobs over `actors` Ray actors, each handing batches to `sink` inside the actor.

    Args:
        base_url, agent_token, user_token, tenant: the agent, as for :class:`AgentClient`
            (the tokens travel to the actors as actor arguments and are never shown in reprs).
        sink: a callable taking a :class:`LogBatch`, or a Ray actor handle (``sink_method``).
        actors: how many tailing actors (shards).
        protocol, timeout, max_connecting: as for :meth:`AgentClient.tail_many`.
        stream_limits: the actors' ``StreamLimits`` (default: the client's defaults).
        actor_options: passed to ``.options()`` of every tailing actor (``num_cpus``, ...).
        max_reassignments: restarts allowed per shard; after that its jobs are left unfinished
            and the shard's ``error`` says so.
        progress_interval: seconds between two progress reports collected by the driver.
        on_progress: called on the driver with the list of :class:`ShardProgress` after each collection.
    """

    def __init__(
        self,
        base_url: str,
        agent_token: str,
        *,
        sink: Any,
        actors: int = 2,
        user_token: str | None = None,
        tenant: str | None = None,
        protocol: ProtocolName = 'auto',
        timeout: float = 30.0,
        max_connecting: int = 64,
        stream_limits: StreamLimits | None = None,
        sink_method: str = 'write',
        max_in_flight: int = 16,
        actor_options: Mapping[str, Any] | None = None,
        max_reassignments: int = 3,
        progress_interval: float = 0.5,
        on_progress: Callable[[list[ShardProgress]], None] | None = None,
    ) -> None:
        if actors < 1:
            raise ValueError('actors must be at least 1')
        self._settings = _Settings(
            base_url,
            agent_token,
            user_token,
            tenant,
            protocol,
            timeout,
            max_connecting,
            stream_limits,
            sink_method,
            max_in_flight,
        )
        self._sink = sink
        self._actors = actors
        self._options = {'num_cpus': 1, 'max_concurrency': 4, **(actor_options or {})}
        self._max_reassignments = max_reassignments
        self._interval = progress_interval
        self._on_progress = on_progress
        self._stop = threading.Event()
        self._handles: dict[int, Any] = {}
        self._runs: dict[int, Any] = {}
        self._progress: dict[int, ShardProgress] = {}
        self._carried: dict[int, ShardProgress] = {}
        self._follow: tuple[float, int] | None = None
        self.reassignments = 0

    def __repr__(self) -> str:
        return f'FanOut(base_url={self._settings.base_url!r}, actors={self._actors})'

    @property
    def handles(self) -> dict[int, Any]:
        """The live tailing actor of each shard."""
        return dict(self._handles)

    def start(self, job_ids: Iterable[str] = (), *, follow: bool = False, interval: float = 2.0) -> FanOut:
        """Starts the actors: one shard of `job_ids` each, or, with `follow`, every running job."""
        ids = list(dict.fromkeys(job_ids))
        self._follow = (interval, self._actors) if follow else None
        for shard in range(self._actors):
            jobs = [] if follow else ids[shard :: self._actors]
            self._launch(ShardProgress(shard, jobs=jobs))
        return self

    def _launch(self, progress: ShardProgress) -> None:
        worker = ray.remote(_ShardWorker).options(**self._options)
        handle: Any = worker.remote(self._settings, progress, self._sink, self._follow)
        self._handles[progress.shard] = handle
        self._runs[progress.shard] = handle.run.remote()
        self._progress[progress.shard] = progress

    def stop(self) -> None:
        """Asks every actor to stop (follow mode's way out); :meth:`wait` then returns."""
        self._stop.set()
        for handle in self._handles.values():
            handle.stop.remote()

    def wait(self, timeout: float | None = None, *, duration: float | None = None) -> FanOutResult:
        """Supervises until every shard ended (or `timeout` passed; `duration` then stops follow mode)."""
        start = time.monotonic()
        while self._runs:
            if duration is not None and time.monotonic() - start >= duration and not self._stop.is_set():
                self.stop()
            if timeout is not None and time.monotonic() - start >= timeout:
                break
            refs = list(self._runs.values())
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=self._interval)
            for shard, ref in list(self._runs.items()):
                if ref in done:
                    self._finish(shard, ref)
            self._collect()
        return FanOutResult(
            [self._merged(s) for s in sorted(self._progress)], self.reassignments, time.monotonic() - start
        )

    def run(
        self, job_ids: Iterable[str] = (), *, follow: bool = False, interval: float = 2.0, duration: float | None = None
    ) -> FanOutResult:
        """``start`` then ``wait``; Ctrl-C stops the actors and returns what was done."""
        self.start(job_ids, follow=follow, interval=interval)
        try:
            return self.wait(duration=duration)
        except KeyboardInterrupt:
            self.stop()
            return self.wait(timeout=10)

    def _finish(self, shard: int, ref: Any) -> None:
        del self._runs[shard]
        try:
            self._progress[shard] = ray.get(ref)
            self._handles.pop(shard, None)
        except RayActorError:
            self._reassign(shard)

    def _reassign(self, shard: int) -> None:
        """The shard's actor died: a new actor takes the jobs whose end the driver never saw."""
        last = self._progress[shard]
        self._carried[shard] = self._merged(shard)
        self._handles.pop(shard, None)
        if self._stop.is_set():
            return
        if last.attempt > self._max_reassignments:
            self._carried[shard].error = f'the actor died {last.attempt} times; jobs left unfinished'
            self._carried[shard].running = False
            return
        ended = self._carried[shard].ended()
        remaining = [job for job in last.jobs if job not in ended]
        self.reassignments += 1
        self._launch(ShardProgress(shard, attempt=last.attempt + 1, jobs=remaining))

    def _merged(self, shard: int) -> ShardProgress:
        """A shard's progress over all its attempts."""
        now = self._progress[shard]
        before = self._carried.get(shard)
        if before is None:
            return now
        return ShardProgress(
            shard,
            now.attempt,
            sorted(set(before.jobs) | set(now.jobs)),
            before.lines + now.lines,
            sorted(set(before.completed) | set(now.completed)),
            {**before.failures, **now.failures},
            now.running,
            now.error or before.error,
            before.seconds + now.seconds,
        )

    def _collect(self) -> None:
        """Asks the running actors for their progress (a dead one is noticed by its run)."""
        asks = {shard: self._handles[shard].progress.remote() for shard in self._runs if shard in self._handles}
        for shard, ref in asks.items():
            try:
                self._progress[shard] = ray.get(ref, timeout=max(self._interval, 1.0) * 5)
            except (RayActorError, ray.exceptions.GetTimeoutError):
                continue
        if self._on_progress is not None:
            self._on_progress([self._merged(s) for s in sorted(self._progress)])


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
