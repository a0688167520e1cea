"""Typed views of ``GET resources/cluster/`` and ``GET/PATCH resources/policy/``.

The same classes, fields and defaults as the SDK's pydantic models, as plain dataclasses (no
pydantic dependency): ``Model.model_validate(dict)`` ignores unknown fields and fills missing
ones with their defaults, so a newer or older agent still parses; ``model_dump()`` gives the
dict back. An answer that lacks a required field, or has a value of the wrong type, raises
``ServerError`` (502): the agent answered something this client cannot read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar

from synapse_agent_rs.clients.exceptions import ServerError

__all__ = [
    'AgentRuntimePolicy',
    'ClusterResourceSnapshot',
    'GpuDevice',
    'GpuSummary',
    'NodeCounts',
    'NodeResource',
    'ResourceCounter',
]

M = TypeVar('M', bound='_Model')

_SCALARS: dict[str, type] = {'int': int, 'float': float, 'bool': bool, 'str': str}


def _scalar(kind: str, value: Any, where: str) -> Any:
    """Converts a JSON scalar the way pydantic's lax mode does for these fields."""
    target = _SCALARS[kind]
    if target is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if target is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, target) and not (target is int and isinstance(value, bool)):
        return value
    raise ServerError(502, f'{where} should be {kind}, not {type(value).__name__}')


def _datetime(value: Any, where: str) -> datetime:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value[:-1] + '+00:00' if value.endswith('Z') else value)
        except ValueError:
            pass
    raise ServerError(502, f'{where} should be an ISO 8601 date and time, not {value!r}')


class _Model:
    """``model_validate`` / ``model_dump`` over the dataclass fields and ``_types``."""

    # field -> 'int' | 'float' | 'bool' | 'str' | 'datetime' | 'dict' | a model class | [model class]
    _types: ClassVar[dict[str, Any]] = {}
    _optional: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def model_validate(cls: type[M], data: Any) -> M:
        """Builds the model from a dict, ignoring unknown keys and defaulting missing ones."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise ServerError(502, f'{cls.__name__} should be a JSON object, not {type(data).__name__}')
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name not in data:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise ServerError(502, f'{cls.__name__}.{f.name} is missing from the agent answer')
                continue
            values[f.name] = cls._convert(f.name, data[f.name])
        return cls(**values)

    @classmethod
    def _convert(cls, name: str, value: Any) -> Any:
        kind, where = cls._types[name], f'{cls.__name__}.{name}'
        if value is None and name in cls._optional:
            return None
        if isinstance(kind, list):
            if not isinstance(value, list):
                raise ServerError(502, f'{where} should be a list')
            return [kind[0].model_validate(item) for item in value]
        if isinstance(kind, type) and issubclass(kind, _Model):
            return kind.model_validate(value)
        if kind == 'datetime':
            return _datetime(value, where)
        if kind == 'dict':
            if not isinstance(value, dict):
                raise ServerError(502, f'{where} should be a JSON object')
            return value
        if kind == 'literal':
            return _scalar('str', value, where)
        return _scalar(kind, value, where)

    def model_dump(self) -> dict[str, Any]:
        """The model as a dict (nested models as dicts)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]


@dataclass
class ResourceCounter(_Model):
    """Total, used and available amounts of one resource."""

    _types: ClassVar[dict[str, Any]] = {'total': 'float', 'used': 'float', 'available': 'float'}

    total: float = 0.0
    used: float = 0.0
    available: float = 0.0


@dataclass
class GpuSummary(_Model):
    """The cluster's GPUs, summed up."""

    _types: ClassVar[dict[str, Any]] = {
        'total_gpus': 'int',
        'available_gpus': 'int',
        'total_memory_bytes': 'int',
        'available_memory_bytes': 'int',
        'max_utilization': 'float',
        'avg_utilization': 'float',
    }

    total_gpus: int = 0
    available_gpus: int = 0
    total_memory_bytes: int = 0
    available_memory_bytes: int = 0
    max_utilization: float = 0.0
    avg_utilization: float = 0.0


