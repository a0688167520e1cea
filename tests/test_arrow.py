"""``.arrow()``: Arrow record batches of lines, row for row what the line API yields, read by pyarrow,
Polars and DuckDB through the Arrow PyCapsule interface, and ``.to_parquet`` (against the FakeAgent)."""

from __future__ import annotations

import _thread
import asyncio
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.exceptions import (
    ClientError,
    ServerError,
    StreamLimitExceededError,
    ValidationError,
)
from synapse_agent_rs.streams import ArrowBatch, ArrowStream, AsyncArrowStream
from synapse_agent_rs.testing import FakeAgent
from synapse_agent_rs.utils.network import StreamLimits
from tests.conftest import TOKEN

# Multi-byte characters (2, 3 and 4 UTF-8 bytes), an empty line, JSON escapes and a long line.
HARD = ['héllo wörld', '', '日本語のログ 🚀 done', 'tab\there "quoted" \\ back', '', 'x' * 3000, 'ß' * 7, 'last ✓']

Rows = list[tuple[str, int, str]]


def rows_of(batches: Any) -> Rows:
    """``(job_id, seq, line)`` of every row, through pyarrow (so our capsules are read, not our objects)."""
    out: Rows = []
    for batch in batches:
        record = pa.record_batch(batch)
        out.extend(zip(*(record.column(i).to_pylist() for i in range(3)), strict=True))
    return out


def numbered(job: str, lines: list[str]) -> Rows:
    return [(job, i, line) for i, line in enumerate(lines)]


def line_api(url: str, job: str, limits: StreamLimits | None = None, **kw: Any) -> tuple[list[str], Any]:
    """What ``for line in tail_job_logs(...)`` yields, and the error it ends with."""
    client = AgentClient(url, TOKEN)
    if limits is not None:
        client.stream_limits = limits
    lines: list[str] = []
    try:
        lines.extend(client.tail_job_logs(job, **kw))
    except ClientError as e:
        return lines, e
    return lines, None


def arrow_sync(url: str, job: str, limits: StreamLimits | None = None, **kw: Any) -> tuple[Rows, Any]:
    client = AgentClient(url, TOKEN)
    if limits is not None:
        client.stream_limits = limits
    got: list[Any] = []
    try:
        for batch in client.tail_job_logs(job, **kw).arrow(max_rows=3):
            assert isinstance(batch, ArrowBatch) and 0 < batch.num_rows <= 3
            got.append(batch)
    except ClientError as e:
        return rows_of(got), e
    return rows_of(got), None


def arrow_async(url: str, job: str, limits: StreamLimits | None = None, **kw: Any) -> tuple[Rows, Any]:
    async def main() -> tuple[Rows, Any]:
        async with AsyncAgentClient(url, TOKEN) as client:
            if limits is not None:
                client.stream_limits = limits
            got: list[Any] = []
            try:
                async for batch in client.tail_job_logs(job, **kw).arrow(max_rows=3):
                    got.append(batch)
            except ClientError as e:
                return rows_of(got), e
            return rows_of(got), None

    return asyncio.run(main())


ARROW = {'sync': arrow_sync, 'async': arrow_async}

CASES = {
    'ws-json-fragmented': dict(ws_format='json', fragment=3),
    'ws-raw': dict(ws_format='raw'),
    'http-plain-cut-in-chars': dict(http_format='plain', chunk_cuts=[2, 9, 20, 41, 44]),
    'http-sse-cut': dict(http_format='sse', chunk_cuts=[5, 13, 60]),
}


@pytest.mark.parametrize('flavour', list(ARROW))
@pytest.mark.parametrize('case', list(CASES))
def test_columns_equal_the_line_api_row_for_row(fake_agent: FakeAgent, case: str, flavour: str) -> None:
    script = CASES[case]
    protocol = 'websocket' if 'ws_format' in script else 'http'
    fake_agent.add_job('raysubmit_hard', HARD, **script)
    lines, error = line_api(fake_agent.url, 'raysubmit_hard', protocol=protocol)
    assert error is None and lines and '' not in lines, 'the line API skips empty lines'
    rows, error = ARROW[flavour](fake_agent.url, 'raysubmit_hard', protocol=protocol)
    assert error is None
    assert rows == numbered('raysubmit_hard', lines)


