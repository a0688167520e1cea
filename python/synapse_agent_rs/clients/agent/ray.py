"""The Ray operations of the agent clients, where the SDK keeps them (``clients.agent.ray``)."""

from typing import Literal

from synapse_agent_rs.clients.agent._base import RayClientMixin

StreamProtocol = Literal['websocket', 'http', 'auto']
"""The ``protocol`` argument of ``tail_job_logs``."""

__all__ = ['RayClientMixin', 'StreamProtocol']
