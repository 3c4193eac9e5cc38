"""The runtime bundle: the agent and the bundled plugins, for nodes on other machines.

A host of a remote provider (``ssh``) has a system Python of the control
plane's minor version and no package index. :func:`runtime_bundle` gives it
the runtime as one ``.tar.gz`` whose top directory, put on ``PYTHONPATH``,
runs ``python -m metapaas.agent`` and the node-side code of every bundled
type, with ``importlib.metadata`` finding their ``metapaas.plugins`` entry
points. :mod:`metapaas.bundle.unpack` unpacks it on the host.

What goes in: the closure of the ``Requires-Dist`` of ``metapaas``, of every
distribution of the runtime's own environment that registers a
``metapaas.plugins`` entry point, and of the distributions the caller names
(a remote provider's own, for its host's side), as installed here, with
markers evaluated for any patch release of this Python's minor version (what
a host runs).
Plugins installed at run time are not in it: their wheelhouse environments
are put on ``sys.path`` but are not the runtime's site directories, and nodes
get them by version.

- A regular install gives the files its ``RECORD`` lists inside the site
  directory: scripts and data installed elsewhere (``../../../bin/...``) stay
  out, and so does a binary a wheel installs beside them.
- An editable install gives the packages its top-level names resolve to and
  its ``.dist-info`` directory.
- ``__pycache__``, ``tests`` directories, ``.pyc`` and ``.pth`` files never go
  in (a ``.pth`` is not read from ``PYTHONPATH``, and an editable one names a
  directory of this machine).
- Each ``.dist-info`` gets a ``RECORD`` listing what the bundle holds of it, so
  ``Distribution.files`` never points outside the bundle.

The archive is deterministic (sorted entries, regular files only, mtime 0,
owner 0, no name or time in the gzip header), so an install gives one digest.
It is built once per *key*, the set of bundled distributions with a
fingerprint each (its ``RECORD`` for a regular install, its files' content for
an editable one, whose version does not change when its source does), and
stored as ``<home>/bundles/<digest>.tar.gz`` with ``<home>/bundles/keys/<key>``
naming the digest: a check reads metadata and the editable sources, never the
archive.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import io
import json
import os
import platform
import sys
import sysconfig
import tarfile
from base64 import urlsafe_b64encode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from importlib.metadata import Distribution
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from metapaas.sdk import PermanentError
from metapaas.sdk import _node as durable
from metapaas.sdk.introspect import ENTRY_POINT_GROUP

RUNTIME = "metapaas"
BUNDLES_DIR = "bundles"
LOCK_FILE = ".lock"
RUNTIME_SITE: tuple[str, ...] = tuple(
    dict.fromkeys(sysconfig.get_path(name) for name in ("purelib", "platlib"))
)
"""The runtime environment's site directories, where its distributions are found."""
HOST_PATCH_RELEASES = range(32)
"""The patch releases of this minor version a host may run (3.8 ended at 3.8.20)."""
LEFT_OUT_DIRS = frozenset({"__pycache__", "tests"})
LEFT_OUT_SUFFIXES = (".pyc", ".pth")
COMPRESS_LEVEL = 6
"""The runtime's 97 MB give 38.1 MB in 3.0 s (level 9: 37.9 MB, 10.4 s; level 1: 41.6 MB, 1.3 s)."""


class BundleError(PermanentError):
    """The runtime environment cannot be bundled (a broken or unsupported install)."""


@dataclass(frozen=True)
class Bundle:
    """A built runtime bundle: ``path`` is ``<home>/bundles/<digest>.tar.gz``."""

    digest: str
    path: Path


@dataclass(frozen=True)
class _File:
    """One file of the bundle: its name in the archive and where its content is here."""

    name: str
    source: Path


def runtime_bundle(home: Path, also: Sequence[str] = ()) -> Bundle:
    """The bundle of this runtime and of the distributions named ``also``, built under
    ``home`` at the first call for an install."""
    return bundle_of(runtime_distributions(also=also), home / BUNDLES_DIR)


def tree_bundle(source: Path, directory: Path) -> Bundle:
    """The immutable directory ``source`` (a plugin version's environment, named by the
    address of its content) as ``<directory>/<name>.tar.gz``, built at the first call."""
    path = directory / f"{source.name}.tar.gz"
    if not path.is_file():
        with durable.exclusive(directory / LOCK_FILE):
            if not path.is_file():
                contents: dict[str, Path | bytes] = {f.name: f.source for f in _tree(source, "")}
                durable.write_private(path, _archive_bytes(contents))
    return Bundle(durable.sha256_of(path), path)


