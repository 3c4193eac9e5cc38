"""Write ``docs/providers.md`` from the provider contract: the hook texts are the docstrings.

    .venv/bin/python -m metapaas.providers.contract_doc > docs/providers.md

``tests/test_provider_docs.py`` fails when the file differs from what this prints.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import fields
from importlib import resources
from typing import Any

import jinja2

from metapaas import providers
from metapaas.bundle import Bundles
from metapaas.providers.contract import ProviderPlugin
from metapaas.sdk.contract_doc import markdown
from metapaas.sdk.introspect import hook_phase

COMMAND = ".venv/bin/python -m metapaas.providers.contract_doc > docs/providers.md"


def _doc(item: object) -> str:
    return markdown(inspect.getdoc(item) or "")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _signature(func: Callable[..., Any]) -> str:
    names = [p for p in inspect.signature(func).parameters if p != "self"]
    return f"{func.__name__}({', '.join(names)})"


def hooks() -> list[dict[str, str]]:
    """Every hook of :class:`ProviderPlugin`, in the order the runtime calls them."""
    return [
        {"phase": phase, "signature": _signature(value), "doc": _doc(value)}
        for value in vars(ProviderPlugin).values()
        if (phase := hook_phase(value)) is not None
    ]


def attributes() -> list[dict[str, str]]:
    """Every attribute of the declaration with its ``#:`` comment; those without a default
    are required."""
    return [
        {
            "name": name,
            "required": "no" if name in vars(ProviderPlugin) else "yes",
            "meaning": attribute_comment(name),
        }
        for name in ProviderPlugin.__annotations__
    ]


def attribute_comment(name: str) -> str:
    """The ``#:`` comment over an attribute of the declaration, on one line ("" if none)."""
    lines = inspect.getsource(ProviderPlugin).splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{name}:"))
    comments: list[str] = []
    for line in reversed(lines[:at]):
        stripped = line.strip()
        if stripped.startswith("#:"):
            comments.insert(0, stripped.removeprefix("#:").strip())
        elif not stripped.startswith("#"):  # plain comments are for the code's readers
            break
    return markdown(" ".join(comments))


def _methods() -> list[dict[str, str]]:
    return [
        {"signature": _signature(value), "doc": _one_line(_doc(value))}
        for name, value in vars(providers.Provider).items()
        if inspect.isfunction(value) and not name.startswith("_")
    ]


def _records() -> list[dict[str, str]]:
    kinds = (providers.NodeSpec, providers.NodeInfo, providers.VolumeInfo, providers.Route)
    return [
        {
            "name": kind.__name__,
            "fields": ", ".join(f"`{f.name}`" for f in fields(kind)),
            "doc": _doc(kind),
        }
        for kind in kinds
    ]


def _bundles() -> list[dict[str, str]]:
    parts = (Bundles.runtime, Bundles.plugin)
    return [{"signature": _signature(part), "doc": _one_line(_doc(part))} for part in parts]


def render() -> str:
    template = resources.files("metapaas.providers").joinpath("providers.md.j2").read_text()
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 (Markdown, not HTML)
    )
    return environment.from_string(template).render(
        command=COMMAND,
        group=providers.ENTRY_POINT_GROUP,
        attributes=attributes(),
        hooks=hooks(),
        context=_doc(providers.ProviderContext),
        protocol=_doc(providers.Provider),
        methods=_methods(),
        records=_records(),
        bundles=_bundles(),
    )


if __name__ == "__main__":
    sys.stdout.write(render())
