"""``metapaas plugins`` against a real control plane: install, list, upgrade, remove."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from metapaas.testing import ControlPlane
from tests.cli.conftest import Cli

pytestmark = pytest.mark.e2e


def test_an_admin_installs_upgrades_and_removes_a_plugin_from_the_cli(
    tmp_path: Path, control_plane: ControlPlane, wheels: Mapping[str, Path]
) -> None:
    cli = Cli(tmp_path / "config", {"METAPAAS_URL": control_plane.url})
    cli.env["METAPAAS_TOKEN"] = control_plane.token

    installed = cli.run("plugins", "install", str(wheels["1"]), "--wait")
    assert installed.returncode == 0, installed.stderr
    assert "loaded by 1 control-plane processes" in installed.stderr
    listed = {p["name"]: p for p in cli.json("plugins", "list")}
    assert listed["metapaas-hello"]["version"] == "1.0.0"
    assert listed["metapaas-hello"]["types"] == ["hello"]
    assert listed["metapaas-redis"]["bundled"] is True
    assert "hello" in {t["slug"] for t in cli.json("types")}

    broken = cli.run("plugins", "upgrade", "metapaas-hello", str(wheels["import"]), "--wait")
    assert broken.returncode == 1
    assert broken.stderr.startswith("error: upgrading metapaas-hello failed: ")
    assert "metapaas_no_such_module" in broken.stderr
    assert cli.json("plugins", "show", "metapaas-hello")["version"] == "1.0.0"

    cli.ok("plugins", "upgrade", "metapaas-hello", str(wheels["2"]), "--wait")
    assert cli.json("plugins", "show", "metapaas-hello")["version"] == "2.0.0"

    refused = cli.run("plugins", "remove", "metapaas-redis", "--yes")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: 409 ")
    cli.ok("plugins", "remove", "metapaas-hello", "--purge", "--yes", "--wait")
    assert "metapaas-hello" not in {p["name"] for p in cli.json("plugins", "list")}
