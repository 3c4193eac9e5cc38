"""Discovery checks each plugin's contract and reports, never raises (plugin contract)."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from metapaas.plugins import Registry
from metapaas.plugins.discovery import discover
from tests import sample_plugins
from tests.sample_plugins import entry_point

CASES = {
    "bad slug is ERROR naming the slug rule": (
        entry_point("badslug", "contracts:BadSlug"),
        "badslug",
        "slug 'Bad-Slug' must match",
    ),
    "import error is ERROR naming the exception": (
        entry_point("broken", "raises_on_import:Anything"),
        "broken",
        "RuntimeError: sample plugin fails at import",
    ),
    "missing attribute is ERROR naming it": (
        entry_point("absent", "contracts:NoSuchClass"),
        "absent",
        "NoSuchClass",
    ),
    "not a PaasType is ERROR saying so": (
        entry_point("notatype", "contracts:NotAType"),
        "notatype",
        "is not a metapaas.sdk.PaasType",
    ),
    "spec field clashing with a common field is ERROR naming it": (
        entry_point("clash", "contracts:SpecClash"),
        "clash",
        "spec fields ['version'] clash with the common instance fields",
    ),
    "child spec without name is ERROR naming the rule": (
        entry_point("unnamed", "contracts:ChildWithoutName"),
        "unnamed",
        "things spec must have a 'name' field",
    ),
    "reserved collection name is ERROR naming the collection": (
        entry_point("reserved", "contracts:ReservedCollection"),
        "reserved",
        "collection 'operations' is not allowed",
    ),
}


@pytest.mark.parametrize(("point", "slug", "reason"), list(CASES.values()), ids=list(CASES))
def test_a_broken_plugin_is_error_with_its_reason_and_the_others_stay_active(
    point: EntryPoint, slug: str, reason: str
) -> None:
    registry = Registry.discover(found=[sample_plugins.demo_entry_point(), point])

    broken = registry.get(slug)
    assert broken.status == "ERROR"
    assert not broken.usable
    assert reason in broken.reason
    assert registry.get("demo").status == "ACTIVE"
    assert [t.slug for t in registry.usable()] == ["demo"]


def test_duplicate_slug_second_is_error_naming_the_first() -> None:
    first = sample_plugins.WIDGETS
    second = entry_point("widgets", "contracts:DuplicateWidgets")

    found = discover([second, first])

    assert [(d.entry_point, d.status) for d in found] == [
        ("tests.sample_plugins.contracts:DuplicateWidgets", "ACTIVE"),
        ("tests.sample_plugins.widgets:Widgets", "ERROR"),
    ] or [(d.entry_point, d.status) for d in found] == [
        ("tests.sample_plugins.widgets:Widgets", "ACTIVE"),
        ("tests.sample_plugins.contracts:DuplicateWidgets", "ERROR"),
    ]
    winner, loser = sorted(found, key=lambda d: d.status)
    assert f"slug 'widgets' is already provided by {winner.entry_point}" in loser.error


def test_duplicate_slug_outcome_does_not_depend_on_the_order_found() -> None:
    points = [sample_plugins.WIDGETS, entry_point("widgets", "contracts:DuplicateWidgets")]
    forward = [(d.entry_point, d.status) for d in discover(points)]
    backward = [(d.entry_point, d.status) for d in discover(list(reversed(points)))]
    assert forward == backward


@pytest.mark.parametrize("reverse", [False, True], ids=["found in order", "found reversed"])
def test_registry_with_a_duplicate_serves_one_and_lists_the_other_as_error(
    reverse: bool,
) -> None:
    points = [sample_plugins.WIDGETS, entry_point("widgets", "contracts:DuplicateWidgets")]
    registry = Registry.discover(found=list(reversed(points)) if reverse else points)

    (served,) = list(registry)
    assert served.usable
    (duplicate,) = registry.rejected
    assert duplicate.status == "ERROR"
    assert served.found.entry_point in duplicate.reason
    assert registry.get_usable("widgets") is served


def test_a_failed_entry_never_hides_a_working_one_of_the_same_name() -> None:
    registry = Registry.discover(
        found=[entry_point("widgets", "raises_on_import:X"), sample_plugins.WIDGETS]
    )
    assert registry.get("widgets").usable
    assert [t.status for t in registry.rejected] == ["ERROR"]


def test_a_good_plugin_is_active_with_its_entry_point() -> None:
    (found,) = discover([sample_plugins.WIDGETS])
    assert found.status == "ACTIVE"
    assert found.slug == "widgets"
    assert found.entry_point == "tests.sample_plugins.widgets:Widgets"
    assert found.error == ""


def test_installed_entry_points_include_the_bundled_demo() -> None:
    slugs = {d.slug: d for d in discover()}
    assert slugs["demo"].status == "ACTIVE"
    assert slugs["demo"].distribution == "metapaas"
