"""Query job logs with DuckDB, straight from Arrow batches (no Python object per line).

python examples/arrow_duckdb.py [JOB_ID ...]    (no job id: every running job, from list_jobs)

DuckDB reads the object ``.arrow()`` returns as a table through the Arrow PyCapsule interface
(``__arrow_c_stream__``): the query runs as the lines arrive and ends when every job has ended.
"""

from __future__ import annotations

import sys

import duckdb
from _agent import agent

from synapse_agent_rs.clients.agent import AgentClient


def main() -> None:
    given = sys.argv[1:]
    names = given or [f'raysubmit_{i}' for i in range(4)]
    demo = {
        name: [f'epoch {n} loss={1 / (n + 1):.3f}' if n % 7 else f'WARN slow step {n}' for n in range(5_000)]
        for name in names
    }
    with agent(demo, given=bool(given)) as (url, token, job_ids), AgentClient(url, token) as client:
        with client.tail_many(job_ids) as stream:
            tail = stream.arrow()  # noqa: F841 (DuckDB finds the variable by name)
            rows = duckdb.sql(
                "SELECT job_id, count(*) AS lines, count(*) FILTER (WHERE line LIKE 'WARN%') AS warnings "
                'FROM tail GROUP BY job_id ORDER BY job_id'
            ).fetchall()
            failures = stream.failures
    for job_id, lines, warnings in rows:
        print(f'{job_id}: {lines} lines, {warnings} warnings')
    for job_id, error in failures.items():
        print(f'{job_id}: failed: {error}', file=sys.stderr)


if __name__ == '__main__':
    main()
