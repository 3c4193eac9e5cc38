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


class Invalid(PluginError):
    """A requested change the schemas allow but the type refuses (raised by ``validate``).

    The API answers 422 naming ``field`` and ``rule``; nothing is written.
    """

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.rule = rule
        self.message = message
