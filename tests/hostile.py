"""Raw-socket servers on 127.0.0.1 for what FakeAgent cannot do: misbehave at the byte level.

A `RawServer` runs ``handler(conn)`` in a thread per accepted connection; helpers read the
request and write HTTP heads, chunks and WebSocket frames byte by byte, so a test says
exactly what the hostile peer sends.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

Handler = Callable[[socket.socket], None]

WS_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


class RawServer:
    """A TCP server on loopback; each connection is handled by ``handler`` in its own thread."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._listener = socket.create_server(('127.0.0.1', 0), backlog=64)
        self.port: int = self._listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f'http://127.0.0.1:{self.port}'

    def __enter__(self) -> RawServer:
        self._acceptor.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._listener.close()
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self._handler(conn)
        except OSError:
            pass  # the client went away: that is what many tests provoke
        except BaseException as e:  # reported to the test
            self.errors.append(e)

    def wait_closed(self, conn_index: int = 0, within: float = 5.0) -> bool:
        """Whether the client closed connection ``conn_index`` (EOF or reset) within ``within`` seconds."""
        deadline = time.monotonic() + within
        while len(self.connections) <= conn_index:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        conn = self.connections[conn_index]
        while time.monotonic() < deadline:
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if conn.recv(65536) == b'':
                    return True
            except (ConnectionResetError, BrokenPipeError):
                return True
            except TimeoutError:
                return False
            except OSError:
                return True
        return False


def read_request(conn: socket.socket, within: float = 10.0) -> dict[str, str]:
    """Reads one request head; returns its headers (lower-case names) plus ``:line``."""
    conn.settimeout(within)
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError('the client closed before sending a request')
        data += chunk
    head = data.split(b'\r\n\r\n', 1)[0].decode('latin-1').split('\r\n')
    headers = {':line': head[0]}
    for line in head[1:]:
        name, _, value = line.partition(':')
        headers[name.strip().lower()] = value.strip()
    return headers


def is_websocket(headers: dict[str, str]) -> bool:
    """Whether the request asks for a WebSocket upgrade."""
    return headers.get('upgrade', '').lower() == 'websocket'


def accept_websocket(conn: socket.socket, headers: dict[str, str]) -> None:
    """Answers the upgrade with a correct 101."""
    key = headers['sec-websocket-key'].encode()
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
    conn.sendall(
        (
            'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
            f'Sec-WebSocket-Accept: {accept}\r\n\r\n'
        ).encode()
    )


def frame(
    opcode: int, payload: bytes = b'', *, fin: bool = True, rsv: int = 0, mask: bool = False, length: int | None = None
) -> bytes:
    """One WebSocket frame as a server would send it; ``length`` overrides the declared length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack('!H', n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack('!Q', n)
    if mask:
        key = b'\x01\x02\x03\x04'
        head += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


def text_frame(text: str) -> bytes:
    """A text frame with a log event."""
    return frame(0x1, json.dumps({'type': 'log', 'message': text}).encode())


def close_frame(code: int, reason: str = '') -> bytes:
    """A close frame."""
    return frame(0x8, struct.pack('!H', code) + reason.encode())


def http_head(status: str = '200 OK', content_type: str = 'text/plain', *, chunked: bool = True) -> bytes:
    """A response head; chunked by default, else the body lasts until the connection closes."""
    framing = 'Transfer-Encoding: chunked\r\n' if chunked else 'Connection: close\r\n'
    return f'HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n{framing}\r\n'.encode()


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return f'{len(data):x}\r\n'.encode() + data + b'\r\n'


def refuse_websocket(conn: socket.socket, headers: dict[str, str]) -> bool:
    """Answers a WebSocket request 404 (so ``auto`` falls back to HTTP); whether it was one."""
    if not is_websocket(headers):
        return False
    conn.sendall(b'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
    return True


CLIENT = """
import json, resource, sys
from synapse_agent_rs.clients.agent import AgentClient
from synapse_agent_rs.clients.exceptions import ClientError
from synapse_agent_rs.utils.network import StreamLimits

def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

url, call, arg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
client = AgentClient(url, 'hostile-agent-token', **arg.get('client', {}))
if 'limits' in arg:
    client.stream_limits = StreamLimits(**arg['limits'])
base = rss()
out = {'lines': 0, 'first': []}
try:
    if call == 'tail':
        for line in client.tail_job_logs('j1', timeout=arg.get('timeout', 5), protocol=arg.get('protocol', 'http')):
            out['lines'] += 1
            if len(out['first']) < 5:
                out['first'].append(line[:100])
        out['end'] = 'ok'
    else:
        answer = getattr(client, call)(*arg.get('args', []))
        out['end'] = 'ok'
        out['answer'] = str(answer)[:100]
except ClientError as e:
    out.update(end=type(e).__name__, status=e.status_code, detail=str(e.detail)[:300], limit=getattr(e, 'limit', None))
out.update(base_mib=base, peak_mib=rss())
print(json.dumps(out))
"""
"""A client in a fresh interpreter: one call (``tail`` or a REST method), its outcome and peak RSS as JSON."""


def run_client(url: str, call: str = 'tail', timeout: float = 120, **arg: object) -> dict[str, Any]:
    """Runs `CLIENT` against ``url``; returns its JSON outcome plus ``grown_mib`` and ``stderr``.

    Memory is measured in the child, so the server's buffers in this process do not count;
    ``grown_mib`` is the child's peak RSS minus its peak before the call.
    """
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    done = subprocess.run(
        [sys.executable, '-c', CLIENT, url, call, json.dumps(arg)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result['grown_mib'] = result['peak_mib'] - result['base_mib']
    result['stderr'] = done.stderr
    return result
