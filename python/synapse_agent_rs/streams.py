"""The log stream types that ``tail_job_logs`` returns.

- ``LineStream`` (``AgentClient``): ``for line in stream``, ``stream.batches()``.
- ``AsyncLineStream`` (``AsyncAgentClient``): ``async for line in stream``,
  ``async with stream:``.
- ``BatchIter``: what ``LineStream.batches()`` returns.
- ``ArrowStream`` / ``AsyncArrowStream``: what ``.arrow()`` returns on the sync and async
  streams (single and bulk): ``ArrowBatch`` record batches of ``job_id``, ``seq``, ``line``,
  readable by pyarrow, Polars and DuckDB through the Arrow PyCapsule interface (``docs/arrow.md``).

They are implemented in the Rust core; import them from here (for ``isinstance`` checks
and annotations), not from the private ``_core``. Both report ``job_id``, ``protocol``
(``'websocket'`` or ``'http'``, what ``'auto'`` chose), ``state`` (``'connecting'``,
``'open'``, ``'ended'``, ``'failed'``, ``'closed'``) and the counters ``lines``,
``messages`` and ``bytes``, also shown by their ``repr``:

    <LineStream job_id='raysubmit_abc123' protocol='websocket' (auto) state='open' lines=120 messages=120 bytes=9841>
"""

from synapse_agent_rs._core import ArrowBatch, ArrowStream, AsyncArrowStream, AsyncLineStream, BatchIter, LineStream

__all__ = ['ArrowBatch', 'ArrowStream', 'AsyncArrowStream', 'AsyncLineStream', 'BatchIter', 'LineStream']
