"""The sync agent client."""

from __future__ import annotations

from typing import Any

from synapse_agent_rs._core import LineStream, ManyStream
from synapse_agent_rs.clients.agent._base import AgentEndpointsMixin, query_pairs
from synapse_agent_rs.clients.agent._endpoint import Request, SyncSender, TailRequest
from synapse_agent_rs.clients.agent._many import BulkTailMixin


class AgentClient(BulkTailMixin[ManyStream], SyncSender, AgentEndpointsMixin):
    """Client of one Synapse agent: REST calls block, log streams are iterators.

    Args:
        base_url: the agent's URL, e.g. ``"https://agent.example.com"``.
        agent_token: sent as the ``Authorization`` header; never shown in errors or reprs.
        user_token: sent as ``SYNAPSE-User: Token <user_token>`` when given.
        tenant: sent as ``SYNAPSE-Tenant: Token <tenant>`` when given.
        timeout: ``{'connect': seconds, 'read': seconds}`` for REST calls (defaults 3 and 10).

    Raises:
        ValidationError: (400) a bad ``base_url`` or ``timeout``.
    """

    def _send(self, request: Request[Any]) -> Any:
        return self._core.request(request.method, request.path, query_pairs(request.params), request.body)

    def _open(self, tail: TailRequest) -> LineStream:
        return self._core.tail(tail.job_id, tail.timeout, tail.protocol, self._stream_limits.as_tuple())

    def _tail_many(
        self,
        job_ids: list[str],
        protocol: str,
        timeout: float,
        max_connecting: int,
        max_buffered_bytes: int,
        follow: tuple[float, list[str]] | None,
    ) -> ManyStream:
        limits, connecting, buffered = self._many_args(max_connecting, max_buffered_bytes)
        return self._core.tail_many(job_ids, timeout, protocol, limits, connecting, buffered, follow)

    def close(self) -> None:
        """Nothing to release eagerly: pooled connections close with the client. Kept for symmetry."""

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
