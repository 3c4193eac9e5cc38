"""The runtime's providers and agent name no engine a type runs, nor any of its ports.

A type declares its engine (its slug, Debian packages, catalog, binaries) and
its ports (``sdk.Port``, with the engine's standard number); the code that
runs every type learns them from the declaration alone. A name or a number of
a bundled type in the providers, the agent or an installed provider
distribution (comments and docstrings too, its console's scripts too) is a
type's knowledge leaking into the runtime.
"""

from __future__ import annotations

import importlib.util
import re
from importlib.metadata import entry_points
from pathlib import Path, PurePosixPath

import pytest

from metapaas import agent, providers, sdk
from metapaas.providers import ENTRY_POINT_GROUP as PROVIDERS_GROUP
from metapaas.sdk import introspect
from metapaas.testing import instance_view


def _bundled_types() -> list[sdk.PaasType]:
    return [point.load()() for point in entry_points(group=introspect.ENTRY_POINT_GROUP)]


def _engine_names(declaration: sdk.PaasType) -> set[str]:
    """The words a type's declaration names its engine with: its slug, its Debian packages,
    its catalog's engine values and the binaries it names by path or by package."""
    names = {declaration.slug, *declaration.debian_packages}
    for version in declaration.versions:
        names |= {v for v in version.engine.values() if isinstance(v, str) and "/" not in v}
        for group in declaration.node_plan(instance_view(declaration, version=version.name)):
            for binary in declaration.data_plane(group.role, version).required_binaries:
                if binary.startswith("/") or binary in declaration.debian_packages:
                    names.add(PurePosixPath(binary).name)
    return names


def _port_numbers(declaration: sdk.PaasType) -> set[int]:
    plan = declaration.node_plan(instance_view(declaration))
    return {port.number for group in plan for port in group.ports}


def _provider_distribution_dirs() -> list[Path]:
    """The packages of every installed provider distribution but the runtime's own."""
    found = []
    for point in entry_points(group=PROVIDERS_GROUP):
        package = point.module.split(".")[0]
        if package == "metapaas":
            continue
        spec = importlib.util.find_spec(package)
        assert spec is not None, package
        found += [Path(place) for place in spec.submodule_search_locations or ()]
    return found


def _sources() -> list[Path]:
    roots = [Path(providers.__file__).parent, Path(agent.__file__).parent]
    roots += _provider_distribution_dirs()
    return sorted(f for root in roots for f in root.rglob("*") if f.suffix in (".py", ".js"))


TYPES = _bundled_types()
WORDS = sorted({name for t in TYPES for name in _engine_names(t)})
NUMBERS = sorted({number for t in TYPES for number in _port_numbers(t)})


def test_the_bundled_types_give_names_and_numbers_to_look_for() -> None:
    assert {"redis", "postgres", "seaweedfs", "weed"} <= set(WORDS)
    assert {80, 5432, 6379, 8333, 18333} <= set(NUMBERS)


@pytest.mark.parametrize("source", _sources(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_no_engine_name_or_port_number_of_a_type_appears(source: Path) -> None:
    text = source.read_text(encoding="utf-8")
    words = [w for w in WORDS if re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE)]
    numbers = [n for n in NUMBERS if re.search(rf"\b{n}\b", text)]
    assert (words, numbers) == ([], []), f"{source} names a type's engine or port"
