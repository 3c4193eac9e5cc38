"""Write ``docs/plugin-contract.md`` from the SDK: the hook texts are the docstrings.

    .venv/bin/python -m metapaas.sdk.contract_doc > docs/plugin-contract.md

``tests/test_contract_docs.py`` fails when the file differs from what this prints. The
helpers (:func:`doc`, :func:`signature`, :func:`hooks_of`, :func:`render_template`) make
``docs/providers.md`` from the provider contract too.
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
from metapaas.sdk import _backups
from metapaas.sdk.introspect import hook_phase

COMMAND = ".venv/bin/python -m metapaas.sdk.contract_doc > docs/plugin-contract.md"


def markdown(docstring: str) -> str:
    """reST inline literals (````x````) and roles (``:func:`x```) as Markdown code."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", docstring)
    return text.replace("``", "`")


def doc(item: object) -> str:
    """The docstring of ``item`` as Markdown."""
    return markdown(inspect.getdoc(item) or "")


def signature(func: Callable[..., Any]) -> str:
    """``name(param, ...)`` without ``self``."""
    names = [p for p in inspect.signature(func).parameters if p != "self"]
    return f"{func.__name__}({', '.join(names)})"


def hooks_of(declaration: type) -> list[dict[str, str]]:
    """Every hook of ``declaration`` (a contract's class), in the order it declares them,
    which is the order the runtime calls them."""
    return [
        {"phase": phase, "signature": signature(value), "doc": doc(value)}
        for value in vars(declaration).values()
        if (phase := hook_phase(value)) is not None
    ]


def hooks() -> list[dict[str, str]]:
    """Every hook of :class:`sdk.PaasType`, in the order the runtime calls them."""
    return hooks_of(sdk.PaasType)


def render_template(package: str, name: str, **values: Any) -> str:
    """The Markdown template ``name`` of ``package``, rendered with ``values`` (a name it
    uses that is not given is an error, never an empty string)."""
    template = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 (Markdown, not HTML)
    )
    return environment.from_string(template).render(**values)


def _views() -> list[dict[str, str]]:
    return [
        {
            "name": view.__name__,
            "fields": ", ".join(f"`{f.name}`" for f in fields(view)),
            "doc": doc(view),
        }
        for view in (sdk.InstanceView, sdk.NodeView)
    ]


def _helpers() -> list[dict[str, str]]:
    helpers = (
        sdk.write_private,
        sdk.create_private,
        sdk.exclusive,
        sdk.wait_until_ready,
        sdk.sha256_of,
    )
    return [{"signature": signature(helper), "doc": doc(helper)} for helper in helpers]


def render() -> str:
    return render_template(
        "metapaas.sdk",
        "plugin-contract.md.j2",
        command=COMMAND,
        hooks=hooks(),
        views=_views(),
        helpers=_helpers(),
        markers={"immutable": doc(sdk.immutable), "secret": doc(sdk.secret)},
        port=doc(sdk.Port),
        backups={"declaration": doc(sdk.Backups), "steps": doc(_backups)},
        errors={e.__name__: doc(e) for e in (sdk.TemporaryError, sdk.PermanentError, sdk.Invalid)},
    )


if __name__ == "__main__":
    sys.stdout.write(render())
