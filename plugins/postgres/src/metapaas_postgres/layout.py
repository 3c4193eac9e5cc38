"""Where a node keeps its cluster, config and internal credential, inside the node dir.

The cluster and the superuser's password live on the node's volume
(``<node dir>/data``), so a replaced node finds its databases again.

The launcher, the applier and the templates' destinations all name paths
through this one class, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metapaas import sdk

CONF_DIR = "conf"
CONFIG_FILE = f"{CONF_DIR}/postgresql.conf"
HBA_FILE = f"{CONF_DIR}/pg_hba.conf"
DESIRED_FILE = f"{CONF_DIR}/desired.json"


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
