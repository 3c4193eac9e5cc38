"""Write ``docs/plugin-contract.md`` from the SDK: the hook texts are the docstrings.

    .venv/bin/python -m metapaas.sdk.contract_doc > docs/plugin-contract.md

``tests/test_contract_docs.py`` fails when the file differs from what this prints.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import fields
from importlib import resources
from typing import Any

import jinja2

from metapaas import sdk
from metapaas.sdk.introspect import hook_phase

COMMAND = ".venv/bin/python -m metapaas.sdk.contract_doc > docs/plugin-contract.md"


def markdown(docstring: str) -> str:
    """reST inline literals (````x````) and roles (``:func:`x```) as Markdown code."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", docstring)
    return text.replace("``", "`")


def _doc(item: object) -> str:
    return markdown(inspect.getdoc(item) or "")


def _signature(func: Callable[..., Any]) -> str:
    names = [p for p in inspect.signature(func).parameters if p != "self"]
    return f"{func.__name__}({', '.join(names)})"


def hooks() -> list[dict[str, str]]:
    """Every hook of :class:`sdk.PaasType`, in the order the runtime calls them."""
    return [
        {"phase": phase, "signature": _signature(value), "doc": _doc(value)}
        for value in vars(sdk.PaasType).values()
        if (phase := hook_phase(value)) is not None
    ]


def _views() -> list[dict[str, str]]:
    return [
        {
            "name": view.__name__,
            "fields": ", ".join(f"`{f.name}`" for f in fields(view)),
            "doc": _doc(view),
        }
        for view in (sdk.InstanceView, sdk.NodeView)
    ]


def _helpers() -> list[dict[str, str]]:
    helpers = (sdk.write_private, sdk.create_private, sdk.exclusive, sdk.wait_until_ready)
    return [{"signature": _signature(helper), "doc": _doc(helper)} for helper in helpers]


def render() -> str:
    template = resources.files("metapaas.sdk").joinpath("plugin-contract.md.j2").read_text()
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 (Markdown, not HTML)
    )
    return environment.from_string(template).render(
        command=COMMAND,
        hooks=hooks(),
        views=_views(),
        helpers=_helpers(),
        markers={"immutable": _doc(sdk.immutable), "secret": _doc(sdk.secret)},
        port=_doc(sdk.Port),
        errors={e.__name__: _doc(e) for e in (sdk.TemporaryError, sdk.PermanentError, sdk.Invalid)},
    )


if __name__ == "__main__":
    sys.stdout.write(render())
