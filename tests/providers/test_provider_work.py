"""Providers' background work runs only while its provider is in use: started when it comes
into use (the default provider always is), woken when its context is, stopped when it is no
longer used and when the process stops."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from metapaas.providers import Provider, ProviderContext, ProviderPlugin
from metapaas.providers.installed import Installed, Providers
from metapaas.providers.work import ProviderWork
from metapaas.testing import wait_for
from metapaas.testing.memory import MemoryProvider
from tests.providers.conftest import context


@dataclass
class Work:
    happened: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.happened.append("start")

    def wake(self) -> None:
        self.happened.append("wake")

    def stop(self) -> None:
        self.happened.append("stop")


class Watched(ProviderPlugin):
    """A provider in use while ``used`` says so, whose background work is recorded."""

    name = "watched"
    title = "Watched"

    def __init__(self) -> None:
        self.used = False
        self.made: list[Work] = []

    def make(self, context: ProviderContext) -> MemoryProvider:
        return MemoryProvider()

    def in_use(self, context: ProviderContext) -> bool:
        return self.used

    def background(self, context: ProviderContext, provider: Provider) -> Work:
        self.made.append(Work())
        return self.made[-1]


def keeper(tmp_path: Path, default: str = "local") -> tuple[ProviderWork, Providers, Watched]:
    plugin = Watched()
    providers = Providers({"watched": Installed(plugin, context(tmp_path))}, {})
    made = {"local": MemoryProvider(), "watched": plugin.make(context(tmp_path))}
    return ProviderWork(providers, made, default, interval=60), providers, plugin


def test_work_runs_only_while_its_provider_is_in_use(tmp_path: Path) -> None:
    work, _, plugin = keeper(tmp_path)
    work.keep()
    assert plugin.made == [], "not in use: nothing runs"

    plugin.used = True
    work.keep()
    (running,) = plugin.made
    assert running.happened == ["start"]

    work.poke("watched")
    work.keep()
    work.keep()  # not woken again: nothing to do
    assert running.happened == ["start", "wake"]

    plugin.used = False
    work.keep()
    assert running.happened == ["start", "wake", "stop"]


def test_a_woken_context_is_judged_at_the_next_round(tmp_path: Path) -> None:
    work, providers, plugin = keeper(tmp_path)
    work.start()
    try:
        plugin.used = True
        providers.wake("watched")  # as a route does after registering a host
        wait_for(lambda: plugin.made, 5, "the work to start", interval=0.01)
        assert plugin.made[0].happened[0] == "start"
    finally:
        work.stop()
    assert plugin.made[0].happened[-1] == "stop", "the process stopping stops it"


def test_the_default_provider_is_in_use_whatever_it_says(tmp_path: Path) -> None:
    work, _, plugin = keeper(tmp_path, default="watched")
    work.keep()
    assert [w.happened for w in plugin.made] == [["start"]]
