"""Write ``docs/providers.md`` from the provider contract: the hook texts are the docstrings.

    .venv/bin/python -m metapaas.providers.contract_doc > docs/providers.md

``tests/test_provider_docs.py`` fails when the file differs from what this prints.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import fields

from metapaas import providers
from metapaas.bundle import Bundles
from metapaas.providers.contract import ProviderPlugin
from metapaas.sdk.contract_doc import doc, hooks_of, markdown, render_template, signature

COMMAND = ".venv/bin/python -m metapaas.providers.contract_doc > docs/providers.md"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def hooks() -> list[dict[str, str]]:
    """Every hook of :class:`ProviderPlugin`, in the order the runtime calls them."""
    return hooks_of(ProviderPlugin)


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
        {"signature": signature(value), "doc": _one_line(doc(value))}
        for name, value in vars(providers.Provider).items()
        if inspect.isfunction(value) and not name.startswith("_")
    ]


def _records() -> list[dict[str, str]]:
    kinds = (providers.NodeSpec, providers.NodeInfo, providers.VolumeInfo, providers.Route)
    return [
        {
            "name": kind.__name__,
            "fields": ", ".join(f"`{f.name}`" for f in fields(kind)),
            "doc": doc(kind),
        }
        for kind in kinds
    ]


def _bundles() -> list[dict[str, str]]:
    parts = (Bundles.runtime, Bundles.plugin)
    return [{"signature": signature(part), "doc": _one_line(doc(part))} for part in parts]


def render() -> str:
    return render_template(
        "metapaas.providers",
        "providers.md.j2",
        command=COMMAND,
        group=providers.ENTRY_POINT_GROUP,
        attributes=attributes(),
        hooks=hooks(),
        context=doc(providers.ProviderContext),
        protocol=doc(providers.Provider),
        methods=_methods(),
        records=_records(),
        bundles=_bundles(),
    )


if __name__ == "__main__":
    sys.stdout.write(render())
