"""``BENCHMARKS.md``: how the numbers were made, the machine, the command, and the latest tables."""

from __future__ import annotations

from dataclasses import dataclass

import report
from results import RowResult
from targets import Check


@dataclass(frozen=True)
class Settings:
    """The parameters of one harness run."""

    lines: int
    runs: int
    memory_mib: int
    streams: int
    per_stream: int
    loop: str
    command: str
    minutes: float


METHOD = """\
## How the numbers are made

- **Server.** `benches/emitter.py`, a loopback emitter on one event loop (uvloop) that does the
  WebSocket handshake itself and answers from slabs encoded once (`benches/wire.py`): ~1 MiB of
  WebSocket frames `{{"type":"log","message":"<line>"}}` or of HTTP chunks per write, then
  `{{"type":"complete"}}` (WebSocket: plus a normal close frame; SSE: a `complete` event; plain:
  the last chunk). Lines are realistic ~103-byte worker log lines (no JSON escapes). SSE events
  are `data: {{json}}` followed by the blank line that ends an SSE event. The *emitter ceiling*
  rows read the same responses with raw sockets that discard the bytes (and check their exact
  count): what the emitter and the loopback can deliver. (A thread per connection with
  `sendall` is as fast for one stream but three times slower for 1,000 concurrent streams.)
- **Workload.** {lines:,} lines per run; every row runs in its own client process, {runs} run(s)
  per row, round-robin over the rows; the table shows the median with min and max. Every run checks
  that it received exactly the lines sent; a wrong count fails the run and `make bench`, and so
  does a rebuild of our extension during the run (`make test` rebuilds the editable install).
- **Per item**, every client does the same work: our client decodes in Rust and yields the
  message; peers JSON-decode the WebSocket message or `data:` payload, check its type (`complete`
  ends, `error` fails), take the message and count it; plain HTTP lines are taken as `str` and
  counted. Peers that hand out raw chunks split them in Python (`benches/peers/decode.py`:
  one `decode()` per chunk, `str.split`).
- **Ours** runs at the default `StreamLimits` users get (`max_message_size=10_240`,
  `queue_size=1_000`) with only `max_messages`, `max_lines` and `max_bytes` set to `None` so
  that a million lines can flow; protocol `websocket` or `http`. The **pure-Rust consumer**
  (`benches/rust/rust_consumer.rs`, a cargo example on our crate's rlib) tails one stream with
  the same limits and drains the queue on a plain thread, touching every line: the ceiling of
  our Python paths. The row *before our frame reader* is the same consumer built from `c5c09da`
  (tungstenite reading every message whole), run in the same session.
- **Calibration.** A fixed CPU-bound loop (below the machine line) is timed in the same run, so
  that figures from different machines can be compared: absolute numbers only mean something
  next to it and next to the peer ratios of the same run.
- **Async rows** run on {loop} (`BENCH_LOOP=asyncio` for the default loop).
- **Columns.** lines/s and MB/s (the body as sent: frames or chunked body, 10^6 bytes) over the
  stream, from the request to the last line; CPU µs/line is user+sys time of the client process
  (all its threads) over the same span; peak RSS is the process's peak during the stream
  (the kernel's peak mark is reset when the stream starts; for the Rust consumer, the whole
  process). Our rows' ratios divide their median lines/s by that of the fastest peer of the same
  format in the same run, and by that of the pure-Rust consumer (`% of Rust`).
- **Memory rows.** The consumer sleeps 1 ms every 1,000 lines while the emitter floods
  {memory_mib:,} MiB. Ours: the default `StreamLimits` (`max_message_size=10_240`,
  `queue_size=1_000`) with only `max_messages`, `max_lines` and `max_bytes` set to `None`.
  The older client: its defaults with the count and byte limits set to 2^62 (it takes no `None`).
  RSS growth is the peak during the stream minus the RSS just before it.
- **Scale rows.** {streams:,} concurrent streams of {per_stream:,} lines in one process
  (`asyncio.gather`), the default `StreamLimits`; aggregate lines/s from the first request to
  the last line, and the time until the last stream to start saw its first line.
- **The older client** is `synapse-sdk==2026.2.17` from PyPI in its own virtualenv
  (`benches/.venv-old`), since its package name is ours. Its async tail raises `AttributeError`
  as shipped (`'AsyncAgentClient' object has no attribute '_get_url'`), so the async peer rows
  stand in for it.
"""


def render(results: list[RowResult], checks: list[Check], settings: Settings, machine: list[str]) -> str:
    """The whole file."""
    passed = sum(c.passed is True for c in checks)
    missed = sum(c.passed is False for c in checks)
    lines = [
        '# Benchmarks',
        '',
        'Log tailing throughput of our client against its peers, on loopback. Regenerated by `make bench`',
        '(release build; about 15 minutes on the machine below, plus the builds); `make bench-smoke` runs the same',
        'harness at a small N to prove it still works.',
        '',
        '## Latest run',
        '',
        f'- command: `{settings.command}` ({settings.minutes:.0f} minutes)',
        *machine,
        '',
        f'Targets: {passed} pass, {missed} miss, {len(checks) - passed - missed} not measured.',
        '',
        *report.tables(results, checks),
        METHOD.format(
            **{k: getattr(settings, k) for k in ('lines', 'runs', 'loop', 'memory_mib', 'streams', 'per_stream')}
        ),
    ]
    return '\n'.join(lines).rstrip() + '\n'
