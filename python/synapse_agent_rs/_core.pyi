"""Type stubs of the Rust extension ``synapse_agent_rs._core``."""

from collections.abc import AsyncIterator, Awaitable, Generator, Iterator, Sequence
from os import PathLike
from typing import Any, Generic, Literal, NoReturn, TypeVar, final

from synapse_agent_rs.clients.exceptions import ClientError

__all__ = [
    'AgentCore',
    'ArrowBatch',
    'ArrowStream',
    'AsyncArrowStream',
    'AsyncCall',
    'AsyncLineStream',
    'AsyncManyStream',
    'BatchIter',
    'Done',
    'FakeAgentCore',
    'Hub',
    'LineStream',
    'ManyIter',
    'ManyStream',
    'ResumePolicy',
    '__version__',
    'http_to_websocket_url',
    'path_segment',
    'sanitize_error_message',
    'validate_resource_id',
    'validate_timeout',
]

__version__: str

# --- client (owned by the core) ---

def validate_resource_id(resource_id: object, resource_name: str = 'resource') -> str: ...
def validate_timeout(timeout: object, max_timeout: float = 300.0) -> float: ...
def path_segment(value: str, name: str = 'name') -> str: ...
def http_to_websocket_url(url: str) -> str: ...
def sanitize_error_message(error_msg: str, context: str = '', *, secrets: Sequence[str] = ...) -> str: ...

_Limits = tuple[int | None, int | None, int | None, int | None, int]

@final
class AgentCore:
    def __new__(
        cls,
        base_url: str,
        agent_token: str,
        user_token: str | None = None,
        tenant: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        *,
        verify: bool | str | None = None,
        cert: tuple[str, str | None] | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        headers: list[tuple[str, str]] | None = None,
        user_agent: str | None = None,
    ) -> AgentCore: ...
    @property
    def base_url(self) -> str: ...
    @property
    def max_response_size(self) -> int: ...
    @max_response_size.setter
    def max_response_size(self, value: object) -> None: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def request(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
        read_timeout: float | None = None,
    ) -> Any: ...
    def request_async(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
        read_timeout: float | None = None,
    ) -> AsyncCall: ...
    def tail(
        self,
        job_id: object,
        timeout: object,
        protocol: object,
        limits: _Limits,
        log: Any | None = None,
        resume: object = None,
        resume_from: object = None,
    ) -> LineStream: ...
    def tail_async(
        self,
        job_id: object,
        timeout: object,
        protocol: object,
        limits: _Limits,
        log: Any | None = None,
        resume: object = None,
        resume_from: object = None,
    ) -> AsyncLineStream: ...
    def tail_many(
        self,
        job_ids: Sequence[object],
        timeout: object,
        protocol: object,
        limits: _Limits,
        max_connecting: int,
        max_buffered_bytes: int,
        follow: tuple[float, list[str], int] | None = None,
        keep_open: bool = False,
        resume: object = None,
        resume_from: dict[str, object] | None = None,
    ) -> ManyStream: ...
    def tail_many_async(
        self,
        job_ids: Sequence[object],
        timeout: object,
        protocol: object,
        limits: _Limits,
        max_connecting: int,
        max_buffered_bytes: int,
        follow: tuple[float, list[str], int] | None = None,
        keep_open: bool = False,
        resume: object = None,
        resume_from: dict[str, object] | None = None,
    ) -> AsyncManyStream: ...

