"""Errors a plugin raises: each says whether retrying can help."""

from __future__ import annotations


class PluginError(Exception):
    """Base of the errors a plugin hook may raise."""


class TemporaryError(PluginError):
    """Retrying later may succeed; the runtime backs off ``delay`` seconds at least."""

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(PluginError):
    """Retrying cannot help; the instance turns ``ERROR`` with this message."""
