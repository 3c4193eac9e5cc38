"""The CLI against a real control plane: a demo instance's life from create to delete."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from metapaas import tls
from metapaas.db import models
from metapaas.testing import ControlPlane
from tests.cli.conftest import Cli


@pytest.mark.e2e
def test_a_demo_instance_from_create_to_delete(served_cli: Cli) -> None:
    cli = served_cli
    assert "demo" in {t["slug"] for t in cli.json("types")}

    refused = cli.run("create", "demo", "hello", "--set", "replicas=9")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        "error: 422 replicas: Input should be less than or equal to 3"
    ]
    assert refused.stdout == ""

    created = cli.json("create", "demo", "hello", "--set", "message=123", "--wait")
    assert created["status"] == "ACTIVE"
    assert created["message"] == "123", "a string field keeps its text as written"
    listed = cli.json("list", "demo", "--status", "ACTIVE")
    assert [i["name"] for i in listed] == ["hello"]
    assert cli.json("show", "demo", "hello")["id"] == created["id"]
    assert cli.json("credentials", "demo", "hello")
    kinds = {e["kind"] for e in cli.json("events", "demo", "hello")}
    assert "status_changed" in kinds

    page = cli.json("demo", "pages", "create", "hello", "about", "--set", "content=About us")
    assert page["content"] == "About us"
    cli.ok("demo", "pages", "update", "hello", "about", "--set", "content=Still us")
    assert cli.json("demo", "pages", "show", "hello", "about")["content"] == "Still us"
    assert [p["name"] for p in cli.json("demo", "pages", "list", "hello")] == ["about"]
    cli.ok("demo", "pages", "delete", "hello", "about", "--yes")
    assert cli.json("demo", "pages", "list", "hello") == []

    updated = cli.json("update", "demo", "hello", "--set", "message=bye", "--wait")
    assert updated["status"] == "ACTIVE"
    assert updated["observed_generation"] == updated["generation"]

    unconfirmed = cli.run("delete", "demo", "hello")
    assert unconfirmed.returncode == 1
    assert "--yes" in unconfirmed.stderr
    deleted = cli.run("delete", "demo", "hello", "--yes", "--wait")
    assert deleted.returncode == 0, deleted.stderr
    assert cli.json("list") == []
    missing = cli.run("show", "demo", "hello")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: 404 ")


def test_login_keeps_a_private_profile_that_the_environment_overrides(
    cli: Cli, control_plane: ControlPlane
) -> None:
    assert cli.run("types").stderr.startswith("error: no server set")

    cli.ok("login", "--url", control_plane.url, "--token", control_plane.token)
    assert stat.S_IMODE(cli.profiles_file.stat().st_mode) == 0o600
    assert cli.json("whoami")["name"] == "admin"

    refused = cli.run("login", "--url", control_plane.url, "--token", "mpt_wrong", "-p", "bad")
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: 401 ")
    assert "bad" not in cli.profiles_file.read_text(), "a token that fails is not kept"

    cli.ok("login", "--url", control_plane.url, "--token", control_plane.token, "-p", "second")
    cli.ok("use", "default")
    stored = {p["name"]: p["current"] for p in cli.json("profiles")}
    assert stored == {"default": True, "second": False}

    cli.env["METAPAAS_URL"] = "http://127.0.0.1:9"
    unreachable = cli.run("whoami")
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("error: cannot reach http://127.0.0.1:9/")
    cli.env.update(METAPAAS_URL=control_plane.url, METAPAAS_TOKEN="mpt_not_the_profiles")
    assert cli.run("whoami").stderr.startswith("error: 401 "), "the environment wins"


def test_login_over_https_trusts_only_the_ca_it_was_told_of(
    cli: Cli, tmp_path: Path, e2e_database_url: str
) -> None:
    plane = ControlPlane(tmp_path / "home", e2e_database_url, METAPAAS_TLS="true")
    plane.start()
    try:
        fingerprint = tls.fingerprint(plane.ca_file.read_text())
        login = ("login", "--url", plane.url, "--token", plane.token)

        unasked = cli.run(*login)  # no terminal to ask on
        assert unasked.returncode == 1
        assert fingerprint in unasked.stderr
        assert "--trust-fingerprint" in unasked.stderr
        other = tls.Authority.new("another CA", models.utcnow()).fingerprint
        wrong = cli.run(*login, "--trust-fingerprint", other)
        assert wrong.returncode == 1
        assert "not trusted" in wrong.stderr
        assert not cli.profiles_file.exists(), "nothing is kept from a refused login"

        cli.ok(*login, "--trust-fingerprint", fingerprint.lower().replace(":", ""))
        assert cli.json("whoami")["name"] == "admin"
        assert cli.ok("ca", "--fingerprint").strip() == fingerprint
        assert cli.ok("ca") == plane.ca_file.read_text()

        cli.ok(*login, "--ca-file", str(plane.ca_file), "-p", "pinned")
        assert cli.json("--profile", "pinned", "whoami")["name"] == "admin"
        (tmp_path / "other.pem").write_text(tls.Authority.new("x", models.utcnow()).certificate_pem)
        cli.env["METAPAAS_CA_FILE"] = str(tmp_path / "other.pem")
        refused = cli.run("whoami")
        assert refused.returncode == 1
        assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    finally:
        plane.stop()


def test_up_refuses_contradictory_tls_settings_before_serving(cli: Cli) -> None:
    refused = cli.run("up", "--tls", "--insecure")

    assert refused.returncode == 2
    assert "contradict each other" in refused.stderr
