"""The two transports, :class:`Client` (sync) and :class:`AsyncClient`, over httpx.

Both send the same :class:`~metapaas.client.calls.Call` objects and offer the
same route groups (:class:`_Routes`); only the sending differs.
"""

from __future__ import annotations

import functools
from typing import Any, Generic, Self

import httpx

from metapaas.client import routes
from metapaas.client.calls import Call, S, T
from metapaas.client.errors import ApiError
from metapaas.client.trust import verification

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)

# A kept-alive connection the server closed before answering: the request never ran
# (the server hands over to a new process when its plugins change). RemoteProtocolError
# when the close came before the request went out, ReadError when it was reset after.
_NO_ANSWER = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class _Routes(Generic[S]):
    """The route groups, bound to the transport that sends their calls."""

    def _sender(self) -> S:
        return self  # type: ignore[return-value]  # each transport is its own sender

    @functools.cached_property
    def types(self) -> routes.Types[S]:
        return routes.Types(self._sender())

    @functools.cached_property
    def operations(self) -> routes.Operations[S]:
        return routes.Operations(self._sender())

    @functools.cached_property
    def plugins(self) -> routes.Plugins[S]:
        return routes.Plugins(self._sender())

    @functools.cached_property
    def projects(self) -> routes.Projects[S]:
        return routes.Projects(self._sender())

    @functools.cached_property
    def users(self) -> routes.Users[S]:
        return routes.Users(self._sender())

    @functools.cached_property
    def admin(self) -> routes.Admin[S]:
        return routes.Admin(self._sender())

    @functools.cached_property
    def backup_repositories(self) -> routes.BackupRepositories[S]:
        return routes.BackupRepositories(self._sender())

    def backups(self, slug: str) -> routes.Backups[S]:
        """The backups of the type ``slug``'s instances."""
        return routes.Backups(self._sender(), slug)

    def instances(self, slug: str) -> routes.Instances[S]:
        """Instances of the type ``slug``."""
        return routes.Instances(self._sender(), slug)

    def resources(self, slug: str, collection: str) -> routes.Resources[S]:
        """The child collection ``collection`` of the type ``slug``'s instances."""
        return routes.Resources(self._sender(), slug, collection)


def _options(
    url: str, token: str | None, timeout: httpx.Timeout | float, ca: str | None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {"base_url": url, "headers": headers, "timeout": timeout, "verify": verification(ca)}


def _request(http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
    return http.build_request(call.method, call.path, params=call.params, json=call.json)


def _answer(call: Call[T], response: httpx.Response) -> T:
    if response.is_error:
        raise ApiError.from_response(response)
    return call.read(response.content)


class Client(_Routes["Client"]):
    """The MetaPaaS API over a pooled httpx connection; a context manager.

    >>> with Client("http://127.0.0.1:8080", token) as api:
    ...     api.instances("demo").create({"name": "hello"})

    An error answer raises :class:`~metapaas.client.ApiError`. A GET, PUT or
    DELETE whose connection closed before any answer is sent once more. ``ca`` (PEM)
    is the CA an ``https`` control plane's certificate must be signed by (default: the
    system's trust store).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        ca: str | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.http = http or httpx.Client(**_options(url, token, timeout, ca))

    def send(self, call: Call[T]) -> T:
        request = _request(self.http, call)
        try:
            response = self.http.send(request, stream=True)
        except _NO_ANSWER:
            if not call.idempotent:
                raise
            response = self.http.send(request, stream=True)
        try:
            response.read()
        finally:
            response.close()
        return _answer(call, response)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncClient(_Routes["AsyncClient"]):
    """The asyncio twin of :class:`Client`: every route returns a coroutine.

    >>> async with AsyncClient("http://127.0.0.1:8080", token) as api:
    ...     await api.types.list()
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        ca: str | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.http = http or httpx.AsyncClient(**_options(url, token, timeout, ca))

    async def send(self, call: Call[T]) -> T:
        request = _request(self.http, call)
        try:
            response = await self.http.send(request, stream=True)
        except _NO_ANSWER:
            if not call.idempotent:
                raise
            response = await self.http.send(request, stream=True)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return _answer(call, response)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
