"""Drivers that run one behaviour through the sync or the async client, so a test body serves both.

A driver collects a whole stream: the lines it yielded before it ended, and the exception
it ended with (``None`` for a normal end). Lines received before an error are kept, which is
how the tests check that truncation is never silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.utils.network import StreamLimits


@dataclass
class Outcome:
    """What a stream yielded, and how it ended."""

    lines: list[str] = field(default_factory=list)
    error: BaseException | None = None


@dataclass
class Driver:
    """Runs a tail with one of the clients."""

    name: str
    run: Callable[..., Outcome]

    def collect(
        self,
        url: str,
        token: str,
        job_id: str,
        *,
        limits: StreamLimits | None = None,
        client_kwargs: dict[str, Any] | None = None,
        batches: bool = False,
        **tail_kwargs: Any,
    ) -> Outcome:
        """Tails ``job_id`` to its end (``tail_kwargs`` go to ``tail_job_logs``)."""
        return self.run(url, token, job_id, limits, client_kwargs or {}, batches, tail_kwargs)

    def __repr__(self) -> str:
        return self.name


def _run_sync(url: str, token: str, job_id: str, limits: Any, client_kwargs: Any, batches: bool, kw: Any) -> Outcome:
    out = Outcome()
    client = AgentClient(url, token, **client_kwargs)
    if limits is not None:
        client.stream_limits = limits
    try:
        stream = client.tail_job_logs(job_id, **kw)
        if batches:
            for batch in stream.batches():
                out.lines.extend(batch)
        else:
            for line in stream:
                out.lines.append(line)
    except Exception as e:
        out.error = e
    return out


async def _collect_async(
    url: str, token: str, job_id: str, limits: Any, client_kwargs: Any, batches: bool, kw: Any
) -> Outcome:
    out = Outcome()
    async with AsyncAgentClient(url, token, **client_kwargs) as client:
        if limits is not None:
            client.stream_limits = limits
        try:
            stream = client.tail_job_logs(job_id, **kw)
            if batches:
                async for batch in stream.batches():
                    out.lines.extend(batch)
            else:
                async for line in stream:
                    out.lines.append(line)
        except Exception as e:
            out.error = e
    return out


def _run_async(url: str, token: str, job_id: str, limits: Any, client_kwargs: Any, batches: bool, kw: Any) -> Outcome:
    return asyncio.run(_collect_async(url, token, job_id, limits, client_kwargs, batches, kw))


SYNC = Driver('sync', _run_sync)
ASYNC = Driver('async', _run_async)
DRIVERS = [SYNC, ASYNC]


def run_async(coro: Any) -> Any:
    """Runs a coroutine on a fresh event loop (tests stay sync-bodied)."""
    return asyncio.run(coro)
