"""The providers' public face: label selectors and the factory by name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.orm import sessionmaker

from metapaas.db import Sealer
from metapaas.providers import INSTANCE, LocalProvider, NodeSpec, ProviderContext, matches
from metapaas.providers.routing import Pin, RoutingProvider, make_provider
from metapaas.sdk import PermanentError
from metapaas.testing.memory import MemoryProvider


def context(home: Path) -> ProviderContext:
    """A context whose database nobody opens: these providers keep nothing there."""
    return ProviderContext(home, sessionmaker(), Sealer(Fernet.generate_key()))


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


def test_make_provider_knows_local(tmp_path: Path) -> None:
    assert isinstance(make_provider("local", context(tmp_path)), LocalProvider)


def test_make_provider_refuses_an_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(
        PermanentError, match="unknown provider 'nope'; known providers: local, ssh"
    ):
        make_provider("nope", context(tmp_path))


def in_memory(_context: ProviderContext) -> MemoryProvider:
    """A provider factory another distribution would register."""
    return MemoryProvider()


def test_a_provider_of_another_distribution_is_found_by_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist_info = tmp_path / "site" / "metapaas_memory_provider-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Name: metapaas-memory-provider\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        "[metapaas.providers]\nmemory = tests.providers.test_provider_api:in_memory\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    assert isinstance(make_provider("memory", context(tmp_path)), MemoryProvider)
    with pytest.raises(PermanentError, match="known providers: local, memory, ssh"):
        make_provider("nope", context(tmp_path))


def spec(name: str, instance: str) -> NodeSpec:
    return NodeSpec(name, {INSTANCE: instance}, {"http": 80}, "token", "http://127.0.0.1:1")


def routed(pins: dict[str, Pin]) -> tuple[RoutingProvider, MemoryProvider, MemoryProvider]:
    here, there = MemoryProvider(), MemoryProvider()
    router = RoutingProvider({"here": here, "there": there}, "here", pins.get)
    return router, here, there


def test_new_nodes_go_where_their_instance_is_pinned_else_to_the_default() -> None:
    router, here, there = routed({"pinned": Pin("there", {"pool": "fast"})})

    router.create_node(spec("a-0", "free"))
    router.create_node(spec("b-0", "pinned"))

    assert set(here.nodes) == {"a-0"}
    assert set(there.nodes) == {"b-0"}
    assert there.nodes["b-0"].spec.host_labels == {"pool": "fast"}
    assert [n.name for n in router.list_nodes({})] == ["a-0", "b-0"]


def test_a_node_stays_with_the_provider_that_has_it_when_a_pin_changes() -> None:
    pins: dict[str, Pin] = {}
    router, here, there = routed(pins)
    router.create_node(spec("a-0", "i"))
    pins["i"] = Pin("there", {})
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
    router, _, _ = routed({"i": Pin("openstack", {})})
    with pytest.raises(PermanentError, match="pinned to provider 'openstack'"):
        router.create_node(spec("a-0", "i"))
