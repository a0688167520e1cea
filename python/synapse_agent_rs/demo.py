"""Demo: tail a job over WebSocket and over HTTP from the embedded fake agent.

Run with ``python -m synapse_agent_rs.demo``. A FakeAgent starts on 127.0.0.1, a short job is
tailed over both protocols with ``AgentClient`` and printed, then a firehose job of
``--lines`` lines is tailed and a one-line summary gives the rate.
"""

from __future__ import annotations

import argparse
import time

from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.agent._many import ProtocolName
from synapse_agent_rs.testing import FakeAgent
from synapse_agent_rs.utils.network import StreamLimits

TOKEN = 'demo-agent-token'
PROTOCOLS: tuple[ProtocolName, ...] = ('websocket', 'http')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--lines', type=int, default=1_000_000, help='lines of the firehose job')
    args = parser.parse_args()

    with FakeAgent(TOKEN) as agent:
        agent.add_job('demo-job', [f'step {i}: training loss {1 / (i + 1):.4f}' for i in range(5)], pace=20)
        agent.add_job('firehose', firehose=args.lines)
        client = AgentClient(agent.url, TOKEN)
        print(f'fake agent at {agent.url}: {client.health_check()}')
        for protocol in PROTOCOLS:
            print(f'-- tail_job_logs(demo-job, protocol={protocol!r})')
            for line in client.tail_job_logs('demo-job', protocol=protocol):
                print(f'   {line}')

        client.stream_limits = StreamLimits.unlimited()
        summary = []
        for protocol in PROTOCOLS:
            start = time.perf_counter()
            count = sum(len(batch) for batch in client.tail_job_logs('firehose', protocol=protocol).batches())
            rate = count / (time.perf_counter() - start)
            summary.append(f'{protocol} {count:,} lines at {rate:,.0f} lines/s')
        print('summary: ' + '; '.join(summary))


if __name__ == '__main__':
    main()
