"""From what an admin asked for (a requirement, a wheel path or a URL) to the wheels to keep.

pip does the resolving: a dry run against the runtime's own environment says
what would be installed; every one of those must be new to the runtime (a
plugin that needs another version of a package the runtime uses is refused,
and nothing is installed), then ``pip wheel`` fetches or builds each of them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import distributions
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from metapaas.plugins.wheelhouse import WheelhouseError, pip
from metapaas.sdk import sha256_of


class ResolveError(Exception):
    """The request cannot become a wheelhouse; the message says why."""


@dataclass(frozen=True)
class PackageRequest:
    """What an admin asked to install: ``package`` is a requirement, a wheel or sdist, a URL."""

    package: str
    sha256: str = ""
    index_url: str = ""

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> PackageRequest:
        return cls(data["package"], data.get("sha256") or "", data.get("index_url") or "")


@dataclass(frozen=True)
class Resolved:
    name: str  # normalised distribution name
    version: str
    wheel: Path  # the plugin's own wheel
    wheels: list[Path]  # it and every dependency the runtime does not have


def distribution_name(package: str) -> str:
    """The normalised distribution name ``package`` stands for; ``ValueError`` if none."""
    filename = package.rsplit("/", 1)[-1].split("#", 1)[0].split("?", 1)[0]
    if filename.endswith(".whl"):
        try:
            return canonicalize_name(parse_wheel_filename(filename)[0])
        except InvalidWheelFilename as exc:
            raise ValueError(str(exc)) from exc
    if filename.endswith((".tar.gz", ".zip")):
        try:
            return canonicalize_name(parse_sdist_filename(filename)[0])
        except InvalidSdistFilename as exc:
            raise ValueError(str(exc)) from exc
    try:
        requirement = Requirement(package)
    except InvalidRequirement as exc:
        raise ValueError(
            f"neither a requirement, a wheel nor an sdist (.tar.gz, .zip): {exc}"
        ) from exc
    return canonicalize_name(requirement.name)


def runtime_distributions(plugin_root: Path) -> dict[str, str]:
    """``{name: version}`` of the runtime's environment: ``sys.path`` minus plugin environments."""
    root = str(plugin_root)
    paths = [p for p in sys.path if not p.startswith(root)]
    return {canonicalize_name(d.metadata["Name"]): d.version for d in distributions(path=paths)}


def resolve(request: PackageRequest, scratch: Path, runtime: Mapping[str, str]) -> Resolved:
    """Resolve ``request`` against ``runtime`` and fetch its wheels into ``scratch``."""
    index = ["--index-url", request.index_url] if request.index_url else []
    report = scratch / "report.json"
    try:
        pip(["install", "--dry-run", "--quiet", "--report", str(report), *index, request.package])
    except WheelhouseError as exc:
        # pip says so when the plugin's requirements and the runtime's cannot all hold.
        what = "dependency conflict" if "conflict" in str(exc) else "pip could not resolve"
        raise ResolveError(f"{what}: {request.package}: {exc}") from exc
    entries: list[dict[str, Any]] = json.loads(report.read_text())["install"]
    root = next((e for e in entries if e.get("requested")), None)
    if root is None:
        raise ResolveError(
            f"{request.package} is already installed with the runtime (bundled): "
            "it changes with the runtime, not as a plugin"
        )
    _refuse_runtime_changes(entries, runtime)
    wheels = _fetch(entries, scratch / "wheels", index)
    name = canonicalize_name(root["metadata"]["name"])
    wheel = next(w for w in wheels if canonicalize_name(parse_wheel_filename(w.name)[0]) == name)
    if request.sha256 and sha256_of(wheel) != request.sha256.lower():
        raise ResolveError(
            f"{wheel.name} has sha256 {sha256_of(wheel)}, not the pinned {request.sha256}"
        )
    return Resolved(name, root["metadata"]["version"], wheel, wheels)


def _refuse_runtime_changes(entries: list[dict[str, Any]], runtime: Mapping[str, str]) -> None:
    changes = [
        f"{e['metadata']['name']} {e['metadata']['version']} (the runtime has {runtime[name]})"
        for e in entries
        if (name := canonicalize_name(e["metadata"]["name"])) in runtime
    ]
    if changes:
        raise ResolveError(
            "dependency conflict: the plugin needs "
            + ", ".join(changes)
            + "; that is an upgrade of the runtime, not a plugin install"
        )


def _fetch(entries: list[dict[str, Any]], into: Path, index: list[str]) -> list[Path]:
    urls = [e["download_info"]["url"] for e in entries]
    try:
        pip(["wheel", "--quiet", "--no-deps", "--wheel-dir", str(into), *index, *urls])
    except WheelhouseError as exc:
        raise ResolveError(f"pip could not fetch or build the wheels: {exc}") from exc
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != len(urls):
        raise ResolveError(f"expected {len(urls)} wheels, pip made {len(wheels)}")
    return wheels
