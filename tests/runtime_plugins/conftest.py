"""Wheels of the test plugin, built once for every test here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.runtime_plugins import project


@pytest.fixture(scope="package")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every version the tests install, built once."""
    root = tmp_path_factory.mktemp("hello")
    return {
        "1": project.build_wheel(project.write(root, "1.0.0")),
        "2": project.build_wheel(
            project.write(root, "2.0.0", template="{{ instance.spec.greeting }}, planet")
        ),
        "import": project.build_wheel(project.write(root, "2.1.0", broken="import")),
        "migration": project.build_wheel(project.write(root, "2.2.0", broken="migration")),
        "contract": project.build_wheel(project.write(root, "2.3.0", broken="contract")),
        # The runtime has pydantic 2: a plugin needing pydantic 1 needs another runtime.
        "conflict": project.build_wheel(
            project.write(root, "2.4.0", extra_dependencies=("pydantic<2",))
        ),
    }
