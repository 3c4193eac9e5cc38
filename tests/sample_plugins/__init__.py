"""PaaS types that exist only for the tests, loaded through hand-made entry points.

``widgets`` and ``gizmos`` are well-formed types with their own migration
streams; ``stray`` has a stream that breaks the table-prefix rule;
``contracts`` holds declarations that each break one discovery rule;
``raises_on_import`` fails to import at all; ``moody``'s ``validate`` raises the
plugin errors its spec names; ``clusters`` is made for the orchestrator's tests
(two roles, an ``init`` command, hooks that fail on demand).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from metapaas.sdk.introspect import ENTRY_POINT_GROUP


def entry_point(name: str, target: str) -> EntryPoint:
    """An entry point of the ``metapaas.plugins`` group for ``tests.sample_plugins.<target>``."""
    return EntryPoint(name=name, value=f"tests.sample_plugins.{target}", group=ENTRY_POINT_GROUP)


def demo_entry_point() -> EntryPoint:
    """The bundled ``demo`` type's real entry point, with its distribution metadata."""
    (point,) = entry_points(group=ENTRY_POINT_GROUP, name="demo")
    return point


WIDGETS = entry_point("widgets", "widgets:Widgets")
GIZMOS = entry_point("gizmos", "gizmos:Gizmos")
STRAY = entry_point("stray", "stray:Stray")
MOODY = entry_point("moody", "moody:Moody")
CLUSTERS = entry_point("clusters", "clusters:Clusters")
