"""The surface of the SDK's agent client that ours also offers, against the Rust FakeAgent:
attributes, pagination, containers, system and resources, exceptions, ``utils.network``."""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
from datetime import datetime, timezone
from typing import Any

import pytest

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.agent.models import AgentRuntimePolicy, ClusterResourceSnapshot
from synapse_agent_rs.clients.exceptions import (
    AuthenticationError,
    ClientConnectionError,
    ClientError,
    ClientResponseIncompleteError,
    ClientTimeoutError,
    GpuUnavailableError,
    HTTPError,
    NotFoundError,
    RateLimitError,
    ServerError,
    StreamLimitExceededError,
    ValidationError,
    raise_for_status,
)
from synapse_agent_rs.testing import FakeAgent
from synapse_agent_rs.utils import network
from synapse_agent_rs.utils.network import StreamLimits
from tests.conftest import TOKEN


def client_of(agent: FakeAgent, **kwargs: Any) -> AgentClient:
    return AgentClient(agent.url, TOKEN, **kwargs)


# --- attributes ---------------------------------------------------------------------------


def test_attributes_are_the_sdks(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent, user_token='user-secret', tenant='acme', timeout={'read': 20})
    assert (client.agent_token, client.user_token, client.tenant) == (TOKEN, 'user-secret', 'acme')
    assert client.timeout == {'connect': 3.0, 'read': 20.0}
    assert (client.name, client.page_size, client.default_params) == ('Agent', 100, {})
    assert TOKEN not in repr(client) and 'user-secret' not in repr(client) and 'acme' not in repr(client)
    aclient = AsyncAgentClient(fake_agent.url, TOKEN, timeout=7)
    assert (aclient.name, aclient.page_size, aclient.timeout) == ('Agent', 100, {'connect': 7.0, 'read': 7.0})


