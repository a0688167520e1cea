"""The asyncio agent client."""

from __future__ import annotations

from typing import Any

from synapse_agent_rs._core import AsyncLineStream, AsyncManyStream
from synapse_agent_rs.clients.agent._base import AgentEndpointsMixin, query_pairs
from synapse_agent_rs.clients.agent._endpoint import AsyncSender, Request, TailRequest
from synapse_agent_rs.clients.agent._many import BulkTailMixin


class AsyncAgentClient(BulkTailMixin[AsyncManyStream], AsyncSender, AgentEndpointsMixin):
    """Asyncio client of one Synapse agent, on the same Rust core as :class:`AgentClient`.

    REST methods are coroutine functions (``await client.get_job(id)``,
    ``asyncio.create_task(client.health_check())``); ``tail_job_logs`` returns an async
    iterator, used as ``async for line in client.tail_job_logs(job_id)`` (no ``await``
    before it). Use as ``async with AsyncAgentClient(...) as client``
    or call ``await client.close()``.

    Args:
        base_url: the agent's URL, e.g. ``"https://agent.example.com"``.
        agent_token: sent as the ``Authorization`` header; never shown in errors or reprs.
        user_token: sent as ``SYNAPSE-User: Token <user_token>`` when given.
        tenant: sent as ``SYNAPSE-Tenant: Token <tenant>`` when given.
        timeout: seconds for REST calls, as one number or ``{'connect': s, 'read': s}``.

    Raises:
        ValidationError: (400) a bad ``base_url`` or ``timeout``.
    """

    async def _send(self, request: Request[Any]) -> Any:
        # The Rust core's awaitable: the request runs on the shared runtime, the loop is
        # woken through its hub; no thread hop and no asyncio future per call.
        return await self._core.request_async(request.method, request.path, query_pairs(request.params), request.body)

    def _open(self, tail: TailRequest) -> AsyncLineStream:
        return self._core.tail_async(tail.job_id, tail.timeout, tail.protocol, self._stream_limits.as_tuple())

    def _tail_many(
        self,
        job_ids: list[str],
        protocol: str,
        timeout: float,
        max_connecting: int,
        max_buffered_bytes: int,
        follow: tuple[float, list[str]] | None,
    ) -> AsyncManyStream:
        limits, connecting, buffered = self._many_args(max_connecting, max_buffered_bytes)
        return self._core.tail_many_async(job_ids, timeout, protocol, limits, connecting, buffered, follow)

    async def close(self) -> None:
        """Releases the client. Pooled connections close with it; open streams stay usable."""

    async def __aenter__(self) -> AsyncAgentClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
