"""The asyncio agent client."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from synapse_agent_rs._core import AsyncLineStream
from synapse_agent_rs.clients.agent._base import AgentEndpointsMixin, query_pairs


class AsyncAgentClient(AgentEndpointsMixin[Awaitable[Any], AsyncLineStream]):
    """Asyncio client of one Synapse agent, on the same Rust core as :class:`AgentClient`.

    REST methods return awaitables; ``tail_job_logs`` returns an async iterator, used as
    ``async for line in client.tail_job_logs(job_id)`` (no ``await`` before it). Requests
    start when the method is called. Use as ``async with AsyncAgentClient(...) as client``
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

    def _send(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> Awaitable[Any]:
        return self._core.request_async(method, path, query_pairs(params), body)

    def _tail(self, job_id: str, timeout: float, protocol: str) -> AsyncLineStream:
        return self._core.tail_async(job_id, timeout, protocol, self._stream_limits.as_tuple())

    async def close(self) -> None:
        """Releases the client. Pooled connections close with it; open streams stay usable."""

    async def __aenter__(self) -> AsyncAgentClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
