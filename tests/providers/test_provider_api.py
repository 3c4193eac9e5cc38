"""The providers' public face: label selectors, declarations found by their entry points,
settings read from the environment, and routing between providers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from metapaas.providers import (
    INSTANCE,
    LocalProvider,
    NodeSpec,
    ProviderContext,
    ProviderPlugin,
    Route,
    matches,
)
from metapaas.providers.declared import declared, read_settings
from metapaas.providers.local import Local, LocalSettings
from metapaas.providers.routing import RoutingProvider
from metapaas.sdk import PermanentError
from metapaas.testing.memory import MemoryProvider
from tests.providers.conftest import context


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param({}, True, id="an empty selector matches every node"),
        pytest.param({"a": "1"}, True, id="a pair the labels hold matches"),
        pytest.param({"a": "1", "b": "2"}, True, id="every pair held matches"),
        pytest.param({"a": "2"}, False, id="a different value does not match"),
        pytest.param({"c": "1"}, False, id="a missing key does not match"),
    ],
)
def test_matches_is_a_subset_match(selector: dict[str, str], expected: bool) -> None:
    assert matches({"a": "1", "b": "2"}, selector) is expected


def test_the_local_declaration_makes_a_local_provider(tmp_path: Path) -> None:
    assert isinstance(Local().make(context(tmp_path, LocalSettings())), LocalProvider)
    assert "local" in declared().plugins


def test_an_unknown_default_provider_is_refused_naming_the_installed_ones() -> None:
    with pytest.raises(
        PermanentError, match="the default provider 'nope' is not installed; installed: local"
    ):
        RoutingProvider({"local": MemoryProvider()}, "nope")
    with pytest.raises(PermanentError, match="the default provider 'ssh' is not available: away"):
        RoutingProvider({"local": MemoryProvider()}, "ssh", unusable={"ssh": "away"})


class InMemory(ProviderPlugin):
    """A provider another distribution would register."""

    name = "memory"
    title = "Nodes as records"

    def make(self, context: ProviderContext) -> MemoryProvider:
        return MemoryProvider()


class Unnamed(InMemory):
    name = "other"


class Maker(ProviderPlugin):
    name = "broken"
    title = "Makes no provider"


def _site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str) -> None:
    dist_info = tmp_path / "site" / "metapaas_memory_provider-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Name: metapaas-memory-provider\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[metapaas.providers]\n{entry_points}")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


def test_a_provider_of_another_distribution_is_found_by_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _site(tmp_path, monkeypatch, "memory = tests.providers.test_provider_api:InMemory\n")

    found = declared()
    assert isinstance(found.plugins["memory"].make(context(tmp_path)), MemoryProvider)
    assert {"local", "memory"} <= set(found.plugins)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("tests.providers.test_provider_api:spec", "not a subclass", id="a function"),
        pytest.param("tests.providers.test_provider_api:Unnamed", "registered as", id="misnamed"),
        pytest.param("tests.providers.nowhere:Nothing", "ModuleNotFoundError", id="no module"),
        pytest.param("tests.providers.test_provider_api:Maker", "no make hook", id="no make"),
    ],
)
def test_a_broken_declaration_is_set_apart_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, reason: str
) -> None:
    _site(tmp_path, monkeypatch, f"broken = {value}\n")

    found = declared()
    assert "broken" not in found.plugins
    assert reason in found.broken["broken"]
    assert "local" in found.plugins, "the others are found all the same"


def test_settings_are_read_from_the_providers_own_variables() -> None:
    environ = {"METAPAAS_LOCAL_NETWORK": "namespaces", "METAPAAS_LOCAL_SUBNET": "10.9.0.0/24"}
    settings = read_settings("local", LocalSettings, environ)
    assert settings == LocalSettings(network="namespaces", subnet=IPv4Network("10.9.0.0/24"))
    assert read_settings("local", LocalSettings, {}) == LocalSettings()
    with pytest.raises(PermanentError, match=r"^METAPAAS_LOCAL_NETWORK: "):
        read_settings("local", LocalSettings, {"METAPAAS_LOCAL_NETWORK": "bridges"})


def spec(name: str, instance: str) -> NodeSpec:
    return NodeSpec(name, {INSTANCE: instance}, {"http": 80}, "token", "http://127.0.0.1:1")


def routed(
    pins: Mapping[str, Route],
) -> tuple[RoutingProvider, MemoryProvider, MemoryProvider]:
    """Providers ``here`` (the default) and ``there``, with a routing hook reading ``pins``
    by the node's instance."""
    here, there = MemoryProvider(), MemoryProvider()
    routes = [lambda labels: pins.get(labels.get(INSTANCE, ""))]
    router = RoutingProvider({"here": here, "there": there}, "here", routes)
    return router, here, there


def test_new_nodes_go_where_their_instance_is_pinned_else_to_the_default() -> None:
    router, here, there = routed({"pinned": Route("there", {"pool": "fast"})})

    router.create_node(spec("a-0", "free"))
    router.create_node(spec("b-0", "pinned"))

    assert set(here.nodes) == {"a-0"}
    assert set(there.nodes) == {"b-0"}
    assert there.nodes["b-0"].spec.host_labels == {"pool": "fast"}
    assert [n.name for n in router.list_nodes({})] == ["a-0", "b-0"]


def test_a_node_stays_with_the_provider_that_has_it_when_a_pin_changes() -> None:
    pins: dict[str, Route] = {}
    router, here, there = routed(pins)
    router.create_node(spec("a-0", "i"))
    pins["i"] = Route("there", {})
    here.stop("a-0")

    router.create_node(spec("a-0", "i"))  # the dead node restarts where it is
    router.restart_node(dataclasses.replace(spec("a-0", "i"), software="v2"))
    assert set(here.nodes) == {"a-0"}
    assert not there.nodes

    router.delete_volume("a-0")  # a replacement or a new node follows the pin
    router.create_node(spec("a-0", "i"))
    assert set(there.nodes) == {"a-0"}
    assert not here.nodes


def test_a_pin_to_a_provider_not_installed_is_a_permanent_error() -> None:
    router, _, _ = routed({"i": Route("openstack", {})})
    with pytest.raises(PermanentError, match="pinned to provider 'openstack'"):
        router.create_node(spec("a-0", "i"))