def runtime_distributions(
    site: Sequence[str] = RUNTIME_SITE, also: Sequence[str] = ()
) -> list[Distribution]:
    """The closure of ``metapaas``, the bundled plugins' distributions and those named
    ``also``, by name."""
    plugins = {
        _name(dist)
        for dist in Distribution.discover(path=list(site))
        if any(point.group == ENTRY_POINT_GROUP for point in dist.entry_points)
    }
    return _closure([RUNTIME, *sorted(plugins), *also], site)


def bundle_of(distributions: Iterable[Distribution], directory: Path) -> Bundle:
    """The bundle of ``distributions`` in ``directory``: the cached one, or a new one."""
    identified = {_identity(dist): dist for dist in distributions}
    ordered = sorted(identified.items(), key=lambda item: item[0])
    key = _cache_key(ordered)
    cached = _cached(directory, key)
    if cached is not None:
        return cached
    with durable.exclusive(directory / LOCK_FILE):  # one build at a time
        # Another process may have built it while this one waited for the lock.
        cached = _cached(directory, key)
        if cached is not None:
            return cached
        bundle = _build([dist for _, dist in ordered], directory)
        durable.write_private(_key_path(directory, key), bundle.digest.encode())
        return bundle


def _closure(roots: Sequence[str], site: Sequence[str]) -> list[Distribution]:
    """``roots`` and what they require, following the extras a requirement names.

    A root's own extras (``metapaas[dev]``) are not followed: they are what
    developers install, not what runs.
    """
    found: dict[str, Distribution] = {}
    seen: set[tuple[str, str]] = set()
    pending = [(canonicalize_name(root), "") for root in roots]
    while pending:
        name, extra = pending.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        dist = found[name] = found.get(name) or _installed(name, site)
        for requirement in map(Requirement, _headers(dist).get_all("Requires-Dist", [])):
            if _wanted_on_a_host(requirement.marker, extra):
                wanted = canonicalize_name(requirement.name)
                pending += [(wanted, ""), *((wanted, e) for e in sorted(requirement.extras))]
    return [found[name] for name in sorted(found)]


def _wanted_on_a_host(marker: Marker | None, extra: str) -> bool:
    """Whether a host of this Python's minor version, of any patch release, needs it.

    Hosts run their system Python, which may be an older or newer patch
    release than this one (a requirement may hold below 3.11.3 only).
    """
    if marker is None:
        return True
    if "python_full_version" not in str(marker):
        return marker.evaluate({"extra": extra})
    minor = "{}.{}".format(*sys.version_info[:2])
    return any(
        marker.evaluate({"extra": extra, "python_full_version": f"{minor}.{patch}"})
        for patch in HOST_PATCH_RELEASES
    )


def _installed(name: str, site: Sequence[str]) -> Distribution:
    for dist in Distribution.discover(name=name, path=list(site)):
        return dist
    raise BundleError(f"{name} is required but not installed in {', '.join(site)}")


def _name(dist: Distribution) -> str:
    return _identity(dist)[0]


def _identity(dist: Distribution) -> tuple[str, str]:
    """The distribution's canonical name and its version."""
    headers = _headers(dist)
    return canonicalize_name(headers["Name"]), headers["Version"]


def _headers(dist: Distribution) -> Message:
    """The header fields of the distribution's ``METADATA``.

    Parsed without the description that follows them, often a long README:
    ``Distribution.metadata`` parses it all, at every access, and a cache check
    needs the headers of every bundled distribution.
    """
    text = dist.read_text("METADATA") or ""
    return Parser().parsestr(text.split("\n\n", 1)[0], headersonly=True)


def _is_editable(dist: Distribution) -> bool:
    direct_url = dist.read_text("direct_url.json")
    if direct_url is None:
        return False
    return bool(json.loads(direct_url).get("dir_info", {}).get("editable", False))


def _cache_key(identified: Sequence[tuple[tuple[str, str], Distribution]]) -> str:
    entries = [[*identity, _fingerprint(dist)] for identity, dist in identified]
    # Extension modules are built for one interpreter and one machine.
    material = {"python": sys.implementation.cache_tag, "machine": platform.machine()}
    return _sha256(json.dumps([material, entries]).encode())


