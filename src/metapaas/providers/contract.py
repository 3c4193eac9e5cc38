"""The provider contract: the one class a provider distribution subclasses.

A provider distribution (``local``, ``ssh``, or an OpenStack, libvirt or
Kubernetes one) declares itself with a subclass of :class:`ProviderPlugin`
registered in the :data:`ENTRY_POINT_GROUP` entry-point group. Its class
attributes say *what* it brings (settings, tables, console pages); the methods
marked as hooks are what the runtime calls, in the order documented here.
Their docstrings are the provider guide (``docs/providers.md`` is generated
from them and a test keeps the two in step).

This module stays light: the CLI and a host's side of a provider import it,
so the web framework, the database and the CLI library are named for the
type checker only.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar  # a default for the type parameter (PEP 696) on 3.11

from metapaas.providers.base import Provider
from metapaas.sdk import PermanentError
from metapaas.sdk.introspect import hookspec

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter
    from sqlalchemy.orm import Session, sessionmaker

    from metapaas.bundle import Bundles

ENTRY_POINT_GROUP = "metapaas.providers"
"""The entry-point group a provider distribution registers its :class:`ProviderPlugin` in."""
NAME_PATTERN = r"^[a-z][a-z0-9]{1,30}$"
"""A provider's name: the prefix of its tables (``<name>_``) and settings
(``METAPAAS_<NAME>_``), so letters and digits only."""


class NoSettings(BaseModel):
    """The settings of a provider that has none."""

    model_config = ConfigDict(extra="forbid")


SettingsT = TypeVar("SettingsT", bound=BaseModel, default=NoSettings)
"""A provider's settings model: what ``context.settings`` is in its hooks."""
ProviderT = TypeVar("ProviderT", bound=Provider, default=Provider)
"""What a provider's :meth:`~ProviderPlugin.make` returns and its background work is given."""


class Sealing(Protocol):
    """Seals small secret mappings with the control plane's key (never stored beside them)."""

    def seal(self, values: dict[str, str]) -> str: ...

    def unseal(self, sealed: str) -> dict[str, str]: ...


class Background(Protocol):
    """Work a provider runs beside the orchestrator (``ssh``: its host monitor)."""

    def start(self) -> None:
        """Begin, on a thread of its own; return at once."""
        ...

    def wake(self) -> None:
        """Do the next round now (something it watches was changed in this process)."""
        ...

    def stop(self) -> None:
        """End and wait for the thread, bounded."""
        ...


@dataclass(frozen=True)
class ProviderContext(Generic[SettingsT]):
    """What the runtime lends a provider: made once per process for each installed one.

    ``settings`` are the provider's :attr:`ProviderPlugin.settings`, read from
    ``METAPAAS_<NAME>_<FIELD>``. ``home`` is the control plane's home
    directory (state kept on its machine); ``sessions`` and ``sealer`` its
    database and the sealer of its secrets (state kept there: the provider's
    own tables, secrets sealed). ``type_packages()`` gives the Debian packages
    each usable type's nodes need, by slug. ``bundles`` packs the runtime and
    plugin versions for machines without a package index, with the
    standard-library unpacker that opens them there. ``reconcile(ids)`` asks
    the orchestrator to look at those instances soon (a node of theirs must
    move); ``wake()`` tells this process's background work of the provider that
    something it watches changed.
    """

    name: str
    home: Path
    settings: SettingsT
    sessions: sessionmaker[Session]
    sealer: Sealing
    bundles: Bundles
    type_packages: Callable[[], Mapping[str, Sequence[str]]]
    reconcile: Callable[[Collection[str]], None]
    wake: Callable[[], None]


@dataclass(frozen=True)
class Route:
    """Where a new node goes: an installed provider, and for one with hosts the labels a
    host must have."""

    provider: str
    host_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ConsolePage:
    """A page of the web console: shown at ``#/<route>`` and listed as ``label`` in its
    navigation (for admins only if ``admin``). ``module`` is an ES module of the
    provider's :attr:`ProviderPlugin.console_files` whose default export renders
    the page."""

    route: str
    label: str
    module: str
    admin: bool = False


