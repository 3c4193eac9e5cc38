"""Pure logic of the postgres type: names, SCRAM verifiers, the catalog, the validate hook,
the desired state and the rendered config. No server runs here."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import psycopg
import pytest
from metapaas_postgres import Postgres, applier, catalog, scram
from metapaas_postgres.desired import DesiredState, desired_state
from metapaas_postgres.layout import CONFIG_FILE
from metapaas_postgres.reconcile import Connection
from metapaas_postgres.spec import DatabaseSpec, PostgresSpec, RoleSpec
from pydantic import ValidationError

from metapaas import sdk
from metapaas.testing import instance_view, write_node


def view(
    roles: Sequence[Mapping[str, Any]] = (),
    databases: Sequence[str] = (),
    **spec: Any,
) -> sdk.InstanceView:
    spec.setdefault("admin_password", "admin-password-123")
    resources = {"databases": [{"name": n} for n in databases], "roles": roles}
    return instance_view(Postgres(), spec, resources=resources, name="pg")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Shop", id="upper case would need quoting in SQL"),
        pytest.param("1shop", id="a name starts with a letter or underscore"),
        pytest.param("shop-eu", id="a hyphen would need quoting in SQL"),
        pytest.param("a" * 64, id="longer than PostgreSQL's 63 bytes"),
        pytest.param("pg_shop", id="pg_ names are PostgreSQL's"),
        pytest.param("postgres", id="the maintenance database"),
        pytest.param("template1", id="a template database"),
        pytest.param("", id="empty"),
        pytest.param('x"; DROP DATABASE postgres; --', id="SQL in a name"),
    ],
)
def test_bad_database_name_is_refused_naming_the_field(name: str) -> None:
    with pytest.raises(ValidationError) as raised:
        DatabaseSpec(name=name)
    assert raised.value.errors()[0]["loc"] == ("name",)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "admin"}, ("name",)),
        ({"name": "metapaas"}, ("name",)),
        ({"name": "public"}, ("name",)),
        ({"name": "app", "password": "short"}, ("password",)),
        ({"name": "app", "password": "ünïcode-password"}, ("password",)),
        ({"name": "app", "grants": [{"database": "Shop"}]}, ("grants", 0, "database")),
        (
            {"name": "app", "grants": [{"database": "shop", "access": "all"}]},
            ("grants", 0, "access"),
        ),
        (
            {"name": "app", "grants": [{"database": "shop"}, {"database": "shop"}]},
            ("grants",),
        ),
    ],
    ids=[
        "admin is the instance's own role",
        "metapaas is the node's superuser",
        "public is reserved by PostgreSQL",
        "a password of fewer than 12 characters",
        "a password outside printable ASCII",
        "a grant naming a bad database name",
        "an access level that does not exist",
        "two grants for one database",
    ],
)
def test_bad_role_is_refused_naming_the_field(body: dict[str, Any], field: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as raised:
        RoleSpec(**body)
    assert raised.value.errors()[0]["loc"] == field


def test_good_names_pass() -> None:
    assert DatabaseSpec(name="_shop_2").name == "_shop_2"
    assert RoleSpec(name="app", grants=[{"database": "shop"}]).grants[0].access == "readonly"


@pytest.mark.parametrize(
    ("spec", "field"),
    [({"max_connections": 5}, "max_connections"), ({"shared_buffers_mb": 8}, "shared_buffers_mb")],
    ids=["fewer than 10 connections", "less than 16 MB of shared buffers"],
)
def test_bad_spec_is_refused(spec: dict[str, int], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        PostgresSpec(**spec)
    assert raised.value.errors()[0]["loc"] == (field,)


def test_verifier_proves_the_rfc_7677_exchange() -> None:
    """The server signature of RFC 7677's example follows from our StoredKey/ServerKey."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    made = scram.verifier("pencil", salt)
    head, keys = made.rsplit("$", 1)
    assert head == "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    _, server_key = (base64.b64decode(k) for k in keys.split(":"))
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth_message = (
        "n=user,r=rOprNGfwEbeRWgbNEkqO,"
        f"r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
        f"c=biws,r={nonce}"
    )
    signature = hmac.digest(server_key, auth_message.encode(), hashlib.sha256)
    assert base64.b64encode(signature).decode() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_role_verifier_is_stable_and_salted_per_instance_and_role() -> None:
    first = scram.role_verifier("a-password-1", "instance-a", "app")
    assert first == scram.role_verifier("a-password-1", "instance-a", "app")
    assert first != scram.role_verifier("a-password-1", "instance-b", "app")
    assert first != scram.role_verifier("a-password-1", "instance-a", "other")
    assert first != scram.role_verifier("a-password-2", "instance-a", "app")


