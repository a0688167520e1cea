"""Load job logs into a Polars DataFrame, and save them as Parquet, from Arrow batches.

python examples/arrow_polars.py OUTPUT.parquet [JOB_ID ...]    (no job id: every running job, from list_jobs)

``polars.DataFrame(stream.arrow())`` reads the whole tail through the Arrow PyCapsule interface;
``.to_parquet(path)`` writes one row group per batch as the lines arrive (pyarrow: the ``arrow`` extra).
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
from _agent import agent

from synapse_agent_rs.clients.agent import AgentClient


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else 'logs.parquet')
    given = sys.argv[2:]
    names = given or [f'raysubmit_{i}' for i in range(3)]
    demo = {name: [f'step {n} of job {name} ✓' for n in range(10_000)] for name in names}
    with agent(demo, given=bool(given)) as (url, token, job_ids), AgentClient(url, token) as client:
        frame = pl.DataFrame(client.tail_many(job_ids).arrow())
        written = client.tail_many(job_ids).arrow().to_parquet(out)
    print(frame.group_by('job_id').agg(pl.len().alias('lines'), pl.col('seq').max().alias('last_seq')).sort('job_id'))
    print(f'wrote {written} lines to {out}')
    print(pl.read_parquet(out).filter(pl.col('seq') == 0).sort('job_id'))


if __name__ == '__main__':
    main()
