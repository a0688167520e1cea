"""Ingest job logs into a file sink, a batch at a time (one write per batch, not per line).

python examples/ingest_to_file.py OUTPUT.jsonl [JOB_ID ...]

Without job ids: every job the agent lists (a FakeAgent: 3 jobs of 20,000 lines).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _agent import agent

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.exceptions import ClientError
from synapse_agent_rs.utils.network import StreamLimits


def ingest(client: AgentClient, job_ids: list[str], sink: Path) -> dict[str, int]:
    """Appends every line as a JSON record; returns the lines written per job."""
    written = {}
    with sink.open('a', encoding='utf-8') as out:
        for job_id in job_ids:
            stream = client.tail_job_logs(job_id, protocol='http')
            try:
                for batch in stream.batches():  # list[str] per batch received
                    out.write(''.join(json.dumps({'job': job_id, 'line': line}) + '\n' for line in batch))
            except ClientError as e:
                # The lines received before the failure are already in the sink; say what broke.
                print(f'{job_id}: stopped after {stream.lines} lines: {e}', file=sys.stderr)
            written[job_id] = stream.lines
    return written


def main() -> None:
    sink = Path(sys.argv[1] if len(sys.argv) > 1 else 'logs.jsonl')
    given = sys.argv[2:]
    names = given or [f'train-{i}' for i in range(3)]
    jobs = {job_id: [f'step {j} of {job_id}' for j in range(20_000)] for job_id in names}
    with agent(jobs, given=bool(given)) as (url, token, job_ids), AgentClient(url, token) as client:
        # Whole logs: tail_job_logs keeps the SDK's limits (10,000 messages, 50,000 HTTP lines),
        # so lift the counts and keep a bounded read-ahead.
        client.stream_limits = StreamLimits(max_lines=None, max_messages=None, max_bytes=None, queue_size=4096)
        written = ingest(client, job_ids, sink)
    print(f'wrote {sum(written.values())} lines of {len(written)} jobs to {sink}')


if __name__ == '__main__':
    main()
