"""Async REST methods are real coroutines, every endpoint is written once, and types are concrete."""

from __future__ import annotations

import asyncio
import inspect
import pydoc
import sys
import typing
from typing import Any

import pytest

from synapse_agent_rs._core import AsyncLineStream, LineStream
from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.agent._endpoint import Plan, Request, endpoint, stream
from synapse_agent_rs.clients.exceptions import NotFoundError, ValidationError
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN


def public_methods(cls: type) -> dict[str, Any]:
    return {name: value for name, value in vars(cls).items() if not name.startswith('_') and inspect.isfunction(value)}


def definitions() -> dict[str, endpoint[Any, Any] | stream[Any]]:
    """Every shared definition, found on the shared mixins the clients inherit."""
    found = {}
    for klass in reversed(AgentClient.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, (endpoint, stream)):
                found[name] = value
    return found


def test_every_shared_definition_is_a_method_of_both_clients() -> None:
    found = definitions()
    assert {'health_check', 'get_job', 'tail_job_logs', 'list_plugin_releases'} <= set(found)
    for name, definition in found.items():
        sync_method, async_method = vars(AgentClient)[name], vars(AsyncAgentClient)[name]
        assert inspect.isfunction(sync_method) and inspect.isfunction(async_method), name
        assert not inspect.iscoroutinefunction(sync_method), name
        assert inspect.iscoroutinefunction(async_method) is isinstance(definition, endpoint), name
        assert sync_method.__doc__ == async_method.__doc__ == definition.__doc__, name


def test_help_and_signatures_show_concrete_types() -> None:
    for cls in (AgentClient, AsyncAgentClient):
        for name, method in public_methods(cls).items():
            hints = typing.get_type_hints(method)
            assert 'return' in hints, (cls, name)
            assert not isinstance(hints['return'], typing.TypeVar), (cls, name)
            shown = str(inspect.signature(method))
            assert "'R'" not in shown and "'S'" not in shown and '~' not in shown, (cls, name, shown)
    assert str(inspect.signature(AsyncAgentClient.get_job)) == '(self, job_id: str) -> dict[str, typing.Any]'
    assert inspect.signature(AgentClient.tail_job_logs).return_annotation is LineStream
    assert inspect.signature(AsyncAgentClient.tail_job_logs).return_annotation is AsyncLineStream
    text = pydoc.render_doc(AsyncAgentClient.get_job, renderer=pydoc.plaintext)
    assert 'async get_job(self, job_id: str) -> dict[str, typing.Any]' in text
    assert 'One job' in text
    assert AsyncAgentClient.get_job.__qualname__ == 'AsyncAgentClient.get_job'


def test_asyncio_create_task_taskgroup_and_run_take_rest_calls(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job-1', ['a'])

    async def main() -> list[Any]:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
            assert inspect.iscoroutinefunction(client.health_check)
            task = asyncio.create_task(client.health_check())
            results = [await task]
            if sys.version_info >= (3, 11):
                async with asyncio.TaskGroup() as group:
                    jobs = group.create_task(client.list_jobs())
                    job = group.create_task(client.get_job('job-1'))
                results += [jobs.result(), job.result()]
            results += await asyncio.gather(client.get_job('job-1'), client.health_check())
            return results

    results = asyncio.run(main())
    assert results[0] == {'status': 'healthy'}
    assert results[-2]['job_id'] == 'job-1' and results[-1] == {'status': 'healthy'}

    client = AsyncAgentClient(fake_agent.url, TOKEN)
    assert asyncio.run(client.health_check()) == {'status': 'healthy'}
    with pytest.raises(NotFoundError):
        asyncio.run(client.get_job('no-such-job'))
    # Arguments are checked when the coroutine runs, before any I/O.
    with pytest.raises(ValidationError):
        asyncio.run(client.get_job('../etc'))
    assert not any(r['path'].startswith('/jobs/../') for r in fake_agent.requests())


def test_a_new_shared_definition_becomes_a_coroutine_and_a_plain_method(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job-1', ['a'])

    class Extra:
        @endpoint
        def job_status(self, job_id: str) -> Request[dict[str, Any]]:
            """The status of a job."""
            return Request('GET', f'jobs/{job_id}/')

        @endpoint
        def health_twice(self) -> Plan[list[dict[str, Any]]]:
            """Two requests, one definition."""
            first = yield Request('GET', 'health/')
            second = yield Request('GET', 'health/')
            return [first, second]

    class SyncExtra(AgentClient, Extra):
        pass

    class AsyncExtra(AsyncAgentClient, Extra):
        pass

    assert inspect.iscoroutinefunction(AsyncExtra.job_status) and inspect.iscoroutinefunction(AsyncExtra.health_twice)
    assert not inspect.iscoroutinefunction(SyncExtra.job_status)
    assert inspect.signature(AsyncExtra.health_twice).return_annotation == list[dict[str, Any]]
    assert SyncExtra.job_status.__doc__ == 'The status of a job.'

    with SyncExtra(fake_agent.url, TOKEN) as client:
        assert client.job_status('job-1')['job_id'] == 'job-1'
        assert client.health_twice() == [{'status': 'healthy'}] * 2

    async def main() -> tuple[Any, Any]:
        async with AsyncExtra(fake_agent.url, TOKEN) as client:
            return await client.job_status('job-1'), await asyncio.create_task(client.health_twice())

    status, twice = asyncio.run(main())
    assert status['job_id'] == 'job-1' and twice == [{'status': 'healthy'}] * 2