def _fingerprint(dist: Distribution) -> str:
    """What changes when the distribution's files do, cheaply.

    A reinstall rewrites ``RECORD``, which hashes every file; an editable
    install's files change under it, so they are read.
    """
    if not _is_editable(dist):
        return _sha256((dist.read_text("RECORD") or "").encode())
    digest = hashlib.sha256()
    for file in _editable_files(dist):
        content = file.source.read_bytes()
        # Name and length first, so moving bytes between files changes the digest too.
        digest.update(f"{file.name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def _files(dist: Distribution) -> list[_File]:
    """The distribution's files in the bundle, ``RECORD`` aside (the bundle writes its own)."""
    files = _editable_files(dist) if _is_editable(dist) else _recorded_files(dist)
    record = f"{_dist_info(dist)}/RECORD"
    return [file for file in files if file.name != record]


def _recorded_files(dist: Distribution) -> list[_File]:
    files = []
    for path in dist.files or ():
        parts = PurePosixPath(path).parts
        if parts[0] != ".." and _kept(parts):
            files.append(_File("/".join(parts), Path(str(dist.locate_file(path)))))
    return files


def _editable_files(dist: Distribution) -> list[_File]:
    top_level = dist.read_text("top_level.txt")
    if top_level is None:
        raise BundleError(f"editable {_name(dist)} has no top_level.txt: its packages are unknown")
    dist_info = _dist_info(dist)
    files = _tree(Path(str(dist.locate_file(dist_info))), dist_info)
    for top in top_level.split():
        files += _module_files(top, dist)
    return files


def _module_files(top: str, dist: Distribution) -> list[_File]:
    """The files of top-level module or package ``top``, as this interpreter imports it."""
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise BundleError(f"{_name(dist)} names {top!r} in top_level.txt; it is not importable")
    if spec.submodule_search_locations is not None:
        return [
            file for place in spec.submodule_search_locations for file in _tree(Path(place), top)
        ]
    if spec.origin is None:
        raise BundleError(f"{_name(dist)}'s module {top!r} has no file")
    origin = Path(spec.origin)
    return [_File(origin.name, origin)]


def _tree(directory: Path, name: str) -> list[_File]:
    """The files under ``directory``, named under ``name`` in the archive."""
    files = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if d not in LEFT_OUT_DIRS]
        inside = Path(root).relative_to(directory).parts
        files += [
            _File(PurePosixPath(name, *inside, file).as_posix(), Path(root, file))
            for file in names
            if _kept((file,)) and Path(root, file).is_file()
        ]
    return files


def _kept(parts: Sequence[str]) -> bool:
    return not LEFT_OUT_DIRS.intersection(parts[:-1]) and not parts[-1].endswith(LEFT_OUT_SUFFIXES)


def _dist_info(dist: Distribution) -> str:
    """The name of the distribution's ``.dist-info`` directory, from its ``RECORD``."""
    names = {
        PurePosixPath(path).parts[0]
        for path in dist.files or ()
        if PurePosixPath(path).name == "METADATA"
        and PurePosixPath(path).parent.name.endswith(".dist-info")
    }
    if len(names) != 1:
        raise BundleError(f"{_name(dist)} has no RECORD naming its .dist-info directory")
    return names.pop()


def _build(dists: Sequence[Distribution], directory: Path) -> Bundle:
    contents: dict[str, Path | bytes] = {}
    for dist in dists:
        files = _files(dist)
        for file in files:
            if file.name in contents:
                raise BundleError(f"{file.name} is installed by two bundled distributions")
            contents[file.name] = file.source
        contents[f"{_dist_info(dist)}/RECORD"] = _record(_dist_info(dist), files)
    staged = durable.stage(directory / "build.tar.gz", lambda out: _write_archive(out, contents))
    try:
        digest = durable.sha256_of(staged)
        path = directory / f"{digest}.tar.gz"
        durable.commit(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return Bundle(digest, path)


def _record(dist_info: str, files: Sequence[_File]) -> bytes:
    """A ``RECORD`` of ``files`` as the bundle holds them (hashes per the wheel spec)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for file in sorted(files, key=lambda f: f.name):
        content = file.source.read_bytes()
        hashed = urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
        writer.writerow([file.name, f"sha256={hashed}", len(content)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    return text.getvalue().encode()


def _archive_bytes(contents: dict[str, Path | bytes]) -> bytes:
    buffer = io.BytesIO()
    _write_archive(buffer, contents)
    return buffer.getvalue()


def _write_archive(out: BinaryIO, contents: dict[str, Path | bytes]) -> None:
    # filename="" and mtime=0 keep this machine's file name and time out of the header.
    with (
        gzip.GzipFile(
            filename="", mode="wb", fileobj=out, mtime=0, compresslevel=COMPRESS_LEVEL
        ) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in sorted(contents):
            source = contents[name]
            data = source if isinstance(source, bytes) else source.read_bytes()
            executable = not isinstance(source, bytes) and source.stat().st_mode & 0o111
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if executable else 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))


def _cached(directory: Path, key: str) -> Bundle | None:
    try:
        digest = _key_path(directory, key).read_text()
    except FileNotFoundError:
        return None
    path = directory / f"{digest}.tar.gz"
    return Bundle(digest, path) if path.is_file() else None


def _key_path(directory: Path, key: str) -> Path:
    return directory / "keys" / key


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
