"""synapse-agent-rs: a fast, trustworthy client for the Synapse agent, on a Rust core.

Calls the agent's REST API and tails Ray job logs over WebSocket or chunked HTTP, with the
``synapse-sdk`` agent client's classes, signatures and exceptions:

    from synapse_agent_rs import AgentClient

    client = AgentClient(base_url='https://agent.example.com', agent_token='your-agent-token')
    for line in client.tail_job_logs('raysubmit_abc123'):
        print(line)

Names exported here (imported on first use, so ``import synapse_agent_rs`` costs nothing):

- ``AgentClient``, ``AsyncAgentClient``: the blocking and the asyncio client
  (``synapse_agent_rs.clients.agent``).
- ``StreamLimits``: a log stream's limits (``synapse_agent_rs.utils.network``).
- ``ClientError``: the base class of every error the clients raise
  (``synapse_agent_rs.clients.exceptions``).
- ``install()``, ``uninstall()``, ``installed()``: put an installed ``synapse-sdk``'s log
  tailing on our core.

Also: ``synapse_agent_rs.testing.FakeAgent`` (a real agent server for tests),
``synapse_agent_rs.ray`` (bulk tailing over Ray actors), and the ``synapse-agent-rs``
command. Documentation: https://synapse-agent-rs.github.io/synapse-agent-rs/
"""

# No import at module level, not even ``typing``: ``synapse_agent_rs_alias.pth`` imports this
# package at every interpreter start (tests/test_startup.py counts it).

TYPE_CHECKING = False
if TYPE_CHECKING:
    from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
    from synapse_agent_rs.clients.exceptions import ClientError
    from synapse_agent_rs.utils.network import StreamLimits

__all__ = [
    'AgentClient',
    'AsyncAgentClient',
    'ClientError',
    'StreamLimits',
    '__version__',
    'install',
    'installed',
    'uninstall',
]

_LAZY = {
    'AgentClient': 'synapse_agent_rs.clients.agent',
    'AsyncAgentClient': 'synapse_agent_rs.clients.agent',
    'ClientError': 'synapse_agent_rs.clients.exceptions',
    'StreamLimits': 'synapse_agent_rs.utils.network',
    '__version__': 'synapse_agent_rs._core',
}


def install() -> bool:
    """Routes an installed synapse-sdk's log tailing through this package's Rust core.

    The ``tail_job_logs`` family of the SDK's sync and async agent clients then runs on our
    core, with the SDK's signatures and exception classes; one line, opt-in, idempotent.

    Returns:
        ``False`` when there is nothing to accelerate (no real synapse-sdk is installed).
    """
    from synapse_agent_rs._accelerate import install

    return install()


def uninstall() -> None:
    """Gives the SDK its own tail methods back (for tests); does nothing when not installed."""
    from synapse_agent_rs._accelerate import uninstall

    uninstall()


def installed() -> bool:
    """Whether `install()` is in effect."""
    from synapse_agent_rs._accelerate import installed

    return installed()


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
