"""Both kinds of repository do the same: put, get, list, delete, probe, refuse bad keys."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from metapaas.repositories import Repository, RepositoryError
from metapaas.sdk import sha256_of


def _file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def test_an_object_put_reads_back_the_same_and_is_listed_with_its_size(
    repository: Repository, tmp_path: Path
) -> None:
    # Above boto3's 8 MiB threshold: an S3 object goes up in parts.
    source = _file(tmp_path / "dump.rdb", 9 << 20)
    repository.put("i/b1/dump.rdb", source)
    repository.get("i/b1/dump.rdb", tmp_path / "back")
    assert sha256_of(tmp_path / "back") == sha256_of(source)
    (stored,) = repository.list("i/b1")
    assert (stored.key, stored.size) == ("i/b1/dump.rdb", 9 << 20)
    assert abs(stored.last_modified - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_prefix_is_a_directory_of_keys(repository: Repository, tmp_path: Path) -> None:
    source = _file(tmp_path / "f", 10)
    for key in ("i/b1/a", "i/b1/sub/b", "i/b10/a", "j/x"):
        repository.put(key, source)
    assert [o.key for o in repository.list("i/b1")] == ["i/b1/a", "i/b1/sub/b"]
    assert [o.key for o in repository.list("i/b1/")] == ["i/b1/a", "i/b1/sub/b"]
    assert len(repository.list("")) == 4


def test_delete_takes_every_object_under_a_prefix_and_again_is_no_error(
    repository: Repository, tmp_path: Path
) -> None:
    source = _file(tmp_path / "f", 10)
    for key in ("i/b1/a", "i/b1/sub/b", "i/b10/a"):
        repository.put(key, source)
    assert repository.delete("i/b1") == 2
    assert repository.delete("i/b1") == 0
    assert [o.key for o in repository.list("i")] == ["i/b10/a"]


def test_a_missing_object_is_an_error_naming_it(repository: Repository, tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match="i/nothing"):
        repository.get("i/nothing", tmp_path / "back")
    assert not (tmp_path / "back").exists()


@pytest.mark.parametrize(
    "key",
    ["../escape", "a/../../escape", "/absolute", "", "a//b", "./a"],
    ids=lambda key: f"key {key!r} is refused",
)
def test_keys_are_relative_paths_without_dot_dot(
    repository: Repository, tmp_path: Path, key: str
) -> None:
    with pytest.raises(RepositoryError, match="no repository key"):
        repository.put(key, _file(tmp_path / "f", 1))


def test_a_probe_of_a_working_repository_passes_and_leaves_nothing(
    repository: Repository,
) -> None:
    repository.probe()
    assert repository.list("") == []
