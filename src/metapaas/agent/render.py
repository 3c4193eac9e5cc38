"""Render plugin declarations against a node's metadata.

Every template, argv item and environment value is Jinja2 with
``StrictUndefined``: a key missing from the metadata is an error that names
where it was used, never an empty string in a config file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from metapaas.sdk import (
    ARCHIVE_STATUS,
    TLS_AUTHORITY,
    TLS_CERTIFICATE,
    TLS_KEY,
    PermanentError,
    Template,
)

_ENVIRONMENT = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # noqa: S701 (config files and argv, not HTML)
    keep_trailing_newline=True,
)


class RenderError(PermanentError):
    """A template cannot be rendered; retrying the same metadata cannot help."""


def node_context(metadata: Mapping[str, Any], node_dir: Path) -> dict[str, Any]:
    """The metadata document plus ``node.dir``, the node's absolute directory,
    ``node.backup.archive_status`` (``sdk.ARCHIVE_STATUS``, absolute) and, for a node with
    a certificate, ``node.tls``: the absolute paths of its files."""
    root = node_dir.resolve()
    node = {
        **metadata.get("node", {}),
        "dir": str(root),
        "backup": {"archive_status": str(root / ARCHIVE_STATUS)},
    }
    if "pem" in node:
        node["tls"] = {
            "certificate": str(root / TLS_CERTIFICATE),
            "key": str(root / TLS_KEY),
            "authority": str(root / TLS_AUTHORITY),
        }
    return {**metadata, "node": node}


def certificate_templates(
    metadata: Mapping[str, Any], reload: tuple[str, ...]
) -> tuple[Template, ...]:
    """The node's certificate files as templates of its own (none without a certificate):
    applied like the type's, so a renewed one is written atomically and ``reload`` (the
    type's ``tls_reload``) runs once, after the certificate itself, under running services."""
    if "pem" not in metadata.get("node", {}):
        return ()
    return (
        Template("{{ node.pem.key }}", TLS_KEY, mode=0o600),
        Template("{{ node.pem.authority }}", TLS_AUTHORITY, mode=0o644),
        Template("{{ node.pem.certificate }}", TLS_CERTIFICATE, mode=0o644, reload=reload),
    )


def render_text(source: str, context: Mapping[str, Any], *, where: str = "template") -> str:
    """Render one template; ``where`` names it in the error (a dest, a service)."""
    try:
        return _ENVIRONMENT.from_string(source).render(context)
    except jinja2.TemplateError as exc:
        raise RenderError(f"cannot render {where}: {exc.message or exc}") from exc


def render_argv(
    argv: Iterable[str], context: Mapping[str, Any], *, where: str = "argv"
) -> tuple[str, ...]:
    """Render every item of an argv list (never joined into a shell string)."""
    return tuple(render_text(item, context, where=where) for item in argv)


def render_env(
    env: Mapping[str, str], context: Mapping[str, Any], *, where: str = "env"
) -> dict[str, str]:
    """Render every value of an environment mapping; the names stay literal."""
    return {name: render_text(text, context, where=f"{where} {name}") for name, text in env.items()}
