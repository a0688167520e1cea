"""Clients of the Synapse agent: REST calls and job log streaming on the Rust core."""

from synapse_agent_rs._core import ResumePolicy
from synapse_agent_rs.clients.agent._async import AsyncAgentClient
from synapse_agent_rs.clients.agent._base import AgentEndpointsMixin, RayClientMixin
from synapse_agent_rs.clients.agent._operations import ContainerClientMixin, ResourceClientMixin, SystemClientMixin
from synapse_agent_rs.clients.agent._sync import AgentClient

# The SDK's names of the same mixins: one class serves the sync and the async client here.
AsyncRayClientMixin = RayClientMixin
AsyncResourceClientMixin = ResourceClientMixin
PluginClientMixin = AgentEndpointsMixin

__all__ = [
    'AgentClient',
    'AsyncAgentClient',
    'AsyncRayClientMixin',
    'AsyncResourceClientMixin',
    'ContainerClientMixin',
    'PluginClientMixin',
    'RayClientMixin',
    'ResourceClientMixin',
    'ResumePolicy',
    'SystemClientMixin',
]
