"""Thin conveniences over ``.arrow()``: Parquet through pyarrow, and the async iteration step.

pyarrow is imported only here, and only when a Parquet file is written (the ``arrow`` extra).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from synapse_agent_rs._core import ArrowBatch, AsyncArrowStream


class _Closable(Protocol):
    def close(self) -> None: ...


def _writer(path: str | os.PathLike[str], stream: _Closable, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """pyarrow and a ``ParquetWriter`` for the stream's schema; the stream is closed if there is none."""
    try:
        import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-untyped,unused-ignore]

        return pa, pq.ParquetWriter(path, pa.schema(stream), **kwargs)
    except ImportError as e:  # pragma: no cover - depends on the environment
        stream.close()
        raise ImportError('to_parquet needs pyarrow: pip install "synapse-agent-rs[arrow]"') from e
    except BaseException:
        stream.close()
        raise


def to_parquet(batches: Iterable[ArrowBatch], path: str | os.PathLike[str], **kwargs: Any) -> int:
    """Writes every batch of ``batches`` to ``path`` as one row group each; returns the rows written.

    The file is closed (its footer written) whatever happens: on the stream's error or Ctrl-C it holds
    the row groups written so far and stays readable, and the error is raised after.
    """
    closable: _Closable = batches  # type: ignore[assignment]
    pa, writer = _writer(path, closable, kwargs)
    rows = 0
    try:
        for batch in batches:
            writer.write_batch(pa.record_batch(batch))
            rows += len(batch)
    finally:
        writer.close()
        closable.close()
    return rows


async def ato_parquet(batches: AsyncArrowStream, path: str | os.PathLike[str], **kwargs: Any) -> int:
    """The async ``to_parquet``: the same file, written as the batches arrive.

    Each row group is written on the event loop's thread (a few milliseconds per default batch).
    """
    pa, writer = _writer(path, batches, kwargs)
    rows = 0
    aiter_batches: AsyncIterable[ArrowBatch] = batches
    try:
        async for batch in aiter_batches:
            writer.write_batch(pa.record_batch(batch))
            rows += len(batch)
    finally:
        writer.close()
        batches.close()
    return rows


async def anext_batch(stream: AsyncArrowStream) -> ArrowBatch:
    """One ``__anext__`` of an ``AsyncArrowStream``: steps until a batch is ready, parked in between."""
    while True:
        step = stream._step()
        if not isinstance(step, tuple):
            return step
        future, timeout = step
        if future is None:
            continue
        if timeout is None:
            # The hub's futures come ready to be yielded by a bare iterator (blocking flag set);
            # `await` sets the flag itself and refuses a future that has it already.
            future._asyncio_future_blocking = False
            await future
        else:
            await asyncio.wait((future,), timeout=timeout)
