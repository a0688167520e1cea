"""``python -m synapse_agent_rs.cli``: the ``synapse-agent-rs`` command."""

from synapse_agent_rs.cli import entry

entry()