@pytest.mark.parametrize('flavour', list(ARROW))
def test_limits_and_errors_match_the_line_api_with_the_job_id(fake_agent: FakeAgent, flavour: str) -> None:
    fake_agent.add_job('floods', [f'line {i}' for i in range(50)])
    fake_agent.add_job('fails', ['a', 'b', 'c', 'd'], fault='error', error_message='job exploded')
    limits = StreamLimits(max_messages=10, max_lines=10)
    lines, line_error = line_api(fake_agent.url, 'floods', limits, protocol='websocket')
    rows, error = ARROW[flavour](fake_agent.url, 'floods', limits, protocol='websocket')
    assert rows == numbered('floods', lines) and len(rows) == 10
    assert isinstance(error, StreamLimitExceededError) and type(error) is type(line_error)
    assert error.job_id == 'floods'

    rows, error = ARROW[flavour](fake_agent.url, 'fails')
    assert rows == numbered('fails', ['a', 'b', 'c', 'd']), 'the rows before an error are handed out first'
    assert isinstance(error, ServerError) and 'job exploded' in str(error) and error.job_id == 'fails'


def test_bulk_failures_are_isolated_and_seq_numbers_each_job(fake_agent: FakeAgent) -> None:
    healthy = {f'ok-{i}': [f'ok-{i} línea {n}' for n in range(40 + i)] for i in range(8)}
    for job, lines in healthy.items():
        fake_agent.add_job(job, lines, fragment=2)
    fake_agent.add_job('bad', ['b0', 'b1'], fault='error', error_message='boom')
    client = AgentClient(fake_agent.url, TOKEN)
    with client.tail_many([*healthy, 'bad', 'missing']) as stream:
        arrow = stream.arrow(max_rows=7)
        assert isinstance(arrow, ArrowStream) and arrow.stream is stream
        rows = rows_of(arrow)
        failures = stream.failures
        ended = stream.ended
    by_job: dict[str, Rows] = defaultdict(list)
    for row in rows:
        by_job[row[0]].append(row)
    want = {job: numbered(job, lines) for job, lines in healthy.items()} | {'bad': numbered('bad', ['b0', 'b1'])}
    assert dict(by_job) == want
    assert set(failures) == {'bad', 'missing'} and isinstance(failures['bad'], ServerError)
    assert failures['bad'].job_id == 'bad'
    assert set(ended) == {*healthy, 'bad', 'missing'}


def test_async_bulk(fake_agent: FakeAgent) -> None:
    for i in range(5):
        fake_agent.add_job(f'j{i}', [f'{i}:{n} ✓' for n in range(30)])
    fake_agent.add_job('bad', [], fault='drop')

    async def main() -> tuple[Rows, dict[str, Any]]:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
            # resume=False: the drop must end its job (with resume, it resumes until its policy gives up).
            stream = client.tail_many([*(f'j{i}' for i in range(5)), 'bad'], resume=False)
            arrow = stream.arrow()
            assert isinstance(arrow, AsyncArrowStream)
            got = [batch async for batch in arrow]
            return rows_of(got), stream.failures

    rows, failures = asyncio.run(main())
    assert sorted(rows) == sorted(r for i in range(5) for r in numbered(f'j{i}', [f'{i}:{n} ✓' for n in range(30)]))
    assert set(failures) == {'bad'}


