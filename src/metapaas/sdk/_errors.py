"""Errors a plugin raises: each says whether retrying can help."""

from __future__ import annotations


class PluginError(Exception):
    """Base of the errors a plugin hook may raise."""


class TemporaryError(PluginError):
    """Retrying later may succeed.

    From a hook the orchestrator calls, the pass is retried no sooner than
    ``delay`` seconds (and backs off while it keeps failing); the instance says
    why and when. From a hook a request calls (``validate``,
    ``initial_resources``, ``credentials``), the API answers 503 with
    ``Retry-After``.
    """

    def __init__(self, message: str, *, delay: float = 1.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(PluginError):
    """Retrying cannot help.

    From a hook the orchestrator calls, the instance turns ``ERROR`` with this
    message and its open operations fail; from a hook a request calls, the API
    answers 409 with it.
    """


class Invalid(PluginError):
    """A requested change the schemas allow but the type refuses (raised by ``validate``).

    The API answers 422 naming ``field`` and ``rule``; nothing is written.
    """

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.rule = rule
        self.message = message