class ProviderPlugin(Generic[SettingsT, ProviderT]):
    """Subclass this to declare a provider; register the class under the
    ``metapaas.providers`` entry-point group, named as its :attr:`name`.

    Required: :attr:`name`, :attr:`title` and the :meth:`make` hook. Optional:
    :attr:`settings` (a pydantic model), :attr:`migrations` (an Alembic stream
    for the provider's own tables, each named ``<name>_...``),
    :attr:`console_files` and :attr:`console_pages`. Name the settings model
    and the provider class as the type parameters
    (``class Mine(ProviderPlugin[MySettings, MyProvider])``) and the hooks see
    ``context.settings`` and the provider as those.
    """

    #: ``^[a-z][a-z0-9]{1,30}$``, and the entry point's name: names the provider in
    #: ``METAPAAS_PROVIDER`` and in pins, prefixes its settings (``METAPAAS_<NAME>_``)
    #: and its tables (``<name>_``).
    name: ClassVar[str]
    #: A non-empty human name.
    title: ClassVar[str]
    #: A pydantic model, each field read from ``METAPAAS_<NAME>_<FIELD>`` (a bad value
    #: leaves the provider out, naming the variable); the hooks see it as
    #: ``context.settings``.
    # Not a ClassVar: a ClassVar cannot name the type parameter. Subclasses set it on the
    # class all the same; the default is for a provider without settings.
    settings: type[SettingsT] = NoSettings  # type: ignore[assignment]
    #: A directory of Alembic revisions for the provider's own tables, applied by the
    #: runtime like a type's: version table ``<name>_alembic_version``, every table
    #: ``<name>_...``, or the stream is rolled back and the provider left out.
    migrations: ClassVar[Path | None] = None
    #: A directory of static files (ES modules, style sheets) the console serves at
    #: ``/ui/ext/<name>/``; its pages import the console's own modules from ``../../js/``.
    console_files: ClassVar[Path | None] = None
    #: ``ConsolePage(route, label, module, admin=False)``s among the ``console_files``:
    #: the console lists them at ``/ui/extensions.json`` and imports a page's module the
    #: first time it is shown.
    console_pages: ClassVar[Sequence[ConsolePage]] = ()

    # -- the server: the API, then the orchestrator ---------------------------------

    @hookspec("server")
    def routers(self) -> Sequence[APIRouter]:
        """Return the API routers of the provider, mounted beside the runtime's own.

        Called once per app, when a server process builds its API. Build each
        with ``route_class=metapaas.api.extend.InContext`` and declare its
        problems with ``problem_responses``; a handler gets its
        ``ProviderContext`` through ``metapaas.api.extend.provider_context`` and
        audits every change it commits. The default mounts none.
        """
        return ()

    @hookspec("server")
    def make(self, context: ProviderContext[SettingsT]) -> ProviderT:
        """Return the provider: the ``Provider`` protocol over the nodes it runs.

        Called once per orchestrator process, when it starts; the runtime holds
        the one instance it returns and gives it to :meth:`background` too, so
        the two share what they hold (connections, caches). Raise
        ``sdk.PermanentError`` when the provider cannot work here (the reason is
        logged; nodes routed to it wait). Nothing else of the provider runs in
        another process's memory: keep what must be shared in the database.
        """
        raise PermanentError(f"provider {self.name!r} makes no provider (it lacks make)")

    @hookspec("server")
    def in_use(self, context: ProviderContext[SettingsT]) -> bool:
        """Return whether the provider is in use here, so its background work must run.

        Called by the orchestrator's processes every resync interval and when
        :attr:`ProviderContext.wake` is called (``ssh``: whether a host is
        registered). The server's default provider (``METAPAAS_PROVIDER``) is
        in use whatever this says. The default is not in use.
        """
        return False

    @hookspec("server")
    def background(
        self, context: ProviderContext[SettingsT], provider: ProviderT
    ) -> Background | None:
        """Return the work to run beside the orchestrator while the provider is in use.

        Called when :meth:`in_use` turns true (``provider`` is what :meth:`make`
        returned); the runtime starts it, wakes it when
        :attr:`ProviderContext.wake` is called, and stops it when :meth:`in_use`
        turns false and when the process stops. ``ssh`` watches its hosts. The
        default runs nothing.
        """
        return None

    @hookspec("server")
    def route(self, context: ProviderContext[SettingsT], labels: Mapping[str, str]) -> Route | None:
        """Return where a new node with ``labels`` goes, or None to leave it to the others.

        Called by the orchestrator for every node that no provider has yet
        (a new one, or a replacement), with the node's labels
        (``metapaas.io/project``, ``/type``, ``/instance``, ``/role``). The first
        provider (by name) that answers decides; with no answer the node goes
        to ``METAPAAS_PROVIDER``. A node some provider has stays with it. The
        default answers None.
        """
        return None

    # -- the command line ----------------------------------------------------------------

    @hookspec("command line")
    def commands(self) -> Mapping[str, typer.Typer]:
        """Return the provider's command groups by name, e.g. ``{"hosts": hosts_app}``.

        Called by the ``metapaas`` command at every start, before it parses its
        arguments; a name the runtime's own commands use is left out. Import
        the groups' module inside this hook: the declaration's module must stay
        light, and a command is a client of the API (``metapaas.cli.extend``,
        ``metapaas.client.extend``), never of the database. The default adds
        none.
        """
        return {}
