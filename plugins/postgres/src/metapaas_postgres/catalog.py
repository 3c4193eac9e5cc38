"""The version catalog: one entry per PostgreSQL major version this machine has."""

from __future__ import annotations

from pathlib import Path

from metapaas import sdk

DEBIAN_ROOT = Path("/usr/lib/postgresql")
FALLBACK_MAJOR = 15
"""Kept when no server is installed, so a create fails naming the missing binary."""


def machine_versions(root: Path = DEBIAN_ROOT) -> tuple[sdk.Version, ...]:
    """Versions for every ``<root>/<major>/bin/postgres``; the newest is the default."""
    majors = sorted(
        int(path.name)
        for path in root.glob("*")
        if path.name.isdigit() and (path / "bin" / "postgres").is_file()
    )
    newest = majors[-1] if majors else FALLBACK_MAJOR
    return tuple(
        sdk.Version(
            str(major), engine={"bindir": str(root / str(major) / "bin")}, default=major == newest
        )
        for major in majors or [FALLBACK_MAJOR]
    )
