"""``metapaas plugin new``: names and refusals. ``test_building_a_plugin.py`` installs a
generated project, runs its tests and builds its wheel, following the guide."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from metapaas.cli.main import app
from metapaas.scaffold import ScaffoldError, new_project


@pytest.mark.parametrize(
    ("slug", "reason"),
    [
        pytest.param("Hello", "must match", id="a slug with capitals is refused"),
        pytest.param("h", "must match", id="a one-letter slug is refused"),
        pytest.param("hello-world", "must match", id="a slug with a dash is refused"),
    ],
)
def test_a_bad_slug_writes_nothing(tmp_path: Path, slug: str, reason: str) -> None:
    with pytest.raises(ScaffoldError, match=reason):
        new_project(slug, tmp_path / "project")
    assert not (tmp_path / "project").exists()


def test_a_directory_with_files_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep", encoding="utf-8")
    result = CliRunner().invoke(app, ["plugin", "new", "hello", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not empty" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]


def test_names_follow_the_slug(tmp_path: Path) -> None:
    written = new_project("big_cache", tmp_path)
    relative = {str(p.relative_to(tmp_path)) for p in written}
    assert "src/metapaas_big_cache/__init__.py" in relative
    assert "src/metapaas_big_cache/migrations/versions/big_cache_0001_visits.py" in relative
    pyproject = (tmp_path / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "metapaas-big-cache"' in pyproject
    assert 'big_cache = "metapaas_big_cache:BigCache"' in pyproject
