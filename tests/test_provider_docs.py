"""The provider contract's docstrings and ``docs/providers.md`` stay in step: the guide is
generated from the contract (``python -m metapaas.providers.contract_doc``)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from metapaas.providers import contract_doc
from metapaas.providers.contract import ProviderPlugin
from metapaas.sdk.introspect import hook_phase

GUIDE = Path(__file__).parent.parent / "docs" / "providers.md"
HOOKS = [name for name, value in vars(ProviderPlugin).items() if hook_phase(value)]


def _headings() -> list[str]:
    return re.findall(r"^#+ `(\w+)\(", GUIDE.read_text(encoding="utf-8"), flags=re.MULTILINE)


def test_the_guide_is_what_the_contract_generates() -> None:
    assert GUIDE.read_text(encoding="utf-8") == contract_doc.render(), (
        f"docs/providers.md is stale: run {contract_doc.COMMAND}"
    )


def test_there_are_hooks_to_document() -> None:
    assert {"make", "routers", "background", "route", "commands"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_docstring_that_guides(hook: str) -> None:
    doc = inspect.getdoc(getattr(ProviderPlugin, hook))
    assert doc is not None
    assert len(doc.split()) >= 20, f"{hook}'s docstring is too short to guide anyone"
    assert "Called " in doc, f"{hook}'s docstring does not say when the runtime calls it"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_a_heading_of_the_guide(hook: str) -> None:
    assert hook in _headings()


def test_the_guide_lists_hooks_in_the_order_the_runtime_calls_them() -> None:
    assert [h for h in _headings() if h in HOOKS] == HOOKS


@pytest.mark.parametrize("attribute", list(ProviderPlugin.__annotations__))
def test_every_declaration_attribute_is_explained(attribute: str) -> None:
    assert contract_doc.attribute_comment(attribute), f"{attribute} has no #: comment"
    assert f"| `{attribute}` |" in GUIDE.read_text(encoding="utf-8")


def test_the_guide_says_how_other_back_ends_are_written() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    for back_end in ("OpenStack", "libvirt", "Kubernetes"):
        assert f"**{back_end}.**" in guide
