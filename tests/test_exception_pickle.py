"""Every exception class of ``clients.exceptions`` round-trips through ``pickle`` and ``copy``
with the same class, ``str``, ``status_code``, ``detail``, ``job_id`` (issue 17, item 10):
errors cross process boundaries (Ray actors, multiprocessing) and must arrive unchanged."""

from __future__ import annotations

import copy
import inspect
import pickle
from typing import Any

import pytest

from synapse_agent_rs.clients import exceptions
from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.exceptions import ClientError, raise_for_status
from synapse_agent_rs.testing import FakeAgent
from tests.conftest import TOKEN

CLASSES = [
    cls
    for _, cls in inspect.getmembers(exceptions, inspect.isclass)
    if issubclass(cls, BaseException) and cls.__module__ == exceptions.__name__
]


def same(a: BaseException, b: BaseException) -> None:
    assert type(b) is type(a)
    assert str(b) == str(a)
    assert b.args == a.args
    for name in ('status_code', 'detail', 'job_id', 'limit', 'max'):
        assert getattr(b, name, None) == getattr(a, name, None), name


def made(cls: type[BaseException]) -> list[BaseException]:
    """Instances of `cls` as its constructor, ``_from_core`` and the attribute setters make them."""
    out: list[BaseException] = []
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != 'self']
    if issubclass(cls, ClientError):
        if params and params[0].name == 'status_code':
            out += [cls(502, 'boom'), cls(503, {'detail': 'x'}), cls(None, None)]  # type: ignore[call-arg]
        else:
            out += [cls('boom'), cls({'detail': 'Job not found'}), cls()]  # type: ignore[call-arg]
        core = exceptions._from_core(cls.__name__, 404, 'job nope: Job not found', {'detail': 'Job not found'})
        core.job_id = 'nope'
        out += [core, exceptions._from_core(cls.__name__, 500, 'boom')]
        limited = cls.__new__(cls)
        ClientError.__init__(limited, 429, 'more than 3 lines')
        limited.limit, limited.max = 'lines (max_lines)', 3  # type: ignore[attr-defined]
        out.append(limited)
    else:
        out.append(cls('client closed'))
    return out


@pytest.mark.parametrize('cls', CLASSES, ids=lambda c: c.__name__)
def test_every_class_round_trips(cls: type[BaseException]) -> None:
    for error in made(cls):
        same(error, pickle.loads(pickle.dumps(error)))
        same(error, copy.deepcopy(error))
        same(error, copy.copy(error))


def test_the_errors_of_the_issue_keep_their_text() -> None:
    """Regression: '404: job nope: Job not found' came back as '404: 404: job nope: ...',
    and '500: boom' as '500: boom: None'."""
    not_found = exceptions._from_core('NotFoundError', 404, 'job nope: Job not found', {'detail': 'Job not found'})
    server = exceptions._from_core('ServerError', 500, 'boom')
    for error, text in ((not_found, '404: job nope: Job not found'), (server, '500: boom')):
        back: Any = pickle.loads(pickle.dumps(error))
        assert str(back) == text
    with pytest.raises(ClientError) as info:
        raise_for_status(404, 'gone')
    assert str(pickle.loads(pickle.dumps(info.value))) == '404: gone'


def test_errors_of_a_real_stream_round_trip(fake_agent: FakeAgent) -> None:
    client = AgentClient(fake_agent.url, TOKEN)
    for protocol in ('http', 'websocket'):
        with pytest.raises(ClientError) as info:
            list(client.tail_job_logs('nope', protocol=protocol))
        back = pickle.loads(pickle.dumps(info.value))
        same(info.value, back)
        assert back.job_id == 'nope' and back.status_code == 404
