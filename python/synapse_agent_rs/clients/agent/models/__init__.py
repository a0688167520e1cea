"""Typed views of the agent's resource answers (``synapse_sdk.clients.agent.models`` of the SDK)."""

from synapse_agent_rs.clients.agent.models.resources import (
    AgentRuntimePolicy,
    ClusterResourceSnapshot,
    GpuDevice,
    GpuSummary,
    NodeCounts,
    NodeResource,
    ResourceCounter,
)

__all__ = [
    'AgentRuntimePolicy',
    'ClusterResourceSnapshot',
    'GpuDevice',
    'GpuSummary',
    'NodeCounts',
    'NodeResource',
    'ResourceCounter',
]
