"""Applying a template: idempotent, checked before it replaces anything, confined."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from metapaas.agent.apply import ApplyError, apply_template, reload
from metapaas.agent.render import RenderError, node_context
from metapaas.sdk import Template

from .helpers import metadata, python

CHECK_CONTENT_IS_HI = python(
    "import sys; text = open(sys.argv[1]).read(); print('saw', text); sys.exit(text != 'hi\\n')",
    "{{ staged }}",
)


@pytest.fixture
def context(tmp_path: Path) -> dict[str, Any]:
    return node_context(metadata(), tmp_path)


def entries(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


def test_a_first_apply_writes_the_file_with_the_template_mode(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    template = Template(source="{{ instance.spec.message }}\n", dest="conf/app.conf", mode=0o640)
    assert apply_template(template, tmp_path, context) == "changed"
    dest = tmp_path / "conf" / "app.conf"
    assert dest.read_text() == "hi\n"
    assert dest.stat().st_mode & 0o777 == 0o640


def test_a_second_apply_of_the_same_content_writes_nothing(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    template = Template(source="{{ instance.spec.message }}\n", dest="app.conf")
    apply_template(template, tmp_path, context)
    refusing_check = Template(source=template.source, dest=template.dest, check=("false",))
    before = (tmp_path / "app.conf").stat()
    directory_before = tmp_path.stat()
    assert apply_template(refusing_check, tmp_path, context) == "unchanged"
    after = (tmp_path / "app.conf").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert tmp_path.stat().st_mtime_ns == directory_before.st_mtime_ns
    assert entries(tmp_path) == {"app.conf"}


def test_new_content_replaces_the_file_after_the_check_passes(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    (tmp_path / "app.conf").write_text("old\n")
    template = Template(source="{{ message }}", dest="app.conf", check=CHECK_CONTENT_IS_HI)
    context = {**context, "message": "hi\n"}
    assert apply_template(template, tmp_path, context) == "changed"
    assert (tmp_path / "app.conf").read_text() == "hi\n"
    assert entries(tmp_path) == {"app.conf"}


def test_a_refused_check_leaves_the_destination_untouched(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    dest = tmp_path / "app.conf"
    dest.write_text("old\n")
    before = dest.stat()
    template = Template(source="bye\n", dest="app.conf", check=CHECK_CONTENT_IS_HI)
    with pytest.raises(ApplyError) as raised:
        apply_template(template, tmp_path, context)
    assert "check of app.conf refused" in str(raised.value)
    assert "saw bye" in str(raised.value)
    assert dest.read_text() == "old\n"
    assert dest.stat().st_ino == before.st_ino
    assert entries(tmp_path) == {"app.conf"}


def test_a_missing_key_names_the_destination_and_writes_nothing(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    template = Template(source="{{ instance.spec.colour }}", dest="app.conf")
    with pytest.raises(RenderError, match=r"app\.conf.*colour"):
        apply_template(template, tmp_path, context)
    assert entries(tmp_path) == set()


@pytest.mark.parametrize(
    "dest",
    [
        pytest.param("../outside.conf", id="a parent reference is refused"),
        pytest.param("conf/../../outside.conf", id="a parent reference deeper down is refused"),
        pytest.param("/etc/outside.conf", id="an absolute path is refused"),
        pytest.param("", id="an empty destination is refused"),
        pytest.param("link/outside.conf", id="a symlink out of the node directory is refused"),
    ],
)
def test_a_destination_outside_the_node_directory_is_refused(tmp_path: Path, dest: str) -> None:
    node_dir = tmp_path / "node"
    outside = tmp_path / "elsewhere"
    node_dir.mkdir()
    outside.mkdir()
    (node_dir / "link").symlink_to(outside)
    template = Template(source="x", dest=dest)
    with pytest.raises(ApplyError, match="not a path inside the node directory"):
        apply_template(template, node_dir, node_context(metadata(), node_dir))
    assert entries(outside) == set()


def test_reload_runs_the_rendered_argv_in_the_node_directory(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    marker = python("import pathlib, sys; pathlib.Path('reloaded').write_text(sys.argv[1])")
    template = Template(source="", dest="app.conf", reload=(*marker, "{{ node.ports.http }}"))
    reload(template, tmp_path, context)
    assert (tmp_path / "reloaded").read_text() == "41231"


def test_a_failing_reload_is_an_error_with_its_output(
    tmp_path: Path, context: dict[str, Any]
) -> None:
    template = Template(source="", dest="app.conf", reload=python("print('no pid'); exit(3)"))
    with pytest.raises(ApplyError, match=r"reload of app\.conf failed \(exit code 3\): no pid"):
        reload(template, tmp_path, context)
    assert not os.path.exists(tmp_path / "app.conf")