def test_changed_tokens_are_sent_with_the_next_request(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    client.agent_token = 'wrong'
    with pytest.raises(AuthenticationError):
        client.health_check()
    client.agent_token = TOKEN
    client.user_token = 'u2'
    client.tenant = 't2'
    assert client.health_check() == {'status': 'healthy'}
    headers = fake_agent.requests()[-1]['headers']
    assert (headers['synapse-user'], headers['synapse-tenant']) == ('Token u2', 'Token t2')


def test_a_bad_new_setting_is_refused_and_the_old_one_kept(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    with pytest.raises(ValidationError):
        client.timeout = {'read': -1}
    assert client.timeout == {'connect': 3.0, 'read': 10.0}
    assert client.health_check() == {'status': 'healthy'}


def test_default_params_go_with_every_request_and_the_calls_own_win(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    client.default_params = {'url_host': 'h1', 'page': '9'}
    client.health_check()
    client.list_plugin_releases({'page': 2})
    first, second = (r['query'] for r in fake_agent.requests())
    assert first == 'url_host=h1&page=9'
    assert second == 'url_host=h1&page=2'


def test_stream_limits_change_in_place_as_in_the_sdk(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job-1', [f'line {i}' for i in range(10)])
    client = client_of(fake_agent)
    client.stream_limits.max_lines = 5
    with pytest.raises(StreamLimitExceededError) as info:
        list(client.tail_job_logs('job-1', protocol='http'))
    assert (info.value.status_code, info.value.max) == (429, 5) and 'max_lines' in str(info.value.limit)
    with pytest.raises(ValidationError):
        client.stream_limits.max_lines = -1
    with pytest.raises(AttributeError):
        client.stream_limits.max_line = 5  # type: ignore[attr-defined]
    assert client.stream_limits == StreamLimits(max_lines=5)


# --- plugin releases ----------------------------------------------------------------------


def test_list_all_returns_every_page_and_the_count(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    for version in range(5):
        client.create_plugin_release('ocr', f'1.{version}')
    client.page_size = 2
    items, count = client.list_plugin_releases(list_all=True)
    assert count == 5
    assert [r['code'] for r in items] == [f'ocr@1.{v}' for v in range(5)]
    pages = [r['query'] for r in fake_agent.requests() if r['method'] == 'GET']
    assert pages == ['page_size=2', 'page_size=2&page=2', 'page_size=2&page=3']
    assert client.get_plugin_release('ocr@1.3')['code'] == 'ocr@1.3'
    one_page = client.list_plugin_releases({'page_size': 10})
    assert (one_page['count'], len(one_page['results'])) == (5, 5)


async def test_list_all_pages_asynchronously(fake_agent: FakeAgent) -> None:
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        for version in range(3):
            await client.create_plugin_release('ocr', f'2.{version}')
        items, count = await client.list_plugin_releases({'page_size': 1}, list_all=True)
        assert count == 3
        assert [r['version'] async for r in items] == ['2.0', '2.1', '2.2']


def test_a_next_link_to_another_origin_is_refused(fake_agent: FakeAgent) -> None:
    page = {'count': 2, 'next': 'http://evil.example/plugin_releases/?page=2', 'results': [{'id': 1}]}
    fake_agent.set_response('GET', 'plugin_releases/', 200, page)
    items, count = client_of(fake_agent).list_plugin_releases(list_all=True)
    assert (next(items), count) == ({'id': 1}, 2)
    with pytest.raises(ClientConnectionError, match=r'evil\.example'):
        next(items)
    assert len(fake_agent.requests()) == 1  # nothing, and no token, went to the other host


def test_a_page_without_results_is_a_server_error(fake_agent: FakeAgent) -> None:
    fake_agent.set_response('GET', 'containers/', 200, {'count': 1})
    with pytest.raises(ServerError) as info:
        client_of(fake_agent).list_containers(list_all=True)
    assert info.value.status_code == 502


def test_run_plugin_release_takes_data_and_a_per_call_timeout(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    answer = client.run_plugin_release('p@1', data={'action': 'serve', 'x': 1}, timeout=(3, 120))
    assert answer == {'lookup': 'p@1', 'body': {'action': 'serve', 'x': 1}}
    assert client.run_plugin_release('p@1') == {'lookup': 'p@1', 'body': {'action': None}}
    with pytest.raises(ValidationError):
        client.run_plugin_release('p@1', 'go', timeout=(3, 0))


# --- containers, system, resources --------------------------------------------------------


def test_container_lifecycle(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    container = client.create_container('ocr@1.0', params={'port': 7860}, labels=['demo'])
    assert container['plugin_release'] == 'ocr@1.0' and container['params'] == {'port': 7860}
    assert container['endpoint'].startswith('http://')
    build = client.create_container('ocr@1.1', wait=False)
    assert build['status'] == 'queued' and client.wait_for_build(build['build_id'])['version'] == '1.1'
    items, count = client.list_containers(list_all=True)
    assert count == 2 and [c['version'] for c in items] == ['1.0', '1.1']
    assert client.update_container(container['id'], status='stopped')['status'] == 'stopped'
    assert client.get_container(container['id'])['status'] == 'stopped'
    assert client.delete_container(container['id']) is None
    with pytest.raises(NotFoundError):
        client.get_container(container['id'])


def test_docker_container_lifecycle(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    docker = client.create_docker_container('ocr@1.0', envs={'A': '1'})
    assert docker['envs'] == {'A': '1'} and docker['status'] == 'running'
    assert client.stop_docker_container(docker['id'])['status'] == 'exited'
    assert client.start_docker_container(docker['id'])['status'] == 'running'
    assert client.list_docker_containers() == [client.get_docker_container(docker['id'])]
    assert client.delete_docker_container(docker['id']) is None
    assert client.list_docker_containers() == []


def test_create_container_checks_its_arguments_before_any_request(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    with pytest.raises(ValueError, match='plugin_release'):
        client.create_container()
    with pytest.raises(TypeError):
        client.create_container(42)
    with pytest.raises(ValidationError, match='plugin_file'):
        client.create_container(plugin_file='release.zip')
    assert fake_agent.requests() == []


def test_a_failed_build_raises_runtime_error_and_a_slow_one_times_out(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    fake_agent.set_response('GET', 'builds/b1/', 200, {'status': 'failed', 'error': 'no space'})
    with pytest.raises(RuntimeError, match='no space'):
        client.wait_for_build('b1')
    fake_agent.set_response('GET', 'builds/b2/', 200, {'status': 'building'})
    with pytest.raises(TimeoutError, match='b2'):
        client.wait_for_build('b2', timeout=0.05, poll_interval=0.01)


def test_system_endpoints(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    assert client.get_compose_config()['config_files'] == ['docker-compose.yml']
    assert client.get_system_status()['in_progress'] is False
    assert client.wait_for_system_ready(timeout=5, poll_interval=0.01) is True
    result = client.update_system(worker_tag='w2', wait=True, poll_interval=0.01)
    assert result == {'status': 'success', 'message': 'System updated and ready', 'request': {'worker_tag': 'w2'}}
    assert client.restart_system()['message'] == 'restart started'


def test_wait_for_system_ready_is_false_when_the_agent_stays_down() -> None:
    with FakeAgent(TOKEN) as agent:
        client = client_of(agent)
    assert client.wait_for_system_ready(timeout=0.05, poll_interval=0.01) is False


def test_resources_are_typed_like_the_sdks_models(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    snapshot = client.get_cluster_resources(use_cache=False)
    assert isinstance(snapshot, ClusterResourceSnapshot)
    assert snapshot.collected_at == datetime(2026, 12, 2, 12, tzinfo=timezone.utc)
    assert (snapshot.stale, snapshot.gpu.available_gpus, snapshot.nodes[0].gpus[0].memory_total) == (False, 1, 16384)
    assert snapshot.object_store is None and snapshot.total_serve_replicas == 0  # missing: defaults
    assert fake_agent.requests()[-1]['query'] == 'use_cache=false'
    assert client.get_runtime_policy() == AgentRuntimePolicy()
    policy = client.update_runtime_policy({'max_concurrent_jobs': 8})
    assert isinstance(policy, AgentRuntimePolicy) and policy.max_concurrent_jobs == 8
    assert client.get_gatekeeping_policy()['max_concurrent_jobs'] == 8
    assert client.check_feasibility('serve', 1, replicas=2)['request']['replicas'] == 2


async def test_resources_asynchronously(fake_agent: FakeAgent) -> None:
    async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
        snapshot = await client.get_cluster_resources()
        assert snapshot.stale is True and snapshot.node_counts.alive == 1
        container = await client.create_container('ocr@3.0')
        assert container['version'] == '3.0'
        assert await client.wait_for_system_ready(timeout=5, poll_interval=0.01)


def test_an_unreadable_resource_answer_is_a_server_error(fake_agent: FakeAgent) -> None:
    client = client_of(fake_agent)
    fake_agent.set_response('GET', 'resources/cluster/', 200, {'stale': True})
    with pytest.raises(ServerError, match='collected_at'):
        client.get_cluster_resources()
    fake_agent.set_response('GET', 'resources/policy/', 200, {'max_concurrent_jobs': 'many'})
    with pytest.raises(ServerError, match='max_concurrent_jobs'):
        client.get_runtime_policy()


# --- exceptions -----------------------------------------------------------------------------


def test_exception_constructors_take_the_sdks_arguments() -> None:
    e = NotFoundError('no such job')
    assert (e.status_code, e.detail, str(e)) == (404, 'no such job', '404: no such job')
    assert ValidationError(422, {'detail': []}).status_code == 422
    assert ServerError(502, 'bad gateway').status_code == 502
    assert (ClientTimeoutError('slow').status_code, RateLimitError().status_code) == (408, 429)
    assert issubclass(ClientResponseIncompleteError, ClientConnectionError)
    assert issubclass(NotFoundError, HTTPError) and issubclass(GpuUnavailableError, HTTPError)
    assert isinstance(ClientConnectionError('x'), ConnectionError) and isinstance(ClientTimeoutError(), TimeoutError)
    gpu = GpuUnavailableError({'message': 'busy', 'error_type': 'gpu_unavailable', 'max_utilization': 97})
    assert (gpu.message, gpu.error_details) == ('busy', {'max_utilization': 97})


@pytest.mark.parametrize(
    ('status', 'detail', 'cls'),
    [
        (401, None, AuthenticationError),
        (404, 'x', NotFoundError),
        (400, None, ValidationError),
        (422, [], ValidationError),
        (429, None, RateLimitError),
        (503, {'error_type': 'gpu_unavailable'}, GpuUnavailableError),
        (503, {}, ServerError),
        (418, None, HTTPError),
    ],
)
def test_raise_for_status(status: int, detail: Any, cls: type[ClientError]) -> None:
    raise_for_status(200, 'fine')
    with pytest.raises(cls) as info:
        raise_for_status(status, detail)
    assert (type(info.value), info.value.status_code, info.value.detail) == (cls, status, detail)


def test_detail_is_the_parsed_body_and_the_message_stays_short(fake_agent: FakeAgent) -> None:
    body = {'detail': 'job is busy', 'job_id': 'job-1', 'echo': f'token {TOKEN}'}
    fake_agent.set_response('GET', 'jobs/', 409, body)
    with pytest.raises(HTTPError) as info:
        client_of(fake_agent).list_jobs()
    assert type(info.value) is HTTPError and info.value.status_code == 409
    assert info.value.detail == {**body, 'echo': 'token ***'}
    assert str(info.value) == '409: job is busy'
    fake_agent.set_response('GET', 'jobs/', 500, text='boom')
    with pytest.raises(ServerError) as info:
        client_of(fake_agent).list_jobs()
    assert info.value.detail == 'boom'


def test_gpu_unavailable_answers_raise_gpu_unavailable_error(fake_agent: FakeAgent) -> None:
    body = {'message': 'GPUs are full', 'error_type': 'gpu_unavailable', 'threshold': 90}
    fake_agent.set_response('POST', 'plugin_releases/p@1/run/', 503, body)
    with pytest.raises(GpuUnavailableError) as info:
        client_of(fake_agent).run_plugin_release('p@1', 'infer')
    assert (info.value.message, info.value.error_details) == ('GPUs are full', {'threshold': 90})


def test_not_found_detail_from_the_agent(fake_agent: FakeAgent) -> None:
    with pytest.raises(NotFoundError) as info:
        asyncio.run(_get_missing_job(fake_agent))
    assert info.value.detail == {'detail': 'Job not found'}


async def _get_missing_job(agent: FakeAgent) -> Any:
    async with AsyncAgentClient(agent.url, TOKEN) as client:
        return await client.get_job('nope')


# --- utils.network ------------------------------------------------------------------------


def test_network_helpers_take_the_sdks_parameter_names() -> None:
    assert network.validate_resource_id(resource_id='job-1', resource_name='job') == 'job-1'
    with pytest.raises(ValidationError, match='job'):
        network.validate_resource_id(resource_id='a/b', resource_name='job')
    assert network.validate_timeout(timeout=500, max_timeout=600.0) == 500.0
    with pytest.raises(ValidationError):
        network.validate_timeout(timeout=301)
    assert (
        network.sanitize_error_message(error_msg='failed token=abc', context='connect') == 'connect: failed token=***'
    )
    assert network.http_to_websocket_url(url='https://a.example/x/') == 'wss://a.example/x/'
    names = {
        f: list(inspect.signature(getattr(network, f)).parameters)
        for f in ('validate_timeout', 'sanitize_error_message')
    }
    assert names == {
        'validate_timeout': ['timeout', 'max_timeout'],
        'sanitize_error_message': ['error_msg', 'context', 'secrets'],
    }


# --- an answer that breaks off ------------------------------------------------------------


def _half_answer_server() -> tuple[socket.socket, threading.Thread]:
    """A raw HTTP server on 127.0.0.1 that sends headers and part of the body, then closes."""
    server = socket.create_server(('127.0.0.1', 0))

    def serve() -> None:
        for _ in range(2):
            conn, _addr = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"sta')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server, thread


def test_an_answer_that_breaks_off_is_a_response_incomplete_error() -> None:
    server, thread = _half_answer_server()
    url = f'http://127.0.0.1:{server.getsockname()[1]}'
    try:
        with pytest.raises(ClientResponseIncompleteError) as info:
            AgentClient(url, TOKEN).stop_job('job-1')
        assert info.value.status_code == 503 and isinstance(info.value, ClientConnectionError)
        assert 'broke off' in str(info.value) and 'POST /jobs/job-1/stop/' in str(info.value)

        async def call() -> None:
            async with AsyncAgentClient(url, TOKEN) as client:
                await client.health_check()

        with pytest.raises(ClientResponseIncompleteError):
            asyncio.run(call())
    finally:
        thread.join(timeout=10)
        server.close()
