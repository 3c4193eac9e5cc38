"""Where a node keeps its cluster, config and internal credential, inside the node dir.

The cluster and the superuser's password live on the node's volume
(``<node dir>/data``), so a replaced node finds its databases again.

The launcher, the applier and the templates' destinations all name paths
through this one class, so they cannot drift apart.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from metapaas import sdk

CONF_DIR = "conf"
CONFIG_FILE = f"{CONF_DIR}/postgresql.conf"
HBA_FILE = f"{CONF_DIR}/pg_hba.conf"
DESIRED_FILE = f"{CONF_DIR}/desired.json"
SOCKET_CONFIG_FILE = f"{CONF_DIR}/socket.conf"
BACKUP_DIR = str(Path(sdk.ARCHIVE_STATUS).parent)

Place = Literal["store", "source"]
"""The repository a pgBackRest config names: the instance's own (``backup.store``) or the
one a restore reads from (``backup.source``)."""


def pgbackrest_config(place: Place) -> str:
    return f"{CONF_DIR}/pgbackrest-{place}.conf"


def repository_ca_file(place: Place) -> str:
    return f"{CONF_DIR}/pgbackrest-{place}-ca.pem"


def socket_root() -> Path:
    """The running user's own short directory for the servers' Unix sockets."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "metapaas-postgres"
    # Checked to be the user's own, mode 0700, before use (metapaas_postgres.sockets).
    return Path(f"/tmp/metapaas-postgres-{os.geteuid()}")  # noqa: S108


@dataclass(frozen=True)
class NodeLayout:
    node_dir: Path

    @property
    def volume(self) -> Path:
        return self.node_dir / sdk.VOLUME_DIR

    @property
    def data_dir(self) -> Path:
        """The cluster (``PGDATA``); it exists only once initdb finished."""
        return self.volume / "pgdata"

    @property
    def staging_dir(self) -> Path:
        """Where initdb writes before the result is renamed to ``data_dir`` (the same file
        system, so the rename is atomic)."""
        return self.volume / "pgdata.initdb"

    @property
    def superuser_password_file(self) -> Path:
        """The bootstrap superuser's password (0600), made on the node at initdb."""
        return self.volume / "superuser.password"

    @property
    def config_file(self) -> Path:
        return self.node_dir / CONFIG_FILE

    @property
    def desired_file(self) -> Path:
        return self.node_dir / DESIRED_FILE

    @property
    def applier_lock_file(self) -> Path:
        return self.node_dir / "applier.lock"

    @property
    def postmaster_pid_file(self) -> Path:
        return self.data_dir / "postmaster.pid"

    @property
    def restore_dir(self) -> Path:
        """Where a restore writes and recovers the cluster before it is renamed to
        ``data_dir``: the launcher never starts a cluster a restore left half made."""
        return self.volume / "pgdata.restore"

    @property
    def stanza_marker(self) -> Path:
        """Which store the backup step made pgBackRest's stanza in (see ``backup.archive``):
        on the volume, so a replaced node keeps archiving what its backups need."""
        return self.volume / "backup-stanza"

    @property
    def backup_dir(self) -> Path:
        return self.node_dir / BACKUP_DIR

    @property
    def archive_status_file(self) -> Path:
        return self.node_dir / sdk.ARCHIVE_STATUS

    @property
    def password_file(self) -> Path:
        """The superuser's password as libpq reads it (``PGPASSFILE``), for pgBackRest."""
        return self.backup_dir / "pgpass"

    @property
    def socket_config_file(self) -> Path:
        return self.node_dir / SOCKET_CONFIG_FILE

    @property
    def socket_dir(self) -> Path:
        """The server's Unix socket directory, which pgBackRest needs to reach it.

        Not in the node directory: its path may exceed the 107 bytes a socket path may
        have. Named by a hash of the node directory, so the launcher and the backup steps
        find the same one without being told.
        """
        digest = hashlib.sha256(str(self.node_dir.resolve()).encode()).hexdigest()
        return socket_root() / digest[:16]

    def config(self, place: Place) -> Path:
        return self.node_dir / pgbackrest_config(place)
