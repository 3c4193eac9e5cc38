"""What a fresh interpreter loads, for tests that keep a process's start lean."""

from __future__ import annotations

import subprocess
import sys


def modules_loaded_by(module: str) -> set[str]:
    """Every module in ``sys.modules`` after importing ``module`` in a new interpreter."""
    printed = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; print(*sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(printed.split())
