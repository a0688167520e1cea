"""Clients of the Synapse agent: REST calls and job log streaming on the Rust core."""

from synapse_agent_rs.clients.agent._async import AsyncAgentClient
from synapse_agent_rs.clients.agent._base import RayClientMixin
from synapse_agent_rs.clients.agent._sync import AgentClient

__all__ = ['AgentClient', 'AsyncAgentClient', 'RayClientMixin']
