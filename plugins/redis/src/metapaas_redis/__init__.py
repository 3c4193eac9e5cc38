"""The ``redis`` PaaS type: one real ``redis-server`` per instance, ACL users as children.

Spec changes reach the running server with CONFIG SET, user changes with ACL
LOAD and a renewed certificate with CONFIG SET tls-cert-file
(``metapaas_redis.node``); nothing restarts it. It serves TLS only. Passwords
reach the node only as SHA-256 hashes in its ACL file.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from metapaas import sdk
from metapaas_redis.acl import acl_entries
from metapaas_redis.settings import runtime_settings
from metapaas_redis.spec import RedisSpec, UserSpec

ROLE = "main"
USERS = sdk.ChildResource("users", UserSpec, title="Redis ACL users")
PORT = "redis"
NODE_TOOL = (sys.executable, "-m", "metapaas_redis.node")
SNAPSHOT_TOOL = (sys.executable, "-m", "metapaas_redis.snapshot")
STAGING = ("--staging", "{{ backup.staging }}")
SNAPSHOT_SECONDS = 3600.0
"""A BGSAVE and the copy of a large dump, or the move of one on restore."""
# ``keys`` is also a method of the args mapping, which Jinja2 finds first.
RECORDED_KEYS = '{{ command.args["keys"] }}'
RECORDED_EXPIRES = '{{ command.args.get("expires", 0) }}'
RECORDED = ("--keys", RECORDED_KEYS, "--expiring", RECORDED_EXPIRES)


SERVER_OVERHEAD_MB = 16
"""What redis-server takes beyond ``maxmemory`` (its own code, buffers): a host reserves
``memory_mb`` plus this for a node."""


class Redis(sdk.PaasType[RedisSpec]):
    slug = "redis"
    title = "Redis"
    description = (
        "A Redis server per instance: memory limit and eviction policy changed live, "
        "RDB or AOF persistence, ACL users limited to key patterns."
    )
    versions = (sdk.Version("7", engine={"server": "redis-server"}, default=True),)
    spec = RedisSpec
    resources = (USERS,)
    debian_packages = ("redis-server",)
    # Nodes get password hashes through node_metadata, never a plaintext password.
    node_secrets = False
    backups = sdk.Backups(
        role=ROLE,
        methods=("snapshot",),
        consistency=(
            "One moment of every database (an RDB written by BGSAVE): what was written "
            "before the backup began; keys whose TTL ran out meanwhile are gone."
        ),
        stored_by="agent",
    )

    def node_plan(self, instance: sdk.InstanceView[RedisSpec]) -> Sequence[sdk.NodeGroup]:
        memory = instance.spec.memory_mb + SERVER_OVERHEAD_MB
        return (sdk.NodeGroup(ROLE, ports=(sdk.Port(PORT, 6379, tls=True),), memory_mb=memory),)

    def node_metadata(self, instance: sdk.InstanceView[RedisSpec]) -> Mapping[str, Any]:
        spec = instance.spec
        return {
            "settings": runtime_settings(spec),
            "acl_users": acl_entries(spec.password, instance.children(USERS)),
        }

    def endpoints(
        self, instance: sdk.InstanceView[RedisSpec], nodes: Sequence[sdk.NodeView]
    ) -> Mapping[str, str]:
        node = _main_node(nodes)
        return {PORT: f"{node.address}:{node.ports[PORT]}"}

    def credentials(
        self, instance: sdk.InstanceView[RedisSpec], nodes: Sequence[sdk.NodeView]
    ) -> Mapping[str, Any]:
        node = _main_node(nodes)
        password = instance.secrets["password"]
        host, port = node.address, node.ports[PORT]
        return {
            "host": host,
            "port": port,
            "username": "default",
            "password": password,
            # TLS only: the server's certificate is signed by the answer's ca_certificate.
            "tls": True,
            "url": f"rediss://default:{quote(password, safe='')}@{host}:{port}/0",
        }

    def data_plane(self, role: str, version: sdk.Version) -> sdk.DataPlane:
        engine = version.engine
        return sdk.DataPlane(
            templates=(
                sdk.Template.from_package(
                    __name__, "users.acl.j2", "users.acl", reload=(*NODE_TOOL, "reload-users")
                ),
                sdk.Template.from_package(
                    __name__, "redis.conf.j2", "redis.conf", reload=(*NODE_TOOL, "reload-config")
                ),
            ),
            services=(
                sdk.Service(
                    "redis",
                    argv=(*NODE_TOOL, "serve", engine["server"]),
                    # SIGTERM makes Redis flush the AOF or write a last snapshot and exit.
                    stop_timeout=5.0,
                ),
            ),
            # TCP: a PING through redis-cli would say no more (it exits 0 on an
            # error reply). A connect every half second costs Redis nothing (no
            # TLS handshake is started) and turns a new instance ACTIVE sooner
            # than the default interval.
            health=(
                sdk.HealthCheck(
                    "tcp", target="{{ node.address }}:{{ node.ports.redis }}", interval=0.5
                ),
            ),
            commands=_backup_steps(),
            required_binaries=tuple(engine.values()),
            tls_reload=(*NODE_TOOL, "reload-tls"),
        )


def _backup_steps() -> tuple[sdk.Command, ...]:
    """The node's part of a snapshot (``metapaas_redis.snapshot``); the agent stores it."""
    result = ("--result", "{{ command.result }}")
    return (
        sdk.Command("backup", (*SNAPSHOT_TOOL, "backup", *STAGING, *result), SNAPSHOT_SECONDS),
        sdk.Command("restore", (*SNAPSHOT_TOOL, "restore", *STAGING), SNAPSHOT_SECONDS),
        sdk.Command(
            "verify",
            (*SNAPSHOT_TOOL, "verify", *RECORDED, *result),
        ),
    )


def _main_node(nodes: Sequence[sdk.NodeView]) -> sdk.NodeView:
    for node in nodes:
        if node.role == ROLE and PORT in node.ports:
            return node
    raise sdk.TemporaryError("the instance's redis node has no port yet", delay=2.0)
