"""Checked by mypy (``make lint-python``), never run: what type checkers and IDEs see of the clients."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from typing_extensions import assert_type

from synapse_agent_rs._core import AsyncLineStream, LineStream
from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.agent.models import ClusterResourceSnapshot


def sync_client(client: AgentClient) -> None:
    assert_type(client.get_job('j'), dict[str, Any])
    assert_type(client.list_jobs(), list[dict[str, Any]])
    assert_type(client.delete_plugin_release('p'), None)
    assert_type(client.tail_job_logs('j', protocol='http'), LineStream)


async def async_client(client: AsyncAgentClient) -> None:
    pending = assert_type(client.get_job('j'), Coroutine[Any, Any, dict[str, Any]])
    pending.close()
    assert_type(await client.get_job('j'), dict[str, Any])
    assert_type(await client.list_plugin_releases(page=2), Any)  # a page, or (items, count) with list_all
    assert_type(await client.get_cluster_resources(), ClusterResourceSnapshot)
    assert_type(client.tail_job_logs('j'), AsyncLineStream)
