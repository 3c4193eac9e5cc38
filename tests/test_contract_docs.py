"""The plugin contract's docstrings and ``docs/plugin-contract.md`` stay in step: the guide
is generated from the SDK (``python -m metapaas.sdk.contract_doc``)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from metapaas import sdk
from metapaas.plugins import check_contract
from metapaas.sdk import contract_doc, introspect

GUIDE = Path(__file__).parent.parent / "docs" / "plugin-contract.md"
HOOKS = [name for name, value in vars(sdk.PaasType).items() if introspect.hook_phase(value)]


def _headings() -> list[str]:
    """Hook names of the guide's headings like ``#### `node_plan(instance)` ``, in order."""
    return re.findall(r"^#+ `(\w+)\(", GUIDE.read_text(encoding="utf-8"), flags=re.MULTILINE)


def test_the_guide_is_what_the_sdk_generates() -> None:
    assert GUIDE.read_text(encoding="utf-8") == contract_doc.render(), (
        f"docs/plugin-contract.md is stale: run {contract_doc.COMMAND}"
    )


def test_there_are_hooks_to_document() -> None:
    assert {"node_plan", "data_plane"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_docstring(hook: str) -> None:
    doc = inspect.getdoc(getattr(sdk.PaasType, hook))
    assert doc is not None
    assert len(doc.split()) >= 8, f"{hook}'s docstring is too short to guide anyone"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_a_heading_of_the_guide(hook: str) -> None:
    assert hook in _headings()


@pytest.mark.parametrize("hook", HOOKS)
def test_the_guide_quotes_the_hooks_docstring(hook: str) -> None:
    doc = inspect.getdoc(getattr(sdk.PaasType, hook)) or ""
    first_sentence = " ".join(doc.split("\n\n")[0].split())
    guide = " ".join(GUIDE.read_text(encoding="utf-8").replace("`", "").split())
    assert first_sentence.replace("``", "") in guide


def test_the_guide_lists_hooks_in_the_order_the_runtime_calls_them() -> None:
    assert [h for h in _headings() if h in HOOKS] == HOOKS
    assert len(_headings()) == len(set(_headings()))


def test_the_guide_names_every_declaration_attribute_and_field_marker() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    attributes = [n for n in sdk.PaasType.__annotations__ if not n.startswith("_")]
    assert {"slug", "versions", "spec", "resources", "migrations"} <= set(attributes)
    for name in [*attributes, "immutable", "secret"]:
        assert f"`{name}`" in guide or f"sdk.{name}(" in guide, name


def test_the_guides_example_is_a_valid_type() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    example = re.search(r"```python\n(.*?)```", guide, flags=re.DOTALL)
    assert example is not None
    namespace: dict[str, object] = {}
    exec(compile(example.group(1), str(GUIDE), "exec"), namespace)  # noqa: S102 (our own docs)
    declared = namespace["Hello"]
    assert isinstance(declared, type)
    check_contract(declared())
