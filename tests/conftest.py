"""Fixtures: agents on 127.0.0.1 (the Rust FakeAgent and the independent aiohttp one) and client drivers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.testing import FakeAgent
from tests.drivers import DRIVERS, Driver
from tests.independent_agent import IndependentAgent

TOKEN = 'test-token'

SEED_LOG = ['Starting job raysubmit_abc123', 'epoch 1/2 loss=0.52', 'epoch 2/2 loss=0.31', 'Job finished ✓']
"""The log of the job the user documentation tails."""

AGENTS: dict[str, Any] = {'fake': FakeAgent, 'aiohttp': IndependentAgent}


@dataclass
class Rest:
    """Makes one REST call with the sync or the async client, so a test body serves both."""

    name: str

    def call(self, url: str, method: str, *args: Any, client_kwargs: dict[str, Any] | None = None, **kw: Any) -> Any:
        """``client.<method>(*args, **kw)`` on a fresh client of ``url`` with ``TOKEN``; returns its result."""
        if self.name == 'sync':
            with AgentClient(url, TOKEN, **(client_kwargs or {})) as client:
                return getattr(client, method)(*args, **kw)

        async def call_async() -> Any:
            async with AsyncAgentClient(url, TOKEN, **(client_kwargs or {})) as client:
                return await getattr(client, method)(*args, **kw)

        return asyncio.run(call_async())

    def __repr__(self) -> str:
        return self.name


RESTS = [Rest('sync'), Rest('async')]


@pytest.fixture
def fake_agent() -> Iterator[FakeAgent]:
    """The Rust fake agent, started, accepting ``TOKEN``."""
    with FakeAgent(agent_token=TOKEN) as agent:
        yield agent


@pytest.fixture
def independent_agent() -> Iterator[IndependentAgent]:
    """The aiohttp agent alone, for what only it can send (bytes that are not UTF-8)."""
    with IndependentAgent(agent_token=TOKEN) as agent:
        yield agent


@pytest.fixture(params=list(AGENTS), ids=list(AGENTS))
def agent(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Each agent server in turn, started, accepting ``TOKEN``: the client must agree with both."""
    with AGENTS[request.param](agent_token=TOKEN) as server:
        yield server


@pytest.fixture(params=DRIVERS, ids=[d.name for d in DRIVERS])
def driver(request: pytest.FixtureRequest) -> Driver:
    """Each client flavour in turn (sync, async) tailing a log, behind the same ``collect`` interface."""
    return request.param


@pytest.fixture(params=RESTS, ids=[r.name for r in RESTS])
def rest(request: pytest.FixtureRequest) -> Rest:
    """Each client flavour in turn (sync, async) making a REST call."""
    return request.param


@pytest.fixture
def seed_agent() -> Iterator[FakeAgent]:
    """The fake agent of the seed examples: the documented token and the jobs the examples name."""
    with FakeAgent(agent_token='your-agent-token') as agent:
        agent.add_job('raysubmit_abc123', SEED_LOG)
        agent.add_job('job-id', ['auto line 1', 'auto line 2'])
        yield agent
