"""What only a directory repository does: atomic writes, refusing a missing root."""

from __future__ import annotations

from pathlib import Path

import pytest

from metapaas.repositories import RepositoryError, open_repository


def test_a_put_leaves_no_staged_file_and_replaces_an_object_whole(tmp_path: Path) -> None:
    root = tmp_path / "repository"
    root.mkdir()
    repository = open_repository({"kind": "filesystem", "path": str(root)})
    (tmp_path / "one").write_bytes(b"1" * 100)
    (tmp_path / "two").write_bytes(b"2" * 50)
    repository.put("i/b/f", tmp_path / "one")
    repository.put("i/b/f", tmp_path / "two")
    assert (root / "i/b/f").read_bytes() == b"2" * 50
    assert [p.name for p in (root / "i/b").iterdir()] == ["f"]


def test_a_probe_of_a_directory_that_does_not_exist_fails_and_makes_none(
    tmp_path: Path,
) -> None:
    with pytest.raises(RepositoryError, match=r"repository directory .*absent does not exist"):
        open_repository({"kind": "filesystem", "path": str(tmp_path / "absent")}).probe()
    assert not (tmp_path / "absent").exists(), "a share not mounted must not fill the disk"


@pytest.mark.parametrize(
    ("mapping", "sentence"),
    [
        ({"kind": "filesystem", "path": "relative/dir"}, "must be absolute"),
        ({"kind": "tape"}, "unknown repository kind 'tape'"),
        ({"kind": "s3", "endpoint": "h:1", "bucket": "b"}, "lacks region, access_key_id"),
    ],
    ids=["a relative path is refused", "an unknown kind is refused", "an s3 one needs its keys"],
)
def test_a_bad_mapping_is_refused_naming_what_is_wrong(
    mapping: dict[str, str], sentence: str
) -> None:
    with pytest.raises(RepositoryError, match=sentence):
        open_repository(mapping)
