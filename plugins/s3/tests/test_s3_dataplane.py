"""What a node of the s3 type is told to run, rendered as the agent would, without a server."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError
from metapaas_s3 import S3
from metapaas_s3.engines import engine_for
from metapaas_s3.engines.seaweedfs import PORTS, RUNNER
from metapaas_s3.node.s3client import until_done

from metapaas import sdk, tls
from metapaas.db.models import utcnow
from metapaas.testing import free_port, instance_view, render_argv, write_node

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


PORT_NUMBERS = {port.name: 20000 + i for i, port in enumerate(PORTS)}
AUTHORITY = tls.Authority.new("test CA", utcnow())


def instance() -> sdk.InstanceView:
    return instance_view(
        S3(),
        {"bucket_name": "data", "encryption": "aes256", **SECRETS},
        resources={
            # bucket_name's bucket is a resource, as the API makes it at create
            "buckets": [
                {"name": "data", "versioning": False},
                {"name": "logs", "versioning": True},
            ],
            "access_keys": [READER, WRITER],
        },
        name="s3-prod",
    )


def write(node_dir: Path) -> dict[str, Any]:
    """Write the node's files into ``node_dir`` as its agent would; the render context."""
    return write_node(S3(), instance(), node_dir, PORT_NUMBERS, authority=AUTHORITY)


def rendered_files(node_dir: Path) -> dict[str, str]:
    write(node_dir)
    plane = S3().data_plane("main", S3.versions[0])
    return {t.dest: (node_dir / t.dest).read_text() for t in plane.templates}


def test_a_version_naming_an_unknown_engine_fails_permanently() -> None:
    with pytest.raises(sdk.PermanentError, match="minio"):
        engine_for(sdk.Version("9", engine={"server": "minio"}))


def test_the_weed_binary_is_resolved_absolutely() -> None:
    (weed,) = S3().data_plane("main", S3.versions[0]).required_binaries
    assert os.path.isabs(weed)
    assert os.access(weed, os.X_OK)


def test_every_port_is_allocated_and_passed_and_no_secret_is_in_argv(tmp_path: Path) -> None:
    (group,) = S3().node_plan(instance())
    assert set(group.ports) == set(PORTS)
    context = write(tmp_path)
    plane = S3().data_plane("main", S3.versions[0])
    argv = [arg for service in plane.services for arg in render_argv(service.argv, context)]
    commands = [arg for command in plane.commands for arg in render_argv(command.argv, context)]
    for port in context["node"]["ports"].values():
        assert any(arg.endswith(f"={port}") for arg in argv), f"port {port} not passed"
    for secret in [*SECRETS.values(), READER_SECRET]:
        assert all(secret not in arg for arg in argv + commands)


def test_identities_scope_each_key_to_its_buckets_and_access(tmp_path: Path) -> None:
    document = json.loads(rendered_files(tmp_path)["seaweedfs/identities.json"])
    actions = {i["name"]: i["actions"] for i in document["identities"]}
    assert actions["admin"] == ["Admin", "Read", "List", "Tagging", "Write"]
    assert actions["key-reader"] == ["Read:data", "List:data"]
    assert actions["key-writer"] == ["Read:data", "List:data", "Tagging:data", "Write:data"]
    assert actions["anonymous"] == ["Read:metapaas-health"]


def test_the_kek_and_signing_keys_reach_security_toml(tmp_path: Path) -> None:
    security = tomllib.loads(rendered_files(tmp_path)["seaweedfs/security.toml"])
    assert security["s3"]["sse"]["kek"] == SECRETS["sse_kek"]
    assert security["jwt"]["signing"]["key"] == SECRETS["internal_signing_key"]
    assert security["jwt"]["filer_signing"]["read"]["key"] == SECRETS["internal_signing_key"]


def test_the_bucket_declaration_lists_every_bucket_with_its_versioning(tmp_path: Path) -> None:
    declared = json.loads(rendered_files(tmp_path)["buckets.json"])
    assert declared["buckets"] == [
        {"name": "data", "versioning": False},
        {"name": "logs", "versioning": True},
    ]
    assert declared["encryption"] == "aes256"


