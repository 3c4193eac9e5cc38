"""Rendering: every value comes from the metadata, a missing key is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from metapaas.agent.render import RenderError, node_context, render_argv, render_env, render_text

from .helpers import metadata


def test_the_context_is_the_document_plus_the_node_directory(tmp_path: Path) -> None:
    context = node_context(metadata(), tmp_path)
    assert context["node"]["dir"] == str(tmp_path.resolve())
    assert context["node"]["ports"] == {"http": 41231}
    assert context["instance"]["spec"] == {"message": "hi"}


def test_argv_items_and_env_values_are_rendered_one_by_one(tmp_path: Path) -> None:
    context = node_context(metadata(), tmp_path)
    argv = render_argv(("serve", "--port", "{{ node.ports.http }}"), context)
    env = render_env({"GREETING": "{{ instance.spec.message }} there"}, context)
    assert argv == ("serve", "--port", "41231")
    assert env == {"GREETING": "hi there"}


def test_a_trailing_newline_is_kept() -> None:
    assert render_text("port {{ port }}\n", {"port": 1}) == "port 1\n"


@pytest.mark.parametrize(
    ("source", "named"),
    [
        pytest.param("{{ nope }}", "'nope' is undefined", id="missing top-level key is named"),
        pytest.param(
            "{{ instance.spec.colour }}", "colour", id="missing nested key names the attribute"
        ),
        pytest.param("{% if %}", "cannot render", id="broken syntax is a render error too"),
    ],
)
def test_a_template_that_cannot_render_names_the_key_and_the_template(
    tmp_path: Path, source: str, named: str
) -> None:
    with pytest.raises(RenderError) as raised:
        render_text(source, node_context(metadata(), tmp_path), where="conf/app.conf")
    assert named in str(raised.value)
    assert "conf/app.conf" in str(raised.value)
