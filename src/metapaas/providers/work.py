"""Providers' background work, run beside the orchestrator only while a provider is in use.

The default provider (``METAPAAS_PROVIDER``) is always in use; another is in
use when its :meth:`~.contract.ProviderPlugin.in_use` says so (``ssh``: a host
is registered). Every ``interval`` seconds, and at once when a provider's
context is woken, each provider's use is judged again: its background work
starts when the provider comes into use, is woken while it runs, and stops
when the provider is no longer used. A server with no provider in use but
``local`` runs no background work at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from metapaas.providers.base import Provider
from metapaas.providers.contract import Background
from metapaas.providers.installed import Providers

log = logging.getLogger(__name__)

STOP_SECONDS = 30.0


class ProviderWork:
    def __init__(
        self, providers: Providers, made: Mapping[str, Provider], default: str, interval: float
    ) -> None:
        self._providers = providers
        self._made = dict(made)
        self._default = default
        self._interval = interval
        self._running: dict[str, Background] = {}
        self._woken: set[str] = set()
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._unlisten: Callable[[], None] = lambda: None

    def start(self) -> None:
        self._unlisten = self._providers.listen(self.poke)
        self._thread = threading.Thread(target=self._loop, name="provider-work", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._unlisten()
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(STOP_SECONDS)
        for name in list(self._running):
            self._end(name)

    def poke(self, name: str) -> None:
        """Provider ``name``'s context was woken: judge its use and wake its work now."""
        with self._lock:
            self._woken.add(name)
        self._wakeup.set()

    def keep(self) -> None:
        """One round: start, wake or stop each provider's background work."""
        with self._lock:
            woken, self._woken = self._woken, set()
        for name, provider in sorted(self._made.items()):
            try:
                self._keep(name, provider, woken=name in woken)
            except Exception:  # the database may be away: judged again next round
                log.exception("keeping the background work of provider %s", name)

    def _keep(self, name: str, provider: Provider, *, woken: bool) -> None:
        found = self._providers.get(name)
        if found is None:
            return
        in_use = name == self._default or found.plugin.in_use(found.context)
        running = self._running.get(name)
        if in_use and running is None:
            started = found.plugin.background(found.context, provider)
            if started is not None:
                log.info("provider %s is in use: its background work starts", name)
                started.start()
                self._running[name] = started
        elif in_use and running is not None and woken:
            running.wake()
        elif not in_use and running is not None:
            log.info("provider %s is no longer in use: its background work stops", name)
            self._end(name)

    def _end(self, name: str) -> None:
        self._running.pop(name).stop()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.keep()
            self._wakeup.wait(self._interval)
            self._wakeup.clear()