def test_s3_is_served_over_tls_alone_and_every_node_program_verifies_it(
    tmp_path: Path,
) -> None:
    """weed serves HTTPS on the s3 port with the node's certificate (no plain HTTP beside
    it); the applier, the key reload, the certificate wait and the health check speak
    HTTPS to the node's address and trust the node's CA file alone."""
    assert [port.name for port in PORTS if port.tls] == ["s3"]
    context = write(tmp_path)
    files = context["node"]["tls"]
    plane = S3().data_plane("main", S3.versions[0])
    weed = render_argv(plane.services[0].argv, context)
    assert f"-s3.cert.file={files['certificate']}" in weed
    assert f"-s3.key.file={files['key']}" in weed
    assert not [arg for arg in weed if arg.startswith("-s3.port.https")]
    reloads = [t.reload for t in plane.templates if t.reload]
    programs = [*reloads, *(c.argv for c in plane.commands), plane.tls_reload]
    assert len(programs) == 4
    for argv in programs:
        rendered = list(render_argv(argv, context))
        assert rendered[rendered.index("--endpoint") + 1] == "https://127.0.0.1:20000"
        assert rendered[rendered.index("--authority") + 1] == files["authority"]
    (probe,) = plane.health
    assert render_argv((probe.target, probe.authority), context) == (
        "https://127.0.0.1:20000/metapaas-health/probe",
        files["authority"],
    )


def test_every_file_holding_a_secret_is_private(tmp_path: Path) -> None:
    plane = S3().data_plane("main", S3.versions[0])
    assert {t.mode for t in plane.templates} == {0o600}
    write(tmp_path)
    assert {stat.S_IMODE((tmp_path / t.dest).stat().st_mode) for t in plane.templates} == {0o600}


def test_credentials_name_the_endpoint_and_the_admin_key() -> None:
    node = sdk.NodeView("n", "main", 0, "127.0.0.1", {"s3": 9000})
    credentials = S3().credentials(instance(), [node])
    assert credentials == {
        "endpoint_url": "https://127.0.0.1:9000",
        "region": "us-east-1",
        "addressing_style": "path",
        "access_key_id": SECRETS["admin_access_key_id"],
        "secret_access_key": SECRETS["admin_secret_access_key"],
    }


def test_the_runner_removes_this_nodes_sockets_before_and_after_the_engine(
    tmp_path: Path,
) -> None:
    """weed leaves /tmp/seaweedfs-*-<port>.sock behind; ports are unique per live node."""
    mine, other = free_port(), free_port()
    stale = Path(f"/tmp/seaweedfs-master-grpc-{mine}.sock")
    foreign = Path(f"/tmp/seaweedfs-master-grpc-{other}.sock")
    made = Path(f"/tmp/seaweedfs-s3-grpc-{mine}.sock")
    stale.touch()
    foreign.touch()
    # The stand-in engine fails unless the stale socket is gone, then leaves one of its own.
    engine = (
        f"import pathlib, sys; sys.exit(pathlib.Path({str(stale)!r}).exists())"
        f" if pathlib.Path({str(made)!r}).touch() else None"
    )
    try:
        runner = (sys.executable, str(RUNNER), f"--port={mine}")
        done = subprocess.run(
            [*runner, "--", sys.executable, "-c", engine],
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, "the stale socket was still there when the engine ran"
        assert not made.exists(), "the engine's socket outlived it"
        assert foreign.exists(), "another node's socket was removed"
    finally:
        for path in (stale, foreign, made):
            path.unlink(missing_ok=True)


def test_the_applier_retries_an_engine_still_starting_ten_times_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new node's init waits for SeaweedFS: a retry a second cost it 0.5 s on average."""
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    outcomes = iter([BotoCoreError(), BotoCoreError(), "applied"])

    def apply() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert until_done(apply, seconds=10, what="applying") == "applied"
    assert waits == [0.1, 0.1]


def test_the_runner_starts_weed_on_the_standard_library_alone() -> None:
    """It is on every new node's way to its first S3 answer."""
    (service,) = S3().data_plane("main", S3.versions[0]).services
    assert service.argv[:2] == (sys.executable, str(RUNNER))
    started = subprocess.run(
        [sys.executable, "-X", "importtime", str(RUNNER), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in started.stderr.splitlines()}
    assert "subprocess" in imported
    assert not {name.split(".")[0] for name in imported} & {"pydantic", "metapaas", "boto3"}