def test_max_delay_hands_out_a_quiet_jobs_lines(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('quiet', ['one', 'two'], fault='silence')
    client = AgentClient(fake_agent.url, TOKEN)
    with client.tail_job_logs('quiet').arrow(max_delay=0.05) as arrow:
        first = next(arrow)  # the stream never ends: only the delay can hand these out
        assert rows_of([first]) == numbered('quiet', ['one', 'two'])


def test_async_max_delay_and_close_from_another_task(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('quiet', ['one', 'two'], fault='silence')

    async def main() -> tuple[Rows, bool]:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
            arrow = client.tail_job_logs('quiet').arrow(max_delay=0.05)
            first = await asyncio.wait_for(arrow.__anext__(), 20)  # only the delay can hand these out
            waiting = asyncio.ensure_future(arrow.__anext__())
            await asyncio.sleep(0.1)
            assert not waiting.done(), 'the job is silent: nothing more comes'
            arrow.close()  # wakes the waiting task, which finds the end
            try:
                await asyncio.wait_for(waiting, 20)
            except StopAsyncIteration:
                return rows_of([first]), True
            return rows_of([first]), False

    rows, ended = asyncio.run(main())
    assert rows == numbered('quiet', ['one', 'two'])
    assert ended


def test_bad_sizing_is_a_validation_error(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('j', ['a'])
    stream = AgentClient(fake_agent.url, TOKEN).tail_job_logs('j')
    for kwargs in ({'max_rows': 0}, {'max_bytes': 0}, {'max_delay': -1.0}, {'max_delay': float('nan')}):
        with pytest.raises(ValidationError):
            stream.arrow(**kwargs)
    stream.close()


def test_pyarrow_reads_the_stream_and_the_batches(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('j', HARD)
    client = AgentClient(fake_agent.url, TOKEN)
    arrow = client.tail_job_logs('j').arrow(max_rows=2)
    reader = pa.RecordBatchReader.from_stream(arrow)
    assert reader.schema == pa.schema(
        [
            pa.field('job_id', pa.dictionary(pa.int32(), pa.string()), nullable=False),
            pa.field('seq', pa.uint64(), nullable=False),
            pa.field('line', pa.large_string(), nullable=False),
        ]
    )
    assert pa.schema(arrow) == reader.schema
    table = reader.read_all()
    lines = [line for line in HARD if line]
    assert table.column('line').to_pylist() == lines
    assert table.column('seq').to_pylist() == list(range(len(lines)))
    assert table.num_rows == len(lines) and table.to_batches()[0].num_rows == 2


def test_polars_and_duckdb_read_the_capsules(fake_agent: FakeAgent) -> None:
    for i in range(3):
        fake_agent.add_job(f'j{i}', [f'{i} é {n}' for n in range(20)])
    client = AgentClient(fake_agent.url, TOKEN)
    frame = pl.DataFrame(client.tail_many(['j0', 'j1', 'j2']).arrow())
    assert frame.height == 60
    assert frame.filter(pl.col('job_id') == 'j1').sort('seq')['line'].to_list() == [f'1 é {n}' for n in range(20)]
    batch = next(iter(client.tail_job_logs('j2').arrow()))
    assert pl.DataFrame(batch)['line'].to_list() == [f'2 é {n}' for n in range(20)]

    tail = client.tail_many(['j0', 'j1', 'j2']).arrow()  # noqa: F841 (DuckDB finds it by name)
    counts = duckdb.sql('SELECT job_id, count(*), max(seq) FROM tail GROUP BY job_id ORDER BY job_id').fetchall()
    assert counts == [('j0', 20, 19), ('j1', 20, 19), ('j2', 20, 19)]


def test_to_parquet_keeps_what_was_written_when_the_stream_fails(fake_agent: FakeAgent, tmp_path: Path) -> None:
    lines = [f'line {i} ✓' for i in range(25)]
    fake_agent.add_job('fails', lines, fault='error', error_message='boom')
    path = tmp_path / 'out.parquet'
    with pytest.raises(ServerError):
        AgentClient(fake_agent.url, TOKEN).tail_job_logs('fails').arrow(max_rows=10).to_parquet(path)
    written = pq.ParquetFile(path)
    assert written.num_row_groups == 3, 'one row group per batch'
    assert written.read().column('line').to_pylist() == lines

    fake_agent.add_job('ok', lines)
    rows = AgentClient(fake_agent.url, TOKEN).tail_job_logs('ok').arrow().to_parquet(tmp_path / 'ok.parquet')
    assert rows == 25 and pq.read_table(tmp_path / 'ok.parquet').column('seq').to_pylist() == list(range(25))


def test_to_parquet_to_a_bad_path_raises_and_closes_the_stream(fake_agent: FakeAgent, tmp_path: Path) -> None:
    fake_agent.add_job('j', ['a'], fault='silence')
    stream = AgentClient(fake_agent.url, TOKEN).tail_job_logs('j')
    with pytest.raises(OSError):
        stream.arrow().to_parquet(tmp_path / 'missing-dir' / 'out.parquet')
    assert stream.state == 'closed'


def test_to_parquet_interrupted_by_ctrl_c_is_readable(fake_agent: FakeAgent, tmp_path: Path) -> None:
    lines = [f'line {i}' for i in range(100)]
    fake_agent.add_job('endless', lines, fault='silence')
    path = tmp_path / 'interrupted.parquet'
    stream = AgentClient(fake_agent.url, TOKEN).tail_job_logs('endless')

    main = threading.get_ident()

    def writing() -> bool:
        return sys._current_frames()[main].f_code.co_name == 'to_parquet' and stream.lines >= 100

    def interrupt() -> None:
        deadline = time.monotonic() + 20
        while not writing() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # the batch is due 10 ms after its first row: written long before
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        stream.arrow(max_delay=0.01).to_parquet(path)
    assert stream.state == 'closed'
    assert pq.read_table(path).column('line').to_pylist() == lines


def test_ctrl_c_while_pyarrow_reads_the_c_stream_raises_keyboard_interrupt(fake_agent: FakeAgent) -> None:
    fake_agent.add_job('endless', ['a', 'b'], fault='silence')
    stream = AgentClient(fake_agent.url, TOKEN).tail_job_logs('endless')
    reader = pa.RecordBatchReader.from_stream(stream.arrow())
    main = threading.get_ident()

    def read_all_blocking() -> Any:
        return reader.read_all()

    def interrupt() -> None:
        # Only once the main thread is inside read_all (blocked in pyarrow, on our stream).
        deadline = time.monotonic() + 20
        while sys._current_frames()[main].f_code.co_name != 'read_all_blocking' and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        try:
            read_all_blocking()
        except pa.ArrowInvalid:
            # pyarrow reports our stream's error as its own; the interrupt was tripped again, and
            # Python raises it at its next check (a bytecode loop, not a sleep, which it does not wake).
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                pass
    assert stream.state == 'closed'


def test_async_to_parquet(fake_agent: FakeAgent, tmp_path: Path) -> None:
    fake_agent.add_job('a', ['x', 'y'])
    fake_agent.add_job('b', ['z'])

    async def main() -> int:
        async with AsyncAgentClient(fake_agent.url, TOKEN) as client:
            rows: int = await client.tail_many(['a', 'b']).arrow().to_parquet(tmp_path / 'a.parquet')
            return rows

    assert asyncio.run(main()) == 3
    table = pq.read_table(tmp_path / 'a.parquet').sort_by('line')
    assert table.column('job_id').to_pylist() == ['a', 'a', 'b']


EXAMPLES = Path(__file__).resolve().parent.parent / 'examples'


def run_example(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=EXAMPLES, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_duckdb_example_uses_list_jobs_or_the_ids_given() -> None:
    out = run_example('arrow_duckdb.py')
    assert out.splitlines() == [f'raysubmit_{i}: 5000 lines, 715 warnings' for i in range(4)]
    assert run_example('arrow_duckdb.py', 'raysubmit_2').splitlines() == ['raysubmit_2: 5000 lines, 715 warnings']


def test_polars_example_writes_parquet(tmp_path: Path) -> None:
    out = run_example('arrow_polars.py', str(tmp_path / 'logs.parquet'))
    assert 'wrote 30000 lines' in out
    table = pq.read_table(tmp_path / 'logs.parquet')
    assert table.num_rows == 30000 and set(table.column('job_id').to_pylist()) == {f'raysubmit_{i}' for i in range(3)}