@final
class ResumePolicy:
    """How a log stream resumes after a transient failure (``resume=ResumePolicy(...)``).

    ``attempts`` and ``deadline`` bound one outage (both start again once a new line comes
    through); waits grow from ``backoff`` (doubling) to ``max_backoff``, ``jitter`` of each at random.
    """

    def __new__(
        cls,
        *,
        attempts: int = 10,
        deadline: float = 300.0,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        jitter: float = 0.5,
    ) -> ResumePolicy: ...
    @property
    def attempts(self) -> int: ...
    @property
    def deadline(self) -> float: ...
    @property
    def backoff(self) -> float: ...
    @property
    def max_backoff(self) -> float: ...
    @property
    def jitter(self) -> float: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class LineStream:
    """The lines of one job's log, as they arrive: what ``AgentClient.tail_job_logs`` returns.

    Iterate it (``for line in stream``), or iterate ``stream.batches()`` for ``list[str]`` per
    batch received. ``close()``, leaving a ``with stream:`` block, ``break`` or garbage
    collection close the connection at once. ``protocol``, ``state`` and the counters
    ``lines``, ``messages`` and ``bytes`` say what the stream did so far (the counters are
    updated once per batch received, so they may run ahead of what you iterated).
    """

    def __iter__(self) -> Iterator[str]: ...
    def __next__(self) -> str: ...
    def batches(self) -> BatchIter:
        """Iterates ``list[str]``, one list per batch received, for bulk consumers."""
    def arrow(
        self, *, max_rows: int | None = None, max_bytes: int | None = None, max_delay: float | None = None
    ) -> ArrowStream:
        """Iterates Arrow record batches of the lines (``job_id``, ``seq``, ``line``); see ``docs/arrow.md``.

        Args:
            max_rows: Rows per batch at most (default 32,768).
            max_bytes: A batch is handed out once it holds about this many bytes of text (default 4 MiB).
            max_delay: Seconds the first row of a batch waits for more before the batch is handed out
                (default 0.1), so a quiet job's lines still arrive.

        Returns:
            The batches; also an Arrow stream (``__arrow_c_stream__``, sync only) and ``.to_parquet(path)``.

        Raises:
            ValidationError: A sizing argument is out of range (400). Iterating raises what the line API
                raises, after the rows received before the error (bulk streams: nothing, see ``.failures``).
        """
    def close(self) -> None:
        """Closes the connection at once; the iteration ends. Safe to call more than once."""
    @property
    def open(self) -> bool:
        """Whether the stream is still open (not ended, failed or closed)."""
    @property
    def job_id(self) -> str:
        """The job whose log this is."""
    @property
    def protocol(self) -> Literal['websocket', 'http'] | None:
        """The protocol in use once connected (what ``'auto'`` chose); ``None`` before."""
    @property
    def state(self) -> Literal['connecting', 'open', 'ended', 'failed', 'closed']:
        """``'ended'`` is a normal end, ``'failed'`` an end with an error, ``'closed'`` your ``close()``."""
    @property
    def lines(self) -> int:
        """Lines received for you so far (at most ``queue_size`` ahead of what you iterated)."""
    @property
    def messages(self) -> int:
        """Items received so far, as the limits count them: WebSocket messages or HTTP lines."""
    @property
    def bytes(self) -> int:
        """Payload bytes received so far, as ``max_bytes`` counts them."""
    @property
    def resumes(self) -> int:
        """How many times the stream resumed on a new connection after a transient failure."""
    def checkpoint(self) -> str:
        """The cursor after the last line handed out, naming the job (at most 128 characters).

        Raises:
            ValidationError: (400) the stream keeps no cursor (opened without ``resume`` or ``resume_from``).
        """
    def __enter__(self) -> LineStream: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

@final
class BatchIter:
    """The ``.batches()`` view of a ``LineStream``: ``list[str]`` per batch received."""

    def __iter__(self) -> BatchIter: ...
    def __next__(self) -> list[str]: ...
    def close(self) -> None:
        """Closes the underlying stream."""
    @property
    def stream(self) -> LineStream:
        """The stream these batches come from."""

