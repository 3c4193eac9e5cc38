"""Wheels of the test plugin, built on first use for every test here."""

from __future__ import annotations

import pytest

from tests.runtime_plugins import project


@pytest.fixture(scope="package")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> project.Wheels:
    """Every version the tests install (:data:`project.VERSIONS`), built when first asked."""
    return project.shared_wheels(tmp_path_factory)
