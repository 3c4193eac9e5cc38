"""Run a README's example session against a control plane, so the docs cannot rot.

The session is the first ``sh`` block under a heading (``## Example session``
by default). It runs in ``bash -euo pipefail`` as written, with
``METAPAAS_URL`` and ``TOKEN`` set to the control plane's; a session reads
them as ``${METAPAAS_URL:-http://127.0.0.1:8080}`` and
``${TOKEN:-$(cat .metapaas/admin.token)}`` so a reader can paste it too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metapaas.testing.controlplane import ControlPlane


@dataclass(frozen=True)
class SessionOutput:
    """What the session printed."""

    stdout: str

    def documents(self) -> list[Any]:
        """The JSON objects and arrays it printed, in order (curl prints them with no
        newline between them; other text between them is skipped)."""
        decoder = json.JSONDecoder()
        found, position = [], 0
        while position < len(self.stdout):
            if self.stdout[position] in "{[":
                try:
                    document, position = decoder.raw_decode(self.stdout, position)
                except json.JSONDecodeError:
                    position += 1
                else:
                    found.append(document)
                    continue
            else:
                position += 1
        return found


def example_session(readme: Path, heading: str = "Example session") -> str:
    """The first ``sh`` block after the heading ``heading`` (any level)."""
    text = readme.read_text(encoding="utf-8")
    section = re.search(rf"^#+ {re.escape(heading)}\s*$(.*)", text, re.MULTILINE | re.DOTALL)
    assert section is not None, f"{readme} has no heading {heading!r}"
    block = re.search(r"```sh\n(.*?)```", section.group(1), re.DOTALL)
    assert block is not None, f"{readme} has no sh block under {heading!r}"
    return block.group(1)


def run_example_session(
    readme: Path,
    plane: ControlPlane,
    *,
    heading: str = "Example session",
    timeout: float = 180.0,
    env: dict[str, str] | None = None,
) -> SessionOutput:
    """Run the session with bash against ``plane``; fail with its output unless it exits 0."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", example_session(readme, heading)],
        env={**os.environ, "METAPAAS_URL": plane.url, "TOKEN": plane.token, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"the session failed:\n{done.stdout}\n{done.stderr}"
    return SessionOutput(done.stdout)
