"""No token in any output (issue 11): every error class is provoked by servers that echo the
tokens back (in details, JSON bodies with escapes, error events, close reasons), and every
text a user could see (str, repr, args, detail, attributes, the `__cause__`/`__context__`
chain, log records, stdout, stderr, panic text) is scanned for the token values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Tokens shaped like real ones (base64 with `/`, `+`, `=`), so JSON can escape them (`\/`).
AGENT = 'agent/Tok+9f8e7d6c5b4a=='
USER = 'user/Tok+1a2b3c4d5e6f=='
TENANT = 'tenant-Tok-77aa88bb99cc'
SHORT = 'tok'  # a short token: scrubbed where it stands as a word, not inside `token`

CHILD = r"""
import asyncio, json, logging, socket, sys, time
sys.path.insert(0, sys.argv[1])
AGENT, USER, TENANT, SHORT = sys.argv[2:6]
from synapse_agent_rs.clients.agent import AgentClient, AsyncAgentClient
from synapse_agent_rs.clients.exceptions import ClientError
from synapse_agent_rs.testing import FakeAgent
from synapse_agent_rs.utils.network import StreamLimits, sanitize_error_message
from tests.hostile import RawServer, accept_websocket, close_frame, frame, read_request, text_frame, http_head, chunk

records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(self.format(record))
for name in ('', 'synapse_agent_rs'):
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.addHandler(Keep())
logging.basicConfig(level=logging.DEBUG)  # and to stderr, which the parent scans too

ECHO = f'{AGENT} Token {USER} tenant={TENANT} SYNAPSE-User: Token {USER} {SHORT} ' + AGENT.replace('/', '\\/')
seen = {}
texts = []

def collect(e, how):
    seen.setdefault(type(e).__name__, how)
    chain, at = [], e
    while at is not None and len(chain) < 10:
        chain.append(at)
        at = at.__cause__ or at.__context__
    for x in chain:
        attrs = vars(x) if hasattr(x, '__dict__') else None
        texts.extend([str(x), repr(x), repr(x.args), repr(getattr(x, 'detail', None)), repr(attrs)])

def expect(how, fn):
    try:
        fn()
    except ClientError as e:
        collect(e, how)
    else:
        texts.append(f'{how}: no error')

def client(url, **kw):
    c = AgentClient(url, AGENT, user_token=USER, tenant=TENANT, **kw)
    texts.append(repr(c))
    return c

with FakeAgent(agent_token=AGENT) as agent:
    for status in (400, 401, 403, 404, 408, 418, 422, 429, 500, 503):
        agent.set_response('GET', 'health/', status, {'detail': ECHO, 'echo': {'agent_token': AGENT, 'user': [USER]}})
        expect(f'rest {status}', client(agent.url).health_check)
        agent.set_response('GET', 'health/', status, text=ECHO)
        expect(f'rest text {status}', client(agent.url).health_check)
    expect('bad token', AgentClient(agent.url, SHORT, user_token=USER).list_jobs)
    agent.add_job('err', ['a'], fault='error', error_message=ECHO)
    agent.add_job('drop', ['a'], fault='drop')
    agent.add_job('silent', ['a'], fault='silence', answer_pings=False)
    agent.add_job('many', [ECHO] * 20)
    agent.add_job('refused', ['a'], refuse_websocket=403)
    for protocol in ('websocket', 'http'):
        expect(f'error event {protocol}', lambda: list(client(agent.url).tail_job_logs('err', protocol=protocol)))
        expect(f'drop {protocol}', lambda: list(client(agent.url).tail_job_logs('drop', protocol=protocol)))
        silent = client(agent.url).tail_job_logs('silent', timeout=0.3, protocol=protocol)
        expect(f'silence {protocol}', lambda: list(silent))
        c = client(agent.url)
        c.stream_limits = StreamLimits(max_messages=3, max_lines=3)
        stream = c.tail_job_logs('many', protocol=protocol)
        texts.append(repr(stream))
        expect(f'limit {protocol}', lambda: list(stream))
        texts.append(repr(stream))
    expect('refused websocket', lambda: list(client(agent.url).tail_job_logs('refused', protocol='websocket')))
    big = client(agent.url, max_response_size=10)
    expect('too large', lambda: big.get_job('many'))

    async def run_async():
        c = AsyncAgentClient(agent.url, AGENT, user_token=USER, tenant=TENANT)
        texts.append(repr(c))
        try:
            async for _ in c.tail_job_logs('err'):
                pass
        except ClientError as e:
            collect(e, 'async error event')
        try:
            await c.get_job('nope')
        except ClientError as e:
            collect(e, 'async 404')
    asyncio.run(run_async())

def close_with_echo(conn):
    accept_websocket(conn, read_request(conn))
    conn.sendall(text_frame('a') + close_frame(1011, ECHO[:120]))
    conn.recv(100)

def violate(conn):
    accept_websocket(conn, read_request(conn))
    conn.sendall(frame(0x1, ECHO.encode(), rsv=2))
    conn.recv(100)

with RawServer(close_with_echo) as s:
    expect('close reason', lambda: list(client(s.url).tail_job_logs('j1', protocol='websocket')))
with RawServer(violate) as s:
    expect('violation', lambda: list(client(s.url).tail_job_logs('j1', protocol='websocket')))
with socket.socket() as free:
    free.bind(('127.0.0.1', 0))
    port = free.getsockname()[1]
expect('refused', lambda: client(f'http://127.0.0.1:{port}').health_check())
expect('bad job id', lambda: client('http://127.0.0.1:1').tail_job_logs(AGENT))
expect('bad base_url', lambda: AgentClient(f'http://127.0.0.1:1/?token={AGENT}', AGENT))
expect('base_url credentials', lambda: AgentClient(f'http://u:{AGENT}@127.0.0.1:1/', AGENT))
texts.append(sanitize_error_message(f'café token={AGENT} é {ECHO}', secrets=[AGENT, USER, TENANT, SHORT]))
print(json.dumps({'seen': seen, 'texts': texts, 'records': records}))
"""


def test_no_token_in_any_output() -> None:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, '-c', CHILD, str(root), AGENT, USER, TENANT, SHORT],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    import json

    out = json.loads(done.stdout.strip().splitlines()[-1])
    seen = out['seen']
    expected = {
        'ValidationError',
        'AuthenticationError',
        'AuthorizationError',
        'NotFoundError',
        'ClientTimeoutError',
        'RateLimitError',
        'ServerError',
        'ClientConnectionError',
        'StreamLimitExceededError',
        'WebSocketError',
        'ResponseTooLargeError',
        'HTTPError',
    }
    assert expected <= set(seen), f'not provoked: {expected - set(seen)}'
    assert not [t for t in out['texts'] if t.endswith('no error')]
    everything = '\n'.join([*out['texts'], *out['records'], done.stdout, done.stderr])
    for token in (AGENT, USER, TENANT, AGENT.replace('/', '\\/'), USER.replace('/', '\\/')):
        assert token not in everything, f'{token!r} leaked: ' + everything[max(0, everything.find(token) - 300) :][:600]
    # The short token (the refused agent token) is scrubbed as a word, not inside words.
    assert 'Invalid agent token' in everything
    assert 'panicked' not in done.stderr and 'PanicException' not in everything
    assert len(out['texts']) > 100  # the scan saw the outputs
