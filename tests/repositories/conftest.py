"""Fixtures of the repositories' tests: one SeaweedFS for the session, and a repository of
each kind, emptied after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metapaas.repositories import Repository, open_repository

from .seaweedfs import Server, seaweedfs


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(params=["filesystem", "s3"])
def repository(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    if request.param == "filesystem":
        root = tmp_path / "repository"
        root.mkdir()
        mapping = {"kind": "filesystem", "path": str(root)}
    else:
        mapping = request.getfixturevalue("s3_server").repository()
    with open_repository(mapping) as opened:
        yield opened
        opened.delete("")
