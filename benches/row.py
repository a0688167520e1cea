"""One run of one benchmark row, in a process of its own: prints one JSON ``Sample``.

    python benches/row.py MODULE:FUNCTION URL FORMAT LINES [--streams N]

``FUNCTION(job, meter)`` streams ``job`` and returns the lines it counted; it enters ``meter``
around the streaming part only. The count is checked here against ``LINES * N``. Stdlib only
at import time, so the older client's virtualenv can run it too.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from collections.abc import Callable

import wire
from measure import Meter, RowError, Sample, Unavailable

RowFunction = Callable[[wire.Job, Meter], int]


def load(target: str) -> RowFunction:
    """The function named ``module:function``."""
    module_name, _, function_name = target.partition(':')
    function: RowFunction = getattr(importlib.import_module(module_name), function_name)
    return function


def run(target: str, job: wire.Job) -> Sample:
    """Runs a row once and checks its line count; failures become ``error``/``unavailable``."""
    meter = Meter()
    try:
        count = load(target)(job, meter)
        expected = job.lines * job.streams
        if count != expected:
            raise RowError(f'received {count} lines, expected {expected}')
        meter.sample.lines = count
    except Unavailable as e:
        meter.sample.unavailable = str(e)
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        meter.sample.error = f'{type(e).__name__}: {e}'.splitlines()[0][:300]
    return meter.sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('target')
    parser.add_argument('url')
    parser.add_argument('fmt', choices=wire.FORMATS)
    parser.add_argument('lines', type=int)
    parser.add_argument('--streams', type=int, default=1)
    args = parser.parse_args()
    job = wire.Job(args.url, args.fmt, args.lines, args.streams)
    print(json.dumps(run(args.target, job).to_json()), flush=True)


if __name__ == '__main__':
    main()