@final
class AsyncLineStream:
    """The lines of one job's log for ``async for``: what ``AsyncAgentClient.tail_job_logs`` returns.

    Use ``async for line in stream`` (or ``async for batch in stream.batches()`` for
    ``list[str]`` per batch received). ``async with stream:`` closes it on exit, as do
    ``aclose()``, ``close()``, cancelling the task and garbage collection. Iterating it
    synchronously (``for``, ``list()``) raises ``TypeError``. ``protocol``, ``state`` and the
    counters ``lines``, ``messages`` and ``bytes`` are those of ``LineStream``.
    """

    def __aiter__(self) -> AsyncIterator[str]: ...
    def __anext__(self) -> Awaitable[str]:
        """The awaitable of the next line; each is awaited once."""
    def __iter__(self) -> NoReturn:
        """Raises ``TypeError``: use ``async for``."""
    def batches(self) -> AsyncIterator[list[str]]:
        """Makes ``async for`` yield ``list[str]`` per batch received instead of single lines."""
    def arrow(
        self, *, max_rows: int | None = None, max_bytes: int | None = None, max_delay: float | None = None
    ) -> AsyncArrowStream:
        """Async-iterates Arrow record batches of the lines (``job_id``, ``seq``, ``line``); see ``docs/arrow.md``.

        Args:
            max_rows: Rows per batch at most (default 32,768).
            max_bytes: A batch is handed out once it holds about this many bytes of text (default 4 MiB).
            max_delay: Seconds the first row of a batch waits for more before the batch is handed out
                (default 0.1), so a quiet job's lines still arrive.

        Returns:
            The batches; also an Arrow stream (``__arrow_c_stream__``, sync only) and ``.to_parquet(path)``.

        Raises:
            ValidationError: A sizing argument is out of range (400). Iterating raises what the line API
                raises, after the rows received before the error (bulk streams: nothing, see ``.failures``).
        """
    def close(self) -> None:
        """Closes the connection at once; the iteration ends."""
    def aclose(self) -> Done:
        """Closes the connection (awaitable, like an async generator's ``aclose``)."""
    def __aenter__(self) -> Awaitable[AsyncLineStream]: ...
    def __aexit__(self, exc_type: object, exc: object, tb: object) -> Done: ...
    @property
    def open(self) -> bool:
        """Whether the stream is still open (not ended, failed or closed)."""
    @property
    def job_id(self) -> str:
        """The job whose log this is."""
    @property
    def protocol(self) -> Literal['websocket', 'http'] | None:
        """The protocol in use once connected (what ``'auto'`` chose); ``None`` before."""
    @property
    def state(self) -> Literal['connecting', 'open', 'ended', 'failed', 'closed']:
        """``'ended'`` is a normal end, ``'failed'`` an end with an error, ``'closed'`` your ``close()``."""
    @property
    def lines(self) -> int:
        """Lines received for you so far (at most ``queue_size`` ahead of what you iterated)."""
    @property
    def messages(self) -> int:
        """Items received so far, as the limits count them: WebSocket messages or HTTP lines."""
    @property
    def bytes(self) -> int:
        """Payload bytes received so far, as ``max_bytes`` counts them."""
    @property
    def resumes(self) -> int:
        """How many times the stream resumed on a new connection after a transient failure."""
    def checkpoint(self) -> str:
        """The cursor after the last line handed out, naming the job (at most 128 characters).

        Raises:
            ValidationError: (400) the stream keeps no cursor (opened without ``resume`` or ``resume_from``).
        """

# --- bulk tailing (owned by rust/src/stream/many.rs, rust/src/py/many.rs) ---

# An `.events()` item: a batch, `None` when the job completed, its ClientError when it failed.
# `(job_id, lines)`, `(job_id, None)` (completed), `(job_id, error)` (failed); with `follow_jobs`
# also `(None, error)` when the job listing starts failing or fails differently, `(None, None)`
# when it works again.
_Event = tuple[str, list[str] | ClientError | None] | tuple[None, ClientError | None]
_Item = TypeVar('_Item', covariant=True)

