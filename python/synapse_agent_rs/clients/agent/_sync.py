"""The sync agent client."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from synapse_agent_rs._core import LineStream, ManyStream, ResumePolicy
from synapse_agent_rs._logging import LOGGER, logged_call, stream_logger
from synapse_agent_rs.clients.agent._base import AgentEndpointsMixin
from synapse_agent_rs.clients.agent._endpoint import Request, SyncSender, TailRequest
from synapse_agent_rs.clients.agent._many import Bounds, BulkTailMixin
from synapse_agent_rs.clients.agent._operations import (
    ContainerClientMixin,
    ResourceClientMixin,
    SystemClientMixin,
    container_body,
)
from synapse_agent_rs.clients.exceptions import ClientError


class AgentClient(
    BulkTailMixin[ManyStream],
    SyncSender,
    AgentEndpointsMixin,
    ContainerClientMixin,
    SystemClientMixin,
    ResourceClientMixin,
):
    """Client of one Synapse agent: REST calls block, log streams are iterators.

    Args:
        base_url: the agent's URL, e.g. ``"https://agent.example.com"``.
        agent_token: sent as the ``Authorization`` header; never shown in errors or reprs.
        user_token: sent as ``SYNAPSE-User: Token <user_token>`` when given.
        tenant: sent as ``SYNAPSE-Tenant: Token <tenant>`` when given.
        timeout: ``{'connect': seconds, 'read': seconds}`` for REST calls (defaults 3 and 10).
        max_response_size: the largest REST answer held in memory, in bytes (default 64 MiB);
            a larger one raises ``ResponseTooLargeError`` (413) without being read whole.

        verify: ``True`` (default) trusts ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else the
            operating system's CA store; a path trusts only the CAs of that PEM file or directory;
            ``False`` checks no certificate and warns (``InsecureTransportWarning``): anyone on the
            path could then read the token and the logs, so trust the agent's CA instead.
        cert: a client certificate for mutual TLS: ``('client.pem', 'key.pem')``, or one PEM
            file holding both.
        proxy: a proxy URL for every connection (``http://user:pass@host:3128``, ``https://``,
            ``socks5://``, ``socks5h://``); overrides ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``.
        trust_env: ``False`` ignores the proxy variables (and ``NO_PROXY``) and ``SSL_CERT_FILE``/``SSL_CERT_DIR``.
        headers: extra headers sent with every request (not the token headers).
        user_agent: replaces the ``User-Agent`` (default ``synapse-agent-rs/<version>``).

    Raises:
        ValidationError: (400) before any I/O: a ``base_url`` that is not an ``http://`` or
            ``https://`` URL (one without a scheme says to add it); an ``agent_token`` that is
            ``None`` or empty, or an empty ``user_token`` or ``tenant`` (the message names the
            parameter, never its value); a bad ``timeout``, ``max_response_size``, header, proxy
            URL or certificate file.
    """

    def _send(self, request: Request[Any]) -> Any:
        core, query = self._core, self._query(request.params)
        method, path, body, timeout = request.method, request.path, request.body, request.timeout
        if not LOGGER.isEnabledFor(logging.DEBUG):
            return core.request(method, path, query, body, timeout)
        return logged_call(method, f'{self._origin}/{path}', lambda: core.request(method, path, query, body, timeout))

    def _pages(self, results: list[Any], next_url: str | None) -> Iterator[Any]:
        yield from results
        while next_url:
            results, next_url = self._results(self._send(self._page(next_url)))
            yield from results

    def _open(self, tail: TailRequest) -> LineStream:
        log = stream_logger(tail.job_id, tail.protocol)
        limits = self._stream_limits.as_tuple()
        return self._core.tail(
            tail.job_id, tail.timeout, tail.protocol, limits, log, resume=tail.resume, resume_from=tail.resume_from
        )

    def _tail_many(
        self,
        job_ids: list[str],
        protocol: str,
        timeout: float,
        bounds: Bounds,
        follow: tuple[float, list[str], int] | None,
        keep_open: bool,
        resume: bool | ResumePolicy = True,
        resume_from: Mapping[str, str] | None = None,
    ) -> ManyStream:
        limits, connecting, buffered = self._many_args(bounds)
        return self._core.tail_many(
            job_ids,
            timeout,
            protocol,
            limits,
            connecting,
            buffered,
            follow,
            keep_open,
            resume=resume,
            resume_from=None if resume_from is None else dict(resume_from),
        )

    def wait_for_build(self, build_id: str, *, timeout: float = 300, poll_interval: float = 2) -> Any:
        """Polls a container build until it completes; returns its ``result``.

        Raises:
            TimeoutError: the build did not complete within ``timeout`` seconds.
            RuntimeError: the build failed or was cancelled.
        """
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f'Build {build_id} did not complete within {timeout}s')
            status = self.get_build_status(build_id)
            state = status.get('status', '')
            if state == 'completed':
                return status.get('result', {})
            if state in ('failed', 'cancelled'):
                raise RuntimeError(f'Build {build_id} failed: {status.get("error", "Unknown error")}')
            time.sleep(poll_interval)

    def create_container(
        self,
        plugin_release: Any = None,
        *,
        model: int | None = None,
        params: Mapping[str, Any] | None = None,
        envs: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        labels: Iterable[str] | None = None,
        plugin_file: str | Path | None = None,
        kind: str | None = None,
        backend_container_id: int | None = None,
        wait: bool = True,
        timeout: float = 300,
    ) -> Any:
        """Creates a container running a plugin's Gradio interface.

        With ``wait=True`` waits for the build (see ``wait_for_build``) and returns the
        container; otherwise returns the build (``build_id`` and its URLs) at once.
        ``plugin_file`` uploads are not supported (``ValidationError``, 400).
        """
        body = container_body(
            plugin_release,
            model=model,
            params=params,
            envs=envs,
            metadata=metadata,
            labels=labels,
            plugin_file=plugin_file,
            kind=kind,
            backend_container_id=backend_container_id,
        )
        answer = self._send(Request('POST', 'containers/', body=body))
        build_id = answer.get('build_id') if isinstance(answer, dict) else None
        if not wait or not build_id:
            return answer
        return self.wait_for_build(build_id, timeout=timeout)

    def wait_for_system_ready(self, *, timeout: float = 120, poll_interval: float = 2) -> bool:
        """Polls ``health_check`` until the agent answers; ``False`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.health_check()
                return True
            except ClientError:
                pass
            time.sleep(poll_interval)
        return False

    def _system_operation(self, what: str, body: Any, wait: bool, timeout: float, poll_interval: float) -> Any:
        done = {'update': 'updated', 'restart': 'restarted'}[what]
        try:
            result = self._send(Request('POST', f'system/{what}/', body=body))
        except ClientError:
            # The agent may go down before it answers: that is the operation starting.
            if wait:
                time.sleep(poll_interval)
                if self.wait_for_system_ready(timeout=timeout, poll_interval=poll_interval):
                    return {'status': 'success', 'message': f'System {done} and ready'}
            raise
        if wait and isinstance(result, dict) and result.get('status') == 'success':
            time.sleep(poll_interval)
            if self.wait_for_system_ready(timeout=timeout, poll_interval=poll_interval):
                result['message'] = f'System {done} and ready'
        return result

    def update_system(
        self,
        *,
        api_tag: str | None = None,
        worker_tag: str | None = None,
        wait: bool = False,
        timeout: float = 120,
        poll_interval: float = 2,
    ) -> Any:
        """Pulls new images and restarts the agent's containers; ``wait=True`` waits until it is back."""
        tags = {key: value for key, value in (('api_tag', api_tag), ('worker_tag', worker_tag)) if value is not None}
        return self._system_operation('update', tags or None, wait, timeout, poll_interval)

    def restart_system(self, *, wait: bool = False, timeout: float = 120, poll_interval: float = 2) -> Any:
        """Restarts the agent's containers with their current images; ``wait=True`` waits until it is back."""
        return self._system_operation('restart', None, wait, timeout, poll_interval)

    def reset_connection(self) -> None:
        """Drops the pooled connections; the next request opens a new one. Open streams keep theirs."""
        self._core = self._build_core()

    def exists(self, api: str, *args: Any, **kwargs: Any) -> bool:
        """Whether the paginated endpoint ``api`` (a method name, called with the arguments) has results."""
        return bool(getattr(self, api)(*args, **kwargs)['count'] > 0)

    def close(self) -> None:
        """Drops the pooled connections; later calls raise ``ClientClosedError``.

        Streams already open go on until they end or are closed. Safe to call more than once.
        """
        self._core.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
