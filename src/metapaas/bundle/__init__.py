"""The runtime and plugin versions packed for machines without a package index.

A provider whose nodes run on other machines (``ssh``) gets a :class:`Bundles`
in its context: :meth:`Bundles.runtime` packs the agent, the bundled plugins
and the provider's own distributions (:mod:`.build`), :meth:`Bundles.plugin`
a plugin version installed at run time, and :attr:`Bundles.unpacker` is the
source of the standard-library program (:mod:`.unpack`) that opens either on
the machine.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path

from metapaas.bundle import build, unpack
from metapaas.bundle.build import Bundle, BundleError
from metapaas.config import environment_dir
from metapaas.sdk import TemporaryError

__all__ = ["Bundle", "BundleError", "Bundles"]


class Bundles:
    """The archives of one control-plane home, built there on first use."""

    unpacker = inspect.getsource(unpack)
    """``python3 -I -c <unpacker> ARCHIVE TARGET`` unpacks an archive on a machine."""

    def __init__(self, home: Path) -> None:
        self._home = home

    def runtime(self, also: Sequence[str] = ()) -> Bundle:
        """The runtime, its bundled plugins and the distributions named ``also`` (by
        distribution name: a provider's host side)."""
        return build.runtime_bundle(self._home, also)

    def plugin(self, wheelhouse: str) -> Bundle:
        """The environment of plugin version ``wheelhouse`` (installed at run time), to
        unpack as ``<home>/plugins/<wheelhouse>`` on the machine."""
        source = environment_dir(self._home, wheelhouse)
        if not source.is_dir():
            raise TemporaryError(
                f"the plugin environment {wheelhouse} is not installed on the control plane yet"
            )
        return build.tree_bundle(source, self._home / build.BUNDLES_DIR / "plugins")
