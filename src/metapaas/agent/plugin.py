"""Find the installed plugin that declares a node's PaaS type.

Plugins are found exactly as the control plane finds them: the
``metapaas.plugins`` entry-point group, matched on the declaration's ``slug``.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from metapaas.sdk import PaasType, PermanentError
from metapaas.sdk.introspect import ENTRY_POINT_GROUP

log = logging.getLogger(__name__)


def load_declaration(slug: str) -> PaasType:
    """The declaration whose ``slug`` matches; the entry point named ``slug`` is tried first."""
    points = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda point: point.name != slug)
    for point in points:
        try:
            loaded = point.load()
        except Exception:  # a broken plugin must not hide the one we need
            log.exception("cannot load plugin entry point %s", point.value)
            continue
        declaration = loaded() if isinstance(loaded, type) else loaded
        if isinstance(declaration, PaasType) and declaration.slug == slug:
            return declaration
    raise PermanentError(f"no installed plugin declares the type {slug!r}")
