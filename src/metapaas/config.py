"""Settings of a MetaPaaS process, read from ``METAPAAS_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def environment_dir(home: Path, wheelhouse: str) -> Path:
    """Where the environment of a plugin version (its wheelhouse, by content address) is
    installed under a home: the control plane's, or a host's ``/var/lib/metapaas``."""
    return home / "plugins" / wheelhouse


class Settings(BaseSettings):
    """Where MetaPaaS keeps its state and how it serves.

    ``home`` holds the SQLite database, the admin token, the secret key and
    the local provider's nodes. ``database_url`` overrides the SQLite default,
    e.g. ``postgresql+psycopg://user@host/db``.
    """

    model_config = SettingsConfigDict(env_prefix="METAPAAS_", extra="ignore")

    home: Path = Field(default=Path(".metapaas"))
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str | None = None
    secret_key: str | None = None
    provider: str = Field(
        default="local",
        description="Where new nodes go unless a provider's routing sends them elsewhere. "
        "Each provider reads its own settings from METAPAAS_<NAME>_*.",
    )
    workers: int = Field(default=2, ge=1, le=32, description="Reconciles run at once.")
    resync_seconds: float = Field(default=10.0, gt=0)
    threads: int = Field(
        default=8,
        ge=2,
        le=512,
        description="Threads serving requests. Under the GIL more threads add contention, "
        "not throughput (benchmarks/README.md); every wait for the database is bounded.",
    )
    max_requests: int = Field(
        default=64,
        ge=1,
        description="Requests in flight beyond which the answer is an immediate 503: "
        "API requests and agents' reports have this many each; metadata long-polls "
        "are not counted.",
    )
    db_wait_seconds: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="Longest wait for a database connection, the write lock or a row lock "
        "before the answer is a 503.",
    )

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'metapaas.db'}"

    @property
    def db_pool_size(self) -> int:
        """A connection for every request thread, every worker and the housekeeping."""
        return self.threads + self.workers + 2

    @property
    def resolved_public_url(self) -> str:
        """The URL nodes use to reach the control plane."""
        return self.public_url or f"http://{self.host}:{self.port}"
