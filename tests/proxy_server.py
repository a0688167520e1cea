"""A real proxy server for tests: pproxy (HTTP with CONNECT, and SOCKS5) on 127.0.0.1.

pproxy runs in its own process and logs each connection it carries (``-v``), so a test
can assert that the proxy saw the traffic.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

# pproxy picks uvloop when it is importable, and then fails to get an event loop on Python
# 3.10+; the test proxy runs on asyncio's own loop instead.
_RUN = """
import asyncio, sys
sys.modules['uvloop'] = None
asyncio.set_event_loop(asyncio.new_event_loop())
import pproxy.server
sys.argv = ['pproxy', *sys.argv[1:]]
pproxy.server.main()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port: int = s.getsockname()[1]
        return port


class ProxyServer:
    """pproxy serving `protocols` (``'http'``, ``'socks5'``, ``'http+socks5'``) on a free port.

    Args:
        protocols: what the proxy speaks.
        auth: ``'user:password'`` the proxy requires, or ``None``.
        log_dir: where its log goes.
        tls: ``(certificate_file, key_file)``: clients reach the proxy itself over TLS (``https://``).
    """

    def __init__(
        self,
        log_dir: Path,
        protocols: str = 'http+socks5',
        auth: str | None = None,
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.port = _free_port()
        self.auth = auth
        self._log_path = log_dir / f'pproxy-{self.port}.log'
        listen = f'{protocols}{"+ssl" if tls else ""}://127.0.0.1:{self.port}' + (f'#{auth}' if auth else '')
        self._args = [sys.executable, '-c', _RUN, '-l', listen, '-v', '--auth', '0']
        if tls:
            self._args += ['--ssl', ','.join(tls)]
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, scheme: str = 'http', credentials: str | None = None) -> str:
        """The proxy's URL for clients, with `credentials` (``user:password``) if given."""
        userinfo = f'{credentials}@' if credentials else ''
        return f'{scheme}://{userinfo}127.0.0.1:{self.port}'

    def start(self) -> ProxyServer:
        env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
        with self._log_path.open('wb') as log:  # the child keeps its own descriptor
            self._process = subprocess.Popen(self._args, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=1).close()
                return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f'pproxy did not start: {self.log()}') from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def log(self) -> str:
        return self._log_path.read_text(errors='replace') if self._log_path.exists() else ''

    def connections_to(self, port: int) -> int:
        """How many connections the proxy has carried to 127.0.0.1:`port`."""
        return sum(1 for line in self.log().splitlines() if line.rstrip().endswith(f'-> 127.0.0.1:{port}'))

    def wait_for_connections(self, port: int, at_least: int) -> int:
        """The count of `connections_to(port)` once it reaches `at_least` (the log is written by
        another process), or as it is after a generous wait."""
        deadline = time.monotonic() + 10
        while (count := self.connections_to(port)) < at_least and time.monotonic() < deadline:
            time.sleep(0.02)
        return count

    def __enter__(self) -> ProxyServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
