"""Each route described once, as a :class:`Call`; either transport sends it.

A group of routes (``Instances``, ``Projects`` …) is a class whose methods
build calls and are marked :func:`route`. Read through a group of the sync
:class:`~metapaas.client.Client`, such a method sends its call and returns the
answer; through the :class:`~metapaas.client.AsyncClient`, it returns a
coroutine of the answer. So every route is written once and typed for both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, cast, overload
from urllib.parse import quote

from pydantic import TypeAdapter

T = TypeVar("T")
P = ParamSpec("P")
G = TypeVar("G", bound="Group[Any]")
S = TypeVar("S", bound="Sender")
S_co = TypeVar("S_co", bound="Sender", covariant=True)

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its answer (``None`` for an answer without a body)."""

    method: str
    path: str
    answer: TypeAdapter[T] | None = None
    params: Mapping[str, str | int] = field(default_factory=dict)
    json: Any = None

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT

    def read(self, content: bytes) -> T:
        if self.answer is None:
            return None  # type: ignore[return-value]  # a Call[None]
        return self.answer.validate_json(content)


@functools.cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    """One adapter per answer shape: building one costs more than a request's parsing."""
    return TypeAdapter(shape)


def call(
    method: str,
    path: str,
    answer: type[T],
    *,
    json: Any = None,
    **params: str | int | None,
) -> Call[T]:
    """A call whose answer is read as ``answer``; ``None`` query parameters are left out."""
    sent = {k: v for k, v in params.items() if v is not None}
    adapter: TypeAdapter[T] = _adapter(cast(Hashable, answer))
    return Call(method, path, adapter, sent, json)


def segment(value: str) -> str:
    """A path segment: a name or id, quoted so it cannot step into another route."""
    return quote(value, safe="")


def no_answer(method: str, path: str, **params: str | int | None) -> Call[None]:
    """A call answered ``204 No Content``."""
    return Call(method, path, None, {k: v for k, v in params.items() if v is not None})


class Sender(Protocol):
    """A transport: sends a call and returns its answer (or a coroutine of it)."""

    def send(self, call: Call[Any]) -> Any: ...


class SyncSender(Sender, Protocol):
    def send(self, call: Call[T]) -> T: ...


class AsyncSender(Sender, Protocol):
    def send(self, call: Call[T]) -> Coroutine[Any, Any, T]: ...


class Group(Generic[S_co]):
    """Routes that share a prefix, bound to the transport that sends them."""

    def __init__(self, sender: S_co) -> None:
        self._sender = sender


class route(Generic[G, P, T]):  # lower case: a decorator, like property
    """Marks a method that builds a :class:`Call`: reading it through a group sends it."""

    def __init__(self, build: Callable[Concatenate[G, P], Call[T]]) -> None:
        self._build = build
        functools.update_wrapper(self, build)  # type: ignore[arg-type]

    @overload
    def __get__(self, group: Group[SyncSender], owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(
        self, group: Group[AsyncSender], owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, group: Group[Any], owner: type[Any]) -> Callable[P, Any]:
        build = self._build

        @functools.wraps(build)
        def send(*args: P.args, **kwargs: P.kwargs) -> Any:
            return group._sender.send(build(group, *args, **kwargs))  # type: ignore[arg-type]

        return send
