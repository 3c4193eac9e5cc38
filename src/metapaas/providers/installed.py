"""The provider distributions of this process, each with the context the runtime lends it.

:class:`Providers` is what the runtime knows of them: their declarations
(:mod:`.declared`), a :class:`~.contract.ProviderContext` each, their
migration streams, routers, console pages, routing hooks, and the providers
they make. A distribution whose settings, stream or provider fails is kept
apart with its reason, logged; the others serve.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from metapaas.bundle import Bundles
from metapaas.db import migrate
from metapaas.providers.base import Provider
from metapaas.providers.contract import ConsolePage, ProviderContext, ProviderPlugin, Route, Sealing
from metapaas.providers.declared import declared, read_settings

if TYPE_CHECKING:
    from fastapi import APIRouter

log = logging.getLogger(__name__)

RouteOf = Callable[[Mapping[str, str]], Route | None]


@dataclass(frozen=True)
class Lent:
    """What the runtime lends every provider; each gets a context of its own over it."""

    home: Path
    sessions: sessionmaker[Session]
    sealer: Sealing
    type_packages: Callable[[], Mapping[str, Sequence[str]]]
    reconcile: Callable[[Collection[str]], None]


@dataclass(frozen=True)
class Installed:
    plugin: ProviderPlugin[Any, Any]
    context: ProviderContext[Any]


@dataclass(frozen=True)
class ConsoleFiles:
    """A provider's console files and pages, as the console serves them."""

    name: str
    directory: Path
    pages: Sequence[ConsolePage]


class Providers:
    """The installed provider distributions, by name."""

    def __init__(self, installed: Mapping[str, Installed], broken: Mapping[str, str]) -> None:
        self._installed = dict(installed)
        self.broken = dict(broken)
        self._listeners: list[Callable[[str], None]] = []
        self._lock = threading.Lock()

    @classmethod
    def none(cls) -> Providers:
        return cls({}, {})

    @classmethod
    def discover(
        cls,
        lent: Lent,
        found: Iterable[EntryPoint] | None = None,
        environ: Mapping[str, str] = os.environ,
    ) -> Providers:
        """The providers of ``found`` (default: every installed entry point)."""
        found_now = declared(found)
        providers = cls({}, found_now.broken)
        for name, plugin in found_now.plugins.items():
            try:
                settings = read_settings(name, plugin.settings, environ)
            except Exception as exc:
                providers._break(name, exc)
                continue
            context: ProviderContext[Any] = ProviderContext(
                name=name,
                home=lent.home,
                settings=settings,
                sessions=lent.sessions,
                sealer=lent.sealer,
                bundles=Bundles(lent.home),
                type_packages=lent.type_packages,
                reconcile=lent.reconcile,
                wake=functools.partial(providers.wake, name),
            )
            providers._installed[name] = Installed(plugin, context)
        return providers

    def names(self) -> list[str]:
        return sorted(self._installed)

    def get(self, name: str) -> Installed | None:
        return self._installed.get(name)

    # -- storage -----------------------------------------------------------------------

    def streams(self) -> dict[str, migrate.Stream]:
        return {
            name: migrate.plugin_stream(name, found.plugin.migrations)
            for name, found in self._installed.items()
            if found.plugin.migrations is not None
        }

    def migrate(self, engine: Engine) -> None:
        """Apply every provider's stream; a failing one is set apart, the others go on."""
        for name, stream in self.streams().items():
            try:
                migrate.upgrade(engine, stream)
            except migrate.MigrationError as exc:
                self._break(name, exc)

    def is_current(self, engine: Engine) -> bool:
        return all(migrate.is_current(engine, stream) for stream in self.streams().values())

    # -- the front doors ---------------------------------------------------------------

    def routers(self) -> list[APIRouter]:
        return [router for found in self._each() for router in found.plugin.routers()]

    def console_files(self) -> list[ConsoleFiles]:
        return [
            ConsoleFiles(name, found.plugin.console_files, found.plugin.console_pages)
            for name, found in sorted(self._installed.items())
            if found.plugin.console_files is not None
        ]

    # -- the orchestrator --------------------------------------------------------------

    def make(self) -> dict[str, Provider]:
        """Each provider, made once: what the orchestrator and the background work share."""
        made = {}
        for name, found in sorted(self._installed.items()):
            try:
                made[name] = found.plugin.make(found.context)
            except Exception as exc:  # one broken provider must not stop the others
                self._break(name, exc)
        return made

    def routes(self) -> list[RouteOf]:
        """The routing hooks of the providers, by name."""
        return [functools.partial(found.plugin.route, found.context) for found in self._each()]

    def listen(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(name)`` when a provider's context is woken; returns the undo."""
        with self._lock:
            self._listeners.append(listener)
        return functools.partial(self._unlisten, listener)

    def wake(self, name: str) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(name)

    def _unlisten(self, listener: Callable[[str], None]) -> None:
        with self._lock:
            self._listeners.remove(listener)

    def _each(self) -> list[Installed]:
        return [self._installed[name] for name in sorted(self._installed)]

    def _break(self, name: str, exc: Exception) -> None:
        log.error("provider %s is not usable: %s", name, exc)
        self._installed.pop(name, None)
        self.broken[name] = str(exc)
