"""Tail one job's log with the blocking client, and see what the stream did.

python examples/sync_tail.py [JOB_ID]

Against a real agent (``SYNAPSE_AGENT_URL``, ``SYNAPSE_AGENT_TOKEN``) without JOB_ID: the first
job it lists.
"""

from __future__ import annotations

import logging
import sys

from _agent import agent

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.exceptions import ClientError


def main() -> int:
    given = sys.argv[1:2]
    job_id = given[0] if given else 'raysubmit_example'
    # Our records (stream opened over which protocol, fallbacks) on the standard logging module.
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger('synapse_agent_rs').setLevel(logging.DEBUG)
    with agent({job_id: [f'epoch {i}: loss={1 / (i + 1):.3f}' for i in range(5)]}, given=bool(given)) as (
        url,
        token,
        job_ids,
    ):
        if not job_ids:
            print('the agent lists no job', file=sys.stderr)
            return 1
        job_id = job_ids[0]
        with AgentClient(url, token) as client:
            print('health:', client.health_check())
            try:
                with client.tail_job_logs(job_id) as stream:  # protocol='auto': WebSocket, else HTTP
                    for line in stream:
                        print(line)
                print(stream)  # <LineStream job_id='...' protocol='websocket' (auto) state='ended' lines=5 ...>
            except ClientError as e:
                print(f'failed with {e.status_code}: {e}', file=sys.stderr)
                return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
