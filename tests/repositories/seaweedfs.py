"""A real S3 server for the repositories' tests: SeaweedFS over HTTPS on loopback,
run from the s3 type's own declaration as its agent would run it.

The node's certificate comes from a CA made with ``tls.Authority.new``; the
type's ``init`` command makes the bucket and returns once the engine serves.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metapaas_s3 import S3
from metapaas_s3.engines.seaweedfs import PORTS

from metapaas import sdk, tls
from metapaas.db.models import utcnow
from metapaas.testing import free_port, instance_view, render_argv, running_service, write_node

ADMIN_KEY_ID = "ADMINADMINADMINADMIN"
ADMIN_SECRET = "admin-secret-admin-secret-admin-secret-00"
READER_KEY_ID = "READERREADERREADER01"
READER_SECRET = "reader-secret-reader-secret-reader-secret"
BUCKET = "backups"
SECRETS = {
    "admin_access_key_id": ADMIN_KEY_ID,
    "admin_secret_access_key": ADMIN_SECRET,
    "sse_kek": "ab" * 32,
    "internal_signing_key": "cd" * 32,
}
READER = {
    "name": "reader",
    "access_key_id": READER_KEY_ID,
    "secret_access_key": READER_SECRET,
    "buckets": [BUCKET],
    "access": "read-only",
}


@dataclass(frozen=True)
class Server:
    endpoint: str
    authority: tls.Authority

    def repository(self, **overrides: str) -> dict[str, Any]:
        """The repository mapping the control plane would hand out for the admin key."""
        return {
            "kind": "s3",
            "endpoint": self.endpoint,
            "bucket": BUCKET,
            "region": "us-east-1",
            "access_key_id": ADMIN_KEY_ID,
            "secret_access_key": ADMIN_SECRET,
            "ca_certificate": self.authority.certificate_pem,
            **overrides,
        }


@contextlib.contextmanager
def seaweedfs(directory: Path) -> Iterator[Server]:
    """SeaweedFS serving bucket :data:`BUCKET` (and a read-only key for it) until exit."""
    authority = tls.Authority.new("repository test CA", utcnow())
    ports = {port.name: free_port() for port in PORTS}
    declaration = S3()
    view = instance_view(
        declaration,
        {"bucket_name": BUCKET, **SECRETS},
        resources={"buckets": [{"name": BUCKET, "versioning": False}], "access_keys": [READER]},
        name="repository",
    )
    context = write_node(declaration, view, directory, ports, authority=authority)
    (directory / sdk.VOLUME_DIR).mkdir(exist_ok=True)
    plane = declaration.data_plane("main", S3.versions[0])
    (service,) = plane.services
    # Stopped as the agent stops it (SIGTERM): the runner removes its sockets.
    with running_service(service, context, directory, log=directory / "weed.log"):
        (init,) = plane.commands
        subprocess.run(render_argv(init.argv, context), cwd=directory, check=True, timeout=90)
        yield Server(f"127.0.0.1:{ports['s3']}", authority)
