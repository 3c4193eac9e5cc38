"""Apply one plugin ``Template`` to a node directory, the confd way.

render → compare with the current file (identical: nothing is written) →
stage beside the destination with the template's mode → ``check`` the staged
file → fsync, rename, fsync the directory. ``reload`` is a separate step
because only the caller knows whether the service already runs.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from metapaas.agent import process
from metapaas.agent.render import render_argv, render_text
from metapaas.sdk import PermanentError, Template
from metapaas.sdk import _node as files

Change = Literal["changed", "unchanged"]

CHECK_TIMEOUT = 60.0
"""Seconds a ``check`` or ``reload`` command may take; they validate or signal, nothing long."""
ERROR_OUTPUT_CHARS = 1000
"""How much of a refusing command's output the error quotes: its end says why."""


class ApplyError(PermanentError):
    """The template cannot be applied with this metadata: a bad path or a refused check."""


def destination(node_dir: Path, dest: str) -> Path:
    """The absolute path of ``dest``, refused unless it stays inside ``node_dir``."""
    relative = PurePosixPath(dest)
    root = node_dir.resolve()
    path = root.joinpath(relative)
    escapes = relative.is_absolute() or ".." in relative.parts
    if not dest or escapes or not path.parent.resolve().is_relative_to(root):
        raise ApplyError(f"template destination {dest!r} is not a path inside the node directory")
    return path


def apply_template(template: Template, node_dir: Path, context: Mapping[str, Any]) -> Change:
    """Bring the destination to the rendered content; a failed check leaves it untouched."""
    dest = destination(node_dir, template.dest)
    content = render_text(template.source, context, where=template.dest).encode()
    if _current(dest) == (content, template.mode):
        return "unchanged"
    staged = files.stage(dest, content, template.mode)
    try:
        _check(template, staged, node_dir, context)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    files.commit(staged, dest)
    return "changed"


def reload(
    template: Template,
    node_dir: Path,
    context: Mapping[str, Any],
    *,
    while_waiting: Callable[[], None] | None = None,
) -> None:
    """Run the template's ``reload`` argv, telling the running service to reread it.

    A reload may wait for its engine (up to ``CHECK_TIMEOUT``); ``while_waiting``
    keeps the caller's heartbeats going meanwhile.
    """
    if template.reload:
        argv = render_argv(template.reload, context, where=f"reload of {template.dest}")
        _run_or_raise(argv, node_dir, f"reload of {template.dest} failed", while_waiting)


def _current(dest: Path) -> tuple[bytes, int] | None:
    try:
        return dest.read_bytes(), stat.S_IMODE(dest.stat().st_mode)
    except FileNotFoundError:
        return None


def _check(template: Template, staged: Path, node_dir: Path, context: Mapping[str, Any]) -> None:
    if template.check:
        check_context = {**context, "staged": str(staged)}
        argv = render_argv(template.check, check_context, where=f"check of {template.dest}")
        _run_or_raise(argv, node_dir, f"check of {template.dest} refused the new content")


def _run_or_raise(
    argv: tuple[str, ...],
    node_dir: Path,
    failure: str,
    while_waiting: Callable[[], None] | None = None,
) -> None:
    outcome = process.run(argv, cwd=node_dir, timeout=CHECK_TIMEOUT, while_waiting=while_waiting)
    if not outcome.ok:
        output = outcome.output.strip()[-ERROR_OUTPUT_CHARS:]
        raise ApplyError(f"{failure} (exit code {outcome.exit_code}): {output}")
