"""The provider declarations installed here, found by their entry points.

Light on purpose: the ``metapaas`` command reads the declarations at every
start (for their command groups), so this module imports neither the
database nor the web framework. A declaration that does not load or breaks
the contract is kept apart with its reason; the others are found all the same.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from metapaas.providers.contract import ENTRY_POINT_GROUP, NAME_PATTERN, ProviderPlugin
from metapaas.sdk import PermanentError

log = logging.getLogger(__name__)

_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class Declared:
    """The declarations that loaded, by name, and why each of the others did not."""

    plugins: Mapping[str, ProviderPlugin[Any, Any]]
    broken: Mapping[str, str]


def declared(found: Iterable[EntryPoint] | None = None) -> Declared:
    """Load every entry point of :data:`ENTRY_POINT_GROUP` (or those ``found``)."""
    points = entry_points(group=ENTRY_POINT_GROUP) if found is None else found
    plugins: dict[str, ProviderPlugin[Any, Any]] = {}
    broken: dict[str, str] = {}
    for point in sorted(points, key=lambda p: p.name):
        try:
            plugins[point.name] = _load(point)
        except Exception as exc:  # one broken distribution must not hide the others
            log.warning("provider %s is not usable: %s", point.name, exc)
            broken[point.name] = f"{type(exc).__name__}: {exc}"
    return Declared(plugins, broken)


def _load(point: EntryPoint) -> ProviderPlugin[Any, Any]:
    declared_class = point.load()
    if not (isinstance(declared_class, type) and issubclass(declared_class, ProviderPlugin)):
        raise PermanentError(f"{point.value} is not a subclass of ProviderPlugin")
    plugin = declared_class()
    name = getattr(plugin, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise PermanentError(f"name {name!r} must match {NAME_PATTERN}")
    if name != point.name:
        raise PermanentError(f"declares the name {name!r} but is registered as {point.name!r}")
    if not isinstance(getattr(plugin, "title", None), str) or not plugin.title:
        raise PermanentError("title must be a non-empty string")
    if type(plugin).make is ProviderPlugin.make:
        raise PermanentError("it declares no make hook: a provider makes the nodes' provider")
    if not (isinstance(plugin.settings, type) and issubclass(plugin.settings, BaseModel)):
        raise PermanentError("settings must be a pydantic model")
    for attribute in ("migrations", "console_files"):
        directory = getattr(plugin, attribute)
        if directory is not None and not directory.is_dir():
            raise PermanentError(f"{attribute} {directory} is not a directory")
    return plugin


def read_settings(
    name: str, model: type[BaseModel], environ: Mapping[str, str] = os.environ
) -> BaseModel:
    """The provider's settings from ``METAPAAS_<NAME>_<FIELD>``; a bad value is a
    :class:`~metapaas.sdk.PermanentError` naming its variable."""
    prefix = f"METAPAAS_{name.upper()}_"
    values = {
        field: environ[prefix + field.upper()]
        for field in model.model_fields
        if prefix + field.upper() in environ
    }
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = prefix + str(first["loc"][0]).upper() if first["loc"] else prefix + "*"
        raise PermanentError(f"{where}: {first['msg']}") from exc
