"""A raw WebSocket server on 127.0.0.1 that writes frames byte for byte as a test scripts them.

Neither agent server can send what these tests need: the ``101`` answer and the first frames in
one TCP write, control frames inside a fragmented message, frames that break RFC 6455, or a
gibibyte of payload generated as it is sent. Each connection runs ``play(conn)`` in a thread,
after the handshake; ``play`` sends with ``conn.send`` and reads the client's frames with
``conn.read_frame``.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


def frame(payload: bytes, opcode: int, *, fin: bool = True, rsv: int = 0, mask: bytes | None = None) -> bytes:
    """One frame; servers send unmasked ones (RFC 6455 section 5.2)."""
    return header(len(payload), opcode, fin=fin, rsv=rsv, mask=mask) + (
        bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if mask else payload
    )


def header(length: int, opcode: int, *, fin: bool = True, rsv: int = 0, mask: bytes | None = None) -> bytes:
    """The header of a frame of ``length`` payload bytes."""
    first = (0x80 if fin else 0) | rsv << 4 | opcode
    bit = 0x80 if mask else 0
    if length < 126:
        head = struct.pack('!BB', first, bit | length)
    elif length < 1 << 16:
        head = struct.pack('!BBH', first, bit | 126, length)
    else:
        head = struct.pack('!BBQ', first, bit | 127, length)
    return head + (mask or b'')


def text(message: str) -> bytes:
    return frame(message.encode(), 0x1)


def close(code: int, reason: bytes = b'') -> bytes:
    return frame(struct.pack('!H', code) + reason, 0x8)


class Conn:
    """The server side of one WebSocket, after the handshake."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rest = b''

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _exactly(self, n: int) -> bytes:
        while len(self.rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError('the client closed the connection')
            self.rest += chunk
        out, self.rest = self.rest[:n], self.rest[n:]
        return out

    def read_frame(self) -> tuple[int, bytes]:
        """The next client frame as (opcode, unmasked payload)."""
        first, second = self._exactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack('!H', self._exactly(2))
        elif length == 127:
            (length,) = struct.unpack('!Q', self._exactly(8))
        mask = self._exactly(4) if second & 0x80 else b'\0\0\0\0'
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self._exactly(length)))
        return first & 0x0F, payload

    def read_close(self) -> int | None:
        """Reads client frames up to its close frame and returns its code (skipping pongs)."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == 0x8:
                return struct.unpack('!H', payload[:2])[0] if payload else None


class RawWebSocketServer:
    """Serves each connection with ``play``; ``first`` is sent in the same write as the ``101``."""

    def __init__(self, play: Callable[[Conn], None], first: bytes = b'') -> None:
        self.play = play
        self.first = first
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.url = f'http://127.0.0.1:{self.listener.getsockname()[1]}'
        self.results: list[Any] = []
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        """Serves one connection."""
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        with sock:
            try:
                self._handshake(sock)
                self.results.append(self.play(Conn(sock)))
            except (OSError, EOFError) as e:
                self.errors.append(e)

    def _handshake(self, sock: socket.socket) -> None:
        request = b''
        while b'\r\n\r\n' not in request:
            chunk = sock.recv(4096)
            if not chunk:
                raise EOFError('no request')
            request += chunk
        key = next(
            line.split(b':', 1)[1].strip()
            for line in request.split(b'\r\n')
            if line.lower().startswith(b'sec-websocket-key:')
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        sock.sendall(
            b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
            b'Sec-WebSocket-Accept: ' + accept + b'\r\n\r\n' + self.first
        )


@contextmanager
def raw_websocket(play: Callable[[Conn], Any], first: bytes = b'') -> Iterator[RawWebSocketServer]:
    """A running server for one connection; stopped on exit."""
    server = RawWebSocketServer(play, first)
    server.thread.start()
    try:
        yield server
    finally:
        server.thread.join(timeout=10)
        server.listener.close()
