"""The cloud-init user data VM providers boot a node with."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from metapaas.providers import user_data
from metapaas.sdk import PermanentError
from tests.providers.conftest import spec

TOKEN = "bt-7f3a9c"


def parse(text: str) -> dict[str, Any]:
    """The document after ``#cloud-config``; JSON, so it is YAML too."""
    header, body = text.split("\n", 1)
    assert header == "#cloud-config"
    document: dict[str, Any] = json.loads(body)
    return document


def files(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {entry["path"]: entry for entry in document["write_files"]}


def test_the_token_is_written_only_to_its_file_owner_only() -> None:
    document = parse(user_data(replace(spec("n-0"), bootstrap_token=TOKEN), "metapaas==0.1.0"))

    entry = files(document)["/var/lib/metapaas/node/bootstrap.token"]
    assert entry["content"] == TOKEN
    assert entry["permissions"] == "0600"
    document["write_files"].remove(entry)
    assert TOKEN not in json.dumps(document)


def test_the_agent_package_is_installed_and_run_as_a_systemd_unit() -> None:
    document = parse(user_data(spec("n-0"), "metapaas==0.1.0"))

    unit = files(document)["/etc/systemd/system/metapaas-agent.service"]["content"]
    assert ["/opt/metapaas/venv/bin/python3", "-m", "pip", "install", "metapaas==0.1.0"] in (
        document["runcmd"]
    )
    assert ["systemctl", "enable", "--now", "metapaas-agent.service"] in document["runcmd"]
    assert (
        "ExecStart=/opt/metapaas/venv/bin/python3 -m metapaas.agent"
        ' --url "http://127.0.0.1:1" --dir /var/lib/metapaas/node\n'
    ) in unit
    assert "Environment=METAPAAS_NODE_NAME=n-0\n" in unit


@pytest.mark.parametrize(
    ("url", "argument"),
    [
        pytest.param("http://cp:80/%41", '"http://cp:80/%%41"', id="a percent is no specifier"),
        pytest.param("http://cp/$HOME", '"http://cp/$$HOME"', id="a dollar is no variable"),
        pytest.param('http://cp/"x\\', '"http://cp/\\"x\\\\"', id="quotes and backslashes"),
    ],
)
def test_the_url_is_one_literal_execstart_argument(url: str, argument: str) -> None:
    text = user_data(replace(spec("n-0"), control_plane_url=url), "metapaas")

    unit = files(parse(text))["/etc/systemd/system/metapaas-agent.service"]["content"]
    assert f" --url {argument} --dir " in unit


def test_a_url_with_a_line_break_is_refused() -> None:
    bad = replace(spec("n-0"), control_plane_url="http://cp/\nExecStartPre=/bin/sh")

    with pytest.raises(PermanentError, match="control character"):
        user_data(bad, "metapaas")