def test_catalog_lists_each_installed_major_and_defaults_to_the_newest(tmp_path: Path) -> None:
    for major in ("13", "16"):
        (tmp_path / major / "bin").mkdir(parents=True)
        (tmp_path / major / "bin" / "postgres").touch()
    (tmp_path / "14" / "bin").mkdir(parents=True)  # client only: no server binary
    versions = catalog.machine_versions(tmp_path)
    assert [(v.name, v.default) for v in versions] == [("13", False), ("16", True)]
    assert versions[1].engine == {"bindir": str(tmp_path / "16" / "bin")}


def test_catalog_without_a_server_keeps_15_so_a_create_can_name_the_missing_binary(
    tmp_path: Path,
) -> None:
    (only,) = catalog.machine_versions(tmp_path)
    assert (only.name, only.default) == ("15", True)
    plane = Postgres().data_plane("main", only)
    assert str(tmp_path / "15" / "bin" / "postgres") in plane.required_binaries


def test_validate_refuses_a_grant_on_a_database_that_does_not_exist() -> None:
    role = {"name": "app", "grants": [{"database": "shop", "access": "readonly"}]}
    Postgres().validate(view([role], ["shop"]))
    with pytest.raises(sdk.Invalid) as raised:
        Postgres().validate(view([role], ["other"]))
    assert (raised.value.field, raised.value.rule) == ("grants", "not_found")
    assert "'shop'" in raised.value.message


def test_desired_state_carries_verifiers_not_passwords() -> None:
    roles = [
        {
            "name": "writer",
            "password": "writer-password",
            "grants": [{"database": "shop", "access": "readwrite"}],
        },
        {"name": "reader", "password": "reader-password", "grants": [{"database": "shop"}]},
    ]
    state = desired_state(view(roles, ["shop", "logs"]))
    text = json.dumps(state.model_dump(mode="json"))
    for password in ("writer-password", "reader-password", "admin-password-123"):
        assert password not in text
    assert [r.name for r in state.roles] == ["admin", "reader", "writer"]
    assert state.access("shop") == {
        "admin": "readwrite",
        "reader": "readonly",
        "writer": "readwrite",
    }
    assert state.access("logs") == {"admin": "readwrite"}
    assert state.roles[0].createdb
    assert not state.roles[1].createdb
    assert state == DesiredState.model_validate_json(text)


def test_rendered_config_has_the_spec_tls_and_no_socket(tmp_path: Path) -> None:
    instance = view(max_connections=42, shared_buffers_mb=64)
    write_node(Postgres(), instance, tmp_path, {"postgres": 40001})
    text = (tmp_path / CONFIG_FILE).read_text()
    settings = dict(
        line.split(" = ", 1)
        for line in text.splitlines()
        if " = " in line and not line.startswith("#")
    )
    assert settings["port"] == "40001"
    assert settings["listen_addresses"] == "'127.0.0.1'"
    assert settings["max_connections"] == "42"
    assert settings["shared_buffers"] == "64MB"
    assert settings["unix_socket_directories"] == "''"
    assert settings["hba_file"] == f"'{tmp_path.resolve()}/conf/pg_hba.conf'"
    assert settings["ssl"] == "on"
    for setting, file in (
        ("ssl_cert_file", sdk.TLS_CERTIFICATE),
        ("ssl_key_file", sdk.TLS_KEY),
    ):
        assert settings[setting] == f"'{tmp_path.resolve() / file}'"
        assert (tmp_path / file).is_file()
    assert "ssl_ca_file" not in settings, "it would ask clients for a certificate"


def test_the_applier_tries_a_starting_server_twenty_times_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new node's init waits for its server: a try every 0.25 s cost it 0.125 s on average."""
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    refusals = iter([psycopg.OperationalError(), psycopg.OperationalError()])

    def connect(database: str) -> Connection:
        error = next(refusals, None)
        if error is not None:
            raise error
        return MagicMock()

    applier.wait_for_server(connect, 30)
    assert waits == [0.05, 0.05]
