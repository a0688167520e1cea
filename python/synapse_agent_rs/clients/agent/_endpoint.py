"""How an endpoint written once becomes a method of both clients.

An endpoint is written once, in ``_base.py``, as a function that *describes* its request:
it checks its arguments and returns a ``Request`` (or, for an endpoint that needs
several requests, a generator that yields them and returns the result). Decorated with
``endpoint``, it becomes:

- on every subclass of ``SyncSender`` (``AgentClient``): a plain method that sends the
  request and returns the decoded answer;
- on every subclass of ``AsyncSender`` (``AsyncAgentClient``): an ``async def``
  coroutine function that does the same through the Rust core's awaitable.

The methods are real functions installed on each client class when it is created, so
``inspect.iscoroutinefunction``, ``asyncio.create_task`` and ``help()`` see what they expect,
with the concrete return type in the signature. Type checkers and IDEs get the same types
from the overloads of ``endpoint.__get__``.

Log streams work the same way with ``stream``: the definition returns a
``TailRequest``, the sync client opens a ``LogStream`` and the async client an
``AsyncLogStream`` (not a coroutine: ``async for`` takes it directly).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from synapse_agent_rs._core import AsyncLineStream, LineStream

P = ParamSpec('P')
T = TypeVar('T')

__all__ = ['AsyncSender', 'Plan', 'Request', 'SyncSender', 'TailRequest', 'endpoint', 'stream']


class Request(Generic[T]):
    """One REST request; ``T`` is the type of its decoded answer (for type checkers only)."""

    __slots__ = ('body', 'method', 'params', 'path', 'timeout')

    def __init__(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.params = params
        self.body = body
        self.timeout = timeout  # this call's read timeout, replacing the client's

    def __repr__(self) -> str:
        return f'Request({self.method!r}, {self.path!r})'


#: An endpoint made of several requests: yields each, is sent its answer, returns the result.
Plan = Generator[Request[Any], Any, T]


class TailRequest:
    """One log stream to open."""

    __slots__ = ('job_id', 'protocol', 'resume', 'resume_from', 'timeout')

    def __init__(
        self, job_id: str, timeout: float, protocol: str, resume: Any = False, resume_from: str | None = None
    ) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.protocol = protocol
        self.resume = resume
        self.resume_from = resume_from


class SyncSender:
    """Base of the blocking clients: endpoints become plain methods."""

    def _send(self, request: Request[Any]) -> Any:
        raise NotImplementedError

    def _open(self, tail: TailRequest) -> LineStream:
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _install(cls, asynchronous=False)


class AsyncSender:
    """Base of the asyncio clients: endpoints become coroutine functions."""

    async def _send(self, request: Request[Any]) -> Any:
        raise NotImplementedError

    def _open(self, tail: TailRequest) -> AsyncLineStream:
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _install(cls, asynchronous=True)


class endpoint(Generic[P, T]):  # lower case: used as a decorator
    """Marks a shared endpoint definition; see the module docstring."""

    def __init__(self, define: Callable[Concatenate[Any, P], Request[T] | Plan[T]]) -> None:
        self.define = define
        self.__doc__ = define.__doc__
        self.__name__ = define.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> endpoint[P, T]: ...
    @overload
    def __get__(self, obj: SyncSender, owner: type[Any] | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: AsyncSender, owner: type[Any] | None = None) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, obj: object, owner: type[Any] | None = None) -> Any:
        # Reached only on classes that are neither sync nor async (the shared mixins).
        return self if obj is None else types.MethodType(self.define, obj)

    def build(self, asynchronous: bool) -> Callable[..., Any]:
        """The method of a sync or an async client."""
        define = self.define

        async def coroutine(client: Any, /, *args: Any, **kwargs: Any) -> Any:
            request = define(client, *args, **kwargs)
            if isinstance(request, Request):
                return await client._send(request)
            return await _drive_async(client, request)

        def method(client: Any, /, *args: Any, **kwargs: Any) -> Any:
            request = define(client, *args, **kwargs)
            if isinstance(request, Request):
                return client._send(request)
            return _drive(client, request)

        return _dressed(coroutine if asynchronous else method, define, _answer_type)


class stream(Generic[P]):  # lower case: used as a decorator
    """Marks a shared log-stream definition: a ``LogStream`` on the sync client, an
    ``AsyncLogStream`` on the async one (returned at once, for ``async for``)."""

    def __init__(self, define: Callable[Concatenate[Any, P], TailRequest]) -> None:
        self.define = define
        self.__doc__ = define.__doc__
        self.__name__ = define.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> stream[P]: ...
    @overload
    def __get__(self, obj: SyncSender, owner: type[Any] | None = None) -> Callable[P, LineStream]: ...
    @overload
    def __get__(self, obj: AsyncSender, owner: type[Any] | None = None) -> Callable[P, AsyncLineStream]: ...
    def __get__(self, obj: object, owner: type[Any] | None = None) -> Any:
        return self if obj is None else types.MethodType(self.define, obj)

    def build(self, asynchronous: bool) -> Callable[..., Any]:
        """The method of a sync or an async client."""
        define = self.define

        def method(client: Any, /, *args: Any, **kwargs: Any) -> Any:
            return client._open(define(client, *args, **kwargs))

        stream_type = AsyncLineStream if asynchronous else LineStream
        return _dressed(method, define, lambda _: stream_type)


def _drive(client: SyncSender, plan: Plan[Any]) -> Any:
    answer = None
    try:
        while True:
            answer = client._send(plan.send(answer))
    except StopIteration as done:
        return done.value


async def _drive_async(client: AsyncSender, plan: Plan[Any]) -> Any:
    answer = None
    try:
        while True:
            answer = await client._send(plan.send(answer))
    except StopIteration as done:
        return done.value


def _answer_type(declared: Any) -> Any:
    """``T`` of a definition declared to return ``Request[T]`` or ``Plan[T]``."""
    args = typing.get_args(declared)
    return args[-1] if args else Any


def _dressed(
    method: Callable[..., Any], define: Callable[..., Any], returns: Callable[[Any], Any]
) -> Callable[..., Any]:
    """``method`` with the name, docs and signature of ``define``, its return type made concrete."""
    functools.update_wrapper(method, define)
    del method.__wrapped__  # type: ignore[attr-defined]  # help() must show our signature, not define's
    hints = typing.get_type_hints(define)
    hints['return'] = returns(hints.get('return'))
    signature = inspect.signature(define)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()],
        return_annotation=hints['return'],
    )
    method.__annotations__ = hints
    return method


def _install(cls: type, *, asynchronous: bool) -> None:
    """Turns every inherited endpoint definition into a real method of ``cls``."""
    for name in dir(cls):
        found = inspect.getattr_static(cls, name)
        if isinstance(found, (endpoint, stream)):
            method = found.build(asynchronous)
            method.__qualname__ = f'{cls.__qualname__}.{name}'
            method.__module__ = cls.__module__
            setattr(cls, name, method)
