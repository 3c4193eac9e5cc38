"""The ``metapaas`` command."""

from metapaas.cli.app import main

__all__ = ["main"]
