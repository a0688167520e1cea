"""Every row of the benchmark: what it runs, in which interpreter, over which format."""

from __future__ import annotations

from dataclasses import dataclass

FORMAT_NAMES = {'ws': 'WebSocket', 'sse': 'HTTP-SSE', 'plain': 'HTTP plain'}

# Kinds of row. Only 'peer' rows compete for "best peer".
CEILING, OURS, RUST, OLD, PEER = 'ceiling', 'ours', 'rust', 'old', 'peer'
# Interpreters: ours and the peers share the project's venv; the older client has its own.
MAIN, OLD_VENV, NATIVE = 'main', 'old', 'native'
# Peers we added to the list because they are stronger than every listed one.
UNLISTED_PEERS = frozenset({'peers.requests_peer:http_orjson', 'peers.aiohttp_peer:http_orjson'})
# The pure-Rust consumer built from the commit before our WebSocket frame reader (`make bench`
# builds it), so that the consumer's speed-up is measured in the same run.
RUST_BASELINE = 'target/baseline/rust_consumer'


@dataclass(frozen=True)
class Row:
    """One row of a table; ``target`` is ``module:function`` for ``row.py`` (``rust`` for the binary)."""

    label: str
    kind: str
    fmt: str
    target: str
    venv: str = MAIN
    note: str = ''

    @property
    def listed(self) -> bool:
        """Whether the issue lists this row (every row but the extra peers)."""
        return self.target not in UNLISTED_PEERS


def _ours() -> list[Row]:
    modes = [
        ('sync per line', 'sync_lines'),
        ('sync .batches()', 'sync_batches'),
        ('async per line', 'async_lines'),
        ('async .batches()', 'async_batches'),
    ]
    return [Row(f'ours, {label}', OURS, fmt, f'ours:{function}') for fmt in FORMAT_NAMES for label, function in modes]


def _http_peers(fmt: str) -> list[Row]:
    orjson = [
        Row('requests iter_lines + orjson (sync)', PEER, fmt, 'peers.requests_peer:http_orjson'),
        Row('aiohttp iter_any + split + orjson (async)', PEER, fmt, 'peers.aiohttp_peer:http_orjson'),
    ]
    return [
        *(orjson if fmt == 'sse' else []),
        Row('aiohttp (async, chunks split)', PEER, fmt, 'peers.aiohttp_peer:http'),
        Row('requests iter_lines (sync)', PEER, fmt, 'peers.requests_peer:http', note='chunk_size=65536'),
        Row('httpx iter_lines (sync)', PEER, fmt, 'peers.httpx_peer:sync_http'),
        Row('httpx aiter_lines (async)', PEER, fmt, 'peers.httpx_peer:async_http'),
        Row('pyreqwest (sync, chunks split)', PEER, fmt, 'peers.pyreqwest_peer:sync_http'),
        Row('pyreqwest (async, chunks split)', PEER, fmt, 'peers.pyreqwest_peer:async_http'),
        Row('wreq (sync, chunks split)', PEER, fmt, 'peers.wreq_peer:sync_http'),
        Row('wreq (async, chunks split)', PEER, fmt, 'peers.wreq_peer:async_http'),
    ]


WS_PEERS = [
    Row('picows + json (async)', PEER, 'ws', 'peers.picows_peer:stdlib_json'),
    Row('picows + orjson (async)', PEER, 'ws', 'peers.picows_peer:orjson_json'),
    Row('aiohttp (async)', PEER, 'ws', 'peers.aiohttp_peer:websocket'),
    Row('websockets (async)', PEER, 'ws', 'peers.websockets_peer:websocket'),
    Row('websocket-client (sync)', PEER, 'ws', 'peers.websocket_client_peer:websocket'),
    Row('wreq (sync)', PEER, 'ws', 'peers.wreq_peer:sync_websocket'),
    Row('wreq (async)', PEER, 'ws', 'peers.wreq_peer:async_websocket'),
]


def throughput_rows() -> list[Row]:
    """The throughput table, grouped by format: ceiling, ours, Rust, the older client, peers."""
    rows: list[Row] = []
    ours = _ours()
    for fmt in FORMAT_NAMES:
        rows.append(Row('emitter ceiling (raw socket reader)', CEILING, fmt, 'ceiling:raw_reader'))
        rows.extend(r for r in ours if r.fmt == fmt)
        rows.append(Row('pure-Rust consumer of our core', RUST, fmt, 'rust', venv=NATIVE))
        if fmt == 'ws':
            label = 'pure-Rust consumer, before our frame reader'
            rows.append(Row(label, RUST, fmt, RUST_BASELINE, venv=NATIVE, note='c5c09da, tungstenite reading'))
        rows.append(Row('older client, sync', OLD, fmt, 'old_client:sync_lines', venv=OLD_VENV))
        if fmt == 'ws':
            rows.append(Row('older client, async', OLD, fmt, 'old_client:async_lines', venv=OLD_VENV))
        rows.extend(WS_PEERS if fmt == 'ws' else _http_peers(fmt))
    return rows


def memory_rows() -> list[Row]:
    """Slow consumers (1 ms of sleep every 1,000 lines) under a 1 GiB flood.

    The older client's WebSocket path is left out: at its ~26,000 lines/s a 1 GiB flood takes
    about five minutes per run, and it reads one frame at a time, so it cannot run ahead anyway.
    """
    return [
        Row('ours, sync per line', OURS, 'ws', 'ours:sync_lines_paced'),
        Row('ours, async per line', OURS, 'ws', 'ours:async_lines_paced'),
        Row('ours, sync per line', OURS, 'sse', 'ours:sync_lines_paced'),
        Row('older client, sync', OLD, 'sse', 'old_client:sync_lines_paced', venv=OLD_VENV),
    ]


def scale_rows() -> list[Row]:
    """Many concurrent streams in one process."""
    rows = []
    for fmt in ('ws', 'sse'):
        rows.append(Row('emitter ceiling (raw asyncio readers)', CEILING, fmt, 'ceiling:raw_streams'))
        rows.append(Row('ours, async per line', OURS, fmt, 'ours:scale_lines'))
        rows.append(Row('ours, async .batches()', OURS, fmt, 'ours:scale_batches'))
    return rows