@dataclass
class GpuDevice(_Model):
    """One GPU of one node (memory in MB)."""

    _types: ClassVar[dict[str, Any]] = {
        'index': 'int',
        'name': 'str',
        'uuid': 'str',
        'utilization_gpu': 'float',
        'memory_used': 'int',
        'memory_total': 'int',
        'processes_pids': 'dict',
        'memory_used_ratio': 'float',
    }
    _optional: ClassVar[frozenset[str]] = frozenset({'utilization_gpu', 'processes_pids', 'memory_used_ratio'})

    index: int
    name: str = ''
    uuid: str = ''
    utilization_gpu: float | None = None
    memory_used: int = 0
    memory_total: int = 0
    processes_pids: dict[str, Any] | None = None
    memory_used_ratio: float | None = None


@dataclass
class NodeResource(_Model):
    """The resources of one node."""

    _types: ClassVar[dict[str, Any]] = {
        'node_id': 'str',
        'host_name': 'str',
        'ip': 'str',
        'is_head_node': 'bool',
        'state': 'literal',
        'accelerator_type': 'str',
        'cpu': ResourceCounter,
        'memory': ResourceCounter,
        'gpus': [GpuDevice],
    }
    _optional: ClassVar[frozenset[str]] = frozenset({'host_name', 'ip', 'accelerator_type'})

    node_id: str
    host_name: str | None = None
    ip: str | None = None
    is_head_node: bool = False
    state: Literal['ALIVE', 'DEAD'] = 'ALIVE'
    accelerator_type: str | None = None
    cpu: ResourceCounter = field(default_factory=ResourceCounter)
    memory: ResourceCounter = field(default_factory=ResourceCounter)
    gpus: list[GpuDevice] = field(default_factory=list)


@dataclass
class NodeCounts(_Model):
    """How many nodes there are, alive and dead."""

    _types: ClassVar[dict[str, Any]] = {'total': 'int', 'alive': 'int', 'dead': 'int'}

    total: int = 0
    alive: int = 0
    dead: int = 0


@dataclass
class ClusterResourceSnapshot(_Model):
    """The agent's view of the cluster's resources (``GET resources/cluster/``)."""

    _types: ClassVar[dict[str, Any]] = {
        'collected_at': 'datetime',
        'stale': 'bool',
        'cpu': ResourceCounter,
        'memory': ResourceCounter,
        'gpu': GpuSummary,
        'object_store': ResourceCounter,
        'running_jobs': 'int',
        'total_serve_replicas': 'int',
        'node_counts': NodeCounts,
        'nodes': [NodeResource],
    }
    _optional: ClassVar[frozenset[str]] = frozenset({'object_store'})

    collected_at: datetime
    stale: bool = False
    cpu: ResourceCounter = field(default_factory=ResourceCounter)
    memory: ResourceCounter = field(default_factory=ResourceCounter)
    gpu: GpuSummary = field(default_factory=GpuSummary)
    object_store: ResourceCounter | None = None
    running_jobs: int = 0
    total_serve_replicas: int = 0
    node_counts: NodeCounts = field(default_factory=NodeCounts)
    nodes: list[NodeResource] = field(default_factory=list)


@dataclass
class AgentRuntimePolicy(_Model):
    """The agent's effective runtime policy (``GET``/``PATCH resources/policy/``).

    ``max_concurrent_jobs`` caps the agent's job queue (0: unlimited);
    ``max_concurrent_ray_jobs`` is the gatekeeper's backstop on running Ray jobs (0: off).
    """

    _types: ClassVar[dict[str, Any]] = {
        'max_concurrent_jobs': 'int',
        'max_concurrent_serve_replicas': 'int',
        'gatekeeping_enabled': 'bool',
        'cpu_max_utilization_percent': 'float',
        'memory_max_utilization_percent': 'float',
        'gpu_max_utilization_percent': 'float',
        'gpu_max_memory_percent': 'float',
        'max_concurrent_ray_jobs': 'int',
        'resource_cache_ttl_seconds': 'float',
    }

    max_concurrent_jobs: int = 3
    max_concurrent_serve_replicas: int = 16
    gatekeeping_enabled: bool = True
    cpu_max_utilization_percent: float = 90.0
    memory_max_utilization_percent: float = 90.0
    gpu_max_utilization_percent: float = 90.0
    gpu_max_memory_percent: float = 90.0
    max_concurrent_ray_jobs: int = 0
    resource_cache_ttl_seconds: float = 5.0
