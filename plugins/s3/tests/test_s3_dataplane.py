"""What a node of the s3 type is told to run, rendered as the agent would, without a server."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from typing import Any

import jinja2
import pytest
from metapaas_s3 import S3
from metapaas_s3.engines import engine_for
from metapaas_s3.engines.seaweedfs import PORTS

from metapaas import sdk

SECRETS = {
    "admin_access_key_id": "ADMINADMINADMINADMIN",
    "admin_secret_access_key": "admin-secret-admin-secret-admin-secret-00",
    "sse_kek": "ab" * 32,
    "internal_signing_key": "cd" * 32,
}
READER_SECRET = "reader-secret-reader-secret-reader-secret"
READER: dict[str, Any] = {
    "name": "reader",
    "access_key_id": "READERREADERREADER01",
    "secret_access_key": READER_SECRET,
    "buckets": ["data", "data"],
    "access": "read-only",
}
WRITER = {
    **READER,
    "name": "writer",
    "access_key_id": "WRITERWRITER00000001",
    "access": "read-write",
}


def instance() -> sdk.InstanceView:
    spec = S3.spec.model_validate({"bucket_name": "data", "encryption": "aes256", **SECRETS})
    return sdk.InstanceView(
        id="i",
        slug="s3",
        name="s3-prod",
        project_id="p",
        version=S3.versions[0],
        generation=1,
        spec=spec,
        secrets=SECRETS,
        resources={
            "buckets": [{"name": "logs", "versioning": True}],
            "access_keys": [READER, WRITER],
        },
    )


def context() -> dict[str, Any]:
    """The metadata a node reads, as the control plane builds it."""
    view = instance()
    node = {"name": "n", "role": "main", "ordinal": 0, "address": "127.0.0.1", "dir": "/nodes/n"}
    return {
        "instance": {"spec": view.spec.model_dump(mode="json"), "secrets": dict(view.secrets)},
        "node": {**node, "ports": {name: 20000 + i for i, name in enumerate(PORTS)}},
        "resources": view.resources,
        "extra": dict(S3().node_metadata(view)),
    }


def render(text: str, values: Mapping[str, Any]) -> str:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    return environment.from_string(text).render(values)


def rendered_files() -> dict[str, str]:
    plane = S3().data_plane("main", S3.versions[0])
    return {t.dest: render(t.source, context()) for t in plane.templates}


def test_a_version_naming_an_unknown_engine_fails_permanently() -> None:
    with pytest.raises(sdk.PermanentError, match="minio"):
        engine_for(sdk.Version("9", engine={"server": "minio"}))


def test_the_weed_binary_is_resolved_absolutely() -> None:
    (weed,) = S3().data_plane("main", S3.versions[0]).required_binaries
    assert os.path.isabs(weed)
    assert os.access(weed, os.X_OK)


def test_every_port_is_allocated_and_passed_and_no_secret_is_in_argv() -> None:
    (group,) = S3().node_plan(instance())
    assert set(group.ports) == set(PORTS)
    plane = S3().data_plane("main", S3.versions[0])
    argv = [render(arg, context()) for service in plane.services for arg in service.argv]
    commands = [render(arg, context()) for c in plane.commands for arg in c.argv]
    for port in context()["node"]["ports"].values():
        assert any(arg.endswith(f"={port}") for arg in argv), f"port {port} not passed"
    for secret in [*SECRETS.values(), READER_SECRET]:
        assert all(secret not in arg for arg in argv + commands)


def test_identities_scope_each_key_to_its_buckets_and_access() -> None:
    document = json.loads(rendered_files()["seaweedfs/identities.json"])
    actions = {i["name"]: i["actions"] for i in document["identities"]}
    assert actions["admin"] == ["Admin", "Read", "List", "Tagging", "Write"]
    assert actions["key-reader"] == ["Read:data", "List:data"]
    assert actions["key-writer"] == ["Read:data", "List:data", "Tagging:data", "Write:data"]
    assert actions["anonymous"] == ["Read:metapaas-health"]


def test_the_kek_and_signing_keys_reach_security_toml() -> None:
    security = tomllib.loads(rendered_files()["seaweedfs/security.toml"])
    assert security["s3"]["sse"]["kek"] == SECRETS["sse_kek"]
    assert security["jwt"]["signing"]["key"] == SECRETS["internal_signing_key"]
    assert security["jwt"]["filer_signing"]["read"]["key"] == SECRETS["internal_signing_key"]


def test_the_bucket_declaration_lists_every_bucket_with_its_versioning() -> None:
    declared = json.loads(rendered_files()["buckets.json"])
    assert declared["buckets"] == [
        {"name": "data", "versioning": False},
        {"name": "logs", "versioning": True},
    ]
    assert declared["encryption"] == "aes256"
    assert declared["endpoint"] == "http://127.0.0.1:20000"


def test_every_file_holding_a_secret_is_private() -> None:
    plane = S3().data_plane("main", S3.versions[0])
    assert {t.mode for t in plane.templates} == {0o600}


def test_credentials_name_the_endpoint_and_the_admin_key() -> None:
    node = sdk.NodeView("n", "main", 0, "127.0.0.1", {"s3": 9000})
    credentials = S3().credentials(instance(), [node])
    assert credentials == {
        "endpoint_url": "http://127.0.0.1:9000",
        "region": "us-east-1",
        "addressing_style": "path",
        "access_key_id": SECRETS["admin_access_key_id"],
        "secret_access_key": SECRETS["admin_secret_access_key"],
    }
