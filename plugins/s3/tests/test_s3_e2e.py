"""The s3 type end to end: the README's curl session, then boto3 against the real engine."""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, SSLError

from metapaas import tls
from metapaas.db import models
from metapaas.testing import ControlPlane, run_example_session, wait_for

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.e2e

README = Path(__file__).parent.parent / "README.md"
INSTANCE = "/v1/types/s3/instances/s3-prod"
MiB = 1024 * 1024


class Endpoint(NamedTuple):
    """Where the instance serves S3 and the CA file its certificate verifies with."""

    url: str
    authority: Path


def s3_client(endpoint: Endpoint, key_id: str, secret: str) -> S3Client:
    config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config,
        verify=str(endpoint.authority),
    )
    return client


def check_tls(endpoint: Endpoint, credentials: dict[str, Any], other_ca: Path) -> None:
    """S3 is served over HTTPS alone, with a certificate that the credentials' CA (the
    control plane's) vouches for and another CA does not."""
    assert endpoint.url.startswith("https://")
    assert credentials["ca_certificate"] == endpoint.authority.read_text()
    key = (credentials["access_key_id"], credentials["secret_access_key"])
    admin = s3_client(endpoint, *key)
    admin.put_object(Bucket="data", Key="tls.txt", Body=b"over TLS")
    assert admin.get_object(Bucket="data", Key="tls.txt")["Body"].read() == b"over TLS"
    other_ca.write_text(tls.Authority.new("other", models.utcnow()).certificate_pem)
    distrusting = s3_client(endpoint._replace(authority=other_ca), *key)
    with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        distrusting.get_object(Bucket="data", Key="tls.txt")
    # The probe object, which anyone may read, is not served over plain HTTP: weed answers
    # that a request's first bytes are no TLS (a request larger than its first read, such
    # as a signed S3 one, may see the connection reset instead).
    plain = endpoint.url.replace("https:", "http:", 1)
    answer = httpx.get(f"{plain}/metapaas-health/probe", timeout=5)
    assert (answer.status_code, answer.text) == (
        400,
        "Client sent an HTTP request to an HTTPS server.\n",
    )
    admin.delete_object(Bucket="data", Key="tls.txt")


def refused(action: Any) -> bool:
    """Whether the engine answers ``AccessDenied`` to ``action()``."""
    try:
        action()
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "AccessDenied"
    return False


def check_objects(admin: S3Client) -> None:
    """Put/get/list/delete in ``data``, a 20 MB multipart upload, and SSE on an aes256 instance."""
    admin.put_object(Bucket="data", Key="hello.txt", Body=b"hello")
    assert admin.get_object(Bucket="data", Key="hello.txt")["Body"].read() == b"hello"
    assert admin.head_object(Bucket="data", Key="hello.txt")["ServerSideEncryption"] == "AES256"

    big = os.urandom(20 * MiB)
    multipart = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    admin.upload_fileobj(io.BytesIO(big), "data", "big.bin", Config=multipart)
    head = admin.head_object(Bucket="data", Key="big.bin")
    assert head["ContentLength"] == len(big)
    assert head["ETag"].strip('"').endswith("-3"), "not stored as a 3-part multipart upload"
    got = admin.get_object(Bucket="data", Key="big.bin")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(big).digest()

    admin.put_object(Bucket="data", Key="gone.txt", Body=b"x")
    admin.delete_object(Bucket="data", Key="gone.txt")
    listed = admin.list_objects_v2(Bucket="data")
    assert sorted(o["Key"] for o in listed["Contents"]) == ["big.bin", "hello.txt"]


def check_keys(
    plane: ControlPlane, client: httpx.Client, endpoint: Endpoint, reader: dict[str, Any]
) -> None:
    """Keys are scoped to their buckets and their access; the secret is shown only once."""
    read_only = s3_client(endpoint, reader["access_key_id"], reader["secret_access_key"])
    assert read_only.get_object(Bucket="data", Key="hello.txt")["Body"].read() == b"hello"
    assert refused(lambda: read_only.put_object(Bucket="data", Key="no", Body=b"no"))
    assert refused(lambda: read_only.list_objects_v2(Bucket="logs"))
    shown = client.get(f"{INSTANCE}/access_keys/reader").json()
    assert shown["access_key_id"] == reader["access_key_id"]
    assert "secret_access_key" not in shown or shown["secret_access_key"] is None

    created = client.post(
        f"{INSTANCE}/access_keys",
        json={"name": "writer", "buckets": ["logs"], "access": "read-write"},
    )
    assert created.status_code == 201, created.text
    plane.wait_converged(client, INSTANCE)
    writer = created.json()
    read_write = s3_client(endpoint, writer["access_key_id"], writer["secret_access_key"])
    read_write.put_object(Bucket="logs", Key="line", Body=b"1")
    assert refused(lambda: read_write.put_object(Bucket="data", Key="no", Body=b"no"))


