"""Settings of a MetaPaaS process, read from ``METAPAAS_*`` environment variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, model_validator
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
    tls: bool = Field(
        default=False,
        description="Serve HTTPS on a loopback address too (any other address always is).",
    )
    insecure: bool = Field(
        default=False,
        description="Serve plain HTTP on an address other than loopback: agents then refuse "
        "to send their credentials to it; for a network the operator encrypts otherwise.",
    )
    tls_ca_cert: Path | None = Field(
        default=None, description="The operator's CA certificate (PEM), signing every node's."
    )
    tls_ca_key: Path | None = Field(default=None, description="That CA's key (PEM).")
    tls_cert: Path | None = Field(
        default=None, description="The operator's server certificate for the API alone (PEM)."
    )
    tls_key: Path | None = Field(default=None, description="That certificate's key (PEM).")
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
    def operator_authority(self) -> tuple[Path, Path] | None:
        """The operator's CA certificate and key files, if given."""
        if self.tls_ca_cert is None or self.tls_ca_key is None:
            return None
        return self.tls_ca_cert, self.tls_ca_key

    @property
    def serves_tls(self) -> bool:
        """Whether the listener speaks HTTPS: always but on loopback, unless ``insecure``."""
        return not self.insecure and (self.tls or not is_loopback(self.host))

    @property
    def resolved_public_url(self) -> str:
        """The URL nodes use to reach the control plane."""
        scheme = "https" if self.serves_tls else "http"
        return self.public_url or f"{scheme}://{self.host}:{self.port}"

    @model_validator(mode="after")
    def _tls_files_in_pairs(self) -> Settings:
        for certificate, key in (("tls_ca_cert", "tls_ca_key"), ("tls_cert", "tls_key")):
            if (getattr(self, certificate) is None) != (getattr(self, key) is None):
                raise ValueError(
                    f"METAPAAS_{certificate.upper()} and METAPAAS_"
                    f"{key.upper()} go together: give both or neither"
                )
        if self.tls and self.insecure:
            raise ValueError("METAPAAS_TLS and METAPAAS_INSECURE contradict each other")
        return self


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine alone (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
