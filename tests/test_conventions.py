"""What httpx, aiohttp and websockets users expect: public stream types with a useful repr,
``async with`` streams, ``close()`` that closes, ``ValidationError`` as a ``ValueError``, and
records on the standard ``logging`` module (cheap when disabled, never a token)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from synapse_agent_rs import streams
from synapse_agent_rs._logging import LOGGER
from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.exceptions import (
    ClientClosedError,
    ClientConnectionError,
    ClientError,
    StreamLimitExceededError,
    ValidationError,
)
from synapse_agent_rs.streams import AsyncLineStream, BatchIter, LineStream
from synapse_agent_rs.testing import FakeAgent
from synapse_agent_rs.utils.network import StreamLimits
from tests.conftest import TOKEN

USER_TOKEN = 'user-secret-4711'
TENANT = 'tenant-secret-0815'


def wait_until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, 'condition not reached in time'
        time.sleep(0.01)


def established_to(port: int) -> int:
    """Our TCP connections to ``127.0.0.1:port`` that are established (``/proc/net/tcp``)."""
    count = 0
    with open('/proc/net/tcp') as table:
        for row in table.readlines()[1:]:
            fields = row.split()
            remote, state = fields[2], fields[3]
            if state == '01' and remote == f'0100007F:{port:04X}':
                count += 1
    return count


# --- stream types ---


def test_stream_types_are_public_documented_and_report_protocol_state_and_counters(fake_agent: FakeAgent) -> None:
    assert streams.__all__ == [
        'ArrowBatch',
        'ArrowStream',
        'AsyncArrowStream',
        'AsyncLineStream',
        'BatchIter',
        'LineStream',
    ]
    for cls in (
        LineStream,
        AsyncLineStream,
        BatchIter,
        streams.ArrowBatch,
        streams.ArrowStream,
        streams.AsyncArrowStream,
    ):
        assert cls.__doc__ and len(cls.__doc__) > 40, cls
    lines = [f'line {i}' for i in range(50)]
    fake_agent.add_job('job-1', lines, http_format='plain')
    client = AgentClient(fake_agent.url, TOKEN)

    stream = client.tail_job_logs('job-1', protocol='http')
    assert isinstance(stream, LineStream)
    assert stream.job_id == 'job-1'
    assert stream.state in ('connecting', 'open')
    assert list(stream) == lines
    assert (stream.state, stream.protocol, stream.open) == ('ended', 'http', False)
    assert (stream.lines, stream.messages) == (50, 50)
    assert stream.bytes == sum(len(line) for line in lines)
    assert repr(stream) == "<LineStream job_id='job-1' protocol='http' state='ended' lines=50 messages=50 bytes=340>"

    ws = client.tail_job_logs('job-1')
    assert next(ws) == 'line 0'
    assert ws.protocol == 'websocket' and ws.state == 'open'
    assert "protocol='websocket' (auto) state='open'" in repr(ws)
    ws.close()
    assert ws.state == 'closed' and "state='closed'" in repr(ws)

    batches = client.tail_job_logs('job-1', protocol='websocket').batches()
    assert isinstance(batches, BatchIter) and isinstance(batches.stream, LineStream)
    assert [line for batch in batches for line in batch] == lines
    assert batches.stream.lines == 50 and batches.stream.messages == 50 and batches.stream.bytes > 340
    assert "protocol='websocket' state='ended'" in repr(batches)


def test_auto_reports_the_protocol_it_fell_back_to(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job-1', ['a', 'b'], refuse_websocket=404)
    stream = AgentClient(fake_agent.url, TOKEN).tail_job_logs('job-1')
    assert list(stream) == ['a', 'b']
    assert stream.protocol == 'http'
    assert "protocol='http' (auto) state='ended' lines=2" in repr(stream)


def test_a_failed_stream_says_so_and_counts_what_came(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job-1', ['only line'], fault='drop')
    stream = AgentClient(fake_agent.url, TOKEN).tail_job_logs('job-1', protocol='websocket')
    assert next(stream) == 'only line'
    with pytest.raises(ClientConnectionError) as caught:
        next(stream)
    assert (stream.state, stream.lines) == ('failed', 1)
    # Human messages: "1 line", not "1 lines".
    assert 'after 1 line ' in str(caught.value) and '1 lines' not in str(caught.value)


def test_messages_have_no_bad_plurals_or_empty_reasons(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('closed', ['a'], fault='close', close_code=4000)
    fake_agent.add_job('two', ['a', 'b'])
    client = AgentClient(fake_agent.url, TOKEN)
    with pytest.raises(ClientConnectionError) as caught:
        list(client.tail_job_logs('closed', protocol='websocket'))
    message = str(caught.value)
    assert 'the agent closed the WebSocket with code 4000' in message and '()' not in message, message
    assert 'after 1 line ' in message

    client.stream_limits = StreamLimits(max_messages=1)
    with pytest.raises(StreamLimitExceededError) as limit:
        list(client.tail_job_logs('two', protocol='websocket'))
    assert 'more than 1 message (max_messages)' in str(limit.value), str(limit.value)


def test_for_loops_share_their_stream_and_keep_it_alive(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job', ['a', 'b', 'c', 'd'])
    client = AgentClient(fake_agent.url, TOKEN)
    # The iterator holds the stream: a stream nothing else refers to still gives its lines.
    assert next(iter(client.tail_job_logs('job'))) == 'a'

    stream = client.tail_job_logs('job')
    first, second = iter(stream), iter(stream)
    assert next(first) == 'a'
    assert next(second) == 'b'
    assert next(stream) == 'c'
    assert list(first) == ['d']
    assert list(second) == []
    assert stream.state == 'ended'

    stream = client.tail_job_logs('job')
    for line in stream:
        assert line == 'a'
        break
    assert stream.open
    assert [*stream] == ['b', 'c', 'd']


def test_async_streams_support_async_with_and_refuse_sync_iteration(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job-1', ['a', 'b', 'c'])
    fake_agent.add_job('quiet', ['first'], fault='silence')

    async def main() -> None:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
            stream = client.tail_job_logs('job-1')
            assert isinstance(stream, AsyncLineStream)
            with pytest.raises(TypeError, match='async for'):
                list(stream)
            with pytest.raises(TypeError, match='async for'):
                for _ in stream:  # type: ignore[attr-defined]
                    pass
            with pytest.raises(TypeError):
                next(stream)  # type: ignore[call-overload]
            # Still usable the right way after the mistakes.
            async with stream as entered:
                assert entered is stream
                assert [line async for line in stream] == ['a', 'b', 'c']
            assert (stream.state, stream.protocol, stream.lines) == ('ended', 'websocket', 3)

            quiet = client.tail_job_logs('quiet', protocol='http')
            async with quiet:
                assert await quiet.__anext__() == 'first'
                assert quiet.state == 'open' and quiet.protocol == 'http'
            assert quiet.state == 'closed' and not quiet.open
            assert repr(quiet).startswith("<AsyncLineStream job_id='quiet' protocol='http' state='closed' lines=1")
            # asyncio's wrappers (wait_for, ensure_future) still await a step of the stream.
            again = client.tail_job_logs('job-1')
            assert await asyncio.wait_for(again.__anext__(), 5) == 'a'
            await again.aclose()

    asyncio.run(main())
    wait_until(lambda: fake_agent.stream_stats()['open'] == 0)


# --- close() ---


def test_sync_close_drops_pooled_connections_and_later_calls_raise(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('job-1', ['a'])
    fake_agent.add_job('long', ['x', 'y'], pace=20)
    port = fake_agent.port
    assert port is not None
    with AgentClient(fake_agent.url, TOKEN) as client:
        assert client.health_check() == {'status': 'healthy'}
        assert not client.closed
        wait_until(lambda: established_to(port) == 1)  # the pooled keep-alive connection
        open_stream = client.tail_job_logs('long', protocol='http')
        assert next(open_stream) == 'x'
    assert client.closed
    # The stream opened before close() goes on to its end; the idle pooled connection is gone.
    assert list(open_stream) == ['y']
    wait_until(lambda: established_to(port) == 0)
    requests_before = len(fake_agent.requests())
    with pytest.raises(ClientClosedError, match='closed'):
        client.health_check()
    with pytest.raises(ClientClosedError):
        client.tail_job_logs('job-1')
    assert isinstance(ClientClosedError('x'), RuntimeError) and not issubclass(ClientClosedError, ClientError)
    assert len(fake_agent.requests()) == requests_before
    client.close()  # twice is fine


def test_async_close_drops_pooled_connections_and_later_calls_raise(fake_agent: FakeAgent) -> None:
    port = fake_agent.port
    assert port is not None

    async def main() -> AsyncAgentClient:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
            assert await client.health_check() == {'status': 'healthy'}
            await asyncio.to_thread(wait_until, lambda: established_to(port) == 1)
        assert client.closed
        with pytest.raises(ClientClosedError):
            await client.health_check()
        with pytest.raises(ClientClosedError):
            client.tail_job_logs('job-1')
        await client.close()
        return client

    asyncio.run(main())
    wait_until(lambda: established_to(port) == 0)


def test_validation_error_is_a_value_error(fake_agent: FakeAgent) -> None:
    client = AgentClient(fake_agent.url, TOKEN)
    with pytest.raises(ValueError) as caught:
        client.get_job('../etc')
    assert isinstance(caught.value, ValidationError) and caught.value.status_code == 400
    with pytest.raises(ValueError):
        client.tail_job_logs('job', protocol='carrier-pigeon')
    with pytest.raises(ValueError):
        AgentClient('not a url', TOKEN)


# --- logging ---


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int | None = None) -> list[str]:
        return [r.getMessage() for r in self.records if level is None or r.levelno == level]


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    level = LOGGER.level
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(level)


def assert_no_secret(records: Records) -> None:
    for record in records.records:
        text = record.getMessage() + repr(record.args)
        for secret in (TOKEN, USER_TOKEN, TENANT):
            assert secret not in text, text


def test_one_logger_records_requests_and_streams_at_debug_without_tokens(
    fake_agent: FakeAgent, records: Records
) -> None:
    assert logging.getLogger('synapse_agent_rs') is LOGGER
    fake_agent.add_job('job-1', ['a', 'b'])
    client = AgentClient(fake_agent.url, TOKEN, user_token=USER_TOKEN, tenant=TENANT)
    client.health_check()
    with pytest.raises(ClientError):
        client.get_job('missing')
    assert list(client.tail_job_logs('job-1')) == ['a', 'b']
    debug = records.messages(logging.DEBUG)
    origin = fake_agent.url.rstrip('/')
    assert any(m.startswith(f'GET {origin}/health/ answered in ') for m in debug), debug
    assert any(m.startswith(f'GET {origin}/jobs/missing/ failed after ') and 'NotFoundError (404)' in m for m in debug)
    assert 'log stream of job job-1: connecting (protocol auto)' in debug
    assert 'log stream of job job-1 opened over websocket' in debug
    assert any(m.startswith('log stream of job job-1 ended after 2 lines (') for m in debug), debug
    assert not records.messages(logging.WARNING)
    assert all(r.name == 'synapse_agent_rs' for r in records.records)
    assert_no_secret(records)

    stream = client.tail_job_logs('job-1', protocol='http')
    next(stream)
    stream.close()
    assert any(m.startswith('log stream of job job-1 closed by the consumer after ') for m in records.messages())


def test_auto_fallback_is_a_warning_with_its_reason(fake_agent: FakeAgent, records: Records) -> None:
    fake_agent.add_job('job-1', ['a'], refuse_websocket=403)
    LOGGER.setLevel(logging.WARNING)
    client = AgentClient(fake_agent.url, TOKEN, user_token=USER_TOKEN)
    assert list(client.tail_job_logs('job-1')) == ['a']

    async def main() -> list[str]:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as aclient:
            return [line async for line in aclient.tail_job_logs('job-1')]

    assert asyncio.run(main()) == ['a']
    warnings = records.messages(logging.WARNING)
    assert len(warnings) == 2 and records.messages() == warnings
    for message in warnings:
        assert message.startswith('log stream of job job-1: the WebSocket could not be established (')
        assert '403' in message and message.endswith('; fell back to HTTP')
    assert_no_secret(records)


def test_logging_costs_nothing_per_line(fake_agent: FakeAgent, records: Records, monkeypatch: Any) -> None:
    fake_agent.add_job('many', [f'line {i}' for i in range(5000)])
    client = AgentClient(fake_agent.url, TOKEN)
    # Enabled: a handful of records for 5000 lines, on either protocol.
    for protocol in ('websocket', 'http'):
        before = len(records.records)
        assert sum(1 for _ in client.tail_job_logs('many', protocol=protocol)) == 5000
        assert 2 <= len(records.records) - before <= 4

    # Disabled: one isEnabledFor check per stream, and the core gets no logger at all.
    LOGGER.setLevel(logging.ERROR)
    checks: list[int] = []
    real = LOGGER.isEnabledFor
    monkeypatch.setattr(LOGGER, 'isEnabledFor', lambda level: checks.append(level) or real(level))
    before = len(records.records)
    assert sum(1 for _ in client.tail_job_logs('many', protocol='http')) == 5000
    assert checks == [logging.WARNING]
    assert len(records.records) == before


def test_a_loop_that_cannot_watch_sockets_gets_a_clear_error(fake_agent: FakeAgent) -> None:
    """Windows' ProactorEventLoop has no add_reader; such a loop is told what to use instead."""
    fake_agent.add_job('quiet', ['a'], fault='silence')

    class NoReaderLoop(asyncio.SelectorEventLoop):
        def add_reader(self, *args: Any) -> None:
            raise NotImplementedError

    async def main() -> None:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as client, client.tail_job_logs('quiet') as stream:
            with pytest.raises(RuntimeError, match='WindowsSelectorEventLoopPolicy'):
                # Nothing is ready at first (or after 'a'): the stream must wait on the loop.
                while True:
                    await stream.__anext__()

    loop = NoReaderLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