def check_bucket_lifecycle(plane: ControlPlane, client: httpx.Client, admin: S3Client) -> None:
    """Versioning is applied; the instance's bucket_name bucket and a bucket named by a key
    cannot go; deleting one drops its objects."""
    assert admin.get_bucket_versioning(Bucket="logs")["Status"] == "Enabled"
    assert admin.get_bucket_versioning(Bucket="data")["Status"] == "Enabled"
    kept = client.delete(f"{INSTANCE}/buckets/data")
    assert kept.status_code == 422, kept.text
    assert [(e["field"], e["rule"]) for e in kept.json()["errors"]] == [
        ("bucket_name", "not_found")
    ]
    bad = client.post(f"{INSTANCE}/buckets", json={"name": "Not_A_Bucket"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "name"

    blocked = client.delete(f"{INSTANCE}/buckets/logs")
    assert blocked.status_code == 422, blocked.text
    assert blocked.json()["errors"][0] == {
        "field": "buckets",
        "rule": "not_found",
        "message": blocked.json()["errors"][0]["message"],
    }
    assert client.delete(f"{INSTANCE}/access_keys/writer").status_code == 204
    assert client.delete(f"{INSTANCE}/buckets/logs").status_code == 204
    plane.wait_converged(client, INSTANCE)
    names = {b["Name"] for b in admin.list_buckets()["Buckets"]}
    assert "logs" not in names
    assert "data" in names


def check_restart(plane: ControlPlane, client: httpx.Client, admin: S3Client) -> None:
    """Objects and keys survive a SIGKILL of the node's agent and engine, and a bucket
    declared while the node is down exists once it is back."""
    (node,) = plane.node_names()
    plane.kill_node(node)
    made = client.post(f"{INSTANCE}/buckets", json={"name": "while-down"})
    assert made.status_code == 201, made.text
    wait_for(lambda: client.get(INSTANCE).json()["status"] != "ACTIVE", 30, "the node loss to show")
    plane.wait_converged(client, INSTANCE, timeout=120)
    assert admin.get_object(Bucket="data", Key="hello.txt")["Body"].read() == b"hello"
    assert admin.head_object(Bucket="data", Key="big.bin")["ContentLength"] == 20 * MiB
    admin.head_bucket(Bucket="while-down")  # raises ClientError (404) when it is missing


def test_readme_session_tls_objects_keys_buckets_and_restart(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    started = time.monotonic()
    session = run_example_session(README, control_plane, timeout=150)
    created, listed, data, logs, reader, credentials = session.documents()
    print(f"README session (create to ACTIVE, bucket, key): {time.monotonic() - started:.1f} s")
    assert created["bucket_name"] == "data"
    assert {"sse_kek", "internal_signing_key"}.isdisjoint(created)
    assert {"sse_kek", "internal_signing_key"}.isdisjoint(credentials)
    assert [(b["name"], b["versioning"]) for b in listed["items"]] == [("data", False)]
    assert data["versioning"] is True
    assert logs["versioning"] is True
    with control_plane.client() as client:
        control_plane.wait_converged(client, INSTANCE)
        authority = tmp_path / "ca.pem"
        authority.write_text(credentials["ca_certificate"])
        endpoint = Endpoint(credentials["endpoint_url"], authority)
        check_tls(endpoint, credentials, tmp_path / "other-ca.pem")
        admin = s3_client(endpoint, credentials["access_key_id"], credentials["secret_access_key"])
        check_objects(admin)
        check_keys(control_plane, client, endpoint, reader)
        check_bucket_lifecycle(control_plane, client, admin)
        check_restart(control_plane, client, admin)
        reader_again = s3_client(endpoint, reader["access_key_id"], reader["secret_access_key"])
        assert reader_again.get_object(Bucket="data", Key="hello.txt")["Body"].read() == b"hello"