@final
class ManyStream:
    def __iter__(self) -> ManyStream: ...
    def __next__(self) -> tuple[str, str]: ...
    def batches(self) -> ManyIter[tuple[str, list[str]]]: ...
    def events(self) -> ManyIter[_Event]: ...
    def arrow(
        self, *, max_rows: int | None = None, max_bytes: int | None = None, max_delay: float | None = None
    ) -> ArrowStream:
        """Iterates Arrow record batches of the lines (``job_id``, ``seq``, ``line``); see ``docs/arrow.md``.

        Args:
            max_rows: Rows per batch at most (default 32,768).
            max_bytes: A batch is handed out once it holds about this many bytes of text (default 4 MiB).
            max_delay: Seconds the first row of a batch waits for more before the batch is handed out
                (default 0.1), so a quiet job's lines still arrive.

        Returns:
            The batches; also an Arrow stream (``__arrow_c_stream__``, sync only) and ``.to_parquet(path)``.

        Raises:
            ValidationError: A sizing argument is out of range (400). Iterating raises what the line API
                raises, after the rows received before the error (bulk streams: nothing, see ``.failures``).
        """
    def close(self) -> None: ...
    def __enter__(self) -> ManyStream: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...
    def add(self, job_id: object, *, resume_from: object = None) -> bool: ...
    def checkpoint(self, job_id: str) -> str: ...
    def checkpoints(self) -> dict[str, str]: ...
    def remove(self, job_id: str) -> bool: ...
    @property
    def jobs(self) -> list[str]: ...
    @property
    def ended(self) -> dict[str, ClientError | None]: ...
    @property
    def failures(self) -> dict[str, ClientError]: ...
    @property
    def poll_error(self) -> ClientError | None: ...
    @property
    def waiting(self) -> list[str]: ...
    @property
    def buffered_bytes(self) -> int: ...

@final
class ManyIter(Generic[_Item]):
    def __iter__(self) -> ManyIter[_Item]: ...
    # `.batches()`: `(job_id, list[str])`; `.events()`: `_Event` (job id `None` for the job listing).
    def __next__(self) -> _Item: ...
    def close(self) -> None: ...

@final
class AsyncManyStream:
    def __aiter__(self) -> AsyncManyStream: ...
    def __anext__(self) -> Awaitable[tuple[str, str]]: ...
    def __await__(self) -> Generator[Any, None, Any]: ...
    def __iter__(self) -> AsyncManyStream: ...
    def __next__(self) -> Any: ...
    def batches(self) -> AsyncIterator[tuple[str, list[str]]]: ...
    def events(self) -> AsyncIterator[_Event]: ...
    def arrow(
        self, *, max_rows: int | None = None, max_bytes: int | None = None, max_delay: float | None = None
    ) -> AsyncArrowStream:
        """Async-iterates Arrow record batches of the lines (``job_id``, ``seq``, ``line``); see ``docs/arrow.md``.

        Args:
            max_rows: Rows per batch at most (default 32,768).
            max_bytes: A batch is handed out once it holds about this many bytes of text (default 4 MiB).
            max_delay: Seconds the first row of a batch waits for more before the batch is handed out
                (default 0.1), so a quiet job's lines still arrive.

        Returns:
            The batches; also an Arrow stream (``__arrow_c_stream__``, sync only) and ``.to_parquet(path)``.

        Raises:
            ValidationError: A sizing argument is out of range (400). Iterating raises what the line API
                raises, after the rows received before the error (bulk streams: nothing, see ``.failures``).
        """
    def close(self) -> None: ...
    def aclose(self) -> Done: ...
    def __aenter__(self) -> Awaitable[AsyncManyStream]: ...
    def __aexit__(self, exc_type: object, exc: object, tb: object) -> Done: ...
    def add(self, job_id: object, *, resume_from: object = None) -> bool: ...
    def checkpoint(self, job_id: str) -> str: ...
    def checkpoints(self) -> dict[str, str]: ...
    def remove(self, job_id: str) -> bool: ...
    @property
    def jobs(self) -> list[str]: ...
    @property
    def ended(self) -> dict[str, ClientError | None]: ...
    @property
    def failures(self) -> dict[str, ClientError]: ...
    @property
    def poll_error(self) -> ClientError | None: ...
    @property
    def waiting(self) -> list[str]: ...
    @property
    def buffered_bytes(self) -> int: ...

# --- Arrow batches (owned by rust/src/stream/arrow.rs, rust/src/py/arrow.rs, rust/src/py/arrow_ffi.rs) ---

