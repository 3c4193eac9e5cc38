"""The node-side programs against a real SeaweedFS, started here as the agent would start it.

The bucket applier's rules that the end-to-end test does not reach: buckets
made directly with the admin key are kept, a dropped bucket goes with its
objects, versioning is suspended, default encryption is removed; a key added
to the identity file is live after the reload command, without restart; and a
renewed certificate is served after the type's ``tls_reload``, by the same
process. One engine serves the module's tests: none undoes what another relies on.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from cryptography import x509
from metapaas_s3 import S3
from metapaas_s3.engines.seaweedfs import PORTS
from metapaas_s3.engines.seaweedfs_reload import weed_pids

from metapaas import sdk, tls
from metapaas.db.models import utcnow
from metapaas.testing import free_port, instance_view, render_argv, running_service, write_node

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.e2e

SECRETS = {
    "admin_access_key_id": "ADMINADMINADMINADMIN",
    "admin_secret_access_key": "admin-secret-admin-secret-admin-secret-00",
    "sse_kek": "ab" * 32,
    "internal_signing_key": "cd" * 32,
}
DATA = {"name": "data", "versioning": False}
"""The bucket ``bucket_name`` names: a bucket resource, as the API makes it at create."""
LATE_KEY: dict[str, Any] = {
    "name": "late",
    "access_key_id": "LATELATELATELATE0001",
    "secret_access_key": "late-secret-late-secret-late-secret-late",
    "buckets": ["data"],
    "access": "read-only",
}


AUTHORITY = tls.Authority.new("test CA", utcnow())
ADDRESS = "127.0.0.1"
NODE_NAMES = [ADDRESS, "test-main-0"]
"""What the control plane issues a node's certificate for: its address, then its name."""


class Node:
    """A node directory with the plugin's files rendered for a given declaration."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ports = {port.name: free_port() for port in PORTS}
        self.plane = S3().data_plane("main", S3.versions[0])
        self.endpoint = f"https://{ADDRESS}:{self.ports['s3']}"
        self.authority = str(directory / sdk.TLS_AUTHORITY)
        self.certificate = AUTHORITY.issue(NODE_NAMES, utcnow())
        self.context: dict[str, Any] = {}
        self._declared: tuple[dict[str, Any], dict[str, list[dict[str, Any]]]] = ({}, {})

    def declare(self, spec: dict[str, Any], **resources: list[dict[str, Any]]) -> None:
        """Write every template for this state of the instance, as the agent would."""
        view = instance_view(S3(), {**spec, **SECRETS}, resources=resources, name="s3-prod")
        self.context = write_node(
            S3(), view, self.dir, self.ports, authority=AUTHORITY, certificate=self.certificate
        )
        self._declared = (spec, resources)

    def renew(self) -> tls.Issued:
        """Replace the node's certificate with a newly issued one, as its agent would."""
        self.certificate = AUTHORITY.issue(NODE_NAMES, utcnow())
        spec, resources = self._declared
        self.declare(spec, **resources)
        return self.certificate

    def argv(self, argv: tuple[str, ...]) -> list[str]:
        """An argv as the agent renders it, from the last declared state."""
        return list(render_argv(argv, self.context))

    def run(self, argv: tuple[str, ...], timeout: float = 90) -> str:
        done = subprocess.run(
            self.argv(argv),
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


def _client(node: Node, key_id: str, secret: str) -> S3Client:
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=node.endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        verify=node.authority,
    )
    return client


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    directory = tmp_path_factory.mktemp("node")
    started = Node(directory)
    started.declare(
        {"bucket_name": "data", "encryption": "aes256"},
        buckets=[DATA, {"name": "logs", "versioning": True}],
    )
    service = started.plane.services[0]
    (directory / sdk.VOLUME_DIR).mkdir()  # the volume's mount point, which the agent makes
    # Stopped as the agent stops it (SIGTERM): the runner removes its sockets.
    with running_service(service, started.context, directory, log=directory / "weed.log"):
        yield started


def _applier(node: Node) -> str:
    (init,) = node.plane.commands
    return node.run(init.argv)


def test_applier_and_key_reload_against_seaweedfs(node: Node) -> None:
    print(_applier(node))
    admin = _client(node, SECRETS["admin_access_key_id"], SECRETS["admin_secret_access_key"])
    probe = urllib.request.urlopen(  # noqa: S310 (an https URL of the test's own)
        f"{node.endpoint}/metapaas-health/probe",
        timeout=5,
        context=ssl.create_default_context(cafile=node.authority),
    )
    assert probe.read() == b"ok\n"
    enc = admin.get_bucket_encryption(Bucket="data")["ServerSideEncryptionConfiguration"]
    assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert admin.get_bucket_versioning(Bucket="logs")["Status"] == "Enabled"
    admin.put_object(Bucket="logs", Key="line", Body=b"1")
    admin.create_bucket(Bucket="mine")

    node.declare(
        {"bucket_name": "data", "encryption": "none"},
        buckets=[DATA, {"name": "more", "versioning": True}],
    )
    print(_applier(node))
    names = {b["Name"] for b in admin.list_buckets()["Buckets"]}
    assert names == {"data", "more", "mine", "metapaas-health"}, "logs stays or mine went"
    assert "ServerSideEncryptionConfiguration" not in _encryption(admin, "data")

    node.declare({"bucket_name": "data"}, buckets=[DATA, {"name": "more", "versioning": False}])
    _applier(node)
    assert admin.get_bucket_versioning(Bucket="more")["Status"] == "Suspended"

    node.declare(
        {"bucket_name": "data"},
        buckets=[DATA, {"name": "more", "versioning": False}],
        access_keys=[LATE_KEY],
    )
    (identities,) = [t for t in node.plane.templates if t.dest.endswith("identities.json")]
    node.run(identities.reload, timeout=70)
    late = _client(node, LATE_KEY["access_key_id"], LATE_KEY["secret_access_key"])
    assert late.list_objects_v2(Bucket="data")["KeyCount"] == 0


def _encryption(admin: S3Client, bucket: str) -> dict[str, Any]:
    try:
        return dict(admin.get_bucket_encryption(Bucket=bucket))
    except admin.exceptions.ClientError:
        return {}


def _served_serial(node: Node) -> int:
    """The serial number of the certificate the S3 port presents (verified by the CA)."""
    context = ssl.create_default_context(cafile=node.authority)
    with (
        socket.create_connection((ADDRESS, node.ports["s3"]), timeout=5) as connection,
        context.wrap_socket(connection, server_hostname=ADDRESS) as secured,
    ):
        return int(str(secured.getpeercert()["serialNumber"]), 16)


def _serial(issued: tls.Issued) -> int:
    return x509.load_pem_x509_certificate(issued.certificate.encode()).serial_number


def test_a_renewed_certificate_is_served_by_the_same_process(node: Node) -> None:
    """weed rereads its certificate files by itself: ``tls_reload`` only waits for it."""
    _applier(node)  # the engine serves (it waits for it)
    pids = weed_pids(node.dir)
    assert len(pids) == 1
    assert _served_serial(node) == _serial(node.certificate)
    renewed = node.renew()
    print(node.run(node.plane.tls_reload))
    assert _served_serial(node) == _serial(renewed)
    assert weed_pids(node.dir) == pids, "weed was restarted"
    admin = _client(node, SECRETS["admin_access_key_id"], SECRETS["admin_secret_access_key"])
    admin.put_object(Bucket="data", Key="after-renewal", Body=b"1")
    assert admin.get_object(Bucket="data", Key="after-renewal")["Body"].read() == b"1"
