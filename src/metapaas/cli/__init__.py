"""The ``metapaas`` command."""

from metapaas.cli.main import app, main

__all__ = ["app", "main"]
