"""The node side of the redis type, run by the agent in the node directory.

    python -m metapaas_redis.node serve SERVER    make data/ and server.acl, then exec SERVER
    python -m metapaas_redis.node reload-users    rebuild server.acl, then ACL LOAD
    python -m metapaas_redis.node reload-config   CONFIG SET the runtime settings of redis.conf
    python -m metapaas_redis.node reload-tls      CONFIG SET tls-cert-file: take a renewed one

The reloads connect over TLS (the server has no plain port), verifying its
certificate against the node's CA file for the node's address, and log in as the
node's own admin user. Its password is made on the node once and kept in
``admin.secret`` (0600): it is in no argv and in no metadata, and it does not
change when the instance password does, so rotating that password is an
ordinary ACL LOAD.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from metapaas import sdk
from metapaas_redis.acl import password_hash
from metapaas_redis.settings import RUNTIME_SETTINGS

if TYPE_CHECKING:
    import redis

CONFIG = "redis.conf"
USERS = "users.acl"
SERVER_ACL = "server.acl"
ADMIN_SECRET = "admin.secret"  # noqa: S105 (a file name)
DATA = sdk.VOLUME_DIR  # the node's volume: the dump and the AOF outlive the node
ADMIN_USER = "metapaas-admin"
ADMIN_RULES = "resetkeys resetchannels -@all +ping +acl|load +config|set +info +bgsave"
"""Only what the reloads and the backup steps (``metapaas_redis.snapshot``) send."""
TIMEOUT_SECONDS = 5.0


def serve(node_dir: Path, server: str) -> None:
    """Replace this process with ``server`` (same pid, so the agent supervises Redis itself)."""
    (node_dir / DATA).mkdir(mode=0o700, exist_ok=True)
    write_server_acl(node_dir)
    config = str(node_dir / CONFIG)
    os.execvp(server, [server, config])  # noqa: S606 (argv, no shell)


def reload_users(node_dir: Path) -> None:
    write_server_acl(node_dir)
    with admin_connection(node_dir) as connection:
        connection.acl_load()


def reload_config(node_dir: Path) -> None:
    """One CONFIG SET of every runtime setting: Redis applies all of them or none."""
    config = read_config(node_dir / CONFIG)
    pairs = [part for name in RUNTIME_SETTINGS for part in (name, " ".join(config[name]))]
    with admin_connection(node_dir) as connection:
        connection.config_set(*pairs)


def reload_tls(node_dir: Path) -> None:
    """Setting ``tls-cert-file``, even to the path it has, makes Redis read the certificate,
    its key and the CA again; connections open on the old certificate go on."""
    config = read_config(node_dir / CONFIG)
    with admin_connection(node_dir) as connection:
        connection.config_set("tls-cert-file", config["tls-cert-file"][0])


def write_server_acl(node_dir: Path) -> None:
    """server.acl, the file Redis loads: the users of users.acl plus the admin user."""
    users = (node_dir / USERS).read_text(encoding="utf-8")
    admin = f"user {ADMIN_USER} on #{password_hash(admin_password(node_dir))} {ADMIN_RULES}\n"
    sdk.write_private(node_dir / SERVER_ACL, users + admin)


def admin_password(node_dir: Path) -> str:
    """The admin password, made on first use; a half-written file is never seen."""
    path = node_dir / ADMIN_SECRET
    sdk.create_private(path, secrets.token_urlsafe(32))  # another run made it first: theirs stands
    return path.read_text(encoding="utf-8").strip()


def read_config(path: Path) -> dict[str, list[str]]:
    """The directives of a redis.conf, split as Redis splits them (quotes honoured)."""
    directives = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            directives[words[0]] = words[1:]
    return directives


@contextlib.contextmanager
def admin_connection(node_dir: Path) -> Iterator[redis.Redis]:
    import redis  # here, not at the top: ``serve``, which every new node waits for, needs none

    config = read_config(node_dir / CONFIG)
    connection = redis.Redis(
        host=config["bind"][0],
        port=int(config["tls-port"][0]),
        username=ADMIN_USER,
        password=admin_password(node_dir),
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        ssl=True,
        ssl_ca_certs=config["tls-ca-cert-file"][0],
        ssl_check_hostname=True,  # the certificate names the node's address
    )
    try:
        yield connection
    finally:
        connection.close()


RELOADS: dict[str, Callable[[Path], None]] = {
    "reload-users": reload_users,
    "reload-config": reload_config,
    "reload-tls": reload_tls,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m metapaas_redis.node", description=__doc__)
    parser.add_argument("--node-dir", type=Path, default=Path.cwd())
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve").add_argument("server", help="the redis-server binary")
    for reload in RELOADS:
        commands.add_parser(reload)
    args = parser.parse_args(argv)
    node_dir = args.node_dir.resolve()
    if args.command == "serve":
        try:
            serve(node_dir, args.server)
        except OSError as exc:
            sys.exit(f"serve failed: {exc}")
    import redis  # see admin_connection

    try:
        RELOADS[args.command](node_dir)
    except (redis.RedisError, OSError) as exc:
        sys.exit(f"{args.command} failed: {exc}")


if __name__ == "__main__":
    main()
