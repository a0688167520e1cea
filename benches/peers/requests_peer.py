"""requests (sync): ``iter_lines`` with 64 KiB reads (its default of 512 bytes is much slower).

``http_orjson`` decodes the SSE payloads with orjson instead of the stdlib: not in the issue's
list of peers, but it is the strongest HTTP-SSE peer we found (JSON decoding is most of its cost).
"""

from __future__ import annotations

import json

import wire
from measure import Meter, Unavailable

from peers.decode import Loads, count_plain, count_sse

try:
    import requests
except ImportError as e:
    raise Unavailable(f'requests is not installed ({e})') from e

CHUNK = 64 * 1024


def _tail(job: wire.Job, meter: Meter, loads: Loads) -> int:
    with requests.Session() as session:
        with meter, session.get(job.http_url, headers=job.headers, stream=True, timeout=(10, 30)) as response:
            response.raise_for_status()
            lines = response.iter_lines(chunk_size=CHUNK, decode_unicode=True)
            count = count_sse(lines, 'data: ', loads)[0] if job.fmt == 'sse' else count_plain(lines)
    return count


def http(job: wire.Job, meter: Meter) -> int:
    return _tail(job, meter, json.loads)


def http_orjson(job: wire.Job, meter: Meter) -> int:
    try:
        import orjson
    except ImportError as e:
        raise Unavailable(f'orjson is not installed ({e})') from e
    loads: Loads = orjson.loads
    return _tail(job, meter, loads)
