"""Load one plugin environment in a process of its own: its types, its contract, its migrations.

``python -m metapaas.plugins.probe --site DIR --distribution NAME ...`` prints
one JSON object: ``{"types": [slug, ...], "error": "..."}``. The installer runs
it before any serving process loads a new version, so a plugin that fails to
import, breaks the contract or whose migration fails is found in a process
that then exits, and the serving ones never import it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import EntryPoint, distributions

from packaging.utils import canonicalize_name
from pydantic import BaseModel
from sqlalchemy import Engine, inspect, text

from metapaas.db import make_engine, migrate
from metapaas.plugins.registry import Registry
from metapaas.sdk.introspect import ENTRY_POINT_GROUP

MIGRATION_WAIT_SECONDS = 60.0
"""The serving processes keep writing while a plugin's tables are made: wait for turns."""


class ProbeOutcome(BaseModel):
    """What the probe prints: the plugin's types, and why they cannot serve ("" if they can)."""

    types: list[str]
    error: str


def entry_points_of(site: str, distribution: str) -> list[EntryPoint]:
    """The ``metapaas.plugins`` entry points of ``distribution`` installed in ``site``."""
    return [
        point
        for dist in distributions(path=[site])
        if canonicalize_name(dist.metadata["Name"]) == distribution
        for point in dist.entry_points
        if point.group == ENTRY_POINT_GROUP
    ]


def check(registry: Registry, taken: dict[str, str]) -> list[str]:
    """Every reason the plugin's types cannot be served, empty when they can."""
    errors = [f"type {t.slug}: {t.reason}" for t in registry if not t.usable]
    errors += [f"type {t.slug} is declared twice" for t in registry.rejected]
    errors += [
        f"type {t.slug} is already provided by {taken[t.slug]}" for t in registry if t.slug in taken
    ]
    return errors


def purge(registry: Registry, engine: Engine) -> None:
    """Drop every table of the plugin's types: their streams down to nothing, then the record."""
    for loaded in registry.usable():
        stream = loaded.stream()
        if stream is None:
            continue
        migrate.downgrade(engine, stream)
        with engine.begin() as connection:
            if inspect(connection).has_table(stream.version_table):
                connection.execute(text(f'DROP TABLE "{stream.version_table}"'))


def run(argv: Sequence[str]) -> ProbeOutcome:
    parser = argparse.ArgumentParser(prog="python -m metapaas.plugins.probe")
    parser.add_argument("--site", required=True)
    parser.add_argument("--distribution", required=True)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--taken", action="append", default=[], help="slug=owner, repeated")
    parser.add_argument("--migrate", action="store_true")
    parser.add_argument("--purge", action="store_true")
    args = parser.parse_args(argv)
    sys.path.append(args.site)
    points = entry_points_of(args.site, canonicalize_name(args.distribution))
    if not points:
        return ProbeOutcome(types=[], error=f"declares no entry point in {ENTRY_POINT_GROUP!r}")
    registry = Registry.discover(points)
    types = [t.slug for t in registry]
    errors = check(registry, dict(item.split("=", 1) for item in args.taken))
    if not errors and (args.migrate or args.purge):
        engine = make_engine(args.database_url, wait=MIGRATION_WAIT_SECONDS)
        if args.purge:
            purge(registry, engine)
        else:
            registry.migrate(engine)
            errors = check(registry, {})
        engine.dispose()
    return ProbeOutcome(types=types, error="; ".join(errors))


if __name__ == "__main__":
    print(run(sys.argv[1:]).model_dump_json())
