"""``python -m synapse_agent_rs.cli``: the ``synapse-agent-rs`` command."""

from synapse_agent_rs.cli import entry

if __name__ == '__main__':  # importing the module (documentation tools do) runs nothing
    entry()
