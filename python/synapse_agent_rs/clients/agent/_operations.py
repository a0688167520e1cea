"""The agent's container, system and resource endpoints, written once for both clients.

As in ``_base``, each endpoint describes its request (``_endpoint.py`` makes it a method of
the sync client and a coroutine of the async one). The methods that poll and sleep
(``wait_for_build``, ``create_container``, ``wait_for_system_ready``, ``update_system``,
``restart_system``) are written in ``_sync`` and ``_async``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from synapse_agent_rs.clients.agent._base import BaseAgentClient, JSONList, JSONObject
from synapse_agent_rs.clients.agent._endpoint import Plan, Request, endpoint
from synapse_agent_rs.clients.agent.models import AgentRuntimePolicy, ClusterResourceSnapshot
from synapse_agent_rs.clients.exceptions import ValidationError
from synapse_agent_rs.utils.network import path_segment

ResourceKind = Literal['job', 'serve', 'container', 'task']
"""What ``check_feasibility`` asks about."""


def _segment(value: object, name: str) -> str:
    return path_segment(str(value), name)


def serialize_plugin_release(plugin_release: Any) -> dict[str, Any]:
    """The request fields of a plugin release: a ``code@version`` string, or an object with
    ``code``, ``version`` and optionally ``plugin`` and ``config`` (the SDK's ``PluginRelease``)."""
    if hasattr(plugin_release, 'code') and hasattr(plugin_release, 'version'):
        payload: dict[str, Any] = {
            'plugin_release': plugin_release.code,
            'plugin': getattr(plugin_release, 'plugin', None),
            'version': plugin_release.version,
        }
        actions = (getattr(plugin_release, 'config', None) or {}).get('actions') or {}
        if actions:
            name = next(iter(actions))
            payload['action'] = name
            entrypoint = actions[name].get('entrypoint')
            if entrypoint:  # 'plugin.gradio_interface.app' -> 'plugin/gradio_interface.py'
                payload['entrypoint'] = entrypoint.rsplit('.', 1)[0].replace('.', '/') + '.py'
        return payload
    if isinstance(plugin_release, str):
        payload = {'plugin_release': plugin_release}
        if '@' in plugin_release:
            payload['plugin'], payload['version'] = plugin_release.rsplit('@', 1)
        return payload
    raise TypeError('plugin_release must be a PluginRelease instance or a formatted string "code@version"')


def container_body(
    plugin_release: Any,
    *,
    model: int | None,
    params: Mapping[str, Any] | None,
    envs: Mapping[str, str] | None,
    metadata: Mapping[str, Any] | None,
    labels: Iterable[str] | None,
    plugin_file: Any,
    kind: str | None,
    backend_container_id: int | None,
) -> dict[str, Any]:
    """The body of ``POST containers/``, as the SDK builds it."""
    if plugin_file is not None:
        raise ValidationError(400, 'plugin_file uploads are not supported by this client; release the plugin first')
    if not plugin_release:
        raise ValueError('Either "plugin_release" or "plugin_file" must be provided to create a container.')
    body = serialize_plugin_release(plugin_release)
    if model is not None:
        body['model'] = model
    optional = {
        'params': params,
        'envs': envs or None,
        'metadata': metadata or None,
        'labels': list(labels) if labels else None,
        'kind': kind or None,
        'backend_container_id': backend_container_id,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    return body


class ContainerClientMixin(BaseAgentClient):
    """Container builds, Docker containers and the agent's container records."""

    @endpoint
    def get_build_status(self, build_id: str) -> Request[JSONObject]:
        """The status of a container build (dict with ``status``, ``result``, ``error``)."""
        return Request('GET', f'builds/{_segment(build_id, "build_id")}/')

    @endpoint
    def list_docker_containers(self) -> Request[JSONList]:
        """The Docker containers on the agent's host (list)."""
        return Request('GET', 'containers/docker/')

    @endpoint
    def get_docker_container(self, container_id: str) -> Request[JSONObject]:
        """One Docker container (dict)."""
        return Request('GET', f'containers/docker/{_segment(container_id, "container_id")}')

    @endpoint
    def create_docker_container(
        self,
        plugin_release: str,
        *,
        params: Mapping[str, Any] | None = None,
        envs: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        labels: list[str] | None = None,
    ) -> Request[JSONObject]:
        """Builds and runs a Docker container for a plugin release (``code@version``)."""
        body: dict[str, Any] = {'plugin_release': plugin_release}
        optional = {'params': params, 'envs': envs, 'metadata': metadata, 'labels': labels}
        body.update({key: value for key, value in optional.items() if value is not None})
        return Request('POST', 'containers/docker/', body=body)

    @endpoint
    def delete_docker_container(self, container_id: str) -> Request[None]:
        """Stops and removes a Docker container (``None``)."""
        return Request('DELETE', f'containers/docker/{_segment(container_id, "container_id")}')

    @endpoint
    def stop_docker_container(self, container_id: str) -> Request[JSONObject]:
        """Stops a Docker container without removing it (dict)."""
        return Request('POST', f'containers/docker/{_segment(container_id, "container_id")}/stop/')

    @endpoint
    def start_docker_container(self, container_id: str) -> Request[JSONObject]:
        """Starts a stopped Docker container again (dict)."""
        return Request('POST', f'containers/docker/{_segment(container_id, "container_id")}/start/')

    @endpoint
    def list_containers(self, params: Mapping[str, Any] | None = None, *, list_all: bool = False) -> Plan[Any]:
        """The agent's container records: one page, or ``(iterator over all, count)`` with ``list_all``."""
        return self._list('containers/', params, list_all)

    @endpoint
    def get_container(self, container_id: int) -> Request[JSONObject]:
        """One container record (dict)."""
        return Request('GET', f'containers/{_segment(container_id, "container_id")}')

    @endpoint
    def update_container(self, container_id: int, *, status: str | None = None) -> Request[JSONObject]:
        """Changes a container record's status (dict)."""
        body = {} if status is None else {'status': status}
        return Request('PATCH', f'containers/{_segment(container_id, "container_id")}', body=body)

    @endpoint
    def delete_container(self, container_id: int) -> Request[None]:
        """Deletes a container record and stops its Docker container (``None``)."""
        return Request('DELETE', f'containers/{_segment(container_id, "container_id")}')


class SystemClientMixin(BaseAgentClient):
    """The agent's own deployment: compose configuration and the state of updates and restarts."""

    @endpoint
    def get_compose_config(self) -> Request[JSONObject]:
        """The Docker Compose configuration the agent runs under (dict)."""
        return Request('GET', 'system/compose-config/')

    @endpoint
    def get_system_status(self) -> Request[JSONObject]:
        """Whether an update or restart is in progress (dict)."""
        return Request('GET', 'system/status/')


class ResourceClientMixin(BaseAgentClient):
    """Cluster resources and the agent's gatekeeping policy."""

    @endpoint
    def get_cluster_resources(self, use_cache: bool = True) -> Plan[ClusterResourceSnapshot]:
        """The cluster's resources, as a ``ClusterResourceSnapshot``."""
        answer = yield Request('GET', 'resources/cluster/', params={'use_cache': use_cache})
        return ClusterResourceSnapshot.model_validate(answer)

    @endpoint
    def check_feasibility(
        self,
        kind: ResourceKind,
        num_cpus: float,
        num_gpus: float = 0.0,
        memory_bytes: int | None = None,
        replicas: int = 1,
        metadata: Mapping[str, Any] | None = None,
    ) -> Request[JSONObject]:
        """Asks whether the cluster could run a workload now, without running it (dict)."""
        body = {
            'kind': kind,
            'num_cpus': num_cpus,
            'num_gpus': num_gpus,
            'memory_bytes': memory_bytes,
            'replicas': replicas,
            'metadata': dict(metadata or {}),
        }
        return Request('POST', 'resources/feasibility/', body=body)

    @endpoint
    def get_gatekeeping_policy(self) -> Request[JSONObject]:
        """The agent's gatekeeping policy (dict)."""
        return Request('GET', 'resources/policy/')

    @endpoint
    def update_gatekeeping_policy(self, patch: Mapping[str, Any]) -> Request[JSONObject]:
        """Changes fields of the gatekeeping policy; returns the policy (dict)."""
        return Request('PATCH', 'resources/policy/', body=dict(patch))

    @endpoint
    def get_runtime_policy(self) -> Plan[AgentRuntimePolicy]:
        """The agent's policy as an ``AgentRuntimePolicy``."""
        return AgentRuntimePolicy.model_validate((yield Request('GET', 'resources/policy/')))

    @endpoint
    def update_runtime_policy(self, patch: Mapping[str, Any]) -> Plan[AgentRuntimePolicy]:
        """Changes fields of the policy; returns it as an ``AgentRuntimePolicy``."""
        answer = yield Request('PATCH', 'resources/policy/', body=dict(patch))
        return AgentRuntimePolicy.model_validate(answer)
