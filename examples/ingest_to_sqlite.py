"""Exactly-once ingestion into SQLite across crashes: each batch of lines and the stream's
checkpoint after it are stored in one transaction, so a restarted ingester resumes right
after the last line it stored, whatever killed it (even SIGKILL), and stores no line twice.

python examples/ingest_to_sqlite.py DATABASE JOB_ID

Uses ``SYNAPSE_AGENT_URL`` / ``SYNAPSE_AGENT_TOKEN`` when set, else a FakeAgent (see ``_agent.py``).
"""

from __future__ import annotations

import sqlite3
import sys

from _agent import agent

from synapse_agent_rs.clients.agent import AgentClient

SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS lines (job TEXT, seq INTEGER, line TEXT, PRIMARY KEY (job, seq));
CREATE TABLE IF NOT EXISTS checkpoints (job TEXT PRIMARY KEY, checkpoint TEXT NOT NULL, seq INTEGER NOT NULL);
"""


def ingest(client: AgentClient, job_id: str, db: sqlite3.Connection) -> int:
    """Stores the job's log from where the last run stopped; returns the lines stored in all.

    WAL mode lets readers in while batches commit. Durability is the database's: a crash loses
    at most the last transactions whole (their lines with their checkpoint), never half of one.
    """
    db.executescript(SCHEMA)
    row = db.execute('SELECT checkpoint, seq FROM checkpoints WHERE job = ?', (job_id,)).fetchone()
    checkpoint, seq = row if row else (None, 0)
    # resume=True: a dropped connection resumes by itself; resume_from: our own restart does.
    stream = client.tail_job_logs(job_id, resume=True, resume_from=checkpoint)
    for batch in stream.batches():
        with db:  # one transaction: these lines and the checkpoint right after them
            db.executemany(
                'INSERT INTO lines VALUES (?, ?, ?)', [(job_id, seq + i, line) for i, line in enumerate(batch)]
            )
            seq += len(batch)
            db.execute('INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)', (job_id, stream.checkpoint(), seq))
    return seq


def main() -> None:
    path, job_id = sys.argv[1], sys.argv[2]
    with (
        agent({job_id: [f'step {i}' for i in range(1000)]}, given=True) as (url, token, _),
        AgentClient(url, token) as client,
    ):
        db = sqlite3.connect(path)
        print(f'{job_id}: {ingest(client, job_id, db)} lines stored')
        db.close()


if __name__ == '__main__':
    main()