@final
class ArrowBatch:
    """One Arrow record batch of log lines: ``job_id`` (dictionary of ``int32`` to ``string``),
    ``seq`` (``uint64``), ``line`` (``large_string``); read it with ``pyarrow.record_batch(batch)``."""

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]:
        """The batch as ``(arrow_schema, arrow_array)`` capsules (a struct array of the columns)."""
    def __arrow_c_schema__(self) -> object:
        """The schema as an ``arrow_schema`` capsule."""
    @property
    def num_rows(self) -> int:
        """Rows in the batch."""
    @property
    def nbytes(self) -> int:
        """Bytes of the batch's buffers."""
    def __len__(self) -> int: ...

@final
class ArrowStream:
    """Arrow record batches of a stream's lines: what ``.arrow()`` returns on ``LineStream`` and ``ManyStream``."""

    def __iter__(self) -> ArrowStream: ...
    def __next__(self) -> ArrowBatch: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """The rest of the stream as one ``arrow_array_stream`` capsule."""
    def __arrow_c_schema__(self) -> object:
        """The schema of every batch, as an ``arrow_schema`` capsule."""
    def to_parquet(self, path: str | PathLike[str], **kwargs: Any) -> int:
        """Writes the rest of the stream to a Parquet file, one row group per batch; returns the rows written."""
    def close(self) -> None:
        """Closes the stream (all its connections) at once; the iteration ends."""
    @property
    def stream(self) -> LineStream | ManyStream:
        """The stream the batches come from."""
    def __enter__(self) -> ArrowStream: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...

@final
class AsyncArrowStream:
    """Arrow record batches for ``async for``: what ``.arrow()`` returns on the async streams (single and bulk)."""

    def __aiter__(self) -> AsyncArrowStream: ...
    def __anext__(self) -> Awaitable[ArrowBatch]: ...
    def _step(self) -> ArrowBatch | tuple[Any, float | None]:
        """One step without waiting: a batch, or ``(future, timeout)`` to wait on."""
    def to_parquet(self, path: str | PathLike[str], **kwargs: Any) -> Awaitable[int]:
        """Writes the rest of the stream to a Parquet file (awaitable); returns the rows written."""
    def close(self) -> None:
        """Closes the stream (all its connections) at once; the iteration ends."""
    def __arrow_c_schema__(self) -> object:
        """The schema of every batch, as an ``arrow_schema`` capsule."""
    @property
    def stream(self) -> AsyncLineStream | AsyncManyStream:
        """The stream the batches come from."""

@final
class AsyncCall:
    def __await__(self) -> Generator[Any, None, Any]: ...
    def __iter__(self) -> AsyncCall: ...
    def __next__(self) -> Any: ...

@final
class Done:
    def __await__(self) -> Generator[Any]: ...
    def __iter__(self) -> Done: ...
    def __next__(self) -> Any: ...

@final
class Hub:
    def __new__(cls) -> Hub: ...
    def fileno(self) -> int: ...
    def drain(self) -> None: ...
    def parked_count(self) -> int: ...

# --- fake agent (owned by rust/src/fake, rust/src/py/fake.rs) ---

@final
class FakeAgentCore:
    def __new__(cls) -> FakeAgentCore: ...
    def start(self, host: str, port: int, agent_token: str | None) -> int: ...
    def set_tls(self, chain_pem: str, key_pem: str, client_ca_pem: str | None = None) -> None: ...
    def stop(self) -> bool: ...
    @property
    def port(self) -> int | None: ...
    def add_job(
        self,
        job_id: str,
        lines: list[str],
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
        chunk_cuts: list[int] = ...,
        stall: float | None = None,
        status: str = 'RUNNING',
        connections: list[tuple[int | None, ...]] = ...,
    ) -> None: ...
    def set_response(
        self, method: str, path: str, status: int, body: str | None = None, text: str | None = None
    ) -> None: ...
    def requests(self) -> list[dict[str, Any]]: ...
    def stream_stats(self) -> dict[str, int]: ...
