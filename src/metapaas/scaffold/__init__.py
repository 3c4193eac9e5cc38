"""``metapaas plugin new``: write a working plugin project from templates.

The templates (package data under ``templates/``) are Jinja2; each file's
path below ``templates/`` is its path in the project, with ``PACKAGE`` and
``SLUG`` replaced and the ``.j2`` suffix dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import jinja2

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
"""The runtime's rule for a type's slug (``metapaas.plugins.discovery``)."""


class ScaffoldError(Exception):
    """The project cannot be written: a bad slug, or a directory that is not empty."""


@dataclass(frozen=True)
class Names:
    """Every name the templates use, derived from the slug."""

    slug: str

    @property
    def package(self) -> str:
        return f"metapaas_{self.slug}"

    @property
    def distribution(self) -> str:
        return f"metapaas-{self.slug.replace('_', '-')}"

    @property
    def cls(self) -> str:
        return "".join(part.capitalize() for part in self.slug.split("_"))


def new_project(slug: str, directory: Path) -> list[Path]:
    """Write the project for ``slug`` into ``directory`` (made if missing, else empty);
    return the files written."""
    if not SLUG_PATTERN.match(slug):
        raise ScaffoldError(f"slug {slug!r} must match {SLUG_PATTERN.pattern}")
    if directory.exists() and any(directory.iterdir()):
        raise ScaffoldError(f"{directory} is not empty")
    names = Names(slug)
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 (source files, not HTML)
    )
    written = []
    for relative, template in _templates(resources.files(__name__).joinpath("templates")):
        target = directory / _target_path(relative, names)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = environment.from_string(template.read_text(encoding="utf-8"))
        target.write_text(text.render(names=names), encoding="utf-8")
        written.append(target)
    return written


def _templates(root: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found += _templates(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".j2"):
            found.append((prefix + entry.name.removesuffix(".j2"), entry))
    return found


def _target_path(relative: str, names: Names) -> str:
    return relative.replace("PACKAGE", names.package).replace("SLUG", names.slug)
