"""The providers' public face: label selectors and the factory by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from metapaas.providers import LocalProvider, make_provider, matches
from metapaas.sdk import PermanentError
from metapaas.testing.memory import MemoryProvider


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
    assert isinstance(make_provider("local", tmp_path), LocalProvider)


def test_make_provider_refuses_an_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="unknown provider 'nope'; known providers: local"):
        make_provider("nope", tmp_path)


def in_memory(_home: Path) -> MemoryProvider:
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

    assert isinstance(make_provider("memory", tmp_path), MemoryProvider)
    with pytest.raises(PermanentError, match="known providers: local, memory"):
        make_provider("nope", tmp_path)
